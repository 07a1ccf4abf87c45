//! The single writer thread: gathers records into batches by policy and
//! stores each batch through the sink in one transaction.
//!
//! It owns the sink (so sinks need no locking) and is the only place records
//! are stored, so retries, the spool, timers and shutdown draining live here.
//!
//! Records flow through three places, always in order:
//! `pending` (being gathered) → `backlog` (sealed batches waiting for the
//! sink) → storage; while storage is down, `backlog` spills to the
//! [`Spool`], which is replayed once storage is back, one batch at a time
//! between live batches, so that the queue keeps draining during a replay.
//!
//! This file is the loop: it waits for messages and timers and decides what
//! happens next, in what order. Each concern it drives has one owner:
//!
//! | part | owns |
//! |---|---|
//! | [`batches`] | `pending` → `backlog`, the interval timer, the memory held |
//! | [`health`] (with [`backoff`]) | whether storage works, the jittered retry delay, outage reports |
//! | [`storing`] | sink calls: one attempt, bisecting a bad batch, sanitised retry, quarantine |
//! | [`outage`] | the spool: when to spill, replaying one batch, losses at the last chance |
//! | [`progress`] | received and resolved counts, `flush()` and shutdown waiters, gauges |
//! | [`drops`] | the summaries of records dropped on a full queue |
//! | [`storable`] | one rule for every storage: over-long names cut, NUL replaced |
//!
//! Every part reads time from a [`Clock`], so its unit tests move time by
//! hand, against a mock sink (`testing.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log_panel_core::{BatchPolicy, Origin, Record, Sink};

use crate::alerts::Alerts;
use crate::clock::{Clock, WallClock};
use crate::queue::Msg;
use crate::spool::{Spool, SpoolLimits};
use crate::stats::Counters;

mod backoff;
mod batches;
mod drops;
mod health;
mod outage;
mod progress;
mod storable;
mod storing;
#[cfg(test)]
mod testing;

use backoff::Backoff;
use batches::Batches;
use drops::DropReports;
use health::Health;
use outage::{Outage, Replayed};
use progress::Progress;
use storing::Storing;

/// How often the writer looks again while its memory is full and it leaves
/// records in the queue.
const FULL_POLL: Duration = Duration::from_millis(20);
/// Messages taken from the queue after a wake-up before the timers, storage
/// health and gauges are looked at again: small enough that a timer fires at
/// most a few hundred records late, large enough that the look is rare.
const DRAIN_BURST: usize = 256;

/// Settings the writer needs beyond the batch policy.
pub(crate) struct WriterSettings {
    pub(crate) policy: BatchPolicy,
    pub(crate) capacity: usize,
    pub(crate) spool: Option<SpoolSettings>,
    /// Records held in memory past this many bytes are spilled; when the
    /// spool cannot take them, the writer stops taking records from the queue
    /// (so the overflow policy applies) until storage or the spool recovers.
    pub(crate) max_held_bytes: usize,
}

pub(crate) struct SpoolSettings {
    pub(crate) dir: std::path::PathBuf,
    /// Spill once storage has been failing this long.
    pub(crate) after: Duration,
    /// How much the spool directory may hold.
    pub(crate) limits: SpoolLimits,
}

/// Where the writer is in its life.
#[derive(Clone, Copy)]
enum State {
    Running,
    /// Shutdown requested: drain, store or spool everything by `deadline`, acknowledge.
    Draining {
        deadline: Instant,
    },
}

pub(crate) struct Writer {
    rx: Receiver<Msg>,
    origin: Origin,
    counters: Arc<Counters>,
    capacity: usize,
    batches: Batches,
    health: Health,
    storing: Storing,
    outage: Outage,
    progress: Progress,
    drops: DropReports,
    state: State,
    /// The writer's time, for every timer.
    clock: Clock,
    /// Turns the callers' ticks into timestamps.
    wall: WallClock,
    /// When [`Sink::idle`] is next due (now, after a stored batch).
    idle_at: Instant,
}

impl Writer {
    pub(crate) fn new(
        rx: Receiver<Msg>,
        sink: Box<dyn Sink>,
        settings: WriterSettings,
        origin: Origin,
        counters: Arc<Counters>,
    ) -> Writer {
        Writer::with_clock(rx, sink, settings, origin, counters, Clock::default())
    }

