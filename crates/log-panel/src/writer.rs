//! The single writer thread: gathers records into batches by policy and
//! stores each batch through the sink in one transaction.
//!
//! It owns the sink (so sinks need no locking) and is the only place records
//! are stored, so retries, the spool, timers and shutdown draining live here.
//!
//! Records flow through three places, always in order:
//! `pending` (being gathered) → `backlog` (sealed batches waiting for the
//! sink) → storage; while storage is down, `backlog` spills to the
//! [`Spool`], which is replayed before anything newer once storage is back.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log_panel_core::{Batch, BatchPolicy, Level, Origin, Record, Sink, SinkError, SinkErrorKind, Timestamp, Value};

use crate::alerts::Alerts;
use crate::clock::WallClock;
use crate::queue::Msg;
use crate::spool::{Spool, SpoolLimits};
use crate::stats::Counters;

mod backoff;
mod storable;

use backoff::Backoff;

/// How long a spill that failed waits before the spool is tried again.
const SPILL_RETRY: Duration = Duration::from_secs(1);
/// How often the writer looks again while its memory is full and it leaves
/// records in the queue.
const FULL_POLL: Duration = Duration::from_millis(20);
/// Drop summaries are made at most this often (the final one at shutdown
/// excepted), however long the overload lasts; their counts add up the same.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(1);
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

/// Whether storage is taking writes.
#[derive(Debug, Clone, Copy)]
enum Health {
    Ok,
    Failing { since: Instant, retry_at: Instant },
}

/// Where the writer is in its life.
enum State {
    Running,
    /// Shutdown requested: drain, store or spool everything by `deadline`, acknowledge.
    Draining {
        deadline: Instant,
        acks: Vec<Sender<()>>,
    },
}

