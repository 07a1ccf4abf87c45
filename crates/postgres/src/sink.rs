//! [`PgSink`]: one binary `COPY` a batch with its aggregates in one
//! transaction, exactly once also when a COMMIT's answer is lost (see the
//! crate documentation), and the upkeep of idle moments.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use log_panel_core::stored::Unstored;
use log_panel_core::{without_nul, Batch, Origin, Record, Sink, SinkError, SinkErrorKind, Timestamp};
use postgres::error::Severity;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, SimpleQueryMessage, Statement};

use crate::aggregates::PG_MIN_UNIX_MICROS;
use crate::copy::{Encoder, COPY_SQL};
use crate::error::{self, classify};
use crate::options::error_chain;
use crate::upkeep::{retention, search};
use crate::{aggregates, listen, schema, Error, Options};

use crate::link::{Alive, Link, Stall};
use crate::time::{system_time, timestamp};

/// Bytes of encoded rows handed to the driver at a time: small enough that the
/// server parses one chunk while the next is encoded, large enough to keep the
/// per-message overhead negligible.
const CHUNK: usize = 32 * 1024;
/// How long a write waits for a connection attempt once the server has gone
/// silent (a call given up, an attempt unanswered), until one answers: the
/// writer drains its queue and spools between retries, so it should not
/// wait here for a frozen server (a whole write timeout, after the one the
/// given-up batch waited, kept callers at full rate waiting 4 s of their
/// 5 s in the attack). An attempt that answers later is taken by the next retry.
const SILENT_CONNECT_WAIT: Duration = Duration::from_millis(50);
/// How long the in-doubt check waits for a transaction that is still finishing.
const IN_DOUBT_LOCK_TIMEOUT: &str = "10s";
/// Writers' transactions begun before this sink's first batch that may
/// still commit: another session's, holding its lock on `log_panel_writers`
/// (every batch's transaction takes it first), running a statement or
/// having finished one within the last second (a COMMIT may be on its way).
/// A session idle in its transaction for longer waits for a client that is
/// gone or stuck: it commits nothing unless that client comes back.
const EARLIER_WRITERS_SQL: &str = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE l.relation = 'log_panel_writers'::regclass AND l.database = \
     (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid() \
     AND a.xact_start < $1 AND (a.state = 'active' OR a.state_change > now() - interval '1 second')";
/// A batch's stored rows written before this sink's first batch: those of
/// its origin in its time span, at or below the id mark, of its loggers
/// (`$7`; a row of another logger matches none of its records). The loggers
/// let the `(logger COLLATE "C", ts, id)` index read the span's rows of
/// these loggers only: no index has the origin, and by the `ts` index alone
/// the look-up read every application's rows of the span (docs/reliability.md,
/// "Cost in a shared database").
const STORED_BEFORE_SQL: &str = "SELECT ts, logger, thread, message FROM log_records \
     WHERE ts >= $1 AND ts <= $2 AND id <= $3 AND app = $4 AND host = $5 AND pid = $6 \
     AND (logger COLLATE \"C\") = ANY($7::text[])";
/// Rows of [`STORED_BEFORE_SQL`] read between two signs of life.
const LOOKUP_ALIVE_ROWS: usize = 4096;
/// Records one idle step of retention deletes at most: about 8 ms of work at
/// the measured prune rate (docs/performance.md), so a batch arriving
/// meanwhile barely waits.
pub const RETENTION_BATCH: i64 = 250;

/// Stores batches in PostgreSQL. See the [crate documentation](crate).
pub struct PgSink {
    config: Options,
    /// The open connection, on its thread ([`Link`]).
    conn: Option<Open>,
    /// A connection attempt not finished yet (waited for at most the write
    /// timeout from its start, then looked at on each call).
    opening: Option<Opening>,
    sanitised: Arc<AtomicU64>,
    /// Random per sink; keys this sink's row in `log_panel_writers`.
    writer_id: i64,
    /// Number of the last batch attempted.
    batch_no: i64,
    /// A batch whose COMMIT was sent but not acknowledged.
    in_doubt: Option<InDoubt>,
    /// The records of a batch found committed after its COMMIT went
    /// unacknowledged, when the writer had meanwhile passed the batch on (to
    /// its spool, which replays it in batches of its own): skipped when they
    /// come again, each once ([`Committed`]).
    committed: Committed,
    reconnects: u64,
    /// The server went silent (a call given up, a connection attempt not
    /// answered in time) and has not answered a connection attempt since.
    silent: bool,
    /// Records older than this are deleted while idle.
    retention: Option<std::time::Duration>,
    /// What the search mark may move to (kept across reconnects: a bound
    /// waits for transactions of other sessions, whatever this one's connection).
    watermark: search::Watermark,
    /// When the sink was made (µs since the epoch): a batch of records all
    /// logged before it may have been stored by an earlier process (see the
    /// crate documentation, "A batch in doubt that outlives its process").
    started: i64,
    /// The highest id stored before this sink's first batch, once read (on
    /// the first connection): the rows a look-up by content may match.
    id_mark: Option<i64>,
}

/// What lives on the connection's thread.
struct Conn {
    client: Client,
    copy: Statement,
    aggregates: aggregates::Statements,
    encoder: Encoder,
}

/// The server process serving a connection: pid and start time (as text).
type Backend = Option<(i32, String)>;

/// An open connection.
struct Open {
    link: Link<Conn>,
    backend: Backend,
}

/// A connection being opened on its thread.
struct Opening {
    link: Link<Conn>,
    opened: mpsc::Receiver<Result<Backend, Error>>,
    started: Instant,
}

impl Opening {
    /// Starts connecting (and checking the schema) on a thread of its own.
    fn start(config: &Options) -> Result<Opening, SinkError> {
        let config = config.clone();
        let (link, opened) =
            Link::spawn("log-panel-pg-sink", move || open(&config), |c: &Conn| c.client.is_closed())
                .map_err(|e| SinkError::unavailable(format!("cannot start the connection's thread: {e}")))?;
        Ok(Opening { link, opened, started: Instant::now() })
    }
}

/// The COMMIT gate of a batch on the connection's thread: the thread may
/// send the COMMIT only once it moved the gate from `OPEN` to `COMMITTING`;
/// a caller that gives the batch up moves it from `OPEN` to `ABANDONED`.
/// Whichever comes first decides whether the batch is in doubt.
const OPEN: u8 = 0;
const COMMITTING: u8 = 1;
const ABANDONED: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
struct InDoubt {
    batch_no: i64,
    batch: Fingerprint,
    /// Each record's [`record_key`], for [`Committed`].
    records: Vec<RecordKey>,
    sanitised: u64,
    backend: Option<(i32, String)>,
}

impl InDoubt {
    /// Batch `batch_no` of `records` (`sanitised` of them with a value
    /// sanitised), in doubt on the connection of `backend`.
    fn of(batch_no: i64, records: &[Record], sanitised: u64, backend: Option<(i32, String)>) -> Box<InDoubt> {
        Box::new(InDoubt {
            batch_no,
            batch: Fingerprint::of(records),
            records: records.iter().map(record_key).collect(),
            sanitised,
            backend,
        })
    }
}

/// What tells a record apart from another: its time (microseconds) and a
/// hash of its level, logger, message, call site and thread.
type RecordKey = (i64, u64);

fn record_key(r: &Record) -> RecordKey {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (r.level as u8, &*r.logger, &*r.message, r.file.as_deref(), r.line, &*r.thread).hash(&mut h);
    (r.timestamp.as_micros(), h.finish())
}

/// The records of a committed batch the writer will write again (from its
/// spool, in batches of its own), each skipped once. Bounded by one batch
/// (a newer doubt replaces it); a record outside the batch's time span is
/// passed without hashing, so live records cost one comparison.
#[derive(Debug, Default)]
struct Committed {
    keys: HashMap<RecordKey, u32>,
    span: (i64, i64),
}

impl Committed {
    fn remember(&mut self, keys: &[RecordKey]) {
        self.keys.clear();
        self.span = (i64::MAX, i64::MIN);
        for k in keys {
            *self.keys.entry(*k).or_default() += 1;
            self.span = (self.span.0.min(k.0), self.span.1.max(k.0));
        }
    }

    /// `records` less those already committed (each taken once), or `None`
    /// when none of them was.
    fn strip(&mut self, records: &[Record]) -> Option<Vec<Record>> {
        if self.keys.is_empty() {
            return None;
        }
        let (from, to) = self.span;
        let seen = |r: &Record| (from..=to).contains(&r.timestamp.as_micros());
        if !records.iter().any(seen) {
            return None;
        }
        let mut kept = Vec::with_capacity(records.len());
        for r in records {
            if !(seen(r) && self.take(record_key(r))) {
                kept.push(r.clone());
            }
        }
        (kept.len() < records.len()).then_some(kept)
    }

    /// Takes one record of key `key` off the committed ones: whether there was one.
    fn take(&mut self, key: RecordKey) -> bool {
        let Entry::Occupied(mut left) = self.keys.entry(key) else { return false };
        *left.get_mut() -= 1;
        if *left.get() == 0 {
            left.remove();
        }
        true
    }
}

/// Identifies a batch across retries without keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    len: usize,
    first: Option<RecordKey>,
    last: Option<RecordKey>,
}

