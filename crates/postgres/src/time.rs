//! Times between the driver's `SystemTime` (a `timestamptz`) and [`Timestamp`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log_panel_core::Timestamp;

use crate::aggregates::PG_MIN_UNIX_MICROS;

/// A timestamp as the driver binds a `timestamptz`, clamped to PostgreSQL's
/// range (a filter bound beyond it selects the same rows).
pub(crate) fn system_time(t: Timestamp) -> SystemTime {
    let micros = t.0.max(PG_MIN_UNIX_MICROS);
    if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

/// The inverse of [`system_time`].
pub(crate) fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        Err(e) => Timestamp(i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_clamp() {
        for t in [0, 1, -1, 1_795_132_800_123_456, -62_000_000_000_000_000] {
            assert_eq!(timestamp(system_time(Timestamp(t))), Timestamp(t));
        }
        assert_eq!(timestamp(system_time(Timestamp(i64::MIN))), Timestamp(PG_MIN_UNIX_MICROS));
        assert_eq!(timestamp(system_time(Timestamp(i64::MAX))), Timestamp(i64::MAX));
    }
}
