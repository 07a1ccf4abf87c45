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

    /// A histogram the aggregates answer but for its span's ends, summed
    /// from three counts: the whole quarter hours inside the span from the
    /// aggregates, and each end's partial quarter hour (at most 15 minutes)
    /// from the rows. `count` is the store's own histogram of a part (the
    /// parts are aligned, or too short to split again). `None` when this
    /// split does not apply: a filter on more than loggers, levels and
    /// time, slots off the quarter hours, both ends on them already, or no
    /// whole quarter hour inside.
    ///
    /// Without it, `since=90d` (a bound of "now" minus 90 days, almost never
    /// on a quarter hour) counted all 10 M rows of the span in SQLite up to
    /// its scan bound: 199 ms and a lower bound of 1 000 000 records, where
    /// the panel, which split its spans itself, drew 9 997 179 exactly.
    pub fn count_by_edges(
        &self,
        filter: &RecordFilter,
        slots: &Slots,
        mut count: impl FnMut(&RecordFilter) -> Result<Histogram, StoreError>,
    ) -> Result<Option<Histogram>, StoreError> {
        let on = |t: Timestamp| t.0.rem_euclid(QUARTER_HOUR) == 0;
        let inner = (self.from.ceil_to(QUARTER_HOUR), self.to.floor_to(QUARTER_HOUR));
        if !filter.is_aggregate_only()
            || !slots.aligned_to(QUARTER_HOUR)
            || (on(self.from) && on(self.to))
            || inner.0 >= inner.1
        {
            return Ok(None);
        }
        let mut out = Histogram::zeros(slots);
        for (since, until) in [(self.from, inner.0), inner, (inner.1, self.to)] {
            if since >= until {
                continue;
            }
            let mut part = filter.clone();
            part.since = Some(since);
            part.until = Some(until);
            let h = count(&part)?;
            out.complete &= h.complete;
            for (o, c) in out.slots.iter_mut().zip(&h.slots) {
                o.merge(c);
            }
        }
        Ok(Some(out))
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
        Histogram::counted(vec![LevelCounts::default(); slots.len()], true)
    }

    /// The counts `slots`, counted (not estimated); `complete` false when
    /// the count stopped at the store's scan bound.
    pub fn counted(slots: Vec<LevelCounts>, complete: bool) -> Histogram {
        Histogram { slots, complete, sample: None, margins: Vec::new() }
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
    ///
    /// Each slot's [margin](Histogram::margins) is that of `k` matches
    /// found at random among its sampled rows (Poisson): `2√k + 3` matches,
    /// scaled like the counts — about a 95 % range, `k ± 2√k` where `k` is
    /// large and the Poisson bound's `+3` where none was found; 0 for a
    /// slot read whole. A store whose sample is clustered (blocks of
    /// consecutive rows) widens it with what its blocks show
    /// ([`Histogram::widen_margin`]).
    pub fn estimated_per_slot(counted: Vec<LevelCounts>, per_slot: &[Sample], sample: Sample) -> Histogram {
        let mut margins = Vec::with_capacity(counted.len());
        let slots = counted
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let s = per_slot.get(i).copied().unwrap_or(Sample { read: 0, of: 0 });
                margins.push(s.poisson_margin(c.total()));
                LevelCounts {
                    trace: s.scale(c.trace),
                    debug: s.scale(c.debug),
                    info: s.scale(c.info),
                    warn: s.scale(c.warn),
                    error: s.scale(c.error),
                }
            })
            .collect();
        Histogram { slots, complete: true, sample: Some(sample), margins }
    }

    /// Raises slot `i`'s margin to at least `margin` (a store's own
    /// measure of how far its sample can be off there).
    pub fn widen_margin(&mut self, i: usize, margin: u64) {
        if let Some(m) = self.margins.get_mut(i) {
            *m = (*m).max(margin);
        }
    }

    /// Sets slot `i`'s total to `total`, counted (from an index) where its
    /// levels were estimated: each level keeps its estimated share, scaled
    /// to `total` (the remainder of the rounding to the largest), all of it
    /// to `info` where the sample found none; its margin becomes 0.
    pub fn set_total(&mut self, i: usize, total: u64) {
        let Some(c) = self.slots.get_mut(i) else { return };
        let estimated = c.total();
        let mut levels = [c.trace, c.debug, c.info, c.warn, c.error];
        if estimated == 0 {
            levels = [0, 0, total, 0, 0];
        } else {
            for l in &mut levels {
                *l = u64::try_from(u128::from(*l) * u128::from(total) / u128::from(estimated)).unwrap_or(u64::MAX);
            }
            let short = total.saturating_sub(levels.iter().sum());
            if let Some(largest) = (0..levels.len()).max_by_key(|&k| levels[k]) {
                levels[largest] += short;
            }
        }
        let [trace, debug, info, warn, error] = levels;
        *c = LevelCounts { trace, debug, info, warn, error };
        if let Some(m) = self.margins.get_mut(i) {
            *m = 0;
        }
    }

    /// The range slot `i`'s exact total lies in, about 95 % of the time,
    /// for an estimate: its estimated total ± its margin. `None` for
    /// counted bars (and a slot out of range).
    pub fn range(&self, i: usize) -> Option<(u64, u64)> {
        self.sample?;
        let total = self.slots.get(i)?.total();
        let margin = self.margins.get(i).copied().unwrap_or(0);
        Some((total.saturating_sub(margin), total.saturating_add(margin)))
    }

    /// Whether slot `i` is an estimate too loose to read as a height: its
    /// [range](Histogram::range) reaches past half or one and a half times
    /// its estimated total (a bar resting on fewer than about 30 sampled
    /// matches, or on blocks that disagree, as a burst one block hits).
    /// A chart draws such a bar as uncertain. Never for counted bars.
    pub fn is_uncertain(&self, i: usize) -> bool {
        match (self.range(i), self.slots.get(i)) {
            (Some((low, high)), Some(c)) => high > low && low.saturating_mul(2) < c.total().max(1),
            _ => false,
        }
    }

    /// Raises slot `i`'s margin to what its sample's clusters show
    /// ([`cluster_margin`]): `clusters` holds the matches and the rows read
    /// of each cluster of consecutive rows sampled in the slot, of `rows`
    /// rows in it.
    pub fn widen_by_clusters(&mut self, i: usize, clusters: &[(u64, u64)], rows: u64) {
        self.widen_margin(i, cluster_margin(clusters, rows));
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

/// About a 95 % margin (two standard errors) of a total estimated from a
/// sample of clusters of consecutive rows (a store's blocks of ids, a
/// database's pages): `clusters` holds each cluster's `(matches, rows
/// read)`, of `rows` rows in all. Rows written together match together (a
/// burst), so the error is the clusters' spread, not Poisson's: the ratio
/// estimator's `rows / x̄ · √((1 − f) · s² / n)`, with `n` clusters of mean
/// size `x̄`, `f` the part of the rows read and `s²` the variance of each
/// cluster's matches less its share of the ratio (for clusters of one
/// size, simply the variance of their counts). 0 when fewer than two
/// clusters were read or every row was.
pub fn cluster_margin(clusters: &[(u64, u64)], rows: u64) -> u64 {
    let n = clusters.len() as f64;
    let read: u64 = clusters.iter().map(|&(_, x)| x).sum();
    if clusters.len() < 2 || read == 0 || read >= rows {
        return 0;
    }
    let found: u64 = clusters.iter().map(|&(y, _)| y).sum();
    let ratio = found as f64 / read as f64;
    let s2 = clusters.iter().map(|&(y, x)| (y as f64 - ratio * x as f64).powi(2)).sum::<f64>() / (n - 1.0);
    let mean_size = read as f64 / n;
    let f = read as f64 / rows as f64;
    let se = rows as f64 / mean_size * ((1.0 - f) * s2 / n).sqrt();
    (2.0 * se).ceil() as u64
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
    fn an_estimates_bars_have_ranges_and_the_loose_ones_are_uncertain() {
        let c = |info: u64, error: u64| LevelCounts { info, error, ..LevelCounts::default() };
        // Bar 0: 100 of 1 000 sampled matches; bar 1: 4; bar 2: none; bar 3: read whole.
        let per_slot = [
            Sample { read: 1_000, of: 10_000 },
            Sample { read: 1_000, of: 10_000 },
            Sample { read: 1_000, of: 10_000 },
            Sample { read: 500, of: 500 },
        ];
        let mut h = Histogram::estimated_per_slot(
            vec![c(90, 10), c(4, 0), c(0, 0), c(7, 0)],
            &per_slot,
            Sample { read: 3_500, of: 30_500 },
        );
        // 1 000 ± (2·10 + 3)·10; 40 ± (2·2 + 3)·10; 0 + 3·10; exact.
        assert_eq!(h.margins, vec![230, 70, 30, 0]);
        assert_eq!(h.range(0), Some((770, 1_230)));
        assert_eq!(h.range(2), Some((0, 30)));
        assert_eq!(h.range(3), Some((7, 7)));
        let uncertain: Vec<bool> = (0..4).map(|i| h.is_uncertain(i)).collect();
        assert_eq!(uncertain, [false, true, true, false]);
        h.widen_margin(0, 600);
        assert!(h.is_uncertain(0), "blocks that disagree widen it");
        // A total counted from an index: levels keep their shares, no margin.
        h.set_total(0, 1_234);
        assert_eq!(h.slots[0], c(1_111, 123));
        assert!(!h.is_uncertain(0) && h.range(0) == Some((1_234, 1_234)));
        h.set_total(2, 5);
        assert_eq!(h.slots[2], c(5, 0), "no level sampled: all as info");
        // Counted histograms have no ranges.
        let counted = Histogram::counted(vec![c(3, 1)], true);
        assert_eq!((counted.range(0), counted.is_uncertain(0)), (None, false));
    }

    /// A bar read whole is counted: no margin. Clusters that agree give
    /// none beyond Poisson's; two that disagree (a burst in one) a wide one;
    /// clusters of unequal sizes are judged by their ratio, not their count.
    #[test]
    fn a_bars_cluster_margin_is_what_its_clusters_show() {
        assert_eq!(cluster_margin(&[(3, 20), (4, 20)], 40), 0, "read whole");
        assert_eq!(cluster_margin(&[(5, 20)], 1_000), 0, "one cluster shows no spread");
        assert_eq!(cluster_margin(&[(5, 20), (5, 20), (5, 20)], 1_000), 0, "clusters that agree");
        // 20 and 0 of 20: s² = 200, 1 000 / 20 · √((1 − 40 / 1 000) · 200 / 2) = 489.9.
        assert_eq!(cluster_margin(&[(20, 20), (0, 20)], 1_000), 980);
        // A quarter of the rows matching in each cluster, whatever its size: no spread.
        assert_eq!(cluster_margin(&[(10, 40), (5, 20), (20, 80)], 10_000), 0);
        // Half of one cluster matching, none of the other, sizes 40 and 80:
        // ratio 20 / 120, d = 20 − 6.67 and 0 − 13.33, s² = 355.6,
        // 10 000 / 60 · √((1 − 0.012) · 355.6 / 2) = 2 208.8.
        assert_eq!(cluster_margin(&[(20, 40), (0, 80)], 10_000), 4_418);
        let mut h =
            Histogram::estimated(vec![LevelCounts { info: 10, ..Default::default() }], Sample { read: 40, of: 1_000 });
        let poisson = h.margins[0];
        h.widen_by_clusters(0, &[(10, 20), (0, 20)], 1_000);
        assert!(h.margins[0] > poisson && h.is_uncertain(0), "{:?}", h.margins);
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
