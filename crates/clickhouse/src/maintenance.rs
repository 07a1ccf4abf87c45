//! [`ChMaintenance`]: what drops and recomputes data on a ClickHouse cluster
//! besides the sink (`log-panel prune`, `rebuild`, `migrate`), apart from the
//! read-only [`ChStore`](crate::ChStore) so that a reader holds no handle
//! that can delete.

use std::time::Duration;

use log_panel_core::Timestamp;
use log_panel_query::{Maintenance, PruneReport, StoreError, StoreErrorKind};

use crate::aggregates::{self, rebuild_day};
use crate::http::Http;
use crate::rowbinary::day_of;
use crate::schema::{self, MigrateError, LATEST_VERSION, RECORDS_LOCAL};
use crate::store::{checked, checked_options, store_error, yyyymmdd};
use crate::{writer_tag, Error, Options};

/// Drops whole day partitions on every shard and recomputes the aggregates
/// (the [`Maintenance`] trait), with no time budget.
///
/// ```no_run
/// use log_panel_core::Timestamp;
/// use log_panel_query::Maintenance;
/// use log_panel_clickhouse::ChMaintenance;
///
/// let maintenance = ChMaintenance::connect("clickhouse://localhost:8123,localhost:8124/logs")?;
/// let report = maintenance.prune(Timestamp::now(), 1_000, true)?;
/// println!("{} records older than now", report.deleted);
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
pub struct ChMaintenance {
    http: Http,
}

impl std::fmt::Debug for ChMaintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChMaintenance").field("url", &self.http.options().redacted()).finish_non_exhaustive()
    }
}

impl ChMaintenance {
    /// Parses `url` and checks, as [`ChStore::connect`](crate::ChStore::connect)
    /// does, that a shard answers and holds the log-panel tables of a version
    /// this build reads, and that every shard's are of this build's version
    /// (prune and rebuild drop and fill its tables); it creates nothing.
    pub fn connect(url: &str) -> Result<ChMaintenance, StoreError> {
        ChMaintenance::current(checked(url)?.0)
    }

    /// [`ChMaintenance::connect`] with parsed options (for example with a
    /// statement log, [`Options::with_statement_log`]).
    pub fn open(options: Options) -> Result<ChMaintenance, StoreError> {
        ChMaintenance::current(checked_options(options)?.0)
    }

    /// A handle on `http`'s shards once each answered with [`LATEST_VERSION`].
    fn current(http: Http) -> Result<ChMaintenance, StoreError> {
        for shard in 0..http.options().hosts().len() {
            let found = schema::version(&http, shard).map_err(|e| store_error("reading the tables' version", e))?;
            if found < LATEST_VERSION {
                let url = http.options().redacted().to_owned();
                let e = Error::SchemaTooOld { url, shard: shard + 1, found, supported: LATEST_VERSION };
                return Err(StoreError::new(StoreErrorKind::Unavailable, e.to_string()));
            }
        }
        Ok(ChMaintenance { http })
    }

    /// Creates the log-panel tables on every shard of `url` where they are
    /// missing, as a writer does (`log-panel migrate`). Returns the versions
    /// before (0: none) and after.
    pub fn migrate(url: &str) -> Result<(u32, u32), StoreError> {
        let options = Options::parse(url).map_err(|e| StoreError::bad_filter(e.to_string()))?;
        let http = Http::new(&options);
        let before = schema::version(&http, 0).unwrap_or(0);
        for shard in 0..options.hosts().len() {
            schema::migrate(&http, shard).map_err(|e| match e {
                MigrateError::Request(e) => store_error("creating the tables", e),
                MigrateError::TooNew(found) => StoreError::new(
                    StoreErrorKind::NewerSchema,
                    Error::SchemaTooNew { url: options.redacted().to_owned(), found, supported: LATEST_VERSION }
                        .to_string(),
                ),
            })?;
        }
        Ok((before, LATEST_VERSION))
    }

    fn shards(&self) -> std::ops::Range<usize> {
        0..self.http.options().hosts().len()
    }
    /// Runs `sql` on shard `shard` (maintenance: every shard in turn).
    fn on_shard(&self, shard: usize, sql: &str) -> Result<String, StoreError> {
        self.http.query_patient(shard, sql, &[]).map_err(|e| store_error("maintenance", e))
    }

