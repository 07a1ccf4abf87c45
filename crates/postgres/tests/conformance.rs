//! The shared `Store` conformance suite (`log_panel_core::store::conformance`)
//! against PgStore on a throwaway server, written by PgSink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::store::conformance;
use log_panel_postgres::testing::TestServer;
use log_panel_postgres::{PgSink, PgStore};

#[test]
fn pg_store_passes_the_conformance_suite() {
    let Some(url) = TestServer::shared_database() else { return };
    let mut sink = PgSink::connect(&url).unwrap();
    let store = PgStore::connect(&url).unwrap();
    conformance::run(&mut sink, &store);
}
