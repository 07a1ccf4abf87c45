//! The read side on data shaped like production's (issue 24): 24 loggers
//! in trees with quiet members inside busy trees, 3 apps on 6 hosts, skewed
//! context values (ten hot users and a long tail, two big tenants, unique
//! order ids, numeric statuses and latencies), multi-line errors, three
//! incident hours, records over 90 days. Each task the command and the
//! panel offer is timed through `SqliteStore` in process, the built
//! `log-panel` command, the panel (`log-panel serve`), beside the naive SQL
//! a user would type into `sqlite3` and `rg` / `grep -E` over the records
//! exported as NDJSON, alternating in the same run.
//!
//! ```text
//! log-panel-bench --hostile-fill /work/data/ctx/10m.db 10000000
//! log-panel-bench --hostile-query /work/data/ctx/10m.db 20 [EXPORT.ndjson]
//! ```
//!
//! `HOSTILE_TASKS=tree,errors` runs only the tasks whose name contains one
//! of the words. The database and the export are kept between runs (generating 10 M
//! records takes minutes); delete them by hand.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::Store;
use log_panel_query::{FieldRange, LoggerMatch, PageAt, RangeOp, RecordFilter, Slots, DAY};
use log_panel_sqlite::{SqliteSink, SqliteStore};
use rusqlite::Connection;
use serde_json::json;

/// The 24 loggers with their share of records in 10 000: busy trees
/// (`api::`, `billing::`, `db::`, `worker::`, `auth::`) with quiet members
/// (`api::admin`, `billing::tax` log only DEBUG, `api::health` only INFO,
/// `metrics` only TRACE, `api::audit` INFO with a WARN once in 200 000).
const LOGGERS: [(&str, u64); 24] = [
    ("api::http", 2_700),
    ("api::auth", 800),
    ("api::admin", 40),
    ("api::audit", 100),
    ("api::search", 400),
    ("api::upload", 200),
    ("api::ws", 300),
    ("api::health", 500),
    ("billing::payments", 900),
    ("billing::invoices", 250),
    ("billing::refunds", 60),
    ("billing::tax", 90),
    ("db::pool", 900),
    ("db::migrate", 10),
    ("db::query", 700),
    ("worker::jobs", 800),
    ("worker::cron", 100),
    ("worker::retry", 150),
    ("cache", 400),
    ("mailer", 120),
    ("auth::session", 300),
    ("auth::oauth", 80),
    ("metrics", 60),
    ("scheduler", 40),
];

/// Hours (of the 2 160 the data spans) with an incident: a third of
/// `api::http`'s records are errors then.
const INCIDENT_HOURS: [u64; 3] = [500, 1_500, 2_100];

/// A user in the long tail: about 50 records of 10 M.
pub const RARE_USER: u64 = 10_286;

/// A cheap, well-mixed hash of `i` (splitmix64), so skew is deterministic.
fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i.wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn logger(i: u64) -> &'static str {
    let mut x = mix(i, 1) % 10_000;
    for (name, share) in LOGGERS {
        if x < share {
            return name;
        }
        x -= share;
    }
    LOGGERS[0].0
}

fn level(i: u64, logger: &str, incident: bool) -> Level {
    match logger {
        "api::http" if incident && mix(i, 13).is_multiple_of(3) => Level::Error,
        "api::admin" | "billing::tax" => Level::Debug,
        "api::health" => Level::Info,
        "metrics" => Level::Trace,
        "api::audit" if mix(i, 2).is_multiple_of(200_000) => Level::Warn,
        "api::audit" => Level::Info,
        _ => match mix(i, 3) % 1_000 {
            0..=9 => Level::Error,
            10..=59 => Level::Warn,
            60..=699 => Level::Info,
            700..=949 => Level::Debug,
            _ => Level::Trace,
        },
    }
}

