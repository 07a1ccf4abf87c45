//! How many rows one idle step (search and context indexing, retention)
//! takes: a step holds the write lock, and a batch arriving meanwhile waits
//! for it, so the row count follows how long the last step held the lock.

use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// How long an idle step should hold the write lock: a batch that arrives
/// during a step waits at most about this long.
pub(crate) const STEP_TARGET: Duration = Duration::from_millis(10);

/// Rows per step (or per transaction of a prune) within `[min, max]`:
/// halved after a step over twice the target, doubled after one under half
/// of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepRows {
    rows: usize,
    min: usize,
    max: usize,
    target: Duration,
}

impl StepRows {
    /// Starts at `start` (clamped into `[min, max]`), aiming at [`STEP_TARGET`].
    pub(crate) fn new(start: usize, min: usize, max: usize) -> StepRows {
        let min = min.max(1);
        let max = max.max(min);
        StepRows { rows: start.clamp(min, max), min, max, target: STEP_TARGET }
    }

    /// The same, aiming at `target` instead.
    #[cfg(feature = "read")]
    pub(crate) fn aiming_at(self, target: Duration) -> StepRows {
        StepRows { target, ..self }
    }

    /// Rows for the next step.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Runs `work` with this step's row count in one `BEGIN IMMEDIATE`
    /// transaction and adapts to how long it held the lock, timed from
    /// holding it to the commit (waiting for a writer's commit is not time
    /// this step held anyone up). Returns `work`'s result and that time.
    pub(crate) fn run<T>(
        &mut self,
        conn: &mut Connection,
        work: impl FnOnce(&Transaction<'_>, usize) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<(T, Duration)> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let started = Instant::now();
        let out = work(&tx, self.rows)?;
        tx.commit()?;
        let held = started.elapsed();
        self.record(held);
        Ok((out, held))
    }

    /// Adapts to a step of [`rows`](StepRows::rows) that held the lock `held`.
    pub(crate) fn record(&mut self, held: Duration) {
        if held > self.target * 2 {
            self.rows = (self.rows / 2).max(self.min);
        } else if held < self.target / 2 {
            self.rows = self.rows.saturating_mul(2).min(self.max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_steps_shrink_to_the_minimum_and_short_ones_grow_to_the_maximum() {
        let mut s = StepRows::new(500, 50, 2_000);
        s.record(Duration::from_millis(25));
        assert_eq!(s.rows(), 250);
        for _ in 0..10 {
            s.record(Duration::from_millis(300));
        }
        assert_eq!(s.rows(), 50);
        s.record(STEP_TARGET);
        assert_eq!(s.rows(), 50, "a step near the target keeps its size");
        for _ in 0..10 {
            s.record(Duration::from_millis(1));
        }
        assert_eq!(s.rows(), 2_000);
        assert_eq!(StepRows::new(9_999, 50, 2_000).rows(), 2_000);
        assert_eq!(StepRows::new(0, 0, 0).rows(), 1);
        let mut prune = StepRows::new(1_000, 1, 1_000).aiming_at(Duration::from_millis(40));
        prune.record(Duration::from_millis(60));
        assert_eq!(prune.rows(), 1_000, "under twice its own target");
        prune.record(Duration::from_millis(81));
        assert_eq!(prune.rows(), 500);
    }
}
