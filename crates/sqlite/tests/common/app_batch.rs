//! Batches shaped like an application's logging, for the sink's tests and
//! its WAL bench (`benches/wal.rs`).

use log_panel_core::{Context, Level, Record};

/// Records per batch: the writer's default batch size.
pub const BATCH: usize = 1_000;

/// Batch `n`: a formatted message, four loggers, mixed levels, a call site,
/// a request id and two more context fields.
pub fn batch(n: usize) -> Vec<Record> {
    (0..BATCH)
        .map(|i| {
            let k = n * BATCH + i;
            let logger = ["app::http", "app::db", "billing::payments", "hyper::proto"][k % 4];
            let level = [Level::Info, Level::Debug, Level::Warn, Level::Info, Level::Error][k % 5];
            let mut r =
                Record::new(level, logger, format!("handled request {k} in {} ms for user {}", k % 97, k % 1_013));
            r.module_path = Some(logger.into());
            r.file = Some("src/http.rs".into());
            r.line = Some(42);
            r.context = Context::from_pairs([
                ("request_id", format!("req-{:08x}", k / 7)),
                ("user", format!("u{}", k % 1_013)),
                ("route", "/api/orders".to_owned()),
            ]);
            r
        })
        .collect()
}
