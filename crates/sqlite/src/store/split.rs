//! [`Store::split`](log_panel_query::Store::split) on SQLite: the filter's
//! rows read once, each record's value of the key as JSON text, counted by
//! core's [`SplitCounter`].

use log_panel_query::StoreError;
use log_panel_query::{RecordFilter, SplitCounter};

use super::{for_each_bounded_row, storage, SqliteStore};
use crate::valid_index_key;

/// The value of context key `placeholder`'s key as JSON text (`"ok"`, `200`,
/// `true`, `{…}`), `NULL` without it. A key that may be inlined in a JSON path
/// is read by `->` with the path `'$.' || key` bound; any other key (quotes,
/// dots, spaces) is looked up by name among the context's members, so no key
/// is ever written into the SQL or a path.
pub(super) fn value_expr(key: &str, placeholder: &str) -> String {
    if valid_index_key(key) {
        format!("(context -> ('$.' || {placeholder}))")
    } else {
        format!(
            "(SELECT CASE j.type WHEN 'text' THEN json_quote(j.value) WHEN 'null' THEN NULL
                                 WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
                                 ELSE CAST(j.value AS TEXT) END
              FROM json_each(log_records.context) AS j WHERE j.key = {placeholder})"
        )
    }
}

/// See [`Store::count_split`](log_panel_query::Store::count_split): at most
/// [`HISTOGRAM_ROW_LIMIT`](super::HISTOGRAM_ROW_LIMIT) rows, within the store's read time budget.
pub(super) fn count_split(
    store: &SqliteStore,
    narrowed: &RecordFilter,
    key: &str,
    counter: &mut SplitCounter<'_>,
) -> Result<(), StoreError> {
    let mut w = store.plan_counting(narrowed)?;
    let k = w.bind(key.to_owned());
    let columns = format!("ts, {}", value_expr(key, &k));
    let conn = store.conn()?;
    let complete = for_each_bounded_row(&conn, &columns, &w, |row| {
        let ts = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(storage)?;
        let t = crate::rows::timestamp(ts).map_err(storage)?;
        let value = row.get_ref(1).and_then(|v| Ok(v.as_str_or_null()?)).map_err(storage)?;
        // Text that is not JSON (a context written by hand) counts as itself.
        let value = value.map(|v| serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::from(v)));
        counter.add_json(t, value.as_ref());
        Ok(())
    })?;
    if !complete {
        counter.stopped();
    }
    Ok(())
}
