//! PgStore read latencies on a throwaway server, and what a prune does to
//! the batches a sink stores meanwhile.
//!
//! ```sh
//! cargo bench -p log-panel-postgres --bench read                  # 1 000 000 records
//! LOG_PANEL_BENCH_RECORDS=200000 cargo bench -p log-panel-postgres --bench read
//! ```
//!
//! Fills a database through PgSink (several loggers and apps, a request id
//! per 3 records), then times (p50 / p95 of 30 runs): the first page, a deep
//! page by cursor, a rare and a common message term and a request-id lookup,
//! each with the search index caught up and again with the last 10 % of the
//! rows not yet indexed; the naive SQL (`OFFSET`, `ILIKE` without index) for
//! comparison. Then prunes half the rows in batches of 1 000 while a sink
//! keeps storing batches of 1 000, and reports the slowest batch.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_postgres::{PgMaintenance, PgSink, PgStore};
use log_panel_query::{FieldValue, PageAt, RecordFilter};
use log_panel_query::{Maintenance, Store};
use log_panel_testing::postgres::TestServer;
use postgres::{Client, NoTls};

const BATCH: usize = 10_000;
const RUNS: usize = 30;
const START: i64 = 1_763_800_000_000_000;
/// Time between consecutive records (µs): 1 M records span about 4 days.
const STEP: i64 = 350_000;

fn records(from: usize, n: usize) -> Vec<Record> {
    let levels = [Level::Info, Level::Info, Level::Info, Level::Debug, Level::Warn, Level::Error];
    let loggers = ["billing::api", "billing::db", "web::http", "worker::queue", "auth"];
    (from..from + n)
        .map(|i| {
            let message = if i % 100_000 == 77 {
                format!("rare-needle-{i} checksum mismatch")
            } else {
                format!("request {i} served in {} ms for user {}", i % 97, i % 1000)
            };
            let mut r = Record::new(levels[i % levels.len()], loggers[i % loggers.len()], message);
            r.timestamp = Timestamp(START + i as i64 * STEP);
            r.file = Some("src/handlers.rs".into());
            r.line = Some(100 + (i % 20) as u32);
            r.kv.push(("request_id".into(), Value::from(format!("req-{}", i / 3))));
            r.kv.push(("user_id".into(), Value::I64(i as i64 % 1000)));
            r
        })
        .collect()
}

fn fill(sink: &mut PgSink, from: usize, n: usize) {
    let origins = [Origin::new("shop", "web-1", 1), Origin::new("worker", "web-2", 2)];
    let mut i = from;
    while i < from + n {
        let len = BATCH.min(from + n - i);
        let data = records(i, len);
        sink.write(&Batch::new(&origins[(i / BATCH) % 2], &data)).unwrap();
        i += len;
    }
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[(v.len() * 95 / 100).min(v.len() - 1)]))
}

fn time<T>(label: &str, mut f: impl FnMut() -> T) {
    f();
    let samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    let (p50, p95) = percentiles(samples);
    println!("{label:<48} p50 {p50:>8.2} ms   p95 {p95:>8.2} ms");
}

