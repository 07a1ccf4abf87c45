//! Which way a `key=value` page is read (issue 24, session 36), by the plans
//! `auto_explain` logs for it: a value in 1 % of the records (`shard=s-3`,
//! like `tenant=t-7` at 10 M, whose candidates cost more to list than the
//! rows to its page cost to walk) is walked, one walk going on where the
//! first one stopped, reading no more of `log_records` than the naive SQL
//! reads for the same page; a rare value (`user=u-7`, 30 records) is listed
//! from the side table. Both pages hold the rows the naive SQL finds. A
//! walked row is tested by `->>` before `@>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_postgres::{PgMaintenance, PgSink, PgStore};
use log_panel_query::Store;
use log_panel_query::{FieldMatch, FieldValue, PageAt, RecordFilter, DAY};
use log_panel_testing::postgres::client;
use postgres::types::ToSql;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use super::{explained_database, plans_of};

const RECORDS: i64 = 60_000;

/// `RECORDS` records over 90 days: a `shard` in 100 (`s-3` is every 100th
/// record) and a `user` in 2 000 (`u-7`: 30 records).
fn fill(url: &str, now: Timestamp) {
    let mut sink = PgSink::connect(url).unwrap();
    let origin = Origin::new("walks", "h", 1);
    let step = 90 * DAY / RECORDS;
    let mut batch = Vec::new();
    for i in 0..RECORDS {
        let mut r = Record::new(Level::Info, "api::http", format!("GET /orders/{i}"));
        r.timestamp = Timestamp(now.0 - 90 * DAY + i * step);
        r.kv.push(("shard".into(), Value::from(format!("s-{}", i % 100))));
        r.kv.push(("user".into(), Value::from(format!("u-{}", i % 2_000))));
        batch.push(r);
        if batch.len() == 5_000 {
            sink.write(&Batch::new(&origin, &batch)).unwrap();
            batch.clear();
        }
    }
}

