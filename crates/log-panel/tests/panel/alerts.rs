//! Alerts through a running panel: crossing, callbacks off the
//! caller threads, nothing for a failed or rejected write, panics isolated.
//! (The window arithmetic, driven by chosen timestamps, is tested on
//! `AlertCounter` in src/alerts/counter.rs; a callback that logs is in
//! `alerts_reentrant.rs`, which owns the global logger.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use common::{TempDb, QUIET, WAIT};
use log_panel::{AlertEvent, Level};
use log_panel_testing::Shared;

fn collector() -> (impl FnMut(&AlertEvent) + Send + 'static, mpsc::Receiver<(AlertEvent, String)>) {
    let (tx, rx) = mpsc::channel();
    let callback = move |e: &AlertEvent| {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        tx.send((e.clone(), thread)).unwrap();
    };
    (callback, rx)
}

#[test]
fn fires_once_at_the_crossing_with_the_triggering_record() {
    let db = TempDb::new();
    let (callback, events) = collector();
    let panel = log_panel::builder()
        .database(&db.path)
        .filter("trace")
        .alert_threshold(Level::Error, Some(3))
        .alert_threshold(Level::Info, Some(2))
        .on_alert(callback)
        .build()
        .unwrap();
    let mut error_line = 0;
    for i in 0..6 {
        let _request = log_panel::scope!(request_id = format!("r-{i}"));
        error_line = line!() + 1;
        log::error!(logger: panel, target: "billing", attempt = i; "payment {} failed", i);
    }
    log::error!(logger: panel, target: "shipping", "one error elsewhere: below 3");
    log::warn!(logger: panel, target: "billing", "first warning"); // default WARN 1
    log::warn!(logger: panel, target: "billing", "second warning: already above");
    log::info!(logger: panel, target: "billing", "info 1");
    log::debug!(logger: panel, target: "billing", "debug: no threshold");
    log::debug!(logger: panel, target: "billing", "debug: no threshold");
    log::info!(logger: panel, target: "billing", "info 2");
    drop(panel); // commits everything and returns once the callbacks have run

    let got: Vec<(AlertEvent, String)> = events.try_iter().collect();
    let summary: Vec<(String, Level, u32, String)> =
        got.iter().map(|(e, _)| (e.logger.to_string(), e.level, e.count, e.message.to_string())).collect();
    assert_eq!(
        summary,
        [
            ("billing".to_owned(), Level::Error, 3, "payment 2 failed".to_owned()),
            ("billing".to_owned(), Level::Warn, 1, "first warning".to_owned()),
            ("billing".to_owned(), Level::Info, 2, "info 2".to_owned()),
        ]
    );
    let (error, thread) = &got[0];
    assert_eq!(thread, "log-panel-alerts", "callbacks run on the alert thread");
    assert_eq!(error.threshold, 3);
    assert_eq!(error.file.as_deref(), Some(file!()));
    assert_eq!(error.line, Some(error_line));
    assert_eq!(error.module.as_deref(), Some(module_path!()));
    assert_eq!(error.context, r#"{"request_id":"r-2","attempt":2}"#, "the triggering record's context");
    assert_eq!(got[1].0.context, "{}");
    assert_eq!(error.window_end, error.timestamp);
    assert_eq!(error.window_end.0 - error.window_start.0, 3_600_000_000, "default window: one hour");
    assert_eq!(db.count("1"), 13, "every record is stored");
}

#[test]
fn without_callbacks_nothing_is_counted() {
    let (sink, _batches) = log_panel_testing::recorder();
    let panel = log_panel::builder().sink(sink).build().unwrap();
    log::error!(logger: panel, "boom");
    panel.flush().unwrap();
    // The default ERROR threshold is 1, but there is nothing to call, so the
    // writer does not count (and no alert thread was started).
    assert_eq!(panel.alert_stats().fired, 0);
    assert_eq!(panel.stats().written, 1);
}

#[test]
fn a_failing_write_fires_nothing_and_the_retry_that_succeeds_fires_once() {
    // Fails with "storage unavailable" while down; journals what it stores.
    let flaky = Shared::default();
    flaky.set_down(true);
    let journal = Arc::new(Mutex::new(Vec::new()));
    let stored_journal = Arc::clone(&journal);
    flaky.edit(|s| {
        s.on_store = Some(Box::new(move |records| {
            stored_journal.lock().unwrap().extend(records.iter().map(|r| format!("stored {}", r.message)));
        }))
    });
    let events_journal = Arc::clone(&journal);
    let panel = log_panel::builder()
        .sink(flaky.sink())
        .on_alert(move |e| events_journal.lock().unwrap().push(format!("event {}", e.message)))
        .build()
        .unwrap();
    log::error!(logger: panel, "boom");
    // The writer retries (10 ms, 20 ms, 40 ms, …): wait for several failed attempts.
    let deadline = std::time::Instant::now() + WAIT;
    while flaky.attempts() < 4 {
        assert!(std::time::Instant::now() < deadline, "the writer should keep retrying");
        std::thread::yield_now();
    }
    std::thread::sleep(QUIET); // give a wrongly fired event time to show up
    assert_eq!(panel.alert_stats().fired, 0, "nothing is stored yet, so nothing fires");
    assert!(journal.lock().unwrap().is_empty());
    assert!(panel.stats().failed_attempts >= 4);

    flaky.set_down(false);
    panel.flush().unwrap();
    drop(panel);
    assert_eq!(*journal.lock().unwrap(), ["stored boom", "event boom"], "the event follows the successful write, once");
}

#[test]
fn records_that_are_never_stored_fire_nothing() {
    let spool = tempfile::tempdir().unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&fired);
    // Rejects every record as bad data: nothing is ever stored.
    let rejecting = Shared::default();
    rejecting.reject(|_| true);
    let panel = log_panel::builder()
        .sink(rejecting.sink())
        .spool_dir(spool.path())
        .on_alert(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    for i in 0..5 {
        log::error!(logger: panel, target: "svc", "rejected {}", i);
    }
    panel.flush().unwrap();
    let stats = panel.stats();
    drop(panel);
    // Rejected even when sanitised: quarantined in the spool, never stored.
    assert_eq!((stats.quarantined, stats.written), (5, 0));
    assert_eq!(fired.load(Ordering::SeqCst), 0);
}

#[test]
fn a_panicking_callback_is_isolated() {
    let db = TempDb::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_second = Arc::clone(&seen);
    let panel = log_panel::builder()
        .database(&db.path)
        .on_alert(|e| panic!("webhook client bug while reporting {}", e.logger))
        .on_alert(move |e| seen_by_second.lock().unwrap().push(e.logger.to_string()))
        .build()
        .unwrap();
    for logger in ["a", "b", "c"] {
        log::error!(logger: panel, target: logger, "boom");
        panel.flush().unwrap();
    }
    // The writer keeps storing after the panics.
    log::info!(logger: panel, target: "a", "still storing");
    panel.flush().unwrap();
    let panel_stats = {
        let p = &panel;
        // Wait for the alert thread to catch up before reading its counters.
        let deadline = std::time::Instant::now() + WAIT;
        while p.alert_stats().callback_runs + p.alert_stats().callback_panics < 6 {
            assert!(std::time::Instant::now() < deadline, "{:?}", p.alert_stats());
            std::thread::yield_now();
        }
        p.alert_stats()
    };
    drop(panel);
    assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"], "the second callback saw every event");
    assert_eq!((panel_stats.fired, panel_stats.callback_panics, panel_stats.callback_runs), (3, 3, 3));
    assert_eq!(db.count("1"), 4);
    assert_eq!(db.count("message = 'still storing'"), 1);
}
