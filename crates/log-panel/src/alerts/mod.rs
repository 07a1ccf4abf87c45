//! Alerts, the running part: the writer counts committed records
//! with a `AlertTrigger` and hands each [`AlertEvent`] to a
//! dedicated alert thread, which runs the callbacks registered with
//! [`Builder::on_alert`](crate::Builder::on_alert). See `docs/alerts.md`.
//!
//! - Counting happens on the writer thread *after* a batch is committed, so
//!   a failed or rejected write fires nothing.
//! - Callbacks run on the thread `log-panel-alerts`, never on the callers'
//!   threads nor on the writer: a slow webhook delays other alerts, not storage.
//!   Events wait in a bounded queue ([`ALERT_QUEUE`]); when it is full the
//!   writer drops the event (counted in [`AlertStats::dropped`]) rather than wait.
//! - A panicking callback is caught and counted; the other callbacks still
//!   run, and so does the writer.
//! - Records logged on the alert thread (a callback reporting what it did)
//!   are stored like any other but not counted toward thresholds, so a
//!   callback that logs cannot trigger itself.
//! - Shutdown first lets the callbacks catch up (within the shutdown timeout),
//!   so what they log is still stored; then it stops the writer and waits,
//!   at most [`SHUTDOWN_WAIT`], for the callbacks of the last events. A
//!   callback still running after that is left behind (reported on stderr)
//!   rather than hang the process.
//! - Webhooks (`[[alerts.webhooks]]`) are one more callback: it queues each
//!   event for the delivery threads of `delivery.rs` and returns at once.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use log_panel_core::Record;

mod delivery;
mod payload;
mod trigger;

pub(crate) use delivery::Webhooks;
pub use delivery::{WEBHOOK_QUEUE, WEBHOOK_SHUTDOWN_WAIT, WEBHOOK_THREAD_NAME};
pub use log_panel_config::{AlertConfig, WebhookConfig, WebhookFormat, DEFAULT_WINDOW};
pub(crate) use payload::Sender as WebhookSender;
pub use trigger::AlertEvent;
pub(crate) use trigger::AlertTrigger;

/// Events that may wait for the callbacks before new ones are dropped.
pub const ALERT_QUEUE: usize = 1024;

/// How long the writer, once stopped, waits for the callbacks of the last events.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Name of the thread that runs the alert callbacks.
pub const ALERT_THREAD_NAME: &str = "log-panel-alerts";

/// A registered alert callback.
pub(crate) type Callback = Box<dyn FnMut(&AlertEvent) + Send + 'static>;

thread_local! {
    static ON_ALERT_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on an alert thread (inside a callback).
pub(crate) fn on_alert_thread() -> bool {
    ON_ALERT_THREAD.with(Cell::get)
}

/// The thread name every alert thread gives its records. One shared
/// allocation: a record came from an alert thread exactly when its `thread`
/// is this very `Arc` (a user thread with the same name has its own).
fn alert_thread_marker() -> &'static Arc<str> {
    static MARKER: OnceLock<Arc<str>> = OnceLock::new();
    MARKER.get_or_init(|| Arc::from(ALERT_THREAD_NAME))
}

/// Counters of the alert machinery.
#[derive(Default)]
pub(crate) struct AlertCounters {
    fired: AtomicU64,
    callback_runs: AtomicU64,
    callback_panics: AtomicU64,
    dropped: AtomicU64,
    webhooks_delivered: AtomicU64,
    webhooks_failed: AtomicU64,
    webhooks_dropped: AtomicU64,
    webhook_retries: AtomicU64,
    /// An alert thread is running.
    active: AtomicBool,
    /// Events queued or being handled by the callbacks.
    pending: Mutex<u64>,
    idle: Condvar,
}

impl AlertCounters {
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// Waits until every queued event has been through the callbacks, at most `timeout`.
    pub(crate) fn wait_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let Ok(mut pending) = self.pending.lock() else { return };
        while *pending > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return };
            pending = match self.idle.wait_timeout(pending, left) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
    }

    fn add_pending(&self, delta: i64) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = pending.saturating_add_signed(delta);
            if *pending == 0 {
                self.idle.notify_all();
            }
        }
    }

    pub(crate) fn snapshot(&self) -> AlertStats {
        AlertStats {
            fired: self.fired.load(Relaxed),
            callback_runs: self.callback_runs.load(Relaxed),
            callback_panics: self.callback_panics.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            webhooks_delivered: self.webhooks_delivered.load(Relaxed),
            webhooks_failed: self.webhooks_failed.load(Relaxed),
            webhooks_dropped: self.webhooks_dropped.load(Relaxed),
            webhook_retries: self.webhook_retries.load(Relaxed),
        }
    }
}

