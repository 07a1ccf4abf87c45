//! Counters kept by the writer (and by the rare caller-side drop paths).
//!
//! The hot path increments nothing shared: records are counted by the writer
//! when it receives them, so logging threads never contend on a counter.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use log_panel_core::Timestamp;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) failed_attempts: AtomicU64,
    pub(crate) retried_batches: AtomicU64,
    pub(crate) writer_thread_records: AtomicU64,
    pub(crate) dropped_after_shutdown: AtomicU64,
    pub(crate) lost_at_shutdown: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) last_error: Mutex<Option<(String, Timestamp)>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn set_last_error(&self, text: String) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some((text, Timestamp::now()));
        }
    }

    pub(crate) fn snapshot(&self, queue_depth: usize) -> Stats {
        Stats {
            accepted: self.received.load(Relaxed) + queue_depth as u64,
            written: self.written.load(Relaxed),
            failed_attempts: self.failed_attempts.load(Relaxed),
            retried_batches: self.retried_batches.load(Relaxed),
            writer_thread_records: self.writer_thread_records.load(Relaxed),
            dropped_after_shutdown: self.dropped_after_shutdown.load(Relaxed),
            lost_at_shutdown: self.lost_at_shutdown.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            queue_depth,
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// A snapshot of log-panel's counters, from [`stats()`](crate::stats) or
/// [`Panel::stats`](crate::Panel::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records that passed the filters and entered the queue.
    pub accepted: u64,
    /// Records committed to storage.
    pub written: u64,
    /// Failed write attempts (each retried).
    pub failed_attempts: u64,
    /// Batches that needed more than one attempt.
    pub retried_batches: u64,
    /// Records logged on the writer thread itself (by a sink or its driver):
    /// printed to stderr instead of queued, so they cannot loop.
    pub writer_thread_records: u64,
    /// Records logged after shutdown: dropped (nothing is running to store them).
    pub dropped_after_shutdown: u64,
    /// Records still unwritten when a shutdown deadline passed with storage down.
    pub lost_at_shutdown: u64,
    /// Records the storage rejected one by one as bad data (reported on stderr).
    pub rejected: u64,
    /// Records waiting in the queue right now.
    pub queue_depth: usize,
    /// The last storage error and when it happened.
    pub last_error: Option<(String, Timestamp)>,
}
