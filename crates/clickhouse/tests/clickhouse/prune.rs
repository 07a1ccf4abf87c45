//! Prune and rebuild on the two shards, against the reference store: the
//! part of the conformance suite that runs last, on its own (the whole
//! suite takes long on the packaged server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_clickhouse::{ChMaintenance, ChStore};
use log_panel_core::Timestamp;
use log_panel_query::conformance::{BASE, SPAN};
use log_panel_query::{CardsQuery, Maintenance, PageAt, RecordFilter, Slots, Store, DAY};
use log_panel_testing::clickhouse::Cluster;

#[test]
fn prune_drops_old_days_with_their_aggregates_and_rebuild_agrees() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let reference = crate::filled(&url);
    let store = ChStore::connect(&url).unwrap();
    let maintenance = ChMaintenance::connect(&url).unwrap();
    let before = Timestamp(BASE.0 + DAY + 5);
    let mut old = RecordFilter::default();
    old.until = Some(before);
    let expected = reference.all(&old).len() as u64;
    assert!(expected > 0);
    assert_eq!(maintenance.prune(before, 100, true).unwrap().deleted, expected, "dry run counts");
    assert_eq!(maintenance.prune(before, 97, false).unwrap().deleted, expected, "prune deletes");
    reference.prune(before, 97, false).unwrap();
    let all = RecordFilter::default();
    let left = store.records(&all, PageAt::Newest, 5_000).unwrap().records.len();
    assert_eq!(left, reference.all(&all).len(), "records left");
    assert_eq!(store.loggers().unwrap(), reference.loggers().unwrap(), "a logger with no records left is gone");
    let now = Timestamp(BASE.0 + SPAN);
    let query = CardsQuery::new(Slots::hours_until(now, 72).unwrap(), now);
    assert_eq!(store.cards(&query).unwrap(), reference.cards(&query).unwrap(), "cards after prune");
    let sites = |s: &dyn Store| crate::sites(s, &all);
    assert_eq!(sites(&store), sites(&reference), "call sites (the site table) after prune");
    maintenance.rebuild().unwrap();
    assert_eq!(store.cards(&query).unwrap(), reference.cards(&query).unwrap(), "cards after rebuild");
    assert_eq!(sites(&store), sites(&reference), "call sites after rebuild");
    assert_eq!(maintenance.prune(before, 97, false).unwrap().deleted, 0, "a second prune finds nothing");
}
