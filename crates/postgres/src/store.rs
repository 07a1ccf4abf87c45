//! [`PgStore`]: reading records back from PostgreSQL (the [`Store`] trait).
//!
//! A small pool of connections serves any number of threads; a connection
//! the server or the network dropped is discarded and a read that failed on
//! it is tried once more on a fresh one. The SQL is in [`crate::query`]; how
//! each filter is served by an index is in `docs/query.md`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use log_panel_core::{level_from_severity, Timestamp};
use log_panel_query::{Behind, IndexLag, Store, StoreError, StoreErrorKind};
use log_panel_query::{
    CallSite, CardFilter, CardSort, Cards, CardsQuery, Cursor, FieldGroups, FieldMatch, FieldValue, Histogram,
    HistogramSpan, LevelCounts, LoggerCard, LoggerTotals, Page, PageAt, RecordFilter, Sample, SiteSpan, Slots,
    SplitCounter, StoredRecord, DEFAULT_READ_TIMEOUT, HOUR, QUARTER_HOUR,
};
use postgres::types::Type;
use postgres::{Client, Row};

use crate::link::{Link, Stall};
use crate::options::error_chain;
use crate::rows::{self, RECORD_BLANKS, RECORD_COLUMNS, RECORD_COLUMN_COUNT};
use crate::sql::{
    field_check, filter_conditions, like_escape, listing_candidates, logger_condition, page_conditions, text_check,
    Keys, Sql,
};
use crate::time::{system_time, timestamp};
use crate::{schema, Error, Options};

mod fields;
mod recent;
mod split;

use recent::Recent;

/// Rows a searching page (text, context fields) tests directly before it
/// asks the indexes (see `PgStore::page_by_walk`).
const WALK_ROWS: i64 = 5_000;
/// Rows a second walk reads at most, when the first one's matches predict a
/// page within them and the filter has conditions beyond one search (then
/// the indexes' cost is not known from the walk; see [`further_walk`]).
const MAX_WALK_ROWS: i64 = 50_000;
/// Matches a first walk must find for a second one: fewer say little about
/// how far a page lies.
const MIN_DENSITY_MATCHES: i64 = 4;
/// What listing one candidate of a search costs, in rows a walk reads for the
/// same time (see [`further_walk`]): the side table's `ts` and id of each
/// candidate are read from its heap one by one after the GIN lookup, and all
/// of them sorted, where a walk reads the `(ts, id)` index and its rows in
/// order (measured at 10 M records, docs/performance.md, session 36).
const LIST_ROW_COST: f64 = 3.0;
/// The share of records above which a term counts as common for a histogram
/// (see `PgStore::text_is_common`): where the scan and the index lookups cost about the same.
const COMMON_SHARE: f64 = 0.03;
/// A histogram over a span the planner expects to hold at most this many
/// records is counted exactly even for a common term: a scan of its rows
/// stays within a page's budget.
const EXACT_SPAN_ROWS: f64 = 100_000.0;
/// About how many of the span's records an estimated histogram reads (see
/// `PgStore::histogram_from_sample`).
const SAMPLE_ROWS: f64 = 40_000.0;
/// The seed of the sample's `REPEATABLE`: the same pages each time, so an
/// estimate drawn twice is the same.
const SAMPLE_SEED: i32 = 24;
/// An estimate's sample groups each bar's rows by runs of `2^SAMPLE_RUN_BITS`
/// ids, its clusters (see `histogram_from_sample`).
const SAMPLE_RUN_BITS: u32 = 8;
/// The kinds of row a walk's statement returns (see `PgStore::walk`): a
/// match, where the walk stopped, the nearest match behind the cursor, where
/// the walk behind the cursor stopped.
const MATCH: i32 = 0;
const WALK_END: i32 = 1;
const BEHIND: i32 = 2;
const BEHIND_END: i32 = 3;
/// Idle connections kept for reuse.
const POOL_IDLE: usize = 4;
/// How long past its budget a read waits for the server's answer before it
/// takes the server for frozen and gives the connection up: a live server
/// stops the read at the budget (`statement_timeout`) and answers at once,
/// a frozen one (SIGSTOP, a stuck host) answers nothing, and without this
/// bound a page or command waited as long as the freeze lasted.
pub const READ_GRACE: Duration = Duration::from_secs(1);
/// How long a new connection may take while the server gave no answer to
/// the last attempt (see `PgStore::silent`): a live server, even a distant
/// one behind TLS, answers well within it; a frozen one does not, and each
/// further read of a page then costs this instead of its whole bound.
const SILENT_CONNECT: Duration = Duration::from_secs(1);
/// How long past its own limit a new connection's thread is waited for,
/// so that its own reason for failing is the one shown.
const OPEN_SLACK: Duration = Duration::from_millis(100);
/// The current search mark, as a column (see `PgStore::page_of_rare`).
const MARK: &str = "coalesce((SELECT m.last_id FROM log_search_mark m), 0)";
/// A search with at most this many candidates is rare: listing all of them
/// costs less than one walk of [`WALK_ROWS`] (each costs [`LIST_ROW_COST`]
/// rows), so once its count is known its pages list them directly (see
/// `PgStore::page_of_rare`).
const RARE_CANDIDATES: i64 = (WALK_ROWS as f64 / LIST_ROW_COST) as i64;
/// How long a search's count of candidates is trusted before its pages walk
/// first again (each listing of it counts again meanwhile).
const RARE_FOR: Duration = Duration::from_secs(60);
/// Searches whose count the store keeps at most.
const RARE_KEPT: usize = 64;
/// Rows a histogram counts at most when it cannot use the aggregates.
pub const DEFAULT_SCAN_BOUND: u64 = 1_000_000;

/// Reads log-panel records from PostgreSQL (the [`Store`] trait; `docs/query.md`).
///
/// A small pool of connections serves any number of threads; a connection
/// the server or the network dropped is discarded, and a query that failed
/// on it is tried once more on a fresh one.
///
/// ```no_run
/// use log_panel_query::{PageAt, RecordFilter};
/// use log_panel_query::Store;
/// use log_panel_postgres::PgStore;
///
/// let store = PgStore::connect("postgres://app:secret@localhost/logs")?;
/// let page = store.records(&RecordFilter::default(), PageAt::Newest, 50)?;
/// println!("{} records, more: {}", page.records.len(), page.older.is_some());
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
pub struct PgStore {
    config: Options,
    /// Idle connections, each on its thread ([`Link`]) so that a read has a
    /// client-side bound ([`PgStore::on`]).
    idle: Mutex<Vec<Link<Client>>>,
    scan_bound: u64,
    /// `statement_timeout` of every pooled session, in milliseconds (≥ 1).
    read_timeout_ms: u64,
    /// Whether the server gave no answer to the last read or connection
    /// attempt (given up at its bound): new connections then wait at most
    /// [`SILENT_CONNECT`], so that a page of several reads on a frozen
    /// server waits about one read's bound, not one per read. Cleared by
    /// any answer.
    silent: AtomicBool,
    /// Whether the server is a hot standby (`pg_is_in_recovery()` when the
    /// store connected): it cannot `LISTEN`, so live tails poll.
    standby: bool,
    /// Whether `log_records` was seen partitioned (by day): when the store
    /// connected, or since (a writer may convert it meanwhile; never back).
    partitioned: AtomicBool,
    /// The searches ([`search_key`]) a listing found rare (at most
    /// [`RARE_CANDIDATES`] candidates), and when: their pages read those
    /// candidates directly instead of walking the nearest rows first.
    /// Each with the search mark read with its count: the next page of it
    /// binds that mark (see `PgStore::page_of_rare`).
    rare: Recent<i64>,
    /// The filters (their `Debug` text without `since`) whose last page needed a second
    /// walk, with how densely the first one found their matches: their next
    /// pages walk that far at once (see `PgStore::first_walk_rows`).
    dense: Recent<Density>,
}

/// How densely a filter's matches lay in the rows a page's first walk read,
/// noted when the page needed a second walk (see `PgStore::first_walk_rows`).
#[derive(Debug, Clone, Copy)]
struct Density {
    /// Rows the first walk read for each match it found.
    rows_per_match: f64,
    /// The most both walks could have read: a later first walk reads no more.
    cap: i64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.config.redacted()).finish_non_exhaustive()
    }
}

/// A postgres error as a store error: connection-level failures are
/// `Unavailable`, everything else `Storage`; the message names the database
/// by its redacted URL and never holds the password.
pub(crate) fn store_error(config: &Options, what: &str, e: postgres::Error) -> StoreError {
    let unavailable = match e.code().map(|c| c.code()) {
        // No SQLSTATE: a broken connection, or a driver-side mistake (which is ours).
        None => e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()),
        Some(code) => code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03"),
    };
    if e.code().is_some_and(|c| c.code() == "57014") {
        // query_canceled: only the session's statement_timeout cancels a read.
        return StoreError::new(
            StoreErrorKind::TimedOut,
            format!("PostgreSQL at `{}`: {what}: the read ran past its time budget and was stopped", config.redacted()),
        )
        .with_source(e);
    }
    let kind = if unavailable { StoreErrorKind::Unavailable } else { StoreErrorKind::Storage };
    let detail = one_line(&config.scrub(&error_chain(&e)));
    StoreError::new(kind, format!("PostgreSQL at `{}`: {what}: {detail}", config.redacted())).with_source(e)
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `f` as a job that also says whether it left the connection closed (its
/// thread marks the link closed only after the answer is sent).
fn and_closed<T, F>(mut f: F) -> impl FnOnce(&mut Client) -> (Result<T, postgres::Error>, bool) + Send + 'static
where
    F: FnMut(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
{
    move |client| {
        let result = f(client);
        (result, client.is_closed())
    }
}

/// The cursor of a row whose first columns are a record's `id, ts`.
fn row_cursor(row: &Row) -> Result<Cursor, postgres::Error> {
    let ts: SystemTime = row.try_get(1)?;
    Ok(Cursor { ts: timestamp(ts), id: row.try_get(0)? })
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Whole milliseconds of `d`, at least 1 (a `statement_timeout` of 0 is none).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).clamp(1, i32::MAX as u64)
}

/// The log-panel schema version, `None` when the database has no log-panel
/// schema. Only reads.
pub(crate) fn schema_version(client: &mut Client) -> Result<Option<i32>, postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('log_panel_schema') IS NOT NULL", &[])?.try_get(0)?;
    if !exists {
        return Ok(None);
    }
    client.query_one("SELECT max(version) FROM log_panel_schema", &[])?.try_get(0)
}

/// A new session to `config`'s database, with the server's defaults.
pub(crate) fn session(config: &Options) -> Result<Client, StoreError> {
    config.connect().map_err(|reason| connect_error(config, &reason))
}

/// A connection attempt's failure, as `Unavailable`.
fn connect_error(config: &Options, reason: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Unavailable,
        format!("cannot connect to PostgreSQL at `{}`: {}", config.redacted(), one_line(reason)),
    )
}

