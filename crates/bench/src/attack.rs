//! The applications the attacks in `docs/attack/` run (docs/reliability.md).
//!
//! `--attack-writer DB SECONDS`: logs `log::info!` as fast as it can through
//! `log_panel::builder()` (defaults: `block`, spool at `<db>.spool` or
//! `log_panel.spool`), each record carrying its sequence number `seq`, and
//! times every call. A sampler prints one line a second on stderr (stats,
//! resident memory, spool bytes) so a run can be read against the faults
//! the script made; at the end one JSON line on stdout: what was logged,
//! the stats after a flush and shutdown, the call latencies and the peaks.
//!
//! `--exit-catchup DB BEHIND [logged]`: a SQLite file with BEHIND records
//! written past its search index, then an application that starts on it and
//! shuts down: how long the shutdown takes (the writer's `EXIT_UPKEEP`) and
//! where the index marks are afterwards. With `logged`, the application
//! itself logs the BEHIND records (as fast as it can) just before the
//! shutdown instead, so the lag at exit is what its writer left.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Sink, Timestamp};
use log_panel_sqlite::SqliteSink;
use serde_json::json;

use crate::read::{message, Gen, LOGGERS};

/// Upper bounds of the latency buckets, in microseconds.
const BUCKETS_US: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, u64::MAX];

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// The spool directory `log_panel` uses for `db` by default.
fn spool_dir(db: &str) -> PathBuf {
    if db.contains("://") {
        PathBuf::from("log_panel.spool")
    } else {
        PathBuf::from(format!("{db}.spool"))
    }
}

/// The `--attack-writer DB SECONDS` child (see the module's comment).
pub fn writer(db: &str, seconds: u64) {
    let spool = spool_dir(db);
    let _guard = log_panel::builder().database(db).app("attack-writer").init().expect("log_panel init");
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        let spool = spool.clone();
        std::thread::spawn(move || {
            let (mut max_rss, mut max_spool, mut max_pending) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let s = log_panel::stats();
                let (rss, bytes) = (resident_kib(), dir_bytes(&spool));
                max_rss = max_rss.max(rss);
                max_spool = max_spool.max(bytes);
                max_pending = max_pending.max(s.pending);
                eprintln!(
                    "t={:.1} accepted={} written={} pending={} in_spool={} spilled={} replayed={} lost={} queue={} down={} rss_kib={rss} spool_bytes={bytes}",
                    start.elapsed().as_secs_f64(),
                    s.accepted,
                    s.written,
                    s.pending,
                    s.in_spool,
                    s.spilled,
                    s.replayed,
                    s.lost,
                    s.queue_depth,
                    s.storage_down_since.is_some(),
                );
                std::thread::sleep(Duration::from_secs(1));
            }
            (max_rss, max_spool, max_pending)
        })
    };
    let length = Duration::from_secs(seconds);
    let mut buckets = [0u64; BUCKETS_US.len()];
    // The slowest calls: (microseconds, seq, seconds into the run).
    let mut slowest: Vec<(u64, u64, f64)> = Vec::new();
    let mut seq = 0u64;
    while start.elapsed() < length {
        for _ in 0..1_024 {
            let target = LOGGERS[(seq % 8) as usize];
            let text = message(seq);
            let t = Instant::now();
            log::info!(target: target, seq = seq; "{text}");
            let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            let bucket = BUCKETS_US.iter().position(|&b| us < b).unwrap_or(BUCKETS_US.len() - 1);
            buckets[bucket] += 1;
            if us >= 1_000 {
                slowest.push((us, seq, start.elapsed().as_secs_f64()));
                slowest.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
                slowest.truncate(10);
            }
            seq += 1;
        }
    }
    let logging = start.elapsed().as_secs_f64();
    let flush = Instant::now();
    let flushed = log_panel::flush();
    let flush_seconds = flush.elapsed().as_secs_f64();
    let report = log_panel::shutdown();
    stop.store(true, Ordering::Relaxed);
    let (max_rss, max_spool, max_pending) = sampler.join().unwrap_or_default();
    let s = log_panel::stats();
    let over = |us: u64| -> u64 { BUCKETS_US.iter().zip(buckets).filter(|(b, _)| **b > us).map(|(_, n)| n).sum() };
    println!(
        "{}",
        json!({
            "logged": seq, "logging_seconds": logging, "flush_ok": flushed.is_ok(), "flush_seconds": flush_seconds,
            "complete": report.complete, "accepted": s.accepted, "written": s.written, "spilled": s.spilled,
            "replayed": s.replayed, "lost": s.lost, "timed_out": s.timed_out, "dropped": s.dropped.total(),
            "in_spool": s.in_spool, "failed_attempts": s.failed_attempts, "outages": s.retried_batches,
            "queue_high_water": s.queue_high_water, "last_error": s.last_error.map(|e| e.0),
            "calls_over_1ms": over(1_000), "calls_over_10ms": over(10_000), "calls_over_100ms": over(100_000),
            "slowest_calls_us_seq_t": slowest, "max_rss_kib": max_rss, "max_spool_bytes": max_spool,
            "max_pending": max_pending, "spool_bytes_after": dir_bytes(&spool),
        })
    );
}

/// `(newest id, search mark, context mark)` of a SQLite file.
fn marks(db: &Path) -> (i64, i64, i64) {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let one = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0)).ok().flatten().unwrap_or(0);
    (
        one("SELECT max(id) FROM log_records"),
        one("SELECT indexed_id FROM log_fts_state"),
        one("SELECT indexed_id FROM log_context_all"),
    )
}

/// The `--exit-catchup DB BEHIND [logged]` child (see the module's
/// comment). DB must not exist: it gets 20 000 indexed records, then BEHIND
/// more, unindexed or logged by the application.
pub fn exit_catchup(db: &Path, behind: u64, logged: bool) {
    {
        let mut sink = SqliteSink::open(db).expect("open");
        Gen::over_90_days(20_000, Timestamp::now()).write(&mut sink);
        while sink.idle().expect("index") {}
        if behind > 0 && !logged {
            Gen::over_90_days(behind, Timestamp::now()).write(&mut sink);
        }
    }
    let before = marks(db);
    let started = Instant::now();
    let guard = log_panel::builder().database(db).app("exit-catchup").init().expect("log_panel init");
    let init_ms = started.elapsed().as_secs_f64() * 1e3;
    if logged {
        for i in 0..behind {
            log::info!(target: LOGGERS[(i % 8) as usize], seq = i; "{}", message(i));
        }
    }
    let t = Instant::now();
    let report = log_panel::shutdown();
    let shutdown_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(guard);
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let after = marks(db);
    println!(
        "{}",
        json!({
            "behind": behind, "logged_at_exit": logged, "complete": report.complete, "init_ms": init_ms, "shutdown_ms": shutdown_ms,
            "init_to_exit_ms": total_ms,
            "before": {"newest": before.0, "search_mark": before.1, "context_mark": before.2},
            "after": {"newest": after.0, "search_mark": after.1, "context_mark": after.2},
            "caught_up": after.1 == after.0 && after.2 == after.0,
        })
    );
}
