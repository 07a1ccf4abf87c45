//! The counting of [`Store::field_keys`](log_panel_query::Store::field_keys)
//! and [`Store::field_values`](log_panel_query::Store::field_values) on
//! SQLite: the filter's newest matches (one query, [`newest`]) grouped by
//! context key or by one key's value; the trait checks the arguments and
//! ranks the groups.

use log_panel_query::StoreError;
use log_panel_query::{split_label, FieldGroups, LoggerMatch, RecordFilter};
use rusqlite::params_from_iter;

use super::split::value_expr;
use super::{storage, tree_loggers, usize_param, SqliteStore, TREE_ARMS};
use crate::sql::Sql;

/// The newest `sample` records `filter` keeps, as `SELECT ts, id, {columns} …`
/// (`columns` binds what it needs in the statement's [`Sql`]): the one read
/// of field statistics, so a key/value side table can replace it. A logger
/// tree is read one arm per logger, each walking its `(logger, ts)` index
/// newest first and stopping at the sample, as [`SqliteStore::records`] reads
/// a page: the tree's single condition would walk the time index through every
/// other logger's records.
fn newest(
    store: &SqliteStore,
    filter: &RecordFilter,
    columns: impl Fn(&mut Sql) -> String,
    sample: usize,
) -> Result<(String, Sql), StoreError> {
    let planned = store.plan(filter)?;
    let n = usize_param(sample);
    let order = format!("ORDER BY ts DESC, id DESC LIMIT {n}");
    if let Some(LoggerMatch::Tree(root)) = &filter.logger {
        let names = tree_loggers(&*store.conn()?, root).map_err(storage)?;
        if names.len() <= TREE_ARMS {
            let mut rest = filter.clone();
            rest.logger = None;
            let mut w = Sql::planned(&rest, planned.text_plan, planned.key_marks);
            let cols = columns(&mut w);
            let shared = w.conditions().map_or_else(String::new, |c| format!(" AND {c}"));
            let arms: Vec<String> = names
                .into_iter()
                .map(|name| {
                    let p = w.bind(name);
                    format!("SELECT * FROM (SELECT ts, id, {cols} FROM log_records WHERE logger = {p}{shared} {order})")
                })
                .collect();
            let sql = if arms.is_empty() {
                format!("SELECT ts, id, {cols} FROM log_records WHERE 0")
            } else {
                format!("SELECT * FROM ({}) {order}", arms.join(" UNION ALL "))
            };
            return Ok((sql, w));
        }
    }
    let mut w = planned;
    let cols = columns(&mut w);
    Ok((format!("SELECT ts, id, {cols} FROM log_records{} {order}", w.sql()), w))
}

/// See [`Store::count_field_keys`](log_panel_query::Store::count_field_keys).
pub(super) fn count_keys(store: &SqliteStore, filter: &RecordFilter, sample: usize) -> Result<FieldGroups, StoreError> {
    let (sample_sql, w) = newest(store, filter, |_| "context".to_owned(), sample)?;
    // The first row (key NULL) is the number of records read.
    let sql = format!(
        "WITH s AS MATERIALIZED ({sample_sql}) SELECT NULL, count(*) FROM s
         UNION ALL SELECT j.key, count(*) FROM s, json_each(s.context) AS j GROUP BY j.key"
    );
    let conn = store.conn()?;
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
    let mut groups = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let n = u64::try_from(row.get::<_, i64>(1).map_err(storage)?).unwrap_or(0);
        groups.push((row.get::<_, Option<String>>(0).map_err(storage)?, n));
    }
    Ok(groups)
}

/// See [`Store::count_field_values`](log_panel_query::Store::count_field_values).
pub(super) fn count_values(
    store: &SqliteStore,
    filter: &RecordFilter,
    key: &str,
    sample: usize,
) -> Result<FieldGroups, StoreError> {
    let columns = |w: &mut Sql| {
        let k = w.bind(key.to_owned());
        format!("{} AS v", value_expr(key, &k))
    };
    let (sample_sql, w) = newest(store, filter, columns, sample)?;
    let sql = format!("SELECT v, count(*) FROM ({sample_sql}) GROUP BY v");
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
    Ok(groups)
}
