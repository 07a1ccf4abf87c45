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

/// How long the writer's `RESTART` retries wait for readers of old frames
/// while the WAL is between the threshold and twice it, once a `RESTART`
/// could not finish: long enough for a short read transaction in flight (a
/// page's rows, a reader in a loop) to end. A read that outlasted the first
/// wait (a search scanning an unindexed tail under load) is not waited for
/// again at every retry: beside a loaded panel at half rate the writer slept
/// 30–45 % of its time in those waits, which mostly failed
/// (docs/performance.md, session 42); past twice the threshold it waits for
/// such reads anyway.
const RETRY_READER_WAIT: Duration = Duration::from_millis(20);

/// How often the writer looks again whether the readers it waits for are
/// done: SQLite's own busy handler sleeps up to 100 ms between looks, so the
/// writer slept on up to that long after the last reader let go.
const READER_POLL: Duration = Duration::from_millis(1);

#[cfg(test)]
thread_local! {
    /// Sleeps of this thread's writer waiting for readers (tests count them).
    pub(crate) static READER_SLEEPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// SQLite's busy handler for a `RESTART` waiting for readers: polls every
/// [`READER_POLL`] until `wait` has passed.
fn wait_for_readers(tries: i32, wait: Duration) -> bool {
    let polls = wait.as_millis() / READER_POLL.as_millis().max(1);
    if u128::try_from(tries).unwrap_or(u128::MAX) >= polls {
        return false;
    }
    #[cfg(test)]
    READER_SLEEPS.with(|n| n.set(n.get() + 1));
    std::thread::sleep(READER_POLL);
    true
}

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
            // A writer's thread, as the writer that starts it (see `spawn_beside`).
            log_panel_core::writer_thread::spawn_beside(
                std::thread::Builder::new().name("log-panel-checkpoint".into()),
                move || run(&conn, &stop, &failed, &turn),
            )
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
    pub(crate) fn after_commit(&mut self, conn: &mut Connection, wal_len: u64, thread: Option<&Checkpointer>) {
        if wal_len <= crate::WAL_RESTART_BYTES {
            // Restarted (by a commit that found no reader of old frames):
            // the next `RESTART` is a first one again.
            self.retry = None;
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
        let wait = match (long, self.retry) {
            (true, _) => READER_WAIT,
            (false, None) => crate::WRITE_BUSY_TIMEOUT,
            (false, Some(_)) => RETRY_READER_WAIT,
        };
        let _ = conn.busy_handler(Some(move |tries| wait_for_readers(tries, wait)));
        // One row: busy (1 when readers or another checkpoint kept it from
        // finishing), frames in the WAL, frames copied.
        let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
        let _ = conn.busy_timeout(crate::WRITE_BUSY_TIMEOUT);
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
#[allow(clippy::unwrap_used)]
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

    fn sleeps_of(f: impl FnOnce()) -> u32 {
        let before = READER_SLEEPS.with(std::cell::Cell::get);
        f();
        READER_SLEEPS.with(std::cell::Cell::get) - before
    }

    /// A reader holding old frames past the writer's first wait (a search
    /// scanning an unindexed tail under load) is waited for at length once,
    /// then only briefly at each retry until the WAL is past twice the
    /// threshold, where the writer waits for it at length again.
    #[test]
    fn a_reader_that_outlasted_the_first_wait_is_waited_for_briefly_until_twice_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wal.db");
        let mut writer = Connection::open(&db).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (b BLOB); INSERT INTO t VALUES (1)").unwrap();
        let reader = Connection::open(&db).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        // Frames the reader's snapshot does not hold: it keeps the WAL from restarting.
        let mib = i64::try_from(crate::WAL_RESTART_BYTES >> 20).unwrap() + 2;
        writer.execute("INSERT INTO t VALUES (zeroblob(?1 << 20))", [mib]).unwrap();
        let past = crate::WAL_RESTART_BYTES + (2 << 20);
        let polls = |wait: Duration| u32::try_from(wait.as_millis() / READER_POLL.as_millis()).unwrap();

        let mut bound = WalBound::default();
        let first = sleeps_of(|| bound.after_commit(&mut writer, past, None));
        assert_eq!(first, polls(crate::WRITE_BUSY_TIMEOUT), "the first RESTART waits the batches' busy timeout");
        assert!(bound.retry.is_some(), "the reader kept it from finishing");
        let grown = past + RESTART_RETRY_GROWTH;
        let retry = sleeps_of(|| bound.after_commit(&mut writer, grown, None));
        assert_eq!(retry, polls(RETRY_READER_WAIT), "a retry waits briefly");
        let twice = 2 * crate::WAL_RESTART_BYTES + 1;
        let long = sleeps_of(|| bound.after_commit(&mut writer, twice, None));
        assert_eq!(long, polls(READER_WAIT), "past twice the threshold the writer waits at length");

        reader.execute_batch("COMMIT").unwrap();
        let done = sleeps_of(|| bound.after_commit(&mut writer, twice + RESTART_RETRY_GROWTH, None));
        assert_eq!((done, bound.retry), (0, None), "with the reader gone it restarts at once");
        // Below the threshold again: the next RESTART is a first one.
        bound.retry = Some((Instant::now(), 0));
        bound.after_commit(&mut writer, crate::WAL_RESTART_BYTES, None);
        assert!(bound.retry.is_none());
    }
}
