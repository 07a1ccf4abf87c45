//! One sink for every test of the pipeline: it stores into memory what it is
//! given, and is told by a [`Script`] when to fail, panic, reject or dawdle.
//!
//! ```
//! use log_panel_core::{Batch, Level, Origin, Record, Sink, SinkErrorKind};
//! use log_panel_testing::sink::Shared;
//!
//! let shared = Shared::default();
//! shared.reject(|r| r.message == "poison");
//! let mut sink = shared.sink();
//! let origin = Origin::new("app", "h", 1);
//! let ok = [Record::new(Level::Info, "t", "fine")];
//! assert!(sink.write(&Batch::new(&origin, &ok)).is_ok());
//! let bad = [Record::new(Level::Info, "t", "poison")];
//! let err = sink.write(&Batch::new(&origin, &bad)).unwrap_err();
//! assert_eq!(err.kind(), SinkErrorKind::BadRecord);
//! assert_eq!(shared.stored_messages(), ["fine"]);
//! assert_eq!(shared.attempts(), 2);
//! ```

use std::collections::{HashSet, VecDeque};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use log_panel_core::{Batch, Record, Sink, SinkError, SinkErrorKind};

/// Decides whether a batch holding this record is rejected as bad data.
pub type RejectFn = Box<dyn Fn(&Record) -> bool + Send>;
/// Called with every batch the sink stored, after storing it.
pub type StoredFn = Box<dyn FnMut(&[Record]) + Send>;

/// What the sink does on each write call (counted from 1, failed ones included).
#[derive(Default)]
pub struct Script {
    /// Fail this many write calls (Unavailable) before succeeding.
    pub fail_first: usize,
    /// Write calls that still behave normally before storage goes down
    /// (`Some(0)`: down now, every write fails Unavailable; `None`: up).
    pub up_for: Option<usize>,
    /// Panic on these (1-based) write calls.
    pub panic_on: HashSet<usize>,
    /// Reject (BadRecord) a batch holding a record this returns true for;
    /// nothing of it is stored, as a transaction would.
    pub reject: Option<RejectFn>,
    /// Sleep this long in every write.
    pub delay: Duration,
    /// Called (with the script locked) with each stored batch.
    pub on_store: Option<StoredFn>,
    /// What [`Sink::describe`] says (`custom sink`, the trait's default, when unset).
    pub name: Option<String>,
    /// The answers of the next [`Sink::idle`] calls, in order: `Some(more)`
    /// is `Ok(more)`, `None` a failed step (Unavailable). `Ok(false)` once
    /// they run out.
    pub idle: VecDeque<Option<bool>>,
    /// What [`Sink::idle_soon`] answers (after an idle step with nothing more to do).
    pub idle_soon: Option<Duration>,
}

/// The test's handle on the sink(s) made by [`Shared::sink`]: the script and what was stored.
#[derive(Clone, Default)]
pub struct Shared {
    /// What the sink does next.
    pub script: Arc<Mutex<Script>>,
    /// Every stored record, in commit order.
    pub stored: Arc<Mutex<Vec<Record>>>,
    /// Write calls so far, failed ones included.
    pub calls: Arc<Mutex<usize>>,
    /// The length of each committed batch, in commit order.
    batch_lens: Arc<Mutex<Vec<usize>>>,
    /// [`Sink::idle`] calls so far, failed ones included.
    idle_calls: Arc<Mutex<usize>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A scripted panic never holds a lock, but a failing assertion in a hook might.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// A sink storing into this handle.
    pub fn sink(&self) -> ScriptedSink {
        ScriptedSink(self.clone())
    }

    /// Changes the script.
    pub fn edit(&self, f: impl FnOnce(&mut Script)) {
        f(&mut lock(&self.script));
    }

    /// Every stored message, in commit order.
    pub fn stored_messages(&self) -> Vec<String> {
        lock(&self.stored).iter().map(|r| r.message.to_string()).collect()
    }

