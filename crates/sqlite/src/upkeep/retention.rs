//! Deleting old records in small batches while keeping the aggregates and the
//! search index right. Shared by `SqliteStore::prune` (by hand) and
//! `SqliteSink::idle` (the `retention` option).
//!
//! Each batch is one transaction: the rows to delete are chosen by the
//! `ts` index (oldest first) and folded into the aggregates they counted
//! for; they are removed from the FTS index and the context-key side table,
//! then deleted, and core's [`take_off`] takes their counts off the
//! aggregate tables through [`Tables`] (the loggers' hours, quarters and
//! totals, the call sites' hours and days; empty buckets removed,
//! `first_seen` / `last_seen` re-read from the `(logger, ts)` index). A
//! batch of 1 000 rows holds the write lock for a few milliseconds.

use std::borrow::Cow;
use std::collections::BTreeMap;

use log_panel_core::fold::{take_off, AggregateTables, BatchAggregates, Bucket, SiteDelta, StoredSite};
use log_panel_core::{level_from_severity, Timestamp};
#[cfg(feature = "read")]
use rusqlite::Connection;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::aggregates::{file_key, line_key, SITE_UNITS};
use crate::rows;

/// How many records are older than `before`.
#[cfg(feature = "read")]
pub(crate) fn count_older(conn: &Connection, before: Timestamp) -> rusqlite::Result<u64> {
    let n: i64 =
        conn.query_row("SELECT count(*) FROM log_records WHERE ts < ?1", [before.to_rfc3339()], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes up to `limit` records older than `before` inside `tx`.
pub(crate) fn prune_batch(tx: &Transaction<'_>, before: Timestamp, limit: usize) -> rusqlite::Result<u64> {
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

    // What the chosen rows counted for.
    let mut counted = Vec::with_capacity(chosen);
    {
        let mut stmt = tx.prepare_cached(
            "SELECT logger, ts, level, file, line FROM log_records WHERE id IN (SELECT id FROM temp.lp_prune_ids)",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let ts: String = row.get(1)?;
            let Some(level) = level_from_severity(row.get(2)?) else { continue };
            let line: Option<i64> = row.get(4)?;
            let site = StoredSite {
                logger: Cow::Owned(row.get(0)?),
                file: row.get::<_, Option<String>>(3)?.map(Cow::Owned),
                line: line.and_then(|l| u32::try_from(l).ok()),
            };
            counted.push((site, rows::timestamp(&ts)?, level, 1));
        }
    }
    let deleted_aggregates = BatchAggregates::of_counts(counted);

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
    take_off(&mut Tables(tx), &deleted_aggregates)?;
    crate::zone_map::forget_pruned(tx)?;
    Ok(u64::try_from(deleted).unwrap_or(0))
}

/// The aggregate tables, inside a prune's transaction.
struct Tables<'a, 'c>(&'a Transaction<'c>);

impl AggregateTables for Tables<'_, '_> {
    type Error = rusqlite::Error;

    fn add_to_buckets(&mut self, bucket: Bucket, rows: &[(&str, Timestamp, [i64; 5])]) -> rusqlite::Result<()> {
        let (table, column) = match bucket {
            Bucket::Hour => ("log_logger_hourly", "hour"),
            Bucket::Quarter => ("log_logger_quarter", "quarter"),
        };
        // Validated identifiers only: both names are our constants.
        let mut update = self.0.prepare_cached(&format!(
            "UPDATE {table} SET trace = trace + ?3, debug = debug + ?4, info = info + ?5,
                 warn = warn + ?6, error = error + ?7
             WHERE logger = ?1 AND {column} = ?2"
        ))?;
        let mut drop_empty = self.0.prepare_cached(&format!(
            "DELETE FROM {table} WHERE logger = ?1 AND {column} = ?2
                 AND trace <= 0 AND debug <= 0 AND info <= 0 AND warn <= 0 AND error <= 0"
        ))?;
        for (logger, start, [t, d, i, w, e]) in rows {
            let bucket = start.to_rfc3339();
            update.execute(params![logger, bucket, t, d, i, w, e])?;
            drop_empty.execute(params![logger, bucket])?;
        }
        Ok(())
    }

    fn add_to_sites(&mut self, rows: &[SiteDelta<'_>]) -> rusqlite::Result<()> {
        for unit in SITE_UNITS {
            let (table, column) = unit.table();
            // The hours' deltas summed per bucket of this table (a day holds up to 24 of them, a week 168).
            let mut deltas: BTreeMap<(Timestamp, &str, String, i64), [i64; 5]> = BTreeMap::new();
            for (hour, logger, file, line, counts) in rows {
                let sum = deltas.entry((unit.floor(*hour), logger, file_key(*file), line_key(*line))).or_default();
                sum.iter_mut().zip(counts).for_each(|(s, c)| *s += c);
            }
            // Validated identifiers only: both names are our constants.
            let mut update = self.0.prepare_cached(&format!(
                "UPDATE {table} SET trace = trace + ?5, debug = debug + ?6, info = info + ?7,
                     warn = warn + ?8, error = error + ?9
                 WHERE {column} = ?1 AND logger = ?2 AND file_key = ?3 AND line_key = ?4"
            ))?;
            let mut drop_empty = self.0.prepare_cached(&format!(
                "DELETE FROM {table} WHERE {column} = ?1 AND logger = ?2 AND file_key = ?3 AND line_key = ?4
                     AND trace <= 0 AND debug <= 0 AND info <= 0 AND warn <= 0 AND error <= 0"
            ))?;
            for ((start, logger, file, line), [t, d, i, w, e]) in deltas {
                let start = start.to_rfc3339();
                update.execute(params![start, logger, file, line, t, d, i, w, e])?;
                drop_empty.execute(params![start, logger, file, line])?;
            }
        }
        Ok(())
    }

    fn add_to_loggers(&mut self, rows: &[(&str, [i64; 3])]) -> rusqlite::Result<()> {
        let tx = self.0;
        let mut update = tx.prepare_cached(
            "UPDATE log_logger_stats SET total = total + ?2, errors = errors + ?3, warnings = warnings + ?4
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
        for (logger, [total, errors, warnings]) in rows {
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
        Ok(())
    }
}
