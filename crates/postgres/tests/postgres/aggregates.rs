//! The per-logger and per-call-site aggregates in PostgreSQL: equal to
//! GROUP BYs over `log_records` after four concurrent writers, UTC buckets
//! whatever the session time zone, backfill on upgrade, rebuild (also under
//! writes), a prune beside a writer (no deadlock, no count lost), and call
//! sites read from them equal to a GROUP BY.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log_panel_core::{Batch, Level, Origin, Record, Sink, SinkErrorKind, Timestamp};
use log_panel_postgres::{aggregates, PgMaintenance, PgSink, PgStore};
use log_panel_query::{LoggerMatch, Maintenance, RecordFilter, Store};
use log_panel_testing::postgres::{client, forge_schema, fresh_sink, TestServer};
use postgres::Client;

const SEC: i64 = 1_000_000;
const DAY: i64 = 86_400 * SEC;
/// 2026-11-20T00:00:00Z.
const NOV_20: i64 = 1_795_132_800 * SEC;
const LOGGERS: [&str; 5] = ["app", "app::db", "billing::payments", "hyper", "worker"];

fn origin(pid: u32) -> Origin {
    Origin::new("test", "h", pid)
}

use log_panel_query::conformance::Rng;
use log_panel_testing::records::mixed;

fn write(sink: &mut PgSink, pid: u32, records: &[Record]) {
    let o = origin(pid);
    // Like log-panel's writer: an unavailable database (a lock timeout, a
    // deadlock victim) is retried, never skipped.
    loop {
        match sink.write(&Batch::new(&o, records)) {
            Ok(()) => return,
            Err(e) if e.kind() == SinkErrorKind::Unavailable => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Every row of `sql` with every column as text (times in UTC).
fn rows(db: &mut Client, sql: &str) -> Vec<Vec<String>> {
    db.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    db.query(sql, &[]).unwrap().iter().map(|r| (0..r.len()).map(|i| r.get::<_, String>(i)).collect()).collect()
}

const STATS: &str = "SELECT logger, total::text, errors::text, warnings::text, first_seen::text, last_seen::text
    FROM log_logger_stats ORDER BY 1";
const HOURLY: &str = "SELECT logger, hour::text, trace::text, debug::text, info::text, warn::text, error::text
    FROM log_logger_hourly ORDER BY 1, 2";
const QUARTER: &str = "SELECT logger, quarter::text, trace::text, debug::text, info::text, warn::text, error::text
    FROM log_logger_quarter ORDER BY 1, 2";

const SITES: &str = "SELECT hour::text, logger, file_key, line_key::text, trace::text, debug::text, info::text,
    warn::text, error::text, last_seen::text FROM log_site_hourly";
const SITE_DAYS: &str = "SELECT day::text, logger, file_key, line_key::text, trace::text, debug::text, info::text,
    warn::text, error::text, last_seen::text FROM log_site_daily";

/// The call sites' rows per `width` bucket (`1 hour`, `1 day`) by a GROUP BY
/// over `log_records` (with `date_bin`, unlike the sink and the migrations),
/// as text rows like [`SITES`] and [`SITE_DAYS`], sorted.
fn site_buckets_by_hand(db: &mut Client, width: &str) -> Vec<Vec<String>> {
    let mut expected = rows(
        db,
        &format!(
            "SELECT date_bin('{width}', ts, TIMESTAMPTZ 'epoch')::text, logger,
                    CASE WHEN file IS NULL THEN '' ELSE '>' || file END, coalesce(line, -1)::text,
                    count(*) FILTER (WHERE level = 5)::text, count(*) FILTER (WHERE level = 10)::text,
                    count(*) FILTER (WHERE level = 20)::text, count(*) FILTER (WHERE level = 30)::text,
                    count(*) FILTER (WHERE level = 40)::text, max(ts)::text
             FROM log_records GROUP BY 1, 2, 3, 4"
        ),
    );
    expected.sort();
    expected
}

/// The rows of `sql` sorted.
fn sorted_rows(db: &mut Client, sql: &str) -> Vec<Vec<String>> {
    let mut out = rows(db, sql);
    out.sort();
    out
}

/// Asserts the five tables equal GROUP BYs over `log_records` (computed with
/// `date_bin`, unlike the sink), and returns the number of records.
fn assert_aggregates_match_records(db: &mut Client) -> i64 {
    let expected = rows(
        db,
        "SELECT logger, count(*)::text, count(*) FILTER (WHERE level = 40)::text,
                count(*) FILTER (WHERE level = 30)::text, min(ts)::text, max(ts)::text
         FROM log_records GROUP BY logger ORDER BY 1",
    );
    assert_eq!(rows(db, STATS), expected, "log_logger_stats");
    for (table, width) in [(HOURLY, "1 hour"), (QUARTER, "15 minutes")] {
        let expected = rows(
            db,
            &format!(
                "SELECT logger, date_bin('{width}', ts, TIMESTAMPTZ 'epoch')::text AS b,
                        count(*) FILTER (WHERE level = 5)::text, count(*) FILTER (WHERE level = 10)::text,
                        count(*) FILTER (WHERE level = 20)::text, count(*) FILTER (WHERE level = 30)::text,
                        count(*) FILTER (WHERE level = 40)::text
                 FROM log_records GROUP BY logger, date_bin('{width}', ts, TIMESTAMPTZ 'epoch') ORDER BY 1, 2"
            ),
        );
        assert!(!expected.is_empty());
        assert_eq!(rows(db, table), expected, "{width} buckets");
    }
    assert_eq!(sorted_rows(db, SITES), site_buckets_by_hand(db, "1 hour"), "log_site_hourly");
    assert_eq!(sorted_rows(db, SITE_DAYS), site_buckets_by_hand(db, "1 day"), "log_site_daily");
    db.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0)
}

#[test]
fn aggregates_equal_group_by_after_four_concurrent_writers() {
    let Some(url) = TestServer::shared_database() else { return };
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                // One sink (one connection, as one process) per thread, all
                // upserting the same loggers and hours at once.
                let mut sink = PgSink::connect(&url).unwrap();
                let mut rng = Rng(0x9e37_79b9 + u64::from(t));
                for size in [1, 50, 200, 7, 300, 42] {
                    write(&mut sink, t, &mixed(&mut rng, &LOGGERS, size, NOV_20, 2 * DAY));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut db = client(&url);
    assert_eq!(assert_aggregates_match_records(&mut db), 4 * 600);
    let levels: i64 = db.query_one("SELECT count(DISTINCT level) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(levels, 5);
}

#[test]
fn buckets_are_utc_hours_whatever_the_session_time_zone() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    // 2026-11-22T18:29:59.999999Z and 18:30:00Z: one UTC hour, two quarters,
    // and two different days in India.
    let t = NOV_20 + 2 * DAY + (18 * 3600 + 30 * 60) * SEC;
    let mut a = Record::new(Level::Error, "svc", "a");
    a.timestamp = Timestamp(t - 1);
    let mut b = Record::new(Level::Warn, "svc", "b");
    b.timestamp = Timestamp(t);
    write(&mut sink, 1, &[a, b]);
    let mut db = client(&url);
    assert_eq!(
        rows(&mut db, HOURLY),
        [["svc", "2026-11-22 18:00:00+00", "0", "0", "0", "1", "1"].map(String::from).to_vec()]
    );
    let quarters: Vec<String> = rows(&mut db, QUARTER).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(quarters, ["2026-11-22 18:15:00+00", "2026-11-22 18:30:00+00"]);
    assert_eq!(
        rows(&mut db, STATS),
        [["svc", "2", "1", "1", "2026-11-22 18:29:59.999999+00", "2026-11-22 18:30:00+00"].map(String::from).to_vec()]
    );
    // A rebuild from a session in India computes the same UTC buckets.
    let before = (rows(&mut db, STATS), rows(&mut db, HOURLY), rows(&mut db, QUARTER));
    db.batch_execute("SET TIME ZONE 'Asia/Kolkata'").unwrap();
    aggregates::rebuild(&mut db).unwrap();
    assert_eq!((rows(&mut db, STATS), rows(&mut db, HOURLY), rows(&mut db, QUARTER)), before);
    // Days for a UTC+5:30 viewer, summed from the quarters: the two records fall on two days.
    let days: Vec<(String, i64)> = db
        .query(
            "SELECT ((quarter AT TIME ZONE 'UTC') + interval '5 hours 30 minutes')::date::text,
                    sum(trace + debug + info + warn + error)::int8
             FROM log_logger_quarter GROUP BY 1 ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(days, [("2026-11-22".to_owned(), 1), ("2026-11-23".to_owned(), 1)]);
}

#[test]
fn a_version_1_database_is_backfilled_on_upgrade() {
    let Some(url) = TestServer::shared_database() else { return };
    let mut db = forge_schema(&url, 1);
    db.batch_execute(
        "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app) VALUES
            ('2026-11-22T08:14:59.999999Z', 40, 'a', 'm', 't', 1, 'h', 'x'),
            ('2026-11-22T08:15:00Z', 30, 'a', 'm', 't', 1, 'h', 'x'),
            ('2026-11-22T09:59:00Z', 20, 'a', 'm', 't', 1, 'h', 'x'),
            ('2026-11-21T23:00:00Z', 5, 'b', 'm', 't', 1, 'h', 'x')",
    )
    .unwrap();
    let mut sink = PgSink::connect(&url).unwrap(); // migrates to the latest version
    assert_eq!(assert_aggregates_match_records(&mut db), 4);
    assert_eq!(
        rows(&mut db, STATS)[0],
        ["a", "3", "1", "1", "2026-11-22 08:14:59.999999+00", "2026-11-22 09:59:00+00"].map(String::from)
    );
    // New batches add to the backfilled counts.
    write(&mut sink, 1, &mixed(&mut Rng(5), &LOGGERS, 100, NOV_20, DAY));
    assert_eq!(assert_aggregates_match_records(&mut db), 104);
}

#[test]
fn rebuild_equals_incremental_and_is_safe_under_concurrent_writes() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let mut rng = Rng(77);
    for _ in 0..5 {
        write(&mut sink, 1, &mixed(&mut rng, &LOGGERS, 200, NOV_20, 2 * DAY));
    }
    let mut db = client(&url);
    let incremental = (rows(&mut db, STATS), rows(&mut db, HOURLY), rows(&mut db, QUARTER));
    sink.rebuild_aggregates().unwrap();
    assert_eq!((rows(&mut db, STATS), rows(&mut db, HOURLY), rows(&mut db, QUARTER)), incremental);

    // Retention deletes rows; rebuild brings the aggregates back in line.
    let deleted = db.execute("DELETE FROM log_records WHERE ts < TIMESTAMPTZ '2026-11-21T00:00:00Z'", &[]).unwrap();
    assert!(deleted > 0);
    sink.rebuild_aggregates().unwrap();
    assert_eq!(assert_aggregates_match_records(&mut db), 1000 - deleted as i64);

    // A writer keeps storing batches while rebuilds run on another connection.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (url.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut sink = PgSink::connect(&url).unwrap();
            let mut rng = Rng(99);
            let mut written = 0;
            while written < 30 * 40 || !stop.load(Ordering::SeqCst) {
                write(&mut sink, 2, &mixed(&mut rng, &LOGGERS, 40, NOV_20, DAY));
                written += 40;
            }
            written
        })
    };
    for _ in 0..15 {
        aggregates::rebuild(&mut db).unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert_eq!(assert_aggregates_match_records(&mut db), 1000 - deleted as i64 + written);
}

/// Records at call sites of several files (one with a NUL character, which
/// is stored as U+FFFD), lines (none, a line past `i32::MAX`), loggers and
/// levels over two days from [`NOV_20`], each message distinct.
fn at_sites(rng: &mut Rng, n: usize, first: usize) -> Vec<Record> {
    let files = [None, Some("src/a.rs"), Some("src/b\0.rs"), Some("src/b\u{FFFD}.rs")];
    let lines = [None, Some(1), Some(2), Some(u32::MAX), Some(i32::MAX.unsigned_abs())];
    let mut records = mixed(rng, &LOGGERS[..3], n, NOV_20, 2 * DAY);
    for (i, r) in records.iter_mut().enumerate() {
        r.file = files[rng.below(files.len() as u64) as usize].map(Into::into);
        r.line = lines[rng.below(lines.len() as u64) as usize];
        r.message = format!("m{}", first + i).into();
    }
    records
}

/// The call sites of `filter` by a hand `GROUP BY` over `log_records`, as
/// text rows (logger, file, line, counts, last seen, example), sorted.
fn sites_by_hand(db: &mut Client, filter: &RecordFilter) -> Vec<Vec<String>> {
    let since = filter.since.map_or(-10_000_000_000_000_000, |t| t.0);
    let until = filter.until.map_or(10_000_000_000_000_000, |t| t.0);
    let logger = match &filter.logger {
        None => "TRUE".to_owned(),
        Some(LoggerMatch::Exact(name)) => format!("logger = '{name}'"),
        Some(LoggerMatch::Tree(root)) => format!("(logger = '{root}' OR logger LIKE '{root}::%')"),
    };
    db.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let mut out: Vec<Vec<String>> = db
        .query(
            &format!(
                "WITH r AS (SELECT * FROM log_records
                            WHERE ts >= 'epoch'::timestamptz + $1::int8 * interval '1 microsecond'
                              AND ts < 'epoch'::timestamptz + $2::int8 * interval '1 microsecond' AND {logger})
                 SELECT logger, coalesce(file, '-'), coalesce(line::text, '-'),
                        concat_ws('/', count(*) FILTER (WHERE level = 5), count(*) FILTER (WHERE level = 10),
                                  count(*) FILTER (WHERE level = 20), count(*) FILTER (WHERE level = 30),
                                  count(*) FILTER (WHERE level = 40)),
                        ((extract(epoch FROM max(ts)) * 1000000)::int8)::text,
                        (array_agg(message ORDER BY ts DESC, id DESC))[1]
                 FROM r GROUP BY 1, 2, 3"
            ),
            &[&since, &until],
        )
        .unwrap()
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get::<_, String>(i)).collect())
        .collect();
    out.sort();
    out
}

