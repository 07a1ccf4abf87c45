//! Following new records for a live tail (`log-panel tail -f`, the panel's
//! live tail), by id, without missing a row that commits late.
//!
//! With several writers drawing ids from one sequence (PostgreSQL), a row
//! can commit after a row with a larger id has been shown: writer A takes
//! id 10, writer B takes id 11 and commits first. A tail that only asks for
//! ids above the last one shown would skip 10 for ever. [`Follow`] re-reads
//! a window below the newest id shown: every id it delivered in the last
//! [`Follow::GRACE`] (at most [`Follow::WINDOW`] of them) stays "unsettled",
//! each poll reads from the highest settled id, and rows already delivered
//! are dropped, so a late row is delivered once, as long as it commits
//! within the grace period of the rows after it. A SQLite database has one
//! writer at a time, so its ids commit in order and the window only costs a
//! re-read of a few rows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{RecordFilter, Store, StoreError, StoredRecord};

/// A live tail's position: what has been delivered, and since when.
#[derive(Debug, Clone)]
pub struct Follow {
    filter: RecordFilter,
    /// Every matching id at or below this was delivered, or is taken as never coming.
    settled: i64,
    /// Ids above `settled` already delivered, and when.
    recent: BTreeMap<i64, Instant>,
}

impl Follow {
    /// How long a delivered id keeps the ids below it open for late rows.
    pub const GRACE: Duration = Duration::from_secs(5);
    /// The most delivered ids kept open at once (a busy tail settles by count).
    pub const WINDOW: usize = 2_000;

    /// Follows the records `filter` keeps whose id is above `after`.
    pub fn after(filter: RecordFilter, after: i64) -> Follow {
        Follow { filter, settled: after, recent: BTreeMap::new() }
    }

    /// The records committed since the last poll, each exactly once, at
    /// most `limit` (ascending id within one poll; a late row comes after
    /// rows with larger ids delivered by earlier polls).
    pub fn poll(&mut self, store: &dyn Store, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.poll_at(store, limit, Instant::now())
    }

    /// The newest id delivered (or the starting point), for resuming elsewhere.
    pub fn last_id(&self) -> i64 {
        self.recent.last_key_value().map_or(self.settled, |(id, _)| *id)
    }

    fn poll_at(&mut self, store: &dyn Store, limit: usize, now: Instant) -> Result<Vec<StoredRecord>, StoreError> {
        let rows = store.tail(&self.filter, Some(self.settled), limit.saturating_add(self.recent.len()))?;
        let mut fresh: Vec<StoredRecord> = rows.into_iter().filter(|r| !self.recent.contains_key(&r.id)).collect();
        fresh.truncate(limit);
        for r in &fresh {
            self.recent.insert(r.id, now);
        }
        while let Some((&id, &seen)) = self.recent.first_key_value() {
            if now.saturating_duration_since(seen) < Follow::GRACE && self.recent.len() <= Follow::WINDOW {
                break;
            }
            self.settled = id;
            self.recent.remove(&id);
        }
        Ok(fresh)
    }
}

#[cfg(all(test, feature = "conformance"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::conformance::MemoryStore;
    use crate::{Batch, Level, Origin, Record, Sink};

    fn log(store: &mut MemoryStore, messages: &[&str]) {
        let origin = Origin { app: "a".into(), host: "h".into(), pid: 1 };
        let records: Vec<Record> = messages.iter().map(|m| Record::new(Level::Info, "t", (*m).to_owned())).collect();
        store.write(&Batch::new(&origin, &records)).unwrap();
    }

    fn messages(rows: &[StoredRecord]) -> Vec<&str> {
        rows.iter().map(|r| r.message.as_str()).collect()
    }

    #[test]
    fn each_record_once_and_settled_after_the_grace_period() {
        let mut store = MemoryStore::default();
        log(&mut store, &["before"]);
        let mut follow = Follow::after(RecordFilter::default(), 1);
        let t0 = Instant::now();
        assert!(follow.poll_at(&store, 10, t0).unwrap().is_empty());
        log(&mut store, &["a", "b", "c"]);
        assert_eq!(messages(&follow.poll_at(&store, 2, t0).unwrap()), ["a", "b"], "at most the limit");
        assert_eq!(messages(&follow.poll_at(&store, 10, t0).unwrap()), ["c"], "re-read rows are not repeated");
        assert_eq!((follow.settled, follow.last_id()), (1, 4));
        // Past the grace period the window closes behind the delivered ids.
        let later = t0 + Follow::GRACE;
        assert!(follow.poll_at(&store, 10, later).unwrap().is_empty());
        assert_eq!((follow.settled, follow.recent.len()), (4, 0));
        log(&mut store, &["d"]);
        assert_eq!(messages(&follow.poll_at(&store, 10, later).unwrap()), ["d"]);
    }

    #[test]
    fn a_busy_tail_settles_by_count() {
        let mut store = MemoryStore::default();
        let mut follow = Follow::after(RecordFilter::default(), 0);
        let t0 = Instant::now();
        let many: Vec<String> = (0..Follow::WINDOW + 10).map(|i| format!("m{i}")).collect();
        log(&mut store, &many.iter().map(String::as_str).collect::<Vec<_>>());
        let mut seen = 0;
        while seen < many.len() {
            let got = follow.poll_at(&store, 500, t0).unwrap();
            assert!(!got.is_empty(), "a full window must not stall the tail");
            seen += got.len();
        }
        assert_eq!(seen, many.len());
        assert!(follow.recent.len() <= Follow::WINDOW);
    }
}
