//! Storing records through the sink: one attempt (a panicking sink caught,
//! committed records counted and shown to the threshold alerts), and the
//! bad-record path: a batch the sink rejects for its data is halved until
//! the bad record is alone, which is tried again sanitised and, if still
//! rejected, quarantined in the spool directory.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use log_panel_core::{Batch, Origin, Record, Sink, SinkError, SinkErrorKind};

use crate::alerts::Alerts;
use crate::spool::Spool;
use crate::stats::Counters;

/// The sink and what is counted around its calls; one per writer.
pub(crate) struct Storing {
    sink: Box<dyn Sink>,
    counters: Arc<Counters>,
    /// The sink's own sanitised count, already added to the stats.
    sink_sanitised: u64,
    /// Threshold alerts: counts what was committed (None: no callbacks).
    alerts: Option<Alerts>,
}

impl Storing {
    pub(crate) fn new(sink: Box<dyn Sink>, counters: Arc<Counters>) -> Storing {
        Storing { sink, counters, sink_sanitised: 0, alerts: None }
    }

    pub(crate) fn set_alerts(&mut self, alerts: Option<Alerts>) {
        self.alerts = alerts;
    }

    pub(crate) fn take_alerts(&mut self) -> Option<Alerts> {
        self.alerts.take()
    }

    /// The storage, as the sink names it in messages.
    pub(crate) fn describe(&self) -> String {
        self.sink.describe()
    }

