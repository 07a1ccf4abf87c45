//! Deleting old records while keeping the aggregates right.
//!
//! [`prune_batch`] deletes the oldest records before a time, at most a batch,
//! and in the same transaction core's [`take_off`] takes them off the
//! aggregate tables through [`Tables`]: it subtracts their counts, fixes the
//! touched loggers' first and last seen, and drops rows whose counts reach
//! zero. It locks aggregate rows in the order writers do (stats, then
//! hourly, then quarter, each sorted by key), so the two cannot deadlock.

use std::borrow::Cow;
use std::time::SystemTime;

use log_panel_core::fold::{take_off, AggregateTables, BatchAggregates, Bucket, StoredSite};
use log_panel_core::{level_from_severity, Timestamp};
use postgres::{Client, Transaction};

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
    let mut deleted = 0u64;
    let mut counted = Vec::with_capacity(rows.len());
    for row in &rows {
        let quarter: i64 = row.try_get(1)?;
        let level: i16 = row.try_get(2)?;
        let n: i64 = row.try_get(3)?;
        deleted += n.unsigned_abs();
        if let Some(level) = level_from_severity(i64::from(level)) {
            let site = StoredSite { logger: Cow::Owned(row.try_get(0)?), file: None, line: None };
            counted.push((site, Timestamp(quarter.saturating_mul(1_000_000)), level, n.unsigned_abs()));
        }
    }
    take_off(&mut Tables(&mut tx), &BatchAggregates::of_counts(counted))?;
    tx.commit()?;
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
