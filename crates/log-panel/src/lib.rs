//! A [`log`] backend that keeps every record in a database — SQLite by
//! default, PostgreSQL with the `postgres` feature — with the request
//! context that explains it.
//!
//! ```no_run
//! fn main() -> Result<(), log_panel::Error> {
//!     let _panel = log_panel::init()?; // log_panel.db, level INFO (or log_panel.toml)
//!     log::info!(user_id = 7, plan = "pro"; "signed up");
//!     log::warn!("card declined for order {}", 1234);
//!     Ok(())
//! } // the guard drops: every record is committed
//! ```
//!
//! # The path of one record
//!
//! 1. `logger.rs`: the `log::Log` implementation filters the call (RUST_LOG-style
//!    directives, ignore rules) and captures a [`Record`] on the calling thread:
//!    a clock tick, level, logger, message, call site, thread, key-values and
//!    the bound [`context`]. No I/O happens on the caller; buffers come back
//!    from the writer for reuse (`recycle.rs`).
//! 2. `queue.rs`: the record goes into a bounded channel.
//! 3. `writer.rs`: one writer thread turns each tick into the call's wall-clock
//!    time (`clock.rs`), gathers records and writes a batch when the
//!    [`BatchPolicy`] says so: `batch.size` records, a record at or above
//!    `batch.flush_level`, `batch.flush_interval_ms` after the oldest pending
//!    record (a real timer), or an explicit [`flush`] / [`shutdown`].
//! 4. The [`Sink`] stores the batch in one transaction (`log-panel-sqlite`,
//!    `log-panel-postgres`, or your own implementation).
//!
//! Records logged on the writer thread itself (database drivers log too) are
//! never queued: they go to stderr and are counted in [`Stats`].
//!
//! With feature `tracing`, `tracing` events enter at step 1 too: the layer
//! (`tracing.rs`) captures them with the logger's own gate, limits and
//! overflow policy, into the same queue and writer. With feature `tower`,
//! `tower.rs` binds each request's context around the whole request. See
//! `docs/tracing.md`.
//!
//! # Alerts
//!
//! After each commit the writer counts records per logger and level over a
//! sliding window; when a count reaches its threshold (defaults: one WARN,
//! one ERROR per hour) the callbacks registered with
//! [`Builder::on_alert`] receive a [`AlertEvent`] on the
//! [`alerts`] thread. Configure with `[alerts]` or
//! [`Builder::alert_threshold`]. Webhooks (`[[alerts.webhooks]]`,
//! [`Builder::webhook`]) post each event as JSON or in Slack's shape from
//! threads of their own, with a timeout, retries and a bounded queue.
//!
//! # Configuration
//!
//! [`init`] reads `$LOG_PANEL_CONFIG` or `./log_panel.toml` when present (see
//! [`Config`]); [`builder`] configures in code. Errors name the key and line.

// On docs.rs (see [package.metadata.docs.rs]): show which feature each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alerts;
mod builder;
mod clock;
mod console;
mod error;
mod global;
mod ignore;
mod intern;
#[cfg(feature = "tracing")]
mod log_bridge;
mod logger;
#[cfg(feature = "opentelemetry")]
mod otel;
mod pipeline;
mod queue;
#[cfg(feature = "read")]
pub mod read;
mod recycle;
mod spool;
mod stats;
mod thread;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub mod tracing;
mod writer;

pub use alerts::AlertStats;
pub use alerts::{AlertConfig, AlertEvent, WebhookConfig, WebhookFormat};
pub use builder::Builder;
pub use error::Error;
pub use global::{alert_stats, flush, flush_timeout, shutdown, shutdown_timeout, stats, Guard};
/// The configuration file and its typed form (crate `log-panel-config`).
pub use log_panel_config as config;
pub use log_panel_config::{Config, ConfigError, Overflow};
pub use log_panel_core::{
    Batch, BatchPolicy, Context, Level, Origin, Record, Sink, SinkError, SinkErrorKind, Timestamp, Value,
};
pub use log_panel_database::env::{DATABASE_ENV, FILTER_ENV};
pub use log_panel_database::{Database, DatabaseError};
pub use pipeline::Pipeline;

/// Per-request context: [`bind`](context::bind), [`scope`](context::scope) guards,
/// carrying a snapshot to threads and async tasks. See `docs/context.md`.
pub use log_panel_core::context;
/// Trace correlation: the `trace_id` / `span_id` context keys and the W3C
/// `traceparent` header (see `docs/tracing.md`).
pub use log_panel_core::trace;
pub use log_panel_core::{bind, ctx, scope, scope_new, unbind};
pub use stats::{Dropped, Report, Stats};

#[cfg(feature = "sqlite")]
pub use log_panel_sqlite::SqliteSink;

#[cfg(feature = "postgres")]
pub use log_panel_postgres::PgSink;

#[cfg(feature = "clickhouse")]
pub use log_panel_clickhouse::ChSink;

/// Starts log-panel as the global logger with the configuration found in
/// `$LOG_PANEL_CONFIG` or `./log_panel.toml` (defaults otherwise: SQLite
/// file `log_panel.db`, level INFO). Keep the returned guard alive; dropping
/// it commits everything and stops the writer.
///
/// Returns an error, leaving nothing running, when the configuration is
/// invalid, the database cannot be opened, or a logger is already installed.
pub fn init() -> Result<Guard, Error> {
    Builder::from_env()?.init()
}

/// A [`Builder`] with the defaults, for configuration in code.
pub fn builder() -> Builder {
    Builder::new()
}
