//! Nothing lost: storage failures, panicking sinks, bad records, a locked
//! database, shutdown with storage down and replay by a new process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::scripted::Shared;
use common::TempDb;

fn seqs(shared: &Shared) -> Vec<i64> {
    shared
        .stored
        .lock()
        .unwrap()
        .iter()
        .map(|r| match r.kv.iter().find(|(k, _)| k == "seq") {
            Some((_, log_panel::Value::I64(n))) => *n,
            other => panic!("no seq: {other:?}"),
        })
        .collect()
}

#[test]
fn sink_failing_n_times_then_succeeding_stores_all_once() {
    let shared = Shared::default();
    shared.script.lock().unwrap().fail_first = 5;
    let panel = log_panel::builder().sink(shared.sink()).batch_size(100).build().unwrap();
    for seq in 0..1000 {
        log::info!(logger: panel, seq = seq; "r");
    }
    panel.flush().unwrap();
    assert_eq!(seqs(&shared), (0..1000).collect::<Vec<_>>(), "all stored, once, in order");
    let stats = panel.stats();
    assert_eq!(stats.written, 1000);
    assert_eq!(stats.failed_attempts, 5);
    assert!(stats.retried_batches >= 1);
    assert!(stats.last_error.unwrap().0.contains("scripted outage"));
}

#[test]
fn sink_panicking_on_a_batch_stores_all() {
    let shared = Shared::default();
    shared.script.lock().unwrap().panic_on = [3, 4].into_iter().collect();
    let panel = log_panel::builder().sink(shared.sink()).batch_size(50).build().unwrap();
    for seq in 0..500 {
        log::info!(logger: panel, seq = seq; "r");
    }
    drop(panel);
    assert_eq!(seqs(&shared), (0..500).collect::<Vec<_>>());
}

#[test]
fn one_rejected_record_is_quarantined_and_the_rest_stored() {
    let db = TempDb::new();
    let spool = db.dir.path().join("spool");
    let shared = Shared::default();
    {
        let mut s = shared.script.lock().unwrap();
        s.reject = Some("poison".into());
        s.reject_sanitised = true;
    }
    let panel = log_panel::builder().sink(shared.sink()).spool_dir(&spool).batch_size(64).build().unwrap();
    for seq in 0..64 {
        if seq == 37 {
            log::info!(logger: panel, seq = seq; "poison pill");
        } else {
            log::info!(logger: panel, seq = seq; "fine");
        }
    }
    panel.flush().unwrap();
    let stored = seqs(&shared);
    assert_eq!(stored, (0..64).filter(|s| *s != 37).collect::<Vec<_>>());
    assert_eq!(panel.stats().quarantined, 1);
    let quarantine = std::fs::read_to_string(spool.join("quarantine.jsonl")).unwrap();
    assert_eq!(quarantine.lines().count(), 1);
    let entry: serde_json::Value = serde_json::from_str(quarantine.trim()).unwrap();
    assert_eq!(entry["record"]["message"], "poison pill");
    assert!(entry["reason"].as_str().unwrap().contains("scripted rejection"));
}

#[test]
fn a_record_with_nul_is_stored_sanitised_and_the_batch_intact() {
    let shared = Shared::default();
    shared.script.lock().unwrap().reject = Some("\0".into());
    let panel = log_panel::builder().sink(shared.sink()).build().unwrap();
    log::info!(logger: panel, "before");
    log::info!(logger: panel, "nul \0 inside");
    log::info!(logger: panel, "after");
    panel.flush().unwrap();
    assert_eq!(shared.stored_messages(), ["before", "nul \u{FFFD} inside", "after"]);
    assert_eq!(panel.stats().sanitised, 1);
    assert_eq!(panel.stats().quarantined, 0);
}

#[test]
fn sqlite_locked_by_another_writer_for_three_seconds_stores_all() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).batch_size(100).build().unwrap();
    log::info!(logger: panel, seq = -1; "creates the schema first");
    panel.flush().unwrap();
    let locker = std::thread::spawn({
        let path = db.path.clone();
        move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO log_levels VALUES (99, 'HOLD');").unwrap();
            std::thread::sleep(Duration::from_secs(3));
            conn.execute_batch("ROLLBACK").unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(200)); // let the locker take the lock
    for seq in 0..2000 {
        log::info!(logger: panel, seq = seq; "during the lock");
    }
    locker.join().unwrap();
    drop(panel);
    assert_eq!(db.count("1"), 2001);
    assert_eq!(
        db.conn()
            .query_row("SELECT count(DISTINCT json_extract(context, '$.seq')) FROM log_records", [], |r| r
                .get::<_, i64>(0))
            .unwrap(),
        2001
    );
}

