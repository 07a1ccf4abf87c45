//! `Builder::init_for_tracing` with `tracing-log`'s `LogTracer` as `log`'s
//! logger: `log` records reach the panel as tracing events, each stored once,
//! through the global pipeline. Its own test binary: it installs the global
//! panel, the global subscriber and `log`'s logger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TempDb;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn log_records_through_log_tracer_are_stored_once_with_their_call_site() {
    let db = TempDb::new();
    let guard = log_panel::builder().database(&db.path).panic_hook(false).init_for_tracing().unwrap();
    // The `log` slot is free for LogTracer (a second global panel is refused).
    tracing_log::LogTracer::init().unwrap();
    assert!(matches!(
        log_panel::builder().database(db.dir.path().join("b.db")).init(),
        Err(log_panel::Error::AlreadyInitialized)
    ));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log_panel::tracing::layer())).unwrap();

    let span = tracing::info_span!("request", request_id = "r-5");
    let line = {
        let _entered = span.enter();
        for i in 0..100 {
            tracing::info!(target: "app", i, "through tracing");
        }
        let line = line!() + 1;
        log::warn!(target: "some_lib", "through log {}", 1);
        line
    };
    log::info!(target: "some_lib", "outside the span");
    log_panel::flush().unwrap();

    assert_eq!(db.count("logger = 'app'"), 100);
    assert_eq!(db.count("logger = 'some_lib'"), 2);
    let (message, file, stored_line, context): (String, String, i64, String) = db
        .conn()
        .query_row(
            "SELECT message, file, line, context FROM log_records WHERE logger = 'some_lib' ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(message, "through log 1");
    assert!(file.ends_with("tracing_log_tracer.rs"), "{file}");
    assert_eq!(stored_line, i64::from(line));
    // The span the `log` call ran in is its context too.
    assert_eq!(context, r#"{"span":"request","request_id":"r-5"}"#);
    drop(guard);
    assert_eq!(db.count("1"), 102);
}
