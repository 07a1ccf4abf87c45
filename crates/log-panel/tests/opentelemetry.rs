//! Feature `opentelemetry`: a real `tracing-opentelemetry` layer over a real
//! OpenTelemetry SDK tracer provider (always-on sampler, in-memory exporter)
//! beside the log-panel layer, into a panel of its own stored in SQLite.
//! Each stored record's `trace_id` / `span_id` is compared with the span
//! context read back through the OpenTelemetry API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::TempDb;
use log_panel::tracing::LogPanelLayer;
use log_panel::Pipeline;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

fn panel(db: &TempDb) -> Arc<Pipeline> {
    Arc::new(log_panel::builder().database(&db.path).panic_hook(false).build().unwrap())
}

fn provider() -> SdkTracerProvider {
    SdkTracerProvider::builder().with_simple_exporter(InMemorySpanExporter::default()).build()
}

/// (message, trace_id, span_id) of every row, in order.
fn rows(db: &TempDb) -> Vec<(String, Option<String>, Option<String>)> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare(
            "SELECT message, json_extract(context, '$.trace_id'), json_extract(context, '$.span_id')
             FROM log_records ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// A record's (trace_id, span_id), `None` where absent.
type Ids = (Option<String>, Option<String>);

/// The W3C hex of a span's ids, formatted here from the raw bytes (not with
/// the crate's own `Display`), read through the OpenTelemetry API.
fn ids_of(span: &tracing::Span) -> Ids {
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    assert!(sc.is_valid(), "the SDK gave the span a valid context");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    (Some(hex(&sc.trace_id().to_bytes())), Some(hex(&sc.span_id().to_bytes())))
}

/// Events in a root span, its child, a second root, and outside any span;
/// the expected ids of each, in the order logged.
fn log_in_spans() -> Vec<(&'static str, Ids)> {
    let mut want = Vec::new();
    let root = tracing::info_span!("root");
    root.in_scope(|| {
        tracing::info!("in root");
        let child = tracing::info_span!("child", table = "users");
        child.in_scope(|| tracing::info!("in child"));
        want.push(("in root", ids_of(&root)));
        want.push(("in child", ids_of(&child)));
    });
    // An explicit parent, not entered.
    let other = tracing::info_span!("other root");
    tracing::info!(parent: &other, "explicit parent");
    want.push(("explicit parent", ids_of(&other)));
    tracing::info!("no span");
    want.push(("no span", (None, None)));
    want
}

fn check(db: &TempDb, want: &[(&str, Ids)]) {
    let rows = rows(db);
    let got: Vec<(&str, Ids)> = rows.iter().map(|(m, t, s)| (m.as_str(), (t.clone(), s.clone()))).collect();
    // The want list is built in a different order than the rows were logged.
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted = want.to_vec();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted);
    // Child and root share the trace, not the span; the second root has a trace of its own.
    let find = |m: &str| want.iter().find(|(w, _)| *w == m).unwrap().1.clone();
    assert_eq!(find("in root").0, find("in child").0);
    assert_ne!(find("in root").1, find("in child").1);
    assert_ne!(find("in root").0, find("explicit parent").0);
}

#[test]
fn records_in_spans_carry_the_span_context_of_tracing_opentelemetry() {
    // Both layer orders, with the OpenTelemetry context activated on entry
    // (the default) and without (then only the span's extensions have it).
    for (otel_first, activation) in [(true, true), (false, true), (true, false), (false, false)] {
        let db = TempDb::new();
        let panel = panel(&db);
        let provider = provider();
        // A macro: each subscriber stack types the layer differently.
        macro_rules! otel {
            () => {
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("log-panel-test"))
                    .with_context_activation(activation)
            };
        }
        let ours = LogPanelLayer::for_pipeline(Arc::clone(&panel));
        let want = if otel_first {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(otel!()).with(ours), log_in_spans)
        } else {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(ours).with(otel!()), log_in_spans)
        };
        panel.flush().unwrap();
        check(&db, &want);
        provider.shutdown().unwrap();
    }
}

#[test]
fn a_global_subscriber_works_the_same() {
    // Global: `get_default` inside the layer would see this dispatcher too,
    // but the layer uses the one it was registered with either way.
    let db = TempDb::new();
    let panel = panel(&db);
    let provider = provider();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("log-panel-test"));
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(otel).with(LogPanelLayer::for_pipeline(Arc::clone(&panel))),
    )
    .unwrap();
    let want = log_in_spans();
    panel.flush().unwrap();
    check(&db, &want);
}

#[test]
fn an_attached_opentelemetry_context_without_tracing_opentelemetry_gives_its_ids() {
    let db = TempDb::new();
    let panel = panel(&db);
    let provider = provider();
    let tracer = provider.tracer("log-panel-test");
    let subscriber = tracing_subscriber::registry().with(LogPanelLayer::for_pipeline(Arc::clone(&panel)));
    let (trace, span) = tracing::subscriber::with_default(subscriber, || {
        let span = tracer.start("handler");
        let sc = span.span_context().clone();
        let cx = opentelemetry::Context::current_with_span(span);
        {
            let _attached = cx.attach();
            // A traceparent bound by the tower layer is replaced by the span's own ids.
            let _bound = log_panel::scope!(trace_id = "0af7651916cd43dd8448eb211c80319c", span_id = "b7ad6b7169203331");
            tracing::info!("attached");
        }
        tracing::info!("detached");
        (
            format!("{:032x}", u128::from_be_bytes(sc.trace_id().to_bytes())),
            format!("{:016x}", u64::from_be_bytes(sc.span_id().to_bytes())),
        )
    });
    panel.flush().unwrap();
    assert_eq!(rows(&db), vec![("attached".to_owned(), Some(trace), Some(span)), ("detached".to_owned(), None, None)]);
}

#[test]
fn log_records_inside_an_entered_span_carry_its_ids() {
    // `log` records reach log-panel's own logger (here the panel, as `log::Log`),
    // not the tracing layer: the ids come from the context that
    // tracing-opentelemetry attaches when the span is entered.
    let db = TempDb::new();
    let panel = panel(&db);
    let provider = provider();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("log-panel-test"));
    let want = tracing::subscriber::with_default(tracing_subscriber::registry().with(otel), || {
        let span = tracing::info_span!("work");
        let _entered = span.enter();
        let record = log::Record::builder()
            .args(format_args!("through log"))
            .level(log::Level::Info)
            .target("otel::log")
            .build();
        log::Log::log(&*panel, &record);
        ids_of(&span)
    });
    panel.flush().unwrap();
    assert_eq!(rows(&db), vec![("through log".to_owned(), want.0, want.1)]);
}
