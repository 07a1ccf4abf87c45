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

    let err = init_with(&db, "empty.toml", "app = \"x\"\ndatabase = \"\"\n").err().unwrap();
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}, line 2, key `database`: is empty", db.dir.path().join("empty.toml").display())),
        "{shown}"
    );

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

/// The keys of README's configuration table, dotted (`batch.size`), with the
/// default when the table gives it as a TOML value (`8192`, `"block"`).
fn readme_keys() -> Vec<(String, Option<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let rows = readme
        .lines()
        .skip_while(|l| !l.starts_with("| key | default | meaning |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    let ticked = |cell: &str| -> Vec<String> { cell.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut keys = Vec::new();
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (names, default) = (ticked(cells[1]), cells[2]);
        // A placeholder such as `<database>.spool` is not a value.
        let literal = (default.starts_with('`') && default.ends_with('`') && default.matches('`').count() == 2)
            .then(|| default.trim_matches('`').to_owned())
            .filter(|v| !v.starts_with('<'));
        let first = names[0].clone();
        let section = first.rsplit_once('.').map(|(s, _)| s.to_owned());
        for name in &names {
            // `alerts.error`, `.warn`: a name starting with a dot is in the first one's section.
            let key = match (name.strip_prefix('.'), &section) {
                (Some(rest), Some(section)) => format!("{section}.{rest}"),
                _ => name.clone(),
            };
            keys.push((key, if names.len() == 1 { literal.clone() } else { None }));
        }
    }
    keys
}

/// The field names serde lists in its unknown-field error for the table at
/// `section` (the top level when empty), or `None` when that key is not a table.
fn config_fields(section: &str) -> Option<Vec<String>> {
    let probe = if section.is_empty() { "zz_probe = 1\n".to_owned() } else { format!("[{section}]\nzz_probe = 1\n") };
    let err = log_panel::Config::from_toml_str(&probe, None).err().unwrap().to_string();
    let (_, expected) = err.split_once("unknown field `zz_probe`, expected ")?;
    Some(expected.split('`').skip(1).step_by(2).map(str::to_owned).collect())
}

#[test]
fn readme_table_and_configuration_name_the_same_keys_and_defaults() {
    let documented = readme_keys();
    assert!(documented.len() >= 20, "README's table was not found: {documented:?}");
    let mut in_config = Vec::new();
    for field in config_fields("").unwrap() {
        match config_fields(&field) {
            Some(keys) => in_config.extend(keys.into_iter().map(|k| format!("{field}.{k}"))),
            None => in_config.push(field),
        }
    }
    let mut names: Vec<&str> = documented.iter().map(|(k, _)| k.as_str()).collect();
    let undocumented: Vec<&String> = in_config.iter().filter(|k| !names.contains(&k.as_str())).collect();
    // serde lists aliases too; `alerts.warning` is the documented `alerts.warn`.
    assert_eq!(undocumented, [&"alerts.warning".to_owned()], "keys missing from README's table");
    names.retain(|k| !in_config.iter().any(|c| c == k));
    assert!(names.is_empty(), "README documents keys the configuration does not have: {names:?}");

    // Every default the table gives as a value is the configuration's default.
    let mut text = String::new();
    let mut section = "";
    // Top-level keys first: in TOML they cannot follow a table.
    let mut documented = documented.clone();
    documented.sort_by_key(|(key, _)| key.contains('.'));
    for (key, default) in &documented {
        let Some(default) = default else { continue };
        let (s, k) = key.rsplit_once('.').unwrap_or(("", key));
        if s != section {
            text.push_str(&format!("[{s}]\n"));
            section = s;
        }
        text.push_str(&format!("{k} = {default}\n"));
    }
    let parsed = log_panel::Config::from_toml_str(&text, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(parsed == log_panel::Config::default(), "README's defaults differ from Config::default():\n{text}");
}

/// Runs `child_init_and_log` in a child process with `env`, in `dir`.
fn run_child(dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_init_and_log", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .current_dir(dir)
        .env_remove("LOG_PANEL_CONFIG")
        .env_remove("LOG_PANEL_DATABASE_URL")
        .env_remove("LOG_PANEL_FILTER")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child did not run");
    out
}

#[test]
#[ignore = "run by the RUST_LOG and console tests, in a process of its own"]
fn child_init_and_log() {
    let guard = log_panel::init().unwrap();
    log::debug!("at debug");
    log::info!(target: "console_test", k = 1; "hello \u{1b}[2J world");
    drop(guard);
}

#[test]
fn rust_log_is_the_filter_when_nothing_more_specific_sets_one() {
    let messages = |env: &[(&str, &str)], file: Option<&str>| -> Vec<String> {
        let db = TempDb::new();
        let config = db.dir.path().join("log_panel.toml");
        let database = format!("database = {:?}\n", db.path.to_string_lossy());
        std::fs::write(&config, format!("{database}{}", file.unwrap_or(""))).unwrap();
        let mut env = env.to_vec();
        let config = config.to_string_lossy().into_owned();
        env.push(("LOG_PANEL_CONFIG", &config));
        run_child(db.dir.path(), &env);
        db.messages()
    };
    let both = ["at debug", "hello \u{1b}[2J world"];
    assert_eq!(messages(&[("RUST_LOG", "debug")], None), both, "RUST_LOG read");
    assert_eq!(messages(&[], None), ["hello \u{1b}[2J world"], "default info");
    assert_eq!(messages(&[("RUST_LOG", "debug"), ("LOG_PANEL_FILTER", "info")], None), ["hello \u{1b}[2J world"]);
    assert_eq!(messages(&[("RUST_LOG", "debug")], Some("[filter]\ndirectives = \"warn\"\n")), Vec::<String>::new());
    assert_eq!(messages(&[("RUST_LOG", "warn")], Some("[filter]\ndirectives = \"debug\"\n")), both);
}

#[test]
fn console_tee_prints_stored_records_to_stderr_escaped() {
    let db = TempDb::new();
    let config = db.dir.path().join("log_panel.toml");
    std::fs::write(&config, format!("database = {:?}\nconsole = true\n", db.path.to_string_lossy())).unwrap();
    let out = run_child(db.dir.path(), &[("LOG_PANEL_CONFIG", &config.to_string_lossy())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.contains(" INFO console_test: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.ends_with(r#"INFO console_test: hello \u{1b}[2J world {"k":1}"#), "{line}");
    assert!(!stderr.contains('\u{1b}'), "an escape sequence reached the terminal");
    assert!(!stderr.contains("at debug"), "a filtered record was printed");
    assert_eq!(db.messages(), ["hello \u{1b}[2J world"]);

    // Off by default.
    let db = TempDb::new();
    std::fs::write(&config, format!("database = {:?}\n", db.path.to_string_lossy())).unwrap();
    let out = run_child(db.dir.path(), &[("LOG_PANEL_CONFIG", &config.to_string_lossy())]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("console_test"));
    assert_eq!(db.messages(), ["hello \u{1b}[2J world"]);
}

/// The keys typed non-zero (`NonZeroUsize`, `NonZeroU64`): a zero in the file
/// names the key and line, and the builder method of the key refuses it too.
#[test]
fn zero_for_a_non_zero_key_names_key_and_line() {
    for (section, key) in [
        ("queue", "capacity"),
        ("queue", "block_timeout_ms"),
        ("batch", "size"),
        ("batch", "flush_interval_ms"),
        ("spool", "max_pending_mb"),
        ("spool", "max_mb"),
    ] {
        let text = format!("app = \"x\"\n[{section}]\n{key} = 0\n");
        let err = log_panel::Config::from_toml_str(&text, None).err().unwrap().to_string();
        let expected =
            format!("configuration, line 3, key `{section}.{key}`: invalid value: integer `0`, expected a nonzero");
        assert!(err.starts_with(&expected), "{err}");
    }
    let refused = |builder: log_panel::Builder| builder.build().err().unwrap().to_string();
    assert_eq!(
        refused(log_panel::builder().queue_capacity(0)),
        "configuration, key `queue.capacity`: must be at least 1"
    );
    assert_eq!(refused(log_panel::builder().batch_size(0)), "configuration, key `batch.size`: must be at least 1");
    let no_interval = log_panel::builder().flush_interval(std::time::Duration::ZERO);
    assert_eq!(refused(no_interval), "configuration, key `batch.flush_interval_ms`: must be at least 1");
    let no_wait = log_panel::builder().block_timeout(std::time::Duration::ZERO);
    assert_eq!(refused(no_wait), "configuration, key `queue.block_timeout_ms`: must be at least 1");
}

#[test]
fn block_timeout_is_read_from_the_file_and_defaults_to_five_seconds() {
    let c = log_panel::Config::from_toml_str("[queue]\nblock_timeout_ms = 250\n", None).unwrap();
    assert_eq!(c.queue.block_timeout_ms.get(), 250);
    assert_eq!(log_panel::Config::default().queue.block_timeout_ms.get(), 5000);
    let err = log_panel::Config::from_toml_str("[queue]\n\nblock_timeout_ms = \"5s\"\n", None).err().unwrap();
    assert!(err.to_string().starts_with("configuration, line 3, key `queue.block_timeout_ms`: invalid type"), "{err}");
}

#[test]
fn an_empty_database_names_the_file_line_and_key_and_is_refused_in_code_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log_panel.toml");
    for value in ["\"\"", "\"sqlite://\""] {
        std::fs::write(&path, format!("app = \"x\"\n\ndatabase = {value}\n")).unwrap();
        let err = log_panel::Config::from_file(&path).err().unwrap().to_string();
        let expected =
            format!("{}, line 3, key `database`: is empty; use a file path such as `log_panel.db`", path.display());
        assert_eq!(err, expected);
    }
    let err = log_panel::builder().database("").build().err().unwrap().to_string();
    assert_eq!(err, "configuration, key `database`: is empty; use a file path such as `log_panel.db`");
}

/// What the types cannot say is checked by `Config::validate`, with the file's messages,
/// for a configuration changed in code.
#[test]
fn config_changed_in_code_is_checked_like_the_file() {
    let mut config = log_panel::Config::default();
    config.limits.max_field_bytes = 10;
    let err = log_panel::Builder::from_config(config.clone()).build().err().unwrap().to_string();
    assert_eq!(err, "configuration, key `limits.max_field_bytes`: must be at least 64");
    let file = log_panel::Config::from_toml_str("[limits]\nmax_field_bytes = 10\n", None).err().unwrap();
    assert_eq!(file.message, "must be at least 64");
    config.limits.max_field_bytes = 64;
    config.alerts.window = std::time::Duration::ZERO;
    let err = config.validate().err().unwrap().to_string();
    assert_eq!(err, "configuration, key `alerts.window_secs`: must be at least 1");
}