/// [`Store::call_sites`] as the same text rows as [`sites_by_hand`].
fn sites_read(store: &PgStore, filter: &RecordFilter) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = store
        .call_sites(filter, 10_000)
        .unwrap()
        .into_iter()
        .map(|s| {
            let c = s.counts;
            vec![
                s.logger,
                s.file.unwrap_or_else(|| "-".into()),
                s.line.map_or_else(|| "-".into(), |l| l.to_string()),
                format!("{}/{}/{}/{}/{}", c.trace, c.debug, c.info, c.warn, c.error),
                s.last_seen.0.to_string(),
                s.example,
            ]
        })
        .collect();
    out.sort();
    out
}

/// Asserts [`Store::call_sites`] equals [`sites_by_hand`] over each of
/// `ranges` (microseconds; `None`: open) for no logger filter, the logger
/// `app` and the tree `app`.
fn assert_sites_equal_by_hand(store: &PgStore, db: &mut Client, ranges: &[(Option<i64>, Option<i64>)], when: &str) {
    for &(since, until) in ranges {
        for logger in [None, Some(LoggerMatch::Exact("app".into())), Some(LoggerMatch::Tree("app".into()))] {
            let mut filter = RecordFilter::default();
            filter.since = since.map(Timestamp);
            filter.until = until.map(Timestamp);
            filter.logger = logger;
            let expected = sites_by_hand(db, &filter);
            assert_eq!(sites_read(store, &filter), expected, "{when}: {filter:?}");
        }
    }
}

