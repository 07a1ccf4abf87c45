//! `SqliteStore` against a model computed in Rust: every filter and
//! combinations, keyset pages walked both ways (also under a writer),
//! search while the index lags and after it caught up, requests, cards,
//! histograms, call sites, prune and retention (aggregates checked against
//! a rebuild), errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use log_panel_core::{severity, Batch, Level, Origin, Record, Sink, Timestamp};
use log_panel_query::{
    CardFilter, CardsQuery, Cursor, FieldMatch, FieldRange, FieldValue, LoggerMatch, PageAt, RangeOp, RecordFilter,
    Slots, DAY, HOUR, QUARTER_HOUR,
};
use log_panel_query::{LevelCounts, Maintenance, Store, StoreErrorKind, StoredRecord};
use log_panel_sqlite::{Options, SqliteMaintenance, SqliteSink, SqliteStore};
use rusqlite::Connection;
use serde_json::json;

/// 2026-11-20T00:00:00Z.
const BASE: i64 = 1_795_132_800 * 1_000_000;
const LEVELS: [Level; 5] = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error];
const LOGGERS: [&str; 6] = ["app", "app::db", "app::db::pool", "appx", "billing::payments", "hyper"];
const WORDS: [&str; 12] = [
    "payment accepted",
    "Payment FAILED for card",
    "connection reset by peer",
    "cache miss",
    "user \"admin\" logged in",
    "été chaud à Paris",
    "ÉTÉ FROID",
    "query took 120ms",
    "AND OR NOT near(*)",
    "disk almost full",
    "retrying in 5s",
    "ab",
];

use log_panel_query::conformance::{self, Rng};
use log_panel_testing::{records, sqlite};

/// A stored row as the model sees it.
#[derive(Clone, Debug)]
struct Row {
    id: i64,
    ts: i64,
    level: Level,
    logger: String,
    message: String,
    file: Option<String>,
    line: Option<u32>,
    app: String,
    host: String,
    pid: u32,
    context: serde_json::Map<String, serde_json::Value>,
    /// What the store returns for it, for the reference filter (`RecordFilter::keeps`).
    stored: StoredRecord,
}

fn origins() -> [Origin; 3] {
    [Origin::new("api", "h1", 10), Origin::new("worker", "h1", 11), Origin::new("api", "h2", 12)]
}

/// Writes `n` mixed records (over 3 days from BASE) in batches, returning the model.
fn fill(sink: &mut SqliteSink, rng: &mut Rng, n: usize, first_id: i64, span: i64) -> Vec<Row> {
    fill_from(sink, rng, n, first_id, BASE, span)
}

/// `n` records over `span` micros from `start`, numbered from `first_id`
/// in the order they are written.
fn fill_from(sink: &mut SqliteSink, rng: &mut Rng, n: usize, first_id: i64, start: i64, span: i64) -> Vec<Row> {
    let origins = origins();
    let gens = records::generate(rng, &LOGGERS, &WORDS, first_id as u64, n, start, span);
    records::write(sink, &origins, &gens);
    let mut model = Vec::new();
    for (o, batch) in records::batches(&gens) {
        let o = &origins[o];
        for g in batch {
            let id = first_id + model.len() as i64;
            let r = &g.record;
            let stored = conformance::stored(id, o, r).unwrap();
            model.push(Row {
                id,
                ts: r.timestamp.0,
                level: r.level,
                logger: r.logger.to_string(),
                message: r.message.to_string(),
                file: r.file.as_deref().map(str::to_owned),
                line: r.line,
                app: o.app.to_string(),
                host: o.host.to_string(),
                pid: o.pid,
                context: stored.context.clone(),
                stored,
            });
        }
    }
    model
}

/// The ids `filter` keeps, newest first.
fn expected(model: &[Row], f: &RecordFilter) -> Vec<i64> {
    let mut rows: Vec<&Row> = model.iter().filter(|r| f.keeps(&r.stored)).collect();
    rows.sort_by_key(|r| std::cmp::Reverse((r.ts, r.id)));
    rows.iter().map(|r| r.id).collect()
}

/// Every page older from the newest, then every page newer back up; checks
/// the cursors on the way. Returns the ids walked down.
fn walk(store: &SqliteStore, f: &RecordFilter, limit: usize) -> Vec<i64> {
    let mut down = Vec::new();
    let mut pages = Vec::new();
    let mut page = store.records(f, PageAt::Newest, limit).unwrap();
    assert!(page.newer.is_none());
    loop {
        assert!(page.records.len() <= limit);
        down.extend(page.records.iter().map(|r| r.id));
        pages.push(page.records.iter().map(|r| r.id).collect::<Vec<_>>());
        match page.older {
            Some(c) => {
                assert_eq!(Some(c), page.records.last().map(Cursor::of));
                page = store.records(f, PageAt::Older(c), limit).unwrap();
                assert!(!page.records.is_empty(), "an older cursor leads to records");
                assert_eq!(page.newer, page.records.first().map(Cursor::of), "newer rows exist above an older page");
            }
            None => break,
        }
    }
    // Back up: newer pages from the oldest page's first record.
    let mut up: Vec<i64> = pages.last().unwrap().clone();
    let mut at = page.newer;
    while let Some(c) = at {
        let p = store.records(f, PageAt::Newer(c), limit).unwrap();
        assert!(!p.records.is_empty());
        assert!(p.older.is_some(), "a newer page has older records below it");
        let mut ids: Vec<i64> = p.records.iter().map(|r| r.id).collect();
        ids.extend(up);
        up = ids;
        at = p.newer;
    }
    assert_eq!(up, down, "walking newer pages back up gives the same rows");
    down
}

fn open_filled(dir: &Path, n: usize) -> (SqliteSink, Vec<Row>) {
    let mut sink = SqliteSink::open(dir.join("logs.db")).unwrap();
    let model = fill(&mut sink, &mut Rng(0x5eed), n, 1, 3 * DAY);
    (sink, model)
}

/// Runs idle steps until the indexes caught up, calling `check(lag)` at
/// the first lag and then every ~450 rows of lag (an idle step's size
/// follows the machine's pace, so the steps here are `index_some`'s);
/// returns the lags checked.
fn at_lags(store: &SqliteStore, sink: &mut SqliteSink, check: impl Fn(u64)) -> Vec<u64> {
    let mut lags: Vec<u64> = Vec::new();
    loop {
        let lag = store.unindexed().unwrap();
        if lags.last().is_none_or(|last| last - lag >= 450) {
            lags.push(lag);
            check(lag);
        }
        // 500 records a step: an idle step's size depends on the machine's speed.
        if !sink.index_some(500).unwrap() {
            return lags;
        }
    }
}

fn catch_up(sink: &mut SqliteSink) -> usize {
    let mut steps = 1;
    while sink.idle().unwrap() {
        steps += 1;
    }
    steps
}

