//! The same test body for every [`Store`]: a storage crate runs [`run`]
//! against a fresh database, and every answer of its store is compared with
//! [`MemoryStore`], a plain in-memory implementation of the same contract.
//!
//! Enabled by the `conformance` feature, for tests only: it panics on the
//! first difference, with the query that showed it.
//!
//! ```no_run
//! use log_panel_query::conformance::{self, MemoryStore};
//!
//! // The reference store passes its own suite.
//! let mut store = MemoryStore::default();
//! let handle = store.clone();
//! conformance::run(&mut store, &handle, &handle);
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::*;
use log_panel_core::{Batch, Context, Origin, Record, Sink, SinkError, Value};

mod queries;
mod wrapped;
pub use queries::{generated, QUERIES};
pub use wrapped::{Hooks, Read, Wrapped};

/// 2026-11-20T00:00:00Z, the start of the data set.
pub const BASE: Timestamp = Timestamp(1_795_651_200_000_000);
/// Records in the data set.
pub const RECORDS: usize = 1_500;
/// The data set spans three days from [`BASE`].
pub const SPAN: i64 = 3 * DAY;

/// The loggers of the data set: a tree (`billing`, `billing::db`), a
/// look-alike that must stay out of it (`billingx`), and a logger whose
/// records all fall on the first day (for prune).
pub const LOGGERS: [&str; 5] = ["billing", "billing::db", "billingx", "web::api", "old::only"];

/// Runs every check: fills `sink` (which must store into the empty database
/// that `store` reads and `maintenance` prunes), then compares each of
/// `store`'s answers with the reference's, last after a prune and a rebuild
/// through `maintenance`. Calls `sink.idle()` between checks, so a search
/// index that lags behind the rows is exercised as well as one that has
/// caught up.
pub fn run(sink: &mut dyn Sink, store: &dyn Store, maintenance: &dyn Maintenance) {
    let reference = MemoryStore::default();
    let mut reference_sink = reference.clone();
    let batches = data_set();
    let (first, second) = batches.split_at(batches.len() * 2 / 3);
    for (origin, records) in first {
        write(sink, &mut reference_sink, origin, records);
    }
    while sink.idle().expect("idle") {}
    // The last third is stored but not yet indexed: searches must still see it.
    assert_eq!(store.index_lag().expect("index_lag"), IndexLag::default(), "index lag after idle work");
    for (origin, records) in second {
        write(sink, &mut reference_sink, origin, records);
    }
    check_lag(store, second.iter().map(|(_, r)| r.len() as u64).sum());
    check_hostile(store);
    check_reads(store, &reference, "before idle work");
    queries::check_queries(store, &reference, "before idle work");
    let mut steps = 0;
    while sink.idle().expect("idle") {
        steps += 1;
        assert!(steps < 100_000, "Sink::idle never reports that it is done");
    }
    assert_eq!(store.index_lag().expect("index_lag"), IndexLag::default(), "index lag after idle work");
    check_reads(store, &reference, "after idle work");
    queries::check_queries(store, &reference, "after idle work");
    check_limits(store, &reference);
    check_prune(store, maintenance, &reference);
}

/// With `unindexed` records written since the indexes caught up, each index
/// is that far behind, counted, or not behind at all (a storage whose
/// indexes are filled as rows are written); and a search's note says so.
fn check_lag(store: &dyn Store, unindexed: u64) {
    assert!(unindexed > 0 && unindexed < Behind::COUNTED_UP_TO, "the data set's last third: {unindexed}");
    let lag = store.index_lag().expect("index_lag");
    for (index, behind) in [("search", lag.search), ("context", lag.context)] {
        assert!(
            behind == Behind::default() || behind == Behind::counted(unindexed),
            "{index} index lag {behind:?}, expected none or {unindexed} records counted"
        );
    }
    let search = RecordFilter { text: Some("a".into()), ..RecordFilter::default() };
    assert_eq!(lag.note(&search).is_some(), lag.search.is_behind(), "{lag:?}");
}

fn write(sink: &mut dyn Sink, reference: &mut MemoryStore, origin: &Origin, records: &[Record]) {
    let batch = Batch::new(origin, records);
    sink.write(&batch).expect("the sink stores the batch");
    reference.write(&batch).expect("reference");
}

/// The data set, as batches of several processes. Timestamps are distinct
/// and spread over [`SPAN`]; messages are distinct (they end in `#i`).
pub fn data_set() -> Vec<(Origin, Vec<Record>)> {
    let origins =
        [Origin::new("shop", "web-1", 101), Origin::new("shop", "web-2", 202), Origin::new("worker", "web-1", 303)];
    let step = SPAN / RECORDS as i64;
    let mut batches: Vec<(Origin, Vec<Record>)> = Vec::new();
    for i in 0..RECORDS {
        let level = match i % 10 {
            0 => Level::Error,
            1 | 2 => Level::Warn,
            3 => Level::Debug,
            4 => Level::Trace,
            _ => Level::Info,
        };
        let logger = if i < RECORDS / 3 && i % 7 == 0 { LOGGERS[4] } else { LOGGERS[i % 4] };
        let message = match i % 5 {
            0 => format!("Payment failed for order {} #{i}", i * 3),
            1 => format!("user signed up with plan pro #{i}"),
            2 => format!("GET /api/items/{} took {} ms #{i}", i % 50, i % 900),
            3 => format!("cache MISS on key k{} #{i}", i % 13),
            _ => format!("tick #{i}"),
        };
        let mut r = Record::new(level, logger, message);
        // Time order is not id order (several threads' clocks: each group of
        // three is stored newest first), and some records share a time, so a
        // page boundary must break ties by id.
        let at = |i: usize| BASE.0 + (3 * (i / 3) + (2 - i % 3)) as i64 * step;
        r.timestamp = Timestamp(if i % 50 == 49 { at(i - 1) } else { at(i) });
        r.module_path = Some(logger.into());
        r.file = Some(format!("src/{}.rs", logger.replace("::", "/")).into());
        r.line = Some(10 + (i % 3) as u32);
        r.thread = Arc::from(if i % 2 == 0 { "main" } else { "worker-1" });
        let mut ctx: Vec<(&str, Value)> = vec![("request_id", Value::from(format!("r-{}", i / 3).as_str()))];
        if i % 4 == 0 {
            ctx.push(("user_id", Value::from((i % 9) as i64)));
        }
        r.context = Context::from_pairs(ctx);
        if i % 6 == 0 {
            r.kv.push(("code".into(), Value::from(format!("{}", i % 4).as_str())));
        }
        if i % 11 == 0 {
            r.kv.push(("retry".into(), Value::Bool(i % 2 == 0)));
        }
        // Numbers for comparisons: integers, floats, and text that reads as a
        // number (never compared); a key no SQL path could inline.
        match i % 3 {
            0 => r.kv.push(("latency".into(), Value::from((i % 900) as i64))),
            1 => r.kv.push(("latency".into(), Value::from((i % 900) as f64 + 0.25))),
            _ if i % 7 == 0 => r.kv.push(("latency".into(), Value::from("700"))),
            _ => {}
        }
        if i % 13 == 0 {
            r.kv.push(("load avg".into(), Value::from((i % 5) as f64 / 2.0)));
        }
        let origin = &origins[(i / 50) % 3];
        match batches.last_mut() {
            Some((o, records)) if o == origin && records.len() < 97 => records.push(r),
            _ => batches.push((origin.clone(), vec![r])),
        }
    }
    batches
}

