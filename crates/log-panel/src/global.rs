//! The process-wide panel behind `log`'s global logger, and its [`Guard`].

use std::sync::OnceLock;
use std::time::Duration;

use crate::{Error, Panel, Stats};

static GLOBAL: OnceLock<Panel> = OnceLock::new();

/// Forwards to the global panel. A unit struct so it can be `'static` before
/// the panel exists; until then (and after shutdown) records are dropped quietly.
struct GlobalLogger;

impl log::Log for GlobalLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        GLOBAL.get().is_some_and(|p| p.logger.enabled(metadata))
    }
    fn log(&self, record: &log::Record<'_>) {
        if let Some(panel) = GLOBAL.get() {
            panel.logger.log(record);
        }
    }
    fn flush(&self) {
        if let Some(panel) = GLOBAL.get() {
            log::Log::flush(panel);
        }
    }
}

static LOGGER: GlobalLogger = GlobalLogger;

pub(crate) fn install(panel: Panel) -> Result<Guard, Error> {
    if log::set_logger(&LOGGER).is_err() {
        // Not half-initialised: the panel we built stops here, storing nothing.
        panel.shutdown();
        return Err(Error::AlreadyInitialized);
    }
    let level = panel.logger.filter.filter();
    if GLOBAL.set(panel).is_err() {
        // Unreachable in practice: set_logger succeeds only once per process.
        return Err(Error::AlreadyInitialized);
    }
    log::set_max_level(level);
    Ok(Guard { _private: () })
}

/// Keeps log-panel running; dropping it drains the queue, commits every
/// record and joins the writer (see [`shutdown`]).
///
/// ```no_run
/// fn main() -> Result<(), log_panel::Error> {
///     let _panel = log_panel::init()?;
///     log::info!("started");
///     Ok(())
/// } // `_panel` dropped: everything is committed before the process exits
/// ```
#[must_use = "dropping the guard shuts log-panel down at once"]
#[derive(Debug)]
pub struct Guard {
    _private: (),
}

impl Drop for Guard {
    fn drop(&mut self) {
        shutdown();
    }
}

/// Returns once every record logged before the call is committed.
/// `Err(NotRunning)` before `init` or after `shutdown`.
pub fn flush() -> Result<(), Error> {
    GLOBAL.get().ok_or(Error::NotRunning)?.flush()
}

/// Like [`flush`], giving up after `timeout` with [`Error::Timeout`].
pub fn flush_timeout(timeout: Duration) -> Result<(), Error> {
    GLOBAL.get().ok_or(Error::NotRunning)?.flush_timeout(timeout)
}

/// Drains the queue, commits everything and stops the writer, for programs
/// that cannot hold a [`Guard`]. Idempotent; harmless before `init`.
/// Records logged afterwards are counted as dropped.
pub fn shutdown() {
    if let Some(panel) = GLOBAL.get() {
        panel.shutdown();
    }
}

/// The global panel's counters (all zero before `init`).
pub fn stats() -> Stats {
    GLOBAL.get().map(Panel::stats).unwrap_or_default()
}
