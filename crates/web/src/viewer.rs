//! The viewer's offset from UTC, and times shown in it.

use log_panel_core::Timestamp;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::UtcOffset;

use crate::url::{to_datetime, Params};

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
        self.format_as(ts, format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"))
    }

    /// `12-01 10:15` (a short label for axes and slots).
    pub(crate) fn format_short(self, ts: Timestamp) -> String {
        self.format_as(ts, format_description!("[month]-[day] [hour]:[minute]"))
    }

    /// `ts` in the viewer's offset as `format` says, else RFC 3339 in UTC.
    fn format_as(self, ts: Timestamp, format: &[FormatItem<'_>]) -> String {
        to_datetime(ts)
            // Checked: the first and last days a URL can name leave the range in other offsets.
            .and_then(|t| t.checked_to_offset(self.offset()))
            .and_then(|t| t.format(format).ok())
            .unwrap_or_else(|| ts.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