impl Fingerprint {
    fn of(records: &[Record]) -> Fingerprint {
        Fingerprint { len: records.len(), first: records.first().map(record_key), last: records.last().map(record_key) }
    }
}

/// A random 63-bit id: std's `RandomState` is seeded from the OS per process;
/// the pid and the time are mixed in as well.
fn random_writer_id() -> i64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    h.write_u128(now);
    (h.finish() >> 1) as i64
}

/// A handle on a sink's sanitised-records counter, readable from any thread
/// while the sink itself lives on the writer thread.
#[derive(Debug, Clone, Default)]
pub struct SanitisedCounter(Arc<AtomicU64>);

impl SanitisedCounter {
    /// Records stored so far with at least one value sanitised.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for PgSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSink")
            .field("url", &self.config.redacted())
            .field("connected", &self.conn.is_some())
            .field("sanitised", &self.sanitised())
            .finish_non_exhaustive()
    }
}

impl PgSink {
    /// Parses `url`, connects, and creates or migrates the schema.
    pub fn connect(url: &str) -> Result<PgSink, Error> {
        PgSink::new(Options::parse(url)?)
    }

    /// Connects with a parsed configuration and creates or migrates the schema.
    pub fn new(config: Options) -> Result<PgSink, Error> {
        let mut sink = PgSink::disconnected(config);
        let config = sink.config.clone();
        let (link, opened) =
            Link::spawn("log-panel-pg-sink", move || open(&config), |c: &Conn| c.client.is_closed()).map_err(|e| {
                Error::Connect { url: sink.config.redacted().to_owned(), reason: format!("cannot start a thread: {e}") }
            })?;
        let backend = opened.recv().map_err(|_| Error::Connect {
            url: sink.config.redacted().to_owned(),
            reason: "the connecting thread ended without an answer".to_owned(),
        })??;
        sink.conn = Some(Open { link, backend });
        Ok(sink)
    }

