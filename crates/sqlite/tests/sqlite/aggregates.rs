//! The aggregate tables: equal to a GROUP BY over `log_records` after mixed
//! batches, UTC buckets, exact local days at UTC+5:30 and UTC−8, and rebuild
//! (also while another connection keeps writing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log_panel_core::{Batch, Level, Origin, Record, Sink, SinkErrorKind, Timestamp};
use log_panel_query::{
    CardsQuery, LevelCounts, LoggerCard, LoggerMatch, LoggerTotals, RecordFilter, Slots, Store, StoreErrorKind,
    QUARTER_HOUR,
};
use log_panel_sqlite::{SqliteSink, SqliteStore};
use rusqlite::types::Value;
use rusqlite::Connection;
use time::macros::date;
use time::{Date, UtcOffset};

const SEC: i64 = 1_000_000;
const HOUR: i64 = 3600 * SEC;
const DAY: i64 = 24 * HOUR;
/// 2026-11-20T00:00:00Z.
const NOV_20: i64 = 1_795_132_800 * SEC;
const LOGGERS: [&str; 4] = ["app", "app::db", "billing::payments", "hyper"];

fn origin() -> Origin {
    Origin::new("test", "h", 1)
}

fn record(level: Level, logger: &'static str, micros: i64) -> Record {
    let mut r = Record::new(level, logger, "m");
    r.timestamp = Timestamp(micros);
    r
}

use log_panel_query::conformance::Rng;
use log_panel_testing::records::mixed;

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect()).unwrap().map(Result::unwrap).collect()
}

/// Asserts the three aggregate tables equal GROUP BYs over `log_records`; returns the row count.
pub fn assert_aggregates_match_records(conn: &Connection) -> i64 {
    let stats =
        rows(conn, "SELECT logger, total, errors, warnings, first_seen, last_seen FROM log_logger_stats ORDER BY 1");
    let expected = rows(
        conn,
        "SELECT logger, count(*), sum(level = 40), sum(level = 30), min(ts), max(ts)
         FROM log_records GROUP BY logger ORDER BY 1",
    );
    assert_eq!(stats, expected, "log_logger_stats");
    let hourly =
        rows(conn, "SELECT logger, hour, trace, debug, info, warn, error FROM log_logger_hourly ORDER BY 1, 2");
    let expected = rows(
        conn,
        "SELECT logger, substr(ts, 1, 13) || ':00:00.000000Z' AS h,
                sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
         FROM log_records GROUP BY logger, h ORDER BY 1, 2",
    );
    assert_eq!(hourly, expected, "log_logger_hourly");
    let quarter =
        rows(conn, "SELECT logger, quarter, trace, debug, info, warn, error FROM log_logger_quarter ORDER BY 1, 2");
    // Computed differently from the sink (integer minutes, printf) on purpose.
    let expected = rows(
        conn,
        "SELECT logger, substr(ts, 1, 14) || printf('%02d', (CAST(substr(ts, 15, 2) AS INTEGER) / 15) * 15)
                || ':00.000000Z' AS q,
                sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
         FROM log_records GROUP BY logger, q ORDER BY 1, 2",
    );
    assert_eq!(quarter, expected, "log_logger_quarter");
    conn.query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap()
}

fn open(path: &Path) -> SqliteSink {
    SqliteSink::open(path).unwrap()
}

/// Every logger's card (the aggregate tables' totals), by name.
fn cards(sink: &SqliteSink) -> Vec<LoggerCard> {
    let store = SqliteStore::open(sink.path()).unwrap();
    let now = Timestamp(NOV_20);
    let mut query = CardsQuery::new(Slots::hours_until(now, 1).unwrap(), now);
    query.limit = usize::MAX;
    store.cards(&query).unwrap().cards
}

/// `logger`'s totals, `None` if it never logged.
fn totals(sink: &SqliteSink, logger: &str) -> Option<LoggerTotals> {
    cards(sink).into_iter().find(|c| c.logger == logger).map(|c| c.totals)
}

/// A filter of one logger (all loggers for `None`).
fn of(logger: Option<&str>) -> RecordFilter {
    let mut filter = RecordFilter::default();
    filter.logger = logger.map(|l| LoggerMatch::Exact(l.to_owned()));
    filter
}

