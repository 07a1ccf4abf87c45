//! [`SqliteStore`]: the read side ([`Store`]) of a SQLite database written
//! by [`SqliteSink`](crate::SqliteSink). See `docs/query.md`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log_panel_core::{level_from_severity, Timestamp};
use log_panel_query::{Behind, IndexLag, LevelCounts, Store, StoreError, StoreErrorKind};
use log_panel_query::{
    CallSite, CardFilter, Cards, CardsQuery, Cursor, FieldGroups, FieldMatch, FieldValue, Histogram, HistogramSpan,
    LoggerCard, LoggerMatch, Page, PageAt, RecordFilter, SiteSpan, SiteUnit, Slots, SplitCounter, StoredRecord, DAY,
    DEFAULT_READ_TIMEOUT, HOUR, QUARTER_HOUR,
};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row};

use crate::rows::{self, level_counts, RECORD_COLUMNS};
use crate::sql::{Sql, TextPlan};
use crate::upkeep::search;
use crate::{file, schema, BUSY_TIMEOUT};

mod by_id;
mod estimate;
mod fields;
mod split;
mod tail_memo;

pub(crate) use tail_memo::{tail_parts, TailMatches, TailPart};

/// Read connections kept open for reuse; more are opened under load and
/// closed when returned to a full pool.
const POOL_SIZE: usize = 4;

/// SQLite virtual-machine steps between two looks at a read's deadline: a
/// few microseconds of work, so a read stops within that of its budget.
const PROGRESS_STEPS: i32 = 1_000;

/// The most rows a histogram counts from `log_records` (when the filter
/// cannot use the aggregates); beyond it the histogram is incomplete.
pub const HISTOGRAM_ROW_LIMIT: usize = 1_000_000;

/// Reads a log-panel SQLite database: records, requests, cards, histograms,
/// call sites. Pruning and rebuilding the aggregates is
/// [`SqliteMaintenance`](crate::SqliteMaintenance), apart so that a reader cannot write.
///
/// Safe to share between threads (`&self` everywhere): each call takes a
/// read-only connection (`SQLITE_OPEN_READONLY`) from a small pool. WAL lets
/// it read while a [`SqliteSink`](crate::SqliteSink) writes. It never creates,
/// converts or migrates a file: see [`SqliteStore::open`]. Each read has a
/// time budget ([`SqliteStore::with_read_timeout`]).
///
/// ```
/// use log_panel_query::{PageAt, RecordFilter, Store};
/// use log_panel_core::{Batch, Level, Origin, Record, Sink};
/// use log_panel_sqlite::{SqliteSink, SqliteStore};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("logs.db");
/// let mut sink = SqliteSink::open(&path)?;
/// let origin = Origin::new("demo", "localhost", 1);
/// sink.write(&Batch::new(&origin, &[Record::new(Level::Warn, "demo", "disk almost full")]))?;
///
/// let store = SqliteStore::open(&path)?;
/// let mut filter = RecordFilter::default();
/// filter.text = Some("ALMOST".into());
/// let page = store.records(&filter, PageAt::Newest, 50)?;
/// assert_eq!(page.records[0].message, "disk almost full");
/// assert!(page.older.is_none() && page.newer.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStore {
    path: PathBuf,
    pool: Mutex<Pool>,
    read_timeout: Duration,
    /// The origin of the deadlines kept in [`ReadConn::deadline`].
    epoch: Instant,
    /// When a histogram is estimated, and from how many rows.
    estimate: estimate::Sizes,
    /// The unindexed tail's matches of recent terms, read once for a
    /// page's parts ([`tail_memo`]).
    tail_memo: tail_memo::TailMemo,
}

/// Idle read connections, and the identity of the file they read.
///
/// A connection keeps reading the file it opened after that file is deleted
/// or replaced at the path (a new database, or something else), so pages
/// would show records that are gone, or miss every new one. Each lease
/// compares the path with [`Pool::file`] (one `stat`): a missing file is
/// `Unavailable`; another file is checked like at [`SqliteStore::open`] and
/// read with new connections.
struct Pool {
    conns: Vec<ReadConn>,
    file: Option<file::Id>,
}

/// A read connection, the file it reads and the deadline its progress
/// handler checks (nanoseconds after [`SqliteStore::epoch`]; `u64::MAX`: none).
struct ReadConn {
    conn: Connection,
    file: Option<file::Id>,
    deadline: Arc<AtomicU64>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

pub(crate) fn storage(e: rusqlite::Error) -> StoreError {
    let kind = match e.sqlite_error_code() {
        Some(
            rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked,
        ) => StoreErrorKind::Unavailable,
        // Only the progress handler interrupts a read connection.
        Some(rusqlite::ErrorCode::OperationInterrupted) => {
            return StoreError::new(
                StoreErrorKind::TimedOut,
                "SQLite: the read ran past its time budget and was stopped",
            )
            .with_source(e);
        }
        _ => StoreErrorKind::Storage,
    };
    StoreError::new(kind, format!("SQLite: {e}")).with_source(e)
}

fn usize_param(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A pooled read connection, returned to the pool when dropped. Its
/// statements must finish within the store's read budget from the lease.
struct Lease<'a> {
    store: &'a SqliteStore,
    conn: Option<ReadConn>,
}

impl Lease<'_> {
    /// The identity of the file the connection reads.
    fn file(&self) -> Option<file::Id> {
        self.conn.as_ref().and_then(|c| c.file)
    }
}

impl std::ops::Deref for Lease<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Set from construction until drop.
        &self.conn.as_ref().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped")).conn
    }
}

/// Tests trace a pooled connection's statements (`trace_v2` needs it mutable).
#[cfg(test)]
impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn.as_mut().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped")).conn
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut pool)) = (self.conn.take(), self.store.pool.lock()) {
            if pool.conns.len() < POOL_SIZE && conn.file == pool.file {
                pool.conns.push(conn);
            }
        }
    }
}

impl SqliteStore {
    /// Opens an existing log-panel database for reading, read-only
    /// (`SQLITE_OPEN_READONLY`): it never creates, converts or migrates a
    /// file, so a file it refuses is left byte for byte as it was.
    ///
    /// - a missing or empty file, or one that is not a log-panel database
    ///   (no `log_records` table, or no schema version), is
    ///   [`StoreErrorKind::Unavailable`] with a message that says so;
    /// - a database of an older log-panel schema is
    ///   [`StoreErrorKind::Unavailable`] too: its writer (the application) or
    ///   `log-panel migrate` ([`SqliteMaintenance::migrate`](crate::SqliteMaintenance::migrate)) brings it up to date
    ///   (schemas 11 and 12 are read as they are: 12 and 13 only moved reals
    ///   and booleans in the context side table);
    /// - a newer one is [`StoreErrorKind::NewerSchema`].
    ///
    /// Reads have a budget of [`DEFAULT_READ_TIMEOUT`]
    /// ([`SqliteStore::with_read_timeout`]).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        // The identity before the check's connection: a file replaced
        // between them is then one the pool does not know, re-identified
        // at the first read ([`SqliteStore::current_file`]).
        let file = file::Id::at(&path);
        let checked = check_current(&path, schema::OLDEST_READ)?;
        let file = file.map_err(|e| unreadable(&path, e))?;
        let store = SqliteStore {
            path,
            pool: Mutex::new(Pool { conns: Vec::new(), file }),
            read_timeout: DEFAULT_READ_TIMEOUT,
            epoch: Instant::now(),
            estimate: estimate::Sizes::DEFAULT,
            tail_memo: tail_memo::TailMemo::default(),
        };
        match checked {
            // The check read the schema through a read connection: the
            // first read takes it instead of opening and parsing again
            // (~0.3 ms of a one-shot command's few, docs/performance.md).
            Some(conn) => {
                let read = store.read_conn(conn, file)?;
                store.pool.lock().map_err(|_| poisoned())?.conns.push(read);
            }
            None => drop(store.conn()?),
        }
        Ok(store)
    }

    /// Sets how long one read may run before it is stopped with
    /// [`StoreErrorKind::TimedOut`] (default [`DEFAULT_READ_TIMEOUT`], at
    /// least 1 ms). Enforced by a progress handler on the read connections,
    /// from the moment a read takes its connection; maintenance
    /// ([`SqliteMaintenance`](crate::SqliteMaintenance)) is not bounded.
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> SqliteStore {
        self.read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The context keys indexed for lookups (see `Options::index_keys`).
    pub fn indexed_keys(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn()?;
        Ok(crate::sql::marks(&conn).map_err(storage)?.into_keys().collect())
    }

    /// How many records an index (message search, or a context key's side
    /// table) has not covered yet: they are found by a scan until the
    /// writer's idle steps index them. Counts every such record (a lag of
    /// 10 M reads 10 M rowids): for tools and benchmarks; a page asks the
    /// bounded [`Store::index_lag`].
    pub fn unindexed(&self) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM log_records WHERE id > min(
                     (SELECT indexed_id FROM log_fts_state), (SELECT indexed_id FROM log_context_all))",
                [],
                |r| r.get(0),
            )
            .map_err(storage)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The identity of the database file now at the path, after checking
    /// that it is still the one the pool reads, or a log-panel database of
    /// this schema when it was replaced (the pool's connections then go).
    fn current_file(&self) -> Result<Option<file::Id>, StoreError> {
        let now = file::Id::at(&self.path).map_err(|e| unreadable(&self.path, e))?;
        let Some(id) = now else {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!("{} is gone (deleted or moved since it was opened)", self.path.display()),
            ));
        };
        let known = self.pool.lock().map_err(|_| poisoned())?.file;
        if known == now {
            return Ok(now);
        }
        let (version, _) = identify(&self.path)?;
        if !(schema::OLDEST_READ..=schema::SCHEMA_VERSION).contains(&version) {
            return Err(if version > schema::SCHEMA_VERSION {
                newer_schema(&self.path, version)
            } else {
                StoreError::new(
                    StoreErrorKind::Unavailable,
                    format!(
                        "{} was replaced by a database of another log-panel schema ({version})",
                        self.path.display()
                    ),
                )
            });
        }
        let mut pool = self.pool.lock().map_err(|_| poisoned())?;
        pool.conns.clear();
        pool.file = Some(id);
        Ok(now)
    }

    fn conn(&self) -> Result<Lease<'_>, StoreError> {
        let file = self.current_file()?;
        let pooled = self.pool.lock().ok().and_then(|mut p| p.conns.pop());
        let read = match pooled {
            Some(c) => c,
            None => self.read_conn(open_read(&self.path, false).map_err(storage)?, file)?,
        };
        let until =
            nanos_since(self.epoch).saturating_add(u64::try_from(self.read_timeout.as_nanos()).unwrap_or(u64::MAX));
        read.deadline.store(until, Ordering::Relaxed);
        Ok(Lease { store: self, conn: Some(read) })
    }

    /// `conn` (a read connection of the file `file`) made a pooled one: the
    /// search functions registered, reads stopped at their deadline.
    fn read_conn(&self, mut conn: Connection, file: Option<file::Id>) -> Result<ReadConn, StoreError> {
        search::register(&conn).map_err(storage)?;
        let deadline = Arc::new(AtomicU64::new(u64::MAX));
        let (watched, epoch) = (Arc::clone(&deadline), self.epoch);
        conn.progress_handler(PROGRESS_STEPS, Some(move || nanos_since(epoch) >= watched.load(Ordering::Relaxed)))
            .map_err(storage)?;
        Ok(ReadConn { conn, file, deadline })
    }

    /// The SQL conditions of `filter`, a common search term by scan (see
    /// [`page_term_plan`]), context keys with their side-table marks.
    fn plan(&self, filter: &RecordFilter) -> Result<Sql, StoreError> {
        self.plan_with(filter, None, None, true)
    }

    /// [`SqliteStore::plan`] for a tail's rows with an id above `above`
    /// only (read by its own statement, never by id).
    fn plan_above(&self, filter: &RecordFilter, above: Option<i64>) -> Result<Sql, StoreError> {
        self.plan_with(filter, above, None, false)
    }

    /// The plan of `filter` above `above`, with a term or context condition
    /// read by scan when it is common: with `counting: None` (a page), a
    /// term whose candidates in the search index, within its span and in
    /// the table, make the walk cheaper ([`page_term_plan`]), a context condition
    /// whose entries in the side table, within its span and in the table,
    /// make the walk cheaper ([`page_key_common_at`]); with
    /// `Some(rows)` (a read that visits every match of a span of `rows`
    /// records), with more candidates in its index than the span's rows
    /// divided by what reading one by id costs ([`INDEX_ROW_COST`],
    /// [`KEY_ROW_COST`]). `page`: a page's plan, whose rows may be read by
    /// id (`by_id`), so that a term's cost within a span is that of its
    /// candidates in the zones the span meets.
    fn plan_with(
        &self,
        filter: &RecordFilter,
        above: Option<i64>,
        counting: Option<Counting>,
        page: bool,
    ) -> Result<Sql, StoreError> {
        let planned = |text: TextPlan, marks: crate::sql::Marks| match counting {
            Some(_) => Sql::planned_counting(filter, text, marks),
            None => Sql::planned_above(filter, text, marks, above),
        };
        let keyed = !filter.fields.is_empty() || !filter.ranges.is_empty() || filter.query.is_some();
        if filter.text.is_none() && !keyed {
            return Ok(planned(TextPlan::default(), Default::default()));
        }
        let conn = self.conn()?;
        let cap = |rows: i64, cost: i64| (rows / cost).min(i64::try_from(HISTOGRAM_ROW_LIMIT).unwrap_or(i64::MAX));
        // A page's span (the ids of its first and last record by time), read
        // once for its term and all its context conditions.
        let mut span = None;
        let mut span_of_page = |conn: &Connection| -> rusqlite::Result<Option<(i64, i64)>> {
            match span {
                Some(span) => Ok(span),
                None => Ok(*span.insert(span_ids(conn, filter.since, filter.until)?)),
            }
        };
        // The context conditions first: whether the page is read by id
        // (`by_id`) depends on them, and the term's plan on that.
        let mut common_at = |c: crate::sql::KeyCondition<'_>, booleans_apart: bool| match counting {
            Some(Counting { rows, .. }) => Ok(crate::sql::CommonAt::at(cap(rows, KEY_ROW_COST))),
            None => page_key_common_at(&conn, c, span_of_page(&conn)?, booleans_apart),
        };
        let marks = if keyed {
            let within_span = match counting {
                Some(Counting { rows, .. }) if scans_its_span(filter) => {
                    let walk = span_rows(&conn, filter.since, filter.until).map_err(storage)?;
                    walk <= PARTS_PROBE_ROWS.min(rows.saturating_mul(PARTS_WALK_PER_ROW))
                }
                _ => false,
            };
            let mut marks = crate::sql::Marks::read(&conn, filter, &mut common_at, within_span).map_err(storage)?;
            // The tail's matches of each condition looked up in the side
            // table, shared by the page's parts as a term's are (below).
            if above.is_none() {
                for (i, c) in crate::sql::KeyCondition::all(filter).enumerate() {
                    if marks.common.contains(&i) {
                        continue;
                    }
                    let condition = tail_memo::Condition::key(c);
                    let found = self.tail_memo.matches(&conn, conn.file(), &condition, marks.of(c.key()));
                    if let Some(t) = found.map_err(storage)? {
                        marks.tails.insert(i, t);
                    }
                }
            }
            marks
        } else {
            Default::default()
        };
        let text = match (&filter.text, counting) {
            (Some(t), _) if search::indexable(t) => {
                #[cfg(test)]
                search::PROBES.with(|p| p.set(p.get() + 1));
                let query = search::lookup_query(&conn, t).map_err(storage)?;
                match counting {
                    Some(Counting { rows, by_id }) => {
                        // Read by id, a candidate costs what a row of a
                        // walk through a narrower index does.
                        let cap = if by_id { rows.max(0) } else { cap(rows, INDEX_ROW_COST) };
                        // With a time span, its candidates only (a cover of
                        // its ids: the zones it meets), counted and read.
                        let within = match (filter.since, filter.until) {
                            (None, None) => None,
                            (since, until) => Some(span_cover(&conn, since, until).map_err(storage)?),
                        };
                        let found = match within {
                            Some(within) => search::candidates_within(&conn, &query, within, cap),
                            None => search::candidates(&conn, &query, None, cap),
                        };
                        TextPlan {
                            scan: found.map_err(storage)? >= cap,
                            query: Some(query),
                            floor: None,
                            within,
                            tail: None,
                        }
                    }
                    None => {
                        let span = span_of_page(&conn).map_err(storage)?;
                        let zoned = (page && by_id::reads(filter, &marks)).then_some((filter.since, filter.until));
                        let ends = (filter.since.is_some(), filter.until.is_none());
                        page_term_plan(&conn, span, ends, zoned, query).map_err(storage)?
                    }
                }
            }
            _ => TextPlan::default(),
        };
        // The tail's matches, shared by the page's parts (its rows, the
        // check beyond them, its histogram, its field statistics).
        let mut text = text;
        if let Some(t) = filter.text.as_deref().filter(|t| search::indexable(t)) {
            if !text.scan && above.is_none() {
                let mark = search::indexed_mark(&conn).map_err(storage)?;
                text.tail = self.tail_matches(&conn, t, mark).map_err(storage)?;
            }
        }
        Ok(planned(text, marks))
    }

    /// The matches of the search term `text` above the search index's
    /// `mark`, as remembered ([`tail_memo`]); `None` past its bounds.
    fn tail_matches(&self, conn: &Lease<'_>, text: &str, mark: i64) -> rusqlite::Result<Option<TailMatches>> {
        self.tail_memo.matches(conn, conn.file(), &tail_memo::Condition::term(&search::fold(text)), mark)
    }

    /// [`SqliteStore::plan`] for a read that visits every match (a
    /// histogram, a split, call sites). A page reads a common search term
    /// or context condition by scan, because newest first it meets a page
    /// within a few rows; a count visits every match either way, so it reads
    /// a term's candidates from the search index, or a condition's entries
    /// from the side table, when they cost less than testing every row of
    /// the filter's time span: a match found by id costs about
    /// [`INDEX_ROW_COST`] rows read in order (a word in one record of a
    /// hundred over 90 days: its candidates; over one busy hour: the scan),
    /// a context match [`KEY_ROW_COST`].
    fn plan_counting(&self, filter: &RecordFilter) -> Result<Sql, StoreError> {
        let rows = {
            let conn = self.conn()?;
            span_rows(&conn, filter.since, filter.until).map_err(storage)?
        };
        self.plan_with(filter, None, Some(Counting { rows, by_id: false }), false)
    }

    /// The histogram of the rows `w` selects, counted one by one (at most
    /// [`HISTOGRAM_ROW_LIMIT`] of them: beyond, the counts are a lower bound).
    fn count_rows(&self, w: &Sql, slots: &Slots) -> Result<Histogram, StoreError> {
        let mut out = Histogram::zeros(slots);
        let conn = self.conn()?;
        out.complete = for_each_bounded_row(&conn, "ts, level", w, |row| count_row(row, slots, &mut out.slots))?;
        Ok(out)
    }

    fn select(&self, w: &Sql, tail: &str) -> Result<Vec<StoredRecord>, StoreError> {
        let conn = self.conn()?;
        let sql = format!("SELECT {RECORD_COLUMNS} FROM log_records{}{tail}", w.sql());
        let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
        let rows = stmt.query_map(params_from_iter(w.params.iter()), rows::record).map_err(storage)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(storage)?);
        }
        Ok(out)
    }

    /// The rows of a page: the statement of [`page_statement`], run in one
    /// transaction with the tree's names it reads, so a logger first stored
    /// meanwhile is not half-seen.
    fn select_page(
        &self,
        filter: &RecordFilter,
        at: PageAt,
        w: &Sql,
        fetch: i64,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction().map_err(storage)?;
        let text = filter.text.as_deref().unwrap_or_default();
        let tail = |mark: i64| self.tail_matches(&conn, text, mark);
        if let Some(rows) = by_id::page(&tx, filter, at, w, fetch, &tail).map_err(storage)? {
            tx.commit().map_err(storage)?;
            return Ok(rows);
        }
        let mut out = Vec::new();
        if let Some((sql, params)) = page_statement(&tx, filter, at, w, fetch).map_err(storage)? {
            let mut stmt = tx.prepare_cached(&sql).map_err(storage)?;
            let rows = stmt.query_map(params_from_iter(params.iter()), rows::record).map_err(storage)?;
            for row in rows {
                out.push(row.map_err(storage)?);
            }
        }
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// The query plan of the newest page of `filter`'s records, as SQLite's
    /// `EXPLAIN QUERY PLAN` details joined by `"; "` (empty when the filter
    /// keeps nothing by construction: a tree with no stored logger, or
    /// conditions that contradict). The
    /// statement is the one [`Store::records`] runs, so a test can assert
    /// that a filter is answered through an index, never a scan of
    /// `log_records`.
    pub fn explain_records(&self, filter: &RecordFilter) -> Result<String, StoreError> {
        self.explain_page(filter, PageAt::Newest)
    }

    /// [`SqliteStore::explain_records`] of the page at `at`. A page by cursor
    /// runs this statement for its rows, and the same shape with one row in
    /// the other direction for its check of the records beyond it, so the
    /// plans of `Older(c)` and `Newer(c)` cover every statement of such pages.
    pub fn explain_page(&self, filter: &RecordFilter, at: PageAt) -> Result<String, StoreError> {
        if !filter.check()? {
            return Ok(String::new());
        }
        let narrowed = narrowed_for(filter, at);
        let mut w = self.plan(&narrowed)?;
        page_condition(&mut w, at);
        let conn = self.conn()?;
        // A page read by id runs its statements in turn: each one's plan.
        let statements = match by_id::statements(&narrowed, at, &w, PAGE_ROWS) {
            Some(statements) => statements,
            None => match page_statement(&conn, &narrowed, at, &w, PAGE_ROWS).map_err(storage)? {
                Some(statement) => vec![statement],
                None => return Ok(String::new()),
            },
        };
        let mut details = Vec::new();
        for (sql, params) in statements {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).map_err(storage)?;
            let rows = stmt.query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3)).map_err(storage)?;
            for row in rows {
                details.push(row.map_err(storage)?);
            }
        }
        Ok(details.join("; "))
    }

    /// The query plan of the statement summing `filter`'s call sites when
    /// the call-site aggregates answer it ([`RecordFilter::whole_site_hours`]),
    /// as SQLite's `EXPLAIN QUERY PLAN` details joined by `"; "`; `None` when
    /// the rows answer. The statement is the one [`Store::call_sites`] runs,
    /// so a test can assert which aggregate tables a span reads, and by
    /// which index.
    pub fn explain_call_sites(&self, filter: &RecordFilter) -> Result<Option<String>, StoreError> {
        let Some(hours) = filter.whole_site_hours() else { return Ok(None) };
        let (sql, w) = sites_by_bucket_statement(filter, hours);
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).map_err(storage)?;
        let rows = stmt.query_map(params_from_iter(w.params.iter()), |r| r.get::<_, String>(3)).map_err(storage)?;
        let mut details = Vec::new();
        for row in rows {
            details.push(row.map_err(storage)?);
        }
        Ok(Some(details.join("; ")))
    }

    /// Whether a record `filter` keeps lies beyond `c`, planned as the page was
    /// (`text_plan` and `key_marks` from its [`plan`](SqliteStore::plan), so
    /// the search probe and the marks' read run once a page). It is a page of
    /// one row in that direction, through the page's own statement
    /// ([`page_statement`]): a bare `EXISTS` over the filter's conditions let
    /// SQLite choose its own plan, and a logger tree was then one `OR` over
    /// its names whose range arm walked the children's `(logger, ts)` entries
    /// with no time bound, whatever the cursor (docs/performance.md).
    fn exists_beyond(
        &self,
        filter: &RecordFilter,
        text_plan: TextPlan,
        key_marks: crate::sql::Marks,
        c: Cursor,
        older: bool,
    ) -> Result<bool, StoreError> {
        let at = if older { PageAt::Older(c) } else { PageAt::Newer(c) };
        let narrowed = narrowed_for(filter, at);
        let mut w = Sql::planned(&narrowed, text_plan, key_marks);
        page_condition(&mut w, at);
        let found = self.select_page(&narrowed, at, &w, 1)?;
        Ok(!found.is_empty())
    }
}

