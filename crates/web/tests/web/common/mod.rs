//! A database filled by the library, and HTTP helpers, shared by the test binaries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::conformance::MemoryStore;
use log_panel_query::Store;
use log_panel_query::{FieldValue, RecordFilter, StoredRecord};
use tower::ServiceExt;

/// A message that would run a script if it were not escaped.
pub const H_MSG: &str = "<script>alert(1)</script>";
/// A context value that would leave an attribute if quotes were not escaped.
pub const H_ATTR: &str = "\"><img src=x onerror=alert(1)>";
/// A logger name with markup.
pub const H_LOGGER: &str = "evil<b>logger</b>";

/// A store filled through the library, with the panel that filled it (to log more).
pub struct Env {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    pub panel: log_panel::Pipeline,
    /// A second writer for records the library cannot make (backdated, other hosts).
    pub sink: Box<dyn Sink>,
    _dir: tempfile::TempDir,
}

/// The library as every test fills it: app `shop`, every level, no spool.
fn panel(builder: log_panel::Builder) -> log_panel::Pipeline {
    builder.app("shop").level(log::LevelFilter::Trace).without_spool().build().unwrap()
}

/// An environment over `store`, filled by `panel` and `sink`.
fn filled(
    name: &'static str,
    store: Arc<dyn Store>,
    panel: log_panel::Pipeline,
    sink: Box<dyn Sink>,
    dir: tempfile::TempDir,
) -> Option<Env> {
    let mut env = Env { name, store, panel, sink, _dir: dir };
    fill(&mut env);
    Some(env)
}

/// The in-memory reference store, filled by the library.
pub fn memory() -> Option<Env> {
    let store = MemoryStore::default();
    let panel = panel(log_panel::builder().sink(store.clone()));
    filled("memory", Arc::new(store.clone()), panel, Box::new(store), tempfile::tempdir().unwrap())
}

/// A SQLite file filled by the library, read by `SqliteStore`.
pub fn sqlite() -> Option<Env> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let panel = panel(log_panel::builder().database(&path));
    let sink = log_panel_sqlite::SqliteSink::open(&path).unwrap();
    let store = log_panel_sqlite::SqliteStore::open(&path).unwrap();
    filled("sqlite", Arc::new(store), panel, Box::new(sink), dir)
}

/// A fresh database on the throwaway PostgreSQL server, filled by the library;
/// `None` (after a loud message) without PostgreSQL binaries, outside CI.
pub fn postgres() -> Option<Env> {
    let (url, sink) = log_panel_testing::postgres::fresh_sink()?;
    let panel = panel(log_panel::builder().postgres(url.clone()));
    let store = log_panel_postgres::PgStore::connect(&url).unwrap();
    filled("postgres", Arc::new(store), panel, Box::new(sink), tempfile::tempdir().unwrap())
}

/// One hour, in microseconds.
pub const HOUR: i64 = 3_600_000_000;

/// The data set every test reads:
/// - 25 loggers `svc::n00` … `svc::n24`, one INFO record each (card pagination);
/// - `billing`: three INFO, one ERROR with `order_id` and `request_id = r-1`, logged
///   from two threads sharing `request_id = r-1`; `billing::db`: a WARN;
/// - hostile strings in every field (message, logger, context key and value,
///   thread, app, host, module, file);
/// - backdated `billing` records two and ten days ago (daily timelines).
pub fn fill(env: &mut Env) {
    let p = &env.panel;
    for i in 0..25 {
        let target = format!("svc::n{i:02}");
        log::info!(logger: p, target: &target, n = i; "service {i} started");
    }
    for i in 0..3 {
        log::info!(logger: p, target: "billing", order_id = 1000 + i; "payment ok for order {}", 1000 + i);
    }
    log::info!(logger: p, target: "billing", request_id = "r-1"; "request r-1 received");
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("worker-2".into())
            .spawn_scoped(s, || {
                log::warn!(logger: p, target: "billing::db", request_id = "r-1", ms = 1200; "slow query");
            })
            .unwrap()
            .join()
            .unwrap();
    });
    log::error!(logger: p, target: "billing", request_id = "r-1", order_id = 1234; "payment failed after 3 attempts");
    log::error!(logger: p, target: H_LOGGER, note = H_ATTR, request_id = H_ATTR; "{}", H_MSG);
    p.flush().unwrap();

    let now = Timestamp::now().0;
    let hostile = Origin::new(format!("app{H_ATTR}"), format!("host{H_MSG}"), 4242);
    let mut evil = Record::new(Level::Warn, H_LOGGER, format!("second {H_MSG} with {H_ATTR}"));
    evil.thread = Arc::from(format!("thread{H_ATTR}").as_str());
    evil.module_path = Some(format!("module{H_MSG}").into());
    evil.file = Some(format!("file{H_ATTR}.rs").into());
    evil.line = Some(7);
    evil.kv = vec![(format!("key{H_ATTR}").into(), Value::from(H_MSG))];
    evil.timestamp = Timestamp(now - 60_000_000);
    env.sink.write(&Batch::new(&hostile, &[evil])).unwrap();

    let old = Origin::new("shop", "old-host", 7);
    let mut backdated = Vec::new();
    for (days, level, msg) in
        [(10, Level::Error, "old failure"), (2, Level::Warn, "old warning"), (2, Level::Info, "old info")]
    {
        let mut r = Record::new(level, "billing", msg);
        r.timestamp = Timestamp(now - days * 24 * HOUR);
        backdated.push(r);
    }
    env.sink.write(&Batch::new(&old, &backdated)).unwrap();
}

