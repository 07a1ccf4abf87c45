//! Writer throughput: records committed per second, from the first call to
//! the end of the final flush, against the raw driver over the same rows.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use log_panel::context;
use log_panel_core::Timestamp;
use rusqlite::params;

use crate::common::{args, bind_request_context, bound_context, fields_json, remove_db, sqlite_rows};

/// One throughput measurement.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub threads: usize,
    pub records: u64,
    pub secs: f64,
    pub per_sec: f64,
    /// Rows found in the database afterwards.
    pub stored: u64,
}

pub fn row(name: String, threads: usize, records: u64, secs: f64, stored: u64) -> Row {
    Row { name, threads, records, secs, per_sec: records as f64 / secs.max(1e-9), stored }
}

/// The measured part of a log-panel writer run, the same for every storage:
/// `records` shape-(b) records split over `threads` named threads, as fast as
/// they can log, from the first call to the end of the final flush. Seconds.
pub fn log_burst(panel: &log_panel::Pipeline, records: u64, threads: usize) -> f64 {
    let per_thread = records / threads as u64;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let extra = if t == 0 { records % threads as u64 } else { 0 };
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn_scoped(s, move || {
                    bind_request_context();
                    for i in 0..per_thread + extra {
                        let (a, b) = args(i);
                        log::info!(logger: panel, method = "GET", status = 200; "handled request {} in {} us", a, b);
                    }
                    context::clear();
                })
                .expect("spawn a logging thread");
        }
    });
    panel.flush().expect("flush log-panel");
    start.elapsed().as_secs_f64()
}

/// log-panel with its default queue and batch size, `records` shape-(b)
/// records split over `threads` threads, as fast as they can log.
pub fn log_panel(dir: &Path, records: u64, threads: usize, round: usize) -> Row {
    let db = dir.join(format!("throughput-log-panel-{threads}t-{round}.db"));
    let panel = log_panel::builder().database(&db).app("bench").build().expect("start log-panel");
    let secs = log_burst(&panel, records, threads);
    drop(panel);
    let stored = sqlite_rows(&db);
    remove_db(&db);
    row("log-panel -> SQLite".into(), threads, records, secs, stored)
}

/// The limit: one connection, one prepared insert, 1 000-row transactions,
/// into the schema log-panel's sink creates (same pragmas), with the same
/// column values and the same JSON, computed per row as an application would.
pub fn raw_sqlite(dir: &Path, records: u64, round: usize) -> Row {
    let db = dir.join(format!("throughput-raw-{round}.db"));
    drop(log_panel_sqlite::SqliteSink::open(&db).expect("create the schema"));
    let mut conn = rusqlite::Connection::open(&db).expect("open raw connection");
    conn.busy_timeout(log_panel_sqlite::BUSY_TIMEOUT).expect("busy timeout");
    conn.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    conn.pragma_update(None, "synchronous", "NORMAL").expect("synchronous");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned();
    let pid = std::process::id();
    let ctx = bound_context();
    let (mut message, mut json) = (String::with_capacity(64), String::with_capacity(256));
    let start = Instant::now();
    let mut i = 0u64;
    while i < records {
        let end = (i + 1_000).min(records);
        let tx = conn.transaction().expect("begin");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO log_records
                     (ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .expect("prepare");
            while i < end {
                let (a, b) = args(i);
                message.clear();
                let _ = write!(message, "handled request {} in {} us", a, b);
                fields_json(&ctx, &mut json);
                insert
                    .execute(params![
                        Timestamp::now().to_rfc3339(),
                        20,
                        module_path!(),
                        message,
                        module_path!(),
                        file!(),
                        line!(),
                        "bench-0",
                        pid,
                        host,
                        "bench",
                        json,
                        None::<i64>,
                    ])
                    .expect("insert");
                i += 1;
            }
        }
        tx.commit().expect("commit");
    }
    let secs = start.elapsed().as_secs_f64();
    drop(conn);
    let stored = sqlite_rows(&db);
    remove_db(&db);
    row("raw rusqlite (limit)".into(), 1, records, secs, stored)
}

/// Runs `rounds` rounds of raw, log-panel 1 thread, log-panel 4 threads,
/// interleaved so each sees the same machine conditions; keeps each one's
/// best round (the least disturbed on a shared machine). Count mismatches of
/// any round are returned too.
pub fn run(dir: &Path, records: u64, rounds: usize) -> (Vec<Row>, Vec<String>) {
    best_of(rounds, |round| {
        [raw_sqlite(dir, records, round), log_panel(dir, records, 1, round), log_panel(dir, records, 4, round)]
    })
}

/// Runs `one_round` `rounds` times; keeps each position's best row and
/// reports every count mismatch.
pub fn best_of(rounds: usize, mut one_round: impl FnMut(usize) -> [Row; 3]) -> (Vec<Row>, Vec<String>) {
    let mut best: Vec<Option<Row>> = vec![None, None, None];
    let mut failures = Vec::new();
    for round in 0..rounds {
        for (slot, r) in best.iter_mut().zip(one_round(round)) {
            if r.stored != r.records {
                failures.push(format!(
                    "writer {} {}t round {round}: {} rows stored, {} logged",
                    r.name, r.threads, r.stored, r.records
                ));
            }
            let better = match slot {
                Some(b) => r.per_sec > b.per_sec,
                None => true,
            };
            if better {
                *slot = Some(r);
            }
        }
    }
    (best.into_iter().flatten().collect(), failures)
}
