//! Times typed by a user in a filter (`--since 2h`, `?until=2026-12-01 10:00`):
//! one parser for every face, so the command line and the web panel accept
//! the same forms. Where a wall-clock time without an offset falls is the
//! caller's business: the command uses the system's time zone, the panel
//! the viewer's offset.

use std::str::FromStr;

use time::format_description::well_known::Rfc3339;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::StoreError;
use log_panel_core::{Timestamp, DAY, HOUR, MINUTE};

/// A time as typed: `now`, relative (`30s`, `15m`, `2h`, `7d`, `2w`: that
/// long ago), RFC 3339 with an offset (`2026-12-01T10:00:00Z`), or a
/// wall-clock time without one (`2026-12-01 10:00[:05[.25]]`, `2026-12-01T10:00`,
/// `2026-12-01 10`, `2026-12-01`).
///
/// ```
/// use log_panel_query::When;
/// use log_panel_core::Timestamp;
///
/// let now = Timestamp(1_764_583_200_000_000); // 2025-12-01T10:00:00Z
/// assert_eq!("2h".parse::<When>()?.at_offset(now, 0)?, Timestamp(now.0 - 7_200_000_000));
/// // A wall-clock time at UTC+01:00.
/// assert_eq!("2025-12-01 11:00".parse::<When>()?.at_offset(now, 3600)?, now);
/// assert!("yesterday".parse::<When>().is_err());
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The moment the query is made.
    Now,
    /// This many microseconds before now.
    Ago(i64),
    /// An instant.
    At(Timestamp),
    /// A wall-clock time whose zone the caller decides.
    Local(PrimitiveDateTime),
}

const LOCAL_FORMATS: [&[FormatItem<'static>]; 3] = [
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"),
    format_description!("[year]-[month]-[day] [hour]:[minute]"),
    format_description!("[year]-[month]-[day] [hour]"),
];

/// `None` when `s` is not shaped like `<digits><unit>`.
fn parse_ago(s: &str) -> Option<Result<i64, StoreError>> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let per: i64 = match unit {
        's' => 1_000_000,
        'm' => MINUTE,
        'h' => HOUR,
        'd' => DAY,
        'w' => 7 * DAY,
        _ => return None,
    };
    Some(
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per))
            .ok_or_else(|| StoreError::bad_filter(format!("time `{s}`: too long ago"))),
    )
}

impl FromStr for When {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<When, StoreError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("now") {
            return Ok(When::Now);
        }
        if let Some(ago) = parse_ago(s) {
            return ago.map(When::Ago);
        }
        if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
            return from_datetime(t).map(When::At);
        }
        // `T` is what an HTML `datetime-local` input sends.
        let local = s.replacen('T', " ", 1);
        for format in LOCAL_FORMATS {
            if let Ok(t) = PrimitiveDateTime::parse(&local, format) {
                return Ok(When::Local(t));
            }
        }
        if let Ok(d) = time::Date::parse(&local, format_description!("[year]-[month]-[day]")) {
            return Ok(When::Local(d.midnight()));
        }
        Err(StoreError::bad_filter(format!(
            "time `{}`: expected a duration such as 15m, 2h, 7d, `now`, RFC 3339 (2026-12-01T10:00:00Z) or a \
             local time (2026-12-01 10:00)",
            s.escape_debug()
        )))
    }
}

fn from_datetime(t: OffsetDateTime) -> Result<Timestamp, StoreError> {
    i64::try_from(t.unix_timestamp_nanos() / 1_000)
        .map(Timestamp)
        .map_err(|_| StoreError::bad_filter(format!("time {t}: out of range")))
}

impl When {
    /// The instant, measured from `now`; `local` places a wall-clock time in
    /// the caller's zone (`None` when it does not exist there).
    pub fn resolve(
        self,
        now: Timestamp,
        local: impl FnOnce(PrimitiveDateTime) -> Option<Timestamp>,
    ) -> Result<Timestamp, StoreError> {
        match self {
            When::Now => Ok(now),
            When::Ago(micros) => now
                .0
                .checked_sub(micros)
                .map(Timestamp)
                .ok_or_else(|| StoreError::bad_filter("time too far in the past")),
            When::At(t) => Ok(t),
            When::Local(t) => {
                local(t).ok_or_else(|| StoreError::bad_filter(format!("time {t}: not a time in this zone")))
            }
        }
    }

