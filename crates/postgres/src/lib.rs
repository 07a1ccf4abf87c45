//! PostgreSQL storage for log-panel.
//!
//! [`PgSink`] is a [`Sink`](log_panel_core::Sink): the writer thread hands it batches, and it stores
//! each batch with one binary `COPY log_records … FROM STDIN (FORMAT binary)`
//! in one transaction, together with the batch's per-logger [`aggregates`]
//! (one upsert per table). At start it connects and creates or migrates its schema
//! (see [`schema`]); the schema is documented in `docs/schema.md`.
//!
//! With the `read` feature, `PgStore` is the read side (the `Store` trait of
//! `log-panel-query`: filtered pages, cards, histograms, call sites),
//! documented in `docs/query.md`, and `PgMaintenance` prunes, rebuilds and
//! migrates (its `Maintenance` trait), apart so that a reader cannot write.
//! While its writer is idle, the sink brings the message and
//! context search index up to date and, with [`PgSink::with_retention`],
//! deletes expired records ([`Sink::idle`](log_panel_core::Sink::idle)).
//!
//! With `partition=day` in the URL, `log_records` is partitioned by UTC day
//! ([`schema::partition_by_day`]): each batch's transaction creates the days
//! it needs, and retention drops whole expired days. `PgStore` also reads a
//! hot standby, where its live tail polls. See `docs/scale.md`.
//!
//! # Failures
//!
//! - The server is down, restarting, or the network dropped: `write` returns
//!   [`SinkErrorKind::Unavailable`](log_panel_core::SinkErrorKind::Unavailable); the writer retries the same batch after a
//!   backoff and the sink reconnects lazily on that call.
//! - The server is frozen (SIGSTOP, a stuck host: its kernel keeps the
//!   connection open and nothing answers): the sink's connection lives on a
//!   thread of its own, and a write gives up once the server has given no
//!   sign of life for [`Options::write_timeout`] (`write_timeout=<seconds>`
//!   in the URL, 2 s by default): `Unavailable`, the batch surely rolled back
//!   when its COMMIT had not been sent (the given-up thread never sends it),
//!   in doubt when it had (below). The connection is given up and reopened
//!   lazily; once the server has gone silent, a write waits for a new
//!   connection attempt only 50 ms, so the writer keeps draining its queue
//!   into the spool.
//! - Data PostgreSQL refuses (SQLSTATE classes 22, 23, 54) maps to
//!   [`SinkErrorKind::BadRecord`](log_panel_core::SinkErrorKind::BadRecord); everything else to [`SinkErrorKind::Other`](log_panel_core::SinkErrorKind::Other).
//! - Text PostgreSQL cannot store (NUL characters) is replaced by U+FFFD and
//!   the record is counted in [`PgSink::sanitised`]; it never fails a batch.
//! - The id sequence of `log_records` caches ids (`ALTER SEQUENCE … CACHE n`,
//!   n > 1): no id is known final for the search index, which then stays
//!   where it is; each idle step fails ([`SinkErrorKind::Other`](log_panel_core::SinkErrorKind::Other), the
//!   writer's last error) naming the sequence and the fix, `ALTER SEQUENCE …
//!   CACHE 1`. Searches stay complete, scanning the rows above the index.
//!
//! # Exactly once, also when the COMMIT's answer is lost
//!
//! The hard case is a connection that drops after `COMMIT` was sent but
//! before the server's answer arrived: the batch may or may not be stored.
//! Each sink has a random writer id and numbers its batches; the batch's
//! transaction also upserts `(writer_id, last_batch)` into
//! `log_panel_writers` (sent in the same round trip as `BEGIN`, so it costs
//! nothing extra). When a COMMIT's answer is lost, the next `write`
//! reconnects, terminates the old backend if it is still alive (matched by
//! pid *and* start time), then reads the row `FOR UPDATE` (with a
//! `lock_timeout`, so it waits for a transaction still finishing rather than
//! guessing). If the row holds that batch's number, the retried batch is
//! acknowledged without writing it again; otherwise it is written again. A
//! batch is recognised as "the same one" by its length and its first and last
//! records' timestamps and messages.
//!
//! (`txid_status()` looks like the tool for this, but after a crash the lost
//! transaction's id is handed out again, so it can report another
//! transaction's commit as ours.)
//!
//! When the writer has meanwhile passed the batch to its spool (the server
//! stayed down past the retries), the spool replays its records in batches
//! of its own; the sink remembers a batch it found committed and skips its
//! records, each once, when they come again.
//!
//! # A batch in doubt that outlives its process
//!
//! That memory dies with the process: an application restarted (a deploy
//! during a database restart) with such a batch in its spool would replay
//! it and, had it committed, store it twice. So a sink looks up by content
//! every batch whose records were all logged before the sink was made (as
//! a spool an earlier process left brings them; otherwise only records
//! written with old times, an import, are), as ClickHouse's sink does: the rows of the batch's origin (app,
//! host, pid) and loggers in its time span (the `(logger, ts, id)` index:
//! no index has the origin, so other applications' rows of the span are
//! not read unless they share a logger; only the day partitions of that
//! span), stored before this sink's first batch, are
//! matched to its records one for one by time, logger, thread and message
//! ([`log_panel_core::stored`]; two identical records need two rows), and
//! only the records left are written. "Stored before this sink's first
//! batch" is an id mark: on its first connection the sink waits (up to the
//! write timeout) until the writers' transactions begun before it have
//! ended — another session holding its lock on `log_panel_writers` (every
//! batch takes it first) that runs a statement or finished one within the
//! last second — then reads the highest id. Every row the sink stores gets
//! a higher id, so a replay whose identical records fall into two batches
//! stores both, and only rows of an earlier process can match.
//!
//! Why not keep the doubt's identity (writer id, batch number) with the
//! spooled records instead: the look-up needs no change to the spool's
//! format, covers whatever ended the process, and also closes the spool's
//! own window (a crash after a replayed batch committed, before its offset
//! reached the disk: that batch is found stored). Its cost falls on a
//! replay after a restart — a live writer's records are newer than its sink
//! (but for any logged while the sink was being made, one look-up) — at one
//! index range scan per logger of a replayed batch (figures in
//! `docs/reliability.md`, "Session 46", "Cost in a shared database").
//!
//! What it does not cover: an earlier process's transaction still committing
//! once the wait has passed its bound; a batch in doubt of another process
//! that was still running when this sink started (its records are newer
//! than the sink), replayed from a spool shared with it after it died; and,
//! as wrongly matched, an identical record (same microsecond, logger, thread
//! and message) that a process of the same app, host and pid stored in that
//! span (a container restarted as pid 1 under its host name), or a 64-bit
//! hash collision within one microsecond. `pg_stat_activity` shows the state
//! of another role's sessions only to members of `pg_read_all_stats`: a
//! writer role does not wait for writers of other roles. One consequence is
//! visible: a new sink handed records logged before it started that are
//! already stored (a batch sent again by hand, an import run twice)
//! acknowledges them without storing them again.
//!
//! Durability is the server's: with `synchronous_commit = off` on the server,
//! a crash can lose batches it had acknowledged.
//!
//! # TLS
//!
//! Connections are plain unless the URL says `sslmode=require` (or libpq's
//! `verify-ca` / `verify-full`). With the `tls` feature (rustls, ring
//! provider; no system OpenSSL needed) such URLs connect over TLS and always
//! verify the server's chain and host name, against `sslrootcert=<file>`
//! when given, else the system's roots. Without the feature they are refused
//! with an error naming the feature.
//!
//! # Passwords
//!
//! Errors, `Debug` output and [`Sink::describe`](log_panel_core::Sink::describe) show the URL as
//! `postgres://user:***@host/db`; see [`Options`] and [`redact_url`].
//!
//! # Example
//!
//! ```no_run
//! use log_panel_core::{Batch, Level, Origin, Record, Sink};
//! use log_panel_postgres::PgSink;
//!
//! let mut sink = PgSink::connect("postgres://app:secret@localhost/logs")?;
//! let origin = Origin::new("billing", "web-1", std::process::id());
//! let records = vec![Record::new(Level::Info, "billing::api", "paid")];
//! sink.write(&Batch::new(&origin, &records))?;
//! assert_eq!(sink.describe(), "PostgreSQL postgres://app:***@localhost/logs");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// On docs.rs (see [package.metadata.docs.rs]): show which feature each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod aggregates;
pub mod copy;
mod error;
mod link;
pub mod listen;
#[cfg(feature = "read")]
mod maintenance;
mod options;
#[cfg(feature = "read")]
mod rows;
pub mod schema;
mod sink;
#[cfg(feature = "read")]
mod sql;
#[cfg(feature = "read")]
mod store;
mod time;
#[cfg(feature = "tls")]
mod tls;
mod upkeep;

pub use error::{classify, Error};
pub use log_panel_core::redact::redact_url;
#[cfg(feature = "read")]
pub use maintenance::PgMaintenance;
pub use options::{Options, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TCP_USER_TIMEOUT, DEFAULT_WRITE_TIMEOUT};
pub use sink::{PgSink, SanitisedCounter, RETENTION_BATCH};
#[cfg(feature = "read")]
pub use store::{PgStore, DEFAULT_SCAN_BOUND, READ_GRACE};
