//! The read phase (issue 16): N records through `SqliteSink` (several
//! loggers and apps, realistic messages, a request id per 3 records), the
//! search index caught up by `idle()`, then p50/p95 of the store's queries
//! side by side with the naive SQL a user would write.

use std::time::Instant;

use log_panel_core::store::{CardsQuery, FieldValue, LoggerMatch, PageAt, RecordFilter, Slots, DAY};
use log_panel_core::{Batch, Level, Origin, Record, Sink, Store, Timestamp, Value};
use log_panel_sqlite::{SqliteOptions, SqliteSink, SqliteStore};
use rusqlite::Connection;
use serde_json::json;

const LOGGERS: [&str; 8] =
    ["api::http", "api::auth", "billing::payments", "billing::invoices", "db::pool", "worker::jobs", "cache", "mailer"];
const APPS: [&str; 3] = ["api", "worker", "billing"];
/// One record in RARE_EVERY carries the rare term.
const RARE_EVERY: u64 = 20_000;
const PAGE: usize = 50;

/// Query, p50 ms, p95 ms, and the naive SQL's p50 / p95 when there is one.
type ResultRow = (String, f64, f64, Option<(f64, f64)>);

fn message(i: u64) -> String {
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

struct Gen {
    n: u64,
    start: i64,
    step: i64,
}

impl Gen {
    fn record(&self, i: u64) -> Record {
        let mut r = Record::new(level(i), LOGGERS[(i % 8) as usize], message(i));
        r.timestamp = Timestamp(self.start + i as i64 * self.step);
        r.kv.push(("request_id".into(), Value::from_json(json!(format!("req-{}", i / 3)))));
        r.kv.push(("user_id".into(), Value::from_json(json!(i % 5_000))));
        r.file = Some("src/handlers.rs".into());
        r.line = Some(10 + (i % 40) as u32);
        r
    }

    /// Writes all records, 1 000 per batch, app by app; returns records/s.
    fn write(&self, sink: &mut SqliteSink) -> f64 {
        let origins: Vec<Origin> =
            APPS.iter().enumerate().map(|(k, a)| Origin::new(*a, "bench", k as u32 + 1)).collect();
        let t = Instant::now();
        let mut i = 0;
        while i < self.n {
            let end = (i + 1_000).min(self.n);
            let records: Vec<Record> = (i..end).map(|j| self.record(j)).collect();
            sink.write(&Batch { origin: &origins[((i / 1_000) % 3) as usize], records: &records }).expect("write");
            i = end;
        }
        self.n as f64 / t.elapsed().as_secs_f64()
    }
}

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

/// Runs the phase; returns its JSON and pushes count mismatches to `failures`.
pub fn run(dir: &std::path::Path, n: u64, reps: usize, failures: &mut Vec<String>) -> serde_json::Value {
    let now = Timestamp::now();
    let span = 90 * DAY;
    let gen = Gen { n, start: now.0 - span, step: (span / n.max(1) as i64).max(1) };
    let mut check = |what: &str, got: usize, want: usize| {
        if got != want {
            failures.push(format!("read: {what}: {got}, expected {want}"));
        }
    };

    // Writer throughput: with the new indexes (request_id expression index,
    // schema 3) and without any context-key index, same records.
    let with_path = dir.join("read.db");
    let mut with = SqliteSink::open(&with_path).expect("open");
    let with_rate = gen.write(&mut with);
    let mut none = SqliteOptions::default();
    none.index_keys.clear();
    let without_path = dir.join("read_noindex.db");
    let mut without = SqliteSink::open_with(&without_path, none).expect("open");
    let without_rate = gen.write(&mut without);
    drop(without);

    let t = Instant::now();
    let mut steps = 0u64;
    while with.idle().expect("idle") {
        steps += 1;
    }
    let catch_up = n as f64 / t.elapsed().as_secs_f64();

    let store = SqliteStore::open(&with_path).expect("store");
    let raw = Connection::open(&with_path).expect("raw");
    let raw_noindex = Connection::open(&without_path).expect("raw");
    check("unindexed after catch-up", store.unindexed().expect("unindexed") as usize, 0);

    let mut rows: Vec<ResultRow> = Vec::new();
    let all = RecordFilter::default();

    let day = Slots::hours_until(now, 24).expect("slots");
    let (p50, p95, cards) = time(reps, || store.cards(&CardsQuery::new(day.clone(), now)).expect("cards"));
    check("cards 24h", cards.matching, LOGGERS.len());
    rows.push(("cards 24h".into(), p50, p95, None));
    let quarter = Slots::days_until(now, 0, 91).expect("slots");
    let (p50, p95, cards) = time(reps, || store.cards(&CardsQuery::new(quarter.clone(), now)).expect("cards"));
    let total: u64 = cards.cards.iter().map(|c| c.slots.iter().map(|s| s.total()).sum::<u64>()).sum();
    check("cards 91 days sum", total as usize, n as usize);
    rows.push(("cards 90d".into(), p50, p95, None));

    let (p50, p95, page) = time(reps, || store.records(&all, PageAt::Newest, PAGE).expect("page"));
    check("page 1", page.records.len(), PAGE.min(n as usize));
    let naive_first =
        time(reps, || count_sql(&raw, "SELECT * FROM log_records ORDER BY ts DESC, id DESC LIMIT 50 OFFSET 0", None));
    rows.push(("table page 1".into(), p50, p95, Some((naive_first.0, naive_first.1))));

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
    rows.push((format!("table page {} (cursor)", deep + 1), p50, p95, Some((naive_deep.0, naive_deep.1))));

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
    rows.push(("logger + level".into(), p50, p95, Some((naive.0, naive.1))));

    for (name, term, want) in [
        ("rare term", "quasar", (0..n).filter(|i| i % RARE_EVERY == 7).count().min(PAGE)),
        ("common term", "reset by peer", PAGE.min((n / 6) as usize)),
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
        rows.push((format!("{name} `{term}`"), p50, p95, Some((naive.0, naive.1))));
    }

    let rid = format!("req-{}", n / 2 / 3);
    let (p50, p95, related) =
        time(reps, || store.related("request_id", &FieldValue::Text(rid.clone()), 100).expect("related"));
    check("request lookup", related.len(), 3);
    let naive = time(reps, || {
        count_sql(
            &raw_noindex,
            "SELECT * FROM log_records WHERE json_extract(context, '$.request_id') = ?1 ORDER BY ts, id",
            Some(&rid),
        )
    });
    check("naive request lookup", naive.2, 3);
    rows.push(("request-id lookup".into(), p50, p95, Some((naive.0, naive.1))));

    println!("\nRead phase: {n} records, {reps} repetitions each (ms)");
    println!("{:<28} {:>9} {:>9} {:>12} {:>12} {:>8}", "query", "p50", "p95", "naive p50", "naive p95", "speedup");
    for (name, p50, p95, naive) in &rows {
        match naive {
            Some((a, b)) => {
                println!("{name:<28} {p50:>9.2} {p95:>9.2} {a:>12.2} {b:>12.2} {:>7.0}x", a / p50.max(1e-6));
            }
            None => println!("{name:<28} {p50:>9.2} {p95:>9.2}"),
        }
    }
    println!(
        "writer: {with_rate:.0} records/s with the new indexes, {without_rate:.0} without a context index ({:.0} %)",
        100.0 * with_rate / without_rate
    );
    println!("search index catch-up when idle: {catch_up:.0} records/s ({steps} steps)");
    json!({
        "records": n,
        "writer_with_indexes_per_sec": with_rate,
        "writer_without_context_index_per_sec": without_rate,
        "index_catch_up_per_sec": catch_up,
        "queries": rows.iter().map(|(name, p50, p95, naive)| json!({
            "query": name, "p50_ms": p50, "p95_ms": p95,
            "naive_p50_ms": naive.map(|n| n.0), "naive_p95_ms": naive.map(|n| n.1),
        })).collect::<Vec<_>>(),
    })
}
