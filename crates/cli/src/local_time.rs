//! Times on the command line and on screen: relative or absolute input,
//! local-zone (or UTC) output, local days for timelines.

use jiff::tz::TimeZone;
use jiff::ToSpan;
use log_panel_core::Timestamp;
use log_panel_query::{Slots, StoreError, When};

use crate::error::CliError;

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

    /// A time typed on the command line; a wall-clock time is in the display zone.
    pub(crate) fn resolve(&self, when: &When) -> Result<Timestamp, CliError> {
        Ok(self.place(*when)?)
    }

    /// [`Clock::resolve`] as a filter's reader places its times
    /// (`FilterParams::to_filter`).
    pub(crate) fn place(&self, when: When) -> Result<Timestamp, StoreError> {
        when.resolve(self.now(), |t| {
            let civil = jiff::civil::DateTime::new(
                i16::try_from(t.year()).ok()?,
                i8::try_from(u8::from(t.month())).ok()?,
                i8::try_from(t.day()).ok()?,
                i8::try_from(t.hour()).ok()?,
                i8::try_from(t.minute()).ok()?,
                i8::try_from(t.second()).ok()?,
                i32::try_from(t.nanosecond()).ok()?,
            )
            .ok()?;
            civil.to_zoned(self.tz.clone()).ok().map(|z| Timestamp(z.timestamp().as_microsecond()))
        })
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