fn filters() -> Vec<RecordFilter> {
    let mut out = vec![RecordFilter::default()];
    let mut push = |edit: &dyn Fn(&mut RecordFilter)| {
        let mut f = RecordFilter::default();
        edit(&mut f);
        out.push(f);
    };
    push(&|f| f.logger = Some(LoggerMatch::Exact("app::db".into())));
    push(&|f| f.logger = Some(LoggerMatch::Tree("app".into())));
    push(&|f| f.logger = Some(LoggerMatch::Tree("app::db".into())));
    push(&|f| f.logger = Some("billing::*".parse().unwrap()));
    push(&|f| f.min_level = Some(Level::Warn));
    push(&|f| f.levels = vec![Level::Debug, Level::Error]);
    push(&|f| f.since = Some(Timestamp(BASE + DAY)));
    push(&|f| f.until = Some(Timestamp(BASE + DAY / 2)));
    push(&|f| {
        f.since = Some(Timestamp(BASE + DAY));
        f.until = Some(Timestamp(BASE + DAY + 7 * HOUR + 123));
    });
    push(&|f| f.app = Some("worker".into()));
    push(&|f| f.host = Some("h2".into()));
    push(&|f| f.pid = Some(10));
    for t in ["payment", "PAYMENT", "été", "ÉTÉ", "ab", "\"admin\"", "near(*)", "AND OR", "zzz-none", "5"] {
        push(&|f| f.text = Some(t.into()));
    }
    for m in ["request_id=r-7", "user_id=3", "user_id=true", "user_id=1.5", "weird key\"=x", "user_id=nope"] {
        push(&|f| f.fields.push(m.parse().unwrap()));
    }
    push(&|f| f.fields.push(FieldMatch::new("user_id", FieldValue::Int(2)).unwrap()));
    push(&|f| f.fields.push(FieldMatch::new("user_id", FieldValue::Str("2".into())).unwrap()));
    // Combinations.
    push(&|f| {
        f.logger = Some(LoggerMatch::Tree("app".into()));
        f.min_level = Some(Level::Info);
        f.app = Some("api".into());
    });
    push(&|f| {
        f.text = Some("payment".into());
        f.min_level = Some(Level::Warn);
        f.host = Some("h1".into());
        f.since = Some(Timestamp(BASE + HOUR * 5));
    });
    push(&|f| {
        f.fields.push("request_id=r-3".parse().unwrap());
        f.fields.push("user_id=1".parse().unwrap());
        f.levels = vec![Level::Info, Level::Warn, Level::Error, Level::Trace];
    });
    push(&|f| {
        f.logger = Some(LoggerMatch::Exact("hyper".into()));
        f.text = Some("ab".into());
        f.pid = Some(12);
    });
    out
}

#[test]
fn every_filter_and_combination_pages_exactly_the_matching_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, model) = open_filled(dir.path(), 3_000);
    // Half indexed: searches must merge the index and the scanned tail.
    assert!(sink.index_some(1_500).unwrap());
    let store = SqliteStore::open(sink.path()).unwrap();
    assert!(store.unindexed().unwrap() > 0, "the test wants a lagging index");
    for (i, f) in filters().iter().enumerate() {
        let want = expected(&model, f);
        assert_eq!(walk(&store, f, 97), want, "filter {i}: {f:?}");
    }
    catch_up(&mut sink);
    assert_eq!(store.unindexed().unwrap(), 0);
    for (i, f) in filters().iter().enumerate() {
        let want = expected(&model, f);
        assert!(!want.is_empty() || f.text.as_deref() == Some("zzz-none") || i > 0, "filter {i} keeps something");
        assert_eq!(walk(&store, f, 250), want, "filter {i} (index caught up): {f:?}");
    }
    // Whole records come back as written.
    let r = store.record(model[41].id).unwrap().unwrap();
    let m = &model[41];
    assert_eq!((r.ts.0, r.level, r.logger.as_str(), &r.message), (m.ts, m.level, m.logger.as_str(), &m.message));
    assert_eq!(
        (r.app.as_str(), r.host.as_str(), r.pid, r.file.as_deref(), r.line),
        (&*m.app, &*m.host, m.pid, m.file.as_deref(), m.line)
    );
    assert_eq!(r.context, m.context);
    assert!(store.record(999_999).unwrap().is_none());
}

#[test]
fn search_equals_a_full_scan_at_every_lag() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SqliteSink::open(dir.path().join("logs.db")).unwrap();
    let model = fill(&mut sink, &mut Rng(7), 9_000, 1, DAY);
    let store = SqliteStore::open(sink.path()).unwrap();
    let terms = [
        "payment",
        "Payment FAILED",
        "FAILED",
        "failed for",
        "reset by",
        "miss",
        "\"admin\"",
        "admin\" logged",
        "été",
        "ÉTÉ",
        "Été chaud",
        "froid",
        "120ms",
        "AND OR NOT",
        "near(*)",
        "*",
        "ab",
        "a",
        "#1",
        "#12",
        "s #4",
        "xyz",
        "' OR 1=1 --",
        "%",
        "_",
    ];
    let check = |lag: u64| {
        for t in terms {
            let mut f = RecordFilter::default();
            f.text = Some(t.into());
            let want = expected(&model, &f);
            let got: Vec<i64> =
                store.records(&f, PageAt::Newest, 100_000).unwrap().records.iter().map(|r| r.id).collect();
            assert_eq!(got, want, "term {t:?} with {lag} rows unindexed");
        }
    };
    let lags = at_lags(&store, &mut sink, check);
    check(0);
    assert_eq!(lags.first(), Some(&9_000));
    assert!(lags.len() >= 4, "several intermediate lags were checked: {lags:?}");
    assert_eq!(store.unindexed().unwrap(), 0);
    let check: rusqlite::Result<usize> =
        sink.connection().execute("INSERT INTO log_records_fts (log_records_fts) VALUES ('integrity-check')", []);
    check.unwrap();
}

/// The index holds which records contain a trigram, not where: a message
/// holding every trigram of a term, but apart, is a candidate the search
/// drops, in one page and in pages walked both ways.
#[test]
fn a_message_holding_a_terms_trigrams_apart_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SqliteSink::open(dir.path().join("logs.db")).unwrap();
    let origin = Origin::new("a", "h", 1);
    // "abcd" has the trigrams "abc" and "bcd"; only the last 400 hold it.
    let records: Vec<Record> = (0..1_600)
        .map(|i| {
            let message = if i < 1_200 { format!("xbcd {i} abc") } else { format!("an ABCD {i}") };
            Record::new(Level::Info, "t", message)
        })
        .collect();
    sink.write(&Batch::new(&origin, &records)).unwrap();
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut f = RecordFilter::default();
    f.text = Some("abcd".into());
    let found = |store: &SqliteStore| -> Vec<i64> {
        store.records(&f, PageAt::Newest, 10_000).unwrap().records.iter().map(|r| r.id).collect()
    };
    let want: Vec<i64> = (1_201..=1_600).rev().collect();
    assert_eq!(found(&store), want, "all unindexed: the scan");
    catch_up(&mut sink);
    assert_eq!(store.unindexed().unwrap(), 0);
    let candidates: i64 = sink
        .connection()
        .query_row("SELECT count(*) FROM log_records_fts WHERE log_records_fts MATCH '\"abc\" AND \"bcd\"'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(candidates, 1_600, "the index alone cannot tell them apart");
    assert_eq!(found(&store), want, "all indexed: the index, each candidate checked");
    let mut upper = RecordFilter::default();
    upper.text = Some("ABCD".into());
    assert_eq!(walk(&store, &upper, 50), want, "pages of 50 both ways");
}

#[test]
fn pages_stay_continuous_while_a_writer_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, model) = open_filled(dir.path(), 2_000);
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut f = RecordFilter::default();
    f.min_level = Some(Level::Debug);
    let want = expected(&model, &f);
    // The first page before the writer starts: its rows are newer than every
    // stored one, so none can land below a position the walk has passed (on a
    // loaded machine the writer used to get a few batches in first, and a
    // later batch then fell between rows already walked).
    let mut first = store.records(&f, PageAt::Newest, 50).unwrap();
    let writer = std::thread::spawn(move || {
        // Newer records (later timestamps) keep arriving during the walk.
        let mut rng = Rng(99);
        let extra = fill_from(&mut sink, &mut rng, 3_000, 2_001, BASE + 4 * DAY, DAY);
        (sink, extra)
    });
    // Pin the walk to the rows present at its start: walk older from the first page.
    let first_ids: Vec<i64> = first.records.iter().map(|r| r.id).collect();
    let mut got = first_ids.clone();
    while let Some(c) = first.older {
        first = store.records(&f, PageAt::Older(c), 50).unwrap();
        got.extend(first.records.iter().map(|r| r.id));
    }
    let (_sink, extra) = writer.join().unwrap();
    let mut all = model.clone();
    all.extend(extra);
    let every = expected(&all, &f);
    // What was walked is exactly the rows at or below the first page's top, in order.
    let top = every.iter().position(|id| *id == got[0]).unwrap();
    assert_eq!(got, every[top..].to_vec());
    assert!(got.len() >= want.len());
    // And the final state walks completely both ways.
    assert_eq!(walk(&store, &f, 128), every);
}

