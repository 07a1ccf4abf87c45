//! The tracing layer into a panel of its own (no global logger, no global
//! subscriber except in `records_logged_by_the_sink_never_reenter`):
//! field mapping, the span/context merge order, `Span::record`, filters,
//! events converted from `log` records, limits, the writer-thread guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::TempDb;
use log_panel::tracing::LogPanelLayer;
use log_panel::Pipeline;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

fn panel(db: &TempDb) -> Arc<Pipeline> {
    Arc::new(log_panel::builder().database(&db.path).panic_hook(false).build().unwrap())
}

/// (level name, logger, message, module, file, line, raw context JSON) of every row, in order.
type Row = (String, String, String, Option<String>, Option<String>, Option<i64>, String);

fn rows(db: &TempDb) -> Vec<Row> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare(
            "SELECT l.name, r.logger, r.message, r.module, r.file, r.line, r.context
             FROM log_records r JOIN log_levels l ON l.level = r.level ORDER BY r.id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn event_fields_metadata_and_the_merge_order_of_spans_context_and_event() {
    let db = TempDb::new();
    let panel = panel(&db);
    let subscriber = tracing_subscriber::registry().with(LogPanelLayer::for_pipeline(Arc::clone(&panel)));
    let line = tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("request", request_id = "r-1", shared = "outer", user = "span-user");
        let _outer = outer.enter();
        let inner = tracing::debug_span!("db_query", shared = "inner", table = "users");
        let _inner = inner.enter();
        let line = {
            let _bound = log_panel::scope!(shared = "bound", tenant = "acme");
            let line = line!() + 1;
            tracing::warn!(shared = "event", rows = 3_u64, ok = true, ratio = 0.5, "query done in {} ms", 42);
            tracing::info!("bound over spans");
            line
        };
        tracing::info!("spans only");
        line
    });
    panel.flush().unwrap();
    let rows = rows(&db);
    assert_eq!(rows.len(), 3, "{rows:?}");

    let (level, logger, message, module, file, stored_line, context) = &rows[0];
    assert_eq!(level, "WARN");
    assert_eq!(logger, "tracing_layer");
    assert_eq!(message, "query done in 42 ms");
    assert_eq!(module.as_deref(), Some("tracing_layer"));
    assert!(file.as_deref().unwrap().ends_with("tracing_layer.rs"), "{file:?}");
    assert_eq!(*stored_line, Some(i64::from(line)));
    // Outermost span first, the span path, the inner span, the bound
    // context, then the event's own fields; the innermost value wins and the
    // key keeps one entry.
    assert_eq!(
        context,
        r#"{"span":"request > db_query","request_id":"r-1","user":"span-user","table":"users","tenant":"acme","shared":"event","rows":3,"ok":true,"ratio":0.5}"#
    );
    assert_eq!(
        rows[1].6,
        r#"{"span":"request > db_query","request_id":"r-1","shared":"bound","user":"span-user","table":"users","tenant":"acme"}"#
    );
    assert_eq!(
        rows[2].6,
        r#"{"span":"request > db_query","request_id":"r-1","shared":"inner","user":"span-user","table":"users"}"#
    );
}

