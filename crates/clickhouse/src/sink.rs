//! [`ChSink`]: each batch one `INSERT … FORMAT RowBinary` over HTTP into
//! one shard's `log_records_local` per UTC day it spans, exactly once also
//! when an insert's answer is lost.
//!
//! # Which shard
//!
//! A batch's shard is `hash(writer, batch number) mod shards`: fixed by the
//! batch, so its retries go where it may already be. Only when a shard
//! refuses the connection outright (nothing was sent, so nothing can be
//! stored there) does a batch that was never in doubt move on to the next
//! shard in URL order: a down shard does not hold back the others. With
//! every shard down the write is `Unavailable` and the writer retries, then
//! spools.
//!
//! # Exactly once
//!
//! An insert of one day-partition under ~1 M rows becomes one part: all or
//! nothing. Each insert carries a `query_id` and its rows carry the writer id
//! and the batch number. When an insert fails in a way that leaves it in
//! doubt (no answer, a timeout, a broken connection, a server error), the
//! sink remembers the batch (by its length and first and last records), and
//! when the writer hands the same batch again it first waits until none of
//! the batch's `query_id`s is in that shard's `system.processes` (a server
//! can finish an insert after its client gave up), then looks each part up
//! by its first row's `(logger, ts)` — the table's sort key, so a lookup
//! reads one granule — and its `(id, writer, batch)`, and sends only the
//! parts not stored, with the same ids, to the same shard.
//!
//! A spool replays records in batches of its own size, not the ones first
//! sent, so two more kinds of batch are looked up by their content instead:
//! a batch whose records were all logged before this sink started (a spool
//! left by an earlier process, replayed after a restart), and a batch with
//! a record of a batch in doubt's origin (app, host, pid) within that
//! batch's time span (this process's own batch in doubt, spooled after its
//! retries and replayed across other boundaries). Once every insert that
//! began before the lookup — the ones in doubt among them — has left
//! `system.processes` on every shard, each shard lists the stored rows of
//! the batch's origin in the batch's time span, and only the records not
//! among them are sent, matched one for one by logger, time, thread and
//! message (two identical records need two stored rows). A batch in doubt
//! is forgotten once settled: retried as it was, or stored inside a batch
//! looked up by content that holds it whole (its first record, and its last
//! one `len - 1` records further on).
//!
//! The memory is bounded: up to 64 batches in doubt one by one (their
//! fingerprint, origin and time span). Past that the oldest is forgotten
//! but for its time span, merged into one span of every forgotten batch, of
//! any origin; a batch with a record in it is looked up by content too. So
//! past the bound the cost is more lookups (every replayed batch of that
//! time), never a record stored twice.
//!
//! The windows that remain: an insert whose request has reached the server
//! but not yet started (it is not yet in `system.processes`, e.g. still in
//! a proxy's or the kernel's buffers) when the lookup runs, and that then
//! commits: its part is stored twice. The retry of a batch in doubt narrows
//! it: its `query_id`s must be absent from `system.processes` twice, a
//! second apart, so a request that waited in a frozen shard's kernel and
//! is taken in after the thaw, together with the lookup's own, has started
//! (or is stored) by the second look; one that waits longer still is not
//! covered. A batch in doubt of another process
//! that is still running when this one starts, replayed from a spool shared
//! with it after it died: its records are newer than this sink, and its
//! memory of the doubt died with it. Where ZooKeeper/Keeper replication is
//! configured (`ReplicatedMergeTree`), the server also drops a
//! byte-identical retried insert, which closes the first window too.
//!
//! # Record ids
//!
//! The read trait wants `i64` ids; ClickHouse has no sequence. The writer
//! assigns them: `id = unit << 16 | tag`, where `tag` is 16 bits held by
//! this sink alone among the writers running at once (claimed on shard 0,
//! see [`crate::writer_tag`]) and `unit` a per-sink counter that never runs
//! behind the clock — each batch's first unit is `max(seconds since
//! 2024-01-01 << 15, last unit + 1)`, so up to 32 768 records a second per
//! writer keep the ids in step with time (a faster writer runs ahead by what
//! it wrote over) and ids sort roughly by when they were written across
//! writers, which a live tail needs. A retried batch keeps the tag of its
//! first attempt, so its ids do not change; up to 65 536 writers can hold a
//! tag at once. The windows that remain are in [`crate::writer_tag`];
//! ids are not in commit order ([`ids_in_commit_order`] stays `false`).
//!
//! [`ids_in_commit_order`]: https://docs.rs/log-panel-query

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log_panel_core::stored::{content_key, fnv, Unstored};
use log_panel_core::{without_nul, Batch, Origin, Record, Sink, SinkError, SinkErrorKind};

