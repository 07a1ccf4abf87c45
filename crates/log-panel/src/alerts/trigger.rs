//! Alerts, the pure part: the [`AlertEvent`] handed to callbacks, and the
//! `AlertTrigger` that decides, by the `[alerts]` configuration
//! ([`AlertConfig`]), when one fires. No threads and no clock: the counter is driven by
//! the records' own timestamps, so it can be tested with chosen times.
//!
//! The rule (django-log-panel's, counted in memory): per logger and exact
//! level, count the records whose timestamp lies in the sliding window
//! `[t − window, t]`, where `t` is the timestamp of the record being counted.
//! An event fires when that count *reaches* the threshold (the crossing from
//! `threshold − 1`), not again while it stays at or above it, and again once
//! it has fallen below and reaches it anew.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use log_panel_config::AlertConfig;
use log_panel_core::alert::WindowRule;
use log_panel_core::{level_index, Level, Record, Text, Timestamp, LEVELS};

/// What an alert callback receives: which logger crossed which threshold,
/// over which window, and the record that made it cross.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertEvent {
    /// The logger (`log` target) whose records crossed the threshold.
    pub logger: Text,
    /// The exact level counted.
    pub level: Level,
    /// The configured threshold.
    pub threshold: u32,
    /// Records of this logger and level in the window, the triggering one
    /// included. Equal to `threshold`: an event fires at the crossing.
    pub count: u32,
    /// Start of the window (`window_end − window`), inclusive.
    pub window_start: Timestamp,
    /// End of the window: the triggering record's time (see `AlertTrigger`
    /// for records that arrive out of order), inclusive.
    pub window_end: Timestamp,
    /// The time of the first of the `count` records in the window (as
    /// counted: see `AlertTrigger` for records that arrive out of order).
    pub first_timestamp: Timestamp,
    /// When the triggering record was logged.
    pub timestamp: Timestamp,
    /// The triggering record's message.
    pub message: Text,
    /// Module path of the triggering call site.
    pub module: Option<Text>,
    /// Source file of the triggering call site.
    pub file: Option<Text>,
    /// Source line of the triggering call site.
    pub line: Option<u32>,
    /// The triggering record's bound context and key-values, as the JSON
    /// object stored in its `context` column (e.g. `{"request_id":"r-42"}`),
    /// so an alert can point at the request that caused it.
    pub context: String,
}

impl fmt::Display for AlertEvent {
    /// One line: `ERROR threshold 5 reached by billing: 5 records in
    /// [2026-…Z, 2026-…Z]; last: "payment failed" at src/pay.rs:42`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} threshold {} reached by {}: {} records in [{}, {}]; last: {:?}",
            self.level,
            self.threshold,
            self.logger,
            self.count,
            self.window_start.to_rfc3339(),
            self.window_end.to_rfc3339(),
            self.message
        )?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " at {file}:{line}"),
            (Some(file), None) => write!(f, " at {file}"),
            _ => Ok(()),
        }
    }
}

/// Counts records per logger and level over a sliding window and reports
/// threshold crossings. A plain value: no clock, no threads; time is the
/// records' timestamps.
///
/// The writer feeds it every record after the batch holding it is committed;
/// tests feed it records with chosen timestamps.
///
/// # Details
///
/// - The window is closed: a record exactly `window` older than the current
///   one still counts.
/// - Records are counted in the order they are observed. One whose timestamp
///   is earlier than a record already counted for the same logger and level
///   (threads race to the queue by microseconds) is counted at that later
///   time, so each key's times never go backwards.
/// - Memory: per (logger, level) with an enabled threshold `n`, at most `n`
///   timestamps are kept (the newest `n` within the window — enough to know
///   whether the count is below `n`, and by how much). Keys whose newest record
///   has left the window are dropped in a sweep that runs at most once per
///   window of event time. So the bound is `Σ n` × active keys, not the number
///   of records in the window.
#[derive(Debug, Clone)]
pub(crate) struct AlertTrigger {
    rules: [Option<WindowRule>; 5],
    window_micros: i64,
    /// Per logger, per level (indexed by `level_index`): the newest timestamps in the window.
    loggers: HashMap<Text, [VecDeque<i64>; 5]>,
    last_sweep: i64,
}

