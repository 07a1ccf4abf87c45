//! Per-logger and per-call-site aggregates in PostgreSQL: the same five tables, with the same
//! meaning, as in SQLite (see `docs/aggregates.md`), with `timestamptz`
//! columns for the times and bucket starts.
//!
//! - `log_logger_stats`: per logger — total, errors, warnings, first and last seen;
//! - `log_logger_hourly`: per logger and UTC hour — a count per level;
//! - `log_logger_quarter`: per logger and UTC quarter hour — a count per level;
//! - `log_site_hourly` (schema 7): per UTC hour and call site (logger, file,
//!   line) — a count per level and the newest record's time;
//! - `log_site_daily` (schema 10): the same per UTC day, so a call-site list
//!   over days sums one row per site and day, the hours only at its ends.
//!
//! [`PgSink`](crate::PgSink) keeps them in each batch's transaction: it sums
//! the batch in memory and sends one `INSERT … SELECT FROM unnest(…) ON
//! CONFLICT DO UPDATE` per table, which upserts every distinct key of the batch
//! at once, the five chained in one statement (one round trip per batch,
//! whatever its size). Keys are sent sorted, so concurrent writers (several
//! processes) lock the same rows in the same order and cannot deadlock each
//! other. Every path that changes them locks the tables in one order —
//! stats, hourly, quarter, site hours, site days — the writer here,
//! retention's `prune_step` and [`rebuild`].
//!
//! The counts are computed from exactly what the `COPY` stores: a logger name
//! or file with a NUL character is counted under its sanitised name (U+FFFD),
//! a line past `i32::MAX` at `i32::MAX`, and a timestamp before PostgreSQL's
//! earliest at that earliest time.

use log_panel_core::fold::{counts_as_i64, BatchAggregates, LevelCounts, LoggerTotals, StoredSite};
use std::collections::BTreeMap;

use log_panel_core::{without_nul, Record, Timestamp, DAY, HOUR};
use postgres::{Client, Statement};

/// Microseconds from 1970-01-01 to PostgreSQL's earliest timestamp
/// (4714-11-24 00:00 BC): what the COPY clamps earlier timestamps to.
pub(crate) const PG_MIN_UNIX_MICROS: i64 = -211_813_488_000_000_000 + 946_684_800_000_000;

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

