//! The plan tests' data and filters: each storage checks that the query
//! plan of every filter combination the command and the panel offer reads
//! through an index, over records shaped the same on every storage.

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::{FieldRange, LoggerMatch, RangeOp, RecordFilter};

use crate::records::{filter, BASE};

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
    /// Records in the set.
    pub records: u64,
    /// Records per batch written.
    pub batch: u64,
}

impl PlanSet {
    /// SQLite's set: warnings and errors common enough that its planner,
    /// which counts no rows, is shown a tree with quiet members.
    pub const SQLITE: PlanSet = PlanSet {
        http_levels: [Level::Info, Level::Warn, Level::Error, Level::Debug],
        api_error_every: 70,
        apix_warn_every: 1,
        billing_error_every: 3,
        quasar_every: 400,
        step: 1_000_000,
        users: 97,
        status_500_every: 50,
        records: 4_000,
        batch: 500,
    };

    /// PostgreSQL's set: enough rows that a sequential scan costs more than
    /// an index's pages, and warnings and errors rare enough (in ANALYZEd
    /// statistics) that the planner prefers the partial indexes of WARN and
    /// above.
    pub const POSTGRES: PlanSet = PlanSet {
        http_levels: [Level::Info, Level::Debug, Level::Info, Level::Trace],
        api_error_every: 700,
        apix_warn_every: 100,
        billing_error_every: 300,
        quasar_every: 1_000,
        step: 100_000,
        users: 997,
        status_500_every: 500,
        records: 60_000,
        batch: 2_000,
    };

    /// Writes the whole set to `sink`, in batches from two origins in turn
    /// (apps `api` on `h1` and `worker` on `h2`).
    pub fn write(&self, sink: &mut dyn Sink) {
        let origins = [Origin::new("api", "h1", 10), Origin::new("worker", "h2", 11)];
        for chunk in 0..self.records / self.batch {
            let batch: Vec<Record> = (chunk * self.batch..(chunk + 1) * self.batch).map(|i| self.record(i)).collect();
            if let Err(e) = sink.write(&Batch::new(&origins[(chunk % 2) as usize], &batch)) {
                panic!("writing the plan set: {e}");
            }
        }
    }

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
        r.thread = THREADS[(i % 4) as usize].into();
        r.file = Some("src/handler.rs".into());
        r.line = Some(10 + (i % 5) as u32);
        r.kv = vec![
            ("request_id".into(), Value::from(format!("req-{}", i / 3))),
            ("trace_id".into(), Value::from(trace_id(i / 3))),
            ("user_id".into(), Value::from((i % self.users) as i64)),
            ("status".into(), Value::from(if i.is_multiple_of(self.status_500_every) { 500_i64 } else { 200 })),
        ];
        r
    }
}

/// The threads the records are logged on, in turn.
const THREADS: [&str; 4] = ["main", "worker-1", "worker-2", "tokio-runtime-worker"];

/// The OpenTelemetry trace id (32 hex digits) of request `n`.
pub fn trace_id(n: u64) -> String {
    format!("{:032x}", 0x4bf9_2f35_77b3_4da6_u128 << 64 | u128::from(n))
}

