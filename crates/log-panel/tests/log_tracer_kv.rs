//! `log` key-values through the `tracing` path: log-panel's `LogTracer` as
//! `log`'s logger, `Builder::init_for_tracing`, the layer in the global
//! subscriber. `tracing_log::LogTracer` alone drops a record's key-values;
//! through log-panel's bridge they are stored, typed and cut like those of
//! the `log` facade. Its own test binary: it installs `log`'s logger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TempDb;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn log_key_values_survive_the_tracing_path() {
    let db = TempDb::new();
    let guard =
        log_panel::builder().database(&db.path).max_field_bytes(64).panic_hook(false).init_for_tracing().unwrap();
    log_panel::tracing::LogTracer::init().unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log_panel::tracing::layer())).unwrap();

    let span = tracing::info_span!("request", request_id = "r-9");
    {
        let _entered = span.enter();
        log::info!(target: "app", user_id = 7, plan = "pro", ratio = 0.5, ok = true; "signed in");
        // Same key as the span's field: the record's own value wins, as for tracing events.
        log::warn!(target: "app", request_id = "own"; "overridden");
        log::info!(target: "app", big = "x".repeat(500).as_str(); "cut");
    }
    log::info!(target: "app", "no key-values");
    log::info!(target: "app", order_id = 1234; "outside the span");
    tracing::info!(target: "app", "a tracing event after: no key-values left over");
    log_panel::flush().unwrap();

    let context = |message: &str| -> serde_json::Value {
        let raw: String =
            db.conn().query_row("SELECT context FROM log_records WHERE message = ?1", [message], |r| r.get(0)).unwrap();
        serde_json::from_str(&raw).unwrap()
    };
    assert_eq!(
        context("signed in"),
        serde_json::json!({"span": "request", "request_id": "r-9", "user_id": 7, "plan": "pro", "ratio": 0.5, "ok": true})
    );
    assert_eq!(context("overridden")["request_id"], "own");
    let big = context("cut")["big"].as_str().unwrap().to_owned();
    assert!(big.len() <= 64 + 64 && big.len() < 500, "cut to the limit: {big}");
    assert_eq!(context("no key-values"), serde_json::json!({}));
    assert_eq!(context("outside the span"), serde_json::json!({"order_id": 1234}));
    assert_eq!(context("a tracing event after: no key-values left over"), serde_json::json!({}));
    // The pipeline counted the cut value.
    assert!(log_panel::stats().truncated >= 1);
    assert_eq!(db.count("json_extract(context, '$.user_id') = 7"), 1);
    drop(guard);
}
