//! The unindexed tail's matches of a search term or a context condition,
//! read once for the parts of a page and extended by the rows written since.
//!
//! A records page with a term reads the rows above the search index's mark
//! (the tail, not yet indexed) by testing each message, in each of its
//! parts: the page's rows, the oldest match, the histogram's counts, the
//! field statistics — each a scan of the whole tail (a search page with a
//! 20 000-row tail tested 40 000 messages for its rows and histogram, 80 000
//! with the field keys open; docs/performance.md, session 43). A context
//! condition (`request_id = …`, the request view) reads the rows above the
//! context side table's mark the same way: a request view's three reads
//! each tested every context of the tail, 600 000 beside a writer whose
//! index lagged 200 000 records (docs/performance.md, session 45). The store keeps, for
//! a few seconds, the ids of the tail's rows that pass a condition (the tail
//! up to the newest id it read), and each part reads those rows by id and
//! tests only the rows written since. The ids are candidates only: every
//! part tests each listed row again with its own conditions (a few rows), so
//! a listed id whose row is gone, or another's, is no match. What the memory
//! must hold is every match of its range: a row's id is drawn in its write
//! transaction as the largest plus one
//! ([`Store::ids_in_commit_order`](log_panel_query::Store::ids_in_commit_order)),
//! so no row appears later below the newest id a read saw.
//!
//! Bounded: only a tail of at most [`MAX_TAIL_ROWS`] rows, only a condition
//! with at most [`MAX_MATCHES`] matches in it (beyond, each part scans as
//! before), at most [`MAX_CONDITIONS`] conditions, each kept [`KEPT_FOR`]
//! after its last use. A reader's memory only: nothing is written.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

use crate::file;
use crate::sql::KeyCondition;
use crate::upkeep::search;

/// A longer tail is scanned by each part (its matches' list would cost more
/// to send than the scan saves, and the writer's idle steps index it soon).
pub(crate) const MAX_TAIL_ROWS: i64 = 1_000_000;
/// A condition with more matches in the tail is scanned by each part.
pub(crate) const MAX_MATCHES: usize = 10_000;
/// Conditions remembered at once.
const MAX_CONDITIONS: usize = 4;
/// How long a condition's matches are kept after their last use: the parts of
/// one page, and the next pages of a user paging or a view refreshing.
const KEPT_FOR: Duration = Duration::from_secs(5);

/// A condition's matches above `from` up to `upto`: the part tests these ids,
/// then scans the rows above `upto` (written since).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TailMatches {
    /// The ids above the read's mark whose row passes the condition, up to `upto`, ascending.
    pub(crate) ids: Vec<i64>,
    /// The index's mark the ids are above: a part whose own mark is
    /// lower (an index rebuilt since) scans the rows between.
    pub(crate) mark: i64,
    /// The newest id the memory covers.
    pub(crate) upto: i64,
}

impl TailMatches {
    /// The ids as a JSON array (bound to `json_each`).
    pub(crate) fn list(&self) -> String {
        format!("[{}]", self.ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
    }
}

/// One part of a read of the rows above its index's mark (the read's mark,
/// known to the caller as a value or read by its statement), from
/// [`tail_parts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TailPart<'a> {
    /// The remembered matches, tested by id: those above the read's mark
    /// (the read's index holds the others).
    Listed(&'a TailMatches),
    /// The rows above the read's mark up to this id, tested: none unless
    /// the read's mark is lower than the memory's (an index rebuilt since).
    UpTo(i64),
    /// The rows above the read's mark and above this id (the newest the
    /// memory covers; `None`: every row above the mark), tested.
    Above(Option<i64>),
}

/// How a read takes the tail above its index's mark with `memo`, the
/// condition's remembered matches: without, every row above the mark is
/// tested; with, the matches by id, the rows between the read's mark and
/// the memory's when the read's is lower, and the rows written since the
/// memory. Each row above the read's mark is in exactly one part.
pub(crate) fn tail_parts(memo: Option<&TailMatches>) -> Vec<TailPart<'_>> {
    match memo {
        Some(t) => vec![TailPart::Listed(t), TailPart::UpTo(t.mark), TailPart::Above(Some(t.upto))],
        None => vec![TailPart::Above(None)],
    }
}

