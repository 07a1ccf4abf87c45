//! The read phase on PostgreSQL (issue 24): the read phase's records (same
//! generator, 90 days, 8 loggers, a request id per 3 records) written
//! through `PgSink` into a database given by URL, the search side table
//! caught up, then p50 / p95 of `PgStore`'s queries beside the naive SQL a
//! user would type in `psql`, alternating, each answer's size checked.
//!
//! ```text
//! log-panel-bench --pg-read postgres://postgres@127.0.0.1:5432/bench 2000000 20
//! ```
//!
//! A database that already holds exactly N records is reused as it is (the
//! load takes minutes at 10 M); any other count is refused.

use std::time::Instant;

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_postgres::{PgMaintenance, PgSink, PgStore};
use log_panel_query::Store;
use log_panel_query::{FieldMatch, FieldValue, LoggerMatch, PageAt, RecordFilter, Slots, DAY};
use postgres::{Client, NoTls};

use super::{request_id, Gen, APPS, COMMON_TERM, RARE_TERM};

/// Records per `PgSink` batch while loading.
const LOAD_BATCH: u64 = 10_000;
const PAGE: usize = 50;
/// The common word of the issue (`GET /api/v1/orders/…`: one record in 6).
const WORD: &str = "order";

/// p50 and p95, in milliseconds.
type Times = (f64, f64);

/// One alternating measurement: our times, the naive SQL's, and the last answers' sizes.
struct Measured {
    ours: Times,
    naive: Option<Times>,
    got: usize,
    want: Option<usize>,
}

fn samples_ms(samples: &mut [f64]) -> Times {
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (pick(0.5), pick(0.95))
}

/// Times `ours` and `naive` alternately `reps` times each; p50 / p95 (ms) and
/// the last answer sizes.
fn alternate(reps: usize, mut ours: impl FnMut() -> usize, mut naive: Option<&mut dyn FnMut() -> usize>) -> Measured {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut got, mut naive_got) = (0, None);
    for _ in 0..reps {
        let t = Instant::now();
        got = ours();
        a.push(t.elapsed().as_secs_f64() * 1e3);
        if let Some(n) = naive.as_mut() {
            let t = Instant::now();
            naive_got = Some(n());
            b.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let naive_times = (!b.is_empty()).then(|| samples_ms(&mut b));
    Measured { ours: samples_ms(&mut a), naive: naive_times, got, want: naive_got }
}

fn rows(client: &mut Client, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> usize {
    client.query(sql, params).expect("naive SQL").len()
}

/// The tenant of record `i`: skewed as production is, half of all records
/// from one tenant (`acme`), a quarter from 3 more, the rest over 400.
fn tenant(i: u64) -> String {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match h % 8 {
        0..=3 => "acme".to_owned(),
        4 | 5 => format!("big-{}", h % 3),
        _ => format!("t-{}", h % 400),
    }
}

/// The `status` of record `i`: `ok` for 90 %, a handful of rare values.
fn status(i: u64) -> &'static str {
    match i % 100 {
        0..=89 => "ok",
        90..=95 => "retry",
        96..=98 => "timeout",
        _ => "failed",
    }
}

/// Context keys besides the generator's `request_id` and `user_id`, shaped
/// like an application's (issue 24): a skewed `tenant`, a `status` with one
/// dominant value, and an `order_id` on the order records only (one in 6),
/// each order seen about 3 times.
fn production_keys(i: u64, r: &mut Record) {
    r.kv.push(("tenant".into(), Value::from_json(serde_json::json!(tenant(i)))));
    r.kv.push(("status".into(), Value::from_json(serde_json::json!(status(i)))));
    if i.is_multiple_of(6) {
        r.kv.push(("order_id".into(), Value::from_json(serde_json::json!(i / 18))));
    }
}

/// Writes the phase's `n` records ending at `now` into `sink`, `batch` a
/// batch, with the production-shaped context keys: the load of every
/// storage's read phase.
pub(super) fn write_production(sink: &mut dyn Sink, n: u64, now: Timestamp, batch: u64) {
    let gen = Gen::over_90_days(n, now);
    let origins: Vec<Origin> = APPS.iter().enumerate().map(|(k, a)| Origin::new(*a, "bench", k as u32 + 1)).collect();
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let mut records = gen.batch(i..end);
        for (j, r) in (i..end).zip(records.iter_mut()) {
            production_keys(j, r);
        }
        sink.write(&Batch::new(&origins[((i / batch) % 3) as usize], &records)).expect("write");
        i = end;
    }
}