impl SqliteStore {
    /// [`Store::call_sites`] of a filter on logger and time alone: the whole
    /// ISO weeks inside the whole hours `hours` of its range from
    /// `log_site_weekly`, the whole UTC days at their ends from
    /// `log_site_daily`, the whole hours at theirs from `log_site_hourly`
    /// ([`RecordFilter::site_spans_in`]), the partial hours at the range's
    /// ends from the rows, summed per call site by one statement (one
    /// snapshot, so the parts agree), then each site's newest message read by
    /// its time through the `ts` index. A 90-day list reads a row per site
    /// and week, and at most 12 per site and day.
    fn call_sites_by_bucket(
        &self,
        filter: &RecordFilter,
        hours: (Option<Timestamp>, Option<Timestamp>),
        limit: usize,
    ) -> Result<Vec<CallSite>, StoreError> {
        let (sql, w) = sites_by_bucket_statement(filter, hours);
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction().map_err(storage)?;
        let mut out = Vec::new();
        {
            let mut stmt = tx.prepare_cached(&sql).map_err(storage)?;
            let rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
            let mut sites = sum_sites(rows).map_err(storage)?;
            // The busiest first; ties by logger, file, line (no file or
            // line first, as SQLite orders NULL: their keys are '' and -1).
            sites.sort_by(|a, b| {
                b.total()
                    .cmp(&a.total())
                    .then_with(|| (&a.logger, &a.file_key, a.line_key).cmp(&(&b.logger, &b.file_key, b.line_key)))
            });
            sites.truncate(limit);
            let mut example = tx
                .prepare_cached(
                    "SELECT message FROM log_records
                     WHERE ts = ?1 AND logger = ?2 AND file IS ?3 AND line IS ?4 ORDER BY id DESC LIMIT 1",
                )
                .map_err(storage)?;
            for s in sites {
                let file = match crate::aggregates::file_of_key(&s.file_key) {
                    Some(file) => Some(String::from_utf8(file.to_vec()).map_err(|e| storage(e.utf8_error().into()))?),
                    None => None,
                };
                let line = crate::aggregates::line_of_key(s.line_key);
                let last = std::str::from_utf8(&s.last).map_err(|e| storage(e.into()))?;
                let message: Option<String> =
                    example.query_row(params![last, s.logger, file, line], |r| r.get(0)).optional().map_err(storage)?;
                let mut site = CallSite::new(s.logger, file, line.and_then(|l| u32::try_from(l).ok()));
                site.counts = rows::level_counts(s.counts);
                site.last_seen = rows::timestamp(last).map_err(storage)?;
                site.example = message.unwrap_or_default();
                out.push(site);
            }
        }
        tx.commit().map_err(storage)?;
        Ok(out)
    }
}

/// The units above the hours a call-site list reads, coarsest first
/// ([`RecordFilter::site_spans_in`]): the tables the sink keeps beside the hours.
const SITE_SPAN_UNITS: [SiteUnit; 2] = [SiteUnit::Week, SiteUnit::Day];

/// The statement of [`SqliteStore::call_sites_by_bucket`] and its
/// parameters: one `UNION ALL` part per span of
/// [`RecordFilter::site_spans_in`] (weeks, days, hours) from its aggregate
/// table, and one per partial hour at the range's ends from the rows, each
/// row the logger, file key, line key (as the aggregate tables keep them:
/// [`crate::aggregates::file_key`], [`crate::aggregates::line_key`]), five
/// level counts and newest time.
///
/// The partial hour at the start, `[since, a)`, is read as its whole hour
/// from `log_site_hourly` less the rows of `[a - 1 h, since)` (counted
/// negative, no time) when `since` lies in the first half of its hour:
/// those rows are then the fewer, and an hour's site rows are at most its
/// records (at 10 M, 752 site rows against ~4 600 records an hour). The
/// hour's newest time per site is the part's: a site with a record in
/// `[since, a)` has its newest of the hour there, and one with none sums to
/// zero and is dropped ([`sum_sites`]). Not at the end: the hour's newest
/// time may lie past `until`.
fn sites_by_bucket_statement(filter: &RecordFilter, hours: (Option<Timestamp>, Option<Timestamp>)) -> (String, Sql) {
    let mut w = Sql::default();
    let mut parts = Vec::new();
    let aggregate = |w: &mut Sql, unit: SiteUnit, lo: Option<Timestamp>, hi: Option<Timestamp>| {
        let (table, column) = unit.table();
        if let Some(lo) = lo {
            let p = w.bind(lo.to_rfc3339());
            w.and(format!("{column} >= {p}"));
        }
        if let Some(hi) = hi {
            let p = w.bind(hi.to_rfc3339());
            w.and(format!("{column} < {p}"));
        }
        if let Some(m) = &filter.logger {
            w.logger(m);
        }
        // `table` and `column` are our constants.
        format!(
            "SELECT logger, file_key, line_key, trace, debug, info, warn, error, last_seen
             FROM {table} WHERE {}",
            w.take_conditions()
        )
    };
    for SiteSpan { unit, since: lo, until: hi } in RecordFilter::site_spans_in(hours, &SITE_SPAN_UNITS) {
        parts.push(aggregate(&mut w, unit, lo, hi));
    }
    let rows = |sign: &str, last: &str, w: &mut Sql| {
        format!(
            "SELECT logger, CASE WHEN file IS NULL THEN '' ELSE '>' || file END, coalesce(line, -1),
                    {sign}(level = 5), {sign}(level = 10), {sign}(level = 20), {sign}(level = 30), {sign}(level = 40),
                    {last}
             FROM log_records WHERE {}",
            w.take_conditions()
        )
    };
    // The partial hours: [since, a) and [b, until).
    for edge in filter.partial_hours(hours) {
        let hour = edge.until.filter(|&a| edge.since == filter.since && Some(a) == hours.0).and_then(|a| {
            let start = Timestamp(a.0 - HOUR);
            let since = edge.since?;
            (since.0 - start.0 < a.0 - since.0).then_some((start, since, a))
        });
        match hour {
            Some((start, since, a)) => {
                parts.push(aggregate(&mut w, SiteUnit::Hour, Some(start), Some(a)));
                let mut before = edge.clone();
                before.since = Some(start);
                before.until = Some(since);
                w.filter(&before);
                parts.push(rows("-", "NULL", &mut w));
            }
            None => {
                w.filter(&edge);
                parts.push(rows("", "ts", &mut w));
            }
        }
    }
    (parts.join(" UNION ALL "), w)
}

