//! [`ChStore`]: the read side over the `Distributed` tables (pruning is
//! [`ChMaintenance`](crate::ChMaintenance), apart so that a reader cannot delete).
//!
//! A reader never creates or changes a table. Each read goes to the first
//! shard of the URL that answers (any shard reads the whole cluster through
//! the `Distributed` tables); a read that finds a shard down fails rather
//! than answer from part of the data.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use log_panel_core::{civil_from_days, level_from_severity, Level, Timestamp, DAY, HOUR};
use log_panel_query::{
    CallSite, Cards, CardsQuery, Cursor, FieldMatch, FieldValue, Histogram, HistogramSpan, LevelCounts, LoggerCard,
    LoggerTotals, Page, PageAt, RecordFilter, Slots, Store, StoreError, StoreErrorKind, StoredRecord,
    DEFAULT_READ_TIMEOUT, QUARTER_HOUR,
};
use serde_json::Value;

use crate::aggregates::{site_file, site_line, HOURLY, QUARTER, SITES, STATS};
use crate::error::RequestError;
use crate::http::{quote, Http, Resend};
use crate::schema::{CONTEXT_VERSION, LATEST_VERSION, SITES_VERSION};
use crate::sql::{conditions, datetime, logger_condition, SideLookup};
use crate::{Error, Options};

/// The columns of a [`StoredRecord`], in the order [`record`] reads them.
const RECORD_COLUMNS: &str =
    "id, ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size";

/// ClickHouse's code for "Unexpected packet … received from client" (see
/// `ChStore::query_retrying_101`).
const UNEXPECTED_PACKET_FROM_CLIENT: u32 = 101;

/// Reads the records of a `clickhouse://` URL. [`Options`](crate::Options) describes the URL.
pub struct ChStore {
    http: Http,
    read_timeout: Duration,
    /// The oldest version of the tables among the shards (0 when one did
    /// not answer): a reader of an older database, which it must not
    /// migrate, reads without the tables it lacks — the context arrays
    /// alone before [`CONTEXT_VERSION`], call sites from the records alone
    /// before [`SITES_VERSION`].
    version: u32,
}

impl std::fmt::Debug for ChStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChStore").field("url", &self.http.options().redacted()).finish_non_exhaustive()
    }
}

/// A failed read as a [`StoreError`].
pub(crate) fn store_error(what: &str, e: RequestError) -> StoreError {
    let kind = match &e {
        RequestError::Transport(_) | RequestError::Silent { .. } => StoreErrorKind::Unavailable,
        // TIMEOUT_EXCEEDED: the read ran past `max_execution_time`.
        RequestError::Server { code: Some(159), .. } => StoreErrorKind::TimedOut,
        // ALL_CONNECTION_TRIES_FAILED: a shard is down.
        RequestError::Server { code: Some(279 | 210), .. } => StoreErrorKind::Unavailable,
        RequestError::Server { .. } => StoreErrorKind::Storage,
    };
    StoreError::new(kind, format!("{what}: {e}")).with_source(e)
}

fn bad_data(what: &str) -> StoreError {
    StoreError::new(StoreErrorKind::Storage, format!("reading {what}: an answer of an unexpected shape"))
}

fn int(v: &Value) -> Result<i64, StoreError> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX))),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad_data("a number"))
}

fn uint(v: &Value) -> Result<u64, StoreError> {
    int(v).map(|i| u64::try_from(i).unwrap_or(0))
}

fn text(v: &Value) -> Result<String, StoreError> {
    v.as_str().map(str::to_owned).ok_or_else(|| bad_data("a text"))
}

fn opt_text(v: &Value) -> Result<Option<String>, StoreError> {
    if v.is_null() {
        Ok(None)
    } else {
        text(v).map(Some)
    }
}

fn level(v: &Value) -> Result<Level, StoreError> {
    let severity = int(v)?;
    level_from_severity(severity)
        .ok_or_else(|| StoreError::new(StoreErrorKind::Storage, format!("a record has an unknown level {severity}")))
}

