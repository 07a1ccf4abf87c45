//! Background upkeep shared by the sink's idle steps and the store: bringing
//! the message search index up to date, and deleting old records while
//! keeping the aggregates right.
//!
//! # The search index
//!
//! GIN indexes on `log_records` (trigram on `message`, `jsonb_path_ops` on
//! `context`) cut COPY throughput by half or more (docs/performance.md), so
//! they live on a side table, `log_search (id, message, context)`, holding every record with `id <=
//! log_search_mark.last_id`. [`index_step`] copies the next rows above the
//! mark; searches read the index up to the mark and scan the rows above it,
//! so they are complete however far the index lags. The same step fills
//! `log_search_num (key, num, id)` with the numbers among each copied
//! record's top-level context values, for comparisons (`status >= 500`).
//!
//! The mark may only pass an id once no transaction can still commit a row
//! below it (concurrent writers commit out of id order). [`index_step`]
//! learns that bound by taking `SHARE` lock on `log_records` with `NOWAIT`
//! for the instant of a `max(id)`: the lock is granted only when no write is
//! in flight, and once it is, every id drawn so far belongs to a finished
//! transaction. When another process is writing, the step is skipped and
//! tried again later; nothing waits.
//!
//! # Pruning
//!
//! [`prune_batch`] deletes the oldest records before a time, at most a batch,
//! and in the same transaction subtracts them from the aggregate tables,
//! fixes the touched loggers' first and last seen, and drops rows whose counts
//! reach zero. It locks aggregate rows in the order writers do (stats, then
//! hourly, then quarter, each sorted by key), so the two cannot deadlock.

use std::collections::BTreeMap;
use std::time::SystemTime;

use postgres::Client;

/// Rows [`index_step`] copies into the search table at most per step
/// (about 7 ms of GIN index work on the test machine: a batch arriving meanwhile waits for it).
pub(crate) const INDEX_STEP_ROWS: i64 = 250;

/// SQLSTATE `lock_not_available`: `NOWAIT` found the lock taken.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// How [`index_step`] takes its lock on `log_records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockWait {
    /// Give up at once when the lock is taken (the sink: a batch must never
    /// wait behind indexing, and the next idle moment tries again).
    NoWait,
    /// Wait for it (an explicit catch-up): a batch in flight finishes first,
    /// and an autovacuum of `log_records`, whose lock conflicts with this
    /// one, is cancelled by the server after `deadlock_timeout` instead of
    /// stopping the catch-up for as long as it runs.
    Wait,
}

/// Copies up to `max_rows` records above the mark into the search table and
/// moves the mark. Returns whether rows remain to index (`false` also when,
/// with [`LockWait::NoWait`], a write in flight or a vacuum kept the step from running).
pub(crate) fn index_step(client: &mut Client, max_rows: i64, wait: LockWait) -> Result<bool, postgres::Error> {
    let lock = match wait {
        LockWait::NoWait => "LOCK TABLE log_records IN SHARE MODE NOWAIT",
        LockWait::Wait => "LOCK TABLE log_records IN SHARE MODE",
    };
    let safe_max = {
        let mut tx = client.transaction()?;
        match tx.batch_execute(lock) {
            Ok(()) => {}
            Err(e) if e.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE) => return Ok(false),
            Err(e) => return Err(e),
        }
        let max: i64 = tx.query_one("SELECT coalesce(max(id), 0) FROM log_records", &[])?.try_get(0)?;
        tx.commit()?;
        max
    };
    let mut tx = client.transaction()?;
    // FOR UPDATE: several sinks on one database index one after the other.
    let mark: i64 = tx.query_one("SELECT last_id FROM log_search_mark FOR UPDATE", &[])?.try_get(0)?;
    if mark >= safe_max {
        tx.commit()?;
        return Ok(false);
    }
    let row = tx.query_one(
        "WITH copied AS (
             INSERT INTO log_search (id, message, context)
             SELECT id, message, context FROM log_records WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3
             ON CONFLICT (id) DO NOTHING
             RETURNING id, context),
         numbers AS (
             INSERT INTO log_search_num (key, num, id)
             SELECT e.key, e.value::numeric::float8, c.id FROM copied c,
                  jsonb_each(CASE WHEN jsonb_typeof(c.context) = 'object' THEN c.context ELSE '{}' END) e
             WHERE jsonb_typeof(e.value) = 'number'
               AND abs(e.value::numeric) < 1e308
             ON CONFLICT DO NOTHING)
         SELECT count(*), max(id) FROM copied",
        &[&mark, &safe_max, &max_rows],
    )?;
    let copied: i64 = row.try_get(0)?;
    let last: Option<i64> = row.try_get(1)?;
    let full = copied >= max_rows;
    // A full step stops at its last row; otherwise every id up to safe_max is done.
    let new_mark = if full { last.unwrap_or(safe_max) } else { safe_max };
    tx.execute("UPDATE log_search_mark SET last_id = $1", &[&new_mark])?;
    tx.commit()?;
    Ok(full || new_mark < safe_max)
}

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
pub(crate) fn count_before(client: &mut Client, before: SystemTime) -> Result<u64, postgres::Error> {
    let n: i64 = client.query_one("SELECT count(*) FROM log_records WHERE ts < $1", &[&before])?.try_get(0)?;
    Ok(n.unsigned_abs())
}
