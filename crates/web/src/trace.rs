//! Trace correlation on the panel: a record's `trace_id` / `span_id` (context
//! keys, see [`log_panel_core::trace`]) shown on the record page, with a link
//! to the trace in an external viewer (Jaeger, Tempo, …) built from a URL
//! template, and the trace view: every record of one trace, which is the
//! request view of `/related` (keyset paging, offsets, waterfall) for the key
//! `trace_id`.

use log_panel_core::trace::{SPAN_ID_KEY, TRACE_ID_KEY};
use log_panel_query::StoredRecord;
use maud::{html, Markup};

use crate::extract::Ctx;
use crate::html::Shown;
use crate::rows::field_text;
use crate::url::encode;

/// The placeholder of the trace id in a [`TraceUrl`] template.
pub const TRACE_ID_PLACEHOLDER: &str = "{trace_id}";
/// The placeholder of the span id in a [`TraceUrl`] template (optional).
pub const SPAN_ID_PLACEHOLDER: &str = "{span_id}";

/// Why a trace URL template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceUrlError {
    /// The template does not start with `http://` or `https://`.
    #[error("trace URL `{0}`: only http:// and https:// links are made")]
    Scheme(String),
    /// The template has no `{trace_id}`.
    #[error("trace URL `{0}`: no {{trace_id}} placeholder")]
    NoPlaceholder(String),
}

/// A link template to a trace viewer, such as
/// `http://localhost:16686/trace/{trace_id}` (Jaeger) or
/// `https://grafana.example/explore?…{trace_id}…` (Tempo). `{trace_id}`
/// (required) and `{span_id}` (optional) are replaced by the record's ids,
/// percent-encoded; only `http` and `https` templates are accepted, so a
/// link can never run script (`javascript:`) or open a local file.
///
/// ```
/// use log_panel_web::TraceUrl;
/// let url = TraceUrl::parse("http://localhost:16686/trace/{trace_id}").unwrap();
/// assert_eq!(url.link("4bf92f3577b34da6a3ce929d0e0e4736", None), "http://localhost:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(TraceUrl::parse("javascript:alert(1)//{trace_id}").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceUrl {
    template: String,
}

impl TraceUrl {
    /// Checks a template: `http://` or `https://` (any case), with `{trace_id}`.
    pub fn parse(template: &str) -> Result<TraceUrl, TraceUrlError> {
        let template = template.trim();
        let lower = template.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(TraceUrlError::Scheme(template.to_owned()));
        }
        if !template.contains(TRACE_ID_PLACEHOLDER) {
            return Err(TraceUrlError::NoPlaceholder(template.to_owned()));
        }
        Ok(TraceUrl { template: template.to_owned() })
    }

    /// The template as given.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The link for a trace (and span): every placeholder replaced by the
    /// percent-encoded id (a `{span_id}` with no span id becomes empty).
    pub fn link(&self, trace_id: &str, span_id: Option<&str>) -> String {
        self.template
            .replace(TRACE_ID_PLACEHOLDER, &percent_encode(trace_id))
            .replace(SPAN_ID_PLACEHOLDER, &percent_encode(span_id.unwrap_or("")))
    }
}

/// Every byte but RFC 3986's unreserved ones as `%XX`: safe in a path, a
/// query or a fragment, whatever was stored under the key.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The record page's trace block: the ids, every record of the trace one
/// click away, and the viewer link when a template is configured. Empty
/// when the record has no trace id.
pub(crate) fn record_block(ctx: &Ctx, r: &StoredRecord, url: Option<&TraceUrl>) -> Markup {
    let Some(trace) = r.context.get(TRACE_ID_KEY).and_then(field_text) else {
        return html! {};
    };
    let span = r.context.get(SPAN_ID_KEY).and_then(field_text);
    let mut pairs = vec![("key", TRACE_ID_KEY.to_owned()), ("value", trace.clone())];
    pairs.extend(ctx.tz_pairs());
    let view = ctx.base.link("/related", &encode(pairs));
    html! {
        div.trace {
            p {
                a.button href=(view) { "Every record of trace " code { (Shown(&trace)) } }
                @if let Some(url) = url {
                    " "
                    a.button.external href=(url.link(&trace, span.as_deref())) rel="noopener noreferrer" {
                        "Open in the trace viewer"
                    }
                }
            }
            dl.fields {
                dt { "Trace id" } dd { code { (Shown(&trace)) } }
                @if let Some(span) = &span { dt { "Span id" } dd { code { (Shown(span)) } } }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_http_with_a_placeholder_and_ids_are_encoded() {
        for bad in
            ["javascript:alert(1)//{trace_id}", "file:///{trace_id}", "//evil/{trace_id}", "data:text/html,{trace_id}"]
        {
            assert!(matches!(TraceUrl::parse(bad), Err(TraceUrlError::Scheme(_))), "{bad}");
        }
        assert!(matches!(TraceUrl::parse("http://jaeger/trace/"), Err(TraceUrlError::NoPlaceholder(_))));
        let url = TraceUrl::parse(" HTTPS://tempo/explore?t={trace_id}&s={span_id} ").unwrap();
        assert_eq!(url.template(), "HTTPS://tempo/explore?t={trace_id}&s={span_id}");
        assert_eq!(url.link("ab\"<>/ ?&#", Some("01")), "HTTPS://tempo/explore?t=ab%22%3C%3E%2F%20%3F%26%23&s=01");
        assert_eq!(url.link("ab", None), "HTTPS://tempo/explore?t=ab&s=");
    }
}
