//! The writer driven turn by turn on a manual clock, as its thread would
//! drive it, against the scripted sink of `log-panel-testing`.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering::Relaxed;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use log_panel_core::Level;

use log_panel_testing::records::origin;
use log_panel_testing::{sink, Shared};

use super::*;
use crate::clock::Tick;
use crate::stats::Stats;

/// A writer driven turn by turn on a manual clock, as its thread would
/// drive it, against a mock sink.
struct Harness {
    tx: Sender<Msg>,
    writer: Writer,
    sink: Shared,
    clock: Clock,
    counters: Arc<Counters>,
    _dir: tempfile::TempDir,
}

const QUEUE: usize = 64;

fn harness(batch_size: usize, spool_after: Option<Duration>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(QUEUE);
    let (sink, log) = sink::mock();
    let clock = Clock::manual();
    let counters = Arc::new(Counters::default());
    let settings = WriterSettings {
        policy: BatchPolicy::new(batch_size, Some(Level::Warn), Duration::from_secs(2)),
        capacity: QUEUE,
        spool: spool_after.map(|after| SpoolSettings {
            dir: dir.path().join("spool"),
            after,
            limits: SpoolLimits::default(),
        }),
        max_held_bytes: usize::MAX,
    };
    let writer = Writer::with_clock(rx, Box::new(sink), settings, origin(), Arc::clone(&counters), clock.clone());
    Harness { tx, writer, sink: log, clock, counters, _dir: dir }
}

impl Harness {
    fn log(&self, messages: &[&str]) {
        for m in messages {
            let record = Record::new(Level::Info, "t", (*m).to_owned());
            self.tx.send(Msg::Record(record, Tick::now())).unwrap();
        }
    }

    fn flush(&self) -> Receiver<()> {
        let (ack, rx) = crossbeam_channel::bounded(1);
        self.tx.send(Msg::Flush(ack)).unwrap();
        rx
    }

    /// One turn of the loop, never blocking: a queued message, else a timer wake-up.
    fn turn(&mut self) {
        let msg = self.writer.rx.try_recv().map_err(|e| match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
        });
        self.writer.step(msg);
    }

    fn later(&mut self, by: Duration) {
        self.clock.advance(by);
        self.turn();
    }

    fn stats(&self) -> Stats {
        self.counters.snapshot(self.writer.rx.len())
    }
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn records_are_stored_in_order_by_batch_size_and_by_the_interval() {
    let mut h = harness(3, None);
    h.log(&["a0", "a1", "a2", "a3", "a4", "a5", "a6"]);
    h.turn();
    assert_eq!(h.sink.batches(), [names("a", 0..3), names("a", 3..6)]);
    h.later(Duration::from_millis(1999));
    assert_eq!(h.sink.stored_messages().len(), 6, "the interval has not passed");
    h.later(Duration::from_millis(1));
    assert_eq!(h.sink.stored_messages(), names("a", 0..7));
    let s = h.stats();
    assert_eq!((s.accepted, s.written, s.pending), (7, 7, 0));
}

#[test]
fn a_failed_batch_is_kept_and_retried_in_order_after_the_backoff_and_nothing_is_lost() {
    let mut h = harness(4, None);
    h.sink.set_down(true);
    h.log(&["a0", "a1", "a2", "a3"]);
    h.turn();
    assert_eq!(h.sink.attempts(), 1);
    let s = h.stats();
    assert_eq!((s.written, s.pending, s.failed_attempts, s.retried_batches), (0, 4, 1, 1));
    assert!(s.storage_down_since.is_some());
    // More records while storage is down queue up behind the failed batch.
    h.log(&["b0", "b1", "b2", "b3"]);
    h.turn();
    assert_eq!(h.sink.attempts(), 1, "no attempt before the retry delay");
    h.sink.set_down(false);
    h.later(backoff::CAP);
    assert_eq!(h.sink.batches(), [names("a", 0..4), names("b", 0..4)]);
    let s = h.stats();
    assert_eq!((s.written, s.pending, s.lost, s.spilled), (8, 0, 0, 0));
    assert!(s.storage_down_since.is_none());
}

#[test]
fn after_spool_after_of_outage_the_backlog_spills_and_replays_between_live_batches() {
    let after = Duration::from_secs(1);
    let mut h = harness(2, Some(after));
    h.sink.set_down(true);
    h.log(&["s0", "s1", "s2", "s3"]);
    h.turn();
    h.later(after - Duration::from_millis(1));
    assert_eq!(h.stats().spilled, 0, "a blip shorter than spool.after_ms writes nothing to disk");
    h.later(Duration::from_millis(1));
    let s = h.stats();
    assert_eq!((s.spilled, s.in_spool, s.written), (4, 4, 0));
    let flushed = h.flush();
    h.turn();
    assert!(flushed.try_recv().is_err(), "spooled is not committed");

    // Storage is back: one spooled batch, then the live batch, then the next spooled batch.
    h.sink.set_down(false);
    h.clock.advance(backoff::CAP);
    h.log(&["n0", "n1"]);
    h.turn();
    assert_eq!(h.sink.batches(), [names("s", 0..2), names("n", 0..2), names("s", 2..4)]);
    let s = h.stats();
    assert_eq!((s.written, s.replayed, s.in_spool, s.pending, s.lost), (6, 4, 0, 0, 0));
    assert!(flushed.try_recv().is_ok(), "answered once its records are replayed");
}

