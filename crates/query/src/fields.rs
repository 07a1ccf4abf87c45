//! Field statistics: which context keys a filter's records carry, and the
//! top values of one key with their counts (Kibana's field sidebar,
//! Grafana's label browser).
//!
//! Both are counted over the newest matching records, at most a `sample` of
//! them ([`FIELD_SAMPLE_ROWS`] at most), so they cost the same on a filter
//! of ten records and of ten million; the answer says when the sample cut
//! the count ([`FieldValues::sampled`]). Every store counts groups
//! ([`Store::count_field_keys`], [`Store::count_field_values`]) and the
//! trait's methods hand them to [`FieldValues::from_groups`] /
//! [`FieldKeys::from_groups`], so the rule of which values are on top lives
//! here alone.

use std::collections::HashMap;

use super::{split_label, FieldMatch, PageAt, RecordFilter, Store, StoreError, StoredRecord};

/// The most matching records field statistics read: the newest ones.
pub const FIELD_SAMPLE_ROWS: usize = 100_000;

/// A key or a value with the number of records that have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCount {
    /// The key, or the value as a filter matches it (see [`split_label`]).
    pub value: String,
    /// Records (of those read) that have it.
    pub count: u64,
}

/// The top values of one context key among a filter's newest records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldValues {
    /// The values with the most records, most first (ties by value).
    pub values: Vec<FieldCount>,
    /// How many distinct values were seen (the top ones included).
    pub distinct: usize,
    /// Records read that have the key (not `null`).
    pub with_key: u64,
    /// Matching records read: the newest `read` of them.
    pub read: u64,
    /// True when the read stopped at the sample: the counts are those of the
    /// newest [`read`](Self::read) matches, not of all of them.
    pub sampled: bool,
}

/// The context keys of a filter's newest records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldKeys {
    /// The keys found in the most records, most first (ties by key).
    pub keys: Vec<FieldCount>,
    /// How many distinct keys were seen (those listed included).
    pub distinct: usize,
    /// Matching records read: the newest `read` of them.
    pub read: u64,
    /// True when the read stopped at the sample (see [`FieldValues::sampled`]).
    pub sampled: bool,
}

/// The most values or keys one answer lists.
pub const FIELD_MAX_TOP: usize = 100;

/// The one check of the arguments of [`Store::field_keys`] and
/// [`Store::field_values`]: `top` 1 to [`FIELD_MAX_TOP`], `sample` 1 to
/// [`FIELD_SAMPLE_ROWS`], the key (when given) as [`FieldMatch::new`] wants
/// it, and the filter by [`RecordFilter::check`] (whose answer it returns).
pub fn check_field_query(
    filter: &RecordFilter,
    key: Option<&str>,
    top: usize,
    sample: usize,
) -> Result<bool, StoreError> {
    if let Some(key) = key {
        FieldMatch::check_key(key)?;
    }
    if top == 0 || top > FIELD_MAX_TOP {
        return Err(StoreError::bad_filter(format!("field statistics: top {top}, must be 1 to {FIELD_MAX_TOP}")));
    }
    if sample == 0 || sample > FIELD_SAMPLE_ROWS {
        return Err(StoreError::bad_filter(format!(
            "field statistics: sample {sample}, must be 1 to {FIELD_SAMPLE_ROWS}"
        )));
    }
    filter.check()
}

/// The `top` most counted of `counts`, most first, ties by name.
fn top_of(counts: HashMap<String, u64>, top: usize) -> (Vec<FieldCount>, usize) {
    let distinct = counts.len();
    let mut all: Vec<FieldCount> = counts.into_iter().map(|(value, count)| FieldCount { value, count }).collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    all.truncate(top);
    (all, distinct)
}

impl FieldValues {
    /// The answer from counted groups: `(value, records)`, `None` for the
    /// records without the key (or with it `null`); a value may come in
    /// several groups. `sample` is the bound the store read with.
    pub fn from_groups(groups: impl IntoIterator<Item = (Option<String>, u64)>, top: usize, sample: usize) -> Self {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let (mut read, mut with_key) = (0u64, 0u64);
        for (value, n) in groups {
            read += n;
            if let Some(v) = value {
                with_key += n;
                *counts.entry(v).or_default() += n;
            }
        }
        let (values, distinct) = top_of(counts, top);
        FieldValues { values, distinct, with_key, read, sampled: read >= sample as u64 }
    }
}

