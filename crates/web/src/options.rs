//! How the pages judge what they show: slot and badge thresholds, per-logger
//! thresholds, the alert rules the alerts page recomputes crossings with, the
//! live tail's limits. Below every page that reads them.

use std::time::Duration;

use log_panel_core::alert::WindowRule;
use log_panel_core::{Level, LEVELS};

use crate::health::{self, Thresholds};
use crate::trace::TraceUrl;

/// How the pages judge what they show.
///
/// One rule judges a logger's timeline slots and its badges alike: a span
/// with at least `slot_errors` ERROR records is red, else with at least
/// `slot_warnings` WARN records amber, else ok; a logger named in
/// [`PanelOptions::logger_thresholds`] (or below one, by `::`) is judged by
/// its own thresholds instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PanelOptions {
    /// ERROR records in a timeline slot that make it an error slot (red);
    /// the configuration's `alerts.error`. At least 1.
    pub slot_errors: u64,
    /// WARN records in a slot that make it a warning slot (amber), when it is
    /// not an error slot; the configuration's `alerts.warn`. At least 1.
    pub slot_warnings: u64,
    /// Thresholds of particular loggers and their `::` descendants (the
    /// configuration's `[panel.loggers]`); the longest matching name wins.
    pub(crate) loggers: health::LoggerThresholds,
    /// Live-tail streams served at once ([`PanelOptions::DEFAULT_TAIL_STREAMS`]
    /// by default); one more is answered `503` with `Retry-After`. At least 1.
    pub tail_streams: usize,
    /// The link from a record's `trace_id` to a trace viewer (the
    /// configuration's `panel.trace_url`, `serve --trace-url`); none by default.
    pub trace_url: Option<TraceUrl>,
    /// The alert thresholds the alerts page recomputes crossings with.
    pub(crate) alerts: AlertRules,
    /// How often the live tail reads when the store does not say that a
    /// batch committed ([`PanelOptions::DEFAULT_TAIL_POLL`]); with a store
    /// that pushes commits (PostgreSQL) it is the fallback. At least 10 ms.
    pub tail_poll: Duration,
    /// Store calls of the pages run at once ([`PanelOptions::default_store_calls`]
    /// by default); a request beyond them waits its turn, in order of
    /// arrival. The live tail's reads are not counted. At least 1.
    pub store_calls: usize,
    /// How long a request waits for its turn among [`PanelOptions::store_calls`]
    /// ([`PanelOptions::DEFAULT_STORE_WAIT`] by default); past it the page is
    /// `503` "The panel is busy" with `Retry-After`.
    pub store_wait: Duration,
}

impl Default for PanelOptions {
    fn default() -> PanelOptions {
        PanelOptions {
            slot_errors: 1,
            slot_warnings: 1,
            loggers: health::LoggerThresholds::default(),
            tail_streams: PanelOptions::DEFAULT_TAIL_STREAMS,
            trace_url: None,
            alerts: AlertRules::default(),
            tail_poll: PanelOptions::DEFAULT_TAIL_POLL,
            store_calls: PanelOptions::default_store_calls(),
            store_wait: PanelOptions::DEFAULT_STORE_WAIT,
        }
    }
}

impl PanelOptions {
    /// The default cap on live-tail streams open at once.
    pub const DEFAULT_TAIL_STREAMS: usize = 64;

    /// The default [`PanelOptions::store_wait`]: a store's default read time
    /// budget ([`log_panel_query::DEFAULT_READ_TIMEOUT`]), so a request waits
    /// for its turn no longer than a read may run once it has it.
    pub const DEFAULT_STORE_WAIT: Duration = log_panel_query::DEFAULT_READ_TIMEOUT;

