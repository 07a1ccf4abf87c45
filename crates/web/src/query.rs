//! The URL as the whole state of a view: query parameters in, a
//! [`RecordFilter`] out, and links built back from the same parameters.

use log_panel_core::{Level, Timestamp};
use log_panel_query::{Cursor, FieldMatch, PageAt, RecordFilter, SiteMatch, When};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The query string as ordered pairs, so repeated keys (`levels`, `ctx`) keep every value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Params {
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect();
        Params { pairs }
    }

    /// The first value of `key`, trimmed, when not empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every value of `key`.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The viewer's fixed UTC offset: from `?tz=` (minutes east of UTC, set by
/// the page script or typed by hand), else the `log_panel_tz` cookie, else UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Viewer {
    /// Seconds east of UTC, a multiple of 15 minutes.
    pub(crate) offset_secs: i32,
    /// Whether the offset came from the URL (then links carry it on).
    pub(crate) in_url: bool,
}

/// The widest offset in use anywhere (UTC+14).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

fn parse_offset_minutes(s: &str) -> Option<i32> {
    let m: i32 = s.trim().parse().ok()?;
    // Aggregates are kept per quarter hour, and every real zone is on one.
    (m.abs() <= MAX_OFFSET_MINUTES && m % 15 == 0).then_some(m * 60)
}

impl Viewer {
    pub(crate) fn from_request(params: &Params, cookie: Option<&str>) -> Result<Viewer, String> {
        if let Some(tz) = params.get("tz") {
            return parse_offset_minutes(tz)
                .map(|offset_secs| Viewer { offset_secs, in_url: true })
                .ok_or_else(|| format!("tz `{tz}`: expected minutes east of UTC, a multiple of 15 within ±840"));
        }
        // A cookie that does not parse is ignored: the viewer did not type it.
        let offset_secs = cookie.and_then(parse_offset_minutes).unwrap_or(0);
        Ok(Viewer { offset_secs, in_url: false })
    }

    pub(crate) fn utc() -> Viewer {
        Viewer { offset_secs: 0, in_url: false }
    }

    fn offset(self) -> UtcOffset {
        UtcOffset::from_whole_seconds(self.offset_secs).unwrap_or(UtcOffset::UTC)
    }

    /// `+01:00`, or `UTC`.
    pub(crate) fn label(self) -> String {
        if self.offset_secs == 0 {
            return "UTC".to_owned();
        }
        let sign = if self.offset_secs < 0 { '-' } else { '+' };
        let m = self.offset_secs.abs() / 60;
        format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// `2026-12-01 10:15:02.123` in the viewer's offset.
    pub(crate) fn format(self, ts: Timestamp) -> String {
        const FORMAT: &[time::format_description::FormatItem<'static>] =
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]");
        to_datetime(ts)
            // Checked: the first and last days a URL can name leave the range in other offsets.
            .and_then(|t| t.checked_to_offset(self.offset()))
            .and_then(|t| t.format(FORMAT).ok())
            .unwrap_or_else(|| ts.to_rfc3339())
    }

    /// `12-01 10:15` (a short label for axes and slots).
    pub(crate) fn format_short(self, ts: Timestamp) -> String {
        const FORMAT: &[time::format_description::FormatItem<'static>] =
            format_description!("[month]-[day] [hour]:[minute]");
        to_datetime(ts)
            // Checked: the first and last days a URL can name leave the range in other offsets.
            .and_then(|t| t.checked_to_offset(self.offset()))
            .and_then(|t| t.format(FORMAT).ok())
            .unwrap_or_else(|| ts.to_rfc3339())
    }
}

fn to_datetime(ts: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts.0) * 1_000).ok()
}

/// RFC 3339 in UTC to the second when that is exact (`2026-12-01T10:00:00Z`), for URLs.
pub(crate) fn url_time(ts: Timestamp) -> String {
    if ts.0 % 1_000_000 == 0 {
        if let Some(s) = to_datetime(ts).and_then(|t| t.format(&Rfc3339).ok()) {
            return s;
        }
    }
    ts.to_rfc3339()
}

