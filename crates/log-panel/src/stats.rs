//! Counters kept by the writer (and by the rare caller-side drop paths).
//!
//! The hot path increments nothing shared: records are counted by the writer
//! when it receives them, so logging threads never contend on a counter.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use log_panel_core::{Level, Timestamp};

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) written: AtomicU64,
    /// Dropped on a full queue, by level (index `Level as usize - 1`).
    pub(crate) dropped: [AtomicU64; 5],
    pub(crate) first_drop_us: AtomicI64,
    pub(crate) last_drop_us: AtomicI64,
    pub(crate) sanitised: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) failed_attempts: AtomicU64,
    pub(crate) retried_batches: AtomicU64,
    pub(crate) spilled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) lost: AtomicU64,
    /// Records a blocking call gave up on (also counted in `lost`).
    pub(crate) timed_out: AtomicU64,
    /// `timed_out` when the last such loss was reported on stderr.
    timed_out_reported: AtomicU64,
    /// Set when a blocking call waited `queue.block_timeout_ms` in vain;
    /// cleared when the writer takes records again. While set, blocking
    /// calls do not wait for a full queue.
    blocking_suspended: AtomicBool,
    pub(crate) held: AtomicU64,
    pub(crate) in_spool: AtomicU64,
    pub(crate) high_water: AtomicUsize,
    pub(crate) writer_thread_records: AtomicU64,
    pub(crate) dropped_after_shutdown: AtomicU64,
    /// Set when shutdown starts, before its message is queued: the writer
    /// then takes records from the queue even with its memory full.
    pub(crate) closing: std::sync::atomic::AtomicBool,
    /// When storage started failing (µs since the epoch), 0 while it works.
    pub(crate) down_since_us: AtomicI64,
    pub(crate) last_error: Mutex<Option<(String, Timestamp)>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Counts a record dropped on a full queue (caller side, rare).
    pub(crate) fn drop_one(&self, level: Level) {
        self.dropped[level as usize - 1].fetch_add(1, Relaxed);
        let now = Timestamp::now().as_micros();
        let _ = self.first_drop_us.compare_exchange(0, now, Relaxed, Relaxed);
        self.last_drop_us.store(now, Relaxed);
    }

    /// Whether blocking calls give up at once on a full queue (see [`Counters::gave_up_waiting`]).
    #[inline]
    pub(crate) fn blocking_suspended(&self) -> bool {
        self.blocking_suspended.load(Relaxed)
    }

    /// A blocking call found the queue full while blocking is suspended: its record is lost.
    pub(crate) fn lose_unqueued(&self) {
        Counters::add(&self.timed_out, 1);
        Counters::add(&self.lost, 1);
    }

    /// A blocking call waited `timeout` for room in vain: its record is lost,
    /// and until the writer takes records again, blocking calls do not wait.
    /// Reported once per suspension, so stderr gets at most a line per `timeout`.
    pub(crate) fn gave_up_waiting(&self, timeout: Duration) {
        self.lose_unqueued();
        if !self.blocking_suspended.swap(true, Relaxed) {
            let text = format!(
                "a logging call waited {} ms (queue.block_timeout_ms) for room in the queue: the writer takes no \
                 records (storage and the spool failing, or a write that hangs). Until it does, records that find \
                 the queue full are lost and counted in stats().timed_out",
                timeout.as_millis()
            );
            eprintln!("log-panel: {text}");
            self.set_last_error(text);
        }
    }

    /// The writer takes records again: blocking calls wait for room again.
    #[inline]
    pub(crate) fn resume_blocking(&self) {
        if self.blocking_suspended.load(Relaxed) && self.blocking_suspended.swap(false, Relaxed) {
            let total = self.timed_out.load(Relaxed);
            let lost = total - self.timed_out_reported.swap(total, Relaxed);
            eprintln!("log-panel: the writer takes records again and logging calls wait for room again; {lost} records were lost meanwhile");
        }
    }

    pub(crate) fn dropped_by_level(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.dropped[i].load(Relaxed))
    }

    pub(crate) fn set_last_error(&self, text: String) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some((text, Timestamp::now()));
        }
    }

    pub(crate) fn snapshot(&self, queue_depth: usize) -> Stats {
        let [error, warn, info, debug, trace] = self.dropped_by_level();
        Stats {
            accepted: self.received.load(Relaxed) + queue_depth as u64,
            written: self.written.load(Relaxed),
            dropped: Dropped { error, warn, info, debug, trace },
            sanitised: self.sanitised.load(Relaxed),
            truncated: self.truncated.load(Relaxed),
            failed_attempts: self.failed_attempts.load(Relaxed),
            retried_batches: self.retried_batches.load(Relaxed),
            spilled: self.spilled.load(Relaxed),
            replayed: self.replayed.load(Relaxed),
            quarantined: self.quarantined.load(Relaxed),
            lost: self.lost.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            pending: self.held.load(Relaxed) + queue_depth as u64,
            in_spool: self.in_spool.load(Relaxed),
            queue_depth,
            queue_high_water: self.high_water.load(Relaxed).max(queue_depth),
            writer_thread_records: self.writer_thread_records.load(Relaxed),
            dropped_after_shutdown: self.dropped_after_shutdown.load(Relaxed),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            storage_down_since: match self.down_since_us.load(Relaxed) {
                0 => None,
                us => Some(Timestamp(us)),
            },
        }
    }
}