impl AlertTrigger {
    /// A counter for `config`'s thresholds and window.
    pub(crate) fn new(config: &AlertConfig) -> AlertTrigger {
        let window_micros = i64::try_from(config.window.as_micros()).unwrap_or(i64::MAX);
        AlertTrigger {
            rules: LEVELS.map(|l| config.get(l).and_then(|n| WindowRule::new(n, window_micros))),
            window_micros,
            loggers: HashMap::new(),
            last_sweep: i64::MIN,
        }
    }

    /// Whether any level has a threshold (if not, [`observe`](Self::observe) never fires).
    pub(crate) fn is_enabled(&self) -> bool {
        self.rules.iter().any(Option::is_some)
    }

    /// Counts `record`; returns the event when its logger's count at its level
    /// reaches the threshold with it (the rule is core's [`WindowRule`]).
    pub(crate) fn observe(&mut self, record: &Record) -> Option<AlertEvent> {
        let index = level_index(record.level);
        let rule = self.rules[index]?;
        // Look up by &str first: the logger's name is cloned only when it is new.
        if !self.loggers.contains_key(record.logger.as_ref()) {
            self.loggers.insert(record.logger.clone(), Default::default());
        }
        let levels = self.loggers.get_mut(record.logger.as_ref())?;
        let seen = rule.observe(&mut levels[index], record.timestamp.0);
        let event = seen.fired.then(|| AlertEvent {
            logger: record.logger.clone(),
            level: record.level,
            threshold: rule.threshold(),
            count: rule.threshold(),
            window_start: Timestamp(seen.start),
            window_end: Timestamp(seen.at),
            first_timestamp: Timestamp(seen.first),
            timestamp: record.timestamp,
            message: record.message.clone(),
            module: record.module_path.clone(),
            file: record.file.clone(),
            line: record.line,
            context: {
                let mut json = String::new();
                record.write_fields_json(&mut json);
                json
            },
        });
        self.sweep(seen.at);
        event
    }

    /// Drops keys with nothing left in the window, at most once per window of event time.
    fn sweep(&mut self, now: i64) {
        if now.saturating_sub(self.last_sweep) < self.window_micros {
            return;
        }
        let start = now.saturating_sub(self.window_micros);
        self.loggers.retain(|_, levels| {
            for times in levels.iter_mut() {
                if times.back().is_some_and(|&newest| newest < start) {
                    *times = VecDeque::new(); // frees its buffer
                }
            }
            levels.iter().any(|times| !times.is_empty())
        });
        self.last_sweep = now;
    }

    /// How many (logger, level) pairs hold timestamps now (for memory checks).
    #[cfg(test)]
    fn tracked_keys(&self) -> usize {
        self.loggers.values().map(|levels| levels.iter().filter(|t| !t.is_empty()).count()).sum()
    }