/// The filters every read is checked with.
pub fn filters() -> Vec<(String, RecordFilter)> {
    let mut out = vec![("everything".to_owned(), RecordFilter::default())];
    let mut add = |name: &str, f: &dyn Fn(&mut RecordFilter)| {
        let mut filter = RecordFilter::default();
        f(&mut filter);
        out.push((name.to_owned(), filter));
    };
    add("logger exact", &|f| f.logger = Some(LoggerMatch::Exact("billing".into())));
    add("logger tree", &|f| f.logger = Some(LoggerMatch::Tree("billing".into())));
    add("logger tree + min level", &|f| {
        f.logger = Some(LoggerMatch::Tree("billing".into()));
        f.min_level = Some(Level::Warn);
    });
    // WARN and above: the stores' partial indexes (tree, exact logger, time).
    add("logger tree + levels warn,error", &|f| {
        f.logger = Some(LoggerMatch::Tree("billing".into()));
        f.levels = vec![Level::Warn, Level::Error];
    });
    add("logger exact + min level error", &|f| {
        f.logger = Some(LoggerMatch::Exact("billingx".into()));
        f.min_level = Some(Level::Error);
    });
    add("levels error + since", &|f| {
        f.levels = vec![Level::Error];
        f.since = Some(Timestamp(BASE.0 + DAY / 3));
    });
    add("logger tree + min level warn + since/until", &|f| {
        f.logger = Some(LoggerMatch::Tree("billing".into()));
        f.min_level = Some(Level::Warn);
        f.since = Some(Timestamp(BASE.0 + HOUR));
        f.until = Some(Timestamp(BASE.0 + DAY + HOUR));
    });
    add("logger tree without its root", &|f| f.logger = Some(LoggerMatch::Tree("web".into())));
    add("logger tree unknown", &|f| f.logger = Some(LoggerMatch::Tree("bill".into())));
    add("logger unknown", &|f| f.logger = Some(LoggerMatch::Exact("nope".into())));
    add("min level warn", &|f| f.min_level = Some(Level::Warn));
    add("levels error+debug", &|f| f.levels = vec![Level::Error, Level::Debug]);
    add("since/until", &|f| {
        f.since = Some(Timestamp(BASE.0 + DAY / 2));
        f.until = Some(Timestamp(BASE.0 + DAY + 7 * HOUR));
    });
    add("app", &|f| f.app = Some("worker".into()));
    add("host+pid", &|f| {
        f.host = Some("web-1".into());
        f.pid = Some(101);
    });
    add("host+pid+thread", &|f| {
        f.host = Some("web-1".into());
        f.pid = Some(101);
        f.thread = Some("worker-1".into());
    });
    add("thread unknown", &|f| f.thread = Some("main'; --".into()));
    add("text common", &|f| f.text = Some("payment".into()));
    add("text case", &|f| f.text = Some("PAYMENT FAILED".into()));
    add("text rare", &|f| f.text = Some("#1234".into()));
    add("text short", &|f| f.text = Some("ms".into()));
    add("text none", &|f| f.text = Some("no such words".into()));
    add("text with quotes", &|f| f.text = Some("\"; DROP TABLE log_records; --'".into()));
    add("text like wildcards", &|f| f.text = Some("%_".into()));
    add("field string", &|f| f.fields = vec!["request_id=r-377".parse().unwrap()]);
    add("field int as text", &|f| f.fields = vec!["user_id=4".parse().unwrap()]);
    add("field string that reads as int", &|f| f.fields = vec!["code=2".parse().unwrap()]);
    add("field bool", &|f| f.fields = vec!["retry=true".parse().unwrap()]);
    add("field typed int", &|f| f.fields = vec![FieldMatch::new("user_id", FieldValue::Int(4)).unwrap()]);
    add("field typed str mismatch", &|f| {
        f.fields = vec![FieldMatch::new("user_id", FieldValue::Str("4".into())).unwrap()]
    });
    add("field missing key", &|f| f.fields = vec!["nope=1".parse().unwrap()]);
    add("field odd key", &|f| f.fields = vec!["we'ird key\"=x".parse().unwrap()]);
    add("two fields", &|f| f.fields = vec!["user_id=0".parse().unwrap(), "code=0".parse().unwrap()]);
    let range = |key: &str, op: RangeOp, bound: f64| FieldRange::new(key, op, bound).unwrap();
    add("range int ge", &|f| f.ranges = vec![range("latency", RangeOp::Ge, 800.0)]);
    add("range float lt", &|f| f.ranges = vec![range("latency", RangeOp::Lt, 10.25)]);
    add("range le exact", &|f| f.ranges = vec![range("latency", RangeOp::Le, 3.0)]);
    add("range gt negative", &|f| f.ranges = vec![range("latency", RangeOp::Gt, -1.0)]);
    add("range between", &|f| {
        f.ranges = vec![range("latency", RangeOp::Gt, 100.0), range("latency", RangeOp::Le, 200.25)]
    });
    add("range on text reading as a number mismatch", &|f| f.ranges = vec![range("code", RangeOp::Ge, 0.0)]);
    add("range on a bool mismatch", &|f| f.ranges = vec![range("retry", RangeOp::Ge, 0.0)]);
    add("range missing key", &|f| f.ranges = vec![range("nope", RangeOp::Lt, 1.0)]);
    add("range key with a space", &|f| f.ranges = vec![range("load avg", RangeOp::Ge, 1.5)]);
    add("range + field + tree + level", &|f| {
        f.logger = Some(LoggerMatch::Tree("billing".into()));
        f.min_level = Some(Level::Warn);
        f.fields = vec!["user_id=4".parse().unwrap()];
        f.ranges = vec![range("latency", RangeOp::Ge, 100.0)];
    });
    add("site", &|f| {
        f.logger = Some(LoggerMatch::Exact("billing".into()));
        f.site = Some("src/billing.rs:12".parse().unwrap());
    });
    add("site file only", &|f| f.site = Some("src/web/api.rs".parse().unwrap()));
    add("site line without logger", &|f| f.site = Some("src/billing/db.rs:11".parse().unwrap()));
    add("site unknown line", &|f| f.site = Some("src/billing.rs:99".parse().unwrap()));
    add("site unknown file", &|f| f.site = Some(SiteMatch { file: "src/'; --.rs".into(), line: Some(10) }));
    add("combined", &|f| {
        f.logger = Some(LoggerMatch::Tree("billing".into()));
        f.min_level = Some(Level::Info);
        f.app = Some("shop".into());
        f.text = Some("order".into());
        f.since = Some(Timestamp(BASE.0 + HOUR));
    });
    out
}

