//! The panel under load (issue 21): an application logging through
//! log-panel into a SQLite file of N records while `log-panel serve` answers
//! records-page and search requests; the writer's records/s alone and with
//! the panel, each page's p50 / p95 / p99, the WAL file's largest size.
//!
//! Everything measured runs as built binaries given by path, so that two
//! builds (an old commit's and a new one's) are measured in the same run,
//! alternating: a *side* is a bench binary (its `--load-fill` and
//! `--load-writer` modes are the application, linked with that build's
//! log-panel) and a `log-panel` binary (the panel). This process only copies
//! files, starts children, sends HTTP requests and watches the WAL.
//!
//! ```text
//! log-panel-bench --only load --load-side old=OLD/log-panel-bench,OLD/log-panel \
//!                             --load-side new=NEW/log-panel-bench,NEW/log-panel
//! ```

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log_panel_core::{Sink, Timestamp};
use log_panel_sqlite::SqliteSink;
use serde_json::json;

use super::{level, message, request_id, Gen, LOGGERS, RARE_TERM};
use crate::common::{remove_db, sqlite_rows};

/// One build to measure: the bench binary that plays the application and the panel's binary.
#[derive(Debug, Clone)]
pub struct Side {
    pub label: String,
    pub bench: PathBuf,
    pub cli: PathBuf,
}

impl Side {
    /// `LABEL=BENCH,CLI` (the `--load-side` argument).
    pub fn parse(arg: &str) -> Result<Side, String> {
        let (label, bins) = arg.split_once('=').ok_or("--load-side: expected LABEL=BENCH_BINARY,CLI_BINARY")?;
        let (bench, cli) = bins.split_once(',').ok_or("--load-side: expected LABEL=BENCH_BINARY,CLI_BINARY")?;
        let side = Side { label: label.to_owned(), bench: bench.into(), cli: cli.into() };
        for bin in [&side.bench, &side.cli] {
            if !bin.is_file() {
                return Err(format!("--load-side {label}: no file {}", bin.display()));
            }
        }
        Ok(side)
    }

    /// This bench binary and the `log-panel` beside it (or `$LOG_PANEL_CLI`).
    pub fn this_build() -> Option<Side> {
        let cli = super::cli::Cli::find()?;
        Some(Side { label: "this build".into(), bench: std::env::current_exe().ok()?, cli: cli.path().to_owned() })
    }
}

/// What the phase is given.
pub struct Setup {
    pub dir: PathBuf,
    pub sides: Vec<Side>,
    /// Records in the file before the application starts writing.
    pub records: u64,
    /// How long the application writes in each run.
    pub seconds: u64,
    /// Records per second the application logs; 0: as fast as it can;
    /// [`HALF_RATE`]: half of what it reaches alone, measured first.
    pub rate: u64,
    /// Each side is measured this many times per variant, alternating.
    pub rounds: usize,
    /// At most this many requests per page per run, spread over the run
    /// (a client sends its next request when the last one is answered, but
    /// never before its share of the run's time).
    pub requests: usize,
    /// Where the filled base files are kept and reused (`base-LABEL-N.db`).
    pub keep: Option<PathBuf>,
}