/// Loads `n` records unless the database holds them already; returns the
/// records' time span start (the generator's `now`).
fn load(url: &str, n: u64) -> Timestamp {
    // Creates or migrates the schema.
    let mut sink = PgSink::connect(url).expect("sink");
    let mut client = Client::connect(url, NoTls).expect("connect");
    let have: i64 =
        client.query_one("SELECT count(*) FROM log_records", &[]).and_then(|r| r.try_get(0)).expect("count");
    if have as u64 == n {
        let newest: std::time::SystemTime =
            client.query_one("SELECT max(ts) FROM log_records", &[]).and_then(|r| r.try_get(0)).expect("newest");
        let micros = newest.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        println!("reusing the {n} records in the database");
        return Timestamp(micros + 1);
    }
    assert_eq!(have, 0, "the database holds {have} records, not 0 or {n}: give an empty database");
    let now = Timestamp::now();
    let t = Instant::now();
    write_production(&mut sink, n, now, LOAD_BATCH);
    println!("loaded {n} records in {:.1} s", t.elapsed().as_secs_f64());
    drop(sink);
    let t = Instant::now();
    PgMaintenance::connect(url).expect("maintenance").catch_up_search().expect("catch up");
    println!("search side table caught up in {:.1} s", t.elapsed().as_secs_f64());
    client.batch_execute("VACUUM ANALYZE").expect("analyze");
    now
}