impl FieldKeys {
    /// The answer from counted groups `(key, records having it)`, a key
    /// possibly in several groups, and `(None, records read)` (a store's
    /// query answers both in one list).
    pub fn from_groups(groups: impl IntoIterator<Item = (Option<String>, u64)>, top: usize, sample: usize) -> Self {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut read = 0;
        for (key, n) in groups {
            match key {
                Some(k) => *counts.entry(k).or_default() += n,
                None => read += n,
            }
        }
        let (keys, distinct) = top_of(counts, top);
        FieldKeys { keys, distinct, read, sampled: read >= sample as u64 }
    }
}

/// Gives the newest `sample` records `filter` keeps to `each`, page by page
/// (for the trait's default methods).
pub(super) fn each_newest(
    store: &(impl Store + ?Sized),
    filter: &RecordFilter,
    sample: usize,
    mut each: impl FnMut(&StoredRecord),
) -> Result<(), StoreError> {
    let mut at = PageAt::Newest;
    let mut left = sample;
    while left > 0 {
        let page = store.records(filter, at, left.min(1000))?;
        for r in &page.records {
            each(r);
        }
        left = left.saturating_sub(page.records.len());
        match page.older {
            Some(c) => at = PageAt::Older(c),
            None => break,
        }
    }
    Ok(())
}

/// Counted groups of keys or values, as [`Store::count_field_keys`] and
/// [`Store::count_field_values`] answer them: `(key or value, records)`.
pub type FieldGroups = Vec<(Option<String>, u64)>;

/// The groups of [`Store::count_field_values`] over records already read:
/// the value of `key` in each (for the default method and the reference store).
pub fn value_groups<'a>(records: impl IntoIterator<Item = &'a StoredRecord>, key: &str) -> FieldGroups {
    records.into_iter().map(|r| (r.context.get(key).and_then(split_label), 1)).collect()
}

/// The groups of [`Store::count_field_keys`] over records already read:
/// `(None, 1)` for each record and `(Some(key), 1)` for each of its keys.
pub fn key_groups<'a>(records: impl IntoIterator<Item = &'a StoredRecord>) -> FieldGroups {
    let mut groups = Vec::new();
    for r in records {
        groups.push((None, 1));
        groups.extend(r.context.keys().map(|k| (Some(k.clone()), 1)));
    }
    groups
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn groups_merge_and_the_top_is_most_first_ties_by_value() {
        let v = FieldValues::from_groups(
            [(Some("b".into()), 2), (None, 3), (Some("a".into()), 2), (Some("c".into()), 5), (Some("b".into()), 1)],
            2,
            100,
        );
        assert_eq!(v.values, [FieldCount { value: "c".into(), count: 5 }, FieldCount { value: "b".into(), count: 3 }]);
        assert_eq!((v.distinct, v.with_key, v.read, v.sampled), (3, 10, 13, false));
        assert!(FieldValues::from_groups([(None, 13)], 2, 13).sampled, "a read that reached the sample says so");
        let k = FieldKeys::from_groups(
            [(Some("x".into()), 1), (None, 4), (Some("y".into()), 4), (Some("x".into()), 3)],
            5,
            4,
        );
        assert_eq!((k.keys.len(), k.keys[0].value.as_str(), k.keys[0].count, k.sampled), (2, "x", 4, true));
    }

    #[test]
    fn bad_arguments_are_bad_filters() {
        let f = RecordFilter::default();
        for (key, top, sample) in [
            (Some(""), 5, 10),
            (Some("k"), 0, 10),
            (None, FIELD_MAX_TOP + 1, 10),
            (None, 5, 0),
            (None, 5, FIELD_SAMPLE_ROWS + 1),
        ] {
            assert!(check_field_query(&f, key, top, sample).is_err(), "{key:?} {top} {sample}");
        }
        assert!(check_field_query(&f, Some("user_id"), 10, 100).unwrap());
    }
}
