//! PgStore against a throwaway server: every filter and combinations against
//! the same filter computed in Rust over the generated records, pagination
//! continuity (also while inserting), search with the index lagging, request
//! view, cards, histograms, call sites, prune and retention against rebuilt
//! aggregates, migration from version 2, and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use log_panel_core::{Level, Origin, Sink, Timestamp};
use log_panel_postgres::{schema, PgMaintenance, PgSink, PgStore};
use log_panel_query::{
    CardFilter, CardsQuery, Cursor, FieldMatch, FieldValue, Follow, LevelCounts, LoggerMatch, PageAt, RecordFilter,
    Slots, StoredRecord, DAY, HOUR, QUARTER_HOUR,
};
use log_panel_query::{Maintenance, Store, StoreErrorKind};
use log_panel_testing::postgres::{
    client, forge_schema, forge_upgrade, fresh_sink, index_names, TestServer, RECORD_INDEXES,
};
use postgres::{Client, NoTls};

const SEC: i64 = 1_000_000;
/// 2026-11-20T00:00:00Z.
const T0: i64 = 1_795_132_800 * SEC;
const LOGGERS: [&str; 7] = ["app", "app::db", "app::db::pool", "app:x", "appx", "billing", "Billing::API"];
const WORDS: [&str; 6] =
    ["Payment accepted", "cache MISS", "100% done_x", "timeout on upstream", "ünïcode Ärger", "ok"];

use log_panel_query::conformance::{self, Rng};
use log_panel_testing::records::{self, Generated as Gen};

fn origins() -> [Origin; 3] {
    [Origin::new("shop", "web-1", 100), Origin::new("shop", "web-2", 200), Origin::new("batch", "web-1", 300)]
}

/// `n` records spread over `span` from `start`, of this suite's loggers and words.
fn generate(rng: &mut Rng, first_seq: u64, n: usize, start: i64, span: i64) -> Vec<Gen> {
    records::generate(rng, &LOGGERS, &WORDS, first_seq, n, start, span)
}

fn write(sink: &mut PgSink, gens: &[Gen]) {
    records::write(sink, &origins(), gens);
}

fn seq_of(r: &StoredRecord) -> u64 {
    r.message.rsplit('#').next().and_then(|s| s.parse().ok()).unwrap()
}

/// The filter, decided by the reference (`RecordFilter::keeps`) over what the store returns for `g`.
fn keeps(f: &RecordFilter, g: &Gen) -> bool {
    f.keeps(&conformance::stored(g.seq as i64, &origins()[g.origin], &g.record).unwrap())
}

/// The seqs `filter` keeps, newest first (time, then insertion order).
fn expected(gens: &[Gen], filter: &RecordFilter) -> Vec<u64> {
    let mut kept: Vec<&Gen> = gens.iter().filter(|g| keeps(filter, g)).collect();
    kept.sort_by_key(|g| std::cmp::Reverse((g.record.timestamp, g.seq)));
    kept.iter().map(|g| g.seq).collect()
}

/// Walks every page older from the newest, then every page newer back up;
/// returns the seqs of the first walk after checking both.
fn walk(store: &PgStore, filter: &RecordFilter, limit: usize) -> Vec<u64> {
    let mut down = Vec::new();
    let mut cursors = Vec::new();
    let mut at = PageAt::Newest;
    loop {
        let page = store.records(filter, at, limit).unwrap();
        assert!(page.records.len() <= limit);
        if matches!(at, PageAt::Newest) {
            assert_eq!(page.newer, None);
        } else if !page.records.is_empty() {
            assert_eq!(page.newer, Some(Cursor::of(&page.records[0])), "a page below the first has newer rows");
        }
        down.extend(page.records.iter().map(seq_of));
        cursors.extend(page.records.iter().map(Cursor::of));
        match page.older {
            Some(c) => {
                assert_eq!(page.records.len(), limit, "only a full page has an older one");
                at = PageAt::Older(c);
            }
            None => break,
        }
    }
    // Strictly newest first.
    assert!(cursors.windows(2).all(|w| (w[0].ts, w[0].id) > (w[1].ts, w[1].id)), "order");
    // Back up with Newer from the oldest record.
    if let Some(&oldest) = cursors.last() {
        let mut up = vec![seq_of(&store.record(oldest.id).unwrap().unwrap())];
        let mut at = PageAt::Newer(oldest);
        loop {
            let page = store.records(filter, at, limit).unwrap();
            assert!(page.older.is_some(), "rows below a Newer page exist");
            up.extend(page.records.iter().rev().map(seq_of));
            match page.newer {
                Some(c) => at = PageAt::Newer(c),
                None => break,
            }
        }
        up.reverse();
        assert_eq!(up, down, "walking up returns the same rows");
    }
    down
}

fn filter() -> RecordFilter {
    RecordFilter::default()
}

fn setup(n: usize) -> (String, PgSink, PgStore, Vec<Gen>) {
    let (url, mut sink) = fresh_sink().unwrap();
    let gens = generate(&mut Rng(0x5eed), 0, n, T0, 2 * DAY);
    write(&mut sink, &gens);
    let store = PgStore::connect(&url).unwrap();
    (url, sink, store, gens)
}

macro_rules! server_or_skip {
    () => {
        if TestServer::shared().is_none() {
            return;
        }
    };
}

