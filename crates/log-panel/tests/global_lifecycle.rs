//! The global logger's whole life in one process: before init, init, guard
//! drop, after shutdown, init twice. One test, since `log` allows one logger
//! per process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TempDb;

#[test]
fn before_init_guard_drop_after_shutdown() {
    // Before init: harmless, nothing counted, flush reports not running.
    log::error!("before init");
    assert_eq!(log_panel::stats(), log_panel::Stats::default());
    assert!(matches!(log_panel::flush(), Err(log_panel::Error::NotRunning)));
    log_panel::shutdown(); // harmless before init

    let db = TempDb::new();
    let guard = log_panel::builder()
        .database(&db.path)
        .flush_level(None)
        .flush_interval(std::time::Duration::from_secs(3600))
        .init()
        .unwrap();
    for i in 0..500 {
        log::info!(i = i; "through the global logger");
    }
    // A second init fails and leaves the first one running.
    let second = log_panel::builder().database(db.dir.path().join("other.db")).init();
    assert!(matches!(second, Err(log_panel::Error::AlreadyInitialized)));
    log::info!("still running");

    // Nothing flushed yet (batch size 1000, no level trigger, interval 1 h): the guard drop commits.
    drop(guard);
    assert_eq!(db.count("1"), 501);
    assert_eq!(log_panel::stats().written, 501);

    // After shutdown: harmless and counted.
    log::error!("after shutdown");
    log_panel::shutdown();
    assert_eq!(db.count("1"), 501);
    assert_eq!(log_panel::stats().dropped_after_shutdown, 1);
    assert!(matches!(log_panel::flush(), Err(log_panel::Error::NotRunning)));
}
