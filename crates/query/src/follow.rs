//! Following new records for a live tail (`log-panel tail -f`, the panel's
//! live tail): each record exactly once, in time order, reading a bounded
//! number of rows per poll whatever the filter keeps.
//!
//! **Late commits.** With several writers drawing ids from one sequence
//! (PostgreSQL), a row can commit after a row with a larger id was read:
//! writer A takes id 10, writer B takes id 11 and commits first. A tail that
//! only asks for ids above the last one read would skip 10 for ever.
//! [`Follow`] reads from a *settled* id: every id at or below it was read or
//! is taken as never coming. Each poll first notes the newest id of all
//! (matching or not); once a noted id is [`Follow::GRACE`] old it becomes
//! the settled one, so a late row is read as long as it commits within the
//! grace period of the rows after it, and ids read above the settled one are
//! not delivered twice.
//!
//! **A position that moves without a match.** Because the settled id follows
//! the newest id of *all* records, not the last match, a filter that rarely
//! matches never reads every row since its last match. A store whose ids
//! are in commit order ([`Store::ids_in_commit_order`]: SQLite) has no late
//! rows, so the newest id a poll saw settles at once and the next poll reads
//! only the rows committed since: each row is read once, however rarely the
//! filter matches. Elsewhere (PostgreSQL) a poll re-reads the rows of the
//! last [`Follow::GRACE`] (plus at most [`Follow::WINDOW`] ids read above
//! the settled one).
//!
//! **Time order.** Writers commit out of time order: each one's batch holds
//! records up to its flush interval old (`batch.flush_interval_ms`, 2 s by
//! default), so by id the times of several writers jump back. A follow
//! holds each record it reads until its time is [`Follow::REORDER`] (3 s,
//! see [`Follow::reorder`]) behind this machine's clock, then delivers what
//! it holds sorted by (time, id). A record that commits more than the window
//! after its own time (a writer stalled, or its clock behind) is delivered
//! when it is read, after records with later times; a record stamped ahead
//! of this clock is held at most twice the window. At most
//! [`Follow::HELD`] records are held (a burst beyond that is delivered
//! oldest first at once).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::{RecordFilter, Store, StoreError, StoredRecord};
use log_panel_core::Timestamp;

/// A live tail's position: what has been read and delivered, and since when.
#[derive(Debug, Clone)]
pub struct Follow {
    filter: RecordFilter,
    reorder: Duration,
    /// Every matching id at or below this was read, or is taken as never coming.
    settled: i64,
    /// Ids above `settled` already read (held or delivered), and when.
    recent: BTreeMap<i64, Instant>,
    /// The newest id of all at each poll, and when: each settles after the grace period.
    marks: VecDeque<(i64, Instant)>,
    /// Records read, not yet delivered, by (time, id), with when they were read.
    held: BTreeMap<(Timestamp, i64), (StoredRecord, Instant)>,
    /// Whether the last read got everything committed (a full read means more is waiting).
    caught_up: bool,
}

impl Follow {
    /// How long an id read keeps the ids below it open for late rows.
    pub const GRACE: Duration = Duration::from_secs(5);
    /// The most ids read kept open at once (a busy tail settles by count).
    pub const WINDOW: usize = 2_000;
    /// How far behind this machine's clock a record's time must be before it
    /// is delivered: above the default flush interval of a writer's batch.
    pub const REORDER: Duration = Duration::from_secs(3);
    /// The most records held for ordering at once.
    pub const HELD: usize = 20_000;

    /// Follows the records `filter` keeps whose id is above `after`, in time
    /// order within the [`Follow::REORDER`] window.
    pub fn after(filter: RecordFilter, after: i64) -> Follow {
        Follow {
            filter,
            reorder: Follow::REORDER,
            settled: after,
            recent: BTreeMap::new(),
            marks: VecDeque::new(),
            held: BTreeMap::new(),
            caught_up: true,
        }
    }

    /// The same follow with a reorder window of `window` (zero delivers each
    /// record as soon as it is read, in id order within a read).
    #[must_use]
    pub fn reorder(mut self, window: Duration) -> Follow {
        self.reorder = window;
        self
    }

