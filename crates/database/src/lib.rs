//! Where log-panel's records live, understood in one place.
//!
//! - [`Database`]: a database string parsed once — a SQLite file path, a
//!   `sqlite:` / `sqlite://` URL, a `postgres://` / `postgresql://` URL, or a
//!   `clickhouse://` URL naming one or more shards —
//!   with a clear error for an empty string or a scheme no storage handles.
//! - [`open_sink`] (features `sqlite`, `postgres`): the one place a writer's
//!   [`Sink`](log_panel_core::Sink) is opened for a [`Database`].
//! - `open_store` (feature `read`): the one place a read-only `Store` is
//!   opened; `migrate` and `open_maintenance` (feature `maintenance`): a database's schema
//!   brought up to date, and the handle `prune` and `rebuild` delete and rewrite with.
//! - [`env`](mod@env): the environment variable names and where the configuration
//!   file is found, for the library and the `log-panel` command alike.
//!
//! A storage is one more [`Database`] arm, one more arm in each opener and
//! one feature (see `docs/architecture.md`).
//!
//! ```
//! use log_panel_database::Database;
//!
//! let db: Database = "postgres://app:s3cret@db/logs?sslmode=require".parse()?;
//! assert!(db.is_server());
//! assert_eq!(db.to_string(), "postgres://app:***@db/logs?sslmode=require");
//! assert_eq!("sqlite://logs/app.db".parse::<Database>()?, Database::Sqlite("logs/app.db".into()));
//! assert!("mysql://db/logs".parse::<Database>().is_err());
//! # Ok::<(), log_panel_database::DatabaseError>(())
//! ```

// On docs.rs (see [package.metadata.docs.rs]): show which feature each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use log_panel_core::redact::redact_url;

pub mod env;
mod open;

#[cfg(feature = "read")]
pub use open::open_store;
#[cfg(feature = "maintenance")]
pub use open::{migrate, open_maintenance};
pub use open::{open_sink, OpenError, SinkOptions};

/// The SQLite file used when nothing names a database, relative to the working directory.
pub const DEFAULT_DATABASE: &str = "log_panel.db";

/// Where records are stored: parsed once from a path or URL.
///
/// `Display` names it for messages, never with a password:
/// `sqlite:logs/app.db`, `postgres://app:***@db/logs`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server: the whole URL, parameters (`sslmode`, …) included.
    Postgres(String),
    /// ClickHouse shards: the whole `clickhouse://` URL, whose hosts are the
    /// shards (`clickhouse://h1:8123,h2:8123/db?cluster=name`; see
    /// `log_panel_clickhouse::Options`).
    ClickHouse(String),
}

/// Why a string names no database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// The string (or the path after a `sqlite:` prefix) is empty.
    #[error("is empty; use a file path such as `{DEFAULT_DATABASE}`")]
    Empty,
    /// A URL whose scheme no storage handles.
    #[error("unknown scheme `{0}`: use a SQLite file path, a sqlite: URL, a postgres:// or a clickhouse:// URL")]
    UnknownScheme(String),
    /// A `clickhouse://` URL its storage cannot use (a bad port, parameter
    /// or value: `timeout_ms`, `silence_ms`, …), checked when the storage is
    /// built in (feature `clickhouse`).
    #[error("invalid ClickHouse URL `{url}`: {reason}")]
    InvalidClickHouseUrl {
        /// The URL, its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Database {
    /// Parses a database string (see [`Database`]). Schemes are matched without
    /// regard to case; leading blanks are ignored; a string without `scheme://`
    /// (and without `sqlite:`) is a file path.
    pub fn parse(text: &str) -> Result<Database, DatabaseError> {
        let text = text.trim_start();
        if let Some(path) =
            strip_prefix_ignore_case(text, "sqlite://").or_else(|| strip_prefix_ignore_case(text, "sqlite:"))
        {
            return sqlite(path);
        }
        let Some((scheme, _)) = text.split_once("://").filter(|(scheme, _)| is_scheme(scheme)) else {
            return sqlite(text);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(Database::Postgres(text.to_owned())),
            "clickhouse" => clickhouse(text),
            _ => Err(DatabaseError::UnknownScheme(scheme.to_owned())),
        }
    }

    /// A SQLite file, taken as it is (for paths that are not UTF-8).
    pub fn sqlite_file(path: impl Into<PathBuf>) -> Database {
        Database::Sqlite(path.into())
    }

    /// Whether the database is a server (records are not kept in a local file).
    pub fn is_server(&self) -> bool {
        !matches!(self, Database::Sqlite(_))
    }

    /// Where it is, for people: a SQLite database's file path, a server's URL
    /// with its password redacted (`Display` adds the `sqlite:` scheme).
    pub fn location(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) | Database::ClickHouse(url) => redact_url(url),
        }
    }

    /// The SQLite file, for a SQLite database.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) | Database::ClickHouse(_) => None,
        }
    }
}

