//! ClickHouse storage for log-panel, sharded.
//!
//! [`ChSink`] is a [`Sink`](log_panel_core::Sink): the writer thread hands
//! it batches, and it stores each batch with one `INSERT … FORMAT RowBinary`
//! over HTTP (a blocking client, no async runtime) into one shard's
//! day-partitioned `MergeTree` table, one insert per UTC day the batch
//! spans; see [`sink`] for the choice of shard, exactly-once retries and
//! record ids, [`schema`] for the tables and [`aggregates`] for the
//! materialised views. Before its first insert into a shard the sink creates
//! the tables there.
//!
//! With the `read` feature, `ChStore` is the read side (the `Store` trait of
//! `log-panel-query`), reading through the `Distributed` tables; it never
//! creates a table. `ChMaintenance` (its `Maintenance` trait) drops and
//! recomputes day partitions, apart so that a reader cannot delete.
//!
//! # The URL
//!
//! `clickhouse://[user[:password]@]host[:port][,host[:port]…]/database[?cluster=NAME&timeout_ms=N&silence_ms=N]`:
//! each host one shard's HTTP interface, in the order of the servers'
//! `remote_servers` section, which names the cluster; see [`Options`].
//! The database must exist on every shard. `silence_ms` (default 2 000)
//! fails a request once no byte has moved either way for that long;
//! `timeout_ms` (default 30 000) bounds a whole request.
//!
//! # Failures
//!
//! - A shard down, restarting, overloaded or out of memory: `write` returns
//!   [`SinkErrorKind::Unavailable`](log_panel_core::SinkErrorKind) and the
//!   writer retries; a batch that never reached its shard goes to the next.
//! - A shard frozen (its process stopped, a network black hole): the request
//!   fails after `silence_ms` as [`RequestError::Silent`], naming the shard;
//!   an insert so cut is in doubt, settled when the writer retries it.
//! - A shard computing before its answer's first byte (as silent as a
//!   frozen one on 18.16): once every shard answers `/ping`, a read, the
//!   tables' creation (`IF NOT EXISTS`) and the writer-tag claim are sent
//!   again, bounded by `timeout_ms`; a batch's insert is not (it is in doubt).
//! - Rows the server cannot parse: `BadRecord`; anything else: `Other`
//!   (see [`classify`]).
//! - NUL in text is stored as U+FFFD and counted in [`ChSink::sanitised`].
//!
//! Works on Debian's clickhouse-server 18.16 and on current releases: the
//! tables use nothing either lacks (no `LowCardinality`, `DateTime64`, TTL,
//! skip indexes, query parameters or `insert_deduplication_token`).

// On docs.rs (see [package.metadata.docs.rs]): show which feature each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod aggregates;
mod error;
mod http;
#[cfg(feature = "read")]
mod maintenance;
mod options;
pub mod rowbinary;
pub mod schema;
pub mod sink;
#[cfg(feature = "read")]
mod sql;
#[cfg(feature = "read")]
mod store;
pub mod writer_tag;

pub use error::{classify, Error, RequestError};
pub use http::quote;
#[cfg(feature = "read")]
pub use maintenance::ChMaintenance;
pub use options::{Options, DEFAULT_PORT, DEFAULT_SILENCE, DEFAULT_TIMEOUT};
pub use sink::ChSink;
#[cfg(feature = "read")]
pub use store::ChStore;
