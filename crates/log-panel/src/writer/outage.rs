//! The outage path: once storage has been failing for `spool.after_ms`, or
//! memory passes its bound, the backlog spills to the [`Spool`] (in order,
//! one fsync per batch), and once storage is back the spool is replayed, one
//! batch at a time, oldest first (the writer stores live batches between
//! them). What can be neither stored nor spooled at the shutdown deadline is
//! counted lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Origin, SinkError};

use super::batches::Batches;
use super::progress::Progress;
use super::storing::Storing;
use crate::clock::Clock;
use crate::spool::Spool;
use crate::stats::Counters;

/// How long a spill that failed waits before the spool is tried again.
const SPILL_RETRY: Duration = Duration::from_secs(1);

/// The spool and when to use it; one per writer.
pub(crate) struct Outage {
    spool: Option<Spool>,
    /// Spill once storage has been failing this long.
    after: Duration,
    /// After a failed spill: not before this instant again.
    spill_retry_at: Option<Instant>,
    /// The last replay stored a batch, so the spool may hold more: the
    /// writer comes back for the next batch without waiting for a message.
    replaying: bool,
    /// The spool's last read error, reported once rather than on every look.
    read_error: Option<String>,
    counters: Arc<Counters>,
    clock: Clock,
}

/// What [`Outage::replay_one`] did.
pub(crate) enum Replayed {
    /// The spool holds nothing to replay.
    Nothing,
    /// A batch was stored; `own` of its records were this run's.
    Stored { own: u64 },
    /// Storage failed; `own` records of a stored prefix were this run's.
    Failed { own: u64, error: SinkError },
}

impl Outage {
    /// `spool`: none, or the spool and the outage length after which to use it.
    pub(crate) fn new(spool: Option<(Spool, Duration)>, counters: Arc<Counters>, clock: Clock) -> Outage {
        let (spool, after) = match spool {
            Some((spool, after)) => (Some(spool), after),
            None => (None, Duration::MAX),
        };
        Outage { spool, after, spill_retry_at: None, replaying: false, read_error: None, counters, clock }
    }

    /// Where bad records are quarantined.
    pub(crate) fn spool_mut(&mut self) -> Option<&mut Spool> {
        self.spool.as_mut()
    }

    /// This run's records in the spool, waiting for replay.
    pub(crate) fn own_spooled(&self) -> u64 {
        self.spool.as_ref().map_or(0, |s| s.own_records)
    }

    /// Whether the last replay stored a batch, so the next may be due at once.
    pub(crate) fn replaying(&self) -> bool {
        self.replaying
    }

    /// Replays one batch (at most `max` records) from the spool.
    pub(crate) fn replay_one(&mut self, storing: &mut Storing, max: usize) -> Replayed {
        let replayed = self.replay(storing, max);
        self.replaying = matches!(replayed, Replayed::Stored { .. });
        replayed
    }

    fn replay(&mut self, storing: &mut Storing, max: usize) -> Replayed {
        let Some(spool) = self.spool.as_mut() else { return Replayed::Nothing };
        let next = spool.next(max);
        if next.is_ok() {
            self.read_error = None;
        }
        let mut replay = match next {
            Ok(Some(r)) => r,
            Ok(None) => return Replayed::Nothing,
            Err(e) => {
                let text = e.to_string();
                if self.read_error.as_ref() != Some(&text) {
                    self.spool_io_error(&text);
                    self.read_error = Some(text);
                }
                return Replayed::Nothing;
            }
        };
        let file = replay.file.display().to_string();
        let failure = match storing.store(&replay.origin, &replay.records, Some(spool)) {
            Ok(()) => None,
            Err((e, done)) => {
                // Bisecting may have stored a prefix before storage failed:
                // commit exactly that prefix so it is never replayed twice.
                replay.keep_first(done);
                Some(e)
            }
        };
        let n = replay.records.len() as u64;
        let mut own = 0;
        if n > 0 || failure.is_none() {
            Counters::add(&self.counters.replayed, n);
            let committed = spool.commit(&replay);
            Counters::add(&self.counters.lost, spool.take_lost());
            if let Err(e) = committed {
                // Never store these records again: this process remembers
                // the progress; the next one would repeat only this batch.
                self.spool_io_error(&format!(
                    "cannot record replay progress of {file} ({e}); replay paused until it can be recorded"
                ));
            }
            if replay.own {
                own = n;
            }
        }
        match failure {
            Some(error) => Replayed::Failed { own, error },
            None => Replayed::Stored { own },
        }
    }

    fn spool_io_error(&self, e: &str) {
        let dir = self.spool.as_ref().map(|s| s.dir().display().to_string()).unwrap_or_default();
        let text = format!("spool {dir}: {e}");
        eprintln!("log-panel: {text}");
        self.counters.set_last_error(text);
    }

