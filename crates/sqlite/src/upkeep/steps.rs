//! How many rows one idle step (search and context indexing, retention)
//! takes: a step holds the write lock, and a batch arriving meanwhile waits
//! for it, so the row count follows how long the last step held the lock;
//! and how far an indexing step goes when the indexes lag far behind.

use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::search::{IndexShape, Merge};

/// How long an idle step should hold the write lock: a batch that arrives
/// during a step waits at most about this long.
pub(crate) const STEP_TARGET: Duration = Duration::from_millis(10);

/// Unindexed records (above the lower of the search index's and the
/// context side table's marks) that indexing steps leave behind at most,
/// as long as the writer calls [`Sink::idle`](log_panel_core::Sink::idle)
/// once per batch of up to `CATCH_UP_ROWS` records: every search and
/// every context lookup scans these rows besides the indexes, so the
/// scan stays this short. Below it a step is sized to run for about
/// `STEP_TARGET`, so a burst's batches wait little for it; above it a
/// step indexes the excess (at most `CATCH_UP_ROWS`) whatever that takes,
/// or more if `CATCH_UP_TARGET` allows. The writer only calls `idle` while
/// its queue is empty, so a writer saturated by its callers still never
/// waits for indexing; one at a steady rate spends its spare time on it.
pub use log_panel_core::INDEX_LAG_BOUND;

/// The most rows one step must index when the lag is past
/// [`INDEX_LAG_BOUND`] (the largest step the time-sized steps took before).
pub(crate) const CATCH_UP_ROWS: usize = 2_000;

/// How long a step is sized to run when the lag is past
/// [`INDEX_LAG_BOUND`]: longer than `STEP_TARGET`, because one larger
/// transaction indexes more rows a second than several small ones (one FTS5
/// segment to merge, not several).
pub(crate) const CATCH_UP_TARGET: Duration = Duration::from_millis(50);

/// The fewest rows a step indexes (when there are that many).
pub(crate) const MIN_STEP_ROWS: usize = 100;

/// The most rows a step indexes however fast the last steps were: bounds
/// a step's time and FTS5's in-memory segment (a few MB) when the pace
/// was measured on a quiet moment.
pub(crate) const MAX_STEP_ROWS: usize = 20_000;

/// What one indexing step does: at least `at_least` rows, and as many more
/// as the recent [`Pace`] says fit in `until`, **in one statement per
/// index**. FTS5 writes its pending entries out as a new segment at the end
/// of every statement that changes it (a statement is a savepoint), not
/// only at the commit: indexing a step in chunks of 100 rows, one statement
/// each with the clock read between them, wrote 20 segments a step to be
/// merged, and the idle steps indexed 19–20 k records/s where the same rows
/// in one statement a transaction took 31–37 k (docs/performance.md,
/// "SQLite: one statement an indexing step").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexStep {
    at_least: usize,
    until: Duration,
}

impl IndexStep {
    /// The pace before any step was measured: [`MIN_STEP_ROWS`] in
    /// `STEP_TARGET`, so the first step is small.
    pub(crate) fn first_pace() -> Pace {
        Pace::of(MIN_STEP_ROWS, STEP_TARGET)
    }

    /// The step for `lag` unindexed rows (see [`INDEX_LAG_BOUND`]).
    pub(crate) fn for_lag(lag: usize) -> IndexStep {
        if lag <= INDEX_LAG_BOUND {
            IndexStep { at_least: 0, until: STEP_TARGET }
        } else {
            IndexStep { at_least: (lag - INDEX_LAG_BOUND).min(CATCH_UP_ROWS), until: CATCH_UP_TARGET }
        }
    }

    /// The rows this step indexes at `pace`: what fits in its time, within
    /// [`MIN_STEP_ROWS`] and [`MAX_STEP_ROWS`], and never fewer than it must.
    pub(crate) fn rows(self, pace: Pace) -> usize {
        pace.rows_in(self.until, MIN_STEP_ROWS, MAX_STEP_ROWS).max(self.at_least)
    }
}