/// Counts per slot between consecutive `bounds`, from the store.
fn counts(sink: &SqliteSink, logger: Option<&str>, bounds: Vec<i64>) -> Vec<LevelCounts> {
    let store = SqliteStore::open(sink.path()).unwrap();
    let slots = Slots::new(bounds.into_iter().map(Timestamp).collect()).unwrap();
    let histogram = store.histogram(&of(logger), &slots).unwrap();
    assert!(histogram.complete);
    histogram.slots
}

/// Counts per UTC hour for `hours` hours from the hour holding `first_hour`.
fn per_hour(sink: &SqliteSink, logger: Option<&str>, first_hour: i64, hours: i64) -> Vec<LevelCounts> {
    let start = Timestamp(first_hour).hour_floor().0;
    counts(sink, logger, (0..=hours).map(|i| start + i * HOUR).collect())
}

/// Counts per local day at `offset`, `days` days from `first_day`.
fn per_day(sink: &SqliteSink, logger: Option<&str>, offset: UtcOffset, first_day: Date, days: i64) -> Vec<LevelCounts> {
    let start = (i64::from(first_day.to_julian_day()) - 2_440_588) * DAY - i64::from(offset.whole_seconds()) * SEC;
    counts(sink, logger, (0..=days).map(|i| start + i * DAY).collect())
}

/// Whether an aggregate-only read (cards) refuses slots between `bounds`.
fn aggregates_refuse(sink: &SqliteSink, bounds: Vec<i64>) -> bool {
    let store = SqliteStore::open(sink.path()).unwrap();
    let slots = Slots::new(bounds.into_iter().map(Timestamp).collect()).unwrap();
    let now = slots.end();
    matches!(store.cards(&CardsQuery::new(slots, now)), Err(e) if e.kind() == StoreErrorKind::BadFilter)
}

#[test]
fn aggregates_equal_group_by_after_mixed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(&dir.path().join("logs.db"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let o = origin();
    let mut written = 0;
    // Batches of varied sizes over three days, some out of time order.
    for size in [1, 7, 100, 1000, 3, 500] {
        let batch = mixed(&mut rng, &LOGGERS, size, NOV_20, 3 * DAY);
        sink.write(&Batch::new(&o, &batch)).unwrap();
        written += size as i64;
    }
    assert_eq!(assert_aggregates_match_records(sink.connection()), written);
    // Every logger has all five levels somewhere: the mix is really mixed.
    for s in cards(&sink).iter().map(|c| c.totals) {
        assert!(s.errors > 0 && s.warnings > 0 && s.total > s.errors + s.warnings, "{s:?}");
    }
}

#[test]
fn buckets_are_utc_hours_and_quarters_and_stats_track_first_and_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(&dir.path().join("logs.db"));
    let t = NOV_20 + 2 * DAY + 8 * HOUR + 15 * 60 * SEC + 2 * SEC + 500_000; // 2026-11-22T08:15:02.5Z
    let batch =
        [record(Level::Warn, "svc", t), record(Level::Error, "svc", t - 3 * HOUR), record(Level::Info, "svc", t)];
    sink.write(&Batch::new(&origin(), &batch)).unwrap();
    let hourly = rows(sink.connection(), "SELECT hour, info, warn, error FROM log_logger_hourly ORDER BY hour");
    let text = |s: &str| Value::Text(s.to_owned());
    assert_eq!(
        hourly,
        vec![
            vec![text("2026-11-22T05:00:00.000000Z"), Value::Integer(0), Value::Integer(0), Value::Integer(1)],
            vec![text("2026-11-22T08:00:00.000000Z"), Value::Integer(1), Value::Integer(1), Value::Integer(0)],
        ]
    );
    let quarters = rows(sink.connection(), "SELECT quarter FROM log_logger_quarter ORDER BY quarter");
    assert_eq!(quarters, vec![vec![text("2026-11-22T05:15:00.000000Z")], vec![text("2026-11-22T08:15:00.000000Z")]]);
    let stats = totals(&sink, "svc").unwrap();
    assert_eq!((stats.total, stats.errors, stats.warnings), (3, 1, 1));
    assert_eq!((stats.first, stats.last), (Timestamp(t - 3 * HOUR), Timestamp(t)));
    assert_eq!(stats.last.to_rfc3339(), "2026-11-22T08:15:02.500000Z");
    assert!(totals(&sink, "nobody").is_none());

    // Hourly counts: dense slots, per logger and for all loggers.
    let slots = per_hour(&sink, Some("svc"), t - 4 * HOUR, 5);
    let errors: Vec<u64> = slots.iter().map(|c| c.error).collect();
    let totals: Vec<u64> = slots.iter().map(LevelCounts::total).collect();
    assert_eq!((errors, totals), (vec![0, 1, 0, 0, 0], vec![0, 1, 0, 0, 2]));
    assert_eq!(per_hour(&sink, None, t, 1)[0].total(), 2);
    assert_eq!(per_hour(&sink, Some("other"), t, 1)[0].total(), 0);
}