fn check_reads(store: &dyn Store, reference: &MemoryStore, when: &str) {
    for (name, filter) in filters() {
        let what = format!("{when}, filter `{name}`");
        let small = reference.all(&filter).len() <= 60;
        for limit in [1, 7, 100, 5_000].into_iter().filter(|l| *l > 1 || small) {
            check_pages(store, reference, &filter, limit, &what);
        }
        let histogram = Slots::ending_at(Timestamp(BASE.0 + SPAN), HOUR, 72).unwrap();
        assert_eq!(
            store.histogram(&filter, &histogram).unwrap(),
            reference.histogram(&filter, &histogram).unwrap(),
            "histogram, {what}"
        );
        let odd =
            Slots::new(vec![Timestamp(BASE.0 + 17), Timestamp(BASE.0 + DAY + 3), Timestamp(BASE.0 + SPAN)]).unwrap();
        assert_eq!(store.histogram(&filter, &odd).unwrap(), reference.histogram(&filter, &odd).unwrap(), "{what}");
        assert_eq!(
            sorted_sites(store.call_sites(&filter, 1_000).unwrap()),
            sorted_sites(reference.call_sites(&filter, 1_000).unwrap()),
            "call sites, {what}"
        );
        let top = store.call_sites(&filter, 3).unwrap();
        assert!(top.len() <= 3 && top.windows(2).all(|w| w[0].counts.total() >= w[1].counts.total()), "{what}");
        let tail = store.tail(&filter, None, 10).unwrap();
        assert_eq!(strip(&tail), strip(&reference.tail(&filter, None, 10).unwrap()), "tail, {what}");
        if let Some(mid) = tail.first() {
            let after = store.tail(&filter, Some(mid.id), 1_000).unwrap();
            assert_eq!(strip(&after), strip(&tail[1..]), "tail after an id, {what}");
        }
    }
    // One record, whole.
    let page = store.records(&RecordFilter::default(), PageAt::Newest, 3).unwrap();
    for r in &page.records {
        assert_eq!(store.record(r.id).unwrap().as_ref(), Some(r), "record by id ({when})");
    }
    assert_eq!(store.record(-5).unwrap(), None, "a missing id ({when})");
    // A request's records, oldest first.
    for (key, value) in [
        ("request_id", FieldValue::Text("r-377".into())),
        ("user_id", FieldValue::Text("3".into())),
        ("request_id", FieldValue::Text("nope".into())),
    ] {
        assert_eq!(
            strip(&store.related(key, &value, 1_000).unwrap()),
            strip(&reference.related(key, &value, 1_000).unwrap()),
            "related {key}={value} ({when})"
        );
    }
    assert_eq!(store.related("request_id", &FieldValue::Text("r-401".into()), 2).unwrap().len(), 2, "related limit");
    assert_eq!(store.loggers().unwrap(), reference.loggers().unwrap(), "loggers ({when})");
    check_cards(store, reference, when);
    check_split(store, reference, when);
    check_fields(store, reference, when);
}

