//! [`SqliteMaintenance`]: what deletes and rewrites a SQLite database besides
//! its sink (`log-panel prune`, `rebuild`, `migrate`), apart from the
//! read-only [`SqliteStore`](crate::SqliteStore) so that a reader holds no
//! handle that can write.

use std::path::{Path, PathBuf};
use std::time::Duration;

use log_panel_core::Timestamp;
use log_panel_query::{Maintenance, PruneReport, StoreError, StoreErrorKind};
use rusqlite::{Connection, OpenFlags};

use crate::schema;
use crate::store::{check_current, identify, newer_schema, open_read, storage};
use crate::upkeep::retention;
use crate::upkeep::steps::StepRows;
use crate::BUSY_TIMEOUT;

/// The pause after each prune transaction: as long as the transaction took,
/// within these bounds. The minimum outlasts the first few steps of a
/// writer's busy wait (it sleeps at most 25 ms between tries within its 100 ms), so it gets the lock.
const PRUNE_PAUSE_MIN: Duration = Duration::from_millis(30);
const PRUNE_PAUSE_MAX: Duration = Duration::from_millis(250);
/// How long one prune transaction should hold the write lock: well under a
/// writer's 100 ms busy timeout (the transactions are sized to it by their
/// pace, see `StepRows`).
const PRUNE_TX_TARGET: Duration = Duration::from_millis(25);

/// Prunes and rebuilds the aggregates of a log-panel SQLite database (the
/// [`Maintenance`] trait), with no time budget. Each call opens its own
/// writing connection; holding one keeps no connection open.
///
/// ```
/// use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp};
/// use log_panel_query::Maintenance;
/// use log_panel_sqlite::{SqliteMaintenance, SqliteSink};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("logs.db");
/// let mut sink = SqliteSink::open(&path)?;
/// let origin = Origin::new("demo", "localhost", 1);
/// sink.write(&Batch::new(&origin, &[Record::new(Level::Info, "demo", "old news")]))?;
///
/// let maintenance = SqliteMaintenance::open(&path)?;
/// let report = maintenance.prune(Timestamp(i64::MAX), 100, true)?;
/// assert_eq!(report.deleted, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteMaintenance {
    path: PathBuf,
}

impl SqliteMaintenance {
    /// Checks that `path` is a log-panel database of this build's schema,
    /// refusing what [`SqliteStore::open`](crate::SqliteStore::open) refuses
    /// and an older schema it reads (a prune writes the side table as this
    /// schema keeps it; `migrate` first). It creates and migrates nothing.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteMaintenance, StoreError> {
        let path = path.as_ref().to_path_buf();
        // Maintenance opens its own writable connections.
        drop(check_current(&path, schema::SCHEMA_VERSION)?);
        Ok(SqliteMaintenance { path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Brings a log-panel database written by an older log-panel to this
    /// build's schema, as its writer does when it opens it (what
    /// `log-panel migrate` runs). Refuses what
    /// [`SqliteStore::open`](crate::SqliteStore::open) refuses (a missing,
    /// empty or foreign file, a newer schema); returns the versions before
    /// and after.
    pub fn migrate(path: impl AsRef<Path>) -> Result<(i64, i64), StoreError> {
        let path = path.as_ref();
        let (version, _) = identify(path)?;
        if version > schema::SCHEMA_VERSION {
            return Err(newer_schema(path, version));
        }
        if version < schema::SCHEMA_VERSION {
            let mut conn = open_existing(path).map_err(storage)?;
            schema::migrate(&mut conn).map_err(|e| match e {
                crate::Error::NewerSchema { .. } => StoreError::new(StoreErrorKind::NewerSchema, e.to_string()),
                other => StoreError::new(StoreErrorKind::Storage, other.to_string()).with_source(other),
            })?;
        }
        Ok((version, schema::SCHEMA_VERSION))
    }
}

impl Maintenance for SqliteMaintenance {
    fn prune(&self, before: Timestamp, batch_size: usize, dry_run: bool) -> Result<PruneReport, StoreError> {
        if batch_size == 0 {
            return Err(StoreError::bad_filter("prune: the batch size must be at least 1"));
        }
        if dry_run {
            let conn = open_read(&self.path, false).map_err(storage)?;
            let n = retention::count_older(&conn, before).map_err(storage)?;
            let size = u64::try_from(batch_size).unwrap_or(u64::MAX);
            return Ok(PruneReport::new(n, n.div_ceil(size)));
        }
        let mut conn = open_existing(&self.path).map_err(storage)?;
        let (mut deleted, mut batches) = (0u64, 0u64);
        // Rows per transaction: at most `batch_size`, fewer while a
        // transaction holds the lock longer than PRUNE_TX_TARGET (a delete
        // also updates the search index, the context side table and the
        // aggregates), so an application's writer never waits long.
        let mut chunk = StepRows::new(batch_size, 1, batch_size, PRUNE_TX_TARGET);
        loop {
            // Timed from holding the lock (`StepRows::run`): counting the
            // wait for a writer's commit shrank the transactions to one row.
            let (n, took) =
                chunk.run(&mut conn, |tx, rows| retention::prune_batch(tx, before, rows)).map_err(storage)?;
            if n == 0 {
                break;
            }
            deleted += n;
            batches += 1;
            // SQLite's write lock has no queue: a prune that begins its next
            // transaction at once wins it again and again while the writer
            // sleeps in its busy wait (seconds per batch at 10 M rows, see
            // docs/performance.md). Leaving the lock free for as long as a
            // transaction held it lets a waiting writer in, at the price of
            // at most halving the prune's rate.
            std::thread::sleep(took.clamp(PRUNE_PAUSE_MIN, PRUNE_PAUSE_MAX));
        }
        Ok(PruneReport::new(deleted, batches))
    }

    fn rebuild(&self) -> Result<(), StoreError> {
        let mut conn = open_existing(&self.path).map_err(storage)?;
        crate::aggregates::rebuild(&mut conn).map_err(storage)
    }
}

/// A writing connection to a database `identify` accepted (prune,
/// rebuild, migrate): WAL as the sink keeps it, busy timeout.
fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // As the sink's connection: in WAL mode a commit then needs no
    // fsync, so a prune transaction holds the lock for its work only.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}