#[test]
fn the_queue_is_read_between_replayed_batches_and_a_flush_waits_for_its_spooled_records() {
    let mut h = harness(2, Some(Duration::ZERO));
    h.sink.set_down(true);
    h.log(&["s0", "s1", "s2", "s3", "s4", "s5"]);
    h.turn();
    h.later(Duration::from_millis(1));
    assert_eq!(h.stats().in_spool, 6);
    let before_live = h.flush();
    h.sink.set_down(false);
    h.clock.advance(backoff::CAP);
    h.log(&["n0", "n1"]);
    let after_live = h.flush();
    h.turn();
    // The live batch came in after one spooled batch, not after the whole spool.
    assert_eq!(h.sink.batches(), [names("s", 0..2), names("n", 0..2), names("s", 2..4)]);
    // Six records are stored, as many as the first flush waited for, but s4 and s5 are not among them.
    assert!(before_live.try_recv().is_err() && after_live.try_recv().is_err());
    h.turn();
    assert_eq!(h.sink.batches(), [names("s", 0..2), names("n", 0..2), names("s", 2..4), names("s", 4..6)]);
    assert!(before_live.try_recv().is_ok() && after_live.try_recv().is_ok());
    let s = h.stats();
    assert_eq!((s.written, s.replayed, s.in_spool, s.pending), (8, 6, 0, 0));
}

#[test]
fn replay_waits_while_the_queue_is_more_than_half_full() {
    let mut h = harness(2, Some(Duration::ZERO));
    h.sink.set_down(true);
    h.log(&["s0"]);
    h.flush();
    h.turn();
    h.later(Duration::from_millis(1));
    assert_eq!(h.stats().in_spool, 1);
    h.sink.set_down(false);
    h.clock.advance(backoff::CAP);
    let live = names("n", 0..QUEUE);
    h.log(&live.iter().map(String::as_str).collect::<Vec<_>>());
    h.turn();
    let stored = h.sink.stored_messages();
    let at = stored.iter().position(|m| m == "s0").unwrap();
    // Each live batch is stored as it is sealed; s0 once the queue is down
    // to half (32 left when n31 seals the batch n30, n31: s0 goes first).
    assert_eq!(stored[..at], live[..at]);
    assert_eq!(at, QUEUE / 2 - 2, "{stored:?}");
    assert_eq!(stored.len(), QUEUE + 1);
}

#[test]
fn a_flush_is_answered_only_after_its_records_are_committed() {
    let mut h = harness(100, None);
    h.sink.set_down(true);
    h.log(&["a0", "a1", "a2"]);
    let flushed = h.flush();
    h.turn();
    assert_eq!(h.sink.attempts(), 1, "the flush sealed the pending records");
    assert!(flushed.try_recv().is_err());
    h.later(backoff::CAP);
    assert!(flushed.try_recv().is_err(), "storage still down");
    h.sink.set_down(false);
    h.log(&["later"]);
    let second = h.flush();
    h.later(backoff::CAP);
    assert_eq!(h.sink.stored_messages(), ["a0", "a1", "a2", "later"]);
    assert!(flushed.try_recv().is_ok() && second.try_recv().is_ok());
}

#[test]
fn one_bad_record_is_quarantined_and_the_rest_of_its_batch_stored() {
    let mut h = harness(5, Some(Duration::from_secs(1)));
    h.log(&["a0", "a1", "poison", "a3", "a4"]);
    let flushed = h.flush();
    h.turn();
    assert_eq!(h.sink.stored_messages(), ["a0", "a1", "a3", "a4"]);
    let s = h.stats();
    assert_eq!((s.written, s.quarantined, s.pending, s.failed_attempts), (4, 1, 0, 0));
    assert!(flushed.try_recv().is_ok(), "a quarantined record is resolved");
}

#[test]
fn drops_are_summarised_at_most_once_a_second_as_records() {
    let mut h = harness(100, None);
    for _ in 0..5 {
        h.counters.drop_one(Level::Info);
    }
    h.turn();
    let summaries =
        |h: &Harness| h.sink.stored_messages().into_iter().filter(|m| m.starts_with("dropped ")).collect::<Vec<_>>();
    let first = summaries(&h);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("dropped 5 records while the queue was full (INFO 5)"), "{first:?}");
    for _ in 0..3 {
        h.counters.drop_one(Level::Debug);
    }
    h.later(Duration::from_millis(999));
    assert_eq!(summaries(&h).len(), 1, "not within a second of the last");
    assert_eq!(h.writer.next_wake(), Some(h.clock.now() + Duration::from_millis(1)));
    h.later(Duration::from_millis(1));
    let both = summaries(&h);
    assert_eq!(both.len(), 2);
    assert!(both[1].starts_with("dropped 3 records while the queue was full (DEBUG 3)"), "{both:?}");
}

