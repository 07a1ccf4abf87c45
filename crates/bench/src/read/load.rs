//! The panel under load (issues 21 and 24): an application logging through
//! log-panel into a SQLite file of N records while `log-panel serve` answers
//! the records page, a search and the request view; the writer's records/s
//! alone and with the panel, each page's p50 / p95 / p99, the WAL file's
//! largest size.
//!
//! By default (`--load-rate half`, issue 24's goal) the writer's maximum
//! rate is measured alone first, in the same run, and the runs then log at
//! half of it; the output checks the goals (every page's p99 ≤ 200 ms, the
//! writer keeps ≥ 90 % of its rate alone beside the panel).
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
//!
//! A machine shared with other work (the application's own CPU busy, other
//! processes) is made reproducible by `--load-busy K`: K processes that
//! spin at nice 0 for the whole phase (the probes of the maximum included,
//! so the half rate is half of what the writer manages beside them). The
//! JSON summary holds each run's index lag over time and every request's
//! start and milliseconds, to set a slow search beside the tail it scanned.

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

/// How fast the application logs in the measured runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// As fast as it can (`--load-rate 0`).
    Max,
    /// A fixed number of records per second (`--load-rate N`).
    Fixed(u64),
    /// Half of the maximum measured alone first in the same run (`--load-rate half`).
    HalfOfMax,
}

impl Rate {
    /// `half`, `0` (as fast as it can) or records per second.
    pub fn parse(arg: &str) -> Result<Rate, String> {
        match arg {
            "half" => Ok(Rate::HalfOfMax),
            "0" => Ok(Rate::Max),
            n => {
                n.parse().map(Rate::Fixed).map_err(|_| format!("--load-rate: expected half, 0 or a number, not {n:?}"))
            }
        }
    }
}

/// Issue 24's goal for every page under load: p99 at most this.
const P99_GOAL_MS: f64 = 200.0;
/// Issue 24's goal for the writer beside the panel: at least this share of its rate alone.
const KEEP_GOAL: f64 = 0.90;

/// What the phase is given.
pub struct Setup {
    pub dir: PathBuf,
    pub sides: Vec<Side>,
    /// Records in the file before the application starts writing.
    pub records: u64,
    /// How long the application writes in each run.
    pub seconds: u64,
    /// How fast the application logs.
    pub rate: Rate,
    /// Each side is measured this many times per variant, alternating.
    pub rounds: usize,
    /// At most this many requests per page per run, spread over the run
    /// (a client sends its next request when the last one is answered, but
    /// never before its share of the run's time).
    pub requests: usize,
    /// Where the filled base files are kept and reused (`base-LABEL-N.db`).
    pub keep: Option<PathBuf>,
    /// Also run the panel on a copy of the base file beside the application
    /// (the panel's CPU cost without sharing the file).
    pub elsewhere: bool,
    /// Busy-loop processes beside the whole phase (see the module's text).
    pub busy: usize,
}

/// The pages requested while the application writes: the records page
/// (page 1 and its histogram), a search for the read phase's rare term, and
/// the request view of a request id the base file and the application both
/// log (`req-1000`: records 3 000–3 002 of each).
fn pages() -> Vec<(&'static str, String)> {
    vec![
        ("records page", "/records".to_owned()),
        ("search", format!("/records?q={RARE_TERM}")),
        ("request view", format!("/related?key=request_id&value={}", request_id(3_000))),
    ]
}

/// What the request view shows when no record has the value (the warm-up
/// checks that the request it asks for exists).
const NO_RECORD: &str = "No record has this value.";

/// The 1-minute load average (the machine is shared: the figures carry it).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// What runs beside the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Nothing: the writer alone.
    Alone,
    /// The panel on the file the application writes, read by the clients.
    Panel,
    /// The same panel and clients on a copy of the base file that nobody
    /// writes: the same CPU load as [`Variant::Panel`] without sharing the
    /// file, which tells the cost of sharing it (locks, the WAL, the search
    /// index's lag) from the cost of sharing the cores.
    Elsewhere,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Alone => "alone",
            Variant::Panel => "with panel",
            Variant::Elsewhere => "panel on a copy",
        }
    }
}

