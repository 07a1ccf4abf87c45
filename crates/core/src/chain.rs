//! One line for an error and its causes.

use std::error::Error;

/// The messages of `error` and its [`source`](Error::source)s, joined with
/// `: `, the way an error reporter prints them. Many errors already end
/// their message with their cause's text; such a cause is not repeated.
///
/// ```
/// let io = std::io::Error::other("disk full");
/// assert_eq!(log_panel_core::error_chain(&io), "disk full");
/// ```
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}