    /// Spills the backlog when storage, failing since `since`, has been
    /// down for `spool.after_ms` or memory is past its bound (and a failed
    /// spill is not waiting to be retried); see [`Outage::spill_all`].
    pub(crate) fn maybe_spill(
        &mut self,
        batches: &mut Batches,
        progress: &mut Progress,
        origin: &Origin,
        since: Instant,
        now: Instant,
        last_chance: bool,
    ) {
        if !batches.has_backlog() || self.spool.is_none() {
            return;
        }
        if self.spill_retry_at.is_some_and(|at| now < at) {
            return;
        }
        if now.duration_since(since) >= self.after || batches.over_bound() {
            self.spill_all(batches, progress, origin, "storage unavailable", last_chance);
        }
    }

    /// Moves the whole backlog to the spool, in order. When the spool fails,
    /// the batches stay in memory and the spool is tried again later —
    /// unless this is the `last_chance` (shutdown): then, as without a spool,
    /// they are counted lost. `progress` learns where each batch went;
    /// returns how many records were given up.
    pub(crate) fn spill_all(
        &mut self,
        batches: &mut Batches,
        progress: &mut Progress,
        origin: &Origin,
        why: &str,
        last_chance: bool,
    ) -> u64 {
        let mut lost = 0;
        let mut lost_reason = String::new();
        while let Some(batch) = batches.pop() {
            let result = match self.spool.as_mut() {
                Some(spool) => spool.append(origin, &batch).map_err(|e| e.to_string()),
                None => Err("no spool configured".to_owned()),
            };
            let n = batch.len() as u64;
            match result {
                Ok(()) => {
                    if self.spill_retry_at.take().is_some() {
                        eprintln!("log-panel: the spool takes records again");
                    }
                    Counters::add(&self.counters.spilled, n);
                    // Spooled records stay unresolved until replayed.
                    progress.spooled(n);
                    batches.leave(&batch);
                }
                Err(e) if last_chance => {
                    // Last chance: report loudly, count, and give up on these records.
                    Counters::add(&self.counters.lost, n);
                    lost += n;
                    lost_reason = e;
                    progress.resolved(n);
                    batches.leave(&batch);
                }
                Err(e) => {
                    // Keep them in memory (bounded: the writer stops taking
                    // records past it) and try again later.
                    if self.spill_retry_at.is_none() {
                        eprintln!(
                            "log-panel: cannot spool ({e}); keeping {} records in memory while storage and the spool fail",
                            batches.held_records()
                        );
                    }
                    self.spill_retry_at = Some(self.clock.now() + SPILL_RETRY);
                    self.counters.set_last_error(format!("spool: {e}"));
                    batches.put_back(batch);
                    break;
                }
            }
        }
        if lost > 0 {
            let text = format!("{lost} records could not be stored or spooled ({why}): {lost_reason}");
            eprintln!("log-panel: {text}");
            self.counters.set_last_error(text);
        }
        lost
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use log_panel_core::BatchPolicy;

    use super::*;
    use log_panel_testing::records::{numbered as records, origin};
    use log_panel_testing::sink;

    const AFTER: Duration = Duration::from_secs(1);

    fn batches_of(n: usize, size: usize, clock: &Clock) -> Batches {
        let mut policy = BatchPolicy::default();
        (policy.batch_size, policy.flush_level) = (size, None);
        let mut b = Batches::new(policy, usize::MAX);
        for r in records("r", n) {
            if b.push(r, clock) {
                b.seal();
            }
        }
        b.seal();
        b
    }

    /// An outage path with a spool in a fresh directory, spilling after `after`.
    fn spooling(after: Duration) -> (tempfile::TempDir, Clock, Arc<Counters>, Outage) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual();
        let counters = Arc::new(Counters::default());
        let spool = Spool::new(dir.path().to_path_buf(), &origin());
        let outage = Outage::new(Some((spool, after)), Arc::clone(&counters), clock.clone());
        (dir, clock, counters, outage)
    }

    #[test]
    fn the_backlog_spills_only_after_the_outage_lasts_spool_after_then_replays_in_order() {
        let (_dir, clock, counters, mut outage) = spooling(AFTER);
        let mut progress = Progress::new(Arc::clone(&counters), 8);
        let mut batches = batches_of(10, 4, &clock);
        let since = clock.now();

        clock.advance(AFTER - Duration::from_millis(1));
        outage.maybe_spill(&mut batches, &mut progress, &origin(), since, clock.now(), false);
        assert!(batches.has_backlog(), "a blip shorter than spool.after_ms writes nothing to disk");
        assert_eq!(counters.spilled.load(Relaxed), 0);

        clock.advance(Duration::from_millis(1));
        outage.maybe_spill(&mut batches, &mut progress, &origin(), since, clock.now(), false);
        assert!(!batches.has_backlog());
        assert_eq!(batches.held_records(), 0, "spilled records leave memory");
        assert_eq!(counters.spilled.load(Relaxed), 10);
        assert_eq!(outage.own_spooled(), 10);

        let (sink, log) = sink::mock();
        let mut storing = Storing::new(Box::new(sink), Arc::clone(&counters));
        let mut own = 0;
        while let Replayed::Stored { own: n } = outage.replay_one(&mut storing, 4) {
            own += n;
        }
        assert_eq!(own, 10);
        let want: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
        assert_eq!(log.stored_messages(), want);
        assert!(log.batches().iter().all(|b| b.len() <= 4));
        assert_eq!(counters.replayed.load(Relaxed), 10);
        assert_eq!(outage.own_spooled(), 0);
        assert!(matches!(outage.replay_one(&mut storing, 4), Replayed::Nothing));
    }

