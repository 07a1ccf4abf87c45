//! Many threads, many records: every record stored exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{log_from_threads, TempDb};

#[test]
fn four_threads_fifty_thousand_each_exactly_once() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).queue_capacity(4096).build().unwrap();
    log_from_threads(&panel, 4, 50_000);
    drop(panel);
    assert_eq!(db.count("1"), 200_000);
    let distinct: i64 = db
        .conn()
        .query_row(
            "SELECT count(*) FROM (SELECT DISTINCT json_extract(context, '$.t'), json_extract(context, '$.seq') FROM log_records)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(distinct, 200_000, "no record duplicated");
    let per_thread: Vec<(i64, i64, i64, i64)> = {
        let conn = db.conn();
        let mut stmt = conn
            .prepare(
                "SELECT json_extract(context, '$.t') AS t, count(*), min(json_extract(context, '$.seq')), max(json_extract(context, '$.seq'))
                 FROM log_records GROUP BY t ORDER BY t",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(per_thread, (0..4).map(|t| (t, 50_000, 0, 49_999)).collect::<Vec<_>>());
    // Each thread's records are stored in the order it logged them.
    let out_of_order: i64 = db
        .conn()
        .query_row(
            "SELECT count(*) FROM (SELECT json_extract(context, '$.seq') - lag(json_extract(context, '$.seq'))
               OVER (PARTITION BY json_extract(context, '$.t') ORDER BY id) AS step FROM log_records) WHERE step != 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(out_of_order, 0);
}

// Here rather than in overflow.rs, whose tests time single calls and
// should not share the machine with eight busy logging threads.
#[test]
fn block_loses_nothing_with_a_tiny_queue_and_many_threads() {
    let db = common::TempDb::new();
    let panel = log_panel::builder().database(&db.path).queue_capacity(64).batch_size(256).build().unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let panel = &panel;
            s.spawn(move || {
                for seq in 0..10_000 {
                    log::info!(logger: panel, t = t, seq = seq; "r");
                }
            });
        }
    });
    panel.shutdown();
    let stats = panel.stats();
    assert_eq!((stats.accepted, stats.written, stats.dropped.total()), (80_000, 80_000, 0));
    assert!(stats.queue_high_water > 1 && stats.queue_high_water <= 64, "{stats:?}");
    let distinct: i64 = db
        .conn()
        .query_row(
            "SELECT count(*) FROM (SELECT DISTINCT json_extract(context,'$.t'), json_extract(context,'$.seq') FROM log_records)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((db.count("1"), distinct), (80_000, 80_000));
}