/// [`Store::field_keys`] and [`Store::field_values`] against counts done by
/// hand over the reference's newest records ([`RecordFilter::keeps`]).
fn check_fields(store: &dyn Store, reference: &MemoryStore, when: &str) {
    for (name, filter) in filters() {
        let all = reference.all(&filter);
        for sample in [FIELD_SAMPLE_ROWS, 100, 7] {
            let newest = &all[..all.len().min(sample)];
            let what = format!("fields, sample {sample}, {when}, filter `{name}`");
            let keys = store.field_keys(&filter, 20, sample).unwrap();
            assert_eq!(keys, reference.field_keys(&filter, 20, sample).unwrap(), "{what}");
            let mut hand: BTreeMap<String, u64> = BTreeMap::new();
            for r in newest {
                for k in r.context.keys() {
                    *hand.entry(k.clone()).or_default() += 1;
                }
            }
            assert_eq!(
                (keys.read, keys.sampled, keys.distinct),
                (newest.len() as u64, all.len() >= sample, hand.len()),
                "{what}"
            );
            for k in &keys.keys {
                assert_eq!(Some(&k.count), hand.get(&k.value), "{what}: key {}", k.value);
            }
            for key in ["user_id", "code", "retry", "request_id", "nope", "we'ird key\""] {
                let what = format!("{what}, values of {key}");
                let got = store.field_values(&filter, key, 5, sample).unwrap();
                assert_eq!(got, reference.field_values(&filter, key, 5, sample).unwrap(), "{what}");
                let mut hand: BTreeMap<String, u64> = BTreeMap::new();
                for r in newest {
                    if let Some(v) = r.context.get(key).and_then(split_label) {
                        *hand.entry(v).or_default() += 1;
                    }
                }
                assert_eq!(
                    (got.read, got.with_key, got.distinct),
                    (newest.len() as u64, hand.values().sum(), hand.len()),
                    "{what}"
                );
                assert!(got.values.len() <= 5, "{what}");
                for v in &got.values {
                    assert_eq!(Some(&v.count), hand.get(&v.value), "{what}: value {}", v.value);
                    assert!(
                        hand.iter()
                            .filter(|(k, _)| !got.values.iter().any(|g| &g.value == *k))
                            .all(|(_, n)| *n <= v.count),
                        "{what}: top"
                    );
                }
            }
        }
    }
    let any = RecordFilter::default();
    assert_eq!(store.field_values(&any, "", 5, 10).unwrap_err().kind(), StoreErrorKind::BadFilter);
    assert_eq!(store.field_keys(&any, 0, 10).unwrap_err().kind(), StoreErrorKind::BadFilter);
    assert_eq!(store.field_keys(&any, 5, FIELD_SAMPLE_ROWS + 1).unwrap_err().kind(), StoreErrorKind::BadFilter);
    let nul = RecordFilter { text: Some("a\0b".into()), ..RecordFilter::default() };
    assert_eq!(store.field_keys(&nul, 5, 10).unwrap(), FieldKeys::default(), "NUL in the filter");
}

/// [`Store::split`] against the reference and against counts done by hand
/// from the reference's rows: per value, per slot.
fn check_split(store: &dyn Store, reference: &MemoryStore, when: &str) {
    let hourly = Slots::ending_at(Timestamp(BASE.0 + SPAN), HOUR, 72).unwrap();
    let odd = Slots::new(vec![Timestamp(BASE.0 + 17), Timestamp(BASE.0 + DAY + 3), Timestamp(BASE.0 + SPAN)]).unwrap();
    for (name, filter) in filters() {
        for key in ["user_id", "code", "retry", "request_id", "nope", "we'ird key\""] {
            for (slots, top) in [(&hourly, 8), (&odd, 2)] {
                let what = format!("split by {key} top {top}, {when}, filter `{name}`");
                let got = store.split(&filter, key, slots, top).unwrap();
                assert_eq!(got, reference.split(&filter, key, slots, top).unwrap(), "{what}");
                // By hand: (value, slot) -> count over the filter's rows in the slots.
                let mut hand: BTreeMap<String, Vec<u64>> = BTreeMap::new();
                let mut without = 0;
                for r in reference.all(&filter) {
                    let Some(i) = slots.index_of(r.ts) else { continue };
                    match r.context.get(key).and_then(split_label) {
                        Some(v) => hand.entry(v).or_insert_with(|| vec![0; slots.len()])[i] += 1,
                        None => without += 1,
                    }
                }
                assert!(got.complete && got.series.len() <= top, "{what}");
                assert_eq!((got.distinct, got.without_key), (hand.len(), without), "{what}");
                for s in &got.series {
                    assert_eq!(Some(&s.slots), hand.get(&s.value), "{what}: value {}", s.value);
                    assert_eq!(s.total, s.slots.iter().sum::<u64>(), "{what}");
                }
                let mut other = vec![0; slots.len()];
                for (v, per) in &hand {
                    if !got.series.iter().any(|s| &s.value == v) {
                        other.iter_mut().zip(per).for_each(|(o, n)| *o += n);
                        assert!(got.series.iter().all(|s| s.total >= per.iter().sum()), "{what}: {v} not in the top");
                    }
                }
                assert_eq!(got.other, other, "{what}: other");
            }
        }
    }
    let any = RecordFilter::default();
    for (key, top) in [("", 8), ("k\u{1}", 8), ("user_id", 0), ("user_id", Split::MAX_TOP + 1)] {
        let e = store.split(&any, key, &hourly, top).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::BadFilter, "split by {key:?} top {top}");
    }
}

fn check_pages(store: &dyn Store, reference: &MemoryStore, filter: &RecordFilter, limit: usize, what: &str) {
    let expected = strip(&reference.all(filter));
    // Down from the newest page, then back up from the oldest.
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut at = PageAt::Newest;
    loop {
        let page = store.records(filter, at, limit).unwrap();
        assert!(page.records.len() <= limit, "page longer than its limit, {what}");
        if matches!(at, PageAt::Newest) {
            assert_eq!(page.newer, None, "the newest page has nothing newer, {what}");
        } else {
            assert!(page.newer.is_some(), "a page below the newest has newer records, {what}");
        }
        seen.extend(strip(&page.records));
        pages.push(page.records.len());
        match page.older {
            Some(c) => {
                assert_eq!(Some(c), page.records.last().map(Cursor::of), "older cursor is the last row, {what}");
                at = PageAt::Older(c);
            }
            None => break,
        }
        assert!(pages.len() <= expected.len() + 1, "pagination does not end, {what}");
    }
    assert_eq!(seen, expected, "walking older pages (limit {limit}), {what}");
    let Some(last) = store.records(filter, PageAt::Newest, 1).unwrap().records.first().cloned() else { return };
    // Walking up from below the oldest record: newer pages, nearest first.
    let oldest = reference.all(filter).last().map(Cursor::of).unwrap();
    let mut up = Vec::new();
    let mut at = PageAt::Newer(Cursor { ts: Timestamp(oldest.ts.0 - 1), id: i64::MIN });
    let mut guard = 0;
    loop {
        let page = store.records(filter, at, limit).unwrap();
        assert!(page.records.len() <= limit, "{what}");
        let mut rows = strip(&page.records);
        rows.extend(up);
        up = rows;
        match page.newer {
            Some(c) => {
                assert_eq!(Some(c), page.records.first().map(Cursor::of), "newer cursor is the first row, {what}");
                at = PageAt::Newer(c);
            }
            None => break,
        }
        guard += 1;
        assert!(guard <= expected.len() + 1, "pagination does not end, {what}");
    }
    assert_eq!(up, expected, "walking newer pages (limit {limit}), {what}");
    assert_eq!(up.first(), strip(std::slice::from_ref(&last)).first(), "{what}");
}