/// A row of [`RECORD_COLUMNS`] as a record.
fn record(row: &[Value]) -> Result<StoredRecord, StoreError> {
    let [id, ts, lvl, logger, message, module, file, line, thread, pid, host, app, context, original_size] = row else {
        return Err(bad_data("a record"));
    };
    let context = match serde_json::from_str::<Value>(&text(context)?) {
        Ok(Value::Object(map)) => map,
        Ok(_) => serde_json::Map::new(),
        Err(e) => {
            return Err(StoreError::new(StoreErrorKind::Storage, "reading a record: context is not JSON").with_source(e))
        }
    };
    let mut r = StoredRecord::default();
    r.id = int(id)?;
    r.ts = Timestamp(int(ts)?);
    r.level = level(lvl)?;
    r.logger = text(logger)?;
    r.message = text(message)?;
    r.module = opt_text(module)?;
    r.file = opt_text(file)?;
    r.line = if line.is_null() { None } else { u32::try_from(int(line)?).ok() };
    r.thread = text(thread)?;
    r.pid = u32::try_from(int(pid)?).unwrap_or(0);
    r.host = text(host)?;
    r.app = text(app)?;
    r.context = context;
    r.original_size = if original_size.is_null() { None } else { Some(uint(original_size)?) };
    Ok(r)
}

/// A limit as SQL takes it: `limit` (+ `extra`), at most what `LIMIT` holds.
fn limit_sql(limit: usize, extra: usize) -> u64 {
    u64::try_from(limit.saturating_add(extra)).unwrap_or(u64::MAX)
}

impl ChStore {
    /// Parses `url` and checks that a shard answers and holds the log-panel
    /// tables of a version this build reads (it creates nothing).
    pub fn connect(url: &str) -> Result<ChStore, StoreError> {
        ChStore::open(Options::parse(url).map_err(|e| StoreError::bad_filter(e.to_string()))?)
    }

    /// [`ChStore::connect`] with parsed options (for example with a
    /// statement log, [`Options::with_statement_log`]).
    pub fn open(options: Options) -> Result<ChStore, StoreError> {
        let (http, _) = checked_options(options)?;
        let version = oldest_shard_version(&http);
        Ok(ChStore { http, read_timeout: DEFAULT_READ_TIMEOUT, version })
    }

    /// The same store with another time budget per read (`max_execution_time`).
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> ChStore {
        self.read_timeout = timeout;
        self
    }

    /// The database whose context side table narrows `key=value` filters,
    /// when it has one (see [`field_condition`]).
    fn side_table(&self) -> Option<&str> {
        (self.version >= CONTEXT_VERSION).then(|| self.http.options().database())
    }

    /// The data rows of a `SELECT`, from the first shard that answers.
    fn rows(&self, sql: &str) -> Result<Vec<Vec<Value>>, StoreError> {
        let budget = self.read_timeout.as_secs().max(1).to_string();
        let settings = [("max_execution_time", budget.as_str()), ("output_format_json_quote_64bit_integers", "0")];
        let sql = format!("{sql} FORMAT JSONCompact");
        let mut last = None;
        for shard in 0..self.http.options().hosts().len() {
            match self.query_retrying_101(shard, &sql, &settings) {
                Ok(body) => {
                    let answer: Value = serde_json::from_str(&body).map_err(|e| {
                        StoreError::new(StoreErrorKind::Storage, "reading an answer: not JSON").with_source(e)
                    })?;
                    let Some(Value::Array(data)) = answer.get("data") else { return Err(bad_data("an answer")) };
                    return data.iter().map(|row| row.as_array().cloned().ok_or_else(|| bad_data("a row"))).collect();
                }
                Err(e @ RequestError::Transport(_)) => last = Some(e),
                Err(e) => return Err(store_error(&format!("reading [{sql}]"), e)),
            }
        }
        Err(last
            .map_or_else(|| StoreError::new(StoreErrorKind::Unavailable, "no shard"), |e| store_error("reading", e)))
    }

    /// One read on `shard`, sent again (at most twice) when the server
    /// answers code 101: 18.16 now and then fails a `Distributed` read with
    /// "Unexpected packet Data received from client" on a pooled connection
    /// between the shards, and the same read succeeds when sent again. A
    /// read changes nothing, so sending it again is safe.
    fn query_retrying_101(&self, shard: usize, sql: &str, settings: &[(&str, &str)]) -> Result<String, RequestError> {
        let mut tries = 0;
        loop {
            match self.http.query(shard, Resend::Safe, sql, settings) {
                Err(RequestError::Server { code: Some(UNEXPECTED_PACKET_FROM_CLIENT), .. }) if tries < 2 => tries += 1,
                answer => return answer,
            }
        }
    }

