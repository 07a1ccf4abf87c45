//! What `Store::index_lag` costs, the read a search page adds for its note
//! (docs/performance.md, "Index lag"): on each file of `LOG_PANEL_LAG_DBS`
//! (comma-separated paths, opened by the store, which never writes), the
//! lag itself, then a search page without and with the note, alternating.
//!
//! ```text
//! LOG_PANEL_LAG_DBS=/work/data/c/h10m.db,/tmp/lag10m.db cargo bench -p log-panel-sqlite --bench lag
//! ```
//!
//! Each read runs `LOG_PANEL_BENCH_ROUNDS` (default 200) times; one line of
//! JSON per read with the answer, the median, the p95 and the maximum in ms.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ms, timed};
use log_panel_query::{index_note, PageAt, RecordFilter, Store};
use log_panel_sqlite::SqliteStore;

fn main() {
    let rounds: usize = std::env::var("LOG_PANEL_BENCH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let dbs = std::env::var("LOG_PANEL_LAG_DBS").expect("LOG_PANEL_LAG_DBS: the files to read");
    for db in dbs.split(',') {
        let store = SqliteStore::open(std::path::Path::new(db)).unwrap();
        let first = timed(|| store.index_lag().unwrap());
        let mut lag = Vec::new();
        for _ in 0..rounds {
            lag.push(timed(|| store.index_lag().unwrap()).1);
        }
        let (p50, p95, max) = ms(lag);
        println!(
            "{{\"db\": \"{db}\", \"read\": \"index_lag\", \"answer\": \"{:?}\", \"first_ms\": {:.3}, \"median_ms\": {p50:.3}, \"p95_ms\": {p95:.3}, \"max_ms\": {max:.3}}}",
            first.0, first.1
        );
        // A search page (`LOG_PANEL_LAG_WORD`, default `finished`: a word of
        // the newest records of the hostile file), alone and
        // with its note, alternating so both meet the same cache.
        let mut search = RecordFilter::default();
        search.text = Some(std::env::var("LOG_PANEL_LAG_WORD").unwrap_or_else(|_| "finished".into()));
        let (mut alone, mut noted) = (Vec::new(), Vec::new());
        for _ in 0..rounds.min(50) {
            alone.push(timed(|| store.records(&search, PageAt::Newest, 50).unwrap()).1);
            noted.push(
                timed(|| {
                    let note = index_note(&store, &search);
                    (store.records(&search, PageAt::Newest, 50).unwrap(), note)
                })
                .1,
            );
        }
        for (what, times) in [("search page", alone), ("search page + note", noted)] {
            let (p50, p95, max) = ms(times);
            println!(
                "{{\"db\": \"{db}\", \"read\": \"{what}\", \"median_ms\": {p50:.3}, \"p95_ms\": {p95:.3}, \"max_ms\": {max:.3}}}"
            );
        }
    }
}