/// The local date of `micros` for a viewer at `offset`, computed from the record alone.
fn local_date(micros: i64, offset: UtcOffset) -> Date {
    let days = (micros + i64::from(offset.whole_seconds()) * SEC).div_euclid(DAY);
    Date::from_julian_day(2_440_588 + days as i32).unwrap()
}

#[test]
fn daily_sums_are_exact_for_utc_plus_5_30_and_minus_8() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(&dir.path().join("logs.db"));
    let mut rng = Rng(42);
    let mut records = mixed(&mut rng, &LOGGERS, 3000, NOV_20, 4 * DAY);
    // Around local midnight in both zones, to the microsecond:
    // +05:30 midnight is 18:30Z; −08:00 midnight is 08:00Z.
    for day in 0..4 {
        for edge in [18 * HOUR + 30 * 60 * SEC, 8 * HOUR] {
            for delta in [-SEC, -1, 0, 1] {
                records.push(record(Level::Error, "edge", NOV_20 + day * DAY + edge + delta));
            }
        }
    }
    sink.write(&Batch::new(&origin(), &records)).unwrap();

    let india = UtcOffset::from_hms(5, 30, 0).unwrap();
    let pacific = UtcOffset::from_hms(-8, 0, 0).unwrap();
    for offset in [india, pacific, UtcOffset::UTC, UtcOffset::from_hms(5, 45, 0).unwrap()] {
        let first = date!(2026 - 11 - 19);
        let days = per_day(&sink, None, offset, first, 7);
        let edge_days = per_day(&sink, Some("edge"), offset, first, 7);
        for (i, (day, edge_day)) in days.iter().zip(&edge_days).enumerate() {
            let date = first + time::Duration::days(i as i64);
            let mut expected = LevelCounts::default();
            let mut expected_edge = 0;
            for r in records.iter().filter(|r| local_date(r.timestamp.0, offset) == date) {
                expected.add(r.level);
                expected_edge += u64::from(r.logger == "edge");
            }
            assert_eq!(*day, expected, "{offset} {date}");
            assert_eq!(edge_day.error, expected_edge, "{offset} {date}");
        }
        let sum: u64 = days.iter().map(LevelCounts::total).sum();
        assert_eq!(sum, records.len() as u64, "{offset}: every record falls on exactly one of the 7 days");
    }

    // 20 Nov at +05:30 is [19 Nov 18:30Z, 20 Nov 18:30Z): the four "edge" records around
    // 20 Nov 08:00Z, and the two of the 18:30Z group logged just before 18:30Z.
    let days = per_day(&sink, Some("edge"), india, date!(2026 - 11 - 20), 2);
    assert_eq!((days[0].error, days[1].error), (6, 8));
    // At −08:00, 20 Nov is [20 Nov 08:00Z, 21 Nov 08:00Z): 2 + 4 + 2.
    let days = per_day(&sink, Some("edge"), pacific, date!(2026 - 11 - 20), 1);
    assert_eq!(days[0].error, 8);
    // A day at UTC+5:20 does not start on a quarter hour: the aggregates cannot count it.
    let start = NOV_20 - (5 * HOUR + 20 * 60 * SEC);
    assert!(aggregates_refuse(&sink, vec![start, start + DAY]));
}