    /// The messages of each committed batch.
    pub fn batches(&self) -> Vec<Vec<String>> {
        let stored = self.stored_messages();
        let mut rest = &stored[..];
        let mut out = Vec::new();
        for &n in lock(&self.batch_lens).iter() {
            let (batch, tail) = rest.split_at(n);
            out.push(batch.to_vec());
            rest = tail;
        }
        out
    }

    /// Write calls so far, failed ones included.
    pub fn attempts(&self) -> usize {
        *lock(&self.calls)
    }

    /// [`Sink::idle`] calls so far, failed ones included.
    pub fn idle_calls(&self) -> usize {
        *lock(&self.idle_calls)
    }

    /// Storage goes down (every write fails Unavailable) or comes back up.
    pub fn set_down(&self, down: bool) {
        self.edit(|s| s.up_for = down.then_some(0));
    }

    /// Storage goes down after `n` more write calls.
    pub fn fail_after(&self, n: usize) {
        self.edit(|s| s.up_for = Some(n));
    }

    /// The next write call panics.
    pub fn panic_next(&self) {
        let next = self.attempts() + 1;
        self.edit(|s| {
            s.panic_on.insert(next);
        });
    }

    /// Batches holding a record `bad` returns true for are rejected (BadRecord).
    pub fn reject(&self, bad: impl Fn(&Record) -> bool + Send + 'static) {
        self.edit(|s| s.reject = Some(Box::new(bad)));
    }

    /// [`Sink::describe`] says `name`.
    pub fn named(self, name: &str) -> Shared {
        self.edit(|s| s.name = Some(name.to_owned()));
        self
    }
}

/// The sink of a [`Shared`] handle (see the module's documentation).
pub struct ScriptedSink(pub Shared);

impl Sink for ScriptedSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let call = {
            let mut c = lock(&self.0.calls);
            *c += 1;
            *c
        };
        let mut script = lock(&self.0.script);
        std::thread::sleep(script.delay);
        let down = match &mut script.up_for {
            Some(0) => true,
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        };
        if down || call <= script.fail_first {
            return Err(SinkError::unavailable(format!("scripted outage on call {call}")));
        }
        if script.panic_on.contains(&call) {
            drop(script);
            panic!("scripted panic on call {call}");
        }
        if script.reject.as_ref().is_some_and(|bad| batch.records.iter().any(bad)) {
            return Err(SinkError::new(SinkErrorKind::BadRecord, "scripted rejection"));
        }
        lock(&self.0.stored).extend(batch.records.iter().cloned());
        lock(&self.0.batch_lens).push(batch.records.len());
        if let Some(hook) = &mut script.on_store {
            hook(batch.records);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        lock(&self.0.script).name.clone().unwrap_or_else(|| String::from("custom sink"))
    }

    fn idle(&mut self) -> Result<bool, SinkError> {
        let call = {
            let mut c = lock(&self.0.idle_calls);
            *c += 1;
            *c
        };
        match lock(&self.0.script).idle.pop_front() {
            Some(Some(more)) => Ok(more),
            Some(None) => Err(SinkError::unavailable(format!("scripted upkeep failure on idle call {call}"))),
            None => Ok(false),
        }
    }

    fn idle_soon(&self) -> Option<Duration> {
        lock(&self.0.script).idle_soon
    }
}

/// A sink that hands every batch it stores to the test, through the receiver.
pub fn recorder() -> (ScriptedSink, mpsc::Receiver<Vec<Record>>) {
    let (tx, rx) = mpsc::channel();
    let shared = Shared::default();
    shared.edit(|s| {
        s.on_store = Some(Box::new(move |records| {
            let _ = tx.send(records.to_vec());
        }))
    });
    (shared.sink(), rx)
}

/// The sink of the writer's unit tests: it describes itself as `mock` and
/// rejects a batch holding a record whose message is `poison` or holds a NUL
/// (as a database refuses a NUL in text).
pub fn mock() -> (ScriptedSink, Shared) {
    let shared = Shared::default().named("mock");
    shared.reject(|r| r.message == "poison" || r.message.contains('\0'));
    (shared.sink(), shared)
}