/// Every filter the command's flags and the panel's form set, alone and in
/// combinations of two to four, each with its name; the time ranges are
/// `since..until`. Each storage's plan test names, for every one of them,
/// the index its plan must search.
pub fn filters(since: Timestamp, until: Timestamp) -> Vec<(&'static str, RecordFilter)> {
    let tree = || Some(LoggerMatch::Tree("api".into()));
    let exact = || Some(LoggerMatch::Exact("api::http".into()));
    let key = || vec!["user_id=7".parse().unwrap_or_else(|e| panic!("a context match: {e}"))];
    let request = || vec!["request_id=req-9".parse().unwrap_or_else(|e| panic!("a context match: {e}"))];
    let status = || vec![FieldRange::new("status", RangeOp::Ge, 500.0).unwrap_or_else(|e| panic!("a range: {e}"))];
    let site = || Some("src/handler.rs:12".parse().unwrap_or_else(|e| panic!("a call site: {e}")));
    let trace = || vec![format!("trace_id={}", trace_id(9)).parse().unwrap_or_else(|e| panic!("a context match: {e}"))];
    vec![
        ("newest", filter(|_| {})),
        ("time range", filter(|f| (f.since, f.until) = (Some(since), Some(until)))),
        ("min level warn", filter(|f| f.min_level = Some(Level::Warn))),
        ("levels error", filter(|f| f.levels = vec![Level::Error])),
        ("levels info,debug", filter(|f| f.levels = vec![Level::Info, Level::Debug])),
        ("logger exact", filter(|f| f.logger = exact())),
        ("logger tree", filter(|f| f.logger = tree())),
        ("text word", filter(|f| f.text = Some("quasar".into()))),
        ("text phrase", filter(|f| f.text = Some("checksum mismatch".into()))),
        ("text common", filter(|f| f.text = Some("reset by peer".into()))),
        ("context key", filter(|f| f.fields = key())),
        ("request id", filter(|f| f.fields = request())),
        ("context range", filter(|f| f.ranges = status())),
        ("call site", filter(|f| f.site = site())),
        // `query --trace ID` and the record page's trace link.
        ("trace id", filter(|f| f.fields = trace())),
        // The surrounding records of one thread (`/records/{id}/around`):
        // its host, pid and thread within a time window of the record.
        (
            "thread + window",
            filter(|f| {
                (f.host, f.pid, f.thread) = (Some("h1".into()), Some(10), Some("worker-1".into()));
                (f.since, f.until) = (Some(since), Some(until));
            }),
        ),
        (
            "tree + warn",
            filter(|f| {
                f.logger = tree();
                f.min_level = Some(Level::Warn);
            }),
        ),
        (
            "exact + warn",
            filter(|f| {
                f.logger = exact();
                f.min_level = Some(Level::Warn);
            }),
        ),
        (
            "quiet exact + warn",
            filter(|f| {
                f.logger = Some(LoggerMatch::Exact("api::admin".into()));
                f.min_level = Some(Level::Warn);
            }),
        ),
        (
            "errors + since",
            filter(|f| {
                f.levels = vec![Level::Error];
                f.since = Some(since);
            }),
        ),
        (
            "tree + time range",
            filter(|f| {
                f.logger = tree();
                (f.since, f.until) = (Some(since), Some(until));
            }),
        ),
        (
            "tree + warn + since",
            filter(|f| {
                f.logger = tree();
                f.min_level = Some(Level::Warn);
                f.since = Some(since);
            }),
        ),
        (
            "tree + text",
            filter(|f| {
                f.logger = tree();
                f.text = Some("quasar".into());
            }),
        ),
        (
            "exact + context key",
            filter(|f| {
                f.logger = exact();
                f.fields = key();
            }),
        ),
        (
            "text + context key",
            filter(|f| {
                f.text = Some("payment".into());
                f.fields = key();
            }),
        ),
        (
            "rare text + context key",
            filter(|f| {
                f.text = Some("quasar".into());
                f.fields = key();
            }),
        ),
        (
            "since + context range",
            filter(|f| {
                f.since = Some(since);
                f.ranges = status();
            }),
        ),
        (
            "app + host + context key",
            filter(|f| {
                f.app = Some("api".into());
                f.host = Some("h1".into());
                f.fields = key();
            }),
        ),
        (
            "tree + warn + since + text",
            filter(|f| {
                f.logger = tree();
                f.min_level = Some(Level::Warn);
                f.since = Some(since);
                f.text = Some("quasar".into());
            }),
        ),
        (
            "tree + warn + text + context key",
            filter(|f| {
                f.logger = tree();
                f.min_level = Some(Level::Warn);
                f.text = Some("reset by peer".into());
                f.fields = key();
            }),
        ),
        (
            "exact + since + until + request id",
            filter(|f| {
                f.logger = exact();
                (f.since, f.until) = (Some(since), Some(until));
                f.fields = request();
            }),
        ),
        (
            "exact logger + call site",
            filter(|f| {
                f.logger = exact();
                f.site = site();
            }),
        ),
    ]
}
