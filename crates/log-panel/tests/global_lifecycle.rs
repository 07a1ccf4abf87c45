//! The global logger's whole life in one process: before init, init, guard
//! drop, after shutdown, init twice. One test, since `log` allows one logger
//! per process; what needs another process (another logger installed first,
//! what `main` prints for an error) runs in a child started by the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

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
    // A second init fails before it opens anything, and leaves the first one running.
    let other = db.dir.path().join("other.db");
    let second = log_panel::builder().database(&other).init();
    assert!(matches!(second, Err(log_panel::Error::AlreadyInitialized)));
    assert!(!other.exists(), "a refused init created its database");
    assert!(!db.dir.path().join("other.db.spool").exists(), "a refused init created its spool");
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

/// Runs the ignored test `name` of this binary in a child process, with `dir` in `CHILD_DIR`.
fn run_child(name: &str, dir: &std::path::Path) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env_remove("LOG_PANEL_CONFIG")
        .env_remove("LOG_PANEL_DATABASE_URL")
        .env_remove("LOG_PANEL_FILTER")
        .output()
        .unwrap()
}

const CHILD_DIR: &str = "LOG_PANEL_TEST_CHILD_DIR";

#[test]
fn init_refuses_before_opening_anything_when_another_logger_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_child("child_other_logger_then_init", dir.path());
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child did not run");
    assert!(!dir.path().join("logs.db").exists(), "a refused init created its database");
    assert!(!dir.path().join("logs.db.spool").exists(), "a refused init created its spool");
}

#[test]
#[ignore = "run by init_refuses_before_opening_anything_when_another_logger_is_installed, in its own process"]
fn child_other_logger_then_init() {
    struct Other;
    impl log::Log for Other {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, _: &log::Record<'_>) {}
        fn flush(&self) {}
    }
    static OTHER: Other = Other;
    log::set_logger(&OTHER).unwrap();
    let db = std::path::PathBuf::from(std::env::var_os(CHILD_DIR).unwrap()).join("logs.db");
    let refused = log_panel::builder().database(&db).init();
    assert!(matches!(refused, Err(log_panel::Error::AlreadyInitialized)), "{refused:?}");
}

#[test]
fn main_returning_the_error_prints_the_message_and_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the database's directory should be.
    std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
    let out = run_child("child_main_returns_a_storage_error", dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the child should have failed:\n{stdout}\n{stderr}");
    // libtest prints a failing test's `Err` as `main` does: `Error: {err:?}`.
    let printed = format!("{stdout}{stderr}");
    let line =
        printed.lines().find(|l| l.starts_with("Error: ")).unwrap_or_else(|| panic!("no error line:\n{printed}"));
    let expected = format!(
        "Error: cannot open storage `sqlite:{d}/not-a-dir/logs.db`: cannot create directory {d}/not-a-dir: ",
        d = dir.path().display()
    );
    assert!(line.starts_with(&expected), "{line}");
    assert!(!line.contains("Storage {"), "a struct dump: {line}");
}

#[test]
#[ignore = "run by main_returning_the_error_prints_the_message_and_its_cause, in its own process"]
fn child_main_returns_a_storage_error() -> Result<(), log_panel::Error> {
    let dir = std::path::PathBuf::from(std::env::var_os(CHILD_DIR).unwrap());
    let _guard = log_panel::builder().database(dir.join("not-a-dir/logs.db")).init()?;
    Ok(())
}
