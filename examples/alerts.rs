//! Alerts: `cargo run --example alerts`.
//!
//! A payment service fails repeatedly. With an ERROR threshold of 5 per
//! window, the fifth failure from the `billing::payments` logger fires the
//! callback — once: the sixth and seventh keep the count above the threshold
//! and fire nothing. Records go to `log_panel.db` in the working directory.

use std::time::Duration;

use log::{error, info, warn};
use log_panel::Level;

fn main() -> Result<(), log_panel::Error> {
    let guard = log_panel::builder()
        .database("log_panel.db")
        .alert_threshold(Level::Error, Some(5)) // 5 errors from one logger…
        .alert_window(Duration::from_secs(600)) // …within 10 minutes
        .alert_threshold(Level::Warn, None) // no alert for warnings in this example
        .on_alert(|event| {
            // Runs on the `log-panel-alerts` thread, after the records are stored.
            // A real application would post to a webhook or a pager here,
            // e.g. `client.post(WEBHOOK_URL).json(&payload).send()`.
            println!("ALERT: {event}");
            println!("  logger {} / level {}", event.logger, event.level);
            println!(
                "  {} records in {} .. {}",
                event.count,
                event.window_start.to_rfc3339(),
                event.window_end.to_rfc3339()
            );
            if let (Some(file), Some(line)) = (&event.file, event.line) {
                println!("  last one: {:?} at {file}:{line}", event.message);
            }
            // Logging from a callback is fine: the record is stored, but not
            // counted toward thresholds, so it cannot trigger another alert.
            warn!(target: "alerting", "sent alert for {}", event.logger);
        })
        .init()?;

    info!(target: "billing::payments", "payment service started");
    for attempt in 1..=7 {
        error!(target: "billing::payments", order_id = 1000 + attempt; "payment failed (attempt {})", attempt);
    }
    error!(target: "shipping", "one error from another logger: below its threshold");

    drop(guard); // commits everything; returns once the callback has run
    let stats = log_panel::alert_stats();
    println!("{} alert(s) fired, {} record(s) written", stats.fired, log_panel::stats().written);
    println!("Per-logger totals: sqlite3 -header -column log_panel.db \"SELECT * FROM log_logger_stats\"");
    Ok(())
}