/// Records dropped because the queue was full, by level (see `queue.overflow`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// ERROR records dropped.
    pub error: u64,
    /// WARN records dropped.
    pub warn: u64,
    /// INFO records dropped.
    pub info: u64,
    /// DEBUG records dropped.
    pub debug: u64,
    /// TRACE records dropped.
    pub trace: u64,
}

impl Dropped {
    /// All levels together.
    pub fn total(&self) -> u64 {
        self.error + self.warn + self.info + self.debug + self.trace
    }
}

/// A snapshot of log-panel's counters, from [`stats()`](crate::stats) or
/// [`Pipeline::stats`](crate::Pipeline::stats). Counters only grow; `pending` and
/// the queue figures are current values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records that passed the filters and entered the queue.
    pub accepted: u64,
    /// Records committed to storage (including replayed ones).
    pub written: u64,
    /// Records dropped on a full queue, by level (only with `overflow` `drop` or `drop_below`).
    pub dropped: Dropped,
    /// Records the storage rejected and that were stored after sanitising
    /// (NUL bytes replaced), plus values a sink sanitised itself.
    pub sanitised: u64,
    /// Messages or values cut to `limits.max_field_bytes`.
    pub truncated: u64,
    /// Failed write attempts.
    pub failed_attempts: u64,
    /// Batches that needed more than one attempt.
    pub retried_batches: u64,
    /// Records written to the local spool because storage was unavailable.
    pub spilled: u64,
    /// Records replayed from the spool into storage.
    pub replayed: u64,
    /// Records the storage rejected even sanitised, kept in the spool's `quarantine.jsonl`.
    pub quarantined: u64,
    /// Records that could be neither stored nor spooled (spool disabled or
    /// its disk failing at the shutdown deadline, or given up by a blocking
    /// call: see `timed_out`); reported on stderr.
    pub lost: u64,
    /// Of `lost`, records a blocking call (`queue.overflow` `block`, or
    /// `drop_below` at or above its level) gave up on: it waited
    /// `queue.block_timeout_ms` for room in the queue in vain, or found the
    /// queue full after such a wait and before the writer took records again.
    pub timed_out: u64,
    /// Records accepted but not yet committed or spooled (queue + writer memory).
    pub pending: u64,
    /// Records of this process in the spool right now, waiting for replay.
    pub in_spool: u64,
    /// Records in the queue right now.
    pub queue_depth: usize,
    /// The most records the writer has seen in the queue at once.
    pub queue_high_water: usize,
    /// Records logged on the writer thread itself (by a sink or its driver):
    /// printed to stderr instead of queued, so they cannot loop.
    pub writer_thread_records: u64,
    /// Records logged after shutdown: dropped (nothing is running to store them).
    pub dropped_after_shutdown: u64,
    /// The last storage error and when it happened.
    pub last_error: Option<(String, Timestamp)>,
    /// Since when storage has been failing (unreachable, busy, disk full);
    /// `None` while it takes writes, or before the first write was tried (a
    /// PostgreSQL database is connected on the first write).
    pub storage_down_since: Option<Timestamp>,
}

/// What [`flush_timeout`](crate::Pipeline::flush_timeout) and
/// [`shutdown_timeout`](crate::Pipeline::shutdown_timeout) report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Everything accepted before the call was committed (or, at shutdown,
    /// committed or spooled) before the deadline.
    pub complete: bool,
    /// Records committed so far.
    pub written: u64,
    /// Records still waiting (queue + writer memory).
    pub pending: u64,
    /// Records in the spool, to be replayed when storage is back (or by the next process).
    pub spilled: u64,
    /// Records dropped so far (full queue with a dropping policy, or lost).
    pub dropped: u64,
}

impl Report {
    pub(crate) fn from_stats(complete: bool, s: &Stats) -> Report {
        Report {
            complete,
            written: s.written,
            pending: s.pending,
            spilled: s.in_spool,
            dropped: s.dropped.total() + s.lost,
        }
    }
}
