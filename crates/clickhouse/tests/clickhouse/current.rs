//! Works on a current ClickHouse too: every statement the crate sends to
//! the packaged 18.16 server — the DDL and materialised views, the inserts'
//! RowBinary bytes, every read of the store, prune and rebuild — is logged
//! (`Options::with_statement_log`) and replayed on a current engine
//! (`chdb-core`, in-process), which must run each one and answer each read
//! with the same rows (`tests/replay_on_current.py`).
//!
//! Twice: on one server without a cluster (the read tables are `Merge`
//! tables), and on the two shards of the cluster (the read tables are
//! `Distributed`), replayed on an engine whose configuration names the
//! cluster with one shard, itself (see the script).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use log_panel_clickhouse::{ChMaintenance, ChSink, ChStore, Options};
use log_panel_core::{Batch, Level, Record, Sink, Timestamp, DAY};
use log_panel_query::conformance::{data_set, filters, BASE, SPAN};
use log_panel_query::{CardsQuery, FieldValue, Maintenance, PageAt, Slots, Store};
use log_panel_testing::clickhouse::{current_engine_python, Cluster, CLUSTER};

#[test]
fn every_statement_runs_on_a_current_release_with_the_same_answers() {
    let Some(cluster) = Cluster::shared() else { return };
    let Some(python) = current_engine_python() else { return };
    let db = crate::database(&cluster.create_database());
    let single = format!("clickhouse://127.0.0.1:{}/{db}", cluster.http_port(0));
    replayed_on_current(&python, &single, None);
}

#[test]
fn every_statement_through_distributed_tables_runs_on_a_current_release_with_the_same_answers() {
    let Some(cluster) = Cluster::shared() else { return };
    let Some(python) = current_engine_python() else { return };
    let url = cluster.create_database();
    let summary = replayed_on_current(&python, &url, Some(CLUSTER));
    // Both shards' DDL: the six read tables on each.
    assert_eq!(summary["distributed_ddl"].as_u64(), Some(12), "{summary:#}");
    assert!(summary["distributed_reads"].as_u64().unwrap() > 200, "{summary:#}");
}

/// Writes and reads everything through `url` with a statement log, replays
/// the log on the current engine (`cluster`: the one the URL names) and
/// returns the replay's summary once it agreed.
fn replayed_on_current(python: &Path, url: &str, cluster: Option<&str>) -> serde_json::Value {
    let db = crate::database(url);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("statements.jsonl");
    let options = Options::parse(url).unwrap().with_statement_log(&log);

    // Writes: the conformance data set (three days, five loggers, context of
    // every type), a record with NUL and non-ASCII text, a batch across midnight.
    let mut sink = ChSink::new(options.clone()).unwrap();
    let mut written = 0;
    for (origin, records) in data_set() {
        sink.write(&Batch::new(&origin, &records)).unwrap();
        written += records.len();
    }
    let (origin, _) = &data_set()[0];
    let mut odd = Record::new(Level::Warn, "web::api", "nul\0 and ünïcödé ✓".to_owned());
    odd.timestamp = Timestamp(BASE.0 + SPAN - 1);
    let mut night: Vec<Record> = (0..4).map(|i| Record::new(Level::Info, "billing", format!("midnight {i}"))).collect();
    for (i, r) in night.iter_mut().enumerate() {
        r.timestamp = Timestamp(BASE.0 + DAY - 2_000_000 + i as i64 * 1_000_000);
    }
    sink.write(&Batch::new(origin, &[odd])).unwrap();
    sink.write(&Batch::new(origin, &night)).unwrap();
    written += 5;
    drop(sink);

    // Reads: every method of the read trait, over every filter of the conformance suite.
    let store = ChStore::open(options.clone()).unwrap();
    let maintenance = ChMaintenance::open(options).unwrap();
    let now = Timestamp(BASE.0 + SPAN);
    let hours = Slots::hours_until(now, 24).unwrap();
    let days = Slots::days_until(now, 0, 4).unwrap();
    let mut reads = 0;
    for (name, filter) in filters() {
        let page = store.records(&filter, PageAt::Newest, 20).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(older) = page.older {
            let next = store.records(&filter, PageAt::Older(older), 20).unwrap();
            if let Some(newer) = next.newer {
                store.records(&filter, PageAt::Newer(newer), 20).unwrap();
            }
        }
        store.tail(&filter, None, 10).unwrap();
        store.histogram(&filter, &hours).unwrap();
        store.histogram(&filter, &days).unwrap();
        store.call_sites(&filter, 10).unwrap();
        store.field_keys(&filter, 5, 1000).unwrap();
        store.field_values(&filter, "user", 5, 1000).unwrap();
        store.split(&filter, "user", &hours, 3).unwrap();
        reads += 1;
    }
    let newest = store.records(&Default::default(), PageAt::Newest, 1).unwrap();
    let id = newest.records[0].id;
    assert!(store.record(id).unwrap().is_some());
    store.tail(&Default::default(), Some(id - 1), 10).unwrap();
    store.related("request_id", &FieldValue::Text("r-7".into()), 50).unwrap();
    store.cards(&CardsQuery::new(days.clone(), now)).unwrap();
    store.loggers().unwrap();
    // Maintenance: a dry run, a prune of the first day, a rebuild, then reads again.
    maintenance.prune(Timestamp(BASE.0 + DAY), 100, true).unwrap();
    let pruned = maintenance.prune(Timestamp(BASE.0 + DAY), 100, false).unwrap();
    assert!(pruned.deleted > 0);
    maintenance.rebuild().unwrap();
    store.cards(&CardsQuery::new(days.clone(), now)).unwrap();
    store.histogram(&Default::default(), &days).unwrap();
    assert!(reads > 10);

    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/replay_on_current.py"))
        .args([log.as_os_str(), db.as_ref(), dir.path().as_os_str()])
        .args(cluster)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("the replay printed no summary: {stdout}\n{stderr}"));
    println!("replayed on the current engine: {summary}");
    assert!(out.status.success(), "the current engine disagreed: {summary:#}\n{stderr}");
    // Everything was replayed: each insert, and the rows the sink stored.
    assert_eq!(summary["inserted_rows"].as_u64(), Some(written as u64), "{summary:#}");
    assert!(summary["inserts"].as_u64().unwrap() >= 4, "{summary:#}");
    assert!(summary["compared"].as_u64().unwrap() > 200, "{summary:#}");
    summary
}
