//! The per-logger aggregates after a mixed run from four threads equal a
//! GROUP BY over `log_records`, and a rebuild reproduces them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use rusqlite::types::Value;
use rusqlite::Connection;

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect()).unwrap().map(Result::unwrap).collect()
}

const STATS: &str = "SELECT logger, total, errors, warnings, first_seen, last_seen FROM log_logger_stats ORDER BY 1";
const STATS_FROM_RECORDS: &str = "SELECT logger, count(*), sum(level = 40), sum(level = 30), min(ts), max(ts)
    FROM log_records GROUP BY logger ORDER BY 1";
const HOURLY: &str = "SELECT logger, hour, trace, debug, info, warn, error FROM log_logger_hourly ORDER BY 1, 2";
const HOURLY_FROM_RECORDS: &str = "SELECT logger, substr(ts, 1, 13) || ':00:00.000000Z' AS h,
    sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
    FROM log_records GROUP BY logger, h ORDER BY 1, 2";
const QUARTER: &str = "SELECT logger, quarter, trace, debug, info, warn, error FROM log_logger_quarter ORDER BY 1, 2";
const QUARTER_FROM_RECORDS: &str = "SELECT logger,
    substr(ts, 1, 14) || printf('%02d', (CAST(substr(ts, 15, 2) AS INTEGER) / 15) * 15) || ':00.000000Z' AS q,
    sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
    FROM log_records GROUP BY logger, q ORDER BY 1, 2";

#[test]
fn aggregates_equal_group_by_after_a_mixed_four_thread_run() {
    let db = common::TempDb::new();
    // Small batches, so many transactions each upsert several loggers.
    let panel = log_panel::builder().database(&db.path).filter("trace").batch_size(37).build().unwrap();
    let loggers = ["app", "app::db", "billing", "hyper::client", "worker"];
    std::thread::scope(|s| {
        for t in 0..4usize {
            let panel = &panel;
            s.spawn(move || {
                for i in 0..600usize {
                    let target = loggers[(i * 7 + t) % loggers.len()];
                    match (i + t) % 5 {
                        0 => log::trace!(logger: panel, target: target, "t{} r{}", t, i),
                        1 => log::debug!(logger: panel, target: target, "t{} r{}", t, i),
                        2 => log::info!(logger: panel, target: target, "t{} r{}", t, i),
                        3 => log::warn!(logger: panel, target: target, "t{} r{}", t, i),
                        _ => log::error!(logger: panel, target: target, "t{} r{}", t, i),
                    }
                }
            });
        }
    });
    drop(panel);
    let conn = db.conn();
    let total: i64 = conn.query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
    assert_eq!(total, 2400);
    let stats = rows(&conn, STATS);
    assert_eq!(stats.len(), loggers.len());
    assert_eq!(stats, rows(&conn, STATS_FROM_RECORDS));
    let levels: i64 = conn.query_row("SELECT count(DISTINCT level) FROM log_records", [], |r| r.get(0)).unwrap();
    assert_eq!(levels, 5, "all levels were stored");
    let hourly = rows(&conn, HOURLY);
    assert!(!hourly.is_empty());
    assert_eq!(hourly, rows(&conn, HOURLY_FROM_RECORDS));
    let quarter = rows(&conn, QUARTER);
    assert_eq!(quarter, rows(&conn, QUARTER_FROM_RECORDS));
    let sum: i64 = conn
        .query_row("SELECT sum(trace + debug + info + warn + error) FROM log_logger_hourly", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sum, 2400);

    let mut sink = log_panel::SqliteSink::open(&db.path).unwrap();
    sink.rebuild_aggregates().unwrap();
    let conn = sink.connection();
    assert_eq!((rows(conn, STATS), rows(conn, HOURLY), rows(conn, QUARTER)), (stats, hourly, quarter));
}