#[test]
fn related_tail_and_loggers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, model) = open_filled(dir.path(), 1_500);
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut want: Vec<&Row> = model.iter().filter(|r| r.context.get("request_id") == Some(&json!("r-5"))).collect();
    want.sort_by_key(|r| (r.ts, r.id));
    let got = store.related("request_id", &FieldValue::Text("r-5".into()), 1_000).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), want.iter().map(|r| r.id).collect::<Vec<_>>());
    let apps: std::collections::BTreeSet<&str> = got.iter().map(|r| r.app.as_str()).collect();
    assert!(apps.len() >= 2, "a request spans apps: {apps:?}");
    assert_eq!(store.related("request_id", &FieldValue::Text("r-5".into()), 3).unwrap().len(), 3);
    let by_int = store.related("user_id", &FieldValue::Int(3), 10_000).unwrap();
    assert_eq!(by_int.len(), model.iter().filter(|r| r.context.get("user_id") == Some(&json!(3))).count());
    assert!(store.related("", &FieldValue::Text("x".into()), 1).is_err());

    let mut f = RecordFilter::default();
    f.logger = Some(LoggerMatch::Tree("app".into()));
    let last: Vec<i64> = store.tail(&f, None, 10).unwrap().iter().map(|r| r.id).collect();
    let mut ids: Vec<i64> = model.iter().filter(|r| f.keeps(&r.stored)).map(|r| r.id).collect();
    assert_eq!(last, ids[ids.len() - 10..].to_vec());
    let after = ids[ids.len() - 30];
    let next: Vec<i64> = store.tail(&f, Some(after), 100).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(next, ids.split_off(ids.len() - 29));
    let extra = fill(&mut sink, &mut Rng(3), 100, 1_501, HOUR);
    let newer: Vec<i64> = store.tail(&f, last.last().copied(), 1_000).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(newer, extra.iter().filter(|r| f.keeps(&r.stored)).map(|r| r.id).collect::<Vec<_>>());
    assert_eq!(store.loggers().unwrap(), LOGGERS.to_vec());
}

fn counts(model: &[Row], f: impl Fn(&Row) -> bool) -> LevelCounts {
    let mut c = LevelCounts::default();
    model.iter().filter(|r| f(r)).for_each(|r| c.add(r.level));
    c
}

#[test]
fn cards_equal_counts_from_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, model) = open_filled(dir.path(), 4_000);
    let store = SqliteStore::open(sink.path()).unwrap();
    let now = Timestamp(BASE + 2 * DAY + 5 * HOUR + 20 * 60_000_000 + 17);
    for slots in [
        Slots::hours_until(now, 24).unwrap(),
        Slots::days_until(now, 19_800, 4).unwrap(), // UTC+5:30: quarter-hour buckets
        Slots::days_until(now, -8 * 3600, 4).unwrap(),
    ] {
        let mut q = CardsQuery::new(slots.clone(), now);
        q.limit = 100;
        let cards = store.cards(&q).unwrap();
        assert_eq!(cards.matching, LOGGERS.len());
        for card in &cards.cards {
            let mine: Vec<&Row> = model.iter().filter(|r| r.logger == card.logger).collect();
            assert_eq!(card.totals.total, mine.len() as u64);
            assert_eq!(card.totals.errors, mine.iter().filter(|r| r.level == Level::Error).count() as u64);
            assert_eq!(card.totals.warnings, mine.iter().filter(|r| r.level == Level::Warn).count() as u64);
            assert_eq!(card.totals.first.0, mine.iter().map(|r| r.ts).min().unwrap());
            assert_eq!(card.totals.last.0, mine.iter().map(|r| r.ts).max().unwrap());
            // The quarters overlapping [now − 1 h, now): 04:15 to 05:30 (now is 05:20:00.000017).
            let (from, to) = (BASE + 2 * DAY + 4 * HOUR + QUARTER_HOUR, BASE + 2 * DAY + 5 * HOUR + 2 * QUARTER_HOUR);
            assert_eq!(card.last_hour, counts(&model, |r| r.logger == card.logger && r.ts >= from && r.ts < to));
            for (i, c) in card.slots.iter().enumerate() {
                let (a, b) = slots.slot(i).unwrap();
                assert_eq!(*c, counts(&model, |r| r.logger == card.logger && r.ts >= a.0 && r.ts < b.0), "slot {i}");
            }
        }
    }
    // Name filter (case-insensitive), paging, Errors judged on the span.
    let slots = Slots::ending_at(Timestamp(BASE + 6 * HOUR), HOUR, 2).unwrap();
    let mut q = CardsQuery::new(slots.clone(), now);
    q.name = Some("APP".into());
    q.offset = 1;
    q.limit = 2;
    let page = store.cards(&q).unwrap();
    assert_eq!(page.matching, 4);
    assert_eq!(page.cards.iter().map(|c| c.logger.as_str()).collect::<Vec<_>>(), ["app::db", "app::db::pool"]);
    let mut q = CardsQuery::new(slots.clone(), now);
    q.filter = CardFilter::Errors;
    q.limit = 100;
    let with_errors: Vec<String> = store.cards(&q).unwrap().cards.into_iter().map(|c| c.logger).collect();
    let want: Vec<String> = LOGGERS
        .iter()
        .filter(|l| counts(&model, |r| r.logger == **l && r.ts >= slots.start().0 && r.ts < slots.end().0).error > 0)
        .map(|l| l.to_string())
        .collect();
    assert_eq!(with_errors, want);
    q.filter = CardFilter::Warnings;
    assert!(store.cards(&q).unwrap().matching >= want.len());
    // Unaligned slots cannot come from the aggregates.
    let odd = Slots::new(vec![Timestamp(BASE + 7), Timestamp(BASE + HOUR)]).unwrap();
    assert_eq!(store.cards(&CardsQuery::new(odd, now)).unwrap_err().kind(), StoreErrorKind::BadFilter);
}

#[test]
fn histograms_from_aggregates_and_from_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, model) = open_filled(dir.path(), 3_000);
    let store = SqliteStore::open(sink.path()).unwrap();
    let quarter = Slots::ending_at(Timestamp(BASE + DAY), QUARTER_HOUR * 3, 20).unwrap();
    let hourly = Slots::ending_at(Timestamp(BASE + 2 * DAY), HOUR, 30).unwrap();
    let odd = Slots::ending_at(Timestamp(BASE + DAY + 12_345), 7 * 60_000_000, 40).unwrap();
    let mut fs = filters();
    let mut narrowed = RecordFilter::default();
    narrowed.since = Some(Timestamp(BASE + DAY - 2 * HOUR + 1));
    narrowed.logger = Some(LoggerMatch::Tree("app::db".into()));
    fs.push(narrowed);
    for f in &fs {
        for slots in [&quarter, &hourly, &odd] {
            let h = store.histogram(f, slots).unwrap();
            assert!(h.complete);
            for (i, c) in h.slots.iter().enumerate() {
                let (a, b) = slots.slot(i).unwrap();
                assert_eq!(*c, counts(&model, |r| f.keeps(&r.stored) && r.ts >= a.0 && r.ts < b.0), "{f:?} slot {i}");
            }
        }
    }
}

#[test]
fn call_sites_group_by_logger_file_line() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, model) = open_filled(dir.path(), 2_000);
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut f = RecordFilter::default();
    f.since = Some(Timestamp(BASE + DAY));
    f.min_level = Some(Level::Info);
    let sites = store.call_sites(&f, 5).unwrap();
    assert_eq!(sites.len(), 5);
    type Site<'a> = (&'a str, Option<&'a str>, Option<u32>);
    let mut groups: std::collections::HashMap<Site<'_>, Vec<&Row>> = Default::default();
    for r in model.iter().filter(|r| f.keeps(&r.stored)) {
        groups.entry((&r.logger, r.file.as_deref(), r.line)).or_default().push(r);
    }
    let mut sizes: Vec<usize> = groups.values().map(Vec::len).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sites.iter().map(|s| s.counts.total() as usize).collect::<Vec<_>>(), sizes[..5].to_vec());
    for s in &sites {
        let rows = &groups[&(s.logger.as_str(), s.file.as_deref(), s.line)];
        let mut c = LevelCounts::default();
        rows.iter().for_each(|r| c.add(r.level));
        assert_eq!(s.counts, c);
        let newest = rows.iter().max_by_key(|r| (r.ts, std::cmp::Reverse(r.id))).unwrap();
        assert_eq!(s.last_seen.0, newest.ts);
        assert!(rows.iter().any(|r| r.ts == newest.ts && r.message == s.example));
        assert!(c.trace == 0 && c.debug == 0);
    }
}

