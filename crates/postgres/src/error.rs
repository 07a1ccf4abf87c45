//! Errors at sink start and the mapping of driver errors onto [`SinkError`] kinds.

use log_panel_core::{SinkError, SinkErrorKind};

/// An error while configuring, connecting to or migrating the database.
///
/// Every message names the database by its redacted URL
/// (`postgres://user:***@host/db`); neither `Display` nor `Debug` ever
/// contains the password.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL or connection string could not be parsed.
    #[error("invalid PostgreSQL URL `{url}`: {reason}")]
    InvalidUrl {
        /// The redacted URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached, or refused the login.
    #[error("cannot connect to PostgreSQL at `{url}`: {reason}")]
    Connect {
        /// The redacted URL.
        url: String,
        /// The driver's and the server's explanation (password scrubbed).
        reason: String,
    },
    /// Creating or migrating the log-panel schema failed.
    #[error("cannot create or migrate the log-panel schema in `{url}`: {reason}")]
    Migrate {
        /// The redacted URL.
        url: String,
        /// The driver's and the server's explanation (password scrubbed).
        reason: String,
    },
    /// The database was migrated by a newer log-panel than this one.
    #[error(
        "the log-panel schema in `{url}` is at version {found}, newer than this build supports ({supported}); \
         upgrade log-panel"
    )]
    SchemaTooNew {
        /// The redacted URL.
        url: String,
        /// Version found in `log_panel_schema`.
        found: i32,
        /// Latest version this build knows.
        supported: i32,
    },
    /// The server lacks an extension the schema needs (`pg_trgm` for message search).
    #[error(
        "the PostgreSQL server at `{url}` lacks the `{name}` extension the log-panel schema needs; \
         install it (it ships with PostgreSQL: the postgresql-contrib package on some systems)"
    )]
    MissingExtension {
        /// The redacted URL.
        url: String,
        /// The extension.
        name: String,
    },
    /// Recomputing the aggregate tables failed.
    #[error("cannot rebuild the log-panel aggregates in `{url}`: {reason}")]
    Rebuild {
        /// The redacted URL.
        url: String,
        /// The driver's and the server's explanation (password scrubbed).
        reason: String,
    },
    /// The database does not use the UTF8 encoding, so log text could not be stored faithfully.
    #[error("the database at `{url}` uses encoding {encoding}; log-panel needs a UTF8 database")]
    Encoding {
        /// The redacted URL.
        url: String,
        /// The server encoding found.
        encoding: String,
    },
}

impl Error {
    /// Whether retrying later might succeed (the server is unreachable or
    /// starting up), as opposed to a configuration mistake.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Migrate { .. })
    }
}

/// Which [`SinkErrorKind`] a driver error maps to.
///
/// - no SQLSTATE (I/O error, connection closed, timeout), connection
///   exceptions (class 08), server shutting down or starting (57P01–57P03),
///   insufficient resources (class 53, e.g. disk full), lock or serialization
///   failures (55P03, 40001, 40P01): [`Unavailable`](SinkErrorKind::Unavailable);
/// - data exceptions and integrity violations (classes 22 and 23) and program
///   limits (class 54, e.g. a value too large): [`BadRecord`](SinkErrorKind::BadRecord);
/// - anything else: [`Other`](SinkErrorKind::Other).
pub fn classify(e: &postgres::Error) -> SinkErrorKind {
    let Some(state) = e.code() else {
        return SinkErrorKind::Unavailable;
    };
    let code = state.code();
    match code.get(..2) {
        Some("08" | "53") => SinkErrorKind::Unavailable,
        Some("22" | "23" | "54") => SinkErrorKind::BadRecord,
        _ if matches!(code, "57P01" | "57P02" | "57P03" | "55P03" | "40001" | "40P01") => SinkErrorKind::Unavailable,
        _ => SinkErrorKind::Other,
    }
}

/// Builds a [`SinkError`] for a failed step, with the scrubbed error chain as message.
pub(crate) fn sink_error(kind: SinkErrorKind, what: &str, detail: String) -> SinkError {
    SinkError::new(kind, format!("{what}: {detail}"))
}
