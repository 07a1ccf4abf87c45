//! A [`tracing_subscriber::Layer`] that stores `tracing` events through the
//! same queue and writer thread as the `log` facade (feature `tracing`).
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The pipeline (and `log`'s logger), then the subscriber with the layer.
//!     let _panel = log_panel::builder().database("app.db").init()?;
//!     tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log_panel::tracing::layer()))?;
//!
//!     let span = tracing::info_span!("request", request_id = "r-1");
//!     let _entered = span.enter();
//!     tracing::info!(user = "ann", "signed in"); // context {"span":"request","request_id":"r-1"}, kv {"user":"ann"}
//!     Ok(())
//! }
//! ```
//!
//! # Mapping
//!
//! * The event's `message` field is the message; its other fields are the
//!   record's key-values, typed (`i64`, `u64`, `f64`, `bool`, strings;
//!   anything recorded with `Debug` or `Display` becomes a string).
//! * Level, target (the logger), module path, file and line come from the
//!   event's metadata.
//! * The record's context is the fields of every span in the event's scope,
//!   outermost first, with a `span` key holding the span names
//!   (`request > db_query`); then the log-panel context bound on the thread
//!   (see [`context`]); the event's own fields are merged over
//!   both when stored. On a clash the innermost wins. Fields recorded later
//!   with `Span::record` are seen by the events after it.
//!
//! # Filtering
//!
//! Which events reach the layer is tracing's business: a global filter, or a
//! per-layer one (`layer().with_filter(EnvFilter::new("info"))`). log-panel's
//! ignore rules (`ignore_prefix`, `ignore_logger`, `ignore_message`) apply on
//! top; its `filter.directives` apply to the `log` facade only.
//!
//! # `log` records
//!
//! With [`Builder::init`](crate::Builder::init) log-panel is `log`'s logger and
//! stores `log` records itself; events that `tracing-log` converted from `log`
//! records are then skipped by the layer, so nothing is stored twice. With
//! [`Builder::init_for_tracing`](crate::Builder::init_for_tracing) the `log`
//! slot stays free for a bridge from `log` to `tracing`, and the layer stores
//! the converted events (with the original record's target, module, file and
//! line). Use log-panel's [`LogTracer`] as that bridge: it keeps the `log`
//! record's key-values, which `tracing_log::LogTracer` drops.
//!
//! # OpenTelemetry
//!
//! With feature `opentelemetry`, an event inside a span that
//! `tracing-opentelemetry`'s layer tracks (in the same subscriber), or
//! logged while an OpenTelemetry context is attached, is stored with the
//! context keys `trace_id` and `span_id` (W3C lowercase hex), over any
//! value bound under those keys (such as the `traceparent` ids of the
//! `tower` layer: the span's own ids are more precise).
//!
//! See `docs/tracing.md` for the whole mapping and what is not supported.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use log_panel_core::{context, Context, Record, Text, Timestamp, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record as SpanValues};
use tracing_core::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

pub use crate::log_bridge::LogTracer;

use crate::clock::Tick;
use crate::logger::{format_message, Logger};
use crate::stats::Counters;
use crate::thread::thread_name;
use crate::Pipeline;

/// The layer, storing into the global pipeline started by
/// [`Builder::init`](crate::Builder::init) or
/// [`Builder::init_for_tracing`](crate::Builder::init_for_tracing) (or
/// [`init`](crate::init)). Events before it starts, or after it shuts down,
/// are dropped as `log` records are.
pub fn layer() -> LogPanelLayer {
    LogPanelLayer::to(Destination::Global)
}

/// A [`tracing_subscriber::Layer`] storing events into a log-panel pipeline
/// (see the [module](self) documentation).
#[derive(Clone)]
pub struct LogPanelLayer {
    pipeline: Destination,
    /// The subscriber this layer was registered with: what
    /// `tracing-opentelemetry` needs to find a span's OpenTelemetry context.
    #[cfg(feature = "opentelemetry")]
    dispatch: std::sync::OnceLock<tracing_core::dispatcher::WeakDispatch>,
}

#[derive(Clone)]
enum Destination {
    Global,
    Pipeline(Arc<Pipeline>),
}

impl LogPanelLayer {
    /// A layer storing into `pipeline`, one of its own that is not the
    /// global one (built with [`Builder::build`](crate::Builder::build)).
    pub fn for_pipeline(pipeline: Arc<Pipeline>) -> LogPanelLayer {
        LogPanelLayer::to(Destination::Pipeline(pipeline))
    }

    fn to(pipeline: Destination) -> LogPanelLayer {
        LogPanelLayer {
            pipeline,
            #[cfg(feature = "opentelemetry")]
            dispatch: std::sync::OnceLock::new(),
        }
    }

    fn logger(&self) -> Option<&Logger> {
        match &self.pipeline {
            Destination::Global => crate::global::pipeline().map(|p| &p.logger),
            Destination::Pipeline(p) => Some(&p.logger),
        }
    }
}

impl fmt::Debug for LogPanelLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pipeline = match &self.pipeline {
            Destination::Global => "global",
            Destination::Pipeline(_) => "own",
        };
        f.debug_struct("LogPanelLayer").field("pipeline", &pipeline).finish()
    }
}

