//! What every store's [`Store::histogram`](crate::Store::histogram) shares:
//! the span a filter and the slots have in common, whether the per-logger
//! aggregates answer it, and where an aggregate bucket's counts land. The
//! stores keep only their own SQL.

use log_panel_core::{Timestamp, HOUR, QUARTER_HOUR};

use crate::{Histogram, LevelCounts, RecordFilter, Sample, Slots, StoreError};

/// The part of a histogram's slots that a filter can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSpan {
    /// The start of the span, inclusive: the later of the filter's `since`
    /// and the first slot's start.
    pub from: Timestamp,
    /// The end of the span, exclusive: the earlier of the filter's `until`
    /// and the last slot's end.
    pub to: Timestamp,
}

impl HistogramSpan {
    /// The span `filter` and `slots` share; `None` when the filter cannot
    /// match there (the histogram is all zeros). A bad filter is an error
    /// even when its span is empty, so every store answers it alike.
    pub fn of(filter: &RecordFilter, slots: &Slots) -> Result<Option<HistogramSpan>, StoreError> {
        if !filter.check()? {
            return Ok(None);
        }
        let from = filter.since.map_or(slots.start(), |s| s.max(slots.start()));
        let to = filter.until.map_or(slots.end(), |u| u.min(slots.end()));
        Ok((from < to).then_some(HistogramSpan { from, to }))
    }

    /// The bucket width (`HOUR`, else `QUARTER_HOUR`) of the per-logger
    /// aggregates that answer this histogram exactly: the filter names only
    /// loggers, levels and time, and every slot bound and both ends of the
    /// span fall on that width's buckets. `None`: count the rows.
    pub fn aggregate_bucket(&self, filter: &RecordFilter, slots: &Slots) -> Option<i64> {
        if !filter.is_aggregate_only() {
            return None;
        }
        [HOUR, QUARTER_HOUR].into_iter().find(|&unit| {
            slots.aligned_to(unit) && self.from.0.rem_euclid(unit) == 0 && self.to.0.rem_euclid(unit) == 0
        })
    }

    /// `filter` with its time bounds narrowed to this span, for the row count.
    pub fn narrow(&self, filter: &RecordFilter) -> RecordFilter {
        let mut narrowed = filter.clone();
        narrowed.since = Some(self.from);
        narrowed.until = Some(self.to);
        narrowed
    }
}

impl Histogram {
    /// A complete histogram of zeros, one count per slot.
    pub fn zeros(slots: &Slots) -> Histogram {
        Histogram { slots: vec![LevelCounts::default(); slots.len()], complete: true, sample: None }
    }

    /// The estimate from `counted`, the matches per slot found among the
    /// rows of `sample`: each level of each slot scaled to the whole span,
    /// `sample` kept to say so.
    pub fn estimated(counted: Vec<LevelCounts>, sample: Sample) -> Histogram {
        let per_slot = vec![sample; counted.len()];
        Histogram::estimated_per_slot(counted, &per_slot, sample)
    }

    /// [`Histogram::estimated`] with each slot scaled by a sample of its
    /// own, `per_slot[i]` (the rows read in slot `i` of the rows it holds):
    /// where the part of each slot read varies (a sample of whole pages),
    /// scaling each by its own part keeps that variation out of the bars.
    /// A slot without a sample of its own counts none.
    pub fn estimated_per_slot(counted: Vec<LevelCounts>, per_slot: &[Sample], sample: Sample) -> Histogram {
        let slots = counted
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let s = per_slot.get(i).copied().unwrap_or(Sample { read: 0, of: 0 });
                LevelCounts {
                    trace: s.scale(c.trace),
                    debug: s.scale(c.debug),
                    info: s.scale(c.info),
                    warn: s.scale(c.warn),
                    error: s.scale(c.error),
                }
            })
            .collect();
        Histogram { slots, complete: true, sample: Some(sample) }
    }

    /// Adds one aggregate bucket's counts, the bucket starting at `start`,
    /// to the slot holding it, keeping only the levels `filter` keeps. A
    /// bucket outside the slots is ignored.
    pub fn add_bucket(&mut self, slots: &Slots, filter: &RecordFilter, start: Timestamp, counts: &LevelCounts) {
        if let Some(slot) = slots.index_of(start).and_then(|i| self.slots.get_mut(i)) {
            slot.merge(&filter.kept_counts(counts));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::field_reassign_with_default)]
mod tests {
    use log_panel_core::Level;

    use super::*;
    use crate::LoggerMatch;

    fn hours(n: i64) -> Slots {
        Slots::new((0..=n).map(|i| Timestamp(i * HOUR)).collect()).unwrap()
    }