/// A call site with its counts and newest time.
type SiteSummary = (String, Option<String>, Option<u32>, LevelCounts, i64);

/// The call sites `f` keeps, from the model: counts and newest time,
/// sorted by logger, file, line.
fn model_sites(model: &[Row], f: &RecordFilter) -> Vec<SiteSummary> {
    type Site<'a> = (&'a str, Option<&'a str>, Option<u32>);
    let mut groups: std::collections::BTreeMap<Site<'_>, (LevelCounts, i64)> = Default::default();
    for r in model.iter().filter(|r| f.keeps(&r.stored)) {
        let g = groups.entry((&r.logger, r.file.as_deref(), r.line)).or_insert((LevelCounts::default(), i64::MIN));
        g.0.add(r.level);
        g.1 = g.1.max(r.ts);
    }
    groups
        .into_iter()
        .map(|((l, file, line), (c, last))| (l.to_owned(), file.map(str::to_owned), line, c, last))
        .collect()
}

#[test]
fn call_sites_over_whole_hours_read_the_site_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, model) = open_filled(dir.path(), 3_000);
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut cases = Vec::new();
    for (since, until) in [
        (None, None),
        (Some(BASE + DAY + 1), None),
        (Some(BASE + DAY), Some(BASE + 2 * DAY)),
        (Some(BASE + 7 * 60_000_000), Some(BASE + DAY + 3 * HOUR + 59_999_999)),
        (None, Some(BASE + DAY + 30 * 60_000_000)),
        (Some(BASE + HOUR + 1), Some(BASE + 2 * HOUR - 1)),
    ] {
        for logger in [None, Some(LoggerMatch::Tree("app::db".into())), Some(LoggerMatch::Exact("app".into()))] {
            let mut f = RecordFilter::default();
            f.since = since.map(Timestamp);
            f.until = until.map(Timestamp);
            f.logger = logger;
            cases.push(f);
        }
    }
    for f in &cases {
        let mut sites: Vec<_> = store.call_sites(f, 1_000).unwrap();
        assert!(sites.windows(2).all(|w| w[0].counts.total() >= w[1].counts.total()), "{f:?}");
        for s in &sites {
            assert!(
                model.iter().any(|r| f.keeps(&r.stored)
                    && r.logger == s.logger
                    && r.file == s.file
                    && r.line == s.line
                    && r.ts == s.last_seen.0
                    && r.message == s.example),
                "{f:?}: the example is a newest record of {s:?}"
            );
        }
        sites.sort_by(|a, b| (&a.logger, &a.file, a.line).cmp(&(&b.logger, &b.file, b.line)));
        let got: Vec<_> = sites.into_iter().map(|s| (s.logger, s.file, s.line, s.counts, s.last_seen.0)).collect();
        assert_eq!(got, model_sites(&model, f), "{f:?}");
    }
    // The whole hours come from the aggregates (a site hour counted 1 000
    // more there shows), the partial ones from the rows.
    sink.connection()
        .execute(
            "UPDATE log_site_hourly SET info = info + 1000
             WHERE (hour, logger, file_key, line_key) = (
                 SELECT hour, logger, file_key, line_key FROM log_site_hourly WHERE hour >= ?1 ORDER BY 1, 2, 3, 4 LIMIT 1)",
            [Timestamp(BASE + DAY).to_rfc3339()],
        )
        .unwrap();
    let total = |since: i64, until: i64| {
        let mut f = RecordFilter::default();
        f.since = Some(Timestamp(since));
        f.until = Some(Timestamp(until));
        store.call_sites(&f, 1_000).unwrap().iter().map(|s| s.counts.total()).sum::<u64>()
    };
    let model_total = |since: i64, until: i64| model.iter().filter(|r| r.ts >= since && r.ts < until).count() as u64;
    assert_eq!(total(BASE + DAY, BASE + DAY + 3 * HOUR), model_total(BASE + DAY, BASE + DAY + 3 * HOUR) + 1000);
    assert_eq!(total(BASE + DAY + 1, BASE + DAY + HOUR - 1), model_total(BASE + DAY + 1, BASE + DAY + HOUR - 1));
}

/// The call sites of `[since, until)` by a `GROUP BY` typed over the rows:
/// logger, file, line, the five counts and the newest time, in that order.
fn sites_by_hand(conn: &Connection, since: Option<i64>, until: Option<i64>) -> Vec<Vec<rusqlite::types::Value>> {
    let since = since.map_or_else(|| "0".to_owned(), |t| Timestamp(t).to_rfc3339());
    let until = until.map_or_else(|| "9".to_owned(), |t| Timestamp(t).to_rfc3339());
    table(
        conn,
        &format!(
            "SELECT logger, file, line, sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30),
                    sum(level = 40), max(ts)
             FROM log_records WHERE ts >= '{since}' AND ts < '{until}'
             GROUP BY logger, file, line ORDER BY logger, file, line"
        ),
    )
}

/// [`Store::call_sites`] of `[since, until)` in the shape of [`sites_by_hand`].
/// The records the call sites of `since..until` count, summed over every site.
fn sites_total(store: &SqliteStore, since: i64, until: i64) -> i64 {
    sites_read(store, Some(since), Some(until))
        .iter()
        .map(|r| r[3..8].iter().map(|v| if let rusqlite::types::Value::Integer(n) = v { *n } else { 0 }).sum::<i64>())
        .sum()
}

/// The records stored in `since..until`, counted by hand.
fn records_between(conn: &Connection, since: i64, until: i64) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM log_records WHERE ts >= ?1 AND ts < ?2",
        [Timestamp(since).to_rfc3339(), Timestamp(until).to_rfc3339()],
        |r| r.get(0),
    )
    .unwrap()
}

fn sites_read(store: &SqliteStore, since: Option<i64>, until: Option<i64>) -> Vec<Vec<rusqlite::types::Value>> {
    use rusqlite::types::Value;
    let mut f = RecordFilter::default();
    f.since = since.map(Timestamp);
    f.until = until.map(Timestamp);
    let mut sites = store.call_sites(&f, 10_000).unwrap();
    sites.sort_by(|a, b| (&a.logger, &a.file, a.line).cmp(&(&b.logger, &b.file, b.line)));
    let text = |s: Option<String>| s.map_or(Value::Null, Value::Text);
    sites
        .into_iter()
        .map(|s| {
            let c = s.counts;
            let mut row =
                vec![Value::Text(s.logger), text(s.file), s.line.map_or(Value::Null, |l| Value::Integer(l.into()))];
            row.extend([c.trace, c.debug, c.info, c.warn, c.error].map(|n| Value::Integer(n as i64)));
            row.push(Value::Text(s.last_seen.to_rfc3339()));
            row
        })
        .collect()
}

