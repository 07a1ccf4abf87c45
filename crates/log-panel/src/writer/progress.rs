//! How far the writer has got: records received and resolved (committed,
//! replayed, quarantined or lost — never merely spooled), the `flush()` and
//! shutdown callers waiting on that, and the gauges `stats()` reads.
//!
//! Records are numbered in the order they are received. They leave memory in
//! that order, resolved or for the spool; this run's spooled records are
//! replayed in that order too. But a replayed batch and a live batch
//! alternate, so the two resolve out of order with each other: a flush is
//! answered once the oldest unresolved record, in the spool or in memory, is
//! newer than the flush, not once some count of records is resolved.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::stats::Counters;

/// The writer's counts and the callers waiting on them; one per writer.
pub(crate) struct Progress {
    counters: Arc<Counters>,
    capacity: usize,
    /// Records taken in (from the queue, or made by the writer itself); the
    /// next record received is numbered this.
    received: u64,
    /// Of those, records taken from the queue (published as `stats().accepted`).
    from_queue: u64,
    /// The number of the oldest record still in memory: records before it
    /// are resolved or in the spool.
    memory_front: u64,
    /// This run's records in the spool, as runs of numbers `(first, count)`, oldest first.
    spooled: VecDeque<(u64, u64)>,
    high_water: usize,
    /// `flush()` callers and the number of the first record each does not wait for.
    flushes: Vec<(u64, Sender<()>)>,
    /// Shutdown callers, answered when the writer finishes.
    shutdowns: Vec<Sender<()>>,
}

impl Progress {
    /// `capacity`: the queue's, which bounds the depth recorded.
    pub(crate) fn new(counters: Arc<Counters>, capacity: usize) -> Progress {
        Progress {
            counters,
            capacity,
            received: 0,
            from_queue: 0,
            memory_front: 0,
            spooled: VecDeque::new(),
            high_water: 0,
            flushes: Vec::new(),
            shutdowns: Vec::new(),
        }
    }

    /// A record arrived through the queue (it is then also [`Progress::received`]).
    #[inline]
    pub(crate) fn took_from_queue(&mut self) {
        self.from_queue += 1;
    }

    /// A record was taken in.
    #[inline]
    pub(crate) fn received(&mut self) {
        self.received += 1;
    }

    /// The `n` oldest records in memory leave it resolved (stored,
    /// quarantined or lost).
    #[inline]
    pub(crate) fn resolved(&mut self, n: u64) {
        self.memory_front += n;
    }

    /// The `n` oldest records in memory leave it for the spool, unresolved.
    pub(crate) fn spooled(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        match self.spooled.back_mut() {
            Some((first, count)) if *first + *count == self.memory_front => *count += n,
            _ => self.spooled.push_back((self.memory_front, n)),
        }
        self.memory_front += n;
    }

    /// The `n` oldest of this run's spooled records are stored (or, when
    /// `in_spool` is 0, none is left to wait for).
    pub(crate) fn replayed(&mut self, mut n: u64, in_spool: u64) {
        while n > 0 {
            let Some((first, count)) = self.spooled.front_mut() else { break };
            let taken = n.min(*count);
            *first += taken;
            *count -= taken;
            n -= taken;
            if *count == 0 {
                self.spooled.pop_front();
            }
        }
        if in_spool == 0 {
            self.spooled.clear();
        }
    }

    /// The number of the oldest record not resolved yet.
    fn oldest_unresolved(&self) -> u64 {
        self.spooled.front().map_or(self.memory_front, |(first, _)| *first)
    }

    /// Records the queue's depth (including the message just taken) for
    /// `queue_high_water`.
    pub(crate) fn note_depth(&mut self, depth: usize) {
        let depth = depth.min(self.capacity);
        if depth > self.high_water {
            self.high_water = depth;
            self.counters.high_water.fetch_max(depth, Relaxed);
        }
    }

    /// A `flush()` caller waits until every record received so far is resolved.
    pub(crate) fn flush(&mut self, ack: Sender<()>) {
        self.flushes.push((self.received, ack));
    }