    #[test]
    fn the_span_is_the_filter_clipped_to_the_slots() {
        let slots = hours(4);
        let mut f = RecordFilter::default();
        assert_eq!(
            HistogramSpan::of(&f, &slots).unwrap(),
            Some(HistogramSpan { from: Timestamp(0), to: Timestamp(4 * HOUR) })
        );
        f.since = Some(Timestamp(HOUR + 5));
        f.until = Some(Timestamp(10 * HOUR));
        assert_eq!(
            HistogramSpan::of(&f, &slots).unwrap(),
            Some(HistogramSpan { from: Timestamp(HOUR + 5), to: Timestamp(4 * HOUR) })
        );
        f.since = Some(Timestamp(4 * HOUR));
        assert_eq!(HistogramSpan::of(&f, &slots).unwrap(), None, "a filter starting after the last slot");
    }

    #[test]
    fn a_bad_filter_is_an_error_even_outside_the_slots() {
        let mut f = RecordFilter::default();
        f.since = Some(Timestamp(100 * HOUR));
        f.levels = vec![Level::Info; 6];
        assert!(HistogramSpan::of(&f, &hours(2)).is_err());
    }

    #[test]
    fn aggregates_answer_whole_buckets_of_logger_and_level_filters_only() {
        let slots = hours(4);
        let mut f = RecordFilter::default();
        f.logger = Some(LoggerMatch::Tree("api".into()));
        let span = HistogramSpan::of(&f, &slots).unwrap().unwrap();
        assert_eq!(span.aggregate_bucket(&f, &slots), Some(HOUR));

        f.since = Some(Timestamp(QUARTER_HOUR));
        let span = HistogramSpan::of(&f, &slots).unwrap().unwrap();
        assert_eq!(span.aggregate_bucket(&f, &slots), Some(QUARTER_HOUR), "a quarter-hour end");

        f.since = Some(Timestamp(7));
        let span = HistogramSpan::of(&f, &slots).unwrap().unwrap();
        assert_eq!(span.aggregate_bucket(&f, &slots), None, "an end inside a quarter hour");

        f.since = None;
        f.text = Some("timeout".into());
        let span = HistogramSpan::of(&f, &slots).unwrap().unwrap();
        assert_eq!(span.aggregate_bucket(&f, &slots), None, "text needs the rows");
        assert_eq!(span.narrow(&f).since, Some(Timestamp(0)));
        assert_eq!(span.narrow(&f).until, Some(Timestamp(4 * HOUR)));
    }

    #[test]
    fn a_bucket_lands_in_its_slot_with_the_filters_levels_only() {
        let slots = hours(2);
        let mut f = RecordFilter::default();
        f.min_level = Some(Level::Warn);
        let mut counts = LevelCounts::default();
        counts.add_n(Level::Info, 5);
        counts.add_n(Level::Error, 2);
        let mut h = Histogram::zeros(&slots);
        h.add_bucket(&slots, &f, Timestamp(HOUR + QUARTER_HOUR), &counts);
        h.add_bucket(&slots, &f, Timestamp(2 * HOUR), &counts);
        assert_eq!(h.slots[0], LevelCounts::default());
        assert_eq!(h.slots[1].get(Level::Error), 2);
        assert_eq!(h.slots[1].get(Level::Info), 0);
        assert!(h.complete);
    }

    #[test]
    fn an_estimate_scales_each_level_by_the_part_read() {
        let sample = Sample { read: 1_000, of: 40_000 };
        assert_eq!(sample.percent(), 2.5);
        let counted = vec![LevelCounts { info: 3, error: 1, ..LevelCounts::default() }, LevelCounts::default()];
        let h = Histogram::estimated(counted, sample);
        assert_eq!(h.slots[0], LevelCounts { info: 120, error: 40, ..LevelCounts::default() });
        assert_eq!(h.slots[1].total(), 0);
        assert_eq!(h.sample, Some(sample));
        assert_eq!(Sample { read: 3, of: 10 }.scale(1), 3, "rounded to the nearest");
        assert_eq!(Sample { read: 0, of: 10 }.scale(5), 0, "nothing read counts nothing");
        assert_eq!(Sample { read: 0, of: 0 }.percent(), 0.0);
        let per_slot = [Sample { read: 10, of: 100 }, Sample { read: 40, of: 100 }];
        let counted = vec![LevelCounts { warn: 2, ..LevelCounts::default() }; 2];
        let h = Histogram::estimated_per_slot(counted, &per_slot, sample);
        assert_eq!((h.slots[0].warn, h.slots[1].warn), (20, 5), "each slot by the part of it read");
    }
}
