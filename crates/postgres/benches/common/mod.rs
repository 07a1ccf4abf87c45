//! The records both PostgreSQL benches encode.

use std::sync::Arc;

use log_panel_core::{Context, Level, Record, Timestamp, Value};

/// `n` records of a web service: four threads, a request id and a user in
/// the context, a sequence number and a status of their own.
pub fn records(n: usize) -> Vec<Record> {
    let levels = [Level::Info, Level::Info, Level::Info, Level::Debug, Level::Warn, Level::Error];
    let threads: Vec<Arc<str>> = (0..4).map(|t| Arc::from(format!("worker-{t}"))).collect();
    let start = 1_763_800_000_000_000i64;
    (0..n)
        .map(|i| {
            let mut r = Record::new(
                levels[i % levels.len()],
                "billing::api::handlers",
                format!("request {i} served in {} ms", i % 97),
            );
            r.timestamp = Timestamp(start + i as i64 * 13);
            r.module_path = Some("billing::api::handlers".into());
            r.file = Some("src/api/handlers.rs".into());
            r.line = Some(120 + (i % 50) as u32);
            r.thread = Arc::clone(&threads[i % threads.len()]);
            r.context = Context::from_pairs([
                ("request_id", Value::from(format!("req-{}", i / 10))),
                ("user_id", Value::from(i as i64 % 1000)),
            ]);
            r.kv.push(("seq".into(), Value::I64(i as i64)));
            r.kv.push(("status".into(), Value::I64(200)));
            r
        })
        .collect()
}
