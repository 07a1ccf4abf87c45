//! Errors at start, and what kind of [`SinkError`] a failed request is.

use std::time::Duration;

use log_panel_core::SinkErrorKind;

/// An error while configuring, reaching or migrating the servers. Every
/// message names the database by its redacted URL.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed.
    #[error("invalid ClickHouse URL `{url}`: {reason}")]
    InvalidUrl {
        /// The redacted URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A shard could not be reached, or refused the login.
    #[error("cannot reach ClickHouse at `{url}`: {reason}")]
    Connect {
        /// The redacted URL.
        url: String,
        /// The client's or the server's explanation (password scrubbed).
        reason: String,
    },
    /// Creating the log-panel tables failed.
    #[error("cannot create the log-panel tables in `{url}`: {reason}")]
    Migrate {
        /// The redacted URL.
        url: String,
        /// The server's explanation (password scrubbed).
        reason: String,
    },
    /// The tables were created by a newer log-panel than this one.
    #[error(
        "the log-panel tables in `{url}` are at version {found}, newer than this build supports ({supported}); \
         upgrade log-panel"
    )]
    SchemaTooNew {
        /// The redacted URL.
        url: String,
        /// The version found.
        found: u32,
        /// The latest version this build knows.
        supported: u32,
    },
    /// A shard's tables were created by an older log-panel: maintenance
    /// (prune, rebuild) drops and fills this build's tables, so it needs them.
    #[error(
        "the log-panel tables of shard {shard} in `{url}` are at version {found}, older than this build's \
         ({supported}); run the application (its writer migrates the shards) or `log-panel migrate`"
    )]
    SchemaTooOld {
        /// The redacted URL.
        url: String,
        /// The shard (from 1, in the URL's order).
        shard: usize,
        /// The version found.
        found: u32,
        /// The version this build creates.
        supported: u32,
    },
    /// Recomputing the aggregate tables failed.
    #[error("cannot rebuild the log-panel aggregates in `{url}`: {reason}")]
    Rebuild {
        /// The redacted URL.
        url: String,
        /// The server's explanation (password scrubbed).
        reason: String,
    },
}

impl Error {
    /// Whether retrying later might succeed (a shard is unreachable or
    /// starting), as opposed to a configuration mistake.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Migrate { .. })
    }
}

/// A failed HTTP request to one shard.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No answer: the connection failed, broke, or timed out.
    #[error("{0}")]
    Transport(String),
    /// No byte moved either way for the URL's `silence_ms`: the shard is
    /// frozen or cut off. What the request sent may have reached it.
    #[error("shard {shard} ({host}) was silent for {} ms: no byte sent or received (silence_ms)", silence.as_millis())]
    Silent {
        /// The shard (from 1, in the URL's order).
        shard: usize,
        /// Its `host:port`.
        host: String,
        /// The bound that ran out (`silence_ms`).
        silence: Duration,
    },
    /// The server answered with an error.
    #[error("HTTP {status}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// ClickHouse's error code (`Code: N` in the answer), when it gave one.
        code: Option<u32>,
        /// The server's message.
        message: String,
    },
}

impl RequestError {
    /// Whether the request was refused before any byte of it was sent (the
    /// connection itself failed): then nothing can have been stored.
    pub fn never_sent(&self) -> bool {
        matches!(self, RequestError::Transport(m) if m.starts_with(NOT_CONNECTED))
    }

    /// ClickHouse's error code, if the server answered with one.
    pub fn code(&self) -> Option<u32> {
        match self {
            RequestError::Server { code, .. } => *code,
            RequestError::Transport(_) | RequestError::Silent { .. } => None,
        }
    }
}

/// The prefix of a [`RequestError::Transport`] for a connection that never opened.
pub(crate) const NOT_CONNECTED: &str = "cannot connect";

/// Which [`SinkErrorKind`] a failed insert maps to.
///
/// - no answer (connection refused, broken, timed out, silent), HTTP 5xx without a
///   code, and the codes of a server that is overloaded, short of memory or
///   disk, shutting down or still starting: [`Unavailable`](SinkErrorKind::Unavailable);
/// - the codes of data the server cannot parse or store (the batch's rows):
///   [`BadRecord`](SinkErrorKind::BadRecord);
/// - anything else (a missing table, a refused login): [`Other`](SinkErrorKind::Other).
pub fn classify(e: &RequestError) -> SinkErrorKind {
    match e {
        RequestError::Transport(_) | RequestError::Silent { .. } => SinkErrorKind::Unavailable,
        RequestError::Server { code: None, status, .. } if *status >= 500 => SinkErrorKind::Unavailable,
        RequestError::Server { code: Some(code), .. } => match code {
            // Cannot parse or read the rows; a value too large; bad UTF-8 or a bad number.
            6 | 26 | 27 | 32 | 33 | 38 | 41 | 69 | 72 | 117 | 131 => SinkErrorKind::BadRecord,
            // Timeout, network, memory, too many parts or queries, a query id still
            // running, read-only or shutting down, disk full, no ZooKeeper session.
            159 | 160 | 164 | 173 | 202 | 209 | 210 | 216 | 225 | 236 | 241 | 242 | 243 | 252 | 279 | 394 | 999 => {
                SinkErrorKind::Unavailable
            }
            _ => SinkErrorKind::Other,
        },
        RequestError::Server { .. } => SinkErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u32) -> RequestError {
        RequestError::Server { status: 500, code: Some(code), message: String::new() }
    }

    #[test]
    fn kinds_of_failures() {
        assert_eq!(classify(&RequestError::Transport("reset".into())), SinkErrorKind::Unavailable);
        assert_eq!(classify(&server(241)), SinkErrorKind::Unavailable);
        assert_eq!(classify(&server(252)), SinkErrorKind::Unavailable);
        assert_eq!(classify(&server(27)), SinkErrorKind::BadRecord);
        assert_eq!(classify(&server(60)), SinkErrorKind::Other);
        let no_code = RequestError::Server { status: 503, code: None, message: String::new() };
        assert_eq!(classify(&no_code), SinkErrorKind::Unavailable);
        assert!(RequestError::Transport(format!("{NOT_CONNECTED}: refused")).never_sent());
        assert!(!RequestError::Transport("timed out".into()).never_sent());
        let silent = RequestError::Silent { shard: 2, host: "ch2:8123".into(), silence: Duration::from_millis(2_000) };
        assert_eq!(classify(&silent), SinkErrorKind::Unavailable);
        assert!(!silent.never_sent(), "a silent request may have reached the shard: in doubt");
        assert_eq!(
            silent.to_string(),
            "shard 2 (ch2:8123) was silent for 2000 ms: no byte sent or received (silence_ms)"
        );
    }
}
