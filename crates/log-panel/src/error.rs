//! The errors `log_panel` returns.

use log_panel_core::ConfigError;

/// Why log-panel could not start, flush or stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file or a builder value is invalid (names key and line).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The storage could not be opened.
    #[error("cannot open storage `{target}`: {message}")]
    Storage {
        /// What was being opened (never contains a password).
        target: String,
        /// Why.
        message: String,
    },
    /// No storage backend for this database was compiled in.
    #[error("`{0}` needs a storage backend that is not enabled (check the crate features)")]
    UnsupportedDatabase(String),
    /// Another logger is already installed (or `init` ran twice).
    #[error("a logger is already installed; log-panel can be initialised once per process")]
    AlreadyInitialized,
    /// The writer thread could not be started.
    #[error("cannot start the log-panel writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The writer has stopped (after `shutdown`, or `init` was never called).
    #[error("log-panel is not running")]
    NotRunning,
    /// A flush did not complete in time; the records stay queued and will be written.
    #[error("flush timed out with records still pending")]
    Timeout,
    /// Flush or shutdown was called from the writer thread itself (by a sink),
    /// where waiting for the writer would deadlock.
    #[error("cannot flush from the log-panel writer thread")]
    OnWriterThread,
}
