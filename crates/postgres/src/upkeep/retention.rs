//! Deleting old records while keeping the aggregates right.
//!
//! [`prune_step`] drops the oldest day partition of `log_records` when the
//! whole day is before the cutoff ([`drop_oldest_day`]: detach, count, drop;
//! its time does not grow with the rows deleted one by one), and otherwise
//! deletes the oldest records of the partial day, at most a batch
//! ([`prune_batch`]). Either way, in the same transaction, the search side
//! tables lose the rows' ids and core's [`take_off`] takes them off the
//! aggregate tables through [`Tables`]: it subtracts their counts, fixes the
//! touched loggers' first and last seen, and drops rows whose counts reach
//! zero. It locks aggregate rows in the order writers do (stats, then
//! hourly, quarter, site hours and site days, each sorted by key), and `log_records` is locked
//! before them as a writer's COPY does, so the two cannot deadlock.

use std::borrow::Cow;
use std::time::SystemTime;

use log_panel_core::fold::{take_off, AggregateTables, BatchAggregates, Bucket, SiteDelta, StoredSite};
use log_panel_core::{level_from_severity, Timestamp};
use postgres::error::SqlState;
use postgres::{Client, Row, Transaction};

use crate::aggregates::{SiteColumns, SITE_TABLES};

/// What one [`prune_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pruned {
    /// Records deleted.
    pub deleted: u64,
    /// Whether there may be more to delete.
    pub more: bool,
    /// Whether the records went with a whole day partition, dropped.
    pub whole_day: bool,
}

/// Drops the oldest day partition if it is entirely before `before`, or else
/// deletes up to `batch` of the oldest records with `ts < before`, fixing the
/// aggregates in the same transaction.
pub(crate) fn prune_step(client: &mut Client, before: SystemTime, batch: i64) -> Result<Pruned, postgres::Error> {
    if let Some(deleted) = drop_oldest_day(client, before)? {
        return Ok(Pruned { deleted, more: true, whole_day: true });
    }
    let deleted = prune_batch(client, before, batch)?;
    Ok(Pruned { deleted, more: deleted >= batch.unsigned_abs(), whole_day: false })
}

/// The oldest partition of `log_records` whose upper bound is at or before
/// `before`, from the catalog (whatever its name), and its UTC day (its
/// lower bound's, the key of its row in `log_day_ids`) as text.
const OLDEST_EXPIRED_DAY: &str = "
    SELECT p.relid::regclass::text, (p.lower AT TIME ZONE 'UTC')::date::text FROM (
        SELECT c.oid AS relid,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']*)''\\)')::timestamptz AS lower,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']*)''\\)')::timestamptz AS upper
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'log_records'::regclass) p
    WHERE p.upper <= $1 ORDER BY p.upper LIMIT 1";

/// Detaches and drops the oldest day partition when all of it is before
/// `before`; `None` when there is none. Returns the records it held.
pub(crate) fn drop_oldest_day(client: &mut Client, before: SystemTime) -> Result<Option<u64>, postgres::Error> {
    let Some(row) = client.query_opt(OLDEST_EXPIRED_DAY, &[&before])? else {
        return Ok(None);
    };
    let name: String = row.try_get(0)?;
    let day: String = row.try_get(1)?;
    let mut tx = client.transaction()?;
    // Detached first: from here on no batch can add to it, so the counts
    // taken off are exactly its rows.
    match tx.batch_execute(&format!("ALTER TABLE log_records DETACH PARTITION {name}")) {
        // Only the table's owner may detach: a writer role granted DELETE
        // (docs/schema.md, Permissions) deletes the day's rows instead.
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => return Ok(None),
        other => other?,
    }
    let rows = tx.query(
        &format!(
            "WITH s AS (DELETE FROM log_search WHERE id IN (SELECT id FROM {name})),
                  n AS (DELETE FROM log_search_num WHERE id IN (SELECT id FROM {name}))
             SELECT {COUNTED} FROM {name} GROUP BY 1, 2, 3, 4, 5"
        ),
        &[],
    )?;
    let deleted = take_off_counted(&mut tx, &rows)?;
    tx.execute("DELETE FROM log_day_ids WHERE day = $1::text::date", &[&day])?;
    tx.batch_execute(&format!("DROP TABLE {name}"))?;
    tx.commit()?;
    Ok(Some(deleted))
}