/// One call site's counts summed over the aggregate rows of a list, its
/// key as the aggregate tables keep it.
struct SiteSums {
    logger: String,
    /// '' for no file, '>' and the file otherwise.
    file_key: Vec<u8>,
    /// -1 for no line.
    line_key: i64,
    /// Trace, debug, info, warn, error, as the aggregate tables order them.
    counts: [i64; 5],
    /// The newest `last_seen` (RFC 3339 text: its order is the times');
    /// empty before a part with a time.
    last: Vec<u8>,
}

impl SiteSums {
    fn total(&self) -> i64 {
        self.counts.iter().fold(0, |a, &n| a.saturating_add(n))
    }
}

/// Sums `rows` (logger, file key, line key, the five level counts, last
/// seen or NULL) per call site, and drops the sites left with no record.
/// Done here rather than by SQLite's `GROUP BY`, which sorted every row
/// first: 90 days are 86 000 daily rows, grouped by SQLite in 54–70 ms,
/// read in 14–19 ms (docs/performance.md). Each bucket of an aggregate
/// table lists its sites in the table's key order, so the site after the
/// previous row's is remembered and compared first: most rows find their
/// site without hashing its key (docs/performance.md, session 47).
fn sum_sites(mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<Vec<SiteSums>> {
    const NONE: usize = usize::MAX;
    let mut at: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut sites: Vec<SiteSums> = Vec::new();
    // The site that followed each site the last time it was read.
    let mut next: Vec<usize> = Vec::new();
    let mut previous = NONE;
    let mut key = Vec::new();
    while let Some(row) = rows.next()? {
        let logger = row.get_ref(0)?;
        let logger_bytes = logger.as_bytes()?;
        let file_key = row.get_ref(1)?.as_bytes()?;
        let line_key = row.get_ref(2)?.as_i64()?;
        let guess = next.get(previous).copied().unwrap_or(NONE);
        let i = match sites.get(guess) {
            Some(s) if s.line_key == line_key && s.file_key == file_key && s.logger.as_bytes() == logger_bytes => guess,
            _ => {
                // Length-prefixed logger, so no name can run into the file.
                key.clear();
                key.extend_from_slice(&(logger_bytes.len() as u64).to_le_bytes());
                key.extend_from_slice(logger_bytes);
                key.extend_from_slice(&line_key.to_le_bytes());
                key.extend_from_slice(file_key);
                match at.get(key.as_slice()) {
                    Some(&i) => i,
                    None => {
                        at.insert(key.clone(), sites.len());
                        sites.push(SiteSums {
                            logger: logger.as_str()?.to_owned(),
                            file_key: file_key.to_vec(),
                            line_key,
                            counts: [0; 5],
                            last: Vec::new(),
                        });
                        next.push(NONE);
                        sites.len() - 1
                    }
                }
            }
        };
        if let Some(n) = next.get_mut(previous) {
            *n = i;
        }
        previous = i;
        let site = &mut sites[i];
        for (n, sum) in site.counts.iter_mut().enumerate() {
            *sum = sum.saturating_add(row.get_ref(3 + n)?.as_i64_or_null()?.unwrap_or(0));
        }
        if let Some(last) = row.get_ref(8)?.as_bytes_or_null()? {
            if last > site.last.as_slice() {
                site.last.clear();
                site.last.extend_from_slice(last);
            }
        }
    }
    sites.retain(|s| s.counts.iter().any(|&n| n > 0));
    Ok(sites)
}

/// The most loggers of one tree that [`SqliteStore::records`] reads as one
/// arm each; a larger tree is read by a single query (and a sort).
const TREE_ARMS: usize = 64;

/// The statement (SQL and parameters) of a page of `filter`'s records at
/// `at` under the conditions `w`, its `fetch` rows in the page's order;
/// `None` when it keeps nothing (a tree with no stored logger).
///
/// A logger tree of at most [`TREE_ARMS`] stored loggers is one arm per
/// logger, each walking its logger's `(logger, ts)` index in order (the
/// partial one of WARN and above when the levels allow, so a quiet logger
/// costs nothing) and stopping at the limit, then merged — unless
/// [`walk_beats_arms`]: then the time index (of WARN and above, when the
/// levels allow) is walked over every logger, testing the tree's names, as
/// the naive SQL is. The single query `w` left to SQLite (an OR of the name
/// and its children's range) would read every record of the tree to sort
/// them: seconds at 10 M.
fn page_statement(
    conn: &Connection,
    filter: &RecordFilter,
    at: PageAt,
    w: &Sql,
    fetch: i64,
) -> rusqlite::Result<Option<(String, Vec<Value>)>> {
    let order = page_order(at);
    let tail = format!(" ORDER BY ts {order}, id {order} LIMIT {fetch}");
    if let Some(LoggerMatch::Tree(root)) = &filter.logger {
        let names = tree_loggers(conn, root)?;
        if names.len() <= TREE_ARMS {
            if names.is_empty() {
                return Ok(None);
            }
            // A condition looked up in its own index (a rare word, a rare
            // context value) bounds either plan to its matches; the arms
            // keep them in time order per logger.
            if !w.indexed && walk_beats_arms(conn, filter, at, &names, fetch)? {
                // `level >= 30` is in `w` when the levels keep warnings
                // only (`Sql::filter`), so the partial index applies.
                let index = if filter.keeps_warnings_only() { "log_records_warn_ts" } else { "log_records_ts" };
                return Ok(Some((
                    format!("SELECT {RECORD_COLUMNS} FROM log_records INDEXED BY {index}{}{tail}", w.sql()),
                    w.params.clone(),
                )));
            }
            let mut rest = filter.clone();
            rest.logger = None;
            let mut arms_where = Sql::planned(&rest, w.text_plan.clone(), w.key_marks.clone());
            page_condition(&mut arms_where, at);
            let shared = arms_where.conditions().map_or_else(String::new, |c| format!(" AND {c}"));
            let arms: Vec<String> = names
                .into_iter()
                .map(|name| {
                    let p = arms_where.bind(name);
                    format!("SELECT * FROM (SELECT {RECORD_COLUMNS} FROM log_records WHERE logger = {p}{shared}{tail})")
                })
                .collect();
            return Ok(Some((format!("SELECT * FROM ({}){tail}", arms.join(" UNION ALL ")), arms_where.params)));
        }
    }
    if filter.text.is_some() && w.indexed && !w.text_plan.scan {
        // The term's matches come from a list of ids, every one read and
        // sorted: sorting their `(ts, id)` alone, then reading the page's
        // rows by id, spares the sorter every column of each match (the
        // hostile file's `job 12` over 90 days, 22 203 matches: 52 -> 37
        // ms, docs/performance.md, session 36).
        return Ok(Some((
            format!(
                "SELECT {RECORD_COLUMNS} FROM log_records WHERE id IN (SELECT id FROM log_records{}{tail}) \
                 ORDER BY ts {order}, id {order}",
                w.sql()
            ),
            w.params.clone(),
        )));
    }
    Ok(Some((format!("SELECT {RECORD_COLUMNS} FROM log_records{}{tail}", w.sql()), w.params.clone())))
}

/// Whether `fetch` rows of a page of a logger tree at `at` (its stored
/// loggers `names`) are found sooner by one walk of the time index over
/// every logger than by one arm per logger, as the loggers' counts in the
/// day the walk starts in predict (`log_logger_hourly`: all records, or
/// warnings and errors when the levels keep only those; the day before the
/// page's newest end, or after its oldest for a page read upwards — a tree
/// busy once and quiet now is not walked for). Each arm reads until it has
/// `fetch` rows or its logger's rows run out (and costs one seek); the walk
/// meets the tree's rows in proportion to their share of the walked index,
/// so it reads about `fetch / share` rows. The other conditions are taken
/// as dense (either plan meets a page within a few of its logger's rows):
/// when they are sparse both read their whole span, and the walk costs
/// `1 / share` times the arms, less than the busy arms it was chosen over
/// (docs/performance.md: `api::` with WARN and above, 7 days, a common
/// word and a common tenant, read 4 884 rows through five busy arms, 2 018
/// by the walk).
fn walk_beats_arms(
    conn: &Connection,
    filter: &RecordFilter,
    at: PageAt,
    names: &[String],
    fetch: i64,
) -> rusqlite::Result<bool> {
    let window = match at {
        PageAt::Newer(c) => {
            let from = filter.since.map_or(c.ts, |s| s.max(c.ts));
            (from, Timestamp(from.0.saturating_add(DAY)))
        }
        PageAt::Older(c) => {
            let to = filter.until.map_or(c.ts, |u| u.min(c.ts));
            (Timestamp(to.0.saturating_sub(DAY)), to)
        }
        PageAt::Newest => {
            let to = match filter.until {
                Some(u) => u,
                None => {
                    let newest: Option<String> =
                        conn.prepare_cached("SELECT max(hour) FROM log_logger_hourly")?.query_row([], |r| r.get(0))?;
                    match newest {
                        Some(h) => Timestamp(rows::timestamp(&h)?.0.saturating_add(HOUR)),
                        None => return Ok(false),
                    }
                }
            };
            (Timestamp(to.0.saturating_sub(DAY)), to)
        }
    };
    // The hours that overlap the window.
    let (from, to) = (SiteUnit::Hour.floor(window.0), window.1);
    let levels = if filter.keeps_warnings_only() { "warn + error" } else { "trace + debug + info + warn + error" };
    // Each stored logger's hours are one range of the primary key, summed
    // by a subquery of its own (as `for_each_slot` sums a histogram's
    // slots): through the hour index, each of the window's rows (loggers ×
    // 25) was looked up in the table by its key and the sums grouped by a
    // sorter (0.39 ms of the `api::` tree's 0.73 on a fresh connection at
    // 10 M, docs/performance.md). A logger with no hour in the window has
    // no sum (NULL) and is skipped, as a `GROUP BY` never saw it.
    // `levels` is one of our two constants.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT st.logger, (SELECT sum({levels}) FROM log_logger_hourly b
                            WHERE b.logger = st.logger AND b.hour >= ?1 AND b.hour < ?2)
         FROM log_logger_stats st"
    ))?;
    let mut rows = stmt.query(params![from.to_rfc3339(), to.to_rfc3339()])?;
    let (mut all, mut tree) = (0.0_f64, Vec::with_capacity(names.len()));
    while let Some(row) = rows.next()? {
        let Some(n) = row.get::<_, Option<i64>>(1)? else { continue };
        let n = n.max(0) as f64;
        all += n;
        let logger = row.get_ref(0)?.as_str()?;
        if names.iter().any(|name| name == logger) {
            tree.push(n);
        }
    }
    let tree_rows: f64 = tree.iter().sum();
    if tree_rows <= 0.0 {
        return Ok(false);
    }
    let fetch = fetch.max(1) as f64;
    // A logger with no row in the window still costs its arm a seek.
    let quiet = names.len().saturating_sub(tree.len()) as f64;
    let arms: f64 = tree.iter().map(|&n| n.min(fetch) + 1.0).sum::<f64>() + quiet;
    let walk = all.min(fetch * all / tree_rows);
    Ok(walk < arms)
}

/// What a counting read costs ([`SqliteStore::plan_with`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Counting {
    /// The rows its walk reads.
    pub(super) rows: i64,
    /// Whether the walk reads them by id, through a narrower index than
    /// time's (a logger's or the warnings'): then a search term's candidate,
    /// read by id too, costs about one of them, not [`INDEX_ROW_COST`]
    /// (measured at 10 M: the `api::` tree's 20 702 warnings of 7 days,
    /// 1.8 µs a row, `timeout`'s 7 537 candidates there, 1.8 µs a row;
    /// docs/performance.md, session 40).
    pub(super) by_id: bool,
}

/// The ids (inclusive bounds) of every zone whose times meet `[since,
/// until)` and of those between them (`(1, 0)`, no id, when none does):
/// every record of the span has its id there, whatever the order of ids
/// and times ([`by_id::span_runs`]).
fn span_cover(conn: &Connection, since: Option<Timestamp>, until: Option<Timestamp>) -> rusqlite::Result<(i64, i64)> {
    let runs = by_id::span_runs(conn, since, until)?;
    Ok(match (runs.last(), runs.first()) {
        (Some(&(lo, _)), Some(&(_, hi))) => (lo, hi),
        _ => (1, 0),
    })
}

/// What reading one match by its id costs, in rows of a scan in time
/// order (measured at 10 M: a common word's 93 000 candidates took 334 ms
/// through the search index, a scan of a day's 110 000 rows 22 ms).
const INDEX_ROW_COST: i64 = 16;

/// Whether a scan of `filter` walks every record of its time span: with a
/// logger, a search term or warnings only it walks a narrower index (a
/// tree's errors of a day: a few hundred rows), cheaper than a hot value's
/// entries in the span's parts, so only a bare span is worth probing there.
fn scans_its_span(filter: &RecordFilter) -> bool {
    filter.logger.is_none() && filter.text.is_none() && !filter.keeps_warnings_only()
}

/// The widest span, in rows, whose parts a counting read probes for a
/// value common in the table ([`crate::sql::Marks::read`]): finding the
/// parts walks the span's `ts` index entries, about 4 ms per 100 000 rows
/// at 10 M, so a 90-day span's walk (10 M entries, 450 ms) cost more than
/// the count it would spare, and such a span holds most parts anyway.
const PARTS_PROBE_ROWS: i64 = 1_000_000;

/// How many of a span's `ts` index entries the parts probe may walk per
/// row of the count's budget: an entry costs about a twentieth of a row
/// whose JSON is tested (4.5 against 82 ms a day at 10 M), and the probe
/// may take a fifth of the budget. An estimate's decision over 7 days
/// (777 000 entries, 32 ms) is then drawn from its sample at once.
const PARTS_WALK_PER_ROW: i64 = 4;

/// What reading one context match by its id costs, in rows of a scan in
/// time order that tests the condition on each row's JSON: less than a
/// search term's [`INDEX_ROW_COST`], as the scan parses every row's
/// context (measured at 10 M with the `sqlite3` shell: the 8 500 entries
/// of a hot user in the parts of one day, read by id, 30 ms; the day's
/// 111 000 rows tested by scan, 82 ms).
const KEY_ROW_COST: i64 = 4;

/// The rows a page reads, the panel's 50 and the one that tells whether
/// there are more.
const PAGE_ROWS: i64 = 51;

/// How many side-table entries make a context condition common for a page
/// over a span of `rows` records, so that it is read by walking the
/// records in time order and testing each. Spread over the span, a walk
/// meets a page after about `PAGE_ROWS * rows / matches` rows, while the
/// side table reads every match by id at [`KEY_ROW_COST`] rows each: the
/// two cost the same at `sqrt(PAGE_ROWS * rows / KEY_ROW_COST)` matches,
/// about 11 000 at 10 M records (a small tenant's 2 000 records are read by
/// id: a walk tested 250 000 records for their page; a hot user's 500 000
/// by the walk), never fewer than `COMMON_MATCHES`.
fn page_common_at(rows: i64) -> i64 {
    (PAGE_ROWS.saturating_mul(rows.max(0)) / KEY_ROW_COST).isqrt().max(crate::sql::COMMON_MATCHES)
}