/// The pages requested while the application writes: the records page
/// (page 1 and its histogram), a search for the read phase's rare term, and
/// the request view of a request id the base file and the application both
/// log (`req-1000`: records 3 000–3 002 of each).
fn pages() -> [(&'static str, String); 3] {
    [
        ("records page", "/records".to_owned()),
        ("search", format!("/records?q={RARE_TERM}")),
        ("request view", format!("/related?key=request_id&value={}", request_id(3_000))),
    ]
}

/// `Setup::rate` meaning "half of the writer's measured maximum": each side
/// first runs alone as fast as it can, then every measured run logs at half
/// that rate (`--load-rate half`).
pub const HALF_RATE: u64 = u64::MAX;

/// One run: one side, with or without the panel.
struct Run {
    side: usize,
    panel: bool,
    writer: WriterReport,
    wal_max: u64,
    db_bytes: u64,
    /// Milliseconds per request, per page of `pages()`.
    pages: Vec<Vec<f64>>,
}

/// The application's own account of a run (the `--load-writer` child's JSON line).
#[derive(Debug, Clone, Default)]
struct WriterReport {
    logged: u64,
    written: u64,
    seconds: f64,
    flush_seconds: f64,
}

impl WriterReport {
    fn per_sec(&self) -> f64 {
        self.written as f64 / self.seconds.max(1e-9)
    }
}

/// The `--load-fill DB N` child: N records over 90 days through `SqliteSink`
/// (the read phase's records), the search index caught up, the WAL folded in.
pub fn fill_child(db: &Path, n: u64) {
    let t = Instant::now();
    let mut sink = SqliteSink::open(db).expect("open the base file");
    let rate = Gen::over_90_days(n, Timestamp::now()).write(&mut sink);
    while sink.idle().expect("catch the search index up") {}
    drop(sink);
    let conn = rusqlite::Connection::open(db).expect("open for the checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    println!("{}", json!({"records": n, "write_per_sec": rate, "seconds": t.elapsed().as_secs_f64()}));
}

/// The `--load-writer DB SECONDS RATE` child: an application that logs the
/// read phase's records (its loggers, levels, messages, a `request_id`)
/// through `log_panel::init` into DB for SECONDS, at RATE records/s or as
/// fast as it can (0), then flushes. Prints one JSON line.
pub fn writer_child(db: &Path, seconds: u64, rate: u64) {
    let _guard = log_panel::builder()
        .database(db)
        .app("load-writer")
        .level(log::LevelFilter::Trace)
        .init()
        .expect("log_panel init");
    let length = Duration::from_secs(seconds);
    let start = Instant::now();
    let mut i = 0u64;
    let log_one = |i: u64| {
        let lvl = match level(i) {
            log_panel_core::Level::Error => log::Level::Error,
            log_panel_core::Level::Warn => log::Level::Warn,
            log_panel_core::Level::Info => log::Level::Info,
            log_panel_core::Level::Debug => log::Level::Debug,
            _ => log::Level::Trace,
        };
        let rid = request_id(i);
        log::log!(target: LOGGERS[(i % 8) as usize], lvl, request_id = rid.as_str(), user_id = i % 5_000; "{}", message(i));
    };
    'outer: loop {
        let elapsed = start.elapsed();
        if elapsed >= length {
            break;
        }
        // Paced in 10 ms steps at a fixed rate; in chunks of 1 024 between clock reads flat out.
        let due = if rate == 0 { i + 1_024 } else { (elapsed.as_secs_f64() * rate as f64) as u64 };
        if due <= i {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        while i < due {
            log_one(i);
            i += 1;
            if i.is_multiple_of(1_024) && start.elapsed() >= length {
                break 'outer;
            }
        }
    }
    let flush = Instant::now();
    log_panel::flush().expect("flush");
    let flush_seconds = flush.elapsed().as_secs_f64();
    let seconds = start.elapsed().as_secs_f64();
    let stats = log_panel::stats();
    println!("{}", json!({"logged": i, "written": stats.written, "seconds": seconds, "flush_seconds": flush_seconds}));
}

/// Runs a child to its end and parses its last stdout line as JSON.
fn json_of(mut command: Command, what: &str) -> Result<serde_json::Value, String> {
    let out = command.stderr(Stdio::inherit()).output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("{what}: {e} in {line:?}"))
}

/// The side's base file of `n` records, filled by its own build (so its
/// schema is the one that build writes); reused when `keep` holds it.
fn base_file(setup: &Setup, side: &Side, failures: &mut Vec<String>) -> Option<PathBuf> {
    let name: String =
        side.label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let dir = setup.keep.as_deref().unwrap_or(&setup.dir);
    let path = dir.join(format!("base-{name}-{}.db", setup.records));
    if path.is_file() && sqlite_rows(&path) == setup.records {
        println!("  {}: reusing {}", side.label, path.display());
        return Some(path);
    }
    remove_db(&path);
    let mut fill = Command::new(&side.bench);
    fill.arg("--load-fill").arg(&path).arg(setup.records.to_string());
    match json_of(fill, "the fill") {
        Ok(v) => {
            println!(
                "  {}: filled {} records in {:.0} s ({:.0} records/s written, then the search index caught up)",
                side.label,
                setup.records,
                v["seconds"].as_f64().unwrap_or(0.0),
                v["write_per_sec"].as_f64().unwrap_or(0.0)
            );
            Some(path)
        }
        Err(e) => {
            failures.push(format!("load: {}: {e}", side.label));
            None
        }
    }
}

/// A GET on the panel: milliseconds to the end of the body, or why not.
pub(crate) fn get(addr: &str, path: &str) -> Result<f64, String> {
    let t = Instant::now();
    let mut conn = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| e.to_string())?;
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut body = Vec::new();
    conn.read_to_end(&mut body).map_err(|e| format!("read: {e}"))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let head = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
    if head.starts_with("HTTP/1.1 200") {
        Ok(ms)
    } else {
        Err(format!("status line {:?}", head.lines().next().unwrap_or_default()))
    }
}