fn check_cards(store: &dyn Store, reference: &MemoryStore, when: &str) {
    let now = Timestamp(BASE.0 + SPAN - 50 * MINUTE + 7);
    let timelines = [
        ("24 hours", Slots::hours_until(now, 24).unwrap()),
        ("3 days at UTC+5:30", Slots::days_until(now, 19_800, 3).unwrap()),
        ("4 days at UTC-8", Slots::days_until(now, -28_800, 4).unwrap()),
    ];
    for (name, slots) in timelines {
        for filter in [CardFilter::All, CardFilter::Errors, CardFilter::Warnings] {
            for (search, offset, limit) in [(None, 0, 20), (Some("BILL"), 0, 20), (None, 1, 2), (None, 10, 5)] {
                for sort in [CardSort::Name, CardSort::Trouble] {
                    let mut q = CardsQuery::new(slots.clone(), now);
                    q.filter = filter;
                    q.name = search.map(str::to_owned);
                    q.sort = sort;
                    q.offset = offset;
                    q.limit = limit;
                    assert_eq!(
                        store.cards(&q).unwrap(),
                        reference.cards(&q).unwrap(),
                        "cards {name} {filter:?} {search:?} {sort:?} {offset}/{limit} ({when})"
                    );
                }
            }
        }
    }
    // The trouble order is not the name order on this data set, so the
    // comparison above checks a store's sort, not only its names.
    let order = |sort| {
        let mut q = CardsQuery::new(Slots::hours_until(now, 24).unwrap(), now);
        q.sort = sort;
        q.limit = 100;
        store.cards(&q).unwrap().cards.into_iter().map(|c| c.logger).collect::<Vec<_>>()
    };
    assert_ne!(order(CardSort::Trouble), order(CardSort::Name), "trouble order ({when})");
    // "Now" exactly at the newest record: the last hour holds it (and every
    // record of the hour before it).
    let newest = reference.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap().records[0].clone();
    for now in [Timestamp(newest.ts.0 + 1), Timestamp(newest.ts.0 + 7 * MINUTE)] {
        let hour = RecordFilter { since: Some(Timestamp(now.0 - HOUR)), ..RecordFilter::default() };
        let mut q = CardsQuery::new(Slots::hours_until(now, 24).unwrap(), now);
        q.limit = 100;
        let cards = store.cards(&q).unwrap();
        assert_eq!(cards, reference.cards(&q).unwrap(), "cards at the newest record ({when})");
        for logger in LOGGERS {
            let want = reference.all(&RecordFilter { logger: Some(LoggerMatch::Exact(logger.into())), ..hour.clone() });
            let got = cards.cards.iter().find(|c| c.logger == logger).map_or(0, |c| c.last_hour.total());
            assert!(
                got >= want.len() as u64,
                "{logger}: the last hour up to now holds {} records, the card {got} ({when})",
                want.len()
            );
        }
    }
    let unaligned = Slots::new(vec![Timestamp(BASE.0 + 1), Timestamp(BASE.0 + HOUR)]).unwrap();
    let err = store.cards(&CardsQuery::new(unaligned, now)).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::BadFilter, "unaligned card slots: {err}");
}

