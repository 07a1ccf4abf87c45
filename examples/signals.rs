//! Graceful shutdown on SIGTERM / SIGINT: `cargo run --example signals`, then
//! press Ctrl-C (or `kill <pid>`).
//!
//! A signal handler may not do I/O, so it only sets a flag; the main loop sees
//! it, stops, and drops the guard, which drains the queue and commits every
//! record (or spools it if the database is down). Without this, SIGTERM's
//! default action kills the process like SIGKILL: whatever is still in the
//! in-memory queue is lost (the spool on disk survives either way).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = log_panel::builder().database("signals.db").init()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    println!("pid {}: logging every 100 ms; send SIGTERM or press Ctrl-C to stop", std::process::id());
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        log::info!(n = n; "working");
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
        // For a demo without a terminal: stop by itself after a while.
        if std::env::var_os("SIGNALS_DEMO_MAX").is_some_and(|m| m.to_string_lossy().parse() == Ok(n)) {
            break;
        }
    }
    log::warn!(logged = n; "signal received, shutting down");
    let report = log_panel::shutdown_timeout(Duration::from_secs(5));
    drop(guard);
    println!("stopped: {report:?}");
    Ok(())
}