fn filters() -> Vec<(String, RecordFilter)> {
    let mut out = vec![("all".to_owned(), filter())];
    let mut add = |name: &str, f: &dyn Fn(&mut RecordFilter)| {
        let mut x = filter();
        f(&mut x);
        out.push((name.to_owned(), x));
    };
    add("exact logger", &|f| f.logger = Some(LoggerMatch::Exact("app::db".into())));
    add("logger tree", &|f| f.logger = Some("app::".parse().unwrap()));
    add("logger tree, mixed case", &|f| f.logger = Some(LoggerMatch::Tree("Billing".into())));
    add("min level", &|f| f.min_level = Some(Level::Warn));
    add("exact levels", &|f| f.levels = vec![Level::Trace, Level::Error]);
    add("since/until", &|f| {
        f.since = Some(Timestamp(T0 + 5 * HOUR + 7));
        f.until = Some(Timestamp(T0 + 30 * HOUR));
    });
    add("app", &|f| f.app = Some("batch".into()));
    add("host", &|f| f.host = Some("web-1".into()));
    add("pid", &|f| f.pid = Some(200));
    add("text", &|f| f.text = Some("payment".into()));
    add("text with LIKE characters", &|f| f.text = Some("0% DONE_".into()));
    // Non-ASCII letters fold case only as the database's LC_CTYPE does (docs/query.md).
    add("text, non-ASCII", &|f| f.text = Some("ünïcode Ä".into()));
    add("field text string", &|f| f.fields.push("request_id=r-7".parse().unwrap()));
    add("field text number", &|f| f.fields.push("user_id=3".parse().unwrap()));
    add("field text matching string and int", &|f| f.fields.push("code=7".parse().unwrap()));
    add("field text bool", &|f| f.fields.push("code=true".parse().unwrap()));
    add("field text float", &|f| f.fields.push("code=2.5".parse().unwrap()));
    add("field int", &|f| f.fields.push(FieldMatch::new("code", FieldValue::Int(7)).unwrap()));
    add("field str", &|f| f.fields.push(FieldMatch::new("code", FieldValue::Str("7".into())).unwrap()));
    add("field absent key", &|f| f.fields.push("nope=1".parse().unwrap()));
    add("combination", &|f| {
        f.logger = Some("app::".parse().unwrap());
        f.min_level = Some(Level::Info);
        f.host = Some("web-1".into());
        f.fields.push("code=7".parse().unwrap());
        f.since = Some(Timestamp(T0 + HOUR));
    });
    add("combination with text", &|f| {
        f.text = Some("miss".into());
        f.levels = vec![Level::Debug, Level::Warn, Level::Error];
        f.app = Some("shop".into());
        f.fields.push("user_id=2".parse().unwrap());
        f.fields.push("code=true".parse().unwrap());
    });
    out
}

#[test]
fn every_filter_and_combination_walks_every_matching_row_once_in_order() {
    server_or_skip!();
    let (_url, _sink, store, gens) = setup(2_000);
    for (name, f) in filters() {
        let want = expected(&gens, &f);
        if name != "field absent key" {
            assert!(!want.is_empty(), "{name}: the data should have matches");
        }
        let got = walk(&store, &f, 37);
        assert!(got == want, "{name}: got {} rows, want {}", got.len(), want.len());
    }
}

#[test]
fn search_is_complete_while_the_index_lags_and_after_it_catches_up() {
    server_or_skip!();
    let (url, mut sink, store, mut gens) = setup(1_500);
    // Index part of the table (one idle step covers INDEX_STEP_ROWS rows), then add more rows.
    assert!(sink.idle().unwrap(), "more to index after one step");
    let more = generate(&mut Rng(9), 10_000, 700, T0, 2 * DAY);
    write(&mut sink, &more);
    gens.extend(more);
    let mut db = Client::connect(&url, NoTls).unwrap();
    let mark: i64 = db.query_one("SELECT last_id FROM log_search_mark", &[]).unwrap().get(0);
    let max: i64 = db.query_one("SELECT max(id) FROM log_records", &[]).unwrap().get(0);
    assert!(mark > 0 && mark < max, "the index lags: mark {mark}, max {max}");
    let search = |text: &str| {
        let mut f = filter();
        f.text = Some(text.into());
        f
    };
    for term in ["payment", "MISS", "#12", "_x", "zzz-not-there", "ü"] {
        assert_eq!(walk(&store, &search(term), 50), expected(&gens, &search(term)), "lagging: {term}");
    }
    while sink.idle().unwrap() {}
    let mark: i64 = db.query_one("SELECT last_id FROM log_search_mark", &[]).unwrap().get(0);
    let indexed: i64 = db.query_one("SELECT count(*) FROM log_search", &[]).unwrap().get(0);
    assert_eq!((mark, indexed), (max, gens.len() as i64));
    for term in ["payment", "MISS", "#12", "_x"] {
        assert_eq!(walk(&store, &search(term), 50), expected(&gens, &search(term)), "caught up: {term}");
    }
}