/// Refuses a database without the log-panel schema, or of another version
/// than this build's (see [`PgStore::connect`]). Only reads.
pub(crate) fn check_schema(config: &Options, client: &mut Client) -> Result<(), StoreError> {
    let version = schema_version(client).map_err(|e| store_error(config, "reading the log-panel schema version", e))?;
    let url = config.redacted().to_owned();
    let latest = schema::latest_version();
    match version {
        None => Err(StoreError::new(
            StoreErrorKind::Unavailable,
            format!(
                "`{url}` is not a log-panel database (no log_panel_schema table; nothing has been logged there yet?)"
            ),
        )),
        Some(found) if found > latest => Err(StoreError::new(
            StoreErrorKind::NewerSchema,
            Error::SchemaTooNew { url, found, supported: latest }.to_string(),
        )),
        Some(found) if found < latest => Err(StoreError::new(
            StoreErrorKind::Unavailable,
            format!(
                "`{url}` was written by an older log-panel (schema version {found}, this one reads {latest}); run \
                 the application (its writer migrates the database) or `log-panel migrate`"
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// The condition on `r` of the rows at or behind cursor `c` for a page read
/// in `order` (`"DESC"`: newest first), and the order that reads them
/// nearest the cursor first: where a page's other cursor is found.
fn behind_cursor(sql: &mut Sql, order: &str, c: Cursor) -> (String, &'static str) {
    let (op, back_order) = if order == "DESC" { (">=", "ASC") } else { ("<=", "DESC") };
    (format!("(r.ts, r.id) {op} ({}, {})", sql.bind(system_time(c.ts)), sql.bind(c.id)), back_order)
}

/// Widens each of `h`'s bars to what its sample's `clusters` show, of
/// `rows(i)` rows in bar `i` ([`Histogram::widen_by_clusters`]).
fn widen_by_clusters(h: &mut Histogram, clusters: &[HashMap<i64, (u64, u64)>], rows: impl Fn(usize) -> u64) {
    for (i, c) in clusters.iter().enumerate() {
        let c: Vec<(u64, u64)> = c.values().copied().collect();
        h.widen_by_clusters(i, &c, rows(i));
    }
}

/// What [`PgStore::count_buckets`] read: rows of `(slot, level, count, …, last)`.
struct Buckets {
    /// Per slot, each cluster's `(count, last)` summed, the cluster keyed by
    /// the fourth column of rows of five (a sample's run of ids); empty otherwise.
    clusters: Vec<HashMap<i64, (u64, u64)>>,
    /// The third column's counts per slot and level.
    counts: Vec<LevelCounts>,
    /// The last column summed per slot (every level).
    last: Vec<u64>,
    /// The third column summed over every row, in a slot or not.
    total: u64,
}

/// The slot of a `width_bucket` over the slots' bounds (1 for the first; 0
/// and `len + 1` lie outside).
fn slot_of(bucket: i32, slots: &Slots) -> Option<usize> {
    usize::try_from(bucket).ok().and_then(|b| b.checked_sub(1)).filter(|&i| i < slots.len())
}

/// The `rows=` estimate of the top node of a text-format plan line (0 when absent).
fn planned_rows(line: &str) -> f64 {
    line.split("rows=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .map_or(0.0, |n| n.parse::<f64>().unwrap_or(0.0))
}

/// The most `(ts, id)` pairs of a search a statement on a partitioned
/// `log_records` names as values (`PgStore::page_sql_for`).
const LISTED_PAIRS: i64 = 1000;
/// The most days whose id ranges hold an id that a lookup by id on a
/// partitioned `log_records` names (`PgStore::record_by_day`); more, and it
/// probes every day, as the ranges say little.
const CANDIDATE_DAYS: i64 = 8;
/// Whether the table a row came from is a partition, after
/// [`RECORD_COLUMNS`] in the lookup by id that does not name days.
const FROM_A_PARTITION: &str = "r.tableoid <> 'log_records'::regclass";

/// `EXPLAIN` as executed, without the figures that vary from run to run.
const EXPLAIN_ANALYZE: &str = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)";

pub(crate) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Level counts from five `int8` columns starting at `first` (trace … error).
fn level_counts(row: &Row, first: usize) -> Result<LevelCounts, postgres::Error> {
    let mut counts = LevelCounts::default();
    for (i, level) in [5i64, 10, 20, 30, 40].into_iter().enumerate() {
        let n: i64 = row.try_get(first + i)?;
        if let Some(level) = level_from_severity(level) {
            counts.add_n(level, count(n));
        }
    }
    Ok(counts)
}

/// The aggregate table and its bucket column for slots aligned to `unit`.
fn bucket_table(unit: i64) -> (&'static str, &'static str) {
    if unit == HOUR {
        ("log_logger_hourly", "hour")
    } else {
        ("log_logger_quarter", "quarter")
    }
}

/// The call sites of a `filter` on logger and time alone, for
/// [`Store::call_sites`]: the whole UTC days inside the whole hours `hours`
/// of its range (see [`RecordFilter::whole_site_hours`] and
/// [`RecordFilter::site_spans`]) from `log_site_daily`, the whole hours at
/// their ends from `log_site_hourly`, the partial hours at the range's ends
/// from the rows, summed per site in one statement (one snapshot, so the
/// parts agree); the same columns and order as the rows' path. A 90-day list
/// sums a row per site and day, not per site and hour.
fn sites_by_bucket(
    sql: &mut Sql,
    filter: &RecordFilter,
    (a, b): (Option<Timestamp>, Option<Timestamp>),
    lim: &str,
) -> String {
    let mut parts = Vec::new();
    for SiteSpan { unit, since, until } in RecordFilter::site_spans((a, b)) {
        let (table, column) = unit.table();
        let mut conditions = vec!["TRUE".to_owned()];
        if let Some(since) = since {
            conditions.push(format!("b.{column} >= {}", sql.bind(system_time(since))));
        }
        if let Some(until) = until {
            conditions.push(format!("b.{column} < {}", sql.bind(system_time(until))));
        }
        if let Some(m) = &filter.logger {
            conditions.push(logger_condition(sql, "b.logger", m));
        }
        // Every part in byte order (`COLLATE "C"`, the tables'), so the union
        // groups and sorts them as one. `table` and `column` are our constants.
        parts.push(format!(
            "SELECT b.logger, CASE WHEN b.file_key = '' THEN NULL ELSE substr(b.file_key, 2) END AS file,
                    CASE WHEN b.line_key < 0 THEN NULL ELSE b.line_key END AS line,
                    b.trace, b.debug, b.info, b.warn, b.error, b.last_seen AS last
             FROM {table} b WHERE {}",
            conditions.join(" AND ")
        ));
    }
    for edge in filter.partial_hours((a, b)) {
        let cond = filter_conditions(sql, &edge);
        parts.push(format!(
            "SELECT r.logger COLLATE \"C\", r.file COLLATE \"C\", r.line, (r.level = 5)::int, (r.level = 10)::int,
                    (r.level = 20)::int, (r.level = 30)::int, (r.level = 40)::int, r.ts
             FROM log_records r WHERE {cond}"
        ));
    }
    format!(
        "SELECT logger, file, line, sum(trace)::int8 AS trace, sum(debug)::int8 AS debug, sum(info)::int8 AS info,
                sum(warn)::int8 AS warn, sum(error)::int8 AS error, max(last) AS last,
                sum(trace + debug + info + warn + error)::int8 AS n
         FROM ({}) p GROUP BY 1, 2, 3
         ORDER BY n DESC, logger, file NULLS FIRST, line NULLS FIRST LIMIT {lim}",
        parts.join(" UNION ALL ")
    )
}

/// What one walk of the nearest rows found ([`PgStore::walk`]).
struct Walked {
    /// Up to the matches wanted, in page order.
    records: Vec<StoredRecord>,
    /// The last row walked, when the walk read every row it was given
    /// without finding the matches wanted: a further walk goes on after it.
    /// `None` when they were found, or the walk saw every row the other
    /// conditions keep on that side.
    stopped_at: Option<Cursor>,
    /// The rows of the search side table (its `reltuples`), which the
    /// indexes' candidates are a part of.
    indexed: f64,
    /// The search mark, read with where the walk stopped (so a probe after
    /// it needs no statement of its own to read it; see `query::mark_expr`).
    mark: i64,
    /// What lies on the other side of the walk's cursor, when asked.
    behind: OtherSide,
}

/// What a page's statement read on the other side of the page's cursor (the
/// side `Page::from_rows` asks about for the page's other cursor), so that
/// no statement of its own asks (see `PgStore::records`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OtherSide {
    /// Not read, or not settled (a bounded walk found no record there but
    /// did not reach the last row).
    Unknown,
    /// The record the filter keeps nearest the cursor at or behind it.
    Nearest(Cursor),
    /// No record the filter keeps lies at or behind the cursor.
    Nothing,
}

impl OtherSide {
    /// What the nearest two records at or behind cursor `c` (`nearest`,
    /// nearest first) say of that side for a page from `c`: an empty page
    /// is asked about what lies behind the cursor itself (the second record
    /// is for it), where the cursor's own row does not count.
    fn of_nearest(page_is_empty: bool, c: Cursor, mut nearest: Vec<Cursor>) -> OtherSide {
        if page_is_empty {
            nearest.retain(|b| *b != c);
        }
        nearest.first().map_or(OtherSide::Nothing, |b| OtherSide::Nearest(*b))
    }

    /// Whether a record the filter keeps lies behind `from`, the page's
    /// record nearest its cursor (or the cursor itself, for an empty page):
    /// no such record lies between `from` and the cursor, so any at or
    /// behind the cursor but `from` itself is one. `None` when that is not
    /// known.
    fn beyond(self, from: Cursor) -> Option<bool> {
        match self {
            OtherSide::Nothing => Some(false),
            OtherSide::Nearest(c) if c != from => Some(true),
            OtherSide::Nearest(_) | OtherSide::Unknown => None,
        }
    }
}

/// How many rows a second walk of a page may read after a first one found
/// `found` of the `want` matches in `walked` rows, or `None` when the indexes
/// should answer instead. At the density found, the rest of the page lies
/// about `(want - found) × walked / found` rows further on. With `indexed`
/// (the filter is one search and a time range, whose indexes list every
/// candidate, about `indexed × found / walked` of them at that density, each
/// costing [`LIST_ROW_COST`] rows), the walk goes on when half as much again
/// costs less than listing them, and reads at most what listing costs: were
/// the matches sparser further on, the page costs at most twice the cheaper
/// way. Without it, the page must lie within [`MAX_WALK_ROWS`] in all.
fn further_walk(found: i64, want: i64, walked: i64, indexed: Option<f64>) -> Option<i64> {
    // Too few matches to tell a density from (a rare word's one hit).
    if found < MIN_DENSITY_MATCHES || walked <= 0 {
        return None;
    }
    let needed = want.saturating_sub(found).saturating_mul(walked) / found;
    let budget = match indexed {
        Some(rows) => (rows * found as f64 / walked as f64 * LIST_ROW_COST) as i64,
        None => MAX_WALK_ROWS - walked,
    };
    (needed.saturating_mul(3) / 2 <= budget).then_some(budget)
}

/// Whether `filter` sets nothing beside the search a page lists first
/// ([`listing_candidates`]: the text, else the first field) and a time
/// range: then that search's candidates nearest a position, ordered by time,
/// are the page (the field's exact check aside).
fn searches_only(filter: &RecordFilter) -> bool {
    let mut rest = filter.clone();
    if rest.text.take().is_none() && !rest.fields.is_empty() {
        rest.fields.remove(0);
    }
    rest.since = None;
    rest.until = None;
    rest == RecordFilter::default()
}

/// The search a page of `filter` lists first ([`listing_candidates`]: the
/// text, else the first field), as the key of [`PgStore`]'s rare searches.
fn search_key(filter: &RecordFilter) -> String {
    match (&filter.text, filter.fields.first()) {
        (Some(text), _) => format!("text {text}"),
        (None, field) => format!("field {field:?}"),
    }
}

/// `filter`'s time range as conditions on the `ts` of table alias `t` (none
/// when it has no bound).
fn range_bounds(sql: &mut Sql, filter: &RecordFilter, t: &str) -> Vec<String> {
    let mut bounds = Vec::new();
    if let Some(since) = filter.since {
        bounds.push(format!("{t}.ts >= {}", sql.bind(system_time(since))));
    }
    if let Some(until) = filter.until {
        bounds.push(format!("{t}.ts < {}", sql.bind(system_time(until))));
    }
    bounds
}

/// The exact check of each of `filter`'s fields on the `context` of table
/// alias `r` (see [`field_check`]).
fn field_checks(sql: &mut Sql, filter: &RecordFilter) -> Vec<String> {
    filter.fields.iter().map(|f| field_check(sql, &f.key, &f.value)).collect()
}

/// The lookup of `id` alone (every day partition's id index, when
/// partitioned), with whether the row came from a partition after the record's columns.
fn record_in_every_day(id: i64) -> Sql {
    let mut sql = Sql::default();
    let p = sql.bind(id);
    sql.text = format!("SELECT {RECORD_COLUMNS}, {FROM_A_PARTITION} FROM log_records r WHERE r.id = {p}");
    sql
}

impl PgStore {
    /// Parses `url` and connects to read a log-panel database. A reader
    /// never creates or migrates the schema (the sink does, or
    /// [`PgMaintenance::migrate`](crate::PgMaintenance::migrate)): a database without it is
    /// [`StoreErrorKind::Unavailable`] ("not a log-panel database"), one of an
    /// older log-panel too (with what to do), one of a newer log-panel
    /// [`StoreErrorKind::NewerSchema`]. Each read has a budget of
    /// [`DEFAULT_READ_TIMEOUT`] ([`PgStore::with_read_timeout`]).
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config = Options::parse(url).map_err(|e| StoreError::bad_filter(one_line(&e.to_string())))?;
        PgStore::with_config(config)
    }

    /// Connects with a parsed configuration (see [`PgStore::connect`]).
    pub fn with_config(config: Options) -> Result<PgStore, StoreError> {
        PgStore::with_config_within(config, DEFAULT_READ_TIMEOUT)
    }

    /// [`PgStore::connect`] with a read budget of `read_timeout` from the
    /// start ([`PgStore::with_read_timeout`]): the connection and the checks
    /// it makes are bounded by it too, so a command given `--read-timeout
    /// 5s` answers within about 5 s even when the server never does.
    pub fn connect_with_read_timeout(url: &str, read_timeout: Duration) -> Result<PgStore, StoreError> {
        let config = Options::parse(url).map_err(|e| StoreError::bad_filter(one_line(&e.to_string())))?;
        PgStore::with_config_within(config, read_timeout)
    }

    fn with_config_within(config: Options, read_timeout: Duration) -> Result<PgStore, StoreError> {
        let store = PgStore {
            config,
            idle: Mutex::new(Vec::new()),
            scan_bound: DEFAULT_SCAN_BOUND,
            read_timeout_ms: millis(read_timeout),
            silent: AtomicBool::new(false),
            standby: false,
            partitioned: AtomicBool::new(false),
            rare: Recent::new(RARE_KEPT, RARE_FOR),
            dense: Recent::new(RARE_KEPT, RARE_FOR),
        };
        let deadline = Instant::now() + store.read_bound();
        let mut link = store.open(deadline)?;
        let config = store.config.clone();
        let (standby, partitioned) = store.on(&mut link, "checking the log-panel schema", deadline, move |client| {
            check_schema(&config, client)?;
            client
                .query_one(
                    "SELECT pg_is_in_recovery(), (SELECT relkind = 'p' FROM pg_class WHERE oid = 'log_records'::regclass)",
                    &[],
                )
                .and_then(|r| Ok((r.try_get(0)?, r.try_get::<_, Option<bool>>(1)?.unwrap_or(false))))
                .map_err(|e| store_error(&config, "asking whether the server is a standby, the table partitioned", e))
        })??;
        let store = PgStore { standby, partitioned: AtomicBool::new(partitioned), ..store };
        store.put_back(link);
        Ok(store)
    }

    /// Sets how long one read may run before the server stops it and the
    /// read answers [`StoreErrorKind::TimedOut`] (default
    /// [`DEFAULT_READ_TIMEOUT`]; whole milliseconds, at least 1): the
    /// `statement_timeout` of the store's sessions. A server that does not
    /// answer at all (frozen: `statement_timeout` is the server's own) is
    /// given up [`READ_GRACE`] later, as [`StoreErrorKind::Unavailable`];
    /// a new connection is bounded by the budget too. Maintenance
    /// ([`PgMaintenance`](crate::PgMaintenance)) runs without it.
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> PgStore {
        self.read_timeout_ms = millis(timeout);
        // Sessions already open take the new budget (a round trip, where
        // closing them cost the next read a new connection: ~5 ms for every
        // `log-panel` command); one that cannot is closed.
        let budget = self.budget_sql();
        let bound = self.read_bound();
        if let Ok(idle) = self.idle.get_mut() {
            idle.retain_mut(|link| {
                let budget = budget.clone();
                link.run(bound, move |c, _| c.batch_execute(&budget).is_ok() && !c.is_closed()) == Ok(true)
            });
        }
        self
    }

    /// Sets how many rows a [`histogram`](Store::histogram) counts at most when
    /// it reads rows rather than aggregates (default [`DEFAULT_SCAN_BOUND`]).
    #[must_use]
    pub fn with_scan_bound(mut self, rows: u64) -> PgStore {
        self.scan_bound = rows.max(1);
        self
    }

    /// The configuration (its `Display` is the redacted URL).
    pub fn config(&self) -> &Options {
        &self.config
    }

    /// Whether the server was a hot standby (in recovery) when the store
    /// connected: reads work, live tails poll rather than listen.
    pub fn is_standby(&self) -> bool {
        self.standby
    }

    /// How long a read waits for the server at most: its budget (the
    /// server's `statement_timeout`) and [`READ_GRACE`] for the answer that
    /// the server's cancel sends.
    fn read_bound(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms) + READ_GRACE
    }

    /// A new session with the read budget as its `statement_timeout`, on a
    /// thread of its own ([`Link`]), opened by `deadline` or given up.
    fn open(&self, deadline: Instant) -> Result<Link<Client>, StoreError> {
        let config = self.config.clone();
        let budget = self.budget_sql();
        // The connect timeout may be the shorter bound (the panel's budget of
        // 10 s gives an 11 s bound, the default connect timeout is 10 s).
        let mut limit = deadline.saturating_duration_since(Instant::now()).min(self.config.connect_timeout());
        let mut why = "the read budget";
        if self.silent.load(Ordering::SeqCst) && limit > SILENT_CONNECT {
            (limit, why) = (SILENT_CONNECT, "the server gave no answer to this store's last attempt");
        }
        let started = Instant::now();
        let (mut link, opened) = Link::spawn(
            "log-panel-pg-read",
            move || {
                let mut client = config.connect_within(limit, why).map_err(|reason| connect_error(&config, &reason))?;
                client.batch_execute(&budget).map_err(|e| store_error(&config, "setting the read time budget", e))?;
                Ok((client, ()))
            },
            Client::is_closed,
        )
        .map_err(|e| connect_error(&self.config, &format!("cannot start a thread for the connection: {e}")))?;
        // The attempt gives up by itself at `limit`: wait a little longer for
        // its own word on why, rather than a bare "no answer".
        let answer = opened.recv_timeout(limit + OPEN_SLACK);
        // Opened: the server answers. Unanswered for the whole limit (not
        // refused, nor turned down for the attempts already waiting): silent.
        if matches!(answer, Ok(Ok(()))) {
            self.silent.store(false, Ordering::SeqCst);
        } else if started.elapsed() >= limit {
            self.silent.store(true, Ordering::SeqCst);
        }
        match answer {
            Ok(Ok(())) => Ok(link),
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                link.abandon();
                Err(connect_error(
                    &self.config,
                    &format!("the server did not answer within {} ms (the read budget)", limit.as_millis()),
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(connect_error(&self.config, "the connecting thread ended without an answer"))
            }
        }
    }

    /// `SET statement_timeout` to the read budget (a number of ours, inlined:
    /// `SET` takes no parameters), and every transaction read-only: a read
    /// path that tried to write would fail instead of changing the database.
    fn budget_sql(&self) -> String {
        format!("SET statement_timeout = {}; SET default_transaction_read_only = on", self.read_timeout_ms)
    }

    fn take(&self, deadline: Instant) -> Result<Link<Client>, StoreError> {
        loop {
            let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match pooled {
                Some(link) if link.is_closed() => continue,
                Some(link) => return Ok(link),
                None => return self.open(deadline),
            }
        }
    }

    fn put_back(&self, link: Link<Client>) {
        if link.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < POOL_IDLE {
                idle.push(link);
            }
        }
    }

    /// Runs `job` on `link`'s connection and waits for its answer until
    /// `deadline`. Past it the server is taken for frozen (its own
    /// `statement_timeout` would have answered): the link is given up, its
    /// thread left to end when the server answers or the connection fails.
    fn on<R: Send + 'static>(
        &self,
        link: &mut Link<Client>,
        what: &str,
        deadline: Instant,
        job: impl FnOnce(&mut Client) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = link.run(left, move |client, _| job(client));
        self.silent.store(matches!(answer, Err(Stall::Silent(_))), Ordering::SeqCst);
        answer.map_err(|stall| {
            let (kind, why) = match stall {
                Stall::Silent(_) => (
                    StoreErrorKind::Unavailable,
                    format!(
                        "the server gave no answer within {} ms (the read budget and {} ms more); the connection \
                         is given up",
                        self.read_bound().as_millis(),
                        READ_GRACE.as_millis()
                    ),
                ),
                Stall::Gone => (StoreErrorKind::Storage, "the connection's thread ended without an answer".to_owned()),
            };
            StoreError::new(kind, format!("PostgreSQL at `{}`: {what}: {why}", self.config.redacted()))
        })
    }

    /// Runs `f` on a pooled connection; when the connection turns out to be
    /// broken (no SQLSTATE), once more on a fresh one. All of it within the
    /// read bound ([`PgStore::on`]).
    fn run<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnMut(&mut Client) -> Result<T, postgres::Error> + Clone + Send + 'static,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.read_bound();
        let mut link = self.take(deadline)?;
        match self.on(&mut link, what, deadline, and_closed(f.clone()))? {
            (Ok(v), _) => {
                self.put_back(link);
                Ok(v)
            }
            (Err(_), true) => {
                drop(link);
                let mut link = self.open(deadline)?;
                let (result, _) = self.on(&mut link, what, deadline, and_closed(f))?;
                self.put_back(link);
                result.map_err(|e| store_error(&self.config, what, e))
            }
            (Err(e), false) => {
                self.put_back(link);
                Err(store_error(&self.config, what, e))
            }
        }
    }

    /// Runs `sql` ([`PgStore::run`]) and returns its rows.
    pub(crate) fn rows(&self, what: &str, sql: &Sql) -> Result<Vec<Row>, StoreError> {
        let sql = sql.clone();
        self.run(what, move |c| sql.query(c))
    }

    /// A statement for `filter`, with the search mark read first when the
    /// filter searches (see `query::mark_expr`), and with it whether
    /// `log_records` is partitioned (asked each time: a writer may partition
    /// it while this store is open).
    fn sql_for(&self, filter: &RecordFilter) -> Result<Sql, StoreError> {
        let mut sql = Sql::default();
        if filter.text.is_some() || !filter.fields.is_empty() || !filter.ranges.is_empty() || filter.query.is_some() {
            let (mark, partitioned) = self.run("reading the search mark", |c| {
                let row = c.query_typed_one(
                    "SELECT coalesce((SELECT last_id FROM log_search_mark), 0),
                            (SELECT relkind = 'p' FROM pg_class WHERE oid = 'log_records'::regclass)",
                    &[],
                )?;
                Ok((row.try_get::<_, i64>(0)?, row.try_get::<_, Option<bool>>(1)?.unwrap_or(false)))
            })?;
            sql.mark = Some(mark);
            sql.partitioned = partitioned;
            if partitioned {
                self.partitioned.store(true, Ordering::Relaxed);
            }
        }
        Ok(sql)
    }

    /// On a partitioned `log_records`, the lookup of `id` in the days whose
    /// id range (`log_day_ids`) holds it (usually one; several where
    /// writers' ids interleaved), by `ts` ranges sent as values, which
    /// PostgreSQL prunes the other days by while planning. `None` when the
    /// table is not partitioned, or no day (or more than [`CANDIDATE_DAYS`])
    /// holds the id: then [`record_in_every_day`] looks.
    fn record_by_day(&self, id: i64) -> Result<Option<Sql>, StoreError> {
        let mut sql = Sql::default();
        let p = sql.bind(id);
        if self.partitioned.load(Ordering::Relaxed) {
            let days: Vec<(SystemTime, SystemTime)> = self.run("finding the day of a record", move |c| {
                c.query(
                    "SELECT day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC'
                     FROM log_day_ids WHERE min_id <= $1 AND max_id >= $1 ORDER BY day LIMIT $2",
                    &[&id, &(CANDIDATE_DAYS + 1)],
                )?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
            })?;
            if !days.is_empty() && sql_limit(days.len()) <= CANDIDATE_DAYS {
                // Consecutive days as one range.
                let mut spans: Vec<(SystemTime, SystemTime)> = Vec::new();
                for (from, to) in days {
                    match spans.last_mut() {
                        Some(last) if last.1 == from => last.1 = to,
                        _ => spans.push((from, to)),
                    }
                }
                let within: Vec<String> = spans
                    .into_iter()
                    .map(|(from, to)| format!("(r.ts >= {} AND r.ts < {})", sql.bind(from), sql.bind(to)))
                    .collect();
                sql.text = format!(
                    "SELECT {RECORD_COLUMNS} FROM log_records r WHERE r.id = {p} AND ({})",
                    within.join(" OR ")
                );
                return Ok(Some(sql));
            }
        }
        Ok(None)
    }

    /// The executed plan (as [`explain_analyze_records`](PgStore::explain_analyze_records))
    /// of the statement [`Store::record`]`(id)` runs first; a test counts
    /// with it the day partitions a lookup by id reads.
    pub fn explain_analyze_record(&self, id: i64) -> Result<String, StoreError> {
        let sql = self.record_by_day(id)?.unwrap_or_else(|| record_in_every_day(id));
        self.explain(EXPLAIN_ANALYZE, sql)
    }

    /// [`sql_for`](PgStore::sql_for) a statement built with [`page_conditions`],
    /// with the `(ts, id)` pairs of the search it lists first read now and
    /// named as values (`Sql::listed`) when that pays:
    ///
    /// - `nearest` (a page's position and the rows it wants), when the
    ///   filter has no condition beyond that search and a time range: only
    ///   the candidates nearest the position, ordered by the side table's
    ///   `ts`, so the page fetches `want` records instead of every match
    ///   (`user_id=1286`: 51 rows, not 2 000). The second value is then
    ///   whether more candidates lay beyond them (see [`page_query`](PgStore::page_query)).
    /// - otherwise, when `log_records` is partitioned: up to [`LISTED_PAIRS`],
    ///   so the statement reads only their days. More pairs than that, and
    ///   it lists them by subquery as when unpartitioned (a long list would
    ///   cross the connection twice).
    fn page_sql_for(&self, filter: &RecordFilter, nearest: Option<(PageAt, i64)>) -> Result<(Sql, bool), StoreError> {
        let mut sql = self.sql_for(filter)?;
        let nearest = nearest.filter(|(_, want)| *want < LISTED_PAIRS && searches_only(filter));
        if !sql.partitioned && nearest.is_none() {
            return Ok((sql, false));
        }
        let mut first = Sql::default();
        first.mark = sql.mark;
        let Some(candidates) = listing_candidates(&mut first, filter, Keys::TsId) else {
            return Ok((sql, false));
        };
        let (cap, mut bounds, order) = match nearest {
            Some((at, want)) => {
                let (position, order) = PgStore::position(&mut first, at, "c");
                (want + 1, vec![position], order)
            }
            None => (LISTED_PAIRS + 1, Vec::new(), "ASC"),
        };
        if nearest.is_some() {
            // The range too, so candidates outside it take no place in the list.
            bounds.extend(range_bounds(&mut first, filter, "c"));
        }
        let cap_p = first.bind(cap);
        // The candidates listed for the nearest are counted too (all of them
        // pass the sort anyway): a rare search's later pages list them
        // directly (`PgStore::page_of_rare`).
        first.text = match nearest {
            Some(_) => format!(
                "SELECT c.ts, c.id, count(*) OVER () FROM ({candidates}) c WHERE {} \
                 ORDER BY c.ts {order}, c.id {order} LIMIT {cap_p}",
                bounds.join(" AND ")
            ),
            None => format!("SELECT c.ts, c.id, NULL::int8 FROM ({candidates}) c LIMIT {cap_p}"),
        };
        let sent = first.clone();
        let listed: Vec<(SystemTime, i64, Option<i64>)> = self.run("listing a search's records", move |c| {
            sent.query(c)?.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
        })?;
        // Every candidate was counted only for the newest page of the whole range.
        if let Some((PageAt::Newest, _)) = nearest {
            if filter.since.is_none() && filter.until.is_none() {
                let counted = listed.first().and_then(|l| l.2).unwrap_or(0);
                self.note_candidates(filter, counted, first.mark.unwrap_or(0));
            }
        }
        let mut pairs: Vec<(SystemTime, i64)> = listed.into_iter().map(|(ts, id, _)| (ts, id)).collect();
        let beyond = sql_limit(pairs.len()) >= cap;
        if beyond && nearest.is_none() {
            return Ok((sql, false));
        }
        pairs.truncate(usize::try_from(cap - 1).unwrap_or(usize::MAX));
        sql.listed = Some(pairs.into_iter().unzip());
        sql.listed_by = Some(Box::new(first));
        Ok((sql, beyond))
    }

    /// Runs `sql` and reads every row as a record.
    fn fetch_records(&self, sql: &Sql) -> Result<Vec<StoredRecord>, StoreError> {
        let rows = self.rows("reading records", sql)?;
        rows.iter().map(rows::record).collect()
    }

    /// Whether a record `filter` keeps lies on side `op` (`<` older, `>` newer) of `at`.
    fn exists_beyond(&self, filter: &RecordFilter, op: &str, at: Cursor) -> Result<bool, StoreError> {
        // As for pages: a common term or value is found among the nearest rows at once.
        let side = if op == "<" { PageAt::Older(at) } else { PageAt::Newer(at) };
        if let (Some(found), _) = self.page_by_walk(filter, side, 0, false)? {
            return Ok(!found.is_empty());
        }
        // The nearest row, as a page of none (its statement orders from the
        // cursor outwards; an EXISTS would not: the planner drops an ORDER BY
        // inside EXISTS and may scan every row on the other side of the
        // cursor first, 217 ms at 2 M rows).
        Ok(!self.page_query(filter, side, 0)?.is_empty())
    }

    /// The keyset position and order of a page on the rows of table alias
    /// `t`: `(condition, "ASC"/"DESC")`.
    fn position(sql: &mut Sql, at: PageAt, t: &str) -> (String, &'static str) {
        match at {
            PageAt::Newest => ("TRUE".to_owned(), "DESC"),
            PageAt::Older(c) | PageAt::Newer(c) => {
                let op = if matches!(at, PageAt::Older(_)) { "<" } else { ">" };
                let ts = sql.bind(system_time(c.ts));
                let id = sql.bind(c.id);
                (format!("({t}.ts, {t}.id) {op} ({ts}, {id})"), if op == "<" { "DESC" } else { "ASC" })
            }
        }
    }

    /// Up to `limit + 1` records of a page, in the page's reading order.
    fn page_query(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let want = sql_limit(limit).saturating_add(1);
        let (sql, beyond) = self.page_sql(filter, at, limit, Some((at, want)))?;
        let records = self.fetch_records(&sql)?;
        if !beyond || sql_limit(records.len()) >= want {
            return Ok(records);
        }
        // Some of the nearest candidates failed the exact check (a number
        // stored as 1286.0 for `user_id=1286`): every candidate, then.
        self.fetch_records(&self.page_sql(filter, at, limit, None)?.0)
    }

    /// A page of `filter`'s records from cursor `c` (`at`, [`PageAt::Older`]
    /// or [`PageAt::Newer`]) through the indexes, as [`page_query`](PgStore::page_query)
    /// reads it for a filter that does not search, and in the same statement
    /// the two records `filter` keeps nearest the cursor at or behind it: the
    /// page's other cursor ([`OtherSide::beyond`]) needs no statement of its
    /// own, where the naive SQL of a page is one.
    fn page_and_behind(
        &self,
        filter: &RecordFilter,
        at: PageAt,
        c: Cursor,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, OtherSide), StoreError> {
        let (mut sql, _) = self.page_sql_for(filter, None)?;
        let cond = page_conditions(&mut sql, filter);
        let (position, order) = PgStore::position(&mut sql, at, "r");
        let lim = sql.bind(sql_limit(limit).saturating_add(1));
        let (back, back_order) = behind_cursor(&mut sql, order, c);
        sql.text = format!(
            "(SELECT {RECORD_COLUMNS}, TRUE FROM log_records r WHERE {cond} AND {position}
              ORDER BY r.ts {order}, r.id {order} LIMIT {lim})
             UNION ALL
             (SELECT r.id, r.ts, {RECORD_BLANKS}, FALSE FROM log_records r WHERE {cond} AND {back}
              ORDER BY r.ts {back_order}, r.id {back_order} LIMIT 2)"
        );
        let rows = self.rows("reading records", &sql)?;
        let bad = |e| store_error(&self.config, "reading records", e);
        let (mut records, mut behind) = (Vec::new(), Vec::new());
        for row in &rows {
            if row.try_get(RECORD_COLUMN_COUNT).map_err(bad)? {
                records.push(rows::record(row)?);
            } else {
                behind.push(row_cursor(row).map_err(bad)?);
            }
        }
        let side = OtherSide::of_nearest(records.is_empty(), c, behind);
        Ok((records, side))
    }

    /// The statement of a page of `filter`'s records through the indexes,
    /// listing first the candidates `nearest` a position when it applies
    /// (and whether more lay beyond them: see [`page_sql_for`](PgStore::page_sql_for)).
    fn page_sql(
        &self,
        filter: &RecordFilter,
        at: PageAt,
        limit: usize,
        nearest: Option<(PageAt, i64)>,
    ) -> Result<(Sql, bool), StoreError> {
        let (mut sql, beyond) = self.page_sql_for(filter, nearest)?;
        let cond = page_conditions(&mut sql, filter);
        let (position, order) = PgStore::position(&mut sql, at, "r");
        let lim = sql.bind(sql_limit(limit).saturating_add(1));
        sql.text = format!(
            "SELECT {RECORD_COLUMNS} FROM log_records r WHERE {cond} AND {position}
             ORDER BY r.ts {order}, r.id {order} LIMIT {lim}"
        );
        Ok((sql, beyond))
    }

    /// The first statement of the newest page of 50 of `filter`'s records
    /// through the indexes (see [`page_query`](PgStore::page_query)).
    fn first_page_sql(&self, filter: &RecordFilter) -> Result<Sql, StoreError> {
        Ok(self.page_sql(filter, PageAt::Newest, 50, Some((PageAt::Newest, 51)))?.0)
    }

    /// The query plan of the newest page of 50 of `filter`'s records through
    /// the indexes (the statement [`Store::records`] runs when a text search
    /// is not settled by its walk of the newest rows), as PostgreSQL's
    /// `EXPLAIN` lines joined by newlines. A test asserts with it that a
    /// filter is answered through an index, never a sequential scan of
    /// `log_records`.
    pub fn explain_records(&self, filter: &RecordFilter) -> Result<String, StoreError> {
        self.explain("EXPLAIN", self.first_page_sql(filter)?)
    }

    /// [`explain_records`](PgStore::explain_records) run with `EXPLAIN
    /// (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)`: the plan as executed,
    /// where a day partition pruned at run time shows `(never executed)`.
    /// A test counts with it the partitions a search reads.
    pub fn explain_analyze_records(&self, filter: &RecordFilter) -> Result<String, StoreError> {
        self.explain(EXPLAIN_ANALYZE, self.first_page_sql(filter)?)
    }

    /// The executed plan (as [`explain_analyze_records`](PgStore::explain_analyze_records))
    /// of [`Store::related`]`(key, value, limit)`, the request view's lookup;
    /// `None` when the value can match nothing (no statement runs).
    pub fn explain_analyze_related(
        &self,
        key: &str,
        value: &FieldValue,
        limit: usize,
    ) -> Result<Option<String>, StoreError> {
        match self.related_sql(key, value, limit)? {
            Some(sql) => self.explain(EXPLAIN_ANALYZE, sql).map(Some),
            None => Ok(None),
        }
    }

    /// The plan of `sql` by `explain` (`EXPLAIN` and its options), as lines
    /// joined by newlines; after the plan of the statement that listed its
    /// candidates first, if one did.
    fn explain(&self, explain: &str, mut sql: Sql) -> Result<String, StoreError> {
        let mut lines = match sql.listed_by.take() {
            Some(first) => vec![self.explain(explain, *first)?],
            None => Vec::new(),
        };
        sql.text = format!("{explain} {}", sql.text);
        let rows = self.rows("explaining a page", &sql)?;
        for row in &rows {
            lines.push(row.try_get::<_, String>(0).map_err(|e| {
                StoreError::new(StoreErrorKind::Storage, format!("explaining a page: {e}")).with_source(e)
            })?);
        }
        Ok(lines.join("\n"))
    }

    /// The statement of [`Store::related`]: a request's few records, their
    /// ids first, never a walk in time order; `None` when nothing can match.
    fn related_sql(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Option<Sql>, StoreError> {
        let mut filter = RecordFilter::default();
        filter.fields.push(FieldMatch::new(key, value.clone())?);
        if !filter.check()? {
            return Ok(None);
        }
        let (mut sql, _) = self.page_sql_for(&filter, None)?;
        let cond = page_conditions(&mut sql, &filter);
        let lim = sql.bind(sql_limit(limit));
        sql.text =
            format!("SELECT {RECORD_COLUMNS} FROM log_records r WHERE {cond} ORDER BY r.ts ASC, r.id ASC LIMIT {lim}");
        Ok(Some(sql))
    }

    /// A searching page (text or context fields) read by walking the nearest
    /// rows the other conditions keep, newest first from the page's
    /// position, and testing each one's message and context directly: `Some`
    /// when that settles the page (it filled, the walk reached the end, or
    /// it found the page's own rows and one candidate of the index beyond
    /// the walk says whether there is more: [`one_beyond`](PgStore::one_beyond)),
    /// `None` when the indexes must answer. A common term or value (`order`,
    /// `tenant=acme`) fills a page from the nearest rows long before an
    /// index has listed its matches. The first walk reads [`WALK_ROWS`]; when
    /// it found some matches but not a page, their density says how far a
    /// page lies, and a second walk goes on from where the first one stopped
    /// when [`further_walk`] finds that cheaper than the indexes (a value in
    /// 0.24 % of 10 M records, `tenant=t-7`, is 24 000 candidates to list
    /// but a page in ~21 000 rows). With `behind`, the first walk also walks
    /// the other way from the page's cursor, for the page's other cursor
    /// ([`OtherSide`]), which comes back with the page (and when the
    /// indexes must answer the page: that side does not depend on how).
    fn page_by_walk(
        &self,
        filter: &RecordFilter,
        at: PageAt,
        limit: usize,
        behind: bool,
    ) -> Result<(Option<Vec<StoredRecord>>, OtherSide), StoreError> {
        if filter.text.is_none() && filter.fields.is_empty() {
            return Ok((None, OtherSide::Unknown));
        }
        let want = sql_limit(limit).saturating_add(1);
        if let Some(mark) = self.rare_mark(filter) {
            let (records, side) = self.page_of_rare(filter, at, want, behind, mark)?;
            return Ok((Some(records), side));
        }
        // Without its lower time bound: the panel's ranges are relative
        // ("the last hour"), a new `since` each page, about the same density.
        let mut keyed = filter.clone();
        keyed.since = None;
        let dense_key = format!("{keyed:?}");
        let walked = self.first_walk_rows(&dense_key, want);
        let first = self.walk(filter, at, want, walked, behind)?;
        let side = first.behind;
        let mut records = first.records;
        let Some(end) = first.stopped_at else {
            return Ok((Some(records), side));
        };
        let found = sql_limit(records.len());
        let indexed = searches_only(filter).then_some(first.indexed);
        let from = match at {
            PageAt::Newer(_) => PageAt::Newer(end),
            PageAt::Newest | PageAt::Older(_) => PageAt::Older(end),
        };
        let Some(rows) = further_walk(found, want, walked, indexed) else {
            // The page's own rows are all found, only whether one more lies
            // beyond the walk is not: one candidate beyond it says so, where
            // the nearest ones would be sorted from every candidate (a rare
            // word's oldest match: 1 of 500 at 10 M).
            if found == want - 1 && indexed.is_some() {
                records.extend(self.one_beyond(filter, from, first.mark)?);
                return Ok((Some(records), side));
            }
            return Ok((None, side));
        };
        let rest = self.walk(filter, from, want - found, rows, false)?;
        if rest.stopped_at.is_some() {
            // Sparser further on than the first walk said: the indexes answer.
            self.dense.forget(&dense_key);
            return Ok((None, side));
        }
        // `further_walk` went on only after `MIN_DENSITY_MATCHES` or more.
        let density = Density { rows_per_match: walked as f64 / found.max(1) as f64, cap: walked.saturating_add(rows) };
        self.dense.note(dense_key, density);
        records.extend(rest.records);
        Ok((Some(records), side))
    }

    /// Rows the first walk of a page of `want` matches reads for the filter
    /// whose `Debug` text is `key`: [`WALK_ROWS`], or when its last page
    /// needed a second walk within [`RARE_FOR`], half as many again as the
    /// page needs at the density that page's first walk found, up to what
    /// its two walks could have read. Such a page (`tenant=t-7`, 51 matches
    /// in 17 132 rows at 10 M; `status=failed`, in 5 001) is then one walk
    /// where it was two statements, each planned (0.3 ms), the first one's
    /// end read again from the index (0.3 ms), as the naive SQL's one
    /// ordered scan reads the rows once.
    fn first_walk_rows(&self, key: &str, want: i64) -> i64 {
        self.dense.get(key).map_or(WALK_ROWS, |d| {
            let needed = (want as f64 * d.rows_per_match * 1.5).min(i64::MAX as f64) as i64;
            needed.clamp(WALK_ROWS, d.cap.max(WALK_ROWS))
        })
    }

    /// Records that `filter`'s search (one search and a time range,
    /// [`searches_only`]) has at most [`RARE_CANDIDATES`] candidates, when
    /// it has (its count of them: from a listing of all of them), else
    /// forgets it; `mark` is the search mark they were counted at. At most
    /// [`RARE_KEPT`] searches are kept, the oldest noted dropped first.
    fn note_candidates(&self, filter: &RecordFilter, candidates: i64, mark: i64) {
        if !searches_only(filter) {
            return;
        }
        let key = search_key(filter);
        if candidates > RARE_CANDIDATES {
            self.rare.forget(&key);
            return;
        }
        self.rare.note(key, mark);
    }

    /// The search mark of `filter`'s search when `filter` is one search and
    /// a time range whose search a listing found rare within the last
    /// [`RARE_FOR`]; `None` otherwise.
    fn rare_mark(&self, filter: &RecordFilter) -> Option<i64> {
        if !searches_only(filter) {
            return None;
        }
        self.rare.get(&search_key(filter))
    }

    /// A page of a rare search ([`rare_mark`](PgStore::rare_mark)) from its
    /// candidates alone, in one statement: all of them read from the side
    /// table's index (and the rows above the search mark), the `want`
    /// nearest `at` in the page's order joined to their records, and with
    /// `behind` and a cursor the nearest two at or behind the cursor (the
    /// page's other cursor, [`OtherSide`], as `page_and_behind` reads it).
    /// A walk of the nearest rows would read [`WALK_ROWS`] for a rare
    /// word's second match (2.4 ms at 10 M) where its 500 candidates cost
    /// 0.8 ms. The statement counts the candidates again, so a search no
    /// longer rare walks first from its next page on, and reads the
    /// current search mark for the next one.
    ///
    /// The candidates above the side table are read above `mark`, the mark
    /// of the search's last count, bound as a value: the planner then sees
    /// how few rows lie above it (the mark as a subquery looked like a third
    /// of the table and drew a parallel scan, 50 ms at 10 M). An earlier
    /// mark is never ahead of the current one (the indexer only moves it
    /// on), so every record is a candidate at least once; one indexed since
    /// is read twice, which the `DISTINCT`s drop.
    fn page_of_rare(
        &self,
        filter: &RecordFilter,
        at: PageAt,
        want: i64,
        behind: bool,
        mark: i64,
    ) -> Result<(Vec<StoredRecord>, OtherSide), StoreError> {
        let mut sql = Sql::default();
        sql.mark = Some(mark);
        // A text's candidates are its matches (the side table's message is
        // the record's); a field's pass the exact typed check on the side
        // table's copy of the context.
        let keys = if filter.text.is_some() { Keys::TsId } else { Keys::TsIdContext };
        let Some(candidates) = listing_candidates(&mut sql, filter, keys) else {
            // The search can match nothing.
            return Ok((Vec::new(), OtherSide::Nothing));
        };
        let (position, order) = PgStore::position(&mut sql, at, "r");
        let mut kept = range_bounds(&mut sql, filter, "r");
        kept.extend(field_checks(&mut sql, filter));
        let lim = sql.bind(want);
        let page = [vec![position], kept.clone()].concat().join(" AND ");
        // The CTE is named `r` as `one_beyond`'s is: the checks read `r.context`.
        sql.text = format!(
            "WITH r AS MATERIALIZED ({candidates})
             (SELECT {RECORD_COLUMNS}, {MATCH}, (SELECT count(DISTINCT r.id) FROM r), {MARK} FROM log_records r JOIN (
                  SELECT DISTINCT r.ts, r.id FROM r WHERE {page} ORDER BY r.ts {order}, r.id {order} LIMIT {lim}) m
              ON r.ts = m.ts AND r.id = m.id ORDER BY r.ts {order}, r.id {order})"
        );
        let cursor = match at {
            PageAt::Older(c) | PageAt::Newer(c) if behind => Some(c),
            _ => None,
        };
        if let Some(c) = cursor {
            let (back, back_order) = behind_cursor(&mut sql, order, c);
            let back = [vec![back], kept].concat().join(" AND ");
            sql.text = format!(
                "{}
                 UNION ALL
                 (SELECT x.id, x.ts, {RECORD_BLANKS}, {BEHIND}, (SELECT count(DISTINCT r.id) FROM r), {MARK} FROM (
                      SELECT DISTINCT r.ts, r.id FROM r WHERE {back} ORDER BY r.ts {back_order}, r.id {back_order} LIMIT 2) b
                  JOIN log_records x ON x.ts = b.ts AND x.id = b.id ORDER BY x.ts {back_order}, x.id {back_order})",
                sql.text
            );
        }
        let rows = self.rows("reading records", &sql)?;
        let bad = |e| store_error(&self.config, "reading records", e);
        let (mut records, mut nearest) = (Vec::new(), Vec::new());
        for row in &rows {
            if row.try_get::<_, i32>(RECORD_COLUMN_COUNT).map_err(bad)? == MATCH {
                records.push(rows::record(row)?);
            } else {
                nearest.push(row_cursor(row).map_err(bad)?);
            }
        }
        if let Some(row) = rows.first() {
            let counted = row.try_get(RECORD_COLUMN_COUNT + 1).map_err(bad)?;
            self.note_candidates(filter, counted, row.try_get(RECORD_COLUMN_COUNT + 2).map_err(bad)?);
        }
        let side = cursor.map_or(OtherSide::Unknown, |c| OtherSide::of_nearest(records.is_empty(), c, nearest));
        Ok((records, side))
    }

    /// The probe of [`page_by_walk`](PgStore::page_by_walk) when a walk found
    /// every row of its page but the one that says whether there is more:
    /// some record of `filter` (one search and a time range, [`searches_only`])
    /// on `from`'s side of its cursor, from the search's candidates up to
    /// `mark` and the rows above it, as a page listing them would keep them;
    /// `None` when there is none. Not the nearest one: that order sorts
    /// every candidate (0.9–1.6 ms for a rare word's 500 at 10 M, the probe
    /// 0.2–0.3 ms), and the row only says there is more.
    fn one_beyond(&self, filter: &RecordFilter, from: PageAt, mark: i64) -> Result<Option<StoredRecord>, StoreError> {
        let mut sql = Sql::default();
        sql.mark = Some(mark);
        let Some(candidates) = listing_candidates(&mut sql, filter, Keys::TsIdContext) else {
            // The search can match nothing.
            return Ok(None);
        };
        let (position, _) = PgStore::position(&mut sql, from, "r");
        let mut conditions = vec![position];
        conditions.extend(range_bounds(&mut sql, filter, "r"));
        // A text's candidates are its matches (the side table's message is
        // the record's, as a page listing them reads them); a field's pass
        // the exact typed check, on the side table's copy of the context.
        conditions.extend(field_checks(&mut sql, filter));
        // The candidates in a materialized CTE: planned for all of them, as
        // the listing is (through the side table's index, unless the
        // planner expects so many that a scan costs less), and read only
        // until one passes. Planned for the `LIMIT 1` alone, a search the
        // planner expects in 1 % of the records is read by a scan in the
        // heap's order, which passes every row before the cursor when the
        // matches there are few (2.2 s for `order` at 10 M). The record is
        // joined after the `LIMIT`: joined before it, the planner expected
        // one row of the join in all and started a parallel worker (10 ms).
        sql.text = format!(
            "WITH r AS MATERIALIZED ({candidates})
             SELECT {RECORD_COLUMNS} FROM (SELECT r.ts, r.id FROM r WHERE {} LIMIT 1) c
             JOIN log_records r ON r.ts = c.ts AND r.id = c.id",
            conditions.join(" AND ")
        );
        Ok(self.fetch_records(&sql)?.pop())
    }

    /// One walk of [`page_by_walk`](PgStore::page_by_walk) over at most
    /// `rows` rows from `at`: up to `want` matches in page order, and where it
    /// stopped when it read all `rows` without finding them. One statement:
    /// the last row walked comes back after fewer matches, so no second
    /// statement counts what the walk saw. With `behind` and a cursor, the
    /// statement also walks up to `rows` rows the other way from the cursor
    /// (the cursor's row included) for the nearest match there
    /// ([`Walked::behind`]): usually the cursor's own row, the last of the
    /// page before, or none at all (a rare word's oldest match: nothing
    /// before the first record).
    fn walk(
        &self,
        filter: &RecordFilter,
        at: PageAt,
        want: i64,
        rows: i64,
        behind: bool,
    ) -> Result<Walked, StoreError> {
        let mut rest = filter.clone();
        rest.text = None;
        rest.fields.clear();
        let mut sql = self.sql_for(&rest)?;
        let cond = filter_conditions(&mut sql, &rest);
        let (position, order) = PgStore::position(&mut sql, at, "r");
        let walk = sql.bind(rows);
        let mut checks: Vec<String> = filter.text.iter().map(|text| text_check(&mut sql, text)).collect();
        checks.extend(field_checks(&mut sql, filter));
        let checks = checks.join(" AND ");
        let lim = sql.bind(want);
        let last = sql.bind(rows - 1);
        // The matches; when fewer than `want`, the second part runs too (a
        // `UNION ALL` reads its parts in order and the `LIMIT` stops it
        // early): the `(ts, id)` of the walk's last row, from the index
        // alone, with the side table's size and the search mark. The walked rows keep the alias
        // `r`, so the direct checks read them as they read `log_records r`.
        // They are whole rows, each read once: the page's rows joined back
        // to `log_records` by key instead cost a second scan of the table
        // to plan (0.42 against 0.19 ms p50 at 10 M) and one index probe a
        // match, more than copying the walked rows (`tenant=acme`'s page
        // 0.78–1.05 against 0.44–0.53 ms, `tenant=t-7`'s 17 132-row walk
        // 5.8–9.3 against 4.9–8.2 ms through `pgbench`). (Numbering the
        // walked rows by a window instead copied every one of them: 9.4 ms
        // against 4.3 for 17 000 rows at 10 M.)
        sql.text = format!(
            "((SELECT {RECORD_COLUMNS}, {MATCH}, NULL::float8, NULL::int8 FROM (
                  SELECT r.* FROM log_records r WHERE {cond} AND {position}
                  ORDER BY r.ts {order}, r.id {order} LIMIT {walk}) r
              WHERE {checks} ORDER BY r.ts {order}, r.id {order} LIMIT {lim})
             UNION ALL
             (SELECT r.id, r.ts, {RECORD_BLANKS}, {WALK_END},
                     (SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'log_search'::regclass),
                     coalesce((SELECT m.last_id FROM log_search_mark m), 0)
              FROM log_records r WHERE {cond} AND {position}
              ORDER BY r.ts {order}, r.id {order} OFFSET {last} LIMIT 1)
             LIMIT {lim})"
        );
        let cursor = match at {
            PageAt::Older(c) | PageAt::Newer(c) if behind => Some(c),
            _ => None,
        };
        if let Some(c) = cursor {
            // The same walk the other way, from the cursor's row on: its
            // nearest match, else (a `LIMIT` over both parts again) where
            // it stopped, and nothing when it saw every row there.
            let (back, back_order) = behind_cursor(&mut sql, order, c);
            sql.text = format!(
                "{}
                 UNION ALL
                 ((SELECT r.id, r.ts, {RECORD_BLANKS}, {BEHIND}, NULL::float8, NULL::int8 FROM (
                       SELECT r.ts, r.id, r.message, r.context FROM log_records r WHERE {cond} AND {back}
                       ORDER BY r.ts {back_order}, r.id {back_order} LIMIT {walk}) r
                   WHERE {checks} ORDER BY r.ts {back_order}, r.id {back_order} LIMIT 1)
                  UNION ALL
                  (SELECT r.id, r.ts, {RECORD_BLANKS}, {BEHIND_END}, NULL::float8, NULL::int8
                   FROM log_records r WHERE {cond} AND {back}
                   ORDER BY r.ts {back_order}, r.id {back_order} OFFSET {last} LIMIT 1)
                  LIMIT 1)",
                sql.text
            );
        }
        let found = self.rows("reading records", &sql)?;
        let bad = |e| store_error(&self.config, "reading records", e);
        let mut walked = Walked {
            records: Vec::new(),
            stopped_at: None,
            indexed: 0.0,
            mark: 0,
            behind: if cursor.is_some() { OtherSide::Nothing } else { OtherSide::Unknown },
        };
        for row in &found {
            match row.try_get::<_, i32>(RECORD_COLUMN_COUNT).map_err(bad)? {
                MATCH => walked.records.push(rows::record(row)?),
                WALK_END => {
                    walked.stopped_at = Some(row_cursor(row).map_err(bad)?);
                    walked.indexed = row.try_get(RECORD_COLUMN_COUNT + 1).map_err(bad)?;
                    walked.mark = row.try_get(RECORD_COLUMN_COUNT + 2).map_err(bad)?;
                }
                BEHIND => walked.behind = OtherSide::Nearest(row_cursor(row).map_err(bad)?),
                _ => walked.behind = OtherSide::Unknown,
            }
        }
        if sql_limit(walked.records.len()) >= want {
            walked.stopped_at = None;
        }
        Ok(walked)
    }

    /// Whether the planner expects `text` in more than [`COMMON_SHARE`] of
    /// the records (its estimate from the trigram index's statistics; two
    /// plannings, no rows read).
    fn text_is_common(&self, text: &str) -> Result<bool, StoreError> {
        let pattern = format!("%{}%", like_escape(text));
        let (matches, total) = self.run("estimating a search", move |c| {
            let plan = c.query_typed(
                "EXPLAIN SELECT 1 FROM log_search s WHERE s.message ILIKE $1",
                &[(&pattern, Type::TEXT)],
            )?;
            let first: String = plan.first().map(|r| r.try_get(0)).transpose()?.unwrap_or_default();
            let total: f32 = c
                .query_typed_one(
                    "SELECT greatest(reltuples, 0)::float4 FROM pg_class WHERE oid = 'log_search'::regclass",
                    &[],
                )?
                .try_get(0)?;
            Ok((planned_rows(&first), f64::from(total)))
        })?;
        Ok(matches > COMMON_SHARE * total && matches > 10_000.0)
    }

    /// The aggregate-path histogram: bucket sums from `unit`'s table.
    fn histogram_from_aggregates(
        &self,
        filter: &RecordFilter,
        slots: &Slots,
        span: HistogramSpan,
        unit: i64,
    ) -> Result<Histogram, StoreError> {
        let (table, column) = bucket_table(unit);
        let mut sql = Sql::default();
        let lo_p = sql.bind(system_time(span.from));
        let hi_p = sql.bind(system_time(span.to));
        let logger = match &filter.logger {
            Some(m) => format!(" AND {}", logger_condition(&mut sql, "b.logger", m)),
            None => String::new(),
        };
        sql.text = format!(
            "SELECT b.{column}, sum(b.trace)::int8, sum(b.debug)::int8, sum(b.info)::int8, sum(b.warn)::int8,
                    sum(b.error)::int8
             FROM {table} b WHERE b.{column} >= {lo_p} AND b.{column} < {hi_p}{logger} GROUP BY 1"
        );
        let rows = self.rows("reading the aggregates", &sql)?;
        let mut out = Histogram::zeros(slots);
        for row in &rows {
            let start = timestamp(row.try_get(0).map_err(|e| store_error(&self.config, "reading the aggregates", e))?);
            let counts = level_counts(row, 1).map_err(|e| store_error(&self.config, "reading the aggregates", e))?;
            out.add_bucket(slots, filter, start, &counts);
        }
        Ok(out)
    }

    /// Whether `filter` searches for a common term ([`PgStore::text_is_common`]).
    fn searches_common_text(&self, filter: &RecordFilter) -> Result<bool, StoreError> {
        filter.text.as_deref().map_or(Ok(false), |t| self.text_is_common(t))
    }

    /// The part of the table, in percent, that an estimate of a histogram
    /// over `span` samples: [`SAMPLE_ROWS`] of the records the planner
    /// expects in the span (one planning, no rows read); `None` when the
    /// span holds few enough to count ([`EXACT_SPAN_ROWS`]).
    fn sample_percent(&self, span: HistogramSpan) -> Result<Option<f64>, StoreError> {
        let (lo, hi) = (system_time(span.from), system_time(span.to));
        let rows = self.run("estimating a span", move |c| {
            let plan = c.query_typed(
                "EXPLAIN SELECT 1 FROM log_records r WHERE r.ts >= $1 AND r.ts < $2",
                &[(&lo, Type::TIMESTAMPTZ), (&hi, Type::TIMESTAMPTZ)],
            )?;
            let first: String = plan.first().map(|r| r.try_get(0)).transpose()?.unwrap_or_default();
            Ok(planned_rows(&first))
        })?;
        Ok((rows > EXACT_SPAN_ROWS).then(|| (100.0 * SAMPLE_ROWS / rows).min(100.0)))
    }

    /// The estimated histogram: `TABLESAMPLE SYSTEM` reads `percent` of the
    /// table's pages (of each day's partition the span keeps, on a
    /// partitioned table), the same pages each time (`REPEATABLE`); its rows
    /// in the span are tested against the whole filter directly (an index
    /// cannot serve a sample), and each slot's counts scaled by the part read.
    /// A page holds rows written together, so the pages sampled spread over
    /// the span as the records do.
    fn histogram_from_sample(
        &self,
        filter: &RecordFilter,
        slots: &Slots,
        HistogramSpan { from: lo, to: hi }: HistogramSpan,
        percent: f64,
    ) -> Result<Histogram, StoreError> {
        let mut rest = filter.clone();
        rest.text = None;
        rest.fields.clear();
        let mut sql = self.sql_for(&rest)?;
        let mut checks = vec![filter_conditions(&mut sql, &rest)];
        if let Some(text) = &filter.text {
            checks.push(text_check(&mut sql, text));
        }
        for f in &filter.fields {
            checks.push(field_check(&mut sql, &f.key, &f.value));
        }
        let cond = checks.join(" AND ");
        let lo_p = sql.bind(system_time(lo));
        let hi_p = sql.bind(system_time(hi));
        let bounds: Vec<SystemTime> = slots.bounds().iter().map(|b| system_time(*b)).collect();
        let bounds_p = sql.bind(bounds);
        // `percent` and the seed are numbers of ours, written as literals.
        // Each slot's rows grouped by runs of ids too: the sample is whole
        // pages of rows written together, which match together (a burst), so
        // a bar's margin is what its clusters show, not Poisson's alone. A
        // run of 2^8 ids spans a few pages: it seldom splits a sampled page
        // (splitting would understate the spread), and at the sample's part
        // seldom holds two. Grouping by `ctid`'s page instead cost +20 ms per
        // 40 000 rows (its text cast), the runs +5–8 ms (session 39).
        sql.text = format!(
            "SELECT width_bucket(r.ts, {bounds_p}::timestamptz[]), r.level, count(*) FILTER (WHERE {cond}),
                    r.id >> {SAMPLE_RUN_BITS}, count(*)
             FROM log_records r TABLESAMPLE SYSTEM ({percent:.6}) REPEATABLE ({SAMPLE_SEED})
             WHERE r.ts >= {lo_p} AND r.ts < {hi_p}
             GROUP BY 1, 2, 4"
        );
        let sampled = self.count_buckets(&sql, "estimating counts", slots)?;
        let read: u64 = sampled.last.iter().sum();
        // The part of each slot's rows the sample holds varies with how many
        // of its pages were drawn: scaled by the slot's own part, from its
        // exact size in the aggregates, where they answer the span.
        let mut everything = RecordFilter::default();
        everything.since = Some(lo);
        everything.until = Some(hi);
        let span = HistogramSpan { from: lo, to: hi };
        if let Some(unit) = span.aggregate_bucket(&everything, slots) {
            let sizes = self.histogram_from_aggregates(&everything, slots, span, unit)?;
            let per_slot: Vec<Sample> =
                sizes.slots.iter().zip(&sampled.last).map(|(s, &read)| Sample { read, of: s.total() }).collect();
            let of = sizes.slots.iter().map(LevelCounts::total).sum();
            let mut h = Histogram::estimated_per_slot(sampled.counts, &per_slot, Sample { read, of });
            widen_by_clusters(&mut h, &sampled.clusters, |i| per_slot.get(i).map_or(0, |s| s.of));
            return Ok(h);
        }
        // Each page read stands for 100 / percent pages.
        let scale = |n: u64| (n as f64 * 100.0 / percent).round() as u64;
        let of = scale(read);
        let mut h = Histogram::estimated(sampled.counts, Sample { read, of });
        widen_by_clusters(&mut h, &sampled.clusters, |i| sampled.last.get(i).map_or(0, |&n| scale(n)));
        Ok(h)
    }

    /// The row-path histogram: a GROUP BY over at most `scan_bound + 1`
    /// matching rows; `common`: the filter's term is common
    /// ([`PgStore::searches_common_text`]).
    fn histogram_from_rows(
        &self,
        filter: &RecordFilter,
        slots: &Slots,
        HistogramSpan { from: lo, to: hi }: HistogramSpan,
        common: bool,
    ) -> Result<Histogram, StoreError> {
        let mut sql = self.sql_for(filter)?;
        let cond = match &filter.text {
            // Counting a common term's matches through the trigram index
            // fetches each match's row by id (about 12 µs each): beyond a few
            // per cent of the table, a (parallel) scan testing every message is faster.
            Some(text) if common => {
                let mut rest = filter.clone();
                rest.text = None;
                let cond = filter_conditions(&mut sql, &rest);
                let pattern = sql.bind(format!("%{}%", like_escape(text)));
                format!("{cond} AND r.message ILIKE {pattern}")
            }
            _ => filter_conditions(&mut sql, filter),
        };
        let lo_p = sql.bind(system_time(lo));
        let hi_p = sql.bind(system_time(hi));
        let bounds: Vec<SystemTime> = slots.bounds().iter().map(|b| system_time(*b)).collect();
        let bounds_p = sql.bind(bounds);
        let limit = sql.bind(i64::try_from(self.scan_bound).unwrap_or(i64::MAX - 1).saturating_add(1));
        sql.text = format!(
            "SELECT width_bucket(m.ts, {bounds_p}::timestamptz[]), m.level, count(*)
             FROM (SELECT r.ts, r.level FROM log_records r
                   WHERE {cond} AND r.ts >= {lo_p} AND r.ts < {hi_p} LIMIT {limit}) m
             GROUP BY 1, 2"
        );
        let counted = self.count_buckets(&sql, "counting records", slots)?;
        Ok(Histogram::counted(counted.counts, counted.total <= self.scan_bound))
    }

    /// Runs `sql`, whose rows are `(width_bucket over the bounds of slots,
    /// level, count, …, last)`: see [`Buckets`].
    fn count_buckets(&self, sql: &Sql, what: &'static str, slots: &Slots) -> Result<Buckets, StoreError> {
        let rows = self.rows(what, sql)?;
        let mut out = Buckets {
            counts: vec![LevelCounts::default(); slots.len()],
            last: vec![0; slots.len()],
            total: 0,
            clusters: vec![HashMap::new(); slots.len()],
        };
        let bad = |e| store_error(&self.config, what, e);
        for row in &rows {
            let level: i16 = row.try_get(1).map_err(bad)?;
            let n = count(row.try_get(2).map_err(bad)?);
            out.total += n;
            let last = count(row.try_get(row.len() - 1).map_err(bad)?);
            if let Some(i) = slot_of(row.try_get(0).map_err(bad)?, slots) {
                out.last[i] += last;
                if row.len() == 5 {
                    let cluster = out.clusters[i].entry(row.try_get(3).map_err(bad)?).or_default();
                    *cluster = (cluster.0 + n, cluster.1 + last);
                }
                if let Some(level) = level_from_severity(i64::from(level)) {
                    out.counts[i].add_n(level, n);
                }
            }
        }
        Ok(out)
    }
}

