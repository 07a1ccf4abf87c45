//! Shutting down right after a crossing still runs the callback, and what the
//! callback logs is stored. This file owns the global logger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

#[test]
fn shutdown_runs_pending_callbacks_and_stores_what_they_log() {
    let db = common::TempDb::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_callback = Arc::clone(&seen);
    let guard = log_panel::builder()
        .database(&db.path)
        .on_alert(move |e| {
            // A slow webhook: the guard is already being dropped.
            std::thread::sleep(common::QUIET);
            seen_in_callback.lock().unwrap().push(e.message.to_string());
            log::info!(target: "alerting", "alert sent for {}", e.logger);
        })
        .init()
        .unwrap();
    log::error!(target: "svc", "boom");
    drop(guard); // no flush, no waiting: shutdown must do it

    assert_eq!(*seen.lock().unwrap(), ["boom"]);
    assert_eq!(log_panel::alert_stats().callback_runs, 1);
    assert_eq!(db.messages(), ["boom", "alert sent for svc"]);
    assert_eq!(log_panel::stats().dropped_after_shutdown, 0);
}