    /// Parses `url` and returns a sink that is not connected yet: it connects
    /// (and creates or migrates the schema) on its first write, so an
    /// application can start while its log database is down. Until then, and
    /// after every failed connection, `write` returns
    /// [`SinkErrorKind::Unavailable`] and the writer keeps the records.
    pub fn connect_lazy(url: &str) -> Result<PgSink, Error> {
        Ok(PgSink::disconnected(Options::parse(url)?))
    }

    fn disconnected(config: Options) -> PgSink {
        PgSink {
            config,
            conn: None,
            opening: None,
            sanitised: Arc::default(),
            writer_id: random_writer_id(),
            batch_no: 0,
            in_doubt: None,
            committed: Committed::default(),
            reconnects: 0,
            silent: false,
            retention: None,
            watermark: search::Watermark::default(),
            started: Timestamp::now().as_micros(),
            id_mark: None,
        }
    }

    /// Whether the sink holds a connection now.
    pub fn is_connected(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.link.is_closed())
    }

    /// The configuration (its `Display` is the redacted URL).
    pub fn config(&self) -> &Options {
        &self.config
    }

    /// Keeps records for `retention` (none: forever). While the writer is idle,
    /// [`Sink::idle`] drops the day partitions entirely older, one a step,
    /// and deletes the older records of the partial day [`RETENTION_BATCH`] at
    /// a time, fixing the aggregates in the same transaction.
    #[must_use]
    pub fn with_retention(mut self, retention: Option<std::time::Duration>) -> PgSink {
        self.retention = retention;
        self
    }

    /// One idle step: index the next messages for search, then delete one
    /// batch of expired records. Returns whether either has more to do, and
    /// why the search index could not move if its id sequence stops it
    /// (retention still runs then).
    fn upkeep(&mut self) -> Result<(bool, Option<search::Stop>), SinkError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok((false, None)); // the next write reconnects; upkeep waits for it
        };
        let mut watermark = std::mem::take(&mut self.watermark);
        let retention = self.retention;
        let step = conn.link.run(self.config.write_timeout(), move |c, _| {
            let step = upkeep_step(&mut c.client, &mut watermark, retention);
            (step, watermark, c.client.is_closed())
        });
        let (step, watermark, closed) = match step {
            Ok(answer) => answer,
            Err(stall) => {
                // The watermark stays with the given-up step: start afresh.
                self.conn = None;
                self.silent = matches!(stall, Stall::Silent(_));
                return Err(error::sink_error(SinkErrorKind::Unavailable, "the idle step", stall.to_string()));
            }
        };
        self.watermark = watermark;
        step.map_err(|(e, what)| {
            let kind = classify(&e);
            if kind == SinkErrorKind::Unavailable || closed {
                self.conn = None;
            }
            error::sink_error(kind, what, self.config.scrub(&error_chain(&e)))
        })
    }

    /// Records stored so far with at least one value sanitised (NUL characters
    /// replaced by U+FFFD, or a timestamp clamped). Counted once per record,
    /// when its batch commits.
    pub fn sanitised(&self) -> u64 {
        self.sanitised.load(Ordering::Relaxed)
    }

    /// A handle on the [`sanitised`](PgSink::sanitised) counter for other threads.
    pub fn sanitised_counter(&self) -> SanitisedCounter {
        SanitisedCounter(Arc::clone(&self.sanitised))
    }

    /// How many times the sink has reconnected after losing its connection.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// Recomputes the per-logger aggregate tables from `log_records` on a
    /// connection of its own (after deleting old rows, or restoring a backup).
    /// Safe while writers are storing batches: see [`aggregates::rebuild`].
    pub fn rebuild_aggregates(&self) -> Result<(), Error> {
        let (mut conn, _) = open(&self.config)?;
        aggregates::rebuild(&mut conn.client).map_err(|e| Error::Rebuild {
            url: self.config.redacted().to_owned(),
            reason: self.config.scrub(&error_chain(&e)),
        })
    }

    /// Reconnects when needed, then settles a batch left in doubt. Returns
    /// `true` when `records` is that batch and it is already committed.
    /// Every failure here is `Unavailable`: none is the batch's fault.
    fn ready(&mut self, records: &[Record]) -> Result<bool, SinkError> {
        if self.conn.as_ref().is_some_and(|c| c.link.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let conn = self.connected()?;
            if self.batch_no > 0 {
                self.reconnects += 1;
            }
            self.conn = Some(conn);
        }
        if self.id_mark.is_none() {
            let wait = self.config.write_timeout();
            let mark = self.check("waiting for earlier writers' transactions", move |client, alive| {
                earlier_rows_mark(client, alive, wait)
            })?;
            self.id_mark = Some(mark);
        }
        let Some(doubt) = self.in_doubt.clone() else {
            return Ok(false);
        };
        let writer_id = self.writer_id;
        let asked = doubt.clone();
        let committed = self.check("checking whether the previous batch committed", move |client, _| {
            settle(client, writer_id, &asked)
        })?;
        self.in_doubt = None;
        let same = doubt.batch == Fingerprint::of(records);
        if committed && doubt.sanitised > 0 {
            self.sanitised.fetch_add(doubt.sanitised, Ordering::Relaxed);
        }
        if committed && !same {
            // The writer retries a failed batch only so long before it spools
            // it: the spool's replay brings these records again.
            self.committed.remember(&doubt.records);
        }
        Ok(committed && same)
    }

    /// Runs `job` on the open connection, a check before a batch. Every
    /// failure is `Unavailable`: none is the batch's fault, and the writer
    /// keeps the batch (retries it, then spools it).
    fn check<R: Send + 'static>(
        &mut self,
        what: &'static str,
        job: impl FnOnce(&mut Client, &Alive) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, SinkError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(SinkError::unavailable("not connected"));
        };
        let answer = conn.link.run(self.config.write_timeout(), move |c, alive| {
            let answer = job(&mut c.client, alive);
            if answer.is_err() && !c.client.is_closed() {
                let _ = c.client.batch_execute("ROLLBACK");
            }
            let give_up = c.client.is_closed() || answer.as_ref().is_err_and(|e| e.code().is_none());
            (answer, give_up)
        });
        match answer {
            Ok((Ok(answer), _)) => Ok(answer),
            Ok((Err(e), give_up)) => {
                if give_up {
                    self.conn = None;
                }
                let detail = self.config.scrub(&error_chain(&e));
                Err(error::sink_error(SinkErrorKind::Unavailable, what, detail))
            }
            Err(stall) => {
                self.conn = None;
                self.silent = matches!(stall, Stall::Silent(_));
                Err(error::sink_error(SinkErrorKind::Unavailable, what, stall.to_string()))
            }
        }
    }

    /// The records of `batch`, all logged before this sink started, that no
    /// row stored before its first batch holds (see the crate
    /// documentation): its origin's rows in its time span, matched one for one.
    fn unstored(&mut self, batch: &Batch<'_>) -> Result<Vec<Record>, SinkError> {
        let Some(mark) = self.id_mark else {
            return Err(SinkError::unavailable("not connected"));
        };
        let (origin, records) = (batch.origin.clone(), batch.records.to_vec());
        self.check("looking up a batch logged before this writer started", move |client, alive| {
            stored_before(client, alive, &origin, &records, mark)
        })
    }

    /// The connection of a new attempt, or of the one under way. A writer
    /// call waits for an attempt at most the write timeout from its start,
    /// [`SILENT_CONNECT_WAIT`] once the server has gone silent
    /// (a frozen server completes the TCP connect and answers nothing, and
    /// the connect timeout, 10 s by default, is longer than callers may
    /// wait on a full queue); later calls only look, until the attempt
    /// answers or passes the connect timeout and the write timeout together.
    fn connected(&mut self) -> Result<Open, SinkError> {
        let opening = match self.opening.take() {
            Some(opening) => opening,
            None => Opening::start(&self.config)?,
        };
        let wait = if self.silent { SILENT_CONNECT_WAIT } else { self.config.write_timeout() };
        let left = (opening.started + wait).saturating_duration_since(Instant::now());
        match opening.opened.recv_timeout(left) {
            Ok(Ok(backend)) => {
                self.silent = false;
                Ok(Open { link: opening.link, backend })
            }
            Ok(Err(e)) => {
                let kind = if e.is_transient() { SinkErrorKind::Unavailable } else { SinkErrorKind::Other };
                Err(SinkError::new(kind, e.to_string()))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.silent = true;
                let waited = opening.started.elapsed();
                let connect = self.config.driver_config().get_connect_timeout().copied().unwrap_or_default();
                if waited < connect + self.config.write_timeout() {
                    self.opening = Some(opening);
                }
                Err(SinkError::unavailable(format!(
                    "cannot connect to PostgreSQL at `{}`: the server has not completed the connection in {} ms",
                    self.config.redacted(),
                    waited.as_millis()
                )))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(SinkError::unavailable("the connecting thread ended without an answer"))
            }
        }
    }

    /// BEGIN (+ writer row), COPY, COMMIT, on the connection's thread, with
    /// no more than the write timeout between two signs of life from the
    /// server. On failure, says whether the COMMIT was in flight: given up
    /// before the thread sent it, the batch is surely rolled back (the COMMIT
    /// gate keeps the thread from sending it later, and the connection ends
    /// with the thread).
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<u64, WriteFailure> {
        self.batch_no += 1;
        let batch_no = self.batch_no;
        let Some(conn) = self.conn.as_mut() else {
            return Err(WriteFailure::before_commit(Failure::Lost("not connected".to_owned()), "writing the batch"));
        };
        let backend = conn.backend.clone();
        let gate = Arc::new(AtomicU8::new(OPEN));
        let job = Job {
            origin: batch.origin.clone(),
            records: batch.records.to_vec(),
            writer_id: self.writer_id,
            batch_no,
            gate: Arc::clone(&gate),
        };
        match conn.link.run(self.config.write_timeout(), move |c, alive| job.write(c, alive)) {
            Ok((Ok(dirty), _)) => Ok(dirty),
            Ok((Err(mut failure), closed)) => {
                if closed {
                    self.conn = None;
                }
                if let Some(doubt) = &mut failure.in_doubt {
                    doubt.backend = backend;
                }
                Err(failure)
            }
            Err(stall) => {
                self.silent = matches!(stall, Stall::Silent(_));
                // Whether the thread got to send the COMMIT before this gave up.
                let in_flight = gate.compare_exchange(OPEN, ABANDONED, Ordering::SeqCst, Ordering::SeqCst).is_err();
                self.conn = None;
                let in_doubt = in_flight.then(|| InDoubt::of(batch_no, batch.records, dirty_of(batch), backend));
                let what = if in_flight { "committing the batch" } else { "writing the batch" };
                Err(WriteFailure { failure: Failure::Lost(stall.to_string()), what, in_doubt })
            }
        }
    }
}

