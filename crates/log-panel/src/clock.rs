//! When a record was made: a raw tick on the calling thread, wall-clock time
//! on the writer; and the writer's own monotonic [`Clock`] for its timers.
//!
//! Reading the wall clock (`SystemTime::now()` and the conversion to
//! microseconds) costs ~40 ns on the virtual machines this was measured on,
//! a fifth of everything else a log call does. The CPU's time-stamp counter
//! costs ~11 ns, so the calling thread only reads that ([`Tick::now`]) and the
//! writer turns ticks into [`Timestamp`]s ([`WallClock`]) when it receives
//! them. `quanta` reads the counter (the workspace forbids `unsafe`, which
//! `rdtsc` needs) and falls back to the OS's monotonic clock when the counter
//! is missing or not invariant, so this is correct on any machine, just not
//! faster there.
//!
//! The conversion: the writer keeps an *anchor*, one reading of the tick and
//! the monotonic clock taken together, with the wall time at that tick (the
//! midpoint of a wall-clock reading before and after it), re-taken whenever a
//! record is newer than it by more than [`REANCHOR_AFTER_NS`]. A record's
//! time is the anchor's wall time minus (anchor tick − record tick) scaled to
//! nanoseconds. The scale is measured from the monotonic clock over
//! everything since the process's first tick, so its error, relative to the
//! distance converted, shrinks as the process runs: a record is never further
//! from its anchor than from the first tick, which bounds the error by the
//! jitter of two clock readings (tens of nanoseconds), well under the
//! microsecond the timestamp keeps.
//!
//! A wall-clock step (an NTP correction, `date -s`) shows in records
//! converted after the next anchor, as if it had happened up to
//! [`REANCHOR_AFTER_NS`] (or the queue's delay) earlier.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use log_panel_core::Timestamp;

/// A record newer than the anchor by more than this re-takes the anchor.
pub(crate) const REANCHOR_AFTER_NS: u64 = 1_000_000;

/// An anchor whose two wall-clock readings are this close is taken at once.
const TIGHT_ANCHOR_NS: i128 = 2_000;
/// Readings tried for one anchor before the tightest is kept.
const ANCHOR_TRIES: usize = 4;

/// The process's clock and its first reading, which every scale is measured from.
struct Origin {
    clock: quanta::Clock,
    raw: u64,
    mono: Instant,
}

static ORIGIN: OnceLock<Origin> = OnceLock::new();

/// The process's clock, calibrated on first use (under a millisecond). A
/// writer's [`WallClock`] is made when a panel is built, so no log call pays
/// for the calibration.
fn origin() -> &'static Origin {
    ORIGIN.get_or_init(|| {
        let clock = quanta::Clock::new();
        let (raw, mono, _) = paired_reading(&clock);
        Origin { clock, raw, mono }
    })
}

/// A raw clock reading taken on the calling thread; only [`WallClock`] gives it a meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(u64);

impl Tick {
    /// Now, as cheaply as the machine allows.
    #[inline]
    pub(crate) fn now() -> Tick {
        Tick(origin().clock.raw())
    }
}

/// Converts [`Tick`]s to wall-clock [`Timestamp`]s. One per writer.
pub(crate) struct WallClock {
    origin: &'static Origin,
    /// The anchor: a tick, and the wall-clock nanoseconds since the epoch at that tick.
    raw: u64,
    wall_ns: i128,
    /// Nanoseconds per tick.
    scale: f64,
}

impl WallClock {
    pub(crate) fn new() -> WallClock {
        let mut clock = WallClock { origin: origin(), raw: 0, wall_ns: 0, scale: 1.0 };
        clock.reanchor();
        clock
    }

    /// The wall-clock time of `tick`, to the microsecond.
    pub(crate) fn timestamp(&mut self, tick: Tick) -> Timestamp {
        if tick.0 > self.raw && self.ns(tick.0 - self.raw) > REANCHOR_AFTER_NS as f64 {
            self.reanchor();
        }
        let ns = if tick.0 <= self.raw {
            self.wall_ns - self.ns(self.raw - tick.0) as i128
        } else {
            // Only a tick read after the anchor on another core can be here,
            // and then it is newer by nanoseconds.
            self.wall_ns + self.ns(tick.0 - self.raw) as i128
        };
        Timestamp(i64::try_from(ns.div_euclid(1_000)).unwrap_or(i64::MAX))
    }

    fn ns(&self, ticks: u64) -> f64 {
        ticks as f64 * self.scale
    }

