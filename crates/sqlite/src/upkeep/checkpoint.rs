//! WAL checkpoints, and the WAL's bound.
//!
//! SQLite checkpoints in the connection whose commit fills the WAL past
//! 1 000 pages, so one batch or idle step in twenty paid for copying the WAL
//! into the database (70–300 ms at 10 M rows, docs/performance.md). A
//! `PASSIVE` checkpoint from another connection runs beside the writer
//! without blocking it, so the sink turns its own automatic checkpoints off
//! while a thread of its own ([`Checkpointer`]) runs them, and back on if the
//! thread fails.
//!
//! A checkpoint alone does not shrink the WAL: SQLite starts writing the WAL
//! from its beginning again only when a write transaction begins after a
//! checkpoint copied *every* frame and no reader still reads old frames.
//! Under sustained writes the thread's checkpoints never catch up (a commit
//! always lands while one runs), so the WAL grew without end (9 GiB in
//! 30 s). [`WalBound`] therefore has the writer itself, between two
//! transactions, run a `RESTART` checkpoint once the `-wal` file passes
//! [`WAL_RESTART_BYTES`](crate::WAL_RESTART_BYTES): with no commit running it
//! copies the frames the thread has not copied yet and waits (briefly) for
//! readers of old frames, so the next commit restarts the WAL, and
//! `journal_size_limit` truncates the file back to the threshold then.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How often the thread checkpoints: a WAL grows by at most what the writer
/// commits in this time (a few MB at full speed) before it is copied back.
const EVERY: Duration = Duration::from_millis(250);

/// How long after a `RESTART` that could not finish (a reader kept old
/// frames longer than the writer's busy timeout) the writer tries again:
/// such a reader costs the writer at most one busy timeout in this time.
const RESTART_RETRY: Duration = Duration::from_millis(250);

/// How much the WAL may grow after a `RESTART` that could not finish before
/// the writer tries again, however soon: at full rate the writer adds 40–50
/// MB a second, so a retry by time alone let one reader descheduled in its
/// read transaction (a loaded machine) carry the WAL from 32 to 53 MiB. One
/// busy timeout per 4 MiB written is what such a reader can cost the writer.
const RESTART_RETRY_GROWTH: u64 = crate::WAL_RESTART_BYTES / 8;

/// How long the writer waits for readers of old frames once the WAL is past
/// twice [`WAL_RESTART_BYTES`](crate::WAL_RESTART_BYTES): longer than a
/// panel's reads take under load (p99 0.2–0.5 s), well under its read budget.
const READER_WAIT: Duration = Duration::from_secs(1);