/// Segments on one level of the search index that a merge step merges
/// together (FTS5's `usermerge` and `automerge`, 4: its positive `'merge'`
/// takes the level holding most segments once that is at least this many;
/// it goes on with a merge under way first unless a lower level holds more
/// segments than that merge's inputs). FTS5's own merges do the same
/// during later writes, only after enough pages were written (64 a level),
/// so small segments of a trickle pile up on level 0 meanwhile.
pub(crate) const MERGE_SEGMENTS: usize = 4;

/// A merge of all segments starts only once the pages outside the largest
/// segment reach 1 / `MERGE_GROWTH` of its pages: such a merge rewrites
/// the largest segment, so under a steady trickle of new records it is
/// rewritten once per eighth the index grows, not at every step (each new
/// page is then written about 9 times by these merges, besides FTS5's own
/// merges of the small segments), and a file that grew by a burst and
/// went quiet is merged down to one segment.
pub(crate) const MERGE_GROWTH: u64 = 8;

/// How long the writer must have stored no batch before its idle steps
/// merge the search index's segments: a writer taking a steady stream of
/// batches (the half-rate load bench: one every few milliseconds) leaves
/// the merging to FTS5's own merges during its writes, as before, since a
/// merge step between its batches held the lock while the records waited
/// (index lag up to 1.7x, WAL max up to 1.4x in that bench, docs/performance.md,
/// session 43); a file that went quiet, or is quiet between bursts, is
/// merged down in the gap.
pub(crate) const MERGE_QUIET: Duration = Duration::from_secs(1);

/// The fewest leaf pages a merge step asks FTS5 for.
pub(crate) const MIN_MERGE_PAGES: usize = 16;

/// The most leaf pages a merge step asks FTS5 for however fast the last
/// steps were.
pub(crate) const MAX_MERGE_PAGES: usize = 4_000;

/// What one idle step does to merge the search index's segments, once the
/// index has caught up (indexing comes first): a bounded `'merge'` sized
/// by [`Pace`] to hold the write lock about `STEP_TARGET` (FTS5 ends a
/// step at a term boundary, so a term whose entries span more pages than
/// the step asks for is written whole: the step then runs longer, and the
/// pace shrinks the next). Fewer segments make every index read of a
/// search cheaper: each seeks its trigrams in every segment
/// (docs/performance.md, "One FTS5 segment at 10 M").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MergeStep {
    /// How the step asks FTS5.
    pub(crate) merge: Merge,
}

impl MergeStep {
    /// The pace before any merge step was measured: [`MIN_MERGE_PAGES`]
    /// in `STEP_TARGET`.
    pub(crate) fn first_pace() -> Pace {
        Pace::of(MIN_MERGE_PAGES, STEP_TARGET)
    }

    /// The step the index's segments call for, `None` when none does: a
    /// merge under way goes on (FTS5's own merges' too), and so does a
    /// level holding [`MERGE_SEGMENTS`] segments (what FTS5's own merges
    /// would do during later writes); else a merge of every segment starts
    /// when the pages outside the largest are at least 1 / [`MERGE_GROWTH`]
    /// of its. (A merge of every segment has as many inputs as there were
    /// segments; with fewer than [`MERGE_SEGMENTS`], FTS5 holds it back
    /// while a lower level holds as many segments as its inputs, until that
    /// level holds [`MERGE_SEGMENTS`] and is merged first: new records let
    /// it go on, and a file that went quiet before then keeps those few
    /// segments.)
    pub(crate) fn for_shape(shape: IndexShape) -> Option<MergeStep> {
        if shape.merging || shape.fullest_level >= MERGE_SEGMENTS {
            return Some(MergeStep { merge: Merge::Continue });
        }
        let others = shape.pages.saturating_sub(shape.largest_pages);
        (shape.segments >= 2 && others.saturating_mul(MERGE_GROWTH) >= shape.largest_pages)
            .then_some(MergeStep { merge: Merge::Start })
    }

