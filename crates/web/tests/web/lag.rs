//! A search page (and the view of the records sharing a value, and the live
//! tail) says how far the index it reads is behind (the records it scans),
//! and the home page says so for every index; nothing once the indexes
//! caught up. A read of the lag that fails says so in the note's place and
//! never fails the page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_query::conformance::{Hooks, Read, Wrapped};
use log_panel_query::{Behind, IndexLag, Store, StoreError, StoreErrorKind};
use log_panel_sqlite::{SqliteSink, SqliteStore};
use log_panel_web::{router, router_with, PanelOptions};

use crate::common::{assert_escaped, get, H_ATTR, H_MSG};
use crate::http::Events;

const NOTE: &str = "class=\"lag-note\"";

/// The pages whose filter reads an index (and the home page, every index).
const NOTED: [&str; 5] =
    ["/records?text=payment", "/records?q=user_id%3A7", "/related?key=user_id&value=7", "/", "/sites?text=payment"];

/// 1 200 hostile records in a new file, the newest 300 not indexed (search
/// and context keys): the file's directory, its writer, its store, and a
/// runtime for the panel.
fn lagging() -> (tempfile::TempDir, SqliteSink, Arc<dyn Store>, tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let origin = Origin::new("shop", "h1", 7);
    let records: Vec<Record> = (0..1_200i64)
        .map(|i| {
            let mut r = Record::new(Level::Warn, "billing", format!("payment {H_MSG} failed {i}"));
            r.kv.push(("user_id".into(), (i % 40).into()));
            r.kv.push(("note".into(), H_ATTR.into()));
            r
        })
        .collect();
    sink.write(&Batch::new(&origin, &records)).unwrap();
    sink.index_some(900).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    (dir, sink, store, rt)
}

#[test]
fn a_search_page_notes_the_records_its_index_has_not_covered() {
    let (_dir, mut sink, store, rt) = lagging();
    rt.block_on(async {
        let app = router(store.clone());
        let (status, _, body) = get(&app, "/records?text=payment").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_escaped("search", &body);
        assert!(
            body.contains(&format!(
                "<p {NOTE} role=\"note\">search index 300 records behind: the newest 300 records are scanned \
                 (results stay complete)</p>"
            )),
            "{body}"
        );
        let (_, _, by_user) = get(&app, "/records?q=user_id%3A7").await;
        assert!(
            by_user.contains(">context-key index 300 records behind: the newest 300 records are scanned"),
            "{by_user}"
        );
        let (_, _, shared) = get(&app, "/related?key=user_id&value=7").await;
        assert!(
            shared.contains(">context-key index 300 records behind: the newest 300 records are scanned"),
            "{shared}"
        );
        let (_, _, unfiltered) = get(&app, "/records").await;
        assert!(!unfiltered.contains(NOTE), "a page that reads no index: {unfiltered}");
        // Call sites: a text filter counts the rows through the search index;
        // without one they are summed from the site aggregates.
        let (_, _, sites) = get(&app, "/sites?text=payment").await;
        assert!(sites.contains(">search index 300 records behind: the newest 300 records are scanned"), "{sites}");
        assert!(sites.contains("<strong>1\u{202f}200</strong>"), "every record counted: {sites}");
        let (_, _, all_sites) = get(&app, "/sites").await;
        assert!(!all_sites.contains(NOTE), "{all_sites}");
        let (_, _, home) = get(&app, "/").await;
        assert_escaped("home", &home);
        assert!(home.contains(">search and context-key index 300 records behind:"), "{home}");

        tokio::task::block_in_place(|| sink.catch_up_indexes(10_000).unwrap());
        for uri in NOTED {
            let (status, _, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::OK);
            assert!(!body.contains(NOTE), "{uri} once indexed: {body}");
        }
    });
}

/// A store whose read of the lag fails (as a role without the right to read
/// the search mark would), over a real one whose records read well.
struct LagFails;

impl Hooks for LagFails {
    fn index_lag(&self, _inner: &dyn Store) -> Result<IndexLag, StoreError> {
        Err(StoreError::new(StoreErrorKind::Storage, "permission denied for table <log_search_mark> & co"))
    }
}

