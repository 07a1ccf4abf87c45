//! The one place each storage is opened for a [`Database`]: a sink for the
//! writer, a read-only store for the command and the web panel.

use std::error::Error as StdError;
use std::time::Duration;

use log_panel_core::Sink;

use crate::Database;

/// How the writer's sink is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkOptions {
    /// Fail when a server database cannot be reached now (otherwise the sink
    /// starts disconnected and the writer connects when it is up).
    pub required: bool,
    /// Records older than this are deleted while the writer is idle (`None`: kept).
    pub retention: Option<Duration>,
    /// Context keys registered with SQLite on open.
    pub index_keys: Vec<String>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions { required: false, retention: None, index_keys: vec!["request_id".to_owned()] }
    }
}

/// Why no sink was opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The storage of this database was not compiled in.
    #[error("`{database}` needs a storage backend that is not enabled (check the crate features)")]
    NotEnabled {
        /// The database, as [`Database`]'s `Display` names it (no password).
        database: String,
    },
    /// The storage refused to open.
    #[error("cannot open storage `{database}`")]
    Storage {
        /// The database, as [`Database`]'s `Display` names it (no password).
        database: String,
        /// The storage crate's error (never contains a password).
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
}

/// Opens the writer's sink for `database`.
pub fn open_sink(database: &Database, options: &SinkOptions) -> Result<Box<dyn Sink>, OpenError> {
    match database {
        Database::Sqlite(path) => sqlite_sink(database, path, options),
        Database::Postgres(url) => postgres_sink(database, url, options),
        Database::ClickHouse(url) => clickhouse_sink(database, url, options),
    }
}

#[cfg(feature = "clickhouse")]
fn clickhouse_sink(database: &Database, url: &str, options: &SinkOptions) -> Result<Box<dyn Sink>, OpenError> {
    // As for PostgreSQL: not required, the shards are reached by the writer, which retries and spools.
    // Retention is `log-panel prune` (dropping day partitions), not the writer's idle work.
    let sink = if options.required {
        log_panel_clickhouse::ChSink::connect(url)
    } else {
        log_panel_clickhouse::ChSink::connect_lazy(url)
    };
    match sink {
        Ok(sink) => Ok(Box::new(sink)),
        Err(e) => Err(OpenError::Storage { database: database.to_string(), source: Box::new(e) }),
    }
}

