//! Deleting old records in small batches while keeping the aggregates and the
//! search index right. Shared by `SqliteStore::prune` (by hand) and
//! `SqliteSink::idle` (the `retention` option).
//!
//! Each batch is one transaction: the rows to delete are chosen by the
//! `ts` index (oldest first), their counts are subtracted from the three
//! aggregate tables (empty buckets removed, `first_seen` / `last_seen`
//! re-read from the `(logger, ts)` index), they are removed from the FTS
//! index and the context-key side table, then the rows are deleted. A batch
//! of 1 000 rows holds the write lock for a few milliseconds.

use std::collections::HashMap;

use log_panel_core::aggregate::LevelCounts;
use log_panel_core::{level_from_severity, Timestamp};
#[cfg(feature = "read")]
use rusqlite::Connection;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::rows;

const MINUTE: i64 = 60_000_000;
const QUARTER: i64 = 15 * MINUTE;
const HOUR: i64 = 60 * MINUTE;

/// How many records are older than `before`.
#[cfg(feature = "read")]
pub(crate) fn count_older(conn: &Connection, before: Timestamp) -> rusqlite::Result<u64> {
    let n: i64 =
        conn.query_row("SELECT count(*) FROM log_records WHERE ts < ?1", [before.to_rfc3339()], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes up to `limit` records older than `before` inside `tx`.
pub(crate) fn delete_batch(tx: &Transaction<'_>, before: Timestamp, limit: usize) -> rusqlite::Result<u64> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS lp_prune_ids (id INTEGER PRIMARY KEY);
         DELETE FROM temp.lp_prune_ids;",
    )?;
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let chosen = tx
        .prepare_cached(
            "INSERT INTO temp.lp_prune_ids (id)
             SELECT id FROM log_records WHERE ts < ?1 ORDER BY ts LIMIT ?2",
        )?
        .execute(params![before.to_rfc3339(), limit])?;
    if chosen == 0 {
        return Ok(0);
    }

    // What the chosen rows counted for, per logger / hour / quarter.
    let mut loggers: HashMap<String, (i64, i64, i64)> = HashMap::new();
    let mut hours: HashMap<(String, i64), LevelCounts> = HashMap::new();
    let mut quarters: HashMap<(String, i64), LevelCounts> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT logger, ts, level FROM log_records WHERE id IN (SELECT id FROM temp.lp_prune_ids)",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let logger: String = row.get(0)?;
            let ts: String = row.get(1)?;
            let t = rows::timestamp(&ts)?.0;
            let Some(level) = level_from_severity(row.get(2)?) else { continue };
            let acc = loggers.entry(logger.clone()).or_default();
            acc.0 += 1;
            acc.1 += i64::from(level == log_panel_core::Level::Error);
            acc.2 += i64::from(level == log_panel_core::Level::Warn);
            hours.entry((logger.clone(), t.div_euclid(HOUR) * HOUR)).or_default().add(level);
            quarters.entry((logger, t.div_euclid(QUARTER) * QUARTER)).or_default().add(level);
        }
    }
    for (table, column, buckets) in
        [("log_logger_hourly", "hour", &hours), ("log_logger_quarter", "quarter", &quarters)]
    {
        // Validated identifiers only: both names are our constants.
        let mut update = tx.prepare_cached(&format!(
            "UPDATE {table} SET trace = trace - ?3, debug = debug - ?4, info = info - ?5,
                 warn = warn - ?6, error = error - ?7
             WHERE logger = ?1 AND {column} = ?2"
        ))?;
        let mut drop_empty = tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE logger = ?1 AND {column} = ?2
                 AND trace <= 0 AND debug <= 0 AND info <= 0 AND warn <= 0 AND error <= 0"
        ))?;
        for ((logger, start), c) in buckets {
            let bucket = Timestamp(*start).to_rfc3339();
            let [t, d, i, w, e] =
                [c.trace, c.debug, c.info, c.warn, c.error].map(|n| i64::try_from(n).unwrap_or(i64::MAX));
            update.execute(params![logger, bucket, t, d, i, w, e])?;
            drop_empty.execute(params![logger, bucket])?;
        }
    }

    // The search index holds the rows at or below its mark: remove them
    // (an external-content FTS5 table needs the indexed text to delete).
    tx.prepare_cached(
        "INSERT INTO log_records_fts (log_records_fts, rowid, message)
         SELECT 'delete', id, message FROM log_records
         WHERE id IN (SELECT id FROM temp.lp_prune_ids) AND id <= (SELECT indexed_id FROM log_fts_state)",
    )?
    .execute([])?;
    super::context_index::forget_pruned(tx)?;
    let deleted =
        tx.prepare_cached("DELETE FROM log_records WHERE id IN (SELECT id FROM temp.lp_prune_ids)")?.execute([])?;

    let mut update = tx.prepare_cached(
        "UPDATE log_logger_stats SET total = total - ?2, errors = errors - ?3, warnings = warnings - ?4
         WHERE logger = ?1",
    )?;
    // Two subqueries, not `SELECT min(ts), max(ts)`: SQLite answers a lone
    // min or max from the end of the (logger, ts) index, but both together
    // by reading all of the logger's entries (seconds a batch at 10 M rows).
    let mut bounds = tx.prepare_cached(
        "SELECT (SELECT min(ts) FROM log_records WHERE logger = ?1), (SELECT max(ts) FROM log_records WHERE logger = ?1)",
    )?;
    let mut set_bounds =
        tx.prepare_cached("UPDATE log_logger_stats SET first_seen = ?2, last_seen = ?3 WHERE logger = ?1")?;
    let mut remove = tx.prepare_cached("DELETE FROM log_logger_stats WHERE logger = ?1")?;
    for (logger, (total, errors, warnings)) in &loggers {
        update.execute(params![logger, total, errors, warnings])?;
        let (first, last): (Option<String>, Option<String>) =
            bounds.query_row([logger], |r| Ok((r.get(0)?, r.get(1)?))).optional()?.unwrap_or((None, None));
        match (first, last) {
            (Some(first), Some(last)) => {
                set_bounds.execute(params![logger, first, last])?;
            }
            _ => {
                remove.execute([logger])?;
            }
        }
    }
    Ok(u64::try_from(deleted).unwrap_or(0))
}
