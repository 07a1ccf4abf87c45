//! The record model: everything captured on the calling thread for one log call.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::json::JsonBuf;
use crate::{Context, Value};

pub use log::Level;

/// A string that is usually `'static` (targets, module paths and file names
/// come from macros) and owned otherwise, so capture allocates only when it must.
pub type Text = Cow<'static, str>;

/// A minute, in microseconds (the unit of [`Timestamp`]).
pub const MINUTE: i64 = 60_000_000;
/// A quarter hour, in microseconds: the finest aggregate bucket, so that a
/// local day is a sum of whole buckets in every time zone in use.
pub const QUARTER_HOUR: i64 = 15 * MINUTE;
/// An hour, in microseconds: the coarse aggregate bucket.
pub const HOUR: i64 = 60 * MINUTE;
/// A day, in microseconds.
pub const DAY: i64 = 24 * HOUR;
/// A second, in microseconds.
const SECOND: i64 = 1_000_000;

/// A UTC timestamp with microsecond precision, stored as microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// Microseconds since 1970-01-01T00:00:00Z.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// The start of this timestamp's UTC hour, in microseconds.
    pub fn hour_floor(self) -> Timestamp {
        self.floor_to(HOUR)
    }

    /// This time rounded down to a multiple of `unit` microseconds (a
    /// quarter hour, a bar's width); `unit` must be positive.
    ///
    /// ```
    /// use log_panel_core::Timestamp;
    /// assert_eq!(Timestamp(29).floor_to(15), Timestamp(15));
    /// assert_eq!(Timestamp(-1).floor_to(15), Timestamp(-15));
    /// ```
    pub fn floor_to(self, unit: i64) -> Timestamp {
        Timestamp(self.0.div_euclid(unit).saturating_mul(unit))
    }

    /// This time rounded up to a multiple of `unit` microseconds, saturating
    /// at the largest one; `unit` must be positive.
    ///
    /// ```
    /// use log_panel_core::Timestamp;
    /// assert_eq!(Timestamp(16).ceil_to(15), Timestamp(30));
    /// assert_eq!(Timestamp(15).ceil_to(15), Timestamp(15));
    /// assert_eq!(Timestamp(-1).ceil_to(15), Timestamp(0));
    /// ```
    pub fn ceil_to(self, unit: i64) -> Timestamp {
        let up = i64::from(self.0.rem_euclid(unit) != 0);
        Timestamp(self.0.div_euclid(unit).saturating_add(up).saturating_mul(unit))
    }

    /// RFC 3339 in UTC with exactly six fractional digits, e.g.
    /// `2026-11-22T08:15:02.123456Z`. Fixed width, so text order is time order.
    ///
    /// ```
    /// use log_panel_core::Timestamp;
    /// assert_eq!(Timestamp(1_500_000).to_rfc3339(), "1970-01-01T00:00:01.500000Z");
    /// ```
    pub fn to_rfc3339(self) -> String {
        let mut out = String::with_capacity(27);
        self.write_rfc3339(&mut out);
        out
    }

    /// Appends [`to_rfc3339`](Timestamp::to_rfc3339)'s text to `out` without
    /// allocating: the writer formats every record's time this way.
    ///
    /// ```
    /// use log_panel_core::Timestamp;
    /// let mut s = String::from("at ");
    /// Timestamp(1_763_800_000_123_456).write_rfc3339(&mut s);
    /// assert_eq!(s, "at 2025-11-22T08:26:40.123456Z");
    /// ```
    pub fn write_rfc3339(self, out: &mut String) {
        let (year, month, day) = civil_from_days(self.0.div_euclid(DAY));
        if !(0..=9999).contains(&year) {
            // Outside four-digit years: let the `time` crate decide, as before.
            out.push_str(&self.to_rfc3339_slow());
            return;
        }
        let of_day = self.0.rem_euclid(DAY);
        let secs = of_day / 1_000_000;
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        put_digits(&mut buf[0..4], year);
        put_digits(&mut buf[5..7], month);
        put_digits(&mut buf[8..10], day);
        put_digits(&mut buf[11..13], secs / 3600);
        put_digits(&mut buf[14..16], secs / 60 % 60);
        put_digits(&mut buf[17..19], secs % 60);
        put_digits(&mut buf[20..26], of_day % 1_000_000);
        // Only ASCII digits and separators were written, so this cannot fail.
        out.push_str(std::str::from_utf8(&buf).unwrap_or("invalid-timestamp"));
    }

    /// Parses the text [`to_rfc3339`](Timestamp::to_rfc3339) writes for years
    /// 0000–9999, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the stored form of a record's
    /// time and of an aggregate bucket): fixed width, UTC, six fractional digits.
    ///
    /// ```
    /// use log_panel_core::Timestamp;
    /// let t = Timestamp::parse_rfc3339("2025-11-22T08:26:40.123456Z")?;
    /// assert_eq!(t, Timestamp(1_763_800_000_123_456));
    /// assert!(Timestamp::parse_rfc3339("2025-11-22 08:26:40Z").is_err());
    /// # Ok::<(), log_panel_core::record::TimestampError>(())
    /// ```
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let bad = || TimestampError(text.to_owned());
        let b = text.as_bytes();
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (26, b'Z')];
        if b.len() != 27 || separators.iter().any(|&(i, c)| b[i] != c) {
            return Err(bad());
        }
        let num = |from: usize, to: usize| -> Result<i64, TimestampError> {
            b[from..to].iter().try_fold(0i64, |n, &c| {
                if c.is_ascii_digit() {
                    Ok(n * 10 + i64::from(c - b'0'))
                } else {
                    Err(bad())
                }
            })
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (h, m, s, micros) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 26)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || h > 23 || m > 59 || s > 59 {
            return Err(bad());
        }
        Ok(Timestamp(days_from_civil(year, month, day) * DAY + h * HOUR + m * MINUTE + s * SECOND + micros))
    }

    /// The general (slower) formatter, for years outside 0000–9999.
    fn to_rfc3339_slow(self) -> String {
        const FORMAT: &[time::format_description::FormatItem<'static>] =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
        let nanos = i128::from(self.0) * 1_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(FORMAT).ok())
            .unwrap_or_else(|| format!("invalid-timestamp:{}", self.0))
    }
}

