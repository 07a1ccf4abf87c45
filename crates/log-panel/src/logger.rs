//! The `log::Log` implementation: filter on the calling thread, capture a
//! [`Record`], and hand it to the queue. No I/O happens here.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use log_panel_core::record::{cut, BoundedText};
use log_panel_core::{context, Record, Text, Timestamp, Value};

use crate::clock::Tick;
use crate::config::Overflow;
use crate::ignore::IgnoreRules;
use crate::queue::Msg;
use crate::stats::Counters;
use crate::thread::{on_writer_thread, thread_name};

/// The logging front end shared by the global logger and [`Pipeline`](crate::Pipeline).
pub(crate) struct Logger {
    pub(crate) filter: env_filter::Filter,
    pub(crate) ignore: IgnoreRules,
    pub(crate) tx: Sender<Msg>,
    pub(crate) closed: AtomicBool,
    pub(crate) counters: Arc<Counters>,
    pub(crate) overflow: Overflow,
    /// Messages and string values above this many bytes are cut.
    pub(crate) max_field_bytes: usize,
    /// The longest a blocking call waits for room in the queue.
    pub(crate) block_timeout: Duration,
}

impl Logger {
    pub(crate) fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
            && self.filter.enabled(metadata)
            && !self.ignore.ignores_logger(metadata.target())
    }

    pub(crate) fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if !self.admit(record.level(), record.target(), record.args()) {
            return;
        }
        // First, so that the time is the call's, not the end of its capture.
        let tick = Tick::now();
        let (message, original_size) = format_message(record.args(), self.max_field_bytes);
        if self.ignores_message(&message) {
            return;
        }
        let mut captured = capture(record, message, self.max_field_bytes, &self.counters);
        captured.original_size = original_size;
        self.submit(captured, tick);
    }

    /// The gate every facade passes after its own filtering and before any
    /// capture work: false on a writer thread (the record goes to stderr and
    /// is counted, never into the queue the writer drains) and after shutdown
    /// (counted as dropped).
    pub(crate) fn admit(&self, level: log::Level, target: &str, message: &dyn std::fmt::Display) -> bool {
        if on_writer_thread() {
            Counters::add(&self.counters.writer_thread_records, 1);
            eprintln!("[log-panel writer] {level} {target}: {message}");
            return false;
        }
        if self.closed.load(Ordering::Relaxed) {
            Counters::add(&self.counters.dropped_after_shutdown, 1);
            return false;
        }
        true
    }

    /// The ignore rules' message part (the logger part is checked before capture).
    pub(crate) fn ignores_message(&self, message: &str) -> bool {
        self.ignore.has_message_rules() && self.ignore.ignores_message(message)
    }

    /// Counts a cut message and hands the captured record to the writer.
    pub(crate) fn submit(&self, record: Record, tick: Tick) {
        if record.original_size.is_some() {
            Counters::add(&self.counters.truncated, 1);
        }
        self.enqueue(record, tick);
    }

    /// Hands the record to the writer under the overflow policy. A blocking
    /// call waits at most `block_timeout` for room; after such a wait, calls
    /// that find the queue full give up at once until the writer takes
    /// records again (see [`Counters::gave_up_waiting`]).
    fn enqueue(&self, record: Record, tick: Tick) {
        let level = record.level;
        let msg = match self.tx.try_send(Msg::Record(record, tick)) {
            Ok(()) => return,
            Err(TrySendError::Full(msg)) => msg,
            Err(TrySendError::Disconnected(_)) => {
                Counters::add(&self.counters.dropped_after_shutdown, 1);
                return;
            }
        };
        if !self.overflow.blocks(level) {
            self.counters.drop_one(level);
            return;
        }
        if self.counters.blocking_suspended() {
            self.counters.lose_unqueued();
            return;
        }
        match self.tx.send_timeout(msg, self.block_timeout) {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => self.counters.gave_up_waiting(self.block_timeout),
            Err(SendTimeoutError::Disconnected(_)) => Counters::add(&self.counters.dropped_after_shutdown, 1),
        }
    }
}

/// Formats the message, borrowing it when the call had no arguments, and
/// never keeping (or allocating) more than `limit` bytes of it. Returns the
/// original size when it was cut.
pub(crate) fn format_message(args: &std::fmt::Arguments<'_>, limit: usize) -> (Text, Option<u64>) {
    match args.as_str() {
        Some(s) => match cut(s, limit) {
            None => (Cow::Borrowed(s), None),
            Some(c) => (Cow::Owned(c), Some(s.len() as u64)),
        },
        None => {
            // A buffer the writer gave back, when there is one (see `recycle`).
            let mut text = BoundedText::with_buffer(crate::recycle::message(limit), limit);
            // Writing only fails if a Display impl fails; keep what was written.
            let _ = text.write_fmt(*args);
            let (s, original) = text.finish();
            (Cow::Owned(s), original)
        }
    }
}

/// Everything about the call, taken on the calling thread.
fn capture(record: &log::Record<'_>, message: Text, limit: usize, counters: &Counters) -> Record {
    let module_path: Option<Text> = match record.module_path_static() {
        Some(m) => Some(Cow::Borrowed(m)),
        None => record.module_path().map(|m| Cow::Owned(m.to_owned())),
    };
    // The target is the module path unless overridden; reuse the 'static
    // string then, so the common case allocates nothing.
    let target: Text = match &module_path {
        Some(Cow::Borrowed(m)) if same_str(m, record.target()) => Cow::Borrowed(m),
        _ => Cow::Owned(record.target().to_owned()),
    };
    let file: Option<Text> = match record.file_static() {
        Some(f) => Some(Cow::Borrowed(f)),
        None => record.file().map(|f| Cow::Owned(f.to_owned())),
    };
    // Sized once (counting is cheaper than growing the Vec on the first push).
    let count = record.key_values().count();
    let mut kv = Vec::new();
    if count > 0 {
        kv = crate::recycle::pairs(count);
        let _ = record.key_values().visit(&mut KvCollector { kv: &mut kv, limit, counters });
    }
    // The writer sets the timestamp from the call's `Tick` (see `clock`).
    let mut captured = Record::at(Timestamp(0), record.level(), target, message, thread_name());
    captured.module_path = module_path;
    captured.file = file;
    captured.line = record.line();
    captured.kv = kv;
    captured.context = context::current();
    // An attached OpenTelemetry context (tracing-opentelemetry attaches the
    // entered span's) gives `log` records the same ids as `tracing` events.
    #[cfg(feature = "opentelemetry")]
    {
        captured.context = crate::otel::with_ids(captured.context, crate::otel::current_ids());
    }
    captured
}

/// String equality that skips comparing the bytes when both are the same
/// slice, as a default target and its module path are (both come from
/// `module_path!()`).
fn same_str(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// Collects a `log` record's key-values, each cut to `limit` bytes.
pub(crate) struct KvCollector<'a> {
    pub(crate) kv: &'a mut Vec<(Text, Value)>,
    pub(crate) limit: usize,
    pub(crate) counters: &'a Counters,
}

impl<'kvs> log::kv::VisitSource<'kvs> for KvCollector<'_> {
    fn visit_pair(&mut self, key: log::kv::Key<'kvs>, value: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
        // Cut while converting, so a huge value is never copied whole; the
        // marker carries the original size (the message column has its own).
        let (value, was_cut) = Value::from_log_limited(&value, self.limit);
        if was_cut {
            Counters::add(&self.counters.truncated, 1);
        }
        // Keys are interned: no allocation per key per record (see `intern`).
        self.kv.push((crate::intern::key(key.as_str()), value));
        Ok(())
    }
}
