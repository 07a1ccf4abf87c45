//! Rows → values: a stored record (times through [`crate::time`]).

use log_panel_core::level_from_severity;
use log_panel_query::{StoreError, StoreErrorKind, StoredRecord};
use postgres::Row;

use crate::time::timestamp;

/// The columns of a [`StoredRecord`], in the order [`record`] reads them.
pub(crate) const RECORD_COLUMNS: &str =
    "r.id, r.ts, r.level, r.logger, r.message, r.module, r.file, r.line, r.thread, r.pid, r.host, r.app, \
     r.context::text, r.original_size";
/// How many columns [`RECORD_COLUMNS`] names.
pub(crate) const RECORD_COLUMN_COUNT: usize = 14;
/// [`RECORD_COLUMNS`] after `id, ts` as typed `NULL`s: a row that names only
/// a record's place (`r.id, r.ts, RECORD_BLANKS`) beside records in a
/// `UNION ALL` (an untyped `NULL` is text in a union of such rows alone).
pub(crate) const RECORD_BLANKS: &str = "NULL::int2, NULL::text, NULL::text, NULL::text, NULL::text, NULL::int4, \
     NULL::text, NULL::int4, NULL::text, NULL::text, NULL::text, NULL::int8";

fn storage(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new(StoreErrorKind::Storage, format!("reading a record: {what}: {e}")).with_source(e)
}

/// A row of [`RECORD_COLUMNS`] as a record.
pub(crate) fn record(row: &Row) -> Result<StoredRecord, StoreError> {
    let get_err = |e: postgres::Error| storage("unexpected column", e);
    let level: i16 = row.try_get(2).map_err(get_err)?;
    let Some(level) = level_from_severity(i64::from(level)) else {
        return Err(StoreError::new(StoreErrorKind::Storage, format!("a record has an unknown level {level}")));
    };
    let context: String = row.try_get(12).map_err(get_err)?;
    let context = match serde_json::from_str::<serde_json::Value>(&context) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => serde_json::Map::new(),
        Err(e) => return Err(storage("context is not JSON", e)),
    };
    let line: Option<i32> = row.try_get(7).map_err(get_err)?;
    let pid: i32 = row.try_get(9).map_err(get_err)?;
    let original_size: Option<i64> = row.try_get(13).map_err(get_err)?;
    let mut record = StoredRecord::default();
    record.id = row.try_get(0).map_err(get_err)?;
    record.ts = timestamp(row.try_get(1).map_err(get_err)?);
    record.level = level;
    record.logger = row.try_get(3).map_err(get_err)?;
    record.message = row.try_get(4).map_err(get_err)?;
    record.module = row.try_get(5).map_err(get_err)?;
    record.file = row.try_get(6).map_err(get_err)?;
    record.line = line.and_then(|l| u32::try_from(l).ok());
    record.thread = row.try_get(8).map_err(get_err)?;
    record.pid = u32::try_from(pid).unwrap_or(0);
    record.host = row.try_get(10).map_err(get_err)?;
    record.app = row.try_get(11).map_err(get_err)?;
    record.context = context;
    record.original_size = original_size.and_then(|s| u64::try_from(s).ok());
    Ok(record)
}
