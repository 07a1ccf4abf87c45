//! The read phase on ClickHouse (issue 23): the read phase's records (same
//! generator, 90 days, 8 loggers, a request id per 3 records, the
//! production-shaped context keys of `read/pg.rs`) written through
//! `ChSink` into a database given by URL, then p50 / p95 of `ChStore`'s
//! queries — what the command and the panel ask — each answer's size
//! checked against `count()` by hand where one applies.
//!
//! ```text
//! log-panel-bench --ch-read clickhouse://127.0.0.1:8123,127.0.0.1:8124/bench?cluster=c 100000000 10
//! ```
//!
//! A database that already holds exactly N records is reused as it is.

use std::time::Instant;

use log_panel_clickhouse::{ChSink, ChStore, Options};
use log_panel_core::{Level, Timestamp};
use log_panel_query::{CardsQuery, FieldMatch, FieldValue, LoggerMatch, PageAt, RecordFilter, Slots, Store, DAY, HOUR};

use super::{request_id, COMMON_TERM, RARE_TERM};

/// Records per `ChSink` batch while loading.
const LOAD_BATCH: u64 = 100_000;
const PAGE: usize = 50;

/// p50 and p95, in milliseconds.
type Times = (f64, f64);

fn times(reps: usize, mut f: impl FnMut() -> usize) -> (Times, usize) {
    let mut samples = Vec::with_capacity(reps);
    let mut got = 0;
    for _ in 0..reps {
        let t = Instant::now();
        got = f();
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    ((pick(0.5), pick(0.95)), got)
}

/// Rows of `sql` (a `SELECT count()`) over all shards, through the first shard's HTTP port.
fn count(options: &Options, sql: &str) -> u64 {
    let host = &options.hosts()[0];
    ureq::post(&format!("http://{host}/"))
        .query("database", options.database())
        .send(sql)
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn load(url: &str, n: u64) -> Timestamp {
    let options = Options::parse(url).expect("a clickhouse:// URL");
    let mut sink = ChSink::connect(url).expect("sink");
    let have = count(&options, "SELECT count() FROM log_records");
    if have == n {
        let newest = count(&options, "SELECT max(ts) FROM log_records");
        println!("reusing the {n} records in the database");
        return Timestamp(i64::try_from(newest).unwrap_or(0) + 1);
    }
    assert_eq!(have, 0, "the database holds {have} records, not 0 or {n}: give an empty database");
    let now = Timestamp::now();
    let t = Instant::now();
    super::pg::write_production(&mut sink, n, now, LOAD_BATCH);
    println!("loaded {n} records in {:.1} s", t.elapsed().as_secs_f64());
    now
}

/// Runs the phase against `url` with `n` records, `reps` repetitions per query.
pub fn run(url: &str, n: u64, reps: usize) -> Vec<String> {
    let now = load(url, n);
    let options = Options::parse(url).expect("a clickhouse:// URL");
    let store = ChStore::connect(url).expect("store").with_read_timeout(std::time::Duration::from_secs(600));
    let mut failures = Vec::new();
    let mut table: Vec<(String, Times)> = Vec::new();
    let mut check = |what: &str, got: usize, want: u64| {
        if got as u64 != want {
            failures.push(format!("ch read: {what}: {got}, by hand {want}"));
        }
    };
    let page = |f: &RecordFilter| store.records(f, PageAt::Newest, PAGE).expect("page").records.len();
    let all = RecordFilter::default();

    let (t, got) = times(reps, || page(&all));
    check("newest page", got, PAGE as u64);
    table.push(("newest 50".into(), t));
    let mut errors_hour = RecordFilter::default();
    errors_hour.min_level = Some(Level::Error);
    errors_hour.since = Some(Timestamp(now.0 - HOUR));
    let (t, _) = times(reps, || page(&errors_hour));
    table.push(("errors of the last hour".into(), t));
    let mut errors_week = errors_hour.clone();
    errors_week.since = Some(Timestamp(now.0 - 7 * DAY));
    let (t, _) = times(reps, || page(&errors_week));
    table.push(("errors of 7 days".into(), t));
    for (name, term) in [("common word", "order"), ("phrase", COMMON_TERM), ("rare word", RARE_TERM)] {
        let mut f = RecordFilter::default();
        f.text = Some(term.into());
        let (t, _) = times(reps, || page(&f));
        table.push((format!("{name} `{term}` page"), t));
    }
    let rid = request_id(n / 2);
    let (t, got) =
        times(reps, || store.related("request_id", &FieldValue::Text(rid.clone()), 100).expect("related").len());
    check("request view", got, 3);
    table.push(("request view (related)".into(), t));
    for (key, value) in [("user_id", "1286"), ("tenant", "t-7"), ("status", "failed"), ("order_id", "33333")] {
        let mut kf = RecordFilter::default();
        kf.fields.push(FieldMatch::new(key, FieldValue::Text(value.into())).expect("field"));
        let (t, _) = times(reps, || page(&kf));
        table.push((format!("context {key}={value} page"), t));
    }
    let mut lt = RecordFilter::default();
    lt.logger = Some(LoggerMatch::Tree("api".into()));
    lt.min_level = Some(Level::Warn);
    let (t, _) = times(reps, || page(&lt));
    table.push(("logger tree + warn".into(), t));
    let older = store.records(&all, PageAt::Newest, PAGE).expect("page").older.expect("older");
    let (t, got) = times(reps, || store.records(&all, PageAt::Older(older), PAGE).expect("page").records.len());
    check("second page", got, PAGE as u64);
    table.push(("page by cursor (2nd)".into(), t));
    let days = Slots::days_until(now, 0, 90).expect("slots");
    let hours = Slots::hours_until(now, 24).expect("slots");
    let (t, got) = times(reps, || {
        let h = store.histogram(&all, &days).expect("histogram");
        usize::try_from(h.slots.iter().map(|c| c.total()).sum::<u64>()).unwrap_or(0)
    });
    let (first, end) = (days.bounds()[0].0, days.bounds()[days.len()].0);
    let in_range = count(&options, &format!("SELECT count() FROM log_records WHERE ts >= {first} AND ts < {end}"));
    check("histogram 90 d total", got, in_range);
    table.push(("histogram 90 d, all".into(), t));
    let (t, _) = times(reps, || store.histogram(&errors_week, &hours).expect("histogram").slots.len());
    table.push(("histogram 24 h, errors".into(), t));
    let (t, _) = times(reps, || store.cards(&CardsQuery::new(days.clone(), now)).expect("cards").cards.len());
    table.push(("cards 90 d".into(), t));
    for (name, span) in [("call sites 24 h", DAY), ("call sites 7 d", 7 * DAY)] {
        let mut cf = RecordFilter::default();
        cf.since = Some(Timestamp(now.0 - span));
        let (t, _) = times(reps, || store.call_sites(&cf, 50).expect("sites").len());
        table.push((name.into(), t));
    }

    println!("\nClickHouse read phase: {n} records on {} shard(s), {reps} repetitions (ms)", options.hosts().len());
    println!("{:<34} {:>9} {:>9}", "query", "p50", "p95");
    for (name, (p50, p95)) in &table {
        println!("{name:<34} {p50:>9.1} {p95:>9.1}");
    }
    failures
}
