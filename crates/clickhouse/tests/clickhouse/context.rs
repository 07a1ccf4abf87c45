//! The context side table (`log_context`): `key=value` pages and `related`
//! narrowed through it return exactly what the arrays alone return, before
//! and after a prune; a pruned day leaves it with the records; migrating a
//! database of version 2 fills it from the records already there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_clickhouse::schema::LATEST_VERSION;
use log_panel_clickhouse::{ChMaintenance, ChStore};
use log_panel_core::Timestamp;
use log_panel_query::conformance::{MemoryStore, BASE};
use log_panel_query::{Cursor, FieldMatch, FieldValue, Maintenance, PageAt, RecordFilter, Store, DAY};
use log_panel_testing::clickhouse::Cluster;

/// Pairs of every typed form: text matching a string or a number, an
/// integer, a string, a boolean, a fraction, and a pair nothing has.
fn pairs() -> Vec<(&'static str, FieldValue)> {
    vec![
        ("request_id", FieldValue::Text("r-7".into())),
        ("request_id", FieldValue::Text("r-480".into())),
        ("user_id", FieldValue::Text("3".into())),
        ("user_id", FieldValue::Int(0)),
        ("code", FieldValue::Str("2".into())),
        ("code", FieldValue::Text("2".into())),
        ("retry", FieldValue::Text("true".into())),
        ("latency", FieldValue::Text("700".into())),
        ("latency", FieldValue::Text("10.25".into())),
        ("user_id", FieldValue::Text("r-7".into())),
    ]
}

/// The ids of `filter`'s records straight from the records' arrays, the
/// typed forms spelled out by hand, newest first.
fn by_arrays(cluster: &Cluster, db: &str, key: &str, value: &FieldValue) -> Vec<i64> {
    let forms = match value {
        FieldValue::Text(t) if t == "true" => "v = 's:true' OR v = 'b:true'".to_owned(),
        FieldValue::Text(t) if t.contains('.') => {
            format!("v = 's:{t}' OR (substring(v, 1, 2) = 'n:' AND toFloat64OrZero(substring(v, 3)) = {t})")
        }
        FieldValue::Text(t) if t.parse::<i64>().is_ok() => format!("v = 's:{t}' OR v = 'n:{t}'"),
        FieldValue::Text(t) | FieldValue::Str(t) => format!("v = 's:{t}'"),
        FieldValue::Int(i) => format!("v = 'n:{i}'"),
        other => panic!("no forms written for {other:?}"),
    };
    let sql = format!(
        "SELECT id FROM {db}.log_records WHERE arrayExists((k, v) -> k = '{key}' AND ({forms}), context_keys, \
         context_values) ORDER BY ts DESC, id DESC"
    );
    cluster.query(0, &sql).lines().map(|l| l.trim().parse().unwrap()).collect()
}

fn check_pairs(cluster: &Cluster, db: &str, store: &ChStore, reference: &MemoryStore, when: &str) {
    let mut matched = 0;
    for (key, value) in pairs() {
        let want = by_arrays(cluster, db, key, &value);
        let mut filter = RecordFilter::default();
        filter.fields.push(FieldMatch::new(key, value.clone()).unwrap());
        let page: Vec<i64> =
            store.records(&filter, PageAt::Newest, 5_000).unwrap().records.iter().map(|r| r.id).collect();
        assert_eq!(page, want, "{when}: page of {key}={value:?}");
        // Page by page (each window's and each cursor's lookups bounded), older then back newer.
        let (mut walked, mut at, mut last) = (Vec::new(), PageAt::Newest, None);
        loop {
            let p = store.records(&filter, at, 7).unwrap();
            walked.extend(p.records.iter().map(|r| r.id));
            last = p.records.last().map(Cursor::of).or(last);
            let Some(c) = p.older else { break };
            at = PageAt::Older(c);
        }
        assert_eq!(walked, want, "{when}: pages of 7 of {key}={value:?}");
        if let Some(oldest) = last {
            let newer = store.records(&filter, PageAt::Newer(oldest), 5_000).unwrap();
            let ids: Vec<i64> = newer.records.iter().map(|r| r.id).collect();
            assert_eq!(ids, want[..want.len() - 1], "{when}: the page newer than the oldest of {key}={value:?}");
        }
        let reference_page = reference.records(&filter, PageAt::Newest, 5_000).unwrap().records.len();
        assert_eq!(page.len(), reference_page, "{when}: page of {key}={value:?} against the reference");
        let mut related: Vec<i64> = store.related(key, &value, 5_000).unwrap().iter().map(|r| r.id).collect();
        related.reverse();
        assert_eq!(related, want, "{when}: related {key}={value:?}");
        matched += want.len();
    }
    assert!(matched > 100, "{when}: the pairs match records ({matched})");
}

/// Per shard: the side table's rows, and what the records' arrays hold.
fn side_rows(cluster: &Cluster, db: &str) -> Vec<(u64, u64)> {
    (0..cluster.len())
        .map(|i| {
            let side = cluster.query(i, &format!("SELECT count() FROM {db}.log_context_local"));
            let arrays = cluster.query(i, &format!("SELECT sum(length(context_keys)) FROM {db}.log_records_local"));
            (side.trim().parse().unwrap(), arrays.trim().parse().unwrap())
        })
        .collect()
}

