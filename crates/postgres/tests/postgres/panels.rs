//! Field statistics and surrounding records checked against SQL written by
//! hand on the stored rows (the panel's field sidebar and "show context").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::SystemTime;

use log_panel_core::{Batch, Sink};
use log_panel_postgres::PgStore;
use log_panel_query::conformance::data_set;
use log_panel_query::Store;
use log_panel_query::{split_label, LoggerMatch, RecordFilter, FIELD_SAMPLE_ROWS};
use log_panel_testing::postgres::{client, fresh_sink};

/// `(JSON text of a value, records)` rows as the filter's text of each value.
fn counts(rows: Vec<postgres::Row>) -> BTreeMap<String, u64> {
    rows.iter()
        .map(|r| {
            let v: String = r.get(0);
            let n: i64 = r.get(1);
            (split_label(&serde_json::from_str(&v).unwrap()).unwrap(), n as u64)
        })
        .collect()
}

#[test]
fn pg_field_statistics_and_surrounding_records_match_sql_by_hand() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    for (origin, records) in data_set() {
        sink.write(&Batch::new(&origin, &records)).unwrap();
    }
    while sink.idle().unwrap() {}
    let store = PgStore::connect(&url).unwrap();
    let mut db = client(&url);

    let mut billing = RecordFilter::default();
    billing.logger = Some(LoggerMatch::Exact("billing".into()));
    let got = store.field_values(&billing, "user_id", 100, FIELD_SAMPLE_ROWS).unwrap();
    let hand = counts(
        db.query(
            "SELECT (context -> 'user_id')::text, count(*) FROM log_records
             WHERE logger = 'billing' AND context ? 'user_id' AND context -> 'user_id' <> 'null'::jsonb GROUP BY 1",
            &[],
        )
        .unwrap(),
    );
    assert_eq!(got.values.iter().map(|v| (v.value.clone(), v.count)).collect::<BTreeMap<_, _>>(), hand);
    assert!(!got.sampled && got.with_key == hand.values().sum::<u64>());
    let keys = store.field_keys(&RecordFilter::default(), 100, FIELD_SAMPLE_ROWS).unwrap();
    let hand: BTreeMap<String, u64> = db
        .query("SELECT k, count(*) FROM log_records, jsonb_object_keys(context) AS k GROUP BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect();
    assert_eq!(keys.keys.iter().map(|k| (k.value.clone(), k.count)).collect::<BTreeMap<_, _>>(), hand);
    let got = store.field_values(&RecordFilter::default(), "code", 100, 100).unwrap();
    let hand = counts(
        db.query(
            "SELECT (context -> 'code')::text, count(*) FROM
               (SELECT context FROM log_records ORDER BY ts DESC, id DESC LIMIT 100) s
             WHERE context ? 'code' GROUP BY 1",
            &[],
        )
        .unwrap(),
    );
    assert_eq!(got.values.iter().map(|v| (v.value.clone(), v.count)).collect::<BTreeMap<_, _>>(), hand);
    assert!(got.sampled && got.read == 100);

    let db = std::cell::RefCell::new(db);
    log_panel_testing::checks::surrounding_records(&store, |id, newer| {
        let mut db = db.borrow_mut();
        let row = db.query_one("SELECT ts, host, pid, thread FROM log_records WHERE id = $1", &[&id]).unwrap();
        let (ts, host, pid, thread): (SystemTime, String, i32, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let sql = log_panel_testing::checks::neighbours_sql(newer, |i| format!("${i}"));
        db.query(&sql, &[&host, &pid, &thread, &ts, &id]).unwrap().iter().map(|r| r.get(0)).collect()
    });
}
