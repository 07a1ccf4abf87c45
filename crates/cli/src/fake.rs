//! An in-memory `Store` for unit tests of the paging and following logic.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::Mutex;

use log_panel_core::Timestamp;
use log_panel_query::{
    CallSite, Cards, CardsQuery, Cursor, FieldValue, Histogram, Page, PageAt, RecordFilter, Slots, StoredRecord,
};
use log_panel_query::{Store, StoreError, StoreErrorKind};

#[derive(Default)]
pub(crate) struct FakeStore {
    pub records: Mutex<Vec<StoredRecord>>,
    pub calls: Mutex<usize>,
    /// Errors the next `tail` calls return, one each, before it works again.
    pub failures: Mutex<VecDeque<StoreErrorKind>>,
}

impl FakeStore {
    pub(crate) fn push(&self, ts: i64, message: &str) -> i64 {
        let mut rs = self.records.lock().unwrap();
        let id = rs.len() as i64 + 1;
        let mut r = StoredRecord::default();
        r.id = id;
        r.ts = Timestamp(ts);
        r.message = message.into();
        rs.push(r);
        id
    }

    fn keeps(f: &RecordFilter, r: &StoredRecord) -> bool {
        f.text.as_ref().is_none_or(|t| r.message.contains(t.as_str()))
            && f.keeps_level(r.level)
            && f.ranges.iter().all(|m| r.context.get(&m.key).is_some_and(|v| m.matches(v)))
    }
}

impl Store for FakeStore {
    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError> {
        *self.calls.lock().unwrap() += 1;
        let mut rs: Vec<StoredRecord> =
            self.records.lock().unwrap().iter().filter(|r| Self::keeps(filter, r)).cloned().collect();
        rs.sort_by_key(|r| std::cmp::Reverse(Cursor::of(r)));
        let rs: Vec<StoredRecord> = match at {
            PageAt::Newest => rs,
            PageAt::Older(c) => rs.into_iter().filter(|r| Cursor::of(r) < c).collect(),
            PageAt::Newer(_) => unimplemented!(),
        };
        let more = rs.len() > limit;
        let records: Vec<StoredRecord> = rs.into_iter().take(limit).collect();
        let older = if more { records.last().map(Cursor::of) } else { None };
        Ok(Page { records, older, newer: None })
    }

    fn tail(&self, filter: &RecordFilter, after: Option<i64>, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        if let Some(kind) = self.failures.lock().unwrap().pop_front() {
            return Err(StoreError::new(kind, format!("failing as asked ({kind:?})")));
        }
        let rs = self.records.lock().unwrap();
        let kept: Vec<StoredRecord> = rs.iter().filter(|r| Self::keeps(filter, r)).cloned().collect();
        Ok(match after {
            Some(id) => kept.into_iter().filter(|r| r.id > id).take(limit).collect(),
            None => kept[kept.len().saturating_sub(limit)..].to_vec(),
        })
    }

    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        Ok(self.records.lock().unwrap().iter().find(|r| r.id == id).cloned())
    }

    fn related(&self, _: &str, _: &FieldValue, _: usize) -> Result<Vec<StoredRecord>, StoreError> {
        Ok(Vec::new())
    }

    fn cards(&self, _: &CardsQuery) -> Result<Cards, StoreError> {
        Ok(Cards::default())
    }

    fn histogram(&self, _: &RecordFilter, _: &Slots) -> Result<Histogram, StoreError> {
        Ok(Histogram::default())
    }

    fn call_sites(&self, _: &RecordFilter, _: usize) -> Result<Vec<CallSite>, StoreError> {
        Ok(Vec::new())
    }

    fn loggers(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    fn describe(&self) -> String {
        "fake".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{follow_until, walk};
    use crate::error::CliError;
    use log_panel_query::Follow;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn walk_visits_every_match_once_newest_first_across_pages() {
        let store = FakeStore::default();
        // Equal timestamps force the id tie-break across page boundaries.
        for i in 0..2500 {
            store.push(1_000 + i / 3, if i % 2 == 0 { "even" } else { "odd" });
        }
        let mut filter = RecordFilter::default();
        filter.text = Some("even".into());
        let mut ids = Vec::new();
        let more = walk(&store, &filter, None, |r| {
            ids.push(r.id);
            Ok(())
        })
        .unwrap();
        assert!(!more);
        assert_eq!(ids.len(), 1250);
        let mut expected: Vec<i64> = (1..=2500).filter(|id| id % 2 == 1).collect();
        expected.reverse();
        assert_eq!(ids, expected);
        assert!(*store.calls.lock().unwrap() >= 2, "more than one page was read");
    }

    #[test]
    fn walk_stops_at_the_limit_and_says_whether_more_match() {
        let store = FakeStore::default();
        for i in 0..30 {
            store.push(i, "x");
        }
        let mut n = 0;
        assert!(walk(&store, &RecordFilter::default(), Some(10), |_| {
            n += 1;
            Ok(())
        })
        .unwrap());
        assert_eq!(n, 10);
        let mut n = 0;
        assert!(!walk(&store, &RecordFilter::default(), Some(30), |_| {
            n += 1;
            Ok(())
        })
        .unwrap());
        assert_eq!(n, 30);
    }

    #[test]
    fn follow_waits_out_an_unavailable_store_and_resumes_where_it_was() {
        let store = FakeStore::default();
        let start = store.push(1, "before");
        store.push(2, "a");
        store.push(3, "b");
        let mut follow = Follow::after(RecordFilter::default(), start);
        let stop = AtomicBool::new(false);
        let (mut printed, mut warnings) = (Vec::new(), Vec::new());
        let mut warn = |line: &str| warnings.push(line.to_owned());
        follow_until(&store, &mut follow, &stop, &mut warn, |new| {
            printed.extend(new.iter().map(|r| r.message.clone()));
            if printed.len() == 2 {
                // Written while the storage fails: a locked file, then a broken read.
                store.push(4, "c");
                store.push(5, "d");
                store.failures.lock().unwrap().extend([StoreErrorKind::Unavailable, StoreErrorKind::Storage]);
            }
            if printed.len() == 4 {
                stop.store(true, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(printed, ["a", "b", "c", "d"], "every record once, none lost to the outage");
        assert_eq!(
            warnings,
            ["storage unavailable: failing as asked (Unavailable); retrying", "storage available again; following"],
            "one line when it fails (not one per try), one when it is back"
        );
    }

    #[test]
    fn follow_ends_on_an_error_retrying_cannot_mend() {
        for kind in [StoreErrorKind::BadFilter, StoreErrorKind::NewerSchema] {
            let store = FakeStore::default();
            store.failures.lock().unwrap().push_back(kind);
            let mut follow = Follow::after(RecordFilter::default(), 0);
            let mut warnings = Vec::new();
            let mut warn = |line: &str| warnings.push(line.to_owned());
            let e = follow_until(&store, &mut follow, &AtomicBool::new(false), &mut warn, |_| Ok(())).unwrap_err();
            assert!(matches!(&e, CliError::Store(e) if e.kind() == kind), "{e:?}");
            assert!(warnings.is_empty(), "{warnings:?}");
        }
    }
}
