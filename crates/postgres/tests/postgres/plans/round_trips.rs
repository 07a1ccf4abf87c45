//! One round trip a statement (issue 24, session 41): every statement a page,
//! a histogram or the index lag sends is parsed, bound and executed together
//! with its parameters' types (an unnamed statement), not prepared by name
//! first (a round trip of its own) and closed after. At 10 M records the
//! pages that were slower than the naive SQL by 0.2–2 ms waited on the
//! server two or four times where one or two do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::thread;
use std::time::Duration;

use log_panel_core::Timestamp;
use log_panel_postgres::{PgMaintenance, PgStore};
use log_panel_query::Store;
use log_panel_query::{Cursor, FieldMatch, FieldValue, PageAt, RecordFilter, Slots};
use log_panel_testing::postgres::client;

use super::{explained_database, fill};

/// The statements the server logged (`log_statement = all`) since byte
/// `from` of its log: for the extended protocol `execute <name>: …`, the
/// name `<unnamed>` for a statement parsed with its execution, `sN` for one
/// prepared apart.
fn executed_since(log: &Path, from: u64) -> Vec<String> {
    let text = std::fs::read(log).unwrap();
    let text = String::from_utf8_lossy(&text[usize::try_from(from).unwrap()..]).into_owned();
    text.lines().filter_map(|l| l.split_once("LOG:  execute ").map(|(_, rest)| rest.to_owned())).collect()
}

#[test]
fn each_read_statement_is_one_round_trip() {
    let now = Timestamp::now();
    let Some((url, log, _turn)) = explained_database(|url| fill(url, now)) else { return };
    PgMaintenance::connect(&url).unwrap().catch_up_search().unwrap();
    let mut admin = client(&url);
    admin.batch_execute("VACUUM ANALYZE").unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    admin.batch_execute(&format!("ALTER DATABASE {db} SET log_statement = 'all'")).unwrap();

    let store = PgStore::connect(&url).unwrap();
    let field = |key: &str, value: &str| {
        let mut f = RecordFilter::default();
        f.fields.push(FieldMatch::new(key, FieldValue::Text(value.into())).unwrap());
        f
    };
    let mut rare = RecordFilter::default();
    rare.text = Some("quasar".into());
    let mut common = RecordFilter::default();
    common.text = Some("orders".into());
    let middle = store.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap().records[0].id / 2;
    let cursor = Cursor::of(&store.record(middle).unwrap().unwrap());
    let before_all = Cursor { ts: Timestamp(i64::MIN / 2), id: i64::MIN };
    let slots = Slots::days_until(now, 0, 91).unwrap();

    let from = std::fs::metadata(&log).unwrap().len();
    // Pages of each way a page is read: one walk (a common value), two walks
    // (a value in 1 of 1 000: `t-1`), a listing of candidates (a rare word,
    // first and again), one candidate beyond a walk (its oldest match), the
    // indexes by cursor, a filter that does not search; then histograms and
    // the index lag.
    let pages = [
        (field("tenant", "acme"), PageAt::Newest),
        (field("tenant", "t-1"), PageAt::Newest),
        (field("tenant", "t-1"), PageAt::Older(cursor)),
        (rare.clone(), PageAt::Newest),
        (rare.clone(), PageAt::Newer(before_all)),
        (rare.clone(), PageAt::Older(cursor)),
        (field("user_id", "1286"), PageAt::Newest),
        (RecordFilter::default(), PageAt::Older(cursor)),
    ];
    let mut read = 0;
    for (filter, at) in &pages {
        read += store.records(filter, *at, 50).unwrap().records.len();
    }
    assert!(read > 0);
    assert!(store.histogram(&rare, &slots).unwrap().slots.iter().any(|c| c.total() > 0));
    assert!(store.histogram_estimate(&common, &slots).unwrap().slots.iter().any(|c| c.total() > 0));
    store.index_lag().unwrap();

    // The server writes its log asynchronously to the answers.
    let mut executed = Vec::new();
    for _ in 0..50 {
        executed = executed_since(&log, from);
        if executed.iter().any(|e| e.contains("max(id) FROM log_records")) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(executed.len() >= pages.len(), "statements logged: {executed:#?}");
    let prepared: Vec<&String> = executed.iter().filter(|e| !e.starts_with("<unnamed>:")).collect();
    assert!(prepared.is_empty(), "prepared apart (a round trip each): {prepared:#?}");
}