    fn with_clock(
        rx: Receiver<Msg>,
        sink: Box<dyn Sink>,
        settings: WriterSettings,
        origin: Origin,
        counters: Arc<Counters>,
        clock: Clock,
    ) -> Writer {
        let spool = settings.spool.map(|s| (Spool::with_limits(s.dir, &origin, s.limits), s.after));
        Writer {
            rx,
            batches: Batches::new(settings.policy, settings.max_held_bytes),
            health: Health::new(Backoff::new(), Arc::clone(&counters), clock.clone()),
            storing: Storing::new(sink, Arc::clone(&counters)),
            outage: Outage::new(spool, Arc::clone(&counters), clock.clone()),
            progress: Progress::new(Arc::clone(&counters), settings.capacity),
            drops: DropReports::new(Arc::clone(&counters), clock.clone()),
            origin,
            counters,
            capacity: settings.capacity,
            state: State::Running,
            wall: WallClock::new(),
            idle_at: clock.now(),
            clock,
        }
    }

    /// Counts every committed record toward the thresholds of `alerts`.
    pub(crate) fn with_alerts(mut self, alerts: Option<Alerts>) -> Writer {
        self.storing.set_alerts(alerts);
        self
    }

    /// Runs the alerts already queued and joins the alert thread. The queue's
    /// receiver goes first, so a callback that calls `flush()` now gets
    /// `NotRunning` instead of waiting for a writer that has stopped.
    fn stop_alerts(&mut self) {
        if let Some(mut alerts) = self.storing.take_alerts() {
            drop(std::mem::replace(&mut self.rx, crossbeam_channel::never()));
            alerts.finish();
        }
    }

    /// The thread body. Returns once shut down (or every sender is gone).
    pub(crate) fn run(mut self) {
        crate::thread::mark_writer_thread();
        // A spool left by an earlier run: its first batch now, the rest between live batches.
        self.drive(self.clock.now());
        loop {
            let msg = self.wait();
            self.step(msg);
            if self.finished() {
                break;
            }
        }
        self.stop_alerts();
    }

    /// Waits for the next message, or until a timer is due.
    fn wait(&mut self) -> Result<Msg, RecvTimeoutError> {
        if self.memory_full() {
            // Leave records in the queue: callers then wait or drop as
            // their overflow policy says, and memory stays bounded.
            let poll = self.clock.now() + FULL_POLL;
            let until = self.next_wake().map_or(poll, |at| at.min(poll));
            std::thread::sleep(until.saturating_duration_since(self.clock.now()));
            Err(RecvTimeoutError::Timeout)
        } else {
            match self.next_wake() {
                Some(at) => self.rx.recv_deadline(at),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            }
        }
    }