    /// At most `n` rows of `cond` beyond `from` (or from the newest record)
    /// in time order, newest first when `older`, read window by window:
    /// the first hour, then up to a day, a week, 30 days, then the rest,
    /// each window only its own day partitions (a `time` bound beside the
    /// `ts` one), stopping once `n` rows are found. A page of recent records
    /// (the common case: newest first, a busy filter) reads one partition
    /// instead of every one; a filter that matches nothing recent ends with
    /// the same full read as one query, each row read once. The windows do
    /// not overlap and each is read in order, so the rows come out in the
    /// page's order, ties on `ts` kept in one window.
    fn records_in_time_order(
        &self,
        cond: &str,
        from: Option<Cursor>,
        older: bool,
        n: u64,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let order = if older { "ts DESC, id DESC" } else { "ts, id" };
        let base = match from {
            Some(c) => format!("({cond}) AND {}", beyond(c, older)),
            None => format!("({cond})"),
        };
        // Where the walk starts: the cursor, or the newest record's time by
        // the totals table (small). Without one, one query reads everything.
        let start = match from {
            Some(c) => Some(c.ts.0),
            None => self.newest_ts()?,
        };
        let Some(start) = start else { return self.records_where("", &base, order, n) };
        let mut rows: Vec<StoredRecord> = Vec::new();
        let mut edge: Option<i64> = None;
        for width in WINDOWS.iter().copied().map(Some).chain([None]) {
            let mut parts = vec![base.clone()];
            // The window's far bound (inclusive), then its near one (exclusive: the last window's far bound).
            if let Some(w) = width {
                let far = if older { start.saturating_sub(w) } else { start.saturating_add(w) };
                let far_ts = Timestamp(far);
                parts.push(if older {
                    format!("ts >= {far} AND time >= {}", datetime(far_ts))
                } else {
                    format!("ts <= {far} AND time <= {}", datetime(far_ts))
                });
            }
            if let Some(near) = edge {
                let near_ts = Timestamp(near);
                parts.push(if older {
                    format!("ts < {near} AND time <= {}", datetime(near_ts))
                } else {
                    format!("ts > {near} AND time >= {}", datetime(near_ts))
                });
            }
            let want = n - rows.len() as u64;
            rows.extend(self.records_where("", &parts.join(" AND "), order, want)?);
            if rows.len() as u64 >= n {
                break;
            }
            match width {
                Some(w) => edge = Some(if older { start.saturating_sub(w) } else { start.saturating_add(w) }),
                None => break,
            }
        }
        Ok(rows)
    }

    /// A histogram summed from `table` (hourly or quarter-hour counts per
    /// logger), for a filter [`RecordFilter::is_aggregate_only`] with
    /// bounds on whole buckets. Merges are eventual: the sums group.
    fn histogram_from_aggregates(
        &self,
        filter: &RecordFilter,
        slots: &Slots,
        span: HistogramSpan,
        table: &str,
    ) -> Result<Histogram, StoreError> {
        let logger = filter.logger.as_ref().map_or(String::new(), |m| format!(" AND {}", logger_condition(m)));
        let rows = self.rows(&format!(
            "SELECT toUInt32(bucket), sum(trace), sum(debug), sum(info), sum(warn), sum(error) FROM {table} \
             WHERE bucket >= {} AND bucket < {}{logger} GROUP BY bucket",
            datetime(span.from),
            datetime(span.to)
        ))?;
        let mut out = Histogram::zeros(slots);
        for row in &rows {
            let [bucket, counts @ ..] = row.as_slice() else { return Err(bad_data("an aggregate row")) };
            let start = Timestamp(int(bucket)?.saturating_mul(1_000_000));
            let mut c = LevelCounts::default();
            for (level, n) in
                [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error].into_iter().zip(counts)
            {
                c.add_n(level, uint(n)?);
            }
            out.add_bucket(slots, filter, start, &c);
        }
        Ok(out)
    }

