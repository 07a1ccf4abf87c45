//! WAL checkpoints on a thread of their own. SQLite checkpoints in the
//! connection whose commit fills the WAL past 1 000 pages, so one batch or
//! idle step in twenty paid for copying the WAL into the database
//! (70–300 ms at 10 M rows, docs/performance.md). A `PASSIVE` checkpoint
//! from another connection runs beside the writer without blocking it, so
//! the sink turns its own automatic checkpoints off while this thread runs,
//! and back on if the thread fails.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the thread checkpoints: a WAL grows by at most what the writer
/// commits in this time (a few MB at full speed) before it is copied back.
const EVERY: Duration = Duration::from_millis(250);

/// The checkpointing thread of one sink; stops and joins when dropped.
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    failed: Arc<AtomicBool>,
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
        let thread = {
            let (stop, failed) = (Arc::clone(&stop), Arc::clone(&failed));
            std::thread::Builder::new()
                .name("log-panel-checkpoint".into())
                .spawn(move || run(&conn, &stop, &failed))
                .ok()?
        };
        Some(Checkpointer { stop, failed, thread: Some(thread) })
    }

    /// Whether the thread has stopped on an error: the sink must checkpoint
    /// again itself, or the WAL would grow without end.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar), failed: &AtomicBool) {
    let (lock, wake) = stop;
    let Ok(mut stopped) = lock.lock() else { return failed.store(true, Ordering::Relaxed) };
    while !*stopped {
        // A busy result (a reader holds an old snapshot) is not an error:
        // the next round copies what it could not.
        let ran = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
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
