//! Whether there is more beyond a walked page (issue 24, session 38), by the
//! plans `auto_explain` logs: a page of 1 of a rare word or value whose one
//! match the walk of the nearest rows found (a rare word's oldest match, the
//! panel's histogram window) learns whether one more lies beyond the walk
//! from one candidate of the side table's index, not by sorting every
//! candidate for the nearest ones; the page (its record and both cursors) is
//! the one the naive SQL gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::MutexGuard;
use std::time::Duration;

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_postgres::{PgMaintenance, PgSink, PgStore};
use log_panel_query::Store;
use log_panel_query::{Cursor, FieldMatch, FieldValue, Page, PageAt, RecordFilter, DAY};
use log_panel_testing::postgres::client;
use postgres::Client;

use super::{explained_database, plans_of};

/// So that a walk of the 5 000 newest rows and one of the 5 000 oldest each
/// meet one record of `quasar`.
const RECORDS: i64 = 24_500;
/// A record in `SPACING` holds the rare word and value: more than a walk of
/// the nearest rows (5 000) apart.
const SPACING: i64 = 6_000;

/// `RECORDS` records over 90 days: `quasar` in the message and `batch=b-1`
/// in the context of every `SPACING`th record from the 8th (5 of them), and
/// `pulsar`, `batch=b-2` in the 9th alone.
fn fill(url: &str, now: Timestamp) {
    let mut sink = PgSink::connect(url).unwrap();
    let origin = Origin::new("probes", "h", 1);
    let step = 90 * DAY / RECORDS;
    let mut batch = Vec::new();
    for i in 0..RECORDS {
        let (message, value) = match i {
            8 => ("pulsar drift".to_owned(), "b-2"),
            _ if i % SPACING == 7 => (format!("quasar drift {i}"), "b-1"),
            _ => (format!("GET /orders/{i}"), "b-0"),
        };
        let mut r = Record::new(Level::Info, "api::http", message);
        r.timestamp = Timestamp(now.0 - 90 * DAY + i * step);
        r.kv.push(("batch".into(), Value::from(value.to_owned())));
        batch.push(r);
        if batch.len() == 5_000 || i == RECORDS - 1 {
            sink.write(&Batch::new(&origin, &batch)).unwrap();
            batch.clear();
        }
    }
}

/// The rows the side table's heap gave the plans' bitmap scans of it
/// (`actual rows=` of each `Bitmap Heap Scan on log_search`, and what its
/// filter removed): every candidate when they are sorted for the nearest.
fn side_rows_read(plans: &[String]) -> i64 {
    let mut read = 0;
    let mut in_scan = false;
    for line in plans.iter().flat_map(|p| p.lines()) {
        if line.trim_start().starts_with("->") || line.contains("(actual ") {
            in_scan = line.contains("Bitmap Heap Scan on log_search ");
            if in_scan {
                let actual = line.split("(actual ").nth(1).unwrap_or_default();
                let rows = actual.split("rows=").nth(1).and_then(|r| r.split(' ').next());
                read += rows.and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
            }
        } else if in_scan {
            if let Some(n) = line.split("Rows Removed by Filter: ").nth(1) {
                read += n.trim().parse::<i64>().unwrap_or(0);
            }
        }
    }
    read
}

/// A database filled by [`fill`], its search index caught up and its
/// statistics fresh, whose plans are logged ([`explained_database`]: the
/// server's log and the turn to read it), with a store and a client on it;
/// `None` (the test skipped) without a server.
fn searched_database() -> Option<(PathBuf, MutexGuard<'static, ()>, PgStore, Client)> {
    let now = Timestamp::now();
    let explained = explained_database(|url| {
        fill(url, now);
        PgMaintenance::connect(url).unwrap().catch_up_search().unwrap();
    });
    let (url, log, turn) = explained?;
    client(&url).batch_execute("VACUUM ANALYZE log_records, log_search").unwrap();
    Some((log, turn, PgStore::connect(&url).unwrap(), client(&url)))
}

