//! Per-logger aggregates: kept up to date by [`SqliteSink`](crate::SqliteSink)
//! in the same transaction as each batch, rebuilt from `log_records` on
//! demand, and read back for dashboards. See `docs/aggregates.md`.
//!
//! Three tables (schema version 2):
//!
//! - `log_logger_stats`: per logger — total, errors, warnings, first and last seen;
//! - `log_logger_hourly`: per logger and UTC hour — a count per level;
//! - `log_logger_quarter`: per logger and UTC quarter hour — a count per level.
//!
//! Buckets are named by their UTC start in the same text form as `ts`
//! (`2026-11-22T08:00:00.000000Z`). A viewer's local day is a sum of whole
//! buckets: hours when the viewer's offset is a whole number of hours (UTC−8,
//! UTC+1…), quarter hours otherwise (UTC+5:30, UTC+5:45, UTC+12:45). Every
//! offset in use today is a multiple of 15 minutes, so day totals are exact
//! in every zone, and reading them never touches `log_records`.
//!
//! ```
//! use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp};
//! use log_panel_sqlite::{aggregates, SqliteSink};
//! use time::{macros::date, UtcOffset};
//!
//! let dir = tempfile::tempdir()?;
//! let mut sink = SqliteSink::open(dir.path().join("logs.db"))?;
//! let origin = Origin::new("demo", "localhost", 1);
//! // 2026-11-22T18:45:00Z is already 23 November in India (UTC+5:30).
//! let mut late = Record::new(Level::Error, "billing", "payment failed");
//! late.timestamp = Timestamp(1_795_373_100_000_000);
//! sink.write(&Batch::new(&origin, &[late]))?;
//!
//! let stats = aggregates::logger_stats(sink.connection())?;
//! assert_eq!((stats[0].logger.as_str(), stats[0].total, stats[0].errors), ("billing", 1, 1));
//!
//! let india = UtcOffset::from_hms(5, 30, 0)?;
//! let days = aggregates::daily_counts(sink.connection(), Some("billing"), india, date!(2026 - 11 - 22), 2)?;
//! assert_eq!((days[0].counts.error, days[1].counts.error), (0, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use log_panel_core::aggregate::{counts_as_i64, BatchAggregates};
use log_panel_core::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use time::{Date, Month, UtcOffset};

const MINUTE: i64 = 60_000_000;
const QUARTER: i64 = 15 * MINUTE;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

const UPSERT_STATS: &str = "INSERT INTO log_logger_stats (logger, total, errors, warnings, first_seen, last_seen)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (logger) DO UPDATE SET
        total = total + excluded.total,
        errors = errors + excluded.errors,
        warnings = warnings + excluded.warnings,
        first_seen = min(first_seen, excluded.first_seen),
        last_seen = max(last_seen, excluded.last_seen)";

const UPSERT_HOURLY: &str = "INSERT INTO log_logger_hourly (logger, hour, trace, debug, info, warn, error)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (logger, hour) DO UPDATE SET
        trace = trace + excluded.trace, debug = debug + excluded.debug, info = info + excluded.info,
        warn = warn + excluded.warn, error = error + excluded.error";

const UPSERT_QUARTER: &str = "INSERT INTO log_logger_quarter (logger, quarter, trace, debug, info, warn, error)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (logger, quarter) DO UPDATE SET
        trace = trace + excluded.trace, debug = debug + excluded.debug, info = info + excluded.info,
        warn = warn + excluded.warn, error = error + excluded.error";

/// What [`rebuild`] runs: the aggregates recomputed from `log_records`.
/// (Migration 2 backfills with the same statements; that copy is frozen.)
const REBUILD: &str = "DELETE FROM log_logger_stats;
    DELETE FROM log_logger_hourly;
    DELETE FROM log_logger_quarter;
    INSERT INTO log_logger_stats (logger, total, errors, warnings, first_seen, last_seen)
        SELECT logger, count(*), sum(level = 40), sum(level = 30), min(ts), max(ts)
        FROM log_records GROUP BY logger;
    INSERT INTO log_logger_hourly (logger, hour, trace, debug, info, warn, error)
        SELECT logger, substr(ts, 1, 13) || ':00:00.000000Z',
               sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
        FROM log_records GROUP BY 1, 2;
    INSERT INTO log_logger_quarter (logger, quarter, trace, debug, info, warn, error)
        SELECT logger,
               substr(ts, 1, 14) || CASE WHEN substr(ts, 15, 2) < '15' THEN '00'
                                         WHEN substr(ts, 15, 2) < '30' THEN '15'
                                         WHEN substr(ts, 15, 2) < '45' THEN '30'
                                         ELSE '45' END || ':00.000000Z',
               sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
        FROM log_records GROUP BY 1, 2;";

pub use log_panel_query::LevelCounts;

