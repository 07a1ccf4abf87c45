//! What the writer sees of the read side's upkeep: throughput of a burst
//! through the real writer while the search index lags (its `Sink::idle`
//! steps compete with the batches) against the same writer with upkeep off
//! and with the index caught up; and the commit time of steady batches while
//! `SqliteMaintenance::prune` deletes the file's oldest records, against the same
//! batches without the prune.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Origin, Sink, SinkError, Timestamp};
use log_panel_query::Maintenance;
use log_panel_sqlite::{SqliteMaintenance, SqliteSink, SqliteStore};
use serde_json::json;

use super::Gen;
use crate::common::sqlite_rows;
use crate::throughput::log_burst;

/// The SQLite sink with its upkeep turned off: the baseline burst.
struct NoUpkeep(SqliteSink);

impl Sink for NoUpkeep {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.0.write(batch)
    }

    fn describe(&self) -> String {
        self.0.describe()
    }

    fn idle(&mut self) -> Result<bool, SinkError> {
        Ok(false)
    }
}

/// One burst: records/s, and the unindexed rows before and after it.
struct Burst {
    label: &'static str,
    per_sec: f64,
    unindexed_before: u64,
    unindexed_after: u64,
}

pub struct IdleOutcome {
    records: u64,
    bursts: Vec<Burst>,
}

impl IdleOutcome {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "burst_records": self.records,
            "bursts": self.bursts.iter().map(|b| json!({
                "variant": b.label, "records_per_sec": b.per_sec,
                "unindexed_before": b.unindexed_before, "unindexed_after": b.unindexed_after,
            })).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for IdleOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "burst of {} records through the writer (log_panel::Builder, SQLite sink, 1 thread):",
            self.records
        )?;
        for b in &self.bursts {
            writeln!(
                f,
                "  {:<44} {:>9.0} records/s   unindexed rows {} -> {}",
                b.label, b.per_sec, b.unindexed_before, b.unindexed_after
            )?;
        }
        Ok(())
    }
}

/// Three bursts of `records` into `db` (whose search index lags by all its
/// rows): the real sink with the index lagging, the sink with upkeep off,
/// and the real sink after `idle()` caught the index up.
pub fn idle_cost(db: &Path, records: u64, failures: &mut Vec<String>) -> IdleOutcome {
    let unindexed = || SqliteStore::open(db).and_then(|s| s.unindexed()).expect("unindexed");
    let mut bursts = Vec::new();
    let mut burst = |label: &'static str, sink: Box<dyn Sink>, failures: &mut Vec<String>| {
        let before_rows = sqlite_rows(db);
        let unindexed_before = unindexed();
        let panel = log_panel::builder().sink(sink).app("bench").build().expect("start log-panel");
        let secs = log_burst(&panel, records, 1);
        drop(panel);
        let stored = sqlite_rows(db) - before_rows;
        if stored != records {
            failures.push(format!("read: burst ({label}): {stored} rows stored, {records} logged"));
        }
        bursts.push(Burst { label, per_sec: records as f64 / secs, unindexed_before, unindexed_after: unindexed() });
    };
    burst("index lagging (upkeep on)", Box::new(SqliteSink::open(db).expect("open")), failures);
    burst("upkeep off (baseline)", Box::new(NoUpkeep(SqliteSink::open(db).expect("open"))), failures);
    let mut sink = SqliteSink::open(db).expect("open");
    while sink.idle().expect("idle") {}
    burst("index caught up before the burst (upkeep on)", Box::new(sink), failures);
    IdleOutcome { records, bursts }
}

/// A batch every BATCH_EVERY, 1 000 records each: 10 000 records/s, a rate
/// the writer sustains on the loaded 2-core machine, so a batch's time is its
/// own commit, not a backlog.
const BATCH_EVERY: Duration = Duration::from_millis(100);
const BATCH: u64 = 1_000;

/// Commit times of the steady writer's batches, with or without the prune.
struct Batches {
    /// Milliseconds per batch, from its first `write` call to one succeeding (busy retries included).
    ms: Vec<f64>,
    /// `write` calls that failed busy and were retried.
    retries: u64,
}

