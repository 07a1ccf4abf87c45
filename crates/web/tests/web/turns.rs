//! The pages' store calls run a few at a time (`PanelOptions::store_calls`):
//! a request beyond them waits its turn, in order, and past
//! `PanelOptions::store_wait` gets the busy page with 503, never a 500.
//! The store here holds every `record` read until the test opens its gate,
//! and counts how many are inside at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use axum::http::{header, StatusCode};
use log_panel_query::conformance::{Hooks, Read, Wrapped};
use log_panel_query::{Store, StoreError};
use log_panel_web::{router_with, PanelOptions};

use crate::common::{get_any, memory, request};

/// Holds `record` reads until opened; counts those inside, the most at
/// once, and those that got in.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    inside: AtomicUsize,
    most: AtomicUsize,
    entered: AtomicUsize,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    /// Waits (a bounded while) until `n` reads are inside.
    async fn until_inside(&self, n: usize) {
        for _ in 0..500 {
            if self.inside.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} reads never got inside: {}", self.inside.load(Ordering::SeqCst));
    }
}

/// Opens the gate when the test ends, failed or not, so no blocking thread
/// stays parked and the runtime can stop.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

struct Gated(Arc<Gate>);

impl Hooks for Gated {
    fn before(&self, read: Read) -> Result<(), StoreError> {
        if read != Read::Record {
            return Ok(());
        }
        let gate = &self.0;
        let now = gate.inside.fetch_add(1, Ordering::SeqCst) + 1;
        gate.most.fetch_max(now, Ordering::SeqCst);
        gate.entered.fetch_add(1, Ordering::SeqCst);
        let mut open = gate.open.lock().unwrap();
        while !*open {
            open = gate.opened.wait(open).unwrap();
        }
        drop(open);
        gate.inside.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A panel over the filled in-memory store behind a closed gate, with
/// `options`; the URL of a record page.
fn gated(options: PanelOptions) -> (axum::Router, Arc<Gate>, String) {
    let env = memory().unwrap();
    let id = request(env.store.as_ref())[0].id;
    let gate = Arc::new(Gate::default());
    let store: Arc<dyn Store> = Arc::new(Wrapped::new(env.store.clone(), Gated(gate.clone())));
    (router_with(store, options), gate, format!("/records/{id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_call_at_once_a_second_request_waits_for_the_first_and_is_answered_after_it() {
    let (app, gate, uri) = gated(PanelOptions::default().store_calls(1));
    let _open = OpenOnDrop(gate.clone());
    let spawn = || {
        let (app, uri) = (app.clone(), uri.clone());
        tokio::spawn(async move { get_any(&app, &uri).await })
    };
    let first = spawn();
    gate.until_inside(1).await;
    let second = spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate.entered.load(Ordering::SeqCst), 1, "the second request called the store beside the first");
    assert!(!second.is_finished(), "the second request was answered before the first");
    gate.open();
    for (name, task) in [("first", first), ("second", second)] {
        let (status, _, body) = tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert!(body.contains("<h1"), "{name}: {body}");
    }
    assert_eq!(gate.entered.load(Ordering::SeqCst), 2);
    assert_eq!(gate.most.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_does_not_get_its_turn_in_time_gets_the_busy_page_with_503() {
    let wait = Duration::from_millis(300);
    let (app, gate, uri) = gated(PanelOptions::default().store_calls(1).store_wait(wait));
    let _open = OpenOnDrop(gate.clone());
    let first = {
        let (app, uri) = (app.clone(), uri.clone());
        tokio::spawn(async move { get_any(&app, &uri).await })
    };
    gate.until_inside(1).await;
    let started = std::time::Instant::now();
    let (status, headers, body) =
        tokio::time::timeout(Duration::from_secs(10), get_any(&app, &uri)).await.expect("the second request hung");
    assert!(started.elapsed() >= wait, "answered busy after {:?}, before its wait", started.elapsed());
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "10");
    assert!(body.contains("The panel is busy"), "{body}");
    assert!(body.contains("as many reads as it allows at once (1)"), "{body}");
    assert_eq!(gate.entered.load(Ordering::SeqCst), 1, "the busy request called the store");
    gate.open();
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(10), first).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK, "the first request: {body}");
    // Its turn back, the panel answers again.
    let (status, _, body) = get_any(&app, &uri).await;
    assert_eq!(status, StatusCode::OK, "after the first: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_requests_at_once_never_run_more_store_calls_than_allowed_and_all_are_answered() {
    const CALLS: usize = 3;
    let (app, gate, uri) = gated(PanelOptions::default().store_calls(CALLS));
    let _open = OpenOnDrop(gate.clone());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, uri) = (app.clone(), uri.clone());
            tokio::spawn(async move { get_any(&app, &uri).await })
        })
        .collect();
    gate.until_inside(CALLS).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate.inside.load(Ordering::SeqCst), CALLS, "store calls inside at once");
    gate.open();
    for task in tasks {
        let (status, _, body) = tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(gate.entered.load(Ordering::SeqCst), 20);
    assert_eq!(gate.most.load(Ordering::SeqCst), CALLS, "the most store calls at once");
}
