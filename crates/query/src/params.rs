//! A record filter as people type it: the command line's flags and the web
//! panel's form say the same conditions with the same words, and both read
//! them here. One level grammar (core's level names, `warning` included; one
//! level a minimum, a comma list an exact set), one time grammar ([`When`]),
//! one timeline grammar ([`Timeline`]), one name for the message search
//! (`text`); the query language (`query`, the panel's `q`) ANDs with the rest.

use std::fmt;
use std::str::FromStr;

use log_panel_core::{parse_level, Level, Timestamp};

use super::{FieldMatch, LoggerMatch, RecordFilter, SiteMatch, StoreError, When};

/// A `level` condition: one level is a minimum (`warn`: warn and error), a
/// comma list an exact set (`error,info`). Level names are core's
/// ([`parse_level`]: `error`, `warn` or `warning`, `info`, `debug`, `trace`,
/// any case).
///
/// ```
/// use log_panel_core::Level;
/// use log_panel_query::LevelSpec;
/// assert_eq!("warning".parse::<LevelSpec>()?, LevelSpec::AtLeast(Level::Warn));
/// assert_eq!("error, info".parse::<LevelSpec>()?, LevelSpec::Exactly(vec![Level::Error, Level::Info]));
/// assert!("loud".parse::<LevelSpec>().is_err());
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelSpec {
    /// This level and every worse one.
    AtLeast(Level),
    /// Exactly these levels.
    Exactly(Vec<Level>),
}

impl FromStr for LevelSpec {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<LevelSpec, StoreError> {
        if !s.contains(',') {
            return parse_level(s.trim()).map(LevelSpec::AtLeast).map_err(StoreError::bad_filter);
        }
        // A list, even of one (`warn,`): empty items are skipped, so the
        // panel's level boxes can each send `warn,` and any number of them
        // joins to a list.
        let mut levels = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let level = parse_level(part).map_err(StoreError::bad_filter)?;
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        if levels.is_empty() {
            return Err(StoreError::bad_filter(format!("level `{s}`: no level in the list")));
        }
        Ok(LevelSpec::Exactly(levels))
    }
}

/// The spelling [`LevelSpec::from_str`] reads back: `warn` for a minimum,
/// `error,info` for a set, and `warn,` for exactly one level (one level
/// alone would be a minimum).
///
/// ```
/// use log_panel_core::Level;
/// use log_panel_query::LevelSpec;
/// assert_eq!(LevelSpec::Exactly(vec![Level::Warn]).to_string(), "warn,");
/// assert_eq!("warn,".parse::<LevelSpec>()?, LevelSpec::Exactly(vec![Level::Warn]));
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
impl fmt::Display for LevelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_slice() {
            (true, [l]) => f.write_str(log_panel_core::level_name(*l)),
            (false, [l]) => write!(f, "{},", log_panel_core::level_name(*l)),
            (_, ls) => f.write_str(&ls.iter().map(|l| log_panel_core::level_name(*l)).collect::<Vec<_>>().join(",")),
        }
    }
}

impl LevelSpec {
    /// Whether this is a minimum, and its levels.
    fn as_slice(&self) -> (bool, &[Level]) {
        match self {
            LevelSpec::AtLeast(l) => (true, std::slice::from_ref(l)),
            LevelSpec::Exactly(ls) => (false, ls),
        }
    }

    /// Narrows `filter` to these levels.
    pub fn apply(&self, filter: &mut RecordFilter) {
        match self {
            LevelSpec::AtLeast(l) => filter.min_level = Some(*l),
            LevelSpec::Exactly(ls) => {
                for l in ls {
                    if !filter.levels.contains(l) {
                        filter.levels.push(*l);
                    }
                }
            }
        }
    }
}

/// A timeline of logger cards: `Nh` hourly slots (1 to 168) or `Nd` daily
/// slots (1 to 366), as `stats --range` and the panel's `range=` take it.
///
/// ```
/// use log_panel_query::Timeline;
/// assert_eq!("24h".parse::<Timeline>()?, Timeline::Hours(24));
/// assert_eq!("90d".parse::<Timeline>()?, Timeline::Days(90));
/// assert!("400d".parse::<Timeline>().is_err());
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// This many hourly slots, the last one holding now.
    Hours(usize),
    /// This many daily slots, the last one today.
    Days(usize),
}

impl Timeline {
    /// The most hourly slots (a week).
    pub const MAX_HOURS: usize = 168;
    /// The most daily slots (a year).
    pub const MAX_DAYS: usize = 366;