/// Call sites over ranges that start and end inside hours, whole hours,
/// open ends and less than an hour, for every logger filter: equal to a
/// `GROUP BY` by hand, before and after a prune that ends inside an hour,
/// on a plain table and on one partitioned by day (whose prune drops the
/// first day whole).
#[test]
fn call_sites_equal_a_group_by_on_unaligned_ranges_and_after_prune() {
    for partitioned in [false, true] {
        let Some(url) = TestServer::shared_database() else { return };
        let option = if partitioned { "?partition=day" } else { "" };
        let mut sink = PgSink::connect(&format!("{url}{option}")).unwrap();
        let mut rng = Rng(0x5173);
        for b in 0..8 {
            write(&mut sink, 1, &at_sites(&mut rng, 250, b * 250));
        }
        let mut db = client(&url);
        assert_eq!(assert_aggregates_match_records(&mut db), 2_000);
        let store = PgStore::connect(&url).unwrap();
        let min = 60 * SEC;
        let ranges = [
            (None, None),
            (Some(NOV_20 + 17 * min + 3), Some(NOV_20 + DAY + 5 * 60 * min + 59 * min)),
            (Some(NOV_20 + 3 * 60 * min), Some(NOV_20 + 9 * 60 * min)),
            (Some(NOV_20 + DAY - 7), None),
            (None, Some(NOV_20 + 30 * 60 * min + 1)),
            (Some(NOV_20 + 5 * 60 * min + min), Some(NOV_20 + 5 * 60 * min + 50 * min)),
            (Some(NOV_20 + 5 * 60 * min + 50 * min), Some(NOV_20 + 7 * 60 * min + min)),
        ];
        let check = |db: &mut Client, when: &str| {
            assert_sites_equal_by_hand(&store, db, &ranges, &format!("{when}, partitioned {partitioned}"));
        };
        check(&mut db, "before prune");
        let maintenance = PgMaintenance::connect(&url).unwrap();
        let cutoff = Timestamp(NOV_20 + DAY + 90 * min + 11);
        let report = maintenance.prune(cutoff, 70, false).unwrap();
        let left: i64 = db.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0);
        assert_eq!(report.deleted, 2_000 - left.unsigned_abs());
        assert!(report.deleted > 1_000, "{report:?}");
        assert_eq!(assert_aggregates_match_records(&mut db), left);
        check(&mut db, "after prune");
    }
}