/// `log-panel serve` on a free loopback port; returns the child and its address.
pub(crate) fn serve(cli: &Path, db: &Path) -> Result<(Child, String), String> {
    let mut child = Command::new(cli)
        .arg("--db")
        .arg(db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("LOG_PANEL_CONFIG")
        .env_remove("LOG_PANEL_WEB_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start serve: {e}"))?;
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut first);
    }
    match first.split("http://").nth(1).and_then(|rest| rest.split('/').next()) {
        Some(addr) => Ok((child, addr.to_owned())),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("serve printed {first:?}"))
        }
    }
}

fn wal_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

/// One run of `side` on a fresh copy of `base`, with or without the panel.
fn run_one(
    setup: &Setup,
    index: usize,
    base: &Path,
    (panel, rate): (bool, u64),
    failures: &mut Vec<String>,
) -> Option<Run> {
    let side = &setup.sides[index];
    let what = format!("load: {} ({})", side.label, if panel { "with the panel" } else { "alone" });
    let db = setup.dir.join("load-run.db");
    remove_db(&db);
    if let Err(e) = std::fs::copy(base, &db) {
        failures.push(format!("{what}: copying the base file: {e}"));
        return None;
    }
    let server = if panel {
        match serve(&side.cli, &db) {
            Ok(s) => Some(s),
            Err(e) => {
                failures.push(format!("{what}: {e}"));
                return None;
            }
        }
    } else {
        None
    };
    // One request per page first: the panel's connections and caches warm.
    if let Some((_, addr)) = &server {
        for (_, path) in pages() {
            if let Err(e) = get(addr, &path) {
                failures.push(format!("{what}: warm-up {path}: {e}"));
            }
        }
    }
    let done = AtomicBool::new(false);
    let wal_max = AtomicU64::new(0);
    let paths = pages();
    let mut timings: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut errors: Vec<String> = Vec::new();
    let writer = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                wal_max.fetch_max(wal_size(&db), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let clients: Vec<_> = match &server {
            Some((_, addr)) => paths
                .iter()
                .map(|(_, path)| {
                    let (done, addr) = (&done, addr.as_str());
                    s.spawn(move || {
                        let (mut ms, mut errs) = (Vec::new(), Vec::new());
                        // Back to back, but spread so that the bounded count lasts the run.
                        let every = Duration::from_secs(setup.seconds) / setup.requests.max(1) as u32;
                        let start = Instant::now();
                        while !done.load(Ordering::Relaxed) && ms.len() + errs.len() < setup.requests {
                            let due = start + every * (ms.len() + errs.len()) as u32;
                            std::thread::sleep(due.saturating_duration_since(Instant::now()));
                            match get(addr, path) {
                                Ok(t) => ms.push(t),
                                Err(e) => errs.push(format!("{path}: {e}")),
                            }
                        }
                        (ms, errs)
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        let mut app = Command::new(&side.bench);
        app.arg("--load-writer").arg(&db).arg(setup.seconds.to_string()).arg(rate.to_string());
        let report = json_of(app, "the application");
        done.store(true, Ordering::Relaxed);
        for (k, c) in clients.into_iter().enumerate() {
            let (ms, errs) = c.join().expect("client thread");
            timings[k] = ms;
            errors.extend(errs);
        }
        report
    });
    wal_max.fetch_max(wal_size(&db), Ordering::Relaxed);
    if let Some((mut child, _)) = server {
        let _ = child.kill();
        let _ = child.wait();
    }
    if !errors.is_empty() {
        failures.push(format!("{what}: {} requests failed, the first: {}", errors.len(), errors[0]));
    }
    let writer = match writer {
        Ok(v) => WriterReport {
            logged: v["logged"].as_u64().unwrap_or(0),
            written: v["written"].as_u64().unwrap_or(0),
            seconds: v["seconds"].as_f64().unwrap_or(0.0),
            flush_seconds: v["flush_seconds"].as_f64().unwrap_or(0.0),
        },
        Err(e) => {
            failures.push(format!("{what}: {e}"));
            return None;
        }
    };
    let rows = sqlite_rows(&db);
    if writer.written != writer.logged || rows != setup.records + writer.logged {
        failures.push(format!(
            "{what}: {} logged, {} written, {rows} rows (base {})",
            writer.logged, writer.written, setup.records
        ));
    }
    let db_bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
    remove_db(&db);
    Some(Run { side: index, panel, writer, wal_max: wal_max.load(Ordering::Relaxed), db_bytes, pages: timings })
}

/// Every run, and the figures per side and variant.
pub struct Outcome {
    setup_line: String,
    sides: Vec<String>,
    runs: Vec<Run>,
}

fn pick(samples: &[f64], q: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
}

const MIB: f64 = 1024.0 * 1024.0;

impl Outcome {
    fn runs_of(&self, side: usize, panel: bool) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(move |r| r.side == side && r.panel == panel)
    }

    pub fn json(&self) -> serde_json::Value {
        let sides: Vec<_> = self
            .sides
            .iter()
            .enumerate()
            .map(|(k, label)| {
                let variant = |panel: bool| {
                    let runs: Vec<&Run> = self.runs_of(k, panel).collect();
                    let pages: Vec<_> = pages()
                        .iter()
                        .enumerate()
                        .filter(|_| panel)
                        .map(|(p, (name, path))| {
                            let all: Vec<f64> = runs.iter().flat_map(|r| r.pages[p].iter().copied()).collect();
                            json!({"page": name, "path": path, "requests": all.len(),
                                   "p50_ms": pick(&all, 0.5), "p95_ms": pick(&all, 0.95), "p99_ms": pick(&all, 0.99)})
                        })
                        .collect();
                    json!({
                        "runs": runs.iter().map(|r| json!({
                            "written": r.writer.written, "seconds": r.writer.seconds, "records_per_sec": r.writer.per_sec(),
                            "flush_seconds": r.writer.flush_seconds, "wal_max_bytes": r.wal_max, "db_bytes": r.db_bytes,
                        })).collect::<Vec<_>>(),
                        "pages": pages,
                    })
                };
                json!({"side": label, "alone": variant(false), "with_panel": variant(true)})
            })
            .collect();
        json!({"setup": self.setup_line, "sides": sides})
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.setup_line)?;
        writeln!(
            f,
            "{:<14} {:<11} {:>28} {:>12} {:>9}   pages: p50 / p95 / p99 ms (requests)",
            "side", "variant", "writer records/s (each run)", "WAL max MiB", "DB MiB"
        )?;
        for (k, label) in self.sides.iter().enumerate() {
            for panel in [false, true] {
                let runs: Vec<&Run> = self.runs_of(k, panel).collect();
                if runs.is_empty() {
                    continue;
                }
                let rates: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.writer.per_sec())).collect();
                let wal = runs.iter().map(|r| r.wal_max).max().unwrap_or(0) as f64 / MIB;
                let db = runs.iter().map(|r| r.db_bytes).max().unwrap_or(0) as f64 / MIB;
                let mut text = String::new();
                if panel {
                    for (p, (name, _)) in pages().iter().enumerate() {
                        let all: Vec<f64> = runs.iter().flat_map(|r| r.pages[p].iter().copied()).collect();
                        text += &format!(
                            "{name} {:.1} / {:.1} / {:.1} ({})  ",
                            pick(&all, 0.5),
                            pick(&all, 0.95),
                            pick(&all, 0.99),
                            all.len()
                        );
                    }
                }
                writeln!(
                    f,
                    "{label:<14} {:<11} {:>28} {wal:>12.1} {db:>9.0}   {}",
                    if panel { "with panel" } else { "alone" },
                    rates.join(" "),
                    text.trim_end()
                )?;
            }
        }
        Ok(())
    }
}

