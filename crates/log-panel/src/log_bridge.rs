//! `log` records into `tracing` with their key-values (feature `tracing`).
//!
//! `tracing_log::LogTracer` (tracing-log 0.2) turns a `log` record into a
//! tracing event with fixed fields (message, target, module, file, line):
//! a tracing callsite's field set is static, so the record's key-values,
//! whose keys are only known at run time, are dropped. [`LogTracer`] wraps
//! it: while it dispatches a record, the record's key-values (converted and
//! cut as the `log` facade does) wait in a thread-local, and log-panel's
//! layer, handling the converted event on the same thread, stores them as
//! the record's key-values. Other layers see what `tracing_log` gives them.

use std::cell::RefCell;
use std::sync::OnceLock;

use log_panel_core::{Text, Value};

use crate::config::LimitsConfig;
use crate::logger::KvCollector;
use crate::stats::Counters;

thread_local! {
    /// The key-values of the `log` record being dispatched on this thread.
    static PENDING: RefCell<Option<Vec<(Text, Value)>>> = const { RefCell::new(None) };
}

/// A `log::Log` that forwards every record to `tracing` as
/// `tracing_log::LogTracer` does, keeping its key-values for log-panel's
/// layer: use it in place of `tracing_log::LogTracer` with
/// [`Builder::init_for_tracing`](crate::Builder::init_for_tracing).
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _panel = log_panel::builder().database("app.db").init_for_tracing()?;
///     log_panel::tracing::LogTracer::init()?;
///     tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log_panel::tracing::layer()))?;
///     log::info!(user_id = 7; "signed in"); // stored with {"user_id": 7}
///     Ok(())
/// }
/// ```
#[derive(Debug, Default)]
pub struct LogTracer {
    inner: tracing_log::LogTracer,
}

impl LogTracer {
    /// A bridge that is not installed (install it with `log::set_boxed_logger`).
    pub fn new() -> LogTracer {
        LogTracer { inner: tracing_log::LogTracer::new() }
    }

    /// Installs the bridge as `log`'s logger, every level passed on to
    /// `tracing` (whose subscriber filters).
    pub fn init() -> Result<(), log::SetLoggerError> {
        LogTracer::init_with_filter(log::LevelFilter::Trace)
    }

    /// Installs the bridge as `log`'s logger, records above `level` dropped
    /// by `log` itself.
    pub fn init_with_filter(level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(LogTracer::new()))?;
        log::set_max_level(level);
        Ok(())
    }
}

/// Counts cuts when no global pipeline does (a layer built for a pipeline of its own).
fn spare_counters() -> &'static Counters {
    static SPARE: OnceLock<Counters> = OnceLock::new();
    SPARE.get_or_init(Counters::default)
}

impl log::Log for LogTracer {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        let count = record.key_values().count();
        if count == 0 {
            return self.inner.log(record);
        }
        let (limit, counters) = match crate::global::pipeline() {
            Some(p) => (p.logger.max_field_bytes, &*p.logger.counters),
            None => (LimitsConfig::default().max_field_bytes, spare_counters()),
        };
        let mut kv = Vec::with_capacity(count);
        let _ = record.key_values().visit(&mut KvCollector { kv: &mut kv, limit, counters });
        // Restored after: a record logged while this one is dispatched (by
        // another layer, say) has its own key-values.
        // (During thread teardown the thread-local is gone: the record goes without them.)
        let outer = PENDING.try_with(|p| p.replace(Some(kv))).ok().flatten();
        self.inner.log(record);
        let _ = PENDING.try_with(|p| *p.borrow_mut() = outer);
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// The key-values of the `log` record being dispatched on this thread, for
/// an event converted from it; empty otherwise.
pub(crate) fn pending_kv() -> Vec<(Text, Value)> {
    PENDING.try_with(|p| p.borrow().clone().unwrap_or_default()).unwrap_or_default()
}