/// How many side-table entries make the context condition `c` common for
/// a page over the ids `span` (its first and last record by time; `None`:
/// no record), so that it is read by walking the span in time order and
/// testing each record rather than reading its entries by id.
///
/// The side table reads every entry of the condition, [`KEY_ROW_COST`]
/// rows each, whatever the span. The walk reads the span newest first until
/// its page: about the ids from the span's last down to its [`PAGE_ROWS`]th
/// newest entry ([`crate::sql::nth_newest_entry`]), or the whole span when
/// it holds fewer. Where the entries lie, as for a search term
/// ([`page_term_plan`]): [`page_common_at`] took them as spread over the
/// span, and a value whose entries are all old made the walk read the whole
/// span before its page. Never fewer than `COMMON_MATCHES`, as before.
///
/// A range (`status >= 500`) keeps [`page_common_at`]: its entries in a
/// part are keyed by value, so finding its newest would read and sort every
/// entry of each part it reads. `booleans_apart` as for
/// [`crate::sql::Marks::booleans_apart`].
///
/// A value with fewer than `COMMON_MATCHES` entries in the whole table is
/// never common, wherever they lie: they are counted first (one statement,
/// one B-tree search per part and form) and that count is handed on, so a
/// rare value is not also looked for newest first (a statement per part
/// and form: 306 for `user_id=10286` at 10 M) and counted again
/// (docs/performance.md, issue 24).
fn page_key_common_at(
    conn: &Connection,
    c: crate::sql::KeyCondition<'_>,
    span: Option<(i64, i64)>,
    booleans_apart: bool,
) -> rusqlite::Result<crate::sql::CommonAt> {
    use crate::sql::{CommonAt, COMMON_MATCHES};
    let Some((first, last)) = span else {
        return Ok(CommonAt::at(COMMON_MATCHES));
    };
    let crate::sql::KeyCondition::Field(m) = c else {
        return Ok(CommonAt::at(page_common_at(last.saturating_sub(first).saturating_add(1))));
    };
    let counted = crate::sql::entries(conn, c, COMMON_MATCHES, None, booleans_apart)?;
    if counted < COMMON_MATCHES {
        return Ok(CommonAt { at: COMMON_MATCHES, counted: Some(counted) });
    }
    let walked =
        walked_to((first, last), crate::sql::nth_newest_entry(conn, m, (first, last), PAGE_ROWS, booleans_apart)?);
    Ok(CommonAt::at((walked.max(0) / KEY_ROW_COST).max(COMMON_MATCHES)))
}

/// How a page reads its search term, by the index query `query`
/// ([`search::lookup_query`]) over the ids `span` (its first and last record
/// by time; `None`: no record) of a filter with a start (`since`) or none,
/// and up to the newest record (`to_newest`: no `until`) or not:
/// by walking the span in time order and testing each message, or through
/// the search index, reading all its candidates or, with a floor at the
/// span's first id, those from there on and the span's time-index entries
/// below it ([`TextPlan::floor`]). The cheapest of the three, in rows of the
/// walk.
///
/// The index reads every candidate, about [`INDEX_ROW_COST`] rows each
/// whatever the span (the index has no time). The walk reads the span
/// newest first until its page: about the ids from the span's last down to
/// its [`PAGE_ROWS`]th newest candidate ([`search::nth_newest_candidate`]),
/// or the whole span when it holds fewer. Where the candidates lie, not how
/// many the table holds: a term whose matches are all old (the hostile
/// file's `job 12`, 24 393 candidates in its first 2 M ids) made the walk
/// read 777 000 rows over 7 days and 8 M over 90 (464 ms, 5.2 s, against
/// 59-90 ms through the index) when the rule took them as spread over the
/// table.
///
/// The floor reads the candidates from the span's first id on (as ids
/// follow time closely, about those of the span) and walks the span's
/// entries of the time index, one [`TIME_INDEX_ENTRIES_PER_ROW`]th of a row
/// each, for the records below it: `job 12`'s 24 393 old candidates read
/// one by one took 76-82 ms over 7 days, its span's 777 000 entries 23 ms.
///
/// A page read by id (`zoned`: the filter's `(since, until)`, when its
/// other conditions let it be, `by_id::reads`) tests only the candidates of
/// the zones whose times meet its span (`by_id::span_runs`): the index's
/// cost is then theirs, counted there first; when it is at most the
/// floor's entries the floor cannot win and the candidates from and below
/// the span's first id are not counted (`job 12` over 7 days: none in its
/// zones, where the floor counted 12 000 below it and walked 777 000
/// entries).
///
/// Over a short span the walk of the whole span may cost less than the
/// candidates, wherever they lie: up to [`PAGE_TERM_COUNT_FIRST`] of them
/// are counted first, as a count reads forward through the index, cheaper
/// than finding the newest candidates backward (an hour of `job 12`: 2.3 ms
/// for the page with the count alone, 5-8 ms with both).
fn page_term_plan(
    conn: &Connection,
    span: Option<(i64, i64)>,
    (since, to_newest): (bool, bool),
    zoned: Option<(Option<Timestamp>, Option<Timestamp>)>,
    query: String,
) -> rusqlite::Result<TextPlan> {
    let Some((first, last)) = span else {
        // No record in the span: nothing to walk.
        return Ok(TextPlan::scan());
    };
    let rows = last.saturating_sub(first).saturating_add(1).max(0);
    let whole = page_term_common_at(rows);
    if whole <= PAGE_TERM_COUNT_FIRST && search::candidates(conn, &query, None, whole)? >= whole {
        return Ok(TextPlan::scan());
    }
    let spanned = zoned.filter(|(from, until)| from.is_some() || until.is_some());
    // Up to the newest record, the span's ids from `first` on are every id
    // from `first` on: the count of those candidates (with a start, or the
    // table's when not read by zones) is read on from the `PAGE_ROWS`th
    // newest, by the same statement.
    let (nth, counted) = if to_newest && (since || spanned.is_none()) {
        let cap = |nth| page_term_common_at(walked_to((first, last), nth));
        let (nth, n) = search::newest_candidates(conn, &query, (first, last), PAGE_ROWS, cap)?;
        (nth, Some(n))
    } else {
        (search::nth_newest_candidate(conn, &query, (first, last), PAGE_ROWS)?, None)
    };
    let walked = walked_to((first, last), nth);
    let common_at = page_term_common_at(walked);
    // Counted up to what makes the walk cheaper: at the cap the walk wins.
    let cost = |candidates: i64| match candidates {
        n if n >= common_at => i64::MAX,
        n => n.saturating_mul(INDEX_ROW_COST),
    };
    // Read by id within a span, the page tests only the candidates of the
    // zones whose times meet it (`by_id`): counted there, not in the table,
    // those of ids from `at` on excepted (`None`: the count reached `cap`).
    // The map is read only when counted there: not for a common term.
    let zoned_below = |at: i64, cap: i64| -> rusqlite::Result<Option<i64>> {
        let Some((from, until)) = spanned else { return Ok(None) };
        let mut counted = 0i64;
        for (lo, hi) in by_id::span_runs(conn, from, until)?.into_iter().filter(|&(lo, _)| lo < at) {
            if counted >= cap {
                break;
            }
            let within = (lo, if hi >= at { at.saturating_sub(1) } else { hi });
            counted = counted.saturating_add(search::candidates_within(conn, &query, within, cap - counted)?);
        }
        Ok((counted < cap).then_some(counted))
    };
    let index_plan = |index: i64| {
        if walked <= index {
            TextPlan::scan()
        } else {
            TextPlan { scan: false, query: Some(query.clone()), floor: None, within: None, tail: None }
        }
    };
    if !since {
        let index = match spanned {
            Some(_) => zoned_below(i64::MAX, common_at)?.unwrap_or(common_at),
            None => match counted {
                Some(n) => n,
                None => search::candidates(conn, &query, None, common_at)?,
            },
        };
        return Ok(index_plan(cost(index)));
    }
    // The floor reads the candidates from `first` on and the span's entries
    // in place of those below it: cheaper when these are more than the
    // entries cost, so they are counted up to that (a few thousand at
    // most), not every candidate of the table again.
    let from = match counted {
        Some(n) => n,
        None => search::candidates(conn, &query, Some(first), common_at)?,
    };
    if from >= common_at {
        // Every other way reads at least these candidates, which already
        // cost more than the walk: the candidates below the span cannot
        // change that, so they are not counted (`timeout` over 7 days at 10
        // M counted up to 12 000 of them, ~5 ms of the five-condition page).
        return Ok(TextPlan::scan());
    }
    let entries = rows / TIME_INDEX_ENTRIES_PER_ROW;
    // Read by id: those from `first` on (a cover of the span's zones
    // there) and those of the span's zones below it. A common term's
    // count stops at `from` (the walk wins, as before).
    let zoned = match spanned {
        Some(_) if from < common_at => Some(zoned_below(first, common_at - from)?.map_or(common_at, |n| from + n)),
        _ => None,
    };
    // The floor walks the span's entries at least: a read by id that costs
    // no more decides without counting the candidates below the span's
    // first id (`job 12` over 7 days on the hostile 10 M file: none in its
    // zones, where the floor counted 12 000 below it).
    if let Some(n) = zoned.filter(|&n| cost(n) <= entries) {
        return Ok(index_plan(cost(n)));
    }
    let below_at = entries / INDEX_ROW_COST + 1;
    let below = search::below(conn, &query, first, below_at)?;
    let index = match zoned {
        Some(n) => cost(n),
        None => cost(from.saturating_add(below)),
    };
    let floored = cost(from).saturating_add(entries);
    if walked <= index.min(floored) {
        return Ok(TextPlan::scan());
    }
    let floor = (below >= below_at && floored < index).then_some(first);
    Ok(TextPlan { scan: false, query: Some(query), floor, within: None, tail: None })
}

/// How many entries of the time index (`log_records_ts`) cost what one row
/// of a walk does in the units of [`INDEX_ROW_COST`]: an entry holds the
/// time and the id only. Set against a candidate, the cost it displaces
/// (measured at 10 M, quiet: 777 000 entries with a test of the id, 23 ms;
/// `job 12`'s 24 393 candidates read, tested and sorted, about 40 ms): an
/// entry costs a 66th of a candidate, a quarter of a row at 16 rows a
/// candidate. So the floor wins for `job 12` over 7 days (777 000 entries,
/// 36 ms against 47 through every candidate) and loses from about 14 days.
const TIME_INDEX_ENTRIES_PER_ROW: i64 = 4;

/// The ids a page's walk of the ids `span` reads, newest first, down to its
/// [`PAGE_ROWS`]th match at id `nth` (`None`: the span holds fewer, and the
/// walk reads it whole).
fn walked_to((first, last): (i64, i64), nth: Option<i64>) -> i64 {
    last.saturating_sub(nth.unwrap_or(first)).saturating_add(1)
}

/// The most candidates a page counts before it looks for where they lie
/// ([`page_term_plan`]): a span of up to 16 000 rows, about three hours at
/// 10 M records.
const PAGE_TERM_COUNT_FIRST: i64 = 1_000;

/// How many candidates in the search index make a term common for a page
/// whose walk would read `walked` rows, so that it is read by the walk:
/// from `walked / INDEX_ROW_COST`, reading them through the index costs
/// more. At 10 M records a span of an hour (4 600 rows) with no candidate
/// in it: 287; a day's (111 000): 6 937.
fn page_term_common_at(walked: i64) -> i64 {
    walked.max(0) / INDEX_ROW_COST
}

/// About how many records lie in `[since, until)`: the ids of its first
/// and last record by time apart (ids follow commit order, which follows
/// time closely enough to choose a plan by; never an answer's count).
fn span_rows(conn: &Connection, since: Option<Timestamp>, until: Option<Timestamp>) -> rusqlite::Result<i64> {
    Ok(span_ids(conn, since, until)?.map_or(0, |(a, b)| b.saturating_sub(a).saturating_add(1).max(0)))
}

/// The ids of the first and of the last record by time in `[since, until)`
/// (`None`: no record there). See [`span_rows`].
fn span_ids(
    conn: &Connection,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let first = match since {
        Some(t) => conn
            .prepare_cached("SELECT id FROM log_records WHERE ts >= ?1 ORDER BY ts, id LIMIT 1")?
            .query_row([t.to_rfc3339()], |r| r.get::<_, i64>(0))
            .optional()?,
        None => conn.prepare_cached("SELECT min(id) FROM log_records")?.query_row([], |r| r.get(0))?,
    };
    let last = match until {
        Some(t) => conn
            .prepare_cached("SELECT id FROM log_records WHERE ts < ?1 ORDER BY ts DESC, id DESC LIMIT 1")?
            .query_row([t.to_rfc3339()], |r| r.get::<_, i64>(0))
            .optional()?,
        None => conn.prepare_cached("SELECT max(id) FROM log_records")?.query_row([], |r| r.get(0))?,
    };
    Ok(first.zip(last))
}

/// Reads `columns` of the records `w` selects, at most
/// [`HISTOGRAM_ROW_LIMIT`] of them, giving each to `each`: `false` when the
/// bound cut the read short (the counts are then a lower bound).
fn for_each_bounded_row(
    conn: &Connection,
    columns: &str,
    w: &Sql,
    mut each: impl FnMut(&Row<'_>) -> Result<(), StoreError>,
) -> Result<bool, StoreError> {
    let sql = format!("SELECT {columns} FROM log_records{} LIMIT {}", w.sql(), HISTOGRAM_ROW_LIMIT + 1);
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(storage)? {
        seen += 1;
        if seen > HISTOGRAM_ROW_LIMIT {
            return Ok(false);
        }
        each(row)?;
    }
    Ok(true)
}

/// Adds a row of `ts, level` to the counts of its slot (none outside the slots).
fn count_row(row: &Row<'_>, slots: &Slots, counts: &mut [LevelCounts]) -> Result<(), StoreError> {
    let ts: String = row.get(0).map_err(storage)?;
    let t = rows::timestamp(&ts).map_err(storage)?;
    let level = level_from_severity(row.get(1).map_err(storage)?);
    if let (Some(c), Some(level)) = (slots.index_of(t).and_then(|i| counts.get_mut(i)), level) {
        c.add(level);
    }
    Ok(())
}

/// The stored loggers of the tree at `root`: `root` and its `::` children.
fn tree_loggers(conn: &Connection, root: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT logger FROM log_logger_stats WHERE logger = ?1 OR (logger >= ?1 || '::' AND logger < ?1 || ':;')",
    )?;
    let names = stmt.query_map([root], |r| r.get(0))?.collect();
    names
}

/// Refuses what is not a log-panel database of a schema from `oldest` to
/// this build's (see [`SqliteStore::open`]), reading only. Returns the read
/// connection the check used when it was an ordinary one ([`identify`]).
pub(crate) fn check_current(path: &Path, oldest: i64) -> Result<Option<Connection>, StoreError> {
    let (version, conn) = identify(path)?;
    if version > schema::SCHEMA_VERSION {
        return Err(newer_schema(path, version));
    }
    if version < oldest {
        return Err(StoreError::new(
            StoreErrorKind::Unavailable,
            format!(
                "{} was written by an older log-panel (schema version {version}, this one reads {oldest} to {}); \
                 run the application (its writer migrates the file) or `log-panel migrate`",
                path.display(),
                schema::SCHEMA_VERSION
            ),
        ));
    }
    Ok(conn)
}