use crate::error::{classify, RequestError};
use crate::http::{quote, Http, Resend};
use crate::rowbinary::{day_of, seconds, Encoder, Insert};
use crate::schema::{self, MigrateError, INSERT_COLUMNS, RECORDS_LOCAL};
use crate::writer_tag::{self, Held, HEARTBEAT};
use crate::{Error, Options};

/// The most rows one insert sends: below the server's `max_insert_block_size`
/// (1 048 576), so each insert stays one part.
pub const MAX_INSERT_ROWS: usize = 500_000;
/// The most batches in doubt the sink remembers one by one (a writer that
/// spooled several brings them back later); past it, see [`Doubts`].
const IN_DOUBT_KEPT: usize = 64;
/// How long after a failed claim of the writer tag the sink tries again.
const CLAIM_RETRY: Duration = Duration::from_secs(60);
/// How long the server may take from taking in an insert's request to
/// listing it in `system.processes` (see [`ChSink::settle`]).
const STARTING: Duration = Duration::from_secs(1);
/// 2024-01-01T00:00:00Z, the epoch of the id units.
const ID_EPOCH_SECS: u64 = 1_704_067_200;

/// Stores batches in ClickHouse. See the [module documentation](self).
pub struct ChSink {
    http: Http,
    encoder: Encoder,
    sanitised: Arc<AtomicU64>,
    writer: u64,
    tag: u16,
    /// The claim on `tag` (see [`crate::writer_tag`]), once one succeeded.
    held: Option<Held>,
    /// When the tag was last claimed or a claim last tried.
    claimed_at: Option<Instant>,
    next_unit: u64,
    batch_no: u64,
    migrated: Vec<bool>,
    in_doubt: Doubts,
    /// When the sink was made (µs since the epoch): a batch of records all
    /// logged before it may have been stored by an earlier process.
    started: i64,
}

/// A batch whose insert may or may not be stored.
#[derive(Debug, Clone)]
struct InDoubt {
    batch: u64,
    /// The tag of the batch's ids (the sink may have moved to another since).
    tag: u16,
    shard: usize,
    first_unit: u64,
    fingerprint: Fingerprint,
    /// [`origin_key`] of the batch's origin.
    origin: u64,
    /// The earliest and latest time of the batch's records (µs).
    span: (i64, i64),
    query_ids: Vec<String>,
    attempt: u32,
    dirty: u64,
}

/// Identifies a batch across retries without keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    len: usize,
    first: Option<(i64, u64)>,
    last: Option<(i64, u64)>,
}

impl Fingerprint {
    fn of(records: &[Record]) -> Fingerprint {
        Fingerprint {
            len: records.len(),
            first: records.first().map(Fingerprint::key),
            last: records.last().map(Fingerprint::key),
        }
    }

    /// What the fingerprint knows of one record: its time and message.
    fn key(r: &Record) -> (i64, u64) {
        (r.timestamp.as_micros(), fnv(r.message.as_bytes()))
    }

    /// Whether `records` hold the fingerprinted batch as one run: its first
    /// record, and its last `len - 1` records further on. The writer hands
    /// a batch's records on in order, and a spool keeps that order, so a
    /// batch replayed in other batches is such a run of one of them.
    fn within(&self, records: &[Record]) -> bool {
        let Some(first) = self.first else { return false };
        records.iter().enumerate().any(|(i, r)| {
            Fingerprint::key(r) == first && records.get(i + self.len - 1).map(Fingerprint::key) == self.last
        })
    }
}

/// The batches in doubt: up to [`IN_DOUBT_KEPT`] one by one, and past that
/// the time span of those forgotten, so memory stays bounded and a batch
/// with a record in that span is still looked up by content.
#[derive(Debug, Default)]
struct Doubts {
    kept: Vec<InDoubt>,
    /// The earliest and latest time of the records of the batches
    /// forgotten past the bound, of any origin.
    forgotten: Option<(i64, i64)>,
}

impl Doubts {
    fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether `fingerprint` is a batch in doubt (the writer retrying it).
    fn knows(&self, fingerprint: &Fingerprint) -> bool {
        self.kept.iter().any(|d| &d.fingerprint == fingerprint)
    }