impl Store for PgStore {
    /// The search side table's mark (`log_search_mark`, which serves text
    /// and context-key filters alike) against the newest id; when behind, at
    /// most [`Behind::COUNTED_UP_TO`] ids above the mark counted, by the mark
    /// bound as a value (a mark read by a subquery there looks like a third
    /// of the table to the planner, see `sql::mark_expr`). The span of ids is
    /// only an upper bound here: aborted transactions and cached sequence
    /// values leave gaps.
    fn index_lag(&self) -> Result<IndexLag, StoreError> {
        let behind = self.run("reading the search mark", |c| {
            let row = c.query_typed_one(
                "SELECT coalesce((SELECT last_id FROM log_search_mark), 0), (SELECT max(id) FROM log_records)",
                &[],
            )?;
            let mark: i64 = row.try_get(0)?;
            Behind::measure(mark, row.try_get(1)?, |cap| {
                let cap = i64::try_from(cap).unwrap_or(i64::MAX);
                let n: i64 = c
                    .query_one(
                        "SELECT count(*) FROM (SELECT 1 FROM log_records WHERE id > $1 ORDER BY id LIMIT $2) AS t",
                        &[&mark, &cap],
                    )?
                    .try_get(0)?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
        })?;
        Ok(IndexLag::new(behind, behind))
    }

    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError> {
        Page::check_limit(limit)?;
        if !filter.check()? {
            return Ok(Page::default());
        }
        // The page's other cursor, from what its statement read behind the
        // cursor when it could; else asked apart.
        let behind_is_older = matches!(at, PageAt::Newer(_));
        let other_cursor = |side: OtherSide| {
            move |from: Cursor, older: bool| match side.beyond(from).filter(|_| older == behind_is_older) {
                Some(known) => Ok(known),
                None => self.exists_beyond(filter, if older { "<" } else { ">" }, from),
            }
        };
        // A common term or value fills a page from the nearest rows long
        // before an index has listed its matches: walk first, index second.
        let (walked, side) = self.page_by_walk(filter, at, limit, true)?;
        if let Some(records) = walked {
            return Page::from_rows(at, limit, records, other_cursor(side));
        }
        if let (PageAt::Older(c) | PageAt::Newer(c), true) = (at, filter.text.is_none() && filter.fields.is_empty()) {
            let (records, side) = self.page_and_behind(filter, at, c, limit)?;
            return Page::from_rows(at, limit, records, other_cursor(side));
        }
        Page::from_rows(at, limit, self.page_query(filter, at, limit)?, other_cursor(side))
    }

    fn tail(
        &self,
        filter: &RecordFilter,
        after_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if !filter.check()? || limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = self.sql_for(filter)?;
        let cond = filter_conditions(&mut sql, filter);
        let (position, order) = match after_id {
            Some(id) => (format!("r.id > {}", sql.bind(id)), "ASC"),
            None => ("TRUE".to_owned(), "DESC"),
        };
        let lim = sql.bind(sql_limit(limit));
        sql.text = format!(
            "SELECT {RECORD_COLUMNS} FROM log_records r WHERE {cond} AND {position} ORDER BY r.id {order} LIMIT {lim}"
        );
        let mut records = self.fetch_records(&sql)?;
        if after_id.is_none() {
            records.reverse();
        }
        Ok(records)
    }

    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        if let Some(sql) = self.record_by_day(id)? {
            if let Some(found) = self.fetch_records(&sql)?.pop() {
                return Ok(Some(found));
            }
            // Not in the days its id points to (a row stored other than by a
            // sink, say): every day, as without the ranges.
        }
        let sql = record_in_every_day(id);
        let rows = self.rows("reading records", &sql)?;
        let Some(row) = rows.first() else { return Ok(None) };
        let from_a_partition: bool =
            row.try_get(rows::RECORD_COLUMN_COUNT).map_err(|e| store_error(&self.config, "reading records", e))?;
        if from_a_partition {
            self.partitioned.store(true, Ordering::Relaxed);
        }
        rows::record(row).map(Some)
    }

    fn related(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        match self.related_sql(key, value, limit)? {
            Some(sql) => self.fetch_records(&sql),
            None => Ok(Vec::new()),
        }
    }

    fn cards(&self, query: &CardsQuery) -> Result<Cards, StoreError> {
        let slots = &query.slots;
        let unit = if slots.aligned_to(HOUR) {
            HOUR
        } else if slots.aligned_to(QUARTER_HOUR) {
            QUARTER_HOUR
        } else {
            return Err(StoreError::bad_filter("timeline slots must start and end on quarter hours (UTC)"));
        };
        if !query.check()? {
            return Ok(Cards::default());
        }
        let (table, column) = bucket_table(unit);
        let bad = |e| store_error(&self.config, "reading the aggregates", e);
        let mut sql = Sql::default();
        let name = sql.bind(query.name.clone().filter(|n| !n.is_empty()));
        let counted = match query.filter {
            CardFilter::All => None,
            CardFilter::Errors => Some("b.error > 0"),
            CardFilter::Warnings => Some("(b.warn > 0 OR b.error > 0)"),
        };
        let which = match counted {
            None => "TRUE".to_owned(),
            Some(counted) => {
                let start = sql.bind(system_time(slots.start()));
                let end = sql.bind(system_time(slots.end()));
                format!(
                    "EXISTS (SELECT 1 FROM {table} b WHERE b.logger = s.logger \
                     AND b.{column} >= {start} AND b.{column} < {end} AND {counted})"
                )
            }
        };
        let (order, last_hour) = match query.sort {
            CardSort::Name => ("s.logger COLLATE \"C\"".to_owned(), String::new()),
            CardSort::Trouble => {
                let (from, to) = query.last_hour();
                let (from, to) = (sql.bind(system_time(from)), sql.bind(system_time(to)));
                // The last hour's quarter buckets, summed per logger: at most
                // loggers × 5 rows of the quarter table, never the records.
                (
                    "coalesce(h.error, 0) DESC, coalesce(h.warn, 0) DESC, s.last_seen DESC, s.logger COLLATE \"C\""
                        .to_owned(),
                    format!(
                        " LEFT JOIN (SELECT logger, sum(error) AS error, sum(warn) AS warn FROM log_logger_quarter
                          WHERE quarter >= {from} AND quarter < {to} GROUP BY logger) h ON h.logger = s.logger"
                    ),
                )
            }
        };
        sql.text = format!(
            "SELECT s.logger, s.total, s.errors, s.warnings, s.first_seen, s.last_seen FROM log_logger_stats s{last_hour}
             WHERE s.total > 0 AND ({name}::text IS NULL OR strpos(lower(s.logger), lower({name}::text)) > 0)
               AND {which}
             ORDER BY {order}"
        );
        let rows = self.rows("reading the aggregates", &sql)?;
        let matching = rows.len();
        let mut cards = Vec::new();
        for row in rows.iter().skip(query.offset).take(query.limit) {
            let totals = LoggerTotals::new(
                count(row.try_get(1).map_err(bad)?),
                count(row.try_get(2).map_err(bad)?),
                count(row.try_get(3).map_err(bad)?),
                timestamp(row.try_get(4).map_err(bad)?),
                timestamp(row.try_get(5).map_err(bad)?),
            );
            let mut card = LoggerCard::new(row.try_get(0).map_err(bad)?, totals);
            card.slots = vec![LevelCounts::default(); slots.len()];
            cards.push(card);
        }
        if cards.is_empty() {
            return Ok(Cards { cards, matching });
        }
        let names: Vec<String> = cards.iter().map(|c| c.logger.clone()).collect();
        let index: std::collections::HashMap<String, usize> =
            names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let (span_start, span_end) = (system_time(slots.start()), system_time(slots.end()));
        let bounds: Vec<std::time::SystemTime> = slots.bounds().iter().map(|b| system_time(*b)).collect();
        // Summed per slot by the server: a 91-day card over hourly buckets is
        // loggers × 2 184 rows, handed back as loggers × 91.
        let (sent_names, sent_bounds) = (names.clone(), bounds.clone());
        let rows = self.run("reading the aggregates", move |c| {
            let (names, bounds) = (&sent_names, &sent_bounds);
            c.query(
                &format!(
                    "SELECT logger, width_bucket({column}, $4::timestamptz[]), sum(trace)::int8, sum(debug)::int8,
                            sum(info)::int8, sum(warn)::int8, sum(error)::int8
                     FROM {table} WHERE logger = ANY($1) AND {column} >= $2 AND {column} < $3 GROUP BY 1, 2"
                ),
                &[&names, &span_start, &span_end, &bounds],
            )
        })?;
        for row in &rows {
            let logger: String = row.try_get(0).map_err(bad)?;
            let bucket: i32 = row.try_get(1).map_err(bad)?;
            let counts = level_counts(row, 2).map_err(bad)?;
            let slot = usize::try_from(bucket).ok().and_then(|b| b.checked_sub(1));
            if let Some(slot) = index.get(&logger).zip(slot).and_then(|(&c, s)| cards[c].slots.get_mut(s)) {
                slot.merge(&counts);
            }
        }
        let (hour_start, hour_end) = query.last_hour();
        let (hour_start, hour_end) = (system_time(hour_start), system_time(hour_end));
        let rows = self.run("reading the aggregates", move |c| {
            c.query(
                "SELECT logger, sum(trace)::int8, sum(debug)::int8, sum(info)::int8, sum(warn)::int8, sum(error)::int8
                 FROM log_logger_quarter WHERE logger = ANY($1) AND quarter >= $2 AND quarter < $3 GROUP BY logger",
                &[&names, &hour_start, &hour_end],
            )
        })?;
        for row in &rows {
            let logger: String = row.try_get(0).map_err(bad)?;
            if let Some(&c) = index.get(&logger) {
                cards[c].last_hour = level_counts(row, 1).map_err(bad)?;
            }
        }
        Ok(Cards { cards, matching })
    }

