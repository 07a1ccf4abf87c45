// On docs.rs: show which feature each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

//! The `Store` trait: reading stored records back, beside [`Sink`](log_panel_core::Sink)
//! which writes them.
//!
//! Each storage crate implements both, so it owns its whole schema: how rows
//! are written, indexed and read. The faces over the stored logs (the
//! `log-panel` command, the web panel) see only this trait, so they work the
//! same on every storage.
//!
//! Every method is blocking and takes `&self`: a store is shared by many
//! readers at once (an implementation keeps its own connections), and an
//! async caller runs it on a blocking thread.
//!
//! ```
//! use log_panel_query::{FieldMatch, PageAt, RecordFilter};
//! use log_panel_core::Level;
//!
//! // Warnings and errors of the billing logger and its children, for one user.
//! let mut filter = RecordFilter::default();
//! filter.logger = Some("billing::".parse()?);
//! filter.min_level = Some(Level::Warn);
//! filter.fields.push("user_id=7".parse::<FieldMatch>()?);
//! // store.records(&filter, PageAt::Newest, 50)?
//! # let _ = PageAt::Newest;
//! # Ok::<(), log_panel_query::StoreError>(())
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use log_panel_core::fold::{LevelCounts, LoggerTotals, SiteUnit};
use log_panel_core::{Level, Timestamp, LEVELS};

#[cfg(feature = "conformance")]
pub mod conformance;
mod fields;
mod follow;
mod histogram;
mod lag;
mod language;
mod params;
mod range;
mod split;
mod wake;
mod when;

pub use fields::{
    check_field_query, key_groups, value_groups, FieldCount, FieldGroups, FieldKeys, FieldValues, FIELD_MAX_TOP,
    FIELD_SAMPLE_ROWS,
};
pub use follow::Follow;
pub use histogram::{cluster_margin, HistogramSpan};
pub use lag::{
    context_note, grouped, index_note, summary_note, Behind, IndexLag, IndexNote, NoteChange, SettledNote,
    LAG_SAID_AT_ONCE, LAG_SETTLES_AFTER,
};
pub use language::{parse_query, Expr, QueryError, MAX_DEPTH, MAX_QUERY_BYTES, MAX_TERMS};
pub use params::{parse_pid, FilterError, FilterParams, LevelSpec, Timeline};
pub use range::{FieldRange, RangeOp};
pub use split::{split_label, Split, SplitCounter, SplitSeries};
pub use wake::{CommitWaiter, Sleep, Wake};
pub use when::When;

pub use log_panel_core::{DAY, HOUR, MINUTE, QUARTER_HOUR};

/// How long one read may run on a store opened without another budget
/// (`SqliteStore::with_read_timeout`, `PgStore::with_read_timeout`): past it
/// the read is stopped and answers [`StoreErrorKind::TimedOut`], so no
/// request holds a connection for minutes. Maintenance (`prune`, `rebuild`)
/// has no budget.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Which loggers a filter keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggerMatch {
    /// Exactly this logger.
    Exact(String),
    /// This logger and its `::` children (`billing` keeps `billing` and
    /// `billing::db`, not `billingx`).
    Tree(String),
}

impl LoggerMatch {
    /// Whether `logger` is kept.
    ///
    /// ```
    /// use log_panel_query::LoggerMatch;
    /// let m = LoggerMatch::Tree("billing".into());
    /// assert!(m.matches("billing") && m.matches("billing::db") && !m.matches("billingx"));
    /// ```
    pub fn matches(&self, logger: &str) -> bool {
        match self {
            LoggerMatch::Exact(name) => logger == name,
            LoggerMatch::Tree(root) => {
                logger == root || (logger.starts_with(root.as_str()) && logger[root.len()..].starts_with("::"))
            }
        }
    }

    /// The logger name (the root for a tree).
    pub fn name(&self) -> &str {
        match self {
            LoggerMatch::Exact(n) | LoggerMatch::Tree(n) => n,
        }
    }
}

/// `name` is an exact logger; `name::` (a trailing `::`) or `name::*` is the
/// logger and its children.
impl FromStr for LoggerMatch {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<LoggerMatch, StoreError> {
        let s = s.trim();
        let root = s.strip_suffix("::*").or_else(|| s.strip_suffix("::"));
        match root {
            Some(r) if !r.is_empty() => Ok(LoggerMatch::Tree(r.to_owned())),
            Some(_) => Err(StoreError::bad_filter(format!("logger `{s}`: a name is needed before `::`"))),
            None if s.is_empty() => Err(StoreError::bad_filter("logger: empty name")),
            None => Ok(LoggerMatch::Exact(s.to_owned())),
        }
    }
}

/// A value to compare a context key with, typed as the record stored it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// Text written on a command line or in a URL. It matches a stored string
    /// equal to it, and also a stored number or boolean whose JSON form is
    /// the same text (`7` matches both `"7"` and `7`; `true` matches `true`).
    Text(String),
    /// Only a stored integer equal to it.
    Int(i64),
    /// Only a stored string equal to it.
    Str(String),
}

impl FieldValue {
    /// The integer that [`FieldValue::Text`] also matches, when it reads as one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            FieldValue::Int(i) => Some(*i),
            FieldValue::Text(t) => t.parse().ok(),
            FieldValue::Str(_) => None,
        }
    }

    /// The float that [`FieldValue::Text`] also matches, when it reads as one
    /// and is not an integer.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            FieldValue::Text(t) if t.parse::<i64>().is_err() => t.parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }

    /// The boolean that [`FieldValue::Text`] also matches (`true` / `false`).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Text(t) if t == "true" => Some(true),
            FieldValue::Text(t) if t == "false" => Some(false),
            _ => None,
        }
    }

    /// The string a stored string must equal, if any.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(t) | FieldValue::Str(t) => Some(t),
            FieldValue::Int(_) => None,
        }
    }

    /// Whether a stored JSON value equals this one, by its rules.
    pub fn matches(&self, stored: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match stored {
            J::String(s) => self.as_text() == Some(s.as_str()),
            J::Number(n) => {
                n.as_i64().is_some_and(|i| self.as_int() == Some(i))
                    || (n.as_i64().is_none() && n.as_f64().is_some_and(|f| self.as_float() == Some(f)))
            }
            J::Bool(b) => self.as_bool() == Some(*b),
            _ => false,
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(t) | FieldValue::Str(t) => f.write_str(t),
            FieldValue::Int(i) => write!(f, "{i}"),
        }
    }
}

/// One `key=value` condition on a record's stored fields (the `context`
/// column: bound context merged with the record's own key-values).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMatch {
    /// The top-level key.
    pub key: String,
    /// The value it must have.
    pub value: FieldValue,
}

impl FieldMatch {
    /// The longest key accepted.
    pub const MAX_KEY_LEN: usize = 128;

    /// A condition `key = value`; the key must be 1–128 bytes without control characters.
    pub fn new(key: impl Into<String>, value: FieldValue) -> Result<FieldMatch, StoreError> {
        let key = key.into();
        FieldMatch::check_key(&key)?;
        Ok(FieldMatch { key, value })
    }

    pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
        if key.is_empty() || key.len() > Self::MAX_KEY_LEN || key.chars().any(char::is_control) {
            return Err(StoreError::bad_filter(format!(
                "context key `{}`: must be 1 to {} characters, no control characters",
                key.escape_debug(),
                Self::MAX_KEY_LEN
            )));
        }
        Ok(())
    }
}

/// `key=value`, the value as [`FieldValue::Text`].
///
/// ```
/// use log_panel_query::{FieldMatch, FieldValue};
/// let m: FieldMatch = "request_id=r-42".parse()?;
/// assert_eq!((m.key.as_str(), m.value), ("request_id", FieldValue::Text("r-42".into())));
/// assert!("no_equals_sign".parse::<FieldMatch>().is_err());
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
impl FromStr for FieldMatch {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<FieldMatch, StoreError> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(StoreError::bad_filter(format!("context filter `{}`: expected key=value", s.escape_debug())));
        };
        FieldMatch::new(key.trim(), FieldValue::Text(value.to_owned()))
    }
}

