//! The one rule that judges a logger's counts: each timeline slot, the
//! last-hour badge and the timeline badge of a card are judged by it, with the
//! thresholds of that logger, so they cannot disagree.

use log_panel_query::LevelCounts;

/// ERROR and WARN counts in a span (a timeline slot, the last hour) from
/// which that span is an error span (red) or a warning span (amber). Both are
/// at least 1, so a span with errors under the default thresholds is never ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// ERROR records that make a span an error span.
    pub errors: u64,
    /// WARN records that make a span (with fewer errors) a warning span.
    pub warnings: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { errors: 1, warnings: 1 }
    }
}

impl Thresholds {
    /// Red from `errors` ERROR records, amber from `warnings` WARN records (0 is taken as 1).
    pub fn new(errors: u64, warnings: u64) -> Thresholds {
        Thresholds { errors: errors.max(1), warnings: warnings.max(1) }
    }

    /// Hourly thresholds over a span of `hours` hours: each count times `hours`.
    pub(crate) fn times(self, hours: u64) -> Thresholds {
        Thresholds::new(self.errors.saturating_mul(hours), self.warnings.saturating_mul(hours))
    }

    /// The rule: how a span with counts `c` is shown.
    pub(crate) fn judge(&self, c: &LevelCounts) -> Health {
        if c.error >= self.errors {
            Health::Error
        } else if c.warn >= self.warnings {
            Health::Warn
        } else if c.error > 0 || c.warn > 0 {
            Health::Normal
        } else if c.total() > 0 {
            Health::Healthy
        } else {
            Health::Empty
        }
    }
}

/// What [`Thresholds::judge`] says of a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Health {
    /// No record.
    Empty,
    /// Records, none of them an error or a warning.
    Healthy,
    /// Errors or warnings, under the logger's thresholds: its normal.
    Normal,
    /// Warnings at or over the threshold (errors under theirs).
    Warn,
    /// Errors at or over the threshold.
    Error,
}

impl Health {
    /// The CSS class of a timeline slot.
    pub(crate) fn slot_class(self) -> &'static str {
        match self {
            Health::Error => "slot s-error",
            Health::Warn => "slot s-warn",
            Health::Normal | Health::Healthy => "slot s-ok",
            Health::Empty => "slot s-empty",
        }
    }

    /// The last-hour badge: its CSS class and its word.
    pub(crate) fn last_hour_badge(self) -> (&'static str, &'static str) {
        match self {
            Health::Error => ("badge bad", "Last hour: errors"),
            Health::Warn => ("badge warn", "Last hour: warnings"),
            Health::Normal => ("badge good", "Last hour: normal"),
            Health::Healthy => ("badge good", "Last hour: healthy"),
            Health::Empty => ("badge quiet", "Last hour: quiet"),
        }
    }
}

/// Per-logger thresholds: the rule for a logger is that of the longest
/// configured name equal to it or one of its `::` ancestors, else the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoggerThresholds {
    /// Logger name (or `::` prefix) and its thresholds, in configuration order.
    pub(crate) rules: Vec<(String, Thresholds)>,
}

impl LoggerThresholds {
    /// The hourly thresholds for `logger`, `None` when no rule names it or an ancestor.
    pub(crate) fn for_logger(&self, logger: &str) -> Option<Thresholds> {
        self.rules.iter().filter(|(name, _)| covers(name, logger)).max_by_key(|(name, _)| name.len()).map(|(_, t)| *t)
    }
}

/// Whether the rule for `name` applies to `logger`: the same name, or a
/// descendant (`api::http` covers `api::http::access`, not `api::https`).
fn covers(name: &str, logger: &str) -> bool {
    logger.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_on_path_boundaries_wins() {
        let rules = LoggerThresholds {
            rules: vec![
                ("api".into(), Thresholds::new(10, 10)),
                ("api::http".into(), Thresholds::new(50, 200)),
                ("api::http::access".into(), Thresholds::new(0, 500)),
            ],
        };
        assert_eq!(rules.for_logger("api::http::access"), Some(Thresholds::new(1, 500)));
        assert_eq!(rules.for_logger("api::http::router"), Some(Thresholds::new(50, 200)));
        assert_eq!(rules.for_logger("api::https"), Some(Thresholds::new(10, 10)));
        assert_eq!(rules.for_logger("apiary"), None);
        assert_eq!(rules.for_logger("billing"), None);
    }

    #[test]
    fn judge_orders_errors_over_warnings_over_normal() {
        let t = Thresholds::new(3, 5);
        let c = |error, warn, info| LevelCounts { error, warn, info, ..LevelCounts::default() };
        assert_eq!(t.judge(&c(3, 0, 0)), Health::Error);
        assert_eq!(t.judge(&c(2, 5, 0)), Health::Warn);
        assert_eq!(t.judge(&c(2, 4, 0)), Health::Normal);
        assert_eq!(t.judge(&c(0, 0, 1)), Health::Healthy);
        assert_eq!(t.judge(&c(0, 0, 0)), Health::Empty);
    }
}