#[test]
fn a_page_of_one_asks_the_index_for_one_more_candidate_only() {
    let Some((log, _turn, store, mut sql)) = searched_database() else { return };
    // The naive SQL's page of 1: its record, and whether one more lies in
    // the reading direction.
    let mut naive = |condition: &str, value: &str, oldest: bool| -> (Vec<i64>, bool) {
        let order = if oldest { "ASC" } else { "DESC" };
        let mut ids: Vec<i64> = sql
            .query(
                &format!("SELECT id FROM log_records WHERE {condition} ORDER BY ts {order}, id {order} LIMIT 2"),
                &[&value],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let more = ids.len() > 1;
        ids.truncate(1);
        (ids, more)
    };
    let before_all = Cursor { ts: Timestamp(0), id: 0 };
    let text = "message ILIKE '%' || $1 || '%'";
    let field = "context->>'batch' = $1";
    // The oldest match, and the newest page of 1; `pulsar` and `b-2` have no
    // more (the walk of the 5 000 newest rows finds none of them: the
    // indexes list them, as before).
    for (what, condition, value, newest_too) in [
        ("quasar", text, "quasar", true),
        ("pulsar", text, "pulsar", false),
        ("batch=b-1", field, "b-1", true),
        ("batch=b-2", field, "b-2", false),
    ] {
        let mut f = RecordFilter::default();
        if condition.starts_with("message") {
            f.text = Some(value.into());
        } else {
            f.fields.push(FieldMatch::new("batch", FieldValue::Text(value.into())).unwrap());
        }
        let pages = [(PageAt::Newer(before_all), true), (PageAt::Newest, false)];
        for (at, oldest) in pages.into_iter().take(if newest_too { 2 } else { 1 }) {
            let mut page = Page::default();
            let plans = plans_of(&log, || page = store.records(&f, at, 1).unwrap());
            assert!(!plans.is_empty(), "{what} at {at:?}: no plan logged");
            let (ids, more) = naive(condition, value, oldest);
            let got: Vec<i64> = page.records.iter().map(|r| r.id).collect();
            assert_eq!(got, ids, "{what} at {at:?}: the naive SQL's record");
            let (ahead, back) = if oldest { (page.newer, page.older) } else { (page.older, page.newer) };
            let one = Cursor::of(&page.records[0]);
            assert_eq!(ahead, more.then_some(one), "{what} at {at:?}: more in the reading direction");
            // Nothing is older than the oldest match; a newest page has no newer.
            assert_eq!(back, None, "{what} at {at:?}: more behind");
            // The walk found the page's record, and its one more lies
            // beyond the walk (or nowhere): read from the index one
            // candidate at a time (listing the nearest reads all 5).
            let all = plans.join("\n");
            // The walk (the other way too, for the oldest match) and the probe.
            assert_eq!(plans.len(), 2, "{what} at {at:?}: statements:\n{all}");
            let read = side_rows_read(&plans);
            assert!(read <= 2, "{what} at {at:?}: {read} candidates read from the side table:\n{all}");
        }
    }
}

/// A page by cursor of a filter that does not search is one statement, as
/// the naive SQL's page is: whether a record lies behind it (its other
/// cursor) comes with the page. Its records and both cursors are the naive
/// SQL's, at a cursor amid the records and at the oldest one (an empty page
/// older than it).
#[test]
fn a_page_by_cursor_is_one_statement() {
    let now = Timestamp::now();
    let Some((url, log, _turn)) = explained_database(|url| fill(url, now)) else { return };
    client(&url).batch_execute("VACUUM ANALYZE log_records").unwrap();
    let store = PgStore::connect(&url).unwrap();
    let mut sql = client(&url);
    let ids: Vec<(i64, std::time::SystemTime)> = sql
        .query("SELECT id, ts FROM log_records ORDER BY ts, id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let cursor_of = |i: usize| {
        let micros = ids[i].1.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
        Cursor { ts: Timestamp(i64::try_from(micros).unwrap()), id: ids[i].0 }
    };
    let mut tree = RecordFilter::default();
    tree.logger = Some(log_panel_query::LoggerMatch::Tree("api".into()));
    for (what, f) in [("every record", RecordFilter::default()), ("logger tree", tree)] {
        for (at, page_ids, older, newer) in [
            // 50 older than the middle record: newer ones lie behind.
            (PageAt::Older(cursor_of(1_000)), (950..1_000).rev().collect::<Vec<usize>>(), Some(950), Some(999)),
            // 50 newer than it: older ones lie behind.
            (PageAt::Newer(cursor_of(1_000)), (1_001..1_051).rev().collect(), Some(1_001), Some(1_050)),
            // Nothing older than the oldest; newer than it, the rest.
            (PageAt::Older(cursor_of(0)), Vec::new(), None, Some(0)),
            // Nothing newer than the newest; older, the rest.
            (PageAt::Newer(cursor_of(ids.len() - 1)), Vec::new(), Some(ids.len() - 1), None),
        ] {
            let mut page = Page::default();
            let plans = plans_of(&log, || page = store.records(&f, at, 50).unwrap());
            let got: Vec<i64> = page.records.iter().map(|r| r.id).collect();
            let want: Vec<i64> = page_ids.iter().map(|&i| ids[i].0).collect();
            assert_eq!(got, want, "{what} at {at:?}: records");
            assert_eq!(page.older, older.map(cursor_of), "{what} at {at:?}: older");
            assert_eq!(page.newer, newer.map(cursor_of), "{what} at {at:?}: newer");
            assert_eq!(plans.len(), 1, "{what} at {at:?}: statements:\n{}", plans.join("\n"));
        }
    }
}

/// A page by cursor settled by a walk of the nearest rows (a common word or
/// value), and a common word's oldest match, is one statement too: the walk
/// goes the other way from the cursor in the same statement for the page's
/// other cursor. Its records and both cursors are the naive SQL's.
#[test]
fn a_walked_page_by_cursor_is_one_statement() {
    let Some((log, _turn, store, mut sql)) = searched_database() else { return };
    let middle: (i64, std::time::SystemTime) = {
        let row = sql.query_one("SELECT id, ts FROM log_records ORDER BY ts, id OFFSET 12000 LIMIT 1", &[]).unwrap();
        (row.get(0), row.get(1))
    };
    let micros =
        |t: std::time::SystemTime| i64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()).unwrap();
    let mid = Cursor { ts: Timestamp(micros(middle.1)), id: middle.0 };
    let before_all = Cursor { ts: Timestamp(0), id: 0 };
    let text = "message ILIKE '%' || $1 || '%'";
    let field = "context->>'batch' = $1";
    for (what, condition, value) in [("GET", text, "GET"), ("batch=b-0", field, "b-0")] {
        let mut f = RecordFilter::default();
        if condition == text {
            f.text = Some(value.into());
        } else {
            f.fields.push(FieldMatch::new("batch", FieldValue::Text(value.into())).unwrap());
        }
        for (at, limit) in [(PageAt::Older(mid), 50), (PageAt::Newer(mid), 50), (PageAt::Newer(before_all), 1)] {
            let mut page = Page::default();
            let plans = plans_of(&log, || page = store.records(&f, at, limit).unwrap());
            // The naive SQL: the page in reading order, newest first.
            let (c, older) = match at {
                PageAt::Older(c) => (c, true),
                PageAt::Newer(c) => (c, false),
                PageAt::Newest => unreachable!(),
            };
            let (op, order) = if older { ("<", "DESC") } else { (">", "ASC") };
            let ts = std::time::UNIX_EPOCH + Duration::from_micros(u64::try_from(c.ts.0).unwrap());
            let mut want: Vec<(i64, std::time::SystemTime)> = sql
                .query(
                    &format!(
                        "SELECT id, ts FROM log_records WHERE {condition} AND (ts, id) {op} ($2, $3)
                         ORDER BY ts {order}, id {order} LIMIT $4"
                    ),
                    &[&value, &ts, &c.id, &i64::try_from(limit + 1).unwrap()],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let more = want.len() > limit;
            want.truncate(limit);
            if !older {
                want.reverse();
            }
            let got: Vec<i64> = page.records.iter().map(|r| r.id).collect();
            let ids: Vec<i64> = want.iter().map(|w| w.0).collect();
            assert_eq!(got, ids, "{what} at {at:?}: records");
            let cursor = |w: &(i64, std::time::SystemTime)| Cursor { ts: Timestamp(micros(w.1)), id: w.0 };
            let (ahead, behind) = if older { (page.older, page.newer) } else { (page.newer, page.older) };
            let (far, near) = if older { (want.last(), want.first()) } else { (want.first(), want.last()) };
            assert_eq!(ahead, if more { far.map(cursor) } else { None }, "{what} at {at:?}: more ahead");
            // Behind the page's nearest record: the cursor's side.
            let near = near.map_or(c, cursor);
            let (back_op, near_ts) = (
                if older { ">" } else { "<" },
                std::time::UNIX_EPOCH + Duration::from_micros(u64::try_from(near.ts.0).unwrap()),
            );
            let exists = !sql
                .query(
                    &format!("SELECT 1 FROM log_records WHERE {condition} AND (ts, id) {back_op} ($2, $3) LIMIT 1"),
                    &[&value, &near_ts, &near.id],
                )
                .unwrap()
                .is_empty();
            assert_eq!(behind, exists.then_some(near), "{what} at {at:?}: behind");
            assert_eq!(plans.len(), 1, "{what} at {at:?}: statements:\n{}", plans.join("\n"));
        }
    }
}

/// A rare word's or value's pages after its newest page listed every
/// candidate (and counted them: 5 of 24 500 records) read those candidates
/// directly, in one statement each with no walk of the nearest rows: the
/// oldest match (the panel's histogram window), pages by cursor both ways,
/// the newest page again. Their records and both cursors are the naive
/// SQL's. Without the count, a page of 1 is 2 statements (the walk, the
/// probe) and a page by cursor 2 or 3 (the walk, the listing, its records).
#[test]
fn a_rare_search_once_listed_reads_its_candidates_directly() {
    let Some((log, _turn, store, mut sql)) = searched_database() else { return };
    let micros =
        |t: std::time::SystemTime| i64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()).unwrap();
    let before_all = Cursor { ts: Timestamp(0), id: 0 };
    let text = "message ILIKE '%' || $1 || '%'";
    let field = "context->>'batch' = $1";
    for (what, condition, value) in [("quasar", text, "quasar"), ("batch=b-1", field, "b-1")] {
        let mut f = RecordFilter::default();
        if condition == text {
            f.text = Some(value.into());
        } else {
            f.fields.push(FieldMatch::new("batch", FieldValue::Text(value.into())).unwrap());
        }
        let matches: Vec<Cursor> = sql
            .query(&format!("SELECT id, ts FROM log_records WHERE {condition} ORDER BY ts, id"), &[&value])
            .unwrap()
            .iter()
            .map(|r| Cursor { ts: Timestamp(micros(r.get(1))), id: r.get(0) })
            .collect();
        assert_eq!(matches.len(), 5, "{what}: the fill");
        // The newest page: the walk finds one, the indexes list all five (and count them).
        let newest = store.records(&f, PageAt::Newest, 50).unwrap();
        let ids: Vec<i64> = matches.iter().rev().map(|c| c.id).collect();
        assert_eq!(newest.records.iter().map(|r| r.id).collect::<Vec<_>>(), ids, "{what}: newest page");
        // A record amid the matches that is none of them.
        let amid: Cursor = {
            let row =
                sql.query_one("SELECT id, ts FROM log_records ORDER BY ts, id OFFSET 12000 LIMIT 1", &[]).unwrap();
            Cursor { ts: Timestamp(micros(row.get(1))), id: row.get(0) }
        };
        for (at, limit) in [
            (PageAt::Newer(before_all), 1),
            (PageAt::Newest, 1),
            (PageAt::Newest, 50),
            (PageAt::Older(matches[2]), 1),
            (PageAt::Newer(matches[2]), 1),
            (PageAt::Older(amid), 50),
            (PageAt::Newer(amid), 2),
            (PageAt::Older(matches[0]), 50),
            (PageAt::Newer(matches[4]), 50),
        ] {
            let mut page = Page::default();
            let plans = plans_of(&log, || page = store.records(&f, at, limit).unwrap());
            // The naive SQL: the matches on the page's side in reading order.
            let (older, side): (bool, Vec<Cursor>) = match at {
                PageAt::Newest => (true, matches.iter().rev().copied().collect()),
                PageAt::Older(c) => {
                    (true, matches.iter().rev().filter(|m| (m.ts, m.id) < (c.ts, c.id)).copied().collect())
                }
                PageAt::Newer(c) => (false, matches.iter().filter(|m| (m.ts, m.id) > (c.ts, c.id)).copied().collect()),
            };
            let mut want: Vec<Cursor> = side.iter().take(limit).copied().collect();
            let more = side.len() > limit;
            let (far, near) = (want.last().copied(), want.first().copied());
            if !older {
                want.reverse();
            }
            let got: Vec<i64> = page.records.iter().map(|r| r.id).collect();
            assert_eq!(got, want.iter().map(|c| c.id).collect::<Vec<_>>(), "{what} at {at:?} ({limit}): records");
            let (ahead, behind) = if older { (page.older, page.newer) } else { (page.newer, page.older) };
            assert_eq!(ahead, if more { far } else { None }, "{what} at {at:?} ({limit}): more ahead");
            // Behind the page's nearest record (or its cursor): a match there?
            let near = match (near, at) {
                (Some(n), _) => Some(n),
                (None, PageAt::Older(c) | PageAt::Newer(c)) => Some(c),
                (None, PageAt::Newest) => None,
            };
            if let Some(near) = near {
                let exists = matches.iter().any(|m| {
                    if older {
                        (m.ts, m.id) > (near.ts, near.id)
                    } else {
                        (m.ts, m.id) < (near.ts, near.id)
                    }
                });
                assert_eq!(behind, exists.then_some(near), "{what} at {at:?} ({limit}): behind");
            } else {
                assert_eq!(behind, None, "{what} at {at:?} ({limit}): behind the newest");
            }
            let all = plans.join("\n");
            assert_eq!(plans.len(), 1, "{what} at {at:?} ({limit}): statements:\n{all}");
            // No walk of the nearest rows: only the candidates' records are read from `log_records`.
            assert!(!all.contains("Subquery Scan"), "{what} at {at:?} ({limit}): a walk:\n{all}");
        }
    }
}

