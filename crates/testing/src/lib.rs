//! Test support for log-panel's crates, used only as a dev-dependency (as
//! `tracing-mock` is for tracing): one scripted [`sink`], the generated
//! [`records`], the [`plans`] tests' data and filters, the [`estimate`]d histograms' set and the shared checks
//! of the store test suites, a SQLite database's [`sqlite`] files, and
//! (features `postgres`, `clickhouse`) throwaway PostgreSQL servers and
//! ClickHouse clusters.
//!
//! It depends on the write model and the read side only, never on the
//! `log-panel` crate, so the writer's unit tests inside that crate can use it.

pub mod checks;
pub mod estimate;
pub mod plans;
pub mod records;
pub mod server;
pub mod sink;
pub mod sqlite;

#[cfg(feature = "clickhouse")]
pub mod clickhouse;

#[cfg(feature = "postgres")]
pub mod commit_eater;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use sink::{recorder, ScriptedSink, Shared};
