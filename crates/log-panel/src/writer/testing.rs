//! For the writer's unit tests: a [`MockSink`] that records what it stores
//! and fails on demand, and records to feed it.

use std::sync::{Arc, Mutex, PoisonError};

use log_panel_core::{Batch, Level, Origin, Record, Sink, SinkError, SinkErrorKind};

pub(crate) fn origin() -> Origin {
    Origin::new("test", "h", 42)
}

/// `n` INFO records with messages `{prefix}0`, `{prefix}1`, ….
pub(crate) fn records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n).map(|i| Record::new(Level::Info, "t", format!("{prefix}{i}"))).collect()
}

#[derive(Default)]
struct State {
    /// Messages of each committed batch, in commit order.
    batches: Vec<Vec<String>>,
    attempts: usize,
    /// Attempts that behave normally before storage goes down (`None`: stays up).
    up_for: Option<usize>,
    panic_next: bool,
}

/// A sink that stores message texts in memory. It rejects a batch holding a
/// record whose message is `poison` or contains a NUL ([`SinkErrorKind::BadRecord`],
/// nothing of the batch stored, as a transaction would), and fails every
/// write while it is down.
pub(crate) struct MockSink(Arc<Mutex<State>>);

/// The test's handle on a [`MockSink`] given to the writer.
#[derive(Clone)]
pub(crate) struct SinkLog(Arc<Mutex<State>>);

impl MockSink {
    pub(crate) fn new() -> (MockSink, SinkLog) {
        let state = Arc::new(Mutex::new(State::default()));
        (MockSink(Arc::clone(&state)), SinkLog(state))
    }
}

impl Sink for MockSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        s.attempts += 1;
        if std::mem::take(&mut s.panic_next) {
            drop(s);
            panic!("mock sink panics on demand");
        }
        match &mut s.up_for {
            Some(0) => return Err(SinkError::unavailable("mock storage is down")),
            Some(n) => *n -= 1,
            None => {}
        }
        if batch.records.iter().any(|r| r.message == "poison" || r.message.contains('\0')) {
            return Err(SinkError::new(SinkErrorKind::BadRecord, "mock rejects this record"));
        }
        s.batches.push(batch.records.iter().map(|r| r.message.to_string()).collect());
        Ok(())
    }

    fn describe(&self) -> String {
        "mock".into()
    }
}

impl SinkLog {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Every stored message, in commit order.
    pub(crate) fn stored(&self) -> Vec<String> {
        self.with(|s| s.batches.concat())
    }

    /// The messages of each committed batch.
    pub(crate) fn batches(&self) -> Vec<Vec<String>> {
        self.with(|s| s.batches.clone())
    }

    /// Write calls so far, failed ones included.
    pub(crate) fn attempts(&self) -> usize {
        self.with(|s| s.attempts)
    }

    /// Storage goes down: every write fails until [`SinkLog::up`].
    pub(crate) fn down(&self) {
        self.fail_after(0);
    }

    /// Storage goes down after `n` more write calls.
    pub(crate) fn fail_after(&self, n: usize) {
        self.with(|s| s.up_for = Some(n));
    }

    pub(crate) fn up(&self) {
        self.with(|s| s.up_for = None);
    }

    /// The next write call panics.
    pub(crate) fn panic_next(&self) {
        self.with(|s| s.panic_next = true);
    }
}