/// Bumped by every `Span::record`: a span's cached scope context is reused
/// only while no span anywhere has recorded since it was computed. Recording
/// is rare next to events, so the cache almost always holds.
static RECORDED: AtomicU64 = AtomicU64::new(0);

/// What the layer keeps in each span's extensions.
struct SpanFields {
    /// The span's own fields, in the order first recorded.
    own: Vec<(Arc<str>, Value)>,
    /// The context of the span's whole scope: ancestors' fields, the `span`
    /// path, then its own. Computed on first use, valid while `generation`
    /// equals [`RECORDED`].
    merged: Option<(u64, Context)>,
}

/// The key holding the span path.
const SPAN_KEY: &str = "span";
const PATH_SEPARATOR: &str = " > ";

/// The context of `span`'s scope, from the cache when it is current.
fn scope_context<S>(span: &SpanRef<'_, S>) -> Context
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let generation = RECORDED.load(Ordering::Acquire);
    if let Some(fields) = span.extensions().get::<SpanFields>() {
        if let Some((valid_for, merged)) = &fields.merged {
            if *valid_for == generation {
                return merged.clone();
            }
        }
    }
    // No lock is held while the parent's context is computed (it may lock its own span).
    let parent = span.parent().map(|p| scope_context(&p)).unwrap_or_default();
    let path: Arc<str> = match parent.get(SPAN_KEY) {
        Some(Value::Str(p)) => Arc::from(format!("{}{PATH_SEPARATOR}{}", p.as_str(), span.name())),
        _ => Arc::from(span.name()),
    };
    let mut extensions = span.extensions_mut();
    let Some(fields) = extensions.get_mut::<SpanFields>() else {
        // A span this layer never saw created: keep its name in the path only.
        return parent.with(SPAN_KEY, path);
    };
    let merged = parent.with(SPAN_KEY, path).merge(fields.own.iter().cloned());
    fields.merged = Some((generation, merged.clone()));
    merged
}

fn level(level: &tracing_core::Level) -> log::Level {
    match *level {
        tracing_core::Level::ERROR => log::Level::Error,
        tracing_core::Level::WARN => log::Level::Warn,
        tracing_core::Level::INFO => log::Level::Info,
        tracing_core::Level::DEBUG => log::Level::Debug,
        _ => log::Level::Trace,
    }
}

/// Fields `tracing-log` adds to a converted record; already in the metadata.
fn is_log_field(name: &str) -> bool {
    name.starts_with("log.")
}

/// The field holding an event's message.
const MESSAGE: &str = "message";

/// Converts field values with the `log` facade's own conversion, so both
/// facades type and cut values the same way.
fn convert(value: &log::kv::Value<'_>, limit: usize, counters: &Counters) -> Value {
    let (value, was_cut) = Value::from_log_limited(value, limit);
    if was_cut {
        Counters::add(&counters.truncated, 1);
    }
    value
}

/// Collects an event's message and key-values.
struct EventFields<'a> {
    message: Option<(Text, Option<u64>)>,
    kv: Vec<(Text, Value)>,
    limit: usize,
    counters: &'a Counters,
    /// The event came from a `log` record: skip `log.*` fields.
    from_log: bool,
}

impl EventFields<'_> {
    fn push(&mut self, field: &Field, value: &log::kv::Value<'_>) {
        if self.from_log && is_log_field(field.name()) {
            return;
        }
        let value = convert(value, self.limit, self.counters);
        // Field names are `'static`: no copy, no interning needed.
        self.kv.push((Cow::Borrowed(field.name()), value));
    }
}

