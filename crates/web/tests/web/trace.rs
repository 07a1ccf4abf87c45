//! Trace correlation on the panel, over a SQLite file written by the sink:
//! the record page shows the trace id, the span id, the link to every record
//! of the trace and (with a template) the link to a trace viewer, all
//! escaped; the trace view lists exactly the trace's records, counted by
//! hand with SQL, oldest first, paged by keyset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{assert_escaped, get, links, row_ids, HOUR, H_ATTR};
use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::Store;
use log_panel_web::{router, router_with, PanelOptions, TraceUrl};

const T1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2: &str = "0af7651916cd43dd8448eb211c80319c";
const JAEGER: &str = "http://localhost:16686/trace/{trace_id}?uiFind={span_id}";

struct Db {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<dyn Store>,
}

fn record(ts: i64, logger: &str, message: &str, kv: &[(&str, &str)]) -> Record {
    let mut r = Record::new(Level::Info, logger.to_owned(), message.to_owned());
    r.timestamp = Timestamp(ts);
    r.kv = kv.iter().map(|(k, v)| (String::from(*k).into(), Value::from(String::from(*v)))).collect();
    r
}

/// T1: 7 records over two services (each its own origin) and three requests;
/// T2: 3 records; 4 without a trace; one whose (user-logged) trace id is hostile.
fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = log_panel_sqlite::SqliteSink::open(&path).unwrap();
    let start = Timestamp::now().0 - HOUR;
    let front = Origin::new("front", "host-a", 1);
    let back = Origin::new("back", "host-b", 2);
    let mut front_records = Vec::new();
    let mut back_records = Vec::new();
    for i in 0..4i64 {
        let span = format!("{:016x}", 0x100 + i);
        front_records.push(record(
            start + i * 1_000,
            "front::http",
            &format!("front {i}"),
            &[("trace_id", T1), ("span_id", &span), ("request_id", "r-front")],
        ));
        front_records.push(record(
            start + i * 1_000 + 1,
            "front::http",
            &format!("untraced {i}"),
            &[("request_id", "r-other")],
        ));
    }
    for i in 0..3i64 {
        let span = format!("{:016x}", 0x200 + i);
        let request = format!("r-back-{}", i % 2);
        back_records.push(record(
            start + 500 + i * 2_000,
            "back::db",
            &format!("back {i}"),
            &[("trace_id", T1), ("span_id", &span), ("request_id", &request)],
        ));
        back_records.push(record(
            start + 10_000 + i,
            "back::db",
            &format!("other trace {i}"),
            &[("trace_id", T2), ("span_id", "00f067aa0ba902b7")],
        ));
    }
    back_records.push(record(
        start + 20_000,
        "back::db",
        "hostile",
        &[("trace_id", H_ATTR), ("span_id", "<script>alert(1)</script>")],
    ));
    sink.write(&Batch::new(&front, &front_records)).unwrap();
    sink.write(&Batch::new(&back, &back_records)).unwrap();
    let store: Arc<dyn Store> = Arc::new(log_panel_sqlite::SqliteStore::open(&path).unwrap());
    Db { _dir: dir, path, store }
}

/// The ids of a trace's records, by hand: oldest first.
fn by_hand(db: &Db, trace: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM log_records WHERE json_extract(context, '$.trace_id') = ?1 ORDER BY ts, id")
        .unwrap();
    stmt.query_map([trace], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn id_of(db: &Db, message: &str) -> i64 {
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    conn.query_row("SELECT id FROM log_records WHERE message = ?1", [message], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn the_record_page_links_the_trace_view_and_the_viewer() {
    let db = db();
    let options = PanelOptions::default().trace_url(TraceUrl::parse(JAEGER).unwrap());
    let app = router_with(db.store.clone(), options);
    let id = id_of(&db, "back 1");
    let (status, _, body) = get(&app, &format!("/records/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&format!("<dd><code>{T1}</code></dd>")), "{body}");
    assert!(body.contains("<dd><code>0000000000000201</code></dd>"), "{body}");
    let view = format!("/related?key=trace_id&value={T1}");
    assert!(links(&body, "/related?").contains(&view), "{body}");
    let viewer = format!("http://localhost:16686/trace/{T1}?uiFind=0000000000000201");
    assert!(links(&body, "http://localhost:16686/").contains(&viewer), "{body}");
    assert!(body.contains("rel=\"noopener noreferrer\""));

    // No template: no viewer link, the trace view still one click away.
    let (_, _, plain) = get(&router(db.store.clone()), &format!("/records/{id}")).await;
    assert!(links(&plain, "/related?").contains(&view));
    assert!(links(&plain, "http://").is_empty(), "{plain}");

    // A record without a trace has no trace block.
    let untraced = id_of(&db, "untraced 0");
    let (_, _, none) = get(&app, &format!("/records/{untraced}")).await;
    assert!(!none.contains("Every record of trace") && links(&none, "http://localhost").is_empty(), "{none}");

    // A hostile trace id and span id: escaped on the page, percent-encoded in the link.
    let hostile = id_of(&db, "hostile");
    let (status, _, body) = get(&app, &format!("/records/{hostile}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped("hostile trace", &body);
    let link = links(&body, "http://localhost:16686/").pop().expect("the viewer link");
    assert_eq!(
        link,
        "http://localhost:16686/trace/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E?uiFind=%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
    );
    let (status, _, view) = get(&app, &links(&body, "/related?")[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped("hostile trace view", &view);
    assert_eq!(row_ids(&view), [hostile]);
}

#[tokio::test]
async fn the_trace_view_lists_exactly_the_traces_records_oldest_first_across_pages() {
    let db = db();
    let app = router(db.store.clone());
    let want = by_hand(&db, T1);
    assert_eq!(want.len(), 7);
    let (status, _, body) = get(&app, &format!("/related?key=trace_id&value={T1}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<title>Trace"), "{body}");
    assert!(body.contains("the trace spans"), "{body}");
    assert_eq!(row_ids(&body), want);
    assert_eq!(body.matches("<svg class=\"wf\"").count(), 7, "the request view's waterfall");
    // Both services' records, three requests among them.
    assert!(
        body.contains("front 0")
            && body.contains("back 2")
            && !body.contains("untraced")
            && !body.contains("other trace")
    );

    // Paged by 3: every record once, in order.
    let mut seen = Vec::new();
    let mut next = Some(format!("/related?key=trace_id&value={T1}&limit=3"));
    let mut pages = 0;
    while let Some(uri) = next.take() {
        let (status, _, page) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(row_ids(&page));
        next = links(&page, "/related?").into_iter().find(|l| l.contains("newer=") && l.contains("limit=3"));
        pages += 1;
        assert!(pages <= 3, "{uri}");
    }
    assert_eq!(seen, want);

    let (_, _, other) = get(&app, &format!("/related?key=trace_id&value={T2}")).await;
    assert_eq!(row_ids(&other), by_hand(&db, T2));
    assert_eq!(by_hand(&db, T2).len(), 3);
}

/// Not a check: writes the database behind `docs/img/trace-*.png` to
/// `$TRACE_SCREENSHOT_DB` (`cargo test -p log-panel-web --test web -- --ignored`,
/// then `log-panel serve --db … --trace-url …` and a headless Chromium).
#[test]
#[ignore = "writes the screenshot database; run by hand"]
fn fill_a_database_for_the_screenshots() {
    let Some(target) = std::env::var_os("TRACE_SCREENSHOT_DB") else {
        return;
    };
    let db = db();
    std::fs::copy(&db.path, target).unwrap();
}
