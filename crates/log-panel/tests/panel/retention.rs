//! `retention.days` and `index.context_keys` reach the SQLite sink: the
//! configured key is indexed, and the writer deletes expired records when idle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::{Duration, Instant};

use common::TempDb;
use log::Log;
use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp};

#[test]
fn configured_keys_are_indexed_and_expired_records_deleted() {
    let db = TempDb::new();
    {
        let mut sink = log_panel::SqliteSink::open(&db.path).unwrap();
        let origin = Origin::new("old", "h", 1);
        let mut old = Record::new(Level::Info, "old", "from last year");
        old.timestamp = Timestamp(Timestamp::now().0 - 400 * 86_400_000_000);
        sink.write(&Batch::new(&origin, &[old])).unwrap();
    }
    let panel = log_panel::Builder::new()
        .database(&db.path)
        .index_context_keys(["tenant"])
        .retention_days(30)
        .without_spool()
        .build()
        .unwrap();
    panel.log(&log::Record::builder().level(log::Level::Info).target("new").args(format_args!("fresh")).build());
    panel.flush().unwrap();
    let deadline = Instant::now() + common::WAIT;
    while db.count("logger = 'old'") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(db.count("logger = 'old'"), 0, "the expired record is deleted by the idle writer");
    assert_eq!(db.count("logger = 'new'"), 1);
    let stats: i64 =
        db.conn().query_row("SELECT count(*) FROM log_logger_stats WHERE logger = 'old'", [], |r| r.get(0)).unwrap();
    assert_eq!(stats, 0, "aggregates follow the deletion");
    let index: i64 =
        db.conn().query_row("SELECT count(*) FROM log_context_state WHERE key = 'tenant'", [], |r| r.get(0)).unwrap();
    assert_eq!(index, 1);
    panel.shutdown();
}

/// A clean shutdown leaves the indexes caught up: the last batch, stored
/// while the writer drains (when it takes no idle step), is indexed before
/// the writer ends, so no lag note stays on until the next writer runs.
#[test]
fn a_clean_shutdown_leaves_the_indexes_caught_up() {
    let db = TempDb::new();
    let panel = log_panel::Builder::new().database(&db.path).without_spool().build().unwrap();
    const N: i64 = 500;
    for seq in 0..N {
        log::info!(logger: panel, seq = seq, user_id = seq % 7; "order {seq} packed");
    }
    // No flush: the shutdown seals and stores the last batch while draining.
    let report = panel.shutdown();
    assert!(report.complete && report.written == N as u64, "{report:?}");
    let (newest, search, context): (i64, i64, i64) = db
        .conn()
        .query_row(
            "SELECT (SELECT max(id) FROM log_records), (SELECT indexed_id FROM log_fts_state),
                    (SELECT indexed_id FROM log_context_all)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(db.count("1 = 1"), N);
    assert_eq!((search, context), (newest, newest), "both marks at the newest id");
}
