//! A fleet writing at once: [`PROCESSES`] processes, each one application
//! logging as fast as it can through its own log-panel pipeline, into one
//! PostgreSQL server and into the two-shard ClickHouse cluster. Total and
//! per-process throughput, and whether every record arrived exactly once.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::throughput::log_burst;

/// Processes writing at once.
pub const PROCESSES: usize = 8;

/// One fleet run's figures.
#[derive(Debug)]
pub struct Outcome {
    /// The storage written to.
    pub storage: &'static str,
    /// Records each process logged.
    pub per_process: u64,
    /// From the first process started to the last one done, seconds.
    pub secs: f64,
    /// Each process's own records per second (first call to final flush).
    pub rates: Vec<f64>,
    /// Rows found afterwards.
    pub stored: u64,
}

impl Outcome {
    /// Records per second over all processes.
    pub fn total_rate(&self) -> f64 {
        (self.per_process * PROCESSES as u64) as f64 / self.secs.max(1e-9)
    }
}

/// The child: logs `records` shape-(b) records into `url` from one thread,
/// and prints its seconds (first call to end of final flush).
pub fn child(url: &str, records: u64) {
    let panel =
        log_panel::builder().database(url).app("fleet").batch_size(10_000).build().expect("start log-panel (fleet)");
    let secs = log_burst(&panel, records, 1);
    drop(panel);
    println!("{secs}");
}

/// Runs [`PROCESSES`] children into `url` at once; `stored` counts the rows afterwards.
pub fn run(storage: &'static str, url: &str, per_process: u64, stored: impl Fn() -> u64) -> Outcome {
    let exe = std::env::current_exe().expect("the bench binary");
    let start = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["--fleet-child", url, &per_process.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a fleet process")
        })
        .collect();
    let rates = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("a fleet process");
            let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(f64::INFINITY);
            per_process as f64 / secs
        })
        .collect();
    let secs = start.elapsed().as_secs_f64();
    Outcome { storage, per_process, secs, rates, stored: stored() }
}