pub(crate) fn newer_schema(path: &Path, version: i64) -> StoreError {
    StoreError::new(
        StoreErrorKind::NewerSchema,
        format!(
            "{}: schema version {version} is newer than this log-panel supports ({})",
            path.display(),
            schema::SCHEMA_VERSION
        ),
    )
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn unreadable(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, format!("cannot read {}: {e}", path.display())).with_source(e)
}

fn poisoned() -> StoreError {
    StoreError::new(StoreErrorKind::Storage, "the read connection pool was poisoned by a panic")
}

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What the file at `path` is, read without making anything beside it: its
/// log-panel schema version, and the read connection ([`open_read`]) it was
/// read through, unless that had to be an `immutable` one. A missing, empty
/// or non-SQLite file, or one without a `log_records` table and a schema
/// version, is refused (`Unavailable`).
pub(crate) fn identify(path: &Path) -> Result<(i64, Option<Connection>), StoreError> {
    let refuse = |why: &str| StoreError::new(StoreErrorKind::Unavailable, format!("{} {why}", path.display()));
    let mut header = Vec::with_capacity(100);
    match std::fs::File::open(path) {
        Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => {
            file.take(100).read_to_end(&mut header).map_err(|e| {
                StoreError::new(StoreErrorKind::Unavailable, format!("cannot read {}: {e}", path.display()))
                    .with_source(e)
            })?;
        }
        Ok(_) => return Err(refuse("is not a file, not a log-panel database")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!("no SQLite database at {} (nothing has been logged there yet?)", path.display()),
            ));
        }
        Err(e) => {
            return Err(StoreError::new(StoreErrorKind::Unavailable, format!("cannot open {}: {e}", path.display()))
                .with_source(e));
        }
    }
    let wal = sidecar(path, "-wal");
    let wal_holds_data = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    if header.is_empty() && !wal_holds_data {
        return Err(refuse("is empty, not a log-panel database (nothing has been logged there yet?)"));
    }
    if !header.is_empty() && !header.starts_with(SQLITE_HEADER) {
        return Err(refuse("is not a SQLite database, so not a log-panel database"));
    }
    // Header byte 18 is 2 in WAL mode. A WAL database without a `-wal` file
    // holding frames is complete in its main file: reading it `immutable`
    // makes no `-wal` or `-shm`, so a foreign WAL-mode file is refused with
    // nothing left beside it. When both are there already (a log-panel
    // file a writer or reader has opened), an ordinary read connection
    // makes nothing either, and a reader keeps it for its reads.
    let is_wal = header.get(18) == Some(&2);
    let sidecars = || wal_holds_data || (std::fs::metadata(&wal).is_ok() && sidecar(path, "-shm").exists());
    let immutable_check = is_wal && !sidecars();
    let conn = open_read(path, immutable_check).map_err(storage)?;
    let (has_records, version): (bool, i64) = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log_records'),
                    (SELECT user_version FROM pragma_user_version)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(storage)?;
    if !has_records {
        return Err(refuse("is not a log-panel database (no log_records table)"));
    }
    if version <= 0 {
        return Err(refuse("is not a log-panel database (a log_records table, but no log-panel schema version)"));
    }
    Ok((version, (!immutable_check).then_some(conn)))
}