fn record(i: u64, n: u64, ts: i64) -> Record {
    let name = logger(i);
    let hour = i * 2_160 / n.max(1);
    let level = level(i, name, INCIDENT_HOURS.contains(&hour));
    let h = mix(i, 4);
    let message = if i % 20_000 == 7 {
        format!("quasar checksum mismatch on shard {}", i % 97)
    } else if level == Level::Error {
        format!(
            "request failed: timeout talking to upstream {}\n    at client::call (src/client.rs:{})\n    at \
             handler::run (src/handler.rs:88)\n    at tokio::runtime::task (task.rs:42)",
            h % 31,
            h % 400
        )
    } else {
        match h % 5 {
            0 => format!("GET /api/v1/orders/{} in {}ms", h % 100_003, h % 300),
            1 => format!("user {} logged in", h % 100_000),
            2 => format!("payment {i} accepted"),
            3 => format!("connection reset by peer while reading request {}", h % 1_000),
            _ => format!("job {i} finished, {} rows written", h % 10_000),
        }
    };
    let mut r = Record::new(level, name, message);
    r.timestamp = Timestamp(ts);
    r.file = Some("src/handler.rs".into());
    r.line = Some(10 + (h % 40) as u32);
    // Half the records belong to ten hot users, the rest to 100 000.
    let user = if mix(i, 5).is_multiple_of(2) { 1 + mix(i, 6) % 10 } else { 1 + mix(i, 7) % 100_000 };
    let tenant = match mix(i, 8) % 10 {
        0..=5 => "acme".to_owned(),
        6..=8 => "globex".to_owned(),
        _ => format!("t{}", mix(i, 9) % 500),
    };
    let mut ctx =
        vec![("request_id", json!(format!("req-{}", i / 3))), ("user_id", json!(user)), ("tenant", json!(tenant))];
    if mix(i, 10).is_multiple_of(5) {
        ctx.push(("order_id", json!(format!("ord-{}", i / 5))));
    }
    if name == "api::http" {
        let status = match mix(i, 11) % 1_000 {
            0..=9 => 500,
            10..=14 => 503,
            15..=64 => 404,
            _ => 200,
        };
        ctx.push(("status", json!(status)));
        ctx.push(("latency_ms", json!((mix(i, 12) % 30_000) as f64 / 10.0)));
    }
    for (k, v) in ctx {
        r.kv.push((k.into(), Value::from_json(v)));
    }
    r
}

/// `--hostile-fill DB N`: N records over the 90 days before now through
/// `SqliteSink`, then every index caught up by idle steps. Prints one JSON line.
pub fn fill(db: &Path, n: u64) {
    let now = Timestamp::now().0;
    let step = (90 * DAY / n.max(1) as i64).max(1);
    // Three apps on six hosts: host-k runs app k % 3.
    let apps = ["api", "worker", "billing"];
    let origins: Vec<Origin> = (0..6).map(|k| Origin::new(apps[k % 3], format!("host-{k}"), k as u32 + 1)).collect();
    let mut sink = SqliteSink::open(db).expect("open");
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + 1_000).min(n);
        let batch: Vec<Record> = (i..end).map(|j| record(j, n, now - 90 * DAY + j as i64 * step)).collect();
        sink.write(&Batch::new(&origins[((i / 1_000) % 6) as usize], &batch)).expect("write");
        i = end;
        if i.is_multiple_of(1_000_000) {
            eprintln!("hostile fill: {i} records in {:.0} s", t.elapsed().as_secs_f64());
        }
    }
    let write_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut steps = 0_u64;
    while sink.idle().expect("idle") {
        steps += 1;
        if steps.is_multiple_of(2_000) {
            eprintln!("hostile fill: {steps} idle steps in {:.0} s", t.elapsed().as_secs_f64());
        }
    }
    let index_secs = t.elapsed().as_secs_f64();
    drop(sink);
    let conn = Connection::open(db).expect("open for the checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    println!(
        "{}",
        json!({"records": n, "write_per_sec": n as f64 / write_secs, "index_seconds": index_secs,
               "bytes": std::fs::metadata(db).map(|m| m.len()).unwrap_or(0)})
    );
}

