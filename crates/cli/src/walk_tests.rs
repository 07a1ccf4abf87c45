//! `walk` and `follow_until` over the reference store: every match once
//! across pages, the limit, and a follow riding out an outage.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp};
use log_panel_query::conformance::MemoryStore;
use log_panel_query::{CommitWaiter, Follow, RecordFilter, Store, StoreError, StoreErrorKind, Wake};

use crate::commands::{follow_until, follow_waiting, walk};
use crate::error::CliError;

/// Stores one INFO record at `ts` (microseconds); the reference store numbers
/// records from 1 in the order they are stored.
fn push(store: &MemoryStore, ts: i64, message: &str) {
    let mut r = Record::new(Level::Info, "app", message.to_owned());
    r.timestamp = Timestamp(ts);
    store.clone().write(&Batch::new(&Origin::new("app", "h", 1), &[r])).unwrap();
}

#[test]
fn walk_visits_every_match_once_newest_first_across_pages() {
    let store = MemoryStore::default();
    // Equal timestamps force the id tie-break across page boundaries.
    for i in 0..2500 {
        push(&store, 1_000 + i / 3, if i % 2 == 0 { "even" } else { "odd" });
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
    assert!(store.pages_read() >= 2, "more than one page was read");
}

#[test]
fn walk_stops_at_the_limit_and_says_whether_more_match() {
    let store = MemoryStore::default();
    for i in 0..30 {
        push(&store, i, "x");
    }
    let mut n = 0;
    assert!(walk(&store, &RecordFilter::default(), Some(10), |_| {
        n += 1;
        Ok(())
    })
    .unwrap());
    assert_eq!(n, 10);
    // The page's own `older` cursor answers "more?": one page read, no page of one beyond it.
    assert_eq!(store.pages_read(), 1);
    let mut n = 0;
    assert!(!walk(&store, &RecordFilter::default(), Some(30), |_| {
        n += 1;
        Ok(())
    })
    .unwrap());
    assert_eq!(n, 30);
    assert_eq!(store.pages_read(), 2);
    let mut n = 0;
    assert!(!walk(&store, &RecordFilter::default(), Some(40), |_| {
        n += 1;
        Ok(())
    })
    .unwrap());
    assert_eq!((n, store.pages_read()), (30, 3));
}

#[test]
fn follow_waits_out_an_unavailable_store_and_resumes_where_it_was() {
    let store = MemoryStore::default();
    push(&store, 1, "before");
    let start = 1;
    push(&store, 2, "a");
    push(&store, 3, "b");
    let mut follow = Follow::after(RecordFilter::default(), start);
    let stop = AtomicBool::new(false);
    let (mut printed, mut warnings) = (Vec::new(), Vec::new());
    let mut warn = |line: &str| warnings.push(line.to_owned());
    follow_until(&store, &mut follow, &stop, &mut warn, |new| {
        printed.extend(new.iter().map(|r| r.message.clone()));
        if printed.len() == 2 {
            // Written while the storage fails: a locked file, then a broken read.
            push(&store, 4, "c");
            push(&store, 5, "d");
            store.fail_next([StoreErrorKind::Unavailable, StoreErrorKind::Storage]);
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

/// Follows `store` from its first record, waiting on `waiter` between
/// reads, until `step` (told how many records were printed) says to stop:
/// the messages printed and the lines warned.
fn follow_from_start(
    store: &MemoryStore,
    waiter: &mut dyn CommitWaiter,
    mut step: impl FnMut(usize) -> bool,
) -> (Vec<String>, Vec<String>) {
    let mut follow = Follow::after(RecordFilter::default(), 0);
    let stop = AtomicBool::new(false);
    let (mut printed, mut warnings) = (Vec::new(), Vec::new());
    let mut warn = |line: &str| warnings.push(line.to_owned());
    follow_waiting(store, waiter, &mut follow, &stop, &mut warn, |new| {
        printed.extend(new.iter().map(|r| r.message.clone()));
        if step(printed.len()) {
            stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    })
    .unwrap();
    (printed, warnings)
}

/// A poll past its read budget (a search scanning a far-lagging index's
/// tail) ended `tail -f` with status 1 before; it is retried like an outage.
#[test]
fn follow_retries_a_read_past_its_time_budget_and_resumes() {
    let store = MemoryStore::default();
    push(&store, 1, "a");
    let (printed, warnings) = follow_from_start(&store, &mut *store.commit_waiter(), |printed| {
        if printed == 1 {
            push(&store, 2, "b");
            store.fail_next([StoreErrorKind::TimedOut, StoreErrorKind::TimedOut]);
        }
        printed == 2
    });
    assert_eq!(printed, ["a", "b"]);
    assert_eq!(
        warnings,
        ["read stopped: failing as asked (TimedOut); retrying", "reads answer again; following"],
        "one line when it fails, one when it answers again, neither calling a slow read an outage"
    );
}

#[test]
fn follow_ends_on_an_error_retrying_cannot_mend() {
    for kind in [StoreErrorKind::BadFilter, StoreErrorKind::NewerSchema] {
        let store = MemoryStore::default();
        store.fail_next([kind]);
        let mut follow = Follow::after(RecordFilter::default(), 0);
        let mut warnings = Vec::new();
        let mut warn = |line: &str| warnings.push(line.to_owned());
        let e = follow_until(&store, &mut follow, &AtomicBool::new(false), &mut warn, |_| Ok(())).unwrap_err();
        assert!(matches!(&e, CliError::Store(e) if e.kind() == kind), "{e:?}");
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}

/// A waiter whose first `.0` waits fail as a listener on a frozen server does.
struct SilentServer(u32);

impl CommitWaiter for SilentServer {
    fn wait(&mut self, timeout: std::time::Duration) -> Result<Wake, StoreError> {
        if self.0 > 0 {
            self.0 -= 1;
            return Err(StoreError::new(StoreErrorKind::Unavailable, "the listener's server gave no answer"));
        }
        std::thread::sleep(timeout.min(std::time::Duration::from_millis(10)));
        Ok(Wake::TimedOut)
    }

    fn pushed(&self) -> bool {
        true
    }
}

/// The waiter's error (PostgreSQL's listener found its server silent) is
/// said once, as an outage, and the follow goes on from its last record:
/// what was written meanwhile shows once.
#[test]
fn follow_says_a_waiter_error_once_and_resumes_where_it_was() {
    let store = MemoryStore::default();
    push(&store, 1, "a");
    let mut waiter = SilentServer(2);
    let (printed, warnings) = follow_from_start(&store, &mut waiter, |printed| {
        match printed {
            1 => push(&store, 2, "b"),
            2 => push(&store, 3, "c"),
            _ => {}
        }
        printed == 3
    });
    assert_eq!(printed, ["a", "b", "c"], "every record once");
    assert_eq!(waiter.0, 0, "both failing waits were made");
    assert_eq!(
        warnings,
        [
            "storage unavailable: the listener's server gave no answer; retrying",
            "storage available again; following",
            "storage unavailable: the listener's server gave no answer; retrying",
            "storage available again; following",
        ],
        "each failed wait said, and the read after it"
    );
}