    /// How many timestamps are held in total (for memory checks).
    #[cfg(test)]
    fn held_timestamps(&self) -> usize {
        self.loggers.values().flat_map(|levels| levels.iter()).map(VecDeque::len).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SEC: i64 = 1_000_000;

    fn rec(level: Level, logger: &'static str, secs: i64) -> Record {
        let mut r = Record::new(level, logger, "m");
        r.timestamp = Timestamp(secs * SEC);
        r
    }

    #[test]
    fn third_error_in_the_hour_crosses_three_once() {
        let mut config = AlertConfig::default(); // ERROR 1, WARN 1, window 1 h
        config.set(Level::Error, Some(3));
        let mut counter = AlertTrigger::new(&config);
        let at = |secs: i64| {
            let mut r = Record::new(Level::Error, "billing", "payment failed");
            r.timestamp = Timestamp(secs * 1_000_000);
            r
        };
        assert!(counter.observe(&at(0)).is_none());
        assert!(counter.observe(&at(10)).is_none());
        let event = counter.observe(&at(20)).expect("the third error in the hour crosses 3");
        assert_eq!((event.count, event.threshold, &*event.logger), (3, 3, "billing"));
        assert!(counter.observe(&at(30)).is_none(), "still above: no new event");
    }

    fn counter(window_secs: u64, levels: &[(Level, Option<u32>)]) -> AlertTrigger {
        let mut c = AlertConfig::default();
        c.window = Duration::from_secs(window_secs);
        for &(l, n) in levels {
            c.set(l, n);
        }
        AlertTrigger::new(&c)
    }

    /// Feeds records at `secs` and returns the indexes that fired.
    fn fired(c: &mut AlertTrigger, level: Level, logger: &'static str, secs: &[i64]) -> Vec<usize> {
        secs.iter().enumerate().filter_map(|(i, &s)| c.observe(&rec(level, logger, s)).map(|_| i)).collect()
    }

    #[test]
    fn defaults_fire_on_the_first_warn_and_error_only() {
        let mut c = AlertTrigger::new(&AlertConfig::default());
        assert_eq!(fired(&mut c, Level::Info, "a", &[0, 1, 2, 3]), Vec::<usize>::new());
        assert_eq!(fired(&mut c, Level::Debug, "a", &[0, 1]), Vec::<usize>::new());
        // WARN 1: the first fires; the next ones keep the count ≥ 1 for an hour.
        assert_eq!(fired(&mut c, Level::Warn, "a", &[10, 20, 3000, 3610]), vec![0]);
        assert_eq!(fired(&mut c, Level::Error, "a", &[100, 200]), vec![0]);
    }

    #[test]
    fn fires_exactly_at_the_crossing_not_below_not_again_above() {
        for level in [Level::Warn, Level::Error, Level::Info] {
            let mut c = counter(3600, &[(level, Some(3))]);
            let mut events = Vec::new();
            for (i, s) in [0, 60, 120, 180, 240].into_iter().enumerate() {
                if let Some(e) = c.observe(&rec(level, "svc", s)) {
                    events.push((i, e));
                }
            }
            assert_eq!(events.len(), 1, "{level}: one crossing");
            let (i, e) = &events[0];
            assert_eq!(*i, 2, "{level}: the third record crosses 3");
            assert_eq!((e.level, e.threshold, e.count), (level, 3, 3));
            assert_eq!(e.window_end, Timestamp(120 * SEC));
            assert_eq!(e.window_start, Timestamp((120 - 3600) * SEC));
            assert_eq!(e.timestamp, Timestamp(120 * SEC));
            assert_eq!(e.first_timestamp, Timestamp(0), "{level}: the first of the three");
        }
    }

    #[test]
    fn first_timestamp_is_the_oldest_record_still_in_the_window() {
        let mut c = counter(100, &[(Level::Error, Some(2))]);
        let firsts: Vec<i64> = [0, 50, 100, 160]
            .into_iter()
            .filter_map(|s| c.observe(&rec(Level::Error, "svc", s)).map(|e| e.first_timestamp.0 / SEC))
            .collect();
        // Fires at 50 (0 and 50) and at 160 (100 and 160; 0 and 50 have left the window).
        assert_eq!(firsts, [0, 100]);
    }

    #[test]
    fn fires_again_after_falling_out_of_the_window() {
        let mut c = counter(100, &[(Level::Error, Some(2))]);
        // 0, 50 → 2 in [−50, 50]: fires. 100: window [0, 100] holds 0, 50, 100 → 3, above.
        // 160: window [60, 160] holds 100 → it had fallen to 1; 160 makes 2: fires again.
        // 170: 3, above. 400: window [300, 400] empty → 1. 401 → 2: fires.
        assert_eq!(fired(&mut c, Level::Error, "svc", &[0, 50, 100, 160, 170, 400, 401]), vec![1, 3, 6]);
    }

    #[test]
    fn window_is_closed_at_its_start() {
        let mut c = counter(100, &[(Level::Warn, Some(2))]);
        // 0 and 100 are exactly one window apart: both count.
        assert_eq!(fired(&mut c, Level::Warn, "svc", &[0, 100]), vec![1]);
        let mut c = counter(100, &[(Level::Warn, Some(2))]);
        let mut late = rec(Level::Warn, "svc", 100);
        late.timestamp = Timestamp(100 * SEC + 1);
        assert!(c.observe(&rec(Level::Warn, "svc", 0)).is_none());
        assert!(c.observe(&late).is_none(), "one microsecond later the first one is out");
    }

    #[test]
    fn counts_per_logger_and_exact_level() {
        let mut c = counter(3600, &[(Level::Error, Some(2)), (Level::Warn, Some(2))]);
        assert!(c.observe(&rec(Level::Error, "a", 0)).is_none());
        assert!(c.observe(&rec(Level::Error, "b", 1)).is_none(), "another logger");
        assert!(c.observe(&rec(Level::Warn, "a", 2)).is_none(), "another level");
        let e = c.observe(&rec(Level::Error, "a", 3)).unwrap();
        assert_eq!((&*e.logger, e.level), ("a", Level::Error));
        let e = c.observe(&rec(Level::Warn, "a", 4)).unwrap();
        assert_eq!((&*e.logger, e.level), ("a", Level::Warn));
    }

    #[test]
    fn disabled_levels_never_fire_or_hold_memory() {
        let mut c = counter(3600, &[(Level::Error, None), (Level::Warn, Some(0))]);
        assert!(!c.is_enabled());
        assert_eq!(fired(&mut c, Level::Error, "a", &[0, 1, 2]), Vec::<usize>::new());
        assert_eq!(fired(&mut c, Level::Warn, "a", &[0, 1, 2]), Vec::<usize>::new());
        assert_eq!(c.tracked_keys(), 0);
    }

    #[test]
    fn out_of_order_records_do_not_refire() {
        let mut c = counter(100, &[(Level::Error, Some(2))]);
        assert_eq!(fired(&mut c, Level::Error, "a", &[50, 60, 10, 55]), vec![1]);
    }

    #[test]
    fn event_carries_the_triggering_record() {
        let mut c = counter(60, &[(Level::Error, Some(1))]);
        let mut r = rec(Level::Error, "billing::payments", 7);
        r.message = "payment failed".into();
        r.module_path = Some("billing::payments".into());
        r.file = Some("src/payments.rs".into());
        r.line = Some(42);
        let e = c.observe(&r).unwrap();
        assert_eq!(e.message, "payment failed");
        assert_eq!(e.module.as_deref(), Some("billing::payments"));
        assert_eq!((e.file.as_deref(), e.line), (Some("src/payments.rs"), Some(42)));
        assert_eq!(
            e.to_string(),
            "ERROR threshold 1 reached by billing::payments: 1 records in \
             [1969-12-31T23:59:07.000000Z, 1970-01-01T00:00:07.000000Z]; last: \"payment failed\" at src/payments.rs:42"
        );
    }

    #[test]
    fn memory_is_bounded_by_the_threshold_and_idle_keys_are_swept() {
        let mut c = counter(100, &[(Level::Info, Some(5))]);
        for i in 0..10_000 {
            c.observe(&rec(Level::Info, "busy", i / 1000));
        }
        assert_eq!(c.held_timestamps(), 5, "at most `threshold` timestamps per key");
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            c.observe(&rec(Level::Info, name, 20 + i as i64));
        }
        assert_eq!(c.tracked_keys(), 4);
        // Much later: only the newly active key survives the sweep.
        c.observe(&rec(Level::Info, "late", 1000));
        assert_eq!(c.tracked_keys(), 1);
    }
}
