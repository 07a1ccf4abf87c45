//! End to end into PostgreSQL: the real logger, queue and writer, and `PgSink`,
//! against a throwaway server (see `log_panel_testing::postgres`).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::log_from_threads;
use log_panel_testing::postgres::TestServer;
use postgres::{Client, NoTls};

fn client(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap()
}

fn count(url: &str, sql: &str) -> i64 {
    client(url).query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn four_threads_fifty_thousand_each_exactly_once() {
    let Some(url) = TestServer::shared_database() else { return };
    let panel =
        log_panel::builder().database(&url).app("threads").queue_capacity(8192).batch_size(5000).build().unwrap();
    log_from_threads(&panel, 4, 50_000);
    drop(panel);
    assert_eq!(count(&url, "SELECT count(*) FROM log_records"), 200_000);
    assert_eq!(
        count(&url, "SELECT count(*) FROM (SELECT DISTINCT context->'t', context->'seq' FROM log_records) d"),
        200_000,
        "no record duplicated"
    );
    let per_thread: Vec<(i64, i64, i64, i64)> = client(&url)
        .query(
            "SELECT (context->>'t')::bigint AS t, count(*), min((context->>'seq')::bigint), max((context->>'seq')::bigint)
             FROM log_records GROUP BY t ORDER BY t",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(per_thread, (0..4).map(|t| (t, 50_000, 0, 49_999)).collect::<Vec<_>>());
    // Each thread's records are stored in the order it logged them.
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM (SELECT (context->>'seq')::bigint - lag((context->>'seq')::bigint)
               OVER (PARTITION BY context->'t' ORDER BY id) AS step FROM log_records) s WHERE step != 1"
        ),
        0
    );
    assert_eq!(count(&url, "SELECT count(DISTINCT (app, host, pid)) FROM log_records WHERE app = 'threads'"), 1);
}

#[test]
fn server_restart_mid_stream_stores_every_record_exactly_once() {
    // Needs its own server: stopping the shared one would break the other tests.
    let Some(server) = TestServer::start_stoppable("the restart test") else { return };
    let url = server.create_database();
    let spool = tempfile::tempdir().unwrap();
    let panel = log_panel::builder()
        .database(&url)
        .spool_dir(spool.path())
        .batch_size(200)
        .flush_interval(Duration::from_millis(50))
        .queue_capacity(100_000)
        .build()
        .unwrap();
    let logged = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                log::info!(logger: panel, seq = seq; "steady record {}", seq);
                seq += 1;
                logged.store(seq, Ordering::Relaxed);
                if seq.is_multiple_of(100) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
            let started = Instant::now();
            while !cond() {
                assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait_for("records before the outage", &|| panel.stats().written >= 2_000);
        server.stop_server();
        let at_stop = logged.load(Ordering::Relaxed);
        // The app keeps logging while the database is down; the writer keeps failing.
        wait_for("failed attempts while down", &|| panel.stats().failed_attempts >= 2);
        wait_for("records logged during the outage", &|| logged.load(Ordering::Relaxed) >= at_stop + 3_000);
        server.start_server();
        let at_start = logged.load(Ordering::Relaxed);
        wait_for("records written after the restart", &|| panel.stats().written >= at_start + 1_000);
        stop.store(true, Ordering::Relaxed);
    });
    let expected = logged.load(Ordering::Relaxed);
    panel.shutdown();
    let stats = panel.stats();
    assert!(stats.failed_attempts >= 2, "{stats:?}");
    assert_eq!(stats.written, expected, "{stats:?}");
    // An outage that outlasts the queue (a slow restart on a loaded machine) spills to the spool;
    // whatever spilled must have been replayed, and the rows below must hold each record once.
    assert_eq!((stats.lost, stats.in_spool, stats.replayed), (0, 0, stats.spilled), "{stats:?}");
    let row = client(&url)
        .query_one(
            "SELECT count(*), count(DISTINCT (context->>'seq')::bigint), coalesce(max((context->>'seq')::bigint), -1)
             FROM log_records",
            &[],
        )
        .unwrap();
    let (n, distinct, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let expected = i64::try_from(expected).unwrap();
    assert_eq!((n, distinct, max), (expected, expected, expected - 1), "every record exactly once");
}