/// Writes `value` (non-negative) as zero-padded decimal digits filling `buf`.
fn put_digits(buf: &mut [u8], mut value: i64) {
    for b in buf.iter_mut().rev() {
        *b = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Year, month (1–12) and day (1–31) of a day count since 1970-01-01 in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
///
/// ```
/// assert_eq!(log_panel_core::civil_from_days(11_016), (2000, 2, 29));
/// ```
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day count since 1970-01-01 of a proleptic Gregorian date: the
/// inverse of [`civil_from_days`] (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Text that is not a timestamp in the stored form (see [`Timestamp::parse_rfc3339`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a UTC timestamp of the form YYYY-MM-DDTHH:MM:SS.ffffffZ")]
pub struct TimestampError(pub String);

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse_rfc3339(s)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX)),
        }
    }
}

/// Who wrote a record: constant for one process, shared by all its records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Origin {
    /// Application name (configurable; defaults to the executable's name).
    pub app: String,
    /// Host name of the machine.
    pub host: String,
    /// Operating-system process id.
    pub pid: u32,
}

/// One log record as captured on the calling thread and handed to a [`Sink`](crate::Sink).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Record {
    /// When the log call was made (UTC).
    pub timestamp: Timestamp,
    /// Severity.
    pub level: Level,
    /// The logger name (`log`'s target; by default the module path).
    pub logger: Text,
    /// The formatted message (borrowed when the call had no format arguments).
    pub message: Text,
    /// Module path of the call site.
    pub module_path: Option<Text>,
    /// Source file of the call site.
    pub file: Option<Text>,
    /// Source line of the call site.
    pub line: Option<u32>,
    /// Name of the logging thread, or its id when unnamed.
    pub thread: Arc<str>,
    /// The record's own structured key-values (`info!(user_id = 7; "…")`).
    pub kv: Vec<(Text, Value)>,
    /// The context bound on the logging thread when the record was made.
    pub context: Context,
    /// Original size in bytes of the message when it was cut to the configured limit.
    pub original_size: Option<u64>,
}

impl Origin {
    /// The origin of records from process `pid` of application `app` on `host`.
    pub fn new(app: impl Into<String>, host: impl Into<String>, pid: u32) -> Origin {
        Origin { app: app.into(), host: host.into(), pid }
    }
}

impl Record {
    /// A record from `logger` with the given level and message, stamped now, other fields empty.
    /// Handy for tests and for sinks' examples.
    pub fn new(level: Level, logger: impl Into<Text>, message: impl Into<Text>) -> Record {
        Record::at(Timestamp::now(), level, logger.into(), message.into(), Arc::from("main"))
    }

