//! The global pipeline with both facades: log-panel is `log`'s logger and its
//! tracing layer is in the global subscriber. A real axum server (the
//! `axum_service` example's router) on a loopback port of a multi-threaded
//! runtime, hit by a real HTTP client. Its own test binary: one global logger
//! per process. Tests share the database and tell their rows apart by
//! request id and logger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[allow(dead_code)]
#[path = "../../../examples/axum_service.rs"]
mod example;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::OnceLock;

use common::TempDb;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// The process's database, panel and subscriber, set up once.
fn db() -> &'static TempDb {
    static DB: OnceLock<(TempDb, log_panel::Guard)> = OnceLock::new();
    &DB.get_or_init(|| {
        let db = TempDb::new();
        let guard = log_panel::builder().database(&db.path).filter("debug").panic_hook(false).init().unwrap();
        tracing::subscriber::set_global_default(
            // A per-layer filter: log-panel's `filter.directives` apply to `log` only.
            tracing_subscriber::registry().with(log_panel::tracing::layer().with_filter(LevelFilter::DEBUG)),
        )
        .unwrap();
        (db, guard)
    })
    .0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, example::app()).await.unwrap() });
    addr
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET `path` with an optional `x-request-id`; returns (status, response id, body).
async fn get(client: &HttpClient, addr: SocketAddr, path: &str, id: Option<&str>) -> (u16, String, String) {
    let mut request = hyper::Request::get(format!("http://{addr}{path}"));
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    let response = client.request(request.body(Empty::new()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let id = response.headers().get("x-request-id").expect("x-request-id on the response").to_str().unwrap().to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, id, String::from_utf8(body.to_vec()).unwrap())
}

/// (request_id, n, path, logger, message) of every row with a request id starting with `prefix`
/// (or, for generated ids, in `ids`).
fn request_rows(db: &TempDb, ids: &HashSet<String>) -> Vec<(String, Option<i64>, String, String, String)> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare(
            "SELECT json_extract(context, '$.request_id'), json_extract(context, '$.n'),
                    json_extract(context, '$.path'), logger, message
             FROM log_records WHERE json_extract(context, '$.request_id') IS NOT NULL ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|row: &(String, Option<i64>, String, String, String)| ids.contains(&row.0))
        .collect()
}

#[test]
fn a_thousand_concurrent_requests_each_record_carries_its_own_request_id() {
    let db = db();
    const REQUESTS: usize = 1_000;
    let rt = runtime();
    // n → the id the response carried: even requests send their own, odd ones get a UUIDv7.
    let ids: HashMap<u64, String> = rt.block_on(async {
        let addr = serve().await;
        let client = client();
        let tasks: Vec<_> = (0..REQUESTS as u64)
            .map(|n| {
                let client = client.clone();
                tokio::spawn(async move {
                    let sent = (n % 2 == 0).then(|| format!("load-{n}"));
                    let (status, id, body) = get(&client, addr, &format!("/work/{n}"), sent.as_deref()).await;
                    assert_eq!(status, 200);
                    assert_eq!(body, format!("{}\n", n * 2));
                    match sent {
                        Some(sent) => assert_eq!(id, sent),
                        None => assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7, "{id}"),
                    }
                    (n, id)
                })
            })
            .collect();
        let mut ids = HashMap::new();
        for task in tasks {
            let (n, id) = task.await.unwrap();
            ids.insert(n, id);
        }
        ids
    });
    log_panel::flush().unwrap();

    let by_id: HashMap<&str, u64> = ids.iter().map(|(n, id)| (id.as_str(), *n)).collect();
    assert_eq!(by_id.len(), REQUESTS, "ids are unique");
    let rows = request_rows(db, &ids.values().cloned().collect());
    // The handler's records (`log` and `tracing`, in spans, on a blocking thread) plus the access record.
    assert_eq!(rows.len(), REQUESTS * (example::RECORDS_PER_WORK + 1));
    let mut per_request: HashMap<&str, usize> = HashMap::new();
    for (id, n, path, logger, message) in &rows {
        *per_request.entry(id.as_str()).or_default() += 1;
        // The route template, not the URI.
        assert_eq!(path, "/work/{n}");
        match logger.as_str() {
            "access" => assert!(message.starts_with("GET /work/{n} 200 in "), "{message}"),
            _ => assert_eq!(Some(by_id[id.as_str()] as i64), *n, "row {message:?} of request {id} carries another's n"),
        }
    }
    assert_eq!(per_request.len(), REQUESTS);
    assert!(per_request.values().all(|&c| c == example::RECORDS_PER_WORK + 1), "{per_request:?}");
    // None missing: every handler record of the run has a request id.
    assert_eq!(db.count("logger = 'tower_global::example' AND json_extract(context, '$.request_id') IS NULL"), 0);
}

