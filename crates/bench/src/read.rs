//! The read phase (issue 16): N records through `SqliteSink` (several
//! loggers and apps, realistic messages, a request id per 3 records), the
//! search index caught up by `idle()`, then p50/p95 of the store's queries
//! side by side with the naive SQL a user would write and with `rg` over an
//! NDJSON export (`cli`), the `tail -f` latency of the built CLI (`cli`), and
//! what the writer sees while the index lags or a prune runs (`writes`);
//! and the panel under load while an application writes (`load`, its own
//! phase, which can measure two builds side by side).

pub mod ch;
pub(crate) mod cli;
pub mod hostile;
mod language;
pub mod load;
pub mod pg;
mod writes;

use std::path::{Path, PathBuf};
use std::time::Instant;

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::Store;
use log_panel_query::{CardsQuery, FieldValue, LoggerMatch, PageAt, RecordFilter, Slots, DAY};
use log_panel_sqlite::{Options, SqliteSink, SqliteStore};
use rusqlite::Connection;
use serde_json::json;

use crate::common::remove_db;

pub(crate) const LOGGERS: [&str; 8] =
    ["api::http", "api::auth", "billing::payments", "billing::invoices", "db::pool", "worker::jobs", "cache", "mailer"];
const APPS: [&str; 3] = ["api", "worker", "billing"];
/// One record in RARE_EVERY carries the rare term.
const RARE_EVERY: u64 = 20_000;
const RARE_TERM: &str = "quasar";
/// In one record of 6.
const COMMON_TERM: &str = "reset by peer";
const PAGE: usize = 50;

/// Records of the writer-throughput comparison (with and without the
/// context-key index) and of the writer measurements in `writes`: large
/// enough for a stable rate, small enough not to double the 10 M run.
const WRITER_RECORDS: u64 = 1_000_000;

/// One measured query: its name, p50 / p95 ms, and the naive SQL's and
/// `rg`'s p50 / p95 when there is one.
struct ResultRow {
    name: String,
    ours: (f64, f64),
    naive: Option<(f64, f64)>,
    rg: Option<(f64, f64)>,
}

pub(crate) fn message(i: u64) -> String {
    if i % RARE_EVERY == 7 {
        return format!("quasar checksum mismatch on shard {}", i % 97);
    }
    match i % 6 {
        0 => format!("GET /api/v1/orders/{} 200 in {}ms", i % 10_007, i % 300),
        1 => format!("user {} logged in from 10.0.{}.{}", i % 5_000, i % 256, (i / 7) % 256),
        2 => format!("payment {} accepted amount={}.{:02}", i, i % 900, i % 100),
        3 => format!("connection reset by peer while reading request {}", i % 1_000),
        4 => format!("cache miss for key session:{:x}", i.wrapping_mul(2_654_435_761)),
        _ => format!("job {} finished, {} rows written", i, i % 10_000),
    }
}

fn level(i: u64) -> Level {
    match i % 100 {
        0..=1 => Level::Error,
        2..=7 => Level::Warn,
        8..=69 => Level::Info,
        70..=94 => Level::Debug,
        _ => Level::Trace,
    }
}

pub(crate) struct Gen {
    n: u64,
    start: i64,
    step: i64,
}

impl Gen {
    fn batch(&self, ids: std::ops::Range<u64>) -> Vec<Record> {
        ids.map(|j| self.record(j)).collect()
    }

    fn record(&self, i: u64) -> Record {
        let mut r = Record::new(level(i), LOGGERS[(i % 8) as usize], message(i));
        r.timestamp = Timestamp(self.start + i as i64 * self.step);
        r.kv.push(("request_id".into(), Value::from_json(json!(request_id(i)))));
        r.kv.push(("user_id".into(), Value::from_json(json!(i % 5_000))));
        r.file = Some("src/handlers.rs".into());
        r.line = Some(10 + (i % 40) as u32);
        r
    }

    /// Records spread over the 90 days before `now`.
    pub(crate) fn over_90_days(n: u64, now: Timestamp) -> Gen {
        let span = 90 * DAY;
        Gen { n, start: now.0 - span, step: (span / n.max(1) as i64).max(1) }
    }

    /// Writes all records, 1 000 per batch, app by app; returns records/s.
    pub(crate) fn write(&self, sink: &mut SqliteSink) -> f64 {
        let origins: Vec<Origin> =
            APPS.iter().enumerate().map(|(k, a)| Origin::new(*a, "bench", k as u32 + 1)).collect();
        let t = Instant::now();
        let mut i = 0;
        while i < self.n {
            let end = (i + 1_000).min(self.n);
            sink.write(&Batch::new(&origins[((i / 1_000) % 3) as usize], &self.batch(i..end))).expect("write");
            i = end;
        }
        self.n as f64 / t.elapsed().as_secs_f64()
    }
}