#[cfg(not(feature = "clickhouse"))]
fn clickhouse_sink(database: &Database, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>, OpenError> {
    Err(OpenError::NotEnabled { database: database.to_string() })
}

#[cfg(feature = "sqlite")]
fn sqlite_sink(database: &Database, path: &std::path::Path, options: &SinkOptions) -> Result<Box<dyn Sink>, OpenError> {
    let mut sqlite = log_panel_sqlite::Options::default();
    sqlite.index_keys.clone_from(&options.index_keys);
    sqlite.retention = options.retention;
    match log_panel_sqlite::SqliteSink::open_with(path, sqlite) {
        Ok(sink) => Ok(Box::new(sink)),
        Err(e) => Err(OpenError::Storage { database: database.to_string(), source: Box::new(e) }),
    }
}

#[cfg(not(feature = "sqlite"))]
fn sqlite_sink(database: &Database, _: &std::path::Path, _: &SinkOptions) -> Result<Box<dyn Sink>, OpenError> {
    Err(OpenError::NotEnabled { database: database.to_string() })
}

#[cfg(feature = "postgres")]
fn postgres_sink(database: &Database, url: &str, options: &SinkOptions) -> Result<Box<dyn Sink>, OpenError> {
    // Not required: a bad URL is still refused here, but the server is only
    // contacted by the writer, which retries and spools while it is down.
    let sink = if options.required {
        log_panel_postgres::PgSink::connect(url)
    } else {
        log_panel_postgres::PgSink::connect_lazy(url)
    };
    match sink {
        Ok(sink) => Ok(Box::new(sink.with_retention(options.retention))),
        Err(e) => Err(OpenError::Storage { database: database.to_string(), source: Box::new(e) }),
    }
}

#[cfg(not(feature = "postgres"))]
fn postgres_sink(database: &Database, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>, OpenError> {
    Err(OpenError::NotEnabled { database: database.to_string() })
}

#[cfg(feature = "read")]
pub use read::open_store;
#[cfg(feature = "maintenance")]
pub use read::{migrate, open_maintenance};

#[cfg(feature = "read")]
mod read {
    use std::time::Duration;

    #[cfg(feature = "maintenance")]
    use log_panel_query::Maintenance;
    use log_panel_query::{Store, StoreError, StoreErrorKind};

    use crate::Database;

    /// Opens `database` read-only, each read within `read_timeout`. Never
    /// creates or migrates anything: a database no writer has created yet, or
    /// one of an older schema, is an error that says so.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres", feature = "clickhouse")), allow(unused_variables))]
    pub fn open_store(database: &Database, read_timeout: Duration) -> Result<Box<dyn Store>, StoreError> {
        match database {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(path) => {
                Ok(Box::new(log_panel_sqlite::SqliteStore::open(path)?.with_read_timeout(read_timeout)))
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => {
                Ok(Box::new(log_panel_postgres::PgStore::connect_with_read_timeout(url, read_timeout)?))
            }
            #[cfg(feature = "clickhouse")]
            Database::ClickHouse(url) => {
                Ok(Box::new(log_panel_clickhouse::ChStore::connect(url)?.with_read_timeout(read_timeout)))
            }
            #[allow(unreachable_patterns)]
            other => Err(not_enabled(other)),
        }
    }

    /// What `prune` and `rebuild` delete and rewrite with: the storage's
    /// maintenance handle (`SqliteMaintenance`, `PgMaintenance`,
    /// `ChMaintenance`) for the same database as [`open_store`], refusing
    /// what it refuses, without a read budget (a prune takes as long as it
    /// takes). Behind the `maintenance` feature, so that a reader never
    /// carries it; the stores [`open_store`] returns have no write path.
    #[cfg(feature = "maintenance")]
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres", feature = "clickhouse")), allow(unused_variables))]
    pub fn open_maintenance(database: &Database) -> Result<Box<dyn Maintenance>, StoreError> {
        match database {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(path) => Ok(Box::new(log_panel_sqlite::SqliteMaintenance::open(path)?)),
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => Ok(Box::new(log_panel_postgres::PgMaintenance::connect(url)?)),
            #[cfg(feature = "clickhouse")]
            Database::ClickHouse(url) => Ok(Box::new(log_panel_clickhouse::ChMaintenance::connect(url)?)),
            #[allow(unreachable_patterns)]
            other => Err(not_enabled(other)),
        }
    }

    /// Brings `database`'s schema up to date, as a writer does when it opens
    /// it: for a database no application writes to any more. Returns the
    /// schema versions before and after. Writes: behind the `maintenance`
    /// feature, so that a reader never carries it.
    #[cfg(feature = "maintenance")]
    pub fn migrate(database: &Database) -> Result<(i64, i64), StoreError> {
        match database {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(path) => log_panel_sqlite::SqliteMaintenance::migrate(path),
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => {
                let (from, to) = log_panel_postgres::PgMaintenance::migrate(url)?;
                Ok((i64::from(from), i64::from(to)))
            }
            #[cfg(feature = "clickhouse")]
            Database::ClickHouse(url) => {
                let (from, to) = log_panel_clickhouse::ChMaintenance::migrate(url)?;
                Ok((i64::from(from), i64::from(to)))
            }
            #[allow(unreachable_patterns)]
            other => Err(not_enabled(other)),
        }
    }

    fn not_enabled(database: &Database) -> StoreError {
        let reason = crate::OpenError::NotEnabled { database: database.to_string() };
        StoreError::new(StoreErrorKind::Unavailable, reason.to_string())
    }
}
