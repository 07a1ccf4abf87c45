//! [`SqliteSink`]: batches in one transaction each, the aggregates in the
//! same transaction, and the upkeep of idle moments (indexes, retention, the
//! WAL's bound).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use log_panel_core::{severity, Batch, Sink, SinkError, SinkErrorKind, Timestamp};
use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};

use crate::file::DbFile;
use crate::upkeep::checkpoint::{Checkpointer, WalBound};
use crate::upkeep::steps::{
    IndexStep, MergeStep, Pace, StepRows, CATCH_UP_ROWS, INDEX_LAG_BOUND, MERGE_QUIET, STEP_TARGET,
};
use crate::upkeep::{context_index, retention, search};
use crate::{aggregates, schema, valid_index_key, Error, Options};

/// Records deleted per idle step when `retention` is set: at most, and at
/// first; fewer while steps hold the lock long (see [`steps`]).
const RETENTION_STEP_ROWS: usize = 1_000;

/// The `-wal` file's size past which the sink, between two transactions,
/// checkpoints everything so that its next commit starts the WAL over (and
/// truncates the file back to this size). The file then stays within this
/// plus the pages of one transaction (about 2 KiB per record of a batch)
/// while readers keep their read transactions under [`WRITE_BUSY_TIMEOUT`]
/// (once a read outlasted that wait, the writer's retries wait only 20 ms
/// for old frames); past twice this size the writer waits up to a second for readers of old
/// frames at every batch, so overlapping reads (a panel under load) cannot
/// hold it much longer. A reader holding one read transaction open for
/// longer still keeps the WAL from restarting for that long. docs/performance.md
/// has the figures.
pub const WAL_RESTART_BYTES: u64 = 32 << 20;

/// How long opening (and migrating) the database waits for another
/// connection's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a batch waits for another connection's lock before failing with
/// "busy". Short: a busy database is a storage failure like any other, and
/// the writer keeps draining the queue into its bounded backlog and the
/// spool while it retries, rather than sitting in SQLite's wait while the
/// callers' queue fills.
pub const WRITE_BUSY_TIMEOUT: Duration = Duration::from_millis(100);