/// A noisy logger: `api::http::access` logs 5 errors (20 at an incident,
/// 10 hours ago) in each of the hours 3 to 23 before this one among its
/// INFO records, and only INFO in the last three; `api::auth` logs only
/// warnings; `zz::burning` logged 3 errors a minute ago.
pub fn noisy(env: &mut Env) {
    let now = Timestamp::now().0;
    let hour = now.div_euclid(HOUR) * HOUR;
    let origin = Origin::new("shop", "web-1", 1);
    let mut records = Vec::new();
    let mut at = |level, logger: &'static str, ts| {
        let mut r = Record::new(level, logger, format!("{level:?} from {logger}"));
        r.timestamp = Timestamp(ts);
        records.push(r);
    };
    for k in 0..24 {
        let t = hour - k * HOUR + 60_000_000;
        let t = if k == 0 { t.min(now - 1) } else { t };
        for _ in 0..8 {
            at(Level::Info, "api::http::access", t);
        }
        let errors = match k {
            0..=2 => 0,
            10 => 20,
            _ => 5,
        };
        for _ in 0..errors {
            at(Level::Error, "api::http::access", t);
        }
        at(Level::Warn, "api::auth", t);
    }
    for _ in 0..3 {
        at(Level::Error, "zz::burning", now - 60_000_000);
    }
    sync(|| env.sink.write(&Batch::new(&origin, &records))).unwrap();
}

/// Runs a blocking store call from a test's async body (multi-threaded runtime).
pub fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Every record `filter` keeps, newest first, read straight from the store.
pub fn all(store: &dyn Store, filter: &RecordFilter) -> Vec<StoredRecord> {
    sync(|| log_panel_testing::checks::every_record(store, filter))
}

/// The records of request `r-1`, oldest first.
pub fn request(store: &dyn Store) -> Vec<StoredRecord> {
    sync(|| store.related("request_id", &FieldValue::Text("r-1".into()), 100)).unwrap()
}

/// A GET answered by `app` in process. Every URL the tests follow is one
/// the panel makes or documents, so no page may say it ignored a parameter.
pub async fn get(app: &axum::Router, uri: &str) -> (StatusCode, HeaderMap, String) {
    let got = get_any(app, uri).await;
    assert!(!got.2.contains("class=\"warn-note ignored\""), "{} ignored a parameter", &uri[..uri.len().min(200)]);
    got
}

/// A GET answered by `app` in process, whatever the page says.
pub async fn get_any(app: &axum::Router, uri: &str) -> (StatusCode, HeaderMap, String) {
    let response = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// `href` values of links in `body` that start with `prefix`, unescaped.
pub fn links(body: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let needle = format!("href=\"{prefix}");
    let mut rest = body;
    while let Some(i) = rest.find(&needle) {
        let start = i + "href=\"".len();
        let end = rest[start..].find('"').unwrap() + start;
        out.push(
            rest[start..end].replace("&amp;", "&").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">"),
        );
        rest = &rest[end..];
    }
    out
}

/// The record ids of a records table, in order (each row links its id twice).
pub fn row_ids(body: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = Vec::new();
    for l in links(body, "/records/") {
        let id: i64 = l["/records/".len()..].split(['?', '/', '#']).next().unwrap().parse().unwrap();
        if ids.last() != Some(&id) {
            ids.push(id);
        }
    }
    ids
}

/// No hostile string reached the page unescaped.
pub fn assert_escaped(page: &str, body: &str) {
    for raw in ["<script>alert", "<img", "<b>logger"] {
        assert!(!body.contains(raw), "{page}: `{raw}` unescaped in\n{body}");
    }
}

/// A real storage filled by the library: a SQLite file.
pub fn real_store() -> Option<Env> {
    sqlite()
}