    /// [`ChStore::records_in_time_order`] for a filter with `key=value`
    /// pairs, through the context side table (`None` without one): the
    /// first pair's next candidate times, in the page's order, from the side
    /// table (an index range), then the records at those times alone (a
    /// literal `ts IN`, and the candidates' span bounding `time`, so only
    /// their partitions and granules), with every condition. A record the
    /// other conditions reject leaves the page short: the next candidates
    /// follow, four times as many each round. Rows of the pair scattered
    /// over months cost their own granules only, where reading every
    /// match's granule before the `LIMIT` read nearly all of them. After
    /// [`SIDE_ROUNDS`] rounds still short (a frequent pair beside a rare
    /// condition) the rest is the windowed read, from past the candidates.
    fn records_by_side(
        &self,
        side: &SideLookup<'_>,
        cond: &str,
        from: Option<Cursor>,
        older: bool,
        n: u64,
    ) -> Result<Option<Vec<StoredRecord>>, StoreError> {
        let order = if older { "ts DESC, id DESC" } else { "ts, id" };
        let base = match from {
            Some(c) => format!("({cond}) AND {}", beyond(c, older)),
            None => format!("({cond})"),
        };
        // The next candidates' bound (inclusive): the cursor's time, then past the last round's.
        let mut edge = from.map(|c| c.ts.0);
        let mut batch = n.clamp(1, MAX_CANDIDATES);
        let mut rows: Vec<StoredRecord> = Vec::new();
        for round in 1.. {
            let (lo, hi) = if older { (None, edge) } else { (edge, None) };
            // One row more than the batch: its time, likely a new one, is what the limit cuts.
            let Some(sql) = side.candidates(lo, hi, older, batch + 1) else { return Ok(None) };
            let found = Candidates::of(&self.rows(&sql)?, batch + 1)?;
            let (Some(&first), Some(&last)) = (found.times.first(), found.times.last()) else { break };
            let (min, max) = if older { (last, first) } else { (first, last) };
            let list: Vec<String> = found.times.iter().map(i64::to_string).collect();
            // With the loggers, only the granules of those loggers around those times are
            // read (the records' sort key is (logger, ts, id)), not each whole day partition.
            let loggers = found.loggers.map(|l| format!("logger IN ({}) AND ", l.join(", "))).unwrap_or_default();
            let span = format!(
                "{loggers}ts >= {min} AND ts <= {max} AND time >= {} AND time <= {}",
                datetime(Timestamp(min)),
                datetime(Timestamp(max))
            );
            let want = n - rows.len() as u64;
            let prewhere = format!("PREWHERE ts IN ({}) ", list.join(", "));
            rows.extend(self.records_where(&prewhere, &format!("{base} AND {span}"), order, want)?);
            if rows.len() as u64 >= n || !found.more {
                break;
            }
            if round == SIDE_ROUNDS {
                // Strictly past the candidates: every record at their times was read.
                let past = if older {
                    Cursor { ts: Timestamp(min), id: i64::MIN }
                } else {
                    Cursor { ts: Timestamp(max), id: i64::MAX }
                };
                let want = n - rows.len() as u64;
                rows.extend(self.records_in_time_order(cond, Some(past), older, want)?);
                break;
            }
            edge = Some(if older { min - 1 } else { max + 1 });
            batch = batch.saturating_mul(4).min(MAX_CANDIDATES);
        }
        Ok(Some(rows))
    }

    /// Adds the call sites of `filter`'s records, read from the rows.
    fn call_sites_from_records(&self, filter: &RecordFilter, sites: &mut Sites) -> Result<(), StoreError> {
        let rows = self.rows(&format!(
            "SELECT logger, file, line, countIf(level = 5), countIf(level = 10), countIf(level = 20), \
             countIf(level = 30), countIf(level = 40), max(ts), argMax(message, (ts, id)) FROM log_records \
             {}WHERE {} GROUP BY logger, file, line",
            SideLookup::new(filter, self.side_table()).prewhere(),
            conditions(filter, self.side_table())
        ))?;
        for row in &rows {
            let [logger, file, line, rest @ ..] = row.as_slice() else { return Err(bad_data("a call site")) };
            let line = if line.is_null() { None } else { u32::try_from(int(line)?).ok() };
            add_site(sites, (text(logger)?, opt_text(file)?, line), rest)?;
        }
        Ok(())
    }

    /// Adds the call sites of the whole UTC hours `[a, b)` (`None`:
    /// unbounded) of the loggers `filter` keeps, from the call-site table.
    /// Merges are eventual: the states merge in a `GROUP BY`.
    fn call_sites_by_hour(
        &self,
        filter: &RecordFilter,
        (a, b): (Option<Timestamp>, Option<Timestamp>),
        sites: &mut Sites,
    ) -> Result<(), StoreError> {
        let mut parts = vec!["1".to_owned()];
        parts.extend(a.map(|a| format!("bucket >= {}", datetime(a))));
        parts.extend(b.map(|b| format!("bucket < {}", datetime(b))));
        parts.extend(filter.logger.as_ref().map(logger_condition));
        let rows = self.rows(&format!(
            "SELECT logger, file_key, line_key, countIfMerge(trace), countIfMerge(debug), countIfMerge(info), \
             countIfMerge(warn), countIfMerge(error), maxMerge(last_seen), argMaxMerge(example) FROM {SITES} \
             WHERE {} GROUP BY logger, file_key, line_key",
            parts.join(" AND ")
        ))?;
        for row in &rows {
            let [logger, file, line, rest @ ..] = row.as_slice() else { return Err(bad_data("a call site")) };
            let file = text(file)?;
            add_site(sites, (text(logger)?, site_file(&file).map(str::to_owned), site_line(int(line)?)), rest)?;
        }
        Ok(())
    }

