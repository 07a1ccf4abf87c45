//! The live tail on PostgreSQL is pushed on commit: with a poll interval of
//! 30 s, a record committed by a sink reaches an open stream within a
//! bounded wait of a few seconds (the reorder window, 3 s, and no poll), also
//! after the listener connection was dropped. Bounded waits, no timing
//! measurements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_postgres::PgStore;
use log_panel_query::Store;
use log_panel_testing::postgres::{client, fresh_sink};
use log_panel_web::PanelOptions;
use tower::ServiceExt;

/// The poll interval: a record seen before it was pushed.
const POLL: Duration = Duration::from_secs(30);
/// How long the test waits for a record at most (the reorder window is 3 s).
const BOUND: Duration = Duration::from_secs(12);

struct Events {
    body: axum::body::Body,
    text: String,
}

impl Events {
    async fn open(app: &axum::Router, uri: &str) -> Events {
        let request = axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::OK, "{uri}");
        Events { body: response.into_body(), text: String::new() }
    }

    /// Reads until `needle` came, for at most [`BOUND`].
    async fn until(&mut self, needle: &str) {
        let deadline = tokio::time::Instant::now() + BOUND;
        while !self.text.contains(needle) {
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("`{needle}` within {BOUND:?} (poll every {POLL:?}); read:\n{}", self.text));
            if let Some(data) = frame.unwrap().unwrap().data_ref() {
                self.text.push_str(std::str::from_utf8(data).unwrap());
            }
        }
    }
}

fn write(sink: &mut dyn Sink, message: &str) {
    let origin = Origin::new("push", "h", 4242);
    let record = Record::new(Level::Info, "push", message.to_owned());
    let write = || sink.write(&Batch::new(&origin, &[record]));
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(write),
        Err(_) => write(),
    }
    .unwrap();
}

/// The backend pids listening for commits.
fn listeners(url: &str) -> Vec<i32> {
    let sql = "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN log_panel_commit' ORDER BY pid";
    let rows = tokio::task::block_in_place(|| client(url).query(sql, &[])).unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// Waits (5 s at most) until exactly one backend other than `old` listens; returns it.
async fn listening(url: &str, old: Option<i32>) -> i32 {
    for _ in 0..100 {
        let pids: Vec<i32> = listeners(url).into_iter().filter(|p| Some(*p) != old).collect();
        if let [pid] = pids[..] {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no listener other than {old:?}: {:?}", listeners(url));
}

#[test]
fn a_commit_reaches_an_open_tail_long_before_the_next_poll_and_after_the_listener_dropped() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    write(&mut sink, "before the stream");
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).unwrap());
    let newest = store.tail(&Default::default(), None, 1).unwrap().last().map_or(0, |r| r.id);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(pushed(&url, &mut sink, store.clone(), newest));
    // The runtime ends first (not waiting for the poller's blocked wait):
    // its tasks let go of the store before the store's blocking connections
    // close, off the runtime.
    rt.shutdown_timeout(Duration::from_secs(1));
}

async fn pushed(url: &str, sink: &mut log_panel_postgres::PgSink, store: Arc<dyn Store>, newest: i64) {
    let app = log_panel_web::router_with(store, PanelOptions::default().tail_poll(POLL));
    let mut events = Events::open(&app, &format!("/tail/events?pid=4242&after={newest}")).await;
    // The poller's listener connects on its first wait (and reads once more).
    let first = listening(url, None).await;
    write(sink, "pushed first");
    events.until("pushed first").await;
    assert!(!events.text.contains("before the stream"), "{}", events.text);

    // The listener's connection ends: the poller listens again on a new one
    // and the next commit reaches the stream as soon.
    let end = || client(url).query_one("SELECT pg_terminate_backend($1)", &[&first]);
    let ended: bool = tokio::task::block_in_place(end).unwrap().get(0);
    assert!(ended);
    listening(url, Some(first)).await;
    write(sink, "pushed after the drop");
    events.until("pushed after the drop").await;
}