#[test]
fn pages_stay_continuous_while_a_writer_inserts() {
    server_or_skip!();
    let (url, _sink, store, gens) = setup(1_200);
    let f = {
        let mut f = filter();
        f.min_level = Some(Level::Info);
        f
    };
    let want = expected(&gens, &f);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started_tx, started) = std::sync::mpsc::channel();
    let writer = {
        let (url, stop) = (url.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut sink = PgSink::connect(&url).unwrap();
            let mut rng = Rng(3);
            let mut seq = 100_000;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                // New rows both newer than everything and in the middle of the walked range.
                let mut batch = generate(&mut rng, seq, 40, T0, 2 * DAY);
                batch.extend(generate(&mut rng, seq + 40, 10, T0 + 3 * DAY, HOUR));
                write(&mut sink, &batch);
                seq += 50;
                let _ = started_tx.send(());
            }
            seq
        })
    };
    started.recv().unwrap();
    let mut seen = Vec::new();
    let mut at = PageAt::Newest;
    let mut last: Option<Cursor> = None;
    loop {
        // Leave the writer time to commit batches between pages.
        std::thread::sleep(std::time::Duration::from_millis(3));
        let page = store.records(&f, at, 25).unwrap();
        for r in &page.records {
            let c = Cursor::of(r);
            assert!(last.is_none_or(|l| (c.ts, c.id) < (l.ts, l.id)), "order while inserting");
            last = Some(c);
            seen.push(seq_of(r));
        }
        match page.older {
            Some(c) => at = PageAt::Older(c),
            None => break,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(writer.join().unwrap() > 100_100, "the writer wrote while the pages were read");
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    let old: Vec<u64> = seen.iter().copied().filter(|s| *s < 100_000).collect();
    assert_eq!(old, want, "every row present before the walk, once, in order");
}

#[test]
fn tail_record_and_related() {
    server_or_skip!();
    let (_url, mut sink, store, gens) = setup(300);
    let newest = store.tail(&filter(), None, 10).unwrap();
    assert_eq!(newest.len(), 10);
    assert!(newest.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    let after = newest.last().unwrap().id;
    assert!(store.tail(&filter(), Some(after), 10).unwrap().is_empty());
    let more = generate(&mut Rng(4), 5_000, 30, T0, DAY);
    write(&mut sink, &more);
    let mut f = filter();
    f.min_level = Some(Level::Warn);
    let tailed = store.tail(&f, Some(after), 1_000).unwrap();
    let want: BTreeSet<u64> = more.iter().filter(|g| keeps(&f, g)).map(|g| g.seq).collect();
    assert_eq!(tailed.iter().map(seq_of).collect::<BTreeSet<_>>(), want);
    assert!(tailed.windows(2).all(|w| w[0].id < w[1].id));

    // One record, whole.
    let r = store.record(tailed[0].id).unwrap().unwrap();
    let g = more.iter().find(|g| g.seq == seq_of(&r)).unwrap();
    let o = &origins()[g.origin];
    assert_eq!((r.level, r.logger.as_str(), r.ts), (g.record.level, g.record.logger.as_ref(), g.record.timestamp));
    assert_eq!((r.app.as_str(), r.host.as_str(), r.pid), (o.app.as_str(), o.host.as_str(), o.pid));
    assert_eq!(r.file.as_deref(), g.record.file.as_deref());
    assert_eq!(r.line, g.record.line);
    assert_eq!(r.module.as_deref(), g.record.module_path.as_deref());
    assert_eq!(r.thread, "main");
    assert_eq!(r.context, conformance::stored(r.id, o, &g.record).unwrap().context);
    assert_eq!(store.record(-1).unwrap(), None);

    // A request's records: across origins, oldest first.
    let related = store.related("request_id", &FieldValue::Text("r-40".into()), 100).unwrap();
    let mut want: Vec<&Gen> = gens.iter().filter(|g| g.seq / 3 == 40).collect();
    want.sort_by_key(|g| (g.record.timestamp, g.seq));
    assert_eq!(related.iter().map(seq_of).collect::<Vec<_>>(), want.iter().map(|g| g.seq).collect::<Vec<_>>());
    assert_eq!(related.len(), 3);
    assert_eq!(store.related("request_id", &FieldValue::Text("r-40".into()), 2).unwrap().len(), 2);
    assert_eq!(store.related("", &FieldValue::Text("x".into()), 2).unwrap_err().kind(), StoreErrorKind::BadFilter);
}

/// Two sessions draw ids from the sequence; the lower id commits last. A tail
/// by "ids above the last shown" skips it; `Follow` delivers both, once each.
#[test]
fn follow_delivers_rows_committed_out_of_id_order_once() {
    server_or_skip!();
    let (url, _sink, store, _) = setup(10);
    let start = store.tail(&filter(), None, 1).unwrap()[0].id;
    let mut follow = Follow::after(filter(), start).reorder(std::time::Duration::ZERO);
    assert!(follow.poll(&store, 100).unwrap().is_empty());
    let insert = "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app)
                  VALUES (now(), 20, 'late', $1, 'main', 1, 'h', 'a') RETURNING id";
    let (mut a, mut b) = (client(&url), client(&url));
    let mut first = a.transaction().unwrap();
    let low: i64 = first.query_one(insert, &[&"lower id, committed last"]).unwrap().get(0);
    let mut second = b.transaction().unwrap();
    let high: i64 = second.query_one(insert, &[&"higher id, committed first"]).unwrap().get(0);
    assert!(low < high);
    second.commit().unwrap();
    let got = follow.poll(&store, 100).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), [high]);
    first.commit().unwrap();
    assert!(store.tail(&filter(), Some(high), 100).unwrap().is_empty(), "by id alone the late row is skipped");
    let got = follow.poll(&store, 100).unwrap();
    assert_eq!(got.iter().map(|r| (r.id, r.message.as_str())).collect::<Vec<_>>(), [(low, "lower id, committed last")]);
    assert!(follow.poll(&store, 100).unwrap().is_empty(), "each row once");
    assert_eq!(follow.last_id(), high);
}

/// Counts per logger and slot, computed from the generated records.
fn slot_counts(gens: &[Gen], slots: &Slots) -> BTreeMap<String, Vec<LevelCounts>> {
    let mut out: BTreeMap<String, Vec<LevelCounts>> = BTreeMap::new();
    for g in gens {
        if let Some(i) = slots.index_of(g.record.timestamp) {
            out.entry(g.record.logger.to_string()).or_insert_with(|| vec![LevelCounts::default(); slots.len()])[i]
                .add(g.record.level);
        }
    }
    out
}