/// Records of `batch` the COPY stores with a value sanitised (for a batch
/// in doubt whose thread was given up: counted if it turns out committed).
fn dirty_of(batch: &Batch<'_>) -> u64 {
    let mut encoder = Encoder::new();
    batch.records.iter().filter(|r| encoder.record(batch.origin, r)).count() as u64
}

/// Connects, checks the encoding, migrates (and partitions by day when
/// the URL says `partition=day`), and prepares the COPY statement.
fn open(config: &Options) -> Result<(Conn, Backend), Error> {
    let url = || config.redacted().to_owned();
    let mut client = config.connect().map_err(|reason| Error::Connect { url: url(), reason })?;
    let migrate_err = |e: &postgres::Error| Error::Migrate { url: url(), reason: config.scrub(&error_chain(e)) };
    let row = client
        .query_one(
            "SELECT current_setting('server_encoding'), pg_backend_pid(), \
             (SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid())",
            &[],
        )
        .map_err(|e| migrate_err(&e))?;
    let encoding: String = row.try_get(0).map_err(|e| migrate_err(&e))?;
    let pid: Option<i32> = row.try_get(1).map_err(|e| migrate_err(&e))?;
    let start: Option<String> = row.try_get(2).map_err(|e| migrate_err(&e))?;
    if !encoding.eq_ignore_ascii_case("UTF8") {
        return Err(Error::Encoding { url: url(), encoding });
    }
    schema::migrate(&mut client).map_err(|e| match e {
        schema::MigrateError::Db(e) => migrate_err(&e),
        schema::MigrateError::TooNew(found) => {
            Error::SchemaTooNew { url: url(), found, supported: schema::latest_version() }
        }
        schema::MigrateError::MissingExtension(name) => Error::MissingExtension { url: url(), name: name.to_owned() },
    })?;
    if config.partition_by_day() {
        schema::partition_by_day(&mut client).map_err(|e| migrate_err(&e))?;
    }
    let copy = client.prepare(COPY_SQL).map_err(|e| migrate_err(&e))?;
    let aggregates = aggregates::Statements::prepare(&mut client).map_err(|e| migrate_err(&e))?;
    Ok((Conn { client, copy, aggregates, encoder: Encoder::new() }, pid.zip(start)))
}