    /// A shutdown caller waits until the writer finishes.
    pub(crate) fn shutdown(&mut self, ack: Sender<()>) {
        self.shutdowns.push(ack);
    }

    /// Answers the flushes whose records are all resolved.
    pub(crate) fn answer(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let oldest = self.oldest_unresolved();
        self.flushes.retain(|(target, ack)| {
            if oldest >= *target {
                let _ = ack.send(());
                false
            } else {
                true
            }
        });
    }

    /// The writer finishes: answers every shutdown caller, then every flush.
    pub(crate) fn answer_all(&mut self) {
        for ack in self.shutdowns.drain(..) {
            let _ = ack.send(());
        }
        for (_, ack) in self.flushes.drain(..) {
            let _ = ack.send(());
        }
    }

    /// The current values `stats()` reads for `accepted`, `pending` and `in_spool`.
    pub(crate) fn publish(&self, held_records: u64, in_spool: u64) {
        self.counters.received.store(self.from_queue, Relaxed);
        self.counters.held.store(held_records, Relaxed);
        self.counters.in_spool.store(in_spool, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_is_answered_only_once_every_record_received_before_it_is_resolved() {
        let counters = Arc::new(Counters::default());
        let mut p = Progress::new(Arc::clone(&counters), 8);
        let (first, first_rx) = crossbeam_channel::bounded(1);
        let (second, second_rx) = crossbeam_channel::bounded(1);
        for _ in 0..3 {
            p.received();
        }
        p.flush(first);
        p.received();
        p.flush(second);
        p.resolved(2);
        p.answer();
        assert!(first_rx.try_recv().is_err(), "2 of 3 resolved");
        p.resolved(1);
        p.answer();
        assert!(first_rx.try_recv().is_ok(), "3 of 3 resolved");
        assert!(second_rx.try_recv().is_err(), "the 4th record is not resolved yet");
        p.resolved(1);
        p.answer();
        assert!(second_rx.try_recv().is_ok());
    }

    #[test]
    fn a_flush_waits_for_its_spooled_records_even_when_newer_ones_are_stored_first() {
        let mut p = Progress::new(Arc::new(Counters::default()), 8);
        let (flush, flushed) = crossbeam_channel::bounded(1);
        for _ in 0..4 {
            p.received();
        }
        p.spooled(2); // records 0 and 1
        p.resolved(1); // record 2
        p.spooled(1); // record 3
        p.flush(flush);
        for _ in 0..4 {
            p.received();
        }
        p.resolved(4); // the newer records 4..8
        p.replayed(1, 2);
        p.answer();
        assert!(flushed.try_recv().is_err(), "records 1 and 3 are in the spool");
        p.replayed(1, 1);
        p.answer();
        assert!(flushed.try_recv().is_err(), "record 3 is in the spool");
        p.replayed(1, 0);
        p.answer();
        assert!(flushed.try_recv().is_ok());
        assert_eq!(p.spooled.len(), 0);
    }

    #[test]
    fn finishing_answers_shutdown_and_any_flush_left() {
        let mut p = Progress::new(Arc::new(Counters::default()), 8);
        let (flush, flush_rx) = crossbeam_channel::bounded(1);
        let (stop, stop_rx) = crossbeam_channel::bounded(1);
        p.received();
        p.flush(flush);
        p.shutdown(stop);
        p.answer();
        assert!(flush_rx.try_recv().is_err());
        p.answer_all();
        assert!(stop_rx.try_recv().is_ok() && flush_rx.try_recv().is_ok());
    }

    #[test]
    fn gauges_and_the_high_water_mark_are_published() {
        let counters = Arc::new(Counters::default());
        let mut p = Progress::new(Arc::clone(&counters), 8);
        p.note_depth(3);
        p.note_depth(2);
        p.note_depth(100);
        assert_eq!(counters.high_water.load(Relaxed), 8, "bounded by the queue's capacity");
        p.took_from_queue();
        p.took_from_queue();
        p.publish(5, 7);
        let s = counters.snapshot(1);
        assert_eq!((s.accepted, s.pending, s.in_spool), (3, 6, 7));
    }
}
