//! Drop reports: records dropped on a full queue are summarised in one WARN
//! record from logger `log_panel` — at most once per [`REPORT_EVERY`] however
//! long the overload lasts (the final one at shutdown excepted), so their
//! counts add up to `stats().dropped`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Level, Record, Timestamp, Value};

use crate::clock::Clock;
use crate::stats::Counters;

/// Drop summaries are made at most this often.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(1);

/// What has been reported so far; one per writer.
pub(crate) struct DropReports {
    counters: Arc<Counters>,
    /// Drops by level already summarised.
    reported: [u64; 5],
    /// When the last summary was made.
    reported_at: Option<Instant>,
    clock: Clock,
}

impl DropReports {
    pub(crate) fn new(counters: Arc<Counters>, clock: Clock) -> DropReports {
        DropReports { counters, reported: [0; 5], reported_at: None, clock }
    }

    /// Drops not summarised yet.
    pub(crate) fn outstanding(&self) -> bool {
        self.counters.dropped_by_level() != self.reported
    }

    /// When the next summary may be made, while drops are outstanding and
    /// one was made recently; the writer wakes then.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.reported_at.filter(|_| self.outstanding()).map(|last| last + REPORT_EVERY)
    }

    /// Whether a summary is due: drops outstanding, and none made in the last [`REPORT_EVERY`].
    /// (The writer also waits until the queue has room again.)
    pub(crate) fn due(&self) -> bool {
        // The clock is read only once a summary was made: this runs on every wake-up.
        self.reported_at.is_none_or(|at| self.clock.now().saturating_duration_since(at) >= REPORT_EVERY)
            && self.outstanding()
    }

    /// The summary of the drops since the last one, to be stored like any
    /// record; `None` when there are none.
    pub(crate) fn summary(&mut self) -> Option<Record> {
        let now = self.counters.dropped_by_level();
        let delta: [u64; 5] = std::array::from_fn(|i| now[i] - self.reported[i]);
        self.reported = now;
        let total: u64 = delta.iter().sum();
        if total == 0 {
            return None;
        }
        self.reported_at = Some(self.clock.now());
        let first = Timestamp(self.counters.first_drop_us.swap(0, Relaxed));
        let last = Timestamp(self.counters.last_drop_us.load(Relaxed));
        let levels = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];
        let by_level: Vec<String> =
            levels.iter().zip(delta).filter(|(_, n)| *n > 0).map(|(l, n)| format!("{l} {n}")).collect();
        let mut record = Record::new(
            Level::Warn,
            "log_panel",
            format!(
                "dropped {total} records while the queue was full ({}) between {} and {}",
                by_level.join(", "),
                first.to_rfc3339(),
                last.to_rfc3339()
            ),
        );
        record.thread = Arc::from("log-panel-writer");
        record.kv.push(("dropped".into(), Value::from(total)));
        for (l, n) in levels.iter().zip(delta) {
            record.kv.push((format!("dropped_{}", l.as_str().to_ascii_lowercase()).into(), Value::from(n)));
        }
        record.kv.push(("first_drop".into(), Value::from(first.to_rfc3339())));
        record.kv.push(("last_drop".into(), Value::from(last.to_rfc3339())));
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(record: &Record, key: &str) -> Option<Value> {
        record.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn drops_are_summarised_at_most_once_a_second_and_add_up() {
        let clock = Clock::manual();
        let counters = Arc::new(Counters::default());
        let mut d = DropReports::new(Arc::clone(&counters), clock.clone());
        assert!(!d.due() && d.summary().is_none(), "nothing dropped");

        for _ in 0..3 {
            counters.drop_one(Level::Info);
        }
        counters.drop_one(Level::Debug);
        assert!(d.due());
        let first = d.summary();
        let first = first.as_ref().map(|r| {
            (
                r.level,
                &*r.logger,
                r.message.starts_with("dropped 4 records"),
                value(r, "dropped"),
                value(r, "dropped_info"),
                value(r, "dropped_debug"),
            )
        });
        assert_eq!(
            first,
            Some((
                Level::Warn,
                "log_panel",
                true,
                Some(Value::from(4u64)),
                Some(Value::from(3u64)),
                Some(Value::from(1u64))
            ))
        );
        assert!(!d.due(), "nothing new");

        counters.drop_one(Level::Error);
        counters.drop_one(Level::Error);
        clock.advance(Duration::from_millis(600));
        assert!(!d.due(), "0.6 s after the last summary");
        assert_eq!(d.next_due(), Some(clock.now() + Duration::from_millis(400)));
        clock.advance(Duration::from_millis(400));
        assert!(d.due());
        let second = d.summary();
        assert_eq!(second.as_ref().and_then(|r| value(r, "dropped")), Some(Value::from(2u64)));
        assert_eq!(second.as_ref().and_then(|r| value(r, "dropped_error")), Some(Value::from(2u64)));
        assert_eq!(d.next_due(), None, "nothing outstanding");
        assert_eq!(counters.dropped_by_level().iter().sum::<u64>(), 6, "4 + 2 reported, as counted");
    }
}
