//! Per-logger aggregates: kept up to date by [`SqliteSink`](crate::SqliteSink)
//! in the same transaction as each batch, and rebuilt from `log_records` on
//! demand. The store reads them for cards and histograms. See `docs/aggregates.md`.
//!
//! Three tables (schema version 2):
//!
//! - `log_logger_stats`: per logger — total, errors, warnings, first and last seen;
//! - `log_logger_hourly`: per logger and UTC hour — a count per level;
//! - `log_logger_quarter`: per logger and UTC quarter hour — a count per level;
//!
//! and one for call sites (schema version 7):
//!
//! - `log_site_hourly`: per UTC hour and call site (logger, file, line) — a
//!   count per level and the newest record's time. The store's call sites
//!   read it for every whole hour of their range and the rows only for the
//!   partial hours at its ends;
//! - `log_site_daily` (schema version 8): the same per UTC day, so a list
//!   over days reads one row per site and day, the hours only at its ends;
//! - `log_site_weekly` (schema version 10): the same per ISO week (from
//!   Monday 00:00 UTC), so a list over months reads one row per site and
//!   week, the days and hours only at its ends.
//!
//! Buckets are named by their UTC start in the same text form as `ts`
//! (`2026-11-22T08:00:00.000000Z`). A viewer's local day is a sum of whole
//! buckets: hours when the viewer's offset is a whole number of hours (UTC−8,
//! UTC+1…), quarter hours otherwise (UTC+5:30, UTC+5:45, UTC+12:45). Every
//! offset in use today is a multiple of 15 minutes, so day totals are exact
//! in every zone, and reading them never touches `log_records`.

use log_panel_core::fold::SiteUnit;
use log_panel_core::fold::{counts_as_i64, BatchAggregates};
use log_panel_core::Timestamp;
use rusqlite::{params, Connection, Transaction, TransactionBehavior};

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

/// The upsert of a call site's bucket into `table` (`log_site_hourly` by
/// `hour`, `log_site_daily` by `day`, `log_site_weekly` by `week`: our
/// constants, see [`SITE_UNITS`]).
fn upsert_site(table: &str, column: &str) -> String {
    format!(
        "INSERT INTO {table} ({column}, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT ({column}, logger, file_key, line_key) DO UPDATE SET
             trace = trace + excluded.trace, debug = debug + excluded.debug, info = info + excluded.info,
             warn = warn + excluded.warn, error = error + excluded.error,
             last_seen = max(last_seen, excluded.last_seen)"
    )
}

/// The call sites' tables by their unit ([`SiteUnit::table`]): the hours,
/// the days summing them and the weeks summing the days.
pub(crate) const SITE_UNITS: [SiteUnit; 3] = [SiteUnit::Hour, SiteUnit::Day, SiteUnit::Week];

/// A call site's file as `log_site_hourly.file_key` keeps it: a key column
/// cannot be NULL, so '' stands for no file and every file gets a prefix.
pub(crate) fn file_key(file: Option<&str>) -> String {
    file.map_or_else(String::new, |f| format!(">{f}"))
}

/// A call site's line as `log_site_hourly.line_key` keeps it (-1: none).
pub(crate) fn line_key(line: Option<u32>) -> i64 {
    line.map_or(-1, i64::from)
}

/// The file a [`file_key`] stands for, as stored bytes (`None`: no file).
#[cfg(feature = "read")]
pub(crate) fn file_of_key(key: &[u8]) -> Option<&[u8]> {
    key.split_first().map(|(_, file)| file)
}

/// The line a [`line_key`] stands for (`None`: no line).
#[cfg(feature = "read")]
pub(crate) fn line_of_key(key: i64) -> Option<i64> {
    (key >= 0).then_some(key)
}