    /// The day partitions (`YYYYMMDD`) of `table` on shard `shard`.
    fn partitions(&self, shard: usize, table: &str) -> Result<Vec<u32>, StoreError> {
        schema::partitions(&self.http, shard, table).map_err(|e| store_error("maintenance", e))
    }

    /// Drops the writer-tag claims of days before yesterday on every shard:
    /// a claim counts for `writer_tag::HELD_FOR` (2 h) only, so this keeps
    /// the table at two days of heartbeats.
    fn drop_old_claims(&self) -> Result<(), StoreError> {
        let yesterday = yyyymmdd(day_of(Timestamp::now().0) - 1);
        for shard in self.shards() {
            for day in self.partitions(shard, writer_tag::TABLE)? {
                if day < yesterday {
                    self.on_shard(shard, &format!("ALTER TABLE {} DROP PARTITION {day}", writer_tag::TABLE))?;
                }
            }
        }
        Ok(())
    }

    /// Waits until shard `shard` has applied every mutation of the records table.
    fn await_mutations(&self, shard: usize) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = '{RECORDS_LOCAL}' \
             AND is_done = 0"
        );
        while self.on_shard(shard, &sql)?.trim() != "0" {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Maintenance for ChMaintenance {
    /// Drops, on every shard, the day partitions wholly before `before`, of
    /// the records, the aggregates and the context side table together; the rows of `before`'s own
    /// day that are older go by one `ALTER … DELETE` (waited for), and that
    /// day's aggregates and side table are recomputed. ClickHouse deletes whole partitions,
    /// not batches: [`PruneReport::batches`] counts what the deleted records
    /// make in `batch_size` units.
    fn prune(&self, before: Timestamp, batch_size: usize, dry_run: bool) -> Result<PruneReport, StoreError> {
        if batch_size == 0 {
            return Err(StoreError::bad_filter("prune: the batch size must be at least 1"));
        }
        let older = format!("SELECT count() FROM {RECORDS_LOCAL} WHERE ts < {}", before.0);
        let mut per_shard = Vec::new();
        for shard in self.shards() {
            let n = self.on_shard(shard, &older)?;
            let n: u64 = n.trim().parse().map_err(|_| {
                StoreError::new(StoreErrorKind::Storage, format!("counting old records: not a number: {n}"))
            })?;
            per_shard.push(n);
        }
        let deleted: u64 = per_shard.iter().sum();
        let batches = deleted.div_ceil(batch_size as u64);
        if dry_run {
            return Ok(PruneReport::new(deleted, batches));
        }
        self.drop_old_claims()?;
        if deleted == 0 {
            return Ok(PruneReport::new(deleted, batches));
        }
        let last_day = yyyymmdd(day_of(before.0));
        for shard in self.shards() {
            for table in std::iter::once("log_records").chain(aggregates::TABLES) {
                for day in self.partitions(shard, &format!("{table}_local"))? {
                    if day < last_day {
                        self.on_shard(shard, &format!("ALTER TABLE {table}_local DROP PARTITION {day}"))?;
                    }
                }
            }
            if self.on_shard(shard, &older)?.trim() != "0" {
                self.on_shard(shard, &format!("ALTER TABLE {RECORDS_LOCAL} DELETE WHERE ts < {}", before.0))?;
                self.await_mutations(shard)?;
                rebuild_day(&self.http, shard, last_day).map_err(|e| store_error("recomputing the aggregates", e))?;
            }
        }
        Ok(PruneReport::new(deleted, batches))
    }

    /// Recomputes every day of the aggregates from the records, shard by
    /// shard, and drops aggregate days with no records. Rows a writer adds
    /// meanwhile to a day being recomputed may be counted twice or not at all.
    fn rebuild(&self) -> Result<(), StoreError> {
        for shard in self.shards() {
            let days = self.partitions(shard, RECORDS_LOCAL)?;
            for table in aggregates::TABLES {
                for day in self.partitions(shard, &format!("{table}_local"))? {
                    if !days.contains(&day) {
                        self.on_shard(shard, &format!("ALTER TABLE {table}_local DROP PARTITION {day}"))?;
                    }
                }
            }
            for day in days {
                rebuild_day(&self.http, shard, day).map_err(|e| store_error("recomputing the aggregates", e))?;
            }
        }
        Ok(())
    }
}