/// A condition on a row of `log_records` whose tail matches are
/// remembered: its SQL test, its values bound from `?4` on (the memory's
/// statement binds the range and the limit first). Two conditions with the
/// same test and values keep the same rows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    test: String,
    params: Vec<Value>,
}

/// Placeholders before a condition's own values in the memory's statement.
const RANGE_PARAMS: usize = 3;

impl Condition {
    /// A message holding the search term `needle` (folded): the test the
    /// statements' scan of the search index's tail runs.
    pub(crate) fn term(needle: &str) -> Condition {
        Condition {
            test: format!("{}(message, ?{})", search::CONTAINS_FN, RANGE_PARAMS + 1),
            params: vec![Value::Text(needle.to_owned())],
        }
    }

    /// A context condition: the check the statements' scan of the side
    /// table's tail runs on each record (its needle first).
    pub(crate) fn key(c: KeyCondition<'_>) -> Condition {
        let mut params = Vec::new();
        let test = c.record_check(&mut |v| {
            params.push(v);
            format!("?{}", RANGE_PARAMS + params.len())
        });
        Condition { test, params }
    }
}

/// One condition's memory.
struct Entry {
    file: Option<file::Id>,
    condition: Condition,
    /// The mark when the memory began: it holds the matches above it.
    from: i64,
    upto: i64,
    /// The time of the row `upto` when read: a row of that id with another
    /// time is a row written after the top was deleted.
    upto_ts: String,
    ids: Vec<i64>,
    used: Instant,
}

/// The store's memory of the tail's matches (see the module documentation).
#[derive(Default)]
pub(crate) struct TailMemo {
    entries: Mutex<Vec<Entry>>,
}

impl TailMemo {
    /// The matches of `condition` above its index's `mark` on `conn` (a
    /// read connection of `file`), the memory extended by the rows written
    /// since its last use; `None` when there is no tail, or it or its
    /// matches are past the bounds (the caller scans).
    pub(crate) fn matches(
        &self,
        conn: &Connection,
        file: Option<file::Id>,
        condition: &Condition,
        mark: i64,
    ) -> rusqlite::Result<Option<TailMatches>> {
        let newest: Option<(i64, String)> = conn
            .prepare_cached("SELECT id, ts FROM log_records ORDER BY id DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((newest, newest_ts)) = newest else { return Ok(None) };
        // No tail: the statements read the index alone, as they would.
        if newest <= mark || newest.saturating_sub(mark) > MAX_TAIL_ROWS {
            return Ok(None);
        }
        let now = Instant::now();
        // Taken out while its rows are read (the lock is not held over a
        // scan: another condition's page does not wait for it), put back after.
        let known = {
            let Ok(mut entries) = self.entries.lock() else { return Ok(None) };
            entries.retain(|e| now.duration_since(e.used) < KEPT_FOR);
            // A memory from a higher mark (an index rebuilt since) or past the
            // newest row (rows deleted at the top, whose ids the next rows take)
            // is not the tail's: read anew.
            let at = entries
                .iter()
                .position(|e| e.file == file && e.condition == *condition && e.from <= mark && e.upto <= newest);
            at.map(|i| entries.swap_remove(i))
        };
        // Nor is one whose newest row is gone or another's: the top deleted
        // and rows written since, under the deleted rows' ids (told by the
        // time; a row of the same id and microsecond is taken for the same).
        let known = match known {
            Some(e) if e.upto == newest => (e.upto_ts == newest_ts).then_some(e),
            Some(e) => {
                let ts: Option<String> = conn
                    .prepare_cached("SELECT ts FROM log_records WHERE id = ?1")?
                    .query_row([e.upto], |r| r.get(0))
                    .optional()?;
                (ts.as_deref() == Some(e.upto_ts.as_str())).then_some(e)
            }
            None => None,
        };
        let (from, lo, mut ids, lo_ts) = match known {
            Some(e) => (e.from, e.upto, e.ids, Some(e.upto_ts)),
            None => (mark, mark, Vec::new(), None),
        };
        if newest > lo {
            let room = MAX_MATCHES.saturating_sub(ids.len());
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT id FROM log_records WHERE id > ?1 AND id <= ?2 AND {} ORDER BY id LIMIT ?3",
                condition.test
            ))?;
            let range = [lo, newest, i64::try_from(room).unwrap_or(i64::MAX).saturating_add(1)].map(Value::Integer);
            let more = stmt
                .query_map(params_from_iter(range.iter().chain(&condition.params)), |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            if more.len() > room {
                return Ok(None);
            }
            ids.extend(more);
        }
        // `newest > lo` unless the memory already reached it (`lo_ts` then its time).
        let (upto, upto_ts) = match lo_ts {
            Some(ts) if lo >= newest => (lo, ts),
            _ => (newest, newest_ts),
        };
        // The ids the index now holds are read from it: the memory keeps the tail's.
        ids.retain(|&id| id > mark);
        let found = TailMatches { ids: ids.clone(), mark, upto };
        let Ok(mut entries) = self.entries.lock() else { return Ok(Some(found)) };
        // The same condition's memory put back meanwhile by a page beside is
        // replaced: either holds every match of its range.
        entries.retain(|e| !(e.file == file && e.condition == *condition));
        if entries.len() >= MAX_CONDITIONS {
            if let Some(oldest) = entries.iter().enumerate().min_by_key(|(_, e)| e.used).map(|(i, _)| i) {
                entries.swap_remove(oldest);
            }
        }
        entries.push(Entry { file, condition: condition.clone(), from: from.max(mark), upto, upto_ts, ids, used: now });
        Ok(Some(found))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, DAY, HOUR};
    use log_panel_query::{Cursor, PageAt, RecordFilter, Slots, Store};
    use rusqlite::functions::FunctionFlags;