    /// Its length in microseconds (days of 24 hours).
    pub fn span(self) -> i64 {
        let (unit, n) = match self {
            Timeline::Hours(n) => (super::HOUR, n),
            Timeline::Days(n) => (super::DAY, n),
        };
        unit.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl FromStr for Timeline {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Timeline, StoreError> {
        let bad = || {
            StoreError::bad_filter(format!(
                "range `{}`: expected hours such as 24h (1 to {}) or days such as 30d (1 to {})",
                s.escape_debug(),
                Timeline::MAX_HOURS,
                Timeline::MAX_DAYS
            ))
        };
        let (n, unit) = s.split_at(s.len() - s.chars().last().map_or(0, char::len_utf8));
        let n: usize = if n.bytes().all(|b| b.is_ascii_digit()) { n.parse().map_err(|_| bad())? } else { 0 };
        match unit {
            "h" if (1..=Timeline::MAX_HOURS).contains(&n) => Ok(Timeline::Hours(n)),
            "d" if (1..=Timeline::MAX_DAYS).contains(&n) => Ok(Timeline::Days(n)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timeline::Hours(n) => write!(f, "{n}h"),
            Timeline::Days(n) => write!(f, "{n}d"),
        }
    }
}

/// `e` with the condition it refused named first (`since: time `soon`: …`),
/// where its own message does not say which condition it is.
fn named(field: &str, e: StoreError) -> StoreError {
    StoreError::new(e.kind(), format!("{field}: {e}")).with_source(e)
}

/// Why a filter whose `since` is not before its `until` is refused, in the
/// command's words and the panel's alike (its parameters bear the flags' names).
const EMPTY_RANGE: &str = "--since must be before --until: the time range is empty";

/// A process id as typed.
pub fn parse_pid(s: &str) -> Result<u32, StoreError> {
    s.trim().parse().map_err(|_| StoreError::bad_filter(format!("pid `{}`: expected a process id", s.escape_debug())))
}

/// Every condition of a record filter as typed (empty: not set), named as
/// both faces name them; [`FilterParams::to_filter`] reads them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FilterParams {
    /// The logger ([`LoggerMatch`]: `name`, or `name::` with its children).
    pub logger: String,
    /// The levels ([`LevelSpec`]: one level a minimum, a comma list exactly
    /// those; the panel joins a repeated `level` parameter with commas).
    pub level: String,
    /// Messages containing this text, case-insensitively ([`RecordFilter::text`]).
    pub text: String,
    /// A query in the query language, ANDed with the rest (docs/query.md).
    pub query: String,
    /// Records at or after ([`When`]).
    pub since: String,
    /// Records before ([`When`]).
    pub until: String,
    /// Records of this application.
    pub app: String,
    /// Records of this host.
    pub host: String,
    /// Records of this process id.
    pub pid: String,
    /// The call site ([`SiteMatch`]: `FILE:LINE` or `FILE`).
    pub site: String,
    /// `key=value` conditions on the context ([`FieldMatch`]), one each.
    pub context: Vec<String>,
}

/// Why a [`FilterParams`] was refused: every problem, each naming its condition.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.iter().map(|(_, e)| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct FilterError {
    problems: Vec<(&'static str, StoreError)>,
}

impl FilterError {
    /// The conditions refused, by their [`FilterParams`] field names, in order.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.problems.iter().map(|(f, _)| *f)
    }
}

impl FilterParams {
    /// The length of every condition together, in bytes.
    pub fn len(&self) -> usize {
        let one = [
            &self.logger,
            &self.level,
            &self.text,
            &self.query,
            &self.since,
            &self.until,
            &self.app,
            &self.host,
            &self.pid,
            &self.site,
        ];
        one.iter().map(|v| v.len()).sum::<usize>() + self.context.iter().map(String::len).sum::<usize>()
    }