/// A writer upserting the aggregates of its batches (one statement, the four
/// tables in turn) while another session prunes the same loggers and hours
/// in a loop: neither ever fails (a deadlock victim's error would reach
/// `sink.write` or `prune` here, not be retried), and afterwards the
/// aggregates equal the counts of the rows left, so no count was lost or
/// taken off twice. The writer's records fall in the hours being pruned, so
/// both lock the same stats, hour, quarter and call-site rows; with either
/// side's table order reversed, PostgreSQL picks a deadlock victim within a
/// few batches.
#[test]
fn a_prune_beside_a_writer_never_deadlocks_nor_loses_counts() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let mut rng = Rng(0x0dea_d10c);
    for _ in 0..4 {
        sink.write(&Batch::new(&origin(1), &mixed(&mut rng, &LOGGERS, 250, NOV_20, DAY))).unwrap();
    }
    const BATCHES: usize = 60;
    const SIZE: usize = 100;
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (url, writing) = (url.clone(), Arc::clone(&writing));
        std::thread::spawn(move || {
            let mut sink = PgSink::connect(&url).unwrap();
            let mut rng = Rng(0x5eed);
            let result = (0..BATCHES).try_for_each(|_| {
                // Over the first day, where the prune's cutoff moves.
                sink.write(&Batch::new(&origin(2), &mixed(&mut rng, &LOGGERS, SIZE, NOV_20, DAY)))
            });
            writing.store(false, Ordering::SeqCst);
            result
        })
    };
    let maintenance = PgMaintenance::connect(&url).unwrap();
    let (mut deleted, mut steps_beside_writer, mut step) = (0u64, 0u32, 0i64);
    while writing.load(Ordering::SeqCst) {
        // A cutoff 10 minutes later each time, wrapping within the day, so that
        // each step deletes a few of the oldest rows and the writer refills them.
        let cutoff = Timestamp(NOV_20 + (step % 144 + 1) * 10 * 60 * SEC);
        deleted += maintenance.prune(cutoff, 15, false).unwrap().deleted;
        steps_beside_writer += 1;
        step += 1;
    }
    writer.join().unwrap().unwrap();
    assert!(steps_beside_writer >= 5, "only {steps_beside_writer} prunes ran beside the writer");
    assert!(deleted > 0);
    let mut db = client(&url);
    let left = assert_aggregates_match_records(&mut db);
    assert_eq!(left, (1_000 + BATCHES * SIZE) as i64 - deleted as i64);
}