    use crate::upkeep::search;
    use crate::SqliteStore;

    /// Records `range` an hour's tenth apart from `t0`, every 100th holding `quasar`.
    fn records(t0: i64, range: std::ops::Range<i64>) -> Vec<Record> {
        let thread: std::sync::Arc<str> = std::sync::Arc::from("main");
        range
            .map(|i| {
                let text = if i % 100 == 7 { format!("quasar seen {i}") } else { format!("routine step {i}") };
                Record::at(Timestamp(t0 + i * (HOUR / 10)), Level::Info, "web".into(), text.into(), thread.clone())
            })
            .collect()
    }

    /// A file (`logs.db` in the directory) of `records(t0, 0..5_000)`, the
    /// first 2 000 indexed, the 3 000 above them the unindexed tail (no idle
    /// step after their write); its sink, to write more.
    fn indexed_then_tail(
        records: fn(i64, std::ops::Range<i64>) -> Vec<Record>,
    ) -> (tempfile::TempDir, i64, crate::SqliteSink, Origin) {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Timestamp::now().0 - 30 * DAY;
        let mut sink = crate::SqliteSink::open(dir.path().join("logs.db")).unwrap();
        let origin = Origin::new("a", "h", 1);
        sink.write(&Batch::new(&origin, &records(t0, 0..2_000))).unwrap();
        while sink.idle().unwrap() {}
        sink.write(&Batch::new(&origin, &records(t0, 2_000..5_000))).unwrap();
        (dir, t0, sink, origin)
    }

    /// Rows the scan side tested while `read` ran.
    fn scanned<T>(read: impl FnOnce() -> T) -> (usize, T) {
        let before = search::SCANNED.with(std::cell::Cell::get);
        let out = read();
        (search::SCANNED.with(std::cell::Cell::get) - before, out)
    }

    /// The reads of a search page with the field keys open (the records
    /// page's parts): the page, the oldest match, the histogram, the keys.
    fn page_parts(store: &SqliteStore, filter: &RecordFilter, slots: &Slots) -> (Vec<i64>, Option<i64>, u64) {
        let page = store.records(filter, PageAt::Newest, 10).unwrap();
        assert!(page.older.is_some());
        // The web pages' earliest time (year 0), as `histogram::oldest` asks.
        let before_all = Cursor { ts: Timestamp(-62_167_219_200_000_000), id: i64::MIN };
        let oldest = store.records(filter, PageAt::Newer(before_all), 1).unwrap().records.first().map(|r| r.id);
        let counted: u64 = store.histogram(filter, slots).unwrap().slots.iter().map(|c| c.total()).sum();
        store.count_field_keys(filter, 1_000).unwrap();
        (page.records.iter().map(|r| r.id).collect(), oldest, counted)
    }

