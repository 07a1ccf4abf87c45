//! Waiting for new records: what a live tail does between two reads.
//!
//! A store whose server can say when a batch committed (PostgreSQL's
//! `LISTEN/NOTIFY`) hands out a [`CommitWaiter`] that returns as soon as
//! one did; any other store (SQLite: no server to tell anyone) hands out
//! [`Sleep`], which waits the whole poll interval. Either way the caller
//! reads after each wait, so a waiter that misses a commit (a dropped
//! listener connection) only makes the tail as slow as polling.

use std::time::Duration;

/// Why [`CommitWaiter::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The store said a batch committed (new records may be there).
    Committed,
    /// The time given passed (or the waiter cannot listen right now): read anyway.
    TimedOut,
}

/// Blocks a live tail until new records may have been committed.
pub trait CommitWaiter: Send {
    /// Waits until a batch committed since the last call returned, or
    /// `timeout` passed; never longer than `timeout`. Commits that happened
    /// while nobody waited are reported at once (they are not lost between
    /// two calls); several commits may be reported by one return.
    fn wait(&mut self, timeout: Duration) -> Wake;

    /// Whether commits are pushed (`false` for [`Sleep`]): a tail may then
    /// use a long poll interval as its fallback.
    fn pushed(&self) -> bool {
        false
    }
}

/// The waiter of a store that cannot push commits: sleeps the whole time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sleep;

impl CommitWaiter for Sleep {
    fn wait(&mut self, timeout: Duration) -> Wake {
        std::thread::sleep(timeout);
        Wake::TimedOut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_waits_and_reports_a_timeout() {
        let start = std::time::Instant::now();
        let mut s = Sleep;
        assert_eq!(s.wait(Duration::from_millis(20)), Wake::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(!s.pushed());
    }
}