/// Deletes up to `batch` of the oldest records with `ts < before` and fixes
/// the aggregates, in one transaction. Returns how many were deleted.
pub(crate) fn prune_batch(client: &mut Client, before: SystemTime, batch: i64) -> Result<u64, postgres::Error> {
    let mut tx = client.transaction()?;
    // The deleted rows, grouped per call site, UTC quarter hour and level.
    let rows = tx.query(
        &format!(
            "WITH d AS (
             DELETE FROM log_records WHERE (ts, id) IN (
                 SELECT ts, id FROM log_records WHERE ts < $1 ORDER BY ts, id LIMIT $2)
             RETURNING id, logger, level, ts, file, line),
         s AS (DELETE FROM log_search WHERE id IN (SELECT id FROM d)),
         n AS (DELETE FROM log_search_num WHERE id IN (SELECT id FROM d))
         SELECT {COUNTED} FROM d GROUP BY 1, 2, 3, 4, 5"
        ),
        &[&before, &batch],
    )?;
    let deleted = take_off_counted(&mut tx, &rows)?;
    tx.commit()?;
    Ok(deleted)
}

/// The columns of deleted rows grouped for [`take_off_counted`] (`GROUP BY
/// 1, 2, 3, 4, 5`): logger, file, line, UTC quarter hour start in Unix
/// seconds, level, and the count.
const COUNTED: &str = "logger, file, line, (floor(extract(epoch FROM ts) / 900) * 900)::int8, level, count(*)";

/// Takes rows of [`COUNTED`] off the aggregates; returns the records they count.
fn take_off_counted(tx: &mut Transaction<'_>, rows: &[Row]) -> Result<u64, postgres::Error> {
    let mut deleted = 0u64;
    let mut counted = Vec::with_capacity(rows.len());
    for row in rows {
        let quarter: i64 = row.try_get(3)?;
        let level: i16 = row.try_get(4)?;
        let n: i64 = row.try_get(5)?;
        deleted += n.unsigned_abs();
        if let Some(level) = level_from_severity(i64::from(level)) {
            let file: Option<String> = row.try_get(1)?;
            let line: Option<i32> = row.try_get(2)?;
            let site = StoredSite {
                logger: Cow::Owned(row.try_get(0)?),
                file: file.map(Cow::Owned),
                line: line.and_then(|l| u32::try_from(l).ok()),
            };
            counted.push((site, Timestamp(quarter.saturating_mul(1_000_000)), level, n.unsigned_abs()));
        }
    }
    take_off(&mut Tables(tx), &BatchAggregates::of_counts(counted))?;
    Ok(deleted)
}

/// The aggregate tables, inside a prune's transaction.
struct Tables<'a, 'c>(&'a mut Transaction<'c>);

impl AggregateTables for Tables<'_, '_> {
    type Error = postgres::Error;

    fn lock_loggers(&mut self, loggers: &[&str]) -> Result<(), postgres::Error> {
        // In the writers' order: keys sorted bytewise.
        self.0.query(
            "SELECT 1 FROM log_logger_stats WHERE logger = ANY($1) ORDER BY logger COLLATE \"C\" FOR UPDATE",
            &[&loggers],
        )?;
        Ok(())
    }

    fn add_to_buckets(&mut self, bucket: Bucket, rows: &[(&str, Timestamp, [i64; 5])]) -> Result<(), postgres::Error> {
        let (table, column) = match bucket {
            Bucket::Hour => ("log_logger_hourly", "hour"),
            Bucket::Quarter => ("log_logger_quarter", "quarter"),
        };
        let names: Vec<&str> = rows.iter().map(|(n, _, _)| *n).collect();
        let starts: Vec<i64> = rows.iter().map(|(_, t, _)| t.0.div_euclid(1_000_000)).collect();
        let level = |i: usize| -> Vec<i64> { rows.iter().map(|(_, _, c)| c[i]).collect() };
        let keys = format!(
            ", unnest($1::text[], $2::int8[]) AS u(logger, secs) WHERE a.logger = u.logger \
             AND a.{column} = 'epoch'::timestamptz + u.secs * interval '1 second'"
        );
        self.0.query(
            &format!("SELECT 1 FROM {table} a {keys} ORDER BY a.logger COLLATE \"C\", a.{column} FOR UPDATE OF a"),
            &[&names, &starts],
        )?;
        self.0.execute(
            &format!(
                "UPDATE {table} a SET trace = a.trace + u.trace, debug = a.debug + u.debug, info = a.info + u.info,
                     warn = a.warn + u.warn, error = a.error + u.error
                 FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                      AS u(logger, secs, trace, debug, info, warn, error)
                 WHERE a.logger = u.logger AND a.{column} = 'epoch'::timestamptz + u.secs * interval '1 second'"
            ),
            &[&names, &starts, &level(0), &level(1), &level(2), &level(3), &level(4)],
        )?;
        self.0.execute(
            &format!(
                "DELETE FROM {table} a USING unnest($1::text[], $2::int8[]) AS u(logger, secs)
                 WHERE a.logger = u.logger AND a.{column} = 'epoch'::timestamptz + u.secs * interval '1 second'
                   AND a.trace + a.debug + a.info + a.warn + a.error <= 0"
            ),
            &[&names, &starts],
        )?;
        Ok(())
    }

