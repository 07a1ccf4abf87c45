//! The SQLite [`Sink`](log_panel_core::Sink) of log-panel.
//!
//! [`SqliteSink`] opens (or creates) a database file, switches it to WAL with
//! a busy timeout, creates or migrates the schema (see `docs/schema.md`), and
//! writes each batch in one transaction through one prepared statement,
//! together with the per-logger aggregates of the batch (one upsert per
//! distinct logger and bucket, see `docs/aggregates.md`).
//!
//! Around each batch it checks that the path still names the file it opened
//! (a file deleted or moved away under it is closed and a new one created at
//! the path, see `file`), and after each transaction that the WAL stays
//! within [`WAL_RESTART_BYTES`] (see `checkpoint`).
//!
//! ```
//! use log_panel_core::{Batch, Level, Origin, Record, Sink};
//! use log_panel_sqlite::SqliteSink;
//!
//! let dir = tempfile::tempdir()?;
//! let mut sink = SqliteSink::open(dir.path().join("logs.db"))?;
//! let origin = Origin::new("demo", "localhost", 1);
//! let records = [Record::new(Level::Info, "demo", "hello")];
//! sink.write(&Batch::new(&origin, &records))?;
//!
//! let n: i64 = sink.connection().query_row("SELECT count(*) FROM log_records", [], |r| r.get(0))?;
//! assert_eq!(n, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aggregates;
mod error;
mod file;
#[cfg(all(test, feature = "read"))]
mod follow_tests;
#[cfg(feature = "read")]
mod maintenance;
mod options;
mod rows;
mod schema;
mod sink;
#[cfg(feature = "read")]
mod sql;
#[cfg(feature = "read")]
mod store;
mod upkeep;
mod zone_map;

pub use error::Error;
#[cfg(feature = "read")]
pub use maintenance::SqliteMaintenance;
pub use options::Options;
pub use schema::SCHEMA_VERSION;
pub use sink::{SqliteSink, BUSY_TIMEOUT, WAL_RESTART_BYTES, WRITE_BUSY_TIMEOUT};
#[cfg(feature = "read")]
pub use store::{SqliteStore, HISTOGRAM_ROW_LIMIT};
pub use upkeep::context_index::valid_index_key;
pub use upkeep::steps::INDEX_LAG_BOUND;