#[test]
fn cards_equal_counts_from_the_rows() {
    server_or_skip!();
    let (_url, _sink, store, gens) = setup(2_000);
    let now = Timestamp(T0 + 36 * HOUR + 20 * 60 * SEC);
    for slots in [
        Slots::hours_until(now, 24).unwrap(),
        Slots::days_until(now, 5 * 3600 + 1800, 3).unwrap(),
        Slots::ending_at(Timestamp(T0 + 10 * HOUR + 45 * 60 * SEC), QUARTER_HOUR * 3, 8).unwrap(),
    ] {
        let mut q = CardsQuery::new(slots.clone(), now);
        q.limit = 100;
        let cards = store.cards(&q).unwrap();
        let counts = slot_counts(&gens, &slots);
        let loggers: BTreeSet<&str> = gens.iter().map(|g| g.record.logger.as_ref()).collect();
        assert_eq!(cards.matching, loggers.len());
        assert_eq!(cards.cards.iter().map(|c| c.logger.as_str()).collect::<BTreeSet<_>>(), loggers);
        let names: Vec<&str> = cards.cards.iter().map(|c| c.logger.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "by name");
        for card in &cards.cards {
            let mine: Vec<&Gen> = gens.iter().filter(|g| g.record.logger == card.logger).collect();
            assert_eq!(card.totals.total, mine.len() as u64);
            assert_eq!(card.totals.errors, mine.iter().filter(|g| g.record.level == Level::Error).count() as u64);
            assert_eq!(card.totals.warnings, mine.iter().filter(|g| g.record.level == Level::Warn).count() as u64);
            assert_eq!(card.totals.first, mine.iter().map(|g| g.record.timestamp).min().unwrap());
            assert_eq!(card.totals.last, mine.iter().map(|g| g.record.timestamp).max().unwrap());
            let zero = vec![LevelCounts::default(); slots.len()];
            assert_eq!(&card.slots, counts.get(&card.logger).unwrap_or(&zero), "{}", card.logger);
            // The quarters overlapping [now − 1 h, now): 35:15 to 36:30 (now is 36:20).
            let (hour_start, hour_end) =
                (Timestamp(T0 + 35 * HOUR + 15 * 60 * SEC), Timestamp(T0 + 36 * HOUR + 30 * 60 * SEC));
            let mut last_hour = LevelCounts::default();
            for g in mine.iter().filter(|g| g.record.timestamp < hour_end && g.record.timestamp >= hour_start) {
                last_hour.add(g.record.level);
            }
            assert_eq!(card.last_hour, last_hour, "{}", card.logger);
        }
        // Filters, name, offset and limit.
        let counts_in_span = |g: &&Gen| slots.index_of(g.record.timestamp).is_some();
        for (which, levels) in
            [(CardFilter::Errors, &[Level::Error][..]), (CardFilter::Warnings, &[Level::Warn, Level::Error])]
        {
            q.filter = which;
            let want: BTreeSet<&str> = gens
                .iter()
                .filter(counts_in_span)
                .filter(|g| levels.contains(&g.record.level))
                .map(|g| g.record.logger.as_ref())
                .collect();
            let got = store.cards(&q).unwrap();
            assert_eq!(got.cards.iter().map(|c| c.logger.as_str()).collect::<BTreeSet<_>>(), want);
            assert_eq!(got.matching, want.len());
        }
        q.filter = CardFilter::All;
        q.name = Some("BILL".into());
        let got = store.cards(&q).unwrap();
        assert_eq!(got.cards.iter().map(|c| c.logger.as_str()).collect::<Vec<_>>(), ["Billing::API", "billing"]);
        q.name = None;
        q.offset = 2;
        q.limit = 3;
        let got = store.cards(&q).unwrap();
        assert_eq!(got.matching, loggers.len());
        assert_eq!(got.cards.iter().map(|c| c.logger.as_str()).collect::<Vec<_>>(), sorted[2..5].to_vec());
    }
    let unaligned = Slots::ending_at(Timestamp(T0 + 7 * 60 * SEC), HOUR, 3).unwrap();
    let err = store.cards(&CardsQuery::new(unaligned, now)).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::BadFilter);
}

#[test]
fn histograms_from_aggregates_and_from_rows() {
    server_or_skip!();
    let (url, _sink, store, gens) = setup(2_000);
    let check = |store: &PgStore, f: &RecordFilter, slots: &Slots| {
        let h = store.histogram(f, slots).unwrap();
        let mut want = vec![LevelCounts::default(); slots.len()];
        for g in gens.iter().filter(|g| keeps(f, g)) {
            if let Some(i) = slots.index_of(g.record.timestamp) {
                want[i].add(g.record.level);
            }
        }
        assert_eq!(h.slots, want, "{f:?} {slots:?}");
        assert!(h.complete);
    };
    let hours = Slots::hours_until(Timestamp(T0 + 40 * HOUR), 30).unwrap();
    let quarters = Slots::ending_at(Timestamp(T0 + 20 * HOUR), QUARTER_HOUR, 20).unwrap();
    let odd = Slots::new(vec![Timestamp(T0 + 7), Timestamp(T0 + HOUR + 3), Timestamp(T0 + 30 * HOUR)]).unwrap();
    let mut aggregate_only = filter();
    aggregate_only.logger = Some("app::".parse().unwrap());
    aggregate_only.min_level = Some(Level::Warn);
    aggregate_only.since = Some(Timestamp(T0 + 12 * HOUR));
    let mut unaligned_since = aggregate_only.clone();
    unaligned_since.since = Some(Timestamp(T0 + 12 * HOUR + 5));
    let mut rows_only = filter();
    rows_only.host = Some("web-2".into());
    rows_only.text = Some("timeout".into());
    for slots in [&hours, &quarters, &odd] {
        for f in [&filter(), &aggregate_only, &unaligned_since, &rows_only] {
            check(&store, f, slots);
        }
    }
    // The aggregate path reads the aggregates: prove it by making them disagree with the rows.
    let mut db = Client::connect(&url, NoTls).unwrap();
    db.batch_execute(
        "UPDATE log_logger_hourly SET error = error + 1000; UPDATE log_logger_quarter SET error = error + 1000",
    )
    .unwrap();
    let total = |h: &log_panel_query::Histogram| h.slots.iter().map(LevelCounts::total).sum::<u64>();
    let skewed = store.histogram(&filter(), &hours).unwrap();
    let from_rows = store.histogram(&rows_only, &hours).unwrap();
    assert!(total(&skewed) >= 1000, "aggregate path");
    assert!(total(&from_rows) < 1000, "row path");
    db.batch_execute(
        "UPDATE log_logger_hourly SET error = error - 1000; UPDATE log_logger_quarter SET error = error - 1000",
    )
    .unwrap();
    // A bound on rows scanned: a lower bound, marked incomplete.
    let bounded = PgStore::connect(&url).unwrap().with_scan_bound(10);
    let h = bounded.histogram(&rows_only, &odd).unwrap();
    let matching = gens.iter().filter(|g| keeps(&rows_only, g) && odd.index_of(g.record.timestamp).is_some()).count();
    assert!(matching > 11, "the data should pass the bound");
    assert!(!h.complete);
    assert_eq!(total(&h), 11);
    let h = bounded.histogram(&filter(), &hours).unwrap();
    assert!(h.complete, "aggregates are not bounded");
}