    /// A record made at `timestamp` on `thread`, with no call site, key-values,
    /// context or cut size (set those fields after): what a capture or a
    /// replay builds, without [`new`](Record::new)'s clock read and allocation.
    // Inline across crates: the caller's capture then builds the record in
    // place and drops no placeholder fields (callgrind: ~60 instructions a
    // call without it, docs/performance.md).
    #[inline]
    pub fn at(timestamp: Timestamp, level: Level, logger: Text, message: Text, thread: Arc<str>) -> Record {
        Record {
            timestamp,
            level,
            logger,
            message,
            module_path: None,
            file: None,
            line: None,
            thread,
            kv: Vec::new(),
            context: Context::empty(),
            original_size: None,
        }
    }

    /// The merged fields as stored: bound context first, then the record's own
    /// key-values; on a clash the record's explicit value wins (structlog's rule).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        let kv = &self.kv;
        self.context
            .iter()
            .filter(move |(k, _)| !kv.iter().any(|(own, _)| own.as_ref() == &**k))
            .map(|(k, v)| (&**k, v))
            .chain(kv.iter().map(|(k, v)| (k.as_ref(), v)))
    }

    /// Appends the merged fields as one JSON object to `out` (`{}` when empty),
    /// as every sink stores them (see [`json`](crate::json) for the rules).
    /// Returns whether a NUL character had to be replaced.
    ///
    /// ```
    /// use log_panel_core::{Context, Level, Record};
    /// let mut r = Record::new(Level::Info, "app", "hi");
    /// r.context = Context::from_pairs([("user", "ctx"), ("request_id", "r1")]);
    /// r.kv.push(("user".into(), "explicit".into()));
    /// let mut json = String::new();
    /// r.write_fields_json(&mut json);
    /// assert_eq!(json, r#"{"request_id":"r1","user":"explicit"}"#);
    /// ```
    pub fn write_fields_json<B: JsonBuf + ?Sized>(&self, out: &mut B) -> bool {
        crate::json::write_object(out, self.fields())
    }

    /// Approximate memory held by this record, for memory bounds.
    pub fn approx_size(&self) -> usize {
        std::mem::size_of::<Record>()
            + self.message.len()
            + self.kv.iter().map(|(k, v)| k.len() + v.approx_size()).sum::<usize>()
    }
}

/// The five levels, least severe first: the one order every per-level table
/// of log-panel uses ([`level_index`] is a level's position here).
pub const LEVELS: [Level; 5] = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error];

/// Python-style numeric severity stored in the database, by [`level_index`]:
/// bigger is worse.
const SEVERITIES: [i16; 5] = [5, 10, 20, 30, 40];

/// A level's position in [`LEVELS`] (TRACE 0 … ERROR 4), for per-level arrays.
///
/// ```
/// use log_panel_core::{level_index, Level, LEVELS};
/// assert_eq!(LEVELS[level_index(Level::Warn)], Level::Warn);
/// ```
pub fn level_index(level: Level) -> usize {
    // `log` numbers its levels ERROR 1 … TRACE 5.
    5 - level as usize
}

/// Python-style numeric severity stored in the database: bigger is worse
/// (TRACE 5, DEBUG 10, INFO 20, WARN 30, ERROR 40), so `level >= 30` means
/// "warnings and worse" in SQL.
///
/// ```
/// use log_panel_core::{severity, Level};
/// assert_eq!(severity(Level::Warn), 30);
/// ```
pub fn severity(level: Level) -> i16 {
    SEVERITIES[level_index(level)]
}

/// The level's lower-case name (`"warn"`), as filters, URLs and CSS classes
/// spell it; [`parse_level`] reads it back.
///
/// ```
/// use log_panel_core::{level_name, Level};
/// assert_eq!(level_name(Level::Warn), "warn");
/// ```
pub fn level_name(level: Level) -> &'static str {
    ["trace", "debug", "info", "warn", "error"][level_index(level)]
}

/// Parses a level name (`error`, `warn`/`warning`, `info`, `debug`, `trace`),
/// case-insensitively, with an error that lists the accepted names: the
/// inverse of [`level_name`], shared by the configuration file and the CLI.
///
/// ```
/// use log_panel_core::{parse_level, Level};
/// assert_eq!(parse_level("WARNING"), Ok(Level::Warn));
/// assert!(parse_level("loud").unwrap_err().contains("unknown level `loud`"));
/// ```
pub fn parse_level(s: &str) -> Result<Level, String> {
    match s.to_ascii_lowercase().as_str() {
        "error" => Ok(Level::Error),
        "warn" | "warning" => Ok(Level::Warn),
        "info" => Ok(Level::Info),
        "debug" => Ok(Level::Debug),
        "trace" => Ok(Level::Trace),
        _ => Err(format!("unknown level `{s}`; expected one of error, warn, info, debug, trace")),
    }
}