    /// The instant, a wall-clock time read at a fixed offset (seconds east of UTC).
    pub fn at_offset(self, now: Timestamp, offset_secs: i32) -> Result<Timestamp, StoreError> {
        let offset = UtcOffset::from_whole_seconds(offset_secs)
            .map_err(|e| StoreError::bad_filter(format!("offset {offset_secs} s: {e}")))?;
        self.resolve(now, |t| from_datetime(t.assume_offset(offset)).ok())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: Timestamp = Timestamp(1_764_583_200_000_000); // 2025-12-01T10:00:00Z

    fn at(s: &str, offset: i32) -> Result<Timestamp, StoreError> {
        s.parse::<When>()?.at_offset(NOW, offset)
    }

    #[test]
    fn every_accepted_form() {
        assert_eq!("15m".parse::<When>().unwrap(), When::Ago(15 * 60_000_000));
        assert_eq!("7d".parse::<When>().unwrap(), When::Ago(7 * 86_400_000_000));
        assert_eq!("2w".parse::<When>().unwrap(), When::Ago(14 * 86_400_000_000));
        assert_eq!(at("30s", 0).unwrap(), Timestamp(NOW.0 - 30_000_000));
        assert_eq!(at("2h", 0).unwrap(), Timestamp(NOW.0 - 2 * HOUR));
        assert_eq!(at(" now ", 0).unwrap(), NOW);
        assert_eq!(at("NOW", 0).unwrap(), NOW);
        assert_eq!(at("2025-12-01T10:00:00Z", 3600).unwrap(), NOW, "an offset in the text wins");
        assert_eq!(at("2025-12-01T12:00:00+02:00", 0).unwrap(), NOW);
        assert_eq!(at("2025-12-01T10:00:00.25Z", 0).unwrap(), Timestamp(NOW.0 + 250_000));
        assert_eq!(at("2025-12-01 11:00", 3600).unwrap(), NOW);
        assert_eq!(at("2025-12-01T11:00", 3600).unwrap(), NOW, "datetime-local form");
        assert_eq!(at("2025-12-01 11:00:00", 3600).unwrap(), NOW);
        assert_eq!(at("2025-12-01 11:00:00.5", 3600).unwrap(), Timestamp(NOW.0 + 500_000));
        assert_eq!(at("2025-12-01 11", 3600).unwrap(), NOW);
        assert_eq!(at("2025-12-01", 0).unwrap(), Timestamp(NOW.0 - 10 * HOUR));
        assert_eq!(at("2025-12-01", -5 * 3600).unwrap(), Timestamp(NOW.0 - 5 * HOUR));
    }

    #[test]
    fn everything_else_is_a_bad_filter() {
        for bad in ["", "yesterday", "5x", "m", "2H", "-2h", "2.5h", "2025-13-01", "2025-12-01 25:00", "soon"] {
            let e = bad.parse::<When>().unwrap_err();
            assert_eq!(e.kind(), super::super::StoreErrorKind::BadFilter, "{bad}");
            assert!(e.to_string().starts_with("time `"), "{bad}: {e}");
        }
        assert!("99999999999999999999d".parse::<When>().unwrap_err().to_string().contains("too long ago"));
        assert!("99999999999999999d".parse::<When>().is_err());
        assert!(When::Ago(i64::MAX).at_offset(Timestamp(i64::MIN / 2), 0).is_err());
    }

    #[test]
    fn local_times_are_placed_by_the_caller() {
        let w: When = "2025-12-01 10:00".parse().unwrap();
        assert_eq!(w.resolve(NOW, |_| None).unwrap_err().kind(), super::super::StoreErrorKind::BadFilter);
        assert_eq!(w.resolve(NOW, |t| Some(Timestamp(i64::from(t.hour())))).unwrap(), Timestamp(10));
        assert_eq!(When::At(NOW).resolve(Timestamp(0), |_| None).unwrap(), NOW);
    }
}