    /// The pages this step asks for at `pace`.
    pub(crate) fn pages(pace: Pace) -> usize {
        pace.rows_in(STEP_TARGET, MIN_MERGE_PAGES, MAX_MERGE_PAGES)
    }
}

/// Rows a second the last steps took (an indexing step, a retention step,
/// a prune transaction: the time it held the write lock), which sizes the
/// next step by time without reading the clock within it. The one rule
/// every step that holds the write lock is sized by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pace {
    per_sec: f64,
}

impl Pace {
    /// `rows` in `time`: the pace a first step is sized by.
    pub(crate) fn of(rows: usize, time: Duration) -> Pace {
        Pace { per_sec: rows as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE) }
    }

    /// Takes in a step that did `rows` rows in `took`: the mean of the pace
    /// so far and this step's, so one step slowed by the machine moves the
    /// next step's size by half, and a run of slow (or fast) steps shrinks
    /// (or grows) the steps by about half (or double) a step.
    pub(crate) fn record(&mut self, rows: usize, took: Duration) {
        let secs = took.as_secs_f64();
        if secs > 0.0 && rows > 0 {
            self.per_sec = (self.per_sec + rows as f64 / secs) / 2.0;
        }
    }

    /// The rows that fit in `time` at this pace, within `[min, max]`.
    pub(crate) fn rows_in(self, time: Duration, min: usize, max: usize) -> usize {
        // Saturating float-to-int conversion: a huge pace gives the maximum.
        let by_time = (self.per_sec * time.as_secs_f64()).round() as usize;
        by_time.clamp(min, max.max(min))
    }
}

/// Rows per step of retention (or per transaction of a prune): what fits in
/// its target time at the recent [`Pace`], within `[min, max]`; each step runs
/// in one `BEGIN IMMEDIATE` transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepRows {
    pace: Pace,
    min: usize,
    max: usize,
    target: Duration,
}

impl StepRows {
    /// Starts at `start` rows (clamped into `[min, max]`), sized to hold the
    /// lock about `target`.
    pub(crate) fn new(start: usize, min: usize, max: usize, target: Duration) -> StepRows {
        let min = min.max(1);
        let max = max.max(min);
        StepRows { pace: Pace::of(start.clamp(min, max), target), min, max, target }
    }

