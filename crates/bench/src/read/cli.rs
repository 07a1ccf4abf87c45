//! The read phase through the built `log-panel` command: `tail -f` latency
//! from a batch's commit to its line on the command's stdout, and `rg` over
//! the records exported with `log-panel export --format ndjson`, beside the
//! store's queries on the same records.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_sqlite::SqliteSink;
use serde_json::json;

use super::{request_id, time, COMMON_TERM, PAGE, RARE_EVERY, RARE_TERM};

/// The `log-panel` binary: `$LOG_PANEL_CLI`, else beside this bench's binary
/// (`cargo build --release -p log-panel-cli` puts it there).
pub struct Cli(PathBuf);

impl Cli {
    /// The binary, or `None` (with the reason printed) when it is not built.
    pub fn find() -> Option<Cli> {
        let path = match std::env::var_os("LOG_PANEL_CLI") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe().ok()?.with_file_name("log-panel"),
        };
        if path.is_file() {
            Some(Cli(path))
        } else {
            println!(
                "\nread: no log-panel binary at {} (cargo build --release -p log-panel-cli, or set LOG_PANEL_CLI)",
                path.display()
            );
            None
        }
    }

    /// Where the binary is.
    pub fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn command(&self, db: &Path) -> Command {
        let mut c = Command::new(&self.0);
        c.arg("--db").arg(db).arg("--color").arg("never").env("NO_COLOR", "1");
        c
    }
}

/// `rg` on `$PATH`, if installed.
fn rg() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("rg")).find(|p| p.is_file())
}

/// The export and the `rg` timings (p50 / p95 ms) per store query name prefix.
pub struct RgOutcome {
    pub export_secs: f64,
    pub export_bytes: u64,
    pub records: u64,
    pub timings: Vec<(&'static str, (f64, f64))>,
}

impl RgOutcome {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "export_seconds": self.export_secs, "export_bytes": self.export_bytes, "records": self.records,
            "rg": self.timings.iter().map(|(q, (p50, p95))| json!({"query": q, "p50_ms": p50, "p95_ms": p95}))
                .collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for RgOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "export --format ndjson: {} records, {:.0} MB in {:.1} s ({:.0} records/s); rg over that file in the table above",
            self.records,
            self.export_bytes as f64 / 1e6,
            self.export_secs,
            self.records as f64 / self.export_secs.max(1e-9)
        )
    }
}

/// Exports `db` (`n` records) to NDJSON with the CLI, checks the line count,
/// then times `rg` for the rare term (every match), the common term (the
/// first `PAGE`, `-m`) and one request id (every match), and deletes the file.
/// `None` when the CLI or `rg` is missing (printed).
pub fn rg_over_export(
    cli: Option<&Cli>,
    db: &Path,
    dir: &Path,
    n: u64,
    reps: usize,
    failures: &mut Vec<String>,
) -> Option<RgOutcome> {
    let cli = cli?;
    let Some(rg) = rg() else {
        println!("\nread: rg is not installed; the rg comparison is skipped (apt-get install ripgrep)");
        return None;
    };
    let file = dir.join("export.ndjson");
    let t = Instant::now();
    let out = cli.command(db).args(["export", "--format", "ndjson", "-o"]).arg(&file).output().expect("run export");
    let export_secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        failures.push(format!("read: export failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        return None;
    }
    let lines = count_lines(&file);
    if lines != n {
        failures.push(format!("read: export: {lines} lines, expected {n}"));
    }
    let export_bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
    let rare_hits = (0..n).filter(|i| i % RARE_EVERY == 7).count();
    let quoted_rid = format!("\"{}\"", request_id(n / 2));
    let searches: [(&'static str, Vec<&str>, usize); 3] = [
        ("rare term", vec![RARE_TERM], rare_hits),
        ("common term", vec!["-m", "50", COMMON_TERM], PAGE.min((n / 6) as usize)),
        ("request-id lookup", vec![&quoted_rid], 3),
    ];
    let mut timings = Vec::new();
    for (name, args, want) in searches {
        let (p50, p95, got) = time(reps, || {
            let out = Command::new(&rg).arg("-F").args(&args).arg(&file).output().expect("run rg");
            out.stdout.iter().filter(|&&b| b == b'\n').count()
        });
        if got != want {
            failures.push(format!("read: rg {name}: {got} lines, expected {want}"));
        }
        timings.push((name, (p50, p95)));
    }
    let _ = std::fs::remove_file(&file);
    Some(RgOutcome { export_secs, export_bytes, records: lines, timings })
}

fn count_lines(path: &Path) -> u64 {
    let Ok(mut f) = std::fs::File::open(path) else { return 0 };
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => return lines,
            Ok(k) => lines += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64,
        }
    }
}