/// One idle step on `client`: index the next messages for search, then
/// delete one batch of records older than `retention`.
fn upkeep_step(
    client: &mut Client,
    watermark: &mut search::Watermark,
    retention: Option<Duration>,
) -> Result<(bool, Option<search::Stop>), (postgres::Error, &'static str)> {
    // Skipped (`None`) while `log_records` is held exclusively, and no
    // more now while the newest rows wait for other sessions' transactions:
    // the writer looks again soon (`Sink::idle_soon`).
    let step = search::index_step(client, watermark, search::INDEX_STEP_ROWS).map_err(|e| (e, "indexing messages"))?;
    let (more_index, stop) = step.map_or((false, None), |step| (step.more, step.stop));
    let mut more_prune = false;
    if let Some(keep) = retention {
        let cutoff = std::time::SystemTime::now().checked_sub(keep).unwrap_or(std::time::UNIX_EPOCH);
        more_prune =
            retention::prune_step(client, cutoff, RETENTION_BATCH).map_err(|e| (e, "deleting expired records"))?.more;
    }
    Ok((more_index || more_prune, stop))
}

/// A batch to write on the connection's thread (its records copied there:
/// a batch given up may still be in the thread's hands when the server wakes).
struct Job {
    origin: Origin,
    records: Vec<Record>,
    writer_id: i64,
    batch_no: i64,
    gate: Arc<AtomicU8>,
}

