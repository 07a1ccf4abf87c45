//! The README's first command: `cargo run --example quickstart`.
//!
//! Logs a handful of records at several levels, with key-values, into
//! `log_panel.db` in the working directory (or wherever `log_panel.toml` /
//! `$LOG_PANEL_DATABASE_URL` say), then shows how to look at them.

use log::{debug, error, info, warn};

fn main() -> Result<(), log_panel::Error> {
    // Reads ./log_panel.toml or $LOG_PANEL_CONFIG if present; otherwise the
    // defaults: SQLite file log_panel.db, level INFO.
    let panel = log_panel::init()?;

    info!(version = env!("CARGO_PKG_VERSION"); "quickstart started");
    info!(user_id = 7, plan = "pro", trial = false; "user signed up");
    debug!("not stored: below the default INFO level");
    warn!(order_id = 1234, amount = 99.5; "card declined, retrying");
    error!(target: "billing::payments", order_id = 1234; "payment failed after {} attempts", 3);
    info!(elapsed_ms = 12; "quickstart finished");

    let storage = panel.storage(); // where the records go: the config can point elsewhere
    drop(panel); // drains the queue and commits every record; also happens at end of scope
    let stats = log_panel::stats();
    let Ok(log_panel::Database::Sqlite(file)) = storage.parse() else {
        println!("log-panel: {} records written to {storage}", stats.written);
        println!("See them:  cargo run -p log-panel-cli -- tail");
        println!("Or with psql (table log_records; levels in log_levels; see docs/schema.md).");
        return Ok(());
    };
    let db = file.display();
    println!("log-panel: {} records written to {db}", stats.written);
    println!();
    // The command finds the same database the same way (log_panel.toml, $LOG_PANEL_DATABASE_URL).
    println!("See them:  cargo run -p log-panel-cli -- tail");
    println!("Only warnings and errors, as JSON:  cargo run -p log-panel-cli -- query --level warn --format json");
    println!();
    println!("Or with sqlite3:");
    println!(
        "  sqlite3 -header -column {db} \\\n    \"SELECT ts, name AS level, logger, message, context FROM log_records JOIN log_levels USING (level) ORDER BY id DESC LIMIT 10\""
    );
    println!("Warnings and errors only:");
    println!("  sqlite3 {db} \"SELECT ts, logger, message FROM log_records WHERE level >= 30\"");
    println!("A key-value:");
    println!("  sqlite3 {db} \"SELECT message FROM log_records WHERE json_extract(context, '$.order_id') = 1234\"");
    Ok(())
}