/// `path` with `suffix` appended (`-wal`, `-shm`, `-journal`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A read-only connection (`SQLITE_OPEN_READONLY`, busy timeout). On a WAL
/// database it uses the `-shm` file, making it (and an empty `-wal`) when
/// missing; when that cannot be done (a read-only directory) and no `-wal`
/// holds frames, SQLite keeps the index in memory. With `immutable`, through
/// the URI parameter `immutable=1`: SQLite reads the main file alone, with no
/// lock and nothing made beside it (only to recognise a file).
pub(crate) fn open_read(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    #[cfg(test)]
    tests::OPENED.with(|n| n.set(n.get() + 1));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = if immutable {
        Connection::open_with_flags(format!("file:{}?immutable=1", uri_path(path)), flags)?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// `path` as the path of a `file:` URI: every byte but unreserved ones and
/// `/` percent-encoded.
fn uri_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for b in absolute.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(b) {
            out.push(char::from(*b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Adds the cursor condition of `at` to `w` (read in [`page_order`]).
fn page_condition(w: &mut Sql, at: PageAt) {
    match at {
        PageAt::Newest => {}
        PageAt::Older(c) => cursor_condition(w, c, true),
        PageAt::Newer(c) => cursor_condition(w, c, false),
    }
}

/// The order a page at `at` is read in: newest first, but for the records
/// newer than a cursor.
fn page_order(at: PageAt) -> &'static str {
    match at {
        PageAt::Newer(_) => "ASC",
        PageAt::Newest | PageAt::Older(_) => "DESC",
    }
}

/// `filter` without the time bound that the cursor condition of `c` (the
/// records older, or newer, than `c`) makes redundant. SQLite walks an index
/// between one lower and one upper bound, chosen when the statement is
/// prepared, before the parameters are known: of `ts >= since AND ts >= c`
/// it may take `since`, and a check for a record newer than the first one of
/// an older page then walked every record of the range (seconds for
/// `--since 90d` at 10 M records, docs/performance.md).
fn beside_cursor(filter: &RecordFilter, c: Cursor, older: bool) -> Cow<'_, RecordFilter> {
    let redundant =
        if older { filter.until.is_some_and(|u| u > c.ts) } else { filter.since.is_some_and(|s| s <= c.ts) };
    if !redundant {
        return Cow::Borrowed(filter);
    }
    let mut narrowed = filter.clone();
    if older {
        narrowed.until = None;
    } else {
        narrowed.since = None;
    }
    Cow::Owned(narrowed)
}

/// `filter` as a page at `at` reads it: without the time bound its cursor
/// makes redundant ([`beside_cursor`]).
fn narrowed_for(filter: &RecordFilter, at: PageAt) -> Cow<'_, RecordFilter> {
    match at {
        PageAt::Newest => Cow::Borrowed(filter),
        PageAt::Older(c) => beside_cursor(filter, c, true),
        PageAt::Newer(c) => beside_cursor(filter, c, false),
    }
}

/// `(ts, id)` strictly older (or newer) than `c`; `ts <= …` first so the
/// time index bounds the scan.
fn cursor_condition(w: &mut Sql, c: Cursor, older: bool) {
    let ts = w.bind(c.ts.to_rfc3339());
    let id = w.bind(c.id);
    if older {
        w.and(format!("ts <= {ts} AND (ts < {ts} OR id < {id})"));
    } else {
        w.and(format!("ts >= {ts} AND (ts > {ts} OR id > {id})"));
    }
}

/// The aggregate table for `bounds`: hourly when all are on the hour,
/// quarter hours when all are on quarter hours.
fn bucket_table(bounds: &[Timestamp]) -> Result<(&'static str, &'static str), StoreError> {
    if bounds.iter().all(|b| b.0.rem_euclid(HOUR) == 0) {
        Ok(("log_logger_hourly", "hour"))
    } else if bounds.iter().all(|b| b.0.rem_euclid(QUARTER_HOUR) == 0) {
        Ok(("log_logger_quarter", "quarter"))
    } else {
        Err(StoreError::bad_filter(
            "time slots must start on quarter hours of UTC (aggregates are kept per 15 minutes)",
        ))
    }
}

/// Slots cut to a part of a histogram's range, and the histogram's slot each
/// of them lies in.
struct Part {
    slots: Slots,
    index: Vec<usize>,
}

/// `slots` cut to `[lo, hi)` (within them).
fn part_of(slots: &Slots, lo: Timestamp, hi: Timestamp) -> Option<Part> {
    let mut bounds = vec![lo];
    bounds.extend(slots.bounds().iter().copied().filter(|b| *b > lo && *b < hi));
    bounds.push(hi);
    let index = bounds[..bounds.len() - 1].iter().map(|b| slots.index_of(*b)).collect::<Option<Vec<_>>>()?;
    Some(Part { slots: Slots::new(bounds).ok()?, index })
}

/// How the aggregates count `[from, to)` of `slots`: the whole hours from
/// the hourly buckets and the quarter hours at the ends from the quarter
/// buckets (a 90-day range is then ~2 200 hours per logger, not ~8 600
/// quarters), or everything from the quarter buckets when a bar starts off
/// the hour (a viewer at UTC+5:30); `None` when a bound is off the quarter
/// hour, so only the rows can count it.
fn aggregate_parts(slots: &Slots, from: Timestamp, to: Timestamp) -> Option<Vec<((&'static str, &'static str), Part)>> {
    let on = |t: Timestamp, unit: i64| t.0.rem_euclid(unit) == 0;
    let inner = || slots.bounds().iter().copied().filter(|b| *b > from && *b < to);
    if !on(from, QUARTER_HOUR) || !on(to, QUARTER_HOUR) || !inner().all(|b| on(b, QUARTER_HOUR)) {
        return None;
    }
    let quarter = ("log_logger_quarter", "quarter");
    let (a, b) = (from.ceil_to(HOUR), to.floor_to(HOUR));
    if a >= b || !inner().all(|t| on(t, HOUR)) {
        return Some(vec![(quarter, part_of(slots, from, to)?)]);
    }
    let mut parts = vec![(("log_logger_hourly", "hour"), part_of(slots, a, b)?)];
    for (lo, hi) in [(from, a), (b, to)] {
        if lo < hi {
            parts.push((quarter, part_of(slots, lo, hi)?));
        }
    }
    Some(parts)
}

/// Calls `f(logger, bucket start, counts)` for every bucket in `[from, to)`
/// of `table`, for the loggers `logger` keeps (all when `None`).
fn for_each_bucket(
    conn: &Connection,
    table: (&str, &str),
    logger: Option<&LoggerMatch>,
    from: Timestamp,
    to: Timestamp,
    mut f: impl FnMut(&str, Timestamp, LevelCounts),
) -> Result<(), StoreError> {
    let (name, column) = table;
    let mut w = Sql::default();
    let a = w.bind(from.to_rfc3339());
    let b = w.bind(to.to_rfc3339());
    w.and(format!("{column} >= {a} AND {column} < {b}"));
    if let Some(m) = logger {
        w.logger(m);
    }
    // `name` and `column` are our constants.
    let sql = format!("SELECT logger, {column}, trace, debug, info, warn, error FROM {name}{}", w.sql());
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
    while let Some(row) = rows.next().map_err(storage)? {
        let logger: String = row.get(0).map_err(storage)?;
        let bucket: String = row.get(1).map_err(storage)?;
        let t = rows::timestamp(&bucket).map_err(storage)?;
        f(&logger, t, rows::counts(row, 2).map_err(storage)?);
    }
    Ok(())
}

/// Calls `f(logger, slot index, counts)` for every logger with records in
/// a slot, the buckets of `table` summed per slot by SQLite: a 91-day
/// timeline over hourly buckets reads loggers × 2 184 rows, and summing them
/// in SQL hands back loggers × 91 (no bucket name parsed in Rust). The slots
/// come in as one JSON array of bounds, so the statement text is the same for
/// any number of slots; each (logger, slot) is a range of the primary key,
/// summed by a subquery of its own: a `GROUP BY` over the joined buckets
/// sorted all of them first (docs/performance.md). The five sums come back
/// as one text `trace,debug,info,warn,error` (a scalar subquery has one column).
fn for_each_slot(
    conn: &Connection,
    table: (&str, &str),
    slots: &Slots,
    logger: Option<&LoggerMatch>,
    mut f: impl FnMut(&str, usize, LevelCounts),
) -> Result<(), StoreError> {
    let (name, column) = table;
    let bounds = serde_json::Value::from(slots.bounds().iter().map(|b| b.to_rfc3339()).collect::<Vec<_>>());
    let mut w = Sql::default();
    let bounds = w.bind(bounds.to_string());
    w.and("s.hi IS NOT NULL".to_owned());
    if let Some(m) = logger {
        // The loggers' names, unqualified: `s` has no `logger` column.
        w.logger(m);
    }
    // `name` and `column` are our constants.
    let sql = format!(
        "WITH s (i, lo, hi) AS MATERIALIZED (
             SELECT key, value, lead(value) OVER (ORDER BY key) FROM json_each({bounds}))
         SELECT st.logger, s.i,
                (SELECT sum(b.trace) || ',' || sum(b.debug) || ',' || sum(b.info) || ',' || sum(b.warn) || ',' || sum(b.error)
                 FROM {name} b WHERE b.logger = st.logger AND b.{column} >= s.lo AND b.{column} < s.hi)
         FROM log_logger_stats st CROSS JOIN s{}",
        w.sql()
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
    while let Some(row) = rows.next().map_err(storage)? {
        let Some(sums) = row.get_ref(2).and_then(|v| Ok(v.as_str_or_null()?)).map_err(storage)? else { continue };
        let counts = level_counts(sums.split(',').map(|x| x.parse::<i64>().unwrap_or(0)));
        let logger = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(storage)?;
        let i = usize::try_from(row.get::<_, i64>(1).map_err(storage)?).unwrap_or(usize::MAX);
        f(logger, i, counts);
    }
    Ok(())
}

impl Store for SqliteStore {
    /// Each index's mark against the newest id, in one statement; when
    /// behind, at most [`Behind::COUNTED_UP_TO`] rowids counted per mark.
    /// Rowids are `max(rowid) + 1` (no `AUTOINCREMENT`, one writer at a time),
    /// so the span of ids above a mark is exact unless records above it were
    /// deleted (retention or prune of records the index never reached).
    fn index_lag(&self) -> Result<IndexLag, StoreError> {
        let conn = self.conn()?;
        let (text_mark, keys_mark, newest): (i64, i64, Option<i64>) = conn
            .prepare_cached(
                "SELECT (SELECT indexed_id FROM log_fts_state), (SELECT indexed_id FROM log_context_all),
                        (SELECT max(id) FROM log_records)",
            )
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
            .map_err(storage)?;
        let behind =
            |mark: i64| Behind::measure(mark, newest, |cap| search::count_above(&conn, mark, cap)).map_err(storage);
        let text = behind(text_mark)?;
        let keys = if keys_mark == text_mark { text } else { behind(keys_mark)? };
        Ok(IndexLag::new(text, keys))
    }

    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError> {
        Page::check_limit(limit)?;
        if !filter.check()? {
            return Ok(Page::default());
        }
        let narrowed = narrowed_for(filter, at);
        let mut w = self.plan(&narrowed)?;
        let (text_plan, key_marks) = (w.text_plan.clone(), w.key_marks.clone());
        let fetch = usize_param(limit.saturating_add(1));
        page_condition(&mut w, at);
        let rows = self.select_page(&narrowed, at, &w, fetch)?;
        Page::from_rows(at, limit, rows, |c, older| {
            self.exists_beyond(filter, text_plan.clone(), key_marks.clone(), c, older)
        })
    }

    fn tail(
        &self,
        filter: &RecordFilter,
        after_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if !filter.check()? {
            return Ok(Vec::new());
        }
        let mut w = self.plan_above(filter, after_id)?;
        let n = usize_param(limit);
        match after_id {
            Some(after) => {
                let p = w.bind(after);
                w.and(format!("id > {p}"));
                self.select(&w, &format!(" ORDER BY id ASC LIMIT {n}"))
            }
            None => {
                let mut rows = self.select(&w, &format!(" ORDER BY id DESC LIMIT {n}"))?;
                rows.reverse();
                Ok(rows)
            }
        }
    }

    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        let conn = self.conn()?;
        let sql = format!("SELECT {RECORD_COLUMNS} FROM log_records WHERE id = ?1");
        let found =
            conn.prepare_cached(&sql).map_err(storage)?.query_row([id], rows::record).optional().map_err(storage)?;
        Ok(found)
    }

    fn related(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let mut filter = RecordFilter::default();
        filter.fields.push(FieldMatch::new(key, value.clone())?);
        if !filter.check()? {
            return Ok(Vec::new());
        }
        let w = self.plan(&filter)?;
        self.select(&w, &format!(" ORDER BY ts ASC, id ASC LIMIT {}", usize_param(limit)))
    }

    fn cards(&self, query: &CardsQuery) -> Result<Cards, StoreError> {
        let slots = &query.slots;
        let table = bucket_table(slots.bounds())?;
        if !query.check()? {
            return Ok(Cards::default());
        }
        let conn = self.conn()?;
        let needle = query.name.as_deref().map(search::fold);
        let mut cards: BTreeMap<String, LoggerCard> = BTreeMap::new();
        for (logger, t) in rows::logger_totals(&conn).map_err(storage)? {
            if needle.as_deref().is_some_and(|n| !search::contains_folded(logger.as_bytes(), n)) {
                continue;
            }
            let mut card = LoggerCard::new(logger.clone(), t);
            card.slots = vec![LevelCounts::default(); slots.len()];
            cards.insert(logger, card);
        }
        for_each_slot(&conn, table, slots, None, |logger, i, counts| {
            if let Some(slot) = cards.get_mut(logger).and_then(|card| card.slots.get_mut(i)) {
                slot.merge(&counts);
            }
        })?;
        let (hour_start, hour_end) = query.last_hour();
        for_each_bucket(&conn, ("log_logger_quarter", "quarter"), None, hour_start, hour_end, |logger, _, counts| {
            if let Some(card) = cards.get_mut(logger) {
                card.last_hour.merge(&counts);
            }
        })?;
        let mut kept: Vec<LoggerCard> = cards
            .into_values()
            .filter(|c| {
                let mut span = LevelCounts::default();
                c.slots.iter().for_each(|s| span.merge(s));
                match query.filter {
                    CardFilter::Errors => span.error > 0,
                    CardFilter::Warnings => span.error + span.warn > 0,
                    _ => true,
                }
            })
            .collect();
        // Every matching card is read already (one row per logger from the
        // aggregates), so the order is a sort of those few rows.
        query.sort.arrange(&mut kept);
        let matching = kept.len();
        Ok(Cards { cards: kept.into_iter().skip(query.offset).take(query.limit).collect(), matching })
    }

    fn histogram(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        let mut out = Histogram::zeros(slots);
        let Some(span) = HistogramSpan::of(filter, slots)? else { return Ok(out) };
        if let Some(h) = span.count_by_edges(filter, slots, |part| self.histogram(part, slots))? {
            return Ok(h);
        }
        let conn = self.conn()?;
        // Unlike the other stores, SQLite also sums whole hours between
        // unaligned quarter-hour ends (`aggregate_parts`).
        if filter.is_aggregate_only() {
            if let Some(parts) = aggregate_parts(slots, span.from, span.to) {
                for (table, part) in parts {
                    for_each_slot(&conn, table, &part.slots, filter.logger.as_ref(), |_, j, counts| {
                        if let Some(i) = part.index.get(j).copied() {
                            out.slots[i].merge(&filter.kept_counts(&counts));
                        }
                    })?;
                }
                return Ok(out);
            }
        }
        drop(conn);
        let w = self.plan_counting(&span.narrow(filter))?;
        self.count_rows(&w, slots)
    }

    fn histogram_estimate(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        estimate::histogram(self, filter, slots)
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
        if let Some(hours) = filter.whole_site_hours() {
            return self.call_sites_by_bucket(filter, hours, limit);
        }
        let conn = self.conn()?;
        let w = self.plan_counting(filter)?;
        // With max(), SQLite takes the bare `message` from the row holding the maximum.
        // `+logger`: grouping by the bare column let the planner walk the whole
        // `(logger, ts)` index for its order instead of the time range (1.8 s for
        // a day of 10 M records, docs/performance.md); the group is the same.
        let sql = format!(
            "SELECT logger, file, line, sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30),
                    sum(level = 40), max(ts), message
             FROM log_records{} GROUP BY +logger, file, line ORDER BY count(*) DESC, logger, file, line LIMIT {}",
            w.sql(),
            usize_param(limit)
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
        let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(storage)? {
            let line: Option<i64> = row.get(2).map_err(storage)?;
            let mut site = CallSite::new(
                row.get(0).map_err(storage)?,
                row.get(1).map_err(storage)?,
                line.and_then(|l| u32::try_from(l).ok()),
            );
            site.counts = rows::counts(row, 3).map_err(storage)?;
            let last: String = row.get(8).map_err(storage)?;
            site.last_seen = rows::timestamp(&last).map_err(storage)?;
            site.example = row.get(9).map_err(storage)?;
            out.push(site);
        }
        Ok(out)
    }

    fn loggers(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT logger FROM log_logger_stats ORDER BY logger").map_err(storage)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(storage)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(storage)
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    // One write transaction at a time, and a row's id (max + 1) is drawn
    // inside it: a row readable now has a smaller id than any committed later.
    fn ids_in_commit_order(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use log_panel_core::{Batch, Level, Origin, Record, Sink, DAY};

    /// 24 000 records of logger `web` a second apart from two days ago,
    /// record `i`'s message `text(i)`, written and indexed in a new file:
    /// its directory (kept alive by the caller), its path and the first
    /// record's time.
    fn seconds_apart(text: impl Fn(i64) -> String) -> (tempfile::TempDir, std::path::PathBuf, i64) {
        seconds_apart_with(text, |_| None)
    }

    thread_local! {
        /// Read connections opened on this thread ([`open_read`]).
        pub(super) static OPENED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A reader of a file a writer has open (its `-wal` and `-shm` there)
    /// reads its pages through the connection that checked the file: one
    /// connection opened, one schema parsed, where two were. Without them
    /// the check reads the file `immutable`, making nothing beside it, and
    /// the reads open their own.
    #[test]
    fn a_reader_beside_a_writer_reads_through_the_connection_that_checked_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let records: Vec<Record> = (0..5).map(|i| Record::new(Level::Info, "web", format!("served {i}"))).collect();
        sink.write(&Batch::new(&Origin::new("a", "h", 1), &records)).unwrap();
        assert!(sidecar(&path, "-wal").exists() && sidecar(&path, "-shm").exists());
        let opened = || OPENED.with(std::cell::Cell::get);
        let before = opened();
        let store = SqliteStore::open(&path).unwrap();
        let page = store.records(&RecordFilter::default(), PageAt::Newest, 10).unwrap();
        assert_eq!(page.records.len(), 5);
        assert_eq!(opened() - before, 1, "one read connection for the check and the page");
        drop(store);
        drop(sink);
        // The last connection closed: SQLite checkpointed the WAL and deleted both.
        assert!(!sidecar(&path, "-wal").exists() && !sidecar(&path, "-shm").exists());
        let before = opened();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(opened() - before, 2, "an immutable check, then the reads' own connection");
        assert_eq!(store.records(&RecordFilter::default(), PageAt::Newest, 10).unwrap().records.len(), 5);
        assert_eq!(opened() - before, 2);
    }

    /// Every statement `read` runs on the store's one pooled connection
    /// (traced while it runs).
    pub(super) fn statements(store: &SqliteStore, read: impl FnOnce()) -> Vec<String> {
        use rusqlite::trace::{TraceEvent, TraceEventCodes};
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        {
            let mut conn = store.conn().unwrap();
            let log = Arc::clone(&seen);
            conn.trace_v2(
                TraceEventCodes::SQLITE_TRACE_STMT,
                Some(move |e: TraceEvent<'_>| {
                    if let TraceEvent::Stmt(_, sql) = e {
                        log.lock().unwrap().push(sql.to_owned());
                    }
                }),
            )
            .unwrap();
        }
        read();
        let mut conn = store.conn().unwrap();
        conn.trace_v2(TraceEventCodes::empty(), None::<fn(TraceEvent<'_>)>).unwrap();
        let seen = seen.lock().unwrap().clone();
        seen
    }

    /// A logger-and-time histogram whose `since` falls inside a quarter hour
    /// (`since=90d` is "now" minus 90 days) reads the aggregates for the whole
    /// quarter hours and the rows only at its ends, and equals the rows
    /// counted by hand. Before, no aggregate was read: every row of the span
    /// was counted (at 10 M, up to the scan bound: an incomplete histogram).
    #[test]
    fn a_span_with_unaligned_ends_is_counted_from_the_aggregates_but_for_its_ends() {
        let (_dir, path, t0) = seconds_apart(|i| format!("served {i}"));
        let store = SqliteStore::open(&path).unwrap();
        let hour = 3_600_000_000;
        let first = t0.div_euclid(hour) * hour;
        let slots = Slots::ending_at(Timestamp(first + 8 * hour), hour, 8).unwrap();
        let mut f = RecordFilter::default();
        f.since = Some(Timestamp(t0 + 1_234 * 1_000_000 + 500_000));
        f.until = Some(Timestamp(t0 + 20_000 * 1_000_000 + 250_000));
        let mut counted = None;
        let seen = statements(&store, || counted = Some(store.histogram(&f, &slots).unwrap()));
        let h = counted.unwrap();
        assert!(h.complete);
        // Records 1 235 ..= 20 000, a second apart from t0.
        let mut want = vec![0u64; slots.len()];
        for i in 1_235..=20_000i64 {
            want[slots.index_of(Timestamp(t0 + i * 1_000_000)).unwrap()] += 1;
        }
        assert_eq!(h.slots.iter().map(LevelCounts::total).collect::<Vec<_>>(), want);
        let aggregates = |s: &&String| s.contains("log_logger_hourly") || s.contains("log_logger_quarter");
        assert!(seen.iter().any(|s| aggregates(&s)), "{seen:#?}");
        // The estimate of the panel is the same count.
        assert_eq!(store.histogram_estimate(&f, &slots).unwrap(), h);
    }

    /// A common term over a span: its candidates from the span's first id on
    /// already make the walk the cheaper way, so none below the span is
    /// counted (main counted them up to a cap before choosing the walk).
    #[test]
    fn a_common_terms_page_over_a_span_counts_no_candidate_below_the_span() {
        let (_dir, path, t0) = seconds_apart(|i| format!("served {i}"));
        let store = SqliteStore::open(&path).unwrap();
        let mut f = RecordFilter::default();
        f.text = Some("served".into());
        f.since = Some(Timestamp(t0 + 100 * 1_000_000));
        let mut page = None;
        let seen = statements(&store, || page = Some(store.records(&f, PageAt::Newest, 50).unwrap()));
        let messages: Vec<String> = page.unwrap().records.iter().map(|r| r.message.to_string()).collect();
        let want: Vec<String> = (23_950..24_000).rev().map(|i| format!("served {i}")).collect();
        assert_eq!(messages, want);
        assert!(!seen.iter().any(|s| s.contains("rowid < ?2")), "{seen:#?}");
    }

    /// A common term's page up to the newest record, with a start or none,
    /// reads where its `PAGE_ROWS`th newest candidate lies and how many
    /// candidates it has by one statement over the search index, not one for
    /// each (the count read again, from the oldest end, candidates the first
    /// had read); with an end before the newest record, two, as the count
    /// then reaches past the span's last id. The rows are the newest 50.
    #[test]
    fn a_common_terms_page_up_to_the_newest_record_reads_its_candidates_once() {
        let (_dir, path, t0) = seconds_apart(|i| format!("served {i}"));
        let store = SqliteStore::open(&path).unwrap();
        for (since, until) in [(Some(100), None), (None, None), (Some(100), Some(23_990))] {
            let mut f = RecordFilter::default();
            f.text = Some("served".into());
            f.since = since.map(|s: i64| Timestamp(t0 + s * 1_000_000));
            f.until = until.map(|u: i64| Timestamp(t0 + u * 1_000_000));
            let mut page = None;
            let seen = statements(&store, || page = Some(store.records(&f, PageAt::Newest, 50).unwrap()));
            let reads: Vec<&String> =
                seen.iter().filter(|s| s.contains("log_records_fts MATCH ?1 AND rowid")).collect();
            assert_eq!(reads.len(), if until.is_some() { 2 } else { 1 }, "{since:?} {until:?}: {reads:#?}");
            let newest = until.unwrap_or(24_000);
            let messages: Vec<String> = page.unwrap().records.iter().map(|r| r.message.to_string()).collect();
            let want: Vec<String> = (newest - 50..newest).rev().map(|i| format!("served {i}")).collect();
            assert_eq!(messages, want, "{since:?} {until:?}");
        }
    }

    /// [`seconds_apart`], the `i`th record with the context key of `context(i)`.
    fn seconds_apart_with(
        text: impl Fn(i64) -> String,
        context: impl Fn(i64) -> Option<(&'static str, String)>,
    ) -> (tempfile::TempDir, std::path::PathBuf, i64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let t0 = Timestamp::now().0 - 2 * DAY;
        let thread: std::sync::Arc<str> = std::sync::Arc::from("main");
        let records: Vec<Record> = (0..24_000i64)
            .map(|i| {
                let mut r = Record::at(
                    Timestamp(t0 + i * 1_000_000),
                    Level::Info,
                    "web".into(),
                    text(i).into(),
                    thread.clone(),
                );
                if let Some((key, value)) = context(i) {
                    r.kv.push((key.into(), log_panel_core::Value::from(value)));
                }
                r
            })
            .collect();
        write_indexed(&path, &records);
        (dir, path, t0)
    }

    /// Writes `records` to the file at `path` in batches of 4 000, in their
    /// order (their ids), then indexes them.
    fn write_indexed(path: &std::path::Path, records: &[Record]) {
        let mut sink = crate::SqliteSink::open(path).unwrap();
        let origin = Origin::new("a", "h", 1);
        for chunk in records.chunks(4_000) {
            sink.write(&Batch::new(&origin, chunk)).unwrap();
        }
        while sink.idle().unwrap() {}
    }

    /// A histogram of a common word reads its candidates from the index when
    /// they are fewer than the rows of its span, and scans a span with fewer
    /// rows than candidates; the counts are the same either way.
    #[test]
    fn a_common_word_is_counted_from_the_index_unless_its_span_holds_fewer_rows() {
        // Every 20th a timeout (1 200: a common word), ending 2 h 20 min later.
        let (_dir, path, t0) =
            seconds_apart(
                |i| if i % 20 == 7 { format!("upstream timeout {i}") } else { format!("request {i} served") },
            );
        let store = SqliteStore::open(&path).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("timeout".into());
        let tested = |slots: &Slots| {
            let before = search::SCANNED.with(std::cell::Cell::get);
            let h = store.histogram(&filter, slots).unwrap();
            (search::SCANNED.with(std::cell::Cell::get) - before, h)
        };
        let total = |h: &Histogram| h.slots.iter().map(|c| c.total()).sum::<u64>();
        // The whole span: 24 000 rows, 1 200 candidates: the index.
        let wide = Slots::ending_at(Timestamp(t0 + 24_000 * 1_000_000), 600 * 1_000_000, 40).unwrap();
        let (n, h) = tested(&wide);
        assert_eq!(total(&h), 1_200);
        assert!(h.complete);
        assert_eq!(n, 1_200, "each candidate is checked once, no other row");
        // Ten minutes: 600 rows, fewer than the 1 200 candidates: the scan.
        let narrow = Slots::ending_at(Timestamp(t0 + 1_200 * 1_000_000), 60 * 1_000_000, 10).unwrap();
        let (n, h) = tested(&narrow);
        assert_eq!(total(&h), 30);
        assert!((600..1_200).contains(&n), "the scan tests the span's rows: {n}");
        // The same count as one done by hand.
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let by_hand: i64 = conn
            .query_row(
                "SELECT count(*) FROM log_records WHERE message LIKE '%timeout%' AND ts >= ?1 AND ts < ?2",
                params![Timestamp(t0 + 600 * 1_000_000).to_rfc3339(), Timestamp(t0 + 1_200 * 1_000_000).to_rfc3339()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(u64::try_from(by_hand).unwrap(), total(&h));
    }

    /// A page reads a context value from the side table unless a walk of
    /// its span in time order meets a page of it sooner: at 10 M records a
    /// value held by 1 200 records is read by id, in 100 000 by the walk.
    #[test]
    fn a_context_value_is_common_for_a_page_by_the_rows_of_its_span() {
        assert_eq!(page_common_at(10_000_000), 11_291);
        assert_eq!(page_common_at(10_000), crate::sql::COMMON_MATCHES);
        assert_eq!(page_common_at(-1), crate::sql::COMMON_MATCHES);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = Origin::new("a", "h", 1);
        let records: Vec<Record> = (0..2_400)
            .map(|i| {
                let mut r = Record::new(Level::Info, "web", format!("request {i}"));
                let tenant = if i % 2 == 0 { "t7" } else { "acme" };
                r.kv.push(("tenant".into(), log_panel_core::Value::from(tenant)));
                r
            })
            .collect();
        sink.write(&Batch::new(&origin, &records)).unwrap();
        while sink.idle().unwrap() {}
        let conn = sink.connection();
        let mut f = RecordFilter::default();
        f.fields.push("tenant=t7".parse().unwrap());
        let by_id = crate::sql::tests::plan_at(conn, &f, page_common_at(10_000_000));
        assert!(by_id.contains("SEARCH log_context_index USING PRIMARY KEY"), "{by_id}");
        let walked = crate::sql::tests::plan_at(conn, &f, page_common_at(10_000));
        assert!(walked.starts_with("SCAN log_records USING INDEX log_records_ts"), "{walked}");
        assert!(!walked.contains("log_context_index"), "{walked}");
    }

    /// A count of a context value common in the whole table but rare in
    /// its time span reads the side table's parts that hold the span's
    /// records, not every record of the span; the count is the same.
    #[test]
    fn a_value_common_in_the_table_but_rare_in_its_span_is_counted_from_the_span_parts() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = Origin::new("a", "h", 1);
        let t0 = Timestamp::now().0 - 2 * DAY;
        let thread: Arc<str> = Arc::from("main");
        let at = |i: i64, every: i64| {
            let mut r =
                Record::at(Timestamp(t0 + i * 1_000_000), Level::Info, "web".into(), "served".into(), thread.clone());
            let tenant = if i % every == 0 { "t7" } else { "acme" };
            r.kv.push(("tenant".into(), log_panel_core::Value::from(tenant)));
            r
        };
        // 20 000 records a second apart, of tenant t7 ...
        let old: Vec<Record> = (0..20_000).map(|i| at(i, 1)).collect();
        for chunk in old.chunks(4_000) {
            sink.write(&Batch::new(&origin, chunk)).unwrap();
        }
        // ... then, from the next part on (a record forged at the id
        // before them), ten minutes of which one record in twenty is t7.
        let gap = 1 << crate::upkeep::context_index::PART_BITS;
        sink.connection()
            .execute(
                "INSERT INTO log_records (id, ts, level, logger, message, thread, pid, host, app)
                 VALUES (?1, ?2, 20, 'gap', 'gap', 'main', 1, 'h', 'a')",
                params![gap, Timestamp(t0).to_rfc3339()],
            )
            .unwrap();
        let recent: Vec<Record> = (20_000..20_600).map(|i| at(i, 20)).collect();
        sink.write(&Batch::new(&origin, &recent)).unwrap();
        while sink.idle().unwrap() {}
        let store = SqliteStore::open(&path).unwrap();
        let mut filter = RecordFilter::default();
        filter.fields.push("tenant=t7".parse().unwrap());
        let explain = |f: &RecordFilter| {
            let w = store.plan_counting(f).unwrap();
            let conn = store.conn().unwrap();
            let mut stmt =
                conn.prepare(&format!("EXPLAIN QUERY PLAN SELECT ts, level FROM log_records{}", w.sql())).unwrap();
            let rows = stmt.query_map(params_from_iter(w.params.iter()), |r| r.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let total = |h: &Histogram| h.slots.iter().map(|c| c.total()).sum::<u64>();
        // The last ten minutes: 600 rows, 30 of t7, in the last part only.
        let narrow = Slots::ending_at(Timestamp(t0 + 20_600 * 1_000_000), 60 * 1_000_000, 10).unwrap();
        let mut span = filter.clone();
        (span.since, span.until) = (Some(Timestamp(t0 + 20_000 * 1_000_000)), Some(Timestamp(t0 + 20_600 * 1_000_000)));
        let p = explain(&span);
        assert!(p.contains("SEARCH log_context_index USING PRIMARY KEY"), "{p}");
        assert_eq!(total(&store.histogram(&filter, &narrow).unwrap()), 30);
        // With a logger, a scan walks that logger's index, not the span:
        // the span's parts are not probed, and t7, common, is scanned for.
        let mut by_logger = span.clone();
        by_logger.logger = Some(LoggerMatch::Exact("web".into()));
        let p = explain(&by_logger);
        assert!(!p.contains("log_context_index"), "{p}");
        // Two hours before the gap and the ten minutes after it: t7 is
        // common in the span's parts, so the span is scanned.
        let wide = Slots::ending_at(Timestamp(t0 + 20_600 * 1_000_000), 600 * 1_000_000, 13).unwrap();
        (span.since, span.until) = (Some(Timestamp(t0 + 12_800 * 1_000_000)), Some(Timestamp(t0 + 20_600 * 1_000_000)));
        let p = explain(&span);
        assert!(!p.contains("log_context_index"), "{p}");
        assert_eq!(total(&store.histogram(&filter, &wide).unwrap()), 7_200 + 30);
    }

    /// A page reads a search term's candidates from the index unless a
    /// walk of its span in time order costs less: 200 candidates among
    /// 24 000 records are read through the index for the whole span, and by
    /// the walk for its last ten minutes (600 rows), where a fixed threshold
    /// of 1 000 read them through the index for any span.
    #[test]
    fn a_term_is_common_for_a_page_by_the_rows_of_its_span() {
        assert_eq!(page_term_common_at(4_600), 287);
        assert_eq!(page_term_common_at(111_000), 6_937);
        assert_eq!(page_term_common_at(-1), 0);
        let (_dir, path, t0) =
            seconds_apart(|i| if i % 120 == 7 { format!("zephyr drift {i}") } else { format!("request {i} served") });
        let store = SqliteStore::open(&path).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("zephyr".into());
        // The whole span: its 51st newest of 200 candidates 6 000 rows back,
        // fewer than 6 000 / 16: the index.
        let plan = store.explain_records(&filter).unwrap();
        assert!(plan.contains("log_records_fts"), "{plan}");
        assert_eq!(store.records(&filter, PageAt::Newest, 50).unwrap().records.len(), 50);
        // The last ten minutes: 5 candidates, so the walk reads its 600
        // rows; 200 candidates over 600 / 16: the walk.
        filter.since = Some(Timestamp(t0 + 23_400 * 1_000_000));
        let plan = store.explain_records(&filter).unwrap();
        assert!(!plan.contains("log_records_fts"), "{plan}");
        assert!(plan.contains("log_records_ts"), "{plan}");
        let page = store.records(&filter, PageAt::Newest, 50).unwrap();
        let want: Vec<String> =
            (23_400..24_000).rev().filter(|i| i % 120 == 7).map(|i| format!("zephyr drift {i}")).collect();
        assert_eq!(page.records.iter().map(|r| r.message.clone()).collect::<Vec<_>>(), want);
    }

    /// The messages of the newest 100 records at or after `since` where
    /// `condition` (the naive SQL a user would write, `?1` its value) holds.
    fn newest_100(conn: &Connection, condition: &str, value: &str, since: Timestamp) -> Vec<String> {
        conn.prepare(&format!(
            "SELECT message FROM log_records WHERE {condition} AND ts >= ?2 ORDER BY ts DESC, id DESC LIMIT 100"
        ))
        .unwrap()
        .query_map(params![value, since.to_rfc3339()], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// A page reads a term from the index when the walk would read far back
    /// for its page. In 24 000 records a second apart, `orbit` is in 600 of
    /// the oldest 3 000 and 70 of the last 20 000: over those 20 000 the
    /// walk meets its page after about 14 500 rows, against 670 candidates
    /// read through the index. `drift` is in the same 600 old records only:
    /// over the whole table, its walk reads the 21 000 newer records before
    /// its page. The rule that took the candidates as spread over the table
    /// walked both (from 276 candidates). Both pages by cursor are the naive
    /// SQL's rows.
    #[test]
    fn a_term_whose_candidates_are_old_is_read_from_the_index() {
        let (_dir, path, t0) = seconds_apart(|i| match i {
            ..3_000 if i % 5 == 0 => format!("orbit drift {i}"),
            4_000.. if i % 286 == 0 => format!("orbit decay {i}"),
            _ => format!("request {i} served"),
        });
        let store = SqliteStore::open(&path).unwrap();
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        for (term, from, candidates, matches) in [("orbit", 4_000, 670, 70), ("drift", 0, 600, 600)] {
            let mut filter = RecordFilter::default();
            filter.text = Some(term.into());
            filter.since = Some(Timestamp(t0 + from * 1_000_000));
            let plan = store.explain_records(&filter).unwrap();
            assert!(plan.contains("log_records_fts"), "{term}: {plan}");
            let tested = |at: PageAt| {
                let before = search::SCANNED.with(std::cell::Cell::get);
                let page = store.records(&filter, at, 50).unwrap();
                (search::SCANNED.with(std::cell::Cell::get) - before, page)
            };
            let (n, first) = tested(PageAt::Newest);
            assert!(n <= 2 * candidates, "{term}: the candidates' messages only, not the span's rows: {n}");
            let (_, second) = tested(PageAt::Older(first.older.unwrap()));
            let naive = newest_100(&conn, "message LIKE '%' || ?1 || '%'", term, filter.since.unwrap());
            assert_eq!(naive.len(), matches.min(100), "{term}");
            let got: Vec<String> = first.records.iter().chain(&second.records).map(|r| r.message.clone()).collect();
            assert_eq!(got, naive, "{term}");
        }
    }

    /// A page reads a context value from the side table when a walk of its
    /// span would read more rows before its page than its entries cost, by
    /// where its entries lie. In 24 000 records a second apart, `job=j12`
    /// is in 1 500 of the oldest 3 000 and 70 of the last 20 000: over those
    /// 20 000 the walk meets its page after about 14 500 rows, against 1 570
    /// entries. `job=j13` is in 1 500 other old records only: over the whole
    /// table its walk reads the 21 000 newer records before its page.
    /// `job=busy`, in the rest, is met within a few rows by the walk. The
    /// rule that took the entries as spread over the span walked all three
    /// (from 1 000 entries). The rows tested are counted by `instr`, the
    /// needle every record check tests first; both pages by cursor are the
    /// naive `json_extract` query's rows.
    /// A term is looked up by its rarest trigrams only: `request 123
    /// served` in 24 000 `request {i} served` records ANDs `123` (in a few
    /// hundred) and two more of its rarest, not the trigrams every record
    /// holds (`req`, `ser`: reading their doclists was most of a lookup);
    /// its page is read by id (`by_id`) and is the naive `LIKE` query's rows.
    #[test]
    fn a_term_is_looked_up_by_its_rarest_trigrams() {
        let (_dir, path, _) = seconds_apart(|i| format!("request {i} served"));
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.conn().unwrap();
        let term = "request 123 served";
        let query = search::lookup_query(&conn, term).unwrap();
        assert_eq!(query.matches(" AND ").count() + 1, search::LOOKUP_TRIGRAMS, "{query}");
        assert!(query.contains("\"123\""), "{query}");
        for common in ["req", "ser", "st "] {
            assert!(!query.contains(&format!("\"{common}\"")), "{query}");
        }
        let full = search::candidates(&conn, &search::fts_query(term), None, i64::MAX).unwrap();
        assert_eq!(search::candidates(&conn, &query, None, i64::MAX).unwrap(), full);
        drop(conn);
        let mut filter = RecordFilter::default();
        filter.text = Some(term.into());
        // Read by id (`by_id`): the index's candidates, a part's rows by
        // id from their list, sorted, and the rows above the index's mark.
        let plan = store.explain_records(&filter).unwrap();
        assert!(plan.starts_with("SCAN log_records_fts VIRTUAL TABLE"), "{plan}");
        assert!(plan.contains("SEARCH log_records USING INTEGER PRIMARY KEY (rowid=?); LIST SUBQUERY"), "{plan}");
        assert!(plan.contains("SEARCH log_records USING INTEGER PRIMARY KEY (rowid>?)"), "{plan}");
        let page = store.records(&filter, PageAt::Newest, 50).unwrap();
        let plain = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let naive = newest_100(&plain, "message LIKE '%' || ?1 || '%'", term, Timestamp(0));
        assert_eq!(page.records.iter().map(|r| r.message.clone()).collect::<Vec<_>>(), naive);
    }

    /// A term read through the index reads each candidate's row once: the
    /// list of candidates is the index's ids alone, and the query that reads
    /// a candidate's row for its time (and the page's other conditions)
    /// tests its message. Testing them in the list read every candidate's
    /// row there and again for its `ts` (`job 12` over 90 days on the 10 M
    /// hostile file: 24 393 candidates, ~12 ms of ~48).
    #[test]
    fn a_term_s_candidates_are_read_once() {
        let (_dir, path, _) = seconds_apart(|i| format!("request {i} served"));
        let store = SqliteStore::open(&path).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("request 123 served".into());
        filter.since = Some(Timestamp(Timestamp::now().0 - 3 * DAY));
        let plan = store.explain_records(&filter).unwrap();
        assert!(plan.contains("log_records_fts VIRTUAL TABLE"), "{plan}");
        // Read by id (`by_id`): the candidates' rows by id, once; none
        // inside the list of candidates.
        assert_eq!(plan.matches("USING INTEGER PRIMARY KEY (rowid=?)").count(), 1, "{plan}");
        assert!(!plan.contains("SEARCH c "), "{plan}");
        let before = search::SCANNED.with(std::cell::Cell::get);
        let page = store.records(&filter, PageAt::Newest, 50).unwrap();
        let tested = search::SCANNED.with(std::cell::Cell::get) - before;
        let conn = store.conn().unwrap();
        let query = search::lookup_query(&conn, "request 123 served").unwrap();
        let candidates = search::candidates(&conn, &query, None, i64::MAX).unwrap();
        drop(conn);
        // Each candidate's message is tested once (not once in the list and
        // once more for the page).
        assert!(tested as i64 <= candidates + 1, "{tested} tested, {candidates} candidates");
        let plain = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let naive = newest_100(&plain, "message LIKE '%' || ?1 || '%'", "request 123 served", Timestamp(0));
        assert_eq!(page.records.iter().map(|r| r.message.clone()).collect::<Vec<_>>(), naive[..page.records.len()]);
        assert_eq!(page.records.len(), naive.len().min(50));
    }

    /// `comet` in the oldest 3 000 of 24 000 records a second apart and in
    /// 60 of the newest 12 000, read over the newest 20 000: the walk would
    /// read some 10 000 rows to the span's 51st newest candidate, the index
    /// its 3 066 candidates, the floor the 65 from the
    /// span's first id on and the span's time-index entries below it. Ids
    /// out of time order: record 100 is stamped inside the span (an id
    /// below the floor), and a spooled batch written last (ids above every
    /// other) carries times inside the span and before it.
    #[test]
    fn a_term_whose_candidates_are_older_than_its_span_is_read_from_the_span_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let t0 = Timestamp::now().0 - 2 * DAY;
        let thread: std::sync::Arc<str> = std::sync::Arc::from("main");
        let at = |micros: i64, message: String| {
            Record::at(Timestamp(t0 + micros), Level::Info, "web".into(), message.into(), thread.clone())
        };
        let mut records: Vec<Record> = (0..24_000i64)
            .map(|i| {
                let message = match i {
                    100 => "comet early, stamped late".to_owned(),
                    ..3_000 => format!("comet tail {i}"),
                    12_000.. if i % 200 == 0 => format!("comet head {i}"),
                    _ => format!("request {i} served"),
                };
                let micros = if i == 100 { 23_990_500_000 } else { i * 1_000_000 };
                at(micros, message)
            })
            .collect();
        records.extend((0..5).map(|k| at(10_000_500_000 + k * 1_000_000, format!("comet spooled {k}"))));
        records.push(at(1_500_000, "comet spooled before the span".to_owned()));
        write_indexed(&path, &records);
        let store = SqliteStore::open(&path).unwrap();
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("comet".into());
        filter.since = Some(Timestamp(t0 + 4_000 * 1_000_000));
        let plan = store.explain_records(&filter).unwrap();
        // The page's rows by id from the list of the index's candidates from
        // the floor on and the time index's entries below it.
        assert!(plan.starts_with("SEARCH log_records USING INTEGER PRIMARY KEY (rowid=?)"), "{plan}");
        assert!(plan.contains("log_records_fts") && plan.contains("USING INDEX log_records_ts (ts>?)"), "{plan}");
        let tested = |at: PageAt| {
            let before = search::SCANNED.with(std::cell::Cell::get);
            let page = store.records(&filter, at, 50).unwrap();
            (search::SCANNED.with(std::cell::Cell::get) - before, page)
        };
        let (n, first) = tested(PageAt::Newest);
        // The 66 candidates from the floor on and record 100, not the
        // walk's 10 000 rows nor the index's 3 066 candidates.
        assert!(n <= 2 * 66, "the span's candidates only: {n}");
        let (_, second) = tested(PageAt::Older(first.older.unwrap()));
        let naive = newest_100(&conn, "message LIKE '%' || ?1 || '%'", "comet", filter.since.unwrap());
        assert_eq!(naive.len(), 60 + 1 + 5);
        assert_eq!(naive[0], "comet early, stamped late");
        let got: Vec<String> = first.records.iter().chain(&second.records).map(|r| r.message.clone()).collect();
        assert_eq!(got, naive);
        // Back up from the second page: the first page again.
        let (_, up) = tested(PageAt::Newer(second.newer.unwrap()));
        assert_eq!(up.records, first.records);
    }

    #[test]
    fn a_context_value_whose_entries_are_old_is_read_from_the_side_table() {
        let (_dir, path, t0) = seconds_apart_with(
            |i| format!("request {i}"),
            |i| {
                let job = match i {
                    ..3_000 if i % 2 == 0 => "j12",
                    ..3_000 => "j13",
                    4_000.. if i % 286 == 0 => "j12",
                    _ => "busy",
                };
                Some(("job", job.to_owned()))
            },
        );
        let store = SqliteStore::open(&path).unwrap();
        let naive_conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let tested = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for (job, from, entries, matches) in
            [("j12", 4_000, 1_570, 70), ("j13", 0, 1_500, 1_500), ("busy", 0, 20_930, 20_930)]
        {
            let mut filter = RecordFilter::default();
            filter.fields.push(format!("job={job}").parse().unwrap());
            filter.since = Some(Timestamp(t0 + from * 1_000_000));
            let plan = store.explain_records(&filter).unwrap();
            let walks = job == "busy";
            assert_eq!(plan.contains("log_context_index"), !walks, "{job}: {plan}");
            assert_eq!(plan.starts_with("SEARCH log_records USING INDEX log_records_ts"), walks, "{job}: {plan}");
            // The page's own statement, on a connection whose `instr` counts its calls.
            let newest: Vec<String> = {
                let conn = store.conn().unwrap();
                let count = tested.clone();
                conn.create_scalar_function(
                    "instr",
                    2,
                    rusqlite::functions::FunctionFlags::SQLITE_UTF8
                        | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
                    move |ctx| {
                        count.fetch_add(1, Ordering::Relaxed);
                        let (hay, needle) = (ctx.get::<Option<String>>(0)?, ctx.get::<Option<String>>(1)?);
                        Ok(hay.zip(needle).map(|(h, n)| h.find(&n).map_or(0, |at| h[..at].chars().count() as i64 + 1)))
                    },
                )
                .unwrap();
                let w = store.plan(&filter).unwrap();
                let (sql, params) = page_statement(&conn, &filter, PageAt::Newest, &w, PAGE_ROWS).unwrap().unwrap();
                tested.store(0, Ordering::Relaxed);
                let rows = conn
                    .prepare(&sql)
                    .unwrap()
                    .query_map(params_from_iter(params.iter()), |r| r.get::<_, String>("message"))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                rows
            };
            if walks {
                assert!(tested.load(Ordering::Relaxed) < 200, "{job}: a few rows: {tested:?}");
            } else {
                assert!(
                    tested.load(Ordering::Relaxed) <= 2 * entries,
                    "{job}: its entries' records, not the span's: {tested:?}"
                );
            }
            let first = store.records(&filter, PageAt::Newest, 50).unwrap();
            let second = store.records(&filter, PageAt::Older(first.older.unwrap()), 50).unwrap();
            let naive = newest_100(&naive_conn, "json_extract(context, '$.job') = ?1", job, filter.since.unwrap());
            assert_eq!(naive.len(), matches.min(100), "{job}");
            assert_eq!(newest, naive[..51], "{job}");
            let got: Vec<String> = first.records.iter().chain(&second.records).map(|r| r.message.clone()).collect();
            assert_eq!(got, naive, "{job}");
        }
    }

    /// A page of a value with fewer than `COMMON_MATCHES` entries in the
    /// table reads them by id without looking for its newest entries part
    /// by part (a statement per part and form) and counts them once; a
    /// value with more still looks (whether the walk is cheaper depends on
    /// where they lie). The pages are the matches, newest first.
    #[test]
    fn a_rare_context_value_is_counted_once_and_not_looked_for_part_by_part() {
        let (_dir, path, t0) = seconds_apart_with(
            |i| format!("request {i}"),
            |i| {
                Some((
                    "job",
                    if i % 200 == 7 {
                        "rare"
                    } else if i % 12 == 0 {
                        "some"
                    } else {
                        "busy"
                    }
                    .to_owned(),
                ))
            },
        );
        let store = SqliteStore::open(&path).unwrap();
        let naive_conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        for (job, matches, looks) in [("rare", 120, false), ("some", 2_000, true)] {
            let mut filter = RecordFilter::default();
            filter.fields.push(format!("job={job}").parse().unwrap());
            filter.since = Some(Timestamp(t0));
            let mut page = None;
            let read = statements(&store, || page = Some(store.records(&filter, PageAt::Newest, 50).unwrap()));
            let newest_first =
                read.iter().filter(|s| s.contains("log_context_index") && s.contains("ORDER BY id DESC")).count();
            assert_eq!(newest_first > 0, looks, "{job}: {read:?}");
            let counts = read.iter().filter(|s| s.contains("SELECT count(*) FROM") && s.contains("LIMIT ?1")).count();
            assert_eq!(counts, if looks { 2 } else { 1 }, "{job}: {read:?}");
            let first = page.unwrap();
            let second = store.records(&filter, PageAt::Older(first.older.unwrap()), 50).unwrap();
            let naive = newest_100(&naive_conn, "json_extract(context, '$.job') = ?1", job, filter.since.unwrap());
            assert_eq!(naive.len(), matches.min(100), "{job}");
            let got: Vec<String> = first.records.iter().chain(&second.records).map(|r| r.message.clone()).collect();
            assert_eq!(got, naive, "{job}");
        }
    }

    /// A page of a logger tree walks the time index (of WARN and above)
    /// over every logger when the tree holds most of its rows in busy
    /// loggers, and reads one arm per logger when the tree is a small part
    /// of them; the rows are the same either way.
    #[test]
    fn a_tree_page_walks_the_time_index_when_the_tree_holds_most_of_it() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = Origin::new("a", "h", 1);
        let t0 = Timestamp::now().0 - 2 * DAY;
        let thread: Arc<str> = Arc::from("main");
        // Per ten records: eight of four busy `app::` loggers (every other
        // one a WARN), one of `rare::a` (a WARN once in 40), one of `rare::b`.
        let record = |i: i64| {
            let (logger, level) = match i % 10 {
                0..=7 => (
                    ["app::a", "app::b", "app::c", "app::d"][(i % 4) as usize],
                    if i % 2 == 0 { Level::Warn } else { Level::Info },
                ),
                8 => ("rare::a", if i % 40 == 8 { Level::Warn } else { Level::Info }),
                _ => ("rare::b", Level::Info),
            };
            Record::at(Timestamp(t0 + i * 1_000_000), level, logger.into(), format!("event {i}").into(), thread.clone())
        };
        let records: Vec<Record> = (0..4_000i64).map(record).collect();
        sink.write(&Batch::new(&origin, &records)).unwrap();
        drop(sink);
        let store = SqliteStore::open(&path).unwrap();
        for (root, walks) in [("app", true), ("rare", false)] {
            let mut filter = RecordFilter::default();
            filter.logger = Some(LoggerMatch::Tree(root.into()));
            filter.min_level = Some(Level::Warn);
            let plan = store.explain_records(&filter).unwrap();
            assert_eq!(plan.contains("USING INDEX log_records_warn_ts"), walks, "{root}: {plan}");
            // The loggers' sums that choose between the two are read per
            // logger from the primary key's hour range: not each hour's row
            // looked up from the hour index, nor sorted to be grouped.
            let read = statements(&store, || drop(store.records(&filter, PageAt::Newest, 50).unwrap()));
            let sums: Vec<&String> =
                read.iter().filter(|s| s.contains("sum(") && s.contains("log_logger_hourly")).collect();
            assert_eq!(sums.len(), 1, "{root}: {read:?}");
            let sums_plan = {
                let conn = store.conn().unwrap();
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", sums[0])).unwrap();
                let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
                let rows =
                    stmt.query_map(params_from_iter(nulls), |r| r.get::<_, String>(3)).unwrap().map(Result::unwrap);
                rows.collect::<Vec<_>>().join("; ")
            };
            assert!(sums_plan.contains("USING PRIMARY KEY (logger=? AND hour>? AND hour<?)"), "{sums_plan}");
            assert!(!sums_plan.contains("log_logger_hourly_hour") && !sums_plan.contains("TEMP B-TREE"), "{sums_plan}");
            assert_eq!(plan.contains("log_records_warn_logger_ts"), !walks, "{root}: {plan}");
            let want: Vec<String> = records
                .iter()
                .rev()
                .filter(|r| matches!(r.level, Level::Warn | Level::Error) && r.logger.starts_with(&format!("{root}::")))
                .map(|r| r.message.to_string())
                .collect();
            let first = store.records(&filter, PageAt::Newest, 50).unwrap();
            let got: Vec<String> = first.records.iter().map(|r| r.message.clone()).collect();
            assert_eq!(got, want[..want.len().min(50)], "{root}");
            let second = store.records(&filter, PageAt::Older(first.older.unwrap()), 50).unwrap();
            let got: Vec<String> = second.records.iter().map(|r| r.message.clone()).collect();
            assert_eq!(got, want[50..want.len().min(100)], "{root}");
            assert_eq!(second.newer, second.records.first().map(Cursor::of), "{root}");
        }
        // A count reads each stored name's entries within the time bounds,
        // never the children's whole range of names (SQLite's plan of the OR).
        let mut f = RecordFilter::default();
        f.logger = Some(LoggerMatch::Tree("app".into()));
        f.min_level = Some(Level::Warn);
        f.since = Some(Timestamp(t0 + 3_000 * 1_000_000));
        let w = store.plan_counting(&f).unwrap();
        let conn = store.conn().unwrap();
        let mut stmt =
            conn.prepare(&format!("EXPLAIN QUERY PLAN SELECT ts, level FROM log_records{}", w.sql())).unwrap();
        let plan = stmt
            .query_map(params_from_iter(w.params.iter()), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ");
        assert!(plan.contains("log_records_warn_logger_ts (logger=? AND ts>?)"), "{plan}");
        assert!(!plan.contains("log_records_warn_logger_ts (logger>?"), "{plan}");
        let slots = Slots::ending_at(Timestamp(t0 + 4_000 * 1_000_000), 100 * 1_000_000, 10).unwrap();
        let counted: u64 = store.histogram(&f, &slots).unwrap().slots.iter().map(LevelCounts::total).sum();
        let by_hand = records
            .iter()
            .filter(|r| f.since.is_some_and(|s| r.timestamp >= s))
            .filter(|r| matches!(r.level, Level::Warn | Level::Error) && r.logger.starts_with("app::"))
            .count();
        assert_eq!(counted, u64::try_from(by_hand).unwrap());
    }

    #[test]
    fn a_text_page_probes_the_search_index_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = Origin::new("a", "h", 1);
        let records: Vec<Record> =
            (0..30).map(|i| Record::new(Level::Info, "probe", format!("payment {i} done"))).collect();
        sink.write(&Batch::new(&origin, &records)).unwrap();
        while sink.idle().unwrap() {}
        let store = SqliteStore::open(&path).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("payment".into());
        let probes = |f: &dyn Fn() -> Page| {
            let before = search::PROBES.with(std::cell::Cell::get);
            let page = f();
            (search::PROBES.with(std::cell::Cell::get) - before, page)
        };
        let (n, first) = probes(&|| store.records(&filter, PageAt::Newest, 10).unwrap());
        assert_eq!((n, first.records.len()), (1, 10));
        // Below the newest page: the rows and the `newer` check, one probe.
        let (n, second) = probes(&|| store.records(&filter, PageAt::Older(first.older.unwrap()), 10).unwrap());
        assert_eq!((n, second.records.len(), second.newer.is_some(), second.older.is_some()), (1, 10, true, true));
        let (n, up) = probes(&|| store.records(&filter, PageAt::Newer(second.newer.unwrap()), 10).unwrap());
        assert_eq!((n, up.records), (1, first.records));
    }
}
