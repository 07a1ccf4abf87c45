//! The `log::Log` implementation: filter on the calling thread, capture a
//! [`Record`], and hand it to the queue. No I/O happens here.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;
use log_panel_core::{context, IgnoreRules, Record, Text, Timestamp, Value};

use crate::queue::Msg;
use crate::stats::Counters;

thread_local! {
    /// True on a writer thread. Records logged there (by a sink or its database
    /// driver) must never enter the queue: the writer would wait on itself.
    static ON_WRITER: Cell<bool> = const { Cell::new(false) };
    /// The thread's name (or id), computed once per thread.
    static THREAD_NAME: OnceCell<Arc<str>> = const { OnceCell::new() };
}

pub(crate) fn mark_writer_thread() {
    ON_WRITER.with(|w| w.set(true));
}

pub(crate) fn on_writer_thread() -> bool {
    ON_WRITER.with(Cell::get)
}

fn thread_name() -> Arc<str> {
    THREAD_NAME.with(|name| {
        name.get_or_init(|| {
            let t = std::thread::current();
            match t.name() {
                Some(n) => Arc::from(n),
                None => Arc::from(format!("{:?}", t.id()).as_str()),
            }
        })
        .clone()
    })
}

/// The logging front end shared by the global logger and [`Panel`](crate::Panel).
pub(crate) struct Logger {
    pub(crate) filter: env_filter::Filter,
    pub(crate) ignore: IgnoreRules,
    pub(crate) tx: Sender<Msg>,
    pub(crate) closed: AtomicBool,
    pub(crate) counters: Arc<Counters>,
}

impl Logger {
    pub(crate) fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
            && self.filter.enabled(metadata)
            && !self.ignore.ignores_target(metadata.target())
    }

    pub(crate) fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if on_writer_thread() {
            Counters::add(&self.counters.writer_thread_records, 1);
            eprintln!("[log-panel writer] {} {}: {}", record.level(), record.target(), record.args());
            return;
        }
        if self.closed.load(Ordering::Relaxed) {
            Counters::add(&self.counters.dropped_after_shutdown, 1);
            return;
        }
        let message = format_message(record.args());
        if self.ignore.has_message_rules() && self.ignore.ignores_message(&message) {
            return;
        }
        let captured = capture(record, message);
        // Blocks only while the queue is full (the configured policy); an error
        // means the writer has stopped, so the record cannot be stored.
        if self.tx.send(Msg::Record(captured)).is_err() {
            Counters::add(&self.counters.dropped_after_shutdown, 1);
        }
    }
}

/// Formats the message, borrowing it when the call had no arguments.
fn format_message(args: &std::fmt::Arguments<'_>) -> Text {
    match args.as_str() {
        Some(s) => Cow::Borrowed(s),
        None => {
            let mut s = String::with_capacity(64);
            // Writing to a String only fails if a Display impl fails; keep what we have.
            let _ = s.write_fmt(*args);
            Cow::Owned(s)
        }
    }
}

/// Everything about the call, taken on the calling thread.
fn capture(record: &log::Record<'_>, message: Text) -> Record {
    let module_path: Option<Text> = match record.module_path_static() {
        Some(m) => Some(Cow::Borrowed(m)),
        None => record.module_path().map(|m| Cow::Owned(m.to_owned())),
    };
    // The target is the module path unless overridden; reuse the 'static
    // string then, so the common case allocates nothing.
    let target: Text = match &module_path {
        Some(Cow::Borrowed(m)) if *m == record.target() => Cow::Borrowed(m),
        _ => Cow::Owned(record.target().to_owned()),
    };
    let file: Option<Text> = match record.file_static() {
        Some(f) => Some(Cow::Borrowed(f)),
        None => record.file().map(|f| Cow::Owned(f.to_owned())),
    };
    let mut kv = Vec::new();
    let _ = record.key_values().visit(&mut KvCollector(&mut kv));
    Record {
        timestamp: Timestamp::now(),
        level: record.level(),
        target,
        message,
        module_path,
        file,
        line: record.line(),
        thread: thread_name(),
        kv,
        context: context::current(),
        original_size: None,
    }
}

struct KvCollector<'a>(&'a mut Vec<(Text, Value)>);

impl<'kvs> log::kv::VisitSource<'kvs> for KvCollector<'_> {
    fn visit_pair(&mut self, key: log::kv::Key<'kvs>, value: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
        self.0.push((Cow::Owned(key.as_str().to_owned()), Value::from_log(&value)));
        Ok(())
    }
}