/// A rare search's page read after the indexer moved the search mark on
/// since the search was counted: its candidates above the mark of the count
/// are read from the side table and again from the table, and each record
/// is on the page once, as the naive SQL has it (twice without the
/// `DISTINCT`s).
#[test]
fn a_rare_search_read_after_the_mark_moved_has_each_record_once() {
    let now = Timestamp::now();
    let Some((url, _log, _turn)) = explained_database(|url| {
        fill(url, now);
        PgMaintenance::connect(url).unwrap().catch_up_search().unwrap();
    }) else {
        return;
    };
    let mut sql = client(&url);
    sql.batch_execute("VACUUM ANALYZE log_records, log_search").unwrap();
    let store = PgStore::connect(&url).unwrap();
    let mut f = RecordFilter::default();
    f.text = Some("quasar".into());
    let naive = |sql: &mut Client| -> Vec<i64> {
        sql.query("SELECT id FROM log_records WHERE message ILIKE '%quasar%' ORDER BY ts DESC, id DESC", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    // Counted (5 candidates): rare from now on.
    let first = store.records(&f, PageAt::Newest, 50).unwrap();
    assert_eq!(first.records.iter().map(|r| r.id).collect::<Vec<_>>(), naive(&mut sql));
    // Two more, indexed: the mark moves past them.
    let mut sink = PgSink::connect(&url).unwrap();
    let origin = Origin::new("probes", "h", 1);
    let batch: Vec<Record> =
        (0..2).map(|i| Record::new(Level::Info, "api::http", format!("quasar late {i}"))).collect();
    sink.write(&Batch::new(&origin, &batch)).unwrap();
    drop(sink);
    PgMaintenance::connect(&url).unwrap().catch_up_search().unwrap();
    let want = naive(&mut sql);
    assert_eq!(want.len(), 7);
    for (at, limit) in [(PageAt::Newest, 50), (PageAt::Newest, 1), (PageAt::Older(Cursor::of(&first.records[0])), 50)] {
        let page = store.records(&f, at, limit).unwrap();
        let got: Vec<i64> = page.records.iter().map(|r| r.id).collect();
        let expected: Vec<i64> = match at {
            PageAt::Older(_) => want.iter().skip(3).take(limit).copied().collect(),
            _ => want.iter().take(limit).copied().collect(),
        };
        assert_eq!(got, expected, "at {at:?} ({limit})");
    }
}