impl Job {
    /// BEGIN (+ writer row), COPY, COMMIT; a sign of life after each step.
    /// Also says whether the connection is unusable now.
    fn write(self, conn: &mut Conn, alive: &Alive) -> (Result<u64, WriteFailure>, bool) {
        let written = self.write_on(conn, alive);
        let unusable = conn.client.is_closed() || (written.is_err() && conn.client.batch_execute("ROLLBACK").is_err());
        (written, unusable)
    }

    fn write_on(self, conn: &mut Conn, alive: &Alive) -> Result<u64, WriteFailure> {
        let batch = Batch::new(&self.origin, &self.records);
        let batch_no = self.batch_no;
        // The batch's day partitions are made sure of in its own transaction,
        // so a batch never fails for want of one; the last id drawn before
        // its COPY bounds the ids the days' ranges note after it.
        let begin = format!(
            "BEGIN; INSERT INTO log_panel_writers (writer_id, last_batch) VALUES ({}, {batch_no}) \
             ON CONFLICT (writer_id) DO UPDATE SET last_batch = EXCLUDED.last_batch, updated_at = now(); {}; \
             SELECT log_panel_ids_before()",
            self.writer_id,
            schema::ensure_days_sql(batch.records)
        );
        let mut dirty = 0u64;
        let copied = conn.client.simple_query(&begin).map_err(|e| (Failure::Pg(e), "starting a transaction")).and_then(
            |begun| {
                alive.touch();
                // The last statement's one row: whether log_records is partitioned.
                let partitioned = begun.iter().rev().find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0),
                    _ => None,
                }) == Some("t");
                let mut writer = conn.client.copy_in(&conn.copy).map_err(|e| (Failure::Pg(e), "starting COPY"))?;
                let enc = &mut conn.encoder;
                enc.clear();
                enc.header();
                for r in batch.records {
                    if enc.record(batch.origin, r) {
                        dirty += 1;
                    }
                    if enc.len() >= CHUNK {
                        writer.write_all(enc.bytes()).map_err(|e| (from_io(e), "sending rows"))?;
                        enc.clear();
                        alive.touch();
                    }
                }
                enc.trailer();
                let sent = writer.write_all(enc.bytes()).map_err(|e| (from_io(e), "sending rows"));
                enc.clear();
                sent?;
                // Folded here, while the server still parses the rows just sent: after
                // `finish` the server would sit idle while it runs.
                let agg = aggregates::of(batch.records);
                writer.finish().map_err(|e| (Failure::Pg(e), "finishing COPY"))?;
                alive.touch();
                // Same transaction: the per-logger counts commit (or roll back) with the rows.
                aggregates::upsert(&mut conn.client, &conn.aggregates, &agg)
                    .map_err(|e| (Failure::Pg(e), "updating the aggregates"))?;
                alive.touch();
                if partitioned {
                    conn.client
                        .batch_execute(&schema::note_ids_sql(batch.records))
                        .map_err(|e| (Failure::Pg(e), "noting the days' id ranges"))?;
                    alive.touch();
                }
                Ok(())
            },
        );
        if let Err((failure, what)) = copied {
            return Err(WriteFailure::before_commit(failure, what));
        }
        if self.gate.compare_exchange(OPEN, COMMITTING, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            // Given up by the sink while the server was silent: no COMMIT
            // now, ever; the connection ends with this thread, rolling back.
            return Err(WriteFailure::before_commit(Failure::Lost("given up".to_owned()), "writing the batch"));
        }
        // The notification goes out when, and only if, the batch commits (live tails wake on it).
        let commit =
            if batch.records.is_empty() { "COMMIT".to_owned() } else { format!("{}; COMMIT", listen::NOTIFY_SQL) };
        if let Err(e) = conn.client.batch_execute(&commit) {
            // Only an ERROR answering the COMMIT rolled the transaction back.
            // No answer (the connection broke with the COMMIT in flight) or a
            // FATAL (57P01 when a fast shutdown ends the session) may come
            // after the transaction committed.
            let in_doubt = (!rolled_back(&e)).then(|| InDoubt::of(batch_no, batch.records, dirty, None));
            return Err(WriteFailure { failure: Failure::Pg(e), what: "committing the batch", in_doubt });
        }
        Ok(dirty)
    }
}

