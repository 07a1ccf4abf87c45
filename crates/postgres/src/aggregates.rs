//! Per-logger aggregates in PostgreSQL: the same three tables, with the same
//! meaning, as in SQLite (see `docs/aggregates.md`), with `timestamptz`
//! columns for the times and bucket starts.
//!
//! - `log_logger_stats`: per logger — total, errors, warnings, first and last seen;
//! - `log_logger_hourly`: per logger and UTC hour — a count per level;
//! - `log_logger_quarter`: per logger and UTC quarter hour — a count per level.
//!
//! [`PgSink`](crate::PgSink) keeps them in each batch's transaction: it sums
//! the batch in memory and sends one `INSERT … SELECT FROM unnest(…) ON
//! CONFLICT DO UPDATE` per table, which upserts every distinct key of the batch
//! at once (three statements per batch, whatever its size). Keys are sent
//! sorted, so concurrent writers (several processes) lock the same rows in
//! the same order and cannot deadlock each other.
//!
//! The counts are computed from exactly what the `COPY` stores: a logger name
//! with a NUL character is counted under its sanitised name (U+FFFD), and a
//! timestamp before PostgreSQL's earliest is counted at that earliest time.

use std::borrow::Cow;
use std::collections::BTreeMap;

use log_panel_core::{Level, Record};
use postgres::{Client, Statement};

/// Microseconds from 1970-01-01 to PostgreSQL's earliest timestamp
/// (4714-11-24 00:00 BC): what the COPY clamps earlier timestamps to.
const PG_MIN_UNIX_MICROS: i64 = -211_813_488_000_000_000 + 946_684_800_000_000;
const HOUR_SECS: i64 = 3600;
const QUARTER_SECS: i64 = 900;

/// A Unix time in microseconds (`int8`) as a `timestamptz`, exactly (the two
/// parts stay far below 2^53, so the float arithmetic of `* interval` is exact).
macro_rules! micros_to_timestamptz {
    ($x:literal) => {
        concat!(
            "('epoch'::timestamptz + (",
            $x,
            " / 1000000) * interval '1 second' + (",
            $x,
            " % 1000000) * interval '1 microsecond')"
        )
    };
}

const UPSERT_STATS: &str = concat!(
    "INSERT INTO log_logger_stats AS a (logger, total, errors, warnings, first_seen, last_seen)
     SELECT u.logger, u.total, u.errors, u.warnings, ",
    micros_to_timestamptz!("u.first"),
    ", ",
    micros_to_timestamptz!("u.last"),
    "
     FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
          AS u(logger, total, errors, warnings, first, last)
     ON CONFLICT (logger) DO UPDATE SET
         total = a.total + EXCLUDED.total,
         errors = a.errors + EXCLUDED.errors,
         warnings = a.warnings + EXCLUDED.warnings,
         first_seen = least(a.first_seen, EXCLUDED.first_seen),
         last_seen = greatest(a.last_seen, EXCLUDED.last_seen)"
);

const UPSERT_HOURLY: &str = "INSERT INTO log_logger_hourly AS a (logger, hour, trace, debug, info, warn, error)
     SELECT u.logger, 'epoch'::timestamptz + u.secs * interval '1 second', u.trace, u.debug, u.info, u.warn, u.error
     FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
          AS u(logger, secs, trace, debug, info, warn, error)
     ON CONFLICT (logger, hour) DO UPDATE SET
         trace = a.trace + EXCLUDED.trace, debug = a.debug + EXCLUDED.debug, info = a.info + EXCLUDED.info,
         warn = a.warn + EXCLUDED.warn, error = a.error + EXCLUDED.error";

const UPSERT_QUARTER: &str = "INSERT INTO log_logger_quarter AS a (logger, quarter, trace, debug, info, warn, error)
     SELECT u.logger, 'epoch'::timestamptz + u.secs * interval '1 second', u.trace, u.debug, u.info, u.warn, u.error
     FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
          AS u(logger, secs, trace, debug, info, warn, error)
     ON CONFLICT (logger, quarter) DO UPDATE SET
         trace = a.trace + EXCLUDED.trace, debug = a.debug + EXCLUDED.debug, info = a.info + EXCLUDED.info,
         warn = a.warn + EXCLUDED.warn, error = a.error + EXCLUDED.error";

