//! `--trace ID` (a filter on the context key `trace_id`) and `serve
//! --trace-url TEMPLATE` (the panel's link to a trace viewer).

use log_panel_core::trace::{is_trace_id, TRACE_ID_KEY};
use log_panel_query::{FieldMatch, FieldValue};

/// `--trace`: a W3C trace id, 32 hex digits (upper case is taken as lower,
/// the form stored); anything else is refused before the store is asked.
pub(crate) fn parse_trace(s: &str) -> Result<FieldMatch, String> {
    let id = s.trim().to_ascii_lowercase();
    if !is_trace_id(&id) {
        return Err(format!("`{s}`: a trace id is 32 hex digits, not all zero"));
    }
    FieldMatch::new(TRACE_ID_KEY, FieldValue::Text(id)).map_err(|e| e.to_string())
}

/// `--trace-url` and `panel.trace_url`: an http(s) template with `{trace_id}`.
pub(crate) fn parse_trace_url(s: &str) -> Result<log_panel_web::TraceUrl, String> {
    log_panel_web::TraceUrl::parse(s).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_checked_and_lowered() {
        let m = parse_trace(" 4BF92F3577B34DA6A3CE929D0E0E4736 ").unwrap();
        assert_eq!(
            (m.key.as_str(), &m.value),
            ("trace_id", &FieldValue::Text("4bf92f3577b34da6a3ce929d0e0e4736".into()))
        );
        for bad in ["", "abc", "00000000000000000000000000000000", "4bf92f3577b34da6a3ce929d0e0e473g"] {
            assert!(parse_trace(bad).is_err(), "{bad}");
        }
        assert!(parse_trace_url("javascript:x{trace_id}").is_err());
        assert!(parse_trace_url("http://j/{trace_id}").is_ok());
    }
}
