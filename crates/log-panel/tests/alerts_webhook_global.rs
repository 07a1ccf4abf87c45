//! A webhook configured in `log_panel.toml`, with log-panel as the global
//! logger at `trace` and a threshold of 1 on every level: the HTTP client
//! logs through `log` on the delivery thread, and those records are stored
//! but never counted, so one application error makes exactly one alert and
//! one delivery — no loop. This file owns the global logger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::receiver::Receiver;

#[test]
fn the_http_clients_own_records_never_fire_alerts() {
    let db = common::TempDb::new();
    let receiver = Receiver::answering(&[503]);
    let config = db.dir.path().join("log_panel.toml");
    let text = format!(
        "database = {:?}\n[filter]\ndirectives = \"trace\"\n[alerts]\nerror = 1\nwarn = 1\ninfo = 1\ndebug = 1\ntrace = 1\n\n[[alerts.webhooks]]\nurl = {:?}\nbackoff_ms = 5\n",
        db.path.to_string_lossy(),
        receiver.url
    );
    std::fs::write(&config, text).unwrap();
    std::env::set_var("LOG_PANEL_CONFIG", &config);
    let guard = log_panel::init().unwrap();

    log::error!(target: "app", "the one alert");
    log_panel::flush().unwrap();
    let deadline = Instant::now() + common::WAIT;
    while log_panel::alert_stats().webhooks_delivered < 1 {
        assert!(Instant::now() < deadline, "{:?}", log_panel::alert_stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    log_panel::flush().unwrap(); // the delivery thread's records are stored by now
    drop(guard); // joins the delivery thread: any further post would be in

    let stats = log_panel::alert_stats();
    assert_eq!((stats.fired, stats.webhooks_delivered, stats.webhook_retries), (1, 1, 1), "{stats:?}");
    assert_eq!(receiver.requests().len(), 2, "the 503, then the 200");
    assert!(db.count("thread = 'log-panel-webhook'") > 0, "the HTTP client's records are stored");
    assert_eq!(db.count("logger = 'app'"), 1);
}
