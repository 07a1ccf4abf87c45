//! A rarely matching follow (`log-panel tail -f --text`) on SQLite reads
//! each row once: its ids are in commit order, so a poll reads only the rows
//! committed since the last one, counted where the scan tests each row.
#![allow(clippy::unwrap_used)]

use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_query::Store;
use log_panel_query::{Follow, RecordFilter};

use crate::upkeep::search::SCANNED;
use crate::{SqliteSink, SqliteStore};

#[test]
fn a_rare_follow_tests_only_the_rows_committed_since_its_last_poll() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let origin = Origin::new("a", "h", 1);
    let noise = |n: usize, tag: usize| -> Vec<Record> {
        (0..n).map(|i| Record::new(Level::Info, "noise", format!("request {tag}.{i} handled"))).collect()
    };
    sink.write(&Batch::new(&origin, &noise(500, 0))).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.ids_in_commit_order());
    let mut filter = RecordFilter::default();
    filter.text = Some("needle".into());
    let mut follow = Follow::after(filter, 0).reorder(std::time::Duration::ZERO);
    let mut scanned = Vec::new();
    let mut found = Vec::new();
    for poll in 1..=20 {
        // The search index is never caught up here: every row is tested by the scan.
        let mut batch = noise(100, poll);
        if poll == 10 {
            batch[42] = Record::new(Level::Warn, "noise", "the needle");
        }
        sink.write(&Batch::new(&origin, &batch)).unwrap();
        let before = SCANNED.with(std::cell::Cell::get);
        found.extend(follow.poll(&store, 1000).unwrap());
        scanned.push(SCANNED.with(std::cell::Cell::get) - before);
    }
    assert_eq!(found.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(), ["the needle"]);
    // The first poll reads from the start (600 rows); each later one the 100 new rows.
    assert_eq!(scanned[0], 600);
    assert!(scanned[1..].iter().all(|&n| n == 100), "rows tested per poll: {scanned:?}");
    let newest = store.tail(&RecordFilter::default(), None, 1).unwrap()[0].id;
    assert_eq!(follow.last_id(), newest, "the position is the newest row, though it did not match");
}