/// The inverse of [`severity`].
pub fn level_from_severity(severity: i64) -> Option<Level> {
    let index = SEVERITIES.iter().position(|&s| i64::from(s) == severity)?;
    LEVELS.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_fixed_width_utc() {
        let t = Timestamp(1_763_800_000_123_456);
        assert_eq!(t.to_rfc3339(), "2025-11-22T08:26:40.123456Z");
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn rounding_to_a_unit_saturates_at_the_ends() {
        let unit = 15 * 60 * SECOND;
        assert_eq!(Timestamp(i64::MAX).ceil_to(unit), Timestamp(i64::MAX));
        assert_eq!(Timestamp(i64::MIN).floor_to(unit), Timestamp(i64::MIN));
        assert_eq!(Timestamp(i64::MAX).floor_to(unit).0 % unit, 0);
        assert_eq!(Timestamp(7 * unit + 1).ceil_to(unit), Timestamp(8 * unit));
        assert_eq!(Timestamp(7 * unit - 1).floor_to(unit), Timestamp(6 * unit));
    }

    #[test]
    fn hour_floor_is_utc() {
        let t = Timestamp(1_763_800_000_123_456);
        assert_eq!(t.hour_floor().to_rfc3339(), "2025-11-22T08:00:00.000000Z");
    }

    #[test]
    fn fields_merge_with_record_winning() {
        let mut r = Record::new(Level::Info, "t", "m");
        r.context = Context::from_pairs([("a", 1), ("b", 2)]);
        r.kv.push(("b".into(), Value::from("own")));
        let got: Vec<(String, Value)> = r.fields().map(|(k, v)| (k.to_owned(), v.clone())).collect();
        assert_eq!(got, vec![("a".into(), Value::I64(1)), ("b".into(), Value::from("own"))]);
        let mut json = String::new();
        r.write_fields_json(&mut json);
        assert_eq!(json, r#"{"a":1,"b":"own"}"#);
    }

    #[test]
    fn fast_rfc3339_matches_the_time_crate() {
        // Every day boundary of 1900–2100 and a spread of times of day, plus leap days.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for day in -25_567i64..47_482 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let micros = day * 86_400_000_000 + (x % 86_400_000_000) as i64;
            for t in [day * 86_400_000_000, micros, day * 86_400_000_000 - 1] {
                let mut fast = String::new();
                Timestamp(t).write_rfc3339(&mut fast);
                assert_eq!(fast, Timestamp(t).to_rfc3339_slow(), "{t}");
            }
        }
        assert_eq!(Timestamp(951_782_400_000_000).to_rfc3339(), "2000-02-29T00:00:00.000000Z");
        // Years the fast path does not cover still format through the slow one.
        assert_eq!(
            Timestamp(-62_198_755_200_000_000).to_rfc3339(),
            Timestamp(-62_198_755_200_000_000).to_rfc3339_slow()
        );
        assert_eq!(Timestamp(i64::MAX).to_rfc3339(), Timestamp(i64::MAX).to_rfc3339_slow());
    }

    #[test]
    fn timestamps_round_trip_through_text() {
        for t in [0, 1, 1_795_373_100_000_000, 1_763_800_000_123_456, -1, -DAY - 7, 951_782_400_000_000] {
            assert_eq!(Timestamp::parse_rfc3339(&Timestamp(t).to_rfc3339()), Ok(Timestamp(t)), "{t}");
        }
        // Every day of 1900–2100 at a time of day.
        for day in -25_567i64..47_482 {
            let t = Timestamp(day * DAY + 12 * HOUR + 34 * MINUTE + 56 * SECOND + 789);
            assert_eq!(t.to_rfc3339().parse::<Timestamp>(), Ok(t));
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-13-01T00:00:00.000000Z",
            "2026-02-29T00:00:00.000000Z",
            "2026-11-22T24:00:00.000000Z",
            "2026-11-22T23:60:00.000000Z",
            "2026-11-22T23:00:00.00000aZ",
            "2026-11-22T23:00:00.000000+",
            "x".repeat(27).as_str(),
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn severities_round_trip() {
        for l in [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace] {
            assert_eq!(level_from_severity(severity(l).into()), Some(l));
            assert_eq!(LEVELS[level_index(l)], l);
        }
        let stored: Vec<i16> = LEVELS.iter().map(|&l| severity(l)).collect();
        assert_eq!(stored, [5, 10, 20, 30, 40]);
        assert_eq!(level_from_severity(0), None);
        assert_eq!(level_from_severity(41), None);
    }
}

/// Marker appended to text cut to the size limit.
pub const CUT_MARKER: &str = "…[cut]";

/// Cuts `s` to at most `limit` bytes at a character boundary and appends
/// [`CUT_MARKER`]; `None` when it already fits.
///
/// ```
/// use log_panel_core::record::cut;
/// assert_eq!(cut("héllo", 2).as_deref(), Some("h…[cut]"));
/// assert_eq!(cut("short", 64), None);
/// ```
pub fn cut(s: &str, limit: usize) -> Option<String> {
    if s.len() <= limit {
        return None;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + CUT_MARKER.len());
    out.push_str(&s[..end]);
    out.push_str(CUT_MARKER);
    Some(out)
}

/// A `fmt::Write` that keeps at most `limit` bytes (cut at a character
/// boundary) and counts the full size, so a 100 MiB message is never copied
/// whole: only `limit` bytes are ever allocated.
#[derive(Debug)]
pub struct BoundedText {
    buf: String,
    limit: usize,
    total: usize,
}

impl BoundedText {
    /// An empty buffer that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> BoundedText {
        BoundedText::with_buffer(String::with_capacity(limit.min(128)), limit)
    }

    /// Like [`new`](BoundedText::new), writing into `buf` (cleared first), so
    /// that a buffer can be reused.
    ///
    /// ```
    /// use std::fmt::Write;
    /// use log_panel_core::record::BoundedText;
    /// let mut text = BoundedText::with_buffer(String::from("old"), 4);
    /// write!(text, "{}", 123456).unwrap();
    /// assert_eq!(text.finish(), ("1234…[cut]".to_owned(), Some(6)));
    /// ```
    pub fn with_buffer(mut buf: String, limit: usize) -> BoundedText {
        buf.clear();
        BoundedText { buf, limit, total: 0 }
    }

    /// The kept text (with [`CUT_MARKER`] when cut) and the original size when cut.
    pub fn finish(mut self) -> (String, Option<u64>) {
        if self.total > self.buf.len() {
            self.buf.push_str(CUT_MARKER);
            (self.buf, Some(self.total as u64))
        } else {
            (self.buf, None)
        }
    }
}

impl std::fmt::Write for BoundedText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.total += s.len();
        let room = self.limit.saturating_sub(self.buf.len());
        if room >= s.len() {
            self.buf.push_str(s);
        } else if room > 0 {
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.buf.push_str(&s[..end]);
            // Nothing more fits: later pieces only add to the total.
            self.limit = self.buf.len();
        }
        Ok(())
    }
}

