//! The counting of [`Store::field_keys`](log_panel_query::Store::field_keys)
//! and [`Store::field_values`](log_panel_query::Store::field_values) on
//! PostgreSQL: the filter's newest matches (one query, [`newest`]) grouped
//! by context key or by one key's value as JSON text (the key bound); the
//! trait checks the arguments and ranks the groups.

use log_panel_query::StoreError;
use log_panel_query::{split_label, FieldGroups, RecordFilter};

use super::{count, store_error, PgStore};
use crate::sql::{filter_conditions, Sql};

/// The newest `sample` records `filter` keeps, as `SELECT {columns} …` over
/// `log_records r`: the one read of field statistics, so a key/value side
/// table can replace it.
fn newest(sql: &mut Sql, filter: &RecordFilter, columns: &str, sample: usize) -> String {
    let cond = filter_conditions(sql, filter);
    let limit = sql.bind(i64::try_from(sample).unwrap_or(i64::MAX));
    format!("SELECT {columns} FROM log_records r WHERE {cond} ORDER BY r.ts DESC, r.id DESC LIMIT {limit}")
}

/// See [`Store::count_field_keys`](log_panel_query::Store::count_field_keys).
pub(super) fn count_keys(store: &PgStore, filter: &RecordFilter, sample: usize) -> Result<FieldGroups, StoreError> {
    let mut sql = store.sql_for(filter)?;
    // The first row (key NULL) is the number of records read.
    sql.text = format!(
        "WITH s AS MATERIALIZED ({}) SELECT NULL::text, count(*) FROM s
         UNION ALL SELECT k, count(*) FROM s, jsonb_object_keys(s.context) AS k
                   WHERE jsonb_typeof(s.context) = 'object' GROUP BY k",
        newest(&mut sql, filter, "r.context", sample)
    );
    let what = "counting context keys";
    let rows = store.rows(what, &sql)?;
    let bad = |e| store_error(&store.config, what, e);
    rows.iter().map(|row| Ok((row.try_get(0).map_err(bad)?, count(row.try_get(1).map_err(bad)?)))).collect()
}

/// See [`Store::count_field_values`](log_panel_query::Store::count_field_values).
pub(super) fn count_values(
    store: &PgStore,
    filter: &RecordFilter,
    key: &str,
    sample: usize,
) -> Result<FieldGroups, StoreError> {
    let mut sql = store.sql_for(filter)?;
    let key_p = sql.bind(key.to_owned());
    let inner = newest(&mut sql, filter, &format!("(r.context -> {key_p}::text)::text AS v"), sample);
    sql.text = format!("SELECT m.v, count(*) FROM ({inner}) m GROUP BY 1");
    let what = "counting values";
    let rows = store.rows(what, &sql)?;
    let bad = |e| store_error(&store.config, what, e);
    let mut groups = Vec::new();
    for row in &rows {
        let value: Option<String> = row.try_get(0).map_err(bad)?;
        let n = count(row.try_get(1).map_err(bad)?);
        let value = value.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok());
        groups.push((value.as_ref().and_then(split_label), n));
    }
    Ok(groups)
}