    /// Rows for the next step.
    pub(crate) fn rows(&self) -> usize {
        self.pace.rows_in(self.target, self.min, self.max)
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
        let rows = self.rows();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let started = Instant::now();
        let out = work(&tx, rows)?;
        tx.commit()?;
        let held = started.elapsed();
        self.pace.record(rows, held);
        Ok((out, held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_past_the_lag_bound_indexes_the_excess_up_to_its_cap() {
        assert_eq!(IndexStep::for_lag(0), IndexStep { at_least: 0, until: STEP_TARGET });
        assert_eq!(IndexStep::for_lag(INDEX_LAG_BOUND), IndexStep { at_least: 0, until: STEP_TARGET });
        let past = IndexStep::for_lag(INDEX_LAG_BOUND + 750);
        assert_eq!(past, IndexStep { at_least: 750, until: CATCH_UP_TARGET });
        assert_eq!(IndexStep::for_lag(1_000_000).at_least, CATCH_UP_ROWS);
    }

    #[test]
    fn a_step_takes_what_fits_in_its_time_at_the_recent_pace() {
        let pace = IndexStep::first_pace();
        assert_eq!(IndexStep::for_lag(0).rows(pace), MIN_STEP_ROWS, "the first step is small");
        assert_eq!(IndexStep::for_lag(1_000_000).rows(pace), CATCH_UP_ROWS, "it must index the excess");
        // 40 000 rows a second: 400 rows in 10 ms, 2 000 in 50 ms.
        let fast = Pace { per_sec: 40_000.0 };
        assert_eq!(IndexStep::for_lag(500).rows(fast), 400);
        assert_eq!(IndexStep::for_lag(INDEX_LAG_BOUND + 10).rows(fast), 2_000);
        let faster = Pace { per_sec: 100_000.0 };
        assert_eq!(IndexStep::for_lag(1_000_000).rows(faster), 5_000, "more than the excess when time allows");
        assert_eq!(IndexStep::for_lag(0).rows(Pace { per_sec: f64::INFINITY }), MAX_STEP_ROWS);
        assert_eq!(IndexStep::for_lag(0).rows(Pace { per_sec: 0.0 }), MIN_STEP_ROWS);
        let mut p = Pace { per_sec: 10_000.0 };
        p.record(3_000, Duration::from_millis(125));
        assert_eq!(p, Pace { per_sec: 17_000.0 }, "the mean of the pace and the step's");
        p.record(0, Duration::ZERO);
        assert_eq!(p, Pace { per_sec: 17_000.0 }, "an empty step says nothing");
    }

    #[test]
    fn a_merge_goes_on_merges_a_full_level_or_starts_once_the_small_segments_have_grown() {
        let shape = |segments, pages, largest_pages, fullest_level, merging| IndexShape {
            segments,
            pages,
            largest_pages,
            fullest_level,
            merging,
        };
        let step = |s| MergeStep::for_shape(s).map(|m| m.merge);
        assert_eq!(step(shape(2, 900, 800, 1, true)), Some(Merge::Continue), "a merge under way goes on");
        assert_eq!(step(shape(5, 804, 800, 4, false)), Some(Merge::Continue), "a level of 4 small ones");
        // The 10 M file of session 42: 16 segments, 84 922 pages, the
        // largest 65 837, 5 on level 0, 4 of level 3 in a merge.
        assert_eq!(step(shape(16, 84_922, 65_837, 5, true)), Some(Merge::Continue));
        assert_eq!(step(shape(12, 84_922, 65_837, 3, false)), Some(Merge::Start), "then all at once");
        assert_eq!(step(shape(2, 900, 800, 1, false)), Some(Merge::Start), "an eighth of the largest");
        assert_eq!(step(shape(7, 899, 800, 3, false)), None, "less than an eighth: a trickle waits");
        assert_eq!(step(shape(1, 800, 800, 1, false)), None, "one segment");
        assert_eq!(step(shape(0, 0, 0, 0, false)), None, "an empty index");
        assert_eq!(MergeStep::pages(MergeStep::first_pace()), MIN_MERGE_PAGES);
        assert_eq!(MergeStep::pages(Pace { per_sec: 5_000.0 }), 50, "5 000 pages a second: 50 in 10 ms");
        assert_eq!(MergeStep::pages(Pace { per_sec: f64::INFINITY }), MAX_MERGE_PAGES);
    }

    #[test]
    fn steps_follow_the_pace_within_their_bounds() {
        let mut s = StepRows::new(500, 50, 2_000, STEP_TARGET);
        assert_eq!(s.rows(), 500, "the first step is the start");
        s.pace.record(500, Duration::from_millis(25));
        assert_eq!(s.rows(), 350, "the mean of 50 000 and 20 000 rows a second, for 10 ms");
        for _ in 0..20 {
            let rows = s.rows();
            s.pace.record(rows, Duration::from_millis(300));
        }
        assert_eq!(s.rows(), 50, "steps that run long shrink to the minimum");
        for _ in 0..20 {
            let rows = s.rows();
            s.pace.record(rows, Duration::from_millis(1));
        }
        assert_eq!(s.rows(), 2_000, "and short ones grow to the maximum");
        assert_eq!(StepRows::new(9_999, 50, 2_000, STEP_TARGET).rows(), 2_000);
        assert_eq!(StepRows::new(0, 0, 0, STEP_TARGET).rows(), 1);
        let mut prune = StepRows::new(1_000, 1, 1_000, Duration::from_millis(40));
        prune.pace.record(1_000, Duration::from_millis(80));
        assert_eq!(prune.rows(), 750, "a step twice its own target: the mean of 1 000 and 500 a step");
    }
}