    fn add_to_sites(&mut self, rows: &[SiteDelta<'_>]) -> Result<(), postgres::Error> {
        // The hours, then the days summing them: the writers' table order.
        // A prune leaves a bucket's newest time as it is (core's `take_off`),
        // so the rows' `last` is not read.
        for (table, column, unit) in SITE_TABLES {
            let c = SiteColumns::of(rows.iter().map(|&(t, n, f, l, counts)| (t, n, f, l, counts, i64::MIN)), unit);
            let (starts, names, files, lines) = (&c.starts, &c.names, &c.files, &c.lines);
            let keys = "unnest($1::int8[], $2::text[], $3::text[], $4::int4[]) AS u(secs, logger, file_key, line_key)";
            let matches = format!(
                "a.{column} = 'epoch'::timestamptz + u.secs * interval '1 second' AND a.logger = u.logger
                 AND a.file_key = u.file_key AND a.line_key = u.line_key"
            );
            // In the writers' order: the primary key's, in bytes (its columns are `COLLATE "C"`).
            // `table` and `column` are our constants.
            self.0.query(
                &format!(
                    "SELECT 1 FROM {table} a, {keys} WHERE {matches}
                     ORDER BY a.{column}, a.logger, a.file_key, a.line_key FOR UPDATE OF a"
                ),
                &[starts, names, files, lines],
            )?;
            let [l0, l1, l2, l3, l4] = &c.levels;
            self.0.execute(
                &format!(
                    "UPDATE {table} a SET trace = a.trace + u.trace, debug = a.debug + u.debug,
                         info = a.info + u.info, warn = a.warn + u.warn, error = a.error + u.error
                     FROM unnest($1::int8[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[], $7::int8[],
                                 $8::int8[], $9::int8[])
                          AS u(secs, logger, file_key, line_key, trace, debug, info, warn, error)
                     WHERE {matches}"
                ),
                &[starts, names, files, lines, l0, l1, l2, l3, l4],
            )?;
            self.0.execute(
                &format!(
                    "DELETE FROM {table} a USING {keys}
                     WHERE {matches} AND a.trace + a.debug + a.info + a.warn + a.error <= 0"
                ),
                &[starts, names, files, lines],
            )?;
        }
        Ok(())
    }

    fn add_to_loggers(&mut self, rows: &[(&str, [i64; 3])]) -> Result<(), postgres::Error> {
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        let column = |i: usize| -> Vec<i64> { rows.iter().map(|(_, c)| c[i]).collect() };
        self.0.execute(
            "UPDATE log_logger_stats a SET total = a.total + u.total, errors = a.errors + u.errors,
                 warnings = a.warnings + u.warnings
             FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) AS u(logger, total, errors, warnings)
             WHERE a.logger = u.logger",
            &[&names, &column(0), &column(1), &column(2)],
        )?;
        self.0.execute("DELETE FROM log_logger_stats WHERE logger = ANY($1) AND total <= 0", &[&names])?;
        // The (logger COLLATE "C", ts, id) index answers both ends.
        self.0.execute(
            "UPDATE log_logger_stats a SET
                 first_seen = coalesce((SELECT min(r.ts) FROM log_records r
                                        WHERE r.logger COLLATE \"C\" = a.logger COLLATE \"C\"), a.first_seen),
                 last_seen = coalesce((SELECT max(r.ts) FROM log_records r
                                       WHERE r.logger COLLATE \"C\" = a.logger COLLATE \"C\"), a.last_seen)
             WHERE a.logger = ANY($1)",
            &[&names],
        )?;
        Ok(())
    }
}

/// How many records have `ts < before` (a dry-run prune).
#[cfg(feature = "read")]
pub(crate) fn count_older(client: &mut Client, before: SystemTime) -> Result<u64, postgres::Error> {
    let n: i64 = client.query_one("SELECT count(*) FROM log_records WHERE ts < $1", &[&before])?.try_get(0)?;
    Ok(n.unsigned_abs())
}