/// Runs the phase against `url` with `n` records, `reps` repetitions per query.
pub fn run(url: &str, n: u64, reps: usize) -> Vec<String> {
    let now = load(url, n);
    // The naive SQL has no time budget; nor has the store here (a common
    // word's histogram reads every row, seconds on a loaded machine).
    let store = PgStore::connect(url).expect("store").with_read_timeout(std::time::Duration::from_secs(600));
    let mut raw = Client::connect(url, NoTls).expect("connect");
    let mut failures = Vec::new();
    let mut table: Vec<(String, Times, Option<Times>)> = Vec::new();
    let mut check = |what: &str, got: usize, want: Option<usize>| {
        if let Some(want) = want {
            if got != want {
                failures.push(format!("pg read: {what}: {got}, naive {want}"));
            }
        }
    };
    let all = RecordFilter::default();

    // Text: the records page (what `log-panel query --text` and the web list read).
    for (name, term) in [("common word", WORD), ("phrase", COMMON_TERM), ("rare word", RARE_TERM)] {
        let mut f = RecordFilter::default();
        f.text = Some(term.into());
        let like = format!("%{term}%");
        let Measured { ours, naive, got, want } = alternate(
            reps,
            || store.records(&f, PageAt::Newest, PAGE).expect("search").records.len(),
            Some(&mut || {
                rows(
                    &mut raw,
                    "SELECT * FROM log_records WHERE message ILIKE $1 ORDER BY ts DESC, id DESC LIMIT 50",
                    &[&like],
                )
            }),
        );
        check(name, got, want);
        table.push((format!("{name} `{term}` page"), ours, naive));
        // What the web list adds: the oldest match (the histogram's window) and the histogram.
        let slots = Slots::days_until(now, 0, 91).expect("slots");
        let before_all = log_panel_query::Cursor { ts: Timestamp(i64::MIN / 2), id: i64::MIN };
        let Measured { ours, naive, .. } = alternate(
            reps.min(3),
            || store.records(&f, PageAt::Newer(before_all), 1).expect("oldest").records.len(),
            Some(&mut || {
                rows(
                    &mut raw,
                    "SELECT * FROM log_records WHERE message ILIKE $1 ORDER BY ts ASC, id ASC LIMIT 1",
                    &[&like],
                )
            }),
        );
        table.push((format!("{name} oldest match"), ours, naive));
        let Measured { ours, naive, .. } = alternate(
            reps.min(3),
            || store.histogram(&f, &slots).expect("histogram").slots.len(),
            Some(&mut || {
                rows(
                    &mut raw,
                    "SELECT date_trunc('day', ts), level, count(*) FROM log_records WHERE message ILIKE $1 GROUP BY 1, 2",
                    &[&like],
                )
            }),
        );
        table.push((format!("{name} histogram 91 d"), ours, naive));
        // What the records page draws: the estimate where the exact count is expensive.
        let exact: u64 = store.histogram(&f, &slots).expect("histogram").slots.iter().map(|c| c.total()).sum();
        let mut drawn = None;
        let Measured { ours, .. } = alternate(
            reps,
            || {
                let h = store.histogram_estimate(&f, &slots).expect("estimate");
                drawn = Some((h.slots.iter().map(|c| c.total()).sum::<u64>(), h.sample));
                h.slots.len()
            },
            None,
        );
        let how = match drawn {
            Some((total, Some(sample))) => {
                format!("estimated from {:.2} %: {total} of {exact}", sample.percent())
            }
            Some((total, None)) => format!("exact: {total}"),
            None => String::new(),
        };
        table.push((format!("{name} histogram 91 d, panel ({how})"), ours, None));
    }

    // The request view and `--request`.
    let rid = request_id(n / 2);
    let Measured { ours, naive, got, want } = alternate(
        reps,
        || store.related("request_id", &FieldValue::Text(rid.clone()), 100).expect("related").len(),
        Some(&mut || {
            rows(&mut raw, "SELECT * FROM log_records WHERE context->>'request_id' = $1 ORDER BY ts, id", &[&rid])
        }),
    );
    check("request", got, want);
    table.push(("request view (related)".into(), ours, naive));
    let mut rf = RecordFilter::default();
    rf.fields.push(FieldMatch::new("request_id", FieldValue::Text(rid.clone())).expect("field"));
    let Measured { ours, got, .. } =
        alternate(reps, || store.records(&rf, PageAt::Newest, PAGE).expect("page").records.len(), None);
    check("request page", got, Some(3));
    table.push(("request page (records)".into(), ours, None));

    // Another context key.
    let mut uf = RecordFilter::default();
    uf.fields.push(FieldMatch::new("user_id", FieldValue::Text("1286".into())).expect("field"));
    let Measured { ours, naive, got, want } = alternate(
        reps,
        || store.records(&uf, PageAt::Newest, PAGE).expect("page").records.len(),
        Some(&mut || {
            rows(
                &mut raw,
                "SELECT * FROM log_records WHERE context->>'user_id' = '1286' ORDER BY ts DESC, id DESC LIMIT 51",
                &[],
            )
        }),
    );
    check("user_id page", got.min(PAGE), want.map(|w| w.min(PAGE)));
    table.push(("context user_id page".into(), ours, naive));

    // The CLI's keyset page by cursor, about a tenth into the records.
    let mut cursor = store.records(&all, PageAt::Newest, PAGE).expect("page").older.expect("older");
    let id = i64::try_from(n - n / 10).unwrap_or(1);
    let row = raw.query_one("SELECT ts FROM log_records WHERE id = $1", &[&id]).expect("ts");
    let ts: std::time::SystemTime = row.get(0);
    cursor.id = id;
    cursor.ts = Timestamp(ts.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64));
    let Measured { ours, naive, got, want } = alternate(
        reps,
        || store.records(&all, PageAt::Older(cursor), PAGE).expect("page").records.len(),
        Some(&mut || {
            rows(
                &mut raw,
                "SELECT * FROM log_records WHERE (ts, id) < ($1, $2) ORDER BY ts DESC, id DESC LIMIT 50",
                &[&ts, &id],
            )
        }),
    );
    check("cursor page", got, want);
    table.push(("page by cursor".into(), ours, naive));
    let mut lt = RecordFilter::default();
    lt.logger = Some(LoggerMatch::Tree("api".into()));
    lt.min_level = Some(Level::Warn);
    let Measured { ours, naive, got, want } = alternate(
        reps,
        || store.records(&lt, PageAt::Older(cursor), PAGE).expect("page").records.len(),
        Some(&mut || {
            rows(
                &mut raw,
                "SELECT * FROM log_records WHERE logger LIKE 'api::%' AND level >= 30 AND (ts, id) < ($1, $2)
                 ORDER BY ts DESC, id DESC LIMIT 50",
                &[&ts, &id],
            )
        }),
    );
    check("tree page by cursor", got, want);
    table.push(("logger tree + warn by cursor".into(), ours, naive));

    // Call sites of the last 24 h, 7 days, and the whole 90 days.
    for (name, span) in [("call sites 24 h", DAY), ("call sites 7 d", 7 * DAY), ("call sites 90 d", 90 * DAY)] {
        let mut cf = RecordFilter::default();
        cf.since = Some(Timestamp(now.0 - span));
        let since = log_panel_postgres_time(cf.since.unwrap_or(now));
        let Measured { ours, naive, got, want } = alternate(
            reps.min(10),
            || store.call_sites(&cf, 50).expect("sites").len(),
            Some(&mut || {
                rows(
                    &mut raw,
                    "SELECT logger, file, line, level, count(*), max(ts) FROM log_records WHERE ts >= $1
                     GROUP BY 1, 2, 3, 4",
                    &[&since],
                )
            }),
        );
        check(name, got, want.map(|w| w.min(got)));
        table.push((name.into(), ours, naive));
    }

    // Other context keys: a skewed one's common value, a rare status, one order.
    for (key, value) in [("tenant", "acme"), ("tenant", "t-7"), ("status", "failed"), ("order_id", "33333")] {
        let mut kf = RecordFilter::default();
        kf.fields.push(FieldMatch::new(key, FieldValue::Text(value.into())).expect("field"));
        let naive_sql = "SELECT * FROM log_records WHERE context->>$1 = $2 ORDER BY ts DESC, id DESC LIMIT 51";
        let Measured { ours, naive, got, want } = alternate(
            reps,
            || store.records(&kf, PageAt::Newest, PAGE).expect("page").records.len(),
            Some(&mut || rows(&mut raw, naive_sql, &[&key, &value])),
        );
        check(&format!("{key}={value} page"), got.min(PAGE), want.map(|w| w.min(PAGE)));
        table.push((format!("context {key}={value} page"), ours, naive));
    }

    let cli_table = match super::cli::Cli::find() {
        Some(cli) => cli_tasks(&cli, url, &rid, reps, &mut failures),
        None => Vec::new(),
    };

    println!("\nPostgreSQL read phase: {n} records, {reps} repetitions (ms), alternating with the naive SQL");
    println!("{:<34} {:>9} {:>9} {:>11} {:>11}", "query", "p50", "p95", "naive p50", "naive p95");
    for (name, (p50, p95), naive) in &table {
        let mut line = format!("{name:<34} {p50:>9.1} {p95:>9.1}");
        if let Some((a, b)) = naive {
            line += &format!(" {a:>11.1} {b:>11.1}");
        }
        println!("{line}");
    }
    if !cli_table.is_empty() {
        println!("\nThe built log-panel command beside psql -c (processes, both sides; ms)");
        println!("{:<34} {:>9} {:>9} {:>11} {:>11}", "command", "p50", "p95", "psql p50", "psql p95");
        for (name, (p50, p95), naive) in &cli_table {
            let mut line = format!("{name:<34} {p50:>9.1} {p95:>9.1}");
            if let Some((a, b)) = naive {
                line += &format!(" {a:>11.1} {b:>11.1}");
            }
            println!("{line}");
        }
    }
    failures
}