#[test]
fn fields_recorded_later_are_seen_by_later_events_also_in_child_spans() {
    let db = TempDb::new();
    let panel = panel(&db);
    let subscriber = tracing_subscriber::registry().with(LogPanelLayer::for_pipeline(Arc::clone(&panel)));
    tracing::subscriber::with_default(subscriber, || {
        let job = tracing::info_span!("job", step = tracing::field::Empty, name = "import");
        let _job = job.enter();
        let child = tracing::info_span!("batch", n = 1);
        tracing::info!("before record");
        child.in_scope(|| tracing::info!("child before record"));
        job.record("step", 2);
        job.record("name", "renamed");
        tracing::info!("after record");
        // The child's cached scope context was computed before the record.
        child.in_scope(|| tracing::info!("child after record"));
    });
    panel.flush().unwrap();
    let contexts: Vec<(String, String)> = rows(&db).into_iter().map(|r| (r.2, r.6)).collect();
    assert_eq!(
        contexts,
        [
            ("before record".to_owned(), r#"{"span":"job","name":"import"}"#.to_owned()),
            ("child before record".to_owned(), r#"{"span":"job > batch","name":"import","n":1}"#.to_owned()),
            ("after record".to_owned(), r#"{"span":"job","name":"renamed","step":2}"#.to_owned()),
            ("child after record".to_owned(), r#"{"span":"job > batch","name":"renamed","step":2,"n":1}"#.to_owned()),
        ]
    );
}

#[test]
fn per_layer_filters_choose_events_and_ignore_rules_still_apply() {
    let db = TempDb::new();
    let panel = Arc::new(
        log_panel::builder()
            .database(&db.path)
            .panic_hook(false)
            .ignore_prefix("noisy")
            .ignore_message("healthcheck")
            .build()
            .unwrap(),
    );
    let filter = tracing_subscriber::EnvFilter::new("warn,app=debug");
    let subscriber =
        tracing_subscriber::registry().with(LogPanelLayer::for_pipeline(Arc::clone(&panel)).with_filter(filter));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!(target: "app::db", "kept: debug for app");
        tracing::trace!(target: "app::db", "filtered: trace");
        tracing::info!(target: "other", "filtered: info elsewhere");
        tracing::warn!(target: "other", "kept: warn elsewhere");
        tracing::error!(target: "noisy::client", "ignored by prefix");
        tracing::warn!(target: "other", "ignored: healthcheck ok");
        // A span the filter disables is not in the stored context; its child is.
        let hidden = tracing::trace_span!(target: "other", "hidden", secret = 1);
        let _hidden = hidden.enter();
        let shown = tracing::debug_span!(target: "app", "shown", visible = 2);
        let _shown = shown.enter();
        tracing::warn!(target: "app", "kept: in spans");
    });
    panel.flush().unwrap();
    let rows = rows(&db);
    let messages: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(messages, ["kept: debug for app", "kept: warn elsewhere", "kept: in spans"]);
    assert_eq!(rows[2].6, r#"{"span":"shown","visible":2}"#);
}

#[test]
fn events_converted_from_log_records_keep_the_records_call_site() {
    // No panel is `log`'s logger in this process, so the layer stores
    // converted records (the `init_for_tracing` + `LogTracer` set-up).
    let db = TempDb::new();
    let panel = panel(&db);
    let subscriber = tracing_subscriber::registry().with(LogPanelLayer::for_pipeline(Arc::clone(&panel)));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", request_id = "r-9");
        let _span = span.enter();
        tracing_log::format_trace(
            &log::Record::builder()
                .args(format_args!("from a library: {}", 7))
                .level(log::Level::Warn)
                .target("some_lib::pool")
                .module_path_static(Some("some_lib::pool"))
                .file_static(Some("src/pool.rs"))
                .line(Some(12))
                .build(),
        )
        .unwrap();
    });
    panel.flush().unwrap();
    let rows = rows(&db);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (level, logger, message, module, file, line, context) = &rows[0];
    assert_eq!((level.as_str(), logger.as_str(), message.as_str()), ("WARN", "some_lib::pool", "from a library: 7"));
    assert_eq!((module.as_deref(), file.as_deref(), *line), (Some("some_lib::pool"), Some("src/pool.rs"), Some(12)));
    // No `log.target`, `log.file`, … fields: they are the metadata above.
    assert_eq!(context, r#"{"span":"request","request_id":"r-9"}"#);
}

#[test]
fn long_messages_and_values_are_cut_and_counted() {
    let db = TempDb::new();
    let panel =
        Arc::new(log_panel::builder().database(&db.path).max_field_bytes(64).panic_hook(false).build().unwrap());
    let subscriber = tracing_subscriber::registry().with(LogPanelLayer::for_pipeline(Arc::clone(&panel)));
    let long = "x".repeat(10_000);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(body = long.as_str(), "{long}");
    });
    panel.flush().unwrap();
    let (message, original, body): (String, i64, String) = db
        .conn()
        .query_row("SELECT message, original_size, json_extract(context, '$.body') FROM log_records", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(message.len() < 100, "{}", message.len());
    assert_eq!(original, 10_000);
    assert!(body.len() < 120 && body.ends_with("(10000 bytes)"), "{body}");
    assert_eq!(panel.stats().truncated, 2);
}

/// Logs a tracing event from inside `write`, on the writer thread.
struct TracingSink(log_panel::SqliteSink);

impl log_panel::Sink for TracingSink {
    fn write(&mut self, batch: &log_panel::Batch<'_>) -> Result<(), log_panel::SinkError> {
        tracing::warn!(records = batch.records.len(), "sink writing");
        self.0.write(batch)
    }
}

#[test]
fn records_logged_by_the_sink_never_reenter() {
    let db = TempDb::new();
    let sink = TracingSink(log_panel::SqliteSink::open(&db.path).unwrap());
    let panel = Arc::new(log_panel::builder().sink(sink).panic_hook(false).build().unwrap());
    // Global, so that the writer thread sees it too.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(LogPanelLayer::for_pipeline(Arc::clone(&panel))),
    )
    .unwrap();
    for i in 0..10 {
        tracing::info!(target: "app", i, "from the app");
    }
    panel.flush().unwrap();
    assert_eq!(db.count("logger = 'app'"), 10);
    assert_eq!(db.count("1"), 10);
    assert!(panel.stats().writer_thread_records >= 1);
}
