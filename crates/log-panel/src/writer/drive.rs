//! Storing what can be stored now, in the order that keeps the queue
//! draining: a spooled batch, the backlog, then spilling what storage refuses.

use std::time::Instant;

use log_panel_core::Record;

use super::outage::Replayed;
use super::Writer;

impl Writer {
    /// Stores what can be stored now: one batch from the spool (it is older),
    /// then the backlog in order. One spooled batch per call, and none while
    /// the queue is more than half full, so that live records are taken and
    /// stored between replayed batches: a replay never makes callers wait or
    /// drop. Spills the backlog when storage has been failing too long or
    /// memory is past the bound.
    pub(super) fn drive(&mut self, now: Instant) {
        if !self.health.may_try(now) {
            self.maybe_spill(now);
            return;
        }
        if self.rx.len() <= self.capacity / 2 {
            match self.outage.replay_one(&mut self.storing, self.batches.batch_size()) {
                Replayed::Stored { own } => {
                    self.progress.replayed(own, self.outage.own_spooled());
                    self.health.recovered();
                }
                Replayed::Nothing => {}
                Replayed::Failed { own, error } => {
                    self.progress.replayed(own, self.outage.own_spooled());
                    self.health.failed(&self.storing.describe(), error, now);
                    self.maybe_spill(now);
                    return;
                }
            }
        }
        while let Some(batch) = self.batches.pop() {
            match self.storing.store(&self.origin, &batch, self.outage.spool_mut()) {
                Ok(()) => {
                    self.resolve(&batch);
                    self.health.recovered();
                    crate::recycle::give_back(batch);
                    // New rows: the sink's upkeep (its search index) is due once the queue is quiet.
                    self.idle_at = now;
                }
                Err((e, done)) => {
                    self.resolve(&batch[..done]);
                    let rest = batch.into_iter().skip(done).collect();
                    self.batches.put_back(rest);
                    self.health.failed(&self.storing.describe(), e, now);
                    break;
                }
            }
        }
        self.maybe_spill(now);
    }

    /// Records leave the writer's memory, resolved.
    fn resolve(&mut self, records: &[Record]) {
        self.progress.resolved(records.len() as u64);
        self.batches.leave(records);
    }

    pub(super) fn maybe_spill(&mut self, now: Instant) {
        let Some(since) = self.health.failing_since() else { return };
        let last_chance = self.draining();
        self.outage.maybe_spill(&mut self.batches, &mut self.progress, &self.origin, since, now, last_chance);
    }

    /// Moves the whole backlog to the spool (in order). Without a spool, or
    /// when the spool's disk fails while shutting down, what cannot be kept
    /// is counted lost.
    pub(super) fn spill_all(&mut self, why: &str) {
        let last_chance = self.draining();
        self.outage.spill_all(&mut self.batches, &mut self.progress, &self.origin, why, last_chance);
    }
}
