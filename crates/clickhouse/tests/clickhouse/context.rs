//! The context side table (`log_context_pairs`): `key=value` pages and
//! `related` narrowed through it return exactly what the arrays alone
//! return, before and after a prune; a pruned day leaves it with the
//! records; a lookup reads one small granule range; migrating a database of
//! version 2 fills it from the records already there, and one of version 4
//! replaces that version's side table (`log_context`) with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_clickhouse::aggregates::CONTEXT_GRANULARITY;
use log_panel_clickhouse::schema::LATEST_VERSION;
use log_panel_clickhouse::{ChMaintenance, ChSink, ChStore};
use log_panel_core::{Batch, Sink, Timestamp};
use log_panel_query::conformance::{MemoryStore, BASE};
use log_panel_query::{Cursor, FieldMatch, FieldValue, Maintenance, PageAt, RecordFilter, Store, DAY};
use log_panel_testing::clickhouse::{Cluster, CLUSTER};
use log_panel_testing::records::{origin, sequence};

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
            let side = cluster.query(i, &format!("SELECT count() FROM {db}.log_context_pairs_local"));
            let arrays = cluster.query(i, &format!("SELECT sum(length(context_keys)) FROM {db}.log_records_local"));
            (side.trim().parse().unwrap(), arrays.trim().parse().unwrap())
        })
        .collect()
}