    fn histogram(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        let Some(span) = HistogramSpan::of(filter, slots)? else { return Ok(Histogram::zeros(slots)) };
        if let Some(h) = span.count_by_edges(filter, slots, |part| self.histogram(part, slots))? {
            return Ok(h);
        }
        match span.aggregate_bucket(filter, slots) {
            Some(unit) => self.histogram_from_aggregates(filter, slots, span, unit),
            None => self.histogram_from_rows(filter, slots, span, self.searches_common_text(filter)?),
        }
    }

    /// An estimate from a sample (`PgStore::histogram_from_sample`) when
    /// the filter searches for a common term (`PgStore::text_is_common`,
    /// the planner's estimate from the search side table) over a span of more
    /// than `EXACT_SPAN_ROWS`; otherwise [`Store::histogram`]'s count (a rare
    /// term's candidates through the trigram index).
    fn histogram_estimate(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        let Some(span) = HistogramSpan::of(filter, slots)? else { return Ok(Histogram::zeros(slots)) };
        if let Some(unit) = span.aggregate_bucket(filter, slots) {
            return self.histogram_from_aggregates(filter, slots, span, unit);
        }
        if let Some(h) = span.count_by_edges(filter, slots, |part| self.histogram(part, slots))? {
            return Ok(h);
        }
        let common = self.searches_common_text(filter)?;
        if common {
            if let Some(percent) = self.sample_percent(span)? {
                return self.histogram_from_sample(filter, slots, span, percent);
            }
        }
        self.histogram_from_rows(filter, slots, span, common)
    }

