//! The plans PostgreSQL runs for the store's reads (issue 24): with
//! `auto_explain` on the test database, every statement a read sends is
//! logged with its plan, and none of those reads scans `log_records` whole
//! (`Seq Scan on log_records`) — the rare word, the request view, a context
//! key, a page by cursor, a logger tree with a level by cursor, call sites
//! of a day, a rare word's histogram. (The index catch-up beside a vacuum:
//! `search_mark.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod combinations;
mod probes;
mod replay;
mod round_trips;
mod walks;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_postgres::{PgMaintenance, PgSink, PgStore};
use log_panel_query::Store;
use log_panel_query::{Cursor, FieldMatch, FieldValue, LoggerMatch, PageAt, RecordFilter, Slots, DAY};
use log_panel_testing::postgres::{client, TestServer};

const RECORDS: i64 = 60_000;
const LOGGERS: [&str; 6] = ["api::http", "api::auth", "billing", "db::pool", "worker", "cache"];

/// `RECORDS` records over 90 days: 6 loggers, one level in 10 a warning,
/// a request id per 3 records, a user id, a rare word in one record of 5 000.
fn fill(url: &str, now: Timestamp) {
    let mut sink = PgSink::connect(url).unwrap();
    let origin = Origin::new("plans", "h", 1);
    let step = 90 * DAY / RECORDS;
    let mut batch = Vec::new();
    for i in 0..RECORDS {
        let message =
            if i % 5_000 == 7 { format!("quasar drift {i}") } else { format!("GET /orders/{i} took {}", i % 300) };
        let level = if i % 10 == 0 { Level::Warn } else { Level::Info };
        let mut r = Record::new(level, LOGGERS[(i % 6) as usize], message);
        r.timestamp = Timestamp(now.0 - 90 * DAY + i * step);
        r.file = Some("src/h.rs".into());
        r.line = Some(10 + (i % 20) as u32);
        r.kv.push(("request_id".into(), Value::from(format!("req-{}", i / 3))));
        r.kv.push(("user_id".into(), Value::I64(i % 2_000)));
        // Skewed: half the records from one tenant, the rest over 500.
        let tenant = if i % 2 == 0 { "acme".to_owned() } else { format!("t-{}", i % 500) };
        r.kv.push(("tenant".into(), Value::from(tenant)));
        batch.push(r);
        if batch.len() == 5_000 {
            sink.write(&Batch::new(&origin, &batch)).unwrap();
            batch.clear();
        }
    }
}

/// The plans logged since `from` (a byte offset of the server log), each as
/// its text, for statements on `log_records`.
fn plans_since(log: &Path, from: u64) -> Vec<String> {
    let text = std::fs::read(log).unwrap();
    let text = String::from_utf8_lossy(&text[usize::try_from(from).unwrap()..]).into_owned();
    text.split("LOG:  duration:")
        .skip(1)
        .filter(|p| p.contains("plan:") && p.contains("log_records"))
        .map(str::to_owned)
        .collect()
}