/// Prunes the first day and a bit on `url` and `reference`, and checks that
/// the side table lost the same days as the records and keeps one row per
/// context key left. Returns the maintenance handle.
fn prune_checked(cluster: &Cluster, db: &str, url: &str, reference: &MemoryStore) -> ChMaintenance {
    let before = Timestamp(BASE.0 + DAY + 5);
    let maintenance = ChMaintenance::connect(url).unwrap();
    assert!(maintenance.prune(before, 100, false).unwrap().deleted > 0);
    reference.prune(before, 100, false).unwrap();
    for i in 0..cluster.len() {
        let old =
            cluster.query(i, &format!("SELECT count() FROM {db}.log_context_pairs_local WHERE ts < {}", before.0));
        assert_eq!(old.trim(), "0", "shard {i}: no side row older than the cutoff");
        let days = |table: &str| {
            let sql = format!(
                "SELECT DISTINCT partition FROM system.parts WHERE database = '{db}' AND table = '{table}' \
                 AND active ORDER BY partition"
            );
            cluster.query(i, &sql)
        };
        assert_eq!(days("log_context_pairs_local"), days("log_records_local"), "shard {i}: the same days");
    }
    for (side, arrays) in side_rows(cluster, db) {
        assert_eq!(side, arrays, "after prune, one side row per context key left");
    }
    maintenance
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

    let maintenance = prune_checked(cluster, &db, &url, &reference);
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

/// The tables of `url` forged as version `version` by `forge` (shard by shard): first on the
/// second shard alone (a lazy sink migrates a shard before its first insert there only), then
/// on both. A reader of either reads the arrays alone, right, and changes no table; migrating
/// fills the side table from the records, one row per context key, and a second migration adds
/// nothing; the pairs read right through it. Returns a reader of the migrated tables.
fn migrate_forged(
    cluster: &Cluster,
    url: &str,
    reference: &MemoryStore,
    version: u32,
    forge: impl Fn(usize),
) -> ChStore {
    let db = crate::database(url);
    let tables =
        |i: usize| cluster.query(i, &format!("SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name"));
    let mut filter = RecordFilter::default();
    filter.fields.push(FieldMatch::new("user_id", FieldValue::Text("3".into())).unwrap());
    let want = by_arrays(cluster, &db, "user_id", &FieldValue::Text("3".into()));
    assert!(!want.is_empty());
    let page = |store: &ChStore| -> Vec<i64> {
        store.records(&filter, PageAt::Newest, 5_000).unwrap().records.iter().map(|r| r.id).collect()
    };
    forge(1);
    assert_eq!(page(&ChStore::connect(url).unwrap()), want, "one shard of version {version}: the arrays alone");
    forge(0);
    let before: Vec<String> = (0..cluster.len()).map(tables).collect();
    assert_eq!(page(&ChStore::connect(url).unwrap()), want, "a reader of version {version} reads the arrays alone");
    assert_eq!((0..cluster.len()).map(tables).collect::<Vec<_>>(), before, "a reader changes no table");
    let refused = ChMaintenance::connect(url).unwrap_err().to_string();
    assert!(refused.contains(&format!("at version {version}")) && refused.contains("log-panel migrate"), "{refused}");
    assert_eq!(ChMaintenance::migrate(url).unwrap(), (version, LATEST_VERSION));
    for (side, arrays) in side_rows(cluster, &db) {
        assert!(side > 0);
        assert_eq!(side, arrays, "the migration filled the side table from the records, each row once");
    }
    assert_eq!(ChMaintenance::migrate(url).unwrap(), (LATEST_VERSION, LATEST_VERSION));
    for (side, arrays) in side_rows(cluster, &db) {
        assert_eq!(side, arrays, "a second migration adds nothing");
    }
    let store = ChStore::connect(url).unwrap();
    check_pairs(cluster, &db, &store, reference, &format!("after migrating from version {version}"));
    store
}

#[test]
fn migrating_a_version_2_database_fills_the_side_table() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let reference = crate::filled(&url);
    // Version 2 as an older build left it: no side table, no view.
    let forge = |i: usize| {
        for table in [
            "log_context_pairs_mv",
            "log_context_pairs",
            "log_context_pairs_local",
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
    migrate_forged(cluster, &url, &reference, 2, forge);
}

/// The names of the tables of `db` on shard `i` that start with `log_context`.
fn context_tables(cluster: &Cluster, db: &str, i: usize) -> Vec<String> {
    let sql = format!(
        "SELECT name FROM system.tables WHERE database = '{db}' AND startsWith(name, 'log_context') ORDER BY name"
    );
    cluster.query(i, &sql).lines().map(str::to_owned).collect()
}

#[test]
fn migrating_a_version_4_database_replaces_the_side_table() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let reference = crate::filled(&url);
    // Version 4 as an older build left it: the side table `log_context` of typed values in
    // granules of 8 192 rows, filled by its view, and no `log_context_pairs`.
    let forge = |i: usize| {
        for table in ["log_context_pairs_mv", "log_context_pairs", "log_context_pairs_local"] {
            cluster.query(i, &format!("DROP TABLE {db}.{table}"));
        }
        let select = format!(
            "SELECT key, value, ts, id, time FROM {db}.log_records_local \
             ARRAY JOIN context_keys AS key, context_values AS value"
        );
        for sql in [
            format!(
                "CREATE TABLE {db}.log_context_local (key String, value String, ts Int64, id Int64, \
                 time DateTime('UTC')) ENGINE = MergeTree PARTITION BY toYYYYMMDD(time) ORDER BY (key, value, ts, id)"
            ),
            format!("CREATE MATERIALIZED VIEW {db}.log_context_mv TO {db}.log_context_local AS {select}"),
            format!(
                "CREATE TABLE {db}.log_context AS {db}.log_context_local \
                 ENGINE = Distributed({CLUSTER}, {db}, log_context_local)"
            ),
            format!("INSERT INTO {db}.log_context_local {select}"),
            format!("DROP TABLE {db}.log_panel_schema"),
            format!("CREATE TABLE {db}.log_panel_schema (version UInt32) ENGINE = TinyLog"),
            format!("INSERT INTO {db}.log_panel_schema (version) VALUES (4)"),
        ] {
            cluster.query(i, &sql);
        }
    };
    let store = migrate_forged(cluster, &url, &reference, 4, forge);
    let new =
        vec!["log_context_pairs".to_owned(), "log_context_pairs_local".to_owned(), "log_context_pairs_mv".to_owned()];
    for i in 0..cluster.len() {
        assert_eq!(context_tables(cluster, &db, i), new, "shard {i}: the typed side table is gone");
        let engine = cluster.query(
            i,
            &format!(
                "SELECT engine_full FROM system.tables WHERE database = '{db}' AND name = 'log_context_pairs_local'"
            ),
        );
        assert!(engine.contains(&format!("index_granularity = {CONTEXT_GRANULARITY}")), "shard {i}: {engine}");
    }
    prune_checked(cluster, &db, &url, &reference);
    check_pairs(cluster, &db, &store, &reference, "after migrating from version 4 and pruning");
}

/// One pair's lookup in the side table reads one range of small granules:
/// with 8 192-row granules, or the text and the number of `12345` kept as
/// two values, it would read more than two granules of 1 024 rows.
#[test]
fn a_key_value_lookup_reads_one_range_of_small_granules() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let mut sink = ChSink::connect(&url).unwrap();
    // 20 000 records within a minute of one day, `seq` numbered: one day partition per shard.
    let records = sequence("svc::db", 0..20_000, Timestamp(1_800_000_000_000_000), 3_000);
    for chunk in records.chunks(2_500) {
        sink.write(&Batch::new(&origin(), chunk)).unwrap();
    }
    drop(sink);
    let limit = 2 * CONTEXT_GRANULARITY;
    let (mut found, mut side) = (0, 0);
    for i in 0..cluster.len() {
        cluster.query(i, &format!("OPTIMIZE TABLE {db}.log_context_pairs_local FINAL"));
        let rows: u32 =
            cluster.query(i, &format!("SELECT count() FROM {db}.log_context_pairs_local")).trim().parse().unwrap();
        side += rows;
        if rows == 0 {
            continue;
        }
        // Each shard holds whole batches of 2 500: more rows than the limit.
        let lookup = format!(
            "SELECT count() FROM {db}.log_context_pairs_local WHERE key = 'seq' AND (value IN ('12345')) \
             SETTINGS max_rows_to_read = {limit}"
        );
        found += cluster.try_query(i, &lookup).unwrap().trim().parse::<u32>().unwrap();
    }
    assert_eq!(side, 20_000, "one side row per record");
    assert_eq!(found, 1, "one record of seq 12345 over the shards");
    let store = ChStore::connect(&url).unwrap();
    let related = store.related("seq", &FieldValue::Text("12345".into()), 10).unwrap();
    assert_eq!(related.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(), ["record 12345"]);
}