/// Call sites over several days (whole days from `log_site_daily`, whole
/// hours at their ends from `log_site_hourly`, the partial hours from the
/// rows) equal a `GROUP BY` over the rows, for ranges with unaligned ends,
/// before and after a prune that cuts a day and an hour in two.
#[test]
fn call_sites_over_days_equal_a_group_by_over_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, _) = open_filled(dir.path(), 4_000);
    let store = SqliteStore::open(sink.path()).unwrap();
    let minute = 60_000_000;
    let ranges = [
        (None, None),
        (Some(BASE + 7 * minute + 3), None),
        (None, Some(BASE + 2 * DAY + 5 * HOUR + 11 * minute)),
        (Some(BASE + 7 * minute + 3), Some(BASE + 2 * DAY + 5 * HOUR + 11 * minute)),
        (Some(BASE + 23 * HOUR + 59 * minute), Some(BASE + 2 * DAY + 1)),
        (Some(BASE + DAY), Some(BASE + 3 * DAY)),
        (Some(BASE + 5 * HOUR), Some(BASE + DAY + 5 * HOUR)),
    ];
    let check = |when: &str| {
        for (since, until) in ranges {
            let want = sites_by_hand(sink.connection(), since, until);
            assert!(!want.is_empty(), "{when}: {since:?}..{until:?} holds records");
            assert_eq!(sites_read(&store, since, until), want, "{when}: {since:?}..{until:?}");
        }
    };
    check("as written");
    // The whole days come from the day table: a site day counted 1 000 more there shows.
    count_1000_more(sink.connection(), "log_site_daily", "day", BASE + DAY);
    let total = |since: i64, until: i64| sites_total(&store, since, until);
    let rows = |since: i64, until: i64| records_between(sink.connection(), since, until);
    assert_eq!(total(BASE + HOUR + 1, BASE + 2 * DAY + 1), rows(BASE + HOUR + 1, BASE + 2 * DAY + 1) + 1000);
    // A range holding no whole day does not read it.
    assert_eq!(total(BASE + DAY + 1, BASE + 2 * DAY), rows(BASE + DAY + 1, BASE + 2 * DAY));
    SqliteMaintenance::open(sink.path()).unwrap().rebuild().unwrap();
    check("rebuilt");
    let maintenance = SqliteMaintenance::open(sink.path()).unwrap();
    maintenance.prune(Timestamp(BASE + DAY + 3 * HOUR + 17 * minute + 5), 300, false).unwrap();
    check("pruned");
    let pruned = table(sink.connection(), "SELECT * FROM log_site_daily ORDER BY 1, 2, 3, 4");
    maintenance.rebuild().unwrap();
    assert_eq!(pruned, table(sink.connection(), "SELECT * FROM log_site_daily ORDER BY 1, 2, 3, 4"));
}

/// Call sites over weeks (whole ISO weeks from `log_site_weekly`, whole
/// days at their ends from `log_site_daily`, whole hours at theirs from
/// `log_site_hourly`, the partial hours from the rows) equal a `GROUP BY`
/// over the rows, for random spans over 40 days (partial weeks, days and
/// hours at both ends), before and after a prune that cuts a week, a day and
/// an hour in two; the pruned weekly rows are the rebuilt ones.
#[test]
fn call_sites_over_weeks_equal_a_group_by_over_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SqliteSink::open(dir.path().join("logs.db")).unwrap();
    // BASE is a Friday: 40 days hold five Mondays.
    fill(&mut sink, &mut Rng(0x3eec), 5_000, 1, 40 * DAY);
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut rng = Rng(0x5a17);
    let mut ranges: Vec<(Option<i64>, Option<i64>)> = vec![(None, None)];
    for _ in 0..24 {
        let a = BASE + rng.below(20 * DAY as u64) as i64;
        let b = a + rng.below(20 * DAY as u64) as i64 + HOUR;
        ranges.push((Some(a), Some(b)));
    }
    ranges.extend([(Some(BASE + 5 * DAY + 17), None), (None, Some(BASE + 24 * DAY + 3 * HOUR + 5))]);
    let check = |when: &str| {
        for &(since, until) in &ranges {
            let want = sites_by_hand(sink.connection(), since, until);
            assert_eq!(sites_read(&store, since, until), want, "{when}: {since:?}..{until:?}");
        }
    };
    check("as written");
    // The whole weeks come from the week table: a site week counted 1 000
    // more there shows in a span holding that week, not in one inside it.
    let monday = BASE + 3 * DAY; // 2026-11-23
    count_1000_more(sink.connection(), "log_site_weekly", "week", monday);
    let total = |since: i64, until: i64| sites_total(&store, since, until);
    let rows = |since: i64, until: i64| records_between(sink.connection(), since, until);
    let (a, b) = (monday - DAY - 7, monday + 8 * DAY + 5 * HOUR + 1);
    assert_eq!(total(a, b), rows(a, b) + 1000);
    let (a, b) = (monday + 1, monday + 7 * DAY);
    assert_eq!(total(a, b), rows(a, b));
    let maintenance = SqliteMaintenance::open(sink.path()).unwrap();
    maintenance.rebuild().unwrap();
    check("rebuilt");
    // Wednesday 3:17 of the second week.
    maintenance.prune(Timestamp(monday + 9 * DAY + 3 * HOUR + 17 * 60_000_000 + 5), 300, false).unwrap();
    check("pruned");
    let pruned = table(sink.connection(), "SELECT * FROM log_site_weekly ORDER BY 1, 2, 3, 4");
    maintenance.rebuild().unwrap();
    assert_eq!(pruned, table(sink.connection(), "SELECT * FROM log_site_weekly ORDER BY 1, 2, 3, 4"));
}

/// A call-site list over weeks reads `log_site_weekly` by its key's range
/// (week first), the days and hours at its ends by theirs, and the rows of
/// the partial hours by the `ts` index: no part scans a table.
#[test]
fn call_sites_over_weeks_read_the_week_table_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, _) = open_filled(dir.path(), 200);
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut f = RecordFilter::default();
    // Saturday 2026-11-21 5:00:07 to Wednesday 2026-12-16 9:30: weeks of 11-23 to 12-14.
    f.since = Some(Timestamp(BASE + DAY + 5 * HOUR + 7));
    f.until = Some(Timestamp(BASE + 26 * DAY + 9 * HOUR + 30 * 60_000_000));
    let plan = store.explain_call_sites(&f).unwrap().unwrap();
    for part in [
        "SEARCH log_site_weekly USING PRIMARY KEY (week>? AND week<?)",
        "SEARCH log_site_daily USING PRIMARY KEY (day>? AND day<?)",
        "SEARCH log_site_hourly USING PRIMARY KEY (hour>? AND hour<?)",
        "SEARCH log_records USING INDEX log_records_ts (ts>? AND ts<?)",
    ] {
        assert!(plan.contains(part), "{part}: {plan}");
    }
    assert!(!plan.contains("SCAN"), "{plan}");
    // Within one week: no week table.
    f.until = Some(Timestamp(BASE + 6 * DAY));
    let plan = store.explain_call_sites(&f).unwrap().unwrap();
    assert!(!plan.contains("log_site_weekly"), "{plan}");
    // Not answered by the aggregates (a level dropped): no plan of theirs.
    f.min_level = Some(Level::Warn);
    assert_eq!(store.explain_call_sites(&f).unwrap(), None);
}

/// A list starting in the first half of an hour reads that hour as its
/// site rows in `log_site_hourly` less the rows before the start (the
/// fewer); starting in the second half, as the rows after the start. Both
/// equal a `GROUP BY` over the rows, with an end or none, and the hour's
/// site rows are read only in the first case (a site hour counted 1 000
/// more there shows in it alone).
#[test]
fn call_sites_read_a_start_early_in_its_hour_as_the_hour_less_the_rows_before() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, _) = open_filled(dir.path(), 4_000);
    let store = SqliteStore::open(sink.path()).unwrap();
    let minute = 60_000_000;
    let hour = BASE + DAY + 5 * HOUR;
    let end = hour + 3 * HOUR + 11 * minute;
    let starts = [1, 7 * minute, 30 * minute - 1, 30 * minute, 30 * minute + 1, 59 * minute].map(|m| hour + m);
    for since in starts {
        for until in [None, Some(end), Some(hour + HOUR + 1)] {
            let want = sites_by_hand(sink.connection(), Some(since), until);
            assert!(!want.is_empty(), "{since}..{until:?} holds records");
            assert_eq!(sites_read(&store, Some(since), until), want, "{since}..{until:?}");
        }
    }
    let rows = |since: i64| records_between(sink.connection(), since, end);
    assert!(rows(hour + 7 * minute) > rows(hour + 31 * minute), "records in the hour after its start");
    count_1000_more(sink.connection(), "log_site_hourly", "hour", hour);
    let total = |since: i64| sites_total(&store, since, end);
    assert_eq!(total(hour + 7 * minute), rows(hour + 7 * minute) + 1000);
    assert_eq!(total(hour + 30 * minute - 1), rows(hour + 30 * minute - 1) + 1000);
    assert_eq!(total(hour + 30 * minute), rows(hour + 30 * minute));
    assert_eq!(total(hour + 31 * minute), rows(hour + 31 * minute));
}