#[test]
fn a_flush_waits_for_the_summary_of_every_drop_before_it() {
    let mut h = harness(100, None);
    let summed = |h: &Harness| -> u64 {
        h.sink
            .stored_messages()
            .iter()
            .filter_map(|m| m.strip_prefix("dropped ")?.split(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    for _ in 0..5 {
        h.counters.drop_one(Level::Info);
    }
    h.turn();
    for _ in 0..3 {
        h.counters.drop_one(Level::Info);
    }
    let flushed = h.flush();
    h.turn();
    assert!(flushed.try_recv().is_ok());
    assert_eq!(summed(&h), 8, "a second summary, within the second, because of the flush");
    h.later(drops::REPORT_EVERY);
    assert_eq!(summed(&h), 8, "nothing reported twice");
}

#[test]
fn shutdown_with_storage_down_spills_at_the_deadline_and_acknowledges() {
    let mut h = harness(10, Some(Duration::from_secs(60)));
    h.sink.set_down(true);
    h.log(&["a0", "a1", "a2"]);
    let (ack, acked) = crossbeam_channel::bounded(1);
    let deadline = h.clock.now() + Duration::from_secs(5);
    h.tx.send(Msg::Shutdown { ack, deadline }).unwrap();
    h.turn();
    assert!(!h.writer.finished());
    assert_eq!(h.stats().spilled, 0, "before the deadline the writer keeps retrying");
    h.later(Duration::from_secs(5));
    assert!(h.writer.finished());
    let s = h.stats();
    assert_eq!((s.spilled, s.in_spool, s.lost, s.pending), (3, 3, 0, 0));
    assert!(acked.try_recv().is_ok());
    assert_eq!(h.counters.written.load(Relaxed), 0);
}

/// A sink whose step waits for another process's transaction (the
/// PostgreSQL search bound) is asked again after the delay it names, not a
/// period later: before, a search scanned the unindexed rows for up to a
/// minute after the other process's batch committed.
#[test]
fn an_upkeep_step_that_expects_work_soon_is_called_again_after_its_delay() {
    let mut h = harness(3, None);
    h.sink.script.lock().unwrap().idle_soon = Some(Duration::from_millis(40));
    h.turn();
    assert_eq!(h.sink.idle_calls(), 1, "the first step is due at once");
    h.later(Duration::from_millis(39));
    assert_eq!(h.sink.idle_calls(), 1, "not before its delay");
    h.later(Duration::from_millis(1));
    assert_eq!(h.sink.idle_calls(), 2, "called again after 40 ms, not IDLE_PERIOD");
    // A delay longer than the period counts as the period.
    h.sink.script.lock().unwrap().idle_soon = Some(log_panel_core::IDLE_PERIOD * 10);
    h.later(Duration::from_millis(40));
    assert_eq!(h.sink.idle_calls(), 3);
    h.later(log_panel_core::IDLE_PERIOD);
    assert_eq!(h.sink.idle_calls(), 4);
    // Expecting nothing: the period again.
    h.sink.script.lock().unwrap().idle_soon = None;
    h.later(log_panel_core::IDLE_PERIOD);
    assert_eq!(h.sink.idle_calls(), 5);
    h.later(log_panel_core::IDLE_PERIOD - Duration::from_millis(1));
    assert_eq!(h.sink.idle_calls(), 5, "done: nothing until the period");
}

#[test]
fn a_failed_upkeep_step_is_retried_within_the_backoff_cap_and_a_finished_one_a_period_later() {
    let mut h = harness(3, None);
    h.sink.script.lock().unwrap().idle = [None, None, Some(true), Some(false)].into_iter().collect();
    h.turn();
    assert_eq!(h.sink.idle_calls(), 1, "the first step is due at once");
    assert!(h.stats().last_error.is_some_and(|(e, _)| e.contains("background upkeep")));
    // Before: a failed step waited IDLE_PERIOD (a minute), and the index lagged as long.
    h.later(backoff::CAP);
    assert_eq!(h.sink.idle_calls(), 2, "retried within the backoff's cap");
    h.later(backoff::CAP);
    assert_eq!(h.sink.idle_calls(), 3);
    h.turn();
    assert_eq!(h.sink.idle_calls(), 4, "more to do: the next step at once");
    h.later(log_panel_core::IDLE_PERIOD - Duration::from_millis(1));
    assert_eq!(h.sink.idle_calls(), 4, "done: nothing until the period");
    h.later(Duration::from_millis(1));
    assert_eq!(h.sink.idle_calls(), 5);
}
