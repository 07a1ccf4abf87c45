//! The crossing rule of threshold alerts, in one place: the writer's
//! in-memory counter (crate `log-panel`) and the panel's alerts page, which
//! recomputes crossings over stored records, both count with [`WindowRule`].
//!
//! Per key (a logger and an exact level), count the records whose time lies
//! in the closed window `[t − window, t]`, `t` being the time of the record
//! being counted. The rule fires when that count *reaches* the threshold
//! (the crossing from `threshold − 1`), not again while it stays at or above
//! it, and again once it has fallen below and reaches it anew.

use std::collections::VecDeque;

/// One threshold over one sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRule {
    threshold: u32,
    window: i64,
}

/// What counting one record did (see [`WindowRule::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The time the record was counted at: its own, or the key's latest when
    /// it came earlier than a record already counted (a key's time never
    /// goes backwards).
    pub at: i64,
    /// The window's start, `at − window` (inclusive).
    pub start: i64,
    /// The oldest of the records held for the key (at a crossing, the first
    /// of the `threshold` records in the window).
    pub first: i64,
    /// Whether the count reached the threshold with this record.
    pub fired: bool,
}

impl WindowRule {
    /// `threshold` records (`0` never fires: `None`) within `window`
    /// microseconds (negative is taken as 0).
    pub fn new(threshold: u32, window: i64) -> Option<WindowRule> {
        (threshold > 0).then_some(WindowRule { threshold, window: window.max(0) })
    }

    /// The threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The window, in microseconds.
    pub fn window(&self) -> i64 {
        self.window
    }

    /// Counts a record at `ts` (microseconds) into `times`, one key's state,
    /// which holds at most `threshold` timestamps: the newest in the window.
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// use log_panel_core::alert::WindowRule;
    /// let rule = WindowRule::new(2, 100).unwrap();
    /// let mut times = VecDeque::new();
    /// let fired: Vec<bool> = [0, 50, 100, 160].iter().map(|&t| rule.observe(&mut times, t).fired).collect();
    /// // 50 makes 2 in [−50, 50]; 100 makes 3; at 160 only 100 is left, so 160 makes 2 anew.
    /// assert_eq!(fired, [false, true, false, true]);
    /// ```
    pub fn observe(&self, times: &mut VecDeque<i64>, ts: i64) -> Observed {
        let cap = usize::try_from(self.threshold).unwrap_or(usize::MAX);
        let at = times.back().map_or(ts, |&last| last.max(ts));
        let start = at.saturating_sub(self.window);
        while times.front().is_some_and(|&old| old < start) {
            times.pop_front();
        }
        // `times` now holds min(count in window, threshold) entries.
        let before = times.len();
        times.push_back(at);
        if times.len() > cap {
            times.pop_front();
        }
        let first = times.front().copied().unwrap_or(at);
        Observed { at, start, first, fired: before + 1 == cap }
    }
}
