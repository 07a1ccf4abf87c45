//! Keeping passwords out of logs, errors and `Debug` output.

/// Returns `url` with any password replaced by `***`: the `user:password@`
/// part of a URL, `password=` query parameters, and `password=` in key-value
/// strings.
///
/// ```
/// use log_panel_core::redact::redact_url;
/// assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
/// assert_eq!(redact_url("postgres://h/db?user=u&password=pw"), "postgres://h/db?user=u&password=***");
/// assert_eq!(redact_url("host=h password='a b' dbname=d"), "host=h password=*** dbname=d");
/// assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
/// ```
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let rest = match url.find("://") {
        Some(i) => {
            out.push_str(&url[..i + 3]);
            &url[i + 3..]
        }
        None => return redact_password_params(url),
    };
    // The driver splits credentials at the first '@'; redact up to the last one so
    // that an unencoded '@' inside a password cannot leave its tail visible.
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&redact_password_params(&rest[at..]));
        }
        None => out.push_str(&redact_password_params(rest)),
    }
    out
}

/// Replaces the value of every `password=` parameter (URL query or key-value
/// form, quoted or not) by `***`.
pub fn redact_password_params(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(KEY) {
        let start = pos + found;
        let preceded_ok = start == 0 || matches!(text.as_bytes()[start - 1], b'?' | b'&' | b' ' | b'\t' | b'\n');
        let value_start = start + KEY.len();
        out.push_str(&text[pos..value_start]);
        if !preceded_ok {
            pos = value_start;
            continue;
        }
        let value = &text[value_start..];
        let len = if let Some(quoted) = value.strip_prefix('\'') {
            // libpq quoting: backslash escapes, closing quote ends the value.
            let mut escaped = false;
            let mut end = value.len();
            for (i, c) in quoted.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '\'' {
                    end = i + 2;
                    break;
                }
            }
            end
        } else {
            value.find(|c: char| c == '&' || c.is_whitespace()).unwrap_or(value.len())
        };
        out.push_str("***");
        pos = value_start + len;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_untouched() {
        assert_eq!(redact_url("logs/app.db"), "logs/app.db");
        assert_eq!(redact_url("sqlite://logs/app.db"), "sqlite://logs/app.db");
    }
}