/// Fills each side's base file, then runs every side alone and with the
/// panel, `rounds` times, alternating the sides' order from round to round.
pub fn run(setup: &Setup, failures: &mut Vec<String>) -> Option<Outcome> {
    if setup.sides.is_empty() {
        println!("\nload: no side to measure (build log-panel-cli, or give --load-side)");
        return None;
    }
    println!(
        "\nLoad: base files of {} records (the read phase's records over 90 days, search index caught up)",
        setup.records
    );
    let mut bases = Vec::new();
    for side in &setup.sides {
        bases.push(base_file(setup, side, failures)?);
    }
    // The rate of each side's measured runs.
    let mut rates = vec![setup.rate; setup.sides.len()];
    let mut calibration = Vec::new();
    if setup.rate == HALF_RATE {
        for (k, base) in bases.iter().enumerate() {
            let max = run_one(setup, k, base, (false, 0), failures)?.writer.per_sec();
            rates[k] = ((max / 2.0) as u64).max(1);
            println!(
                "  {}: {max:.0} records/s alone as fast as it can; measuring at {}",
                setup.sides[k].label, rates[k]
            );
            calibration.push(format!("{} {max:.0} -> {}", setup.sides[k].label, rates[k]));
        }
    }
    let mut runs = Vec::new();
    for round in 0..setup.rounds {
        for panel in [false, true] {
            let mut order: Vec<usize> = (0..setup.sides.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for k in order {
                let t = Instant::now();
                if let Some(run) = run_one(setup, k, &bases[k], (panel, rates[k]), failures) {
                    println!(
                        "  round {} {:<14} {:<11} {:>8.0} records/s  WAL max {:>8.1} MiB  ({:.0} s)",
                        round + 1,
                        setup.sides[k].label,
                        if panel { "with panel" } else { "alone" },
                        run.writer.per_sec(),
                        run.wal_max as f64 / MIB,
                        t.elapsed().as_secs_f64()
                    );
                    runs.push(run);
                }
            }
        }
    }
    if setup.keep.is_none() {
        for b in &bases {
            remove_db(b);
        }
    }
    let rate = match setup.rate {
        0 => "as fast as it can".to_owned(),
        HALF_RATE => format!("at half its maximum (measured alone first: {})", calibration.join(", ")),
        r => format!("at {r} records/s"),
    };
    let setup_line = format!(
        "Load: an application logging {rate} for {} s (log_panel::init, SQLite, 1 thread) into a file of {} records; \
         with the panel, `log-panel serve` answers {} (1 client each, back to back, at most {} requests per run \
         spread over it); \
         {} rounds, sides alternating",
        setup.seconds,
        setup.records,
        pages().iter().map(|(n, p)| format!("{n} {p}")).collect::<Vec<_>>().join(" and "),
        setup.requests,
        setup.rounds
    );
    let outcome = Outcome { setup_line, sides: setup.sides.iter().map(|s| s.label.clone()).collect(), runs };
    println!("{outcome}");
    Some(outcome)
}