    fn count_split(&self, filter: &RecordFilter, key: &str, counter: &mut SplitCounter<'_>) -> Result<(), StoreError> {
        split::count_split(self, filter, key, counter)
    }

    fn count_field_keys(&self, filter: &RecordFilter, sample: usize) -> Result<FieldGroups, StoreError> {
        fields::count_keys(self, filter, sample)
    }

    fn count_field_values(&self, filter: &RecordFilter, key: &str, sample: usize) -> Result<FieldGroups, StoreError> {
        fields::count_values(self, filter, key, sample)
    }

    fn call_sites(&self, filter: &RecordFilter, limit: usize) -> Result<Vec<CallSite>, StoreError> {
        if !filter.check()? {
            return Ok(Vec::new());
        }
        let mut sql = self.sql_for(filter)?;
        let lim = sql.bind(sql_limit(limit));
        // The sites: (logger, file, line, counts per level, last, n), the
        // most records first, at most `lim`.
        let (sites, example) = match filter.whole_site_hours() {
            // The example below is read at a site's newest time in the
            // range, which the filter keeps: it needs no other condition.
            Some(hours) => (sites_by_bucket(&mut sql, filter, hours, &lim), "TRUE".to_owned()),
            None => {
                let cond = filter_conditions(&mut sql, filter);
                let sites = format!(
                    "SELECT r.logger, r.file, r.line,
                            count(*) FILTER (WHERE r.level = 5) AS trace, count(*) FILTER (WHERE r.level = 10) AS debug,
                            count(*) FILTER (WHERE r.level = 20) AS info, count(*) FILTER (WHERE r.level = 30) AS warn,
                            count(*) FILTER (WHERE r.level = 40) AS error, max(r.ts) AS last, count(*) AS n
                     FROM log_records r WHERE {cond}
                     GROUP BY 1, 2, 3
                     ORDER BY count(*) DESC, r.logger COLLATE \"C\", r.file COLLATE \"C\" NULLS FIRST, r.line NULLS FIRST
                     LIMIT {lim}"
                );
                (sites, cond)
            }
        };
        // One statement: the sites, then each one's example (its newest kept
        // record, found by the logger index at the site's last time) in a
        // lateral join, instead of one round trip per site.
        sql.text = format!(
            "WITH sites AS ({sites})
             SELECT s.logger, s.file, s.line, s.trace, s.debug, s.info, s.warn, s.error, s.last, e.message
             FROM sites s LEFT JOIN LATERAL (
                 SELECT r.message FROM log_records r
                 WHERE {example} AND r.logger COLLATE \"C\" = s.logger AND r.ts = s.last
                   AND r.file COLLATE \"C\" IS NOT DISTINCT FROM s.file AND r.line IS NOT DISTINCT FROM s.line
                 ORDER BY r.id DESC LIMIT 1) e ON TRUE
             ORDER BY s.n DESC, s.logger COLLATE \"C\", s.file COLLATE \"C\" NULLS FIRST, s.line NULLS FIRST"
        );
        let rows = self.rows("reading call sites", &sql)?;
        let bad = |e| store_error(&self.config, "reading call sites", e);
        let mut sites = Vec::with_capacity(rows.len());
        for row in &rows {
            let line: Option<i32> = row.try_get(2).map_err(bad)?;
            let mut site = CallSite::new(
                row.try_get(0).map_err(bad)?,
                row.try_get(1).map_err(bad)?,
                line.and_then(|l| u32::try_from(l).ok()),
            );
            site.counts = level_counts(row, 3).map_err(bad)?;
            let last: std::time::SystemTime = row.try_get(8).map_err(bad)?;
            site.last_seen = timestamp(last);
            let example: Option<String> = row.try_get(9).map_err(bad)?;
            if let Some(example) = example {
                site.example = example;
            }
            sites.push(site);
        }
        Ok(sites)
    }