/// A call-site condition: the source file of the log statement, and its line
/// when given. With [`RecordFilter::logger`] set to the site's logger it
/// selects the records of one call site (what [`Store::call_sites`] groups by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteMatch {
    /// The source file, exactly as recorded (`src/billing/db.rs`).
    pub file: String,
    /// The source line; `None` keeps every line of the file.
    pub line: Option<u32>,
}

impl SiteMatch {
    /// Whether a record with this file and line is kept (a record without a
    /// file never is).
    ///
    /// ```
    /// use log_panel_query::SiteMatch;
    /// let site: SiteMatch = "src/db.rs:42".parse()?;
    /// assert!(site.matches(Some("src/db.rs"), Some(42)) && !site.matches(Some("src/db.rs"), Some(43)));
    /// # Ok::<(), log_panel_query::StoreError>(())
    /// ```
    pub fn matches(&self, file: Option<&str>, line: Option<u32>) -> bool {
        file == Some(self.file.as_str()) && self.line.is_none_or(|l| line == Some(l))
    }
}

/// `FILE:LINE`, or `FILE` alone for every line of it. The line is what follows
/// the last `:` when that is a number, so `C:\src\a.rs:7` is file `C:\src\a.rs`, line 7.
///
/// ```
/// use log_panel_query::SiteMatch;
/// let s: SiteMatch = "src/db.rs:42".parse()?;
/// assert_eq!((s.file.as_str(), s.line), ("src/db.rs", Some(42)));
/// assert_eq!("src/db.rs".parse::<SiteMatch>()?.line, None);
/// assert!("".parse::<SiteMatch>().is_err() && ":7".parse::<SiteMatch>().is_err());
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
impl FromStr for SiteMatch {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<SiteMatch, StoreError> {
        let s = s.trim();
        let (file, line) = match s.rsplit_once(':') {
            Some((file, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => {
                let line = line.parse::<u32>().map_err(|_| {
                    StoreError::bad_filter(format!("call site `{}`: line number too large", s.escape_debug()))
                })?;
                (file, Some(line))
            }
            _ => (s, None),
        };
        if file.is_empty() || file.chars().any(char::is_control) {
            return Err(StoreError::bad_filter(format!(
                "call site `{}`: expected FILE:LINE or FILE (no control characters)",
                s.escape_debug()
            )));
        }
        Ok(SiteMatch { file: file.to_owned(), line })
    }
}

/// `FILE:LINE`, or `FILE` (what [`SiteMatch::from_str`] reads back).
impl fmt::Display for SiteMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// Which records a query keeps. Every condition set is ANDed; the default keeps everything.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RecordFilter {
    /// The logger, exact or with its children.
    pub logger: Option<LoggerMatch>,
    /// Records at or above this level.
    pub min_level: Option<Level>,
    /// Only these levels (any of them); empty keeps all.
    pub levels: Vec<Level>,
    /// Records at or after this time.
    pub since: Option<Timestamp>,
    /// Records before this time.
    pub until: Option<Timestamp>,
    /// Records of this application.
    pub app: Option<String>,
    /// Records of this host.
    pub host: Option<String>,
    /// Records of this process id.
    pub pid: Option<u32>,
    /// Records logged by the thread of this name (with `host` and `pid`, one
    /// thread of one process: the surrounding records of a record).
    pub thread: Option<String>,
    /// Records whose message contains this text, case-insensitively.
    pub text: Option<String>,
    /// Conditions on the stored fields, all of which must hold.
    pub fields: Vec<FieldMatch>,
    /// Numeric comparisons on the stored fields, all of which must hold.
    pub ranges: Vec<FieldRange>,
    /// Records logged at this call site (file, and line when given).
    pub site: Option<SiteMatch>,
    /// What a query needs beyond an AND of the fields above (OR, NOT, a
    /// second condition on one field), ANDed with them; see [`parse_query`].
    pub query: Option<Expr>,
}

impl RecordFilter {
    /// The counts of the levels this filter keeps; the others are zero.
    #[must_use]
    pub fn kept_counts(&self, counts: &LevelCounts) -> LevelCounts {
        let mut out = LevelCounts::default();
        for level in LEVELS {
            if self.keeps_level(level) {
                out.add_n(level, counts.get(level));
            }
        }
        out
    }

    /// The most context conditions ([`RecordFilter::fields`]) a filter may hold.
    pub const MAX_FIELDS: usize = 16;
    /// The longest text a filter may hold in one value (the search term, a
    /// logger, app, host, context value or call-site file), in bytes. Stored
    /// logger names are at most 1 024 bytes.
    pub const MAX_VALUE_BYTES: usize = 4096;

    /// The one check every store runs before it reads with a filter.
    ///
    /// A filter over the caps ([`MAX_FIELDS`](Self::MAX_FIELDS),
    /// [`MAX_VALUE_BYTES`](Self::MAX_VALUE_BYTES), a context key as
    /// [`FieldMatch::new`] wants it, at most one entry per level in
    /// [`levels`](Self::levels); for [`query`](Self::query), [`MAX_TERMS`]
    /// leaves each within these caps, context conditions counted across the
    /// whole filter) is [`StoreErrorKind::BadFilter`], with a
    /// message that names the cap. Otherwise the answer is whether the filter
    /// can keep any stored record: `false` when a text value holds NUL, which
    /// stored text never does (the writer stores it as U+FFFD), so the store
    /// answers empty without asking its database (which may not take a NUL).
    ///
    /// ```
    /// use log_panel_query::RecordFilter;
    /// let mut f = RecordFilter::default();
    /// f.text = Some("a\0b".into());
    /// assert_eq!(f.check()?, false);
    /// f.fields = vec!["k=v".parse()?; RecordFilter::MAX_FIELDS + 1];
    /// assert!(f.check().is_err());
    /// # Ok::<(), log_panel_query::StoreError>(())
    /// ```
    pub fn check(&self) -> Result<bool, StoreError> {
        let conditions = self.fields.len() + self.ranges.len() + self.check_query()?;
        if conditions > Self::MAX_FIELDS {
            return Err(StoreError::bad_filter(format!(
                "{conditions} context conditions: a filter holds at most {}",
                Self::MAX_FIELDS
            )));
        }
        if self.levels.len() > LEVELS.len() {
            return Err(StoreError::bad_filter(format!(
                "{} levels listed: there are {}",
                self.levels.len(),
                LEVELS.len()
            )));
        }
        let mut can_match = true;
        let mut text = |what: &str, value: &str| check_value(what, value, &mut can_match);
        if let Some(logger) = &self.logger {
            text("logger", logger.name())?;
        }
        for (what, value) in
            [("app", &self.app), ("host", &self.host), ("thread", &self.thread), ("search text", &self.text)]
        {
            if let Some(value) = value {
                text(what, value)?;
            }
        }
        for m in &self.fields {
            FieldMatch::check_key(&m.key)?;
            if let Some(value) = m.value.as_text() {
                text(&format!("context value of `{}`", m.key), value)?;
            }
        }
        for r in &self.ranges {
            FieldMatch::check_key(&r.key)?;
        }
        if let Some(site) = &self.site {
            text("call site file", &site.file)?;
        }
        Ok(can_match)
    }

    /// Whether only logger, level and time are set, so counts can come from
    /// the aggregate tables instead of the rows.
    pub fn is_aggregate_only(&self) -> bool {
        self.app.is_none()
            && self.host.is_none()
            && self.pid.is_none()
            && self.thread.is_none()
            && self.text.is_none()
            && self.fields.is_empty()
            && self.ranges.is_empty()
            && self.site.is_none()
            && self.query.is_none()
    }