/// What [`rebuild`] runs after locking: the aggregates recomputed from
/// `log_records`. (Migration 2 backfills with the same statements; that copy is frozen.)
const REBUILD: &str = "DELETE FROM log_logger_stats;
DELETE FROM log_logger_hourly;
DELETE FROM log_logger_quarter;
INSERT INTO log_logger_stats (logger, total, errors, warnings, first_seen, last_seen)
    SELECT logger, count(*), count(*) FILTER (WHERE level = 40), count(*) FILTER (WHERE level = 30), min(ts), max(ts)
    FROM log_records GROUP BY logger;
INSERT INTO log_logger_hourly (logger, hour, trace, debug, info, warn, error)
    SELECT logger, date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           count(*) FILTER (WHERE level = 5), count(*) FILTER (WHERE level = 10), count(*) FILTER (WHERE level = 20),
           count(*) FILTER (WHERE level = 30), count(*) FILTER (WHERE level = 40)
    FROM log_records GROUP BY 1, 2;
INSERT INTO log_logger_quarter (logger, quarter, trace, debug, info, warn, error)
    SELECT logger,
           date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
               + floor(extract(minute FROM ts AT TIME ZONE 'UTC') / 15) * interval '15 minutes',
           count(*) FILTER (WHERE level = 5), count(*) FILTER (WHERE level = 10), count(*) FILTER (WHERE level = 20),
           count(*) FILTER (WHERE level = 30), count(*) FILTER (WHERE level = 40)
    FROM log_records GROUP BY 1, 2;";

/// The three upserts, prepared once per connection.
pub(crate) struct Statements {
    stats: Statement,
    hourly: Statement,
    quarter: Statement,
}

impl Statements {
    pub(crate) fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            stats: client.prepare(UPSERT_STATS)?,
            hourly: client.prepare(UPSERT_HOURLY)?,
            quarter: client.prepare(UPSERT_QUARTER)?,
        })
    }
}

#[derive(Clone, Copy)]
struct LoggerAcc {
    total: i64,
    errors: i64,
    warnings: i64,
    first: i64,
    last: i64,
}

/// Counts per level: trace, debug, info, warn, error.
type Counts = [i64; 5];

fn slot(level: Level) -> usize {
    match level {
        Level::Trace => 0,
        Level::Debug => 1,
        Level::Info => 2,
        Level::Warn => 3,
        Level::Error => 4,
    }
}

