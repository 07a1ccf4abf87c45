//! PgSink against the raw driver: the same records, the same schema, the same
//! run, on a throwaway server.
//!
//! ```sh
//! cargo bench -p log-panel-postgres --bench copy            # 1 000 000 records, batches of 10 000
//! LOG_PANEL_BENCH_RECORDS=200000 cargo bench -p log-panel-postgres --bench copy
//! LOG_PANEL_BENCH_TRGM=1 cargo bench -p log-panel-postgres --bench copy  # also PgSink with a trigram index
//! LOG_PANEL_BENCH_V2=1 cargo bench -p log-panel-postgres --bench copy    # also PgSink with schema 2's indexes
//! ```
//!
//! With `LOG_PANEL_BENCH_TRGM=1` each round also runs the sink on a database
//! with a trigram GIN index (`fastupdate` on) directly on `log_records.message`:
//! what keeping message search in the burst path would cost. With
//! `LOG_PANEL_BENCH_V2=1` it also runs the sink with schema version 2's
//! indexes instead of version 3's (what the read-side indexes cost). Each
//! round then times the sink's idle steps bringing the search side table up
//! to date (the catch-up rate).
//!
//! Both paths start from the same `Record`s and do one transaction with one
//! binary COPY per batch. The raw path is what one writes with the driver
//! alone: `BinaryCopyInWriter` with `&dyn ToSql` values and the context JSON
//! from `Record::write_fields_json` into a reused buffer. Runs alternate
//! (raw, sink, raw, sink, …) on fresh databases; the best of each is compared.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant, UNIX_EPOCH};

mod common;

use common::records;
use log_panel_core::{severity, Batch, Origin, Record, Sink};
use log_panel_postgres::copy::{COLUMN_TYPES, COPY_SQL};
use log_panel_postgres::PgSink;
use log_panel_testing::postgres::{Jsonb, TestServer};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::{Client, NoTls};

const BATCH: usize = 10_000;
const ROUNDS: usize = 5;
/// The index the trigram variant adds to the sink's schema.
/// Schema 2's indexes in place of schema 3's.
const V2_INDEXES: &str = "DROP INDEX log_records_logger_c_ts_id_idx, log_records_ts_id_idx; \
    CREATE INDEX log_records_ts_idx ON log_records (ts); \
    CREATE INDEX log_records_logger_ts_idx ON log_records (logger, ts)";
const TRGM_INDEX: &str = "CREATE EXTENSION IF NOT EXISTS pg_trgm; \
    CREATE INDEX bench_message_trgm ON log_records USING gin (message gin_trgm_ops) WITH (fastupdate = on)";

fn raw(client: &mut Client, origin: &Origin, records: &[Record]) -> Duration {
    let pid = origin.pid as i32;
    let mut json = String::new();
    let started = Instant::now();
    for chunk in records.chunks(BATCH) {
        let mut tx = client.transaction().unwrap();
        let copy = tx.copy_in(COPY_SQL).unwrap();
        let mut w = BinaryCopyInWriter::new(copy, &COLUMN_TYPES);
        for r in chunk {
            json.clear();
            r.write_fields_json(&mut json);
            let ts = UNIX_EPOCH + Duration::from_micros(r.timestamp.as_micros() as u64);
            let line = r.line.map(|l| l as i32);
            let size = r.original_size.map(|s| s as i64);
            let (target, message, thread): (&str, &str, &str) = (&r.logger, &r.message, &r.thread);
            let (host, app): (&str, &str) = (&origin.host, &origin.app);
            w.write(&[
                &ts,
                &severity(r.level),
                &target,
                &message,
                &r.module_path.as_deref(),
                &r.file.as_deref(),
                &line,
                &thread,
                &pid,
                &host,
                &app,
                &Jsonb(&json),
                &size,
            ])
            .unwrap();
        }
        w.finish().unwrap();
        tx.commit().unwrap();
    }
    started.elapsed()
}

fn sink(sink: &mut PgSink, origin: &Origin, records: &[Record]) -> Duration {
    let started = Instant::now();
    for chunk in records.chunks(BATCH) {
        sink.write(&Batch::new(origin, chunk)).unwrap();
    }
    started.elapsed()
}

