//! The shared `Store` conformance suite (`log_panel_query::conformance`)
//! against PgStore on a throwaway server, written by PgSink: into one table,
//! and into one partitioned by day.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_postgres::{PgMaintenance, PgSink, PgStore};
use log_panel_query::conformance;
use log_panel_testing::postgres::{client, fresh_sink, TestServer};

use super::partitions::partitions;

#[test]
fn pg_store_passes_the_conformance_suite() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let store = PgStore::connect(&url).unwrap();
    let maintenance = PgMaintenance::connect(&url).unwrap();
    conformance::run(&mut sink, &store, &maintenance);
}

/// The same suite on `partition=day`: its prune (to just after the data
/// set's first day) drops that day's partition whole and deletes the rest row
/// by row, and every read before and after answers as on one table.
#[test]
fn pg_store_partitioned_by_day_passes_the_conformance_suite() {
    let Some(url) = TestServer::shared_database() else { return };
    let mut sink = PgSink::connect(&format!("{url}?partition=day")).unwrap();
    let store = PgStore::connect(&url).unwrap();
    let maintenance = PgMaintenance::connect(&url).unwrap();
    conformance::run(&mut sink, &store, &maintenance);
    let days = partitions(&mut client(&url));
    // The data set's days are 2026-11-26 to 28 (from `conformance::BASE`).
    assert_eq!(conformance::BASE.0, 1_795_651_200_000_000);
    assert!(!days.iter().any(|d| d == "log_records_20261126"), "the first day was dropped whole: {days:?}");
    for day in ["log_records_20261127", "log_records_20261128"] {
        assert!(days.iter().any(|d| d == day), "{day} in {days:?}");
    }
}
