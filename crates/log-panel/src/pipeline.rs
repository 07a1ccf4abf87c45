//! [`Pipeline`]: a running log-panel — the logger front end plus its writer thread.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender};

use crate::alerts::{AlertCounters, AlertStats};
use crate::logger::Logger;
use crate::queue::Msg;
use crate::thread::on_writer_thread;
use crate::{Error, Report, Stats};

/// A running log-panel: a `log::Log` implementation plus the writer thread
/// that stores what it accepts.
///
/// Most programs never hold one: [`init`](crate::init) installs a pipeline as
/// the global logger and returns a [`Guard`](crate::Guard). Build one with
/// [`Builder::build`](crate::Builder::build) to log into it directly, e.g. in
/// tests or next to another global logger:
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let pipeline = log_panel::builder().database(dir.path().join("app.db")).build()?;
/// log::info!(logger: pipeline, user = "ann"; "signed in");
/// pipeline.flush()?; // returns once the record is committed
/// assert_eq!(pipeline.stats().written, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping a pipeline drains its queue, commits everything and stops the writer.
pub struct Pipeline {
    pub(crate) logger: Logger,
    pub(crate) writer: Mutex<Option<JoinHandle<()>>>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) alerts: Arc<AlertCounters>,
    /// The sink's description, taken when the pipeline was built.
    pub(crate) storage: String,
}

impl Pipeline {
    /// Returns once every record logged before the call is committed. While
    /// storage is down this waits for it to come back: use
    /// [`flush_timeout`](Pipeline::flush_timeout) for a bounded wait.
    pub fn flush(&self) -> Result<(), Error> {
        let (ack, done) = self.send_flush(None)?;
        drop(ack);
        done.recv().map_err(|_| Error::NotRunning)
    }

    /// Waits at most `timeout` for every record logged before the call to be
    /// committed, and reports: `complete`, written, still pending, spilled,
    /// dropped. Records not yet written stay queued and are written later.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<Report, Error> {
        let deadline = Instant::now() + timeout;
        let complete = match self.send_flush(Some(deadline)) {
            Ok((_, done)) => done.recv_deadline(deadline).is_ok(),
            Err(Error::Timeout) => false,
            Err(e) => return Err(e),
        };
        Ok(Report::from_stats(complete, &self.stats()))
    }

    fn send_flush(&self, deadline: Option<Instant>) -> Result<(Sender<()>, Receiver<()>), Error> {
        if on_writer_thread() {
            return Err(Error::OnWriterThread);
        }
        let (ack, done) = bounded(1);
        let msg = Msg::Flush(ack.clone());
        match deadline {
            None => self.logger.tx.send(msg).map_err(|_| Error::NotRunning)?,
            Some(d) => self.logger.tx.send_deadline(msg, d).map_err(|e| match e {
                SendTimeoutError::Timeout(_) => Error::Timeout,
                SendTimeoutError::Disconnected(_) => Error::NotRunning,
            })?,
        }
        Ok((ack, done))
    }

    /// Stops accepting records, stores everything queued, and joins the
    /// writer, waiting at most the configured `shutdown.timeout_ms` for
    /// failing storage before spooling the rest (see
    /// [`shutdown_timeout`](Pipeline::shutdown_timeout)).
    pub fn shutdown(&self) -> Report {
        self.shutdown_timeout(self.shutdown_timeout)
    }

    /// Stops accepting records and stores everything queued. If storage is
    /// still failing after `timeout`, what is left goes to the spool (replayed
    /// by the next process) and the report says so. Idempotent; records logged
    /// afterwards are counted as dropped, never panic. With alert
    /// callbacks, it first lets them handle the queued events (within the same
    /// `timeout`) so that what they log is stored. On the writer thread
    /// itself, or in an alert callback, it does nothing (it would wait for itself).
    pub fn shutdown_timeout(&self, timeout: Duration) -> Report {
        if on_writer_thread() || crate::alerts::on_alert_thread() {
            return Report::from_stats(false, &self.stats());
        }
        let handle = match self.writer.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(handle) = handle else { return Report::from_stats(true, &self.stats()) };
        let deadline = Instant::now() + timeout;
        if self.alerts.is_active() {
            // Let the alert callbacks catch up first, so what they log is still
            // stored. Within the same deadline: this also flushes, which is what
            // the shutdown below would wait for anyway.
            let _ = self.flush_timeout(deadline.saturating_duration_since(Instant::now()));
            self.alerts.wait_idle(deadline.saturating_duration_since(Instant::now()));
        }
        self.logger.closed.store(true, Ordering::SeqCst);
        self.logger.counters.closing.store(true, Ordering::SeqCst);
        let (ack, done) = bounded(1);
        if self.logger.tx.send(Msg::Shutdown { ack, deadline }).is_ok() {
            let _ = done.recv();
        }
        let _ = handle.join();
        let stats = self.stats();
        Report::from_stats(stats.pending == 0, &stats)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.logger.counters.snapshot(self.logger.tx.len())
    }

    /// A snapshot of the alert counters.
    pub fn alert_stats(&self) -> AlertStats {
        self.alerts.snapshot()
    }

    /// Where the records go, as the sink describes itself ([`Sink::describe`](crate::Sink::describe)):
    /// `sqlite:<path>`, `PostgreSQL <url without password>`, or a custom sink's text.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let pipeline = log_panel::builder().database(dir.path().join("app.db")).build()?;
    /// assert_eq!(pipeline.storage(), format!("sqlite:{}", dir.path().join("app.db").display()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn storage(&self) -> &str {
        &self.storage
    }
}

impl log::Log for Pipeline {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.logger.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        self.logger.log(record);
    }

    fn flush(&self) {
        // `log::Log::flush` cannot report anything, and must not hang an
        // application while storage is down: wait a bounded time.
        let _ = self.flush_timeout(LOG_FLUSH_TIMEOUT);
    }
}

/// How long `log::logger().flush()` waits for storage.
const LOG_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
