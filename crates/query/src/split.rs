//! Counts of one context key's values: the top values of a filter's records
//! with their counts per time slot (a chart split by `status` or `tenant`),
//! which also serve as the key's top values with their totals.
//!
//! Every store reads `(time, value)` pairs of the filter's records and hands
//! them to one [`SplitCounter`], so the rule of what a value is and how the
//! top values are chosen lives here alone.

use std::collections::HashMap;

use super::{FieldMatch, RecordFilter, Slots, StoreError};
use log_panel_core::Timestamp;

/// One value's series of a [`Split`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitSeries {
    /// The value as a filter matches it (`key=value`): a string as it is,
    /// a number or boolean as its JSON text (see [`split_label`]).
    pub value: String,
    /// Records with this value over all the slots.
    pub total: u64,
    /// Records with this value per slot.
    pub slots: Vec<u64>,
}

/// What [`Store::split`](super::Store::split) answers: a filter's records
/// counted per value of one context key, per slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Split {
    /// The `top` values with the most records, most first (ties by value).
    pub series: Vec<SplitSeries>,
    /// Records with any other value, per slot (same length as the slots).
    pub other: Vec<u64>,
    /// Records with any other value, in all.
    pub other_total: u64,
    /// How many distinct values were seen (the top ones included).
    pub distinct: usize,
    /// Records in the slots without the key (or with it `null`).
    pub without_key: u64,
    /// False when the store stopped before counting every record (its bound
    /// on rows read, or [`Split::MAX_DISTINCT`] values): the counts are then
    /// lower bounds and a value past the bound may be missing from the top.
    pub complete: bool,
}

impl Split {
    /// The most series a split may ask for.
    pub const MAX_TOP: usize = 32;
    /// The most distinct values counted one by one; values first seen after
    /// this many are counted in [`Split::other`] and the split is incomplete.
    pub const MAX_DISTINCT: usize = 10_000;

    /// Checks the arguments of [`Store::split`](super::Store::split): the key
    /// as [`FieldMatch::new`] wants it, `top` from 1 to [`Split::MAX_TOP`],
    /// and the filter by [`RecordFilter::check`] (whose answer it returns).
    pub fn check(filter: &RecordFilter, key: &str, top: usize) -> Result<bool, StoreError> {
        FieldMatch::check_key(key)?;
        if top == 0 || top > Self::MAX_TOP {
            return Err(StoreError::bad_filter(format!("split: top {top}, must be 1 to {}", Self::MAX_TOP)));
        }
        filter.check()
    }

    /// Records counted in all (every value, the key missing excepted).
    pub fn total(&self) -> u64 {
        self.series.iter().map(|s| s.total).sum::<u64>() + self.other_total
    }
}

/// The label of a stored value: a string as it is, `null` as none, anything
/// else as its JSON text (`200`, `1.5`, `true`, `{"a":1}`).
///
/// ```
/// use log_panel_query::split_label;
/// use serde_json::json;
/// assert_eq!(split_label(&json!("ok")).as_deref(), Some("ok"));
/// assert_eq!(split_label(&json!(200)).as_deref(), Some("200"));
/// assert_eq!(split_label(&json!(null)), None);
/// ```
pub fn split_label(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Counts `(time, value)` pairs into a [`Split`]: every store feeds it the
/// rows it read, so all stores choose the top values alike.
#[derive(Debug)]
pub struct SplitCounter<'a> {
    slots: &'a Slots,
    top: usize,
    values: HashMap<String, (u64, Vec<u64>)>,
    overflow: Vec<u64>,
    overflow_total: u64,
    without_key: u64,
    complete: bool,
}

impl<'a> SplitCounter<'a> {
    /// A counter over `slots` keeping the `top` values.
    pub fn new(slots: &'a Slots, top: usize) -> SplitCounter<'a> {
        SplitCounter {
            slots,
            top,
            values: HashMap::new(),
            overflow: vec![0; slots.len()],
            overflow_total: 0,
            without_key: 0,
            complete: true,
        }
    }

    /// The slots it counts in (for a store that groups by slot in SQL).
    pub fn slots(&self) -> &'a Slots {
        self.slots
    }

    /// Counts one record at `ts` whose key holds `value` (`None`: no key or `null`).
    /// A time outside the slots is ignored.
    pub fn add(&mut self, ts: Timestamp, value: Option<String>) {
        if let Some(i) = self.slots.index_of(ts) {
            self.add_n(i, value, 1);
        }
    }

    /// Counts `n` records in slot `i` whose key holds `value` (for a store
    /// that groups in SQL). A slot out of range is ignored.
    pub fn add_n(&mut self, i: usize, value: Option<String>, n: u64) {
        let len = self.slots.len();
        if i >= len {
            return;
        }
        let Some(value) = value else {
            self.without_key += n;
            return;
        };
        if let Some((total, per)) = self.values.get_mut(&value) {
            *total += n;
            per[i] += n;
        } else if self.values.len() < Split::MAX_DISTINCT {
            let mut per = vec![0; len];
            per[i] = n;
            self.values.insert(value, (n, per));
        } else {
            self.complete = false;
            self.overflow[i] += n;
            self.overflow_total += n;
        }
    }

    /// Counts one record whose stored value is `v` (see [`split_label`]).
    pub fn add_json(&mut self, ts: Timestamp, v: Option<&serde_json::Value>) {
        self.add(ts, v.and_then(split_label));
    }

    /// Marks the count as stopped early (a row bound, a page limit).
    pub fn stopped(&mut self) {
        self.complete = false;
    }

    /// The split: the top values, most records first (ties by value), the rest in `other`.
    pub fn finish(self) -> Split {
        let distinct = self.values.len() + usize::from(self.overflow_total > 0);
        let mut all: Vec<SplitSeries> =
            self.values.into_iter().map(|(value, (total, slots))| SplitSeries { value, total, slots }).collect();
        all.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.value.cmp(&b.value)));
        let rest = all.split_off(self.top.min(all.len()));
        let mut other = self.overflow;
        let mut other_total = self.overflow_total;
        for s in rest {
            other_total += s.total;
            other.iter_mut().zip(&s.slots).for_each(|(o, n)| *o += n);
        }
        Split { series: all, other, other_total, distinct, without_key: self.without_key, complete: self.complete }
    }
}