    /// The default [`PanelOptions::store_calls`]: twice the cores this
    /// process may use, at least 4. A bound for a flood of requests, not a
    /// scheduler: at the cores (2) the cheap request view queued behind
    /// searches in arrival order and its p99 rose by a third, where the
    /// kernel's time-slicing lets short reads through (docs/performance.md,
    /// "The panel's reads admitted a few at a time").
    pub fn default_store_calls() -> usize {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).saturating_mul(2).max(4)
    }

    /// Runs at most `n` store calls of the pages at once (0 is taken as 1).
    #[must_use]
    pub fn store_calls(mut self, n: usize) -> PanelOptions {
        self.store_calls = n.max(1);
        self
    }

    /// A request waits at most `wait` for its turn to call the store.
    #[must_use]
    pub fn store_wait(mut self, wait: Duration) -> PanelOptions {
        self.store_wait = wait;
        self
    }

    /// Links each record's `trace_id` to a trace viewer through `url`.
    #[must_use]
    pub fn trace_url(mut self, url: TraceUrl) -> PanelOptions {
        self.trace_url = Some(url);
        self
    }

    /// The default [`PanelOptions::tail_poll`].
    pub const DEFAULT_TAIL_POLL: Duration = Duration::from_millis(500);

    /// The live tail reads every `every` when the store does not push
    /// commits, and at least that often when it does (below 10 ms is taken as 10 ms).
    #[must_use]
    pub fn tail_poll(mut self, every: Duration) -> PanelOptions {
        self.tail_poll = every.max(Duration::from_millis(10));
        self
    }

    /// Serves at most `n` live-tail streams at once (0 is taken as 1).
    #[must_use]
    pub fn tail_streams(mut self, n: usize) -> PanelOptions {
        self.tail_streams = n.max(1);
        self
    }

    /// The alerts page's threshold of `level`: `count` records of one logger
    /// and exactly that level within the [window](PanelOptions::alert_window)
    /// fire (the configuration's `alerts.error`, `.warn`, …; `None` or
    /// `Some(0)`: the level never fires). By default ERROR 1 and WARN 1, as
    /// the library's.
    #[must_use]
    pub fn alert_threshold(mut self, level: log_panel_core::Level, count: Option<u32>) -> PanelOptions {
        let at = log_panel_core::LEVELS.iter().position(|l| *l == level);
        if let Some(slot) = at.and_then(|i| self.alerts.thresholds.get_mut(i)) {
            *slot = count.filter(|&n| n > 0);
        }
        self
    }

    /// The alerts page's sliding window (the configuration's
    /// `alerts.window_secs`; one hour by default; zero is taken as one second).
    #[must_use]
    pub fn alert_window(mut self, window: std::time::Duration) -> PanelOptions {
        self.alerts.window = window.max(std::time::Duration::from_secs(1));
        self
    }

    /// Slots turn red at `errors` ERROR records and amber at `warnings` WARN
    /// records (0 is taken as 1: a slot with one error is never "ok").
    #[must_use]
    pub fn slot_thresholds(mut self, errors: u64, warnings: u64) -> PanelOptions {
        self.slot_errors = errors.max(1);
        self.slot_warnings = warnings.max(1);
        self
    }

    /// Judges `logger` and its `::` descendants (`api::http` covers
    /// `api::http::access`, not `api::https`) with their own thresholds, in
    /// records per hour (see [`PanelOptions::thresholds_for`]), so a noisy
    /// logger's normal rate is not red (0 is taken as 1). Where several
    /// names cover a logger, the longest wins; naming one again replaces
    /// its thresholds.
    #[must_use]
    pub fn logger_thresholds(mut self, logger: impl Into<String>, errors: u64, warnings: u64) -> PanelOptions {
        let logger = logger.into();
        self.loggers.rules.retain(|(name, _)| *name != logger);
        self.loggers.rules.push((logger, Thresholds::new(errors, warnings)));
        self
    }

    /// Whether thresholds other than one error or one warning judge some
    /// logger: then cards come trouble first relative to each logger's
    /// thresholds, not by raw counts (see `trouble.rs`).
    pub(crate) fn orders_relative(&self) -> bool {
        !self.loggers.rules.is_empty() || self.slot_errors != 1 || self.slot_warnings != 1
    }

    /// The thresholds a span of `logger` lasting `span` microseconds (a
    /// timeline slot, the last hour) is judged by: `slot_errors` /
    /// `slot_warnings` per span, or for a logger with its own thresholds,
    /// those per hour, times the span's hours (rounded up), so a noisy
    /// logger's normal day is not red on the 30- and 90-day timelines.
    pub fn thresholds_for(&self, logger: &str, span: i64) -> Thresholds {
        match self.loggers.for_logger(logger) {
            Some(hourly) => {
                let hours =
                    span.div_euclid(log_panel_query::HOUR) + i64::from(span.rem_euclid(log_panel_query::HOUR) != 0);
                hourly.times(u64::try_from(hours).unwrap_or(0).max(1))
            }
            None => Thresholds::new(self.slot_errors, self.slot_warnings),
        }
    }
}

/// The thresholds the page recomputes crossings with: the configuration's
/// `[alerts]` (records of one logger and exactly one level within
/// `window`), the library's defaults unless told otherwise: ERROR 1, WARN 1,
/// one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlertRules {
    /// Per level, in [`LEVELS`] order; `None` never fires.
    pub(crate) thresholds: [Option<u32>; 5],
    /// The sliding window.
    pub(crate) window: Duration,
}

impl Default for AlertRules {
    fn default() -> AlertRules {
        let mut thresholds = [None; 5];
        for (l, t) in LEVELS.iter().zip(thresholds.iter_mut()) {
            if matches!(l, Level::Error | Level::Warn) {
                *t = Some(1);
            }
        }
        AlertRules { thresholds, window: Duration::from_secs(3600) }
    }
}

impl AlertRules {
    pub(crate) fn window_micros(&self) -> i64 {
        i64::try_from(self.window.as_micros()).unwrap_or(i64::MAX)
    }

    /// Each level's rule, when it has one.
    pub(crate) fn rules(&self) -> impl Iterator<Item = (Level, WindowRule)> + '_ {
        LEVELS
            .iter()
            .zip(&self.thresholds)
            .filter_map(|(l, t)| Some((*l, WindowRule::new((*t)?, self.window_micros())?)))
    }
}