    /// Whether no condition is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The filter, with `since` and `until` placed by `place` (a relative
    /// time from now, a wall-clock time in the caller's zone); or every
    /// problem found, each naming its condition. The one check that the
    /// time range is not empty (`since` before `until`), for every face.
    pub fn to_filter(
        &self,
        place: impl Fn(When) -> Result<Timestamp, StoreError>,
    ) -> Result<RecordFilter, FilterError> {
        let mut problems: Vec<(&'static str, StoreError)> = Vec::new();
        let mut f = RecordFilter::default();
        let mut check = |field: &'static str, r: Result<(), StoreError>| {
            if let Err(e) = r {
                problems.push((field, e));
            }
        };
        if !self.logger.is_empty() {
            check("logger", self.logger.parse::<LoggerMatch>().map(|l| f.logger = Some(l)));
        }
        if !self.level.is_empty() {
            check("level", self.level.parse::<LevelSpec>().map(|l| l.apply(&mut f)));
        }
        if !self.text.is_empty() {
            f.text = Some(self.text.clone());
        }
        for (field, text, slot) in [("since", &self.since, &mut f.since), ("until", &self.until, &mut f.until)] {
            if !text.is_empty() {
                let at = text.parse::<When>().and_then(&place).map_err(|e| named(field, e));
                check(field, at.map(|t| *slot = Some(t)));
            }
        }
        if let (Some(s), Some(u)) = (f.since, f.until) {
            if s >= u {
                check("since", Err(StoreError::bad_filter(EMPTY_RANGE)));
            }
        }
        if !self.app.is_empty() {
            f.app = Some(self.app.clone());
        }
        if !self.host.is_empty() {
            f.host = Some(self.host.clone());
        }
        if !self.pid.is_empty() {
            check("pid", parse_pid(&self.pid).map(|p| f.pid = Some(p)));
        }
        if !self.site.is_empty() {
            check("site", self.site.parse::<SiteMatch>().map(|s| f.site = Some(s)));
        }
        for c in &self.context {
            check("context", c.parse::<FieldMatch>().map(|m| f.fields.push(m)));
        }
        // Last, so the query ANDs with every other condition.
        check("query", f.and_query(&self.query).map_err(StoreError::from));
        if problems.is_empty() {
            Ok(f)
        } else {
            Err(FilterError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: Timestamp = Timestamp(1_764_583_200_000_000); // 2025-12-01T10:00:00Z

    fn params(f: impl FnOnce(&mut FilterParams)) -> FilterParams {
        let mut p = FilterParams::default();
        f(&mut p);
        p
    }

    #[test]
    fn level_words_are_cores() {
        assert_eq!("warn".parse::<LevelSpec>().unwrap(), LevelSpec::AtLeast(Level::Warn));
        assert_eq!("WARNING".parse::<LevelSpec>().unwrap(), LevelSpec::AtLeast(Level::Warn));
        assert_eq!(
            "error, info,error".parse::<LevelSpec>().unwrap(),
            LevelSpec::Exactly(vec![Level::Error, Level::Info])
        );
        assert!("loud".parse::<LevelSpec>().is_err());
        assert_eq!("warn,".parse::<LevelSpec>().unwrap(), LevelSpec::Exactly(vec![Level::Warn]));
        assert!(",".parse::<LevelSpec>().is_err());
        assert!("warn,loud".parse::<LevelSpec>().is_err());
        let f = params(|p| p.level = "warning".into()).to_filter(|w| w.at_offset(NOW, 0)).unwrap();
        assert_eq!(f.min_level, Some(Level::Warn));
    }

    #[test]
    fn timelines() {
        assert_eq!("24h".parse::<Timeline>().unwrap(), Timeline::Hours(24));
        assert_eq!("90d".parse::<Timeline>().unwrap(), Timeline::Days(90));
        assert_eq!(Timeline::Days(30).to_string(), "30d");
        for bad in ["", "h", "0d", "400d", "169h", "5w", "-1h", "+1h", "1é"] {
            assert!(bad.parse::<Timeline>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_problem_names_its_condition() {
        let p = params(|p| {
            p.level = "loud".into();
            p.pid = "x".into();
            p.since = "soon".into();
            p.context = vec!["nokey".into()];
            p.logger = "::".into();
            p.site = ":3".into();
            p.query = "(".into();
        });
        let e = p.to_filter(|w| w.at_offset(NOW, 0)).unwrap_err();
        let text = e.to_string();
        for part in [
            "unknown level `loud`",
            "pid `x`",
            "since: time `soon`",
            "context filter",
            "logger",
            "call site `:3`",
            "query: ",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert_eq!(e.fields().collect::<Vec<_>>(), ["logger", "level", "since", "pid", "site", "context", "query"]);
        let empty = params(|p| {
            p.since = "1h".into();
            p.until = "2h".into();
        });
        assert!(empty.to_filter(|w| w.at_offset(NOW, 0)).unwrap_err().to_string().contains("must be before"));
    }

    #[test]
    fn text_and_exact_levels() {
        let p = params(|p| {
            p.text = "Payment".into();
            p.level = "error, warning,error".into();
        });
        let f = p.to_filter(|w| w.at_offset(NOW, 0)).unwrap();
        assert_eq!(f.text.as_deref(), Some("Payment"));
        assert_eq!(f.levels, [Level::Error, Level::Warn]);
        assert!(FilterParams::default().is_empty() && !p.is_empty());
    }
}