/// One run: one side, with or without the panel.
struct Run {
    side: usize,
    variant: Variant,
    /// A run as fast as it can, alone, that measures the maximum rate (`Rate::HalfOfMax`).
    probe: bool,
    /// The 1-minute load average when the run started.
    load: f64,
    writer: WriterReport,
    wal_max: u64,
    /// The most records the search index lagged behind (sampled every 200 ms).
    lag_max: u64,
    /// The indexes' lag over the run: (seconds since the clients' start,
    /// records above the search index's mark, above the context side table's).
    lags: Vec<(f64, u64, u64)>,
    db_bytes: u64,
    /// Milliseconds per request, per page of `pages()`.
    pages: Vec<Vec<f64>>,
    /// Per page, each request's start (seconds since the clients' start), in the order of `pages`.
    starts: Vec<Vec<f64>>,
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

/// The `--busy-loop` child: spins on one core until its parent is gone
/// (the load phase kills it; a bench that died leaves none behind).
pub fn busy_child() {
    let parent = std::os::unix::process::parent_id();
    let mut x = 0u64;
    loop {
        for _ in 0..10_000_000u32 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

/// `--load-busy K`'s processes, killed when dropped.
struct Busy(Vec<Child>);

impl Busy {
    fn start(k: usize, failures: &mut Vec<String>) -> Busy {
        let mut children = Vec::new();
        let Ok(me) = std::env::current_exe() else {
            failures.push("load: --load-busy: no path of this binary".to_owned());
            return Busy(children);
        };
        for _ in 0..k {
            match Command::new(&me).arg("--busy-loop").stdin(Stdio::null()).stdout(Stdio::null()).spawn() {
                Ok(c) => children.push(c),
                Err(e) => failures.push(format!("load: --load-busy: {e}")),
            }
        }
        if k > 0 {
            println!("  {} busy-loop processes beside the whole phase (nice 0)", children.len());
        }
        Busy(children)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
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

/// A GET on the panel: milliseconds to the end of the body and the
/// response, or why not.
pub(crate) fn get(addr: &str, path: &str) -> Result<(f64, Vec<u8>), String> {
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
        Ok((ms, body))
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

/// Records above the search index's mark and above the context side
/// table's common mark: what every search, and every request view, scans
/// besides its index. A short read of its own on a read-only connection;
/// 0 when it cannot be read.
fn index_lag(db: &Path) -> (u64, u64) {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, flags) else { return (0, 0) };
    conn.query_row(
        "SELECT coalesce((SELECT max(id) FROM log_records), 0) - (SELECT indexed_id FROM log_fts_state),
                coalesce((SELECT max(id) FROM log_records), 0) - (SELECT indexed_id FROM log_context_all)",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )
    .map_or((0, 0), |(text, keys)| (text.max(0).unsigned_abs(), keys.max(0).unsigned_abs()))
}

fn wal_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

/// One run of `side` on a fresh copy of `base`, with or without the panel,
/// the application logging `rate` records/s (0: as fast as it can).
fn run_one(
    setup: &Setup,
    index: usize,
    base: &Path,
    variant: Variant,
    rate: u64,
    failures: &mut Vec<String>,
) -> Option<Run> {
    let side = &setup.sides[index];
    let what = format!("load: {} ({})", side.label, variant.name());
    let load = load_average();
    let db = setup.dir.join("load-run.db");
    remove_db(&db);
    if let Err(e) = std::fs::copy(base, &db) {
        failures.push(format!("{what}: copying the base file: {e}"));
        return None;
    }
    let other = setup.dir.join("load-panel-copy.db");
    if variant == Variant::Elsewhere {
        remove_db(&other);
        if let Err(e) = std::fs::copy(base, &other) {
            failures.push(format!("{what}: copying the base file: {e}"));
            return None;
        }
    }
    let served = match variant {
        Variant::Alone => None,
        Variant::Panel => Some(&db),
        Variant::Elsewhere => Some(&other),
    };
    let server = if let Some(served) = served {
        match serve(&side.cli, served) {
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
    let paths = pages();
    if let Some((_, addr)) = &server {
        for (_, path) in &paths {
            match get(addr, path) {
                Ok((_, body)) if String::from_utf8_lossy(&body).contains(NO_RECORD) => {
                    failures.push(format!("{what}: warm-up {path}: no record has this value"));
                }
                Ok(_) => {}
                Err(e) => failures.push(format!("{what}: warm-up {path}: {e}")),
            }
        }
    }
    let done = AtomicBool::new(false);
    let wal_max = AtomicU64::new(0);
    let lag_max = AtomicU64::new(0);
    let mut timings: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut starts: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut errors: Vec<String> = Vec::new();
    let began = Instant::now();
    let mut lags = Vec::new();
    let writer = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut samples = 0u64;
            let mut lags = Vec::new();
            while !done.load(Ordering::Relaxed) {
                wal_max.fetch_max(wal_size(&db), Ordering::Relaxed);
                if samples.is_multiple_of(10) {
                    let at = began.elapsed().as_secs_f64();
                    let (lag, keys_lag) = index_lag(&db);
                    lag_max.fetch_max(lag, Ordering::Relaxed);
                    lags.push((at, lag, keys_lag));
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            lags
        });
        let clients: Vec<_> = match &server {
            Some((_, addr)) => paths
                .iter()
                .map(|(_, path)| {
                    let (done, addr) = (&done, addr.as_str());
                    s.spawn(move || {
                        let (mut ms, mut at, mut errs) = (Vec::new(), Vec::new(), Vec::new());
                        // Back to back, but spread so that the bounded count lasts the run.
                        let every = Duration::from_secs(setup.seconds) / setup.requests.max(1) as u32;
                        let start = Instant::now();
                        while !done.load(Ordering::Relaxed) && ms.len() + errs.len() < setup.requests {
                            let due = start + every * (ms.len() + errs.len()) as u32;
                            std::thread::sleep(due.saturating_duration_since(Instant::now()));
                            let sent = began.elapsed().as_secs_f64();
                            match get(addr, path) {
                                Ok((t, _)) => {
                                    ms.push(t);
                                    at.push(sent);
                                }
                                Err(e) => errs.push(format!("{path}: {e}")),
                            }
                        }
                        (ms, at, errs)
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
            let (ms, at, errs) = c.join().expect("client thread");
            timings[k] = ms;
            starts[k] = at;
            errors.extend(errs);
        }
        lags = sampler.join().expect("sampler thread");
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
    remove_db(&other);
    Some(Run {
        side: index,
        variant,
        probe: false,
        load,
        writer,
        wal_max: wal_max.load(Ordering::Relaxed),
        lag_max: lag_max.load(Ordering::Relaxed),
        lags,
        db_bytes,
        pages: timings,
        starts,
    })
}

/// Every run, and the figures per side and variant.
pub struct Outcome {
    setup_line: String,
    sides: Vec<String>,
    /// The pages requested (name, path).
    paths: Vec<(&'static str, String)>,
    /// Records/s the measured runs logged at (0: as fast as it can).
    rate: u64,
    runs: Vec<Run>,
}

fn pick(samples: &[f64], q: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// One side's figures against issue 24's goals.
struct Goals {
    /// Mean records/s alone and with the panel, and their ratio.
    alone: f64,
    with_panel: f64,
    keep: f64,
    /// Per page: name, p99 in ms.
    p99: Vec<(&'static str, f64)>,
}

impl Goals {
    fn writer_met(&self) -> bool {
        self.keep >= KEEP_GOAL
    }

    fn pages_met(&self) -> bool {
        self.p99.iter().all(|(_, p)| *p <= P99_GOAL_MS)
    }
}

impl Outcome {
    /// The measured runs (not the probes) of one side and variant.
    fn runs_of(&self, side: usize, variant: Variant) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(move |r| r.side == side && r.variant == variant && !r.probe)
    }

    fn probes_of(&self, side: usize) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(move |r| r.side == side && r.probe)
    }

    /// Every request's milliseconds on page `p`, pooled over a side's runs of `variant`.
    fn samples(&self, side: usize, variant: Variant, p: usize) -> Vec<f64> {
        self.runs_of(side, variant).flat_map(|r| r.pages[p].iter().copied()).collect()
    }

    fn goals(&self, side: usize) -> Goals {
        let alone = mean(self.runs_of(side, Variant::Alone).map(|r| r.writer.per_sec()));
        let with_panel = mean(self.runs_of(side, Variant::Panel).map(|r| r.writer.per_sec()));
        let p99 = self
            .paths
            .iter()
            .enumerate()
            .map(|(p, (name, _))| (*name, pick(&self.samples(side, Variant::Panel, p), 0.99)))
            .collect();
        Goals { alone, with_panel, keep: with_panel / alone, p99 }
    }

    pub fn json(&self) -> serde_json::Value {
        let sides: Vec<_> = self
            .sides
            .iter()
            .enumerate()
            .map(|(k, label)| {
                let run_json = |r: &Run| {
                    json!({
                        "written": r.writer.written, "seconds": r.writer.seconds, "records_per_sec": r.writer.per_sec(),
                        "flush_seconds": r.writer.flush_seconds, "wal_max_bytes": r.wal_max, "db_bytes": r.db_bytes,
                        "index_lag_max_records": r.lag_max,
                        "load_average_at_start": r.load,
                        "index_lag_over_time": r.lags.iter().map(|&(at, text, _)| (at, text)).collect::<Vec<_>>(),
                        "context_index_lag_over_time": r.lags.iter().map(|&(at, _, keys)| (at, keys)).collect::<Vec<_>>(),
                        "requests": self.paths.iter().enumerate().map(|(p, (name, _))| json!({
                            "page": name,
                            "p99_ms": pick(&r.pages[p], 0.99),
                            "start_s_and_ms": r.starts[p].iter().zip(&r.pages[p]).map(|(s, ms)| (*s, *ms)).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    })
                };
                let variant = |variant: Variant| {
                    let pages: Vec<_> = self
                        .paths
                        .iter()
                        .enumerate()
                        .filter(|_| variant != Variant::Alone)
                        .map(|(p, (name, path))| {
                            let all = self.samples(k, variant, p);
                            json!({"page": name, "path": path, "requests": all.len(),
                                   "p50_ms": pick(&all, 0.5), "p95_ms": pick(&all, 0.95), "p99_ms": pick(&all, 0.99)})
                        })
                        .collect();
                    json!({"runs": self.runs_of(k, variant).map(run_json).collect::<Vec<_>>(), "pages": pages})
                };
                let g = self.goals(k);
                json!({
                    "side": label,
                    "max_rate_runs": self.probes_of(k).map(run_json).collect::<Vec<_>>(),
                    "alone": variant(Variant::Alone),
                    "with_panel": variant(Variant::Panel),
                    "panel_on_a_copy": variant(Variant::Elsewhere),
                    "goals": {
                        "writer_kept": g.keep, "writer_goal": KEEP_GOAL, "writer_met": g.writer_met(),
                        "p99_goal_ms": P99_GOAL_MS, "pages_met": g.pages_met(),
                    },
                })
            })
            .collect();
        json!({"setup": self.setup_line, "rate": self.rate, "sides": sides})
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.setup_line)?;
        for (k, label) in self.sides.iter().enumerate() {
            let probes: Vec<String> = self.probes_of(k).map(|r| format!("{:.0}", r.writer.per_sec())).collect();
            if !probes.is_empty() {
                writeln!(f, "{label}: as fast as it can, alone: {} records/s", probes.join(", "))?;
            }
        }
        writeln!(
            f,
            "{:<14} {:<15} {:>28} {:>12} {:>9} {:>10} {:>14}   pages: p50 / p95 / p99 ms (requests)",
            "side", "variant", "writer records/s (each run)", "WAL max MiB", "DB MiB", "index lag", "load average"
        )?;
        for (k, label) in self.sides.iter().enumerate() {
            for variant in [Variant::Alone, Variant::Panel, Variant::Elsewhere] {
                let runs: Vec<&Run> = self.runs_of(k, variant).collect();
                if runs.is_empty() {
                    continue;
                }
                let rates: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.writer.per_sec())).collect();
                let loads: Vec<String> = runs.iter().map(|r| format!("{:.1}", r.load)).collect();
                let wal = runs.iter().map(|r| r.wal_max).max().unwrap_or(0) as f64 / MIB;
                let db = runs.iter().map(|r| r.db_bytes).max().unwrap_or(0) as f64 / MIB;
                let lag = runs.iter().map(|r| r.lag_max).max().unwrap_or(0);
                let mut text = String::new();
                if variant != Variant::Alone {
                    for (p, (name, _)) in self.paths.iter().enumerate() {
                        let all = self.samples(k, variant, p);
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
                    "{label:<14} {:<15} {:>28} {wal:>12.1} {db:>9.0} {lag:>10} {:>14}   {}",
                    variant.name(),
                    rates.join(" "),
                    loads.join(" "),
                    text.trim_end()
                )?;
            }
        }
        if self.rate == 0 {
            return writeln!(f, "Goals (issue 24) apply at half the maximum rate: run with --load-rate half");
        }
        writeln!(
            f,
            "Goals (issue 24) at {} records/s: every page's p99 ≤ {P99_GOAL_MS:.0} ms; the writer keeps ≥ {:.0} % of its rate alone",
            self.rate,
            KEEP_GOAL * 100.0
        )?;
        for (k, label) in self.sides.iter().enumerate() {
            let g = self.goals(k);
            let pages: Vec<String> = g.p99.iter().map(|(name, p)| format!("{name} {p:.1} ms")).collect();
            writeln!(
                f,
                "  {label}: writer {:.0} of {:.0} records/s = {:.1} % ({}); p99 {} ({})",
                g.with_panel,
                g.alone,
                g.keep * 100.0,
                met(g.writer_met()),
                pages.join(", "),
                met(g.pages_met())
            )?;
            let copy = mean(self.runs_of(k, Variant::Elsewhere).map(|r| r.writer.per_sec()));
            if copy.is_finite() {
                writeln!(
                    f,
                    "  {label}: with the panel on a copy (the cores shared, not the file) the writer kept {:.1} %",
                    copy / g.alone * 100.0
                )?;
            }
        }
        Ok(())
    }
}

/// Sides in the order of round `round`: reversed every other round.
fn order(sides: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sides).collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

fn report(round: usize, side: &Side, what: &str, run: &Run, t: Instant) {
    // This run's own p99 per page (the goal's is pooled over the rounds).
    let p99: Vec<String> =
        run.pages.iter().filter(|ms| !ms.is_empty()).map(|ms| format!("{:.0}", pick(ms, 0.99))).collect();
    println!(
        "  round {} {:<14} {:<20} {:>8.0} records/s  WAL max {:>8.1} MiB  index lag max {:>7}  load {:>4.1}  ({:.0} s){}",
        round + 1,
        side.label,
        what,
        run.writer.per_sec(),
        run.wal_max as f64 / MIB,
        run.lag_max,
        run.load,
        t.elapsed().as_secs_f64(),
        if p99.is_empty() { String::new() } else { format!("  p99 ms {}", p99.join(" / ")) }
    );
}

/// Fills each side's base file; with [`Rate::HalfOfMax`] measures every
/// side's maximum rate alone first (`rounds` runs each, alternating), then
/// runs every side alone and with the panel at the resolved rate, `rounds`
/// times, alternating the sides' order from round to round.
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
    // After the fills (not measured), before the probes: the half rate is
    // half of what the writer manages beside them.
    let _busy = Busy::start(setup.busy, failures);
    let mut runs = Vec::new();
    let rate = match setup.rate {
        Rate::Max => 0,
        Rate::Fixed(n) => n,
        Rate::HalfOfMax => {
            println!("  the writer's maximum rate, alone:");
            for round in 0..setup.rounds {
                for k in order(setup.sides.len(), round) {
                    let t = Instant::now();
                    if let Some(mut run) = run_one(setup, k, &bases[k], Variant::Alone, 0, failures) {
                        run.probe = true;
                        report(round, &setup.sides[k], "as fast as it can", &run, t);
                        runs.push(run);
                    }
                }
            }
            // One rate for every side (the lowest side's median maximum), so
            // that the sides' pages are compared under the same write load.
            let medians = (0..setup.sides.len()).map(|k| {
                let rates: Vec<f64> = runs.iter().filter(|r| r.side == k).map(|r| r.writer.per_sec()).collect();
                pick(&rates, 0.5)
            });
            let lowest = medians.fold(f64::INFINITY, f64::min);
            if !lowest.is_finite() || lowest < 2.0 {
                failures.push("load: no maximum rate was measured".to_owned());
                return None;
            }
            let half = (lowest / 2.0) as u64;
            println!("  half of the lowest side's median maximum: {half} records/s");
            half
        }
    };
    let mut variants = vec![Variant::Alone, Variant::Panel];
    if setup.elsewhere {
        variants.push(Variant::Elsewhere);
    }
    for round in 0..setup.rounds {
        for &variant in &variants {
            for k in order(setup.sides.len(), round) {
                let t = Instant::now();
                if let Some(run) = run_one(setup, k, &bases[k], variant, rate, failures) {
                    report(round, &setup.sides[k], variant.name(), &run, t);
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
    let paths = pages();
    let how = match setup.rate {
        Rate::Max => "as fast as it can".to_owned(),
        Rate::Fixed(n) => format!("at {n} records/s"),
        Rate::HalfOfMax => format!("at {rate} records/s (half of its maximum alone, measured first)"),
    };
    let setup_line = format!(
        "Load: an application logging {how} for {} s (log_panel::init, SQLite, 1 thread) into a file of {} records; \
         with the panel, `log-panel serve` answers {} (1 client each, back to back, at most {} requests per run \
         spread over it){}{}; \
         {} rounds, sides alternating",
        setup.seconds,
        setup.records,
        paths.iter().map(|(n, p)| format!("{n} {p}")).collect::<Vec<_>>().join(", "),
        setup.requests,
        if setup.elsewhere { "; *panel on a copy*: the same panel and clients on a copy nobody writes" } else { "" },
        if setup.busy > 0 { format!("; {} busy-loop processes beside it all", setup.busy) } else { String::new() },
        setup.rounds
    );
    let outcome =
        Outcome { setup_line, sides: setup.sides.iter().map(|s| s.label.clone()).collect(), paths, rate, runs };
    println!("{outcome}");
    Some(outcome)
}
