//! The panic hook stores the panic as an ERROR record and flushes what was
//! logged before it, without an explicit flush.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

#[test]
fn a_panicking_thread_loses_nothing_already_logged() {
    let db = common::TempDb::new();
    let _guard = log_panel::builder()
        .database(&db.path)
        .flush_level(None)
        .flush_interval(Duration::from_secs(3600))
        .init()
        .unwrap();
    let worker = std::thread::Builder::new()
        .name("doomed".into())
        .spawn(|| {
            log::info!(step = 1; "about to fail");
            panic!("the answer was not {}", 42);
        })
        .unwrap();
    assert!(worker.join().is_err());
    // No flush here: the hook already committed both records.
    let rows: Vec<(String, i64, String)> = {
        let conn = db.conn();
        let mut stmt = conn.prepare("SELECT logger, level, message FROM log_records ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].2, "about to fail");
    assert_eq!((rows[1].0.as_str(), rows[1].1), ("panic", 40));
    assert!(rows[1].2.starts_with("thread 'doomed' panicked at "), "{}", rows[1].2);
    assert!(rows[1].2.ends_with("the answer was not 42"), "{}", rows[1].2);
}