#[test]
fn a_failed_lag_read_leaves_every_page_and_says_so_in_the_notes_place() {
    let (_dir, _sink, inner, rt) = lagging();
    let store: Arc<dyn Store> = Arc::new(Wrapped::new(inner, LagFails));
    rt.block_on(async {
        let app = router_with(store, PanelOptions::default().tail_poll(Duration::from_millis(10)));
        let line = "index lag unknown: permission denied for table &lt;log_search_mark&gt; &amp; co</p>";
        for uri in NOTED {
            let (status, _, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            assert_escaped(uri, &body);
            assert!(body.contains(&format!("<p {NOTE} role=\"note\">{line}")), "{uri}: {body}");
        }
        let (_, _, records) = get(&app, "/records?text=payment").await;
        assert!(records.contains("failed 1199") && records.contains("50 records on this page"), "{records}");
        let (status, _, tail) = get(&app, "/tail?text=payment").await;
        assert_eq!(status, StatusCode::OK, "{tail}");
        assert!(tail.contains(&format!("<p {NOTE} id=\"tail-lag\" role=\"note\">{line}")), "{tail}");
        assert!(tail.contains("failed 1199"), "{tail}");
        let (_, _, unfiltered) = get(&app, "/records").await;
        assert!(!unfiltered.contains(NOTE), "a page that reads no index never asks: {unfiltered}");
        let mut events = Events::open(&app, "/tail/events?text=payment").await;
        events
            .until_text("event: lag\ndata: \"index lag unknown: permission denied for table <log_search_mark> & co\"\n")
            .await;
    });
}

#[test]
fn the_live_tail_notes_a_lagging_index_and_says_each_change_once() {
    let (_dir, mut sink, store, rt) = lagging();
    rt.block_on(async {
        let app = router_with(store, PanelOptions::default().tail_poll(Duration::from_millis(10)));
        let behind = "search index 300 records behind: the newest 300 records are scanned (results stay complete)";
        let (status, _, page) = get(&app, "/tail?text=payment").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_escaped("tail", &page);
        assert!(page.contains(&format!("<p {NOTE} id=\"tail-lag\" role=\"note\">{behind}</p>")), "{page}");
        // A filter that reads no index: the note's place, hidden.
        let (_, _, by_logger) = get(&app, "/tail?logger=billing").await;
        assert!(by_logger.contains(&format!("<p {NOTE} id=\"tail-lag\" role=\"note\" hidden></p>")), "{by_logger}");

        let mut events = Events::open(&app, "/tail/events?text=payment").await;
        events.until_text(&format!("event: lag\ndata: \"{behind}\"\n")).await;
        // The poller reads the lag again (every second) while nothing changed: said once.
        let text = events.read_for(Duration::from_millis(2_500)).await;
        assert_eq!(text.matches("event: lag").count(), 1, "{text}");
        tokio::task::block_in_place(|| sink.catch_up_indexes(10_000).unwrap());
        let text = events.until("the note cleared", |t| t.matches("event: lag").count() == 2).await.to_owned();
        let cleared = &text[text.rfind("event: lag").unwrap()..];
        assert!(cleared.starts_with("event: lag\ndata: \"\"\n"), "{cleared}");
        let text = events.read_for(Duration::from_millis(2_500)).await;
        assert_eq!(text.matches("event: lag").count(), 2, "nothing more once caught up: {text}");
    });
}

/// The lag a [`Scripted`] store answers, set by the test, and its reads counted.
#[derive(Default)]
struct Script {
    lag: std::sync::Mutex<IndexLag>,
    lag_reads: AtomicUsize,
    tails: AtomicUsize,
}

/// A store whose lag is the [`Script`]'s (over a real one for the records).
struct Scripted(Arc<Script>);

impl Hooks for Scripted {
    fn before(&self, read: Read) -> Result<(), StoreError> {
        if read == Read::Tail {
            self.0.tails.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn index_lag(&self, _inner: &dyn Store) -> Result<IndexLag, StoreError> {
        self.0.lag_reads.fetch_add(1, Ordering::SeqCst);
        Ok(*self.0.lag.lock().unwrap())
    }
}

/// A runtime shut down without waiting for its blocking threads when it
/// drops (also when an assertion fails): the poller's commit waiter of a
/// test that polls hourly would hold its drop for the hour.
struct Unwaited(Option<tokio::runtime::Runtime>);

impl Drop for Unwaited {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl std::ops::Deref for Unwaited {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().unwrap()
    }
}

/// [`lagging`]'s file behind a [`Scripted`] store whose lag starts at
/// `lag`: what the panel's streams read the lag from, and the runtime.
/// Bind every field: the file and its writer must outlive the test.
struct ScriptedPanel {
    _dir: tempfile::TempDir,
    _sink: SqliteSink,
    script: Arc<Script>,
    store: Arc<dyn Store>,
    rt: Unwaited,
}

fn scripted(lag: IndexLag) -> ScriptedPanel {
    let (_dir, _sink, inner, rt) = lagging();
    let script = Arc::new(Script { lag: std::sync::Mutex::new(lag), ..Script::default() });
    let store: Arc<dyn Store> = Arc::new(Wrapped::new(inner, Scripted(script.clone())));
    ScriptedPanel { _dir, _sink, script, store, rt: Unwaited(Some(rt)) }
}

fn search_behind(records: u64) -> IndexLag {
    IndexLag::new(Behind::counted(records), Behind::default())
}

/// The data of the first `lag` event of a stream.
async fn first_lag(events: &mut Events) -> String {
    let text = events.until_text("event: lag\ndata: ").await;
    let at = text.find("event: lag\ndata: ").unwrap() + "event: lag\ndata: ".len();
    text[at..].lines().next().unwrap().to_owned()
}

/// The lag changes between the page and its stream, while the poller's last
/// read (for another stream) is older than the page's: the stream starts
/// from a read of the lag made after it opened, so its first note is the
/// page's, never the poller's older one.
#[test]
fn a_new_stream_starts_from_a_lag_read_after_its_page_not_the_pollers_older_one() {
    let ScriptedPanel { _dir, _sink, script, store, rt } = scripted(search_behind(300));
    rt.block_on(async {
        // The poller reads once, then not for an hour (no commit wakes it).
        let app = router_with(store, PanelOptions::default().tail_poll(Duration::from_secs(3600)));
        let old = "search index 300 records behind: the newest 300 records are scanned (results stay complete)";
        let new = "search index 7 records behind: the newest 7 records are scanned (results stay complete)";
        let mut first = Events::open(&app, "/tail/events?text=payment").await;
        assert_eq!(first_lag(&mut first).await, format!("\"{old}\""));
        *script.lag.lock().unwrap() = search_behind(7);
        let (status, _, page) = get(&app, "/tail?text=payment").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(&format!("<p {NOTE} id=\"tail-lag\" role=\"note\">{new}</p>")), "{page}");
        let mut second = Events::open(&app, "/tail/events?text=payment").await;
        assert_eq!(first_lag(&mut second).await, format!("\"{new}\""), "the page's note, not the poller's last");
        // The first stream hears of the newer read too.
        first.until_text(&format!("event: lag\ndata: \"{new}\"\n")).await;
    });
}

/// Streams whose filters read no index never make the poller read the lag
/// (nothing they show can change); one that reads an index does.
#[test]
fn the_poller_reads_the_lag_only_while_a_streams_filter_reads_an_index() {
    let ScriptedPanel { _dir, _sink, script, store, rt } = scripted(search_behind(300));
    rt.block_on(async {
        let app = router_with(store, PanelOptions::default().tail_poll(Duration::from_millis(10)));
        let _by_logger = Events::open(&app, "/tail/events?logger=billing").await;
        // The stream's first page, then the poller's reads (at least 100 ms
        // apart): a dozen reads span more than the poller's lag interval.
        while script.tails.load(Ordering::SeqCst) < 14 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(script.lag_reads.load(Ordering::SeqCst), 0, "no open filter reads an index");
        let mut search = Events::open(&app, "/tail/events?text=payment").await;
        search.until_text("event: lag\ndata: \"search index 300 records behind").await;
        let reads = script.lag_reads.load(Ordering::SeqCst);
        while script.lag_reads.load(Ordering::SeqCst) == reads {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Many streams opening at once share their reads of the lag.
#[test]
fn streams_opening_together_share_a_read_of_the_lag() {
    let ScriptedPanel { _dir, _sink, script, store, rt } = scripted(search_behind(300));
    rt.block_on(async {
        let app = router_with(store, PanelOptions::default().tail_poll(Duration::from_secs(3600)).tail_streams(64));
        let opened =
            futures_util::future::join_all((0..30).map(|_| Events::open(&app, "/tail/events?text=payment"))).await;
        assert_eq!(opened.len(), 30);
        let reads = script.lag_reads.load(Ordering::SeqCst);
        // One for the first stream, one for those opened while it read, one of the poller's.
        assert!(reads <= 4, "30 streams, {reads} reads of the lag");
    });
}

/// The live tail beside a writer whose idle steps index each batch within a
/// second: the lag comes and goes with every batch and no note is sent (one
/// was, at each read that found a batch unindexed); a lag that lasts is
/// sent once it lasted (`LAG_SETTLES_AFTER`, 3 s).
#[test]
fn the_live_tail_sends_no_note_of_a_lag_that_comes_and_goes_and_sends_one_that_lasts() {
    let ScriptedPanel { _dir, _sink, script, store, rt } = scripted(IndexLag::default());
    rt.block_on(async {
        let app = router_with(store, PanelOptions::default().tail_poll(Duration::from_millis(10)));
        let mut events = Events::open(&app, "/tail/events?text=payment").await;
        assert_eq!(first_lag(&mut events).await, "\"\"", "nothing behind at the start");
        // Behind for 600 ms of every 2.2 s: the poller reads the lag every
        // second, so most batches are read behind, and every caught-up spell
        // is read too.
        for _ in 0..5 {
            *script.lag.lock().unwrap() = search_behind(90);
            tokio::time::sleep(Duration::from_millis(600)).await;
            *script.lag.lock().unwrap() = IndexLag::default();
            tokio::time::sleep(Duration::from_millis(1_600)).await;
        }
        let text = events.read_for(Duration::from_millis(10)).await;
        assert_eq!(text.matches("event: lag").count(), 1, "{text}");
        *script.lag.lock().unwrap() = search_behind(90);
        let text = events.read_for(Duration::from_millis(2_500)).await;
        assert_eq!(text.matches("event: lag").count(), 1, "not before it lasted: {text}");
        events.until_text("event: lag\ndata: \"search index 90 records behind").await;
    });
}
