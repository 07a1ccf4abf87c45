//! Deleting old records while keeping the aggregates right.
//!
//! [`prune_batch`] deletes the oldest records before a time, at most a batch,
//! and in the same transaction subtracts them from the aggregate tables,
//! fixes the touched loggers' first and last seen, and drops rows whose counts
//! reach zero. It locks aggregate rows in the order writers do (stats, then
//! hourly, then quarter, each sorted by key), so the two cannot deadlock.

use std::collections::BTreeMap;
use std::time::SystemTime;

use postgres::Client;

/// Counts per level, in `severity` order trace, debug, info, warn, error.
type Counts = [i64; 5];

fn level_slot(level: i16) -> Option<usize> {
    match level {
        5 => Some(0),
        10 => Some(1),
        20 => Some(2),
        30 => Some(3),
        40 => Some(4),
        _ => None,
    }
}

/// Deletes up to `batch` of the oldest records with `ts < before` and fixes
/// the aggregates, in one transaction. Returns how many were deleted.
pub(crate) fn prune_batch(client: &mut Client, before: SystemTime, batch: i64) -> Result<u64, postgres::Error> {
    let mut tx = client.transaction()?;
    // The deleted rows, grouped per logger, UTC quarter hour and level.
    let rows = tx.query(
        "WITH d AS (
             DELETE FROM log_records WHERE id IN (
                 SELECT id FROM log_records WHERE ts < $1 ORDER BY ts, id LIMIT $2)
             RETURNING id, logger, level, ts),
         s AS (DELETE FROM log_search WHERE id IN (SELECT id FROM d)),
         n AS (DELETE FROM log_search_num WHERE id IN (SELECT id FROM d))
         SELECT logger, (floor(extract(epoch FROM ts) / 900) * 900)::int8, level, count(*)
         FROM d GROUP BY 1, 2, 3",
        &[&before, &batch],
    )?;
    if rows.is_empty() {
        tx.commit()?;
        return Ok(0);
    }
    let mut loggers: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut hours: BTreeMap<(String, i64), Counts> = BTreeMap::new();
    let mut quarters: BTreeMap<(String, i64), Counts> = BTreeMap::new();
    let mut deleted = 0u64;
    for row in &rows {
        let logger: String = row.try_get(0)?;
        let quarter: i64 = row.try_get(1)?;
        let level: i16 = row.try_get(2)?;
        let n: i64 = row.try_get(3)?;
        deleted += n.unsigned_abs();
        let stats = loggers.entry(logger.clone()).or_default();
        stats.0 += n;
        stats.1 += if level == 40 { n } else { 0 };
        stats.2 += if level == 30 { n } else { 0 };
        if let Some(slot) = level_slot(level) {
            hours.entry((logger.clone(), quarter.div_euclid(3600) * 3600)).or_default()[slot] += n;
            quarters.entry((logger, quarter)).or_default()[slot] += n;
        }
    }
    let names: Vec<&str> = loggers.keys().map(String::as_str).collect();
    // Lock in the writers' order (stats, hourly, quarter; keys sorted bytewise).
    tx.query(
        "SELECT 1 FROM log_logger_stats WHERE logger = ANY($1) ORDER BY logger COLLATE \"C\" FOR UPDATE",
        &[&names],
    )?;
    for (table, column, buckets) in
        [("log_logger_hourly", "hour", &hours), ("log_logger_quarter", "quarter", &quarters)]
    {
        let names: Vec<&str> = buckets.keys().map(|(n, _)| n.as_str()).collect();
        let starts: Vec<i64> = buckets.keys().map(|&(_, s)| s).collect();
        let level = |i: usize| -> Vec<i64> { buckets.values().map(|c| c[i]).collect() };
        let keys = format!(
            ", unnest($1::text[], $2::int8[]) AS u(logger, secs) WHERE a.logger = u.logger \
             AND a.{column} = 'epoch'::timestamptz + u.secs * interval '1 second'"
        );
        tx.query(
            &format!("SELECT 1 FROM {table} a {keys} ORDER BY a.logger COLLATE \"C\", a.{column} FOR UPDATE OF a"),
            &[&names, &starts],
        )?;
        tx.execute(
            &format!(
                "UPDATE {table} a SET trace = a.trace - u.trace, debug = a.debug - u.debug, info = a.info - u.info,
                     warn = a.warn - u.warn, error = a.error - u.error
                 FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                      AS u(logger, secs, trace, debug, info, warn, error)
                 WHERE a.logger = u.logger AND a.{column} = 'epoch'::timestamptz + u.secs * interval '1 second'"
            ),
            &[&names, &starts, &level(0), &level(1), &level(2), &level(3), &level(4)],
        )?;
        tx.execute(
            &format!(
                "DELETE FROM {table} a USING unnest($1::text[], $2::int8[]) AS u(logger, secs)
                 WHERE a.logger = u.logger AND a.{column} = 'epoch'::timestamptz + u.secs * interval '1 second'
                   AND a.trace + a.debug + a.info + a.warn + a.error <= 0"
            ),
            &[&names, &starts],
        )?;
    }
    let column = |f: fn(&(i64, i64, i64)) -> i64| -> Vec<i64> { loggers.values().map(f).collect() };
    tx.execute(
        "UPDATE log_logger_stats a SET total = a.total - u.total, errors = a.errors - u.errors,
             warnings = a.warnings - u.warnings
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) AS u(logger, total, errors, warnings)
         WHERE a.logger = u.logger",
        &[&names, &column(|s| s.0), &column(|s| s.1), &column(|s| s.2)],
    )?;
    tx.execute("DELETE FROM log_logger_stats WHERE logger = ANY($1) AND total <= 0", &[&names])?;
    // The (logger COLLATE "C", ts, id) index answers both ends.
    tx.execute(
        "UPDATE log_logger_stats a SET
             first_seen = coalesce((SELECT min(r.ts) FROM log_records r
                                    WHERE r.logger COLLATE \"C\" = a.logger COLLATE \"C\"), a.first_seen),
             last_seen = coalesce((SELECT max(r.ts) FROM log_records r
                                   WHERE r.logger COLLATE \"C\" = a.logger COLLATE \"C\"), a.last_seen)
         WHERE a.logger = ANY($1)",
        &[&names],
    )?;
    tx.commit()?;
    Ok(deleted)
}

/// How many records have `ts < before` (a dry-run prune).
#[cfg(feature = "read")]
pub(crate) fn count_older(client: &mut Client, before: SystemTime) -> Result<u64, postgres::Error> {
    let n: i64 = client.query_one("SELECT count(*) FROM log_records WHERE ts < $1", &[&before])?.try_get(0)?;
    Ok(n.unsigned_abs())
}