const INSERT: &str = "INSERT INTO log_records
    (ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// Stores batches in a SQLite database.
pub struct SqliteSink {
    /// The writer's connection; an empty in-memory one between closing a
    /// file deleted under the sink and opening its successor (`file` then
    /// says so and nothing is written to it).
    conn: Connection,
    path: PathBuf,
    file: DbFile,
    index_keys: Vec<String>,
    // Reused between records so encoding the fields JSON and the timestamp
    // does not allocate each time.
    json: String,
    ts: String,
    retention: Option<Duration>,
    /// Records committed whose context had a NUL character replaced.
    sanitised: u64,
    retention_rows: StepRows,
    /// Rows a second the idle indexing steps took lately (sizes the next).
    index_pace: Pace,
    /// Pages a second the idle merge steps of the search index took lately.
    merge_pace: Pace,
    /// When the last batch was stored (`None`: none since opening).
    last_write: Option<Instant>,
    /// How long no batch must have been stored before idle steps merge
    /// (`MERGE_QUIET`; tests shorten it).
    merge_quiet: Duration,
    /// A merge the index calls for, waiting for the writer to be quiet:
    /// how soon to look again ([`Sink::idle_soon`]).
    merge_soon: Option<Duration>,
    /// Checkpoints the WAL off the writer's thread (see [`checkpoint`]).
    checkpointer: Option<Checkpointer>,
    wal: WalBound,
}

impl SqliteSink {
    /// Opens or creates the database at `path` (creating missing parent
    /// directories), enables WAL and the busy timeout, and migrates the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteSink, Error> {
        SqliteSink::open_with(path, Options::default())
    }

    /// [`SqliteSink::open`] with options: registers the context keys to
    /// index that are missing (keys indexed before are kept) and enables
    /// retention.
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<SqliteSink, Error> {
        if let Some(bad) = options.index_keys.iter().find(|k| !valid_index_key(k)) {
            return Err(Error::BadIndexKey(bad.clone()));
        }
        let path = path.as_ref().to_path_buf();
        let mut file = DbFile::new(&path).map_err(|source| Error::Path { path: path.clone(), source })?;
        let (conn, checkpointer) = connect(&mut file, &options.index_keys)?;
        Ok(SqliteSink {
            conn,
            path,
            file,
            index_keys: options.index_keys,
            json: String::with_capacity(256),
            ts: String::with_capacity(32),
            retention: options.retention,
            sanitised: 0,
            retention_rows: StepRows::new(RETENTION_STEP_ROWS, 50, RETENTION_STEP_ROWS, STEP_TARGET),
            index_pace: IndexStep::first_pace(),
            merge_pace: MergeStep::first_pace(),
            last_write: None,
            merge_quiet: MERGE_QUIET,
            merge_soon: None,
            checkpointer,
            wal: WalBound::default(),
        })
    }

    /// The underlying connection, for queries (tests, tools).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure the connection writes the file at the path: after the file
    /// was deleted or moved away, closes it and opens (creating) the file
    /// now at the path. A file that cannot be checked or opened is a storage
    /// error, so the writer keeps the batch and retries.
    fn ensure_current(&mut self) -> Result<(), SinkError> {
        if self.file.is_current().map_err(|e| unreadable_path(&self.path, e))? {
            return Ok(());
        }
        self.close_moved().map_err(|e| unreadable_path(&self.path, e))?;
        let (conn, checkpointer) = connect(&mut self.file, &self.index_keys).map_err(|e| {
            SinkError::unavailable(format!("cannot open {} again: {e}", self.path.display())).with_source(e)
        })?;
        self.conn = conn;
        self.checkpointer = checkpointer;
        self.wal = WalBound::default();
        Ok(())
    }

    /// Closes a database file that the path no longer names, leaving no
    /// `-wal` or `-shm` of it at the path for its successor to misread.
    fn close_moved(&mut self) -> std::io::Result<()> {
        // A file moved away (rather than deleted) keeps what was committed
        // to it: copy the WAL into it, as far as its readers allow (closing
        // a moved database does not checkpoint).
        self.checkpointer = None;
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        // While the connection still holds them, so these inodes are its own.
        self.file.remove_stale_wal()?;
        self.file.forget();
        let closed = std::mem::replace(&mut self.conn, Connection::open_in_memory().map_err(std::io::Error::other)?);
        drop(closed);
        Ok(())
    }

    /// After a transaction: the WAL's bound (see [`checkpoint`]).
    fn after_commit(&mut self) {
        self.wal.after_commit(&mut self.conn, self.file.wal_len(), self.checkpointer.as_ref());
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> rusqlite::Result<()> {
        if self.checkpointer.as_ref().is_some_and(Checkpointer::failed) {
            self.checkpointer = None;
            self.conn.pragma_update(None, "wal_autocheckpoint", 1_000)?;
        }
        let origin = batch.origin;
        let tx = self.conn.transaction()?;
        let mut sanitised = 0;
        let mut zones = crate::zone_map::Zones::default();
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for r in batch.records {
                self.json.clear();
                if r.write_fields_json(&mut self.json) {
                    sanitised += 1;
                }
                self.ts.clear();
                r.timestamp.write_rfc3339(&mut self.ts);
                insert.execute(params![
                    self.ts,
                    severity(r.level),
                    r.logger.as_ref(),
                    r.message.as_ref(),
                    r.module_path.as_deref(),
                    r.file.as_deref(),
                    r.line,
                    r.thread.as_ref(),
                    origin.pid,
                    origin.host,
                    origin.app,
                    self.json,
                    r.original_size.and_then(|s| i64::try_from(s).ok()),
                ])?;
                zones.note(tx.last_insert_rowid(), r.timestamp);
            }
        }
        zones.upsert(&tx)?;
        // Same transaction: the counts commit (or roll back) with the rows.
        aggregates::upsert(&tx, &log_panel_core::fold::BatchAggregates::of(batch.records))?;
        tx.commit()?;
        // Counted once committed: a failed batch is retried and would count twice.
        self.sanitised += sanitised;
        Ok(())
    }

    /// Recomputes the aggregate tables from `log_records` (after deleting old
    /// rows, or restoring a backup). Safe while a writer on another connection
    /// is storing batches: the rebuild takes the write lock before it reads.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut sink = log_panel_sqlite::SqliteSink::open(dir.path().join("logs.db"))?;
    /// sink.connection().execute("DELETE FROM log_records WHERE ts < '2026-01-01'", [])?;
    /// sink.rebuild_aggregates()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rebuild_aggregates(&mut self) -> Result<(), rusqlite::Error> {
        aggregates::rebuild(&mut self.conn)
    }

    /// One step of retention: deletes up to `retention_rows` expired records (if
    /// `retention` is set). Returns whether expired records remain.
    fn retention_step(&mut self) -> rusqlite::Result<bool> {
        let Some(keep) = self.retention else { return Ok(false) };
        let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        let before = Timestamp(Timestamp::now().0.saturating_sub(keep));
        let rows = self.retention_rows.rows();
        let (deleted, _) =
            self.retention_rows.run(&mut self.conn, |tx, rows| retention::prune_batch(tx, before, rows))?;
        Ok(deleted >= rows as u64)
    }

    /// Indexes every record not yet in the search index and the context-key
    /// side table now, `rows` records a transaction, instead of in the
    /// small idle steps that keep a burst's latency (a database filled by
    /// other means, restored, or a benchmark's). The same steps as
    /// [`Sink::idle`]; a write waits for each transaction. Returns the
    /// transactions run.
    pub fn catch_up_indexes(&mut self, rows: usize) -> Result<u64, SinkError> {
        let mut steps = 1;
        while self.index_some(rows)? {
            steps += 1;
        }
        Ok(steps)
    }

    /// Indexes at most `rows` more records (the search index and the
    /// context-key side table) in one transaction, whatever the lag; returns
    /// whether unindexed records remain. [`Sink::idle`]'s steps size
    /// themselves by time, so a tool or a test that wants a given lag (the
    /// read side's merge of the index and the scanned tail) takes it here.
    pub fn index_some(&mut self, rows: usize) -> Result<bool, SinkError> {
        self.ensure_current()?;
        let rows = i64::try_from(rows.max(1)).unwrap_or(i64::MAX);
        let tx = self.conn.transaction().map_err(classify)?;
        let more = index_both(&tx, rows).map_err(classify)?;
        tx.commit().map_err(classify)?;
        self.after_commit();
        Ok(more)
    }

    /// One step of indexing, in one transaction: the next records above
    /// each mark into the search index and the context-key side table, as
    /// many as [`IndexStep::rows`] says for the records unindexed now and
    /// the pace of the last steps. With nothing to index, one step of
    /// merging the search index's segments instead, when `MergeStep`
    /// calls for one and no batch was stored for `MERGE_QUIET`. Returns
    /// whether work remains (unindexed records, or a merge the index calls
    /// for once quiet: the writer then calls again while it has nothing to
    /// store, so a file that went quiet is merged down; before it is quiet,
    /// [`Sink::idle_soon`] says when to look again).
    fn index_step(&mut self) -> rusqlite::Result<bool> {
        // Until the writer is quiet, how long it has yet to be.
        let quiet_for = self.last_write.map_or(Duration::MAX, |t| t.elapsed());
        let wait = self.merge_quiet.checked_sub(quiet_for).filter(|d| !d.is_zero());
        self.merge_soon = None;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let started = Instant::now();
        let lag = unindexed_up_to(&tx, INDEX_LAG_BOUND + CATCH_UP_ROWS)?;
        if lag == 0 {
            let Some(step) = search::index_shape(&tx)?.and_then(MergeStep::for_shape) else { return Ok(false) };
            if wait.is_some() {
                self.merge_soon = wait;
                return Ok(false);
            }
            let pages = MergeStep::pages(self.merge_pace);
            let worked = search::merge_step(&tx, step.merge, i64::try_from(pages).unwrap_or(i64::MAX))?;
            let more = worked && search::index_shape(&tx)?.and_then(MergeStep::for_shape).is_some();
            tx.commit()?;
            if worked {
                self.merge_pace.record(pages, started.elapsed());
            }
            return Ok(more);
        }
        let rows = IndexStep::for_lag(lag).rows(self.index_pace);
        let more = index_both(&tx, i64::try_from(rows).unwrap_or(i64::MAX))?;
        let merge = !more && search::index_shape(&tx)?.and_then(MergeStep::for_shape).is_some();
        tx.commit()?;
        // Only a step that had its rows to index measures the pace: one that
        // ran out of rows took less time than its size says.
        if more {
            self.index_pace.record(rows, started.elapsed());
        }
        if merge && wait.is_some() {
            self.merge_soon = wait;
            return Ok(false);
        }
        Ok(more || merge)
    }
}