/// The longest filter accepted, in bytes of its parameters' values: a page
/// repeats it in each of its links (60 histogram bars, two links a call site),
/// so this bounds a page's size whatever the URL.
pub(crate) const MAX_FILTER_BYTES: usize = 2048;

/// The record filter's parameters as typed, so a form that failed to parse
/// shows back what the viewer wrote.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilterForm {
    pub(crate) logger: String,
    pub(crate) level: String,
    pub(crate) levels: Vec<String>,
    pub(crate) q: String,
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) app: String,
    pub(crate) host: String,
    pub(crate) pid: String,
    /// The call site, `FILE:LINE` or `FILE`.
    pub(crate) site: String,
    /// `key=value` conditions, one per entry.
    pub(crate) ctx: Vec<String>,
}

impl FilterForm {
    pub(crate) fn from_params(p: &Params) -> FilterForm {
        let text = |k: &str| p.get(k).unwrap_or("").to_owned();
        FilterForm {
            logger: text("logger"),
            level: text("level"),
            levels: p.all("levels").map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect(),
            q: p.all("q").next().unwrap_or("").to_owned(),
            since: text("since"),
            until: text("until"),
            app: text("app"),
            host: text("host"),
            pid: text("pid"),
            site: text("site"),
            // A textarea sends several conditions, one per line; links send one per `ctx`.
            ctx: p
                .all("ctx")
                .flat_map(str::lines)
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The filter's text, in bytes.
    fn len(&self) -> usize {
        let one = [&self.logger, &self.level, &self.q, &self.since, &self.until, &self.app, &self.host, &self.pid];
        one.iter().map(|v| v.len()).sum::<usize>()
            + self.site.len()
            + self.levels.iter().chain(&self.ctx).map(String::len).sum::<usize>()
    }

    /// The filter, or every problem found in it, joined.
    pub(crate) fn to_filter(&self, now: Timestamp, viewer: Viewer) -> Result<RecordFilter, String> {
        let len = self.len();
        if len > MAX_FILTER_BYTES {
            return Err(format!(
                "the filter is {len} bytes long; at most {MAX_FILTER_BYTES} are accepted (each link of a page repeats it)"
            ));
        }
        let mut problems = Vec::new();
        let mut f = RecordFilter::default();
        if !self.logger.is_empty() {
            match self.logger.parse() {
                Ok(l) => f.logger = Some(l),
                Err(e) => problems.push(format!("{e}")),
            }
        }
        if !self.level.is_empty() {
            match self.level.parse::<Level>() {
                Ok(l) => f.min_level = Some(l),
                Err(_) => problems.push(format!("level `{}`: expected error, warn, info, debug or trace", self.level)),
            }
        }
        for l in &self.levels {
            match l.parse::<Level>() {
                Ok(l) if !f.levels.contains(&l) => f.levels.push(l),
                Ok(_) => {}
                Err(_) => problems.push(format!("level `{l}`: expected error, warn, info, debug or trace")),
            }
        }
        for (text, slot) in [(&self.since, &mut f.since), (&self.until, &mut f.until)] {
            if !text.is_empty() {
                match text.parse::<When>().and_then(|w| w.at_offset(now, viewer.offset_secs)) {
                    Ok(t) => *slot = Some(t),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        if let (Some(s), Some(u)) = (f.since, f.until) {
            if s >= u {
                problems.push("the time range is empty: `since` must be before `until`".to_owned());
            }
        }
        if !self.app.is_empty() {
            f.app = Some(self.app.clone());
        }
        if !self.host.is_empty() {
            f.host = Some(self.host.clone());
        }
        if !self.pid.is_empty() {
            match self.pid.parse() {
                Ok(p) => f.pid = Some(p),
                Err(_) => problems.push(format!("pid `{}`: expected a process id", self.pid)),
            }
        }
        if !self.site.is_empty() {
            match self.site.parse::<SiteMatch>() {
                Ok(s) => f.site = Some(s),
                Err(e) => problems.push(format!("{e}")),
            }
        }
        for c in &self.ctx {
            match c.parse::<FieldMatch>() {
                Ok(m) => f.fields.push(m),
                Err(e) => problems.push(format!("{e}")),
            }
        }
        // Last, so the query ANDs with every field the form set.
        if let Err(e) = f.and_query(&self.q) {
            problems.push(format!("query: {e}"));
        }
        if problems.is_empty() {
            Ok(f)
        } else {
            Err(problems.join("; "))
        }
    }

    /// The filter's parameters, for a link.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (k, v) in [("logger", &self.logger), ("level", &self.level)] {
            if !v.is_empty() {
                out.push((k, v.clone()));
            }
        }
        out.extend(self.levels.iter().map(|l| ("levels", l.clone())));
        for (k, v) in [
            ("q", &self.q),
            ("since", &self.since),
            ("until", &self.until),
            ("app", &self.app),
            ("host", &self.host),
            ("pid", &self.pid),
            ("site", &self.site),
        ] {
            if !v.is_empty() {
                out.push((k, v.clone()));
            }
        }
        out.extend(self.ctx.iter().map(|c| ("ctx", c.clone())));
        out
    }
}

/// A query string from pairs (`a=1&b=x%20y`), empty when there are none.
pub(crate) fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.as_ref(), v.as_ref());
    }
    s.finish()
}