    /// The whole UTC hours `[a, b)` (`None`: unbounded) of the time range of
    /// a call-site list that per-hour call-site aggregates can answer, the
    /// partial hours at the ends being read from the rows: `None` when they
    /// cannot (the filter drops a level — an aggregate's newest time is of
    /// all levels — or sets anything beside the logger and the time), or
    /// when the range holds no whole hour (its rows are then few).
    pub fn whole_site_hours(&self) -> Option<(Option<Timestamp>, Option<Timestamp>)> {
        if !self.is_aggregate_only() || !LEVELS.iter().all(|l| self.keeps_level(*l)) {
            return None;
        }
        let a = self.since.map(|s| s.ceil_to(HOUR));
        let b = self.until.map(|u| u.floor_to(HOUR));
        match (a, b) {
            (Some(a), Some(b)) if a >= b => None,
            _ => Some((a, b)),
        }
    }

    /// The parts of this filter's range outside the whole hours `[a, b)` of
    /// [`whole_site_hours`](RecordFilter::whole_site_hours): this filter
    /// limited to `[since, a)` and to `[b, until)`, those that are not empty.
    pub fn partial_hours(&self, (a, b): (Option<Timestamp>, Option<Timestamp>)) -> Vec<RecordFilter> {
        let mut out = Vec::new();
        for (since, until) in [(self.since, a), (b, self.until)] {
            let (Some(since), Some(until)) = (since, until) else { continue };
            if since < until {
                let mut edge = self.clone();
                edge.since = Some(since);
                edge.until = Some(until);
                out.push(edge);
            }
        }
        out
    }

    /// How the call-site aggregates of days and hours cover the whole hours
    /// `[a, b)` of [`whole_site_hours`](RecordFilter::whole_site_hours): the
    /// whole UTC days inside them from the per-day rows, the whole hours
    /// before the first of those days and after the last from the per-hour
    /// rows (all of them from the hours when no whole day fits). A list over
    /// 90 days then reads a row per site and day and at most 46 per site and
    /// hour. [`site_spans_in`](RecordFilter::site_spans_in) with days alone.
    pub fn site_spans(hours: (Option<Timestamp>, Option<Timestamp>)) -> Vec<SiteSpan> {
        Self::site_spans_in(hours, &[SiteUnit::Day])
    }

    /// How call-site aggregates of `coarser` units (coarsest first, each a
    /// whole number of the next: weeks, days) and of hours cover the whole
    /// hours `[a, b)` of [`whole_site_hours`](RecordFilter::whole_site_hours):
    /// the whole buckets of the first unit inside them, and the parts before
    /// the first of those buckets and after the last covered the same way by
    /// the next units, down to hours (all of `[a, b)` by the next units when
    /// no whole bucket fits). Every hour of `[a, b)` is in exactly one span.
    /// The one split of every storage that keeps these tables.
    pub fn site_spans_in((a, b): (Option<Timestamp>, Option<Timestamp>), coarser: &[SiteUnit]) -> Vec<SiteSpan> {
        let Some((&unit, finer)) = coarser.split_first() else {
            return vec![SiteSpan { unit: SiteUnit::Hour, since: a, until: b }];
        };
        let da = a.map(|t| unit.ceil(t));
        let db = b.map(|t| unit.floor(t));
        if let (Some(x), Some(y)) = (da, db) {
            if x >= y {
                return Self::site_spans_in((a, b), finer);
            }
        }
        let mut spans = vec![SiteSpan { unit, since: da, until: db }];
        for (since, until) in [(a, da), (db, b)] {
            if let (Some(since), Some(until)) = (since, until) {
                if since < until {
                    spans.extend(Self::site_spans_in((Some(since), Some(until)), finer));
                }
            }
        }
        spans
    }

    /// Whether a record with this level passes the level conditions.
    pub fn keeps_level(&self, level: Level) -> bool {
        self.min_level.is_none_or(|min| level <= min) && (self.levels.is_empty() || self.levels.contains(&level))
    }

    /// Whether the level conditions keep only `WARN` and `ERROR` records
    /// (the stores keep partial indexes of those).
    pub fn keeps_warnings_only(&self) -> bool {
        ![Level::Info, Level::Debug, Level::Trace].into_iter().any(|l| self.keeps_level(l))
    }

    /// Whether the filter keeps `r`: the contract every [`Store`] implements,
    /// written as plainly as possible (the reference store of the conformance
    /// tests is this; a live tail filters records it already holds with it).
    pub fn keeps(&self, r: &StoredRecord) -> bool {
        self.logger.as_ref().is_none_or(|l| l.matches(&r.logger))
            && self.keeps_level(r.level)
            && self.since.is_none_or(|t| r.ts >= t)
            && self.until.is_none_or(|t| r.ts < t)
            && self.app.as_ref().is_none_or(|a| *a == r.app)
            && self.host.as_ref().is_none_or(|h| *h == r.host)
            && self.pid.is_none_or(|p| p == r.pid)
            && self.thread.as_ref().is_none_or(|t| *t == r.thread)
            && self.text.as_ref().is_none_or(|t| r.message.to_lowercase().contains(&t.to_lowercase()))
            && self.fields.iter().all(|m| r.context.get(&m.key).is_some_and(|v| m.value.matches(v)))
            && self.ranges.iter().all(|m| r.context.get(&m.key).is_some_and(|v| m.matches(v)))
            && self.site.as_ref().is_none_or(|s| s.matches(r.file.as_deref(), r.line))
            && self.query.as_ref().is_none_or(|q| q.keeps(r))
    }
}

/// A position in the newest-first order of records: time, then id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The record's time.
    pub ts: Timestamp,
    /// The record's id.
    pub id: i64,
}

impl Cursor {
    /// The cursor of a stored record.
    pub fn of(record: &StoredRecord) -> Cursor {
        Cursor { ts: record.ts, id: record.id }
    }
}

/// `<micros>_<id>`, safe in a URL.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.ts.0, self.id)
    }
}

impl FromStr for Cursor {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Cursor, StoreError> {
        let bad = || StoreError::bad_filter(format!("cursor `{}`: not a page position", s.escape_debug()));
        let (ts, id) = s.split_once('_').ok_or_else(bad)?;
        Ok(Cursor { ts: Timestamp(ts.parse().map_err(|_| bad())?), id: id.parse().map_err(|_| bad())? })
    }
}

/// Which page of a newest-first listing to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAt {
    /// The newest records.
    Newest,
    /// Records older than the cursor (the next page down).
    Older(Cursor),
    /// Records newer than the cursor (the previous page up).
    Newer(Cursor),
}

/// One page of records, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The records, newest first.
    pub records: Vec<StoredRecord>,
    /// Where the next older page starts, when there are older matching records.
    pub older: Option<Cursor>,
    /// Where the next newer page starts, when there are newer matching records.
    pub newer: Option<Cursor>,
}

impl Page {
    /// The one check of a page's `limit` ([`Store::records`]): at least one
    /// record, else [`StoreErrorKind::BadFilter`].
    pub fn check_limit(limit: usize) -> Result<(), StoreError> {
        if limit == 0 {
            return Err(StoreError::bad_filter("a page needs a limit of at least one record"));
        }
        Ok(())
    }