impl Sink for SqliteSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.ensure_current()?;
        let sanitised = self.sanitised;
        self.write_batch(batch).map_err(classify)?;
        // Deleted or moved during the batch: it may have gone into the old
        // file, so it is not written until it is in the one at the path. A
        // path that cannot be checked now counts as unchanged: the batch is
        // committed, and reporting it failed would store it twice; the next
        // batch's check reports the path.
        if !self.file.is_current().unwrap_or(true) {
            self.sanitised = sanitised;
            return Err(SinkError::unavailable(format!(
                "{} was deleted or replaced while a batch was written; writing it again",
                self.path.display()
            )));
        }
        self.after_commit();
        self.last_write = Some(Instant::now());
        Ok(())
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    /// Deletes a batch of expired records when there are some (retention),
    /// else indexes the next records for search and context lookups, else
    /// merges the search index's segments a bounded step when they call for
    /// it (`MergeStep`) and no batch was stored for `MERGE_QUIET`: one
    /// short transaction.
    fn idle(&mut self) -> Result<bool, SinkError> {
        self.ensure_current()?;
        let more = if self.retention_step().map_err(classify)? { true } else { self.index_step().map_err(classify)? };
        self.after_commit();
        Ok(more)
    }

    fn sanitised_count(&self) -> u64 {
        self.sanitised
    }

    /// When a merge of the search index's segments waits for the writer to
    /// be quiet (`MERGE_QUIET` without a batch): the rest of that time.
    fn idle_soon(&self) -> Option<Duration> {
        self.merge_soon
    }
}

