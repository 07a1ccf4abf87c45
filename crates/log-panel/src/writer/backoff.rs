//! Retry delays after a failed write: decorrelated jitter ("Exponential
//! Backoff And Jitter", AWS Architecture Blog), capped.
//!
//! Each delay is drawn uniformly between the first delay and three times the
//! previous one, then capped. The growth spares a server that stays down;
//! the randomness keeps a fleet of processes from retrying a restarted server
//! in lockstep; the cap (1 s) means writes resume within about a second of
//! the storage's return.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first retry delay.
pub(crate) const FIRST: Duration = Duration::from_millis(10);
/// No retry waits longer than this.
pub(crate) const CAP: Duration = Duration::from_secs(1);

/// Draws the delays; one per writer.
pub(crate) struct Backoff {
    rng: u64,
    previous: Duration,
}

impl Backoff {
    /// Seeded from std's per-process random hasher keys.
    pub(crate) fn new() -> Backoff {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Backoff::seeded(h.finish())
    }

    pub(crate) fn seeded(seed: u64) -> Backoff {
        Backoff { rng: seed | 1, previous: FIRST }
    }

    /// Storage works again: the next outage starts from the first delay.
    pub(crate) fn reset(&mut self) {
        self.previous = FIRST;
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let low = FIRST.as_micros() as u64;
        let high = (self.previous.as_micros() as u64).saturating_mul(3).max(low + 1);
        let drawn = low + self.random() % (high - low);
        let delay = Duration::from_micros(drawn).min(CAP);
        self.previous = delay;
        delay
    }

    /// xorshift64: plenty for spreading retries.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_between_the_first_and_the_cap_and_grow_while_failing() {
        let mut b = Backoff::seeded(7);
        let delays: Vec<Duration> = (0..200).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d >= FIRST && *d <= CAP), "{delays:?}");
        // Within a few dozen failures the delay reaches the cap region.
        assert!(delays[20..].iter().any(|d| *d > CAP / 2), "{delays:?}");
        b.reset();
        assert!(b.next_delay() < FIRST * 3);
    }

    #[test]
    fn two_writers_do_not_retry_in_lockstep() {
        let (mut a, mut b) = (Backoff::seeded(1), Backoff::seeded(2));
        let same = (0..50).filter(|_| a.next_delay() == b.next_delay()).count();
        assert!(same < 5, "{same} of 50 delays equal");
    }

    #[test]
    fn a_server_back_after_one_second_is_retried_within_a_second() {
        // Sum the delays of an outage: the first attempt after the server's
        // return (at 1 s) comes at most one capped delay later.
        let mut b = Backoff::seeded(99);
        let mut t = Duration::ZERO;
        while t < Duration::from_secs(1) {
            t += b.next_delay();
        }
        assert!(t <= Duration::from_secs(2), "{t:?}");
    }
}