fn counts_from_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<LevelCounts> {
    Ok(LevelCounts {
        trace: count(row, first)?,
        debug: count(row, first + 1)?,
        info: count(row, first + 2)?,
        warn: count(row, first + 3)?,
        error: count(row, first + 4)?,
    })
}

/// A count column (SQLite integers are signed; counts are never negative).
fn count(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
}

/// One row of `log_logger_stats`: a logger's health card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerStats {
    /// The logger (`log` target).
    pub logger: String,
    /// Records stored, all levels.
    pub total: u64,
    /// ERROR records.
    pub errors: u64,
    /// WARN records.
    pub warnings: u64,
    /// Time of its oldest record.
    pub first_seen: Timestamp,
    /// Time of its newest record.
    pub last_seen: Timestamp,
}

/// One local day of [`daily_counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCounts {
    /// The day in the viewer's time zone.
    pub date: Date,
    /// Records per level logged during that local day.
    pub counts: LevelCounts,
}

/// Why an aggregate query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The database refused the query.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A range bound (or a day's start at this offset) is not on a quarter
    /// hour, the finest bucket kept, so its count cannot be exact.
    #[error("{0} is not on a quarter hour of UTC; aggregates are kept per 15 minutes")]
    Unaligned(String),
    /// A bucket name in the database is not a timestamp (a damaged table).
    #[error("aggregate table holds `{0}`, which is not a UTC timestamp")]
    BadBucket(String),
}

// ---------------------------------------------------------------------------
// Write side

/// Adds a batch's aggregates (folded by [`BatchAggregates`]) inside the
/// batch's transaction: one upsert per distinct logger and (logger, bucket).
pub(crate) fn upsert(tx: &Transaction<'_>, agg: &BatchAggregates<'_>) -> rusqlite::Result<()> {
    let mut stats = tx.prepare_cached(UPSERT_STATS)?;
    for (logger, a) in agg.loggers() {
        let [total, errors, warnings] = [a.total, a.errors, a.warnings].map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        stats.execute(params![logger, total, errors, warnings, a.first.to_rfc3339(), a.last.to_rfc3339()])?;
    }
    let mut hourly = tx.prepare_cached(UPSERT_HOURLY)?;
    for (logger, start, counts) in agg.hours() {
        let [trace, debug, info, warn, error] = counts_as_i64(counts);
        hourly.execute(params![logger, start.to_rfc3339(), trace, debug, info, warn, error])?;
    }
    let mut quarterly = tx.prepare_cached(UPSERT_QUARTER)?;
    for (logger, start, counts) in agg.quarters() {
        let [trace, debug, info, warn, error] = counts_as_i64(counts);
        quarterly.execute(params![logger, start.to_rfc3339(), trace, debug, info, warn, error])?;
    }
    Ok(())
}

/// Recomputes every aggregate from `log_records`, in one `BEGIN IMMEDIATE`
/// transaction: it takes the write lock before reading, so a writer on
/// another connection waits (its busy timeout) instead of committing a batch
/// that would be counted twice or not at all. Use it after deleting rows
/// (retention) or restoring a backup.
pub fn rebuild(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(REBUILD)?;
    tx.commit()
}

// ---------------------------------------------------------------------------
// Read side

