//! Per-request context in a thread-pool "server": `cargo run --example request_context [DB]`.
//!
//! 8 worker threads take 8 000 simulated requests from one job queue. Each
//! request opens a scope binding `request_id` (unique) and `user`, logs
//! exactly 3 records — one with its own `user` key-value, which wins over the
//! bound one — and ends; the scope guard puts the worker's context back, so
//! the next request on that reused thread starts clean.
//!
//! The database (default `request_context.db` in the working directory, or the
//! first argument) is deleted at start, so each run shows exactly one run.
//! `crates/log-panel/tests/request_context.rs` runs [`serve`] from this file
//! and checks the stored rows.

use std::path::{Path, PathBuf};

use log::Log;

/// Worker threads in the pool.
pub const WORKERS: usize = 8;
/// Simulated requests served.
pub const REQUESTS: u64 = 8_000;
/// Records each request logs.
pub const RECORDS_PER_REQUEST: u64 = 3;
/// The `user` key-value the second record of every request gives explicitly.
pub const EXPLICIT_USER: &str = "admin";

/// One simulated request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Sequence number, unique.
    pub seq: u64,
    /// Who sent it.
    pub user: String,
}

/// The unique id bound as `request_id`.
pub fn request_id(seq: u64) -> String {
    format!("req-{seq:05}")
}

/// The user who sends request `seq`.
pub fn user_of(seq: u64) -> String {
    format!("user-{}", seq % 37)
}

/// True for the requests whose handler also binds `items` mid-request.
pub fn binds_items(seq: u64) -> bool {
    seq.is_multiple_of(3)
}

/// Serves `requests` requests on `workers` threads, logging through `logger`.
/// Returns when every request has been handled (not necessarily stored).
pub fn serve<L: Log + ?Sized>(logger: &L, workers: usize, requests: u64) {
    let (jobs, queue) = crossbeam_channel::bounded::<Request>(256);
    std::thread::scope(|s| {
        for w in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn_scoped(s, move || {
                    // Bound for the worker's whole life: every request's scope merges over it.
                    log_panel::bind!(worker = w);
                    for request in queue {
                        handle(logger, &request);
                    }
                })
                .map_err(|e| eprintln!("cannot start worker {w}: {e}"))
                .ok();
        }
        drop(queue);
        for seq in 0..requests {
            if jobs.send(Request { seq, user: user_of(seq) }).is_err() {
                break; // every worker is gone; nothing left to serve
            }
        }
        drop(jobs); // workers end when the queue is empty
    });
}

/// One request: a scope for its context, three records, done.
fn handle<L: Log + ?Sized>(logger: &L, request: &Request) {
    // The scope guard restores the worker's own context when the request
    // ends — return, `?` or panic — so nothing leaks into the next request.
    let _ctx = log_panel::scope!(request_id = request_id(request.seq), user = &request.user);

    log::info!(logger: logger, path = "/orders"; "request started");
    if binds_items(request.seq) {
        // A bind inside the request lasts until its scope ends, not longer.
        log_panel::bind!(items = request.seq % 10);
    }
    // The record's own `user` wins over the bound one.
    log::info!(logger: logger, user = EXPLICIT_USER; "acting on behalf of {}", request.user);
    log::info!(logger: logger, status = 200; "request finished");
}

fn main() -> Result<(), log_panel::Error> {
    let path = std::env::args_os().nth(1).map_or_else(|| PathBuf::from("request_context.db"), PathBuf::from);
    remove_database(&path);

    let guard = log_panel::builder().database(&path).app("request_context").init()?;
    let started = std::time::Instant::now();
    serve(log::logger(), WORKERS, REQUESTS);
    drop(guard); // drains the queue: every record is committed when this returns
    let stats = log_panel::stats();

    let db = path.display();
    println!(
        "served {REQUESTS} requests on {WORKERS} threads; {} records written to {db} in {:.2?}",
        stats.written,
        started.elapsed()
    );
    println!();
    println!("Records per request (expect {RECORDS_PER_REQUEST} each):");
    println!(
        "  sqlite3 {db} \"SELECT json_extract(context,'$.request_id') AS rid, count(*) FROM log_records GROUP BY rid LIMIT 5\""
    );
    println!("Everything one request did:");
    println!(
        "  sqlite3 -header -column {db} \"SELECT ts, thread, message, context FROM log_records WHERE json_extract(context,'$.request_id') = '{}' ORDER BY id\"",
        request_id(42)
    );
    println!("The explicit user wins over the bound one:");
    println!(
        "  sqlite3 {db} \"SELECT json_extract(context,'$.user'), count(*) FROM log_records WHERE message LIKE 'acting%' GROUP BY 1\""
    );
    Ok(())
}

/// Deletes the database of an earlier run, with SQLite's WAL side files.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("cannot delete {}: {e}", Path::new(&p).display()),
        }
    }
}