/// The five upserts as one statement (one round trip a batch): each table's
/// `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`, the first four as
/// data-modifying CTEs. PostgreSQL runs such sub-statements in no promised
/// order, so each waits for the one before through a scalar subquery on its
/// `RETURNING` rows (`WHERE (SELECT count(*) FROM …) >= 0`, always true):
/// rows are locked table by table — stats, hourly, quarter, site hours, site
/// days — the order retention's `prune_step` locks them in, so the two
/// cannot deadlock.
const UPSERT: &str = concat!(
    "WITH stats AS (
     INSERT INTO log_logger_stats AS a (logger, total, errors, warnings, first_seen, last_seen)
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
         last_seen = greatest(a.last_seen, EXCLUDED.last_seen)
     RETURNING 1
), hourly AS (
     INSERT INTO log_logger_hourly AS a (logger, hour, trace, debug, info, warn, error)
     SELECT u.logger, 'epoch'::timestamptz + u.secs * interval '1 second', u.trace, u.debug, u.info, u.warn, u.error
     FROM unnest($7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[])
          AS u(logger, secs, trace, debug, info, warn, error)
     WHERE (SELECT count(*) FROM stats) >= 0
     ON CONFLICT (logger, hour) DO UPDATE SET
         trace = a.trace + EXCLUDED.trace, debug = a.debug + EXCLUDED.debug, info = a.info + EXCLUDED.info,
         warn = a.warn + EXCLUDED.warn, error = a.error + EXCLUDED.error
     RETURNING 1
), quarter AS (
     INSERT INTO log_logger_quarter AS a (logger, quarter, trace, debug, info, warn, error)
     SELECT u.logger, 'epoch'::timestamptz + u.secs * interval '1 second', u.trace, u.debug, u.info, u.warn, u.error
     FROM unnest($14::text[], $15::int8[], $16::int8[], $17::int8[], $18::int8[], $19::int8[], $20::int8[])
          AS u(logger, secs, trace, debug, info, warn, error)
     WHERE (SELECT count(*) FROM hourly) >= 0
     ON CONFLICT (logger, quarter) DO UPDATE SET
         trace = a.trace + EXCLUDED.trace, debug = a.debug + EXCLUDED.debug, info = a.info + EXCLUDED.info,
         warn = a.warn + EXCLUDED.warn, error = a.error + EXCLUDED.error
     RETURNING 1
), sites AS (
     INSERT INTO log_site_hourly AS a (hour, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
     SELECT 'epoch'::timestamptz + u.secs * interval '1 second', u.logger, u.file_key, u.line_key,
            u.trace, u.debug, u.info, u.warn, u.error, ",
    micros_to_timestamptz!("u.last"),
    "
     FROM unnest($21::int8[], $22::text[], $23::text[], $24::int4[], $25::int8[], $26::int8[], $27::int8[],
                 $28::int8[], $29::int8[], $30::int8[])
          AS u(secs, logger, file_key, line_key, trace, debug, info, warn, error, last)
     WHERE (SELECT count(*) FROM quarter) >= 0
     ON CONFLICT (hour, logger, file_key, line_key) DO UPDATE SET
         trace = a.trace + EXCLUDED.trace, debug = a.debug + EXCLUDED.debug, info = a.info + EXCLUDED.info,
         warn = a.warn + EXCLUDED.warn, error = a.error + EXCLUDED.error,
         last_seen = greatest(a.last_seen, EXCLUDED.last_seen)
     RETURNING 1
)
INSERT INTO log_site_daily AS a (day, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
     SELECT 'epoch'::timestamptz + u.secs * interval '1 second', u.logger, u.file_key, u.line_key,
            u.trace, u.debug, u.info, u.warn, u.error, ",
    micros_to_timestamptz!("u.last"),
    "
     FROM unnest($31::int8[], $32::text[], $33::text[], $34::int4[], $35::int8[], $36::int8[], $37::int8[],
                 $38::int8[], $39::int8[], $40::int8[])
          AS u(secs, logger, file_key, line_key, trace, debug, info, warn, error, last)
     WHERE (SELECT count(*) FROM sites) >= 0
     ON CONFLICT (day, logger, file_key, line_key) DO UPDATE SET
         trace = a.trace + EXCLUDED.trace, debug = a.debug + EXCLUDED.debug, info = a.info + EXCLUDED.info,
         warn = a.warn + EXCLUDED.warn, error = a.error + EXCLUDED.error,
         last_seen = greatest(a.last_seen, EXCLUDED.last_seen)"
);

/// A call site's file as `log_site_hourly.file_key` keeps it: a key column
/// cannot be NULL, so '' stands for no file and every file gets a prefix.
pub(crate) fn file_key(file: Option<&str>) -> String {
    file.map_or_else(String::new, |f| format!(">{f}"))
}

/// A call site's line as `log_site_hourly.line_key` keeps it (-1: none).
pub(crate) fn line_key(line: Option<u32>) -> i32 {
    line.map_or(-1, |l| i32::try_from(l).unwrap_or(i32::MAX))
}

/// The call sites' tables, their bucket column and the bucket's length, in
/// the order every path locks them: the hours, then the days summing them.
pub(crate) const SITE_TABLES: [(&str, &str, i64); 2] =
    [("log_site_hourly", "hour", HOUR), ("log_site_daily", "day", DAY)];

/// A call site's bucket as [`SiteColumns::of`] takes it: (a time inside the
/// bucket, logger, file, line, signed counts TRACE … ERROR, newest time in
/// microseconds).
pub(crate) type SiteBucket<'a> = (Timestamp, &'a str, Option<&'a str>, Option<u32>, [i64; 5], i64);

/// A call-site row's primary key as sent: (bucket start in microseconds,
/// logger, file key, line key); its order is the key's byte order.
type SiteKey<'a> = (i64, &'a str, String, i32);

/// One call-site table's rows as the columns an `unnest(…)` binds: one row
/// per distinct (bucket, logger, file key, line key), sorted as the primary
/// key orders them in bytes (`COLLATE "C"`), the order every writer and
/// prune locks them in.
pub(crate) struct SiteColumns<'a> {
    /// Each bucket's start, in Unix seconds.
    pub(crate) starts: Vec<i64>,
    pub(crate) names: Vec<&'a str>,
    pub(crate) files: Vec<String>,
    pub(crate) lines: Vec<i32>,
    /// A column per level, the rows' counts summed.
    pub(crate) levels: [Vec<i64>; 5],
    /// The newest of the rows' times, in microseconds.
    pub(crate) last: Vec<i64>,
}