#[test]
fn call_sites_loggers_and_many_threads() {
    server_or_skip!();
    let (_url, _sink, store, gens) = setup(1_500);
    let mut f = filter();
    f.since = Some(Timestamp(T0 + 6 * HOUR));
    let sites = store.call_sites(&f, 5).unwrap();
    type Site = (String, Option<String>, Option<u32>);
    let mut want: BTreeMap<Site, (LevelCounts, Timestamp, u64)> = BTreeMap::new();
    for g in gens.iter().filter(|g| keeps(&f, g)) {
        let key = (g.record.logger.to_string(), g.record.file.as_ref().map(|s| s.to_string()), g.record.line);
        let e = want.entry(key).or_insert((LevelCounts::default(), Timestamp(i64::MIN), 0));
        e.0.add(g.record.level);
        if (g.record.timestamp, g.seq) > (e.1, e.2) {
            e.1 = g.record.timestamp;
            e.2 = g.seq;
        }
    }
    let mut ranked: Vec<_> = want.into_iter().collect();
    ranked.sort_by_key(|(_, (c, _, _))| std::cmp::Reverse(c.total()));
    assert_eq!(sites.len(), 5);
    for (i, site) in sites.iter().enumerate() {
        let key = (site.logger.clone(), site.file.clone(), site.line);
        let (_, (counts, last, seq)) = ranked.iter().find(|(k, _)| *k == key).unwrap();
        assert_eq!((site.counts, site.last_seen), (*counts, *last), "{key:?}");
        assert!(site.example.ends_with(&format!("#{seq}")), "{key:?}: {}", site.example);
        assert!(site.counts.total() >= ranked.get(5).map_or(0, |r| r.1 .0.total()), "top 5");
        if i > 0 {
            assert!(sites[i - 1].counts.total() >= site.counts.total());
        }
    }
    let mut loggers: Vec<String> = LOGGERS.iter().map(|s| s.to_string()).collect();
    loggers.sort();
    assert_eq!(store.loggers().unwrap(), loggers);

    // The pool serves many threads at once.
    let store = std::sync::Arc::new(store);
    let want = expected(&gens, &filter()).len();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || walk(&store, &filter(), 200).len())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), want);
    }
}

/// The aggregate tables as text, to compare.
pub(crate) fn aggregate_tables(db: &mut Client) -> Vec<Vec<String>> {
    db.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    [
        "SELECT logger || total || '/' || errors || '/' || warnings || first_seen::text || last_seen::text \
         FROM log_logger_stats ORDER BY logger",
        "SELECT logger || hour::text || trace || debug || info || warn || error FROM log_logger_hourly ORDER BY 1",
        "SELECT logger || quarter::text || trace || debug || info || warn || error FROM log_logger_quarter ORDER BY 1",
        "SELECT hour::text || logger || file_key || line_key || '/' || trace || debug || info || warn || error \
         || last_seen::text FROM log_site_hourly ORDER BY 1",
        "SELECT day::text || logger || file_key || line_key || '/' || trace || debug || info || warn || error \
         || last_seen::text FROM log_site_daily ORDER BY 1",
    ]
    .iter()
    .map(|sql| db.query(*sql, &[]).unwrap().iter().map(|r| r.get(0)).collect())
    .collect()
}

#[test]
fn prune_keeps_the_aggregates_equal_to_a_rebuild() {
    server_or_skip!();
    let (url, mut sink, store, gens) = setup(2_000);
    let maintenance = PgMaintenance::connect(&url).unwrap();
    while sink.idle().unwrap() {} // index everything, so the side table is pruned too
    let before = Timestamp(T0 + 20 * HOUR + 7 * 60 * SEC);
    let old = gens.iter().filter(|g| g.record.timestamp < before).count() as u64;
    let dry = maintenance.prune(before, 150, true).unwrap();
    assert_eq!((dry.deleted, dry.batches), (old, old.div_ceil(150)));
    let mut db = Client::connect(&url, NoTls).unwrap();
    let rows = |db: &mut Client| -> i64 { db.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0) };
    assert_eq!(rows(&mut db), gens.len() as i64, "a dry run deletes nothing");
    let report = maintenance.prune(before, 150, false).unwrap();
    assert_eq!(report, dry);
    assert_eq!(rows(&mut db), (gens.len() as u64 - old) as i64);
    let search: i64 = db.query_one("SELECT count(*) FROM log_search", &[]).unwrap().get(0);
    assert_eq!(search, rows(&mut db), "the search side table follows");
    let incremental = aggregate_tables(&mut db);
    maintenance.rebuild().unwrap();
    assert_eq!(aggregate_tables(&mut db), incremental, "pruned aggregates equal a rebuild");
    assert_eq!(
        walk(&store, &filter(), 500),
        expected(&gens, &{
            let mut f = filter();
            f.since = Some(before);
            f
        })
    );
    assert_eq!(maintenance.prune(before, 150, false).unwrap().deleted, 0);
    // Everything: loggers disappear.
    maintenance.prune(Timestamp(T0 + 10 * DAY), 999, false).unwrap();
    assert!(store.loggers().unwrap().is_empty());
    assert_eq!(aggregate_tables(&mut db), vec![Vec::<String>::new(); 5]);
    assert_eq!(maintenance.prune(before, 0, true).unwrap_err().kind(), StoreErrorKind::BadFilter);
}