    /// The newest record's time by the totals table, if it holds any.
    fn newest_ts(&self) -> Result<Option<i64>, StoreError> {
        let rows = self.rows(&format!("SELECT maxMerge(last_seen), countMerge(total) FROM {STATS}"))?;
        match rows.first().map(Vec::as_slice) {
            Some([last, total]) if uint(total)? > 0 => Ok(Some(int(last)?)),
            _ => Ok(None),
        }
    }

    /// At most `limit` records of `condition` in `order`, `prewhere` (a
    /// [`SideLookup::prewhere`], or empty) read first.
    fn records_where(
        &self,
        prewhere: &str,
        condition: &str,
        order: &str,
        limit: u64,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM log_records {prewhere}WHERE {condition} ORDER BY {order} LIMIT {limit}"
        );
        self.rows(&sql)?.iter().map(|row| record(row)).collect()
    }
}

/// A client of `url`'s shards, once a shard has answered that it holds the
/// log-panel tables of a version this build reads (see [`ChStore::connect`]).
pub(crate) fn checked(url: &str) -> Result<(Http, u32), StoreError> {
    checked_options(Options::parse(url).map_err(|e| StoreError::bad_filter(e.to_string()))?)
}

/// [`checked`] with parsed options; also the tables' version.
pub(crate) fn checked_options(options: Options) -> Result<(Http, u32), StoreError> {
    let store = ChStore { http: Http::new(&options), read_timeout: DEFAULT_READ_TIMEOUT, version: 0 };
    let url = options.redacted();
    let version = store.rows("SELECT max(version) FROM log_panel_schema").map_err(|e| {
        StoreError::new(
            StoreErrorKind::Unavailable,
            format!("`{url}` is not a log-panel database, or no shard answers: {e}"),
        )
    })?;
    let found = version.first().and_then(|row| row.first()).map(uint).transpose()?.unwrap_or(0);
    if found > u64::from(LATEST_VERSION) {
        let found = u32::try_from(found).unwrap_or(u32::MAX);
        let e = Error::SchemaTooNew { url: url.to_owned(), found, supported: LATEST_VERSION };
        return Err(StoreError::new(StoreErrorKind::NewerSchema, e.to_string()));
    }
    Ok((store.http, u32::try_from(found).unwrap_or(0)))
}

/// The oldest version of the tables among the shards: a lazy sink migrates
/// a shard only before its first insert there, so a shard may still lack a
/// table that a read through all of them would name. A shard that does not
/// answer counts as version 0 (the reads of the oldest tables answer right).
fn oldest_shard_version(http: &Http) -> u32 {
    (0..http.options().hosts().len()).map(|shard| crate::schema::version(http, shard).unwrap_or(0)).min().unwrap_or(0)
}

/// One round's candidates of `ChStore::records_by_side`: the times to read,
/// in the page's order, and the loggers of their records that have the pair.
struct Candidates {
    times: Vec<i64>,
    /// Quoted; `None`: any logger.
    loggers: Option<Vec<String>>,
    /// Whether the side table may list more (the round got its whole limit).
    more: bool,
}

impl Candidates {
    /// The candidates from the (time, logger) rows of [`SideLookup::candidates`]
    /// with limit `batch`.
    fn of(found: &[Vec<Value>], batch: u64) -> Result<Candidates, StoreError> {
        let mut pairs = Vec::with_capacity(found.len());
        for row in found {
            let ts = row.first().map_or_else(|| Err(bad_data("a time")), int)?;
            pairs.push((ts, row.get(1).map_or_else(|| Err(bad_data("a logger")), text)?));
        }
        let more = pairs.len() as u64 >= batch;
        let mut any_logger = false;
        if let (true, Some(&(last, _))) = (more, pairs.last()) {
            // The limit may have cut off some of the last time's loggers: that time comes
            // whole in the next round, unless it is the only one (then read every logger).
            match pairs.iter().position(|(ts, _)| *ts == last) {
                Some(0) | None => any_logger = true,
                Some(cut) => pairs.truncate(cut),
            }
        }
        // In order, and a time may come with several loggers (or one twice).
        let mut times: Vec<i64> = pairs.iter().map(|(ts, _)| *ts).collect();
        times.dedup();
        let loggers: BTreeSet<String> = pairs.iter().map(|(_, logger)| quote(logger)).collect();
        Ok(Candidates { times, loggers: (!any_logger).then(|| loggers.into_iter().collect()), more })
    }
}

