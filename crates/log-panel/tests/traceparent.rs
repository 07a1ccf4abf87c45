//! The W3C `traceparent` header through a real axum server behind
//! `RequestContextLayer`: every record of a request that sent a valid header
//! is stored with its trace id and the caller's span id, through `log` and
//! the `tracing` layer alike; a malformed header is ignored (the request is
//! served, its records carry no trace). Its own test binary: one global
//! logger per process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use axum::routing::get;
use common::TempDb;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tracing_subscriber::layer::SubscriberExt;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
/// Records a `/work` request stores: two from the handler, one access record.
const PER_REQUEST: i64 = 3;

fn app() -> axum::Router {
    axum::Router::new()
        .route(
            "/work",
            get(|| async {
                log::info!(target: "traceparent::handler", "through log");
                tracing::info!(target: "traceparent::handler", "through tracing");
                "ok"
            }),
        )
        .layer(log_panel::tower::RequestContextLayer::new())
}

/// GET /work with the given `traceparent` values and request id; the status.
async fn get_work(addr: SocketAddr, request_id: &str, traceparents: &[&str]) -> u16 {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::get(format!("http://{addr}/work")).header("x-request-id", request_id);
    for t in traceparents {
        request = request.header("traceparent", *t);
    }
    let response = client.request(request.body(Empty::new()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

#[test]
fn records_of_a_request_with_a_valid_traceparent_carry_its_trace_and_malformed_ones_are_ignored() {
    let db = TempDb::new();
    let _guard = log_panel::builder().database(&db.path).panic_hook(false).init().unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log_panel::tracing::layer())).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let good = format!("00-{TRACE}-{PARENT}-01");
    let malformed = [
        "garbage".to_owned(),
        format!("01-{TRACE}-{PARENT}-01"),
        format!("00-{}-{PARENT}-01", "0".repeat(32)),
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("00-{TRACE}-{PARENT}-01-x"),
        "00-<b>x</b>-00f067aa0ba902b7-01".to_owned(),
    ];
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
        assert_eq!(get_work(addr, "good-1", &[&good]).await, 200);
        assert_eq!(get_work(addr, "good-2", &[&format!("  {good}")]).await, 200);
        for (i, bad) in malformed.iter().enumerate() {
            assert_eq!(get_work(addr, &format!("bad-{i}"), &[bad]).await, 200, "{bad}");
        }
        // Two headers: which one is the caller's is unknown, so neither is taken.
        assert_eq!(get_work(addr, "two", &[&good, &format!("00-{}-{PARENT}-01", "1".repeat(32))]).await, 200);
        assert_eq!(get_work(addr, "none", &[]).await, 200);
    });
    log_panel::flush().unwrap();

    let with_trace =
        format!("json_extract(context, '$.trace_id') = '{TRACE}' AND json_extract(context, '$.span_id') = '{PARENT}'");
    // Both good requests, every record of each: log, tracing and the access record.
    assert_eq!(db.count(&format!("{with_trace} AND json_extract(context, '$.request_id') = 'good-1'")), PER_REQUEST);
    assert_eq!(db.count(&format!("{with_trace} AND json_extract(context, '$.request_id') = 'good-2'")), PER_REQUEST);
    assert_eq!(db.count(&with_trace), 2 * PER_REQUEST);
    let requests = 2 + malformed.len() as i64 + 2;
    assert_eq!(db.count("json_extract(context, '$.request_id') IS NOT NULL"), requests * PER_REQUEST);
    // Nothing else carries a trace id or a span id.
    assert_eq!(db.count("json_extract(context, '$.trace_id') IS NOT NULL"), 2 * PER_REQUEST);
    assert_eq!(db.count("json_extract(context, '$.span_id') IS NOT NULL"), 2 * PER_REQUEST);
}
