//! The call-site table (`log_site_hourly`, version 4): call sites over whole
//! hours read it and the partial hours at the ends read the records, and the
//! two together give what the records alone give; migrating a database of
//! version 3 fills it from the records already there, and a reader of a
//! shard still at version 3 reads the records alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_clickhouse::schema::LATEST_VERSION;
use log_panel_clickhouse::{ChMaintenance, ChStore};
use log_panel_core::Timestamp;
use log_panel_query::conformance::{MemoryStore, BASE, SPAN};
use log_panel_query::{LoggerMatch, Maintenance, RecordFilter, DAY, HOUR};
use log_panel_testing::clickhouse::Cluster;

use crate::sites;

/// Filters the site table answers (loggers and time), with ranges on and
/// off whole hours, and one it cannot (an app) beside them.
fn filters() -> Vec<(String, RecordFilter)> {
    let mut out = vec![("all".to_owned(), RecordFilter::default())];
    for (since, until) in [
        (Some(BASE.0 + 7), Some(BASE.0 + SPAN - 13)),
        (Some(BASE.0 + HOUR), Some(BASE.0 + DAY)),
        (Some(BASE.0 + DAY + 1_234_567), None),
        (None, Some(BASE.0 + 2 * DAY + 3 * HOUR + 1)),
        (Some(BASE.0 + 90_000_000), Some(BASE.0 + HOUR + 5)),
    ] {
        let mut f = RecordFilter::default();
        f.since = since.map(Timestamp);
        f.until = until.map(Timestamp);
        out.push((format!("{since:?}..{until:?}"), f.clone()));
        f.logger = Some(LoggerMatch::Tree("web".into()));
        out.push((format!("web tree, {since:?}..{until:?}"), f.clone()));
        f.app = Some("worker".into());
        out.push((format!("app worker, {since:?}..{until:?}"), f));
    }
    out
}

fn check(store: &ChStore, reference: &MemoryStore, when: &str) {
    for (name, filter) in filters() {
        let want = sites(reference, &filter);
        assert_eq!(sites(store, &filter), want, "call sites, {name}, {when}");
    }
}

/// Rows of the site table and records, per shard.
fn counted(cluster: &Cluster, db: &str) -> Vec<(u64, u64)> {
    (0..cluster.len())
        .map(|i| {
            let n = |sql: &str| cluster.query(i, sql).trim().parse::<u64>().unwrap();
            let sites = n(&format!(
                "SELECT sum(n) FROM (SELECT countIfMerge(trace) + countIfMerge(debug) + countIfMerge(info) + \
                 countIfMerge(warn) + countIfMerge(error) AS n FROM {db}.log_site_hourly_local \
                 GROUP BY logger, file_key, line_key, bucket)"
            ));
            (sites, n(&format!("SELECT count() FROM {db}.log_records_local")))
        })
        .collect()
}

#[test]
fn call_sites_read_the_site_table_for_whole_hours_and_match_the_records() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let reference = crate::filled(&url);
    let store = ChStore::connect(&url).unwrap();
    check(&store, &reference, "as written");
    for (sites, records) in counted(cluster, &db) {
        assert!(records > 0);
        assert_eq!(sites, records, "the view counted every record once");
    }
    // Rows deleted behind the view's back (a mutation): whole hours still
    // count them, which shows they come from the table, until a rebuild.
    let all = RecordFilter::default();
    let counted_before: u64 = sites(&store, &all).iter().map(|s| s.counts.total()).sum();
    for i in 0..cluster.len() {
        cluster.query(i, &format!("ALTER TABLE {db}.log_records_local DELETE WHERE logger = 'billing::db'"));
    }
    let gone = {
        let mut f = RecordFilter::default();
        f.logger = Some(LoggerMatch::Exact("billing::db".into()));
        reference.all(&f).len() as u64
    };
    assert!(gone > 0);
    let mut waited = 0;
    while counted(cluster, &db).iter().map(|(_, r)| r).sum::<u64>() + gone
        != counted(cluster, &db).iter().map(|(s, _)| s).sum::<u64>()
    {
        waited += 1;
        assert!(waited < 600, "the delete did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let counted_now: u64 = sites(&store, &all).iter().map(|s| s.counts.total()).sum();
    assert_eq!(counted_now, counted_before, "whole hours come from the site table");
    ChMaintenance::connect(&url).unwrap().rebuild().unwrap();
    let counted_rebuilt: u64 = sites(&store, &all).iter().map(|s| s.counts.total()).sum();
    assert_eq!(counted_rebuilt, counted_before - gone, "a rebuild recomputes the site table");
}

#[test]
fn migrating_a_version_3_database_fills_the_site_table() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let reference = crate::filled(&url);
    // Version 3 as an older build left it: no site table, no view; first on
    // the second shard alone (a lazy sink migrates a shard before its first
    // insert there only).
    let forge = |i: usize| {
        for table in ["log_site_hourly_mv", "log_site_hourly", "log_site_hourly_local", "log_panel_schema"] {
            cluster.query(i, &format!("DROP TABLE {db}.{table}"));
        }
        cluster.query(i, &format!("CREATE TABLE {db}.log_panel_schema (version UInt32) ENGINE = TinyLog"));
        cluster.query(i, &format!("INSERT INTO {db}.log_panel_schema (version) VALUES (3)"));
    };
    forge(1);
    check(&ChStore::connect(&url).unwrap(), &reference, "one shard of version 3: the records alone");
    forge(0);
    check(&ChStore::connect(&url).unwrap(), &reference, "version 3: the records alone");
    assert_eq!(ChMaintenance::migrate(&url).unwrap(), (3, LATEST_VERSION));
    for (sites, records) in counted(cluster, &db) {
        assert!(records > 0);
        assert_eq!(sites, records, "the migration filled the site table from the records");
    }
    assert_eq!(ChMaintenance::migrate(&url).unwrap(), (LATEST_VERSION, LATEST_VERSION));
    for (sites, records) in counted(cluster, &db) {
        assert_eq!(sites, records, "a second migration adds nothing");
    }
    check(&ChStore::connect(&url).unwrap(), &reference, "after migrating");
}