    /// A page assembled from the rows a store read for `at` (for storage
    /// crates): up to `limit + 1` of them, in reading order — newest first for
    /// [`PageAt::Newest`] and [`PageAt::Older`], oldest first for
    /// [`PageAt::Newer`]. The row beyond `limit` says there is more in the
    /// reading direction; `exists_beyond(cursor, older)` says whether a kept
    /// record lies strictly older (`true`) or newer (`false`) than `cursor`,
    /// for the other direction (not called for the newest page).
    pub fn from_rows(
        at: PageAt,
        limit: usize,
        mut rows: Vec<StoredRecord>,
        mut exists_beyond: impl FnMut(Cursor, bool) -> Result<bool, StoreError>,
    ) -> Result<Page, StoreError> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let mut page = Page::default();
        match at {
            PageAt::Newest | PageAt::Older(_) => {
                page.older = if more { rows.last().map(Cursor::of) } else { None };
                if let PageAt::Older(c) = at {
                    let first = rows.first().map_or(c, Cursor::of);
                    page.newer = exists_beyond(first, false)?.then_some(first);
                }
            }
            PageAt::Newer(c) => {
                rows.reverse();
                page.newer = if more { rows.first().map(Cursor::of) } else { None };
                let oldest = rows.last().map_or(c, Cursor::of);
                page.older = exists_beyond(oldest, true)?.then_some(oldest);
            }
        }
        page.records = rows;
        Ok(page)
    }
}

/// A record as stored, read back.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredRecord {
    /// Its id in the storage, in insertion order.
    pub id: i64,
    /// When it was logged (UTC).
    pub ts: Timestamp,
    /// Its level.
    pub level: Level,
    /// The logger (the `log` target).
    pub logger: String,
    /// The message, possibly cut to the configured limit.
    pub message: String,
    /// Module path of the call site.
    pub module: Option<String>,
    /// Source file of the call site.
    pub file: Option<String>,
    /// Source line of the call site.
    pub line: Option<u32>,
    /// Thread name.
    pub thread: String,
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Application name.
    pub app: String,
    /// The stored fields: bound context merged with the record's key-values.
    pub context: serde_json::Map<String, serde_json::Value>,
    /// The message's size before it was cut, when it was cut.
    pub original_size: Option<u64>,
}

impl Default for StoredRecord {
    fn default() -> StoredRecord {
        StoredRecord {
            id: 0,
            ts: Timestamp(0),
            level: Level::Info,
            logger: String::new(),
            message: String::new(),
            module: None,
            file: None,
            line: None,
            thread: String::new(),
            pid: 0,
            host: String::new(),
            app: String::new(),
            context: serde_json::Map::new(),
            original_size: None,
        }
    }
}

/// Consecutive time slots `[bounds[i], bounds[i + 1])`, for timelines and
/// histograms. The caller chooses the bounds, so a local day is whatever the
/// viewer's zone says it is (daylight-saving days are 23 or 25 hours long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    bounds: Vec<Timestamp>,
}

impl Slots {
    /// Slots between consecutive `bounds`, which must be strictly increasing
    /// and at least two.
    pub fn new(bounds: Vec<Timestamp>) -> Result<Slots, StoreError> {
        if bounds.len() < 2 {
            return Err(StoreError::bad_filter("a timeline needs at least one slot"));
        }
        if bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(StoreError::bad_filter("timeline slots must be in increasing time order"));
        }
        Ok(Slots { bounds })
    }

    /// `count` slots of `width` microseconds ending at `end` (exclusive).
    pub fn ending_at(end: Timestamp, width: i64, count: usize) -> Result<Slots, StoreError> {
        if width <= 0 || count == 0 {
            return Err(StoreError::bad_filter("a timeline needs a positive slot width and count"));
        }
        let n = i64::try_from(count).map_err(|_| StoreError::bad_filter("too many slots"))?;
        let start =
            end.0.checked_sub(width.saturating_mul(n)).ok_or_else(|| StoreError::bad_filter("slots too wide"))?;
        Slots::new((0..=n).map(|i| Timestamp(start + i * width)).collect())
    }

    /// The last `count` whole UTC hours, the current (partial) hour last:
    /// the 24-slot timeline of a card.
    pub fn hours_until(now: Timestamp, count: usize) -> Result<Slots, StoreError> {
        Slots::ending_at(Timestamp(now.hour_floor().0 + HOUR), HOUR, count)
    }

    /// The last `count` days at a fixed UTC offset (seconds east of UTC), today last.
    /// For a zone with daylight-saving time, build the bounds with [`Slots::new`].
    pub fn days_until(now: Timestamp, offset_secs: i32, count: usize) -> Result<Slots, StoreError> {
        let offset = i64::from(offset_secs) * 1_000_000;
        let local_midnight = (now.0 + offset).div_euclid(DAY) * DAY - offset;
        Slots::ending_at(Timestamp(local_midnight + DAY), DAY, count)
    }

    /// The bounds, one more than the slots.
    pub fn bounds(&self) -> &[Timestamp] {
        &self.bounds
    }

    /// How many slots.
    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Never true (a `Slots` has at least one slot); here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The start of the first slot.
    pub fn start(&self) -> Timestamp {
        self.bounds[0]
    }

    /// The end of the last slot.
    pub fn end(&self) -> Timestamp {
        self.bounds[self.bounds.len() - 1]
    }

    /// Slot `i`'s `[start, end)`.
    pub fn slot(&self, i: usize) -> Option<(Timestamp, Timestamp)> {
        Some((*self.bounds.get(i)?, *self.bounds.get(i + 1)?))
    }

    /// The slot holding `t`, if any.
    pub fn index_of(&self, t: Timestamp) -> Option<usize> {
        if t < self.start() || t >= self.end() {
            return None;
        }
        Some(self.bounds.partition_point(|b| *b <= t) - 1)
    }

    /// Whether every bound is on a multiple of `unit` microseconds.
    pub fn aligned_to(&self, unit: i64) -> bool {
        self.bounds.iter().all(|b| b.0.rem_euclid(unit) == 0)
    }
}

/// Which logger cards to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CardFilter {
    /// Every logger.
    #[default]
    All,
    /// Loggers with errors in the timeline's span.
    Errors,
    /// Loggers with warnings (or errors) in the timeline's span.
    Warnings,
}

/// The order of cards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CardSort {
    /// By logger name, in byte order.
    #[default]
    Name,
    /// Trouble first: most ERROR records in the last hour, then most WARN
    /// records in the last hour, then the most recently active, then by name.
    Trouble,
}

impl CardSort {
    /// Puts `cards` in this order: the reference for stores that sort in memory.
    pub fn arrange(self, cards: &mut [LoggerCard]) {
        match self {
            CardSort::Name => cards.sort_by(|a, b| a.logger.cmp(&b.logger)),
            CardSort::Trouble => cards.sort_by(|a, b| {
                (b.last_hour.error, b.last_hour.warn, b.totals.last)
                    .cmp(&(a.last_hour.error, a.last_hour.warn, a.totals.last))
                    .then_with(|| a.logger.cmp(&b.logger))
            }),
        }
    }
}

/// What [`Store::cards`] reads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CardsQuery {
    /// The timeline's slots (see [`Slots::hours_until`], [`Slots::days_until`]).
    pub slots: Slots,
    /// "Now", for the last-hour counts (see [`CardsQuery::last_hour`]).
    pub now: Timestamp,
    /// Which loggers.
    pub filter: CardFilter,
    /// Loggers whose name contains this text (case-insensitive).
    pub name: Option<String>,
    /// The order of the cards, applied before [`offset`](Self::offset).
    pub sort: CardSort,
    /// Cards to skip (pagination of a short list of loggers).
    pub offset: usize,
    /// Cards to return at most.
    pub limit: usize,
}

impl CardsQuery {
    /// The 20 first cards of every logger, with `slots`.
    pub fn new(slots: Slots, now: Timestamp) -> CardsQuery {
        CardsQuery { slots, now, filter: CardFilter::All, name: None, sort: CardSort::Name, offset: 0, limit: 20 }
    }

