//! The query plan of every filter combination the command and the panel
//! offer (issue 24): `SqliteStore::explain_records` — the statement a page
//! runs — searches an index for each, and never scans `log_records` whole.
//! Beside it, the rows of the level-bounded logger paths (the partial
//! indexes of WARN and above) against the reference semantics,
//! `RecordFilter::keeps`, over a logger tree with quiet members.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::{Level, Sink, Timestamp};
use log_panel_query::Store;
use log_panel_query::{Cursor, LoggerMatch, PageAt, RecordFilter, HOUR};
use log_panel_sqlite::{SqliteSink, SqliteStore};
use log_panel_testing::checks::every_record as all;
use log_panel_testing::plans::{self, PlanSet};
use log_panel_testing::records::{filter, BASE};

const SET: PlanSet = PlanSet::SQLITE;

fn filled() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    SET.write(&mut sink);
    while sink.idle().unwrap() {}
    drop(sink);
    let store = SqliteStore::open(&path).unwrap();
    (dir, store)
}

#[test]
fn level_bounded_logger_paths_return_the_reference_rows() {
    let (_dir, store) = filled();
    let everything = all(&store, &RecordFilter::default());
    assert_eq!(everything.len() as u64, SET.records);
    let until = Timestamp(BASE + 3_000 * 1_000_000);
    let cases = [
        filter(|f| {
            f.logger = Some(LoggerMatch::Tree("api".into()));
            f.min_level = Some(Level::Warn);
        }),
        filter(|f| {
            f.logger = Some(LoggerMatch::Tree("api".into()));
            f.min_level = Some(Level::Error);
        }),
        filter(|f| {
            f.logger = Some(LoggerMatch::Tree("api".into()));
            f.levels = vec![Level::Warn, Level::Error];
            f.until = Some(until);
        }),
        filter(|f| {
            f.logger = Some(LoggerMatch::Exact("api::admin".into()));
            f.min_level = Some(Level::Warn);
        }),
        filter(|f| {
            f.logger = Some(LoggerMatch::Exact("api::audit".into()));
            f.min_level = Some(Level::Warn);
        }),
        filter(|f| {
            f.levels = vec![Level::Error];
            f.since = Some(Timestamp(BASE + HOUR / 2));
        }),
        filter(|f| f.min_level = Some(Level::Warn)),
        // Not warnings only: the full indexes, the same rows as before.
        filter(|f| {
            f.logger = Some(LoggerMatch::Tree("api".into()));
            f.min_level = Some(Level::Info);
        }),
        filter(|f| {
            f.logger = Some(LoggerMatch::Tree("api".into()));
            f.levels = vec![Level::Debug, Level::Error];
        }),
    ];
    for f in cases {
        let want: Vec<i64> = everything.iter().filter(|r| f.keeps(r)).map(|r| r.id).collect();
        let got: Vec<i64> = all(&store, &f).iter().map(|r| r.id).collect();
        assert_eq!(got, want, "{f:?}");
        let first: Vec<i64> = store.records(&f, PageAt::Newest, 50).unwrap().records.iter().map(|r| r.id).collect();
        assert_eq!(first, want[..want.len().min(50)], "{f:?}");
    }
    // The quiet members: none, and the one warning.
    let audit = filter(|f| {
        f.logger = Some(LoggerMatch::Exact("api::audit".into()));
        f.min_level = Some(Level::Warn);
    });
    assert_eq!(all(&store, &audit).len(), 1);
    let admin = filter(|f| {
        f.logger = Some(LoggerMatch::Exact("api::admin".into()));
        f.min_level = Some(Level::Warn);
    });
    assert!(all(&store, &admin).is_empty());
}

/// The index the plan of each of the shared filters must search (every
/// plan must also never scan `log_records` without an index).
fn index(name: &str) -> &'static str {
    match name {
        "newest" | "levels info,debug" | "call site" => "log_records_ts",
        "time range" | "thread + window" => "log_records_ts (ts>? AND ts<?)",
        "min level warn" | "levels error" => "log_records_warn_ts",
        "logger exact" | "exact logger + call site" => "log_records_logger_ts (logger=?)",
        // `api::` holds four records in five, in busy loggers: a walk of the
        // time index meets a page sooner than one arm per logger.
        "logger tree" => "SCAN log_records USING INDEX log_records_ts",
        "text word" | "text phrase" => "log_records_fts VIRTUAL TABLE INDEX",
        // A common term is searched by walking the newest records (it fills a page within a few).
        "text common" => "SCAN log_records USING INDEX log_records_ts",
        "context range" => "log_context_index USING PRIMARY KEY (key=? AND part=? AND value>? AND value<?)",
        // Of its WARN and above too (858 of 1 391, in `api::http` and `api`).
        "tree + warn" => "SCAN log_records USING INDEX log_records_warn_ts",
        "exact + warn" | "quiet exact + warn" => "log_records_warn_logger_ts (logger=?)",
        "errors + since" => "log_records_warn_ts (ts>?)",
        "tree + time range" => "log_records_ts (ts>? AND ts<?)",
        "tree + warn + since" => "log_records_warn_ts (ts>?)",
        "tree + text" | "tree + warn + since + text" => "log_records_fts",
        "context key"
        | "request id"
        | "trace id"
        | "exact + context key"
        | "text + context key"
        | "rare text + context key"
        | "since + context range"
        | "app + host + context key"
        | "tree + warn + text + context key"
        | "exact + since + until + request id" => "log_context_index",
        other => panic!("no index named for the plan of {other}"),
    }
}

