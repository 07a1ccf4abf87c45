//! Times what the look-up by content costs a spool's replay after a restart
//! (the figures in docs/reliability.md, "Session 46: a batch in doubt that
//! outlives its process").
//!
//! ```sh
//! cargo run --release -p log-panel-postgres --example replay_lookup -- postgres://…/postgres 1000000 2
//! ```
//!
//! Each round, in alternating order, stores the given number of records in
//! batches of 1 000 (the writer's replay batch) through a new `PgSink`, each
//! side in a new database: `live`, records logged after the sink started (no
//! look-up, the baseline); `replay`, the same records logged before it (a
//! spool an earlier process left, none stored: every batch looked up, then
//! written). After `replay`, `stored` replays them again through another new
//! sink (a committed batch's spool: every batch looked up, found stored,
//! nothing written). Prints each side's time and records per second.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use log_panel_core::{Batch, Origin, Record, Sink, Timestamp};
use log_panel_postgres::PgSink;
use log_panel_testing::records::{load_average, requests};
use postgres::{Client, NoTls};

const BATCH: usize = 1_000;
/// 2025-11-22: records logged long before any sink of this run started.
const PAST: i64 = 1_763_800_000_000_000;

/// Stores `records` in batches through a new sink; the time taken.
fn store(url: &str, records: &[Record]) -> Duration {
    let origin = Origin::new("replay", "bench", 7);
    let mut sink = PgSink::connect(url).unwrap();
    let started = Instant::now();
    for batch in records.chunks(BATCH) {
        sink.write(&Batch::new(&origin, batch)).unwrap();
    }
    started.elapsed()
}

fn count(url: &str) -> i64 {
    Client::connect(url, NoTls).unwrap().query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0)
}

fn report(side: &str, round: usize, n: usize, took: Duration) {
    let secs = took.as_secs_f64();
    println!("round {round} {side:>7}: {secs:8.2} s, {:9.0} records/s (load {})", n as f64 / secs, load_average());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (admin, n, rounds) = match &args[1..] {
        [url, n, rounds] => (url.clone(), n.parse::<usize>().unwrap(), rounds.parse::<usize>().unwrap()),
        _ => panic!("usage: replay_lookup <postgres://…/postgres> <records> <rounds>"),
    };
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    let mut client = Client::connect(&admin, NoTls).unwrap();
    let mut fresh = |name: &str| {
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        format!("{base}/{name}")
    };
    let past = requests(0, n, PAST, 350);
    for round in 0..rounds {
        let order = if round % 2 == 0 { ["live", "replay"] } else { ["replay", "live"] };
        for side in order {
            let url = fresh(&format!("replay_lookup_{side}"));
            if side == "live" {
                // Logged after the sink starts: a moment from now on.
                let live = requests(0, n, Timestamp::now().as_micros() + 60_000_000, 350);
                report(side, round, n, store(&url, &live));
                assert_eq!(count(&url), n as i64);
            } else {
                report(side, round, n, store(&url, &past));
                assert_eq!(count(&url), n as i64);
                report("stored", round, n, store(&url, &past));
                assert_eq!(count(&url), n as i64, "a replay of stored records wrote some again");
            }
        }
    }
}
