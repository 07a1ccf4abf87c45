//! Times on the command line and on screen: relative or absolute input,
//! local-zone (or UTC) output, local days for timelines.

use std::path::Path;

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
        let tz = if utc { TimeZone::UTC } else { system_zone() };
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

/// The system's zone without jiff's zone database: with `$TZ` unset, the TZif
/// data of /etc/localtime read directly (named by its link into a zoneinfo
/// directory, if it is one). jiff's own lookup (`TimeZone::try_system`) finds
/// the link's name in its database, which lists every file of
/// /usr/share/zoneinfo first: 0.7-0.9 ms of each command's ~3.9 ms on the
/// 10 M file, where `sqlite3` took 2.6 (docs/performance.md, session 40).
/// `$TZ` set (a name, a rule or a path) goes through jiff, as before.
fn system_zone() -> TimeZone {
    let direct = || if std::env::var_os("TZ").is_some() { None } else { zone_of_file(Path::new("/etc/localtime")) };
    direct().unwrap_or_else(|| TimeZone::try_system().unwrap_or(TimeZone::UTC))
}

/// The zone of the TZif file at `path` (/etc/localtime), named by the part
/// of its link after `zoneinfo/` (`Europe/Paris`), else `Local`.
fn zone_of_file(path: &Path) -> Option<TimeZone> {
    let data = std::fs::read(path).ok()?;
    let link = std::fs::read_link(path).ok();
    let name = link
        .as_ref()
        .and_then(|l| l.to_str())
        .and_then(|l| l.split_once("zoneinfo/").map(|(_, name)| name.to_owned()))
        .unwrap_or_else(|| "Local".to_owned());
    TimeZone::tzif(&name, &data).ok()
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

    /// /etc/localtime read directly: a link into a zoneinfo directory gives
    /// that zone and its name, a copy the same offsets as `Local`; both as
    /// jiff's database gives the zone, summer and winter.
    #[test]
    fn the_system_zone_file_is_read_without_the_zone_database() {
        let Ok(paris) = TimeZone::get("Europe/Paris") else { return };
        let file = std::path::PathBuf::from("/usr/share/zoneinfo/Europe/Paris");
        if !file.exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("localtime");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let copy = dir.path().join("copy");
        std::fs::copy(&file, &copy).unwrap();
        let linked = zone_of_file(&link).unwrap();
        assert_eq!(linked.iana_name(), Some("Europe/Paris"));
        let copied = zone_of_file(&copy).unwrap();
        for at in ["2026-07-01T12:00:00Z", "2026-01-15T12:00:00Z"] {
            let t: jiff::Timestamp = at.parse().unwrap();
            assert_eq!(linked.to_offset(t), paris.to_offset(t), "{at}");
            assert_eq!(copied.to_offset(t), paris.to_offset(t), "{at}");
        }
        assert!(zone_of_file(&dir.path().join("missing")).is_none());
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