/// What [`rebuild`] runs: the aggregates recomputed from `log_records`.
/// (Migration 2 backfills with the same statements; that copy is frozen.)
const REBUILD: &str = "DELETE FROM log_logger_stats;
    DELETE FROM log_logger_hourly;
    DELETE FROM log_logger_quarter;
    DELETE FROM log_site_hourly;
    DELETE FROM log_site_daily;
    DELETE FROM log_site_weekly;
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
        FROM log_records GROUP BY 1, 2;
    INSERT INTO log_site_hourly (hour, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
        SELECT substr(ts, 1, 13) || ':00:00.000000Z', logger,
               CASE WHEN file IS NULL THEN '' ELSE '>' || file END, coalesce(line, -1),
               sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40), max(ts)
        FROM log_records GROUP BY 1, 2, 3, 4;
    INSERT INTO log_site_daily (day, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
        SELECT substr(hour, 1, 10) || 'T00:00:00.000000Z', logger, file_key, line_key,
               sum(trace), sum(debug), sum(info), sum(warn), sum(error), max(last_seen)
        FROM log_site_hourly GROUP BY 1, 2, 3, 4;
    INSERT INTO log_site_weekly (week, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
        SELECT date(day, '-6 days', 'weekday 1') || 'T00:00:00.000000Z', logger, file_key, line_key,
               sum(trace), sum(debug), sum(info), sum(warn), sum(error), max(last_seen)
        FROM log_site_daily GROUP BY 1, 2, 3, 4;";

// ---------------------------------------------------------------------------
// Write side

/// Adds a batch's aggregates (folded by [`BatchAggregates`]) inside the
/// batch's transaction: one upsert per distinct logger, (logger, bucket) and
/// (hour, call site), (day, call site) and (week, call site).
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
    // Each site hour's key and newest time as text once, for the three tables.
    let sites: Vec<_> = agg
        .sites()
        .map(|(hour, logger, file, line, c)| {
            (hour, logger, file_key(file), line_key(line), counts_as_i64(&c.counts), c.last.to_rfc3339())
        })
        .collect();
    for unit in SITE_UNITS {
        let (table, column) = unit.table();
        let mut upsert = tx.prepare_cached(&upsert_site(table, column))?;
        // The rows come by hour: a bucket's name is formatted once.
        let mut bucket: Option<(Timestamp, String)> = None;
        for (hour, logger, file, line, [trace, debug, info, warn, error], last) in &sites {
            let start = unit.floor(*hour);
            let name = match &bucket {
                Some((at, name)) if *at == start => name,
                _ => &bucket.insert((start, start.to_rfc3339())).1,
            };
            upsert.execute(params![name, logger, file, line, trace, debug, info, warn, error, last])?;
        }
    }
    Ok(())
}

/// Recomputes every aggregate from `log_records`, in one `BEGIN IMMEDIATE`
/// transaction: it takes the write lock before reading, so a writer on
/// another connection waits (its busy timeout) instead of committing a batch
/// that would be counted twice or not at all. Use it after deleting rows
/// (retention) or restoring a backup.
pub(crate) fn rebuild(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(REBUILD)?;
    // The zone map is rebuilt with them: exact again after prunes widened it.
    tx.execute_batch(crate::zone_map::REBUILD)?;
    tx.commit()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use log_panel_core::{Batch, Level, Timestamp, HOUR};
    use log_panel_query::{LoggerMatch, RecordFilter, Slots, Store};

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
        let stats = crate::rows::logger_totals(sink.connection()).unwrap();
        assert_eq!(stats.len(), 2);
        assert_eq!((stats[0].1.total, stats[0].1.errors, stats[0].1.warnings), (3, 1, 1));
        assert_eq!(stats[0].1.first.to_rfc3339(), "2026-11-22T08:14:59.999999Z");
        assert_eq!(stats[0].1.last.to_rfc3339(), "2026-11-22T09:59:00.000000Z");
        assert_eq!((stats[1].0.as_str(), stats[1].1.total, stats[1].1.errors), ("b", 1, 0));
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
        r.timestamp = r_time("2026-11-22T08:30:00.000000Z");
        log_panel_core::Sink::write(&mut sink, &Batch::new(&origin, &[r])).unwrap();
        let store = crate::SqliteStore::open(&path).unwrap();
        let mut a = RecordFilter::default();
        a.logger = Some(LoggerMatch::Exact("a".into()));
        let eight = r_time("2026-11-22T08:00:00.000000Z");
        let hour = store.histogram(&a, &Slots::ending_at(Timestamp(eight.0 + 2 * HOUR), HOUR, 2).unwrap()).unwrap();
        assert_eq!((hour.slots[0].error, hour.slots[0].warn, hour.slots[1].info), (2, 1, 1));
        let errors_of_a = |sink: &crate::SqliteSink| {
            let stats = crate::rows::logger_totals(sink.connection()).unwrap();
            stats.into_iter().find(|(l, _)| l == "a").map(|(_, t)| (t.total, t.errors))
        };
        assert_eq!(errors_of_a(&sink).map(|(_, e)| e), Some(2));
        sink.rebuild_aggregates().unwrap();
        assert_eq!(errors_of_a(&sink), Some((4, 2)));
    }

    fn r_time(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }
}