impl Batches {
    fn pick(&self, q: f64) -> f64 {
        let mut s = self.ms.clone();
        s.sort_by(f64::total_cmp);
        s.get(((s.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(0.0)
    }

    fn json(&self) -> serde_json::Value {
        json!({"batches": self.ms.len(), "p50_ms": self.pick(0.5), "p99_ms": self.pick(0.99),
               "max_ms": self.pick(1.0), "busy_retries": self.retries})
    }
}

pub struct PruneOutcome {
    deleted: u64,
    prune_secs: f64,
    during: Batches,
    without: Batches,
}

impl PruneOutcome {
    pub fn json(&self) -> serde_json::Value {
        json!({"deleted": self.deleted, "prune_seconds": self.prune_secs, "batch_records": BATCH,
               "batch_every_ms": BATCH_EVERY.as_millis() as u64,
               "during_prune": self.during.json(), "without_prune": self.without.json()})
    }
}

impl fmt::Display for PruneOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "prune of {} records (batches of 1 000) in {:.1} s ({:.0} records/s), while a writer commits {BATCH} records every {} ms:",
            self.deleted,
            self.prune_secs,
            self.deleted as f64 / self.prune_secs.max(1e-9),
            BATCH_EVERY.as_millis()
        )?;
        for (label, b) in [("during the prune", &self.during), ("without a prune", &self.without)] {
            writeln!(
                f,
                "  {label:<17} {:>5} batches  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  busy retries {}",
                b.ms.len(),
                b.pick(0.5),
                b.pick(0.99),
                b.pick(1.0),
                b.retries
            )?;
        }
        Ok(())
    }
}

/// Stores a batch of `BATCH` records every `BATCH_EVERY` into `db` until
/// `stop` is set (and at least `min` batches) or `max` batches are stored.
fn steady_writer(db: &Path, stop: &AtomicBool, min: usize, max: usize) -> Batches {
    let mut sink = SqliteSink::open(db).expect("open the steady writer");
    let origin = Origin::new("steady", "bench", 7);
    // Newer than anything the prune deletes.
    let gen = Gen { n: u64::MAX, start: Timestamp::now().0, step: 1 };
    let (mut ms, mut retries) = (Vec::new(), 0u64);
    let start = Instant::now();
    let mut k = 0u64;
    while ms.len() < max && (ms.len() < min || !stop.load(Ordering::Relaxed)) {
        let due = start + BATCH_EVERY * k as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let records = gen.batch(k * BATCH..(k + 1) * BATCH);
        let t = Instant::now();
        while let Err(e) = sink.write(&Batch::new(&origin, &records)) {
            retries += 1;
            assert!(retries < 100_000, "the steady writer keeps failing: {e}");
        }
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        k += 1;
    }
    Batches { ms, retries }
}

/// Prunes the `expired` records older than `before` from `db` with
/// `SqliteMaintenance::prune` (batches of 1 000) while a steady writer stores
/// batches; then the same writer for as many batches without a prune.
pub fn prune_while_writing(db: &Path, before: Timestamp, expired: u64, failures: &mut Vec<String>) -> PruneOutcome {
    let maintenance = SqliteMaintenance::open(db).expect("maintenance");
    let stop = AtomicBool::new(false);
    let (during, deleted, prune_secs) = std::thread::scope(|s| {
        let writer = s.spawn(|| steady_writer(db, &stop, 0, usize::MAX));
        // The writer's first batch is due now: let it start before the prune.
        std::thread::sleep(BATCH_EVERY * 2);
        let t = Instant::now();
        let report = maintenance.prune(before, 1_000, false).expect("prune");
        let secs = t.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        (writer.join().expect("steady writer"), report.deleted, secs)
    });
    if deleted != expired {
        failures.push(format!("read: prune deleted {deleted}, expected {expired}"));
    }
    let batches = during.ms.len().max(20);
    let without = steady_writer(db, &AtomicBool::new(true), batches, batches);
    PruneOutcome { deleted, prune_secs, during, without }
}