    /// Stores `records`. A batch the sink rejects for bad data is halved
    /// until the bad record is alone; it is then stored sanitised or
    /// quarantined in `spool` (lost without one). On an unavailable
    /// storage, returns the error and how many leading records are already
    /// resolved (stored or quarantined).
    pub(crate) fn store(
        &mut self,
        origin: &Origin,
        records: &[Record],
        mut spool: Option<&mut Spool>,
    ) -> Result<(), (SinkError, usize)> {
        match self.attempt(origin, records) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == SinkErrorKind::BadRecord => {
                if let [record] = records {
                    return self.store_bad(origin, record, e, spool).map_err(|e| (e, 0));
                }
                let mid = records.len() / 2;
                self.store(origin, &records[..mid], spool.as_deref_mut())?;
                self.store(origin, &records[mid..], spool).map_err(|(e, done)| (e, mid + done))
            }
            Err(e) => Err((e, 0)),
        }
    }

    /// One record the sink rejects: try it sanitised, else quarantine it.
    fn store_bad(
        &mut self,
        origin: &Origin,
        record: &Record,
        first: SinkError,
        spool: Option<&mut Spool>,
    ) -> Result<(), SinkError> {
        let clean = record.sanitised();
        match self.attempt(origin, std::slice::from_ref(&clean)) {
            Ok(()) => {
                Counters::add(&self.counters.sanitised, 1);
                Ok(())
            }
            Err(e) if e.kind() == SinkErrorKind::BadRecord => {
                let reason = format!("rejected by {}: {first}", self.sink.describe());
                let kept = match spool {
                    Some(spool) => spool.quarantine(origin, record, &reason).is_ok(),
                    None => false,
                };
                if kept {
                    Counters::add(&self.counters.quarantined, 1);
                    eprintln!("log-panel: a record was quarantined ({reason})");
                } else {
                    Counters::add(&self.counters.lost, 1);
                    eprintln!("log-panel: a record was rejected and could not be quarantined ({reason})");
                }
                self.counters.set_last_error(reason);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// One attempt; a panicking sink is caught and reported as an error so
    /// the writer (and the application) keep going.
    fn attempt(&mut self, origin: &Origin, records: &[Record]) -> Result<(), SinkError> {
        let batch = Batch::new(origin, records);
        let sink = &mut self.sink;
        let result = catch_unwind(AssertUnwindSafe(|| sink.write(&batch)))
            .unwrap_or_else(|_| Err(SinkError::new(SinkErrorKind::Other, "the sink panicked")));
        if result.is_ok() {
            Counters::add(&self.counters.written, records.len() as u64);
            let sanitised = self.sink.sanitised_count();
            if sanitised > self.sink_sanitised {
                Counters::add(&self.counters.sanitised, sanitised - self.sink_sanitised);
                self.sink_sanitised = sanitised;
            }
            // Committed: only now may these records fire threshold alerts.
            if let Some(alerts) = &mut self.alerts {
                alerts.observe(records);
            }
        }
        result
    }

    /// One step of the sink's background upkeep. An error is reported and
    /// ends the step; so does a panic, as if the step had finished (a sink
    /// that panics would panic again at once).
    pub(crate) fn idle(&mut self) -> Upkeep {
        let sink = &mut self.sink;
        // The sink is asked how soon it expects more only when it has none now.
        let step = || {
            sink.idle()
                .map(|more| if more { Upkeep::More } else { sink.idle_soon().map_or(Upkeep::Done, Upkeep::Soon) })
        };
        match catch_unwind(AssertUnwindSafe(step)) {
            Ok(Ok(Upkeep::Soon(delay))) => Upkeep::Soon(delay.min(log_panel_core::IDLE_PERIOD)),
            Ok(Ok(done)) => done,
            Err(_) => Upkeep::Done,
            Ok(Err(e)) => {
                self.counters.set_last_error(format!("{}: background upkeep: {e}", self.sink.describe()));
                Upkeep::Failed
            }
        }
    }
}

/// What one step of the sink's upkeep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upkeep {
    /// It has more to do: the next step is due at once.
    More,
    /// Nothing left until new rows arrive (or the next period).
    Done,
    /// Nothing to do now, but soon without a batch of this writer (the
    /// sink's [`idle_soon`](log_panel_core::Sink::idle_soon)): the next step
    /// after this delay (at most the period).
    Soon(std::time::Duration),
    /// It failed (a full disk, a lock held elsewhere): retried after a backoff.
    Failed,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;
    use log_panel_testing::records::{numbered as records, origin};
    use log_panel_testing::sink;

    #[test]
    fn a_batch_is_stored_in_one_attempt_and_counted() {
        let (sink, log) = sink::mock();
        let counters = Arc::new(Counters::default());
        let mut s = Storing::new(Box::new(sink), Arc::clone(&counters));
        s.store(&origin(), &records("r", 5), None).unwrap();
        assert_eq!(log.attempts(), 1);
        assert_eq!(log.stored_messages(), ["r0", "r1", "r2", "r3", "r4"]);
        assert_eq!(counters.written.load(Relaxed), 5);
    }

    #[test]
    fn bisect_isolates_one_bad_record_into_quarantine_and_stores_the_rest_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_path_buf(), &origin());
        let (sink, log) = sink::mock();
        let counters = Arc::new(Counters::default());
        let mut s = Storing::new(Box::new(sink), Arc::clone(&counters));
        let mut batch = records("r", 16);
        batch[11].message = "poison".into();
        s.store(&origin(), &batch, Some(&mut spool)).unwrap();
        let want: Vec<String> = (0..16).filter(|i| *i != 11).map(|i| format!("r{i}")).collect();
        assert_eq!(log.stored_messages(), want, "every other record, in order");
        assert_eq!(counters.quarantined.load(Relaxed), 1);
        assert_eq!(counters.written.load(Relaxed), 15);
        assert_eq!(counters.lost.load(Relaxed), 0);
        let quarantine = std::fs::read_to_string(dir.path().join("quarantine.jsonl")).unwrap();
        assert_eq!(quarantine.lines().count(), 1);
        assert!(quarantine.contains("poison") && quarantine.contains("rejected by mock"), "{quarantine}");
        // Halving 16 down to one record: far fewer attempts than one per record.
        assert!(log.attempts() <= 2 * 4 + 2, "{} attempts", log.attempts());

        // Without a spool the bad record is counted lost, the rest still stored.
        let mut s = Storing::new(Box::new(sink::mock().0), Arc::clone(&counters));
        s.store(&origin(), &batch[10..12], None).unwrap();
        assert_eq!(counters.lost.load(Relaxed), 1);
    }

    #[test]
    fn a_record_rejected_for_a_nul_is_stored_sanitised() {
        let (sink, log) = sink::mock();
        let counters = Arc::new(Counters::default());
        let mut s = Storing::new(Box::new(sink), Arc::clone(&counters));
        let mut batch = records("r", 3);
        batch[1].message = "a\0b".into();
        s.store(&origin(), &batch, None).unwrap();
        assert_eq!(log.stored_messages(), ["r0", "a\u{fffd}b", "r2"]);
        assert_eq!(counters.sanitised.load(Relaxed), 1);
        assert_eq!(counters.quarantined.load(Relaxed) + counters.lost.load(Relaxed), 0);
    }

    #[test]
    fn storage_failing_midway_through_a_bisect_reports_the_stored_prefix() {
        let (sink, log) = sink::mock();
        let mut s = Storing::new(Box::new(sink), Arc::new(Counters::default()));
        let mut batch = records("r", 8);
        batch[5].message = "poison".into();
        // The whole batch is rejected (bad record), the first half stored, then storage goes down.
        log.fail_after(2);
        let (e, done) = s.store(&origin(), &batch, None).unwrap_err();
        assert_eq!(e.kind(), SinkErrorKind::Unavailable);
        assert_eq!(done, 4, "the first half is stored and must not be stored again");
        assert_eq!(log.stored_messages(), ["r0", "r1", "r2", "r3"]);
    }

    #[test]
    fn a_panicking_sink_is_an_error_not_a_crash() {
        let (sink, log) = sink::mock();
        let counters = Arc::new(Counters::default());
        let mut s = Storing::new(Box::new(sink), Arc::clone(&counters));
        log.panic_next();
        let (e, done) = s.store(&origin(), &records("r", 2), None).unwrap_err();
        assert_eq!((e.kind(), done), (SinkErrorKind::Other, 0));
        assert_eq!(counters.written.load(Relaxed), 0);
        s.store(&origin(), &records("r", 2), None).unwrap();
        assert_eq!(log.stored_messages(), ["r0", "r1"]);
    }
}