impl<'a> SiteColumns<'a> {
    /// `rows` summed per bucket of `unit` (an hour or a day, UTC): a batch's
    /// (or a prune's) site hours as the rows of `log_site_hourly` or of
    /// `log_site_daily`. Summed here because one `INSERT … ON CONFLICT`
    /// cannot touch a row twice, and a day holds up to 24 of the hours.
    pub(crate) fn of(rows: impl Iterator<Item = SiteBucket<'a>>, unit: i64) -> SiteColumns<'a> {
        let mut sums: BTreeMap<SiteKey<'a>, ([i64; 5], i64)> = BTreeMap::new();
        for (t, logger, file, line, counts, last) in rows {
            let start = t.floor_to(unit).as_micros();
            let sum = sums.entry((start, logger, file_key(file), line_key(line))).or_insert(([0; 5], last));
            sum.0.iter_mut().zip(counts).for_each(|(s, c)| *s = s.saturating_add(c));
            sum.1 = sum.1.max(last);
        }
        let mut columns = SiteColumns {
            starts: Vec::with_capacity(sums.len()),
            names: Vec::with_capacity(sums.len()),
            files: Vec::with_capacity(sums.len()),
            lines: Vec::with_capacity(sums.len()),
            levels: Default::default(),
            last: Vec::with_capacity(sums.len()),
        };
        for ((start, logger, file, line), (counts, last)) in sums {
            columns.starts.push(start.div_euclid(1_000_000));
            columns.names.push(logger);
            columns.files.push(file);
            columns.lines.push(line);
            columns.levels.iter_mut().zip(counts).for_each(|(column, n)| column.push(n));
            columns.last.push(last);
        }
        columns
    }
}

/// What [`rebuild`] runs after locking: the aggregates recomputed from
/// `log_records`, the site days from the site hours. (Migration 2 backfills
/// with the same statements; that copy is frozen. Migrations 7 and 10 and
/// this share the call sites' statements.)
const REBUILD: &str = concat!(
    "DELETE FROM log_logger_stats;
DELETE FROM log_logger_hourly;
DELETE FROM log_logger_quarter;
DELETE FROM log_site_hourly;
DELETE FROM log_site_daily;
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
    FROM log_records GROUP BY 1, 2;
",
    crate::schema::fill_site_hourly!(),
    ";
",
    crate::schema::fill_site_daily!()
);

/// The aggregates' upsert, prepared once per connection.
pub(crate) struct Statements {
    upsert: Statement,
}

impl Statements {
    pub(crate) fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements { upsert: client.prepare(UPSERT)? })
    }
}

/// The call site and time as the COPY stores them: a NUL character in the
/// logger name or the file becomes U+FFFD, a line past `i32::MAX` is held
/// there, a time before PostgreSQL's earliest is clamped.
fn stored(r: &Record) -> (StoredSite<'_>, Timestamp) {
    let site = StoredSite {
        logger: without_nul(&r.logger),
        file: r.file.as_deref().map(without_nul),
        line: r.line.map(|l| l.min(i32::MAX.unsigned_abs())),
    };
    (site, Timestamp(r.timestamp.as_micros().max(PG_MIN_UNIX_MICROS)))
}

/// A batch's aggregates, folded as the rows are stored.
pub(crate) fn of(records: &[Record]) -> BatchAggregates<'_> {
    BatchAggregates::of_stored(records, stored)
}

/// Upserts the batch's aggregates on `client`, inside the batch's transaction:
/// one statement for the five tables, every key of the batch at once, in
/// sorted order.
pub(crate) fn upsert(
    client: &mut Client,
    statements: &Statements,
    agg: &BatchAggregates<'_>,
) -> Result<(), postgres::Error> {
    if agg.is_empty() {
        return Ok(());
    }
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let names: Vec<&str> = agg.loggers().map(|(name, _)| name).collect();
    let column = |f: &dyn Fn(&LoggerTotals) -> i64| -> Vec<i64> { agg.loggers().map(|(_, t)| f(t)).collect() };
    let stats = [
        column(&|t| int(t.total)),
        column(&|t| int(t.errors)),
        column(&|t| int(t.warnings)),
        column(&|t| t.first.as_micros()),
        column(&|t| t.last.as_micros()),
    ];
    let hourly = Buckets::of(agg.hours());
    let quarter = Buckets::of(agg.quarters());
    let site_rows = || agg.sites().map(|(t, n, f, l, c)| (t, n, f, l, counts_as_i64(&c.counts), c.last.as_micros()));
    let [hours, days] = SITE_TABLES.map(|(_, _, unit)| SiteColumns::of(site_rows(), unit));
    let [s0, s1, s2, s3, s4] = &stats;
    let [h0, h1, h2, h3, h4] = &hourly.levels;
    let [q0, q1, q2, q3, q4] = &quarter.levels;
    let [l0, l1, l2, l3, l4] = &hours.levels;
    let [d0, d1, d2, d3, d4] = &days.levels;
    client.execute(
        &statements.upsert,
        &[
            &names,
            s0,
            s1,
            s2,
            s3,
            s4,
            &hourly.names,
            &hourly.starts,
            h0,
            h1,
            h2,
            h3,
            h4,
            &quarter.names,
            &quarter.starts,
            q0,
            q1,
            q2,
            q3,
            q4,
            &hours.starts,
            &hours.names,
            &hours.files,
            &hours.lines,
            l0,
            l1,
            l2,
            l3,
            l4,
            &hours.last,
            &days.starts,
            &days.names,
            &days.files,
            &days.lines,
            d0,
            d1,
            d2,
            d3,
            d4,
            &days.last,
        ],
    )?;
    Ok(())
}