/// `--hostile-index DB`: indexes what `--hostile-fill`'s idle steps left,
/// 20 000 records a transaction (the idle steps, sized for a writer's
/// latency, index a few thousand records a second on a loaded machine).
pub fn catch_up(db: &Path) {
    let mut sink = SqliteSink::open(db).expect("open");
    let t = Instant::now();
    let steps = sink.catch_up_indexes(20_000).expect("catch up");
    drop(sink);
    let conn = Connection::open(db).expect("open for the checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    println!("{}", json!({"steps": steps, "seconds": t.elapsed().as_secs_f64()}));
}

/// `--hostile-merge DB`: the writer's idle steps on a file with nothing to
/// index and no batch arriving (a file that went quiet): calls
/// `Sink::idle` until it says no work remains, timing each step (the time
/// a batch arriving meanwhile would wait), then checkpoints.
pub fn merge_idle(db: &Path) {
    let mut sink = SqliteSink::open(db).expect("open");
    let t = Instant::now();
    let mut steps = Vec::new();
    loop {
        let s = Instant::now();
        let more = sink.idle().expect("idle step");
        steps.push(s.elapsed());
        if !more {
            break;
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    drop(sink);
    let conn = Connection::open(db).expect("open for the checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    let n = steps.len();
    steps.sort();
    let ms = |q: f64| steps[((n - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{}",
        json!({"steps": n, "seconds": seconds, "step_ms_p50": ms(0.5), "step_ms_p99": ms(0.99),
               "step_ms_p999": ms(0.999), "step_ms_max": ms(1.0),
               "steps_over_10ms": steps.iter().filter(|d| d.as_millis() > 10).count(),
               "steps_over_50ms": steps.iter().filter(|d| d.as_millis() > 50).count()})
    );
}

/// p50 and p95 of `samples`, in ms (`-` when there are none).
fn quantiles(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "–".to_owned();
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!("{:.1} / {:.1}", pick(0.5), pick(0.95))
}

/// What a task reads: a page of records, or the call sites.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Records,
    Sites,
}

/// One task as each tool is given it: the store's filter, the command's
/// flags, the panel's query string, the naive SQL typed into `sqlite3`,
/// and a regular expression for `rg` and `grep -E` over the NDJSON export.
struct Task {
    name: &'static str,
    kind: Kind,
    filter: RecordFilter,
    /// Flags after `query`/`sites`; `None` when the command has no flag for it.
    cli: Option<Vec<String>>,
    /// The panel's query string (`/records?…`, `/sites?…`); `None` when the form has no field for it.
    web: Option<String>,
    naive: String,
    grep: Option<String>,
}

/// A span typed as `24h` or `7d`, as the time it starts before `now`, the
/// data's newest record: the command and the panel are given the time the
/// store's filter has, not a span before the clock (a file written hours
/// ago would hold fewer hours of a day than the store's day).
fn absolute(span: &str, now: i64) -> Option<String> {
    let (n, unit) = span.split_at(span.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    let unit = match unit {
        "h" => DAY / 24,
        "d" => DAY,
        _ => return None,
    };
    Some(Timestamp(now - n * unit).to_rfc3339())
}

/// The command's flags with each `--since SPAN` given as a time ([`absolute`]).
fn absolute_flags(mut flags: Vec<String>, now: i64) -> Vec<String> {
    for i in 1..flags.len() {
        if flags[i - 1] == "--since" {
            if let Some(at) = absolute(&flags[i], now) {
                flags[i] = at;
            }
        }
    }
    flags
}

/// The panel's query string with `since=SPAN` given as a time ([`absolute`]).
fn absolute_query(query: &str, now: i64) -> String {
    let (path, params) = query.split_once('?').unwrap_or((query, ""));
    let params: Vec<String> = params
        .split('&')
        .map(|p| match p.strip_prefix("since=").and_then(|span| absolute(span, now)) {
            Some(at) => format!("since={}", at.replace(':', "%3A").replace('+', "%2B")),
            None => p.to_owned(),
        })
        .collect();
    if params.iter().all(String::is_empty) {
        path.to_owned()
    } else {
        format!("{path}?{}", params.join("&"))
    }
}

fn tasks(now: i64) -> Vec<Task> {
    let since = |days: i64| Timestamp(now - days * DAY);
    let lit = |t: Timestamp| format!("'{}'", t.to_rfc3339());
    let order = " ORDER BY ts DESC, id DESC LIMIT 50";
    let sel = "SELECT id, ts, level, logger, message, context FROM log_records";
    let sites = |days: i64| {
        format!(
            "SELECT logger, file, line, count(*) FROM log_records WHERE ts >= {} \
             GROUP BY logger, file, line ORDER BY count(*) DESC LIMIT 20",
            lit(since(days))
        )
    };
    let args = |a: &[&str]| Some(a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    let mut out = Vec::new();
    let mut add = |name,
                   kind,
                   edit: &dyn Fn(&mut RecordFilter),
                   cli: Option<Vec<String>>,
                   web: Option<&str>,
                   naive: String,
                   grep: Option<&str>| {
        let mut filter = RecordFilter::default();
        edit(&mut filter);
        let cli = cli.map(|flags: Vec<String>| absolute_flags(flags, now));
        let web = web.map(|q| absolute_query(q, now));
        out.push(Task { name, kind, filter, cli, web, naive, grep: grep.map(str::to_owned) });
    };
    use Kind::{Records, Sites};
    add("newest 50", Records, &|_| {}, args(&[]), Some("/records"), format!("{sel}{order}"), None);
    add(
        "logger tree api:: + level >= warn",
        Records,
        &|f| {
            f.logger = Some(LoggerMatch::Tree("api".into()));
            f.min_level = Some(Level::Warn);
        },
        args(&["--logger", "api::", "--level", "warn"]),
        Some("/records?logger=api%3A%3A&level=warn"),
        format!("{sel} WHERE logger LIKE 'api::%' AND level >= 30{order}"),
        None,
    );
    add(
        "quiet logger api::admin + level >= warn (none)",
        Records,
        &|f| {
            f.logger = Some(LoggerMatch::Exact("api::admin".into()));
            f.min_level = Some(Level::Warn);
        },
        args(&["--logger", "api::admin", "--level", "warn"]),
        Some("/records?logger=api%3A%3Aadmin&level=warn"),
        format!("{sel} WHERE logger = 'api::admin' AND level >= 30{order}"),
        None,
    );
    add(
        "logger api::audit + level >= warn (rare)",
        Records,
        &|f| {
            f.logger = Some(LoggerMatch::Exact("api::audit".into()));
            f.min_level = Some(Level::Warn);
        },
        args(&["--logger", "api::audit", "--level", "warn"]),
        Some("/records?logger=api%3A%3Aaudit&level=warn"),
        format!("{sel} WHERE logger = 'api::audit' AND level >= 30{order}"),
        None,
    );
    add(
        "exact logger api::health, no warnings",
        Records,
        &|f| f.logger = Some(LoggerMatch::Exact("api::health".into())),
        args(&["--logger", "api::health"]),
        Some("/records?logger=api%3A%3Ahealth"),
        format!("{sel} WHERE logger = 'api::health'{order}"),
        None,
    );
    add(
        "errors of 7 days",
        Records,
        &|f| {
            f.min_level = Some(Level::Error);
            f.since = Some(since(7));
        },
        args(&["--level", "error", "--since", "7d"]),
        Some("/records?level=error&since=7d"),
        format!("{sel} WHERE level >= 40 AND ts >= {}{order}", lit(since(7))),
        None,
    );
    add(
        "all records of 90 days",
        Records,
        &|f| f.since = Some(since(90)),
        args(&["--since", "90d"]),
        Some("/records?since=90d"),
        format!("{sel} WHERE ts >= {}{order}", lit(since(90))),
        None,
    );
    add(
        "call sites of 24 h",
        Sites,
        &|f| f.since = Some(since(1)),
        args(&["--since", "24h"]),
        Some("/sites?since=24h"),
        sites(1),
        None,
    );
    add(
        "call sites of 7 days",
        Sites,
        &|f| f.since = Some(since(7)),
        args(&["--since", "7d"]),
        Some("/sites?since=7d"),
        sites(7),
        None,
    );
    add(
        "call sites of 90 days",
        Sites,
        &|f| f.since = Some(since(90)),
        args(&["--since", "90d"]),
        Some("/sites?since=90d"),
        sites(90),
        None,
    );
    let user = format!("user_id={RARE_USER}");
    add(
        "context user_id=10286 (rare)",
        Records,
        &|f| f.fields = vec![format!("user_id={RARE_USER}").parse().expect("field")],
        args(&["--context", &user]),
        Some(&format!("/records?context=user_id%3D{RARE_USER}")),
        format!("{sel} WHERE json_extract(context, '$.user_id') = {RARE_USER}{order}"),
        Some(&format!("\"user_id\":{RARE_USER}[,}}]")),
    );
    add(
        "context user_id=3 (hot)",
        Records,
        &|f| f.fields = vec!["user_id=3".parse().expect("field")],
        args(&["--context", "user_id=3"]),
        Some("/records?context=user_id%3D3"),
        format!("{sel} WHERE json_extract(context, '$.user_id') = 3{order}"),
        None,
    );
    add(
        "context tenant=t77 (rare tenant)",
        Records,
        &|f| f.fields = vec!["tenant=t77".parse().expect("field")],
        args(&["--context", "tenant=t77"]),
        Some("/records?context=tenant%3Dt77"),
        format!("{sel} WHERE json_extract(context, '$.tenant') = 't77'{order}"),
        None,
    );
    add(
        "context order_id (unique)",
        Records,
        &|f| f.fields = vec!["order_id=ord-777777".parse().expect("field")],
        args(&["--context", "order_id=ord-777777"]),
        Some("/records?context=order_id%3Dord-777777"),
        format!("{sel} WHERE json_extract(context, '$.order_id') = 'ord-777777'{order}"),
        Some("\"ord-777777\""),
    );
    add(
        "context status >= 500 (range)",
        Records,
        &|f| f.ranges = vec![FieldRange::new("status", RangeOp::Ge, 500.0).expect("range")],
        None,
        None,
        format!("{sel} WHERE json_extract(context, '$.status') >= 500{order}"),
        None,
    );
    add(
        "context latency_ms > 2999 (rare range)",
        Records,
        &|f| f.ranges = vec![FieldRange::new("latency_ms", RangeOp::Gt, 2_999.0).expect("range")],
        None,
        None,
        format!("{sel} WHERE json_extract(context, '$.latency_ms') > 2999{order}"),
        None,
    );
    add(
        "request id",
        Records,
        &|f| f.fields = vec!["request_id=req-1234567".parse().expect("field")],
        args(&["--context", "request_id=req-1234567"]),
        Some("/records?context=request_id%3Dreq-1234567"),
        format!("{sel} WHERE json_extract(context, '$.request_id') = 'req-1234567'{order}"),
        Some("\"req-1234567\""),
    );
    add(
        "rare word quasar",
        Records,
        &|f| f.text = Some("quasar".into()),
        args(&["--text", "quasar"]),
        Some("/records?q=quasar"),
        format!("{sel} WHERE message LIKE '%quasar%'{order}"),
        Some("quasar"),
    );
    add(
        "common word timeout",
        Records,
        &|f| f.text = Some("timeout".into()),
        args(&["--text", "timeout"]),
        Some("/records?q=timeout"),
        format!("{sel} WHERE message LIKE '%timeout%'{order}"),
        None,
    );
    // Search terms over spans, the page's choice between the index and the
    // walk (docs/performance.md, "Search terms: the page through the index
    // against the walk"): `job 12`'s 24 393 candidates are all in the
    // file's oldest 2 M ids, `upstream 17` is a near tie over a day. The command is given the
    // span's start as a time, the data's newest record being `now`.
    for (name, term, hours) in [
        ("word job 12, 1 h", "job 12", Some(1)),
        ("word job 12, 24 h", "job 12", Some(24)),
        ("word job 12, 7 days", "job 12", Some(7 * 24)),
        ("word job 12, 90 days", "job 12", Some(90 * 24)),
        ("word upstream 17, 24 h", "upstream 17", Some(24)),
        ("word job 123", "job 123", None),
        ("word client.rs:123)", "client.rs:123)", None),
    ] {
        let from = hours.map(|h: i64| Timestamp(now - h * DAY / 24));
        let mut flags = vec!["--text", term];
        let at = from.map(|t| t.to_rfc3339());
        if let Some(at) = &at {
            flags.extend(["--since", at.as_str()]);
        }
        let bound = from.map_or_else(String::new, |t| format!(" AND ts >= {}", lit(t)));
        add(
            name,
            Records,
            &|f| {
                f.text = Some(term.into());
                f.since = from;
            },
            args(&flags),
            None,
            format!("{sel} WHERE message LIKE '%{term}%'{bound}{order}"),
            None,
        );
    }
    // Context values over spans, the page's choice between the side table
    // and the walk (docs/performance.md, "A context value whose entries are
    // all old"): `tenant=t77`'s ~2 000 records are spread over 90 days,
    // about 22 a day, fewer than a page; `user_id=3` is a hot user.
    for (name, field, hours) in [
        ("context tenant=t77, 24 h", "tenant=t77", 24),
        ("context tenant=t77, 7 days", "tenant=t77", 7 * 24),
        ("context user_id=3, 24 h", "user_id=3", 24),
    ] {
        let from = Timestamp(now - hours * DAY / 24);
        let at = from.to_rfc3339();
        let (key, value) = field.split_once('=').expect("key=value");
        let value = if key == "tenant" { format!("'{value}'") } else { value.to_owned() };
        add(
            name,
            Records,
            &|f| {
                f.fields = vec![field.parse().expect("field")];
                f.since = Some(from);
            },
            args(&["--context", field, "--since", &at]),
            None,
            format!("{sel} WHERE json_extract(context, '$.{key}') = {value} AND ts >= {}{order}", lit(from)),
            None,
        );
    }
    add(
        "tree + warn + 7 days + text + tenant",
        Records,
        &|f| {
            f.logger = Some(LoggerMatch::Tree("api".into()));
            f.min_level = Some(Level::Warn);
            f.since = Some(since(7));
            f.text = Some("timeout".into());
            f.fields = vec!["tenant=globex".parse().expect("field")];
        },
        args(&[
            "--logger",
            "api::",
            "--level",
            "warn",
            "--since",
            "7d",
            "--text",
            "timeout",
            "--context",
            "tenant=globex",
        ]),
        Some("/records?logger=api%3A%3A&level=warn&since=7d&q=timeout&context=tenant%3Dglobex"),
        format!(
            "{sel} WHERE logger LIKE 'api::%' AND level >= 30 AND ts >= {} \
             AND message LIKE '%timeout%' AND json_extract(context, '$.tenant') = 'globex'{order}",
            lit(since(7))
        ),
        None,
    );
    add(
        "app + host + user_id (rare)",
        Records,
        &|f| {
            f.app = Some("api".into());
            f.host = Some("host-0".into());
            f.fields = vec![format!("user_id={RARE_USER}").parse().expect("field")];
        },
        args(&["--app", "api", "--host", "host-0", "--context", &user]),
        Some(&format!("/records?app=api&host=host-0&context=user_id%3D{RARE_USER}")),
        format!(
            "{sel} WHERE app = 'api' AND host = 'host-0' \
             AND json_extract(context, '$.user_id') = {RARE_USER}{order}"
        ),
        None,
    );
    add(
        "tree billing:: + errors + 24 h + user_id=3",
        Records,
        &|f| {
            f.logger = Some(LoggerMatch::Tree("billing".into()));
            f.min_level = Some(Level::Error);
            f.since = Some(since(1));
            f.fields = vec!["user_id=3".parse().expect("field")];
        },
        args(&["--logger", "billing::", "--level", "error", "--since", "24h", "--context", "user_id=3"]),
        Some("/records?logger=billing%3A%3A&level=error&since=24h&context=user_id%3D3"),
        format!(
            "{sel} WHERE logger LIKE 'billing::%' AND level >= 40 AND ts >= {} \
             AND json_extract(context, '$.user_id') = 3{order}",
            lit(since(1))
        ),
        None,
    );
    out
}

/// Rows (or lines) of one tool's answer, for the table's check that the
/// tools agree.
fn count(bytes: &[u8], sep: u8) -> usize {
    bytes.iter().filter(|&&b| b == sep).count()
}

/// `--hostile-query DB REPS [EXPORT]`: every task through the store in
/// process, the built `log-panel` command, the panel (`log-panel serve`,
/// one HTTP GET), `sqlite3` with the naive SQL, and `rg` / `grep -E` over
/// EXPORT (written with `log-panel export` when missing, kept), alternating
/// within each of REPS rounds. Prints a Markdown table of p50 / p95 ms.
pub fn query(db: &Path, reps: usize, export: Option<&Path>) {
    let store = SqliteStore::open(db).expect("store");
    // The newest record's time: "7 days" means the data's last 7 days.
    let newest = store.records(&RecordFilter::default(), PageAt::Newest, 1).expect("newest");
    let now = newest.records.first().map_or_else(|| Timestamp::now().0, |r| r.ts.0 + 1);
    let skew_days = (Timestamp::now().0 - now) as f64 / DAY as f64;
    let slots = Slots::hours_until(Timestamp(now), 24).expect("slots");
    let cli = super::cli::Cli::find();
    println!("unindexed: {}; newest record {:.2} days before now", store.unindexed().expect("unindexed"), skew_days);
    if let (Some(cli), Some(export)) = (&cli, export) {
        if !export.exists() {
            let t = Instant::now();
            let out =
                cli.command(db).args(["export", "--format", "ndjson", "-o"]).arg(export).output().expect("export");
            assert!(out.status.success(), "export: {}", String::from_utf8_lossy(&out.stderr));
            println!("export: {:.1} s", t.elapsed().as_secs_f64());
        }
        println!("export: {} bytes", std::fs::metadata(export).map(|m| m.len()).unwrap_or(0));
    }
    let server = cli.as_ref().and_then(|c| match super::load::serve(c.path(), db) {
        Ok(s) => Some(s),
        Err(e) => {
            println!("panel: {e}");
            None
        }
    });
    let addr = server.as_ref().map(|(_, a)| a.clone());
    println!(
        "| task | store p50 / p95 | rows | histogram 24 h | `log-panel` p50 / p95 | panel first | panel p50 / p95 | \
         sqlite3 naive p50 / p95 | naive rows | rg p50 / p95 | grep -E p50 / p95 | rg rows |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    // `HOSTILE_TASKS=a,b`: only the tasks whose name contains one of them.
    let only: Vec<String> = std::env::var("HOSTILE_TASKS")
        .map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    for task in tasks(now).into_iter().filter(|t| only.is_empty() || only.iter().any(|o| t.name.contains(o.as_str()))) {
        let mut t = [(); 7].map(|_| Vec::<Duration>::new());
        let (mut got, mut want, mut lines) = (0, 0, 0);
        let mut first = None;
        let mut panel_rows: Option<usize> = None;
        let mut notes = Vec::new();
        for round in 0..reps {
            // Alternating: each round starts with the next tool.
            for k in 0..7 {
                let tool = (k + round) % 7;
                let start = Instant::now();
                match tool {
                    0 => {
                        got = match task.kind {
                            Kind::Records => {
                                store.records(&task.filter, PageAt::Newest, 50).expect("records").records.len()
                            }
                            Kind::Sites => store.call_sites(&task.filter, 20).expect("sites").len(),
                        };
                    }
                    1 => {
                        if task.kind == Kind::Sites {
                            continue;
                        }
                        store.histogram(&task.filter, &slots).expect("histogram");
                    }
                    2 => {
                        let (Some(cli), Some(flags)) = (&cli, &task.cli) else { continue };
                        let mut c = cli.command(db);
                        match task.kind {
                            Kind::Records => c.args(["query", "--limit", "50", "--format", "ndjson"]),
                            Kind::Sites => c.args(["sites", "--limit", "20"]),
                        };
                        let out = c.args(flags).output().expect("log-panel");
                        if !out.status.success() {
                            notes.push(format!("log-panel: {}", String::from_utf8_lossy(&out.stderr).trim()));
                        }
                    }
                    3 => {
                        let (Some(addr), Some(path)) = (&addr, &task.web) else { continue };
                        let got_page = super::load::get(addr, path).map(|(ms, body)| {
                            // The page's record rows, checked against the store's page below.
                            let marker = b"<tr class=\"row-";
                            panel_rows = Some(body.windows(marker.len()).filter(|w| *w == marker).count());
                            ms
                        });
                        match got_page {
                            Ok(ms) if first.is_none() => {
                                first = Some(ms);
                                continue;
                            }
                            Ok(_) => {}
                            Err(e) => notes.push(format!("panel: {e}")),
                        }
                    }
                    4 => {
                        let out = Command::new("sqlite3")
                            .args(["-readonly", "-newline", "\x1e"])
                            .arg(db)
                            .arg(&task.naive)
                            .output()
                            .expect("sqlite3");
                        want = count(&out.stdout, 0x1e);
                    }
                    5 | 6 => {
                        let (Some(export), Some(pattern)) = (export, &task.grep) else { continue };
                        let out = if tool == 5 {
                            Command::new("rg").arg(pattern).arg(export).output()
                        } else {
                            Command::new("grep").arg("-E").arg(pattern).arg(export).output()
                        };
                        lines = count(&out.expect("rg/grep").stdout, b'\n');
                    }
                    _ => unreachable!("seven tools"),
                }
                t[tool].push(start.elapsed());
            }
        }
        if let (Kind::Records, Some(n)) = (task.kind, panel_rows) {
            if n != got {
                notes.push(format!("panel: {n} rows on its page, the store {got}"));
            }
        }
        notes.dedup();
        let [store_t, hist_t, cli_t, web_t, naive_t, rg_t, grep_t] = &mut t;
        let mark = if got == want { "" } else { " ≠" };
        println!(
            "| {} | {} | {got}{mark} | {} | {} | {} | {} | {} | {want} | {} | {} | {} |{}",
            task.name,
            quantiles(store_t),
            quantiles(hist_t),
            quantiles(cli_t),
            first.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1}")),
            quantiles(web_t),
            quantiles(naive_t),
            quantiles(rg_t),
            quantiles(grep_t),
            if task.grep.is_some() { lines.to_string() } else { "–".to_owned() },
            if notes.is_empty() { String::new() } else { format!(" {}", notes.join("; ")) },
        );
        let _ = std::io::stdout().flush();
    }
    if let Some((mut child, _)) = server {
        let _ = child.kill();
        let _ = child.wait();
    }
    if std::env::var_os("HOSTILE_ESTIMATE").is_some() {
        estimates(&store, &tasks(now), now, &only);
    }
}

/// `HOSTILE_ESTIMATE=1`: for each records task, the 91-day daily histogram
/// the panel draws (`histogram_estimate`) beside the exact one: how long the
/// estimate took, its total against the exact total, and how far its bars
/// are from the exact bars (the bars with at least 100 exact matches).
fn estimates(store: &SqliteStore, tasks: &[Task], now: i64, only: &[String]) {
    let slots = Slots::days_until(Timestamp(now), 0, 91).expect("slots");
    println!(
        "\n| task (91 days, 91 bars) | estimate ms | read | estimated / exact | bars ≥ 100: median / max off | uncertain bars | exact outside its range |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for task in tasks.iter().filter(|t| t.kind == Kind::Records) {
        if !only.is_empty() && !only.iter().any(|o| task.name.contains(o.as_str())) {
            continue;
        }
        let exact = store.histogram(&task.filter, &slots).expect("histogram");
        let start = Instant::now();
        let estimate = store.histogram_estimate(&task.filter, &slots).expect("estimate");
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let total = |h: &log_panel_query::Histogram| h.slots.iter().map(|c| c.total()).sum::<u64>();
        let mut off: Vec<f64> = exact
            .slots
            .iter()
            .zip(&estimate.slots)
            .filter(|(x, _)| x.total() >= 100)
            .map(|(x, e)| (e.total() as f64 - x.total() as f64).abs() / x.total() as f64 * 100.0)
            .collect();
        off.sort_by(f64::total_cmp);
        let read = estimate.sample.map_or_else(|| "exact".to_owned(), |s| format!("{:.2} %", s.percent()));
        let bars = match (off.get(off.len() / 2), off.last()) {
            (Some(m), Some(x)) => format!("{m:.0} % / {x:.0} % ({} bars)", off.len()),
            _ => "–".to_owned(),
        };
        // How honest the bars are: how many the panel draws as uncertain, and
        // how many exact totals fall outside their bar's range.
        let uncertain = (0..estimate.slots.len()).filter(|&i| estimate.is_uncertain(i)).count();
        let outside = exact
            .slots
            .iter()
            .enumerate()
            .filter(|(i, x)| estimate.range(*i).is_some_and(|(low, high)| !(low..=high).contains(&x.total())))
            .count();
        println!(
            "| {} | {ms:.1} | {read} | {} / {} | {bars} | {uncertain} | {outside} |",
            task.name,
            total(&estimate),
            total(&exact)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_the_times_the_store_is_given() {
        let now = 1_795_132_800_000_000; // 2026-11-19T00:00:00Z
        let day_before = Timestamp(now - DAY).to_rfc3339();
        assert_eq!(
            absolute_flags(vec!["--level".into(), "error".into(), "--since".into(), "24h".into()], now),
            ["--level", "error", "--since", day_before.as_str()]
        );
        let at = Timestamp(now - 7 * DAY).to_rfc3339().replace(':', "%3A").replace('+', "%2B");
        assert_eq!(
            absolute_query("/records?level=warn&since=7d&q=x", now),
            format!("/records?level=warn&since={at}&q=x")
        );
        assert_eq!(absolute_query("/sites?since=soon", now), "/sites?since=soon");
        assert_eq!(absolute_query("/records", now), "/records");
    }
}