/// The checkpointing thread of one sink; stops and joins when dropped.
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    failed: Arc<AtomicBool>,
    /// Held by whichever of the thread and the writer checkpoints: SQLite
    /// runs one checkpoint at a time and fails a second one at once rather
    /// than waiting for the first.
    turn: Arc<Mutex<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`, or `None` when its
    /// connection or thread cannot be had (the sink then keeps SQLite's own
    /// checkpoints).
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        let conn = Connection::open(path).ok()?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let failed = Arc::new(AtomicBool::new(false));
        let turn = Arc::new(Mutex::new(()));
        let thread = {
            let (stop, failed, turn) = (Arc::clone(&stop), Arc::clone(&failed), Arc::clone(&turn));
            std::thread::Builder::new()
                .name("log-panel-checkpoint".into())
                .spawn(move || run(&conn, &stop, &failed, &turn))
                .ok()?
        };
        Some(Checkpointer { stop, failed, turn, thread: Some(thread) })
    }

    /// Whether the thread has stopped on an error: the sink must checkpoint
    /// again itself, or the WAL would grow without end.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Waits for the thread's checkpoint in progress, if any, and keeps the
    /// thread from starting another until dropped.
    fn turn(&self) -> MutexGuard<'_, ()> {
        // The guarded value is (); a panic while it was held leaves nothing inconsistent.
        self.turn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar), failed: &AtomicBool, turn: &Mutex<()>) {
    let (lock, wake) = stop;
    let Ok(mut stopped) = lock.lock() else { return failed.store(true, Ordering::Relaxed) };
    while !*stopped {
        // A busy result (a reader holds an old snapshot) is not an error:
        // the next round copies what it could not.
        let ran = {
            let _turn = turn.lock().unwrap_or_else(PoisonError::into_inner);
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        };
        if ran.is_err() {
            failed.store(true, Ordering::Relaxed);
            return;
        }
        stopped = match wake.wait_timeout(stopped, EVERY) {
            Ok((guard, _)) => guard,
            Err(_) => return failed.store(true, Ordering::Relaxed),
        };
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Ok(mut stopped) = self.stop.0.lock() {
            *stopped = true;
            self.stop.1.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Keeps the WAL of the writer's connection within its bound (see the
/// module's documentation).
#[derive(Debug, Default)]
pub(crate) struct WalBound {
    /// After a `RESTART` that could not finish: when to try again, and the
    /// WAL's length that makes it due sooner.
    retry: Option<(Instant, u64)>,
}

impl WalBound {
    /// Sets the size SQLite truncates the `-wal` file back to when the WAL
    /// restarts (it would otherwise keep its largest size).
    pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
        let limit = i64::try_from(crate::WAL_RESTART_BYTES).unwrap_or(i64::MAX);
        conn.pragma_update(None, "journal_size_limit", limit)
    }

    /// Called by the writer between transactions with the `-wal` file's
    /// length: past the threshold, checkpoints everything so that the next
    /// commit restarts the WAL. Its errors are not the batch's (which has
    /// committed): a checkpoint that fails is tried again later.
    pub(crate) fn after_commit(&mut self, conn: &Connection, wal_len: u64, thread: Option<&Checkpointer>) {
        if wal_len <= crate::WAL_RESTART_BYTES {
            return;
        }
        // Readers that overlap back to back (a panel under load) can keep old
        // frames past every short wait, and the WAL then grows as before.
        // Past twice the threshold the writer waits for them longer, and at
        // every batch: a pause of the writer (the queue takes the records
        // meanwhile) instead of a WAL without bound. New readers do not make
        // it wait: once every frame is copied they read the database file.
        let long = wal_len > 2 * crate::WAL_RESTART_BYTES;
        if !long && !self.due(wal_len, Instant::now()) {
            return;
        }
        let _turn = thread.map(Checkpointer::turn);
        if long {
            let _ = conn.busy_timeout(READER_WAIT);
        }
        // One row: busy (1 when readers or another checkpoint kept it from
        // finishing), frames in the WAL, frames copied.
        let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
        if long {
            let _ = conn.busy_timeout(crate::WRITE_BUSY_TIMEOUT);
        }
        self.retry = match busy {
            Ok(0) => None,
            _ => Some((Instant::now() + RESTART_RETRY, wal_len.saturating_add(RESTART_RETRY_GROWTH))),
        };
    }

    /// Whether a `RESTART` is due at `now` with the WAL at `wal_len` (past
    /// the threshold): at once unless the last one could not finish, then
    /// after [`RESTART_RETRY`] or [`RESTART_RETRY_GROWTH`], whichever is first.
    fn due(&self, wal_len: u64, now: Instant) -> bool {
        self.retry.is_none_or(|(at, past)| now >= at || wal_len >= past)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_that_could_not_finish_is_tried_again_after_a_while_or_four_mib() {
        let start = Instant::now();
        let at = crate::WAL_RESTART_BYTES + (1 << 20);
        let mut bound = WalBound::default();
        assert!(bound.due(at, start), "the first restart is due at once");
        bound.retry = Some((start + RESTART_RETRY, at + RESTART_RETRY_GROWTH));
        assert!(!bound.due(at + (1 << 20), start + Duration::from_millis(10)), "not again after 1 MiB and 10 ms");
        assert!(bound.due(at + (4 << 20), start + Duration::from_millis(10)), "again after 4 MiB, however soon");
        assert!(bound.due(at + (1 << 20), start + RESTART_RETRY), "again after a while, however little was written");
    }
}
