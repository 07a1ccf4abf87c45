//! Records to write in tests, and filters to read them back with.

use log_panel_core::{Context, Level, Origin, Record};
use log_panel_query::RecordFilter;

/// 2026-11-20T00:00:00Z, in microseconds.
pub const BASE: i64 = 1_795_132_800 * 1_000_000;

/// The origin of records that need no particular one.
pub fn origin() -> Origin {
    Origin::new("test", "h", 42)
}

/// `n` INFO records of logger `t` with messages `{prefix}0`, `{prefix}1`, ….
pub fn numbered(prefix: &str, n: usize) -> Vec<Record> {
    (0..n).map(|i| Record::new(Level::Info, "t", format!("{prefix}{i}"))).collect()
}

/// The default filter changed by `edit`.
pub fn filter(edit: impl FnOnce(&mut RecordFilter)) -> RecordFilter {
    let mut f = RecordFilter::default();
    edit(&mut f);
    f
}

/// Records per batch: the writer's default batch size.
pub const APP_BATCH: usize = 1_000;

/// Batch `n` shaped like an application's logging (for the SQLite sink's
/// tests and its WAL bench): a formatted message, four loggers, mixed levels, a call site,
/// a request id and two more context fields.
pub fn app_batch(n: usize) -> Vec<Record> {
    (0..APP_BATCH)
        .map(|i| {
            let k = n * APP_BATCH + i;
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