impl Record {
    /// A copy with text that some databases refuse made storable: NUL bytes
    /// become U+FFFD in the logger, message, thread, call site, keys and values.
    pub fn sanitised(&self) -> Record {
        fn clean(s: &str) -> Text {
            Cow::Owned(s.replace('\0', "\u{FFFD}"))
        }
        fn clean_value(v: &Value) -> Value {
            match v {
                Value::Str(s) if s.contains('\0') => Value::Str(s.replace('\0', "\u{FFFD}").into()),
                other => other.clone(),
            }
        }
        let mut r = self.clone();
        r.logger = clean(&self.logger);
        r.message = clean(&self.message);
        r.thread = Arc::from(self.thread.replace('\0', "\u{FFFD}").as_str());
        r.module_path = self.module_path.as_deref().map(clean);
        r.file = self.file.as_deref().map(clean);
        // Context and key-values are merged into key-values so the clean copy stands alone.
        r.kv = self.fields().map(|(k, v)| (clean(k), clean_value(v))).collect();
        r.context = Context::empty();
        r
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn bounded_text_keeps_limit_and_counts_all() {
        let mut b = BoundedText::new(5);
        let (a, c) = ("abc", String::from("déf-long"));
        let _ = write!(b, "{a}{c}");
        let (text, original) = b.finish();
        assert_eq!(text, format!("abcd{CUT_MARKER}"));
        assert_eq!(original, Some(11 + 1));
        let mut small = BoundedText::new(64);
        let _ = write!(small, "fits {}", 1);
        assert_eq!(small.finish(), ("fits 1".to_owned(), None));
    }

    #[test]
    fn sanitised_replaces_nul_everywhere() {
        let mut r = Record::new(Level::Info, "a\0b", "m\0");
        r.context = Context::from_pairs([("k\0", "v\0")]);
        let s = r.sanitised();
        assert_eq!(s.logger, "a\u{FFFD}b");
        assert_eq!(s.message, "m\u{FFFD}");
        assert_eq!(s.kv, vec![(Cow::Owned("k\u{FFFD}".to_owned()), Value::from("v\u{FFFD}"))]);
    }
}
