//! `init()` reads `$LOG_PANEL_CONFIG` / `./log_panel.toml`; bad files are
//! errors naming the key and line, and leave nothing half-initialised.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TempDb;

fn init_with(db: &TempDb, name: &str, text: &str) -> Result<log_panel::Guard, log_panel::Error> {
    let path = db.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    std::env::set_var("LOG_PANEL_CONFIG", &path);
    log_panel::init()
}

// One test: the environment and the global logger are per process.
#[test]
fn config_errors_name_key_and_line_then_a_good_file_works() {
    let db = TempDb::new();
    let database = format!("database = {:?}\n", db.path.to_string_lossy());

    let err = init_with(&db, "unknown.toml", &format!("{database}[batch]\nsize = 10\nflush_intervall_ms = 5\n"))
        .err()
        .unwrap();
    let shown = err.to_string();
    assert!(shown.contains("unknown.toml, line 4, key `batch.flush_intervall_ms`: unknown field"), "{shown}");

    let err = init_with(&db, "type.toml", &format!("{database}\n[queue]\ncapacity = \"lots\"\n")).err().unwrap();
    let shown = err.to_string();
    assert!(shown.contains("type.toml, line 4, key `queue.capacity`: invalid type: string \"lots\""), "{shown}");

    let err = init_with(&db, "level.toml", &format!("{database}[batch]\nflush_level = \"loud\"\n")).err().unwrap();
    let shown = err.to_string();
    assert!(shown.contains("level.toml, line 3, key `batch.flush_level`: unknown level `loud`"), "{shown}");

    let err = init_with(&db, "directive.toml", &format!("{database}[filter]\ndirectives = \"info,a::b=loud\"\n"))
        .err()
        .unwrap();
    let shown = err.to_string();
    assert!(shown.contains("line 3, key `filter.directives`"), "{shown}");

    std::env::set_var("LOG_PANEL_CONFIG", db.dir.path().join("missing.toml"));
    let err = log_panel::init().err().unwrap();
    assert!(err.to_string().contains("missing.toml: cannot read the file"), "{err}");

    // None of the failures installed anything: a good file still initialises.
    assert!(db.path.metadata().is_err(), "no database was created by a failed init");
    let guard = init_with(
        &db,
        "good.toml",
        &format!("app = \"cfg-test\"\n{database}[filter]\ndirectives = \"debug\"\nignore_prefixes = [\"noisy\"]\n"),
    )
    .unwrap();
    log::debug!("kept at debug");
    log::error!(target: "noisy::x", "ignored by prefix");
    drop(guard);
    assert_eq!(db.messages(), ["kept at debug"]);
    let app: String = db.conn().query_row("SELECT app FROM log_records", [], |r| r.get(0)).unwrap();
    assert_eq!(app, "cfg-test");
}
