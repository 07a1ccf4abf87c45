//! Reading the stored records back from a program (feature `read`): the
//! read trait [`Store`], its filters and pages, and the stores of the
//! storages enabled ([`SqliteStore`] with `sqlite`, [`PgStore`] with
//! `postgres`) — the same API the `log-panel` command and the web panel use,
//! so one dependency on `log-panel` is enough to log and to query.
//!
//! Readers never write: a store opens the database read-only, never creates
//! nor migrates it (open it after the writer has, as below). Every method
//! blocks; an async program calls it on a blocking thread.
//!
//! ```
//! use log_panel::read::{FieldMatch, FieldValue, PageAt, RecordFilter, SqliteStore, Store};
//! use log_panel::Level;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let dir = std::env::temp_dir().join(format!("log-panel-read-{}", std::process::id()));
//!     std::fs::create_dir_all(&dir)?;
//!     let path = dir.join("app.db");
//!
//!     // Log as usual…
//!     let _guard = log_panel::builder().database(&path).init()?;
//!     log::info!(user_id = 7; "signed in");
//!     log::warn!(user_id = 7; "card declined");
//!     log::warn!(user_id = 8; "card declined");
//!     log_panel::flush()?;
//!
//!     // …and read back: user 7's warnings and errors, newest first.
//!     let store = SqliteStore::open(&path)?;
//!     let mut filter = RecordFilter::default();
//!     filter.min_level = Some(Level::Warn);
//!     filter.fields.push(FieldMatch::new("user_id", FieldValue::Int(7))?);
//!     let page = store.records(&filter, PageAt::Newest, 50)?;
//!     assert_eq!(page.records.len(), 1);
//!     assert_eq!(page.records[0].message, "card declined");
//!     assert_eq!(page.records[0].context["user_id"], 7);
//!     // The next (older) page, by keyset: `page.older` is its cursor.
//!     assert!(page.older.is_none());
//!
//!     std::fs::remove_dir_all(&dir)?;
//!     Ok(())
//! }
//! ```
//!
//! A trace's records are `fields` with [`TRACE_ID_KEY`]; one request's are
//! [`Store::related`] with `request_id`.

pub use log_panel_core::trace::{SPAN_ID_KEY, TRACE_ID_KEY};
pub use log_panel_query::*;

#[cfg(feature = "clickhouse")]
pub use log_panel_clickhouse::ChStore;
/// Opens a [`Database`](crate::Database) read-only: the store the `log-panel`
/// command and the web panel use.
pub use log_panel_database::open_store;
#[cfg(feature = "postgres")]
pub use log_panel_postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use log_panel_sqlite::SqliteStore;