/// The rounds of candidates `ChStore::records_by_side` reads before it
/// reads the rest window by window.
const SIDE_ROUNDS: u32 = 3;

/// The most candidate times one round of `ChStore::records_by_side` lists
/// in its `ts IN (…)`: well under the server's 256 KiB `max_query_size`.
const MAX_CANDIDATES: u64 = 8_192;

/// The windows a page reads in turn (see `ChStore::records_in_time_order`),
/// each as far from the start as it reaches; the rest comes last.
const WINDOWS: [i64; 4] = [HOUR, DAY, 7 * DAY, 30 * DAY];

/// Call sites by (logger, file, line), each with the time of its newest
/// record counted so far (the example is that record's message).
type Sites = BTreeMap<(String, Option<String>, Option<u32>), (CallSite, Option<i64>)>;

/// Adds to `sites` one site's `[trace, debug, info, warn, error, newest ts,
/// its message]` over one part of the range. The parts (whole hours, the
/// partial ones) do not overlap in time, so the newest record of a site is
/// the newest of its parts' newest, with no tie between parts.
fn add_site(
    sites: &mut Sites,
    (logger, file, line): (String, Option<String>, Option<u32>),
    values: &[Value],
) -> Result<(), StoreError> {
    let [counts @ .., last, example] = values else { return Err(bad_data("a call site")) };
    let last = int(last)?;
    let key = (logger, file, line);
    let (site, newest) = sites.entry(key.clone()).or_insert_with(|| (CallSite::new(key.0, key.1, key.2), None));
    for (level, n) in [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error].into_iter().zip(counts) {
        site.counts.add_n(level, uint(n)?);
    }
    if newest.is_none_or(|n| last > n) {
        *newest = Some(last);
        site.last_seen = Timestamp(last);
        site.example = text(example)?;
    }
    Ok(())
}

/// The records strictly older (or newer) than `c` in (time, id) order.
/// Spelled out: 18.16 fails on a tuple comparison through a `Distributed`
/// table. The bound on `time` beside the one on `ts` skips the day
/// partitions beyond the cursor: `ts` is the sort key's second column, which
/// prunes only granules of one logger, so "is there a newer record than the
/// second page's cursor" read most of every day's `ts` without it.
fn beyond(c: Cursor, older: bool) -> String {
    let (op, bound) = if older { ("<", "<=") } else { (">", ">=") };
    format!(
        "ts {bound} {ts} AND time {bound} {time} AND (ts {op} {ts} OR id {op} {id})",
        ts = c.ts.0,
        time = datetime(c.ts),
        id = c.id
    )
}

/// The SQL of the slot number, counted from 1, of time `ts` (an SQL
/// expression in microseconds; the rows are already narrowed to the slots'
/// span, or a number outside `1..=len` says "none"). Slots of one width
/// (hours, days at a fixed offset) are one division; others count the
/// bounds at or before `ts`, which costs a comparison per bound per row
/// (91 for a quarter's days).
fn slot_of(slots: &Slots, ts: &str) -> String {
    let bounds = slots.bounds();
    let width = bounds.get(1).map_or(0, |b| b.0 - bounds[0].0);
    if width > 0 && bounds.windows(2).all(|w| w[1].0 - w[0].0 == width) {
        // `intDiv` rounds toward zero: a time before the first bound would land in slot 1.
        return format!("if({ts} < {b}, 0, intDiv({ts} - {b}, {width}) + 1)", b = bounds[0].0);
    }
    let list: Vec<String> = bounds.iter().map(|b| b.0.to_string()).collect();
    format!("arrayCount(b -> b <= {ts}, [{}])", list.join(", "))
}

/// `YYYYMMDD` of a UTC day number: a day partition's name.
pub(crate) fn yyyymmdd(day: i64) -> u32 {
    let (y, m, d) = civil_from_days(day);
    u32::try_from(y * 10_000 + m * 100 + d).unwrap_or(0)
}

impl Store for ChStore {
    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError> {
        Page::check_limit(limit)?;
        if !filter.check()? {
            return Ok(Page::default());
        }
        let cond = conditions(filter, self.side_table());
        let side = SideLookup::new(filter, self.side_table());
        let n = limit_sql(limit, 1);
        let (from, older) = match at {
            PageAt::Newest => (None, true),
            PageAt::Older(c) => (Some(c), true),
            PageAt::Newer(c) => (Some(c), false),
        };
        let rows = match self.records_by_side(&side, &cond, from, older, n)? {
            Some(rows) => rows,
            None => self.records_in_time_order(&cond, from, older, n)?,
        };
        Page::from_rows(at, limit, rows, |c: Cursor, older| {
            if let Some(rows) = self.records_by_side(&side, &cond, Some(c), older, 1)? {
                return Ok(!rows.is_empty());
            }
            // A column, not a constant: 18.16 loses the constants of a query that selects only constants through a `Distributed` table.
            let sql = format!("SELECT id FROM log_records WHERE ({cond}) AND {} LIMIT 1", beyond(c, older));
            Ok(!self.rows(&sql)?.is_empty())
        })
    }

