//! The JSON text of a record's fields (the `context` column), written the
//! same way for every sink.
//!
//! The text is what `serde_json` writes — `"` and `\\` escaped, the short
//! escapes `\b \t \n \f \r`, `\u00xx` for the other control characters,
//! non-finite floats as `null` — with one exception: a NUL character becomes
//! U+FFFD (`�`), because PostgreSQL's `jsonb` cannot hold `\u0000`, and a
//! record must read back the same from every storage.

use crate::{Value, NUL_REPLACEMENT};

/// Where JSON text is appended: a `String`, or the byte buffer of a binary
/// protocol (PostgreSQL's `COPY`).
pub trait JsonBuf {
    /// Appends `s`.
    fn push_str(&mut self, s: &str);
    /// Appends one ASCII character (`b < 0x80`): brackets, quotes, commas,
    /// which a call to `push_str` and a copy would cost several times over.
    fn push_ascii(&mut self, b: u8);
}

impl JsonBuf for String {
    #[inline]
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    #[inline]
    fn push_ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
}

impl JsonBuf for Vec<u8> {
    #[inline]
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    #[inline]
    fn push_ascii(&mut self, b: u8) {
        self.push(b);
    }
}

/// Appends `fields` as one JSON object (`{}` when empty). Returns whether a
/// NUL character was replaced (a sink counts that as sanitised).
pub(crate) fn write_object<'a, B: JsonBuf + ?Sized>(
    out: &mut B,
    fields: impl Iterator<Item = (&'a str, &'a Value)>,
) -> bool {
    let mut replaced = false;
    out.push_ascii(b'{');
    let mut first = true;
    for (k, v) in fields {
        if !first {
            out.push_ascii(b',');
        }
        first = false;
        replaced |= write_str(out, k);
        out.push_ascii(b':');
        replaced |= write_value(out, v);
    }
    out.push_ascii(b'}');
    replaced
}

/// Appends `value` as JSON without allocating. Returns whether a NUL was replaced.
fn write_value<B: JsonBuf + ?Sized>(out: &mut B, value: &Value) -> bool {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(i) => {
            if *i < 0 {
                out.push_ascii(b'-');
            }
            write_u64(out, i.unsigned_abs());
        }
        Value::U64(u) => write_u64(out, *u),
        Value::F64(x) if !x.is_finite() => out.push_str("null"),
        Value::F64(x) => write_f64(out, *x),
        Value::Str(s) => return write_str(out, s),
    }
    false
}

/// Appends `n` in decimal (what `write!` does, without the formatting machinery).
fn write_u64<B: JsonBuf + ?Sized>(out: &mut B, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Appends a finite float as `serde_json` writes it (shortest round-trip
/// form), formatted on the stack.
fn write_f64<B: JsonBuf + ?Sized>(out: &mut B, x: f64) {
    let mut buf = [0u8; 32];
    let mut rest: &mut [u8] = &mut buf;
    // The longest f64 serde_json writes is 24 bytes, so the buffer cannot run out.
    if serde_json::to_writer(&mut rest, &x).is_err() {
        out.push_str("null");
        return;
    }
    let written = 32 - rest.len();
    out.push_str(buf.get(..written).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("null"));
}

/// Appends `s` as a JSON string (see the module's rules). Runs of bytes that
/// need no escape (nearly all of them) are found eight bytes at a time and
/// copied whole. Returns whether a NUL was replaced.
fn write_str<B: JsonBuf + ?Sized>(out: &mut B, s: &str) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut replaced = false;
    out.push_ascii(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        i = skip_plain(bytes, i);
        let Some(&b) = bytes.get(i) else { break };
        // Every byte that stops the scan is ASCII, so `i` is a character boundary.
        out.push_str(s.get(start..i).unwrap_or_default());
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            0 => {
                replaced = true;
                out.push_str(NUL_REPLACEMENT);
            }
            _ => {
                let code = [b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
                out.push_str(std::str::from_utf8(&code).unwrap_or_default());
            }
        }
        i += 1;
        start = i;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push_ascii(b'"');
    replaced
}

/// The index of the first byte at or after `i` that JSON must escape (a
/// control character, `"` or `\\`), or `bytes.len()`. Inlined into the
/// string loop of each buffer type, as it was when it lived in one crate.
#[inline]
fn skip_plain(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A high bit set in the byte lanes that are zero (exact for the lowest such lane).
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(chunk);
        let w = u64::from_le_bytes(lanes);
        // Lanes below 0x20 (bytes >= 0x80 cannot trigger it: `!w` clears their high bit).
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        if control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) != 0 {
            break;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> (String, bool) {
        let mut out = String::new();
        let replaced = write_str(&mut out, s);
        (out, replaced)
    }

    #[test]
    fn values_match_serde_json() {
        let mut nasty = String::from("q\"b\\s/é€😀\u{7f}");
        for c in 1u8..0x20 {
            nasty.push(char::from(c));
        }
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::I64(i64::MIN),
            Value::I64(-7),
            Value::U64(u64::MAX),
            Value::F64(2.5),
            Value::F64(1e21),
            Value::F64(1.0),
            Value::F64(-1.7976931348623157e308),
            Value::F64(5e-324),
            Value::F64(f64::NAN),
            Value::F64(f64::INFINITY),
            Value::Str("".into()),
            Value::Str(nasty.as_str().into()),
        ];
        for v in &values {
            let mut ours = String::new();
            assert!(!write_value(&mut ours, v));
            assert_eq!(ours, serde_json::to_string(v).unwrap_or_default(), "{v:?}");
        }
        assert_eq!(string(&nasty), (serde_json::to_string(&nasty).unwrap_or_default(), false));
        // Every character needing an escape, at every offset around the 8-byte steps,
        // after plain ASCII and after multi-byte characters.
        for special in ['"', '\\', '\n', '\u{1}', '\u{8}', '\u{c}', '\u{1f}', '\u{7f}', 'é', ' '] {
            for prefix in ["", "é"] {
                for at in 0..20 {
                    let text: String = prefix.chars().chain((0..at).map(|_| 'x')).chain([special, 'y', 'z']).collect();
                    assert_eq!(string(&text), (serde_json::to_string(&text).unwrap_or_default(), false), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn nul_becomes_the_replacement_character_and_is_reported() {
        assert_eq!(string("\0"), ("\"\u{FFFD}\"".to_owned(), true));
        for at in 0..20 {
            let text: String = (0..at).map(|_| 'x').chain(['\0', 'é', '\0']).collect();
            let expected = format!("\"{}\u{FFFD}é\u{FFFD}\"", "x".repeat(at));
            assert_eq!(string(&text), (expected, true), "{text:?}");
        }
        let key = Value::from("v\0");
        let mut out = Vec::new();
        assert!(write_object(&mut out, [("k\0", &key)].into_iter()));
        assert_eq!(String::from_utf8(out).unwrap_or_default(), "{\"k\u{FFFD}\":\"v\u{FFFD}\"}");
    }

    #[test]
    fn string_and_byte_buffers_get_the_same_text() {
        let a = Value::from("tab\there \u{8}\u{c} \"q\" é");
        let b = Value::F64(0.1);
        let fields = [("a", &a), ("b", &b), ("c", &Value::Null)];
        let mut text = String::new();
        let mut bytes = Vec::new();
        write_object(&mut text, fields.into_iter());
        write_object(&mut bytes, fields.into_iter());
        assert_eq!(text.as_bytes(), bytes.as_slice());
        assert_eq!(text, r#"{"a":"tab\there \b\f \"q\" é","b":0.1,"c":null}"#);
    }
}