/// Call sites over many days, from ranges that start and end inside hours
/// (whole days from `log_site_daily`, whole hours at their ends from
/// `log_site_hourly`, partial hours from the rows), for every logger filter:
/// equal to a `GROUP BY` by hand. Then the site hours of the whole days are
/// taken away by hand and the lists stay the same: those days are read from
/// the day rows (a store summing the hours would lose them). A rebuild
/// brings both tables back equal to the rows.
#[test]
fn call_sites_over_days_read_whole_days_from_the_day_rows() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let mut rng = Rng(0xda75);
    for b in 0..6 {
        let mut records = at_sites(&mut rng, 300, b * 300);
        // Spread over 12 days from NOV_20, on the same sites.
        for r in &mut records {
            r.timestamp = Timestamp(NOV_20 + rng.below(12 * DAY as u64) as i64);
        }
        write(&mut sink, 1, &records);
    }
    let mut db = client(&url);
    assert_eq!(assert_aggregates_match_records(&mut db), 1_800);
    let days: i64 = db.query_one("SELECT count(DISTINCT day) FROM log_site_daily", &[]).unwrap().get(0);
    assert_eq!(days, 12);
    let store = PgStore::connect(&url).unwrap();
    let min = 60 * SEC;
    let ranges = [
        // Partial hours at both ends, whole hours before and after the whole days.
        (Some(NOV_20 + 5 * 60 * min + 17 * min + 3), Some(NOV_20 + 9 * DAY + 13 * 60 * min + 41 * min)),
        // Whole days only, and whole days with an open end.
        (Some(NOV_20 + DAY), Some(NOV_20 + 10 * DAY)),
        (Some(NOV_20 + 2 * DAY - 7), None),
        (None, Some(NOV_20 + 11 * DAY + 30 * min)),
        (None, None),
        // Less than two days: one midnight, hours only.
        (Some(NOV_20 + 3 * DAY - 5 * 60 * min - 1), Some(NOV_20 + 4 * DAY + 3 * 60 * min + 1)),
    ];
    assert_sites_equal_by_hand(&store, &mut db, &ranges, "written");
    // Days 1 to 9 whole, read only from the day rows by the first range.
    let mut first = RecordFilter::default();
    first.since = ranges[0].0.map(Timestamp);
    first.until = ranges[0].1.map(Timestamp);
    let before = sites_read(&store, &first);
    assert!(before.len() > 20, "{before:?}");
    let gone = db
        .execute(
            "DELETE FROM log_site_hourly WHERE hour >= TIMESTAMPTZ '2026-11-21Z' AND hour < TIMESTAMPTZ '2026-11-29Z'",
            &[],
        )
        .unwrap();
    assert!(gone > 100, "{gone}");
    assert_eq!(sites_read(&store, &first), before, "whole days read from log_site_daily");
    aggregates::rebuild(&mut db).unwrap();
    assert_eq!(assert_aggregates_match_records(&mut db), 1_800);
    assert_sites_equal_by_hand(&store, &mut db, &ranges, "rebuilt");
}

