//! Records to write in tests, and filters to read them back with.

use std::ops::Range;

use log_panel_core::{Batch, Context, Level, Origin, Record, Sink, Timestamp, Value, LEVELS};
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

/// Records `from..from + n` of a web service's requests: five loggers in
/// turn, record `i` at `start + i × step`, message `request {i} served in
/// … ms for user …`, context `request_id` (three records each) and `user_id`.
pub fn requests(from: usize, n: usize, start: i64, step: i64) -> Vec<Record> {
    let loggers = ["billing::api", "billing::db", "web::http", "worker::queue", "auth"];
    (from..from + n)
        .map(|i| {
            let message = format!("request {i} served in {} ms for user {}", i % 97, i % 1000);
            let mut r = Record::new(Level::Info, loggers[i % loggers.len()], message);
            r.timestamp = Timestamp(start + i as i64 * step);
            r.kv.push(("request_id".into(), Value::from(format!("req-{}", i / 3))));
            r.kv.push(("user_id".into(), Value::I64(i as i64 % 1000)));
            r
        })
        .collect()
}

/// The load average (1, 5, 15 minutes) as `/proc/loadavg` has it, for
/// measurements to print beside their figures; empty where there is none.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
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

/// A record of [`generate`]: its number, which of the suite's three
/// origins writes it, and the record.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Its number: the message ends in `#{seq}`.
    pub seq: u64,
    /// The origin that writes it, 0 to 2.
    pub origin: usize,
    /// The record.
    pub record: Record,
}

/// `n` records numbered from `first_seq`, over `span` microseconds from
/// `start`, for the store suites' reference checks: every level, one of
/// `loggers` and a message `{word} #{seq}` from `words` (one in ten `ab
/// #{seq}`, a two-letter term), a call site (or none), a request id shared
/// by three consecutive records (from the three origins in turn), `user_id` as an integer, a string, a
/// boolean, a float or absent, `code` as the text "7", 7, true or 2.5, a key
/// with a quote, numbers and long texts that share their indexed prefix.
/// Every tenth record shares its predecessor's time and origin, so ties
/// are ordered by id (ids follow seqs within an origin's batch).
pub fn generate(
    rng: &mut Rng,
    loggers: &[&'static str],
    words: &[&'static str],
    first_seq: u64,
    n: usize,
    start: i64,
    span: i64,
) -> Vec<Generated> {
    let mut out: Vec<Generated> = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let seq = first_seq + i;
        let level = LEVELS[rng.below(LEVELS.len() as u64) as usize];
        let logger = loggers[rng.below(loggers.len() as u64) as usize];
        let word = words[rng.below(words.len() as u64) as usize];
        let word = if rng.below(10) == 0 { "ab" } else { word };
        let mut r = Record::new(level, logger, format!("{word} #{seq}"));
        r.timestamp = Timestamp(start + rng.below(span as u64) as i64);
        let k = rng.below(4);
        if k > 0 {
            r.file = Some(["src/a.rs", "src/b.rs", "src/c.rs"][k as usize - 1].into());
            r.line = Some(10 * k as u32);
        }
        r.module_path = Some(logger.into());
        r.kv.push(("request_id".into(), Value::from(format!("r-{}", seq / 3))));
        match rng.below(5) {
            0 => r.kv.push(("user_id".into(), Value::I64(rng.below(5) as i64))),
            1 => r.kv.push(("user_id".into(), Value::from(rng.below(5).to_string()))),
            2 => r.kv.push(("user_id".into(), Value::Bool(rng.below(2) == 0))),
            3 => r.kv.push(("user_id".into(), Value::F64(1.5))),
            _ => {}
        }
        r.kv.push((
            "code".into(),
            match rng.below(4) {
                0 => Value::from("7"),
                1 => Value::I64(7),
                2 => Value::Bool(true),
                _ => Value::F64(2.5),
            },
        ));
        if rng.below(4) == 0 {
            r.kv.push(("weird key\"".into(), Value::from("x")));
        }
        if seq.is_multiple_of(2) {
            r.kv.push(("ms".into(), Value::I64((seq % 1000) as i64)));
        }
        if seq.is_multiple_of(7) {
            r.kv.push(("note".into(), Value::from(format!("{}{}", "é".repeat(130), seq % 3))));
        }
        // The records of a request come from the origins in turn, so it spans apps.
        let mut origin = match out.last() {
            Some(before) if !seq.is_multiple_of(3) => (before.origin + 1) % 3,
            _ => rng.below(3) as usize,
        };
        if i >= 10 && i.is_multiple_of(10) {
            let before = &out[i as usize - 1];
            r.timestamp = before.record.timestamp;
            origin = before.origin;
        }
        out.push(Generated { seq, origin, record: r });
    }
    out
}

/// The batches [`write()`] writes `gens` in: chunks of 250 in sequence
/// order, each split per origin, origin 0 first. A storage numbers the
/// records in this order.
pub fn batches(gens: &[Generated]) -> Vec<(usize, Vec<&Generated>)> {
    let mut out = Vec::new();
    for chunk in gens.chunks(250) {
        for o in 0..3 {
            let batch: Vec<&Generated> = chunk.iter().filter(|g| g.origin == o).collect();
            if !batch.is_empty() {
                out.push((o, batch));
            }
        }
    }
    out
}

/// Writes `gens` to `sink` in [`batches`], each from its origin in `origins`.
pub fn write(sink: &mut dyn Sink, origins: &[Origin; 3], gens: &[Generated]) {
    for (o, batch) in batches(gens) {
        let records: Vec<Record> = batch.iter().map(|g| g.record.clone()).collect();
        if let Err(e) = sink.write(&Batch::new(&origins[o], &records)) {
            panic!("writing {} generated records: {e}", records.len());
        }
    }
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
