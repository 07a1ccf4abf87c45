//! The SQLite schema, created and migrated by the sink when it opens.
//!
//! Each migration runs once, in order, inside a `BEGIN IMMEDIATE` transaction
//! (so two processes opening the same file at once do not both migrate);
//! `PRAGMA user_version` records how many have run. Append new migrations to
//! the end of [`MIGRATIONS`]; never edit one that has shipped.

use rusqlite::{Connection, TransactionBehavior};

use crate::OpenError;

/// Migration `i` brings the schema from version `i` to version `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: the records table, a level-name lookup table, and the two
    // indexes the read side needs (time-ordered, per-logger time-ordered).
    "CREATE TABLE log_levels (
         level INTEGER PRIMARY KEY,
         name  TEXT NOT NULL
     );
     INSERT INTO log_levels (level, name) VALUES
         (5, 'TRACE'), (10, 'DEBUG'), (20, 'INFO'), (30, 'WARN'), (40, 'ERROR');
     CREATE TABLE log_records (
         id            INTEGER PRIMARY KEY,
         ts            TEXT    NOT NULL,
         level         INTEGER NOT NULL,
         logger        TEXT    NOT NULL,
         message       TEXT    NOT NULL,
         module        TEXT,
         file          TEXT,
         line          INTEGER,
         thread        TEXT    NOT NULL,
         pid           INTEGER NOT NULL,
         host          TEXT    NOT NULL,
         app           TEXT    NOT NULL,
         context       TEXT    NOT NULL DEFAULT '{}',
         original_size INTEGER
     );
     CREATE INDEX log_records_ts ON log_records (ts);
     CREATE INDEX log_records_logger_ts ON log_records (logger, ts);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], refusing a newer one.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), OpenError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema { found: version, supported: SCHEMA_VERSION });
    }
    let start = usize::try_from(version).unwrap_or(0);
    for sql in &MIGRATIONS[start..] {
        tx.execute_batch(sql)?;
    }
    // PRAGMA takes no bound parameters; the value is our own constant.
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}
