//! Trace correlation: the context keys holding a record's OpenTelemetry /
//! W3C trace id and span id, their validation, and the W3C `traceparent`
//! header.
//!
//! The ids are stored as two ordinary top-level context keys,
//! [`TRACE_ID_KEY`] and [`SPAN_ID_KEY`], in W3C's lowercase hex — no schema
//! column: every store already filters (and indexes) top-level context keys,
//! and a record without a trace costs nothing.
//!
//! ```
//! use log_panel_core::trace::TraceParent;
//! let p = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! assert_eq!(p.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_eq!(p.parent_id(), "00f067aa0ba902b7");
//! assert!(p.sampled());
//! assert!(TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
//! ```

use std::fmt;

/// The context key holding a record's trace id: 32 lowercase hex digits.
pub const TRACE_ID_KEY: &str = "trace_id";
/// The context key holding a record's span id: 16 lowercase hex digits.
pub const SPAN_ID_KEY: &str = "span_id";
/// The W3C Trace Context request header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// `n` lowercase hex digits, not all zero (W3C: an all-zero id is invalid).
fn is_id(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) && s.bytes().any(|b| b != b'0')
}

/// Whether `s` is a valid trace id: 32 lowercase hex digits, not all zero.
///
/// ```
/// use log_panel_core::trace::is_trace_id;
/// assert!(is_trace_id("4bf92f3577b34da6a3ce929d0e0e4736"));
/// assert!(!is_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736"));
/// assert!(!is_trace_id("00000000000000000000000000000000"));
/// ```
pub fn is_trace_id(s: &str) -> bool {
    is_id(s, 32)
}

/// Whether `s` is a valid span id: 16 lowercase hex digits, not all zero.
pub fn is_span_id(s: &str) -> bool {
    is_id(s, 16)
}

/// A valid W3C `traceparent` header of version `00`:
/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
#[derive(Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    parent_id: String,
    flags: u8,
}

impl TraceParent {
    /// Parses a header value; `None` for anything that is not a valid
    /// version-00 `traceparent` (wrong length or version, upper-case or
    /// non-hex digits, an all-zero trace or parent id). Surrounding spaces
    /// and tabs are allowed, as in any HTTP header value.
    pub fn parse(header: &str) -> Option<TraceParent> {
        let header = header.trim_matches(|c| c == ' ' || c == '\t');
        let mut parts = header.split('-');
        let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" || !is_trace_id(trace_id) || !is_span_id(parent_id) {
            return None;
        }
        if flags.len() != 2 || !flags.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceParent { trace_id: trace_id.to_owned(), parent_id: parent_id.to_owned(), flags })
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The caller's span id, 16 lowercase hex digits.
    pub fn parent_id(&self) -> &str {
        &self.parent_id
    }

    /// The trace flags byte.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled the trace (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id, self.parent_id, self.flags)
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_parses_and_prints_back() {
        let p = TraceParent::parse(GOOD).unwrap();
        assert_eq!(
            (p.trace_id(), p.parent_id(), p.flags()),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
        );
        assert_eq!(p.to_string(), GOOD);
        assert_eq!(TraceParent::parse(&format!(" {GOOD}\t")), Some(p));
        assert!(!TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap().sampled());
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "00",
            "garbage",
            // Other versions, including the forbidden ff.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // All-zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Upper case, short, long, non-hex.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            // Extra fields are only allowed for future versions.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-<script>alert(1)</script>-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ids_are_lowercase_hex_of_their_length_and_not_zero() {
        assert!(is_span_id("00f067aa0ba902b7"));
        assert!(!is_span_id("0000000000000000"));
        assert!(!is_span_id("00f067aa0ba902b7a"));
        assert!(!is_trace_id("00f067aa0ba902b7"));
    }
}
