//! The errors `log_panel` returns.

use std::error::Error as StdError;
use std::fmt;

use crate::config::ConfigError;

/// Why log-panel could not start, flush or stop.
///
/// `Display` is this error's own one-line message; the cause, when there is
/// one, comes from [`source()`](std::error::Error::source), as the standard
/// library expects, so reporters (anyhow, eyre) print it once. `Debug`
/// prints the whole chain on one line, `message: cause: cause…`, so that
/// `fn main() -> Result<(), log_panel::Error>` shows a readable line rather
/// than a struct dump.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file or a builder value is invalid (names key and line).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The storage could not be opened.
    #[error("cannot open storage `{storage}`")]
    Storage {
        /// What was being opened (never contains a password).
        storage: String,
        /// Why: the storage crate's error (never contains a password).
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// No storage backend for this database was compiled in: the database
    /// crate's [`OpenError::NotEnabled`](log_panel_database::OpenError::NotEnabled),
    /// shown in its own words so the message is written once.
    #[error(transparent)]
    UnsupportedDatabase(log_panel_database::OpenError),
    /// Another logger is already installed (or `init` ran twice).
    #[error("a logger is already installed; log-panel can be initialised once per process")]
    AlreadyInitialized,
    /// The writer thread could not be started.
    #[error("cannot start the log-panel writer thread")]
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

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&log_panel_core::error_chain(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire")]
    struct Leaf;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open SQLite database: disk on fire")]
    struct RepeatsItsCause(#[source] Leaf);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot create directory /x")]
    struct KeepsItsCause(#[source] Leaf);

    #[test]
    fn debug_is_the_message_and_its_causes_on_one_line() {
        let e = Error::Storage { storage: "sqlite:/x/y.db".into(), source: Box::new(KeepsItsCause(Leaf)) };
        assert_eq!(e.to_string(), "cannot open storage `sqlite:/x/y.db`");
        assert_eq!(format!("{e:?}"), "cannot open storage `sqlite:/x/y.db`: cannot create directory /x: disk on fire");
        // The chain stays reachable for reporters.
        let source = StdError::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("cannot create directory /x"));
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let e = Error::Storage { storage: "sqlite:a.db".into(), source: Box::new(RepeatsItsCause(Leaf)) };
        assert_eq!(format!("{e:?}"), "cannot open storage `sqlite:a.db`: cannot open SQLite database: disk on fire");
    }

    #[test]
    fn a_storage_not_compiled_in_says_so_in_the_database_crates_words() {
        let reason = || log_panel_database::OpenError::NotEnabled { database: "postgres://u@localhost/logs".into() };
        let e = Error::UnsupportedDatabase(reason());
        assert_eq!(e.to_string(), reason().to_string());
        assert!(e.to_string().contains("needs a storage backend that is not enabled"), "{e}");
    }

    #[test]
    fn config_errors_print_their_message_not_a_struct() {
        let e = Error::from(ConfigError::new(
            Some("log_panel.toml".into()),
            Some(4),
            Some("batch.size".into()),
            "must be at least 1",
        ));
        assert_eq!(format!("{e:?}"), e.to_string());
        assert_eq!(format!("{e:?}"), "log_panel.toml, line 4, key `batch.size`: must be at least 1");
        let spawn = Error::Spawn(std::io::Error::other("out of threads"));
        assert_eq!(format!("{spawn:?}"), "cannot start the log-panel writer thread: out of threads");
    }
}
