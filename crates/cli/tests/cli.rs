//! Runs the built `log-panel` binary against SQLite databases filled by the
//! library's sink, checking output and exit status of every subcommand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use log_panel_core::{Batch, Context, Level, Origin, Record, Sink, Timestamp};
use log_panel_sqlite::SqliteSink;

/// `--trace`, `--context trace_id=…` and `serve --trace-url`.
mod cli_trace;

const MINUTE: i64 = 60_000_000;

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn record(level: Level, logger: &'static str, message: &str, ago_min: i64) -> Record {
    let mut r = Record::new(level, logger, message.to_owned());
    r.timestamp = Timestamp(Timestamp::now().0 - ago_min * MINUTE);
    r.file = Some("src/service.rs".into());
    r.line = Some(u32::try_from(10 + ago_min % 1000).unwrap());
    r
}

fn api() -> Origin {
    Origin::new("api", "h1", 10)
}

fn web() -> Origin {
    Origin::new("web", "h2", 20)
}

/// Six records of two apps; `evil` carries an escape sequence, a NUL and a newline.
fn fill() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    fill_into(&mut sink);
    // As a writer's idle steps leave it: searches read no lagging index
    // (its note is `a_search_over_a_lagging_index_says_so_on_stderr_only`'s).
    sink.catch_up_indexes(10_000).unwrap();
    Db { _dir: dir, path }
}

fn fill_into(sink: &mut dyn Sink) {
    let mut started = record(Level::Info, "app", "service started", 180);
    started.kv.push(("version".into(), "1.2.3".into()));
    let mut slow = record(Level::Warn, "billing::db", "slow query", 120);
    slow.kv.push(("ms".into(), 250i64.into()));
    let mut failed = record(Level::Error, "billing::payments", "payment failed", 90);
    failed.kv.push(("order_id".into(), 1234i64.into()));
    failed.context = Context::from_pairs([("request_id", "r-1")]);
    let ancient = record(Level::Info, "old", "ancient record", 100 * 24 * 60);
    sink.write(&Batch::new(&api(), &[ancient, started, slow, failed])).unwrap();
    let mut checkout = record(Level::Info, "billing", "checkout", 80);
    checkout.context = Context::from_pairs([("request_id", "r-1")]);
    let evil = record(Level::Info, "evil", "red\x1b[31mALERT\0tail\nsecond line", 10);
    sink.write(&Batch::new(&web(), &[checkout, evil])).unwrap();
}

fn write(db: &Path, origin: &Origin, records: &[Record]) {
    let mut sink = SqliteSink::open(db).unwrap();
    sink.write(&Batch::new(origin, records)).unwrap();
    sink.catch_up_indexes(10_000).unwrap();
}

/// The six records of [`fill`], the newest 4 not indexed (search and context
/// keys), and the writer that can index them.
fn lagging() -> (Db, SqliteSink) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    fill_into(&mut sink);
    sink.index_some(2).unwrap();
    (Db { _dir: dir, path }, sink)
}

#[test]
fn a_search_over_a_lagging_index_says_so_on_stderr_only() {
    let (db, mut sink) = lagging();
    let path = db.path.clone();
    let search = ["query", "--text", "payment", "--format", "json"];
    let lagging = run(&path, &search);
    assert_eq!(lagging.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(lagging.stderr).unwrap(),
        "log-panel: search index 4 records behind: the newest 4 records are scanned (results stay complete)\n"
    );
    let by_key = run(&path, &["query", "--context", "order_id=1234"]);
    assert_eq!(by_key.status.code(), Some(0));
    let stderr = String::from_utf8(by_key.stderr).unwrap();
    assert!(
        stderr.starts_with("log-panel: context-key index 4 records behind:") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let export = run(&path, &["export", "--text", "payment"]);
    assert!(export.status.success() && !export.stdout.is_empty());
    assert!(String::from_utf8(export.stderr).unwrap().starts_with("log-panel: search index 4 records behind:"));
    let request = run(&path, &["query", "--request", "r-1"]);
    assert!(String::from_utf8(request.stderr).unwrap().starts_with("log-panel: context-key index 4 records behind:"));
    // Call sites of a text filter count its rows through the search index.
    let sites = run(&path, &["sites", "--since", "1d", "--text", "payment"]);
    assert!(String::from_utf8(sites.stdout).unwrap().contains("billing::payments"));
    assert!(String::from_utf8(sites.stderr).unwrap().starts_with("log-panel: search index 4 records behind:"));
    ok(&path, &["sites", "--since", "1d"]);
    // A page that reads no index says nothing; stats show the lag.
    ok(&path, &["query", "--level", "error"]);
    let stats = ok(&path, &["stats"]);
    assert!(
        stats.ends_with(
            "search and context-key index 4 records behind: the newest 4 records are scanned (results stay complete)\n"
        ),
        "{stats}"
    );

    sink.catch_up_indexes(10_000).unwrap();
    let indexed = ok(&path, &search);
    assert_eq!(indexed.as_bytes(), lagging.stdout, "stdout is the same whatever the lag");
    assert!(indexed.contains("payment failed"), "{indexed}");
    ok(&path, &["query", "--context", "order_id=1234"]);
    assert!(!ok(&path, &["stats"]).contains("index"));
}

/// The lag is advice, the records are the answer: a read of the lag that
/// fails (here the context index's mark table dropped on a copy, which a
/// text search does not read) leaves stdout and the exit status as they
/// were and says so on stderr in the note's place.
#[test]
fn a_failed_lag_read_leaves_the_records_and_the_exit_status() {
    let db = fill();
    let search = ["query", "--text", "payment", "--format", "json"];
    let before = ok(&db.path, &search);
    let tail = ["tail", "-n", "5", "--text", "payment"];
    let tail_before = ok(&db.path, &tail);
    let stats_before = ok(&db.path, &["stats"]);
    rusqlite::Connection::open(&db.path).unwrap().execute_batch("DROP TABLE log_context_all").unwrap();
    let unknown = "log-panel: index lag unknown: SQLite: no such table: log_context_all\n";
    for (args, stdout) in [(&search[..], &before), (&tail[..], &tail_before)] {
        let out = run(&db.path, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), *stdout, "{args:?}: the same records");
        assert_eq!(String::from_utf8(out.stderr).unwrap(), unknown, "{args:?}");
    }
    assert!(before.contains("payment failed"), "{before}");
    let export = run(&db.path, &["export", "--text", "payment"]);
    assert_eq!(export.status.code(), Some(0));
    assert!(String::from_utf8(export.stdout).unwrap().contains("payment failed"));
    assert_eq!(String::from_utf8(export.stderr).unwrap(), unknown);
    // `stats` ends with the line, on stdout as the lag's own line would be.
    let stats = run(&db.path, &["stats"]);
    assert_eq!(stats.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(stats.stdout).unwrap(),
        format!("{stats_before}index lag unknown: SQLite: no such table: log_context_all\n")
    );
    // A filter that reads no index never asks.
    ok(&db.path, &["query", "--level", "error"]);
}

/// `log-panel tail -f -n 1 ARGS` on `path`, and its stderr line by line.
#[cfg(unix)]
fn follow_stderr(path: &Path, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = cmd(path)
        .args(["tail", "-f", "-n", "1"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// `tail -f` says once that the index its filter reads is behind, not
/// again while only its count moves, and once when it caught up.
#[cfg(unix)]
#[test]
fn tail_follow_says_a_lagging_index_once_and_when_it_caught_up() {
    let (db, mut sink) = lagging();
    let path = db.path.clone();
    let (mut child, rx) = follow_stderr(&path, &["--text", "payment"]);
    let wait = Duration::from_secs(10);
    let first = rx.recv_timeout(wait).expect("the note");
    assert_eq!(
        first,
        "log-panel: search index 4 records behind: the newest 4 records are scanned (results stay complete)"
    );
    // The writer goes on (the lag grows: 5 records behind) for longer than the
    // note's re-read; only the count moved, so nothing more is said.
    sink.write(&Batch::new(&api(), &[record(Level::Info, "live", "payment retried", 0)])).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(2_500)).is_err(), "said once");
    sink.catch_up_indexes(10_000).unwrap();
    assert_eq!(
        rx.recv_timeout(wait).expect("caught up"),
        "log-panel: the index caught up: no records above it are scanned"
    );
    assert!(rx.recv_timeout(Duration::from_millis(1_500)).is_err(), "said once");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `tail -f` beside a writer whose idle steps index each batch soon after
/// it: the lag comes and goes with every batch and is never said (it was,
/// once per batch read behind); a lag that lasts is said, once, after
/// `LAG_SETTLES_AFTER` (3 s) of reads behind.
#[cfg(unix)]
#[test]
fn tail_follow_says_nothing_of_a_lag_that_comes_and_goes_and_says_one_that_lasts() {
    let (db, mut sink) = lagging();
    sink.catch_up_indexes(10_000).unwrap();
    let (mut child, rx) = follow_stderr(&db.path, &["--text", "payment"]);
    // The opening line is printed after the opening read of the lag (none).
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("payment failed"), "{first}");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    // Behind for 600 ms after each batch (the lag is read again every
    // second: most batches are read behind), then caught up for longer
    // than the time between two reads (1 s and a poll of 200 ms).
    for batch in 0..5 {
        sink.write(&Batch::new(&api(), &[record(Level::Info, "live", "payment retried", 0)])).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        sink.catch_up_indexes(10_000).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(1_600)).ok(), None, "batch {batch}");
    }
    sink.write(&Batch::new(&api(), &[record(Level::Info, "live", "payment retried", 0)])).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_millis(2_500)).ok(), None, "not said before it lasted");
    let said = rx.recv_timeout(Duration::from_secs(10)).expect("the lag that lasts");
    assert!(said.starts_with("log-panel: search index 1 record behind:"), "{said}");
    assert_eq!(rx.recv_timeout(Duration::from_millis(1_500)).ok(), None, "said once");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `tail -f` over a filter that reads both indexes says the note again when