#[test]
fn long_outage_spills_to_the_spool_and_replays_when_storage_returns() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    shared.set_down(true);
    let panel = log_panel::builder()
        .sink(shared.sink())
        .spool_dir(dir.path())
        .spool_after(Duration::from_millis(50))
        .batch_size(100)
        .build()
        .unwrap();
    for seq in 0..1000 {
        log::info!(logger: panel, seq = seq; "r");
    }
    // Storage is down: the flush cannot complete, and the records go to the spool.
    let report = panel.flush_timeout(Duration::from_millis(1500)).unwrap();
    assert!(!report.complete);
    assert_eq!(report.written, 0);
    assert!(panel.stats().spilled > 0, "{:?}", panel.stats());
    shared.set_down(false);
    panel.flush().unwrap();
    assert_eq!(seqs(&shared), (0..1000).collect::<Vec<_>>(), "replayed in order, once");
    let stats = panel.stats();
    assert_eq!(stats.written, 1000);
    assert_eq!(stats.replayed, stats.spilled);
    assert_eq!(stats.in_spool, 0);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "spool files removed after replay: {left:?}");
}

/// Run by `shutdown_with_storage_down_spools_and_a_new_process_replays` in a
/// child process: replays the spool into SQLite and exits.
#[test]
fn replay_child() {
    let (Ok(spool), Ok(db)) = (std::env::var("REPLAY_SPOOL"), std::env::var("REPLAY_DB")) else { return };
    let panel = log_panel::builder().database(db).spool_dir(spool).build().unwrap();
    log::info!(logger: panel, seq = 1_000_000; "new record of the new process");
    drop(panel);
}

#[test]
fn shutdown_with_storage_down_spools_and_a_new_process_replays() {
    let db = TempDb::new();
    let spool = db.dir.path().join("spool");
    let shared = Shared::default();
    shared.set_down(true);
    let panel = log_panel::builder().sink(shared.sink()).spool_dir(&spool).batch_size(100).build().unwrap();
    for seq in 0..2500 {
        log::info!(logger: panel, seq = seq; "logged while storage is down");
    }
    let report = panel.shutdown_timeout(Duration::from_millis(300));
    assert_eq!(report, log_panel::Report { complete: true, written: 0, pending: 0, spilled: 2500, dropped: 0 });
    assert!(shared.stored.lock().unwrap().is_empty());

    // A new process replays the spool before its own records.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "replay_child", "--nocapture", "--test-threads=1"])
        .env("REPLAY_SPOOL", &spool)
        .env("REPLAY_DB", &db.path)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(db.count("1"), 2501);
    let conn = db.conn();
    let (distinct, min, max): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(DISTINCT json_extract(context, '$.seq')), min(json_extract(context, '$.seq')),
                    max(json_extract(context, '$.seq')) FROM log_records WHERE pid != ?1",
            [std::process::id()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or((0, 0, 0));
    // The replayed rows keep this process's pid; only the child's own record has the child's pid.
    assert_eq!((distinct, min, max), (1, 1_000_000, 1_000_000));
    let replayed: i64 = conn
        .query_row(
            "SELECT count(DISTINCT json_extract(context, '$.seq')) FROM log_records WHERE pid = ?1",
            [std::process::id()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(replayed, 2500);
    let first_new: i64 = conn
        .query_row("SELECT min(id) FROM log_records WHERE json_extract(context, '$.seq') = 1000000", [], |r| r.get(0))
        .unwrap();
    assert_eq!(first_new, 2501, "the spool is replayed before new records");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
}

#[test]
fn without_spool_a_shutdown_with_storage_down_reports_the_loss() {
    let shared = Shared::default();
    shared.set_down(true);
    let panel = log_panel::builder().sink(shared.sink()).without_spool().build().unwrap();
    for seq in 0..10 {
        log::info!(logger: panel, seq = seq; "r");
    }
    let report = panel.shutdown_timeout(Duration::from_millis(200));
    assert_eq!((report.written, report.spilled, report.dropped), (0, 0, 10));
    assert_eq!(panel.stats().lost, 10);
}
