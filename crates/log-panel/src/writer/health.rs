//! Storage health: whether the sink takes writes, since when it has been
//! failing, and when to try again (the jittered [`Backoff`]). The start and
//! end of an outage are reported here: stderr, `stats().last_error`,
//! `failed_attempts`, `retried_batches` and `storage_down_since`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{SinkError, Timestamp};

use super::backoff::Backoff;
use crate::clock::Clock;
use crate::stats::Counters;

#[derive(Debug, Clone, Copy)]
enum State {
    Ok,
    Failing { since: Instant, retry_at: Instant },
}

/// Whether storage is taking writes; one per writer.
pub(crate) struct Health {
    state: State,
    backoff: Backoff,
    counters: Arc<Counters>,
    clock: Clock,
}

impl Health {
    pub(crate) fn new(backoff: Backoff, counters: Arc<Counters>, clock: Clock) -> Health {
        Health { state: State::Ok, backoff, counters, clock }
    }

    pub(crate) fn is_ok(&self) -> bool {
        matches!(self.state, State::Ok)
    }

    /// Since when storage has been failing; `None` while it works.
    pub(crate) fn failing_since(&self) -> Option<Instant> {
        match self.state {
            State::Ok => None,
            State::Failing { since, .. } => Some(since),
        }
    }

    /// When the next attempt is due while storage fails.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match self.state {
            State::Ok => None,
            State::Failing { retry_at, .. } => Some(retry_at),
        }
    }

    /// Whether a write may be tried at `now`: always while storage works,
    /// else once the retry delay has passed.
    pub(crate) fn may_try(&self, now: Instant) -> bool {
        self.retry_at().is_none_or(|at| now >= at)
    }

    /// A write attempt at `now` failed (`sink` names the storage): counts
    /// it, and schedules the next attempt after a growing, jittered delay.
    /// The first failure after working storage starts an outage.
    pub(crate) fn failed(&mut self, sink: &str, e: SinkError, now: Instant) {
        Counters::add(&self.counters.failed_attempts, 1);
        let text = format!("{sink}: {e}");
        self.counters.set_last_error(text.clone());
        let since = match self.state {
            State::Ok => {
                Counters::add(&self.counters.retried_batches, 1);
                eprintln!("log-panel: storage failed, keeping the records and retrying: {text}");
                self.backoff.reset();
                self.counters.down_since_us.store(Timestamp::now().as_micros(), Relaxed);
                now
            }
            State::Failing { since, .. } => since,
        };
        self.state = State::Failing { since, retry_at: now + self.backoff.next_delay() };
    }

    /// A write succeeded: an outage, if any, is over.
    pub(crate) fn recovered(&mut self) {
        if let State::Failing { since, .. } = self.state {
            let down: Duration = self.clock.now().saturating_duration_since(since);
            eprintln!("log-panel: storage is back after {:.1} s", down.as_secs_f64());
            self.state = State::Ok;
            self.counters.down_since_us.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use log_panel_core::SinkErrorKind;

    use super::*;
    use crate::writer::backoff::{CAP, FIRST};

    fn down() -> SinkError {
        SinkError::new(SinkErrorKind::Unavailable, "connection refused")
    }

    #[test]
    fn an_outage_starts_once_retries_after_jittered_growing_delays_and_ends_on_success() {
        let clock = Clock::manual();
        let counters = Arc::new(Counters::default());
        let mut h = Health::new(Backoff::seeded(3), Arc::clone(&counters), clock.clone());
        let start = clock.now();
        assert!(h.is_ok() && h.may_try(start) && h.retry_at().is_none());

        let mut previous = FIRST;
        for attempt in 0..30 {
            let now = clock.now();
            h.failed("test sink", down(), now);
            let delay = h.retry_at().map(|at| at - now).unwrap_or_default();
            // Decorrelated jitter: between the first delay and three times the previous, capped.
            assert!(
                delay >= FIRST && delay <= (previous * 3).min(CAP),
                "attempt {attempt}: {delay:?} after {previous:?}"
            );
            assert!(!h.may_try(now), "not before the delay");
            clock.advance(delay);
            assert!(h.may_try(clock.now()));
            previous = delay;
        }
        assert!(previous > FIRST * 3, "delays grew: last {previous:?}");
        assert_eq!(h.failing_since(), Some(start), "one outage, from its first failure");
        assert_eq!(counters.failed_attempts.load(Relaxed), 30);
        assert_eq!(counters.retried_batches.load(Relaxed), 1);
        assert_ne!(counters.down_since_us.load(Relaxed), 0);
        let last_error = counters.last_error.lock().ok().and_then(|e| e.clone()).map(|(text, _)| text);
        assert_eq!(last_error.as_deref(), Some("test sink: storage unavailable: connection refused"));

        h.recovered();
        assert!(h.is_ok() && h.failing_since().is_none());
        assert_eq!(counters.down_since_us.load(Relaxed), 0);

        // The next outage is a new one, starting again from the first delay.
        let now = clock.now();
        h.failed("test sink", down(), now);
        assert_eq!(counters.retried_batches.load(Relaxed), 2);
        assert_eq!(h.failing_since(), Some(now));
        assert!(h.retry_at().is_some_and(|at| at - now < FIRST * 3));
    }
}
