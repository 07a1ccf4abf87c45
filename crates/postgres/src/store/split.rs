//! [`Store::split`](log_panel_query::Store::split) on PostgreSQL: the
//! filter's rows (at most the scan bound) grouped by slot and by the key's
//! value as JSON text (`context -> key`, the key bound), the groups counted
//! by core's [`SplitCounter`].

use log_panel_query::StoreError;
use log_panel_query::{RecordFilter, SplitCounter};

use super::{count, store_error, PgStore};
use crate::sql::filter_conditions;
use crate::time::system_time;

/// See [`Store::count_split`](log_panel_query::Store::count_split): at most the store's
/// scan bound of rows, within its read time budget (`statement_timeout`).
pub(super) fn count_split(
    store: &PgStore,
    narrowed: &RecordFilter,
    key: &str,
    counter: &mut SplitCounter<'_>,
) -> Result<(), StoreError> {
    let mut sql = store.sql_for(narrowed)?;
    let cond = filter_conditions(&mut sql, narrowed);
    let key_p = sql.bind(key.to_owned());
    let bounds: Vec<std::time::SystemTime> = counter.slots().bounds().iter().map(|b| system_time(*b)).collect();
    let bounds_p = sql.bind(bounds);
    let limit = sql.bind(i64::try_from(store.scan_bound).unwrap_or(i64::MAX - 1).saturating_add(1));
    sql.text = format!(
        "SELECT width_bucket(m.ts, {bounds_p}::timestamptz[]), m.v, count(*)
         FROM (SELECT r.ts, (r.context -> {key_p}::text)::text AS v FROM log_records r
               WHERE {cond} LIMIT {limit}) m
         GROUP BY 1, 2"
    );
    let what = "counting values";
    let rows = store.rows(what, &sql)?;
    let bad = |e| store_error(&store.config, what, e);
    let mut total = 0u64;
    for row in &rows {
        let bucket: i32 = row.try_get(0).map_err(bad)?;
        let value: Option<String> = row.try_get(1).map_err(bad)?;
        let n = count(row.try_get(2).map_err(bad)?);
        total += n;
        let value = value.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok());
        let label = value.as_ref().and_then(log_panel_query::split_label);
        if let Some(i) = usize::try_from(bucket).ok().and_then(|b| b.checked_sub(1)) {
            counter.add_n(i, label, n);
        }
    }
    if total > store.scan_bound {
        counter.stopped();
    }
    Ok(())
}
