//! Retention of a day on each storage: two UTC days of records, then
//! `prune` of everything before the second day through the storage's
//! maintenance handle (`log_panel_database::open_maintenance`), timed.
//! SQLite deletes in batches; PostgreSQL deletes rows, or with
//! `partition=day` drops the day's partition; ClickHouse drops the day's
//! partitions on every shard.

use std::time::Instant;

use log_panel_core::{Batch, Level, Origin, Record, Timestamp, DAY};
use log_panel_database::{open_maintenance, open_sink, Database, SinkOptions};

/// 2026-01-01T00:00:00Z: the first day of the records.
const START: i64 = 1_767_225_600_000_000;
/// Records per batch written.
const BATCH: usize = 10_000;

/// One storage's figure.
#[derive(Debug)]
pub struct Outcome {
    /// Which storage (and layout).
    pub storage: String,
    /// Records stored per day (two days).
    pub per_day: u64,
    /// Records `prune` reported deleted.
    pub deleted: u64,
    /// Seconds `prune` took.
    pub secs: f64,
}

/// Writes `per_day` records on each of two days into `database` (empty, its
/// schema created by the sink), prunes the first day and times it.
pub fn run(storage: &str, database: &str, per_day: u64) -> Result<Outcome, String> {
    let db = Database::parse(database).map_err(|e| e.to_string())?;
    let mut options = SinkOptions::default();
    options.required = true;
    let mut sink = open_sink(&db, &options).map_err(|e| e.to_string())?;
    let origin = Origin::new("retention", "bench", std::process::id());
    let step = DAY / i64::try_from(per_day.max(1)).unwrap_or(1);
    let mut batch = Vec::with_capacity(BATCH);
    for day in 0..2i64 {
        for i in 0..per_day {
            let n = i64::try_from(i).unwrap_or(i64::MAX);
            let mut r = Record::new(Level::Info, "bench::retention", format!("record {i} of day {day}"));
            r.timestamp = Timestamp(START + day * DAY + n * step);
            batch.push(r);
            if batch.len() == BATCH {
                sink.write(&Batch::new(&origin, &batch)).map_err(|e| e.to_string())?;
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        sink.write(&Batch::new(&origin, &batch)).map_err(|e| e.to_string())?;
    }
    drop(sink);
    let maintenance = open_maintenance(&db).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let report = maintenance.prune(Timestamp(START + DAY), BATCH, false).map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Outcome { storage: storage.to_owned(), per_day, deleted: report.deleted, secs })
}