#[test]
fn key_value_pages_and_related_read_the_side_table_and_match_the_arrays() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let reference = crate::filled(&url);
    let store = ChStore::connect(&url).unwrap();
    for (side, arrays) in side_rows(cluster, &db) {
        assert!(side > 0, "every shard's side table has rows");
        assert_eq!(side, arrays, "one side row per context key");
    }
    check_pairs(cluster, &db, &store, &reference, "before prune");

    let before = Timestamp(BASE.0 + DAY + 5);
    let maintenance = ChMaintenance::connect(&url).unwrap();
    assert!(maintenance.prune(before, 100, false).unwrap().deleted > 0);
    reference.prune(before, 100, false).unwrap();
    for i in 0..cluster.len() {
        let old = cluster.query(i, &format!("SELECT count() FROM {db}.log_context_local WHERE ts < {}", before.0));
        assert_eq!(old.trim(), "0", "shard {i}: no side row older than the cutoff");
        let days = |table: &str| {
            let sql = format!(
                "SELECT DISTINCT partition FROM system.parts WHERE database = '{db}' AND table = '{table}' \
                 AND active ORDER BY partition"
            );
            cluster.query(i, &sql)
        };
        assert_eq!(days("log_context_local"), days("log_records_local"), "shard {i}: the same days");
    }
    for (side, arrays) in side_rows(cluster, &db) {
        assert_eq!(side, arrays, "after prune, one side row per context key left");
    }
    check_pairs(cluster, &db, &store, &reference, "after prune");
    maintenance.rebuild().unwrap();
    for (side, arrays) in side_rows(cluster, &db) {
        assert_eq!(side, arrays, "after rebuild, one side row per context key");
    }
    check_pairs(cluster, &db, &store, &reference, "after rebuild");
}

/// A pair beside a rarer condition: pages of one record each, so that the
/// candidate rounds run out and the windowed read finishes a page.
#[test]
fn a_pair_beside_a_rare_condition_pages_right() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let reference = crate::filled(&url);
    let store = ChStore::connect(&url).unwrap();
    let mut filter = RecordFilter::default();
    filter.fields.push(FieldMatch::new("code", FieldValue::Str("0".into())).unwrap());
    filter.min_level = Some(log_panel_core::Level::Error);
    // Errors of `code` "0" (every 12th record) whose number starts with 1: #120, #180, #1020,
    // #1080, … #1440. #180 is 70 candidates older than #1020, more than the three rounds of a
    // page of one (2 + 8 + 32) reach.
    filter.text = Some("#1".into());
    // Messages: the reference numbers its records otherwise.
    let want: Vec<String> =
        reference.records(&filter, PageAt::Newest, 5_000).unwrap().records.into_iter().map(|r| r.message).collect();
    assert_eq!(want.len(), 10, "{want:?}");
    let (mut walked, mut at) = (Vec::new(), PageAt::Newest);
    loop {
        let p = store.records(&filter, at, 1).unwrap();
        walked.extend(p.records.iter().map(|r| r.message.clone()));
        let Some(c) = p.older else { break };
        at = PageAt::Older(c);
    }
    assert_eq!(walked, want, "pages of one of code=0, errors, #1");
}

#[test]
fn migrating_a_version_2_database_fills_the_side_table() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let reference = crate::filled(&url);
    // Version 2 as an older build left it: no side table, no view; first on the second shard
    // alone (a lazy sink migrates a shard before its first insert there only).
    let forge = |i: usize| {
        for table in [
            "log_context_mv",
            "log_context",
            "log_context_local",
            "log_site_hourly_mv",
            "log_site_hourly",
            "log_site_hourly_local",
            "log_panel_schema",
        ] {
            cluster.query(i, &format!("DROP TABLE {db}.{table}"));
        }
        cluster.query(i, &format!("CREATE TABLE {db}.log_panel_schema (version UInt32) ENGINE = TinyLog"));
        cluster.query(i, &format!("INSERT INTO {db}.log_panel_schema (version) VALUES (2)"));
    };
    let mut filter = RecordFilter::default();
    filter.fields.push(FieldMatch::new("user_id", FieldValue::Text("3".into())).unwrap());
    let want = by_arrays(cluster, &db, "user_id", &FieldValue::Text("3".into()));
    assert!(!want.is_empty());
    let page = |store: &ChStore| -> Vec<i64> {
        store.records(&filter, PageAt::Newest, 5_000).unwrap().records.iter().map(|r| r.id).collect()
    };
    forge(1);
    assert_eq!(page(&ChStore::connect(&url).unwrap()), want, "one shard of version 2: the arrays alone");
    forge(0);
    assert_eq!(page(&ChStore::connect(&url).unwrap()), want, "a reader of version 2 reads the arrays alone");
    assert_eq!(ChMaintenance::migrate(&url).unwrap(), (2, LATEST_VERSION));
    for (side, arrays) in side_rows(cluster, &db) {
        assert!(side > 0);
        assert_eq!(side, arrays, "the migration filled the side table from the records");
    }
    assert_eq!(ChMaintenance::migrate(&url).unwrap(), (LATEST_VERSION, LATEST_VERSION));
    for (side, arrays) in side_rows(cluster, &db) {
        assert_eq!(side, arrays, "a second migration adds nothing");
    }
    let store = ChStore::connect(&url).unwrap();
    check_pairs(cluster, &db, &store, &reference, "after migrating");
}
