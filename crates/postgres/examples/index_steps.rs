//! Times the sink's idle search-index steps on an existing database (the
//! figures in docs/performance.md, "The search mark without a table lock").
//!
//! ```sh
//! cargo run --release -p log-panel-postgres --example index_steps -- fill postgres://…/db 1000000
//! cargo run --release -p log-panel-postgres --example index_steps -- steps postgres://…/db 50000
//! ```
//!
//! `fill` stores that many records through `PgSink` (batches of 10 000) and
//! indexes them. `steps` times, with the load average before and after:
//! 500 idle steps with nothing to index (the bound alone: how the step learns
//! which ids are final), then moves the search mark back by the given number
//! of rows (deleting their search rows, then `VACUUM`) and times every idle
//! step until the index has caught up again (or a step says it has nothing
//! more it may do); with `INDEX_STEPS_VACUUM=1` another connection holds
//! `VACUUM`'s lock on `log_records` meanwhile. Built from two versions of the
//! crate, the two binaries can be run alternately on one database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use log_panel_core::{Batch, Origin, Sink};
use log_panel_postgres::PgSink;
use log_panel_testing::records::{load_average, requests};
use postgres::{Client, NoTls};

const BATCH: usize = 10_000;
const START: i64 = 1_763_800_000_000_000;

fn summary(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q) as usize]);
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    println!(
        "{what}: {} steps, p50 {:.3} ms, p95 {:.3} ms, max {:.3} ms, mean {:.3} ms",
        times.len(),
        at(0.5),
        at(0.95),
        at(1.0),
        mean
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, url, n) = match args.as_slice() {
        [_, mode, url, n] => (mode.as_str(), url.as_str(), n.parse::<usize>().expect("a number")),
        _ => panic!("usage: index_steps fill|steps URL N"),
    };
    let mut sink = PgSink::connect(url).unwrap();
    match mode {
        "fill" => {
            let origin = Origin::new("bench", "h", 1);
            for from in (0..n).step_by(BATCH) {
                sink.write(&Batch::new(&origin, &requests(from, BATCH.min(n - from), START, 350_000))).unwrap();
            }
            while sink.idle().unwrap() {}
        }
        "steps" => {
            println!("load before: {}", load_average());
            let mut db = Client::connect(url, NoTls).unwrap();
            // A session that has run no statement yet counts as one that may be
            // inside a transaction (its status shows no statement start), and
            // would send every step's bound to `pg_locks`.
            db.batch_execute("SELECT 1").unwrap();
            while sink.idle().unwrap() {}
            let mut idle = Vec::new();
            for _ in 0..500 {
                let t = Instant::now();
                assert!(!sink.idle().unwrap(), "nothing to index");
                idle.push(t.elapsed());
            }
            summary("nothing to index", idle);
            db.batch_execute(&format!(
                "BEGIN;
                 UPDATE log_search_mark SET last_id = (SELECT max(id) FROM log_records) - {n};
                 DELETE FROM log_search WHERE id > (SELECT last_id FROM log_search_mark);
                 DELETE FROM log_search_num WHERE id > (SELECT last_id FROM log_search_mark);
                 COMMIT;"
            ))
            .unwrap();
            db.batch_execute("VACUUM log_search, log_search_num").unwrap();
            // With INDEX_STEPS_VACUUM=1, another connection holds what VACUUM holds on
            // log_records (SHARE UPDATE EXCLUSIVE) while the steps run.
            let mut vacuum = Client::connect(url, NoTls).unwrap();
            if std::env::var("INDEX_STEPS_VACUUM").is_ok_and(|v| v == "1") {
                vacuum.batch_execute("BEGIN; LOCK TABLE log_records IN SHARE UPDATE EXCLUSIVE MODE").unwrap();
                println!("beside a vacuum's lock");
            }
            let mut steps = Vec::new();
            let started = Instant::now();
            loop {
                let t = Instant::now();
                let more = sink.idle().unwrap();
                steps.push(t.elapsed());
                if !more {
                    break;
                }
            }
            let total = started.elapsed();
            vacuum.batch_execute("ROLLBACK").unwrap();
            summary(&format!("indexing {n} rows"), steps);
            let (mark, max): (i64, i64) = db
                .query_one("SELECT (SELECT last_id FROM log_search_mark), (SELECT max(id) FROM log_records)", &[])
                .map(|r| (r.get(0), r.get(1)))
                .unwrap();
            println!(
                "indexed {} of {n} rows, {:.0} records/s",
                n as i64 - (max - mark),
                (n as i64 - (max - mark)) as f64 / total.as_secs_f64()
            );
            println!("load after: {}", load_average());
        }
        other => panic!("unknown mode {other}: fill or steps"),
    }
}