fn reads(store: &PgStore, db: &mut Client, n: usize, label: &str) {
    println!("-- {label}");
    let all = RecordFilter::default();
    time("page 1 (50 rows)", || store.records(&all, PageAt::Newest, 50).unwrap());
    // The cursor of a page ~10 000 pages down (or as deep as the table goes).
    let deep_ts = START + (n as i64 / 2) * STEP;
    let cursor = log_panel_query::Cursor { ts: Timestamp(deep_ts), id: i64::MAX };
    time("deep page by cursor (50 rows)", || store.records(&all, PageAt::Older(cursor), 50).unwrap());
    let mut rare = RecordFilter::default();
    rare.text = Some("rare-needle".into());
    time("rare term, first page", || store.records(&rare, PageAt::Newest, 50).unwrap());
    let mut common = RecordFilter::default();
    common.text = Some("served in 42 ms".into());
    time("common term, first page", || store.records(&common, PageAt::Newest, 50).unwrap());
    let id = format!("req-{}", n / 2 / 3);
    time("request-id lookup", || store.related("request_id", &FieldValue::Text(id.clone()), 100).unwrap());
    let mut logger = RecordFilter::default();
    logger.logger = Some("billing::".parse().unwrap());
    logger.min_level = Some(Level::Warn);
    time("logger tree + level, first page", || store.records(&logger, PageAt::Newest, 50).unwrap());
    if label.contains("caught up") {
        let offset = (n / 2) as i64;
        time("naive: OFFSET n/2 LIMIT 50", || {
            db.query("SELECT id FROM log_records ORDER BY ts DESC, id DESC OFFSET $1 LIMIT 50", &[&offset]).unwrap()
        });
        time("naive: message ILIKE '%rare-needle%'", || {
            db.query(
                "SELECT id FROM log_records WHERE message ILIKE '%rare-needle%' ORDER BY ts DESC, id DESC LIMIT 50",
                &[],
            )
            .unwrap()
        });
        time("naive: context->>'request_id' = …", || {
            db.query("SELECT id FROM log_records WHERE context->>'request_id' = $1 ORDER BY ts, id", &[&id]).unwrap()
        });
    }
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("LOG_PANEL_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(if benching {
        1_000_000
    } else {
        20_000
    });
    let Some(server) = TestServer::start() else { return };
    let url = server.create_database();
    let mut sink = PgSink::connect(&url).unwrap();
    let indexed = n - n / 10;
    let t = Instant::now();
    fill(&mut sink, 0, indexed);
    println!("PgStore read bench: {n} records");
    println!("stored {indexed} records in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut steps = 0u64;
    while sink.idle().unwrap() {
        steps += 1;
    }
    let d = t.elapsed();
    println!(
        "search index catch-up: {indexed} records in {:.1} s ({:.0} records/s, {steps} steps, {:.1} ms per step)",
        d.as_secs_f64(),
        indexed as f64 / d.as_secs_f64(),
        d.as_secs_f64() * 1e3 / (steps + 1) as f64
    );
    fill(&mut sink, indexed, n - indexed);
    let mut db = Client::connect(&url, NoTls).unwrap();
    db.batch_execute("VACUUM ANALYZE").unwrap();
    let store = PgStore::connect(&url).unwrap();
    reads(&store, &mut db, n, &format!("index lagging by {} records", n - indexed));
    while sink.idle().unwrap() {}
    db.batch_execute("VACUUM ANALYZE").unwrap();
    reads(&store, &mut db, n, "index caught up");
    if let Some(secs) = std::env::var("LOG_PANEL_BENCH_HOLD").ok().and_then(|v| v.parse().ok()) {
        // Keeps the server up for EXPLAIN by hand.
        println!("holding {url} for {secs} s");
        std::thread::sleep(Duration::from_secs(secs));
    }

    // Prune half while a sink stores batches of 1 000.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (url.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut sink = PgSink::connect(&url).unwrap();
            let origin = Origin::new("live", "h", 3);
            let mut worst = Duration::ZERO;
            let mut times = Vec::new();
            let mut i = 10 * n;
            while !stop.load(Ordering::SeqCst) {
                let data = records(i, 1_000);
                let t = Instant::now();
                sink.write(&Batch::new(&origin, &data)).unwrap();
                let d = t.elapsed();
                worst = worst.max(d);
                times.push(d);
                i += 1_000;
                std::thread::sleep(Duration::from_millis(5));
            }
            (worst, times)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let report =
        PgMaintenance::connect(&url).unwrap().prune(Timestamp(START + (n as i64 / 2) * STEP), 1_000, false).unwrap();
    let d = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (worst, times) = writer.join().unwrap();
    let (p50, p95) = percentiles(times.clone());
    println!(
        "prune: {} records in {} batches, {:.1} s ({:.0} records/s); concurrent batches of 1 000: {} stored, \
         p50 {p50:.1} ms, p95 {p95:.1} ms, worst {:.1} ms",
        report.deleted,
        report.batches,
        d.as_secs_f64(),
        report.deleted as f64 / d.as_secs_f64(),
        times.len(),
        worst.as_secs_f64() * 1e3
    );
}