/// `path?query`, or `path` alone.
pub(crate) fn href(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Which page a records listing shows: `older=` / `newer=` cursors.
pub(crate) fn page_at(p: &Params) -> Result<PageAt, String> {
    if let Some(c) = p.get("older") {
        return c.parse::<Cursor>().map(PageAt::Older).map_err(|e| e.to_string());
    }
    if let Some(c) = p.get("newer") {
        return c.parse::<Cursor>().map(PageAt::Newer).map_err(|e| e.to_string());
    }
    Ok(PageAt::Newest)
}

/// A bounded positive number from `key`, else `default`.
pub(crate) fn number(p: &Params, key: &str, default: usize, max: usize) -> Result<usize, String> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("{key} `{v}`: expected a number from 1 to {max}")),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: Timestamp = Timestamp(1_764_583_200_000_000); // 2025-12-01T10:00:00Z

    #[test]
    fn a_filter_reports_every_problem() {
        let p = Params::parse(Some("level=loud&pid=x&since=soon&ctx=nokey&logger=::&site=:3"));
        let err = FilterForm::from_params(&p).to_filter(NOW, Viewer::utc()).unwrap_err();
        for part in ["level `loud`", "pid `x`", "time `soon`", "context filter", "logger", "call site `:3`"] {
            assert!(err.contains(part), "{err}");
        }
    }

    #[test]
    fn links_carry_the_filter_back() {
        let p =
            Params::parse(Some("logger=a%26b&levels=error&levels=warn&ctx=k%3Dv%0Aj%3D2&q=%20x&site=src%2Fa.rs%3A7"));
        let form = FilterForm::from_params(&p);
        assert_eq!(form.ctx, ["k=v", "j=2"]);
        let again = FilterForm::from_params(&Params::parse(Some(&encode(form.pairs()))));
        assert_eq!(again.pairs(), form.pairs());
        let f = form.to_filter(NOW, Viewer::utc()).unwrap();
        assert_eq!(f.levels, [Level::Error, Level::Warn]);
        assert_eq!(f.fields.len(), 2);
        assert_eq!(f.site, Some(SiteMatch { file: "src/a.rs".into(), line: Some(7) }));
    }

    #[test]
    fn offsets_are_quarter_hours_within_range() {
        let v = |q: &str| Viewer::from_request(&Params::parse(Some(q)), None);
        assert_eq!(v("tz=-300").unwrap().offset_secs, -18_000);
        assert_eq!(v("tz=345").unwrap().label(), "UTC+05:45");
        assert!(v("tz=7").is_err() && v("tz=900").is_err() && v("tz=x").is_err());
        let cookie = Viewer::from_request(&Params::default(), Some("60")).unwrap();
        assert_eq!((cookie.offset_secs, cookie.in_url), (3600, false));
        assert_eq!(Viewer::from_request(&Params::default(), Some("junk")).unwrap(), Viewer::utc());
    }
}
