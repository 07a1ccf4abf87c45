//! The batching policy: when the writer's pending records become a batch.

use std::time::{Duration, Instant};

use crate::Level;

/// When a batch is due. The writer asks after every record and on its timer.
///
/// ```
/// use std::time::Duration;
/// use log_panel_core::{BatchPolicy, Level};
///
/// let p = BatchPolicy::default();
/// assert!(!p.due_on_push(1, Level::Info));
/// assert!(p.due_on_push(1, Level::Warn)); // flush_level defaults to WARN
/// assert!(p.due_on_push(p.batch_size, Level::Debug));
/// assert_eq!(p.flush_interval, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchPolicy {
    /// Write a batch once this many records are pending (at least 1).
    pub batch_size: usize,
    /// Write at once when a record at or above this level arrives; `None` disables.
    pub flush_level: Option<Level>,
    /// Write when this long has passed since the oldest pending record arrived.
    pub flush_interval: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy { batch_size: 1000, flush_level: Some(Level::Warn), flush_interval: Duration::from_secs(2) }
    }
}

impl BatchPolicy {
    /// A batch every `batch_size` records, at once for a record at or above
    /// `flush_level`, and `flush_interval` after the oldest pending record.
    pub fn new(batch_size: usize, flush_level: Option<Level>, flush_interval: Duration) -> BatchPolicy {
        BatchPolicy { batch_size, flush_level, flush_interval }
    }

    /// Whether the batch is due now that a record of `level` made it `pending` long.
    pub fn due_on_push(&self, pending: usize, level: Level) -> bool {
        pending >= self.batch_size.max(1) || self.flush_level.is_some_and(|l| level <= l)
    }

    /// The instant at which pending records whose oldest arrived at `oldest` are due.
    pub fn deadline(&self, oldest: Instant) -> Instant {
        oldest.checked_add(self.flush_interval).unwrap_or_else(|| oldest + Duration::from_secs(86_400))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_trigger_is_at_or_above() {
        let p = BatchPolicy { flush_level: Some(Level::Error), ..BatchPolicy::default() };
        assert!(p.due_on_push(1, Level::Error));
        assert!(!p.due_on_push(1, Level::Warn));
        let off = BatchPolicy { flush_level: None, ..BatchPolicy::default() };
        assert!(!off.due_on_push(1, Level::Error));
    }

    #[test]
    fn size_trigger_and_zero_size() {
        let p = BatchPolicy { batch_size: 3, flush_level: None, ..BatchPolicy::default() };
        assert!(!p.due_on_push(2, Level::Info));
        assert!(p.due_on_push(3, Level::Info));
        let zero = BatchPolicy { batch_size: 0, flush_level: None, ..BatchPolicy::default() };
        assert!(zero.due_on_push(1, Level::Info));
    }

    #[test]
    fn deadline_adds_interval() {
        let p = BatchPolicy::default();
        let now = Instant::now();
        assert_eq!(p.deadline(now), now + Duration::from_secs(2));
    }
}