/// One per-logger bucket table's parameters: names, bucket starts (Unix
/// seconds) and a column per level.
struct Buckets<'a> {
    names: Vec<&'a str>,
    starts: Vec<i64>,
    levels: [Vec<i64>; 5],
}

impl<'a> Buckets<'a> {
    fn of(buckets: impl Iterator<Item = (&'a str, Timestamp, &'a LevelCounts)>) -> Buckets<'a> {
        let buckets: Vec<_> = buckets.collect();
        Buckets {
            names: buckets.iter().map(|&(name, _, _)| name).collect(),
            starts: buckets.iter().map(|&(_, start, _)| start.as_micros().div_euclid(1_000_000)).collect(),
            levels: levels(buckets.iter().map(|&(_, _, c)| c)),
        }
    }
}

/// A column per level (trace, debug, info, warn, error) of `counts`.
fn levels<'c>(counts: impl Iterator<Item = &'c LevelCounts>) -> [Vec<i64>; 5] {
    let mut columns: [Vec<i64>; 5] = Default::default();
    for c in counts {
        for (column, n) in columns.iter_mut().zip(counts_as_i64(c)) {
            column.push(n);
        }
    }
    columns
}

/// Recomputes every aggregate from `log_records`, in one transaction that
/// first takes `SHARE` lock on `log_records`: it waits for the batches being
/// written to commit, and writers wait for it (the lock conflicts with
/// `COPY`/`INSERT`), so nothing is counted twice or missed. Writers lock
/// `log_records` before the aggregate tables, as this does, so the two cannot
/// deadlock. Readers are never blocked. Use it after deleting rows
/// (retention) or restoring a backup. On a table partitioned by day it also
/// recomputes each day's id range (`log_day_ids`) from the partitions.
pub fn rebuild(client: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute("LOCK TABLE log_records IN SHARE MODE")?;
    tx.batch_execute(REBUILD)?;
    tx.batch_execute("SELECT log_panel_fill_day_ids()")?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use log_panel_core::Level;
    use log_panel_core::HOUR;

    #[test]
    fn batches_are_counted_under_sanitised_names_and_clamped_times() {
        let mut records = Vec::new();
        for (level, logger, micros) in
            [(Level::Error, "a", 3_600_000_000 + 1), (Level::Trace, "b\0c", -1), (Level::Debug, "z", i64::MIN)]
        {
            let mut r = Record::new(level, logger, "m");
            r.timestamp = Timestamp(micros);
            records.push(r);
        }
        let agg = of(&records);
        let loggers: Vec<&str> = agg.loggers().map(|(name, _)| name).collect();
        assert_eq!(loggers, ["a", "b\u{FFFD}c", "z"]);
        let z = agg.loggers().find(|(name, _)| *name == "z").map(|(_, t)| (t.first, t.last));
        assert_eq!(z, Some((Timestamp(PG_MIN_UNIX_MICROS), Timestamp(PG_MIN_UNIX_MICROS))));
        let hours: Vec<(&str, i64)> = agg.hours().map(|(n, s, _)| (n, s.as_micros())).collect();
        let min_hour = PG_MIN_UNIX_MICROS.div_euclid(HOUR) * HOUR;
        assert_eq!(hours, [("a", HOUR), ("b\u{FFFD}c", -HOUR), ("z", min_hour)]);
    }
}
