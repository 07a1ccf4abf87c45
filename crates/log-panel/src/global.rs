//! The process-wide pipeline behind `log`'s global logger, and its [`Guard`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::{AlertStats, Error, Pipeline, Report, Stats};

static GLOBAL: OnceLock<Pipeline> = OnceLock::new();

/// Forwards to the global pipeline. A unit struct so it can be `'static` before
/// the pipeline exists; until then (and after shutdown) records are dropped quietly.
struct GlobalLogger;

impl log::Log for GlobalLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        GLOBAL.get().is_some_and(|p| p.logger.enabled(metadata))
    }
    fn log(&self, record: &log::Record<'_>) {
        if let Some(pipeline) = GLOBAL.get() {
            pipeline.logger.log(record);
        }
    }
    fn flush(&self) {
        if let Some(pipeline) = GLOBAL.get() {
            log::Log::flush(pipeline);
        }
    }
}

static LOGGER: GlobalLogger = GlobalLogger;

/// True once the global pipeline is `log`'s logger: the tracing layer then
/// leaves events that `tracing-log` made from `log` records alone, since the
/// records themselves were already stored.
static IS_LOG_LOGGER: AtomicBool = AtomicBool::new(false);

/// The global pipeline, once one is installed.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) fn pipeline() -> Option<&'static Pipeline> {
    GLOBAL.get()
}

/// Whether the global pipeline receives `log` records directly.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) fn is_log_logger() -> bool {
    IS_LOG_LOGGER.load(Ordering::Acquire)
}

/// Whether [`LOGGER`] holds `log`'s one global-logger slot. Behind a lock so
/// that two `init` calls racing each other cannot both build a pipeline.
static CLAIMED: Mutex<bool> = Mutex::new(false);

/// Installs the global pipeline, and claims `log`'s logger slot first when
/// `as_log_logger`. `valid` is the builder's check of its values, reported
/// only once no pipeline is installed (a second `init` is `AlreadyInitialized`
/// whatever it holds); `build` runs only after the slot is claimed.
pub(crate) fn install(
    as_log_logger: bool,
    panic_hook: bool,
    valid: Result<(), Error>,
    build: impl FnOnce() -> Result<Pipeline, Error>,
) -> Result<Guard, Error> {
    let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
    if GLOBAL.get().is_some() {
        return Err(Error::AlreadyInitialized);
    }
    // Checked before claiming the slot: a bad value must leave it free
    // for another logger.
    valid?;
    // `log` only says whether a logger is installed by refusing to install
    // ours, so claim the slot first: then a refused init has built nothing.
    if as_log_logger && !*claimed {
        log::set_logger(&LOGGER).map_err(|_| Error::AlreadyInitialized)?;
        *claimed = true;
    }
    let pipeline = build()?;
    if GLOBAL.set(pipeline).is_err() {
        // Unreachable: GLOBAL is only set here, under CLAIMED, and was empty above.
        return Err(Error::AlreadyInitialized);
    }
    IS_LOG_LOGGER.store(*claimed, Ordering::Release);
    if panic_hook {
        install_panic_hook();
    }
    Ok(Guard { _private: () })
}

/// How long the panic hook waits for the records logged before a panic.
const PANIC_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Stores a panic as an ERROR record (logger `panic`) and flushes, so a
/// panicking thread — or a `panic = "abort"` build — loses nothing already
/// logged; then runs the previous hook (which prints the message as usual).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // On the writer thread (a sink panicking) the writer catches it itself.
        if !crate::thread::on_writer_thread() {
            if let Some(pipeline) = GLOBAL.get() {
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "Box<dyn Any>".to_owned());
                let thread = std::thread::current();
                let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
                let args =
                    format_args!("thread '{}' panicked at {location}: {payload}", thread.name().unwrap_or("<unnamed>"));
                let record = log::Record::builder()
                    .args(args)
                    .level(log::Level::Error)
                    .target("panic")
                    .file(info.location().map(|l| l.file()))
                    .line(info.location().map(|l| l.line()))
                    .build();
                pipeline.logger.log(&record);
                let _ = pipeline.flush_timeout(PANIC_FLUSH_TIMEOUT);
            }
        }
        previous(info);
    }));
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

impl Guard {
    /// Where the global pipeline's records go (see [`Pipeline::storage`](crate::Pipeline::storage)).
    pub fn storage(&self) -> &'static str {
        GLOBAL.get().map_or("", |pipeline| pipeline.storage())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = shutdown();
    }
}

/// Returns once every record logged before the call is committed (see
/// [`Pipeline::flush`]). `Err(NotRunning)` before `init` or after `shutdown`.
pub fn flush() -> Result<(), Error> {
    GLOBAL.get().ok_or(Error::NotRunning)?.flush()
}

/// Waits at most `timeout` and reports what is written, pending, spilled
/// and dropped (see [`Pipeline::flush_timeout`]).
pub fn flush_timeout(timeout: Duration) -> Result<Report, Error> {
    GLOBAL.get().ok_or(Error::NotRunning)?.flush_timeout(timeout)
}

/// Drains the queue, commits everything and stops the writer, for programs
/// that cannot hold a [`Guard`] (see [`Pipeline::shutdown`]). Idempotent;
/// harmless before `init`. Records logged afterwards are counted as dropped.
pub fn shutdown() -> Report {
    match GLOBAL.get() {
        Some(pipeline) => pipeline.shutdown(),
        None => Report { complete: true, ..Report::default() },
    }
}

/// Like [`shutdown`] with an explicit deadline for failing storage; what is
/// still unwritten then goes to the spool.
pub fn shutdown_timeout(timeout: Duration) -> Report {
    match GLOBAL.get() {
        Some(pipeline) => pipeline.shutdown_timeout(timeout),
        None => Report { complete: true, ..Report::default() },
    }
}

/// The global pipeline's counters (all zero before `init`).
pub fn stats() -> Stats {
    GLOBAL.get().map(Pipeline::stats).unwrap_or_default()
}

/// The global pipeline's alert counters (all zero before `init`).
pub fn alert_stats() -> AlertStats {
    GLOBAL.get().map(Pipeline::alert_stats).unwrap_or_default()
}