impl Visit for EventFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == MESSAGE {
            self.message = Some(format_message(&format_args!("{value:?}"), self.limit));
        } else {
            self.push(field, &log::kv::Value::from_debug(&value));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == MESSAGE {
            self.message = Some(match log_panel_core::record::cut(value, self.limit) {
                None => (Cow::Owned(value.to_owned()), None),
                Some(c) => (Cow::Owned(c), Some(value.len() as u64)),
            });
        } else {
            self.push(field, &log::kv::Value::from(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, &log::kv::Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, &log::kv::Value::from(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, &log::kv::Value::from(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, &log::kv::Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, &log::kv::Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, &log::kv::Value::from(value));
    }
}

/// Collects or updates a span's own fields.
struct SpanVisitor<'a> {
    own: &'a mut Vec<(Arc<str>, Value)>,
    limit: usize,
    counters: &'a Counters,
}

impl SpanVisitor<'_> {
    fn set(&mut self, field: &Field, value: &log::kv::Value<'_>) {
        let value = convert(value, self.limit, self.counters);
        match self.own.iter_mut().find(|(k, _)| &**k == field.name()) {
            Some(slot) => slot.1 = value,
            None => self.own.push((Arc::from(field.name()), value)),
        }
    }
}

impl Visit for SpanVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, &log::kv::Value::from_debug(&value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, &log::kv::Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, &log::kv::Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, &log::kv::Value::from(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.set(field, &log::kv::Value::from(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set(field, &log::kv::Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, &log::kv::Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, &log::kv::Value::from(value));
    }
}

/// An event's message for stderr, where records logged on the writer thread go.
struct MessageOf<'a, 'e>(&'a Event<'e>);

impl fmt::Display for MessageOf<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Find<'f, 'g> {
            f: &'f mut fmt::Formatter<'g>,
            result: fmt::Result,
        }
        impl Visit for Find<'_, '_> {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                if field.name() == MESSAGE {
                    self.result = write!(self.f, "{value:?}");
                }
            }
        }
        let mut find = Find { f, result: Ok(()) };
        self.0.record(&mut find);
        find.result
    }
}

impl<S> tracing_subscriber::Layer<S> for LogPanelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    #[cfg(feature = "opentelemetry")]
    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        // A layer serves one subscriber; a clone registered elsewhere has its own cell.
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let (Some(logger), Some(span)) = (self.logger(), ctx.span(id)) else {
            return;
        };
        let mut own = Vec::with_capacity(attrs.fields().len());
        attrs.record(&mut SpanVisitor { own: &mut own, limit: logger.max_field_bytes, counters: &logger.counters });
        span.extensions_mut().insert(SpanFields { own, merged: None });
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: LayerContext<'_, S>) {
        let (Some(logger), Some(span)) = (self.logger(), ctx.span(id)) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut SpanVisitor {
                own: &mut fields.own,
                limit: logger.max_field_bytes,
                counters: &logger.counters,
            });
            fields.merged = None;
            // Descendants' cached contexts include this span's fields.
            RECORDED.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let Some(logger) = self.logger() else {
            return;
        };
        let normalized = event.normalized_metadata();
        let from_log = normalized.is_some();
        if from_log && crate::global::is_log_logger() {
            // The `log` record itself went to log-panel's `log` logger.
            return;
        }
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let level = level(metadata.level());
        if logger.ignore.ignores_logger(metadata.target()) {
            return;
        }
        if !logger.admit(level, metadata.target(), &MessageOf(event)) {
            return;
        }
        // First, so that the time is the call's, not the end of its capture.
        let tick = Tick::now();
        let mut fields = EventFields {
            message: None,
            kv: crate::recycle::pairs(metadata.fields().len().saturating_sub(1)),
            limit: logger.max_field_bytes,
            counters: &logger.counters,
            from_log,
        };
        event.record(&mut fields);
        if from_log {
            // What `tracing_log` drops, kept by log-panel's `LogTracer`.
            fields.kv.extend(crate::log_bridge::pending_kv());
        }
        let (message, original_size) = fields.message.take().unwrap_or((Cow::Borrowed(""), None));
        if logger.ignores_message(&message) {
            return;
        }
        let event_span = ctx.event_span(event);
        #[cfg(feature = "opentelemetry")]
        let trace_ids = crate::otel::span_ids(self.dispatch.get(), event_span.as_ref().map(|s| s.id()).as_ref());
        let spans = event_span.map(|span| scope_context(&span)).unwrap_or_default();
        let (target, module_path, file): (Text, Option<Text>, Option<Text>) = if from_log {
            (
                Cow::Owned(metadata.target().to_owned()),
                metadata.module_path().map(|m| Cow::Owned(m.to_owned())),
                metadata.file().map(|f| Cow::Owned(f.to_owned())),
            )
        } else {
            // A tracing callsite's metadata is `'static`: borrow it.
            let m = event.metadata();
            (Cow::Borrowed(m.target()), m.module_path().map(Cow::Borrowed), m.file().map(Cow::Borrowed))
        };
        // The writer sets the timestamp from the call's `Tick` (see `clock`).
        let mut record = Record::at(Timestamp(0), level, target, message, thread_name());
        record.module_path = module_path;
        record.file = file;
        record.line = metadata.line();
        record.kv = fields.kv;
        // Span fields first, the bound context over them; the event's own
        // fields (`kv`) go over both when the record is stored.
        record.context = spans.merge_context(&context::current());
        #[cfg(feature = "opentelemetry")]
        {
            record.context = crate::otel::with_ids(record.context, trace_ids);
        }
        record.original_size = original_size;
        logger.submit(record, tick);
    }
}