/// Filters no store may answer with a storage error: a NUL in any text value
/// matches nothing (stored text never holds one); past the caps of
/// [`RecordFilter::check`] and with a page limit of 0, [`StoreErrorKind::BadFilter`].
fn check_hostile(store: &dyn Store) {
    let nul = "pay\0ment";
    let mut nul_filters: Vec<(&str, RecordFilter)> = Vec::new();
    let mut add = |name, f: &dyn Fn(&mut RecordFilter)| {
        let mut filter = RecordFilter::default();
        f(&mut filter);
        nul_filters.push((name, filter));
    };
    add("text", &|f| f.text = Some(nul.into()));
    add("short text", &|f| f.text = Some("\0".into()));
    add("logger", &|f| f.logger = Some(LoggerMatch::Exact(format!("billing{nul}"))));
    add("logger tree", &|f| f.logger = Some(LoggerMatch::Tree(format!("billing{nul}"))));
    add("app", &|f| f.app = Some(format!("shop{nul}")));
    add("host", &|f| f.host = Some(format!("web-1{nul}")));
    add("thread", &|f| f.thread = Some(format!("main{nul}")));
    add("field text", &|f| f.fields = vec![FieldMatch::new("request_id", FieldValue::Text(nul.into())).unwrap()]);
    add("field str", &|f| f.fields = vec![FieldMatch::new("request_id", FieldValue::Str(nul.into())).unwrap()]);
    add("site", &|f| f.site = Some(SiteMatch { file: format!("src/billing.rs{nul}"), line: Some(10) }));
    let slots = Slots::ending_at(Timestamp(BASE.0 + SPAN), HOUR, 72).unwrap();
    for (name, filter) in &nul_filters {
        let what = format!("NUL in the {name} filter");
        let page = store.records(filter, PageAt::Newest, 10).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!((page.records.len(), page.older, page.newer), (0, None, None), "{what}");
        let older = store.records(filter, PageAt::Older(Cursor { ts: BASE, id: 5 }), 10).unwrap();
        assert!(older.records.is_empty(), "{what}");
        assert!(store.tail(filter, None, 10).unwrap().is_empty(), "{what}: tail");
        assert!(store.tail(filter, Some(0), 10).unwrap().is_empty(), "{what}: tail after an id");
        let h = store.histogram(filter, &slots).unwrap_or_else(|e| panic!("{what}: histogram: {e}"));
        assert!(h.complete && h.slots.iter().all(|s| s.total() == 0), "{what}: histogram");
        assert!(store.call_sites(filter, 10).unwrap().is_empty(), "{what}: call sites");
    }
    assert!(store.related("request_id", &FieldValue::Text(format!("r-1{nul}")), 10).unwrap().is_empty(), "related");
    assert!(store.related("request_id", &FieldValue::Str(nul.into()), 10).unwrap().is_empty(), "related");
    let mut q = CardsQuery::new(slots.clone(), Timestamp(BASE.0 + SPAN));
    q.name = Some(format!("bill{nul}"));
    assert_eq!(store.cards(&q).unwrap(), Cards::default(), "cards with a NUL in the name");

    let bad = |what: &str, e: Result<(), StoreError>| match e {
        Err(e) => assert_eq!(e.kind(), StoreErrorKind::BadFilter, "{what}: {e}"),
        Ok(()) => panic!("{what}: accepted"),
    };
    let conditions = |n: usize| (0..n).map(|i| format!("k{i}=v").parse().unwrap()).collect::<Vec<FieldMatch>>();
    let many = RecordFilter { fields: conditions(RecordFilter::MAX_FIELDS + 1), ..RecordFilter::default() };
    let long = RecordFilter { text: Some("x".repeat(RecordFilter::MAX_VALUE_BYTES + 1)), ..RecordFilter::default() };
    let mut key = RecordFilter::default();
    key.fields = vec![FieldMatch { key: "a\0b".into(), value: FieldValue::Text("v".into()) }];
    for (name, filter) in [("too many context conditions", &many), ("too long a term", &long), ("a bad key", &key)] {
        bad(&format!("{name}: records"), store.records(filter, PageAt::Newest, 10).map(drop));
        bad(&format!("{name}: tail"), store.tail(filter, None, 10).map(drop));
        bad(&format!("{name}: histogram"), store.histogram(filter, &slots).map(drop));
        bad(&format!("{name}: call sites"), store.call_sites(filter, 10).map(drop));
    }
    // At the caps a filter runs.
    let most = RecordFilter { fields: conditions(RecordFilter::MAX_FIELDS), ..RecordFilter::default() };
    assert!(store.records(&most, PageAt::Newest, 10).unwrap().records.is_empty());
    let longest = RecordFilter { text: Some("x".repeat(RecordFilter::MAX_VALUE_BYTES)), ..RecordFilter::default() };
    assert!(store.records(&longest, PageAt::Newest, 10).unwrap().records.is_empty());
    bad("a page of 0 records", store.records(&RecordFilter::default(), PageAt::Newest, 0).map(drop));
    let mut q = CardsQuery::new(slots, Timestamp(BASE.0 + SPAN));
    q.name = Some("x".repeat(RecordFilter::MAX_VALUE_BYTES + 1));
    bad("too long a logger name", store.cards(&q).map(drop));
}

/// The limit contract of [`Store`] (see its docs): `records` refuses 0, the
/// lists answer none for 0, and any larger limit is a bound.
fn check_limits(store: &dyn Store, reference: &MemoryStore) {
    let all = RecordFilter::default();
    let err = store.records(&all, PageAt::Newest, 0).map(drop).expect_err("a page of 0 records");
    assert_eq!(err.kind(), StoreErrorKind::BadFilter, "records(limit 0): {err}");
    assert!(store.tail(&all, None, 0).expect("tail 0").is_empty(), "tail(limit 0)");
    assert!(store.tail(&all, Some(0), 0).expect("tail 0 after").is_empty(), "tail(after, limit 0)");
    let (key, value) = ("request_id", FieldValue::Text("r-377".into()));
    assert!(store.related(key, &value, 0).expect("related 0").is_empty(), "related(limit 0)");
    assert!(store.call_sites(&all, 0).expect("call sites 0").is_empty(), "call_sites(limit 0)");
    let slots = Slots::hours_until(Timestamp(BASE.0 + SPAN), 72).expect("slots");
    let mut q = CardsQuery::new(slots, Timestamp(BASE.0 + SPAN));
    q.limit = 0;
    let cards = store.cards(&q).expect("cards 0");
    assert!(cards.cards.is_empty(), "cards(limit 0)");
    assert_eq!(cards.matching, reference.cards(&q).expect("reference cards").matching, "cards(limit 0) still count");

    let expected = reference.all(&all);
    let page = store.records(&all, PageAt::Newest, usize::MAX).expect("records usize::MAX");
    assert_eq!(page.records.len(), expected.len(), "records(limit usize::MAX) holds every record");
    assert!(page.older.is_none() && page.newer.is_none());
    assert_eq!(store.tail(&all, None, usize::MAX).expect("tail max").len(), expected.len(), "tail(usize::MAX)");
    assert_eq!(
        store.tail(&all, Some(0), usize::MAX).expect("tail max").len(),
        expected.len(),
        "tail(after, usize::MAX)"
    );
    assert_eq!(
        strip(&store.related(key, &value, usize::MAX).expect("related max")),
        strip(&reference.related(key, &value, usize::MAX).expect("reference related")),
        "related(usize::MAX)"
    );
    assert_eq!(
        sorted_sites(store.call_sites(&all, usize::MAX).expect("call sites max")).len(),
        reference.call_sites(&all, usize::MAX).expect("reference call sites").len(),
        "call_sites(usize::MAX)"
    );
    q.limit = usize::MAX;
    assert_eq!(store.cards(&q).expect("cards max").cards.len(), cards.matching, "cards(limit usize::MAX)");
}

