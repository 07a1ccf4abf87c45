//! An alert callback that logs (through the global logger, as real code
//! does) gets its records stored, but they are not counted toward thresholds:
//! no loop, no self-triggered events. This file owns the global logger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use log_panel::Level;

#[test]
fn a_callback_that_logs_does_not_trigger_itself() {
    let db = common::TempDb::new();
    let events = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&events);
    let guard = log_panel::builder()
        .database(&db.path)
        .alert_threshold(Level::Error, Some(1))
        .on_alert(move |e| {
            counted.fetch_add(1, Ordering::SeqCst);
            // Reporting the alert through `log`, at a level and logger that would
            // cross their thresholds (ERROR 1) if they were counted.
            log::error!(target: "alerting", "alert: {e}");
            log::error!(target: e.logger.as_ref(), "alert raised for this logger");
            // Waiting for storage from a callback works too (no deadlock).
            log_panel::flush().unwrap();
        })
        .init()
        .unwrap();
    log::error!(target: "svc", "boom 1");
    log::error!(target: "svc", "boom 2");
    log_panel::flush().unwrap();
    let deadline = std::time::Instant::now() + common::WAIT;
    while log_panel::alert_stats().callback_runs < 1 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::yield_now();
    }
    std::thread::sleep(common::QUIET); // a loop would show up here
    drop(guard);

    assert_eq!(events.load(Ordering::SeqCst), 1, "only the application's error fired");
    let stats = log_panel::alert_stats();
    assert_eq!((stats.fired, stats.callback_runs, stats.callback_panics), (1, 1, 0));
    assert_eq!(db.count("logger = 'svc' AND thread != 'log-panel-alerts'"), 2);
    assert_eq!(db.count("thread = 'log-panel-alerts'"), 2, "the callback's records are stored");
    assert_eq!(db.count("logger = 'alerting' AND message LIKE 'alert: ERROR threshold 1 reached by svc%'"), 1);
    assert_eq!(db.count("1"), 4);
}