    /// Takes out the batch in doubt of `fingerprint`, to settle it.
    fn take(&mut self, fingerprint: &Fingerprint) -> Option<InDoubt> {
        let i = self.kept.iter().position(|d| &d.fingerprint == fingerprint)?;
        Some(self.kept.remove(i))
    }

    /// Remembers a batch in doubt; past the bound the oldest is forgotten,
    /// its time span kept.
    fn keep(&mut self, doubt: InDoubt) {
        if self.kept.len() >= IN_DOUBT_KEPT {
            let (lo, hi) = self.kept.remove(0).span;
            self.forgotten = Some(self.forgotten.map_or((lo, hi), |(l, h)| (l.min(lo), h.max(hi))));
        }
        self.kept.push(doubt);
    }

    /// Whether a record of `batch` may belong to a batch in doubt: it has a
    /// batch in doubt's origin and falls in its time span, or falls in the
    /// span of those forgotten.
    fn overlap(&self, batch: &Batch<'_>) -> bool {
        let within = |(lo, hi): (i64, i64)| batch.records.iter().any(|r| (lo..=hi).contains(&r.timestamp.as_micros()));
        if self.forgotten.is_some_and(within) {
            return true;
        }
        if self.kept.is_empty() {
            return false;
        }
        let origin = origin_key(batch.origin);
        self.kept.iter().any(|d| d.origin == origin && within(d.span))
    }

    /// Forgets the batches in doubt that `batch`, looked up by content and
    /// now stored, holds whole. Not before it is stored: part of it may be,
    /// so until then a retry of `batch` must be looked up again.
    fn settled_by(&mut self, batch: &Batch<'_>) {
        let origin = origin_key(batch.origin);
        self.kept.retain(|d| !(d.origin == origin && d.fingerprint.within(batch.records)));
    }
}

fn random_tag() -> u16 {
    (random_u64() & 0xffff) as u16
}

/// A number of this process and moment: writer ids, and the statement ids of [`Http`].
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// The id of unit `unit` under `tag`.
fn id(tag: u16, unit: u64) -> i64 {
    // A unit stays below 2^47 until the year 2160, so the id is positive.
    ((unit << 16) | u64::from(tag)) as i64
}

/// ClickHouse's code for "Table … doesn't exist".
const UNKNOWN_TABLE: u32 = 60;

/// The bytes of ClickHouse's `hex()` of a string (`None`: not hex).
fn unhex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [a, b] => Some((digit(*a)? * 16 + digit(*b)?) as u8),
            _ => None,
        })
        .collect()
}

/// Tells origins apart in [`Doubts`] (a collision costs a lookup, never a record).
fn origin_key(origin: &Origin) -> u64 {
    let pid = origin.pid.to_le_bytes();
    content_key([origin.app.as_bytes(), origin.host.as_bytes(), &pid[..]])
}

/// The earliest and latest time of `records` (µs).
fn span(records: &[Record]) -> (i64, i64) {
    let times = records.iter().map(|r| r.timestamp.as_micros());
    times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)))
}

/// Splits `records` where the UTC day changes and every [`MAX_INSERT_ROWS`].
fn parts(records: &[Record]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=records.len() {
        let cut = i == records.len()
            || i - start >= MAX_INSERT_ROWS
            || day_of(records[i].timestamp.as_micros()) != day_of(records[start].timestamp.as_micros());
        if cut {
            out.push(start..i);
            start = i;
        }
    }
    out
}

impl std::fmt::Debug for ChSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChSink")
            .field("url", &self.http.options().redacted())
            .field("writer", &self.writer)
            .field("in_doubt", &self.in_doubt.len())
            .finish_non_exhaustive()
    }
}

impl ChSink {
    /// Parses `url` and creates the tables on every shard (see [`Options`]).
    pub fn connect(url: &str) -> Result<ChSink, Error> {
        ChSink::new(Options::parse(url)?)
    }

    /// Creates the tables on every shard of a parsed configuration.
    pub fn new(options: Options) -> Result<ChSink, Error> {
        let mut sink = ChSink::disconnected(options);
        for shard in 0..sink.migrated.len() {
            sink.migrate(shard)?;
        }
        sink.keep_tag();
        Ok(sink)
    }