/// Every logger's totals, ordered by name.
pub fn logger_stats(conn: &Connection) -> Result<Vec<LoggerStats>, QueryError> {
    let mut stmt = conn.prepare_cached(
        "SELECT logger, total, errors, warnings, first_seen, last_seen FROM log_logger_stats ORDER BY logger",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            count(row, 1)?,
            count(row, 2)?,
            count(row, 3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (logger, total, errors, warnings, first, last) = row?;
        out.push(LoggerStats {
            logger,
            total,
            errors,
            warnings,
            first_seen: parse_timestamp(&first)?,
            last_seen: parse_timestamp(&last)?,
        });
    }
    Ok(out)
}

/// One logger's totals, `None` if it never logged.
pub fn logger_stats_of(conn: &Connection, logger: &str) -> Result<Option<LoggerStats>, QueryError> {
    let row = conn
        .prepare_cached(
            "SELECT total, errors, warnings, first_seen, last_seen FROM log_logger_stats WHERE logger = ?1",
        )?
        .query_row([logger], |row| {
            Ok((count(row, 0)?, count(row, 1)?, count(row, 2)?, row.get::<_, String>(3)?, row.get::<_, String>(4)?))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((total, errors, warnings, first, last)) => Ok(Some(LoggerStats {
            logger: logger.to_owned(),
            total,
            errors,
            warnings,
            first_seen: parse_timestamp(&first)?,
            last_seen: parse_timestamp(&last)?,
        })),
    }
}

/// Counts per UTC hour for `hours` consecutive hours starting at the hour
/// holding `first_hour`: element `i` covers `[start + i h, start + (i+1) h)`.
/// `logger: None` sums all loggers. A dashboard's 24-slot timeline is
/// `hourly_counts(conn, Some(name), now − 23 h, 24)`.
pub fn hourly_counts(
    conn: &Connection,
    logger: Option<&str>,
    first_hour: Timestamp,
    hours: usize,
) -> Result<Vec<LevelCounts>, QueryError> {
    let start = first_hour.hour_floor().0;
    let mut out = vec![LevelCounts::default(); hours];
    let end = start.saturating_add(HOUR.saturating_mul(i64::try_from(hours).unwrap_or(i64::MAX)));
    for_each_bucket(conn, Table::Hourly, logger, start, end, |bucket, counts| {
        if let Some(slot) = usize::try_from((bucket - start) / HOUR).ok().and_then(|i| out.get_mut(i)) {
            slot.merge(&counts);
        }
    })?;
    Ok(out)
}

/// Counts per local day for a viewer at the fixed UTC `offset`: `days`
/// consecutive days starting at `first_day` (a date in the viewer's zone).
/// Each day is `[00:00, 24:00)` local time, summed from hour buckets when the
/// offset is whole hours and from quarter-hour buckets otherwise, so the
/// totals are exact for UTC−8 as for UTC+5:30 or UTC+5:45. `logger: None`
/// sums all loggers.
///
/// For a zone with daylight-saving time, the offset changes between days:
/// call this per stretch of constant offset, or use [`range_counts`] with
/// each local day's UTC bounds.
///
/// Fails with [`QueryError::Unaligned`] for an offset that is not a multiple
/// of 15 minutes (no zone in use today has one).
pub fn daily_counts(
    conn: &Connection,
    logger: Option<&str>,
    offset: UtcOffset,
    first_day: Date,
    days: usize,
) -> Result<Vec<DayCounts>, QueryError> {
    let offset_micros = i64::from(offset.whole_seconds()) * 1_000_000;
    let table = if offset_micros % HOUR == 0 {
        Table::Hourly
    } else if offset_micros % QUARTER == 0 {
        Table::Quarter
    } else {
        return Err(QueryError::Unaligned(format!("UTC offset {offset}")));
    };
    let start = (i64::from(first_day.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY) * DAY - offset_micros;
    let end = start.saturating_add(DAY.saturating_mul(i64::try_from(days).unwrap_or(i64::MAX)));
    let mut out = Vec::with_capacity(days);
    let mut date = Some(first_day);
    for _ in 0..days {
        let Some(d) = date else { break };
        out.push(DayCounts { date: d, counts: LevelCounts::default() });
        date = d.next_day();
    }
    for_each_bucket(conn, table, logger, start, end, |bucket, counts| {
        if let Some(day) = usize::try_from((bucket - start) / DAY).ok().and_then(|i| out.get_mut(i)) {
            day.counts.merge(&counts);
        }
    })?;
    Ok(out)
}

/// Counts of the records logged in `[from, to)`, exact when both bounds are
/// on a quarter hour (hour buckets are used when both are on the hour).
/// Fails with [`QueryError::Unaligned`] otherwise.
pub fn range_counts(
    conn: &Connection,
    logger: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> Result<LevelCounts, QueryError> {
    for bound in [from, to] {
        if bound.0.rem_euclid(QUARTER) != 0 {
            return Err(QueryError::Unaligned(bound.to_rfc3339()));
        }
    }
    let table = if from.0.rem_euclid(HOUR) == 0 && to.0.rem_euclid(HOUR) == 0 { Table::Hourly } else { Table::Quarter };
    let mut total = LevelCounts::default();
    for_each_bucket(conn, table, logger, from.0, to.0, |_, counts| total.merge(&counts))?;
    Ok(total)
}

#[derive(Clone, Copy)]
enum Table {
    Hourly,
    Quarter,
}

/// Calls `f(bucket start, counts)` for every bucket starting in `[start, end)`,
/// per logger or summed over all loggers.
fn for_each_bucket(
    conn: &Connection,
    table: Table,
    logger: Option<&str>,
    start: i64,
    end: i64,
    mut f: impl FnMut(i64, LevelCounts),
) -> Result<(), QueryError> {
    if end <= start {
        return Ok(());
    }
    let (name, column) = match table {
        Table::Hourly => ("log_logger_hourly", "hour"),
        Table::Quarter => ("log_logger_quarter", "quarter"),
    };
    let (from, to) = (Timestamp(start).to_rfc3339(), Timestamp(end).to_rfc3339());
    let sql = match logger {
        Some(_) => format!(
            "SELECT {column}, trace, debug, info, warn, error FROM {name}
             WHERE logger = ?3 AND {column} >= ?1 AND {column} < ?2"
        ),
        None => format!(
            "SELECT {column}, sum(trace), sum(debug), sum(info), sum(warn), sum(error) FROM {name}
             WHERE {column} >= ?1 AND {column} < ?2 GROUP BY {column}"
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = match logger {
        Some(l) => stmt.query(params![from, to, l])?,
        None => stmt.query(params![from, to])?,
    };
    while let Some(row) = rows.next()? {
        let bucket: String = row.get(0)?;
        let counts = counts_from_row(row, 1)?;
        f(parse_timestamp(&bucket)?.0, counts);
    }
    Ok(())
}

/// Parses the fixed-width `ts` form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn parse_timestamp(text: &str) -> Result<Timestamp, QueryError> {
    let bad = || QueryError::BadBucket(text.to_owned());
    let b = text.as_bytes();
    if b.len() != 27 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    if b[19] != b'.' || b[26] != b'Z' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, QueryError> {
        let s = text.get(range).ok_or_else(bad)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let year = i32::try_from(num(0..4)?).map_err(|_| bad())?;
    let month = Month::try_from(u8::try_from(num(5..7)?).map_err(|_| bad())?).map_err(|_| bad())?;
    let day = u8::try_from(num(8..10)?).map_err(|_| bad())?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let (h, m, s, micros) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    if h > 23 || m > 59 || s > 59 {
        return Err(bad());
    }
    let days = i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
    Ok(Timestamp(days * DAY + h * HOUR + m * MINUTE + s * 1_000_000 + micros))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use log_panel_core::{Batch, Level};

    #[test]
    fn a_version_1_database_is_backfilled_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(crate::schema::MIGRATIONS[0]).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
            let insert = "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app)
                          VALUES (?1, ?2, ?3, 'm', 't', 1, 'h', 'a')";
            for (ts, level, logger) in [
                ("2026-11-22T08:14:59.999999Z", 40, "a"),
                ("2026-11-22T08:15:00.000000Z", 30, "a"),
                ("2026-11-22T09:59:00.000000Z", 20, "a"),
                ("2026-11-21T23:00:00.000000Z", 5, "b"),
            ] {
                conn.execute(insert, params![ts, level, logger]).unwrap();
            }
        }
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let version: i64 = sink.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, crate::SCHEMA_VERSION);
        let stats = logger_stats(sink.connection()).unwrap();
        assert_eq!(stats.len(), 2);
        assert_eq!((stats[0].total, stats[0].errors, stats[0].warnings), (3, 1, 1));
        assert_eq!(stats[0].first_seen.to_rfc3339(), "2026-11-22T08:14:59.999999Z");
        assert_eq!(stats[0].last_seen.to_rfc3339(), "2026-11-22T09:59:00.000000Z");
        assert_eq!((stats[1].logger.as_str(), stats[1].total, stats[1].errors), ("b", 1, 0));
        let quarter: Vec<(String, i64, i64)> = sink
            .connection()
            .prepare("SELECT quarter, warn, error FROM log_logger_quarter WHERE logger = 'a' ORDER BY quarter")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            quarter,
            [
                ("2026-11-22T08:00:00.000000Z".to_owned(), 0, 1),
                ("2026-11-22T08:15:00.000000Z".to_owned(), 1, 0),
                ("2026-11-22T09:45:00.000000Z".to_owned(), 0, 0),
            ]
        );
        // New batches add to the backfilled counts.
        let origin = log_panel_core::Origin::new("a", "h", 1);
        let mut r = log_panel_core::Record::new(Level::Error, "a", "m");
        r.timestamp = parse_timestamp("2026-11-22T08:30:00.000000Z").unwrap();
        log_panel_core::Sink::write(&mut sink, &Batch::new(&origin, &[r])).unwrap();
        let hour = hourly_counts(sink.connection(), Some("a"), r_time("2026-11-22T08:00:00.000000Z"), 2).unwrap();
        assert_eq!((hour[0].error, hour[0].warn, hour[1].info), (2, 1, 1));
        assert_eq!(logger_stats_of(sink.connection(), "a").unwrap().map(|s| s.errors), Some(2));
        sink.rebuild_aggregates().unwrap();
        assert_eq!(logger_stats_of(sink.connection(), "a").unwrap().map(|s| (s.total, s.errors)), Some((4, 2)));
    }

    fn r_time(s: &str) -> Timestamp {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn timestamps_round_trip_through_text() {
        for t in [0, 1, 1_795_373_100_000_000, 1_763_800_000_123_456, -1, -DAY - 7] {
            assert_eq!(parse_timestamp(&Timestamp(t).to_rfc3339()).unwrap(), Timestamp(t), "{t}");
        }
        for bad in
            ["", "2026-11-22", "2026-13-01T00:00:00.000000Z", "2026-11-22T24:00:00.000000Z", "x".repeat(27).as_str()]
        {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
