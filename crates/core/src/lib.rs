//! The model shared by every part of log-panel: what a record is, what
//! context is, when a batch is due, where batches go, and the row encoding
//! the storage crates share. No threads, no I/O and no configuration live
//! here, so a storage crate builds only what it stores.
//!
//! The path of one record:
//!
//! 1. an application calls `log::info!(user_id = 7; "paid {}", amount)`;
//! 2. `log_panel`'s logger filters it (directives, ignore rules) and captures a
//!    [`Record`] on the calling thread, with the thread's bound [`Context`];
//! 3. the record goes through a bounded queue to the single writer thread;
//! 4. the writer gathers records until the [`BatchPolicy`] says a batch is due;
//! 5. it hands the [`Batch`] to a [`Sink`] (SQLite, PostgreSQL, or your own),
//!    which stores it in one transaction.
//!
//! Most applications use the `log_panel` crate and never name this one; sink
//! authors implement [`Sink`] from here.

// On docs.rs (see [package.metadata.docs.rs]): show which feature each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alert;
mod chain;
pub mod context;
mod controls;
pub mod fold;
pub mod json;
mod nul;
mod policy;
pub mod record;
pub mod redact;
mod sink;
pub mod stored;
pub mod trace;
mod value;
pub mod writer_thread;

pub use chain::error_chain;
pub use context::Context;
pub use controls::{escape_controls, escape_controls_into};
pub use nul::{without_nul, NUL_REPLACEMENT};
pub use policy::BatchPolicy;
pub use record::{
    civil_from_days, level_from_severity, level_index, level_name, parse_level, severity, Level, Origin, Record, Text,
    Timestamp, DAY, HOUR, LEVELS, MINUTE, QUARTER_HOUR,
};
pub use sink::{Batch, Sink, SinkError, SinkErrorKind, IDLE_PERIOD, INDEX_LAG_BOUND};
pub use value::{Str, Value};