/// Times `f` `reps` times: p50, p95 (ms) and the last result.
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut samples = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        samples.push(t.elapsed());
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (pick(0.5), pick(0.95), last.expect("at least one repetition"))
}

fn count_sql(conn: &Connection, sql: &str, param: Option<&str>) -> usize {
    let mut stmt = conn.prepare_cached(sql).expect("naive SQL");
    let rows = match param {
        Some(p) => stmt.query_map([p], |_| Ok(())).expect("query").count(),
        None => stmt.query_map([], |_| Ok(())).expect("query").count(),
    };
    rows
}

/// Where the phase writes its main database and which CLI it drives.
pub struct Setup<'a> {
    /// The run's temp directory (every other file goes there).
    pub dir: &'a Path,
    /// Records of the main database.
    pub n: u64,
    /// Repetitions of each query.
    pub reps: usize,
    /// Keep the main database at this path (for `cargo bench -p log-panel-web --bench http -- --db`).
    pub keep: Option<PathBuf>,
}

/// Runs the phase; returns its JSON and pushes count mismatches to `failures`.
pub fn run(setup: &Setup<'_>, failures: &mut Vec<String>) -> serde_json::Value {
    let (dir, n, reps) = (setup.dir, setup.n, setup.reps);
    let now = Timestamp::now();
    let gen = Gen::over_90_days(n, now);

    // Writer throughput at WRITER_RECORDS: with the default context-key index
    // (`request_id`) and without any context-key index, same
    // records. The indexed file is then `writes`'s, its search index lagging.
    let small = Gen::over_90_days(n.min(WRITER_RECORDS), now);
    let writes_path = dir.join("read_writer.db");
    let mut with = SqliteSink::open(&writes_path).expect("open");
    let with_rate = small.write(&mut with);
    drop(with);
    let mut none = Options::default();
    none.index_keys.clear();
    let without_path = dir.join("read_noindex.db");
    let mut without = SqliteSink::open_with(&without_path, none).expect("open");
    let without_rate = small.write(&mut without);
    drop(without);
    remove_db(&without_path);
    // Done before the main file exists, so the disk never holds both.
    let idle = writes::idle_cost(&writes_path, small.n / 2, failures);
    let prune = writes::prune_while_writing(&writes_path, now, small.n, failures);
    remove_db(&writes_path);

    let mut check = |what: &str, got: usize, want: usize| {
        if got != want {
            failures.push(format!("read: {what}: {got}, expected {want}"));
        }
    };

    let main_path = setup.keep.clone().unwrap_or_else(|| dir.join("read.db"));
    if main_path.exists() {
        failures.push(format!("read: {} exists already; give a new path", main_path.display()));
        return json!(null);
    }
    let mut main = SqliteSink::open(&main_path).expect("open");
    let main_rate = gen.write(&mut main);
    // Each idle step holds the write lock: its duration is how long a batch
    // arriving meanwhile can wait.
    let t = Instant::now();
    let mut step_ms = Vec::new();
    loop {
        let step = Instant::now();
        let more = main.idle().expect("idle");
        step_ms.push(step.elapsed().as_secs_f64() * 1e3);
        if !more {
            break;
        }
    }
    let catch_up = n as f64 / t.elapsed().as_secs_f64();
    let steps = step_ms.len();
    step_ms.sort_by(f64::total_cmp);
    let step_pick = |q: f64| step_ms[((steps - 1) as f64 * q).round() as usize];
    let (step_p50, step_p95, step_max) = (step_pick(0.5), step_pick(0.95), step_pick(1.0));
    drop(main);

    let store = SqliteStore::open(&main_path).expect("store");
    let raw = Connection::open(&main_path).expect("raw");
    check("unindexed after catch-up", store.unindexed().expect("unindexed") as usize, 0);

    let mut rows: Vec<ResultRow> = Vec::new();
    let mut row = |name: String, ours: (f64, f64), naive: Option<(f64, f64)>| {
        rows.push(ResultRow { name, ours, naive, rg: None });
    };
    let all = RecordFilter::default();

    let day = Slots::hours_until(now, 24).expect("slots");
    let (p50, p95, cards) = time(reps, || store.cards(&CardsQuery::new(day.clone(), now)).expect("cards"));
    check("cards 24h", cards.matching, LOGGERS.len());
    row("cards 24h".into(), (p50, p95), None);
    let quarter = Slots::days_until(now, 0, 91).expect("slots");
    let (p50, p95, cards) = time(reps, || store.cards(&CardsQuery::new(quarter.clone(), now)).expect("cards"));
    let total: u64 = cards.cards.iter().map(|c| c.slots.iter().map(|s| s.total()).sum::<u64>()).sum();
    check("cards 91 days sum", total as usize, n as usize);
    row("cards 90d".into(), (p50, p95), None);

    let (p50, p95, page) = time(reps, || store.records(&all, PageAt::Newest, PAGE).expect("page"));
    check("page 1", page.records.len(), PAGE.min(n as usize));
    let naive_first =
        time(reps, || count_sql(&raw, "SELECT * FROM log_records ORDER BY ts DESC, id DESC LIMIT 50 OFFSET 0", None));
    row("table page 1".into(), (p50, p95), Some((naive_first.0, naive_first.1)));

    // Page 10 000 (or the last full page of a quick run), reached by cursor.
    let deep = (10_000u64).min(n / PAGE as u64 - 1);
    let mut cursor = page.older;
    for _ in 1..deep {
        cursor = store.records(&all, PageAt::Older(cursor.expect("older")), PAGE).expect("page").older;
    }
    let c = cursor.expect("deep cursor");
    let (p50, p95, page) = time(reps, || store.records(&all, PageAt::Older(c), PAGE).expect("page"));
    check("deep page", page.records.len(), PAGE);
    let want_first = n as i64 - (deep as i64 * PAGE as i64);
    check("deep page first id", page.records[0].id as usize, want_first as usize);
    let offset = deep * PAGE as u64;
    let naive_deep = time(reps, || {
        count_sql(&raw, &format!("SELECT * FROM log_records ORDER BY ts DESC, id DESC LIMIT 50 OFFSET {offset}"), None)
    });
    row(format!("table page {} (cursor)", deep + 1), (p50, p95), Some((naive_deep.0, naive_deep.1)));

    let mut lf = RecordFilter::default();
    lf.logger = Some(LoggerMatch::Exact("billing::payments".into()));
    lf.min_level = Some(Level::Warn);
    let (p50, p95, page) = time(reps, || store.records(&lf, PageAt::Newest, PAGE).expect("page"));
    let want = (0..n).filter(|i| i % 8 == 2 && level(*i) <= Level::Warn).count().min(PAGE);
    check("logger+level page", page.records.len(), want);
    let naive = time(reps, || {
        count_sql(
            &raw,
            "SELECT * FROM log_records WHERE logger = 'billing::payments' AND level >= 30
             ORDER BY ts DESC, id DESC LIMIT 50 OFFSET 0",
            None,
        )
    });
    row("logger + level".into(), (p50, p95), Some((naive.0, naive.1)));

    // A logger tree (`api` and its `::` children: 2 of the 8 loggers) + level.
    // The naive side is the single query the store ran before it read one
    // index walk per logger: the OR of the name and its children's range,
    // which sorts every record of the tree.
    let mut tf = RecordFilter::default();
    tf.logger = Some(LoggerMatch::Tree("api".into()));
    tf.min_level = Some(Level::Warn);
    let (p50, p95, page) = time(reps, || store.records(&tf, PageAt::Newest, PAGE).expect("page"));
    let matching = (0..n).filter(|i| i % 8 < 2 && level(*i) <= Level::Warn).count();
    check("logger tree + level page", page.records.len(), matching.min(PAGE));
    let naive = time(reps, || {
        count_sql(
            &raw,
            "SELECT * FROM log_records WHERE (logger = 'api' OR (logger >= 'api::' AND logger < 'api:;')) AND level >= 30
             ORDER BY ts DESC, id DESC LIMIT 51",
            None,
        )
    });
    check("naive logger tree + level page", naive.2, matching.min(PAGE + 1));
    row("logger tree + level".into(), (p50, p95), Some((naive.0, naive.1)));

    for (name, term, want) in [
        ("rare term", RARE_TERM, (0..n).filter(|i| i % RARE_EVERY == 7).count().min(PAGE)),
        ("common term", COMMON_TERM, PAGE.min((n / 6) as usize)),
    ] {
        let mut f = RecordFilter::default();
        f.text = Some(term.into());
        let (p50, p95, page) = time(reps, || store.records(&f, PageAt::Newest, PAGE).expect("search"));
        check(name, page.records.len(), want);
        let like = format!("%{term}%");
        let naive = time(reps, || {
            count_sql(
                &raw,
                "SELECT * FROM log_records WHERE message LIKE ?1 ORDER BY ts DESC, id DESC LIMIT 50",
                Some(&like),
            )
        });
        row(format!("{name} `{term}`"), (p50, p95), Some((naive.0, naive.1)));
    }

    let rid = request_id(n / 2);
    let (p50, p95, related) =
        time(reps, || store.related("request_id", &FieldValue::Text(rid.clone()), 100).expect("related"));
    check("request lookup", related.len(), 3);
    // `NOT INDEXED`: the same file as a user without the expression index
    // sees it (a full scan), instead of writing every record a second time.
    let naive = time(reps, || {
        count_sql(
            &raw,
            "SELECT * FROM log_records NOT INDEXED WHERE json_extract(context, '$.request_id') = ?1 ORDER BY ts, id",
            Some(&rid),
        )
    });
    check("naive request lookup", naive.2, 3);
    row("request-id lookup".into(), (p50, p95), Some((naive.0, naive.1)));
    language::measure(&store, &raw, n, reps, &mut check, &mut row);
    drop(raw);

    let cli = cli::Cli::find();
    let rg = cli::rg_over_export(cli.as_ref(), &main_path, dir, n, reps.min(5), failures);
    if let Some(rg) = &rg {
        for r in &mut rows {
            r.rg = rg.timings.iter().find(|(name, _)| r.name.starts_with(name)).map(|(_, t)| *t);
        }
    }
    let tail = cli::tail_latency(cli.as_ref(), &main_path, if n <= 100_000 { 20 } else { 200 }, failures);
    drop(store);

    if setup.keep.is_none() {
        remove_db(&main_path);
    }

    println!("\nRead phase: {n} records, {reps} repetitions each (ms; rg: {} each)", reps.min(5));
    println!(
        "{:<28} {:>9} {:>9} {:>12} {:>12} {:>8} {:>9} {:>9}",
        "query", "p50", "p95", "naive p50", "naive p95", "speedup", "rg p50", "rg p95"
    );
    for r in &rows {
        let (p50, p95) = r.ours;
        let mut line = format!("{:<28} {p50:>9.2} {p95:>9.2}", r.name);
        if let Some((a, b)) = r.naive {
            line += &format!(" {a:>12.2} {b:>12.2} {:>7.0}x", a / p50.max(1e-6));
        }
        if let Some((a, b)) = r.rg {
            line += &format!(" {a:>9.1} {b:>9.1}");
        }
        println!("{line}");
    }
    println!(
        "writer ({} records): {with_rate:.0} records/s with the new indexes, {without_rate:.0} without a context index ({:.0} %)",
        small.n,
        100.0 * with_rate / without_rate
    );
    println!("writer ({n} records, the main file): {main_rate:.0} records/s");
    println!(
        "index catch-up when idle: {catch_up:.0} records/s ({steps} steps; step p50 {step_p50:.1} ms, \
         p95 {step_p95:.1} ms, max {step_max:.1} ms)"
    );
    if let Some(rg) = &rg {
        println!("{rg}");
    }
    if let Some(tail) = &tail {
        println!("{tail}");
    }
    println!("{idle}\n{prune}");
    json!({
        "records": n,
        "writer_records": small.n,
        "writer_with_indexes_per_sec": with_rate,
        "writer_without_context_index_per_sec": without_rate,
        "writer_main_file_per_sec": main_rate,
        "index_catch_up_per_sec": catch_up,
        "index_step_ms": json!({ "p50": step_p50, "p95": step_p95, "max": step_max, "steps": steps }),
        "queries": rows.iter().map(|r| json!({
            "query": r.name, "p50_ms": r.ours.0, "p95_ms": r.ours.1,
            "naive_p50_ms": r.naive.map(|n| n.0), "naive_p95_ms": r.naive.map(|n| n.1),
            "rg_p50_ms": r.rg.map(|n| n.0), "rg_p95_ms": r.rg.map(|n| n.1),
        })).collect::<Vec<_>>(),
        "export": rg.as_ref().map(cli::RgOutcome::json),
        "tail_follow": tail.as_ref().map(cli::TailOutcome::json),
        "idle_during_burst": idle.json(),
        "prune_while_writing": prune.json(),
    })
}

/// The `request_id` of record `i` (3 consecutive records share one).
fn request_id(i: u64) -> String {
    format!("req-{}", i / 3)
}
