//! The shared `Store` conformance suite (`log_panel_query::conformance`)
//! against ChStore on the two-shard cluster, written by ChSink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_clickhouse::{ChSink, ChStore};
use log_panel_query::conformance;
use log_panel_testing::clickhouse::Cluster;

#[test]
fn ch_store_passes_the_conformance_suite() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let mut sink = ChSink::connect(&url).unwrap();
    let store = ChStore::connect(&url).unwrap();
    conformance::run(&mut sink, &store);
}