    /// Parses `url` and returns a sink that has not reached any shard yet: it
    /// creates the tables on a shard before its first insert there, so an
    /// application can start while its log servers are down.
    pub fn connect_lazy(url: &str) -> Result<ChSink, Error> {
        Ok(ChSink::disconnected(Options::parse(url)?))
    }

    fn disconnected(options: Options) -> ChSink {
        let writer = random_u64();
        ChSink {
            migrated: vec![false; options.hosts().len()],
            http: Http::new(&options),
            encoder: Encoder::new(),
            sanitised: Arc::default(),
            writer,
            tag: random_tag(),
            held: None,
            claimed_at: None,
            next_unit: 0,
            batch_no: 0,
            in_doubt: Doubts::default(),
            started: log_panel_core::Timestamp::now().as_micros(),
        }
    }

    /// The configuration (its `Display` is the redacted URL).
    pub fn options(&self) -> &Options {
        self.http.options()
    }

    /// This sink's writer id, stored in every row it inserts (`writer`).
    pub fn writer_id(&self) -> u64 {
        self.writer
    }

    /// Records stored so far with at least one value sanitised.
    pub fn sanitised(&self) -> u64 {
        self.sanitised.load(Ordering::Relaxed)
    }

    fn migrate(&mut self, shard: usize) -> Result<(), Error> {
        let options = self.http.options();
        let url = || options.redacted().to_owned();
        schema::migrate(&self.http, shard).map_err(|e| match e {
            MigrateError::Request(e @ (RequestError::Transport(_) | RequestError::Silent { .. })) => {
                Error::Connect { url: url(), reason: e.to_string() }
            }
            MigrateError::Request(e) => Error::Migrate { url: url(), reason: e.to_string() },
            MigrateError::TooNew(found) => Error::SchemaTooNew { url: url(), found, supported: schema::LATEST_VERSION },
        })?;
        self.migrated[shard] = true;
        Ok(())
    }

    /// The tag in the low 16 bits of the ids this sink assigns now (see
    /// [`crate::writer_tag`]).
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// Whether the sink holds a claim on its tag (false until shard 0 answered).
    pub fn tag_claimed(&self) -> bool {
        self.held.is_some()
    }

    /// The sink starting from `tag` instead of a random one; it still
    /// claims it before its first batch. For tests of the claim.
    #[doc(hidden)]
    #[must_use]
    pub fn with_tag(mut self, tag: u16) -> ChSink {
        self.tag = tag;
        self.held = None;
        self.claimed_at = None;
        self
    }

    /// Claims the tag when the sink holds none, or renews the claim every
    /// [`HEARTBEAT`]. A claim that fails (shard 0 down) is tried again after
    /// [`CLAIM_RETRY`]; meanwhile the sink writes with the tag it has.
    fn keep_tag(&mut self) {
        let wait = if self.held.is_some() { HEARTBEAT } else { CLAIM_RETRY };
        if self.claimed_at.is_some_and(|at| at.elapsed() < wait) {
            return;
        }
        self.claimed_at = Some(Instant::now());
        if !self.migrated[0] && self.migrate(0).is_err() {
            return;
        }
        match writer_tag::claim(&self.http, self.writer, self.held, self.tag, random_tag) {
            Ok(Some(held)) => {
                self.tag = held.tag;
                self.held = Some(held);
            }
            Ok(None) => self.held = None,
            // Renewal failed: keep the claim; it holds for HELD_FOR.
            Err(_) => {}
        }
    }