/// A `clickhouse://` URL, checked by its storage's own parser when built in,
/// so a bad parameter is an error where the URL is read (the configuration
/// file's `database` key and line) rather than when the writer starts.
fn clickhouse(text: &str) -> Result<Database, DatabaseError> {
    #[cfg(feature = "clickhouse")]
    if let Err(e) = log_panel_clickhouse::Options::parse(text) {
        return Err(match e {
            log_panel_clickhouse::Error::InvalidUrl { url, reason } => {
                DatabaseError::InvalidClickHouseUrl { url, reason }
            }
            other => DatabaseError::InvalidClickHouseUrl { url: redact_url(text), reason: other.to_string() },
        });
    }
    Ok(Database::ClickHouse(text.to_owned()))
}

fn sqlite(path: &str) -> Result<Database, DatabaseError> {
    if path.is_empty() {
        return Err(DatabaseError::Empty);
    }
    Ok(Database::Sqlite(PathBuf::from(path)))
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

impl Default for Database {
    fn default() -> Self {
        Database::Sqlite(PathBuf::from(DEFAULT_DATABASE))
    }
}

impl FromStr for Database {
    type Err = DatabaseError;

    fn from_str(s: &str) -> Result<Database, DatabaseError> {
        Database::parse(s)
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Database::Postgres(url) | Database::ClickHouse(url) => f.write_str(&redact_url(url)),
        }
    }
}

