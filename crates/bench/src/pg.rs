//! Writer throughput into PostgreSQL: log-panel (logger, queue, writer,
//! `PgSink`) against the raw driver's binary COPY over the same rows, on a
//! throwaway server started by `log_panel_testing::postgres`.

use std::fmt::Write as _;
use std::time::{Duration, Instant, UNIX_EPOCH};

use log_panel_core::{severity, Level, Timestamp};
use log_panel_postgres::copy::{COLUMN_TYPES, COPY_SQL};
use log_panel_testing::postgres::{find_binaries, Jsonb, TestServer, TEST_URL_ENV};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::{Client, NoTls};

use crate::common::{args, bound_context, fields_json};
use crate::throughput::Row;

/// Rows per transaction, for both paths (log-panel's batch size is set to it).
pub const BATCH: usize = 10_000;

/// Rows stored in `url`'s `log_records`.
pub fn count(url: &str) -> u64 {
    Client::connect(url, NoTls)
        .and_then(|mut c| c.query_one("SELECT count(*) FROM log_records", &[]))
        .map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// A server, or why there is none (the phase is then skipped).
pub fn server() -> Result<TestServer, String> {
    let external = std::env::var(TEST_URL_ENV).is_ok_and(|u| !u.trim().is_empty());
    if !external && find_binaries().is_none() {
        return Err("skipped: no PostgreSQL server binaries (initdb, pg_ctl) found; \
                    install them (apt-get install postgresql) or set LOG_PANEL_TEST_PG_URL"
            .into());
    }
    TestServer::start().ok_or_else(|| "skipped: no PostgreSQL server could be started".into())
}

/// The limit: one connection, binary COPY of [`BATCH`] rows per transaction,
/// into the schema `PgSink` creates, each row's values computed as an
/// application would (time now, message formatted, the same JSON).
fn raw(server: &TestServer, records: u64) -> Row {
    let url = server.create_database();
    drop(log_panel_postgres::PgSink::connect(&url).expect("create the schema"));
    let mut client = Client::connect(&url, NoTls).expect("connect");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned();
    let (pid, ctx) = (std::process::id() as i32, bound_context());
    let (mut message, mut json) = (String::with_capacity(64), String::with_capacity(256));
    let start = Instant::now();
    let mut i = 0u64;
    while i < records {
        let end = (i + BATCH as u64).min(records);
        let mut tx = client.transaction().expect("begin");
        let copy = tx.copy_in(COPY_SQL).expect("copy");
        let mut w = BinaryCopyInWriter::new(copy, &COLUMN_TYPES);
        while i < end {
            let (a, b) = args(i);
            message.clear();
            let _ = write!(message, "handled request {} in {} us", a, b);
            fields_json(&ctx, &mut json);
            let ts = UNIX_EPOCH + Duration::from_micros(Timestamp::now().as_micros().unsigned_abs());
            let (module, file, line, size): (&str, &str, i32, Option<i64>) = (module_path!(), file!(), 0, None);
            w.write(&[
                &ts,
                &severity(Level::Info),
                &module,
                &message,
                &Some(module),
                &Some(file),
                &Some(line),
                &"bench-0",
                &pid,
                &host,
                &"bench",
                &Jsonb(&json),
                &size,
            ])
            .expect("copy row");
            i += 1;
        }
        w.finish().expect("finish copy");
        tx.commit().expect("commit");
    }
    let secs = start.elapsed().as_secs_f64();
    crate::throughput::row("raw binary COPY (limit)".into(), 1, records, secs, count(&url))
}

/// log-panel into PostgreSQL, batches of [`BATCH`], shape-(b) records from `threads` threads.
fn log_panel(server: &TestServer, records: u64, threads: usize) -> Row {
    let url = server.create_database();
    let panel =
        log_panel::builder().database(&url).app("bench").batch_size(BATCH).build().expect("start log-panel (postgres)");
    let secs = crate::throughput::log_burst(&panel, records, threads);
    drop(panel);
    crate::throughput::row("log-panel -> Postgres".into(), threads, records, secs, count(&url))
}

/// Like [`crate::throughput::run`], for PostgreSQL.
pub fn run(server: &TestServer, records: u64, rounds: usize) -> (Vec<Row>, Vec<String>) {
    crate::throughput::best_of(rounds, |_round| {
        [raw(server, records), log_panel(server, records, 1), log_panel(server, records, 4)]
    })
}