    fn tail(
        &self,
        filter: &RecordFilter,
        after_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if limit == 0 || !filter.check()? {
            return Ok(Vec::new());
        }
        let cond = conditions(filter, self.side_table());
        let prewhere = SideLookup::new(filter, self.side_table()).prewhere();
        let n = limit_sql(limit, 0);
        match after_id {
            Some(id) => self.records_where(&prewhere, &format!("({cond}) AND id > {id}"), "id", n),
            None => {
                let mut rows = self.records_where(&prewhere, &cond, "id DESC", n)?;
                rows.reverse();
                Ok(rows)
            }
        }
    }

    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        Ok(self.records_where("", &format!("id = {id}"), "ts", 1)?.into_iter().next())
    }

    fn related(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let mut filter = RecordFilter::default();
        filter.fields.push(FieldMatch::new(key, value.clone())?);
        if limit == 0 || !filter.check()? {
            return Ok(Vec::new());
        }
        let cond = conditions(&filter, self.side_table());
        let n = limit_sql(limit, 0);
        match self.records_by_side(&SideLookup::new(&filter, self.side_table()), &cond, None, false, n)? {
            Some(rows) => Ok(rows),
            None => self.records_where("", &cond, "ts, id", n),
        }
    }

    fn cards(&self, query: &CardsQuery) -> Result<Cards, StoreError> {
        if !query.slots.aligned_to(QUARTER_HOUR) {
            return Err(StoreError::bad_filter("card slots must be on quarter hours"));
        }
        if !query.check()? {
            return Ok(Cards::default());
        }
        let totals = self.rows(&format!(
            "SELECT logger, countMerge(total), countIfMerge(errors), countIfMerge(warnings), minMerge(first_seen), \
             maxMerge(last_seen) FROM {STATS} GROUP BY logger HAVING countMerge(total) > 0"
        ))?;
        let mut cards: BTreeMap<String, LoggerCard> = BTreeMap::new();
        for row in &totals {
            let [logger, total, errors, warnings, first, last] = row.as_slice() else { return Err(bad_data("a card")) };
            let logger = text(logger)?;
            let t = LoggerTotals::new(
                uint(total)?,
                uint(errors)?,
                uint(warnings)?,
                Timestamp(int(first)?),
                Timestamp(int(last)?),
            );
            let mut card = LoggerCard::new(logger.clone(), t);
            card.slots = vec![LevelCounts::default(); query.slots.len()];
            cards.insert(logger, card);
        }
        // The quarter hours summed per slot and last hour on the server: a
        // few hundred rows, where every (logger, quarter hour) of 90 days was
        // 70 000 rows of JSON to send and parse (most of the cards' time).
        let (hour_start, hour_end) = query.last_hour();
        let from = query.slots.start().min(hour_start);
        let to = query.slots.end().max(hour_end);
        let start = "toInt64(toUInt32(bucket)) * 1000000";
        let buckets = self.rows(&format!(
            "SELECT logger, {} AS slot, ({start} >= {} AND {start} < {}) AS last_hour, sum(trace), sum(debug), \
             sum(info), sum(warn), sum(error) FROM {QUARTER} WHERE bucket >= {} AND bucket < {} \
             GROUP BY logger, slot, last_hour",
            slot_of(&query.slots, start),
            hour_start.0,
            hour_end.0,
            datetime(from),
            datetime(to)
        ))?;
        for row in &buckets {
            let [logger, slot, last_hour, counts @ ..] = row.as_slice() else { return Err(bad_data("a bucket")) };
            let Some(card) = cards.get_mut(&text(logger)?) else { continue };
            let mut c = LevelCounts::default();
            for (level, n) in
                [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error].into_iter().zip(counts)
            {
                c.add_n(level, uint(n)?);
            }
            if int(last_hour)? != 0 {
                card.last_hour.merge(&c);
            }
            if let Some(i) = usize::try_from(int(slot)?).ok().and_then(|s| s.checked_sub(1)) {
                if let Some(counts) = card.slots.get_mut(i) {
                    counts.merge(&c);
                }
            }
        }
        Ok(query.select(cards.into_values().collect()))
    }

    fn histogram(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        let Some(span) = HistogramSpan::of(filter, slots)? else { return Ok(Histogram::zeros(slots)) };
        if let Some(h) = span.count_by_edges(filter, slots, |part| self.histogram(part, slots))? {
            return Ok(h);
        }
        // A filter the aggregates can answer (loggers, levels, whole buckets)
        // sums their rows: a few thousand for 90 days, not every record.
        match span.aggregate_bucket(filter, slots) {
            Some(HOUR) => return self.histogram_from_aggregates(filter, slots, span, HOURLY),
            Some(_) => return self.histogram_from_aggregates(filter, slots, span, QUARTER),
            None => {}
        }
        let narrowed = span.narrow(filter);
        let mut out = Histogram::zeros(slots);
        let rows = self.rows(&format!(
            "SELECT {} AS slot, level, count() FROM log_records {}WHERE {} GROUP BY slot, level",
            slot_of(slots, "ts"),
            SideLookup::new(&narrowed, self.side_table()).prewhere(),
            conditions(&narrowed, self.side_table())
        ))?;
        for row in &rows {
            let [slot, lvl, n] = row.as_slice() else { return Err(bad_data("a histogram row")) };
            let slot = usize::try_from(int(slot)? - 1).map_err(|_| bad_data("a slot"))?;
            if let Some(counts) = out.slots.get_mut(slot) {
                counts.add_n(level(lvl)?, uint(n)?);
            }
        }
        Ok(out)
    }

    fn call_sites(&self, filter: &RecordFilter, limit: usize) -> Result<Vec<CallSite>, StoreError> {
        if limit == 0 || !filter.check()? {
            return Ok(Vec::new());
        }
        let mut sites = Sites::new();
        match filter.whole_site_hours().filter(|_| self.version >= SITES_VERSION) {
            Some(hours) => {
                self.call_sites_by_hour(filter, hours, &mut sites)?;
                for edge in filter.partial_hours(hours) {
                    self.call_sites_from_records(&edge, &mut sites)?;
                }
            }
            None => self.call_sites_from_records(filter, &mut sites)?,
        }
        let mut sites: Vec<CallSite> = sites.into_values().map(|(site, _)| site).collect();
        // As the reference orders them: by (logger, file, line), then most records first.
        sites.sort_by(|a, b| (&a.logger, &a.file, a.line).cmp(&(&b.logger, &b.file, b.line)));
        sites.sort_by_key(|s| std::cmp::Reverse(s.counts.total()));
        sites.truncate(limit);
        Ok(sites)
    }

    fn loggers(&self) -> Result<Vec<String>, StoreError> {
        self.rows(&format!("SELECT logger FROM {STATS} GROUP BY logger HAVING countMerge(total) > 0 ORDER BY logger"))?
            .iter()
            .map(|row| row.first().ok_or_else(|| bad_data("a logger")).and_then(text))
            .collect()
    }

    fn describe(&self) -> String {
        format!("ClickHouse {}", self.http.options().redacted())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn days_as_partition_names() {
        assert_eq!(yyyymmdd(0), 19_700_101);
        assert_eq!(yyyymmdd(20_787), 20_261_130);
        assert_eq!(yyyymmdd(11_016), 20_000_229);
    }

    fn pairs(rows: &[(i64, &str)]) -> Vec<Vec<Value>> {
        rows.iter().map(|(ts, logger)| vec![Value::from(*ts), Value::from(*logger)]).collect()
    }

    #[test]
    fn a_round_cut_by_its_limit_leaves_its_last_time_to_the_next() {
        let c = Candidates::of(&pairs(&[(9, "a"), (9, "b"), (7, "a"), (5, "c")]), 4).unwrap();
        assert_eq!((c.times, c.loggers, c.more), (vec![9, 7], Some(vec!["'a'".into(), "'b'".into()]), true));
        let c = Candidates::of(&pairs(&[(9, "a"), (7, "a"), (5, "c")]), 4).unwrap();
        assert_eq!((c.times, c.loggers, c.more), (vec![9, 7, 5], Some(vec!["'a'".into(), "'c'".into()]), false));
        let c = Candidates::of(&pairs(&[(5, "a"), (5, "b")]), 2).unwrap();
        assert_eq!((c.times, c.loggers, c.more), (vec![5], None, true), "one time cut: every logger");
        assert!(Candidates::of(&pairs(&[]), 2).unwrap().times.is_empty());
    }
}
