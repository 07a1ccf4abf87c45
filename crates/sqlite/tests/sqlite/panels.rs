//! Field statistics and surrounding records checked against SQL written by
//! hand on the stored rows (the panel's field sidebar and "show context").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use log_panel_core::{Batch, Sink};
use log_panel_query::conformance::data_set;
use log_panel_query::Store;
use log_panel_query::{LoggerMatch, RecordFilter, FIELD_SAMPLE_ROWS};
use log_panel_sqlite::{SqliteSink, SqliteStore};
use rusqlite::Connection;

fn filled() -> (tempfile::TempDir, SqliteStore, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panels.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    for (origin, records) in data_set() {
        sink.write(&Batch::new(&origin, &records)).unwrap();
    }
    while sink.idle().unwrap() {}
    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    (dir, store, conn)
}

fn counts(conn: &Connection, sql: &str) -> BTreeMap<String, u64> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, rusqlite::types::Value>(0)?, r.get::<_, i64>(1)?))).unwrap();
    rows.map(|r| {
        let (v, n) = r.unwrap();
        let v = match v {
            rusqlite::types::Value::Text(t) => t,
            rusqlite::types::Value::Integer(i) => i.to_string(),
            other => panic!("{other:?}"),
        };
        (v, n as u64)
    })
    .collect()
}

#[test]
fn field_statistics_match_counts_by_hand() {
    let (_dir, store, conn) = filled();
    let mut billing = RecordFilter::default();
    billing.logger = Some(LoggerMatch::Exact("billing".into()));
    let got = store.field_values(&billing, "user_id", 100, FIELD_SAMPLE_ROWS).unwrap();
    let hand = counts(
        &conn,
        "SELECT json_extract(context, '$.user_id'), count(*) FROM log_records
         WHERE logger = 'billing' AND json_extract(context, '$.user_id') IS NOT NULL GROUP BY 1",
    );
    let shown: BTreeMap<String, u64> = got.values.iter().map(|v| (v.value.clone(), v.count)).collect();
    assert_eq!(shown, hand);
    assert!(!got.sampled && got.with_key == hand.values().sum::<u64>());
    let keys = store.field_keys(&RecordFilter::default(), 100, FIELD_SAMPLE_ROWS).unwrap();
    let hand = counts(&conn, "SELECT j.key, count(*) FROM log_records, json_each(log_records.context) AS j GROUP BY 1");
    assert_eq!(keys.keys.iter().map(|k| (k.value.clone(), k.count)).collect::<BTreeMap<_, _>>(), hand);
    // A sample of the newest 100: counted over those alone, and said.
    let got = store.field_values(&RecordFilter::default(), "code", 100, 100).unwrap();
    let hand = counts(
        &conn,
        "SELECT json_extract(context, '$.code'), count(*) FROM
           (SELECT context FROM log_records ORDER BY ts DESC, id DESC LIMIT 100)
         WHERE json_extract(context, '$.code') IS NOT NULL GROUP BY 1",
    );
    assert_eq!(got.values.iter().map(|v| (v.value.clone(), v.count)).collect::<BTreeMap<_, _>>(), hand);
    assert!(got.sampled && got.read == 100);
}

#[test]
fn surrounding_records_match_ids_by_hand() {
    let (_dir, store, conn) = filled();
    log_panel_testing::checks::surrounding_records(&store, |id, newer| {
        let (ts, host, pid, thread): (String, String, i64, String) = conn
            .query_row("SELECT ts, host, pid, thread FROM log_records WHERE id = ?1", [id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap();
        let sql = log_panel_testing::checks::neighbours_sql(newer, |i| format!("?{i}"));
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt.query_map(rusqlite::params![host, pid, thread, ts, id], |row| row.get(0)).unwrap();
        rows.collect::<Result<Vec<i64>, _>>().unwrap()
    });
}