/// Counts 1 000 more INFO records in the first site row of the bucket
/// starting at `bucket` in the call-site table `table` (keyed by `column`):
/// a list that reads that row shows them.
fn count_1000_more(conn: &Connection, table: &str, column: &str, bucket: i64) {
    let sql = format!(
        "UPDATE {table} SET info = info + 1000
         WHERE ({column}, logger, file_key, line_key) = (
             SELECT {column}, logger, file_key, line_key FROM {table} WHERE {column} = ?1 ORDER BY 1, 2, 3, 4 LIMIT 1)"
    );
    assert_eq!(conn.execute(&sql, [Timestamp(bucket).to_rfc3339()]).unwrap(), 1, "{table} holds {bucket}");
}

fn table(conn: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect()).unwrap().map(Result::unwrap).collect()
}

fn aggregates(conn: &Connection) -> Vec<Vec<Vec<rusqlite::types::Value>>> {
    [
        "SELECT * FROM log_logger_stats ORDER BY 1",
        "SELECT * FROM log_logger_hourly ORDER BY 1, 2",
        "SELECT * FROM log_logger_quarter ORDER BY 1, 2",
        "SELECT * FROM log_site_hourly ORDER BY 1, 2, 3, 4",
        "SELECT * FROM log_site_daily ORDER BY 1, 2, 3, 4",
        "SELECT * FROM log_site_weekly ORDER BY 1, 2, 3, 4",
    ]
    .iter()
    .map(|sql| table(conn, sql))
    .collect()
}

#[test]
fn prune_keeps_aggregates_and_search_right() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, model) = open_filled(dir.path(), 3_000);
    sink.idle().unwrap(); // part of the index built: both sides of the mark are pruned
    let store = SqliteStore::open(sink.path()).unwrap();
    let maintenance = SqliteMaintenance::open(sink.path()).unwrap();
    let before = Timestamp(BASE + DAY + 3 * HOUR + 11);
    let old = model.iter().filter(|r| r.ts < before.0).count() as u64;
    let dry = maintenance.prune(before, 100, true).unwrap();
    assert_eq!((dry.deleted, dry.batches), (old, old.div_ceil(100)));
    let n: i64 = sink.connection().query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 3_000, "a dry run deletes nothing");
    let report = maintenance.prune(before, 100, false).unwrap();
    assert_eq!(report.deleted, old);
    // At least one transaction per 100 rows; more when one ran long and the prune shortened them.
    assert!(report.batches >= old.div_ceil(100), "{report:?}");
    let kept: Vec<Row> = model.iter().filter(|r| r.ts >= before.0).cloned().collect();
    let after = aggregates(sink.connection());
    maintenance.rebuild().unwrap();
    assert_eq!(after, aggregates(sink.connection()), "pruned aggregates equal a rebuild");
    for t in ["payment", "ÉTÉ", "ab", "reset"] {
        let mut f = RecordFilter::default();
        f.text = Some(t.into());
        assert_eq!(walk(&store, &f, 500), expected(&kept, &f));
    }
    catch_up(&mut sink);
    sink.connection().execute("INSERT INTO log_records_fts (log_records_fts) VALUES ('integrity-check')", []).unwrap();
    assert_eq!(maintenance.prune(before, 100, false).unwrap().deleted, 0);
    assert_eq!(maintenance.prune(before, 0, true).unwrap_err().kind(), StoreErrorKind::BadFilter);
    // Pruning everything empties the stats.
    maintenance.prune(Timestamp(BASE + 10 * DAY), 1_000, false).unwrap();
    assert!(store.loggers().unwrap().is_empty());
    assert!(aggregates(sink.connection()).iter().all(Vec::is_empty));
}

#[test]
fn retention_deletes_expired_records_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut options = Options::default();
    options.retention = Some(Duration::from_secs(3600));
    let mut sink = SqliteSink::open_with(&path, options).unwrap();
    let o = &origins()[0];
    let now = Timestamp::now().0;
    let records: Vec<Record> = (0..5_000)
        .map(|i| {
            let mut r = Record::new(LEVELS[i % 5], LOGGERS[i % 6], format!("m{i}"));
            r.timestamp = Timestamp(if i % 2 == 0 { now - 2 * HOUR - i as i64 } else { now - i as i64 });
            r
        })
        .collect();
    sink.write(&Batch::new(o, &records)).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let count = || {
        store
            .histogram(&RecordFilter::default(), &Slots::ending_at(Timestamp(now + HOUR), DAY, 2).unwrap())
            .unwrap()
            .slots
            .iter()
            .map(LevelCounts::total)
            .sum::<u64>()
    };
    assert_eq!(count(), 5_000);
    assert!(sink.idle().unwrap(), "more expired records remain");
    assert_eq!(count(), 4_000, "one step deletes one batch of 1 000");
    catch_up(&mut sink);
    let left = store.records(&RecordFilter::default(), PageAt::Newest, 10_000).unwrap().records;
    assert_eq!(left.len(), 2_500);
    assert!(left.iter().all(|r| r.ts.0 > now - HOUR));
    let after = aggregates(sink.connection());
    SqliteMaintenance::open(&path).unwrap().rebuild().unwrap();
    assert_eq!(after, aggregates(sink.connection()));
    assert_eq!(store.unindexed().unwrap(), 0);
}

/// Context-key lookups read the side table up to the mark and scan above
/// it: the same records as the model at every lag, for every typed form of
/// a value, any key, a long text (indexed by its prefix) and numeric
/// ranges; after a prune the side table holds exactly the records kept.
#[test]
fn context_lookups_are_complete_at_every_lag() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::default();
    options.index_keys.push("user_id".into());
    let mut sink = SqliteSink::open_with(dir.path().join("logs.db"), options).unwrap();
    let model = fill(&mut sink, &mut Rng(11), 2_500, 1, DAY);
    let store = SqliteStore::open(sink.path()).unwrap();
    assert_eq!(store.indexed_keys().unwrap(), ["request_id", "user_id"]);
    let note = format!("note={}1", "é".repeat(130));
    let lookups: Vec<FieldMatch> =
        ["request_id=r-5", "request_id=r-59", "user_id=3", "user_id=true", "user_id=1.5", "weird key\"=x", &note]
            .iter()
            .map(|t| t.parse().unwrap())
            .chain([
                FieldMatch::new("user_id", FieldValue::Int(3)).unwrap(),
                FieldMatch::new("user_id", FieldValue::Str("3".into())).unwrap(),
            ])
            .collect();
    let side_rows = |sink: &SqliteSink| -> i64 {
        sink.connection().query_row("SELECT count(*) FROM log_context_index", [], |r| r.get(0)).unwrap()
    };
    let check = |store: &SqliteStore, model: &[Row], lag: u64| {
        for m in &lookups {
            let mut f = RecordFilter::default();
            f.fields.push(m.clone());
            let want = expected(model, &f);
            assert!(!want.is_empty(), "{m:?} matches something");
            assert_eq!(walk(store, &f, 64), want, "{m:?} with {lag} rows unindexed");
            let mut related: Vec<i64> = store.related(&m.key, &m.value, 10_000).unwrap().iter().map(|r| r.id).collect();
            related.reverse();
            assert_eq!(related, want, "related {m:?} with {lag} rows unindexed");
        }
        for (op, bound) in [(RangeOp::Ge, 990.0), (RangeOp::Lt, 10.5), (RangeOp::Gt, 499.0)] {
            let mut f = RecordFilter::default();
            f.ranges.push(FieldRange::new("ms", op, bound).unwrap());
            let want = expected(model, &f);
            assert!(!want.is_empty(), "{f:?} matches something");
            assert_eq!(walk(store, &f, 64), want, "{f:?} with {lag} rows unindexed");
        }
    };
    let lags = at_lags(&store, &mut sink, |lag| check(&store, &model, lag));
    assert_eq!(lags.first(), Some(&2_500), "nothing is indexed on the burst path");
    assert!(lags.len() >= 3, "intermediate lags were checked: {lags:?}");
    assert_eq!(store.unindexed().unwrap(), 0);
    // Every top-level key (the sink stores no nested values).
    let carried = |rows: &[Row]| -> i64 {
        rows.iter().map(|r| r.context.values().filter(|v| !v.is_object() && !v.is_array()).count() as i64).sum()
    };
    assert_eq!(side_rows(&sink), carried(&model));

    let before = Timestamp(BASE + DAY / 2);
    SqliteMaintenance::open(sink.path()).unwrap().prune(before, 300, false).unwrap();
    let kept: Vec<Row> = model.iter().filter(|r| r.ts >= before.0).cloned().collect();
    assert_eq!(side_rows(&sink), carried(&kept), "pruned records leave the side table");
    check(&store, &kept, 0);
}

