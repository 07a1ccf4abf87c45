//! The SQLite [`Sink`] of log-panel.
//!
//! [`SqliteSink`] opens (or creates) a database file, switches it to WAL with
//! a busy timeout, creates or migrates the schema (see `docs/schema.md`), and
//! writes each batch in one transaction through one prepared statement,
//! together with the per-logger [`aggregates`] of the batch (one upsert per
//! distinct logger and bucket).
//!
//! ```
//! use log_panel_core::{Batch, Level, Origin, Record, Sink};
//! use log_panel_sqlite::SqliteSink;
//!
//! let dir = tempfile::tempdir()?;
//! let mut sink = SqliteSink::open(dir.path().join("logs.db"))?;
//! let origin = Origin { app: "demo".into(), host: "localhost".into(), pid: 1 };
//! let records = [Record::new(Level::Info, "demo", "hello")];
//! sink.write(&Batch { origin: &origin, records: &records })?;
//!
//! let n: i64 = sink.connection().query_row("SELECT count(*) FROM log_records", [], |r| r.get(0))?;
//! assert_eq!(n, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aggregates;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use log_panel_core::{severity, Batch, Sink, SinkError, SinkErrorKind};
use rusqlite::{params, Connection, ErrorCode};

pub use schema::SCHEMA_VERSION;

/// How long opening (and migrating) the database waits for another
/// connection's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a batch waits for another connection's lock before failing with
/// "busy". Short: a busy database is a storage failure like any other, and
/// the writer keeps draining the queue into its bounded backlog and the
/// spool while it retries, rather than sitting in SQLite's wait while the
/// callers' queue fills.
pub const WRITE_BUSY_TIMEOUT: Duration = Duration::from_millis(100);

const INSERT: &str = "INSERT INTO log_records
    (ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
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
    /// The file was written by a newer log-panel.
    #[error("database schema version {found} is newer than this log-panel supports ({supported})")]
    NewerSchema {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
}

/// Stores batches in a SQLite database.
pub struct SqliteSink {
    conn: Connection,
    path: PathBuf,
    // Reused between records so encoding the fields JSON and the timestamp
    // does not allocate each time.
    json: String,
    ts: String,
}

impl SqliteSink {
    /// Opens or creates the database at `path` (creating missing parent
    /// directories), enables WAL and the busy timeout, and migrates the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteSink, OpenError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir { dir: dir.to_path_buf(), source })?;
        }
        let conn = Connection::open(&path)?;
        SqliteSink::from_connection(conn, path)
    }

    fn from_connection(mut conn: Connection, path: PathBuf) -> Result<SqliteSink, OpenError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers (the panel, sqlite3) read while the writer writes;
        // NORMAL sync is durable against process crashes in WAL mode.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(&mut conn)?;
        conn.busy_timeout(WRITE_BUSY_TIMEOUT)?;
        Ok(SqliteSink { conn, path, json: String::with_capacity(256), ts: String::with_capacity(32) })
    }

    /// The underlying connection, for queries (tests, tools).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> rusqlite::Result<()> {
        let origin = batch.origin;
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for r in batch.records {
                self.json.clear();
                r.write_fields_json(&mut self.json);
                self.ts.clear();
                r.timestamp.write_rfc3339(&mut self.ts);
                insert.execute(params![
                    self.ts,
                    severity(r.level),
                    r.target.as_ref(),
                    r.message.as_ref(),
                    r.module_path.as_deref(),
                    r.file.as_deref(),
                    r.line,
                    r.thread.as_ref(),
                    origin.pid,
                    origin.host,
                    origin.app,
                    self.json,
                    r.original_size.and_then(|s| i64::try_from(s).ok()),
                ])?;
            }
        }
        // Same transaction: the counts commit (or roll back) with the rows.
        aggregates::BatchAggregates::of(batch).upsert(&tx)?;
        tx.commit()
    }

    /// Recomputes the aggregate tables from `log_records` (after deleting old
    /// rows, or restoring a backup). Safe while a writer on another connection
    /// is storing batches: see [`aggregates::rebuild`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut sink = log_panel_sqlite::SqliteSink::open(dir.path().join("logs.db"))?;
    /// sink.connection().execute("DELETE FROM log_records WHERE ts < '2026-01-01'", [])?;
    /// sink.rebuild_aggregates()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rebuild_aggregates(&mut self) -> Result<(), rusqlite::Error> {
        aggregates::rebuild(&mut self.conn)
    }
}

impl Sink for SqliteSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.write_batch(batch).map_err(classify)
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

/// Maps a SQLite error to what the writer should do about it.
fn classify(e: rusqlite::Error) -> SinkError {
    let kind = match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::OutOfMemory,
        ) => SinkErrorKind::Unavailable,
        Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch) => SinkErrorKind::BadRecord,
        _ => SinkErrorKind::Other,
    };
    SinkError::new(kind, e.to_string()).with_source(e)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use log_panel_core::{Level, Origin, Record};

    #[test]
    fn schema_is_versioned_and_reopen_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/logs.db");
        drop(SqliteSink::open(&path).unwrap());
        let sink = SqliteSink::open(&path).unwrap();
        let v: i64 = sink.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = sink.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let levels: i64 = sink.connection().query_row("SELECT count(*) FROM log_levels", [], |r| r.get(0)).unwrap();
        assert_eq!(levels, 5);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        match SqliteSink::open(&path) {
            Err(OpenError::NewerSchema { found: 99, .. }) => {}
            other => panic!("expected NewerSchema, got {:?}", other.err()),
        }
    }

    #[test]
    fn busy_database_is_reported_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = SqliteSink::open(&path).unwrap();
        sink.conn.busy_timeout(Duration::from_millis(10)).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let origin = Origin { app: "t".into(), host: "h".into(), pid: 1 };
        let records = [Record::new(Level::Info, "t", "m")];
        let err = sink.write(&Batch { origin: &origin, records: &records }).unwrap_err();
        assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
        other.execute_batch("COMMIT").unwrap();
        sink.write(&Batch { origin: &origin, records: &records }).unwrap();
        let n: i64 = sink.connection().query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
