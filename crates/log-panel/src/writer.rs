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
//! | [`drive`] | the order of a storing turn: one spooled batch, the backlog, spilling |
//! | [`drops`] | the summaries of records dropped on a full queue |
//! | [`storable`] | one rule for every storage: over-long names cut, NUL replaced |
//!
//! Every part reads time from a [`Clock`], so its unit tests move time by
//! hand, against the scripted sink of the `log-panel-testing` crate; the
//! writer's own tests (`tests.rs`) drive this loop one turn at a time.

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
mod drive;
mod drops;
mod health;
mod outage;
mod progress;
mod storable;
mod storing;
#[cfg(test)]
mod tests;

use backoff::Backoff;
use batches::Batches;
use drops::DropReports;
use health::Health;
use outage::Outage;
use progress::Progress;
use storing::{Storing, Upkeep};

/// How often the writer looks again while its memory is full and it leaves
/// records in the queue.
const FULL_POLL: Duration = Duration::from_millis(20);
/// Messages taken from the queue after a wake-up before the timers, storage
/// health and gauges are looked at again: small enough that a timer fires at
/// most a few hundred records late, large enough that the look is rare.
const DRAIN_BURST: usize = 256;

/// The longest the writer spends on the sink's upkeep at shutdown, once
/// everything is stored ([`Writer::upkeep_at_exit`]). SQLite's idle steps
/// index about 30 000 records a second (docs/performance.md, "SQLite: one
/// statement an indexing step"), so 250 ms index about 7 500, several times
/// the 2 000 records a writer leaves unindexed at most
/// (`log_panel_sqlite::INDEX_LAG_BOUND`): a writer within its bound catches
/// up (91 records take one step of a few milliseconds), while a process's
/// exit never waits longer than a user notices for what the next writer
/// would index anyway.
const EXIT_UPKEEP: Duration = Duration::from_millis(250);

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
    /// The delays between failed upkeep steps.
    idle_backoff: Backoff,
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
            idle_backoff: Backoff::new(),
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
        let done = self.storing.idle();
        if done != Upkeep::Failed {
            self.idle_backoff.reset();
        }
        self.idle_at = match done {
            Upkeep::More => now,
            Upkeep::Done => now + log_panel_core::IDLE_PERIOD,
            Upkeep::Soon(delay) => now + delay,
            // Soon, not a period later: after a full disk or a lock held
            // elsewhere, the index would otherwise lag for a minute.
            Upkeep::Failed => now + self.idle_backoff.next_delay(),
        };
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
        if !self.batches.has_backlog() && self.health.is_ok() {
            self.upkeep_at_exit(deadline);
        }
        self.publish_gauges();
        self.progress.answer_all();
        true
    }

    /// The sink's upkeep steps after the last batch, until it has nothing
    /// more to do, for at most [`EXIT_UPKEEP`] and never past the shutdown's
    /// `deadline`: while draining, `idle_work` takes no step, so without this
    /// the last batches stay unindexed (and a lag note stays on) until the
    /// next writer runs. A crash leaves them to that writer as before.
    fn upkeep_at_exit(&mut self, deadline: Instant) {
        // Real time, not the writer's clock: this bounds how long the
        // process's exit waits, and a test's manual clock never moves here.
        let until = Instant::now() + EXIT_UPKEEP;
        while Instant::now() < until && self.clock.now() < deadline {
            if self.storing.idle() != Upkeep::More {
                break;
            }
        }
    }

    fn report_drops(&mut self) {
        if let Some(summary) = self.drops.summary() {
            self.push(summary);
        }
    }

    fn publish_gauges(&self) {
        self.progress.publish(self.batches.held_records(), self.outage.own_spooled());
    }
}