/// `psql` of the same installation as the server binaries, if found.
fn psql() -> Option<std::path::PathBuf> {
    log_panel_testing::postgres::find_binaries().map(|d| d.join("psql")).filter(|p| p.is_file())
}

/// Lines a command printed on stdout (its answer size), failures noted.
fn lines_of(mut cmd: std::process::Command, what: &str, failures: &mut Vec<String>) -> usize {
    match cmd.output() {
        Ok(out) if out.status.success() => out.stdout.iter().filter(|&&b| b == b'\n').count(),
        Ok(out) => {
            failures.push(format!(
                "pg read: {what}: exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
            0
        }
        Err(e) => {
            failures.push(format!("pg read: {what}: {e}"));
            0
        }
    }
}

/// The issue's command-line tasks, as processes: `log-panel query …` beside
/// `psql -c` with the SQL a user would type, alternating.
fn cli_tasks(
    cli: &super::cli::Cli,
    url: &str,
    rid: &str,
    reps: usize,
    failures: &mut Vec<String>,
) -> Vec<(String, Times, Option<Times>)> {
    let Some(psql) = psql() else {
        println!("pg read: no psql found; the command-line tasks are skipped");
        return Vec::new();
    };
    let tasks: Vec<(&str, Vec<String>, String)> = vec![
        (
            "--request",
            vec!["--request".into(), rid.into()],
            format!("SELECT id FROM log_records WHERE context->>'request_id' = '{rid}' ORDER BY ts, id"),
        ),
        (
            "--limit 200 (4 keyset pages)",
            vec!["--limit".into(), "200".into()],
            "SELECT id FROM log_records ORDER BY ts DESC, id DESC LIMIT 200".into(),
        ),
        (
            "--text order --limit 50",
            vec!["--text".into(), WORD.into(), "--limit".into(), "50".into()],
            format!("SELECT id FROM log_records WHERE message ILIKE '%{WORD}%' ORDER BY ts DESC, id DESC LIMIT 50"),
        ),
        (
            "--text quasar --limit 50",
            vec!["--text".into(), RARE_TERM.into(), "--limit".into(), "50".into()],
            format!(
                "SELECT id FROM log_records WHERE message ILIKE '%{RARE_TERM}%' ORDER BY ts DESC, id DESC LIMIT 50"
            ),
        ),
        (
            "--context user_id=1286 --limit 50",
            vec!["--context".into(), "user_id=1286".into(), "--limit".into(), "50".into()],
            "SELECT id FROM log_records WHERE context->>'user_id' = '1286' ORDER BY ts DESC, id DESC LIMIT 50".into(),
        ),
        (
            "--context tenant=t-7 --limit 50",
            vec!["--context".into(), "tenant=t-7".into(), "--limit".into(), "50".into()],
            "SELECT id FROM log_records WHERE context->>'tenant' = 't-7' ORDER BY ts DESC, id DESC LIMIT 50".into(),
        ),
        (
            "--logger api:: --level warn --limit 50",
            vec!["--logger".into(), "api::".into(), "--level".into(), "warn".into(), "--limit".into(), "50".into()],
            "SELECT id FROM log_records WHERE logger LIKE 'api::%' AND level >= 30 ORDER BY ts DESC, id DESC LIMIT 50"
                .into(),
        ),
    ];
    let mut out = Vec::new();
    for (name, args, sql) in tasks {
        let ours = || {
            let mut c = std::process::Command::new(cli.path());
            c.arg("--db").arg(url).arg("--color").arg("never").env("NO_COLOR", "1");
            c.arg("query").args(&args).arg("--format").arg("ndjson");
            c
        };
        let naive = || {
            let mut c = std::process::Command::new(&psql);
            c.arg("-X").arg("-q").arg("-A").arg("-t").arg("-d").arg(url).arg("-c").arg(&sql);
            c
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut got, mut want) = (0, 0);
        for _ in 0..reps {
            let t = Instant::now();
            got = lines_of(ours(), name, failures);
            a.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            want = lines_of(naive(), name, failures);
            b.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if got != want {
            failures.push(format!("pg read: command {name}: {got} lines, psql {want}"));
        }
        out.push((format!("query {name}"), samples_ms(&mut a), Some(samples_ms(&mut b))));
    }
    out
}

fn log_panel_postgres_time(t: Timestamp) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_micros(u64::try_from(t.0).unwrap_or(0))
}
