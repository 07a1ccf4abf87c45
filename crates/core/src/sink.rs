//! The `Sink` trait: where batches of records are stored.

use std::error::Error as StdError;
use std::fmt;

use crate::{Origin, Record};

/// A batch handed to a sink: records from one process, in the order they were logged.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Batch<'a> {
    /// The process that logged the records.
    pub origin: &'a Origin,
    /// The records, oldest first.
    pub records: &'a [Record],
}

impl<'a> Batch<'a> {
    /// A batch of `records` logged by `origin`.
    pub fn new(origin: &'a Origin, records: &'a [Record]) -> Batch<'a> {
        Batch { origin, records }
    }
}

/// Storage for batches of records. One writer thread owns the sink and calls
/// it from that thread only, so implementations need no locking.
///
/// A sink must write a batch atomically (all records or none, e.g. one
/// transaction) and return an error rather than panic when it cannot. The
/// writer keeps a failed batch and retries it, so a sink must not report
/// success for records it did not store.
///
/// Anything the sink logs through `log` while writing (database drivers do)
/// is kept out of the queue by the writer, so a sink may log freely.
///
/// ```
/// use log_panel_core::{Batch, Sink, SinkError};
///
/// /// Prints each record; a real sink would talk to a database.
/// struct Print;
///
/// impl Sink for Print {
///     fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
///         for r in batch.records {
///             println!("{} {} {}: {}", r.timestamp.to_rfc3339(), r.level, r.logger, r.message);
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send {
    /// Stores every record of `batch`, atomically.
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError>;

    /// A short description for diagnostics (never containing a password).
    fn describe(&self) -> String {
        String::from("custom sink")
    }

    /// How many values this sink has sanitised so far (e.g. NUL bytes a
    /// database cannot store), cumulative. Added to `stats().sanitised`.
    fn sanitised_count(&self) -> u64 {
        0
    }

    /// One small step of background upkeep (bringing a search index up to
    /// date, deleting expired records), called by the writer only while it
    /// has nothing to store. A step must be short (SQLite's are sized to
    /// about 10 ms, 50 ms when far behind): a batch that arrives meanwhile
    /// waits for it. Returns whether more work
    /// remains; the writer calls again after each stored batch and every
    /// [`IDLE_PERIOD`] even when it returned `false`.
    fn idle(&mut self) -> Result<bool, SinkError> {
        Ok(false)
    }

    /// Asked after an [`idle`](Sink::idle) step that returned `false`:
    /// whether work is expected soon that no batch of this writer will bring
    /// (a search index waiting for another process's transaction to end),
    /// and then how soon to call `idle` again. `None` (the default): at the
    /// next stored batch, or [`IDLE_PERIOD`] later. Delays longer than
    /// `IDLE_PERIOD` count as `IDLE_PERIOD`.
    fn idle_soon(&self) -> Option<std::time::Duration> {
        None
    }
}

/// How often the writer calls [`Sink::idle`] when nothing else asked for it.
pub const IDLE_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// The most records a sink's [`idle`](Sink::idle) steps leave behind its
/// indexes while its writer keeps up (the SQLite sink sizes its steps to
/// it; reads scan the rows above an index's mark). A live view takes a lag
/// past it for a writer that fell behind, not a batch waiting for its step,
/// and says it at once.
pub const INDEX_LAG_BOUND: usize = 2_000;

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        (**self).write(batch)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn sanitised_count(&self) -> u64 {
        (**self).sanitised_count()
    }
    fn idle(&mut self) -> Result<bool, SinkError> {
        (**self).idle()
    }
    fn idle_soon(&self) -> Option<std::time::Duration> {
        (**self).idle_soon()
    }
}

/// What kind of failure a sink reports; the writer reacts per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkErrorKind {
    /// The storage is unavailable for now (busy, locked, connection lost, disk
    /// full): retry the same batch later.
    Unavailable,
    /// A record in the batch cannot be stored as it is: split the batch to find it.
    BadRecord,
    /// Anything else; treated like `Unavailable` (the batch is kept and retried).
    Other,
}

impl fmt::Display for SinkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SinkErrorKind::Unavailable => "storage unavailable",
            SinkErrorKind::BadRecord => "bad record",
            SinkErrorKind::Other => "storage error",
        })
    }
}

/// An error returned by a [`Sink`].
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct SinkError {
    kind: SinkErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl SinkError {
    /// A new error of `kind` with a message.
    pub fn new(kind: SinkErrorKind, message: impl Into<String>) -> SinkError {
        SinkError { kind, message: message.into(), source: None }
    }

    /// Storage is unavailable for now; the batch will be retried.
    pub fn unavailable(message: impl Into<String>) -> SinkError {
        SinkError::new(SinkErrorKind::Unavailable, message)
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> SinkError {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> SinkErrorKind {
        self.kind
    }
}