/// The rows the plan's scans of `log_records` read from the table: what each
/// `… on log_records …` node returned (`actual rows=`, times its loops) and
/// what its filter removed. An index-only scan reads no row (where the walk
/// ended is read so, from the `(ts, id)` index).
fn rows_read(plan: &str) -> i64 {
    let mut read = 0;
    let mut in_scan = false;
    for line in plan.lines() {
        if line.trim_start().starts_with("->") || line.contains("(actual ") {
            in_scan = line.contains(" on log_records") && !line.contains("Index Only Scan");
            if in_scan {
                let actual = line.split("actual ").nth(1).unwrap_or_default();
                let number = |key: &str| -> i64 {
                    actual
                        .split(key)
                        .nth(1)
                        .and_then(|r| r.split([' ', ')']).next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                };
                read += number("rows=") * number("loops=");
            }
        } else if in_scan {
            if let Some(n) = line.split("Rows Removed by Filter: ").nth(1) {
                read += n.trim().parse::<i64>().unwrap_or(0);
            }
        }
    }
    read
}

/// A database `fill`ed, indexed and analysed, logging every statement's plan
/// ([`explained_database`]: its URL, the server's log, the turn to read it),
/// and a store on it; `None` (the test skipped) without a server.
fn filled() -> Option<(String, PathBuf, MutexGuard<'static, ()>, PgStore)> {
    let (url, log, turn) = explained_database(|url| {
        fill(url, Timestamp::now());
        PgMaintenance::connect(url).unwrap().catch_up_search().unwrap();
    })?;
    client(&url).batch_execute("VACUUM ANALYZE log_records, log_search").unwrap();
    let store = PgStore::connect(&url).unwrap();
    Some((url, log, turn, store))
}

/// What `sql` reads of `log_records` ([`rows_read`] of its plans).
fn rows_read_by(url: &str, log: &Path, sql: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
    let mut c = client(url);
    plans_of(log, || {
        c.query(sql, params).unwrap();
    })
    .iter()
    .map(|p| rows_read(p))
    .sum()
}

#[test]
fn a_dense_value_is_walked_on_and_a_rare_one_listed() {
    let Some((url, log, _turn, store)) = filled() else { return };
    // A page of 50 and whether there is more, as the store reads it.
    let naive = "SELECT id FROM log_records WHERE context->>$1 = $2 ORDER BY ts DESC, id DESC LIMIT 51";
    for (key, value, walked) in [("shard", "s-3", true), ("user", "u-7", false)] {
        let mut f = RecordFilter::default();
        f.fields.push(FieldMatch::new(key, FieldValue::Text(value.into())).unwrap());
        let mut got = Vec::new();
        let plans = plans_of(&log, || {
            got = store.records(&f, PageAt::Newest, 50).unwrap().records.iter().map(|r| r.id).collect();
        });
        assert!(!plans.is_empty(), "{key}={value}: no plan logged");
        let mut want: Vec<i64> = client(&url).query(naive, &[&key, &value]).unwrap().iter().map(|r| r.get(0)).collect();
        want.truncate(50);
        assert_eq!(got, want, "{key}={value}: the naive SQL's rows");
        // (A walk reads the search mark too, `on log_search_mark`.)
        let listed = plans.iter().any(|p| p.contains(" on log_search "));
        assert_eq!(listed, !walked, "{key}={value}: listed from the side table:\n{}", plans.join("\n"));
        if walked {
            // Each walked row is tested by `->>` first, half the cost of
            // `@>` a row, which runs only on the rows `->>` lets through.
            let walk_filters: Vec<&str> =
                plans.iter().flat_map(|p| p.lines()).filter(|l| l.contains("Filter:") && l.contains("@>")).collect();
            assert!(!walk_filters.is_empty(), "{key}={value}: no row filter:\n{}", plans.join("\n"));
            for line in &walk_filters {
                let (text, contains) = (line.find("->>"), line.find("@>"));
                assert!(text.is_some() && text < contains, "{key}={value}: `->>` is not checked first: {line}");
            }
            // The walks read the rows to the page once: not the first walk's
            // rows again, nor a count of them.
            let read: i64 = plans.iter().map(|p| rows_read(p)).sum();
            // What the naive SQL reads of `log_records` for the same page.
            let by_hand = rows_read_by(&url, &log, naive, &[&key, &value]);
            assert!(by_hand > 5_000, "the naive SQL walks past the first walk's rows: {by_hand}");
            assert!(
                read <= by_hand + 100,
                "{key}={value}: the page read {read} rows of log_records, the naive SQL {by_hand}:\n{}",
                plans.join("\n")
            );
        }
    }
}

/// A page of 50 and whether there is more, as the store reads it: the naive SQL of `shard=s-3`.
const SHARD_S3: &str = "SELECT id FROM log_records WHERE context->>'shard' = 's-3' ORDER BY ts DESC, id DESC LIMIT 51";

/// The filter `shard=s-3` and its newest page's ids by the naive SQL ([`SHARD_S3`]).
fn shard_s3(url: &str) -> (RecordFilter, Vec<i64>) {
    let mut f = RecordFilter::default();
    f.fields.push(FieldMatch::new("shard", FieldValue::Text("s-3".into())).unwrap());
    let mut want: Vec<i64> = client(url).query(SHARD_S3, &[]).unwrap().iter().map(|r| r.get(0)).collect();
    want.truncate(50);
    (f, want)
}

/// A page a first walk does not settle is walked on by a second one; the
/// next page of the same filter walks as far as that density says at once:
/// one statement reading the rows to the page once (`shard=s-3`: 50 of the
/// 51 matches in the newest 5 000 rows), where it was two (the first one
/// planned, its end read again from the index, its rows' walk stopped and
/// started again).
#[test]
fn a_dense_value_walked_twice_is_walked_once_on_its_next_page() {
    let Some((url, log, _turn, store)) = filled() else { return };
    let (f, want) = shard_s3(&url);
    let page = |what: &str| {
        let mut got = Vec::new();
        let plans = plans_of(&log, || {
            let page = store.records(&f, PageAt::Newest, 50).unwrap();
            assert!(page.older.is_some(), "{what}: more records");
            got = page.records.iter().map(|r| r.id).collect();
        });
        assert_eq!(got, want, "{what}: the naive SQL's rows");
        plans
    };
    let first = page("first page");
    assert_eq!(first.len(), 2, "the first page walks twice:\n{}", first.join("\n"));
    let next = page("next page");
    assert_eq!(next.len(), 1, "the next page walks once:\n{}", next.join("\n"));
    // What the naive SQL reads of `log_records` for the same page: the next
    // page's one walk reads no more (as the two walks did).
    let by_hand = rows_read_by(&url, &log, SHARD_S3, &[]);
    let read = rows_read(&next[0]);
    assert!(by_hand > 5_000, "the naive SQL walks past a first walk's rows: {by_hand}");
    assert!(
        read <= by_hand + 100,
        "the next page read {read} rows of log_records, the naive SQL {by_hand}:\n{}",
        next[0]
    );
    // A page by cursor of the same filter is walked once too, and holds the naive SQL's rows.
    let last = store.records(&f, PageAt::Newest, 50).unwrap().older.unwrap();
    let mut got = Vec::new();
    let plans = plans_of(&log, || {
        got = store.records(&f, PageAt::Older(last), 50).unwrap().records.iter().map(|r| r.id).collect();
    });
    let ts = std::time::UNIX_EPOCH + std::time::Duration::from_micros(u64::try_from(last.ts.0).unwrap());
    let by_hand: Vec<i64> = client(&url)
        .query(
            "SELECT id FROM log_records WHERE context->>'shard' = 's-3' AND (ts, id) < ($1, $2)
             ORDER BY ts DESC, id DESC LIMIT 50",
            &[&ts, &last.id],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got, by_hand, "the page by cursor");
    assert_eq!(plans.len(), 1, "the page by cursor walks once:\n{}", plans.join("\n"));
}

/// A walked page reads each of its rows once: the walk carries whole rows,
/// so its matches are not read again from `log_records` by key (a second
/// scan of the table to plan, one index probe a match). `shard=s-3`'s next
/// page, one walk: no more rows of `log_records` than the naive SQL reads
/// for the same page, and no index probe per match.
#[test]
fn a_walked_page_reads_its_rows_once() {
    let Some((url, log, _turn, store)) = filled() else { return };
    let (f, want) = shard_s3(&url);
    // The first page walks twice and notes the density; the next one walks once.
    store.records(&f, PageAt::Newest, 50).unwrap();
    let mut got = Vec::new();
    let plans = plans_of(&log, || {
        got = store.records(&f, PageAt::Newest, 50).unwrap().records.iter().map(|r| r.id).collect();
    });
    assert_eq!(got, want, "the naive SQL's rows");
    assert_eq!(plans.len(), 1, "one walk:\n{}", plans.join("\n"));
    let probes = plans[0].lines().filter(|l| l.contains("loops=") && !l.contains("loops=1)")).count();
    assert_eq!(probes, 0, "a scan run once per match:\n{}", plans[0]);
    let by_hand = rows_read_by(&url, &log, SHARD_S3, &[]);
    let read = rows_read(&plans[0]);
    assert!(read <= by_hand, "the page read {read} rows of log_records, the naive SQL {by_hand}:\n{}", plans[0]);
}
