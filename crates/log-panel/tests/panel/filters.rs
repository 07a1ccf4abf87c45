//! Directives and ignore rules decide what is stored, before anything is queued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::TempDb;

fn loggers(db: &TempDb) -> Vec<String> {
    let conn = db.conn();
    let mut stmt = conn.prepare("SELECT logger FROM log_records ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn ignore_prefixes_respect_double_colon_boundaries() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).ignore_prefix("hyper").ignore_prefix("silk::").build().unwrap();
    for target in [
        "hyper",
        "hyper::client",
        "hyper::client::pool",
        "hyperx",
        "hyper_util",
        "silk",
        "silk::x",
        "silky",
        "app::hyper",
    ] {
        log::info!(logger: panel, target: target, "m");
    }
    panel.flush().unwrap();
    assert_eq!(loggers(&db), ["hyperx", "hyper_util", "silky", "app::hyper"]);
}

#[test]
fn ignore_exact_names_keep_children() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).ignore_logger("app::db").build().unwrap();
    for target in ["app::db", "app::db::pool", "app", "app::dbx"] {
        log::info!(logger: panel, target: target, "m");
    }
    panel.flush().unwrap();
    assert_eq!(loggers(&db), ["app::db::pool", "app", "app::dbx"]);
}

#[test]
fn ignore_message_substrings() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).ignore_message("GET /health").build().unwrap();
    log::info!(logger: panel, "served {} in {}ms", "GET /health", 2);
    log::info!(logger: panel, "served GET /users");
    panel.flush().unwrap();
    assert_eq!(db.messages(), ["served GET /users"]);
}

#[test]
fn directives_choose_levels_per_module() {
    let db = TempDb::new();
    let panel =
        log_panel::builder().database(&db.path).filter("warn,app::db=debug,app::db::noisy=off").build().unwrap();
    log::info!(logger: panel, target: "app", "app info: dropped");
    log::warn!(logger: panel, target: "app", "app warn: kept");
    log::debug!(logger: panel, target: "app::db", "db debug: kept");
    log::trace!(logger: panel, target: "app::db", "db trace: dropped");
    log::debug!(logger: panel, target: "app::db::pool", "pool debug: kept");
    log::error!(logger: panel, target: "app::db::noisy", "noisy error: dropped");
    panel.flush().unwrap();
    assert_eq!(db.messages(), ["app warn: kept", "db debug: kept", "pool debug: kept"]);
    assert_eq!(panel.stats().accepted, 3);
}

#[test]
fn default_level_is_info() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).build().unwrap();
    log::debug!(logger: panel, "debug: dropped");
    log::info!(logger: panel, "info: kept");
    panel.flush().unwrap();
    assert_eq!(db.messages(), ["info: kept"]);
}

#[test]
fn invalid_builder_values_are_errors_naming_the_key() {
    let db = TempDb::new();
    let err = log_panel::builder().database(&db.path).filter("info,x=loud").build().err().unwrap();
    assert!(err.to_string().contains("key `filter.directives`"), "{err}");
    let err = log_panel::builder().database(&db.path).batch_size(0).build().err().unwrap();
    assert!(err.to_string().contains("key `batch.size`"), "{err}");
    let err = log_panel::builder().database(&db.path).queue_capacity(0).build().err().unwrap();
    assert!(err.to_string().contains("key `queue.capacity`"), "{err}");
    // Unreachable and required: refused at once, without the password.
    let err = log_panel::builder()
        .database("postgres://u:secret@localhost:1/db")
        .database_required(true)
        .build()
        .err()
        .unwrap();
    assert!(!err.to_string().contains("secret"), "{err}");
}