// By hand so that `{:?}` never shows a password either.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
            Database::ClickHouse(url) => f.debug_tuple("ClickHouse").field(&redact_url(url)).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Database, DatabaseError> {
        Database::parse(text)
    }

    #[test]
    fn paths_are_sqlite_files() {
        assert_eq!(parse("log_panel.db"), Ok(Database::Sqlite("log_panel.db".into())));
        assert_eq!(parse("/var/log/app.db"), Ok(Database::Sqlite("/var/log/app.db".into())));
        assert_eq!(parse("  logs/app.db"), Ok(Database::Sqlite("logs/app.db".into())));
        // A drive letter or a colon in a name is not a scheme without `://`.
        assert_eq!(parse(r"C:\logs\app.db"), Ok(Database::Sqlite(r"C:\logs\app.db".into())));
        assert_eq!(parse("logs/a:b.db"), Ok(Database::Sqlite("logs/a:b.db".into())));
        // Nor is something before `://` that cannot be a scheme.
        assert_eq!(parse("./odd://name.db"), Ok(Database::Sqlite("./odd://name.db".into())));
        assert_eq!(Database::default(), Database::Sqlite(DEFAULT_DATABASE.into()));
    }

    #[test]
    fn both_sqlite_prefixes() {
        for text in ["sqlite://logs/app.db", "sqlite:logs/app.db", "SQLite://logs/app.db", "SQLITE:logs/app.db"] {
            assert_eq!(parse(text), Ok(Database::Sqlite("logs/app.db".into())), "{text}");
        }
        assert_eq!(parse("sqlite:///abs/app.db"), Ok(Database::Sqlite("/abs/app.db".into())));
        let db = parse("sqlite:logs/app.db").unwrap_or_default();
        assert_eq!(db.to_string(), "sqlite:logs/app.db");
        assert_eq!(db.location(), "logs/app.db");
        assert_eq!(db.sqlite_path(), Some(Path::new("logs/app.db")));
        assert!(!db.is_server());
    }

    #[test]
    fn postgres_urls_keep_their_parameters() {
        for text in [
            "postgres://app:pw@db:5432/logs",
            "postgresql://app@db/logs",
            "POSTGRES://db/logs",
            "postgres://app:pw@db/logs?sslmode=require",
            "postgres://app:pw@db/logs?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        ] {
            assert_eq!(parse(text), Ok(Database::Postgres(text.to_owned())), "{text}");
        }
        assert_eq!(parse("  postgres://db/logs"), Ok(Database::Postgres("postgres://db/logs".into())));
        let db = parse("postgres://app:s3cret@db/logs?sslmode=require").unwrap_or_default();
        assert!(db.is_server() && db.sqlite_path().is_none());
        assert_eq!(db.location(), "postgres://app:***@db/logs?sslmode=require");
        for shown in [db.to_string(), format!("{db:?}")] {
            assert!(
                !shown.contains("s3cret") && shown.contains("postgres://app:***@db/logs?sslmode=require"),
                "{shown}"
            );
        }
    }

    #[test]
    fn clickhouse_urls_name_their_shards() {
        for text in [
            "clickhouse://db:8123/logs",
            "ClickHouse://ch1:8123,ch2:8123/logs?cluster=fleet",
            "clickhouse://app:pw@ch1,ch2,ch3/logs?cluster=fleet&timeout_ms=5000",
        ] {
            assert_eq!(parse(text), Ok(Database::ClickHouse(text.to_owned())), "{text}");
        }
        let db = parse("clickhouse://app:s3cret@ch1:8123,ch2:8123/logs?cluster=fleet").unwrap_or_default();
        assert!(db.is_server() && db.sqlite_path().is_none());
        for shown in [db.to_string(), format!("{db:?}"), db.location()] {
            assert!(
                !shown.contains("s3cret") && shown.contains("clickhouse://app:***@ch1:8123,ch2:8123/logs"),
                "{shown}"
            );
        }
    }

    #[cfg(feature = "clickhouse")]
    #[test]
    fn a_clickhouse_url_with_a_bad_parameter_is_refused_where_it_is_read() {
        for (text, why) in [
            ("clickhouse://app:s3cret@ch1/logs?silence_ms=soon", "silence_ms must be a positive number"),
            ("clickhouse://app:s3cret@ch1/logs?timeout_ms=0", "timeout_ms must be a positive number"),
            ("clickhouse://app:s3cret@ch1/logs?silence=5", "unknown parameter `silence=5`"),
        ] {
            let Err(e) = parse(text) else { panic!("{text} was accepted") };
            let shown = e.to_string();
            assert!(matches!(e, DatabaseError::InvalidClickHouseUrl { .. }), "{shown}");
            assert!(shown.contains(why) && shown.contains("app:***@ch1") && !shown.contains("s3cret"), "{shown}");
        }
        assert!(parse("clickhouse://ch1/logs?silence_ms=500&timeout_ms=5000").is_ok());
    }

    #[test]
    fn the_scheme_alone_decides_the_storage() {
        assert_eq!(parse("postgres://x"), Ok(Database::Postgres("postgres://x".into())));
        assert_eq!(parse("POSTGRESQL://x"), Ok(Database::Postgres("POSTGRESQL://x".into())));
        assert_eq!(parse("sqlite://x"), Ok(Database::Sqlite("x".into())));
        assert_eq!(parse("pg"), Ok(Database::Sqlite("pg".into())));
    }

    #[test]
    fn unknown_schemes_are_named() {
        assert_eq!(parse("mysql://db/logs"), Err(DatabaseError::UnknownScheme("mysql".into())));
        assert_eq!(parse("Redis://x"), Err(DatabaseError::UnknownScheme("Redis".into())));
        let shown = DatabaseError::UnknownScheme("mysql".into()).to_string();
        assert!(shown.starts_with("unknown scheme `mysql`"), "{shown}");
    }

    #[test]
    fn empty_strings_are_refused() {
        for text in ["", "   ", "sqlite:", "sqlite://", " sqlite://"] {
            assert_eq!(parse(text), Err(DatabaseError::Empty), "{text:?}");
        }
        assert_eq!(DatabaseError::Empty.to_string(), "is empty; use a file path such as `log_panel.db`");
    }
}
