//! [`Store::field_keys`](log_panel_core::Store::field_keys) and
//! [`Store::field_values`](log_panel_core::Store::field_values) on SQLite:
//! the filter's newest matches (one query, [`newest`]) grouped by context
//! key or by one key's value, the groups ranked by core.

use log_panel_core::store::{check_field_query, split_label, FieldKeys, FieldValues, RecordFilter};
use log_panel_core::StoreError;
use rusqlite::params_from_iter;

use super::split::value_expr;
use super::{storage, usize_param, SqliteStore};
use crate::query::Where;

/// The newest `sample` records `w` keeps, as `SELECT {columns} …`: the one
/// read of field statistics, so a key/value side table can replace it.
fn newest(w: &Where, columns: &str, sample: usize) -> String {
    format!("SELECT {columns} FROM log_records{} ORDER BY ts DESC, id DESC LIMIT {}", w.sql(), usize_param(sample))
}

/// See [`Store::field_keys`](log_panel_core::Store::field_keys).
pub(super) fn field_keys(
    store: &SqliteStore,
    filter: &RecordFilter,
    top: usize,
    sample: usize,
) -> Result<FieldKeys, StoreError> {
    if !check_field_query(filter, None, top, sample)? {
        return Ok(FieldKeys::default());
    }
    let w = store.plan(filter)?;
    // The first row (key NULL) is the number of records read.
    let sql = format!(
        "WITH s AS MATERIALIZED ({}) SELECT NULL, count(*) FROM s
         UNION ALL SELECT j.key, count(*) FROM s, json_each(s.context) AS j GROUP BY j.key",
        newest(&w, "context", sample)
    );
    let conn = store.conn()?;
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
    let mut groups = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let n = u64::try_from(row.get::<_, i64>(1).map_err(storage)?).unwrap_or(0);
        groups.push((row.get::<_, Option<String>>(0).map_err(storage)?, n));
    }
    Ok(FieldKeys::from_groups(groups, top, sample))
}

/// See [`Store::field_values`](log_panel_core::Store::field_values).
pub(super) fn field_values(
    store: &SqliteStore,
    filter: &RecordFilter,
    key: &str,
    top: usize,
    sample: usize,
) -> Result<FieldValues, StoreError> {
    if !check_field_query(filter, Some(key), top, sample)? {
        return Ok(FieldValues::default());
    }
    let mut w = store.plan(filter)?;
    let k = w.bind(key.to_owned());
    let sql = format!(
        "SELECT v, count(*) FROM ({}) GROUP BY v",
        newest(&w, &format!("{} AS v", value_expr(key, &k)), sample)
    );
    let conn = store.conn()?;
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
    let mut groups = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let value: Option<String> = row.get(0).map_err(storage)?;
        let n = u64::try_from(row.get::<_, i64>(1).map_err(storage)?).unwrap_or(0);
        // Text that is not JSON (a context written by hand) counts as itself.
        let value = value.map(|v| serde_json::from_str(&v).unwrap_or(serde_json::Value::from(v)));
        groups.push((value.as_ref().and_then(split_label), n));
    }
    Ok(FieldValues::from_groups(groups, top, sample))
}