    /// Adds records already read elsewhere (a tail's last lines) to those
    /// delivered in time order: the ones younger than the window come out
    /// with the records that commit after them, in order.
    pub fn hold(&mut self, records: Vec<StoredRecord>) {
        let now = Instant::now();
        for r in records {
            if r.id > self.settled {
                self.recent.insert(r.id, now);
            }
            self.held.insert((r.ts, r.id), (r, now));
        }
    }

    /// The records due since the last poll, each exactly once, sorted by
    /// (time, id); reads at most `limit` new rows.
    pub fn poll(&mut self, store: &dyn Store, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.poll_at(store, limit, Instant::now(), Timestamp::now())
    }

    /// Whether the last poll read everything committed; `false` when it read
    /// its limit and more may be waiting.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// How long until a record held for ordering is due (`None` when none is
    /// held): a tail that sleeps until a commit wakes it must poll by then.
    pub fn due_in(&self) -> Option<Duration> {
        let (now, wall) = (Instant::now(), Timestamp::now());
        let window = i64::try_from(self.reorder.as_micros()).unwrap_or(i64::MAX);
        let by_time = self.held.keys().next().map(|(ts, _)| {
            let micros = ts.0.saturating_add(window).saturating_sub(wall.0).max(0);
            Duration::from_micros(micros.unsigned_abs())
        })?;
        let overdue = self.reorder.saturating_mul(2);
        let by_age =
            self.held.values().map(|(_, read)| overdue.saturating_sub(now.saturating_duration_since(*read))).min();
        Some(by_age.map_or(by_time, |a| a.min(by_time)))
    }

    /// The newest id read (or the starting point), for resuming elsewhere.
    pub fn last_id(&self) -> i64 {
        self.recent.last_key_value().map_or(self.settled, |(id, _)| *id)
    }

    fn poll_at(
        &mut self,
        store: &dyn Store,
        limit: usize,
        now: Instant,
        wall: Timestamp,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        // Read first: every matching row at or below it that is committed now
        // is in the read below, unless that read is full.
        let newest = store.tail(&RecordFilter::default(), None, 1)?.last().map(|r| r.id);
        let want = limit.saturating_add(self.recent.len());
        let rows = store.tail(&self.filter, Some(self.settled), want)?;
        self.caught_up = rows.len() < want;
        // How far this read saw every matching row: the newest id of all when
        // it got everything, else the last row it took.
        let mut read_to = if self.caught_up { newest } else { rows.last().map(|r| r.id) };
        let (mut fresh, mut taken) = (0, None);
        for r in rows {
            if self.recent.contains_key(&r.id) {
                continue;
            }
            if fresh == limit {
                // Rows from here on were not taken: only those up to the last taken were seen.
                self.caught_up = false;
                read_to = taken;
                break;
            }
            fresh += 1;
            taken = Some(r.id);
            self.recent.insert(r.id, now);
            self.held.insert((r.ts, r.id), (r, now));
        }
        if let Some(id) = read_to {
            if id > self.marks.back().map_or(self.settled, |m| m.0) {
                self.marks.push_back((id, now));
            }
        }
        let grace = if store.ids_in_commit_order() { Duration::ZERO } else { Follow::GRACE };
        self.settle(now, grace);
        Ok(self.release(now, wall))
    }

    /// Moves the settled id up to each mark older than `grace`, and by count
    /// while too many ids are open.
    fn settle(&mut self, now: Instant, grace: Duration) {
        while let Some(&(id, seen)) = self.marks.front() {
            if now.saturating_duration_since(seen) < grace {
                break;
            }
            self.settled = self.settled.max(id);
            self.marks.pop_front();
        }
        while self.recent.len() > Follow::WINDOW {
            if let Some((id, _)) = self.recent.pop_first() {
                self.settled = self.settled.max(id);
            }
        }
        self.recent = self.recent.split_off(&self.settled.saturating_add(1));
        while self.marks.front().is_some_and(|m| m.0 <= self.settled) {
            self.marks.pop_front();
        }
    }