#[test]
fn sink_retention_deletes_expired_records_while_idle() {
    server_or_skip!();
    let url = TestServer::shared_database().unwrap();
    let day = std::time::Duration::from_secs(86_400);
    let mut sink = PgSink::connect(&url).unwrap().with_retention(Some(day));
    let now = Timestamp::now().0;
    // 2 500 expired records (three idle batches) and 300 fresh ones.
    let old = generate(&mut Rng(11), 0, 2_500, now - 5 * DAY, 3 * DAY);
    let fresh = generate(&mut Rng(12), 10_000, 300, now - HOUR, HOUR);
    write(&mut sink, &old);
    write(&mut sink, &fresh);
    let mut steps = 0;
    while sink.idle().unwrap() {
        steps += 1;
        assert!(steps < 100);
    }
    assert!(steps >= 2, "small batches: {steps} steps");
    let store = PgStore::connect(&url).unwrap();
    let mut got = walk(&store, &filter(), 1_000);
    got.sort_unstable();
    assert_eq!(got, (10_000..10_300).collect::<Vec<_>>());
    let mut db = Client::connect(&url, NoTls).unwrap();
    let incremental = aggregate_tables(&mut db);
    PgMaintenance::connect(&url).unwrap().rebuild().unwrap();
    assert_eq!(aggregate_tables(&mut db), incremental);
    // Without retention nothing is deleted.
    let url = TestServer::shared_database().unwrap();
    let mut sink = PgSink::connect(&url).unwrap();
    write(&mut sink, &old);
    while sink.idle().unwrap() {}
    assert_eq!(PgStore::connect(&url).unwrap().tail(&filter(), None, 5_000).unwrap().len(), old.len());
}

#[test]
fn a_version_2_database_with_rows_is_migrated_to_the_latest() {
    server_or_skip!();
    let url = TestServer::shared_database().unwrap();
    // Rows since version 1: migration 2 counts them, as it did for an older log-panel.
    let mut db = forge_schema(&url, 1);
    db.batch_execute(
        "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app, context) VALUES
            ('2026-11-22T08:14:59Z', 40, 'a::b', 'Disk FULL on /var', 't', 1, 'h', 'x', '{\"request_id\": \"r-1\", \"n\": 7}'),
            ('2026-11-22T08:15:00Z', 30, 'a', 'retrying', 't', 1, 'h', 'x', '{\"request_id\": \"r-1\"}'),
            ('2026-11-22T09:00:00Z', 20, 'b', 'ok', 't', 2, 'h', 'y', '{}')",
    )
    .unwrap();
    forge_upgrade(&mut db, 2);
    // A reader never migrates: it says what to do.
    let err = PgStore::connect(&url).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert!(err.to_string().contains("older log-panel") && err.to_string().contains("log-panel migrate"), "{err}");
    let version: i32 = db.query_one("SELECT max(version) FROM log_panel_schema", &[]).unwrap().get(0);
    assert_eq!(version, 2, "the reader left the schema as it was");
    assert_eq!(PgMaintenance::migrate(&url).unwrap(), (2, schema::latest_version()));
    let store = PgStore::connect(&url).unwrap();
    let version: i32 = db.query_one("SELECT max(version) FROM log_panel_schema", &[]).unwrap().get(0);
    assert_eq!(version, schema::latest_version());
    // Version 4 backfills the numbers of the rows already indexed, so a
    // comparison finds them through the (key, num) btree.
    let numbers: i64 =
        db.query_one("SELECT count(*) FROM log_search_num WHERE key = 'n' AND num = 7", &[]).unwrap().get(0);
    assert_eq!(numbers, 1);
    let mut f = filter();
    f.ranges.push(log_panel_query::FieldRange::new("n", log_panel_query::RangeOp::Gt, 6.5).unwrap());
    assert_eq!(store.records(&f, PageAt::Newest, 10).unwrap().records[0].message, "Disk FULL on /var");
    let (mark, indexed): (i64, i64) = {
        let r = db
            .query_one("SELECT (SELECT last_id FROM log_search_mark), (SELECT count(*) FROM log_search)", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((mark, indexed), (3, 3), "existing rows are indexed by the migration");
    let mut f = filter();
    f.text = Some("disk full".into());
    assert_eq!(store.records(&f, PageAt::Newest, 10).unwrap().records[0].message, "Disk FULL on /var");
    let mut f = filter();
    f.logger = Some("a::".parse().unwrap());
    f.fields.push("n=7".parse().unwrap());
    assert_eq!(store.records(&f, PageAt::Newest, 10).unwrap().records.len(), 1);
    // Numbers are typed as stored: 7 is not 7.0 (jsonb alone would say they are equal).
    db.batch_execute(
        "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app, context) VALUES
            ('2026-11-22T10:00:00Z', 20, 'f', 'float', 't', 1, 'h', 'x', '{\"n\": 7.0}')",
    )
    .unwrap();
    let count_of =
        |v: FieldValue| store.related("n", &v, 10).unwrap().iter().map(|r| r.message.clone()).collect::<Vec<_>>();
    assert_eq!(count_of(FieldValue::Int(7)), ["Disk FULL on /var"]);
    assert_eq!(count_of(FieldValue::Text("7".into())), ["Disk FULL on /var"]);
    assert_eq!(count_of(FieldValue::Text("7.0".into())), ["float"]);
    assert_eq!(store.related("request_id", &FieldValue::Text("r-1".into()), 10).unwrap().len(), 2);
    assert_eq!(index_names(&mut db, "log_records"), RECORD_INDEXES);
    // The sink writes into the migrated schema, and the plans use the new indexes.
    let mut sink = PgSink::connect(&url).unwrap();
    write(&mut sink, &generate(&mut Rng(1), 0, 10, T0, HOUR));
    db.batch_execute("SET enable_seqscan = off").unwrap();
    let plan: String = db
        .query("EXPLAIN SELECT id FROM log_search WHERE context @> '{\"n\": 7}'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(plan.contains("log_search_context_idx"), "{plan}");
}

#[test]
fn errors_are_typed_and_one_line() {
    server_or_skip!();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = PgStore::connect(&format!("postgres://u:hunter22@127.0.0.1:{port}/db?connect_timeout=2")).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    let shown = err.to_string();
    assert!(!shown.contains("hunter22") && !shown.contains('\n'), "{shown}");
    assert!(shown.contains("postgres://u:***@127.0.0.1"), "{shown}");

    let err = PgStore::connect("postgres://u:hunter22@h:notaport/db").unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::BadFilter);
    assert!(!err.to_string().contains("hunter22"));

    let url = TestServer::shared_database().unwrap();
    drop(PgSink::connect(&url).unwrap());
    let store = PgStore::connect(&url).unwrap();
    assert!(store.describe().starts_with("PostgreSQL postgres://"));
    let mut db = Client::connect(&url, NoTls).unwrap();
    db.execute("INSERT INTO log_panel_schema (version, description) VALUES (99, 'future')", &[]).unwrap();
    let err = PgStore::connect(&url).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NewerSchema);
    assert!(err.to_string().contains("version 99"), "{err}");

    assert_eq!("12_x".parse::<Cursor>().unwrap_err().kind(), StoreErrorKind::BadFilter);
    assert_eq!(store.records(&filter(), PageAt::Newest, 0).unwrap_err().kind(), StoreErrorKind::BadFilter);
    // A cursor pointing nowhere is just a position.
    let far = Cursor { ts: Timestamp(i64::MIN), id: i64::MIN };
    let page = store.records(&filter(), PageAt::Older(far), 10).unwrap();
    assert!(page.records.is_empty() && page.older.is_none());

    // A store whose server goes away reports Unavailable, then recovers.
    let Some(server) = TestServer::start_stoppable("store reconnect") else { return };
    let url = server.create_database();
    drop(PgSink::connect(&url).unwrap());
    let store = PgStore::connect(&url).unwrap();
    assert!(store.loggers().unwrap().is_empty());
    server.stop_server();
    assert_eq!(store.loggers().unwrap_err().kind(), StoreErrorKind::Unavailable);
    server.start_server();
    assert!(store.loggers().unwrap().is_empty(), "reconnects after the server is back");
}

/// A reader never creates the schema: an empty database is refused as "not a
/// log-panel database" and keeps no table; `PgMaintenance::migrate` refuses it too.
#[test]
fn a_reader_never_creates_the_schema() {
    server_or_skip!();
    let url = TestServer::shared_database().unwrap();
    let mut db = Client::connect(&url, NoTls).unwrap();
    let tables = |db: &mut Client| -> i64 {
        db.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[]).unwrap().get(0)
    };
    db.batch_execute("CREATE TABLE customers (id int PRIMARY KEY)").unwrap();
    for attempt in [PgStore::connect(&url).map(drop), PgMaintenance::migrate(&url).map(drop)] {
        let err = attempt.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable);
        assert!(err.to_string().contains("is not a log-panel database (no log_panel_schema table"), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
    assert_eq!(tables(&mut db), 1, "only the application's own table");
}

/// Every read runs under the session's `statement_timeout`: past it the read
/// is `TimedOut` and the store keeps serving. 1 ms against an unindexed scan
/// of 300 000 messages, which takes far longer on any machine.
#[test]
fn a_read_past_its_time_budget_times_out() {
    server_or_skip!();
    let (url, sink) = fresh_sink().unwrap();
    drop(sink);
    let mut db = Client::connect(&url, NoTls).unwrap();
    db.batch_execute(
        "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app)
         SELECT now(), 20, 'big', 'message ' || i, 't', 1, 'h', 'a' FROM generate_series(1, 300000) i",
    )
    .unwrap();
    let store = PgStore::connect(&url).unwrap().with_read_timeout(std::time::Duration::from_millis(1));
    let mut f = filter();
    f.text = Some("zz".into());
    let err = store.records(&f, PageAt::Newest, 10).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("time budget") && !err.to_string().contains('\n'), "{err}");
    assert_eq!(store.call_sites(&f, 10).unwrap_err().kind(), StoreErrorKind::TimedOut);
    let slots = Slots::ending_at(Timestamp::now(), HOUR, 2).unwrap();
    assert_eq!(store.histogram(&f, &slots).unwrap_err().kind(), StoreErrorKind::TimedOut);
    // Maintenance has no budget.
    PgMaintenance::connect(&url).unwrap().rebuild().unwrap();
    // The default budget lets the same scan finish.
    let store = PgStore::connect(&url).unwrap();
    assert!(store.records(&f, PageAt::Newest, 10).unwrap().records.is_empty());
}