/// A snapshot of the alert counters, from
/// [`Pipeline::alert_stats`](crate::Pipeline::alert_stats) or [`alert_stats()`](crate::alert_stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertStats {
    /// Alert events fired (each a crossing).
    pub fired: u64,
    /// Callback calls that returned normally.
    pub callback_runs: u64,
    /// Callback calls that panicked (caught; the other callbacks still ran).
    pub callback_panics: u64,
    /// Events dropped because [`ALERT_QUEUE`] events were already waiting for slow callbacks.
    pub dropped: u64,
    /// Webhook posts answered with a 2xx (one per alert and webhook, never more).
    pub webhooks_delivered: u64,
    /// Alerts a webhook did not take: a final answer (4xx other than 408/429),
    /// every attempt failed, or shutdown came first. Each is said on stderr.
    pub webhooks_failed: u64,
    /// Alerts dropped before a webhook was tried because [`WEBHOOK_QUEUE`]
    /// older ones were waiting for it (the oldest goes).
    pub webhooks_dropped: u64,
    /// Attempts after the first, over all webhooks.
    pub webhook_retries: u64,
}

/// The writer's side: counts committed records, queues events for the alert thread.
pub(crate) struct Alerts {
    trigger: AlertTrigger,
    tx: Option<Sender<AlertEvent>>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the alert thread exits.
    exited: Receiver<()>,
    counters: Arc<AlertCounters>,
}

impl Alerts {
    /// Starts the alert thread, or returns `None` when there is nothing to do
    /// (no callback, or every level disabled): then nothing is counted at all.
    pub(crate) fn start(
        config: &AlertConfig,
        callbacks: Vec<Callback>,
        counters: Arc<AlertCounters>,
    ) -> std::io::Result<Option<Alerts>> {
        let trigger = AlertTrigger::new(config);
        if callbacks.is_empty() || !trigger.is_enabled() {
            return Ok(None);
        }
        let (tx, rx) = crossbeam_channel::bounded(ALERT_QUEUE);
        let (exiting, exited) = crossbeam_channel::bounded::<()>(0);
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new().name(ALERT_THREAD_NAME.into()).spawn(move || {
            let _exiting = exiting; // dropped when the thread ends, even by a panic
            run_callbacks(rx, callbacks, &thread_counters);
        })?;
        counters.active.store(true, Relaxed);
        Ok(Some(Alerts { trigger, tx: Some(tx), thread: Some(thread), exited, counters }))
    }

    /// Counts records that were just committed, in order, and queues the events.
    pub(crate) fn observe(&mut self, records: &[Record]) {
        let marker = alert_thread_marker();
        let webhook_marker = delivery::webhook_thread_marker();
        for record in records {
            if Arc::ptr_eq(&record.thread, marker) || Arc::ptr_eq(&record.thread, webhook_marker) {
                continue; // logged by a callback or a webhook's HTTP client: stored, never counted
            }
            let Some(event) = self.trigger.observe(record) else { continue };
            self.counters.fired.fetch_add(1, Relaxed);
            let Some(tx) = &self.tx else { continue };
            self.counters.add_pending(1);
            match tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.counters.add_pending(-1);
                    self.counters.dropped.fetch_add(1, Relaxed);
                    eprintln!("log-panel: alert callbacks are behind; event dropped: {event}");
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.counters.add_pending(-1);
                    self.counters.dropped.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Lets the alert thread run the events already queued, then joins it
    /// (waiting at most [`SHUTDOWN_WAIT`]).
    pub(crate) fn finish(&mut self) {
        self.tx = None;
        let Some(thread) = self.thread.take() else { return };
        if thread.thread().id() == std::thread::current().id() {
            return;
        }
        match self.exited.recv_timeout(SHUTDOWN_WAIT) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                let _ = thread.join();
            }
            Err(RecvTimeoutError::Timeout) => {
                eprintln!("log-panel: alert callbacks still running after {SHUTDOWN_WAIT:?}; not waiting for them");
            }
        }
        self.counters.active.store(false, Relaxed);
    }
}

impl Drop for Alerts {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The alert thread: every event goes to every callback, each call isolated.
fn run_callbacks(rx: Receiver<AlertEvent>, mut callbacks: Vec<Callback>, counters: &AlertCounters) {
    ON_ALERT_THREAD.with(|flag| flag.set(true));
    crate::thread::set_thread_name(Arc::clone(alert_thread_marker()));
    for event in rx.iter() {
        for callback in &mut callbacks {
            match catch_unwind(AssertUnwindSafe(|| callback(&event))) {
                Ok(()) => {
                    counters.callback_runs.fetch_add(1, Relaxed);
                }
                Err(_) => {
                    counters.callback_panics.fetch_add(1, Relaxed);
                    eprintln!("log-panel: an alert callback panicked (event: {event})");
                }
            }
        }
        counters.add_pending(-1);
    }
}
