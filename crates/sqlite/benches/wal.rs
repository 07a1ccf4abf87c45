//! The sink at its full rate: batches of 1 000 written back to back into a
//! new file, timing each batch and sampling the `-wal` file's size after
//! each commit (the file only grows at a commit). docs/performance.md, "The
//! WAL under sustained writes".
//!
//! ```text
//! cargo bench -p log-panel-sqlite --bench wal
//! LOG_PANEL_BENCH_RECORDS=300000 LOG_PANEL_BENCH_READER=1 cargo bench -p log-panel-sqlite --bench wal
//! ```
//!
//! `LOG_PANEL_BENCH_RECORDS` (default 1 000 000) records are written;
//! `LOG_PANEL_BENCH_READER=1` adds a thread reading in a loop of short read
//! transactions (a page's newest rows and a count), as the panel does;
//! `LOG_PANEL_BENCH_DIR` puts the database there (default: a temp dir). Prints
//! one line of JSON.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Origin, Record, Sink};
use log_panel_sqlite::SqliteSink;
use rusqlite::Connection;

use log_panel_testing::records::{app_batch as batch, APP_BATCH as BATCH};

fn len(path: &Path, suffix: &str) -> u64 {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn reader(db: &Path, stop: &AtomicBool, reads: &AtomicU64) {
    let conn = Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    while !stop.load(Ordering::Relaxed) {
        conn.execute_batch("BEGIN").unwrap();
        let _: i64 = conn
            .query_row("SELECT count(*) FROM (SELECT id FROM log_records ORDER BY id DESC LIMIT 100)", [], |r| r.get(0))
            .unwrap();
        let _: i64 = conn.query_row("SELECT count(*) FROM log_logger_stats", [], |r| r.get(0)).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        reads.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let records: usize =
        std::env::var("LOG_PANEL_BENCH_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let with_reader = std::env::var("LOG_PANEL_BENCH_READER").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("LOG_PANEL_BENCH_DIR").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let db = dir.join(format!("wal-bench-{}.db", std::process::id()));
    let origin = Origin::new("bench", "h", 1);
    let batches: Vec<Vec<Record>> = (0..records.div_ceil(BATCH)).map(batch).collect();

    let mut sink = SqliteSink::open(&db).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = with_reader.then(|| {
        let (db, stop, reads) = (db.clone(), Arc::clone(&stop), Arc::clone(&reads));
        std::thread::spawn(move || reader(&db, &stop, &reads))
    });
    let mut ms = Vec::with_capacity(batches.len());
    let mut wal_max = 0;
    let t = Instant::now();
    for b in &batches {
        let start = Instant::now();
        sink.write(&Batch::new(&origin, b)).unwrap();
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        wal_max = wal_max.max(len(&db, "-wal"));
    }
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(r) = reader {
        r.join().unwrap();
    }
    let (wal_end, db_len) = (len(&db, "-wal"), len(&db, ""));
    drop(sink);
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{{\"records\": {records}, \"reader\": {with_reader}, \"reads\": {}, \"records_per_sec\": {:.0}, \
         \"batch_ms\": {{\"p50\": {:.2}, \"p95\": {:.2}, \"p99\": {:.2}, \"max\": {:.2}}}, \
         \"wal_max_mib\": {:.1}, \"wal_end_mib\": {:.1}, \"db_mib\": {:.1}}}",
        reads.load(Ordering::Relaxed),
        records as f64 / secs,
        pick(0.5),
        pick(0.95),
        pick(0.99),
        pick(1.0),
        wal_max as f64 / 1048576.0,
        wal_end as f64 / 1048576.0,
        db_len as f64 / 1048576.0,
    );
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
