//! The shared `Store` conformance suite (`log_panel_query::conformance`)
//! against PgStore on a throwaway server, written by PgSink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_postgres::{PgMaintenance, PgStore};
use log_panel_query::conformance;
use log_panel_testing::postgres::fresh_sink;

#[test]
fn pg_store_passes_the_conformance_suite() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let store = PgStore::connect(&url).unwrap();
    let maintenance = PgMaintenance::connect(&url).unwrap();
    conformance::run(&mut sink, &store, &maintenance);
}
