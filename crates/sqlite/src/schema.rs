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
    // Version 2: per-logger aggregates (docs/aggregates.md), kept by the sink in
    // the same transaction as each batch, backfilled here from existing rows.
    // Buckets are UTC; quarter hours make days exact for offsets like +05:30.
    "CREATE TABLE log_logger_stats (
         logger     TEXT PRIMARY KEY,
         total      INTEGER NOT NULL,
         errors     INTEGER NOT NULL,
         warnings   INTEGER NOT NULL,
         first_seen TEXT    NOT NULL,
         last_seen  TEXT    NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE log_logger_hourly (
         logger TEXT    NOT NULL,
         hour   TEXT    NOT NULL,
         trace  INTEGER NOT NULL DEFAULT 0,
         debug  INTEGER NOT NULL DEFAULT 0,
         info   INTEGER NOT NULL DEFAULT 0,
         warn   INTEGER NOT NULL DEFAULT 0,
         error  INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (logger, hour)
     ) WITHOUT ROWID;
     CREATE INDEX log_logger_hourly_hour ON log_logger_hourly (hour);
     CREATE TABLE log_logger_quarter (
         logger  TEXT    NOT NULL,
         quarter TEXT    NOT NULL,
         trace   INTEGER NOT NULL DEFAULT 0,
         debug   INTEGER NOT NULL DEFAULT 0,
         info    INTEGER NOT NULL DEFAULT 0,
         warn    INTEGER NOT NULL DEFAULT 0,
         error   INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (logger, quarter)
     ) WITHOUT ROWID;
     CREATE INDEX log_logger_quarter_quarter ON log_logger_quarter (quarter);
     INSERT INTO log_logger_stats (logger, total, errors, warnings, first_seen, last_seen)
         SELECT logger, count(*), sum(level = 40), sum(level = 30), min(ts), max(ts)
         FROM log_records GROUP BY logger;
     INSERT INTO log_logger_hourly (logger, hour, trace, debug, info, warn, error)
         SELECT logger, substr(ts, 1, 13) || ':00:00.000000Z',
                sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
         FROM log_records GROUP BY 1, 2;
     INSERT INTO log_logger_quarter (logger, quarter, trace, debug, info, warn, error)
         SELECT logger,
                substr(ts, 1, 14) || CASE WHEN substr(ts, 15, 2) < '15' THEN '00'
                                          WHEN substr(ts, 15, 2) < '30' THEN '15'
                                          WHEN substr(ts, 15, 2) < '45' THEN '30'
                                          ELSE '45' END || ':00.000000Z',
                sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
         FROM log_records GROUP BY 1, 2;",
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