/// A database of schema 9 (site hours, no site days) holding records is
/// migrated by a writer: `log_site_daily` is backfilled from the hours equal
/// to a GROUP BY over the rows, a reader of this build refused the old
/// schema, and the writer's next batches add to the backfilled days.
#[test]
fn a_version_9_database_gets_its_site_days_backfilled() {
    let Some(url) = TestServer::shared_database() else { return };
    let mut db = forge_schema(&url, 9);
    db.batch_execute(
        "INSERT INTO log_records (ts, level, logger, message, file, line, thread, pid, host, app) VALUES
            ('2026-11-22T23:59:59.999999Z', 40, 'a', 'm', 'src/a.rs', 7, 't', 1, 'h', 'x'),
            ('2026-11-22T08:15:00Z', 30, 'a', 'm', 'src/a.rs', 7, 't', 1, 'h', 'x'),
            ('2026-11-23T00:00:00Z', 20, 'a', 'm', 'src/a.rs', 7, 't', 1, 'h', 'x'),
            ('2026-11-21T23:00:00Z', 5, 'b', 'm', NULL, NULL, 't', 1, 'h', 'x')",
    )
    .unwrap();
    // The hours as schema 9's writer would have kept them.
    aggregates_of_schema_9(&mut db);
    let Err(err) = PgStore::connect(&url) else { panic!("a reader refuses schema 9") };
    assert!(err.to_string().contains("schema version 9"), "{err}");
    let mut sink = PgSink::connect(&url).unwrap(); // migrates to the latest version
    assert_eq!(assert_aggregates_match_records(&mut db), 4);
    assert_eq!(
        sorted_rows(&mut db, SITE_DAYS),
        [
            ["2026-11-21 00:00:00+00", "b", "", "-1", "1", "0", "0", "0", "0", "2026-11-21 23:00:00+00"],
            ["2026-11-22 00:00:00+00", "a", ">src/a.rs", "7", "0", "0", "0", "1", "1", "2026-11-22 23:59:59.999999+00"],
            ["2026-11-23 00:00:00+00", "a", ">src/a.rs", "7", "0", "0", "1", "0", "0", "2026-11-23 00:00:00+00"],
        ]
        .map(|r| r.map(String::from).to_vec())
    );
    write(&mut sink, 1, &at_sites(&mut Rng(9), 200, 0));
    assert_eq!(assert_aggregates_match_records(&mut db), 204);
}