    /// The span of [`LoggerCard::last_hour`]: the quarter hours that overlap
    /// `[now − 1 h, now)`, `[floor(now − 1 h), ceil(now))` to the quarter hour
    /// (the finest aggregate bucket). So it holds every record of the last
    /// hour up to `now`, and at most 15 minutes before it; when `now` is on a
    /// quarter hour it is exactly `[now − 1 h, now)`.
    ///
    /// ```
    /// use log_panel_query::{CardsQuery, Slots, HOUR, MINUTE, QUARTER_HOUR};
    /// use log_panel_core::Timestamp;
    /// let now = Timestamp(100 * HOUR + 20 * MINUTE);
    /// let q = CardsQuery::new(Slots::hours_until(now, 1)?, now);
    /// assert_eq!(q.last_hour(), (Timestamp(99 * HOUR + QUARTER_HOUR), Timestamp(100 * HOUR + 2 * QUARTER_HOUR)));
    /// # Ok::<(), log_panel_query::StoreError>(())
    /// ```
    pub fn last_hour(&self) -> (Timestamp, Timestamp) {
        let start = self.now.0.saturating_sub(HOUR).div_euclid(QUARTER_HOUR) * QUARTER_HOUR;
        let end =
            self.now.0.div_euclid(QUARTER_HOUR).saturating_add(i64::from(self.now.0.rem_euclid(QUARTER_HOUR) != 0));
        (Timestamp(start), Timestamp(end.saturating_mul(QUARTER_HOUR)))
    }

    /// The page of `cards` (every logger's, with their slots and last hour
    /// counted) this query asks for: those whose name contains
    /// [`name`](Self::name) (case-insensitive) and that pass
    /// [`filter`](Self::filter) over the timeline's span, in
    /// [`sort`](Self::sort) order, [`offset`](Self::offset) and
    /// [`limit`](Self::limit) applied, with how many matched. For stores that
    /// count in memory.
    pub fn select(&self, mut cards: Vec<LoggerCard>) -> Cards {
        cards.retain(|c| {
            let mut span = LevelCounts::default();
            c.slots.iter().for_each(|s| span.merge(s));
            self.name.as_ref().is_none_or(|n| c.logger.to_lowercase().contains(&n.to_lowercase()))
                && match self.filter {
                    CardFilter::All => true,
                    CardFilter::Errors => span.error > 0,
                    CardFilter::Warnings => span.error + span.warn > 0,
                }
        });
        self.sort.arrange(&mut cards);
        let matching = cards.len();
        Cards { cards: cards.into_iter().skip(self.offset).take(self.limit).collect(), matching }
    }

    /// The one check every store runs before it reads cards: `Ok(false)`
    /// when the [`name`](Self::name) holds NUL (no logger name does, so no
    /// card matches); a name over [`RecordFilter::MAX_VALUE_BYTES`] is
    /// [`StoreErrorKind::BadFilter`].
    pub fn check(&self) -> Result<bool, StoreError> {
        let mut can_match = true;
        if let Some(name) = &self.name {
            check_value("logger name", name, &mut can_match)?;
        }
        Ok(can_match)
    }
}

/// One text value of a filter: at most [`RecordFilter::MAX_VALUE_BYTES`];
/// clears `can_match` when it holds NUL (see [`RecordFilter::check`]).
fn check_value(what: &str, value: &str, can_match: &mut bool) -> Result<(), StoreError> {
    if value.len() > RecordFilter::MAX_VALUE_BYTES {
        return Err(StoreError::bad_filter(format!(
            "{what}: {} bytes, longer than the {} a filter value may hold",
            value.len(),
            RecordFilter::MAX_VALUE_BYTES
        )));
    }
    *can_match &= !value.contains('\0');
    Ok(())
}

/// The most records the default [`Store::split`] reads.
pub const SPLIT_DEFAULT_ROWS: usize = 100_000;

/// [`Split::check`]s the arguments of a split and returns `filter` with its
/// time bounds narrowed to `slots`, or `None` when it can keep no record.
/// The guard of the default [`Store::split`].
pub fn split_filter(
    filter: &RecordFilter,
    key: &str,
    slots: &Slots,
    top: usize,
) -> Result<Option<RecordFilter>, StoreError> {
    if !Split::check(filter, key, top)? {
        return Ok(None);
    }
    let from = filter.since.map_or(slots.start(), |s| s.max(slots.start()));
    let to = filter.until.map_or(slots.end(), |u| u.min(slots.end()));
    if from >= to {
        return Ok(None);
    }
    let mut narrowed = filter.clone();
    narrowed.since = Some(from);
    narrowed.until = Some(to);
    Ok(Some(narrowed))
}

/// One logger's health card.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerCard {
    /// The logger.
    pub logger: String,
    /// Its stored records: the row the storage keeps per logger.
    pub totals: LoggerTotals,
    /// Counts in the last hour before the query's `now`.
    pub last_hour: LevelCounts,
    /// Counts per slot of the query's timeline.
    pub slots: Vec<LevelCounts>,
}

impl LoggerCard {
    /// A card of a logger's totals and no counts yet (for storage crates).
    pub fn new(logger: String, totals: LoggerTotals) -> LoggerCard {
        LoggerCard { logger, totals, last_hour: LevelCounts::default(), slots: Vec::new() }
    }
}

/// A page of cards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cards {
    /// The cards, in the query's [`CardSort`].
    pub cards: Vec<LoggerCard>,
    /// How many loggers pass the query's filter in all (for pagination).
    pub matching: usize,
}

/// Counts per slot for a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Histogram {
    /// One count per slot.
    pub slots: Vec<LevelCounts>,
    /// False when the count stopped at the store's bound on rows scanned, so
    /// the counts are a lower bound.
    pub complete: bool,
    /// `Some` when the counts are an estimate from a sample of the rows
    /// ([`Store::histogram_estimate`]): each counted record stands for
    /// [`Sample::of`] / [`Sample::read`] records. `None`: the counts are
    /// counted (exact, or a lower bound when not [`complete`](Self::complete)).
    pub sample: Option<Sample>,
    /// For an estimate, one margin per slot: the bar's exact total lies
    /// within its estimated total ± this (about 95 % of the time, see
    /// [`Histogram::range`]); 0 for a bar that was counted whole. Empty
    /// when the counts are counted ([`sample`](Self::sample) `None`).
    pub margins: Vec<u64>,
}

/// The sample an estimated [`Histogram`] was counted from: `read` of the
/// `of` rows in the histogram's time span were tested against the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Rows tested against the filter.
    pub read: u64,
    /// Rows in the span the sample was drawn from (an estimate too where a
    /// store counts them by their ids' extent).
    pub of: u64,
}

impl Sample {
    /// The part of the span's rows that was read, in percent (0 for an empty span).
    pub fn percent(&self) -> f64 {
        if self.of == 0 {
            return 0.0;
        }
        self.read as f64 * 100.0 / self.of as f64
    }

    /// The margin of `k` matches found at random among the rows read,
    /// scaled to the whole span: `(2√k + 3) · of / read`, rounded up; 0
    /// when every row was read (see [`Histogram::estimated_per_slot`]).
    pub fn poisson_margin(&self, k: u64) -> u64 {
        if self.read >= self.of {
            return 0;
        }
        if self.read == 0 {
            return self.of;
        }
        let m = (2.0 * (k as f64).sqrt() + 3.0) * self.of as f64 / self.read as f64;
        m.ceil() as u64
    }

    /// `n` records counted in the sample, scaled to the whole span (rounded to the nearest).
    pub fn scale(&self, n: u64) -> u64 {
        if self.read == 0 {
            return 0;
        }
        let scaled = (u128::from(n) * u128::from(self.of) + u128::from(self.read) / 2) / u128::from(self.read);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }
}