/// Commit-to-line latencies of `log-panel tail -f`.
pub struct TailOutcome {
    pub records: usize,
    pub seen: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl TailOutcome {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "records": self.records, "seen": self.seen, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
            "max_ms": self.max_ms, "cli_poll_interval_ms": TAIL_POLL_MS,
        })
    }
}

impl fmt::Display for TailOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tail -f: {} of {} records seen, commit -> line on stdout p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms \
             (the CLI polls every {TAIL_POLL_MS} ms)",
            self.seen, self.records, self.p50_ms, self.p95_ms, self.max_ms
        )
    }
}

/// `tail -f`'s poll interval (crates/cli/src/commands.rs `POLL`), for the report.
const TAIL_POLL_MS: u64 = 200;
const PROBE: &str = "tail-probe-";
/// Warm-up probes are numbered from here, apart from the measured ones.
const WARMUP: usize = 1_000_000;

/// Starts `log-panel tail -f -n 0` on `db`, then stores `records` records
/// one per batch through a second `SqliteSink` on the same file, with pauses
/// of 50–200 ms (so the commits fall at every phase of the CLI's poll), and
/// times each from `write` returning (committed) to its line on the
/// command's stdout.
pub fn tail_latency(cli: Option<&Cli>, db: &Path, records: usize, failures: &mut Vec<String>) -> Option<TailOutcome> {
    let cli = cli?;
    let mut child = cli
        .command(db)
        .args(["tail", "-f", "-n", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start log-panel tail -f");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let seen = Instant::now();
            let k = line.split(PROBE).nth(1).and_then(|r| r.split_whitespace().next()).and_then(|k| k.parse().ok());
            if let Some(k) = k {
                if tx.send((k, seen)).is_err() {
                    break;
                }
            }
        }
    });
    let mut sink = SqliteSink::open(db).expect("open a second writer");
    let origin = Origin::new("tail-bench", "bench", 9);
    let mut store = |k: usize| {
        let record = Record::new(Level::Info, "bench::tail", format!("{PROBE}{k} committed"));
        sink.write(&Batch::new(&origin, std::slice::from_ref(&record))).expect("write a probe");
        Instant::now()
    };

    // `tail -f` follows from the newest id it read at start: probe until a line shows it is running.
    let mut ready = false;
    for w in 0..50 {
        store(WARMUP + w);
        if rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            ready = true;
            break;
        }
    }
    let mut committed = Vec::with_capacity(records);
    if ready {
        while rx.recv_timeout(Duration::from_millis(300)).is_ok() {}
        for k in 0..records {
            std::thread::sleep(Duration::from_millis(50 + (k as u64 * 7_919) % 150));
            committed.push(store(k));
        }
    }
    let mut latencies = Vec::with_capacity(records);
    let deadline = Instant::now() + Duration::from_secs(10);
    while latencies.len() < committed.len() {
        let Ok((k, seen)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else { break };
        if let Some(at) = committed.get(k) {
            latencies.push(seen.saturating_duration_since(*at));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    if !ready || latencies.len() != records {
        failures.push(format!("read: tail -f showed {} of {records} records", latencies.len()));
    }
    if latencies.is_empty() {
        return None;
    }
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    Some(TailOutcome { records, seen: latencies.len(), p50_ms: pick(0.5), p95_ms: pick(0.95), max_ms: pick(1.0) })
}
