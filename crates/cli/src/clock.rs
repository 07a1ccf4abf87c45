//! Times on the command line and on screen: relative or absolute input,
//! local-zone (or UTC) output, local days for timelines.

use std::str::FromStr;

use jiff::tz::TimeZone;
use jiff::ToSpan;
use log_panel_core::store::Slots;
use log_panel_core::Timestamp;

use crate::error::CliError;

/// A time given on the command line, resolved against "now" and the zone later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeSpec {
    /// This many microseconds before now.
    Ago(i64),
    /// An instant (RFC 3339 with an offset).
    At(jiff::Timestamp),
    /// A wall-clock time in the display zone.
    Civil(jiff::civil::DateTime),
}

impl FromStr for TimeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<TimeSpec, String> {
        let s = s.trim();
        if let Some(ago) = parse_duration(s) {
            return ago.map(TimeSpec::Ago);
        }
        if let Ok(t) = s.parse::<jiff::Timestamp>() {
            return Ok(TimeSpec::At(t));
        }
        if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
            return Ok(TimeSpec::Civil(dt));
        }
        if let Ok(d) = s.parse::<jiff::civil::Date>() {
            return Ok(TimeSpec::Civil(d.to_datetime(jiff::civil::Time::midnight())));
        }
        Err(format!(
            "`{}`: expected a duration such as 15m, 2h, 7d or a time such as 2026-12-01T10:00:00Z",
            s.escape_debug()
        ))
    }
}

/// `None` when `s` is not shaped like `<digits><unit>`.
fn parse_duration(s: &str) -> Option<Result<i64, String>> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let per: i64 = match unit {
        's' => 1_000_000,
        'm' => 60_000_000,
        'h' => 3_600_000_000,
        'd' => 86_400_000_000,
        'w' => 7 * 86_400_000_000,
        _ => return None,
    };
    Some(digits.parse::<i64>().ok().and_then(|n| n.checked_mul(per)).ok_or_else(|| format!("`{s}`: too long ago")))
}

/// The display zone and the "now" every relative time of one run is measured from.
pub(crate) struct Clock {
    tz: TimeZone,
    utc: bool,
    now: jiff::Timestamp,
}

impl Clock {
    /// UTC, or the system zone (`$TZ`, else /etc/localtime; UTC if neither is readable).
    pub(crate) fn new(utc: bool) -> Clock {
        let tz = if utc { TimeZone::UTC } else { TimeZone::try_system().unwrap_or(TimeZone::UTC) };
        Clock { tz, utc, now: jiff::Timestamp::now() }
    }

    #[cfg(test)]
    pub(crate) fn fixed(tz: TimeZone, utc: bool, now: jiff::Timestamp) -> Clock {
        Clock { tz, utc, now }
    }

    pub(crate) fn now(&self) -> Timestamp {
        Timestamp(self.now.as_microsecond())
    }

    pub(crate) fn resolve(&self, spec: &TimeSpec) -> Result<Timestamp, CliError> {
        match spec {
            TimeSpec::Ago(micros) => self
                .now
                .as_microsecond()
                .checked_sub(*micros)
                .map(Timestamp)
                .ok_or_else(|| CliError::usage("time too far in the past")),
            TimeSpec::At(t) => Ok(Timestamp(t.as_microsecond())),
            TimeSpec::Civil(dt) => dt
                .to_zoned(self.tz.clone())
                .map(|z| Timestamp(z.timestamp().as_microsecond()))
                .map_err(|e| CliError::usage(format!("time {dt}: {e}"))),
        }
    }

    fn zoned(&self, ts: Timestamp) -> Option<jiff::Zoned> {
        jiff::Timestamp::from_microsecond(ts.0).ok().map(|t| t.to_zoned(self.tz.clone()))
    }

    /// For people: `2026-12-01 22:58:21.123` in the display zone (`…Z` in UTC).
    pub(crate) fn short(&self, ts: Timestamp) -> String {
        match self.zoned(ts) {
            Some(z) if self.utc => z.strftime("%Y-%m-%d %H:%M:%S%.3fZ").to_string(),
            Some(z) => z.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            None => ts.to_rfc3339(),
        }
    }

    /// To the minute, for tables of call sites and cards.
    pub(crate) fn minute(&self, ts: Timestamp) -> String {
        match self.zoned(ts) {
            Some(z) => z.strftime("%Y-%m-%d %H:%M").to_string(),
            None => ts.to_rfc3339(),
        }
    }

    /// For machines: RFC 3339 with microseconds and the zone's offset (`Z` in UTC).
    pub(crate) fn rfc3339(&self, ts: Timestamp) -> String {
        match self.zoned(ts) {
            Some(z) if !self.utc => z.strftime("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string(),
            _ => ts.to_rfc3339(),
        }
    }

    /// The last `days` local days, today last (days of 23 or 25 hours included).
    pub(crate) fn day_slots(&self, days: usize) -> Result<Slots, CliError> {
        let bad = |e: jiff::Error| CliError::usage(format!("local days: {e}"));
        let today = self.now.to_zoned(self.tz.clone()).start_of_day().map_err(bad)?;
        let mut bounds = Vec::with_capacity(days + 1);
        let mut day = today.checked_add(1.day()).map_err(bad)?.start_of_day().map_err(bad)?;
        bounds.push(Timestamp(day.timestamp().as_microsecond()));
        for _ in 0..days {
            day = day.checked_sub(1.day()).map_err(bad)?.start_of_day().map_err(bad)?;
            bounds.push(Timestamp(day.timestamp().as_microsecond()));
        }
        bounds.reverse();
        Ok(Slots::new(bounds)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!("15m".parse(), Ok(TimeSpec::Ago(15 * 60_000_000)));
        assert_eq!("7d".parse(), Ok(TimeSpec::Ago(7 * 86_400_000_000)));
        assert!(matches!("2026-12-01T10:00:00Z".parse(), Ok(TimeSpec::At(_))));
        assert!(matches!("2026-12-01T10:00:00+02:00".parse(), Ok(TimeSpec::At(_))));
        assert!(matches!("2026-12-01 10:00".parse(), Ok(TimeSpec::Civil(_))));
        assert!(matches!("2026-12-01".parse(), Ok(TimeSpec::Civil(_))));
        for bad in ["", "yesterday", "5x", "m", "99999999999999999999d"] {
            assert!(bad.parse::<TimeSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_times_are_in_the_display_zone() {
        let tz = TimeZone::get("Europe/Paris").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(1)));
        let clock = Clock::fixed(tz, false, jiff::Timestamp::UNIX_EPOCH);
        let t = clock.resolve(&"2026-01-15 10:00".parse().unwrap()).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-15T09:00:00.000000Z");
        assert_eq!(clock.rfc3339(t), "2026-01-15T10:00:00.000000+01:00");
        assert_eq!(clock.short(t), "2026-01-15 10:00:00.000");
    }

    #[test]
    fn local_days_follow_daylight_saving() {
        // 2026-03-29 is 23 hours long in Paris.
        let Ok(tz) = TimeZone::get("Europe/Paris") else { return };
        let now: jiff::Timestamp = "2026-03-30T12:00:00Z".parse().unwrap();
        let slots = Clock::fixed(tz, false, now).day_slots(3).unwrap();
        let b = slots.bounds();
        assert_eq!(b.len(), 4);
        assert_eq!(b[3].to_rfc3339(), "2026-03-30T22:00:00.000000Z");
        assert_eq!(b[2].to_rfc3339(), "2026-03-29T22:00:00.000000Z");
        assert_eq!(b[1].to_rfc3339(), "2026-03-28T23:00:00.000000Z");
    }
}