#[test]
fn request_id_round_trip_keeps_well_formed_ids_and_replaces_others() {
    let db = db();
    let rt = runtime();
    let kept_128 = "k".repeat(128);
    let too_long = "a".repeat(129);
    let cases: Vec<(Option<String>, bool)> = vec![
        (Some("rt-abc_1.2:3".into()), true),
        (Some(kept_128.clone()), true),
        (Some(too_long.clone()), false),
        (Some("<script>alert(1)</script>".into()), false),
        (Some("quote'; DROP TABLE log_records; --".into()), false),
        (Some(String::new()), false),
        (None, false),
    ];
    let answered: Vec<String> = rt.block_on(async {
        let addr = serve().await;
        let client = client();
        let mut answered = Vec::new();
        for (sent, _) in &cases {
            let (status, id, _) = get(&client, addr, "/users/7", sent.as_deref()).await;
            assert_eq!(status, 200);
            answered.push(id);
        }
        answered
    });
    log_panel::flush().unwrap();
    for ((sent, kept), id) in cases.iter().zip(&answered) {
        if *kept {
            assert_eq!(Some(id), sent.as_ref());
        } else {
            assert_ne!(Some(id), sent.as_ref());
            assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7, "{id}");
        }
        // Each request's records are stored under the id the response carried:
        // loading user, cache miss, user loaded, rendering, and the access record.
        let stored = db.count(&format!("json_extract(context, '$.request_id') = '{id}'"));
        assert_eq!(stored, 5, "request {sent:?} answered {id}");
    }
    // The rejected ids appear nowhere.
    assert_eq!(db.count("instr(context, 'script') > 0 OR instr(context, 'DROP TABLE') > 0"), 0);
    assert_eq!(db.count(&format!("instr(context, '{too_long}') > 0")), 0);
    // The tracing span and the route template are in the context.
    let (span, path): (String, String) = db
        .conn()
        .query_row(
            "SELECT json_extract(context, '$.span'), json_extract(context, '$.path') FROM log_records
             WHERE message = 'user loaded' AND json_extract(context, '$.request_id') = ?1",
            [&answered[0]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((span.as_str(), path.as_str()), ("db_query", "/users/{id}"));
}

#[test]
fn both_facades_in_one_process_through_one_writer() {
    let db = db();
    let before = log_panel::stats();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..250 {
                    log::info!(target: "facades::log", t = t, i = i; "through log");
                    tracing::info!(target: "facades::tracing", t, i, "through tracing");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // A `log` record that tracing-log also turned into an event: stored once,
    // by the `log` logger (what `LogTracer` would do if it were installed).
    let record = log::Record::builder()
        .args(format_args!("converted"))
        .level(log::Level::Warn)
        .target("facades::converted")
        .build();
    log::logger().log(&record);
    tracing_log::format_trace(&record).unwrap();
    log_panel::flush().unwrap();

    assert_eq!(db.count("logger = 'facades::log'"), 1_000);
    assert_eq!(db.count("logger = 'facades::tracing'"), 1_000);
    assert_eq!(db.count("logger = 'facades::converted'"), 1);
    // One pipeline: both facades' records were written by the global panel's one writer.
    assert!(log_panel::stats().written - before.written >= 2_001);
}

#[test]
fn configured_header_and_generator_and_access_records_per_status() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let db = db();
    let next = std::sync::Arc::new(AtomicU32::new(0));
    let counter = std::sync::Arc::clone(&next);
    // Every third id the generator makes is malformed: replaced by a UUIDv7.
    let layer = log_panel::tower::RequestContextLayer::new()
        .header(http::HeaderName::from_static("x-correlation-id"))
        .id_generator(move || match counter.fetch_add(1, Ordering::Relaxed) {
            n if n % 3 == 2 => "not valid!".to_owned(),
            n => format!("cfg-{n}"),
        });
    let app = axum::Router::new()
        .route("/ok", axum::routing::get(|| async { "fine" }))
        .route("/fail", axum::routing::get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .layer(layer);
    let rt = runtime();
    let answers: Vec<(u16, Option<String>, Option<String>)> = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = client();
        let mut answers = Vec::new();
        for path in ["/ok", "/fail", "/ok", "/missing"] {
            let request = hyper::Request::get(format!("http://{addr}{path}")).body(Empty::new()).unwrap();
            let response = client.request(request).await.unwrap();
            let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            answers.push((response.status().as_u16(), header("x-correlation-id"), header("x-request-id")));
        }
        answers
    });
    log_panel::flush().unwrap();
    let ids: Vec<String> = answers.iter().map(|(_, id, _)| id.clone().expect("the configured header")).collect();
    assert!(answers.iter().all(|(_, _, default)| default.is_none()));
    assert_eq!(answers.iter().map(|a| a.0).collect::<Vec<_>>(), [200, 500, 200, 404]);
    assert_eq!(&ids[..2], ["cfg-0", "cfg-1"]);
    assert_eq!(uuid::Uuid::parse_str(&ids[2]).unwrap().get_version_num(), 7);
    assert_eq!(ids[3], "cfg-3");
    let access = |id: &str| -> (String, String, i64, Option<i64>, String) {
        db.conn()
            .query_row(
                "SELECT l.name, r.message, json_extract(r.context, '$.status'), json_extract(r.context, '$.bytes'),
                        json_extract(r.context, '$.path')
                 FROM log_records r JOIN log_levels l ON l.level = r.level
                 WHERE r.logger = 'access' AND json_extract(r.context, '$.request_id') = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap()
    };
    let ok = access(&ids[0]);
    assert_eq!((ok.0.as_str(), ok.2, ok.3, ok.4.as_str()), ("INFO", 200, Some(4), "/ok"));
    assert!(ok.1.starts_with("GET /ok 200 in "), "{}", ok.1);
    let failed = access(&ids[1]);
    assert_eq!((failed.0.as_str(), failed.2, failed.3), ("WARN", 500, Some(4)));
    // No route matched: the URI path.
    let missing = access(&ids[3]);
    assert_eq!((missing.0.as_str(), missing.2, missing.4.as_str()), ("INFO", 404, "/missing"));
}