pub(crate) struct Writer {
    rx: Receiver<Msg>,
    sink: Box<dyn Sink>,
    origin: Origin,
    counters: Arc<Counters>,
    policy: BatchPolicy,
    capacity: usize,
    spool: Option<Spool>,
    spool_after: Duration,
    spool_max_bytes: usize,
    /// After a failed spill: not before this instant again.
    spill_retry_at: Option<Instant>,
    pending: Vec<Record>,
    /// When the oldest pending record arrived: the interval timer counts from here.
    oldest: Option<Instant>,
    backlog: VecDeque<Vec<Record>>,
    /// Approximate bytes held in `pending` and `backlog`.
    held_bytes: usize,
    held_records: u64,
    health: Health,
    backoff: Backoff,
    state: State,
    /// Records taken in (from the queue, or made by the writer itself).
    received: u64,
    /// Of those, records taken from the queue (published as `stats().accepted`).
    from_queue: u64,
    /// Of those, records committed, spooled-then-replayed, quarantined or lost, in order.
    resolved: u64,
    waiters: Vec<(u64, Sender<()>)>,
    drops_reported: [u64; 5],
    /// When the last drop summary was made: at most one per [`DROP_REPORT_EVERY`].
    drops_reported_at: Option<Instant>,
    high_water: usize,
    /// The sink's own sanitised count, already added to the stats.
    sink_sanitised: u64,
    /// Threshold alerts: counts what was committed (None: no callbacks).
    alerts: Option<Alerts>,
    /// Turns the callers' ticks into timestamps.
    clock: WallClock,
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
        let (spool, spool_after) = match settings.spool {
            Some(s) => (Some(Spool::with_limits(s.dir, &origin, s.limits)), s.after),
            None => (None, Duration::MAX),
        };
        let spool_max_bytes = settings.max_held_bytes;
        Writer {
            rx,
            sink,
            origin,
            counters,
            pending: Vec::with_capacity(settings.policy.batch_size.clamp(1, 65_536)),
            policy: settings.policy,
            capacity: settings.capacity,
            spool,
            spool_after,
            spool_max_bytes,
            spill_retry_at: None,
            oldest: None,
            backlog: VecDeque::new(),
            held_bytes: 0,
            held_records: 0,
            health: Health::Ok,
            backoff: Backoff::new(),
            state: State::Running,
            received: 0,
            from_queue: 0,
            resolved: 0,
            waiters: Vec::new(),
            drops_reported: [0; 5],
            drops_reported_at: None,
            high_water: 0,
            sink_sanitised: 0,
            alerts: None,
            clock: WallClock::new(),
            idle_at: Instant::now(),
        }
    }

    /// Counts every committed record toward the thresholds of `alerts`.
    pub(crate) fn with_alerts(mut self, alerts: Option<Alerts>) -> Writer {
        self.alerts = alerts;
        self
    }

    /// Runs the alerts already queued and joins the alert thread. The queue's
    /// receiver goes first, so a callback that calls `flush()` now gets
    /// `NotRunning` instead of waiting for a writer that has stopped.
    fn stop_alerts(&mut self) {
        if let Some(mut alerts) = self.alerts.take() {
            drop(std::mem::replace(&mut self.rx, crossbeam_channel::never()));
            alerts.finish();
        }
    }

    /// The thread body. Returns once shut down (or every sender is gone).
    pub(crate) fn run(mut self) {
        crate::logger::mark_writer_thread();
        // A spool left by an earlier run is replayed before any new record.
        self.drive(Instant::now());
        loop {
            let msg = if self.memory_full() {
                // Leave records in the queue: callers then wait or drop as
                // their overflow policy says, and memory stays bounded.
                let poll = Instant::now() + FULL_POLL;
                let until = self.next_wake().map_or(poll, |at| at.min(poll));
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                Err(RecvTimeoutError::Timeout)
            } else {
                match self.next_wake() {
                    Some(at) => self.rx.recv_deadline(at),
                    None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                }
            };
            match msg {
                Ok(msg) => {
                    // The queue is at its deepest now: sample it once per wake-up.
                    self.note_depth(self.rx.len() + 1);
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
                        self.state = State::Draining { deadline: Instant::now(), acks: Vec::new() };
                    }
                }
            }
            self.tick();
            if self.finished() {
                break;
            }
        }
        self.stop_alerts();
    }

    /// Memory holds more than its bound and the spool could not take it.
    /// Not while shutting down: shutdown must reach the writer through the queue.
    fn memory_full(&self) -> bool {
        self.held_bytes > self.spool_max_bytes
            && matches!(self.state, State::Running)
            && !self.counters.closing.load(Relaxed)
    }

    /// When the loop must wake without a message.
    fn next_wake(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Some(oldest) = self.oldest {
            at(self.policy.deadline(oldest));
        }
        if let Health::Failing { retry_at, .. } = self.health {
            at(retry_at);
        }
        if let Some(last) = self.drops_reported_at.filter(|_| self.drops_outstanding()) {
            at(last + DROP_REPORT_EVERY);
        }
        if let State::Draining { deadline, .. } = self.state {
            // While draining, never block: poll the queue until it is empty.
            at(if self.rx.is_empty() { deadline } else { Instant::now() });
        } else if matches!(self.health, Health::Ok) && self.backlog.is_empty() {
            at(self.idle_at);
        }
        wake
    }

    /// One step of the sink's background upkeep, when nothing waits to be
    /// stored; the next step is due at once while the sink has more to do.
    fn idle_work(&mut self) {
        let now = Instant::now();
        let busy = !self.rx.is_empty() || !self.backlog.is_empty() || !matches!(self.health, Health::Ok);
        if busy || now < self.idle_at || matches!(self.state, State::Draining { .. }) {
            return;
        }
        let sink = &mut self.sink;
        let more = match catch_unwind(AssertUnwindSafe(|| sink.idle())) {
            Ok(Ok(more)) => more,
            Ok(Err(e)) => {
                self.counters.set_last_error(format!("{}: background upkeep: {e}", self.sink.describe()));
                false
            }
            Err(_) => false,
        };
        self.idle_at = if more { now } else { now + log_panel_core::IDLE_PERIOD };
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Record(mut record, tick) => {
                record.timestamp = self.clock.timestamp(tick);
                self.from_queue += 1;
                self.push(record);
            }
            Msg::Flush(ack) => {
                self.seal();
                self.waiters.push((self.received, ack));
            }
            Msg::Shutdown { ack, deadline } => {
                self.seal();
                match &mut self.state {
                    State::Draining { acks, .. } => acks.push(ack),
                    State::Running => self.state = State::Draining { deadline, acks: vec![ack] },
                }
            }
        }
    }

    /// Records the queue's depth (including the message just taken) for
    /// `queue_high_water`.
    fn note_depth(&mut self, depth: usize) {
        let depth = depth.min(self.capacity);
        if depth > self.high_water {
            self.high_water = depth;
            self.counters.high_water.fetch_max(depth, Relaxed);
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
        self.received += 1;
        self.held_records += 1;
        self.held_bytes += record.approx_size();
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        let level = record.level;
        self.pending.push(record);
        if self.policy.due_on_push(self.pending.len(), level) {
            self.seal();
        }
    }

    /// Moves the pending records into the backlog as one batch.
    fn seal(&mut self) {
        self.oldest = None;
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(self.policy.batch_size.clamp(1, 65_536)));
        self.backlog.push_back(batch);
        // Store at once when healthy; otherwise the retry timer decides.
        self.drive(Instant::now());
    }

    /// Time-driven work after every message or wake-up.
    fn tick(&mut self) {
        let now = Instant::now();
        if self.oldest.is_some_and(|o| now >= self.policy.deadline(o)) {
            self.seal();
        }
        self.drive(now);
        self.report_drops();
        if let State::Draining { deadline, .. } = self.state {
            if self.rx.is_empty() {
                self.seal();
                if now >= deadline && !self.backlog.is_empty() {
                    self.spill_all("shutdown deadline passed with storage failing");
                }
            }
        }
        // Gauges first, so a flush that returns sees them current.
        self.publish_gauges();
        self.answer_waiters();
    }

    fn finished(&mut self) -> bool {
        let State::Draining { deadline, .. } = self.state else { return false };
        let drained = self.rx.is_empty() && self.pending.is_empty();
        let stored = self.backlog.is_empty() && self.own_spooled() == 0;
        if !(drained && (stored || Instant::now() >= deadline)) {
            return false;
        }
        // The deadline may have passed during the last attempt, after `tick`
        // looked: what is still in memory goes to the spool (or is counted lost).
        if !self.backlog.is_empty() {
            self.spill_all("shutdown deadline passed with storage failing");
        }
        // A final summary of drops, if any, is stored (or spooled) too.
        if self.drops_outstanding() {
            self.report_drops_now();
            self.seal();
            if !self.backlog.is_empty() {
                self.spill_all("shutdown");
            }
        }
        self.publish_gauges();
        if let State::Draining { acks, .. } = &mut self.state {
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
        }
        for (_, ack) in self.waiters.drain(..) {
            let _ = ack.send(());
        }
        true
    }

    /// The current values `stats()` reads for `pending` and `in_spool`.
    fn publish_gauges(&self) {
        self.counters.received.store(self.from_queue, Relaxed);
        self.counters.held.store(self.held_records, Relaxed);
        self.counters.in_spool.store(self.own_spooled(), Relaxed);
    }

    fn own_spooled(&self) -> u64 {
        self.spool.as_ref().map_or(0, |s| s.own_records)
    }

    /// Stores what can be stored now: the spool first (it is older), then the
    /// backlog in order. Spills the backlog when storage has been failing too
    /// long or memory is past the bound.
    fn drive(&mut self, now: Instant) {
        if let Health::Failing { retry_at, .. } = self.health {
            if now < retry_at {
                self.maybe_spill(now);
                return;
            }
        }
        loop {
            match self.replay_one() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.failed(e, now);
                    break;
                }
            }
            let Some(batch) = self.backlog.pop_front() else { break };
            let origin = self.origin.clone();
            match self.store(&origin, &batch) {
                Ok(()) => {
                    self.release(&batch);
                    self.recovered();
                    crate::recycle::give_back(batch);
                    // New rows: the sink's upkeep (its search index) is due once the queue is quiet.
                    self.idle_at = now;
                }
                Err((e, done)) => {
                    self.release(&batch[..done]);
                    let rest = batch.into_iter().skip(done).collect();
                    self.backlog.push_front(rest);
                    self.failed(e, now);
                    break;
                }
            }
        }
        self.maybe_spill(now);
    }

    /// Replays one batch from the spool; `Ok(false)` when there is none.
    fn replay_one(&mut self) -> Result<bool, SinkError> {
        let Some(spool) = self.spool.as_mut() else { return Ok(false) };
        let replay = match spool.next(self.policy.batch_size.max(1)) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(false),
            Err(e) => {
                self.spool_io_error(&e.to_string());
                return Ok(false);
            }
        };
        let mut replay = replay;
        let file = replay.file.display().to_string();
        let failure = match self.store(&replay.origin, &replay.records) {
            Ok(()) => None,
            Err((e, done)) => {
                // Bisecting may have stored a prefix before storage failed:
                // commit exactly that prefix so it is never replayed twice.
                replay.keep_first(done);
                Some(e)
            }
        };
        let n = replay.records.len() as u64;
        if n > 0 || failure.is_none() {
            Counters::add(&self.counters.replayed, n);
            if let Some(spool) = self.spool.as_mut() {
                let committed = spool.commit(&replay);
                Counters::add(&self.counters.lost, spool.take_lost());
                if let Err(e) = committed {
                    // Never store these records again: this process remembers
                    // the progress; the next one would repeat only this batch.
                    self.spool_io_error(&format!(
                        "cannot record replay progress of {file} ({e}); replay paused until it can be recorded"
                    ));
                }
            }
            if replay.own {
                self.resolved += n;
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                self.recovered();
                Ok(true)
            }
        }
    }

    fn spool_io_error(&self, e: &str) {
        let dir = self.spool.as_ref().map(|s| s.dir().display().to_string()).unwrap_or_default();
        let text = format!("spool {dir}: {e}");
        eprintln!("log-panel: {text}");
        self.counters.set_last_error(text);
    }

    /// Stores `records`. A batch the sink rejects for bad data is halved
    /// until the bad record is alone; it is then stored sanitised or
    /// quarantined. On an unavailable storage, returns the error and how many
    /// leading records are already resolved (stored or quarantined).
    fn store(&mut self, origin: &Origin, records: &[Record]) -> Result<(), (SinkError, usize)> {
        match self.attempt(origin, records) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == SinkErrorKind::BadRecord => {
                if let [record] = records {
                    return self.store_bad(origin, record, e).map_err(|e| (e, 0));
                }
                let mid = records.len() / 2;
                self.store(origin, &records[..mid])?;
                self.store(origin, &records[mid..]).map_err(|(e, done)| (e, mid + done))
            }
            Err(e) => Err((e, 0)),
        }
    }

    /// One record the sink rejects: try it sanitised, else quarantine it.
    fn store_bad(&mut self, origin: &Origin, record: &Record, first: SinkError) -> Result<(), SinkError> {
        let clean = record.sanitised();
        match self.attempt(origin, std::slice::from_ref(&clean)) {
            Ok(()) => {
                Counters::add(&self.counters.sanitised, 1);
                Ok(())
            }
            Err(e) if e.kind() == SinkErrorKind::BadRecord => {
                let reason = format!("rejected by {}: {first}", self.sink.describe());
                let kept = match self.spool.as_mut() {
                    Some(spool) => spool.quarantine(origin, record, &reason).is_ok(),
                    None => false,
                };
                if kept {
                    Counters::add(&self.counters.quarantined, 1);
                    eprintln!("log-panel: a record was quarantined ({reason})");
                } else {
                    Counters::add(&self.counters.lost, 1);
                    eprintln!("log-panel: a record was rejected and could not be quarantined ({reason})");
                }
                self.counters.set_last_error(reason);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// One attempt; a panicking sink is caught and reported as an error so
    /// the writer (and the application) keep going.
    fn attempt(&mut self, origin: &Origin, records: &[Record]) -> Result<(), SinkError> {
        let batch = Batch { origin, records };
        let sink = &mut self.sink;
        let result = catch_unwind(AssertUnwindSafe(|| sink.write(&batch)))
            .unwrap_or_else(|_| Err(SinkError::new(SinkErrorKind::Other, "the sink panicked")));
        if result.is_ok() {
            Counters::add(&self.counters.written, records.len() as u64);
            let sanitised = self.sink.sanitised_count();
            if sanitised > self.sink_sanitised {
                Counters::add(&self.counters.sanitised, sanitised - self.sink_sanitised);
                self.sink_sanitised = sanitised;
            }
            // Committed: only now may these records fire threshold alerts.
            if let Some(alerts) = &mut self.alerts {
                alerts.observe(records);
            }
        }
        result
    }

    /// Records leave the writer's memory, resolved.
    fn release(&mut self, records: &[Record]) {
        let n = records.len() as u64;
        self.resolved += n;
        self.held_records = self.held_records.saturating_sub(n);
        let bytes: usize = records.iter().map(Record::approx_size).sum();
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
    }

    fn failed(&mut self, e: SinkError, now: Instant) {
        Counters::add(&self.counters.failed_attempts, 1);
        let text = format!("{}: {e}", self.sink.describe());
        self.counters.set_last_error(text.clone());
        let since = match self.health {
            Health::Ok => {
                Counters::add(&self.counters.retried_batches, 1);
                eprintln!("log-panel: storage failed, keeping the records and retrying: {text}");
                self.backoff.reset();
                self.counters.down_since_us.store(Timestamp::now().as_micros(), Relaxed);
                now
            }
            Health::Failing { since, .. } => since,
        };
        self.health = Health::Failing { since, retry_at: now + self.backoff.next_delay() };
    }

    fn recovered(&mut self) {
        if let Health::Failing { since, .. } = self.health {
            eprintln!("log-panel: storage is back after {:.1} s", since.elapsed().as_secs_f64());
            self.health = Health::Ok;
            self.counters.down_since_us.store(0, Relaxed);
        }
    }

    fn maybe_spill(&mut self, now: Instant) {
        let Health::Failing { since, .. } = self.health else { return };
        if self.backlog.is_empty() || self.spool.is_none() {
            return;
        }
        if self.spill_retry_at.is_some_and(|at| now < at) {
            return;
        }
        if now.duration_since(since) >= self.spool_after || self.held_bytes > self.spool_max_bytes {
            self.spill_all("storage unavailable");
        }
    }

    /// Moves the whole backlog to the spool (in order). Without a spool, or
    /// when the spool's disk fails, what cannot be kept is counted as lost.
    fn spill_all(&mut self, why: &str) {
        let mut lost = 0;
        let mut lost_reason = String::new();
        while let Some(batch) = self.backlog.pop_front() {
            let result = match self.spool.as_mut() {
                Some(spool) => spool.append(&self.origin, &batch).map_err(|e| e.to_string()),
                None => Err("no spool configured".to_owned()),
            };
            let n = batch.len() as u64;
            match result {
                Ok(()) => {
                    if self.spill_retry_at.take().is_some() {
                        eprintln!("log-panel: the spool takes records again");
                    }
                    Counters::add(&self.counters.spilled, n);
                    // Spooled records stay unresolved until replayed.
                    self.held_records = self.held_records.saturating_sub(n);
                    let bytes: usize = batch.iter().map(Record::approx_size).sum();
                    self.held_bytes = self.held_bytes.saturating_sub(bytes);
                }
                Err(e) if matches!(self.state, State::Draining { .. }) => {
                    // Last chance: report loudly, count, and give up on these records.
                    Counters::add(&self.counters.lost, n);
                    lost += n;
                    lost_reason = e;
                    self.release(&batch);
                }
                Err(e) => {
                    // Keep them in memory (bounded: see `memory_full`) and try again later.
                    if self.spill_retry_at.is_none() {
                        eprintln!(
                            "log-panel: cannot spool ({e}); keeping {} records in memory while storage and the spool fail",
                            self.held_records
                        );
                    }
                    self.spill_retry_at = Some(Instant::now() + SPILL_RETRY);
                    self.counters.set_last_error(format!("spool: {e}"));
                    self.backlog.push_front(batch);
                    break;
                }
            }
        }
        if lost > 0 {
            let text = format!("{lost} records could not be stored or spooled ({why}): {lost_reason}");
            eprintln!("log-panel: {text}");
            self.counters.set_last_error(text);
        }
    }

    fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let resolved = self.resolved;
        self.waiters.retain(|(target, ack)| {
            if resolved >= *target {
                let _ = ack.send(());
                false
            } else {
                true
            }
        });
    }

    fn drops_outstanding(&self) -> bool {
        self.counters.dropped_by_level() != self.drops_reported
    }

    /// Once there is room in the queue again, stores one WARN record saying
    /// how many records of which levels were dropped, and when.
    fn report_drops(&mut self) {
        let due = self.drops_reported_at.is_none_or(|at| at.elapsed() >= DROP_REPORT_EVERY);
        if due && self.drops_outstanding() && self.rx.len() <= self.capacity / 2 {
            self.report_drops_now();
        }
    }

    fn report_drops_now(&mut self) {
        let now = self.counters.dropped_by_level();
        let delta: [u64; 5] = std::array::from_fn(|i| now[i] - self.drops_reported[i]);
        self.drops_reported = now;
        let total: u64 = delta.iter().sum();
        if total == 0 {
            return;
        }
        self.drops_reported_at = Some(Instant::now());
        let first = Timestamp(self.counters.first_drop_us.swap(0, Relaxed));
        let last = Timestamp(self.counters.last_drop_us.load(Relaxed));
        let levels = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];
        let by_level: Vec<String> =
            levels.iter().zip(delta).filter(|(_, n)| *n > 0).map(|(l, n)| format!("{l} {n}")).collect();
        let mut record = Record::new(
            Level::Warn,
            "log_panel",
            format!(
                "dropped {total} records while the queue was full ({}) between {} and {}",
                by_level.join(", "),
                first.to_rfc3339(),
                last.to_rfc3339()
            ),
        );
        record.thread = Arc::from("log-panel-writer");
        record.kv.push(("dropped".into(), Value::from(total)));
        for (l, n) in levels.iter().zip(delta) {
            record.kv.push((format!("dropped_{}", l.as_str().to_ascii_lowercase()).into(), Value::from(n)));
        }
        record.kv.push(("first_drop".into(), Value::from(first.to_rfc3339())));
        record.kv.push(("last_drop".into(), Value::from(last.to_rfc3339())));
        self.push(record);
    }
}
