//! Checks shared by the store test suites, each against the storage's own
//! SQL written by hand.

use log_panel_query::{Cursor, PageAt, RecordFilter, Store, StoredRecord};

/// The hand-written statement of [`surrounding_records`]: the ids of the
/// (at most 5) records of the same host, pid and thread just before
/// (`newer` false, newest first) or just after (`newer` true, oldest first)
/// a record; the parameters are host, pid, thread, ts and id, written as
/// `placeholder(1)` … `placeholder(5)`.
pub fn neighbours_sql(newer: bool, placeholder: impl Fn(usize) -> String) -> String {
    let (cmp, order) = if newer { (">", "ts, id") } else { ("<", "ts DESC, id DESC") };
    let p: Vec<String> = (1..=5).map(placeholder).collect();
    format!(
        "SELECT id FROM log_records WHERE host = {} AND pid = {} AND thread = {} AND (ts, id) {cmp} ({}, {})
         ORDER BY {order} LIMIT 5",
        p[0], p[1], p[2], p[3], p[4]
    )
}

/// "Show context" of records 1, 700 and 1499 of the conformance data set:
/// the pages older and newer than each, filtered to its host, pid and
/// thread, are the ids `by_hand(id, newer)` finds with [`neighbours_sql`].
pub fn surrounding_records(store: &dyn Store, by_hand: impl Fn(i64, bool) -> Vec<i64>) {
    for id in [1, 700, 1499] {
        let r = store.record(id).ok().flatten().unwrap_or_else(|| panic!("record {id} is stored"));
        let older = by_hand(id, false);
        let mut newer = by_hand(id, true);
        newer.reverse();
        let mut f = RecordFilter::default();
        f.host = Some(r.host.clone());
        f.pid = Some(r.pid);
        f.thread = Some(r.thread.clone());
        let at = Cursor::of(&r);
        let page_ids = |at| match store.records(&f, at, 5) {
            Ok(page) => page.records.iter().map(|r| r.id).collect::<Vec<_>>(),
            Err(e) => panic!("a page around record {id}: {e}"),
        };
        assert_eq!(page_ids(PageAt::Older(at)), older, "before record {id}");
        assert_eq!(page_ids(PageAt::Newer(at)), newer, "after record {id}");
        assert!(!older.is_empty() || !newer.is_empty(), "record {id} has neighbours in its thread");
    }
}

/// Every record `filter` keeps, newest first, read page by page.
pub fn every_record(store: &dyn Store, filter: &RecordFilter) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut at = PageAt::Newest;
    loop {
        let page = match store.records(filter, at, 200) {
            Ok(page) => page,
            Err(e) => panic!("a page of {filter:?}: {e}"),
        };
        out.extend(page.records);
        match page.older {
            Some(c) => at = PageAt::Older(c),
            None => return out,
        }
    }
}