/// A step of the plan that reads every row of `log_records`: `SCAN
/// log_records` without an index (an ordered walk of an index says `USING`).
fn full_scans(plan: &str) -> Vec<&str> {
    plan.split("; ")
        .filter(|step| {
            let words: Vec<&str> = step.split_whitespace().collect();
            words.get(..2) == Some(&["SCAN", "log_records"][..]) && !words.contains(&"USING")
        })
        .collect()
}

#[test]
fn every_combination_is_planned_through_an_index() {
    let (_dir, store) = filled();
    for (name, f) in plans::filters(Timestamp(BASE + HOUR / 4), Timestamp(BASE + HOUR / 2)) {
        let index = index(name);
        let plan = store.explain_records(&f).unwrap();
        assert!(full_scans(&plan).is_empty(), "{name}: a full scan: {plan}");
        assert!(plan.contains(index), "{name}: {index} not in {plan}");
        // And the rows are the reference's.
        let want: Vec<i64> =
            all(&store, &RecordFilter::default()).iter().filter(|r| f.keeps(r)).map(|r| r.id).collect();
        let first = store.records(&f, PageAt::Newest, 50).unwrap();
        let got: Vec<i64> = first.records.iter().map(|r| r.id).collect();
        assert_eq!(got, want[..want.len().min(50)], "{name}");
        // The pages by cursor (the next page, a command's walk, the panel's
        // "newer" and its oldest match) and their check for records beyond
        // them: the same index, with the cursor's bound.
        let cursor = first.records.last().map_or(Cursor { ts: Timestamp(BASE + HOUR / 3), id: 100 }, Cursor::of);
        let same_index = index.split_whitespace().find(|w| w.starts_with("log_") && *w != "log_records").unwrap();
        // A tree's page by cursor weighs the walk against the arms again, by
        // the loggers' counts in the day beyond the cursor.
        let per_logger = match same_index {
            "log_records_ts" if name.contains("tree") => Some("log_records_logger_ts"),
            "log_records_warn_ts" if name.contains("tree") => Some("log_records_warn_logger_ts"),
            _ => None,
        };
        for at in [PageAt::Older(cursor), PageAt::Newer(cursor)] {
            let plan = store.explain_page(&f, at).unwrap();
            assert!(full_scans(&plan).is_empty(), "{name} {at:?}: a full scan: {plan}");
            assert!(
                plan.contains(same_index) || per_logger.is_some_and(|i| plan.contains(i)),
                "{name} {at:?}: {same_index} not in {plan}"
            );
        }
    }
}

/// A page below the newest says whether newer records exist, and a page
/// above the oldest whether older ones do, for a logger tree with a level
/// too: the check reads the tree per logger like the page (the bare
/// condition, an `OR` over the tree's names, walked the tree's records).
#[test]
fn pages_by_cursor_of_a_tree_with_a_level_know_what_lies_beyond() {
    let (_dir, store) = filled();
    let f = filter(|f| {
        f.logger = Some(LoggerMatch::Tree("api".into()));
        f.min_level = Some(Level::Warn);
    });
    let want: Vec<i64> = all(&store, &RecordFilter::default()).iter().filter(|r| f.keeps(r)).map(|r| r.id).collect();
    assert!(want.len() > 4, "{}", want.len());
    let first = store.records(&f, PageAt::Newest, 2).unwrap();
    let second = store.records(&f, PageAt::Older(first.older.unwrap()), 2).unwrap();
    assert_eq!(second.records.iter().map(|r| r.id).collect::<Vec<_>>(), want[2..4]);
    assert_eq!(second.newer, second.records.first().map(Cursor::of));
    assert_eq!(second.older, second.records.last().map(Cursor::of));
    let back = store.records(&f, PageAt::Newer(second.newer.unwrap()), 2).unwrap();
    assert_eq!(back.records, first.records);
    assert_eq!((back.newer, back.older), (None, back.records.last().map(Cursor::of)));
    // The oldest end: nothing older than the oldest match.
    let oldest =
        store.records(&f, PageAt::Newer(Cursor { ts: Timestamp(-62_167_219_200_000_000), id: i64::MIN }), 1).unwrap();
    assert_eq!(oldest.records.iter().map(|r| r.id).collect::<Vec<_>>(), want[want.len() - 1..]);
    assert_eq!(oldest.older, None);
}
