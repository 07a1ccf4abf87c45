//! Waiting for new records: what a live tail does between two reads.
//!
//! A store whose server can say when a batch committed (PostgreSQL's
//! `LISTEN/NOTIFY`) hands out a [`CommitWaiter`] that returns as soon as
//! one did; any other store (SQLite: no server to tell anyone) hands out
//! [`Sleep`], which waits the whole poll interval. Either way the caller
//! reads after each wait, so a waiter that misses a commit (a dropped
//! listener connection) only makes the tail as slow as polling.
//!
//! A waiter that finds its server silent (frozen, or gone behind a network
//! black hole) says so with an error, so that a tail reports the outage
//! rather than wait on a connection that will never be woken; it listens
//! again by itself on a later wait.

use std::time::Duration;

use crate::StoreError;

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
    /// `timeout` passed. Commits that happened while nobody waited are
    /// reported at once (they are not lost between two calls); several
    /// commits may be reported by one return.
    ///
    /// Returns no later than `timeout`, except to report an error: a waiter
    /// that checks its server may wait a bounded time past `timeout` for the
    /// answer (PostgreSQL: [`StoreErrorKind::Unavailable`] after a few seconds
    /// of silence). After an error the caller reads as after a timeout (the
    /// read says whether the store answers) and may wait again: the waiter
    /// listens again by itself.
    ///
    /// [`StoreErrorKind::Unavailable`]: crate::StoreErrorKind::Unavailable
    fn wait(&mut self, timeout: Duration) -> Result<Wake, StoreError>;

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
    fn wait(&mut self, timeout: Duration) -> Result<Wake, StoreError> {
        std::thread::sleep(timeout);
        Ok(Wake::TimedOut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_waits_and_reports_a_timeout() {
        let start = std::time::Instant::now();
        let mut s = Sleep;
        assert_eq!(s.wait(Duration::from_millis(20)).ok(), Some(Wake::TimedOut));
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(!s.pushed());
    }
}
