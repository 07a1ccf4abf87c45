//! Each flush trigger works by itself: size, level, interval, explicit flush.
//! (Guard drop is in `global_lifecycle.rs`, which owns the global logger.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use common::{QUIET, WAIT};
use log_panel::Level;
use log_panel_testing::recorder;

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn size_trigger_writes_a_full_batch_and_nothing_before() {
    let (sink, batches) = recorder();
    let panel = log_panel::builder().sink(sink).batch_size(3).flush_level(None).flush_interval(HOUR).build().unwrap();
    log::info!(logger: panel, "1");
    log::info!(logger: panel, "2");
    assert!(batches.recv_timeout(QUIET).is_err(), "two records of three must wait");
    log::info!(logger: panel, "3");
    let batch = batches.recv_timeout(WAIT).unwrap();
    let msgs: Vec<&str> = batch.iter().map(|r| r.message.as_ref()).collect();
    assert_eq!(msgs, ["1", "2", "3"]);
}

#[test]
fn level_trigger_writes_at_once() {
    let (sink, batches) = recorder();
    let panel = log_panel::builder()
        .sink(sink)
        .batch_size(1000)
        .flush_level(Some(Level::Error))
        .flush_interval(HOUR)
        .build()
        .unwrap();
    log::info!(logger: panel, "pending");
    log::warn!(logger: panel, "below the flush level");
    assert!(batches.recv_timeout(QUIET).is_err(), "WARN is below flush_level ERROR");
    log::error!(logger: panel, "boom");
    let batch = batches.recv_timeout(WAIT).unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(batch[2].level, Level::Error);
}

#[test]
fn interval_trigger_fires_with_no_further_records() {
    let (sink, batches) = recorder();
    let panel = log_panel::builder()
        .sink(sink)
        .batch_size(1000)
        .flush_level(None)
        .flush_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    log::info!(logger: panel, "quiet process");
    // Nothing else is logged: only the writer's own timer can write this.
    let batch = batches.recv_timeout(WAIT).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].message, "quiet process");
    // The recorder sees the batch inside `write`; the count follows the commit.
    panel.flush().unwrap();
    assert_eq!(panel.stats().written, 1);
}

#[test]
fn explicit_flush_commits_everything_before_returning() {
    let (sink, batches) = recorder();
    let panel =
        log_panel::builder().sink(sink).batch_size(1000).flush_level(None).flush_interval(HOUR).build().unwrap();
    for i in 0..10 {
        log::info!(logger: panel, "r{}", i);
    }
    panel.flush().unwrap();
    // flush returned: the batch was already handed over, no waiting needed.
    let batch = batches.try_recv().unwrap();
    assert_eq!(batch.len(), 10);
    assert_eq!(panel.stats().written, 10);
    // log::Log::flush does the same.
    log::info!(logger: panel, "r10");
    log::Log::flush(&panel);
    assert_eq!(batches.try_recv().unwrap().len(), 1);
}

#[test]
fn flush_from_several_threads_sees_their_own_records() {
    let db = common::TempDb::new();
    let panel = log_panel::builder().database(&db.path).flush_level(None).flush_interval(HOUR).build().unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (panel, db) = (&panel, &db);
            s.spawn(move || {
                for i in 0..250 {
                    log::info!(logger: panel, t = t, i = i; "x");
                }
                panel.flush().unwrap();
                let mine = db.count(&format!("json_extract(context, '$.t') = {t}"));
                assert_eq!(mine, 250, "thread {t} flushed and must see all its rows");
            });
        }
    });
}

#[test]
fn dropping_a_panel_commits_what_is_pending() {
    let db = common::TempDb::new();
    let panel = log_panel::builder().database(&db.path).flush_level(None).flush_interval(HOUR).build().unwrap();
    for i in 0..123 {
        log::info!(logger: panel, "r{}", i);
    }
    drop(panel);
    assert_eq!(db.count("1"), 123);
}