    /// One turn of the loop: the message (and what else is queued), then the timers.
    fn step(&mut self, msg: Result<Msg, RecvTimeoutError>) {
        match msg {
            Ok(msg) => {
                // The writer takes records: callers may wait for room again.
                self.counters.resume_blocking();
                // The queue is at its deepest now: sample it once per wake-up.
                self.progress.note_depth(self.rx.len() + 1);
                self.handle(msg);
                // Take what else is queued before the timer and gauge work
                // in `tick`, which would otherwise run once per record.
                for _ in 0..DRAIN_BURST {
                    match self.rx.try_recv() {
                        Ok(msg) => self.handle(msg),
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => self.idle_work(),
            Err(RecvTimeoutError::Disconnected) => {
                if let State::Running = self.state {
                    self.state = State::Draining { deadline: self.clock.now() };
                }
            }
        }
        self.tick();
    }

    fn draining(&self) -> bool {
        matches!(self.state, State::Draining { .. })
    }

    /// Memory holds more than its bound and the spool could not take it.
    /// Not while shutting down: shutdown must reach the writer through the queue.
    fn memory_full(&self) -> bool {
        self.batches.over_bound()
            && matches!(self.state, State::Running)
            && !self.counters.closing.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the loop must wake without a message.
    fn next_wake(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Some(due) = self.batches.deadline() {
            at(due);
        }
        if let Some(retry_at) = self.health.retry_at() {
            at(retry_at);
        }
        if let Some(due) = self.drops.next_due() {
            at(due);
        }
        if self.outage.replaying() && self.health.is_ok() {
            // The spool may hold more: the next batch is due once the queue is read.
            at(self.clock.now());
        }
        if let State::Draining { deadline } = self.state {
            // While draining, never block: poll the queue until it is empty.
            at(if self.rx.is_empty() { deadline } else { self.clock.now() });
        } else if self.health.is_ok() && !self.batches.has_backlog() {
            at(self.idle_at);
        }
        wake
    }

    /// One step of the sink's background upkeep, when nothing waits to be
    /// stored; the next step is due at once while the sink has more to do.
    fn idle_work(&mut self) {
        let now = self.clock.now();
        let busy = !self.rx.is_empty() || self.batches.has_backlog() || !self.health.is_ok() || self.outage.replaying();
        if busy || now < self.idle_at || self.draining() {
            return;
        }
        let more = self.storing.idle();
        self.idle_at = if more { now } else { now + log_panel_core::IDLE_PERIOD };
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Record(mut record, tick) => {
                record.timestamp = self.wall.timestamp(tick);
                self.progress.took_from_queue();
                self.push(record);
            }
            Msg::Flush(ack) => {
                // Drops before the flush are summarised now, so that the
                // flush also waits for their summary to be stored.
                if self.drops.outstanding() {
                    self.report_drops();
                }
                self.seal();
                self.progress.flush(ack);
            }
            Msg::Shutdown { ack, deadline } => {
                self.seal();
                self.progress.shutdown(ack);
                if let State::Running = self.state {
                    self.state = State::Draining { deadline };
                }
            }
        }
    }

    fn push(&mut self, mut record: Record) {
        let changed = storable::make_storable(&mut record);
        if changed.cut > 0 {
            Counters::add(&self.counters.truncated, changed.cut);
        }
        if changed.sanitised {
            Counters::add(&self.counters.sanitised, 1);
        }
        self.progress.received();
        if self.batches.push(record, &self.clock) {
            self.seal();
        }
    }

    /// Moves the pending records into the backlog as one batch, and stores
    /// it at once when storage is healthy (otherwise the retry timer decides).
    fn seal(&mut self) {
        if self.batches.seal() {
            self.drive(self.clock.now());
        }
    }

    /// Time-driven work after every message or wake-up.
    fn tick(&mut self) {
        let now = self.clock.now();
        if self.batches.interval_due(now) {
            self.seal();
        }
        self.drive(now);
        // Once there is room in the queue again, a summary of the drops.
        if self.drops.due() && self.rx.len() <= self.capacity / 2 {
            self.report_drops();
        }
        if let State::Draining { deadline } = self.state {
            if self.rx.is_empty() {
                self.seal();
                if now >= deadline && self.batches.has_backlog() {
                    self.spill_all("shutdown deadline passed with storage failing");
                }
            }
        }
        // Gauges first, so a flush that returns sees them current.
        self.publish_gauges();
        self.progress.answer();
    }

    fn finished(&mut self) -> bool {
        let State::Draining { deadline } = self.state else { return false };
        let drained = self.rx.is_empty() && !self.batches.has_pending();
        // A replay under way (of this run's records or an earlier process's)
        // goes on until the spool is empty or the deadline passes.
        let replayed = self.outage.own_spooled() == 0 && !(self.outage.replaying() && self.health.is_ok());
        let stored = !self.batches.has_backlog() && replayed;
        if !(drained && (stored || self.clock.now() >= deadline)) {
            return false;
        }
        // The deadline may have passed during the last attempt, after `tick`
        // looked: what is still in memory goes to the spool (or is counted lost).
        if self.batches.has_backlog() {
            self.spill_all("shutdown deadline passed with storage failing");
        }
        // A final summary of drops, if any, is stored (or spooled) too.
        if self.drops.outstanding() {
            self.report_drops();
            self.seal();
            if self.batches.has_backlog() {
                self.spill_all("shutdown");
            }
        }
        self.publish_gauges();
        self.progress.answer_all();
        true
    }

    fn report_drops(&mut self) {
        if let Some(summary) = self.drops.summary() {
            self.push(summary);
        }
    }

    fn publish_gauges(&self) {
        self.progress.publish(self.batches.held_records(), self.outage.own_spooled());
    }

    /// Stores what can be stored now: one batch from the spool (it is older),
    /// then the backlog in order. One spooled batch per call, and none while
    /// the queue is more than half full, so that live records are taken and
    /// stored between replayed batches: a replay never makes callers wait or
    /// drop. Spills the backlog when storage has been failing too long or
    /// memory is past the bound.
    fn drive(&mut self, now: Instant) {
        if !self.health.may_try(now) {
            self.maybe_spill(now);
            return;
        }
        if self.rx.len() <= self.capacity / 2 {
            match self.outage.replay_one(&mut self.storing, self.batches.batch_size()) {
                Replayed::Stored { own } => {
                    self.progress.replayed(own, self.outage.own_spooled());
                    self.health.recovered();
                }
                Replayed::Nothing => {}
                Replayed::Failed { own, error } => {
                    self.progress.replayed(own, self.outage.own_spooled());
                    self.health.failed(&self.storing.describe(), error, now);
                    self.maybe_spill(now);
                    return;
                }
            }
        }
        while let Some(batch) = self.batches.pop() {
            match self.storing.store(&self.origin, &batch, self.outage.spool_mut()) {
                Ok(()) => {
                    self.resolve(&batch);
                    self.health.recovered();
                    crate::recycle::give_back(batch);
                    // New rows: the sink's upkeep (its search index) is due once the queue is quiet.
                    self.idle_at = now;
                }
                Err((e, done)) => {
                    self.resolve(&batch[..done]);
                    let rest = batch.into_iter().skip(done).collect();
                    self.batches.put_back(rest);
                    self.health.failed(&self.storing.describe(), e, now);
                    break;
                }
            }
        }
        self.maybe_spill(now);
    }

    /// Records leave the writer's memory, resolved.
    fn resolve(&mut self, records: &[Record]) {
        self.progress.resolved(records.len() as u64);
        self.batches.leave(records);
    }

    fn maybe_spill(&mut self, now: Instant) {
        let Some(since) = self.health.failing_since() else { return };
        let last_chance = self.draining();
        self.outage.maybe_spill(&mut self.batches, &mut self.progress, &self.origin, since, now, last_chance);
    }

    /// Moves the whole backlog to the spool (in order). Without a spool, or
    /// when the spool's disk fails while shutting down, what cannot be kept
    /// is counted lost.
    fn spill_all(&mut self, why: &str) {
        let last_chance = self.draining();
        self.outage.spill_all(&mut self.batches, &mut self.progress, &self.origin, why, last_chance);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use crossbeam_channel::{Receiver, Sender, TryRecvError};
    use log_panel_core::Level;

    use super::testing::{origin, MockSink, SinkLog};
    use super::*;
    use crate::clock::Tick;
    use crate::stats::Stats;

    /// A writer driven turn by turn on a manual clock, as its thread would
    /// drive it, against a mock sink.
    struct Harness {
        tx: Sender<Msg>,
        writer: Writer,
        sink: SinkLog,
        clock: Clock,
        counters: Arc<Counters>,
        _dir: tempfile::TempDir,
    }

    const QUEUE: usize = 64;

    fn harness(batch_size: usize, spool_after: Option<Duration>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let (sink, log) = MockSink::new();
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
        assert_eq!(h.sink.stored().len(), 6, "the interval has not passed");
        h.later(Duration::from_millis(1));
        assert_eq!(h.sink.stored(), names("a", 0..7));
        let s = h.stats();
        assert_eq!((s.accepted, s.written, s.pending), (7, 7, 0));
    }

    #[test]
    fn a_failed_batch_is_kept_and_retried_in_order_after_the_backoff_and_nothing_is_lost() {
        let mut h = harness(4, None);
        h.sink.down();
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
        h.sink.up();
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
        h.sink.down();
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
        h.sink.up();
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
        h.sink.down();
        h.log(&["s0", "s1", "s2", "s3", "s4", "s5"]);
        h.turn();
        h.later(Duration::from_millis(1));
        assert_eq!(h.stats().in_spool, 6);
        let before_live = h.flush();
        h.sink.up();
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
        h.sink.down();
        h.log(&["s0"]);
        h.flush();
        h.turn();
        h.later(Duration::from_millis(1));
        assert_eq!(h.stats().in_spool, 1);
        h.sink.up();
        h.clock.advance(backoff::CAP);
        let live = names("n", 0..QUEUE);
        h.log(&live.iter().map(String::as_str).collect::<Vec<_>>());
        h.turn();
        let stored = h.sink.stored();
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
        h.sink.down();
        h.log(&["a0", "a1", "a2"]);
        let flushed = h.flush();
        h.turn();
        assert_eq!(h.sink.attempts(), 1, "the flush sealed the pending records");
        assert!(flushed.try_recv().is_err());
        h.later(backoff::CAP);
        assert!(flushed.try_recv().is_err(), "storage still down");
        h.sink.up();
        h.log(&["later"]);
        let second = h.flush();
        h.later(backoff::CAP);
        assert_eq!(h.sink.stored(), ["a0", "a1", "a2", "later"]);
        assert!(flushed.try_recv().is_ok() && second.try_recv().is_ok());
    }

    #[test]
    fn one_bad_record_is_quarantined_and_the_rest_of_its_batch_stored() {
        let mut h = harness(5, Some(Duration::from_secs(1)));
        h.log(&["a0", "a1", "poison", "a3", "a4"]);
        let flushed = h.flush();
        h.turn();
        assert_eq!(h.sink.stored(), ["a0", "a1", "a3", "a4"]);
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
            |h: &Harness| h.sink.stored().into_iter().filter(|m| m.starts_with("dropped ")).collect::<Vec<_>>();
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
                .stored()
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
        h.sink.down();
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
}
