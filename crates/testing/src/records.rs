//! Records to write in tests, and filters to read them back with.

use log_panel_core::{Context, Level, Origin, Record, Timestamp, Value};
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

/// The data set of a plan test: how rare the warnings and errors are and how
/// far apart the records. A planner chooses an index by how many rows it
/// expects, so each storage's plan test sizes its set to what its planner
/// needs to see; the loggers, messages and context keys are the same.
#[derive(Debug, Clone, Copy)]
pub struct PlanSet {
    /// The levels of `api::http`, cycling every ten records.
    pub http_levels: [Level; 4],
    /// `api` logs an ERROR on one record in this many (else INFO).
    pub api_error_every: u64,
    /// `apix` logs a WARN on one record in this many (else DEBUG).
    pub apix_warn_every: u64,
    /// `billing::payments` logs an ERROR on one record in this many (else TRACE).
    pub billing_error_every: u64,
    /// One record in this many says "quasar checksum mismatch".
    pub quasar_every: u64,
    /// Microseconds between two records.
    pub step: i64,
    /// `user_id` is the record's number modulo this.
    pub users: u64,
    /// One record in this many has `status` 500 (else 200).
    pub status_500_every: u64,
}

impl PlanSet {
    /// Record `i` of the set, at `BASE + i × step`: a tree `api::` whose
    /// `api::admin` logs only DEBUG and `api::audit` warns once, other
    /// loggers around it so a tree's range has neighbours, a request id per
    /// 3 records.
    pub fn record(&self, i: u64) -> Record {
        let (logger, level) = match i % 10 {
            0..=3 => ("api::http", self.http_levels[(i / 10 % 4) as usize]),
            4..=5 => ("api::admin", Level::Debug),
            6 => ("api::audit", if i == 2_006 { Level::Warn } else { Level::Info }),
            7 => ("api", if i % self.api_error_every == 7 { Level::Error } else { Level::Info }),
            8 => {
                ("apix", if i % self.apix_warn_every == 8 % self.apix_warn_every { Level::Warn } else { Level::Debug })
            }
            _ => {
                let error = i % self.billing_error_every == 9 % self.billing_error_every;
                ("billing::payments", if error { Level::Error } else { Level::Trace })
            }
        };
        let message = match i % 4 {
            0 => format!("connection reset by peer while reading request {i}"),
            1 => format!("payment {i} accepted"),
            2 if i % self.quasar_every == 2 => "quasar checksum mismatch".to_owned(),
            _ => format!("job {i} finished"),
        };
        let mut r = Record::new(level, logger, message);
        r.timestamp = Timestamp(BASE + i as i64 * self.step);
        r.file = Some("src/handler.rs".into());
        r.line = Some(10 + (i % 5) as u32);
        r.kv = vec![
            ("request_id".into(), Value::from(format!("req-{}", i / 3))),
            ("user_id".into(), Value::from((i % self.users) as i64)),
            ("status".into(), Value::from(if i.is_multiple_of(self.status_500_every) { 500_i64 } else { 200 })),
        ];
        r
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
