//! Peak memory during a burst: one thread logs as fast as it can into
//! log-panel with its default queue; VmHWM must stay flat, bounded by the queue.
//!
//! Runs in a child process of the bench binary so that the earlier phases'
//! allocations do not hide (or cause) growth: VmHWM only ever rises.

use std::path::Path;
use std::process::Command;

use crate::common::{args, bind_request_context, proc_status_kib, sqlite_rows};

/// The child's findings.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub records: u64,
    pub stored: u64,
    pub queue_capacity: u64,
    /// VmHWM in KiB: after start-up (before the first call), at 10 %, 50 % and 100 % of the burst.
    pub hwm_kib: [u64; 4],
    pub secs: f64,
}

impl Outcome {
    /// Flat: the peak at the end is within 4 MiB of the peak at 10 % of the burst.
    pub fn flat(&self) -> bool {
        self.hwm_kib[3] <= self.hwm_kib[1] + 4_096
    }
}

/// Runs the burst in a child process and reads its one-line answer.
pub fn run(dir: &Path, records: u64) -> Result<Outcome, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("--memory-child")
        .arg(records.to_string())
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot start the burst child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("MEMORY "))
        .ok_or_else(|| format!("burst child failed: {}", String::from_utf8_lossy(&out.stderr)))?;
    let v: Vec<f64> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    if v.len() != 8 {
        return Err(format!("unexpected burst child output: {line}"));
    }
    Ok(Outcome {
        records: v[0] as u64,
        stored: v[1] as u64,
        queue_capacity: v[2] as u64,
        hwm_kib: [v[3] as u64, v[4] as u64, v[5] as u64, v[6] as u64],
        secs: v[7],
    })
}

/// The child's body: prints `MEMORY records stored capacity hwm0 hwm10 hwm50 hwm100 secs`.
pub fn child(records: u64, dir: &Path) {
    let db = dir.join("burst.db");
    let capacity = 8_192u64; // the default queue capacity
    let panel = log_panel::builder()
        .database(&db)
        .app("bench")
        .queue_capacity(capacity as usize)
        .build()
        .expect("start log-panel");
    bind_request_context();
    let mut hwm = [proc_status_kib("VmHWM"), 0, 0, 0];
    let (at10, at50) = (records / 10, records / 2);
    let start = std::time::Instant::now();
    for i in 0..records {
        if i == at10 {
            hwm[1] = proc_status_kib("VmHWM");
        } else if i == at50 {
            hwm[2] = proc_status_kib("VmHWM");
        }
        let (a, b) = args(i);
        log::info!(logger: panel, method = "GET", status = 200; "handled request {} in {} us", a, b);
    }
    panel.flush().expect("flush log-panel");
    let secs = start.elapsed().as_secs_f64();
    hwm[3] = proc_status_kib("VmHWM");
    drop(panel);
    let stored = sqlite_rows(&db);
    println!("MEMORY {records} {stored} {capacity} {} {} {} {} {secs}", hwm[0], hwm[1], hwm[2], hwm[3]);
}