/// Opens (creating) the database at `file`'s path with everything the sink
/// needs: WAL, busy timeouts, the schema, the context keys to index, the
/// checkpointing thread; remembers the files opened.
fn connect(file: &mut DbFile, index_keys: &[String]) -> Result<(Connection, Option<Checkpointer>), Error> {
    let path = file.path().to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { dir: dir.to_path_buf(), source })?;
    }
    let mut conn = Connection::open(&path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers (the panel, sqlite3) read while the writer writes;
    // NORMAL sync is durable against process crashes in WAL mode.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    WalBound::configure(&conn)?;
    schema::migrate(&mut conn)?;
    for key in index_keys {
        context_index::add_key(&conn, key)?;
    }
    conn.busy_timeout(WRITE_BUSY_TIMEOUT)?;
    let checkpointer = Checkpointer::start(&path);
    if checkpointer.is_some() {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    // After the first transaction, so the `-wal` and `-shm` exist.
    let opened = conn.path().filter(|p| !p.is_empty()).map(PathBuf::from);
    file.remember(opened.as_deref()).map_err(|source| Error::Path { path, source })?;
    Ok((conn, checkpointer))
}

/// Indexes up to `rows` records above each mark into the search index and
/// the context-key side table, one statement each (see [`IndexStep`]), in
/// the caller's transaction. Returns whether unindexed records remain.
fn index_both(tx: &rusqlite::Transaction<'_>, rows: i64) -> rusqlite::Result<bool> {
    let text = search::index_step(tx, rows)?;
    let keys = context_index::index_step(tx, rows)?;
    Ok(text || keys)
}

/// Records above the lower of the two indexes' marks, counted up to `cap`.
fn unindexed_up_to(conn: &Connection, cap: usize) -> rusqlite::Result<usize> {
    let from = search::indexed_mark(conn)?.min(context_index::all_mark(conn)?);
    let n = search::count_above(conn, from, u64::try_from(cap).unwrap_or(u64::MAX))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The path of the database cannot be checked: a storage error.
fn unreadable_path(path: &Path, e: std::io::Error) -> SinkError {
    SinkError::unavailable(format!("cannot check {}: {e}", path.display())).with_source(e)
}

/// Maps a SQLite error to what the writer should do about it.
fn classify(e: rusqlite::Error) -> SinkError {
    let kind = match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::OutOfMemory,
        ) => SinkErrorKind::Unavailable,
        Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch) => SinkErrorKind::BadRecord,
        _ => SinkErrorKind::Other,
    };
    SinkError::new(kind, e.to_string()).with_source(e)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::upkeep::steps::{MERGE_GROWTH, MERGE_SEGMENTS};
    use log_panel_core::{Level, Origin, Record};

    #[test]
    fn schema_is_versioned_and_reopen_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/logs.db");
        drop(SqliteSink::open(&path).unwrap());
        let sink = SqliteSink::open(&path).unwrap();
        let v: i64 = sink.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, crate::SCHEMA_VERSION);
        let mode: String = sink.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let levels: i64 = sink.connection().query_row("SELECT count(*) FROM log_levels", [], |r| r.get(0)).unwrap();
        assert_eq!(levels, 5);
    }

    /// Opening a current database only reads it: a second writer (another
    /// process, a restart beside a slow shutdown) opens while the first holds
    /// the write lock, where a version written on every open waited for it
    /// for `BUSY_TIMEOUT` and failed.
    #[test]
    fn opening_a_current_database_does_not_take_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut options = Options::default();
        options.index_keys.push("tenant".into());
        drop(SqliteSink::open_with(&path, options.clone()).unwrap());
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; INSERT INTO log_levels VALUES (99, 'LOCK')").unwrap();
        let started = std::time::Instant::now();
        let sink = SqliteSink::open_with(&path, options).unwrap();
        assert!(started.elapsed() < BUSY_TIMEOUT / 2, "waited {:?} for the lock", started.elapsed());
        other.execute_batch("ROLLBACK").unwrap();
        let keys: i64 = sink
            .connection()
            .query_row("SELECT count(*) FROM log_context_state WHERE key = 'tenant'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys, 1);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        match SqliteSink::open(&path) {
            Err(Error::NewerSchema { found: 99, .. }) => {}
            other => panic!("expected NewerSchema, got {:?}", other.err()),
        }
    }

    #[test]
    fn busy_database_is_reported_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = SqliteSink::open(&path).unwrap();
        sink.conn.busy_timeout(Duration::from_millis(10)).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let origin = Origin::new("t", "h", 1);
        let records = [Record::new(Level::Info, "t", "m")];
        let err = sink.write(&Batch::new(&origin, &records)).unwrap_err();
        assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
        other.execute_batch("COMMIT").unwrap();
        sink.write(&Batch::new(&origin, &records)).unwrap();
        let n: i64 = sink.connection().query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn the_wal_is_copied_into_the_database_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = SqliteSink::open(&path).unwrap();
        let auto: i64 = sink.conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap();
        assert_eq!(auto, 0, "the sink's commits do not checkpoint");
        let origin = Origin::new("t", "h", 1);
        let records: Vec<Record> =
            (0..1_000).map(|i| Record::new(Level::Info, "t", format!("message {i} {}", "x".repeat(200)))).collect();
        let before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..20 {
            sink.write(&Batch::new(&origin, &records)).unwrap();
        }
        // The records are in the WAL; the thread copies them into the file.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&path).unwrap().len() < before + 4_000_000 {
            assert!(std::time::Instant::now() < deadline, "no checkpoint copied the WAL into the database");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(sink);
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn.query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 20_000);
    }

    /// A sink in `dir` whose idle steps merge as soon as the index calls
    /// for it (no quiet time to wait).
    fn merging_sink(dir: &tempfile::TempDir) -> SqliteSink {
        let mut sink = SqliteSink::open(dir.path().join("logs.db")).unwrap();
        sink.merge_quiet = Duration::ZERO;
        sink
    }

    /// Writes `n` records numbered from `from`, `batch` a batch, each batch
    /// indexed in its own transaction (one new FTS5 segment each, as the
    /// idle steps of a burst write them).
    fn write_indexed(sink: &mut SqliteSink, from: usize, n: usize, batch: usize) {
        let origin = Origin::new("t", "h", 1);
        const WORDS: [&str; 6] = ["alpha", "timeout", "upstream", "quasar", "client.rs", "job"];
        for start in (from..from + n).step_by(batch) {
            let records: Vec<Record> = (start..(start + batch).min(from + n))
                .map(|i| {
                    let msg = format!("req {i} user u{} {} /api/v{}/x{:x}", i % 97, WORDS[i % 6], i % 7, i * 7919);
                    Record::new(Level::Info, "t", msg)
                })
                .collect();
            sink.write(&Batch::new(&origin, &records)).unwrap();
            sink.index_some(batch).unwrap();
        }
    }

    fn shape(sink: &SqliteSink) -> search::IndexShape {
        search::index_shape(&sink.conn).unwrap().unwrap()
    }

    /// The ids the search index gives for each query, as every search reads them.
    fn answers(sink: &SqliteSink) -> Vec<Vec<i64>> {
        let queries =
            [r#""alp""#, r#""tim" AND "out""#, r#""u12""#, r#""/v3" AND "/x1""#, r#""qua" AND "sar""#, r#""job""#];
        let mut stmt = sink
            .conn
            .prepare("SELECT rowid FROM log_records_fts WHERE log_records_fts MATCH ?1 ORDER BY rowid")
            .unwrap();
        queries.iter().map(|q| stmt.query_map([q], |r| r.get(0)).unwrap().map(Result::unwrap).collect()).collect()
    }

    /// The index's leaf pages (`log_records_fts_data` rowids of height 0
    /// outside the doclist indexes, FTS5's `FTS5_SEGMENT_ROWID`).
    fn leaves(sink: &SqliteSink) -> std::collections::BTreeSet<i64> {
        let mut stmt = sink.conn.prepare("SELECT id FROM log_records_fts_data WHERE id >= ?1 AND id < ?2").unwrap();
        stmt.query_map([1i64 << 37, 1i64 << 53], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|id| (id >> 31) & 0x3f == 0)
            .collect()
    }

    /// Calls `idle` until it says no work remains; returns the calls.
    fn idle_until_done(sink: &mut SqliteSink) -> usize {
        for calls in 1..=100_000 {
            if !sink.idle().unwrap() {
                return calls;
            }
        }
        panic!("idle still had work after 100 000 steps");
    }

    #[test]
    fn idle_steps_merge_a_quiet_search_index_down_and_searches_find_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = merging_sink(&dir);
        write_indexed(&mut sink, 0, 3_000, 100);
        let before = shape(&sink);
        assert!(before.segments >= MERGE_SEGMENTS, "{before:?}");
        let found = answers(&sink);
        assert!(found.iter().all(|ids| !ids.is_empty()), "every query finds records");
        idle_until_done(&mut sink);
        let after = shape(&sink);
        assert_eq!((after.segments, after.merging), (1, false), "{before:?} -> {after:?}");
        assert_eq!(answers(&sink), found);
        let stored: i64 = sink.conn.query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, 3_000);
        assert!(!sink.idle().unwrap(), "one segment: nothing more to do");
    }

    #[test]
    fn a_writer_storing_batches_leaves_the_merging_until_it_is_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = merging_sink(&dir);
        sink.merge_quiet = Duration::from_millis(300);
        write_indexed(&mut sink, 0, 3_000, 100);
        let before = shape(&sink);
        assert!(MergeStep::for_shape(before).is_some(), "{before:?}");
        assert!(!sink.idle().unwrap(), "a batch was stored just now: no merge yet");
        assert_eq!(shape(&sink), before);
        let soon = sink.idle_soon().unwrap();
        assert!(soon <= Duration::from_millis(300), "the merge waits the rest of the quiet time: {soon:?}");
        std::thread::sleep(soon);
        assert!(sink.idle().unwrap(), "quiet: a merge step, and more to do");
        assert_eq!(sink.idle_soon(), None);
        idle_until_done(&mut sink);
        assert_eq!(shape(&sink).segments, 1);
    }

    #[test]
    fn a_merge_step_writes_about_the_pages_it_asks_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = merging_sink(&dir);
        write_indexed(&mut sink, 0, 6_000, 500);
        let total = shape(&sink).pages;
        for (merge, pages) in [(search::Merge::Start, 8), (search::Merge::Continue, 5), (search::Merge::Continue, 20)] {
            let old = leaves(&sink);
            let tx = sink.conn.transaction().unwrap();
            assert!(search::merge_step(&tx, merge, pages).unwrap(), "{merge:?} did work");
            tx.commit().unwrap();
            let written = leaves(&sink).difference(&old).count() as i64;
            // FTS5 looks for a term boundary once it has written more leaves
            // than asked for, so a step writes the rest of the term it is in
            // (here at most ~3 leaves: a few trigrams are in every record)
            // and the leaf it has begun.
            assert!(pages < written && written <= pages + 4, "{merge:?} {pages}: wrote {written} leaves");
            assert!(shape(&sink).merging, "the merge of {total} pages goes on");
        }
    }

    #[test]
    fn a_trickle_of_records_does_not_rewrite_the_merged_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = merging_sink(&dir);
        write_indexed(&mut sink, 0, 12_000, 1_000);
        idle_until_done(&mut sink);
        assert_eq!(shape(&sink).segments, 1);
        let merged = leaves(&sink);
        let mut most = 0;
        for round in 0..16 {
            write_indexed(&mut sink, 12_000 + round * 10, 10, 10);
            most = most.max(shape(&sink).segments);
            idle_until_done(&mut sink);
            let now = shape(&sink);
            eprintln!("{now:?}");
            assert!(now.fullest_level < MERGE_SEGMENTS, "the small segments were merged: {now:?}");
        }
        let now = shape(&sink);
        assert!(most >= MERGE_SEGMENTS, "the trickle made {most} segments at most");
        assert!(merged.is_subset(&leaves(&sink)), "the merged segment was rewritten: {now:?}");
        assert!((now.pages - now.largest_pages) * MERGE_GROWTH < now.largest_pages, "{now:?}");
        // Had a step merged every segment, its pages would be gone.
        let tx = sink.conn.transaction().unwrap();
        assert!(search::merge_step(&tx, search::Merge::Start, 1_000_000).unwrap());
        tx.commit().unwrap();
        assert!(merged.is_disjoint(&leaves(&sink)));
    }
}