    /// The first id unit of a new batch of `n` records.
    fn take_units(&mut self, n: usize) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let start = (now.saturating_sub(ID_EPOCH_SECS) << 15).max(self.next_unit);
        self.next_unit = start + n as u64;
        start
    }

    /// Waits until the doubtful inserts have left the shard's
    /// `system.processes`, then says which parts are stored.
    fn settle(&self, doubt: &InDoubt, records: &[Record], parts: &[Range<usize>]) -> Result<Vec<bool>, RequestError> {
        let ids: Vec<String> = doubt.query_ids.iter().map(|q| quote(q)).collect();
        let running = format!("SELECT count() FROM system.processes WHERE query_id IN ({})", ids.join(", "));
        let deadline = Instant::now() + self.http.options().timeout() * 2;
        // Absent twice, `STARTING` apart: an insert the server took in before
        // this query (a thawed shard takes in every connection that waited
        // in its kernel at once) shows by the second look, or is stored.
        let mut absent = 0;
        loop {
            if self.http.query(doubt.shard, Resend::Safe, &running, &[])?.trim() == "0" {
                absent += 1;
                if absent == 2 {
                    break;
                }
                std::thread::sleep(STARTING);
                continue;
            }
            absent = 0;
            if Instant::now() >= deadline {
                return Err(RequestError::Transport("an earlier insert of this batch is still running".to_owned()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut stored = Vec::with_capacity(parts.len());
        for part in parts {
            let first = &records[part.start];
            let sql = format!(
                "SELECT count() FROM {RECORDS_LOCAL} WHERE logger = {} AND ts = {} AND id = {} \
                 AND writer = {} AND batch = {}",
                quote(&first.logger),
                first.timestamp.as_micros(),
                id(doubt.tag, doubt.first_unit + part.start as u64),
                self.writer,
                doubt.batch
            );
            stored.push(self.http.query(doubt.shard, Resend::Safe, &sql, &[])?.trim() != "0");
        }
        Ok(stored)
    }

    /// Waits until every insert of a log-panel writer that began before
    /// this call has left `system.processes` on every shard (a server can
    /// commit an insert after its client gave up, or after its process died).
    fn await_earlier_inserts(&self) -> Result<(), RequestError> {
        let began = Instant::now();
        let deadline = began + self.http.options().timeout() * 2;
        for shard in 0..self.migrated.len() {
            loop {
                let sql = format!(
                    "SELECT count() FROM system.processes WHERE query_id LIKE 'log-panel-%' AND elapsed > {}",
                    began.elapsed().as_secs_f64()
                );
                if self.http.query(shard, Resend::Safe, &sql, &[])?.trim() == "0" {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(RequestError::Transport("an earlier insert is still running".to_owned()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// The records of `batch` not stored yet, by content (see the module
    /// documentation): the stored rows of the batch's origin in each part's
    /// time span, on every shard, each matching one record.
    fn unstored(&self, batch: &Batch<'_>) -> Result<Vec<Record>, RequestError> {
        self.await_earlier_inserts()?;
        let origin = batch.origin;
        let mut unstored = Unstored::of(batch.records, |r| r.timestamp.as_micros());
        for part in parts(batch.records) {
            let (lo, hi) = span(&batch.records[part]);
            let sql = format!(
                "SELECT ts, hex(logger), hex(thread), hex(message) FROM {RECORDS_LOCAL} \
                 WHERE time >= toDateTime({}, 'UTC') AND time <= toDateTime({}, 'UTC') AND ts >= {lo} AND ts <= {hi} \
                 AND app = {} AND host = {} AND pid = {} FORMAT TabSeparated",
                seconds(lo),
                seconds(hi),
                quote(&without_nul(&origin.app)),
                quote(&without_nul(&origin.host)),
                origin.pid
            );
            for shard in 0..self.migrated.len() {
                let rows = match self.http.query(shard, Resend::Safe, &sql, &[]) {
                    Ok(rows) => rows,
                    // A shard without the table yet holds nothing.
                    Err(RequestError::Server { code: Some(UNKNOWN_TABLE), .. }) => continue,
                    Err(e) => return Err(e),
                };
                for row in rows.lines() {
                    let mut cols = row.split('\t');
                    let ts = cols.next().and_then(|t| t.parse::<i64>().ok());
                    let texts: Option<Vec<Vec<u8>>> = cols.map(unhex).collect();
                    if let (Some(ts), Some([logger, thread, message])) = (ts, texts.as_deref()) {
                        unstored.stored_bytes(ts, logger, thread, message);
                    }
                }
            }
        }
        Ok(unstored.rest(batch.records))
    }

    /// Sends the parts not yet stored to `shard`. On failure returns the
    /// error and whether anything may have reached the server.
    fn send(
        &mut self,
        batch: &Batch<'_>,
        shard: usize,
        doubt: &mut InDoubt,
        parts: &[Range<usize>],
        stored: &[bool],
    ) -> Result<(), (RequestError, bool)> {
        if !self.migrated[shard] {
            if let Err(e) = schema::migrate(&self.http, shard) {
                return Err(match e {
                    // Creating tables stores no record: the next shard may take the batch.
                    MigrateError::Request(e) => (e, false),
                    MigrateError::TooNew(found) => (
                        RequestError::Server {
                            status: 0,
                            code: None,
                            message: format!("the tables are at version {found}, newer than this build"),
                        },
                        false,
                    ),
                });
            }
            self.migrated[shard] = true;
        }
        let sql = format!("INSERT INTO {RECORDS_LOCAL} ({INSERT_COLUMNS}) FORMAT RowBinary");
        let insert = Insert { writer: self.writer, batch: doubt.batch };
        for (i, part) in parts.iter().enumerate() {
            if stored.get(i).copied().unwrap_or(false) {
                continue;
            }
            self.encoder.clear();
            let mut dirty = 0;
            for (offset, r) in batch.records[part.clone()].iter().enumerate() {
                let id = id(doubt.tag, doubt.first_unit + (part.start + offset) as u64);
                dirty += u64::from(self.encoder.record(id, batch.origin, r, insert));
            }
            let query_id = format!("log-panel-{:016x}-{}-{i}-{}", self.writer, doubt.batch, doubt.attempt);
            doubt.dirty += dirty;
            match self.http.insert(shard, &sql, self.encoder.bytes(), &query_id) {
                Ok(()) => {}
                Err(e) => {
                    let sent = !e.never_sent();
                    if sent {
                        doubt.query_ids.push(query_id);
                    }
                    let earlier = !doubt.query_ids.is_empty();
                    return Err((e, sent || earlier));
                }
            }
        }
        Ok(())
    }
}

impl Sink for ChSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if batch.records.is_empty() {
            return Ok(());
        }
        let fingerprint = Fingerprint::of(batch.records);
        let known = self.in_doubt.knows(&fingerprint);
        let before_us = batch.records.iter().all(|r| r.timestamp.as_micros() < self.started);
        let whole = *batch;
        let by_content = !known && (before_us || self.in_doubt.overlap(&whole));
        let rest;
        let batch = if by_content {
            let why = if before_us { "logged before this writer started" } else { "overlapping a batch in doubt" };
            rest = self
                .unstored(&whole)
                .map_err(|e| SinkError::new(classify(&e), format!("looking up a batch {why}: {e}")).with_source(e))?;
            if rest.is_empty() {
                self.in_doubt.settled_by(&whole);
                return Ok(());
            }
            Batch::new(whole.origin, &rest)
        } else {
            whole
        };
        let records = batch.records;
        let fingerprint = if records.len() == fingerprint.len { fingerprint } else { Fingerprint::of(records) };
        let parts = parts(records);
        let earlier = self.in_doubt.take(&fingerprint);
        let (mut doubt, stored, shards) = match earlier {
            Some(mut doubt) => {
                let stored = match self.settle(&doubt, records, &parts) {
                    Ok(stored) => stored,
                    Err(e) => {
                        let kind = classify(&e);
                        self.in_doubt.keep(doubt);
                        return Err(SinkError::new(kind, format!("settling an earlier insert of this batch: {e}"))
                            .with_source(e));
                    }
                };
                doubt.attempt += 1;
                let shards = vec![doubt.shard];
                (doubt, stored, shards)
            }
            None => {
                self.keep_tag();
                self.batch_no += 1;
                let batch_no = self.batch_no;
                let first_unit = self.take_units(records.len());
                let n = self.migrated.len();
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&self.writer.to_le_bytes());
                key[8..].copy_from_slice(&batch_no.to_le_bytes());
                let start = (fnv(&key) % n as u64) as usize;
                let doubt = InDoubt {
                    batch: batch_no,
                    tag: self.tag,
                    shard: start,
                    first_unit,
                    fingerprint,
                    origin: origin_key(batch.origin),
                    span: span(records),
                    query_ids: Vec::new(),
                    attempt: 0,
                    dirty: 0,
                };
                (doubt, Vec::new(), (0..n).map(|i| (start + i) % n).collect())
            }
        };
        let mut last = None;
        for shard in shards {
            doubt.shard = shard;
            doubt.dirty = 0;
            match self.send(&batch, shard, &mut doubt, &parts, &stored) {
                Ok(()) => {
                    self.sanitised.fetch_add(doubt.dirty, Ordering::Relaxed);
                    if by_content {
                        self.in_doubt.settled_by(&whole);
                    }
                    return Ok(());
                }
                Err((e, maybe_stored)) => {
                    if maybe_stored {
                        let kind = classify(&e);
                        self.in_doubt.keep(doubt);
                        let host = self.http.options().hosts().get(shard).cloned().unwrap_or_default();
                        return Err(SinkError::new(kind, format!("inserting into {host}: {e}")).with_source(e));
                    }
                    // Nothing reached this shard: the next one may take the batch.
                    last = Some((shard, e));
                }
            }
        }
        let (kind, message) = match last {
            Some((shard, e)) => {
                let host = self.http.options().hosts().get(shard).cloned().unwrap_or_default();
                (classify(&e), format!("no shard took the batch; the last, {host}: {e}"))
            }
            None => (SinkErrorKind::Unavailable, "no shard".to_owned()),
        };
        Err(SinkError::new(kind, message))
    }

    fn describe(&self) -> String {
        format!("ClickHouse {}", self.http.options().redacted())
    }

    fn sanitised_count(&self) -> u64 {
        self.sanitised()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log_panel_core::{Level, Timestamp};

    fn at(micros: i64) -> Record {
        let mut r = Record::new(Level::Info, "a", "m");
        r.timestamp = Timestamp(micros);
        r
    }

    /// Records at `times` (µs), each with a message of its own.
    fn run(times: Range<i64>) -> Vec<Record> {
        times
            .map(|t| {
                let mut r = at(t);
                r.message = format!("m{t}").into();
                r
            })
            .collect()
    }

    fn doubt(origin: &Origin, records: &[Record]) -> InDoubt {
        InDoubt {
            batch: 1,
            tag: 0,
            shard: 0,
            first_unit: 0,
            fingerprint: Fingerprint::of(records),
            origin: origin_key(origin),
            span: span(records),
            query_ids: Vec::new(),
            attempt: 0,
            dirty: 0,
        }
    }

    #[test]
    fn a_batch_overlapping_one_in_doubt_is_looked_up_and_one_holding_it_whole_settles_it() {
        let (origin, other) = (Origin::new("app", "host", 1), Origin::new("app", "host", 2));
        let records = run(1_000..2_000);
        let mut doubts = Doubts::default();
        doubts.keep(doubt(&origin, &records[..300]));
        assert!(doubts.knows(&Fingerprint::of(&records[..300])));
        // Replayed in other batches: each with a record in its span overlaps, others do not.
        assert!(doubts.overlap(&Batch::new(&origin, &records[..500])));
        assert!(doubts.overlap(&Batch::new(&origin, &records[299..700])));
        assert!(!doubts.overlap(&Batch::new(&origin, &records[300..700])));
        assert!(!doubts.overlap(&Batch::new(&other, &records[..500])), "another process's records");
        // A batch holding only part of it leaves it in doubt; one holding it whole settles it.
        doubts.settled_by(&Batch::new(&origin, &records[100..500]));
        doubts.settled_by(&Batch::new(&origin, &records[..299]));
        doubts.settled_by(&Batch::new(&other, &records[..500]));
        assert_eq!(doubts.len(), 1);
        doubts.settled_by(&Batch::new(&origin, &records[..500]));
        assert_eq!(doubts.len(), 0);
        assert!(!doubts.overlap(&Batch::new(&origin, &records[..500])));
    }

    #[test]
    fn past_the_bound_the_forgotten_batches_span_still_sends_batches_to_the_lookup() {
        let origin = Origin::new("app", "host", 1);
        let records = run(0..(IN_DOUBT_KEPT as i64 + 2) * 10);
        let mut doubts = Doubts::default();
        for i in 0..=IN_DOUBT_KEPT {
            doubts.keep(doubt(&origin, &records[i * 10..i * 10 + 10]));
        }
        assert_eq!(doubts.len(), IN_DOUBT_KEPT, "bounded");
        assert!(!doubts.knows(&Fingerprint::of(&records[..10])), "the oldest is forgotten");
        // Its records are still looked up by content, whatever the origin.
        assert!(doubts.overlap(&Batch::new(&Origin::new("other", "host", 9), &records[5..6])));
        let after = IN_DOUBT_KEPT * 10 + 10;
        assert!(!doubts.overlap(&Batch::new(&origin, &records[after..])), "newer records are not");
    }

    #[test]
    fn a_batch_is_cut_at_midnight() {
        let day = 86_400_000_000;
        let records = [at(day - 2), at(day - 1), at(day), at(day + 1), at(3 * day)];
        assert_eq!(parts(&records), [0..2, 2..4, 4..5]);
        assert_eq!(parts(&records[..1]).len(), 1);
    }
}
