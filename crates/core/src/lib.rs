//! The model shared by every part of log-panel: what a record is, what
//! context is, when a batch is due, where batches go, and how it is all
//! configured. No threads and no I/O live here (except reading the config file).
//!
//! The path of one record:
//!
//! 1. an application calls `log::info!(user_id = 7; "paid {}", amount)`;
//! 2. `log_panel`'s logger filters it ([`IgnoreRules`], directives) and captures a
//!    [`Record`] on the calling thread, with the thread's bound [`Context`];
//! 3. the record goes through a bounded queue to the single writer thread;
//! 4. the writer gathers records until the [`BatchPolicy`] says a batch is due;
//! 5. it hands the [`Batch`] to a [`Sink`] (SQLite, PostgreSQL, or your own),
//!    which stores it in one transaction.
//!
//! Most applications use the `log_panel` crate and never name this one; sink
//! authors implement [`Sink`] from here.

pub mod aggregate;
pub mod alert;
mod chain;
pub mod config;
pub mod context;
mod ignore;
pub mod json;
mod policy;
pub mod record;
pub mod redact;
mod sink;
pub mod store;
mod value;

pub use alert::{ThresholdConfig, ThresholdCounter, ThresholdEvent};
pub use chain::error_chain;
pub use config::{Config, ConfigError, Overflow};
pub use context::Context;
pub use ignore::IgnoreRules;
pub use policy::BatchPolicy;
pub use record::{
    level_from_severity, level_index, level_name, severity, Level, Origin, Record, Text, Timestamp, LEVELS,
};
pub use sink::{Batch, Sink, SinkError, SinkErrorKind, IDLE_PERIOD};
pub use store::{LevelCounts, Store, StoreError, StoreErrorKind};
pub use value::{Str, Value};
