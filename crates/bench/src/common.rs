//! Shared pieces: the logged call's data, statistics, line counting, /proc readings.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use log_panel_core::Context;

/// Binds the five context keys of shape (b) on the calling thread, as an
/// application does at the start of a request (`log_panel::context::bind`).
pub fn bind_request_context() {
    log_panel::context::bind(bound_context().iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// The five bound context keys of shape (b).
pub fn bound_context() -> Context {
    Context::from_pairs([
        ("request_id", log_panel_core::Value::from("7f3a9c2e-51d0")),
        ("user_id", log_panel_core::Value::from(4217)),
        ("tenant", log_panel_core::Value::from("acme")),
        ("route", log_panel_core::Value::from("/api/orders")),
        ("client_ip", log_panel_core::Value::from("10.0.0.7")),
    ])
}

/// Writes a shape-(b) record's stored fields as JSON text into `json` (cleared
/// first), as a program writing rows itself would build them: the bound
/// context `ctx`, then the record's two key-values. The raw loops use it.
pub fn fields_json(ctx: &Context, json: &mut String) {
    use std::fmt::Write as _;
    json.clear();
    json.push('{');
    for (k, v) in ctx.iter() {
        let _ = match v {
            log_panel_core::Value::Str(s) => write!(json, "\"{k}\":\"{s}\","),
            other => write!(json, "\"{k}\":{other},"),
        };
    }
    json.push_str("\"method\":\"GET\",\"status\":200}");
}

/// The call's first format argument for call `i` (a request number) and its second (a duration).
pub fn args(i: u64) -> (u64, u64) {
    (i, 100 + (i % 900))
}

/// Median and 99th percentile of per-call samples in nanoseconds, after
/// subtracting the timer's own cost (`overhead`), never below zero.
pub fn percentiles(samples: &mut [u32], overhead: u32) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let idx = ((samples.len() - 1) as f64 * q).round() as usize;
        f64::from(samples[idx].saturating_sub(overhead))
    };
    (at(0.5), at(0.99))
}

/// The median cost in ns of one `Instant::now()` pair with nothing between:
/// what a per-call measurement adds to every sample.
pub fn timer_overhead() -> u32 {
    let mut samples: Vec<u32> = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let t0 = Instant::now();
        let d = t0.elapsed();
        samples.push(u32::try_from(d.as_nanos()).unwrap_or(u32::MAX));
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Counts the lines of a file that another thread is appending to, reading
/// only what was added since the last call.
pub struct LineCounter {
    path: PathBuf,
    offset: u64,
    lines: u64,
    buf: Vec<u8>,
}

impl LineCounter {
    /// A counter at the start of `path`.
    pub fn new(path: &Path) -> LineCounter {
        LineCounter { path: path.to_path_buf(), offset: 0, lines: 0, buf: vec![0; 1 << 20] }
    }

    /// Lines counted so far after reading whatever was appended.
    pub fn count(&mut self) -> u64 {
        use std::io::{Seek, SeekFrom};
        let Ok(mut f) = File::open(&self.path) else { return self.lines };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return self.lines;
        }
        loop {
            match f.read(&mut self.buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.offset += n as u64;
                    self.lines += self.buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                }
            }
        }
        self.lines
    }

    /// Waits until at least `expected` lines are in the file (the backend has
    /// consumed every record); returns the count seen, which may be short on timeout.
    pub fn wait_for(&mut self, expected: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.count();
            if n >= expected || Instant::now() >= deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A field of /proc/self/status in KiB (e.g. `VmHWM`, `VmRSS`).
pub fn proc_status_kib(field: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|r| r.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Rows in `log_records` of a log-panel SQLite file.
pub fn sqlite_rows(path: &Path) -> u64 {
    rusqlite::Connection::open(path)
        .and_then(|c| c.query_row("SELECT count(*) FROM log_records", [], |r| r.get::<_, i64>(0)))
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// Deletes a database and its WAL files (a million rows take ~400 MB).
pub fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
