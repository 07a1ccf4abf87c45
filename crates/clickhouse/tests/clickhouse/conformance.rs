//! The shared `Store` conformance suite (`log_panel_query::conformance`)
//! against ChStore on the two-shard cluster, written by ChSink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_clickhouse::{ChMaintenance, ChSink, ChStore};
use log_panel_query::conformance;
use log_panel_testing::clickhouse::Cluster;

// Ignored in `cargo test` until it has passed end to end: on the packaged 18.16 it takes 14–28
// minutes here (every query through a `Distributed` table), and one run met the server's
// intermittent code 101 ("Unexpected packet Data received from client") on a page query.
// Run it with `cargo test -p log-panel-clickhouse -- --ignored`.
#[test]
#[ignore = "slow on 18.16 and not yet passed end to end; run with --ignored"]
fn ch_store_passes_the_conformance_suite() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let mut sink = ChSink::connect(&url).unwrap();
    let store = ChStore::connect(&url).unwrap();
    let maintenance = ChMaintenance::connect(&url).unwrap();
    conformance::run(&mut sink, &store, &maintenance);
}