#[test]
fn range_counts_use_quarters_and_refuse_unaligned_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(&dir.path().join("logs.db"));
    let minute = 60 * SEC;
    let batch: Vec<Record> = (0..120).map(|m| record(Level::Info, "svc", NOV_20 + m * minute)).collect();
    sink.write(&Batch::new(&origin(), &batch)).unwrap();
    let count = |from: i64, to: i64| counts(&sink, Some("svc"), vec![from, to])[0];
    assert_eq!(count(NOV_20, NOV_20 + 2 * HOUR).info, 120);
    assert_eq!(count(NOV_20 + 15 * minute, NOV_20 + 90 * minute).info, 75);
    assert_eq!(count(NOV_20 + 45 * minute, NOV_20 + 60 * minute).total(), 15);
    assert!(aggregates_refuse(&sink, vec![NOV_20 + minute, NOV_20 + HOUR]));
    assert!(!aggregates_refuse(&sink, vec![NOV_20 + QUARTER_HOUR, NOV_20 + HOUR]));
    // An empty range counts nothing.
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut empty = of(None);
    (empty.since, empty.until) = (Some(Timestamp(NOV_20)), Some(Timestamp(NOV_20)));
    let slots = Slots::new(vec![Timestamp(NOV_20), Timestamp(NOV_20 + HOUR)]).unwrap();
    assert_eq!(store.histogram(&empty, &slots).unwrap().slots[0].total(), 0);
}

#[test]
fn rebuild_equals_incremental_and_repairs_after_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(&dir.path().join("logs.db"));
    let mut rng = Rng(7);
    for _ in 0..5 {
        let batch = mixed(&mut rng, &LOGGERS, 400, NOV_20, 2 * DAY);
        sink.write(&Batch::new(&origin(), &batch)).unwrap();
    }
    let snapshot = |c: &Connection| {
        [
            "SELECT * FROM log_logger_stats ORDER BY 1",
            "SELECT * FROM log_logger_hourly ORDER BY 1, 2",
            "SELECT * FROM log_logger_quarter ORDER BY 1, 2",
        ]
        .map(|sql| rows(c, sql))
    };
    let incremental = snapshot(sink.connection());
    assert!(incremental.iter().all(|t| !t.is_empty()));
    sink.rebuild_aggregates().unwrap();
    assert_eq!(snapshot(sink.connection()), incremental, "rebuild equals incremental");

    // Retention deletes rows: the aggregates are stale until rebuilt.
    let cutoff = Timestamp(NOV_20 + DAY).to_rfc3339();
    let deleted = sink.connection().execute("DELETE FROM log_records WHERE ts < ?1", [&cutoff]).unwrap();
    assert!(deleted > 0);
    sink.rebuild_aggregates().unwrap();
    assert_eq!(assert_aggregates_match_records(sink.connection()), 2000 - deleted as i64);
}

#[test]
fn rebuild_while_another_connection_writes_neither_double_counts_nor_deadlocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut rebuilder = open(&path);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut sink = open(&path);
            let mut rng = Rng(99);
            let mut written = 0usize;
            let o = origin();
            // Keep writing until told to stop, and at least 50 batches.
            while written < 50 * 40 || !stop.load(Ordering::SeqCst) {
                let batch = mixed(&mut rng, &LOGGERS, 40, NOV_20, DAY);
                // Like log-panel's writer: a busy database is retried, never skipped.
                loop {
                    match sink.write(&Batch::new(&o, &batch)) {
                        Ok(()) => break,
                        Err(e) if e.kind() == SinkErrorKind::Unavailable => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
                written += batch.len();
            }
            written
        })
    };
    let mut rebuilds = 0;
    while rebuilds < 20 || (!writer.is_finished() && rebuilds < 200) {
        // The sink's connection waits 100 ms for the lock; a writer that never
        // pauses can hold it longer on a loaded machine. Busy is retried, as the
        // writer above retries, so what is checked is the counts, not the timing.
        match rebuilder.rebuild_aggregates() {
            Ok(()) => rebuilds += 1,
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
            Err(e) => panic!("{e}"),
        }
        std::thread::yield_now();
        if rebuilds == 20 {
            stop.store(true, Ordering::SeqCst);
        }
    }
    let written = writer.join().unwrap();
    assert_eq!(assert_aggregates_match_records(rebuilder.connection()), written as i64);
}