/// Not a test on its own: the body of each child process of
/// [`two_processes_log_into_one_database`], which runs this binary with
/// `--ignored --exact` and the environment below.
#[test]
#[ignore = "child process of two_processes_log_into_one_database"]
fn child_process_logger() {
    let Ok(n) = std::env::var("LOG_PANEL_TEST_CHILD_RECORDS") else { return };
    let n: u64 = n.parse().unwrap();
    let app = std::env::var("LOG_PANEL_TEST_CHILD_APP").unwrap();
    // The database comes from $LOG_PANEL_DATABASE_URL, as in a deployed app.
    let spool = std::env::var("LOG_PANEL_TEST_CHILD_SPOOL").unwrap();
    let guard = log_panel::Builder::from_env().unwrap().app(app).spool_dir(spool).batch_size(1000).init().unwrap();
    for seq in 0..n {
        log::info!(target: "child", seq = seq; "child record {}", seq);
    }
    drop(guard);
}

#[test]
fn two_processes_log_into_one_database() {
    let Some(server) = TestServer::shared() else { return };
    // An empty database: both children race to create the schema too.
    let url = server.create_database();
    const N: u64 = 20_000;
    let exe = std::env::current_exe().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let children: Vec<_> = ["first", "second"]
        .into_iter()
        .map(|app| {
            Command::new(&exe)
                .args(["child_process_logger", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
                .env("LOG_PANEL_DATABASE_URL", &url)
                .env("LOG_PANEL_TEST_CHILD_RECORDS", N.to_string())
                .env("LOG_PANEL_TEST_CHILD_APP", app)
                .env("LOG_PANEL_TEST_CHILD_SPOOL", spool.path().join(app))
                .env_remove("LOG_PANEL_CONFIG")
                // Captured, so the children's test summaries do not mix with ours.
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a child process failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows: Vec<(String, i32, i64, i64, i64)> = client(&url)
        .query(
            "SELECT app, pid, count(*), count(DISTINCT (context->>'seq')::bigint), max((context->>'seq')::bigint)
             FROM log_records GROUP BY app, pid ORDER BY app",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let n = i64::try_from(N).unwrap();
    let expected: Vec<(String, i32, i64, i64, i64)> = vec![
        ("first".into(), i32::try_from(pids[0]).unwrap(), n, n, n - 1),
        ("second".into(), i32::try_from(pids[1]).unwrap(), n, n, n - 1),
    ];
    assert_eq!(rows, expected);
}

#[test]
fn a_wrong_password_fails_init_without_showing_it() {
    let Some(server) = TestServer::shared_own("wrong-password test needs an own server (pg_hba.conf)") else { return };
    let url = server.create_database();
    let dbname = url.rsplit('/').next().unwrap().to_owned();
    let role = server.create_password_role("Right-Pass-77");
    let bad = server.url_with_login(&dbname, &role, "Wrong-Pass-99");
    let spool = tempfile::tempdir().unwrap();
    let Err(err) = log_panel::builder().postgres(bad.clone()).spool_dir(spool.path()).database_required(true).build()
    else {
        panic!("a wrong password was accepted")
    };
    let text = format!("{err} | {err:?}");
    assert!(!text.contains("Wrong-Pass-99"), "{text}");
    assert!(text.contains(&format!("{role}:***@127.0.0.1")), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    // Not required: the application starts, and stats() says why nothing is stored.
    let panel = log_panel::builder().postgres(bad).spool_dir(spool.path()).build().unwrap();
    log::info!(logger: panel, "kept in the spool");
    let start = Instant::now();
    while panel.stats().storage_down_since.is_none() {
        assert!(start.elapsed() < common::WAIT);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (error, _) = panel.stats().last_error.unwrap();
    assert!(error.contains("password authentication failed") && !error.contains("Wrong-Pass-99"), "{error}");
    let report = panel.shutdown_timeout(Duration::from_millis(200));
    assert_eq!((report.written, report.spilled), (0, 1), "{report:?} {:?}", panel.stats());
}

#[test]
fn nul_bytes_through_the_logger_are_stored_sanitised_and_counted() {
    let Some(url) = TestServer::shared_database() else { return };
    let spool = tempfile::tempdir().unwrap();
    let panel = log_panel::builder().database(&url).spool_dir(spool.path()).build().unwrap();
    log::info!(logger: panel, "k\0ey" = "va\0lue"; "before\0after");
    log::info!(logger: panel, "clean");
    panel.flush().unwrap();
    assert_eq!(panel.stats().sanitised, 1);
    drop(panel);
    let rows: Vec<(String, String)> = client(&url)
        .query("SELECT message, context::text FROM log_records ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("before\u{FFFD}after".to_owned(), "{\"k\u{FFFD}ey\": \"va\u{FFFD}lue\"}".to_owned()),
            ("clean".to_owned(), "{}".to_owned())
        ]
    );
}

/// Keys and values an attacker can put in a record, with every character JSON treats specially.
fn hostile_records() -> Vec<log_panel::Record> {
    use log_panel::{Context, Level, Record, Value};
    let mut controls = String::new();
    for c in 0u8..0x20 {
        controls.push(char::from(c));
    }
    let texts = [
        controls.clone(),
        "\"quoted\" \\back\\slash\\".to_owned(),
        "\u{8}backspace \u{c}form feed \u{7f} del \u{2028}\u{2029} separators".to_owned(),
        "nul \0 inside, and at the end\0".to_owned(),
        "é€😀 and a lone } { ] [ : ,".to_owned(),
        "</script><script>alert(1)</script>".to_owned(),
        "x".repeat(100) + "\n" + &"y".repeat(7),
    ];
    let mut records = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut r = Record::new(Level::Info, "hostile", "context");
        r.context =
            Context::from_pairs([(text.as_str(), Value::from(i as i64)), ("bound", Value::from(text.as_str()))]);
        r.kv.push(("value".into(), Value::from(text.as_str())));
        r.kv.push(("n".into(), Value::F64(-0.125)));
        r.kv.push(("big".into(), Value::U64(u64::MAX)));
        r.kv.push(("nan".into(), Value::F64(f64::NAN)));
        r.kv.push(("none".into(), Value::Null));
        r.kv.push(("yes".into(), Value::Bool(true)));
        records.push(r);
    }
    records
}

#[test]
fn sqlite_and_postgres_store_the_same_context_json_for_hostile_strings() {
    use log_panel::{Batch, Origin, Sink};
    let Some(url) = TestServer::shared_database() else { return };
    let records = hostile_records();
    let origin = Origin::new("hostile", "h", 1);
    let batch = Batch::new(&origin, &records);
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = log_panel::SqliteSink::open(dir.path().join("logs.db")).unwrap();
    let mut pg = log_panel::PgSink::connect(&url).unwrap();
    sqlite.write(&batch).unwrap();
    pg.write(&batch).unwrap();

    let in_sqlite: Vec<String> = {
        let mut stmt = sqlite.connection().prepare("SELECT context FROM log_records ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let in_pg: Vec<String> = client(&url)
        .query("SELECT context::text FROM log_records WHERE app = 'hostile' ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(in_sqlite.len(), records.len());
    assert_eq!(in_pg.len(), records.len());
    for ((record, lite), pg_text) in records.iter().zip(&in_sqlite).zip(&in_pg) {
        // SQLite keeps the text as written: exactly the shared encoder's output.
        let mut expected = String::new();
        record.write_fields_json(&mut expected);
        assert_eq!(lite, &expected);
        // jsonb re-prints (key order, spaces), so compare what the text means.
        let lite: serde_json::Value = serde_json::from_str(lite).unwrap();
        let pg_value: serde_json::Value = serde_json::from_str(pg_text).unwrap();
        assert_eq!(lite, pg_value, "{pg_text}");
    }
    // The NUL record is the one both replaced and counted.
    assert!(in_sqlite[3].contains("nul \u{FFFD} inside, and at the end\u{FFFD}"), "{}", in_sqlite[3]);
    assert!(!in_sqlite.iter().any(|t| t.contains("\\u0000")));
    assert_eq!(sqlite.sanitised_count(), 2, "the control-character record and the NUL record");
    assert_eq!(pg.sanitised_count(), 2);
}

#[test]
fn postgres_down_at_init_then_started_stores_everything_once() {
    let Some(server) = TestServer::start_stoppable("postgres_down_at_init_then_started") else { return };
    let url = server.create_database();
    server.stop_server();
    // Opt-in fail fast: refused at once.
    let refused = log_panel::builder().database(&url).database_required(true).build();
    assert!(matches!(refused, Err(log_panel::Error::Storage { .. })), "{:?}", refused.err());
    let spool = tempfile::tempdir().unwrap();
    let panel = log_panel::builder().database(&url).spool_dir(spool.path()).batch_size(100).build().unwrap();
    for seq in 0..1000 {
        log::info!(logger: panel, seq = seq; "logged while the database is down");
    }
    let start = Instant::now();
    while panel.stats().storage_down_since.is_none() || panel.stats().in_spool < 1000 {
        assert!(start.elapsed() < common::WAIT, "{:?}", panel.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(panel.stats().last_error.is_some());
    server.start_server();
    panel.flush().unwrap();
    let stats = panel.stats();
    assert_eq!((stats.written, stats.lost, stats.in_spool, stats.storage_down_since), (1000, 0, 0, None));
    drop(panel);
    assert_eq!(count(&url, "SELECT count(*) FROM log_records"), 1000, "sent 1000, stored 1000");
    assert_eq!(count(&url, "SELECT count(DISTINCT context->'seq') FROM log_records"), 1000, "duplicated 0");
}

/// A batch whose COMMIT answer was lost (a `FATAL` from a fast shutdown,
/// after the commit) while the server then stays out of reach: the writer
/// spools it, and the application stops with it in the spool, its memory
/// of the doubt gone. The next run, with the same spool directory, replays
/// it: every record once.
#[test]
fn a_committed_batch_in_doubt_spooled_at_exit_is_stored_once_by_the_next_run() {
    use log_panel_testing::commit_eater::CommitEater;
    let Some(server) = TestServer::shared_own("the COMMIT proxy needs the server's port") else { return };
    let direct = server.create_database();
    let dbname = direct.rsplit('/').next().unwrap().to_owned();
    let proxy = CommitEater::start(server.port());
    proxy.fatal.store(true, Ordering::SeqCst);
    proxy.down_after.store(true, Ordering::SeqCst);
    proxy.batches_only.store(true, Ordering::SeqCst);
    let spool = tempfile::tempdir().unwrap();
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !cond() {
            assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let build = |url: &str| {
        log_panel::builder()
            .database(url)
            .app("doubt")
            .spool_dir(spool.path())
            .batch_size(100)
            .flush_interval(Duration::from_millis(50))
            .build()
            .unwrap()
    };
    let first = build(&format!("postgres://postgres@127.0.0.1:{}/{dbname}", proxy.port));
    for seq in 0..100 {
        log::info!(logger: first, seq = seq; "doubt record {}", seq);
    }
    wait_for("the first batch", &|| first.stats().written >= 100);
    proxy.armed.store(true, Ordering::SeqCst);
    for seq in 100..200 {
        log::info!(logger: first, seq = seq; "doubt record {}", seq);
    }
    wait_for("the COMMIT eaten", &|| proxy.eaten.load(Ordering::SeqCst));
    wait_for("the batch in doubt spooled", &|| first.stats().in_spool >= 100);
    first.shutdown();
    let counts = || {
        let row = client(&direct)
            .query_one(
                "SELECT count(*), count(DISTINCT (context->>'seq')::bigint) FROM log_records WHERE app = 'doubt'",
                &[],
            )
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    assert_eq!(counts(), (200, 200), "the batch in doubt did commit");

    let next = build(&direct);
    wait_for("the replay", &|| next.stats().replayed >= 100);
    next.shutdown();
    assert_eq!(next.stats().in_spool, 0, "{:?}", next.stats());
    assert_eq!(counts(), (200, 200), "every record once");
}
