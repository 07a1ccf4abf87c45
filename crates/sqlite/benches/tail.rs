//! `key=value` reads over an unindexed tail: the request view's `related`
//! and a records page filtered on a context field, with every record above
//! the context side table's mark (as behind a writer whose idle steps lag).
//! docs/performance.md, "The unindexed tail's pre-check".
//!
//! ```text
//! LOG_PANEL_BENCH_DB=/tmp/tail.db LOG_PANEL_BENCH_RECORDS=200000 cargo bench -p log-panel-sqlite --bench tail
//! ```
//!
//! `LOG_PANEL_BENCH_DB` (default: a temp file, removed after) is filled with
//! `LOG_PANEL_BENCH_RECORDS` (default 200 000) records of
//! [`app_batch`] when it does not exist, never indexed, so one filled file
//! serves several builds. Each lookup runs `LOG_PANEL_BENCH_ROUNDS`
//! (default 20) times; prints one line of JSON per lookup with the
//! median and the minimum in ms.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use log_panel_core::{Batch, Origin, Sink};
use log_panel_query::{FieldMatch, FieldValue, PageAt, RecordFilter, Store};
use log_panel_sqlite::{SqliteSink, SqliteStore};

use log_panel_testing::records::{app_batch, APP_BATCH};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let records = env("LOG_PANEL_BENCH_RECORDS", 200_000);
    let rounds = env("LOG_PANEL_BENCH_ROUNDS", 20);
    let tmp = tempfile::tempdir().unwrap();
    let db = std::env::var_os("LOG_PANEL_BENCH_DB").map_or_else(|| tmp.path().join("tail.db"), Into::into);
    if !db.exists() {
        let mut sink = SqliteSink::open(&db).unwrap();
        let origin = Origin::new("bench", "h", 1);
        for n in 0..records.div_ceil(APP_BATCH) {
            sink.write(&Batch::new(&origin, &app_batch(n))).unwrap();
        }
    }
    let store = SqliteStore::open(&db).unwrap();
    let unindexed = store.unindexed().unwrap();
    // A request in the middle of the tail (7 records), a user (one record in 1 013).
    let request = format!("req-{:08x}", records / 2 / 7);
    let lookups = [("request_id", FieldValue::Text(request)), ("user", FieldValue::Text("u500".into()))];
    for (key, value) in &lookups {
        let mut filter = RecordFilter::default();
        filter.fields.push(FieldMatch::new(*key, value.clone()).unwrap());
        for (what, run) in [
            ("related", &(|| store.related(key, value, 1_000).unwrap().len()) as &dyn Fn() -> usize),
            ("page", &|| store.records(&filter, PageAt::Newest, 50).unwrap().records.len()),
        ] {
            let mut ms = Vec::with_capacity(rounds);
            let mut found = 0;
            for _ in 0..rounds {
                let t = Instant::now();
                found = run();
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            ms.sort_by(f64::total_cmp);
            println!(
                "{{\"read\": \"{what}\", \"key\": \"{key}\", \"unindexed\": {unindexed}, \"found\": {found}, \
                 \"median_ms\": {:.2}, \"min_ms\": {:.2}}}",
                ms[ms.len() / 2],
                ms[0],
            );
        }
    }
}
