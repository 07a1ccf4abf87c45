//! Ignore rules applied before a record is queued: logger prefixes, exact
//! logger names and message substrings.

/// Which records are never stored, decided on the calling thread.
///
/// - `prefixes` ignore a logger and all its children, respecting `::`
///   boundaries: `hyper` ignores `hyper` and `hyper::client`, not `hyperx`.
/// - `exact` ignore one logger name only; its children are still stored.
/// - `messages` ignore any record whose message contains one of the substrings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IgnoreRules {
    /// Logger prefixes, `::`-aware.
    pub(crate) prefixes: Vec<String>,
    /// Exact logger names.
    pub(crate) exact: Vec<String>,
    /// Message substrings.
    pub(crate) messages: Vec<String>,
}

impl IgnoreRules {
    /// The rules of the `[filter]` section.
    pub(crate) fn of(filter: &crate::config::FilterConfig) -> IgnoreRules {
        IgnoreRules {
            prefixes: filter.ignore_prefixes.clone(),
            exact: filter.ignore_loggers.clone(),
            messages: filter.ignore_messages.clone(),
        }
    }

    /// True when records from `logger` are ignored.
    pub(crate) fn ignores_logger(&self, logger: &str) -> bool {
        self.exact.iter().any(|e| e == logger) || self.prefixes.iter().any(|p| is_under(logger, p))
    }

    /// True when a record with this message is ignored.
    pub(crate) fn ignores_message(&self, message: &str) -> bool {
        self.messages.iter().any(|m| message.contains(m.as_str()))
    }

    /// True when there are message rules (so the message must be formatted to check).
    pub(crate) fn has_message_rules(&self) -> bool {
        !self.messages.is_empty()
    }
}

/// `logger` is `prefix` itself or one of its `::` descendants.
fn is_under(logger: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches("::");
    match logger.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with("::"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> IgnoreRules {
        IgnoreRules {
            prefixes: vec!["hyper".into(), "silk::".into()],
            exact: vec!["app::db".into()],
            messages: vec!["GET /health".into()],
        }
    }

    #[test]
    fn prefixes_respect_double_colon_boundaries() {
        let r = rules();
        assert!(r.ignores_logger("hyper"));
        assert!(r.ignores_logger("hyper::client::pool"));
        assert!(!r.ignores_logger("hyperx"));
        assert!(!r.ignores_logger("hyper_util"));
        assert!(r.ignores_logger("silk"));
        assert!(r.ignores_logger("silk::x"));
        assert!(!r.ignores_logger("silky"));
        assert!(!r.ignores_logger("my::hyper"));
    }

    #[test]
    fn exact_names_keep_children() {
        let r = rules();
        assert!(r.ignores_logger("app::db"));
        assert!(!r.ignores_logger("app::db::pool"));
        assert!(!r.ignores_logger("app"));
    }

    #[test]
    fn message_substrings() {
        let r = rules();
        assert!(r.ignores_message("served GET /health in 2ms"));
        assert!(!r.ignores_message("GET /users"));
        assert!(r.has_message_rules());
        assert!(!IgnoreRules::default().has_message_rules());
    }
}