    /// A search page's parts test the unindexed tail's rows once between
    /// them (each scanned all of it before: four times for these four), and
    /// rows written after, once more; every answer is the one the rows give.
    #[test]
    fn a_search_page_s_parts_scan_the_unindexed_tail_once() {
        let (dir, t0, mut sink, origin) = indexed_then_tail(records);
        let path = dir.path().join("logs.db");
        let store = SqliteStore::open(&path).unwrap();
        let mark = search::indexed_mark(&store.conn().unwrap()).unwrap();
        assert_eq!(mark, 2_000, "the tail is 3 000 rows above the mark");
        let mut filter = RecordFilter::default();
        filter.text = Some("quasar".into());
        let slots = Slots::ending_at(Timestamp(t0 + 24 * DAY), DAY, 24).unwrap();
        let matching = |upto: i64| (0..upto).filter(|i| i % 100 == 7).map(|i| i + 1).collect::<Vec<i64>>();

        let (n, (page, oldest, counted)) = scanned(|| page_parts(&store, &filter, &slots));
        let expected = matching(5_000);
        assert_eq!(page, expected.iter().rev().take(10).copied().collect::<Vec<_>>());
        assert_eq!((oldest, counted), (Some(8), 50));
        // The tail's 3 000 rows once, plus the few listed and candidate rows tested again.
        assert!((3_000..3_000 + 400).contains(&n), "tested {n} rows");

        // Rows written since: only they are scanned, and they are found.
        sink.write(&Batch::new(&origin, &records(t0, 5_000..5_500))).unwrap();
        let (n, (page, oldest, counted)) = scanned(|| page_parts(&store, &filter, &slots));
        let expected = matching(5_500);
        assert_eq!(page, expected.iter().rev().take(10).copied().collect::<Vec<_>>());
        assert_eq!((oldest, counted), (Some(8), 55));
        assert!((500..500 + 400).contains(&n), "tested {n} rows");
    }

    /// Records `range` an hour's tenth apart from `t0`, the `i`th of request `req-{i % 250}`.
    fn requests(t0: i64, range: std::ops::Range<i64>) -> Vec<Record> {
        let thread: std::sync::Arc<str> = std::sync::Arc::from("main");
        range
            .map(|i| {
                let mut r = Record::at(
                    Timestamp(t0 + i * (HOUR / 10)),
                    Level::Info,
                    "web".into(),
                    format!("step {i}").into(),
                    thread.clone(),
                );
                r.kv.push(("request_id".into(), log_panel_core::Value::from(format!("req-{}", i % 250))));
                r
            })
            .collect()
    }

    /// Replaces `instr` (the context conditions' test of each tail row,
    /// before its JSON is parsed) on the store's pooled connection, which its
    /// reads one after another lease, by one that calls `each` first.
    fn instr_calling(store: &SqliteStore, each: impl Fn() + Send + std::panic::UnwindSafe + 'static) {
        let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
        let conn = store.conn().unwrap();
        conn.create_scalar_function("instr", 2, flags, move |ctx| {
            each();
            let (hay, needle) = (ctx.get::<Option<String>>(0)?, ctx.get::<Option<String>>(1)?);
            Ok(hay.zip(needle).map(|(h, n)| h.find(&n).map_or(0, |at| h[..at].chars().count() as i64 + 1)))
        })
        .unwrap();
    }

    /// Counts the calls of `instr` on the store's pooled connection.
    fn counting_instr(store: &SqliteStore) -> Arc<AtomicUsize> {
        let count = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        instr_calling(store, move || {
            counted.fetch_add(1, Ordering::Relaxed);
        });
        count
    }

