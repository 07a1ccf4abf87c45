//! Stored strings shown to people: control characters as visible escapes.
//!
//! Every stored string is attacker input. Shown raw, an ESC sequence drives a
//! terminal, a NUL cuts a line, a carriage return overwrites one, and a
//! bidirectional override reorders what is read. The command line and the
//! web panel both show such characters as escapes, with this one function.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Appends `s` with every control character (C0, DEL, C1) and bidirectional
/// override shown as an escape: `\e` for ESC, `\0`, `\n`, `\r`, `\t`, else
/// `\xNN` / `\u{NNNN}`. With `keep_layout`, newline and tab stay as they are
/// (a page lays them out; a one-line output must not).
///
/// ```
/// let mut out = String::new();
/// log_panel_core::escape_controls_into(&mut out, "a\x1b[31mb\n\u{202e}c", false);
/// assert_eq!(out, "a\\e[31mb\\n\\u{202e}c");
/// ```
pub fn escape_controls_into(buf: &mut String, s: &str, keep_layout: bool) {
    for c in s.chars() {
        match c {
            '\n' | '\t' if keep_layout => buf.push(c),
            '\x1b' => buf.push_str("\\e"),
            '\0' => buf.push_str("\\0"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(buf, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(buf, "\\u{{{:x}}}", c as u32);
            }
            c => buf.push(c),
        }
    }
}

/// [`escape_controls_into`] on its own string, borrowed when nothing needs escaping.
///
/// ```
/// use log_panel_core::escape_controls;
/// assert_eq!(escape_controls("line one\nline two", true), "line one\nline two");
/// assert_eq!(escape_controls("bell\x07", true), "bell\\x07");
/// ```
pub fn escape_controls(s: &str, keep_layout: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_layout && matches!(c, '\n' | '\t');
    if !s.chars().any(|c| needs_escape(c) && !kept(c)) {
        return Cow::Borrowed(s);
    }
    let mut buf = String::with_capacity(s.len() + 8);
    escape_controls_into(&mut buf, s, keep_layout);
    Cow::Owned(buf)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_is_escaped_and_layout_kept_on_request() {
        let s = "a\x1b[31mred\0b\nc\rd\te\x7f csi\u{9b}2J rtl\u{202e}x ünïcode ✓";
        assert_eq!(escape_controls(s, false), "a\\e[31mred\\0b\\nc\\rd\\te\\x7f csi\\u{9b}2J rtl\\u{202e}x ünïcode ✓");
        assert_eq!(escape_controls(s, true), "a\\e[31mred\\0b\nc\\rd\te\\x7f csi\\u{9b}2J rtl\\u{202e}x ünïcode ✓");
        assert!(matches!(escape_controls("plain\ttext\n", true), Cow::Borrowed(_)));
    }
}