/// The unindexed tail's pre-check (a text every match's JSON holds, tested
/// before `json_extract`) drops no match: values needing JSON escapes,
/// non-ASCII, HTML-sensitive characters, numbers as integers, floats and
/// strings, booleans, under a key a path can name and one it cannot, looked
/// up in every `FieldValue` form, with nothing indexed and after catching up.
#[test]
fn the_tail_pre_check_drops_no_match() {
    use log_panel_core::{Context, Value};
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SqliteSink::open(dir.path().join("logs.db")).unwrap();
    let texts = [
        "r-5",
        "r-5x",
        "a\"b\\c",
        "line\nbreak",
        "tab\tx",
        "path/to/x",
        "<tag>&'+`",
        "é",
        "été chaud",
        "日本",
        "7",
        "007",
        "+7",
        "-0",
        "0",
        "-7",
        "1500",
        "true",
        "false",
        "1.5",
        "",
    ];
    let mut values: Vec<Value> = texts.iter().map(|&t| Value::from(t)).collect();
    values.extend([7, -7, 0, 1_500].map(Value::I64));
    values.extend([1.5, 7.0, -0.0].map(Value::F64));
    values.extend([Value::Bool(true), Value::Bool(false), Value::U64(u64::MAX)]);
    let keys = ["k", "odd \"key\"/é"];
    let origin = Origin::new("api", "h1", 10);
    let mut records = Vec::new();
    for key in keys {
        for v in &values {
            let mut r = Record::new(Level::Info, "app", "m");
            r.context = Context::from_pairs([(key, v.clone()), ("other", Value::from("r-5 7 true"))]);
            records.push(r);
        }
    }
    for (i, r) in records.iter_mut().enumerate() {
        r.timestamp = Timestamp(BASE + i as i64);
    }
    sink.write(&Batch::new(&origin, &records)).unwrap();
    let model: Vec<(i64, StoredRecord)> =
        records.iter().zip(1..).map(|(r, id)| (id, conformance::stored(id, &origin, r).unwrap())).collect();
    let store = SqliteStore::open(sink.path()).unwrap();
    let mut lookups: Vec<FieldValue> = texts.iter().map(|t| FieldValue::Text((*t).into())).collect();
    lookups.extend(texts.iter().map(|t| FieldValue::Str((*t).into())));
    lookups.extend([7, -7, 0, 1_500].map(FieldValue::Int));
    let check = |stage: &str| {
        let mut found = 0;
        for key in keys {
            for value in &lookups {
                let mut f = RecordFilter::default();
                f.fields.push(FieldMatch::new(key, value.clone()).unwrap());
                let want: Vec<i64> = model.iter().filter(|(_, s)| f.keeps(s)).map(|(id, _)| *id).collect();
                let related: Vec<i64> = store.related(key, value, 1_000).unwrap().iter().map(|r| r.id).collect();
                assert_eq!(related, want, "related {key:?}={value:?} {stage}");
                let mut page: Vec<i64> =
                    store.records(&f, PageAt::Newest, 1_000).unwrap().records.iter().map(|r| r.id).collect();
                page.reverse();
                assert_eq!(page, want, "records {key:?}={value:?} {stage}");
                found += want.len();
            }
        }
        // Every text, integer and boolean value is found under both keys, some by several forms.
        assert!(found >= 2 * (texts.len() + 6), "{found} matches {stage}");
    };
    assert_eq!(store.unindexed().unwrap(), records.len() as u64);
    check("with every record unindexed");
    catch_up(&mut sink);
    assert_eq!(store.unindexed().unwrap(), 0);
    check("with every record indexed");
}

#[test]
fn context_keys_are_indexed_and_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut options = Options::default();
    options.index_keys.push("tenant".into());
    drop(SqliteSink::open_with(&path, options).unwrap());
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.indexed_keys().unwrap(), ["request_id", "tenant"]);
    let mut bad = Options::default();
    bad.index_keys = vec!["a'b".into()];
    assert!(SqliteSink::open_with(&path, bad).is_err());
}

#[test]
fn errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let e = SqliteStore::open(&missing).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable);
    assert!(e.to_string().contains("nope.db"), "{e}");
    assert!(!missing.exists(), "a reader never creates a database");

    let newer = dir.path().join("newer.db");
    Connection::open(&newer)
        .unwrap()
        .execute_batch("CREATE TABLE log_records (id INTEGER PRIMARY KEY); PRAGMA user_version = 99")
        .unwrap();
    assert_eq!(SqliteStore::open(&newer).unwrap_err().kind(), StoreErrorKind::NewerSchema);

    assert_eq!("12_x".parse::<Cursor>().unwrap_err().kind(), StoreErrorKind::BadFilter);
    let (sink, _) = open_filled(dir.path(), 10);
    let store = SqliteStore::open(sink.path()).unwrap();
    // A cursor past every record is an empty page with a way back.
    let far = Cursor { ts: Timestamp(0), id: 0 };
    let page = store.records(&RecordFilter::default(), PageAt::Older(far), 5).unwrap();
    assert!(page.records.is_empty() && page.older.is_none());
    assert_eq!(page.newer, Some(far));
    assert_eq!(store.describe(), format!("sqlite:{}", sink.path().display()));
}

/// The shared test body of every storage (`log_panel_query::conformance`),
/// against a fresh file written by `SqliteSink` and read by `SqliteStore`.
#[test]
fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conformance.db");
    let mut sink = log_panel_sqlite::SqliteSink::open(&path).unwrap();
    let store = log_panel_sqlite::SqliteStore::open(&path).unwrap();
    let maintenance = SqliteMaintenance::open(&path).unwrap();
    log_panel_query::conformance::run(&mut sink, &store, &maintenance);
}

