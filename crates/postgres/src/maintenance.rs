//! [`PgMaintenance`]: what deletes and rewrites a PostgreSQL database besides
//! its sink (`log-panel prune`, `rebuild`, `migrate`, the search catch-up),
//! apart from the read-only [`PgStore`](crate::PgStore) so that a reader
//! holds no handle that can write.

use log_panel_core::Timestamp;
use log_panel_query::{Maintenance, PruneReport, StoreError, StoreErrorKind};
use postgres::Client;

use crate::store::{check_schema, one_line, schema_version, session, sql_limit, store_error};
use crate::time::system_time;
use crate::upkeep::{retention, search};
use crate::{aggregates, schema, Error, Options};

/// How long [`PgMaintenance::catch_up_search`] waits before looking again
/// when the rows left wait for another session's transaction (a batch in
/// flight: milliseconds) or `log_records` is held exclusively.
const CATCH_UP_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Prunes and rebuilds the aggregates of a log-panel PostgreSQL database
/// (the [`Maintenance`] trait), with no time budget: each call runs in a
/// session of its own, with the server's defaults (writes allowed, no
/// `statement_timeout`).
///
/// ```no_run
/// use log_panel_core::Timestamp;
/// use log_panel_query::Maintenance;
/// use log_panel_postgres::PgMaintenance;
///
/// let maintenance = PgMaintenance::connect("postgres://app:secret@localhost/logs")?;
/// let report = maintenance.prune(Timestamp::now(), 1_000, true)?;
/// println!("{} records older than now", report.deleted);
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
pub struct PgMaintenance {
    config: Options,
}

impl std::fmt::Debug for PgMaintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgMaintenance").field("url", &self.config.redacted()).finish_non_exhaustive()
    }
}

impl PgMaintenance {
    /// Parses `url`, connects once and refuses what
    /// [`PgStore::connect`](crate::PgStore::connect) refuses (no log-panel
    /// schema, an older or a newer one); creates and migrates nothing.
    pub fn connect(url: &str) -> Result<PgMaintenance, StoreError> {
        let config = Options::parse(url).map_err(|e| StoreError::bad_filter(one_line(&e.to_string())))?;
        check_schema(&config, &mut session(&config)?)?;
        Ok(PgMaintenance { config })
    }

    /// Brings the schema of a log-panel database written by an older
    /// log-panel to this build's, as the sink does when it connects (what
    /// `log-panel migrate` runs). A database without a log-panel schema is
    /// refused as [`PgStore::connect`](crate::PgStore::connect) refuses it;
    /// returns the versions before and after. With `partition=day` in the
    /// URL it also partitions `log_records` by day ([`schema::partition_by_day`]).
    pub fn migrate(url: &str) -> Result<(i32, i32), StoreError> {
        let config = Options::parse(url).map_err(|e| StoreError::bad_filter(one_line(&e.to_string())))?;
        let mut client = session(&config)?;
        let url = config.redacted().to_owned();
        if schema_version(&mut client).map_err(|e| store_error(&config, "reading the schema version", e))?.is_none() {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!("`{url}` is not a log-panel database (no log_panel_schema table)"),
            ));
        }
        let outcome = schema::migrate(&mut client).map_err(|e| match e {
            schema::MigrateError::TooNew(found) => StoreError::new(
                StoreErrorKind::NewerSchema,
                Error::SchemaTooNew { url: url.clone(), found, supported: schema::latest_version() }.to_string(),
            ),
            schema::MigrateError::Db(e) => store_error(&config, "migrating the schema", e),
            schema::MigrateError::MissingExtension(name) => StoreError::new(
                StoreErrorKind::Storage,
                Error::MissingExtension { url: url.clone(), name: name.to_owned() }.to_string(),
            ),
        })?;
        if config.partition_by_day() {
            schema::partition_by_day(&mut client)
                .map_err(|e| store_error(&config, "partitioning log_records by day", e))?;
        }
        Ok((outcome.from, outcome.to))
    }

    /// Brings the message search index up to date now, as the sink does when
    /// idle (useful after loading rows by other means), in steps of
    /// 10 × the sink's. Unlike the sink it does not stop while the newest
    /// rows wait for transactions of other sessions (a batch in flight), or
    /// while `log_records` is held exclusively: it looks again every
    /// 10 ms, so on return every record committed before it
    /// started is indexed. A running `VACUUM` does not stop it. Returns the
    /// steps run. Fails, with the index where it stands, when the id
    /// sequence of `log_records` caches ids (`ALTER SEQUENCE … CACHE n`,
    /// n > 1), which leaves no id known final: the error names the sequence
    /// and the fix (docs/schema.md).
    pub fn catch_up_search(&self) -> Result<u64, StoreError> {
        let caught_up = self.run("indexing messages", |c| {
            let mut watermark = search::Watermark::default();
            let mut target = None;
            let mut steps = 0;
            loop {
                steps += 1;
                let step = search::index_step(c, &mut watermark, 10 * search::INDEX_STEP_ROWS)?;
                if let Some(step) = step {
                    if let Some(stop) = step.stop {
                        return Ok(Err(stop));
                    }
                    // Every record committed before the first step has an id it saw.
                    let target = *target.get_or_insert(step.seen);
                    if step.mark >= target || !(step.more || watermark.waiting()) {
                        return Ok(Ok(steps));
                    }
                    if step.more {
                        continue;
                    }
                }
                std::thread::sleep(CATCH_UP_POLL);
            }
        })?;
        caught_up.map_err(|stop| {
            StoreError::new(
                StoreErrorKind::Storage,
                format!("PostgreSQL at `{}`: indexing messages: {stop}", self.config.redacted()),
            )
        })
    }

    /// The configuration (its `Display` is the redacted URL).
    pub fn config(&self) -> &Options {
        &self.config
    }

    /// Runs `f` in a new session of its own.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut client = session(&self.config)?;
        f(&mut client).map_err(|e| store_error(&self.config, what, e))
    }
}

impl Maintenance for PgMaintenance {
    fn prune(&self, before: Timestamp, batch_size: usize, dry_run: bool) -> Result<PruneReport, StoreError> {
        if batch_size == 0 {
            return Err(StoreError::bad_filter("prune: the batch size must be at least 1"));
        }
        let before = system_time(before);
        let batch = sql_limit(batch_size);
        if dry_run {
            let n = self.run("counting old records", |c| retention::count_older(c, before))?;
            return Ok(PruneReport::new(n, n.div_ceil(batch_size as u64)));
        }
        self.run("deleting old records", |c| {
            let (mut deleted, mut batches, mut dropped) = (0u64, 0u64, 0u64);
            loop {
                // A whole expired day of a partitioned table goes at once; otherwise a batch of rows.
                let step = retention::prune_step(c, before, batch)?;
                if step.deleted > 0 {
                    deleted += step.deleted;
                    batches += 1;
                }
                if step.whole_day {
                    dropped += step.deleted;
                }
                if !step.more {
                    break;
                }
            }
            Ok(PruneReport::new(deleted, batches).with_dropped(dropped))
        })
    }

    fn rebuild(&self) -> Result<(), StoreError> {
        self.run("rebuilding the aggregates", aggregates::rebuild)
    }
}