/// another index becomes the one behind (its text changed, not only a count).
#[cfg(unix)]
#[test]
fn tail_follow_says_the_note_again_when_another_index_is_the_one_behind() {
    let (db, _sink) = lagging();
    let path = db.path.clone();
    let (mut child, rx) = follow_stderr(&path, &["--text", "payment", "--context", "order_id=1234"]);
    let wait = Duration::from_secs(10);
    assert_eq!(
        rx.recv_timeout(wait).expect("the note"),
        "log-panel: search and context-key index 4 records behind: the newest 4 records are scanned (results stay \
         complete)"
    );
    // The context-key index catches up (its mark moved to the newest
    // record, as its writer's step would), the search index stays behind.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE log_context_all SET indexed_id = (SELECT max(id) FROM log_records)", []).unwrap();
    assert_eq!(
        rx.recv_timeout(wait).expect("the new note"),
        "log-panel: search index 4 records behind: the newest 4 records are scanned (results stay complete)"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn cmd(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_log-panel"));
    c.arg("--db").arg(db).env("TZ", "UTC").env_remove("NO_COLOR").env_remove("LOG_PANEL_DATABASE_URL");
    c
}

fn run(db: &Path, args: &[&str]) -> Output {
    cmd(db).args(args).output().unwrap()
}

/// Standard output of a run that must succeed, telling on stderr that
/// `unindexed` (query text) is checked on each record, as nothing indexed narrows it.
fn noted(db: &Path, args: &[&str], unindexed: &str) -> String {
    let out = run(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {:?}\n{stderr}", out.status);
    assert_eq!(
        stderr,
        format!("log-panel: query: not indexed, checked on each record the rest of the filter selects: {unindexed}\n"),
        "{args:?}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Standard output of a run that must succeed with nothing on stderr.
fn ok(db: &Path, args: &[&str]) -> String {
    let out = run(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {:?}\n{stderr}", out.status);
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The one line on stderr of a run that must fail with `code`.
fn fails(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("log-panel: ") && !stderr.contains("panicked"), "{stderr}");
    stderr
}

fn messages(table: &str) -> Vec<String> {
    table.lines().map(|l| l.split_once(": ").map(|(_, m)| m.to_owned()).unwrap_or_default()).collect()
}

fn loggers(ndjson: &str) -> Vec<String> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["logger"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn tail_prints_the_latest_oldest_first_and_neutralises_stored_text() {
    let db = fill();
    let out = ok(&db.path, &["tail"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert!(lines[0].contains(" INFO  old: ancient record"), "{out}");
    assert!(lines[4].contains(" INFO  billing: checkout request_id=r-1"), "{out}");
    // The escape and the NUL are shown, not obeyed; the newline starts an
    // indented line, which no record's line does.
    assert!(lines[5].ends_with("evil: red\\e[31mALERT\\0tail"), "{out}");
    assert_eq!(lines[6], "    second line", "{out}");
    assert!(!out.contains('\x1b') && !out.contains('\0'), "{out:?}");

    let two = ok(&db.path, &["tail", "-n", "2"]);
    assert_eq!(two.lines().filter(|l| !l.starts_with(' ')).count(), 2, "{two}");
    assert!(two.lines().next().unwrap().contains("checkout"), "{two}");

    // Colours only on request when piped; the stored escape stays neutralised.
    let coloured = ok(&db.path, &["--color", "always", "tail", "-n", "1"]);
    assert!(coloured.contains("\x1b[32mINFO "), "{coloured:?}");
    assert!(coloured.contains("red\\e[31mALERT") && !coloured.contains("red\x1b"), "{coloured:?}");
}

#[test]
fn query_filters() {
    check_filters(&fill().path);
}

/// The same command lines against a throwaway PostgreSQL server filled by PgSink.
#[test]
fn postgres_database_by_url() {
    let Some(url) = log_panel_testing::postgres::TestServer::shared_database() else { return };
    let mut sink = log_panel_postgres::PgSink::connect(&url).unwrap();
    fill_into(&mut sink);
    // As a writer's idle steps leave it: no search reads a lagging index.
    while sink.idle().unwrap() {}
    let db = Path::new(&url);
    check_filters(db);
    let out = ok(db, &["query", "--request", "r-1", "--format", "ndjson"]);
    assert_eq!(loggers(&out), ["billing::payments", "billing"]);
    let tail = ok(db, &["tail", "-n", "1"]);
    assert!(tail.contains("evil: red\\e[31mALERT") && !tail.contains('\x1b'), "{tail:?}");
    assert!(ok(db, &["stats"]).starts_with("6 loggers;"));
}

/// PostgreSQL end to end, in two processes beside this test: a writer (this
/// test binary again, with [`WRITER_URL`] set, driving the real `PgSink`)
/// commits records and holds back its idle steps, so the search mark lags;
/// `log-panel query` (the built binary) says so on stderr with the same
/// stdout, and says nothing once the writer's idle steps caught up.
#[test]
fn postgres_a_lagging_search_mark_is_said_by_another_process_until_the_writer_caught_up() {
    if let Ok(url) = std::env::var(WRITER_URL) {
        return writer_process(&url);
    }
    let Some(url) = log_panel_testing::postgres::TestServer::shared_database() else { return };
    let mut writer = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "postgres_a_lagging_search_mark_is_said_by_another_process_until_the_writer_caught_up"])
        .args(["--nocapture", "--test-threads", "1"])
        .env(WRITER_URL, &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(writer.stdout.take().unwrap());
    let mut told = writer.stdin.take().unwrap();
    let mut until = |word: &str| {
        let mut line = String::new();
        // Not `starts_with`: the harness's `test … ... ` precedes the first line.
        while !line.contains(word) {
            line.clear();
            assert!(said.read_line(&mut line).unwrap() > 0, "the writer ended before `{word}`");
        }
    };
    until("written");
    let db = Path::new(&url);
    let search = ["query", "--text", "payment", "--format", "ndjson", "--limit", "1000"];
    let lagging = run(db, &search);
    assert_eq!(lagging.status.code(), Some(0), "{}", String::from_utf8_lossy(&lagging.stderr));
    assert_eq!(
        String::from_utf8(lagging.stderr).unwrap(),
        "log-panel: search index 600 records behind: the newest 600 records are scanned (results stay complete)\n"
    );
    assert_eq!(lagging.stdout.iter().filter(|b| **b == b'\n').count(), 600, "every record, read by the scan");
    let stats = ok(db, &["stats"]);
    assert!(stats.ends_with("search and context-key index 600 records behind: the newest 600 records are scanned (results stay complete)\n"), "{stats}");
    std::io::Write::write_all(&mut told, b"catch up\n").unwrap();
    until("caught up");
    assert!(writer.wait().unwrap().success());
    let caught_up = ok(db, &search);
    assert_eq!(caught_up.as_bytes(), lagging.stdout, "stdout is the same whatever the lag");
    assert!(!ok(db, &["stats"]).contains("index"));
}

/// The variable that makes [`postgres_a_lagging_search_mark_is_said_by_another_process_until_the_writer_caught_up`]
/// the writer process, on the database it names.
const WRITER_URL: &str = "LOG_PANEL_TEST_WRITER_URL";

/// The writer: 600 records in three batches without an idle step (as a
/// writer at capacity leaves its index), `written`; then, told `catch up`
/// on stdin, its idle steps until nothing is left, `caught up`.
fn writer_process(url: &str) {
    let mut sink = log_panel_postgres::PgSink::connect(url).unwrap();
    for batch in 0..3 {
        let records: Vec<Record> =
            (0..200).map(|i| record(Level::Info, "shop", &format!("payment {batch}-{i} taken"), 1)).collect();
        sink.write(&Batch::new(&api(), &records)).unwrap();
    }
    println!("written");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "catch up");
    while sink.idle().unwrap() {}
    println!("caught up");
}

/// `sslmode=require` URLs: the command speaks TLS (feature `tls`, on by default),
/// verifies the server's certificate, and says in one line when TLS is refused.
#[cfg(feature = "tls")]
#[test]
fn postgres_over_tls() {
    let Some(server) = log_panel_testing::postgres::TestServer::start_tls() else { return };
    let ca = server.ca_file().unwrap();
    // A role that pg_hba refuses on plain connections.
    let (_, base) = server.create_tls_database();
    let tls = format!("{base}?sslmode=require&sslrootcert={}", ca.display());
    fill_into(&mut log_panel_postgres::PgSink::connect(&tls).unwrap());
    let tail = ok(Path::new(&tls), &["tail", "-n", "1"]);
    assert!(tail.contains("evil: red"), "{tail}");
    assert_eq!(
        loggers(&ok(Path::new(&tls), &["query", "--format", "ndjson", "--level", "error"])),
        ["billing::payments"]
    );
    // The same role without TLS: the server's refusal, in one line.
    let e = fails(&run(Path::new(&base), &["tail"]), 1);
    assert!(e.contains("no encryption"), "{e}");
    // The system's roots do not know the throwaway CA.
    let e = fails(&run(Path::new(&format!("{base}?sslmode=require")), &["tail"]), 1);
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // A server without TLS, asked for it.
    let Some(plain) = log_panel_testing::postgres::TestServer::shared_database() else { return };
    let e = fails(&run(Path::new(&format!("{plain}?sslmode=require")), &["tail"]), 1);
    assert!(e.to_lowercase().contains("tls"), "{e}");
}

fn check_filters(db: &Path) {
    let q = |args: &[&str]| {
        let mut all = vec!["query", "--format", "ndjson"];
        all.extend_from_slice(args);
        loggers(&ok(db, &all))
    };
    // Conditions no index serves, alone: answered, and said on stderr.
    let walked = |args: &[&str], unindexed: &str| {
        let mut all = vec!["query", "--format", "ndjson"];
        all.extend_from_slice(args);
        loggers(&noted(db, &all, unindexed))
    };
    // Newest first.
    assert_eq!(q(&[]), ["evil", "billing", "billing::payments", "billing::db", "app", "old"]);
    assert_eq!(q(&["--level", "warn"]), ["billing::payments", "billing::db"]);
    assert_eq!(q(&["--level", "error,info"]), ["evil", "billing", "billing::payments", "app", "old"]);
    assert_eq!(q(&["--logger", "billing::"]), ["billing", "billing::payments", "billing::db"]);
    assert_eq!(q(&["--logger", "billing"]), ["billing"]);
    assert_eq!(q(&["--text", "PAYMENT"]), ["billing::payments"]);
    assert_eq!(q(&["--context", "order_id=1234"]), ["billing::payments"]);
    assert_eq!(q(&["--context", "request_id=r-1", "--app", "web"]), ["billing"]);
    assert_eq!(walked(&["--host", "h2"], "host:h2"), ["evil", "billing"]);
    assert_eq!(
        walked(&["--pid", "10", "--level", "info"], "pid:10"),
        ["billing::payments", "billing::db", "app", "old"]
    );
    assert_eq!(q(&["--since", "2h"]), ["evil", "billing", "billing::payments"]);
    assert_eq!(q(&["--since", "7d", "--until", "100m"]), ["billing::db", "app"]);
    assert_eq!(q(&["--logger", "billing::", "--level", "warn", "--since", "1d"]), ["billing::payments", "billing::db"]);
    assert_eq!(q(&["--limit", "2"]), ["evil", "billing"]);
    assert!(q(&["--text", "nothing like this"]).is_empty());
    // Call sites: every record is in src/service.rs, at line 10 + minutes ago.
    assert_eq!(walked(&["--site", "src/service.rs:130"], "file:src/service.rs:130"), ["billing::db"]);
    assert_eq!(
        q(&["--site", "src/service.rs", "--logger", "billing::"]),
        ["billing", "billing::payments", "billing::db"]
    );
    assert_eq!(q(&["--site", "src/service.rs:100", "--logger", "billing::payments"]), ["billing::payments"]);
    assert!(q(&["--site", "src/service.rs:100", "--logger", "billing"]).is_empty());
    assert!(walked(&["--site", "src/other.rs"], "file:src/other.rs").is_empty());
    let tail = noted(db, &["tail", "--site", "src/service.rs:20"], "file:src/service.rs:20");
    assert_eq!(tail.lines().count(), 2, "the record and its message's second line: {tail}");
    assert!(tail.contains("evil: red"), "{tail}");
    assert_eq!(loggers(&noted(db, &["export", "--site", "src/service.rs:190"], "file:src/service.rs:190")), ["app"]);
}

#[test]
fn query_formats() {
    let db = fill();
    let json: serde_json::Value =
        serde_json::from_str(&ok(&db.path, &["query", "--format", "json", "--level", "error"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["logger"], "billing::payments");
    assert_eq!(r["level"], "error");
    assert_eq!(r["message"], "payment failed");
    assert_eq!(r["app"], "api");
    assert_eq!(r["pid"], 10);
    assert_eq!(r["file"], "src/service.rs");
    assert_eq!(r["context"]["order_id"], 1234);
    assert_eq!(r["context"]["request_id"], "r-1");
    assert!(r["ts"].as_str().unwrap().ends_with("+00:00"), "the local zone is UTC here: {r}");
    let empty = ok(&db.path, &["query", "--format", "json", "--text", "nope"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&empty).unwrap(), serde_json::json!([]));

    // JSON keeps the stored text exactly, escaped as JSON.
    let evil = ok(&db.path, &["query", "--format", "ndjson", "--logger", "evil"]);
    assert!(!evil.contains('\x1b') && evil.contains("\\u001b[31m"), "{evil}");
    let v: serde_json::Value = serde_json::from_str(evil.trim()).unwrap();
    assert_eq!(v["message"], "red\x1b[31mALERT\0tail\nsecond line");

    // CSV: a header, one row per record, the message (newline included) round-trips.
    let csv_text = ok(&db.path, &["query", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().take(5).collect::<Vec<_>>(),
        ["id", "ts", "level", "logger", "message"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(&rows[0][4], "red\x1b[31mALERT\0tail\nsecond line");
    assert_eq!(&rows[2][3], "billing::payments");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&rows[2][12]).unwrap()["order_id"], 1234);

    // Table: one line per record, newest first.
    let table = ok(&db.path, &["query", "--level", "warn"]);
    assert_eq!(messages(&table), ["payment failed order_id=1234 request_id=r-1", "slow query ms=250"]);
}

#[test]
fn times_are_shown_in_the_local_zone_unless_utc() {
    let db = fill();
    let out =
        cmd(&db.path).env("TZ", "Asia/Kolkata").args(["query", "--format", "ndjson", "--limit", "1"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["ts"].as_str().unwrap().ends_with("+05:30"), "{v}");
    let out = cmd(&db.path)
        .env("TZ", "Asia/Kolkata")
        .args(["--utc", "query", "--format", "ndjson", "--limit", "1"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["ts"].as_str().unwrap().ends_with('Z'), "{v}");
}

/// `log-panel ARGS` on `db` with its stdout on a terminal (a pseudo-terminal
/// opened here; stderr piped): the exit status, stderr, and what reached the
/// terminal (its line ends as the terminal made them, `\r\n`).
#[cfg(unix)]
fn on_terminal(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::io::Read;
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    let out = cmd(db).args(args).stdout(Stdio::from(terminal)).stderr(Stdio::piped()).output().unwrap();
    // Every end of the terminal is closed now: the master reads what the
    // command wrote, then fails (EIO) instead of waiting for more.
    let mut shown = Vec::new();
    let mut master = std::fs::File::from(master);
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = master.read(&mut chunk) {
        shown.extend_from_slice(&chunk[..n]);
    }
    (out.status.code(), String::from_utf8(out.stderr).unwrap(), String::from_utf8(shown).unwrap())
}

/// `query` with nothing to show says so on stderr when its output is a
/// terminal (an empty screen looks like a command that failed); piped, it
/// prints nothing at all, as before. Exit 0 either way.
#[cfg(unix)]
#[test]
fn query_on_a_terminal_says_when_no_record_matches() {
    let db = fill();
    let none = "log-panel: no records match\n";
    for args in [
        &["query", "--text", "nothing like this"][..],
        &["query", "--format", "json", "--level", "error", "--logger", "app"],
        &["query", "--request", "r-unknown"],
    ] {
        let (code, stderr, shown) = on_terminal(&db.path, args);
        assert_eq!((code, stderr.as_str()), (Some(0), none), "{args:?}");
        assert!(!shown.contains("billing"), "{args:?}: {shown:?}");
        // Piped: nothing on stderr (`ok` asserts it), the same stdout.
        let piped = ok(&db.path, args);
        assert_eq!(shown.replace("\r\n", "\n"), piped, "{args:?}");
    }
    // Records shown: no such line.
    let (code, stderr, shown) = on_terminal(&db.path, &["query", "--logger", "billing::"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert_eq!(shown.lines().count(), 3, "{shown:?}");
    let (code, stderr, shown) = on_terminal(&db.path, &["query", "--request", "r-1"]);
    assert_eq!((code, stderr.as_str(), shown.lines().count()), (Some(0), "", 2), "{shown:?}");
}

#[test]
fn request_view_is_in_time_order_across_apps() {
    let db = fill();
    let out = ok(&db.path, &["query", "--request", "r-1", "--format", "ndjson"]);
    assert_eq!(loggers(&out), ["billing::payments", "billing"]);
    let apps: Vec<String> =
        out.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["app"].to_string()).collect();
    assert_eq!(apps, ["\"api\"", "\"web\""]);
    assert!(ok(&db.path, &["query", "--request", "r-unknown"]).is_empty());
    // --request is its own view: other filters are refused, not silently ignored.
    fails(&run(&db.path, &["query", "--request", "r-1", "--level", "warn"]), 2);
}

#[test]
fn stats_shows_cards_with_a_timeline() {
    let db = fill();
    write(&db.path, &api(), &[record(Level::Warn, "billing::db", "slow again", 0)]);
    let out = ok(&db.path, &["stats"]);
    let card = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_owned()
    };
    let payments: Vec<String> = card("billing::payments").split_whitespace().map(str::to_owned).collect();
    // total, errors, warnings, then the last hour (the error is 90 min old: none).
    assert_eq!(&payments[1..6], ["1", "1", "0", "0", "0"], "{out}");
    let timeline = payments.last().unwrap();
    assert_eq!(timeline.chars().count(), 24, "{out}");
    assert_eq!(timeline.matches('E').count(), 1, "{out}");
    assert_eq!(timeline.matches('.').count(), 23, "{out}");
    let db_card = card("billing::db");
    let tokens: Vec<&str> = db_card.split_whitespace().collect();
    assert_eq!(&tokens[1..6], ["2", "0", "2", "0", "1"], "the fresh warning is in the last hour: {db_card}");
    assert!(db_card.split_whitespace().last().unwrap().contains('W'), "{db_card}");
    assert!(out.starts_with("6 loggers;"), "{out}");

    let days = ok(&db.path, &["stats", "--range", "90d", "--errors"]);
    assert!(days.starts_with("1 loggers;"), "{days}");
    let line = days.lines().find(|l| l.starts_with("billing::payments")).unwrap();
    let cells = line.split_whitespace().last().unwrap();
    assert_eq!(cells.chars().count(), 90);
    assert!(cells.ends_with('E') || cells.ends_with("E."), "{cells}");

    let out = ok(&db.path, &["--color", "always", "stats"]);
    assert!(out.contains("\x1b[31m█"), "{out}");
    fails(&run(&db.path, &["stats", "--range", "3w"]), 2);
}

#[test]
fn sites_lists_call_sites_with_counts() {
    let db = fill();
    let mut more = Vec::new();
    for _ in 0..3 {
        more.push(record(Level::Error, "billing::payments", "payment failed again", 5));
    }
    write(&db.path, &api(), &more);
    let out = ok(&db.path, &["sites", "--since", "1h"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("CALL SITE"), "{out}");
    assert_eq!(lines.len(), 3, "two sites in the last hour: {out}");
    let top: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&top[..3], ["3", "3", "0"], "{out}");
    assert_eq!(&top[5..], ["billing::payments", "src/service.rs:15", "payment", "failed", "again"], "{out}");
    assert!(lines[2].contains("evil"), "{out}");
    let none = ok(&db.path, &["sites", "--since", "1m"]);
    assert_eq!(none, "no records in this window\n");
}

#[test]
fn prune_dry_run_then_for_real_then_rebuild() {
    let db = fill();
    let dry = ok(&db.path, &["prune", "--older-than", "90d", "--dry-run"]);
    assert!(dry.starts_with("would delete 1 records older than "), "{dry}");
    assert_eq!(loggers(&ok(&db.path, &["query", "--format", "ndjson"])).len(), 6, "a dry run deletes nothing");
    let done = ok(&db.path, &["prune", "--older-than", "90d", "--batch-size", "10"]);
    assert!(done.starts_with("deleted 1 records older than ") && done.contains("batches"), "{done}");
    let left = loggers(&ok(&db.path, &["query", "--format", "ndjson"]));
    assert_eq!(left.len(), 5);
    assert!(!left.contains(&"old".to_owned()));
    assert!(ok(&db.path, &["stats"]).starts_with("5 loggers;"), "aggregates follow the prune");

    let rebuilt = ok(&db.path, &["rebuild"]);
    assert!(rebuilt.starts_with("rebuilt the aggregates of "), "{rebuilt}");
    assert!(ok(&db.path, &["stats"]).starts_with("5 loggers;"));
    fails(&run(&db.path, &["prune"]), 2);
    fails(&run(&db.path, &["prune", "--older-than", "90d", "--batch-size", "0"]), 2);
}

#[test]
fn export_streams_every_matching_record() {
    let db = fill();
    // More than one page of the export's walk.
    let many: Vec<Record> = (0..2100).map(|i| record(Level::Debug, "bulk", &format!("bulk {i}"), 30)).collect();
    write(&db.path, &web(), &many);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.ndjson");
    let out = run(&db.path, &["export", "--logger", "bulk", "-o", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("log-panel: exported 2100 records to {}\n", file.display())
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let mut seen: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen.len(), 2100);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 2100, "every record exactly once");

    let csv_text = ok(&db.path, &["export", "--format", "csv", "--level", "warn"]);
    let rows: Vec<csv::StringRecord> =
        csv::Reader::from_reader(csv_text.as_bytes()).records().map(Result::unwrap).collect();
    assert_eq!(rows.iter().map(|r| r[3].to_owned()).collect::<Vec<_>>(), ["billing::payments", "billing::db"]);
    let nd = ok(&db.path, &["export", "--since", "2h", "--logger", "billing::"]);
    assert_eq!(loggers(&nd), ["billing", "billing::payments"]);
}

#[test]
fn errors_are_one_line_and_a_failure_status() {
    let db = fill();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let e = fails(&run(&missing, &["tail"]), 1);
    assert!(e.contains("missing.db"), "{e}");
    assert!(!missing.exists(), "a reader never creates a database");

    let e = fails(&run(Path::new("postgres://nobody:s3cret@127.0.0.1:1/logs"), &["tail"]), 1);
    assert!(!e.contains("s3cret"), "{e}");

    for bad in [
        &["query", "--level", "loud"][..],
        &["query", "--context", "no_equals_sign"],
        &["query", "--logger", "::"],
        &["query", "--since", "yesterday"],
        &["query", "--format", "xml"],
        &["query", "--limit", "0"],
        &["tail", "--pid", "-3"],
        &["tail", "--site", ":7"],
        &["export", "--site", "src/a.rs:99999999999"],
        &["query", "--request", "r-1", "--site", "src/a.rs:1"],
        &["frobnicate"],
    ] {
        let e = fails(&run(&db.path, bad), 2);
        assert!(e.contains("see --help"), "{bad:?}: {e}");
    }
    for grep in [&["query", "--grep", "timeout"][..], &["tail", "--grep=timeout"], &["export", "--grep"]] {
        let e = fails(&run(&db.path, grep), 2);
        assert_eq!(e.trim_end(), "log-panel: --grep is not a flag: use --text TEXT (see --help)", "{grep:?}");
    }
    let e = fails(&run(&db.path, &["query", "--since", "1h", "--until", "2h"]), 2);
    assert!(e.contains("--since must be before --until"), "{e}");

    // A database written by a newer log-panel.
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let e = fails(&run(&db.path, &["query"]), 1);
    assert!(e.contains("newer"), "{e}");

    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    fails(&run(&junk, &["stats"]), 1);

    // An error message never carries raw escapes from its input.
    let e = fails(&run(&db.path, &["query", "--since", "\x1b[2J"]), 2);
    assert!(!e.contains('\x1b'), "{e:?}");
}

#[test]
fn database_from_environment_and_configuration() {
    let db = fill();
    let bin = env!("CARGO_BIN_EXE_log-panel");
    let dir = tempfile::tempdir().unwrap();
    let bare = || {
        let mut c = Command::new(bin);
        c.current_dir(dir.path()).env("TZ", "UTC").env_remove("LOG_PANEL_DATABASE_URL").env_remove("LOG_PANEL_CONFIG");
        c
    };
    // Default: ./log_panel.db, which does not exist here.
    let e = fails(&bare().args(["tail"]).output().unwrap(), 1);
    assert!(e.contains("log_panel.db"), "{e}");
    // ./log_panel.toml's `database`.
    std::fs::write(dir.path().join("log_panel.toml"), format!("database = {:?}\n", db.path.to_str().unwrap())).unwrap();
    let out = bare().args(["tail", "-n", "1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("evil"), "{out:?}");
    // $LOG_PANEL_DATABASE_URL wins over the file (a sqlite: prefix is accepted).
    let elsewhere = dir.path().join("elsewhere.db");
    let e = fails(
        &bare()
            .env("LOG_PANEL_DATABASE_URL", format!("sqlite:{}", elsewhere.display()))
            .args(["tail"])
            .output()
            .unwrap(),
        1,
    );
    assert!(e.contains("elsewhere.db"), "{e}");
    // A broken configuration names its line.
    std::fs::write(dir.path().join("log_panel.toml"), "databse = \"x\"\n").unwrap();
    let e = fails(&bare().args(["tail"]).output().unwrap(), 1);
    assert!(e.contains("line 1") && e.contains("databse"), "{e}");
}

/// Starts `args` (a `tail -f`) with its output lines sent to the receiver as they come.
fn follow(db: &Path, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = cmd(db).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[test]
fn tail_follow_prints_records_committed_after_it_started() {
    let db = fill();
    let (mut child, rx) = follow(&db.path, &["tail", "-f", "-n", "1", "--level", "warn"]);
    let wait = Duration::from_secs(10);
    let first = rx.recv_timeout(wait).expect("the latest matching record");
    assert!(first.contains("payment failed"), "{first}");
    // Printed after its start: an info record (filtered out) and a warning.
    write(
        &db.path,
        &web(),
        &[record(Level::Info, "live", "not shown", 0), record(Level::Warn, "live", "disk almost full", 0)],
    );
    let next = rx.recv_timeout(wait).expect("the new warning within the timeout");
    assert!(next.contains("WARN  live: disk almost full"), "{next}");
    assert!(rx.recv_timeout(Duration::from_millis(600)).is_err(), "nothing else");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Two writers' batches, each holding its records of the last two seconds
/// (a flush interval), committed alternately: by id their times go back.
/// `seq` numbers the records in time order; messages are `w<pid> #<seq>`.
fn two_writer_batches(first_at: i64, batches: usize) -> Vec<(Origin, Vec<Record>)> {
    let mut out = Vec::new();
    for b in 0..batches {
        let pid = 1 + (b % 2) as u32;
        let records = (0..10)
            .map(|i| {
                // Writer 1 takes the even 100 ms steps, writer 2 the odd ones.
                let step = (b / 2) * 20 + i * 2 + (pid as usize - 1);
                let mut r = Record::new(Level::Info, "multi", format!("w{pid} #{step}"));
                r.timestamp = Timestamp(first_at + step as i64 * 100_000);
                r
            })
            .collect();
        out.push((Origin::new("api", format!("h{pid}"), pid), records));
    }
    out
}

/// Commits `batches` batches in turn from two writers, every 500 ms, each
/// with its records of the last second (one per 100 ms): by id their times
/// go back. Messages are `w<pid> #<time in µs>`; returns how many records.
fn write_as_two_writers(db: &Path, batches: usize) -> usize {
    let mut total = 0;
    for b in 0..batches {
        if b > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        let pid = 1 + (b % 2) as u32;
        let now = Timestamp::now().0;
        let records: Vec<Record> = (0..10)
            .rev()
            .map(|j| {
                let ts = now - j * 100_000 + i64::from(pid);
                let mut r = Record::new(Level::Info, "multi", format!("w{pid} #{ts}"));
                r.timestamp = Timestamp(ts);
                r
            })
            .collect();
        total += records.len();
        write(db, &Origin::new("api", format!("h{pid}"), pid), &records);
    }
    total
}

/// The `#<n>` of each printed record line.
fn seqs(lines: &[String]) -> Vec<i64> {
    lines.iter().filter_map(|l| l.rsplit_once(" #").and_then(|(_, n)| n.trim().parse().ok())).collect()
}

#[test]
fn tail_prints_the_latest_by_time_across_writers() {
    let db = fill();
    for (origin, records) in two_writer_batches(Timestamp::now().0 - 5 * MINUTE, 4) {
        write(&db.path, &origin, &records);
    }
    let out = ok(&db.path, &["tail", "-n", "15", "--logger", "multi"]);
    let lines: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(seqs(&lines), (25..40).collect::<Vec<i64>>(), "the newest 15 by time, oldest first: {out}");
}

#[test]
fn tail_follow_prints_two_writers_in_time_order_each_once() {
    let db = fill();
    let (mut child, rx) = follow(&db.path, &["tail", "-f", "-n", "0", "--logger", "multi"]);
    // Let it read its starting point, then commit batches as two writers
    // would: every 500 ms in turn, each with its records of the last second.
    std::thread::sleep(Duration::from_millis(500));
    let total = write_as_two_writers(&db.path, 8);
    let mut lines = Vec::new();
    while lines.len() < total {
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    assert!(rx.recv_timeout(Duration::from_millis(600)).is_err(), "nothing else");
    child.kill().unwrap();
    child.wait().unwrap();
    let times = seqs(&lines);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "in time order, each once: {lines:#?}");
    assert_eq!(times.len(), total, "every record: {lines:#?}");
}

#[cfg(unix)]
#[test]
fn tail_follow_exits_zero_on_ctrl_c() {
    let db = fill();
    let mut child = cmd(&db.path).args(["tail", "-f", "-n", "1"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("evil"), "{first}");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Starts `serve` on a free port with `config` as $LOG_PANEL_CONFIG, and returns the home page.
fn serve_home(db: &Path, config: Option<&Path>) -> String {
    serve_home_with(db, config, &[])
}

/// [`serve_home`] with more arguments to `serve`.
fn serve_home_with(db: &Path, config: Option<&Path>, args: &[&str]) -> String {
    serve_get(db, config, args, "/")
}

/// Starts `serve` on a free port with `config` as $LOG_PANEL_CONFIG and
/// `args`, and returns the (200) response to a GET of `path`.
fn serve_get(db: &Path, config: Option<&Path>, args: &[&str], path: &str) -> String {
    use std::io::{Read, Write};
    let mut command = cmd(db);
    command.env_remove("LOG_PANEL_CONFIG").current_dir(db.parent().unwrap());
    if let Some(config) = config {
        command.env("LOG_PANEL_CONFIG", config);
    }
    command.args(["serve", "--bind", "127.0.0.1:0"]).args(args);
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[test]
fn serve_runs_the_web_panel_over_the_database() {
    let db = fill();
    let response = serve_home(&db.path, None);
    assert!(response.contains("billing::payments"), "the dashboard shows the stored loggers: {response}");
    // billing::payments' one error (90 minutes ago) makes its slot red by default.
    assert!(response.contains("slot s-error"), "{response}");

    // Logs are not served to the network without credentials.
    let e = fails(&run(&db.path, &["serve", "--bind", "0.0.0.0:0"]), 1);
    assert!(e.contains("without authentication"), "{e}");
}

/// The niceness of every thread of process `pid` (Linux's /proc), from
/// field 19 of each `task/*/stat` (after the parenthesised name).
#[cfg(target_os = "linux")]
fn niceness_of_threads(pid: u32) -> Vec<i64> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| {
            let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            after_name.split(' ').nth(16).unwrap().parse().unwrap()
        })
        .collect()
}

/// `serve` runs every thread 10 nicer than it was started (`--nice`), so
/// beside an application on the same host the panel takes the CPU its
/// writer leaves; `--nice 0` keeps the priority; 20 is refused.
#[cfg(target_os = "linux")]
#[test]
fn serve_lowers_its_own_priority() {
    let db = fill();
    let started_at = niceness_of_threads(std::process::id())[0];
    for (args, want) in [(&[][..], (started_at + 10).min(19)), (&["--nice", "0"][..], started_at)] {
        let mut child = cmd(&db.path)
            .env_remove("LOG_PANEL_CONFIG")
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Serving: the store, the runtime and its workers have started.
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.contains("serving the panel"), "{first}");
        let nice = niceness_of_threads(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(nice.len() > 1, "the runtime's threads too: {nice:?}");
        assert!(nice.iter().all(|&n| n == want), "{args:?}: every thread at {want}: {nice:?}");
    }
    let e = fails(&run(&db.path, &["serve", "--nice", "20"]), 2);
    assert!(e.contains("--nice"), "{e}");
}

/// `serve --store-calls N` bounds the panel's store reads at once; 0 (no
/// read could ever run) is refused with a usage error naming the flag.
#[test]
fn serve_refuses_zero_store_calls() {
    let db = fill();
    let e = fails(&run(&db.path, &["serve", "--bind", "127.0.0.1:0", "--store-calls", "0"]), 2);
    assert!(e.contains("--store-calls"), "{e}");
}

#[test]
fn serve_colours_slots_by_the_configured_thresholds() {
    let db = fill();
    let config = db.path.with_file_name("log_panel.toml");
    std::fs::write(&config, "[alerts]\nerror = 3\nwarn = 2\n").unwrap();
    let response = serve_home(&db.path, Some(&config));
    assert!(response.contains("billing::payments"), "{response}");
    // One error and one warning per slot, under thresholds of 3 and 2: no red, no amber slot.
    assert!(!response.contains("slot s-error") && !response.contains("slot s-warn"), "{response}");
    assert!(response.contains("slot s-ok"), "{response}");

    std::fs::write(&config, "[alerts]\nerror = 1\nwarn = \"off\"\n").unwrap();
    let response = serve_home(&db.path, Some(&config));
    assert!(response.contains("slot s-error") && response.contains("slot s-warn"), "off keeps the default: {response}");

    std::fs::write(&config, "[alerts]\nerror = -1\n").unwrap();
    let e = fails(&cmd(&db.path).env("LOG_PANEL_CONFIG", &config).args(["serve"]).output().unwrap(), 1);
    assert!(e.contains("alerts.error"), "{e}");
}

#[test]
fn serve_judges_a_logger_by_its_panel_thresholds() {
    let db = fill();
    let config = db.path.with_file_name("log_panel.toml");
    // billing::payments' one error is red by default, and only its own.
    std::fs::write(&config, "[panel.loggers]\n\"billing\" = { error = 2 }\n").unwrap();
    let response = serve_home(&db.path, Some(&config));
    let card = |name: &str| -> String {
        let tag = format!(">{name}<");
        response
            .split("<article class=\"card\">")
            .find(|c| c.contains(&tag))
            .unwrap_or_else(|| panic!("{response}"))
            .to_owned()
    };
    let payments = card("billing::payments");
    assert!(!payments.contains("slot s-error") && payments.contains("slot s-ok"), "{payments}");

    // The flag gives the same, without a file; a bad one is a usage error.
    let response = serve_home_with(&db.path, None, &["--logger-threshold", "billing::payments=2/5"]);
    let payments = response.split(">billing::payments<").nth(1).unwrap_or_else(|| panic!("{response}"));
    let payments = payments.split("</article>").next().unwrap();
    assert!(!payments.contains("slot s-error") && payments.contains("slot s-ok"), "{payments}");
    let e = fails(&run(&db.path, &["serve", "--logger-threshold", "billing=0"]), 2);
    assert!(e.contains("`0` is not a count of at least 1"), "{e}");

    std::fs::write(&config, "[panel.loggers]\n\"billing\" = { error = 0 }\n").unwrap();
    let e = fails(&cmd(&db.path).env("LOG_PANEL_CONFIG", &config).args(["serve"]).output().unwrap(), 1);
    assert!(e.contains("line 2, key `panel.loggers.billing.error`"), "{e}");
}

/// The command reads `filter.directives` with the writer's grammar (without
/// the writer's `env_filter`): a directive the writer would refuse is a
/// configuration error naming the key and the line, one the writer takes is
/// served.
#[test]
fn a_bad_filter_directive_in_the_configuration_names_its_key_and_line() {
    let db = fill();
    let config = db.path.with_file_name("log_panel.toml");
    std::fs::write(&config, "[filter]\ndirectives = \"info,billing=loud\"\n").unwrap();
    let e = fails(&cmd(&db.path).env("LOG_PANEL_CONFIG", &config).args(["serve"]).output().unwrap(), 1);
    assert!(e.contains("line 2, key `filter.directives`") && e.contains("`loud` is not a level"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    std::fs::write(&config, "[filter]\ndirectives = \"info,billing=OFF,noisy/payment\"\n").unwrap();
    let response = serve_home(&db.path, Some(&config));
    assert!(response.contains("billing::payments"), "{response}");
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Every command, pointed at an application's own SQLite file (rollback
/// journal, a `customers` table) or at an empty file, fails with one line
/// saying it is not a log-panel database, and leaves the file byte for byte
/// as it was, with no `-wal`, `-shm` or `-journal` beside it.
#[test]
fn every_command_refuses_a_foreign_or_empty_file_and_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.db");
    let conn = rusqlite::Connection::open(&app).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO customers (name) VALUES ('Ada'), ('Grace');",
    )
    .unwrap();
    drop(conn);
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let export = dir.path().join("out.ndjson");
    let export = export.to_str().unwrap();
    let files = listing(dir.path());
    assert_eq!(files, ["app.db", "empty.db"]);
    let commands: [&[&str]; 12] = [
        &["query"],
        &["query", "--request", "r-1"],
        &["tail"],
        &["tail", "-f"],
        &["stats"],
        &["sites"],
        &["export"],
        &["export", "-o", export],
        &["prune", "--older-than", "1d", "--dry-run"],
        &["prune", "--older-than", "1d"],
        &["rebuild"],
        &["migrate"],
    ];
    for (path, says) in [(&app, "is not a log-panel database (no log_records table)"), (&empty, "is empty")] {
        let before = std::fs::read(path).unwrap();
        for args in commands {
            let e = fails(&run(path, args), 1);
            assert!(e.contains(says) && e.contains(&path.display().to_string()), "{args:?}: {e}");
            assert_eq!(std::fs::read(path).unwrap(), before, "{args:?} left {} unchanged", path.display());
            assert_eq!(listing(dir.path()), files, "{args:?} left no file beside it");
        }
        let mut serve = cmd(path);
        serve.args(["serve", "--bind", "127.0.0.1:0"]).stdin(Stdio::null());
        fails(&serve.output().unwrap(), 1);
        assert_eq!(std::fs::read(path).unwrap(), before);
        assert_eq!(listing(dir.path()), files, "serve left no file beside it");
    }
}

/// A database of an older log-panel is read by no reader until it is
/// migrated by its writer or by `log-panel migrate`.
#[test]
fn an_older_database_is_refused_until_log_panel_migrate() {
    let db = fill();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    conn.execute_batch(
        "DROP TABLE log_context_state; DROP TABLE log_context_index; DROP TABLE log_context_all;
         DROP INDEX log_records_warn_ts; DROP INDEX log_records_warn_logger_ts; DROP TABLE log_site_hourly;
         DROP TABLE log_site_daily; DROP TABLE log_site_weekly; DROP TABLE log_id_times;
         PRAGMA user_version = 3",
    )
    .unwrap();
    drop(conn);
    let e = fails(&run(&db.path, &["query"]), 1);
    assert!(e.contains("older log-panel") && e.contains("log-panel migrate"), "{e}");
    let out = ok(&db.path, &["migrate"]);
    let now = log_panel_sqlite::SCHEMA_VERSION;
    assert!(out.contains(&format!("from schema version 3 to {now}")), "{out}");
    assert_eq!(loggers(&ok(&db.path, &["query", "--format", "ndjson"])).len(), 6);
    assert!(ok(&db.path, &["migrate"]).contains(&format!("already at schema version {now}")));
}

/// A store's errors are one line with a failure status: a filter past its
/// caps (status 2, as other bad arguments), a read past its time budget and
/// a database that cannot be opened (status 1).
#[test]
fn store_errors_are_one_line_with_a_failure_status() {
    let db = fill();
    let mut args: Vec<String> = vec!["query".into()];
    for i in 0..=16 {
        args.extend(["--context".into(), format!("k{i}=v")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = fails(&run(&db.path, &args), 2);
    assert!(e.contains("17 context conditions: a filter holds at most 16"), "{e}");
    let e = fails(&run(&db.path, &["query", "--text", &"x".repeat(5_000)]), 2);
    assert!(e.contains("longer than the 4096"), "{e}");

    // 200 000 records searched for a 2-letter term (a scan) within 1 ms.
    let big = tempfile::tempdir().unwrap();
    let path = big.path().join("big.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    for chunk in 0..20 {
        let records: Vec<Record> =
            (0..10_000).map(|i| Record::new(Level::Info, "big", format!("message {chunk} {i}"))).collect();
        sink.write(&Batch::new(&api(), &records)).unwrap();
    }
    drop(sink);
    for args in [
        &["--read-timeout", "1ms", "query", "--text", "zz"][..],
        &["--read-timeout", "1ms", "sites", "--text", "zz", "--since", "1d"],
    ] {
        let e = fails(&run(&path, args), 1);
        assert!(e.contains("time budget"), "{args:?}: {e}");
    }
    // Unindexed (no idle step ran): the scan is said, past the count's cap as the span of ids.
    let scanned = run(&path, &["--read-timeout", "60s", "query", "--text", "zz"]);
    assert!(scanned.status.success() && scanned.stdout.is_empty());
    assert_eq!(
        String::from_utf8(scanned.stderr).unwrap(),
        "log-panel: search index about 200\u{202f}000 records behind: the newest records above it, \
         about 200\u{202f}000 records, are scanned (results stay complete)\n"
    );
    fails(&run(&path, &["--read-timeout", "soon", "query"]), 2);

    let e = fails(&run(&big.path().join("nope.db"), &["query"]), 1);
    assert!(e.contains("nope.db"), "{e}");
}

/// Each line `reader` gives, sent as it comes (the channel closes with the stream).
fn line_channel(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines from `rx` until `done` holds for what was read, or panics after `within`.
fn read_until(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, within: Duration, done: impl Fn(&[String]) -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done(seen) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("after {} lines ({e:?}); the last: {:?}", seen.len(), seen.last()),
        }
    }
}

/// How many of `lines` end in `: {prefix}{i}` for each i, as a sorted list of (i, count).
fn numbered(lines: &[String], prefix: &str) -> std::collections::BTreeMap<usize, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for l in lines {
        if let Some(n) = l.rsplit_once(": ").and_then(|(_, m)| m.strip_prefix(prefix)).and_then(|n| n.parse().ok()) {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

/// `tail -f` on PostgreSQL (partitioned by day) stopped mid-tail: it says so
/// once on stderr, keeps trying, and once the server is back prints every
/// record once, those written before the outage and after it, and is still
/// running. Meanwhile the lookups of one request, a context value and a word
/// fail with one line and status 1.
#[test]
fn tail_follow_survives_a_postgresql_restart() {
    use log_panel_testing::postgres::TestServer;
    let Some(server) = TestServer::start_stoppable("tail_follow_survives_a_postgresql_restart") else { return };
    let url = server.create_database();
    let batch = |from: usize, n: usize| -> Vec<Record> {
        (from..from + n).map(|i| record(Level::Info, "live", &format!("rec {i}"), 0)).collect()
    };
    let mut sink = log_panel_postgres::PgSink::connect(&format!("{url}?partition=day")).unwrap();
    sink.write(&Batch::new(&api(), &[record(Level::Info, "live", "ready", 0)])).unwrap();
    let mut child = cmd(Path::new(&url))
        .args(["tail", "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = line_channel(child.stdout.take().unwrap());
    let err = line_channel(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let wait = Duration::from_secs(30);
    read_until(&out, &mut lines, wait, |l| l.iter().any(|l| l.ends_with(": ready")));

    const N: usize = 600;
    const M: usize = 700;
    for from in (0..N).step_by(200) {
        sink.write(&Batch::new(&api(), &batch(from, 200))).unwrap();
    }
    read_until(&out, &mut lines, wait, |l| numbered(l, "rec ").len() == N);
    drop(sink);

    server.stop_server();
    let mut errors = Vec::new();
    read_until(&err, &mut errors, wait, |e| !e.is_empty());
    assert!(
        errors[0].starts_with("log-panel: storage unavailable: ") && errors[0].ends_with("; retrying"),
        "{errors:?}"
    );
    assert!(child.try_wait().unwrap().is_none(), "still running while the server is down: {errors:?}");
    for args in
        [&["query", "--request", "r-1"][..], &["query", "--context", "request_id=r-1"], &["query", "--text", "rec 5"]]
    {
        let e = fails(&run(Path::new(&url), args), 1);
        assert!(e.contains("cannot connect to PostgreSQL"), "{args:?}: {e}");
    }
    server.start_server();

    let mut sink = log_panel_postgres::PgSink::connect(&url).unwrap();
    for from in (N..N + M).step_by(350) {
        sink.write(&Batch::new(&api(), &batch(from, 350))).unwrap();
    }
    read_until(&out, &mut lines, wait, |l| numbered(l, "rec ").len() == N + M);
    // Give a repeat the time of a few polls to show up.
    while let Ok(line) = out.recv_timeout(Duration::from_millis(1500)) {
        lines.push(line);
    }
    let counts = numbered(&lines, "rec ");
    assert_eq!(counts.len(), N + M, "every record");
    assert!(counts.values().all(|&c| c == 1), "each exactly once: {:?}", counts.iter().find(|(_, &c)| c != 1));
    assert_eq!(lines.len(), N + M + 1, "nothing else on stdout");
    assert!(child.try_wait().unwrap().is_none(), "still following after the restart");
    read_until(&err, &mut errors, wait, |e| e.iter().any(|e| e == "log-panel: storage available again; following"));
    assert_eq!(errors.len(), 2, "one line when it fails, one when it is back: {errors:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A logger name of 120 characters: tables must show it whole.
const LONG_LOGGER: &str = "payments_gateway::adapters::upstream_providers::stripe_compatible::webhooks::signature_verification::retry_with_backoffs";

/// Records with the strings that break terminal output: a multi-line error
/// chain (LF and CRLF), values with spaces, quotes, `=` and backslashes, an
/// empty value, a 120-character logger, `<script>` and ESC sequences.
fn fill_hostile(path: &Path) {
    assert_eq!(LONG_LOGGER.len(), 120);
    let mut chain = record(
        Level::Error,
        "api::db",
        "query failed\ncaused by: connection reset\r\ncaused by: os error 104 \x1b[2J",
        30,
    );
    chain.kv.push(("user_agent".into(), "Mozilla/5.0 (Macintosh; Intel Mac OS X)".into()));
    chain.kv.push(("user_id".into(), "u-42".into()));
    chain.kv.push(("quote".into(), "say \"hi\"".into()));
    chain.kv.push(("eq".into(), "a=b".into()));
    chain.kv.push(("path".into(), "C:\\temp\\new".into()));
    chain.kv.push(("empty".into(), "".into()));
    chain.kv.push(("nl".into(), "x\ny\x1b[0m".into()));
    chain.kv.push(("status".into(), 503i64.into()));
    let mut long = record(Level::Warn, LONG_LOGGER, "<script>alert(1)</script>", 20);
    long.file = Some("src/a_much_longer_file_name_for_the_column.rs".into());
    long.line = Some(7);
    let short = record(Level::Info, "web", "ok", 10);
    write(path, &api(), &[chain, long, short]);
}

fn hostile() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.db");
    fill_hostile(&path);
    Db { _dir: dir, path }
}

/// Writes the hostile database to `$LOG_PANEL_HOSTILE_DB`, for looking at
/// the commands in a real terminal (docs/cli.md).
#[test]
#[ignore = "a tool: LOG_PANEL_HOSTILE_DB=/tmp/h.db (or LOG_PANEL_WIDE_DB=…) cargo test -p log-panel-cli --test cli -- --ignored"]
fn write_the_hostile_database() {
    if let Some(path) = std::env::var_os("LOG_PANEL_HOSTILE_DB") {
        fill_hostile(Path::new(&path));
    }
    if let Some(path) = std::env::var_os("LOG_PANEL_WIDE_DB") {
        fill_hostile(Path::new(&path));
        fill_wide(Path::new(&path));
    }
}

/// What a terminal lays out wider or backwards: CJK and emoji (two columns
/// each), right-to-left text behind a U+202E override, a 200-character token,
/// a multi-line message, in messages, loggers and values.
fn fill_wide(path: &Path) {
    let token = format!("tok_{}", "a1b2c3d4".repeat(25));
    let mut cjk = record(Level::Error, "支付::网关", "支付失败：连接被重置\n原因：超时", 25);
    cjk.kv.push(("用户".into(), "张三 🔥".into()));
    cjk.kv.push(("trace".into(), token.as_str().into()));
    let mut rtl = record(Level::Warn, "i18n", "\u{202e} طلب الدفع مرفوض — בקשה נדחתה", 15);
    rtl.kv.push(("label".into(), "\u{202e}مرحبا".into()));
    let mut emoji = record(Level::Info, "emoji::🔥", "checkout 🔥💳 done ✅ in 👩🏽‍💻 time", 5);
    emoji.file = Some("src/emoji_🔥.rs".into());
    let long = record(Level::Info, "web", &format!("rejected {token}"), 3);
    write(path, &web(), &[cjk, rtl, emoji, long]);
}

/// Lines without the 24-character time prefix of `tail`/`query` rows
/// (continuation lines are kept whole).
fn untimed(out: &str) -> Vec<String> {
    out.lines().map(|l| if l.starts_with(' ') { l.to_owned() } else { l.chars().skip(24).collect() }).collect()
}

#[test]
fn multi_line_messages_print_as_indented_lines_and_values_are_quoted() {
    let db = hostile();
    let out = ok(&db.path, &["tail"]);
    let expected = [
        "ERROR api::db: query failed empty=\"\" eq=\"a=b\" nl=\"x\\ny\\e[0m\" path=\"C:\\\\temp\\\\new\" \
         quote=\"say \\\"hi\\\"\" status=503 user_agent=\"Mozilla/5.0 (Macintosh; Intel Mac OS X)\" user_id=u-42",
        "    caused by: connection reset",
        "    caused by: os error 104 \\e[2J",
        &format!("WARN  {LONG_LOGGER}: <script>alert(1)</script>"),
        "INFO  web: ok",
    ];
    assert_eq!(untimed(&out), expected, "{out}");
    assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
    // query prints rows the same way, newest first.
    let q = ok(&db.path, &["query", "--level", "error"]);
    assert_eq!(untimed(&q), expected[..3], "{q}");
    // Machine output keeps the stored text exactly.
    let v: serde_json::Value =
        serde_json::from_str(ok(&db.path, &["query", "--format", "ndjson", "--level", "error"]).trim()).unwrap();
    assert_eq!(v["message"], "query failed\ncaused by: connection reset\r\ncaused by: os error 104 \x1b[2J");
    assert_eq!(v["context"]["quote"], "say \"hi\"");
}

/// Checks that every row has its columns where `header` has them: `columns`
/// are the header's names in order, each `(name, right_aligned)`; a left-aligned
/// column starts at its name's offset in every row, a right-aligned one ends
/// at its name's end (character offsets, colours off).
fn assert_aligned(rows: &[&str], header: &str, columns: &[(&str, bool)]) {
    let mut from = 0;
    for &(name, right) in columns {
        let at = from + header[from..].find(name).unwrap_or_else(|| panic!("{name} in {header}"));
        from = at + name.len();
        let at = header[..at].chars().count();
        for row in rows {
            let chars: Vec<char> = row.chars().collect();
            let (first, last) = if right { (at + name.len() - 1, at + name.len() - 1) } else { (at, at) };
            let shown = format!("{name} at {at} in every row:\n{header}\n{row}");
            assert!(chars.len() > last, "{shown}");
            if right {
                assert_ne!(chars[last], ' ', "{shown}");
                assert!(chars.get(last + 1).is_none_or(|c| *c == ' '), "{shown}");
            } else {
                assert_eq!(chars[first - 1], ' ', "{shown}");
                assert_ne!(chars[first], ' ', "{shown}");
            }
        }
    }
}

#[test]
fn stats_shows_full_logger_names_labelled_windows_and_aligned_columns() {
    let db = hostile();
    let out = ok(&db.path, &["stats"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("3 loggers;"), "{out}");
    let header = lines.iter().find(|l| l.starts_with("LOGGER")).unwrap_or_else(|| panic!("{out}"));
    // The group line above names the window of each group of columns.
    let groups = lines[lines.iter().position(|l| l.starts_with("LOGGER")).unwrap() - 1];
    // A name wider than the column (40) is whole on its own line, its counts on the next.
    let long_at = lines.iter().position(|l| *l == LONG_LOGGER).unwrap_or_else(|| panic!("whole name: {out}"));
    let mut rows: Vec<&str> =
        lines.iter().copied().filter(|l| ["api::db", "web"].iter().any(|n| l.starts_with(&format!("{n} ")))).collect();
    rows.push(lines[long_at + 1]);
    assert_eq!(rows.len(), 3, "every name whole: {out}");
    assert!(header.starts_with(&format!("LOGGER{}RECORDS", " ".repeat(40 - 6 + 2 + 7 - 7))), "{header}");
    assert!(groups.contains("ALL TIME") && groups.contains("LAST HOUR"), "{groups}");
    // Each group label sits over its columns: ALL TIME over records, errors,
    // warnings; LAST HOUR over the next errors and warnings.
    let all_time = groups.find("ALL TIME").unwrap();
    let last_hour = groups.find("LAST HOUR").unwrap();
    let second_errors = header.rfind("ERRORS").unwrap();
    assert!(header.find("LOGGER").unwrap() + "LOGGER".len() < all_time, "{groups}\n{header}");
    assert!(all_time + "ALL TIME".len() < header.find("WARNINGS").unwrap() + "WARNINGS".len(), "{groups}\n{header}");
    assert!(second_errors <= last_hour + "LAST HOUR".len() && last_hour < header.find("LAST SEEN").unwrap());
    assert!(
        lines[0].contains("ALL TIME counts every stored record") && lines[0].contains("LAST HOUR the hour to"),
        "{out}"
    );
    assert_aligned(
        &rows,
        header,
        &[
            ("RECORDS", true),
            ("ERRORS", true),
            ("WARNINGS", true),
            ("ERRORS", true),
            ("WARNINGS", true),
            ("LAST SEEN", false),
            ("TIMELINE", false),
        ],
    );
    // Colours wrap the cells only: up to the timeline the rows are the same bytes.
    let coloured = ok(&db.path, &["--color", "always", "stats"]);
    let timeline = header.find("TIMELINE").unwrap();
    let plain_rows: Vec<&str> = out.lines().skip(2).map(|l| &l[..timeline.min(l.len())]).collect();
    let stripped = strip_colours(&coloured);
    let coloured_rows: Vec<&str> = stripped.lines().skip(2).map(|l| &l[..timeline.min(l.len())]).collect();
    assert_eq!(coloured_rows[..4], plain_rows[..4], "{coloured:?}");
    // The long logger's all-time counts sit under their headings.
    let long = lines[long_at + 1];
    let tokens: Vec<&str> = long.split_whitespace().collect();
    assert_eq!(
        &tokens[..5],
        ["1", "0", "1", "0", "1"],
        "records, errors, warnings; last hour errors, warnings: {long}"
    );
}

#[test]
fn sites_columns_are_aligned() {
    let db = hostile();
    let out = ok(&db.path, &["sites", "--since", "1h"]);
    let lines: Vec<&str> = out.lines().collect();
    // The long logger and the long call site (over 40 columns) each end their
    // line; the row goes on under the next column.
    assert_eq!(lines.len(), 6, "{out}");
    let header = lines[0];
    let long_at = lines.iter().position(|l| l.ends_with(LONG_LOGGER)).unwrap_or_else(|| panic!("whole name: {out}"));
    let site_line = lines[long_at + 1];
    assert_eq!(site_line.trim_start(), "src/a_much_longer_file_name_for_the_column.rs:7", "{out}");
    assert_eq!(site_line.len() - site_line.trim_start().len(), header.find("CALL SITE").unwrap(), "{out}");
    let example_line = lines[long_at + 2];
    assert_eq!(example_line.trim_start(), "<script>alert(1)</script>", "{out}");
    assert_eq!(example_line.len() - example_line.trim_start().len(), header.find("EXAMPLE").unwrap(), "{out}");
    // The other rows have every column on their line.
    let whole: Vec<&str> = [1, 2, 3, 4, 5]
        .iter()
        .filter(|i| ![long_at, long_at + 1, long_at + 2].contains(i))
        .map(|i| lines[*i])
        .collect();
    assert_eq!(whole.len(), 2, "{out}");
    assert_aligned(
        &whole,
        header,
        &[
            ("COUNT", true),
            ("ERRORS", true),
            ("WARNINGS", true),
            ("LAST SEEN", false),
            ("LOGGER", false),
            ("CALL SITE", false),
            ("EXAMPLE", false),
        ],
    );
    // Colours wrap the numbers only: without them the rows are the same bytes.
    let coloured = ok(&db.path, &["--color", "always", "sites", "--since", "1h"]);
    assert!(coloured.contains("\x1b[31m"), "{coloured:?}");
    assert_eq!(strip_colours(&coloured), out);
    let chain = lines.iter().find(|l| l.contains("api::db")).unwrap();
    // An example stays on its row: its newlines are shown as escapes.
    assert!(chain.ends_with("query failed\\ncaused by: connection reset\\r\\ncaused by: os error 104 \\e[2J"), "{out}");
}

/// `text` without its SGR colour sequences (`ESC [ … m`).
fn strip_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        plain.push_str(&rest[..at]);
        let after = &rest[at..];
        rest = after.find('m').map_or("", |m| &after[m + 1..]);
    }
    plain.push_str(rest);
    plain
}

/// The query language as the positional QUERY of `query`, `tail`, `sites`
/// and `export`, ANDed with the flags; a query that does not parse is one
/// line naming the column and exit status 2; what no index serves is named
/// on stderr.
#[test]
fn query_language_on_the_command_line() {
    let db = fill();
    let q = |args: &[&str]| {
        let mut all = vec!["query", "--format", "ndjson"];
        all.extend_from_slice(args);
        loggers(&ok(&db.path, &all))
    };
    assert_eq!(q(&["payment OR checkout"]), ["billing", "billing::payments"]);
    assert_eq!(q(&["\"service started\" OR \"SLOW query\""]), ["billing::db", "app"]);
    assert_eq!(q(&["logger:billing:: level>=warn"]), ["billing::payments", "billing::db"]);
    assert_eq!(q(&["ms>=250"]), ["billing::db"]);
    assert!(q(&["ms>250"]).is_empty());
    assert_eq!(q(&["order_id:1234 OR version:1.2.3"]), ["billing::payments", "app"]);
    assert_eq!(q(&["--app", "web", "request_id:r-1"]), ["billing"]);
    assert_eq!(q(&["--logger", "billing::", "(payment OR checkout) host:h1"]), ["billing::payments"]);
    assert_eq!(
        loggers(&noted(
            &db.path,
            &["query", "--format", "ndjson", "file:src/service.rs:130"],
            "file:src/service.rs:130"
        )),
        ["billing::db"]
    );
    assert_eq!(loggers(&ok(&db.path, &["export", "logger:app OR logger:old"])).len(), 2);
    let tail = ok(&db.path, &["tail", "payment OR slow"]);
    assert_eq!(messages(&tail), ["slow query ms=250", "payment failed order_id=1234 request_id=r-1"], "{tail}");
    let sites = ok(&db.path, &["sites", "--since", "1d", "logger:billing::db"]);
    assert!(sites.contains("billing::db") && !sites.contains("payments"), "{sites}");

    // A negation is answered, and named on stderr as not indexed.
    let out = run(&db.path, &["query", "--format", "ndjson", "-logger:billing:: NOT logger:evil"]);
    assert!(out.status.success());
    assert_eq!(loggers(&String::from_utf8(out.stdout).unwrap()), ["app", "old"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        "log-panel: query: not indexed, checked on each record the rest of the filter selects: \
         -logger:billing::, -logger:evil\n"
    );

    for (query, line) in [
        ("a (b OR c", "log-panel: query: column 10: expected `)` to close the `(` of column 3\n"),
        (
            "level>=loud",
            "log-panel: query: column 8: unknown level `loud`; expected one of error, warn, info, debug, trace\n",
        ),
        ("x OR", "log-panel: query: column 5: the query ends where a term was expected\n"),
        ("status>=lots", "log-panel: query: column 9: `status>=` compares numbers; `lots` is not one\n"),
    ] {
        for command in ["query", "tail", "export", "sites"] {
            assert_eq!(fails(&run(&db.path, &[command, query]), 2), line, "{command} {query}");
        }
    }
    let e = fails(&run(&db.path, &["query", "pid:\x1b[2J"]), 2);
    assert!(!e.contains('\x1b') && e.contains("column 5"), "{e:?}");
    let e = fails(&run(&db.path, &["query", "--request", "r-1", "payment"]), 2);
    assert!(e.contains("see --help"), "{e}");
}