/// A logger tree is read one arm per logger, and by one query past
/// `TREE_ARMS` (64) loggers; both give the tree's rows in order, never a
/// look-alike's.
#[test]
fn logger_trees_of_few_and_many_loggers_page_the_same_rows() {
    for children in [3usize, 80] {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = SqliteSink::open(dir.path().join("logs.db")).unwrap();
        let mut rng = Rng(7 + children as u64);
        let origin = Origin::new("api", "h1", 10);
        let mut names: Vec<String> = (0..children).map(|i| format!("wide::l{i}")).collect();
        names.extend(["wide".to_owned(), "widex".to_owned(), "wide:x".to_owned()]);
        let mut model = Vec::new();
        for b in 0..20 {
            let mut batch = Vec::new();
            for _ in 0..100 {
                let name = &names[rng.below(names.len() as u64) as usize];
                let level = LEVELS[rng.below(5) as usize];
                let mut r = Record::new(level, name.clone(), format!("batch {b}"));
                r.timestamp = Timestamp(BASE + rng.below(3_600) as i64 * 1_000_000);
                model.push((r.timestamp.0, name.clone(), level));
                batch.push(r);
            }
            sink.write(&Batch::new(&origin, &batch)).unwrap();
        }
        let store = SqliteStore::open(sink.path()).unwrap();
        for min in [None, Some(Level::Warn)] {
            let mut f = RecordFilter::default();
            f.logger = Some(LoggerMatch::Tree("wide".into()));
            f.min_level = min;
            let mut want: Vec<(i64, i64)> = model
                .iter()
                .enumerate()
                .filter(|(_, (_, name, level))| {
                    (name == "wide" || name.starts_with("wide::"))
                        && min.is_none_or(|m| severity(*level) >= severity(m))
                })
                .map(|(i, (ts, _, _))| (*ts, i as i64 + 1))
                .collect();
            want.sort_by_key(|k| std::cmp::Reverse(*k));
            let want: Vec<i64> = want.into_iter().map(|(_, id)| id).collect();
            assert!(want.len() > 100, "{children} loggers: the tree keeps many rows");
            assert_eq!(walk(&store, &f, 33), want, "{children} loggers, min level {min:?}");
        }
    }
}

/// The files beside `path` SQLite may leave (`-wal`, `-shm`, `-journal`) that exist.
fn sidecars(path: &Path) -> Vec<String> {
    ["-wal", "-shm", "-journal"]
        .into_iter()
        .map(|s| format!("{}{s}", path.display()))
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// A reader opens read-only: an application's own SQLite file, an empty
/// file, a file that is not SQLite, a WAL-mode foreign file, a `log_records`
/// table without a schema version: each is refused with one line saying so
/// (`Unavailable`), and left byte for byte as it was, with nothing beside it.
#[test]
fn a_reader_refuses_and_never_touches_a_file_that_is_not_a_log_panel_database() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.db");
    let conn = Connection::open(&app).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE; PRAGMA user_version = 4;
         CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO customers (name) VALUES ('Ada'), ('Grace');",
    )
    .unwrap();
    drop(conn);
    let wal_app = dir.path().join("wal-app.db");
    let conn = Connection::open(&wal_app).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE customers (id INTEGER PRIMARY KEY);").unwrap();
    drop(conn);
    let unversioned = dir.path().join("unversioned.db");
    Connection::open(&unversioned).unwrap().execute_batch("CREATE TABLE log_records (id INTEGER PRIMARY KEY)").unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all\n").unwrap();
    let cases = [
        (&app, "is not a log-panel database (no log_records table)"),
        (&wal_app, "is not a log-panel database (no log_records table)"),
        (&unversioned, "is not a log-panel database"),
        (&empty, "is empty, not a log-panel database"),
        (&junk, "is not a SQLite database"),
    ];
    for (path, says) in cases {
        assert!(sidecars(path).is_empty(), "{}: {:?}", path.display(), sidecars(path));
        let before = std::fs::read(path).unwrap();
        for attempt in [SqliteStore::open(path).map(drop), SqliteMaintenance::migrate(path).map(drop)] {
            let e = attempt.unwrap_err();
            assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()) && text.contains(says), "{text}");
            assert_eq!(text.lines().count(), 1, "{text}");
        }
        assert_eq!(std::fs::read(path).unwrap(), before, "{} is unchanged", path.display());
        assert!(sidecars(path).is_empty(), "{}: {:?}", path.display(), sidecars(path));
    }
}

/// A database of an older schema is read by no reader until its writer
/// (or `SqliteMaintenance::migrate`, `log-panel migrate`) migrates it.
#[test]
fn an_older_schema_is_refused_until_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    drop(open_filled(dir.path(), 50));
    std::fs::rename(dir.path().join("logs.db"), &path).unwrap();
    // Version 3: what migrations 4 to 11 add is not there yet.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP TABLE log_context_state; DROP TABLE log_context_index; DROP TABLE log_context_all;
             DROP INDEX log_records_warn_ts; DROP INDEX log_records_warn_logger_ts; DROP TABLE log_site_hourly;
             DROP TABLE log_site_daily; DROP TABLE log_site_weekly; DROP TABLE log_id_times;
             PRAGMA user_version = 3",
        )
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let e = SqliteStore::open(&path).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("older log-panel") && e.to_string().contains("log-panel migrate"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(SqliteMaintenance::migrate(&path).unwrap(), (3, log_panel_sqlite::SCHEMA_VERSION));
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.records(&RecordFilter::default(), PageAt::Newest, 100).unwrap().records.len(), 50);
}

/// A WAL database whose `-shm` cannot be made (here a directory stands in
/// its way, as a read-only directory would) is still read: with no `-wal`
/// frames, SQLite keeps the index in memory.
#[test]
fn a_wal_database_is_read_when_its_shm_cannot_be_made() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, model) = open_filled(dir.path(), 30);
    let path = sink.path().to_path_buf();
    drop(sink);
    assert!(sidecars(&path).is_empty(), "{:?}", sidecars(&path));
    std::fs::create_dir(format!("{}-shm", path.display())).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.records(&RecordFilter::default(), PageAt::Newest, 100).unwrap().records.len(), model.len());
}

/// Every read has a time budget (a progress handler): one past it stops
/// with `TimedOut`, and the store keeps serving. The budget is 1 ms against
/// a scan of 200 000 messages, which takes far longer on any machine.
#[test]
fn a_read_past_its_time_budget_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let origin = Origin::new("a", "h", 1);
    for chunk in 0..20 {
        let records: Vec<Record> =
            (0..10_000).map(|i| Record::new(Level::Info, "big", format!("message {chunk} {i}"))).collect();
        sink.write(&Batch::new(&origin, &records)).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap().with_read_timeout(Duration::from_millis(1));
    let mut f = RecordFilter::default();
    f.text = Some("zz".into());
    let e = store.records(&f, PageAt::Newest, 10).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains("time budget"), "{e}");
    let slots = Slots::ending_at(Timestamp::now(), HOUR, 2).unwrap();
    assert_eq!(store.call_sites(&f, 10).unwrap_err().kind(), StoreErrorKind::TimedOut);
    assert_eq!(store.histogram(&f, &slots).unwrap_err().kind(), StoreErrorKind::TimedOut);
    // The connection is not left stuck: a cheap read on it still answers.
    assert_eq!(store.record(1).unwrap().map(|r| r.id), Some(1));
    // And the default budget lets the scan finish.
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.records(&f, PageAt::Newest, 10).unwrap().records.is_empty());
}

/// A database deleted under an open store is `Unavailable` (its connections
/// would keep reading the deleted file); a new log-panel database put at the
/// path is read with new connections, and a foreign file there is refused.
#[test]
fn a_database_replaced_at_the_path_is_read_anew_and_a_deleted_one_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let write = |at: &Path, message: &'static str| {
        let mut sink = SqliteSink::open(at).unwrap();
        let origin = origins()[0].clone();
        sink.write(&Batch::new(&origin, &[Record::new(Level::Info, "app", message)])).unwrap();
    };
    write(&path, "first file");
    let store = SqliteStore::open(&path).unwrap();
    let messages = |store: &SqliteStore| -> Vec<String> {
        store
            .records(&RecordFilter::default(), PageAt::Newest, 10)
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.message)
            .collect()
    };
    assert_eq!(messages(&store), ["first file"]);

    sqlite::delete(&path);
    let e = store.records(&RecordFilter::default(), PageAt::Newest, 10).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("is gone"), "{e}");

    let other = dir.path().join("other.db");
    write(&other, "second file");
    for (from, to) in sqlite::files(&other).iter().zip(sqlite::files(&path)) {
        if from.exists() {
            std::fs::rename(from, to).unwrap();
        }
    }
    assert_eq!(messages(&store), ["second file"]);

    sqlite::delete(&path);
    std::fs::write(&path, b"not a database").unwrap();
    let e = store.records(&RecordFilter::default(), PageAt::Newest, 10).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("is not a SQLite database"), "{e}");
}