/// A call site (logger, file, line): the natural fingerprint of a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSite {
    /// The logger.
    pub logger: String,
    /// Source file, when recorded.
    pub file: Option<String>,
    /// Source line, when recorded.
    pub line: Option<u32>,
    /// Records from it per level.
    pub counts: LevelCounts,
    /// Its newest record's time.
    pub last_seen: Timestamp,
    /// Its newest record's message, as an example.
    pub example: String,
}

impl CallSite {
    /// A call site (for storage crates).
    pub fn new(logger: String, file: Option<String>, line: Option<u32>) -> CallSite {
        CallSite { logger, file, line, counts: LevelCounts::default(), last_seen: Timestamp(0), example: String::new() }
    }
}

/// What a prune did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// Records deleted (or that would be).
    pub deleted: u64,
    /// Delete transactions run: one per batch of at most the batch size (SQLite runs
    /// smaller ones while a transaction holds the write lock longer than ~40 ms),
    /// and one per whole partition dropped.
    pub batches: u64,
    /// Of `deleted`, the records that went with whole partitions dropped at
    /// once (the expired days of a PostgreSQL table partitioned by day), each
    /// partition one of `batches` whatever its size; the others were deleted
    /// in batches. 0 where a storage only deletes rows.
    pub dropped: u64,
}

impl PruneReport {
    /// A report (for storage crates).
    pub fn new(deleted: u64, batches: u64) -> PruneReport {
        PruneReport { deleted, batches, dropped: 0 }
    }

    /// This report, saying that `records` of the deleted ones went with
    /// whole partitions (see [`PruneReport::dropped`]).
    #[must_use]
    pub fn with_dropped(mut self, records: u64) -> PruneReport {
        self.dropped = records;
        self
    }
}

/// What a [`Store`] can go wrong with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The storage cannot be reached or opened (no such file, server down).
    Unavailable,
    /// The filter or argument is not valid; the message says why.
    BadFilter,
    /// The database was written by a newer log-panel.
    NewerSchema,
    /// The database refused the query, or holds data this build cannot read.
    Storage,
    /// The read ran past its time budget ([`DEFAULT_READ_TIMEOUT`] unless the
    /// store was opened with another) and was stopped; a narrower filter (a
    /// time range, a logger) or a larger budget may succeed.
    TimedOut,
}

