//! The one rule for NUL characters in stored text, shared by every sink and
//! the JSON encoder: PostgreSQL's `text` and `jsonb` cannot hold `\0`, and a
//! record must read back the same from every storage, so each storage stores
//! U+FFFD (`�`) in its place and counts the record as sanitised.

use std::borrow::Cow;

/// What a NUL character in stored text becomes: U+FFFD, the Unicode
/// replacement character.
pub const NUL_REPLACEMENT: &str = "\u{FFFD}";

/// `s` as a storage stores it: every NUL replaced by [`NUL_REPLACEMENT`].
/// Borrowed (no copy) when `s` holds no NUL, which is almost always; owned
/// means something was replaced.
///
/// ```
/// use std::borrow::Cow;
/// use log_panel_core::without_nul;
///
/// assert!(matches!(without_nul("plain"), Cow::Borrowed("plain")));
/// assert_eq!(without_nul("a\0b"), "a\u{FFFD}b");
/// ```
pub fn without_nul(s: &str) -> Cow<'_, str> {
    if s.as_bytes().contains(&0) {
        Cow::Owned(s.replace('\0', NUL_REPLACEMENT))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nul_is_replaced_and_nothing_else_changes() {
        assert_eq!(without_nul("\0x\0\0é\0"), "\u{FFFD}x\u{FFFD}\u{FFFD}é\u{FFFD}");
        assert!(matches!(without_nul(""), Cow::Borrowed("")));
        assert!(matches!(without_nul("é\u{1}"), Cow::Borrowed(_)));
    }
}