/// The logger name as the COPY stores it.
fn stored_name(name: &str) -> Cow<'_, str> {
    if name.contains('\0') {
        Cow::Owned(name.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// A batch's aggregates, summed in memory; sorted maps so keys go out in order.
#[derive(Default)]
pub(crate) struct BatchAggregates<'a> {
    loggers: BTreeMap<Cow<'a, str>, LoggerAcc>,
    hours: BTreeMap<(Cow<'a, str>, i64), Counts>,
    quarters: BTreeMap<(Cow<'a, str>, i64), Counts>,
}

impl<'a> BatchAggregates<'a> {
    pub(crate) fn of(records: &'a [Record]) -> BatchAggregates<'a> {
        let mut agg = BatchAggregates::default();
        for r in records {
            let name = stored_name(&r.target);
            let t = r.timestamp.as_micros().max(PG_MIN_UNIX_MICROS);
            let secs = t.div_euclid(1_000_000);
            let level = slot(r.level);
            let acc = agg.loggers.entry(name.clone()).or_insert(LoggerAcc {
                total: 0,
                errors: 0,
                warnings: 0,
                first: t,
                last: t,
            });
            acc.total += 1;
            acc.errors += i64::from(r.level == Level::Error);
            acc.warnings += i64::from(r.level == Level::Warn);
            acc.first = acc.first.min(t);
            acc.last = acc.last.max(t);
            agg.hours.entry((name.clone(), secs.div_euclid(HOUR_SECS) * HOUR_SECS)).or_default()[level] += 1;
            agg.quarters.entry((name, secs.div_euclid(QUARTER_SECS) * QUARTER_SECS)).or_default()[level] += 1;
        }
        agg
    }

    /// Upserts the batch's aggregates on `client`, inside the batch's transaction.
    pub(crate) fn upsert(&self, client: &mut Client, statements: &Statements) -> Result<(), postgres::Error> {
        if self.loggers.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.loggers.keys().map(AsRef::as_ref).collect();
        let column = |f: fn(&LoggerAcc) -> i64| -> Vec<i64> { self.loggers.values().map(f).collect() };
        client.execute(
            &statements.stats,
            &[
                &names,
                &column(|a| a.total),
                &column(|a| a.errors),
                &column(|a| a.warnings),
                &column(|a| a.first),
                &column(|a| a.last),
            ],
        )?;
        for (statement, buckets) in [(&statements.hourly, &self.hours), (&statements.quarter, &self.quarters)] {
            let names: Vec<&str> = buckets.keys().map(|(name, _)| name.as_ref()).collect();
            let starts: Vec<i64> = buckets.keys().map(|&(_, start)| start).collect();
            let level = |i: usize| -> Vec<i64> { buckets.values().map(|c| c[i]).collect() };
            client.execute(statement, &[&names, &starts, &level(0), &level(1), &level(2), &level(3), &level(4)])?;
        }
        Ok(())
    }
}

/// Recomputes every aggregate from `log_records`, in one transaction that
/// first takes `SHARE` lock on `log_records`: it waits for the batches being
/// written to commit, and writers wait for it (the lock conflicts with
/// `COPY`/`INSERT`), so nothing is counted twice or missed. Writers lock
/// `log_records` before the aggregate tables, as this does, so the two cannot
/// deadlock. Readers are never blocked. Use it after deleting rows
/// (retention) or restoring a backup.
pub fn rebuild(client: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute("LOCK TABLE log_records IN SHARE MODE")?;
    tx.batch_execute(REBUILD)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use log_panel_core::Timestamp;

    #[test]
    fn batches_are_summed_per_key_with_sanitised_names_and_clamped_times() {
        let mut records = Vec::new();
        for (level, logger, micros) in [
            (Level::Error, "a", 3_600_000_000 + 1),
            (Level::Warn, "a", 3_600_000_000 + 15 * 60_000_000),
            (Level::Info, "a", 7_199_999_999),
            (Level::Trace, "b\0c", -1),
            (Level::Debug, "z", i64::MIN),
        ] {
            let mut r = Record::new(level, logger, "m");
            r.timestamp = Timestamp(micros);
            records.push(r);
        }
        let agg = BatchAggregates::of(&records);
        let loggers: Vec<&str> = agg.loggers.keys().map(AsRef::as_ref).collect();
        assert_eq!(loggers, ["a", "b\u{FFFD}c", "z"]);
        let a = agg.loggers.get("a").map(|a| (a.total, a.errors, a.warnings, a.first, a.last));
        assert_eq!(a, Some((3, 1, 1, 3_600_000_001, 7_199_999_999)));
        let hours: Vec<(&str, i64, Counts)> = agg.hours.iter().map(|((n, s), c)| (n.as_ref(), *s, *c)).collect();
        let min_hour = (PG_MIN_UNIX_MICROS / 1_000_000).div_euclid(HOUR_SECS) * HOUR_SECS;
        assert_eq!(
            hours,
            [("a", 3600, [0, 0, 1, 1, 1]), ("b\u{FFFD}c", -3600, [1, 0, 0, 0, 0]), ("z", min_hour, [0, 1, 0, 0, 0])]
        );
        let quarters: Vec<i64> = agg.quarters.keys().filter(|(n, _)| n == "a").map(|&(_, s)| s).collect();
        assert_eq!(quarters, [3600, 4500, 6300]);
    }
}