    /// The request view's reads (`/related?key=request_id&value=…`): its
    /// page of 5 oldest first, whether a page follows, its last record.
    fn request_view(store: &SqliteStore, filter: &RecordFilter) -> (Vec<i64>, Option<i64>) {
        let before_all = Cursor { ts: Timestamp(-62_167_219_200_000_000), id: i64::MIN };
        let page = store.records(filter, PageAt::Newer(before_all), 5).unwrap();
        assert!(page.newer.is_some());
        let last = store.records(filter, PageAt::Newest, 1).unwrap().records.first().map(|r| r.id);
        // A page's records come newest first (the view reverses them).
        (page.records.iter().rev().map(|r| r.id).collect(), last)
    }

    /// The request's ids, oldest first, as the rows give them.
    fn by_hand(path: &std::path::Path, value: &str) -> Vec<i64> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT id FROM log_records WHERE json_extract(context, '$.request_id') = ?1 ORDER BY ts, id")
            .unwrap();
        stmt.query_map([value], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    /// A context condition's reads (the request view's page, the check for
    /// a next page, its last record) test the unindexed tail's rows once
    /// between them (each scanned all of it before), and rows written after,
    /// once more; rows deleted in the tail are no match, and rows deleted at
    /// the top (their ids drawn again) are read anew. Every answer is the
    /// one the rows give.
    #[test]
    fn a_context_condition_s_reads_scan_the_unindexed_tail_once() {
        let (dir, t0, mut sink, origin) = indexed_then_tail(requests);
        let path = dir.path().join("logs.db");
        let store = SqliteStore::open(&path).unwrap();
        let mark = crate::sql::key_mark(&store.conn().unwrap(), "request_id").unwrap();
        assert_eq!(mark, 2_000, "the tail is 3 000 rows above the side table's mark");
        let mut filter = RecordFilter::default();
        filter.fields.push("request_id=req-7".parse().unwrap());
        let tested = counting_instr(&store);
        let view = |tested: &AtomicUsize| {
            tested.store(0, Ordering::Relaxed);
            let got = request_view(&store, &filter);
            (tested.load(Ordering::Relaxed), got)
        };
        let expect = |ids: Vec<i64>| (ids[..5].to_vec(), ids.last().copied());

        let (n, got) = view(&tested);
        let ids = by_hand(&path, "req-7");
        assert_eq!(ids.len(), 20);
        assert_eq!(got, expect(ids));
        // The tail's 3 000 rows once (three scans of it before: 9 000), plus
        // each statement's candidates tested again (20 matches, 5 statements).
        assert!((3_000..3_000 + 150).contains(&n), "tested {n} rows");
        // Again within the memory's time, nothing written: the listed rows only.
        let (n, got) = view(&tested);
        assert_eq!(got, expect(by_hand(&path, "req-7")));
        assert!(n < 150, "tested {n} rows");

        // Rows written since: only they are scanned, and they are found.
        sink.write(&Batch::new(&origin, &requests(t0, 5_000..5_500))).unwrap();
        let (n, got) = view(&tested);
        let ids = by_hand(&path, "req-7");
        assert_eq!((ids.len(), ids.last()), (22, Some(&5_258)));
        assert_eq!(got, expect(ids));
        assert!((500..500 + 150).contains(&n), "tested {n} rows");

        // Matches deleted in the tail (the oldest one there, and the newest):
        // listed, tested again, no match.
        sink.connection().execute("DELETE FROM log_records WHERE id IN (2008, 5258)", []).unwrap();
        let (_, got) = view(&tested);
        let ids = by_hand(&path, "req-7");
        assert_eq!((ids.len(), ids.last()), (20, Some(&5_008)));
        assert_eq!(got, expect(ids));

        // The top deleted and written again: the new rows take the deleted
        // rows' ids, which the memory had read; they are found.
        sink.connection().execute("DELETE FROM log_records WHERE id > 5_400", []).unwrap();
        let mut again = requests(t0 + 60_000_000, 5_400..5_500);
        for r in &mut again {
            r.kv[0].1 = log_panel_core::Value::from("req-7".to_owned());
        }
        sink.write(&Batch::new(&origin, &again)).unwrap();
        let (_, got) = view(&tested);
        let ids = by_hand(&path, "req-7");
        assert_eq!((ids.len(), ids.last()), (120, Some(&5_500)));
        assert_eq!(got, expect(ids));
    }

    /// The writer beside a long tail scan, called from inside the scan.
    struct Beside {
        sink: crate::SqliteSink,
        origin: Origin,
        t0: i64,
        calls: usize,
    }

    /// Records `range` a second apart from `t0`, of request `req-{i % 250}`
    /// (or all of `every`).
    fn seconds_apart(t0: i64, range: std::ops::Range<i64>, every: Option<&str>) -> Vec<Record> {
        let thread: std::sync::Arc<str> = std::sync::Arc::from("main");
        range
            .map(|i| {
                let (at, text) = (Timestamp(t0 + i * (HOUR / 3_600)), format!("step {i}"));
                let mut r = Record::at(at, Level::Info, "web".into(), text.into(), thread.clone());
                let id = every.map_or_else(|| format!("req-{}", i % 250), str::to_owned);
                r.kv.push(("request_id".into(), log_panel_core::Value::from(id)));
                r
            })
            .collect()
    }

    /// A file of `seconds_apart(t0, 0..30_000)`, the first 2 000 indexed, the
    /// 28 000 above them the context side table's tail; its sink.
    fn long_tail() -> (tempfile::TempDir, std::path::PathBuf, i64, crate::SqliteSink, Origin) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let t0 = Timestamp::now().0 - 2 * DAY;
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = Origin::new("a", "h", 1);
        sink.write(&Batch::new(&origin, &seconds_apart(t0, 0..2_000, None))).unwrap();
        while sink.idle().unwrap() {}
        sink.write(&Batch::new(&origin, &seconds_apart(t0, 2_000..30_000, None))).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(crate::sql::key_mark(&conn, "request_id").unwrap(), 2_000);
        (dir, path, t0, sink, origin)
    }

