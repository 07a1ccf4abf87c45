//! The single writer thread: gathers records into batches by policy and
//! writes each batch through the sink in one transaction.
//!
//! It owns the sink, so sinks need no locking. It is the only place records
//! are stored, so retries, timers and shutdown draining live here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log_panel_core::{Batch, BatchPolicy, Origin, Record, Sink, SinkError, SinkErrorKind};

use crate::queue::Msg;
use crate::stats::Counters;

/// First retry delay after a failed write; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long shutdown keeps retrying a failing storage before giving up.
pub(crate) const SHUTDOWN_RETRY_LIMIT: Duration = Duration::from_secs(10);

/// Where the writer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Serving records and control messages.
    Running,
    /// A shutdown was requested: drain the queue, write, stop.
    Draining,
}

pub(crate) struct Writer {
    rx: Receiver<Msg>,
    sink: Box<dyn Sink>,
    policy: BatchPolicy,
    origin: Origin,
    counters: Arc<Counters>,
    pending: Vec<Record>,
    /// When the oldest pending record arrived: the interval timer counts from here.
    oldest: Option<Instant>,
    state: State,
}

impl Writer {
    pub(crate) fn new(
        rx: Receiver<Msg>,
        sink: Box<dyn Sink>,
        policy: BatchPolicy,
        origin: Origin,
        counters: Arc<Counters>,
    ) -> Writer {
        let capacity = policy.batch_size.clamp(1, 65_536);
        Writer {
            rx,
            sink,
            policy,
            origin,
            counters,
            pending: Vec::with_capacity(capacity),
            oldest: None,
            state: State::Running,
        }
    }

    /// The thread body. Returns when shut down or when every sender is gone.
    pub(crate) fn run(mut self) {
        crate::logger::mark_writer_thread();
        let mut acks: Vec<Sender<()>> = Vec::new();
        while self.state == State::Running {
            let msg = match self.oldest {
                Some(oldest) => match self.rx.recv_deadline(self.policy.deadline(oldest)) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => {
                        self.write_pending();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            self.handle(msg, &mut acks);
        }
        // Draining (or every sender dropped): take what is queued, write it, stop.
        while let Ok(msg) = self.rx.try_recv() {
            self.handle(msg, &mut acks);
        }
        self.write_pending();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }

    fn handle(&mut self, msg: Msg, acks: &mut Vec<Sender<()>>) {
        match msg {
            Msg::Record(record) => {
                self.counters.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let level = record.level;
                if self.oldest.is_none() {
                    self.oldest = Some(Instant::now());
                }
                self.pending.push(record);
                if self.policy.due_on_push(self.pending.len(), level) {
                    self.write_pending();
                }
            }
            Msg::Flush(ack) => {
                if self.state == State::Draining {
                    acks.push(ack);
                } else {
                    self.write_pending();
                    let _ = ack.send(());
                }
            }
            Msg::Shutdown(ack) => {
                self.state = State::Draining;
                acks.push(ack);
            }
        }
    }

    /// Writes everything pending as one batch (see [`Writer::store`]).
    fn write_pending(&mut self) {
        // Taken out so the sink can borrow the records while `self` is borrowed mutably.
        let mut pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.store(&pending);
        }
        pending.clear();
        self.pending = pending;
        self.oldest = None;
    }

    /// Stores `records`, retrying with capped exponential backoff until they
    /// are stored. A batch the sink rejects for one bad record is halved until
    /// the bad record is alone; the others are stored. While draining for
    /// shutdown, retrying stops after [`SHUTDOWN_RETRY_LIMIT`] and the loss is
    /// reported.
    fn store(&mut self, records: &[Record]) {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.try_write(records) {
                Ok(()) => return,
                Err(e) if e.kind() == SinkErrorKind::BadRecord && records.len() > 1 => {
                    // One record spoils the batch: store the others, isolate it.
                    let (a, b) = records.split_at(records.len() / 2);
                    self.store(a);
                    self.store(b);
                    return;
                }
                Err(e) if e.kind() == SinkErrorKind::BadRecord => {
                    Counters::add(&self.counters.rejected, 1);
                    self.counters.set_last_error(e.to_string());
                    eprintln!("log-panel: a record was rejected by storage and not stored: {e}");
                    return;
                }
                Err(e) => {
                    Counters::add(&self.counters.failed_attempts, 1);
                    if attempts == 1 {
                        Counters::add(&self.counters.retried_batches, 1);
                    }
                    let text = format!("{} ({} records pending): {e}", self.sink.describe(), records.len());
                    eprintln!("log-panel: write failed, will retry: {text}");
                    self.counters.set_last_error(text);
                    if self.state == State::Draining && started.elapsed() >= SHUTDOWN_RETRY_LIMIT {
                        let lost = records.len() as u64;
                        Counters::add(&self.counters.lost_at_shutdown, lost);
                        eprintln!("log-panel: storage still failing at shutdown; {lost} records were not stored");
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One attempt; a panicking sink is caught and reported as an error so
    /// the writer (and the application) keep going.
    fn try_write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        let batch = Batch { origin: &self.origin, records };
        let sink = &mut self.sink;
        let result = catch_unwind(AssertUnwindSafe(|| sink.write(&batch)))
            .unwrap_or_else(|_| Err(SinkError::new(SinkErrorKind::Other, "the sink panicked")));
        if result.is_ok() {
            Counters::add(&self.counters.written, records.len() as u64);
        }
        result
    }
}
