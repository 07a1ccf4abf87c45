//! The grammar of `filter.directives` (RUST_LOG style), checked without
//! `env_filter`, so that the command refuses what the writer would: the
//! writer builds its filter with `env_filter`, and the tests below hold the
//! two to the same answers.
//!
//! `[TARGET[=LEVEL]][,…][/MESSAGE]`: each comma-separated directive is a
//! level alone (`warn`), a target alone (`app::db`, every level), or
//! `TARGET=LEVEL`; a level is `off`, `error`, `warn`, `info`, `debug` or
//! `trace` in any case (not `warning`: `env_filter` refuses it). After one
//! `/`, the text a message must contain.

/// The level words of a directive, as `log::LevelFilter` reads them.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks RUST_LOG-style directives as the writer's `env_filter` parses
/// them, returning a one-line error that quotes the directives and names
/// the part refused.
///
/// ```
/// use log_panel_config::validate_directives;
/// assert!(validate_directives("info,billing::db=debug,noisy=off").is_ok());
/// let e = validate_directives("info,billing=loud").unwrap_err();
/// assert!(e.contains("`loud` is not a level"), "{e}");
/// ```
pub fn validate_directives(s: &str) -> Result<(), String> {
    let refuse = |why: String| Err(format!("invalid filter directives `{}`: {why}", s.escape_debug()));
    let mut halves = s.split('/');
    let targets = halves.next().unwrap_or_default();
    // The message filter after `/` is any text.
    if halves.nth(1).is_some() {
        return refuse("more than one `/` (the text after the first filters messages)".to_owned());
    }
    for directive in targets.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let mut sides = directive.split('=');
        let _target = sides.next();
        let level = sides.next().map(str::trim);
        if sides.next().is_some() {
            return refuse(format!("`{}` has more than one `=`", directive.escape_debug()));
        }
        match level {
            // `target=` is the target at every level.
            Some(level) if !level.is_empty() && !is_level(level) => {
                return refuse(format!(
                    "`{}` is not a level (off, error, warn, info, debug, trace)",
                    level.escape_debug()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Directives accepted by `env_filter` and by this check, and others
    /// both refuse: the two never disagree.
    const ACCEPTED: [&str; 22] = [
        "",
        "info",
        "INFO",
        "Trace",
        "off",
        "info,billing::db=debug",
        " warn , app = info ",
        "app",
        "app::db",
        "app=",
        "=warn",
        "warn=",
        "info,,app=debug,",
        "app=OFF",
        "a-b.c=error",
        "info/payment",
        "info/",
        "/only text",
        "app=warn/a,b=c",
        "loud",
        "warning",
        "app = trace",
    ];
    const REFUSED: [&str; 10] = [
        "app=loud",
        "info,a::b=loud",
        "app=warning",
        "app=warn=info",
        "a=b=c",
        "info/a/b",
        "//",
        "app=1",
        "app=-",
        "x=info,y=wrn",
    ];

    #[test]
    fn the_writers_parser_agrees() {
        for s in ACCEPTED {
            assert!(validate_directives(s).is_ok(), "{s:?}: {:?}", validate_directives(s));
            assert!(env_filter::Builder::new().try_parse(s).is_ok(), "env_filter refuses {s:?}");
        }
        for s in REFUSED {
            assert!(validate_directives(s).is_err(), "{s:?} accepted");
            assert!(env_filter::Builder::new().try_parse(s).is_err(), "env_filter accepts {s:?}");
        }
    }

    #[test]
    fn errors_are_one_line_and_name_the_part() {
        for (s, part) in [
            ("info,billing=loud", "`loud` is not a level"),
            ("a=warn=info", "`a=warn=info` has more than one `=`"),
            ("info/a/b", "more than one `/`"),
            ("a=lo\nud", "invalid filter directives `a=lo\\nud`: `lo\\nud` is not a level"),
        ] {
            let e = validate_directives(s).unwrap_err();
            assert!(e.contains(part) && !e.contains('\n'), "{s:?}: {e}");
        }
    }
}