    fn loggers(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.run("reading loggers", move |c| {
            c.query("SELECT logger FROM log_logger_stats WHERE total > 0 ORDER BY logger COLLATE \"C\"", &[])
        })?;
        rows.iter().map(|r| r.try_get(0).map_err(|e| store_error(&self.config, "reading loggers", e))).collect()
    }

    fn describe(&self) -> String {
        format!("PostgreSQL {}", self.config.redacted())
    }

    /// Listens for the sink's commit notifications; on a hot standby, which
    /// refuses `LISTEN` (and does not relay the primary's notifications),
    /// sleeps the poll interval instead.
    fn commit_waiter(&self) -> Box<dyn log_panel_query::CommitWaiter> {
        if self.standby {
            return Box::new(log_panel_query::Sleep);
        }
        Box::new(crate::listen::PgCommitWaiter::new(self.config.clone()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use log_panel_testing::postgres::TestServer;

    /// A read session refuses to write (every transaction is read-only), and
    /// a maintenance run may write and leaves the session read-only again.
    #[test]
    fn read_sessions_refuse_writes_and_maintenance_runs_may_write() {
        let Some(url) = TestServer::shared_database() else { return };
        drop(crate::PgSink::connect(&url).unwrap());
        let store = PgStore::connect(&url).unwrap();
        let write = "CREATE TABLE written_by_a_reader (id int)";
        let err = store.run("writing", move |c| c.batch_execute(write)).unwrap_err();
        assert!(err.to_string().contains("read-only transaction"), "{err}");
        let maintenance = crate::PgMaintenance::connect(&url).unwrap();
        maintenance.run("writing", |c| c.batch_execute("CREATE TABLE written_by_maintenance (id int)")).unwrap();
        let err = store.run("writing", move |c| c.batch_execute(write)).unwrap_err();
        assert!(err.to_string().contains("read-only transaction"), "{err}");
    }
}
