//! [`Error`]: why a database could not be opened.

use std::path::PathBuf;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite refused to open or prepare the file.
    #[error("cannot open SQLite database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The directory for the file could not be created.
    #[error("cannot create directory {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path cannot be resolved or its files checked.
    #[error("cannot use {path} as the database file: {source}")]
    Path {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A context key to index is not `[A-Za-z0-9_]{1,64}`.
    #[error("context key `{0}` cannot be indexed: use 1 to 64 ASCII letters, digits or `_`")]
    BadIndexKey(String),
    /// The file was written by a newer log-panel.
    #[error("database schema version {found} is newer than this log-panel supports ({supported})")]
    NewerSchema {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
}
