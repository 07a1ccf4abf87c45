//! Rows → values: a stored record, a timestamp column, the per-level counts
//! of an aggregate row, a logger's totals.

use log_panel_core::Timestamp;
use rusqlite::types::Type;
#[cfg(feature = "read")]
use {
    log_panel_core::fold::LoggerTotals,
    log_panel_core::{level_from_severity, LEVELS},
    log_panel_query::{LevelCounts, StoredRecord},
    rusqlite::{Connection, Row},
};

#[cfg(feature = "read")]
/// The record columns [`record`] reads, in its order.
pub(crate) const RECORD_COLUMNS: &str =
    "id, ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size";

/// A `ts` or bucket column's text as a time: text that is not the stored
/// form is a conversion failure (a damaged row).
pub(crate) fn timestamp(text: &str) -> rusqlite::Result<Timestamp> {
    Timestamp::parse_rfc3339(text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))
}

#[cfg(feature = "read")]
/// A row of [`RECORD_COLUMNS`].
pub(crate) fn record(row: &Row<'_>) -> rusqlite::Result<StoredRecord> {
    let ts: String = row.get(1)?;
    let level: i64 = row.get(2)?;
    let context: String = row.get(12)?;
    let mut r = StoredRecord::default();
    r.id = row.get(0)?;
    r.ts = timestamp(&ts)?;
    r.level = level_from_severity(level).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            Type::Integer,
            format!("level {level} is not a log-panel severity").into(),
        )
    })?;
    r.logger = row.get(3)?;
    r.message = row.get(4)?;
    r.module = row.get(5)?;
    r.file = row.get(6)?;
    r.line = row.get::<_, Option<i64>>(7)?.and_then(|l| u32::try_from(l).ok());
    r.thread = row.get(8)?;
    r.pid = u32::try_from(row.get::<_, i64>(9)?).unwrap_or(0);
    r.host = row.get(10)?;
    r.app = row.get(11)?;
    r.context = match serde_json::from_str::<serde_json::Value>(&context) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    r.original_size = row.get::<_, Option<i64>>(13)?.and_then(|s| u64::try_from(s).ok());
    Ok(r)
}

#[cfg(feature = "read")]
/// The five per-level counts of an aggregate row from column `first` on.
pub(crate) fn counts(row: &Row<'_>, first: usize) -> rusqlite::Result<LevelCounts> {
    let mut sums = [0i64; 5];
    for (i, sum) in sums.iter_mut().enumerate() {
        *sum = row.get::<_, Option<i64>>(first + i)?.unwrap_or(0);
    }
    Ok(level_counts(sums))
}

#[cfg(feature = "read")]
/// Counts from sums in the aggregate tables' column order (trace, debug,
/// info, warn, error); a negative sum counts as none.
pub(crate) fn level_counts(sums: impl IntoIterator<Item = i64>) -> LevelCounts {
    let mut c = LevelCounts::default();
    for (level, n) in LEVELS.into_iter().zip(sums) {
        c.add_n(level, u64::try_from(n).unwrap_or(0));
    }
    c
}

#[cfg(feature = "read")]
/// A count column (SQLite integers are signed; counts are never negative).
fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
}

#[cfg(feature = "read")]
/// Every logger's totals from `log_logger_stats`, ordered by name.
pub(crate) fn logger_totals(conn: &Connection) -> rusqlite::Result<Vec<(String, LoggerTotals)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT logger, total, errors, warnings, first_seen, last_seen FROM log_logger_stats ORDER BY logger",
    )?;
    let rows = stmt.query_map([], |row| {
        let (first, last): (String, String) = (row.get(4)?, row.get(5)?);
        let totals =
            LoggerTotals::new(count(row, 1)?, count(row, 2)?, count(row, 3)?, timestamp(&first)?, timestamp(&last)?);
        Ok((row.get::<_, String>(0)?, totals))
    })?;
    rows.collect()
}