/// An error from a [`Store`]: a kind, a one-line message, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// A new error.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError { kind, message: message.into(), source: None }
    }

    /// A filter that does not parse or cannot be run.
    pub fn bad_filter(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::BadFilter, message)
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> StoreError {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

/// Reading stored records back. Implemented by each storage crate.
///
/// A reader never writes: deleting and rewriting stored data is
/// [`Maintenance`], a trait of its own, so a face that only reads (the web
/// panel) holds a `dyn Store` and cannot delete.
///
/// # Limits
///
/// Every method with a `limit` (or [`CardsQuery::limit`]) follows one contract,
/// pinned by the conformance suite:
///
/// - [`records`](Store::records) with `limit` 0 is [`StoreErrorKind::BadFilter`]:
///   a page is how a caller walks the records, and a page of none could not
///   say where the next one starts (its cursors come from its rows), so a
///   caller asking for one has a bug it should hear about.
/// - The lists — [`tail`](Store::tail), [`related`](Store::related),
///   [`call_sites`](Store::call_sites), [`cards`](Store::cards) — answer
///   `limit` 0 with an empty list (cards still count
///   [`matching`](Cards::matching)): "at most none" is a well-formed question
///   a caller asks when it wants only the count, or nothing.
/// - Any larger limit, up to `usize::MAX`, is a bound, never an error: the
///   answer holds every match up to it (a store binds at most `i64::MAX`).
pub trait Store: Send + Sync {
    /// A page of the records `filter` keeps, newest first (time, then id),
    /// at most `limit` of them. Pages are keyset-paginated: a deep page costs
    /// what the first costs. `limit` 0 is [`StoreErrorKind::BadFilter`]
    /// ([`Page::check_limit`], see [Limits](Store#limits)).
    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError>;

    /// The records `filter` keeps whose id is above `after_id`, oldest
    /// first, at most `limit` (for a live tail; `None` starts at the newest
    /// `limit` records). `limit` 0 answers none.
    fn tail(&self, filter: &RecordFilter, after_id: Option<i64>, limit: usize)
        -> Result<Vec<StoredRecord>, StoreError>;

    /// One record by id.
    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError>;

    /// Every record whose field `key` equals `value` (a request's records),
    /// oldest first, at most `limit` (0 answers none).
    fn related(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Vec<StoredRecord>, StoreError>;

    /// Logger cards from the aggregate tables, never scanning the records.
    /// Only loggers with stored records have a card; after a prune, totals
    /// and first/last seen describe the records that are left.
    fn cards(&self, query: &CardsQuery) -> Result<Cards, StoreError>;

    /// Counts per slot of the records `filter` keeps, its time bounds
    /// narrowed to the slots. From the aggregates when the filter allows it
    /// and the slots are on quarter hours; otherwise from the rows, scanning
    /// at most a store-defined number of them.
    fn histogram(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError>;

    /// Counts per slot like [`histogram`](Store::histogram), but where the
    /// exact count would be expensive (a common word or context value over a
    /// wide span) an estimate from a sample of the span's rows, marked by
    /// [`Histogram::sample`]. Where the exact count is cheap the answer is
    /// [`histogram`](Store::histogram)'s, `sample` `None`. For a chart that a
    /// person reads; a caller that needs the counts calls `histogram`. This
    /// default is always exact; a storage that can sample overrides it.
    fn histogram_estimate(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        self.histogram(filter, slots)
    }

    /// The records `filter` keeps within `slots` (its time bounds narrowed
    /// to them), counted per value of the context key `key`: the `top` values
    /// with the most records (at most [`Split::MAX_TOP`]) with their counts
    /// per slot, the rest as one "other" series. Serves a chart split by a key
    /// and a key's top values alike. A bad key or `top` is
    /// [`StoreErrorKind::BadFilter`] (see [`Split::check`]).
    ///
    /// Bounded: a store counts at most a store-defined number of rows within
    /// its read time budget, and says so with [`Split::complete`] `false`
    /// when it stopped before the last. A storage supplies the counting,
    /// [`count_split`](Store::count_split); this method checks the arguments,
    /// narrows the filter ([`split_filter`]) and chooses the top values, once
    /// for every storage.
    fn split(&self, filter: &RecordFilter, key: &str, slots: &Slots, top: usize) -> Result<Split, StoreError> {
        let mut counter = SplitCounter::new(slots, top);
        if let Some(narrowed) = split_filter(filter, key, slots, top)? {
            self.count_split(&narrowed, key, &mut counter)?;
        }
        Ok(counter.finish())
    }

    /// The primitive of [`split`](Store::split): feeds `counter` the time and
    /// the value of `key` of the records `filter` keeps (the arguments
    /// already checked, the filter's time bounds narrowed to the counter's slots), and
    /// calls [`SplitCounter::stopped`] when it stopped before the last.
    /// Callers use [`split`](Store::split). This default reads the records
    /// through [`Store::records`], at most [`SPLIT_DEFAULT_ROWS`] of them; a
    /// storage counts in one query of its own.
    fn count_split(&self, filter: &RecordFilter, key: &str, counter: &mut SplitCounter<'_>) -> Result<(), StoreError> {
        let mut at = PageAt::Newest;
        let mut read = 0usize;
        loop {
            let page = self.records(filter, at, 1000)?;
            for r in &page.records {
                counter.add_json(r.ts, r.context.get(key));
            }
            read += page.records.len();
            match page.older {
                Some(c) if read < SPLIT_DEFAULT_ROWS => at = PageAt::Older(c),
                Some(_) => {
                    counter.stopped();
                    return Ok(());
                }
                None => return Ok(()),
            }
        }
    }

    /// The context keys of the newest `sample` records `filter` keeps (at
    /// most [`FIELD_SAMPLE_ROWS`]), with how many of those records have each:
    /// the `top` most frequent (at most [`FIELD_MAX_TOP`]). Bad arguments are
    /// [`StoreErrorKind::BadFilter`] (see [`check_field_query`]). A storage
    /// supplies the counting, [`count_field_keys`](Store::count_field_keys);
    /// this method checks the arguments and ranks the groups, once for every
    /// storage.
    fn field_keys(&self, filter: &RecordFilter, top: usize, sample: usize) -> Result<FieldKeys, StoreError> {
        if !check_field_query(filter, None, top, sample)? {
            return Ok(FieldKeys::default());
        }
        Ok(FieldKeys::from_groups(self.count_field_keys(filter, sample)?, top, sample))
    }

    /// The primitive of [`field_keys`](Store::field_keys): over the newest
    /// `sample` records `filter` keeps (the arguments already checked), one
    /// group `(Some(key), records having it)` per key (a key may come in
    /// several groups) and `(None, records read)`. Callers use
    /// [`field_keys`](Store::field_keys). This default reads the records
    /// through [`Store::records`]; a storage counts in one query of its own,
    /// within its read time budget.
    fn count_field_keys(&self, filter: &RecordFilter, sample: usize) -> Result<FieldGroups, StoreError> {
        let mut groups = Vec::new();
        fields::each_newest(self, filter, sample, |r| groups.extend(key_groups([r])))?;
        Ok(groups)
    }

    /// The values of context key `key` in the newest `sample` records
    /// `filter` keeps (at most [`FIELD_SAMPLE_ROWS`]): the `top` most
    /// frequent with their counts, a value as a filter matches it
    /// ([`split_label`]). Bad arguments are [`StoreErrorKind::BadFilter`]
    /// (see [`check_field_query`]). A storage supplies the counting,
    /// [`count_field_values`](Store::count_field_values); this method checks
    /// the arguments and ranks the groups, once for every storage.
    fn field_values(
        &self,
        filter: &RecordFilter,
        key: &str,
        top: usize,
        sample: usize,
    ) -> Result<FieldValues, StoreError> {
        if !check_field_query(filter, Some(key), top, sample)? {
            return Ok(FieldValues::default());
        }
        Ok(FieldValues::from_groups(self.count_field_values(filter, key, sample)?, top, sample))
    }

    /// The primitive of [`field_values`](Store::field_values): over the
    /// newest `sample` records `filter` keeps (the arguments already
    /// checked), groups `(value as a filter matches it, records)`, `None` for
    /// the records without the key or with it `null`; a value may come in
    /// several groups. Callers use [`field_values`](Store::field_values).
    /// This default reads the records through [`Store::records`]; a storage
    /// counts in one query of its own.
    fn count_field_values(&self, filter: &RecordFilter, key: &str, sample: usize) -> Result<FieldGroups, StoreError> {
        let mut groups = Vec::new();
        fields::each_newest(self, filter, sample, |r| groups.extend(value_groups([r], key)))?;
        Ok(groups)
    }

    /// The call sites `filter` keeps, most records first, at most `limit` (0 answers none).
    fn call_sites(&self, filter: &RecordFilter, limit: usize) -> Result<Vec<CallSite>, StoreError>;

    /// Every logger with stored records, by name (a logger whose records were
    /// all pruned is gone).
    fn loggers(&self) -> Result<Vec<String>, StoreError>;

    /// A short description for messages (never containing a password).
    fn describe(&self) -> String;

    /// What a live tail waits on between two reads: a waiter that returns
    /// when the store says a batch committed (PostgreSQL `LISTEN/NOTIFY`),
    /// or [`Sleep`] (the default), which waits the whole poll interval.
    /// Handing one out never fails: a store that cannot listen now hands out
    /// a waiter that sleeps and tries to listen again.
    fn commit_waiter(&self) -> Box<dyn CommitWaiter> {
        Box::new(Sleep)
    }

    /// Whether every row is committed before any row with a larger id can
    /// be read (one writer at a time, ids drawn under its lock: SQLite). A
    /// [`Follow`] over such a store reads only the rows above the newest id
    /// it saw; otherwise it re-reads a grace period below it for rows
    /// committed late ([`Follow::GRACE`]). `false`, the safe answer, unless
    /// a storage knows better.
    fn ids_in_commit_order(&self) -> bool {
        false
    }

    /// How far the indexes that text and context-key filters read are
    /// behind the stored records: the records above each index's mark,
    /// which such a read scans (its answer stays complete, only slower). A
    /// face says so beside the answer ([`IndexLag::note`]), so no user waits
    /// on a silent scan. Bounded at any lag (see [`Behind::measure`]): a
    /// search page asks it on every request. This default, nothing behind,
    /// is a storage without an index that lags.
    ///
    /// ```
    /// use log_panel_query::{index_note, RecordFilter, Store};
    /// fn warn_if_scanned(store: &dyn Store, filter: &RecordFilter) {
    ///     // A failed read of the lag is a line too ("index lag unknown: …"),
    ///     // never the answer's error: the lag is advice.
    ///     if let Some(line) = index_note(store, filter).line() {
    ///         eprintln!("log-panel: {line}");
    ///     }
    /// }
    /// ```
    fn index_lag(&self) -> Result<IndexLag, StoreError> {
        Ok(IndexLag::default())
    }
}

/// Deleting and rewriting stored data: what an operator's tool runs
/// (`log-panel prune`, `log-panel rebuild`), never a reader. Apart from
/// [`Store`] so that a read-only face (the web panel) holds a `dyn Store`
/// that cannot delete: each storage crate implements it on a type of its own
/// (`SqliteMaintenance`, `PgMaintenance`, `ChMaintenance`), never on its store.
pub trait Maintenance: Send + Sync {
    /// Deletes the records older than `before`, at most `batch_size` a
    /// transaction, and keeps the aggregates right (takes the deleted rows
    /// off the aggregate tables in the same transaction); counts only when
    /// `dry_run`. A `batch_size` of 0 is [`StoreErrorKind::BadFilter`].
    fn prune(&self, before: Timestamp, batch_size: usize, dry_run: bool) -> Result<PruneReport, StoreError>;

    /// Recomputes the aggregate tables from the records (after rows were
    /// deleted by other means, or a backup restored).
    fn rebuild(&self) -> Result<(), StoreError>;
}

/// A part of a call-site list read from one aggregate table: the buckets of
/// `unit` in `[since, until)` (`None`: unbounded), from
/// [`RecordFilter::site_spans`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteSpan {
    /// Which table's buckets.
    pub unit: SiteUnit,
    /// The first bucket's start.
    pub since: Option<Timestamp>,
    /// The end of the last bucket.
    pub until: Option<Timestamp>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn row(id: i64) -> StoredRecord {
        StoredRecord { id, ts: Timestamp(id * 10), ..StoredRecord::default() }
    }

    #[test]
    fn call_sites_split_into_whole_hours_and_the_partial_ends() {
        let mut f = RecordFilter {
            since: Some(Timestamp(HOUR + 5)),
            until: Some(Timestamp(4 * HOUR - 1)),
            ..RecordFilter::default()
        };
        let hours = f.whole_site_hours();
        assert_eq!(hours, Some((Some(Timestamp(2 * HOUR)), Some(Timestamp(3 * HOUR)))));
        let edges: Vec<_> = f.partial_hours(hours.unwrap()).iter().map(|e| (e.since, e.until)).collect();
        assert_eq!(
            edges,
            [
                (Some(Timestamp(HOUR + 5)), Some(Timestamp(2 * HOUR))),
                (Some(Timestamp(3 * HOUR)), Some(Timestamp(4 * HOUR - 1)))
            ]
        );
        // Aligned ends leave no partial hour; open ends none on their side.
        f.since = Some(Timestamp(HOUR));
        f.until = None;
        assert_eq!(f.whole_site_hours(), Some((Some(Timestamp(HOUR)), None)));
        assert!(f.partial_hours((Some(Timestamp(HOUR)), None)).is_empty());
        // No whole hour in the range, a dropped level or another condition: the rows answer.
        f.until = Some(Timestamp(2 * HOUR - 1));
        assert_eq!(f.whole_site_hours(), None);
        f.until = None;
        f.min_level = Some(Level::Warn);
        assert_eq!(f.whole_site_hours(), None);
        f.min_level = None;
        f.app = Some("shop".into());
        assert_eq!(f.whole_site_hours(), None);
    }

    #[test]
    fn call_sites_over_days_read_whole_days_and_the_hours_at_their_ends() {
        let span = |unit, since: Option<i64>, until: Option<i64>| SiteSpan {
            unit,
            since: since.map(Timestamp),
            until: until.map(Timestamp),
        };
        // Hours 3 of day 1 to 5 of day 4: days 2 and 3 whole, 21 hours before, 5 after.
        let spans = RecordFilter::site_spans((Some(Timestamp(DAY + 3 * HOUR)), Some(Timestamp(4 * DAY + 5 * HOUR))));
        assert_eq!(
            spans,
            [
                span(SiteUnit::Day, Some(2 * DAY), Some(4 * DAY)),
                span(SiteUnit::Hour, Some(DAY + 3 * HOUR), Some(2 * DAY)),
                span(SiteUnit::Hour, Some(4 * DAY), Some(4 * DAY + 5 * HOUR)),
            ]
        );
        // Days aligned at both ends: the days alone; open ends: the days to that side.
        assert_eq!(
            RecordFilter::site_spans((Some(Timestamp(-DAY)), Some(Timestamp(DAY)))),
            [span(SiteUnit::Day, Some(-DAY), Some(DAY))]
        );
        assert_eq!(
            RecordFilter::site_spans((None, Some(Timestamp(DAY + HOUR)))),
            [span(SiteUnit::Day, None, Some(DAY)), span(SiteUnit::Hour, Some(DAY), Some(DAY + HOUR)),]
        );
        assert_eq!(
            RecordFilter::site_spans((Some(Timestamp(-HOUR)), None)),
            [span(SiteUnit::Day, Some(0), None), span(SiteUnit::Hour, Some(-HOUR), Some(0)),]
        );
        assert_eq!(RecordFilter::site_spans((None, None)), [span(SiteUnit::Day, None, None)]);
        // No whole day inside (one midnight or none): the hours only.
        for (a, b) in [(DAY - HOUR, DAY + HOUR), (HOUR, 5 * HOUR), (DAY - HOUR, 2 * DAY - HOUR)] {
            assert_eq!(
                RecordFilter::site_spans((Some(Timestamp(a)), Some(Timestamp(b)))),
                [span(SiteUnit::Hour, Some(a), Some(b))]
            );
        }
    }

    #[test]
    fn call_sites_over_weeks_read_whole_weeks_then_days_then_hours() {
        let span = |unit, since: i64, until: i64| SiteSpan {
            unit,
            since: Some(Timestamp(since)),
            until: Some(Timestamp(until)),
        };
        let units = [SiteUnit::Week, SiteUnit::Day];
        // 1970-01-05 (day 4) was a Monday: weeks start at 4 + 7k days.
        let monday = 4 * DAY;
        assert_eq!(SiteUnit::Week.floor(Timestamp(monday - 1)), Timestamp(monday - 7 * DAY));
        assert_eq!(SiteUnit::Week.floor(Timestamp(monday + 7 * DAY - 1)), Timestamp(monday));
        assert_eq!(SiteUnit::Week.ceil(Timestamp(monday)), Timestamp(monday));
        assert_eq!(SiteUnit::Week.ceil(Timestamp(monday + 1)), Timestamp(monday + 7 * DAY));
        // Thursday 3 h of week 0 to Wednesday 5 h of week 3: weeks 1 and 2
        // whole, then the days and hours at each end.
        let (a, b) = (monday + 3 * DAY + 3 * HOUR, monday + 23 * DAY + 5 * HOUR);
        assert_eq!(
            RecordFilter::site_spans_in((Some(Timestamp(a)), Some(Timestamp(b))), &units),
            [
                span(SiteUnit::Week, monday + 7 * DAY, monday + 21 * DAY),
                span(SiteUnit::Day, monday + 4 * DAY, monday + 7 * DAY),
                span(SiteUnit::Hour, a, monday + 4 * DAY),
                span(SiteUnit::Day, monday + 21 * DAY, monday + 23 * DAY),
                span(SiteUnit::Hour, monday + 23 * DAY, b),
            ]
        );
        // No whole week inside: the days and hours, as without weeks.
        for (a, b) in
            [(monday + HOUR, monday + 6 * DAY), (monday + 5 * DAY, monday + 12 * DAY - HOUR), (HOUR, 5 * HOUR)]
        {
            let hours = (Some(Timestamp(a)), Some(Timestamp(b)));
            assert_eq!(RecordFilter::site_spans_in(hours, &units), RecordFilter::site_spans(hours));
        }
        // Open ends: the weeks to that side.
        assert_eq!(
            RecordFilter::site_spans_in((None, Some(Timestamp(monday + DAY))), &units),
            [
                SiteSpan { unit: SiteUnit::Week, since: None, until: Some(Timestamp(monday)) },
                span(SiteUnit::Day, monday, monday + DAY),
            ]
        );
        assert_eq!(
            RecordFilter::site_spans_in((None, None), &units),
            [SiteSpan { unit: SiteUnit::Week, since: None, until: None }]
        );
    }

    #[test]
    fn pages_from_rows_set_both_cursors() {
        let never = |_: Cursor, _: bool| -> Result<bool, StoreError> { panic!("the newest page asks nothing") };
        // Newest: limit + 1 rows read, so there is an older page.
        let page = Page::from_rows(PageAt::Newest, 2, vec![row(9), row(8), row(7)], never).unwrap();
        assert_eq!(page.records, [row(9), row(8)]);
        assert_eq!((page.older, page.newer), (Some(Cursor::of(&row(8))), None));
        let page = Page::from_rows(PageAt::Newest, 2, vec![row(9)], never).unwrap();
        assert_eq!((page.older, page.newer), (None, None));
        // Older: the newer side comes from the check, at the first row (or the cursor when empty).
        let c = Cursor::of(&row(8));
        let mut asked = Vec::new();
        let page = Page::from_rows(PageAt::Older(c), 2, vec![row(7), row(6)], |at, older| {
            asked.push((at, older));
            Ok(true)
        })
        .unwrap();
        assert_eq!(asked, [(Cursor::of(&row(7)), false)]);
        assert_eq!((page.older, page.newer), (None, Some(Cursor::of(&row(7)))));
        let page = Page::from_rows(PageAt::Older(c), 2, Vec::new(), |at, _| Ok(at == c)).unwrap();
        assert_eq!((page.records.len(), page.older, page.newer), (0, None, Some(c)));
        // Newer: read oldest first, shown newest first; the older side from the check.
        let page = Page::from_rows(PageAt::Newer(c), 2, vec![row(9), row(10), row(11)], |at, older| {
            Ok(older && at == Cursor::of(&row(9)))
        })
        .unwrap();
        assert_eq!(page.records, [row(10), row(9)]);
        assert_eq!((page.older, page.newer), (Some(Cursor::of(&row(9))), Some(Cursor::of(&row(10)))));
        let page = Page::from_rows(PageAt::Newer(c), 2, vec![row(9)], |_, _| Ok(false)).unwrap();
        assert_eq!((page.records, page.older, page.newer), (vec![row(9)], None, None));
    }
}