/// A sparse context value is paged from the side table's nearest
/// candidates: newest first, by cursor, within a time range, equal to the
/// SQL typed by hand; and when the nearest candidates fail the exact check
/// (`1286.0` is contained in `{"user_id": 1286}` but is not the integer),
/// the page still fills from the candidates beyond them.
#[test]
fn a_sparse_value_pages_from_its_nearest_candidates() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    // More rows than a page's first walk reads (5 000), so the index
    // answers: 8 000 records a second apart, user 1286 on every 25th of the
    // oldest 2 000 (80) as an integer, and on 3 of the newest as a float.
    let records: Vec<log_panel_core::Record> = (0..8_000i64)
        .map(|i| {
            let mut r = log_panel_core::Record::new(Level::Info, "app", format!("event {i}"));
            r.timestamp = Timestamp(T0 + i * SEC);
            let user = if i < 2_000 && i % 25 == 0 {
                serde_json::json!(1286)
            } else if [4_500, 5_000, 5_500].contains(&i) {
                serde_json::json!(1286.0)
            } else {
                serde_json::json!(i % 1000 + 2000)
            };
            r.kv.push(("user_id".into(), log_panel_core::Value::from_json(user)));
            r
        })
        .collect();
    for chunk in records.chunks(1_000) {
        sink.write(&log_panel_core::Batch::new(&origins()[0], chunk)).unwrap();
    }
    PgMaintenance::connect(&url).unwrap().catch_up_search().unwrap();
    let store = PgStore::connect(&url).unwrap();
    let mut db = client(&url);
    let by_hand = |db: &mut Client, cond: &str| -> Vec<String> {
        db.query(
            &format!(
                "SELECT message FROM log_records WHERE context->'user_id' = '1286'::jsonb
                   AND jsonb_typeof(context->'user_id') = 'number' AND (context->>'user_id') !~ '[.eE]' AND {cond}
                 ORDER BY ts DESC, id DESC LIMIT 50"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let messages = |page: &log_panel_query::Page| page.records.iter().map(|r| r.message.clone()).collect::<Vec<_>>();
    let mut f = RecordFilter::default();
    f.fields.push(FieldMatch::new("user_id", FieldValue::Text("1286".into())).unwrap());

    let newest = store.records(&f, PageAt::Newest, 50).unwrap();
    assert_eq!(messages(&newest), by_hand(&mut db, "TRUE"));
    assert_eq!(newest.records.first().map(|r| r.message.as_str()), Some("event 1975"));
    let cursor = newest.older.expect("80 match: a second page");
    let second = store.records(&f, PageAt::Older(cursor), 50).unwrap();
    assert_eq!(second.records.len(), 30);
    assert_eq!(second.records.last().map(|r| r.message.as_str()), Some("event 0"));
    assert!(second.older.is_none() && second.newer.is_some());

    f.since = Some(Timestamp(T0 + 1_000 * SEC));
    f.until = Some(Timestamp(T0 + 1_500 * SEC));
    let ranged = store.records(&f, PageAt::Newest, 50).unwrap();
    let since = "ts >= TIMESTAMPTZ '2026-11-20T00:16:40Z' AND ts < TIMESTAMPTZ '2026-11-20T00:25:00Z'";
    assert_eq!(messages(&ranged), by_hand(&mut db, since));
    assert_eq!(ranged.records.len(), 20);
    assert!(ranged.older.is_none());
}

/// A common word's histogram over a wide span is estimated from a sample
/// (`TABLESAMPLE`): each bar within a quarter of its exact count, the total
/// within 3 %; the exact `histogram` stays exact, and a rare word's estimate
/// is its exact count (the trigram index's candidates).
/// A burst of a common word (2 000 consecutive records in bar 7) lies in a
/// few of the bar's pages: the sample hits a few of them or none, so the
/// bar's margin is what its pages show, far wider than Poisson's on the
/// matches it found (about 10 % of the bar here), and every bar's exact
/// count lies within its range.
#[test]
fn a_bursts_bar_is_as_uncertain_as_its_pages_show() {
    use log_panel_testing::estimate as set;
    server_or_skip!();
    let (url, mut sink) = fresh_sink().unwrap();
    set::write_bursty_common(&mut sink, 5_000);
    while sink.idle().unwrap() {}
    client(&url).batch_execute("ANALYZE").unwrap();
    let store = PgStore::connect(&url).unwrap();
    let (slots, word) = (set::slots(), set::common_word());
    let exact = store.histogram(&word, &slots).unwrap();
    let estimate = store.histogram_estimate(&word, &slots).unwrap();
    assert!(estimate.sample.is_some(), "sampled: {estimate:?}");
    let bars: Vec<String> =
        (0..slots.len()).map(|i| format!("{i}: {} {:?}", exact.slots[i].total(), estimate.range(i).unwrap())).collect();
    // About 95 % ranges: of 20 bars, one may miss (expected), not more.
    let missed = (0..slots.len())
        .filter(|&i| {
            let (low, high) = estimate.range(i).unwrap();
            !(low..=high).contains(&exact.slots[i].total())
        })
        .count();
    assert!(missed <= 2, "{missed} bars outside their range: {bars:#?}");
    let burst = exact.slots[7].total();
    assert!(burst > 2_400, "the burst's bar: {burst}");
    assert!(estimate.margins[7] > burst / 4, "the burst's bar: ±{} of {burst}: {bars:#?}", estimate.margins[7]);
    // A quiet bar's pages agree: its margin stays near Poisson's.
    let quiet = exact.slots[2].total();
    assert!(estimate.margins[2] < quiet / 4, "a quiet bar: ±{} of {quiet}", estimate.margins[2]);
}

#[test]
fn a_common_words_histogram_is_estimated_and_a_rare_ones_counted() {
    use log_panel_testing::estimate as set;
    server_or_skip!();
    let (url, mut sink) = fresh_sink().unwrap();
    set::write(&mut sink, 5_000);
    while sink.idle().unwrap() {}
    // The planner's estimates of the term and of the span come from the statistics.
    client(&url).batch_execute("ANALYZE").unwrap();
    let store = PgStore::connect(&url).unwrap();
    let slots = set::slots();
    let common = set::common_word();
    let exact = store.histogram(&common, &slots).unwrap();
    let total: u64 = exact.slots.iter().map(|c| c.total()).sum();
    let fifth = set::RECORDS / 5;
    assert!((fifth * 95 / 100..fifth * 105 / 100).contains(&total), "about a fifth: {total}");
    let estimate = store.histogram_estimate(&common, &slots).unwrap();
    let sample = estimate.sample.expect("a sample");
    // 40 000 of the 240 000 rows, in whole pages.
    assert!((10.0..25.0).contains(&sample.percent()), "{sample:?}");
    // A bar's 12 000 rows give about 2 000 to the sample, 400 matches (±5 %
    // is one standard deviation), in pages of rows written together.
    set::assert_close("common word", &exact, &estimate, 0.25, 0.03);
    assert_eq!(store.histogram_estimate(&common, &slots).unwrap(), estimate, "the same pages each time");

    let rare = set::rare_word();
    let exact = store.histogram(&rare, &slots).unwrap();
    assert_eq!(exact.slots.iter().map(|c| c.total()).sum::<u64>(), set::RECORDS / set::RARE_EVERY);
    assert_eq!(store.histogram_estimate(&rare, &slots).unwrap(), exact);
    // A common word over a short span (15 000 rows) is counted.
    let mut narrow = set::common_word();
    narrow.since = Some(Timestamp(records::BASE + 100_000 * set::STEP));
    narrow.until = Some(Timestamp(records::BASE + 115_000 * set::STEP));
    let h = store.histogram_estimate(&narrow, &slots).unwrap();
    assert!(h.sample.is_none());
    assert_eq!(h, store.histogram(&narrow, &slots).unwrap());
}