fn check_prune(store: &dyn Store, maintenance: &dyn Maintenance, reference: &MemoryStore) {
    let before = Timestamp(BASE.0 + DAY + 5);
    let expected = reference.all(&RecordFilter { until: Some(before), ..RecordFilter::default() }).len() as u64;
    let dry = maintenance.prune(before, 100, true).unwrap();
    assert_eq!(dry.deleted, expected, "dry-run prune counts");
    assert_eq!(store.records(&RecordFilter::default(), PageAt::Newest, 5_000).unwrap().records.len(), RECORDS);
    let done = maintenance.prune(before, 97, false).unwrap();
    assert_eq!(done.deleted, expected, "prune deletes");
    // Rows deleted one by one go in batches of at most the given size; a
    // whole partition dropped (a storage partitioned by day) is one step.
    assert!(done.dropped <= expected, "{done:?}");
    let whole = u64::from(done.dropped > 0);
    assert!(
        done.batches >= (expected - done.dropped).div_ceil(97) + whole,
        "prune works in batches of the given size: {done:?}"
    );
    reference.prune(before, 97, false).unwrap();
    assert!(!store.loggers().unwrap().contains(&LOGGERS[4].to_owned()), "a logger with no records left is gone");
    check_reads(store, reference, "after prune");
    maintenance.rebuild().unwrap();
    check_cards(store, reference, "after prune and rebuild");
    assert_eq!(maintenance.prune(before, 97, false).unwrap().deleted, 0, "a second prune finds nothing");
}

fn sorted_sites(mut sites: Vec<CallSite>) -> Vec<CallSite> {
    sites.sort_by(|a, b| (&a.logger, &a.file, a.line).cmp(&(&b.logger, &b.file, b.line)));
    sites
}

/// A record without its id, which storages number as they like.
fn strip(records: &[StoredRecord]) -> Vec<StoredRecord> {
    records.iter().map(|r| StoredRecord { id: 0, ..r.clone() }).collect()
}

/// A call site's identity: logger, file, line.
type SiteKey = (String, Option<String>, Option<u32>);

/// A small deterministic generator (xorshift) for tests' data sets, so a
/// storage's own tests draw the same reproducible mix.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The reference [`Store`]: every record in memory, every query a scan,
/// filtered by [`RecordFilter::keeps`]. Clones share the records, so one
/// clone can be the sink and another the store. For the tests of what reads
/// through a store, it counts the pages read and fails on demand.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    rows: Arc<Mutex<Vec<StoredRecord>>>,
    /// `records` calls so far.
    pages: Arc<Mutex<usize>>,
    /// Errors the next reads (`records`, `tail`) return, one each.
    failures: Arc<Mutex<VecDeque<StoreErrorKind>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStore {
    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<StoredRecord>> {
        lock(&self.rows)
    }

    /// How many pages (`records` calls) were read.
    pub fn pages_read(&self) -> usize {
        *lock(&self.pages)
    }

    /// The next reads (`records`, `tail`) fail with these kinds, one each,
    /// before reads work again.
    pub fn fail_next(&self, kinds: impl IntoIterator<Item = StoreErrorKind>) {
        lock(&self.failures).extend(kinds);
    }

    fn failure(&self) -> Result<(), StoreError> {
        match lock(&self.failures).pop_front() {
            Some(kind) => Err(StoreError::new(kind, format!("failing as asked ({kind:?})"))),
            None => Ok(()),
        }
    }

    /// Every record `filter` keeps, newest first.
    pub fn all(&self, filter: &RecordFilter) -> Vec<StoredRecord> {
        let mut out: Vec<StoredRecord> = self.rows().iter().filter(|r| filter.keeps(r)).cloned().collect();
        out.sort_by_key(|r| std::cmp::Reverse(Cursor::of(r)));
        out
    }
}

/// What every store returns for `r`, written by `origin` and given `id`:
/// the model the store test suites filter with [`RecordFilter::keeps`].
pub fn stored(id: i64, origin: &Origin, r: &Record) -> Result<StoredRecord, serde_json::Error> {
    let mut json = String::new();
    r.write_fields_json(&mut json);
    Ok(StoredRecord {
        id,
        ts: r.timestamp,
        level: r.level,
        logger: r.logger.to_string(),
        message: r.message.to_string(),
        module: r.module_path.as_ref().map(ToString::to_string),
        file: r.file.as_ref().map(ToString::to_string),
        line: r.line,
        thread: r.thread.to_string(),
        pid: origin.pid,
        host: origin.host.clone(),
        app: origin.app.clone(),
        context: serde_json::from_str(&json)?,
        original_size: r.original_size,
    })
}

impl Sink for MemoryStore {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut rows = self.rows();
        for r in batch.records {
            let id = rows.last().map_or(1, |last| last.id + 1);
            rows.push(stored(id, batch.origin, r).map_err(|e| SinkError::unavailable("json").with_source(e))?);
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError> {
        *lock(&self.pages) += 1;
        self.failure()?;
        Page::check_limit(limit)?;
        filter.check()?;
        let all = self.all(filter);
        let (start, end) = match at {
            PageAt::Newest => (0, limit.min(all.len())),
            PageAt::Older(c) => {
                let start = all.partition_point(|r| Cursor::of(r) >= c);
                (start, (start + limit).min(all.len()))
            }
            PageAt::Newer(c) => {
                let end = all.partition_point(|r| Cursor::of(r) > c);
                (end.saturating_sub(limit), end)
            }
        };
        let records = all[start..end].to_vec();
        let older = if end < all.len() { records.last().map(Cursor::of) } else { None };
        let newer = if start > 0 { records.first().map(Cursor::of) } else { None };
        Ok(Page { records, older, newer })
    }

    fn tail(
        &self,
        filter: &RecordFilter,
        after_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.failure()?;
        filter.check()?;
        let mut rows: Vec<StoredRecord> = self.rows().iter().filter(|r| filter.keeps(r)).cloned().collect();
        rows.sort_by_key(|r| r.id);
        Ok(match after_id {
            Some(id) => rows.into_iter().filter(|r| r.id > id).take(limit).collect(),
            None => {
                let skip = rows.len().saturating_sub(limit);
                rows.split_off(skip)
            }
        })
    }

    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        Ok(self.rows().iter().find(|r| r.id == id).cloned())
    }