    fn reanchor(&mut self) {
        let origin = self.origin;
        let (raw, mono, wall_ns) = paired_reading(&origin.clock);
        self.raw = raw;
        self.wall_ns = wall_ns;
        let ticks = raw.saturating_sub(origin.raw);
        let elapsed = mono.saturating_duration_since(origin.mono).as_nanos() as f64;
        self.scale = if ticks > 0 && elapsed >= 1_000_000.0 {
            elapsed / ticks as f64
        } else {
            // Too early to measure well (under 1 ms since the first tick):
            // the clock's own calibration is good enough for such short spans.
            origin.clock.delta_as_nanos(0, 1_000_000_000) as f64 / 1e9
        };
    }
}

/// A tick with the monotonic and wall-clock times it was read at.
///
/// The tick is read between two readings of each clock, and its times are
/// their midpoints. A preemption inside the readings (a loaded machine) would
/// shift every timestamp converted with them by its length, and skew the
/// scale, so the tightest of a few tries is kept.
fn paired_reading(clock: &quanta::Clock) -> (u64, Instant, i128) {
    let mut best: Option<(u64, Instant, i128, i128)> = None;
    for _ in 0..ANCHOR_TRIES {
        let wall_before = epoch_ns(SystemTime::now());
        let mono_before = Instant::now();
        let raw = clock.raw();
        let mono_after = Instant::now();
        let wall_after = epoch_ns(SystemTime::now());
        let spread = wall_after - wall_before;
        let mono = mono_before + mono_after.saturating_duration_since(mono_before) / 2;
        if best.is_none_or(|(.., s)| spread < s) {
            best = Some((raw, mono, wall_before + spread / 2, spread));
        }
        if spread <= TIGHT_ANCHOR_NS {
            break;
        }
    }
    match best {
        Some((raw, mono, wall, _)) => (raw, mono, wall),
        None => (clock.raw(), Instant::now(), epoch_ns(SystemTime::now())),
    }
}

/// Nanoseconds since the Unix epoch (negative before it).
fn epoch_ns(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The writer's monotonic time, for its timers (batch interval, retry,
/// spill, drop reports, shutdown deadline): [`Instant::now`], or in unit
/// tests a time the test moves ([`Clock::manual`]), so the writer's parts
/// are tested without sleeping. Clones share the same time.
#[derive(Clone, Default)]
pub(crate) struct Clock {
    #[cfg(test)]
    manual: Option<std::sync::Arc<std::sync::Mutex<Instant>>>,
}

impl Clock {
    /// Now.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        #[cfg(test)]
        if let Some(t) = &self.manual {
            return *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        Instant::now()
    }
}

#[cfg(test)]
impl Clock {
    /// A clock that stands still until [`Clock::advance`] moves it.
    pub(crate) fn manual() -> Clock {
        Clock { manual: Some(std::sync::Arc::new(std::sync::Mutex::new(Instant::now()))) }
    }

    /// Moves a manual clock (and its clones) forward.
    pub(crate) fn advance(&self, by: std::time::Duration) {
        if let Some(t) = &self.manual {
            *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += by;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn wall_micros() -> i64 {
        Timestamp::from(SystemTime::now()).as_micros()
    }

    #[test]
    fn a_tick_converts_to_the_wall_time_it_was_taken_at() {
        let mut clock = WallClock::new();
        for _ in 0..5 {
            let before = wall_micros();
            let tick = Tick::now();
            let after = wall_micros();
            std::thread::sleep(std::time::Duration::from_millis(3));
            let ts = clock.timestamp(tick).as_micros();
            // One microsecond of slack each side for rounding of the two readings.
            assert!(before - 1 <= ts && ts <= after + 1, "{before} <= {ts} <= {after}");
        }
    }

    #[test]
    fn ticks_converted_late_keep_their_order_and_spacing() {
        let mut clock = WallClock::new();
        let first = Tick::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = Tick::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        // Converted in reverse order, after a re-anchor, 5–25 ms late.
        let b = clock.timestamp(second).as_micros();
        let a = clock.timestamp(first).as_micros();
        let gap = b - a;
        assert!((19_000..200_000).contains(&gap), "gap {gap} µs for a 20 ms sleep");
    }

    #[test]
    fn a_tick_newer_than_the_anchor_re_anchors() {
        let mut clock = WallClock::new();
        let anchored = clock.raw;
        std::thread::sleep(std::time::Duration::from_millis(2));
        let before = wall_micros();
        let tick = Tick::now();
        let ts = clock.timestamp(tick).as_micros();
        assert!(clock.raw > anchored, "anchor moved");
        assert!(ts >= before - 1 && ts <= wall_micros() + 1);
    }

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = Clock::manual();
        let copy = clock.clone();
        let t0 = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(clock.now(), t0);
        copy.advance(std::time::Duration::from_secs(3));
        assert_eq!(clock.now() - t0, std::time::Duration::from_secs(3));
    }
}