/// CPU seconds used by this process so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn count(url: &str) -> i64 {
    Client::connect(url, NoTls).unwrap().query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no such flag: stay quick then.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("LOG_PANEL_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(if benching {
        1_000_000
    } else {
        20_000
    });
    let Some(server) = TestServer::start() else { return };
    let origin = Origin::new("bench", "bench-host", std::process::id());
    let data = records(n);
    let rounds: usize = std::env::var("LOG_PANEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(ROUNDS);
    println!("PostgreSQL COPY bench: {n} records, batches of {BATCH}, {rounds} rounds each, alternating");
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let trgm = std::env::var("LOG_PANEL_BENCH_TRGM").is_ok_and(|v| v == "1");
    let (mut raw_rates, mut sink_rates, mut raw_cpu, mut sink_cpu) = (vec![], vec![], 0.0, 0.0);
    let v2 = std::env::var("LOG_PANEL_BENCH_V2").is_ok_and(|v| v == "1");
    let (mut trgm_rates, mut v2_rates, mut catch_up) = (vec![], vec![], vec![]);
    for round in 1..=rounds {
        // Fresh databases with the sink's schema for both paths.
        let raw_url = server.create_database();
        drop(PgSink::connect(&raw_url).unwrap());
        let mut client = Client::connect(&raw_url, NoTls).unwrap();
        let cpu = cpu_seconds();
        let d = raw(&mut client, &origin, &data);
        raw_cpu += cpu_seconds() - cpu;
        assert_eq!(count(&raw_url), n as i64);
        println!("round {round}: raw driver  {:>10.0} records/s ({:.2} s)", rate(d), d.as_secs_f64());
        raw_rates.push(rate(d));

        let sink_url = server.create_database();
        let mut s = PgSink::connect(&sink_url).unwrap();
        let cpu = cpu_seconds();
        let d = sink(&mut s, &origin, &data);
        sink_cpu += cpu_seconds() - cpu;
        assert_eq!(count(&sink_url), n as i64);
        println!("round {round}: PgSink      {:>10.0} records/s ({:.2} s)", rate(d), d.as_secs_f64());
        sink_rates.push(rate(d));
        let started = Instant::now();
        let mut steps = 0;
        while s.idle().unwrap() {
            steps += 1;
        }
        let d = started.elapsed();
        println!(
            "round {round}: search index catch-up {:>8.0} records/s ({steps} idle steps, {:.2} ms each)",
            rate(d),
            d.as_secs_f64() * 1e3 / (steps + 1) as f64
        );
        catch_up.push(rate(d));

        if v2 {
            let url = server.create_database();
            let mut s = PgSink::connect(&url).unwrap();
            Client::connect(&url, NoTls).unwrap().batch_execute(V2_INDEXES).unwrap();
            let d = sink(&mut s, &origin, &data);
            assert_eq!(count(&url), n as i64);
            println!("round {round}: PgSink v2ix {:>10.0} records/s ({:.2} s)", rate(d), d.as_secs_f64());
            v2_rates.push(rate(d));
        }
        if trgm {
            let url = server.create_database();
            let mut s = PgSink::connect(&url).unwrap();
            Client::connect(&url, NoTls).unwrap().batch_execute(TRGM_INDEX).unwrap();
            let d = sink(&mut s, &origin, &data);
            assert_eq!(count(&url), n as i64);
            println!("round {round}: PgSink+trgm {:>10.0} records/s ({:.2} s)", rate(d), d.as_secs_f64());
            trgm_rates.push(rate(d));
        }
    }
    let total = (n * rounds) as f64;
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (best_raw, best_sink) = (best(&raw_rates), best(&sink_rates));
    let (med_raw, med_sink) = (median(raw_rates), median(sink_rates.clone()));
    println!(
        "raw driver: best {best_raw:.0}, median {med_raw:.0} records/s; client CPU {:.2} µs/record",
        raw_cpu * 1e6 / total
    );
    println!(
        "PgSink:     best {best_sink:.0}, median {med_sink:.0} records/s; client CPU {:.2} µs/record",
        sink_cpu * 1e6 / total
    );
    println!("search index catch-up: median {:.0} records/s", median(catch_up));
    if v2 {
        let (best_v2, med_v2) = (best(&v2_rates), median(v2_rates));
        println!(
            "PgSink (schema 3 indexes) / PgSink (schema 2 indexes): best {:.1} %, median {:.1} %",
            100.0 * best_sink / best_v2,
            100.0 * med_sink / med_v2
        );
    }
    if trgm {
        let (best_trgm, med_trgm) = (best(&trgm_rates), median(trgm_rates));
        println!(
            "PgSink+trgm / PgSink: best {:.1} %, median {:.1} %",
            100.0 * best_trgm / best_sink,
            100.0 * med_trgm / med_sink
        );
    }
    println!("PgSink / raw: best {:.1} %, median {:.1} %", 100.0 * best_sink / best_raw, 100.0 * med_sink / med_raw);
}