    /// The held records that are due, sorted by (time, id): older than the
    /// window, held for twice the window, or beyond the most held.
    fn release(&mut self, now: Instant, wall: Timestamp) -> Vec<StoredRecord> {
        let window = i64::try_from(self.reorder.as_micros()).unwrap_or(i64::MAX);
        let ripe = Timestamp(wall.0.saturating_sub(window));
        let overdue = self.reorder.saturating_mul(2);
        let excess = self.held.len().saturating_sub(Follow::HELD);
        let due: Vec<(Timestamp, i64)> = self
            .held
            .iter()
            .enumerate()
            .filter(|(i, (key, (_, read)))| {
                *i < excess || key.0 <= ripe || now.saturating_duration_since(*read) >= overdue
            })
            .map(|(_, (key, _))| *key)
            .collect();
        due.iter().filter_map(|key| self.held.remove(key)).map(|(r, _)| r).collect()
    }
}

#[cfg(all(test, feature = "conformance"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::conformance::{Hooks, MemoryStore, Wrapped};
    use log_panel_core::{Batch, Level, Origin, Record, Sink};

    const SECOND: i64 = 1_000_000;

    fn log_at(store: &mut MemoryStore, pid: u32, records: &[(&str, i64)]) {
        let origin = Origin::new("a", "h", pid);
        let records: Vec<Record> = records
            .iter()
            .map(|(m, ts)| {
                let mut r = Record::new(Level::Info, "t", (*m).to_owned());
                r.timestamp = Timestamp(*ts);
                r
            })
            .collect();
        store.write(&Batch::new(&origin, &records)).unwrap();
    }

    fn log(store: &mut MemoryStore, messages: &[&str]) {
        let at: Vec<(&str, i64)> = messages.iter().map(|m| (*m, 0)).collect();
        log_at(store, 1, &at);
    }

    fn messages(rows: &[StoredRecord]) -> Vec<&str> {
        rows.iter().map(|r| r.message.as_str()).collect()
    }

    /// A clock far ahead of the records' times: everything read is due.
    fn late() -> Timestamp {
        Timestamp(1_000 * SECOND)
    }

    #[test]
    fn each_record_once_and_settled_after_the_grace_period() {
        let mut store = MemoryStore::default();
        log(&mut store, &["before"]);
        let mut follow = Follow::after(RecordFilter::default(), 1);
        let t0 = Instant::now();
        assert!(follow.poll_at(&store, 10, t0, late()).unwrap().is_empty());
        log(&mut store, &["a", "b", "c"]);
        assert_eq!(messages(&follow.poll_at(&store, 2, t0, late()).unwrap()), ["a", "b"], "at most the limit");
        assert!(!follow.caught_up());
        assert_eq!(messages(&follow.poll_at(&store, 10, t0, late()).unwrap()), ["c"], "re-read rows are not repeated");
        assert!(follow.caught_up());
        assert_eq!((follow.settled, follow.last_id()), (1, 4));
        // Past the grace period the window closes behind the ids read.
        let later = t0 + Follow::GRACE;
        assert!(follow.poll_at(&store, 10, later, late()).unwrap().is_empty());
        assert_eq!((follow.settled, follow.recent.len()), (4, 0));
        log(&mut store, &["d"]);
        assert_eq!(messages(&follow.poll_at(&store, 10, later, late()).unwrap()), ["d"]);
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
            let got = follow.poll_at(&store, 500, t0, late()).unwrap();
            assert!(!got.is_empty(), "a full window must not stall the tail");
            seen += got.len();
        }
        assert_eq!(seen, many.len());
        assert!(follow.recent.len() <= Follow::WINDOW);
    }

    /// A poll that stops at its limit with rows left over marks only what it
    /// took: past the grace period the rest is still read, none lost.
    #[test]
    fn a_read_cut_at_the_limit_does_not_settle_past_rows_it_left() {
        let mut store = MemoryStore::default();
        let mut follow = Follow::after(RecordFilter::default(), 0);
        let t0 = Instant::now();
        log(&mut store, &["a", "b", "c", "d"]);
        assert_eq!(messages(&follow.poll_at(&store, 2, t0, late()).unwrap()), ["a", "b"]);
        let later = t0 + Follow::GRACE;
        assert!(follow.poll_at(&store, 0, later, late()).unwrap().is_empty());
        assert_eq!(messages(&follow.poll_at(&store, 10, later, late()).unwrap()), ["c", "d"]);
        // The re-read window: a row already taken does not count against the limit.
        let mut store = MemoryStore::default();
        log(&mut store, &["e", "f", "g"]);
        let mut follow = Follow::after(RecordFilter::default(), 0);
        follow.hold(store.tail(&RecordFilter::default(), Some(2), 10).unwrap());
        let got = follow.poll_at(&store, 1, t0, late()).unwrap();
        assert_eq!(messages(&got), ["e", "g"], "e newly read, g held");
        assert!(!follow.caught_up());
        // A poll that takes nothing lets the mark of the first one settle.
        assert!(follow.poll_at(&store, 0, later, late()).unwrap().is_empty());
        assert_eq!(messages(&follow.poll_at(&store, 10, later, late()).unwrap()), ["f"]);
    }

    /// Two writers, each committing a batch of the last two seconds; by id
    /// their times interleave backwards. Polled every 200 ms of a clock
    /// running with them, the follow delivers each record once, by time.
    #[test]
    fn two_writers_are_delivered_in_time_order_each_once() {
        let mut store = MemoryStore::default();
        let mut follow = Follow::after(RecordFilter::default(), 0);
        let (t0, base) = (Instant::now(), 100 * SECOND);
        let mut out: Vec<StoredRecord> = Vec::new();
        let mut written = 0;
        for tick in 0..100i64 {
            let wall = base + tick * SECOND / 5;
            // Writer 1 flushes every 2 s, writer 2 every 1.4 s, each its
            // records of since its last flush (one every 100 ms).
            for (pid, every) in [(1, 10), (2, 7)] {
                if tick % every == 0 && tick > 0 {
                    let batch: Vec<(String, i64)> = (0..every * 2)
                        .map(|i| {
                            let ts = wall - every * SECOND / 5 + i * SECOND / 10 + i64::from(pid);
                            (format!("w{pid} {ts}"), ts)
                        })
                        .collect();
                    let refs: Vec<(&str, i64)> = batch.iter().map(|(m, ts)| (m.as_str(), *ts)).collect();
                    log_at(&mut store, pid, &refs);
                    written += refs.len();
                }
            }
            let now = t0 + Duration::from_millis(200 * tick as u64);
            out.extend(follow.poll_at(&store, 1000, now, Timestamp(wall)).unwrap());
        }
        let by_id: Vec<i64> =
            store.tail(&RecordFilter::default(), Some(0), usize::MAX).unwrap().iter().map(|r| r.ts.0).collect();
        assert!(by_id.windows(2).any(|w| w[1] < w[0]), "by id, time goes back: the test shows something");
        out.extend(follow.poll_at(&store, 1000, t0 + Duration::from_secs(60), Timestamp(base + 60 * SECOND)).unwrap());
        let times: Vec<i64> = out.iter().map(|r| r.ts.0).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order: {times:?}");
        let mut ids: Vec<i64> = out.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((out.len(), ids.len()), (written, written), "every record exactly once");
    }

    /// A record committed after later ones (a stalled writer) is delivered
    /// when read, not lost; one stamped ahead of the clock is held at most
    /// twice the window.
    #[test]
    fn late_and_future_records_are_delivered_not_lost() {
        let mut store = MemoryStore::default();
        let mut follow = Follow::after(RecordFilter::default(), 0);
        let t0 = Instant::now();
        log_at(&mut store, 1, &[("on time", 10 * SECOND), ("ahead", 60 * SECOND)]);
        let wall = Timestamp(20 * SECOND);
        assert_eq!(messages(&follow.poll_at(&store, 10, t0, wall).unwrap()), ["on time"]);
        log_at(&mut store, 2, &[("stalled", 5 * SECOND)]);
        assert_eq!(messages(&follow.poll_at(&store, 10, t0, wall).unwrap()), ["stalled"]);
        assert!(follow.poll_at(&store, 10, t0 + Follow::REORDER, wall).unwrap().is_empty());
        assert_eq!(messages(&follow.poll_at(&store, 10, t0 + 2 * Follow::REORDER, wall).unwrap()), ["ahead"]);
    }

    /// Counts the rows each `tail` call reads: those above its starting id.
    struct Counting {
        examined: AtomicUsize,
        /// What it answers to [`Store::ids_in_commit_order`].
        in_order: bool,
    }

    impl Hooks for Counting {
        fn tail(
            &self,
            inner: &dyn Store,
            f: &RecordFilter,
            after: Option<i64>,
            limit: usize,
        ) -> Result<Vec<StoredRecord>, StoreError> {
            let read = match after {
                Some(id) => inner.tail(&RecordFilter::default(), Some(id), usize::MAX)?.len(),
                None => limit,
            };
            self.examined.fetch_add(read, Ordering::Relaxed);
            inner.tail(f, after, limit)
        }
        fn ids_in_commit_order(&self) -> bool {
            self.in_order
        }
    }

    /// A filter that matches once in 30 000 rows, polled every 200 ms with
    /// 100 new rows each time: the most rows one poll reads, and the needle.
    fn rare_follow(in_order: bool) -> (usize, Vec<StoredRecord>) {
        let mut writer = MemoryStore::default();
        let store = Wrapped::new(Arc::new(writer.clone()), Counting { examined: AtomicUsize::new(0), in_order });
        let filter = RecordFilter { text: Some("needle".into()), ..RecordFilter::default() };
        let mut follow = Follow::after(filter, 0);
        let (t0, per_poll, polls) = (Instant::now(), 100, 300);
        let (mut worst, mut found) = (0, Vec::new());
        for tick in 0..polls {
            let noise: Vec<String> = (0..per_poll).map(|i| format!("noise {tick} {i}")).collect();
            let mut batch: Vec<&str> = noise.iter().map(String::as_str).collect();
            if tick == 150 {
                batch[7] = "the needle";
            }
            log(&mut writer, &batch);
            store.hooks.examined.store(0, Ordering::Relaxed);
            let now = t0 + Duration::from_millis(200 * tick as u64);
            found.extend(follow.poll_at(&store, 1000, now, late()).unwrap());
            worst = worst.max(store.hooks.examined.load(Ordering::Relaxed));
        }
        (worst, found)
    }

    /// Ids that may commit late (PostgreSQL): each poll reads the rows of
    /// the last grace period, not every row since the last match.
    #[test]
    fn a_rarely_matching_follow_reads_a_bounded_number_of_rows_per_poll() {
        let (worst, found) = rare_follow(false);
        assert_eq!(messages(&found), ["the needle"]);
        let bound = 100 * (Follow::GRACE.as_millis() as usize / 200 + 2);
        assert!(worst <= bound, "a poll read {worst} rows (bound {bound})");
        assert!(worst > 1_000, "the grace period is re-read ({worst}): the in-order test below shows a difference");
    }

    /// Ids in commit order (SQLite): each poll reads the 100 rows committed
    /// since the last one, and the newest id (one row): every row once.
    #[test]
    fn a_rarely_matching_follow_on_ids_in_commit_order_reads_only_new_rows() {
        let (worst, found) = rare_follow(true);
        assert_eq!(messages(&found), ["the needle"]);
        assert_eq!(worst, 100 + 1, "rows read by the busiest poll");
    }

    #[test]
    fn due_in_says_when_the_first_held_record_is_due() {
        let mut follow = Follow::after(RecordFilter::default(), 0);
        assert_eq!(follow.due_in(), None, "nothing held");
        follow.hold(vec![StoredRecord { id: 1, ts: Timestamp::now(), ..Default::default() }]);
        let due = follow.due_in().unwrap();
        assert!(due > Duration::ZERO && due <= Follow::REORDER, "{due:?}");
        let old = Timestamp(Timestamp::now().0 - 60 * SECOND);
        follow.hold(vec![StoredRecord { id: 2, ts: old, ..Default::default() }]);
        assert_eq!(follow.due_in(), Some(Duration::ZERO), "an old record is due now");
    }
}
