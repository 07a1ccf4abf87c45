//! The OpenTelemetry trace and span ids of the code being logged (feature
//! `opentelemetry`), stored as the context keys
//! [`TRACE_ID_KEY`] and [`SPAN_ID_KEY`] in W3C's lowercase hex.
//!
//! Two sources, the first that holds a valid (non-zero) span context wins:
//!
//! 1. The tracing span an event belongs to, when `tracing-opentelemetry`'s
//!    layer tracks it: its OpenTelemetry context, read through
//!    [`tracing_opentelemetry::get_otel_context`] (the `Dispatch` it needs is
//!    the one the log-panel layer was registered with).
//! 2. The OpenTelemetry context attached on the thread
//!    ([`opentelemetry::Context::current`]): set by code that uses the
//!    OpenTelemetry API directly, and by `tracing-opentelemetry` when a span
//!    is entered (its default "context activation"). This is also what gives
//!    `log` records their ids.

use log_panel_core::trace::{SPAN_ID_KEY, TRACE_ID_KEY};
use log_panel_core::Context;
use opentelemetry::trace::TraceContextExt;

/// A valid span context's ids, as lowercase hex.
fn ids_of(cx: &opentelemetry::Context) -> Option<(String, String)> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// The ids of the OpenTelemetry context attached on this thread.
pub(crate) fn current_ids() -> Option<(String, String)> {
    opentelemetry::Context::map_current(ids_of)
}

/// The ids of `span`, a span of `dispatch`, when `tracing-opentelemetry`
/// tracks it; else those of the attached context.
pub(crate) fn span_ids(
    dispatch: Option<&tracing_core::dispatcher::WeakDispatch>,
    span: Option<&tracing_core::span::Id>,
) -> Option<(String, String)> {
    if let (Some(dispatch), Some(span)) = (dispatch.and_then(|d| d.upgrade()), span) {
        // `None` when no tracing-opentelemetry layer is in the subscriber.
        if let Some(ids) = tracing_opentelemetry::get_otel_context(span, &dispatch).as_ref().and_then(ids_of) {
            return Some(ids);
        }
    }
    current_ids()
}

/// `context` with the ids set over whatever it held under their keys.
pub(crate) fn with_ids(context: Context, ids: Option<(String, String)>) -> Context {
    match ids {
        Some((trace, span)) => context.merge([(TRACE_ID_KEY, trace), (SPAN_ID_KEY, span)]),
        None => context,
    }
}
