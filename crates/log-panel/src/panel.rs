//! [`Panel`]: a running log-panel — the logger front end plus its writer thread.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::bounded;

use crate::logger::{on_writer_thread, Logger};
use crate::queue::Msg;
use crate::{Error, Stats};

/// A running log-panel: a `log::Log` implementation plus the writer thread
/// that stores what it accepts.
///
/// Most programs never hold one: [`init`](crate::init) installs a panel as
/// the global logger and returns a [`Guard`](crate::Guard). Build one with
/// [`Builder::build`](crate::Builder::build) to log into it directly, e.g. in
/// tests or next to another global logger:
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let panel = log_panel::builder().database(dir.path().join("app.db")).build()?;
/// log::info!(logger: panel, user = "ann"; "signed in");
/// panel.flush()?; // returns once the record is committed
/// assert_eq!(panel.stats().written, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping a panel drains its queue, commits everything and stops the writer.
pub struct Panel {
    pub(crate) logger: Logger,
    pub(crate) writer: Mutex<Option<JoinHandle<()>>>,
}

impl Panel {
    /// Returns once every record logged before the call is committed.
    pub fn flush(&self) -> Result<(), Error> {
        self.flush_inner(None)
    }

    /// Like [`flush`](Panel::flush) but gives up after `timeout`, returning
    /// [`Error::Timeout`]; the records stay queued and are written later.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.flush_inner(Some(timeout))
    }

    fn flush_inner(&self, timeout: Option<Duration>) -> Result<(), Error> {
        if on_writer_thread() {
            return Err(Error::OnWriterThread);
        }
        let (ack, done) = bounded(1);
        match timeout {
            None => {
                self.logger.tx.send(Msg::Flush(ack)).map_err(|_| Error::NotRunning)?;
                done.recv().map_err(|_| Error::NotRunning)
            }
            Some(t) => {
                let deadline = std::time::Instant::now() + t;
                self.logger.tx.send_deadline(Msg::Flush(ack), deadline).map_err(|e| match e {
                    crossbeam_channel::SendTimeoutError::Timeout(_) => Error::Timeout,
                    crossbeam_channel::SendTimeoutError::Disconnected(_) => Error::NotRunning,
                })?;
                done.recv_deadline(deadline).map_err(|e| match e {
                    crossbeam_channel::RecvTimeoutError::Timeout => Error::Timeout,
                    crossbeam_channel::RecvTimeoutError::Disconnected => Error::NotRunning,
                })
            }
        }
    }

    /// Stops accepting records, writes everything queued, and joins the
    /// writer. Idempotent; later records are counted as dropped, never panic.
    /// Called from the writer thread itself it does nothing (it would deadlock).
    pub fn shutdown(&self) {
        if on_writer_thread() {
            return;
        }
        let handle = match self.writer.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(handle) = handle else { return };
        self.logger.closed.store(true, Ordering::SeqCst);
        let (ack, done) = bounded(1);
        if self.logger.tx.send(Msg::Shutdown(ack)).is_ok() {
            let _ = done.recv();
        }
        let _ = handle.join();
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.logger.counters.snapshot(self.logger.tx.len())
    }
}

impl log::Log for Panel {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.logger.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        self.logger.log(record);
    }

    fn flush(&self) {
        // `log::Log::flush` cannot report errors; `Panel::flush` can.
        let _ = self.flush_inner(None);
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        self.shutdown();
    }
}
