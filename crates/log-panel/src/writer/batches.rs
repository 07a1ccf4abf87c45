//! Batch assembly and the memory it holds: records are gathered in
//! `pending` until the [`BatchPolicy`] says a batch is due, then sealed into
//! the `backlog` of batches waiting for the sink, oldest first. Records
//! leave when they are stored, spooled or given up, and the bytes they held
//! are counted down, so the writer knows when memory passes its bound.

use std::collections::VecDeque;
use std::time::Instant;

use log_panel_core::{BatchPolicy, Record};

use crate::clock::Clock;

/// `pending` → `backlog`, in order, and the records and bytes held in both.
pub(crate) struct Batches {
    policy: BatchPolicy,
    pending: Vec<Record>,
    /// When the oldest pending record arrived: the interval timer counts from here.
    oldest: Option<Instant>,
    backlog: VecDeque<Vec<Record>>,
    /// Approximate bytes held in `pending` and `backlog`.
    held_bytes: usize,
    held_records: u64,
    /// Past this many bytes held, memory is over its bound (see [`Batches::over_bound`]).
    max_held_bytes: usize,
}

impl Batches {
    pub(crate) fn new(policy: BatchPolicy, max_held_bytes: usize) -> Batches {
        Batches {
            pending: Vec::with_capacity(batch_capacity(&policy)),
            policy,
            oldest: None,
            backlog: VecDeque::new(),
            held_bytes: 0,
            held_records: 0,
            max_held_bytes,
        }
    }

    /// Records a batch replayed from the spool may hold.
    pub(crate) fn batch_size(&self) -> usize {
        self.policy.batch_size.max(1)
    }

    /// Adds a record to `pending`; true when the batch is now due.
    #[inline]
    pub(crate) fn push(&mut self, record: Record, clock: &Clock) -> bool {
        self.held_records += 1;
        self.held_bytes += record.approx_size();
        if self.oldest.is_none() {
            self.oldest = Some(clock.now());
        }
        let level = record.level;
        self.pending.push(record);
        self.policy.due_on_push(self.pending.len(), level)
    }

    /// When the pending records are due by the interval timer.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|oldest| self.policy.deadline(oldest))
    }

    /// Whether the pending records are due by the interval timer at `now`.
    pub(crate) fn interval_due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|due| now >= due)
    }

    /// Moves the pending records into the backlog as one batch; false when
    /// there were none. The interval timer restarts with the next record.
    pub(crate) fn seal(&mut self) -> bool {
        self.oldest = None;
        if self.pending.is_empty() {
            return false;
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(batch_capacity(&self.policy)));
        self.backlog.push_back(batch);
        true
    }

    /// The oldest sealed batch, taken out to be stored or spooled.
    pub(crate) fn pop(&mut self) -> Option<Vec<Record>> {
        self.backlog.pop_front()
    }

    /// Puts back a batch (or what is left of it) taken by [`Batches::pop`]:
    /// it is again the oldest.
    pub(crate) fn put_back(&mut self, batch: Vec<Record>) {
        self.backlog.push_front(batch);
    }

    /// These records (stored, spooled or given up) no longer take memory.
    pub(crate) fn leave(&mut self, records: &[Record]) {
        self.held_records = self.held_records.saturating_sub(records.len() as u64);
        let bytes: usize = records.iter().map(Record::approx_size).sum();
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(crate) fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Records in `pending` and `backlog` (published as part of `stats().pending`).
    pub(crate) fn held_records(&self) -> u64 {
        self.held_records
    }

    /// Memory holds more than its bound: spill, or stop taking records.
    pub(crate) fn over_bound(&self) -> bool {
        self.held_bytes > self.max_held_bytes
    }
}

/// A new `pending` vector's capacity: one batch, within reason.
fn batch_capacity(policy: &BatchPolicy) -> usize {
    policy.batch_size.clamp(1, 65_536)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use log_panel_core::Level;

    use super::*;

    fn policy(size: usize) -> BatchPolicy {
        BatchPolicy::new(size, Some(Level::Warn), Duration::from_secs(2))
    }

    fn info(message: &str) -> Record {
        Record::new(Level::Info, "t", message.to_owned())
    }

    fn messages(batch: &[Record]) -> Vec<&str> {
        batch.iter().map(|r| &*r.message).collect()
    }

    #[test]
    fn a_batch_is_due_at_its_size_or_at_the_flush_level_and_sealed_in_order() {
        let clock = Clock::manual();
        let mut b = Batches::new(policy(3), usize::MAX);
        assert!(!b.push(info("a"), &clock));
        assert!(!b.push(info("b"), &clock));
        assert!(b.push(info("c"), &clock), "third record fills the batch");
        assert!(b.seal());
        assert!(b.push(Record::new(Level::Warn, "t", "w".to_owned()), &clock), "WARN is due at once");
        assert!(b.seal());
        assert!(!b.seal(), "nothing pending");
        assert_eq!(messages(&b.pop().unwrap_or_default()), ["a", "b", "c"]);
        assert_eq!(messages(&b.pop().unwrap_or_default()), ["w"]);
        assert!(b.pop().is_none());
    }

    #[test]
    fn the_interval_counts_from_the_oldest_pending_record() {
        let clock = Clock::manual();
        let start = clock.now();
        let mut b = Batches::new(policy(100), usize::MAX);
        assert_eq!(b.deadline(), None);
        b.push(info("a"), &clock);
        clock.advance(Duration::from_millis(1500));
        b.push(info("b"), &clock);
        assert_eq!(b.deadline(), Some(start + Duration::from_secs(2)));
        assert!(!b.interval_due(clock.now()));
        clock.advance(Duration::from_millis(500));
        assert!(b.interval_due(clock.now()));
        b.seal();
        assert_eq!(b.deadline(), None, "restarts with the next record");
        b.push(info("c"), &clock);
        assert_eq!(b.deadline(), Some(clock.now() + Duration::from_secs(2)));
    }

    #[test]
    fn held_memory_is_counted_in_and_out_and_bounds_the_writer() {
        let clock = Clock::manual();
        let one = info("x".repeat(100).as_str()).approx_size();
        let mut b = Batches::new(policy(2), one * 3);
        for _ in 0..4 {
            if b.push(info("x".repeat(100).as_str()), &clock) {
                b.seal();
            }
        }
        assert_eq!(b.held_records(), 4);
        assert!(b.over_bound(), "4 records past a bound of 3");
        let first = b.pop().unwrap_or_default();
        b.leave(&first);
        assert_eq!(b.held_records(), 2);
        assert!(!b.over_bound());
        let mut second = b.pop().unwrap_or_default();
        let rest = second.split_off(1);
        b.leave(&second);
        b.put_back(rest);
        assert_eq!(b.held_records(), 1);
        assert_eq!(b.pop().map(|r| r.len()), Some(1), "the rest is the oldest again");
    }
}