/// Whether the server answered with an ERROR, which ends the transaction
/// but not the session: a failed COMMIT then rolled back.
fn rolled_back(e: &postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| match d.parsed_severity() {
        Some(severity) => matches!(severity, Severity::Error),
        None => d.severity() == "ERROR",
    })
}

/// Whether the writer row says batch `doubt.batch_no` committed. First ends
/// the old connection's backend if it still runs (same pid and start time),
/// then reads the row `FOR UPDATE`, which waits (up to a lock timeout) for any
/// transaction still holding it.
fn settle(client: &mut Client, writer_id: i64, doubt: &InDoubt) -> Result<bool, postgres::Error> {
    if let Some((pid, start)) = &doubt.backend {
        client.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_start::text = $2",
            &[pid, start],
        )?;
    }
    let messages = client.simple_query(&format!(
        "BEGIN; SET LOCAL lock_timeout = '{IN_DOUBT_LOCK_TIMEOUT}'; \
         SELECT last_batch FROM log_panel_writers WHERE writer_id = {writer_id} FOR UPDATE; COMMIT"
    ))?;
    let last = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).and_then(|s| s.parse::<i64>().ok()),
        _ => None,
    });
    Ok(last == Some(doubt.batch_no))
}

/// The highest id stored once the writers' transactions begun before this
/// call have ended ([`EARLIER_WRITERS_SQL`]; waited for at most `wait`):
/// the rows at or below it were stored before this sink's first batch,
/// and every row this sink stores has a higher id (drawn later).
fn earlier_rows_mark(client: &mut Client, alive: &Alive, wait: Duration) -> Result<i64, postgres::Error> {
    let began: SystemTime = client.query_one("SELECT now()", &[])?.try_get(0)?;
    let waiting = Instant::now();
    loop {
        let running: i64 = client.query_one(EARLIER_WRITERS_SQL, &[&began])?.try_get(0)?;
        alive.touch();
        if running == 0 || waiting.elapsed() >= wait {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    client.query_one("SELECT coalesce(max(id), 0) FROM log_records", &[])?.try_get(0)
}

/// A record's time as `log_records` keeps it (clamped as the COPY clamps it).
fn stored_micros(r: &Record) -> i64 {
    r.timestamp.as_micros().max(PG_MIN_UNIX_MICROS)
}

/// The records no row of `origin` at or below id `mark` in their time span
/// holds, matched one for one by time, logger, thread and message.
fn stored_before(
    client: &mut Client,
    alive: &Alive,
    origin: &Origin,
    records: &[Record],
    mark: i64,
) -> Result<Vec<Record>, postgres::Error> {
    let (lo, hi) = records.iter().map(stored_micros).fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let (from, to) = (system_time(Timestamp(lo)), system_time(Timestamp(hi)));
    let (app, host) = (without_nul(&origin.app), without_nul(&origin.host));
    let (app, host, pid) = (&*app, &*host, i32::try_from(origin.pid).unwrap_or(i32::MAX));
    let mut loggers: Vec<String> = records.iter().map(|r| without_nul(&r.logger).into_owned()).collect();
    loggers.sort_unstable();
    loggers.dedup();
    let params: [&(dyn ToSql + Sync); 7] = [&from, &to, &mark, &app, &host, &pid, &loggers];
    let mut unstored = Unstored::of(records, stored_micros);
    let mut rows = client.query_raw(STORED_BEFORE_SQL, params)?;
    let mut read = 0usize;
    while let Some(row) = rows.next()? {
        let ts: SystemTime = row.try_get(0)?;
        unstored.stored(timestamp(ts).as_micros(), row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        read += 1;
        if read.is_multiple_of(LOOKUP_ALIVE_ROWS) {
            alive.touch();
        }
    }
    Ok(unstored.rest(records))
}

/// A failed `write_batch`.
struct WriteFailure {
    failure: Failure,
    what: &'static str,
    in_doubt: Option<Box<InDoubt>>,
}

impl WriteFailure {
    fn before_commit(failure: Failure, what: &'static str) -> WriteFailure {
        WriteFailure { failure, what, in_doubt: None }
    }
}

/// Why writing a batch failed.
enum Failure {
    /// The driver or the server reported an error.
    Pg(postgres::Error),
    /// The connection is unusable (an I/O error outside the driver's own errors).
    Lost(String),
}

impl Failure {
    fn kind(&self) -> SinkErrorKind {
        match self {
            Failure::Pg(e) => classify(e),
            Failure::Lost(_) => SinkErrorKind::Unavailable,
        }
    }
}

/// Gets the driver error back out of the `io::Error` that `CopyInWriter`'s
/// `Write` impl wraps it in.
fn from_io(e: std::io::Error) -> Failure {
    let shown = e.to_string();
    match e.into_inner().map(|inner| inner.downcast::<postgres::Error>()) {
        Some(Ok(pg)) => Failure::Pg(*pg),
        _ => Failure::Lost(shown),
    }
}

impl Sink for PgSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if batch.records.is_empty() {
            return Ok(());
        }
        if self.ready(batch.records)? {
            return Ok(()); // stored by the transaction whose COMMIT answer was lost
        }
        let stripped = self.committed.strip(batch.records);
        let batch = match &stripped {
            Some(rest) if rest.is_empty() => return Ok(()),
            Some(rest) => &Batch::new(batch.origin, rest),
            None => batch,
        };
        let started = self.started;
        let before_start = batch.records.iter().all(|r| r.timestamp.as_micros() < started);
        let looked_up = if before_start { Some(self.unstored(batch)?) } else { None };
        let batch = match &looked_up {
            Some(rest) if rest.is_empty() => return Ok(()),
            Some(rest) if rest.len() < batch.records.len() => &Batch::new(batch.origin, rest),
            _ => batch,
        };
        match self.write_batch(batch) {
            Ok(dirty) => {
                if dirty > 0 {
                    self.sanitised.fetch_add(dirty, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(WriteFailure { failure, what, in_doubt }) => {
                if let Some(doubt) = in_doubt {
                    self.in_doubt = Some(*doubt);
                }
                let kind = failure.kind();
                let detail = match &failure {
                    Failure::Pg(e) => self.config.scrub(&error_chain(e)),
                    Failure::Lost(msg) => self.config.scrub(msg),
                };
                // After a connection-level failure, start afresh on the next call.
                if kind == SinkErrorKind::Unavailable || self.conn.as_ref().is_some_and(|c| c.link.is_closed()) {
                    self.conn = None;
                }
                Err(error::sink_error(kind, what, detail))
            }
        }
    }

    fn describe(&self) -> String {
        format!("PostgreSQL {}", self.config.redacted())
    }

    /// Records stored with a value sanitised (see [`PgSink::sanitised`]).
    fn sanitised_count(&self) -> u64 {
        self.sanitised()
    }

    /// While a bound of the search index waits for other sessions'
    /// transactions (another process's batch in flight, which no batch of
    /// this writer ends): 20 ms, doubling while it still waits, at most 1 s.
    fn idle_soon(&self) -> Option<std::time::Duration> {
        self.watermark.recheck_in()
    }

    /// Brings the message search index up to date from its mark, and deletes
    /// expired records (see [`PgSink::with_retention`]), a small step at a time.
    /// When the id sequence keeps the index from moving (it caches ids),
    /// the step fails with the reason and the fix (`search::Stop`): the
    /// writer shows it as its last error and tries again within a second.
    fn idle(&mut self) -> Result<bool, SinkError> {
        match self.upkeep() {
            Ok((more, None)) => Ok(more),
            Ok((_, Some(stop))) => Err(error::sink_error(SinkErrorKind::Other, "indexing messages", stop.to_string())),
            Err(e) => Err(e),
        }
    }
}