/// Fills the aggregate tables of a forged schema-9 database from its rows,
/// by hand, as that schema's writer kept them (no `log_site_daily`).
fn aggregates_of_schema_9(db: &mut Client) {
    db.batch_execute(
        "INSERT INTO log_logger_stats (logger, total, errors, warnings, first_seen, last_seen)
             SELECT logger, count(*), count(*) FILTER (WHERE level = 40), count(*) FILTER (WHERE level = 30),
                    min(ts), max(ts)
             FROM log_records GROUP BY logger;
         INSERT INTO log_logger_hourly (logger, hour, trace, debug, info, warn, error)
             SELECT logger, date_bin('1 hour', ts, TIMESTAMPTZ 'epoch'), count(*) FILTER (WHERE level = 5),
                    count(*) FILTER (WHERE level = 10), count(*) FILTER (WHERE level = 20),
                    count(*) FILTER (WHERE level = 30), count(*) FILTER (WHERE level = 40)
             FROM log_records GROUP BY 1, 2;
         INSERT INTO log_logger_quarter (logger, quarter, trace, debug, info, warn, error)
             SELECT logger, date_bin('15 minutes', ts, TIMESTAMPTZ 'epoch'), count(*) FILTER (WHERE level = 5),
                    count(*) FILTER (WHERE level = 10), count(*) FILTER (WHERE level = 20),
                    count(*) FILTER (WHERE level = 30), count(*) FILTER (WHERE level = 40)
             FROM log_records GROUP BY 1, 2;
         INSERT INTO log_site_hourly (hour, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
             SELECT date_bin('1 hour', ts, TIMESTAMPTZ 'epoch'), logger,
                    CASE WHEN file IS NULL THEN '' ELSE '>' || file END, coalesce(line, -1),
                    count(*) FILTER (WHERE level = 5), count(*) FILTER (WHERE level = 10),
                    count(*) FILTER (WHERE level = 20), count(*) FILTER (WHERE level = 30),
                    count(*) FILTER (WHERE level = 40), max(ts)
             FROM log_records GROUP BY 1, 2, 3, 4;",
    )
    .unwrap();
}