    /// Rows written and rows deleted while a context condition's tail of
    /// 28 000 rows is being read (from inside the scan: the condition's test
    /// of a row): the view's answers are the ones the rows give, the tail is
    /// tested once, and asked again, the memory answers.
    #[test]
    fn rows_written_and_deleted_while_a_long_tail_is_read_are_answered() {
        let (_dir, path, t0, sink, origin) = long_tail();
        let store = SqliteStore::open(&path).unwrap();
        let beside = Arc::new(Mutex::new(Beside { sink, origin, t0, calls: 0 }));
        let scanning = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (b, on) = (Arc::clone(&beside), Arc::clone(&scanning));
        instr_calling(&store, move || {
            if on.load(Ordering::Relaxed) {
                let mut guard = b.lock().unwrap();
                let b = &mut *guard;
                b.calls += 1;
                match b.calls {
                    // Rows written while the tail is read (above the newest
                    // row the memory reads up to), all of req-7.
                    1 => {
                        let rows = seconds_apart(b.t0, 30_000..30_100, Some("req-7"));
                        b.sink.write(&Batch::new(&b.origin, &rows)).unwrap();
                    }
                    // Deleted: a match the scan has listed, one it has
                    // not reached yet.
                    4_000 => {
                        let gone = "DELETE FROM log_records WHERE id IN (2258, 25258)";
                        assert_eq!(b.sink.connection().execute(gone, []).unwrap(), 2);
                    }
                    _ => {}
                }
            }
        });

        let mut filter = RecordFilter::default();
        filter.fields.push("request_id=req-7".parse().unwrap());
        let got = request_view(&store, &filter);
        scanning.store(false, Ordering::Relaxed);
        let calls = beside.lock().unwrap().calls;
        let ids = by_hand(&path, "req-7");
        // 120 in the table, two deleted, 100 written during the scan.
        assert_eq!((ids.len(), ids.first(), ids.last()), (218, Some(&8), Some(&30_100)));
        assert!(!ids.contains(&2_258) && !ids.contains(&25_258));
        assert_eq!(got, (ids[..5].to_vec(), ids.last().copied()));
        // The tail once, plus the statements' tests of the listed rows.
        assert!((28_000..28_000 + 2_000).contains(&calls), "tested {calls} rows");

        // Asked again, nothing written: the memory's rows only.
        let tested = counting_instr(&store);
        let got = request_view(&store, &filter);
        assert_eq!(got, (ids[..5].to_vec(), ids.last().copied()));
        let n = tested.load(Ordering::Relaxed);
        assert!(n < 2_000, "tested {n} rows");
    }
}
