//! Records to write in tests, and filters to read them back with.

use std::ops::Range;

use log_panel_core::{Context, Level, Origin, Record, Timestamp, Value, LEVELS};
use log_panel_query::conformance::Rng;
use log_panel_query::RecordFilter;

/// 2026-11-20T00:00:00Z, in microseconds.
pub const BASE: i64 = 1_795_132_800 * 1_000_000;

/// The origin of records that need no particular one.
pub fn origin() -> Origin {
    Origin::new("test", "h", 42)
}

/// `n` INFO records of logger `t` with messages `{prefix}0`, `{prefix}1`, ….
pub fn numbered(prefix: &str, n: usize) -> Vec<Record> {
    (0..n).map(|i| Record::new(Level::Info, "t", format!("{prefix}{i}"))).collect()
}

/// Records `seqs` of a steady stream from `logger`: record `i` at
/// `start + i × step`, an ERROR every tenth (else INFO), message
/// `record {i}`, its number in the context field `seq`.
pub fn sequence(logger: &'static str, seqs: Range<i64>, start: Timestamp, step: i64) -> Vec<Record> {
    seqs.map(|i| {
        let level = if i % 10 == 0 { Level::Error } else { Level::Info };
        let mut r = Record::new(level, logger, format!("record {i}"));
        r.timestamp = Timestamp(start.0 + i * step);
        r.kv.push(("seq".into(), Value::I64(i)));
        r
    })
    .collect()
}

/// `n` records with message "m" over `span` microseconds from `start`, each
/// of a level and one of `loggers` drawn from `rng`: every logger and level
/// mixed, for checking aggregates against the rows.
pub fn mixed(rng: &mut Rng, loggers: &[&'static str], n: usize, start: i64, span: i64) -> Vec<Record> {
    (0..n)
        .map(|_| {
            let level = LEVELS[rng.below(LEVELS.len() as u64) as usize];
            let logger = loggers[rng.below(loggers.len() as u64) as usize];
            let mut r = Record::new(level, logger, "m");
            r.timestamp = Timestamp(start + rng.below(span as u64) as i64);
            r
        })
        .collect()
}

/// The default filter changed by `edit`.
pub fn filter(edit: impl FnOnce(&mut RecordFilter)) -> RecordFilter {
    let mut f = RecordFilter::default();
    edit(&mut f);
    f
}

/// Records per batch: the writer's default batch size.
pub const APP_BATCH: usize = 1_000;

/// Batch `n` shaped like an application's logging (for the SQLite sink's
/// tests and its WAL bench): a formatted message, four loggers, mixed levels, a call site,
/// a request id and two more context fields.
pub fn app_batch(n: usize) -> Vec<Record> {
    (0..APP_BATCH)
        .map(|i| {
            let k = n * APP_BATCH + i;
            let logger = ["app::http", "app::db", "billing::payments", "hyper::proto"][k % 4];
            let level = [Level::Info, Level::Debug, Level::Warn, Level::Info, Level::Error][k % 5];
            let mut r =
                Record::new(level, logger, format!("handled request {k} in {} ms for user {}", k % 97, k % 1_013));
            r.module_path = Some(logger.into());
            r.file = Some("src/http.rs".into());
            r.line = Some(42);
            r.context = Context::from_pairs([
                ("request_id", format!("req-{:08x}", k / 7)),
                ("user", format!("u{}", k % 1_013)),
                ("route", "/api/orders".to_owned()),
            ]);
            r
        })
        .collect()
}