    #[test]
    fn memory_past_its_bound_spills_before_spool_after() {
        let (_dir, clock, counters, mut outage) = spooling(AFTER);
        let mut progress = Progress::new(Arc::clone(&counters), 8);
        let mut policy = BatchPolicy::default();
        policy.batch_size = 2;
        let mut batches = Batches::new(policy, 1);
        for r in records("r", 2) {
            batches.push(r, &clock);
        }
        batches.seal();
        outage.maybe_spill(&mut batches, &mut progress, &origin(), clock.now(), clock.now(), false);
        assert_eq!(counters.spilled.load(Relaxed), 2);
    }

    #[test]
    fn a_failed_replay_keeps_the_rest_for_later_and_never_repeats_a_stored_record() {
        let (_dir, clock, counters, mut outage) = spooling(Duration::ZERO);
        let mut progress = Progress::new(Arc::clone(&counters), 8);
        let mut batches = batches_of(6, 6, &clock);
        outage.spill_all(&mut batches, &mut progress, &origin(), "test", false);

        let (sink, log) = sink::mock();
        let mut storing = Storing::new(Box::new(sink), Arc::clone(&counters));
        log.set_down(true);
        assert!(matches!(outage.replay_one(&mut storing, 6), Replayed::Failed { own: 0, .. }));
        assert_eq!(outage.own_spooled(), 6);
        log.set_down(false);
        assert!(matches!(outage.replay_one(&mut storing, 6), Replayed::Stored { own: 6 }));
        assert_eq!(log.stored_messages(), ["r0", "r1", "r2", "r3", "r4", "r5"]);
    }

    #[test]
    fn without_a_spool_nothing_spills_and_the_last_chance_counts_the_loss() {
        let clock = Clock::manual();
        let counters = Arc::new(Counters::default());
        let mut outage = Outage::new(None, Arc::clone(&counters), clock.clone());
        let mut progress = Progress::new(Arc::clone(&counters), 8);
        let mut batches = batches_of(3, 10, &clock);
        clock.advance(Duration::from_secs(3600));
        outage.maybe_spill(&mut batches, &mut progress, &origin(), clock.now(), clock.now(), true);
        assert!(batches.has_backlog(), "no spool: the records stay in memory");
        assert_eq!(outage.spill_all(&mut batches, &mut progress, &origin(), "shutdown", true), 3);
        assert_eq!(counters.lost.load(Relaxed), 3);
        assert_eq!(batches.held_records(), 0);
        let last_error = counters.last_error.lock().ok().and_then(|e| e.clone()).map(|(text, _)| text);
        assert!(last_error.is_some_and(|t| t.contains("3 records could not be stored or spooled")));
    }

    #[test]
    fn a_failing_spool_keeps_the_batches_and_waits_before_trying_again() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the spool directory should be: every append fails.
        let blocked = dir.path().join("spool");
        std::fs::write(&blocked, b"not a directory").unwrap();
        let clock = Clock::manual();
        let counters = Arc::new(Counters::default());
        let spool = Spool::new(blocked, &origin());
        let mut outage = Outage::new(Some((spool, Duration::ZERO)), Arc::clone(&counters), clock.clone());
        let mut progress = Progress::new(Arc::clone(&counters), 8);
        let mut batches = batches_of(4, 2, &clock);
        let since = clock.now();
        outage.maybe_spill(&mut batches, &mut progress, &origin(), since, clock.now(), false);
        assert_eq!(batches.held_records(), 4, "kept in memory");
        assert_eq!(counters.spilled.load(Relaxed), 0);
        // Within SPILL_RETRY the spool is not tried again.
        clock.advance(SPILL_RETRY - Duration::from_millis(1));
        outage.maybe_spill(&mut batches, &mut progress, &origin(), since, clock.now(), false);
        assert!(outage.spill_retry_at.is_some_and(|at| at > clock.now()));
        // At the last chance the records are given up and counted.
        assert_eq!(outage.spill_all(&mut batches, &mut progress, &origin(), "shutdown", true), 4);
        assert_eq!(counters.lost.load(Relaxed), 4);
    }
}