/// The plans the server logged for what `read` sent, as [`plans_since`].
fn plans_of(log: &Path, read: impl FnOnce()) -> Vec<String> {
    let from = std::fs::metadata(log).unwrap().len();
    read();
    // The server writes its log lines asynchronously to the read's answer.
    let mut plans = Vec::new();
    for _ in 0..50 {
        plans = plans_since(log, from);
        if !plans.is_empty() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    plans
}

/// Held by a test while its database logs plans: the server's log is one
/// file for every database, so two such tests at once would read each
/// other's plans ([`plans_since`] cannot tell them apart).
static EXPLAINING: Mutex<()> = Mutex::new(());

/// A database of the shared server filled by `fill`, whose sessions from now
/// on log every statement's executed plan (`auto_explain`), the server's
/// log, and the turn to read it ([`EXPLAINING`], held until dropped);
/// `None` (the test skipped) without a server or its log.
fn explained_database(fill: impl FnOnce(&str)) -> Option<(String, PathBuf, MutexGuard<'static, ()>)> {
    let turn = EXPLAINING.lock().unwrap_or_else(PoisonError::into_inner);
    let server = TestServer::shared()?;
    let Some(log) = server.log_file() else {
        eprintln!("skipped: plans are read from an own server's log");
        return None;
    };
    let url = server.create_database();
    fill(&url);
    let db = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = client(&url);
    for setting in [
        "session_preload_libraries = 'auto_explain'",
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_analyze = on",
    ] {
        admin.batch_execute(&format!("ALTER DATABASE {db} SET {setting}")).unwrap();
    }
    Some((url, log, turn))
}

#[test]
fn no_read_scans_log_records_whole() {
    let now = Timestamp::now();
    let Some((url, log, _turn)) = explained_database(|url| fill(url, now)) else { return };
    let mut admin = client(&url);
    for sql in [
        "VACUUM ANALYZE log_records".to_owned(),
        // Call sites read their whole hours and days: with no statistics yet, the planner
        // guesses a third of it for an hour range (autovacuum analyzes it
        // after its first few thousand rows).
        "VACUUM ANALYZE log_site_hourly, log_site_daily".to_owned(),
    ] {
        admin.batch_execute(&sql).unwrap();
    }
    let store = PgStore::connect(&url).unwrap();
    PgMaintenance::connect(&url).unwrap().catch_up_search().unwrap();
    admin.batch_execute("VACUUM ANALYZE log_search").unwrap();

    let at = |what: &str| {
        let mut f = RecordFilter::default();
        match what {
            "rare word" => f.text = Some("quasar".into()),
            "request" => f.fields.push(FieldMatch::new("request_id", FieldValue::Text("req-9000".into())).unwrap()),
            "user" => f.fields.push(FieldMatch::new("user_id", FieldValue::Text("1286".into())).unwrap()),
            "common tenant" => f.fields.push(FieldMatch::new("tenant", FieldValue::Text("acme".into())).unwrap()),
            "rare tenant" => f.fields.push(FieldMatch::new("tenant", FieldValue::Text("t-1".into())).unwrap()),
            "tree" => {
                f.logger = Some(LoggerMatch::Tree("api".into()));
                f.min_level = Some(Level::Warn);
            }
            _ => {}
        }
        f
    };
    let middle = store.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap().records[0].id / 2;
    let cursor = Cursor::of(&store.record(middle).unwrap().unwrap());
    let mut day = RecordFilter::default();
    day.since = Some(Timestamp(now.0 - DAY));
    let slots = Slots::days_until(now, 0, 91).unwrap();
    type Read<'a> = (&'a str, Box<dyn Fn() -> usize + 'a>);
    let reads: Vec<Read<'_>> = vec![
        ("rare word page", Box::new(|| store.records(&at("rare word"), PageAt::Newest, 50).unwrap().records.len())),
        ("rare word histogram", Box::new(|| store.histogram(&at("rare word"), &slots).unwrap().slots.len())),
        (
            "request view",
            Box::new(|| store.related("request_id", &FieldValue::Text("req-9000".into()), 100).unwrap().len()),
        ),
        ("request page", Box::new(|| store.records(&at("request"), PageAt::Newest, 50).unwrap().records.len())),
        ("user_id page", Box::new(|| store.records(&at("user"), PageAt::Newest, 50).unwrap().records.len())),
        (
            "page by cursor",
            Box::new(|| store.records(&RecordFilter::default(), PageAt::Older(cursor), 50).unwrap().records.len()),
        ),
        (
            "tree + warn by cursor",
            Box::new(|| store.records(&at("tree"), PageAt::Older(cursor), 50).unwrap().records.len()),
        ),
        ("call sites of a day", Box::new(|| store.call_sites(&day, 50).unwrap().len())),
        (
            "common tenant page",
            Box::new(|| store.records(&at("common tenant"), PageAt::Newest, 50).unwrap().records.len()),
        ),
        ("rare tenant page", Box::new(|| store.records(&at("rare tenant"), PageAt::Newest, 50).unwrap().records.len())),
        (
            "common tenant by cursor",
            Box::new(|| store.records(&at("common tenant"), PageAt::Older(cursor), 50).unwrap().records.len()),
        ),
        (
            "rare tenant by cursor",
            Box::new(|| store.records(&at("rare tenant"), PageAt::Older(cursor), 50).unwrap().records.len()),
        ),
    ];
    let expected = [12, 91, 3, 3, 30, 50, 50, 50, 50, 50, 50, 50];
    for ((name, read), want) in reads.iter().zip(expected) {
        let plans = plans_of(&log, || assert_eq!(read(), want, "{name}: rows"));
        assert!(!plans.is_empty(), "{name}: no plan logged");
        for plan in &plans {
            assert!(!plan.contains("Seq Scan on log_records"), "{name} scans log_records whole:\n{plan}");
            // Bounded plans: no step reads half the table to throw it away
            // (an index walk in time order filtered by a condition few rows
            // meet is no seq scan, and as slow as one). A walk of the nearest
            // rows reads 5 000, a second one at most what listing the
            // candidates would cost (`t-1` here: listed, 120 candidates).
            assert!(removed_by_filter(plan) <= RECORDS / 2, "{name} filters out too many rows:\n{plan}");
        }
    }
    // The pages hold the records SQL typed by hand finds.
    let mut sql = client(&url);
    for (what, value) in [("common tenant", "acme"), ("rare tenant", "t-1")] {
        for at_page in [PageAt::Newest, PageAt::Older(cursor)] {
            let got: Vec<i64> = store.records(&at(what), at_page, 50).unwrap().records.iter().map(|r| r.id).collect();
            let (ts, id) = match at_page {
                PageAt::Older(c) => (c.ts.0, c.id),
                _ => (now.0 + DAY, i64::MAX),
            };
            let ts = std::time::UNIX_EPOCH + Duration::from_micros(u64::try_from(ts).unwrap());
            let want: Vec<i64> = sql
                .query(
                    "SELECT id FROM log_records WHERE context->>'tenant' = $1 AND (ts, id) < ($2, $3)
                     ORDER BY ts DESC, id DESC LIMIT 50",
                    &[&value, &ts, &id],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(got, want, "{what} at {at_page:?}");
        }
    }
}

/// The largest `Rows Removed by Filter` of an analysed plan (0 when none).
fn removed_by_filter(plan: &str) -> i64 {
    plan.split("Rows Removed by Filter: ")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .max()
        .unwrap_or(0)
}