    fn related(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let filter = RecordFilter { fields: vec![FieldMatch::new(key, value.clone())?], ..RecordFilter::default() };
        filter.check()?;
        let mut rows = self.all(&filter);
        rows.reverse();
        rows.truncate(limit);
        Ok(rows)
    }

    fn cards(&self, query: &CardsQuery) -> Result<Cards, StoreError> {
        if !query.slots.aligned_to(QUARTER_HOUR) {
            return Err(StoreError::bad_filter("card slots must be on quarter hours"));
        }
        query.check()?;
        let (hour_start, hour_end) = query.last_hour();
        let mut cards: BTreeMap<String, LoggerCard> = BTreeMap::new();
        for r in self.rows().iter() {
            let card = cards
                .entry(r.logger.clone())
                .or_insert_with(|| LoggerCard::new(r.logger.clone(), LoggerTotals::new(0, 0, 0, r.ts, r.ts)));
            let t = &mut card.totals;
            t.total += 1;
            t.errors += u64::from(r.level == Level::Error);
            t.warnings += u64::from(r.level == Level::Warn);
            t.first = t.first.min(r.ts);
            t.last = t.last.max(r.ts);
            if card.slots.is_empty() {
                card.slots = vec![LevelCounts::default(); query.slots.len()];
            }
            if r.ts >= hour_start && r.ts < hour_end {
                card.last_hour.add(r.level);
            }
            if let Some(i) = query.slots.index_of(r.ts) {
                card.slots[i].add(r.level);
            }
        }
        Ok(query.select(cards.into_values().collect()))
    }

    fn histogram(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        filter.check()?;
        let mut out = vec![LevelCounts::default(); slots.len()];
        for r in self.rows().iter().filter(|r| filter.keeps(r)) {
            if let Some(i) = slots.index_of(r.ts) {
                out[i].add(r.level);
            }
        }
        Ok(Histogram::counted(out, true))
    }

    fn count_split(&self, filter: &RecordFilter, key: &str, counter: &mut SplitCounter<'_>) -> Result<(), StoreError> {
        for r in self.rows().iter().filter(|r| filter.keeps(r)) {
            counter.add_json(r.ts, r.context.get(key));
        }
        Ok(())
    }

    fn count_field_keys(&self, filter: &RecordFilter, sample: usize) -> Result<FieldGroups, StoreError> {
        Ok(key_groups(self.all(filter).iter().take(sample)))
    }

    fn count_field_values(&self, filter: &RecordFilter, key: &str, sample: usize) -> Result<FieldGroups, StoreError> {
        Ok(value_groups(self.all(filter).iter().take(sample), key))
    }

    fn call_sites(&self, filter: &RecordFilter, limit: usize) -> Result<Vec<CallSite>, StoreError> {
        filter.check()?;
        let mut sites: BTreeMap<SiteKey, (CallSite, Cursor)> = BTreeMap::new();
        for r in self.rows().iter().filter(|r| filter.keeps(r)) {
            let key = (r.logger.clone(), r.file.clone(), r.line);
            let (site, newest) = sites.entry(key).or_insert_with(|| {
                (CallSite::new(r.logger.clone(), r.file.clone(), r.line), Cursor { ts: Timestamp(i64::MIN), id: 0 })
            });
            site.counts.add(r.level);
            if Cursor::of(r) > *newest {
                *newest = Cursor::of(r);
                site.last_seen = r.ts;
                site.example = r.message.clone();
            }
        }
        let mut out: Vec<CallSite> = sites.into_values().map(|(s, _)| s).collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.counts.total()));
        out.truncate(limit);
        Ok(out)
    }

    fn loggers(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self.rows().iter().map(|r| r.logger.clone()).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

impl Maintenance for MemoryStore {
    fn prune(&self, before: Timestamp, batch_size: usize, dry_run: bool) -> Result<PruneReport, StoreError> {
        if batch_size == 0 {
            return Err(StoreError::bad_filter("prune: the batch size must be at least 1"));
        }
        let mut rows = self.rows();
        let old = rows.iter().filter(|r| r.ts < before).count() as u64;
        if !dry_run {
            rows.retain(|r| r.ts >= before);
        }
        Ok(PruneReport::new(old, old.div_ceil(batch_size.max(1) as u64)))
    }

    fn rebuild(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_passes_its_own_suite() {
        let mut store = MemoryStore::default();
        let handle = store.clone();
        run(&mut store, &handle, &handle);
    }

    /// The reference behind a wrapper that forwards the required reads
    /// only, so `split` and the field statistics are the trait's defaults
    /// (pages of `records`).
    struct Paged;

    impl Hooks for Paged {}

    /// The reference filled with the data set, and the same records behind [`Paged`].
    fn filled() -> (MemoryStore, Wrapped<Paged>) {
        let mut store = MemoryStore::default();
        for (o, r) in &data_set() {
            store.write(&Batch::new(o, r)).unwrap();
        }
        let paged = Wrapped::new(Arc::new(store.clone()), Paged);
        (store, paged)
    }

    #[test]
    fn the_default_split_agrees_with_the_reference() {
        let (store, paged) = filled();
        check_split(&paged, &store, "the trait's default");
    }

    #[test]
    fn the_default_field_statistics_agree_with_the_reference() {
        let (store, paged) = filled();
        check_fields(&paged, &store, "the trait's default");
    }

    #[test]
    fn the_data_set_has_what_the_checks_need() {
        let batches = data_set();
        let n: usize = batches.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(n, RECORDS);
        let mut store = MemoryStore::default();
        for (o, r) in &batches {
            store.write(&Batch::new(o, r)).unwrap();
        }
        for (name, filter) in filters() {
            let n = store.all(&filter).len();
            let empty = name.contains("unknown")
                || name.contains("none")
                || name.contains("missing")
                || name.contains("mismatch")
                || name.contains("quotes")
                || name.contains("wildcards")
                || name.contains("odd key");
            assert_eq!(n == 0, empty, "filter `{name}` keeps {n}");
        }
    }
}
