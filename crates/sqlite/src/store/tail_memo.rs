//! The unindexed tail's matches of a search term, read once for the parts
//! of a page.
//!
//! A records page with a term reads the rows above the search index's mark
//! (the tail, not yet indexed) by testing each message, in each of its
//! parts: the page's rows, the oldest match, the histogram's counts, the
//! field statistics — each a scan of the whole tail (a search page with a
//! 20 000-row tail tested 40 000 messages for its rows and histogram, 80 000
//! with the field keys open; docs/performance.md, session 43). The store
//! keeps, for a few seconds, the ids of the tail's rows that hold a term
//! (the tail up to the newest id it read), and each part reads those rows by
//! id and tests only the rows written since. The ids are candidates only:
//! every part tests each listed row again with its own conditions and the
//! term (a few rows), so a listed id whose row is gone, or another's, is no
//! match. What the memory must hold is every match of its range: a row's id
//! is drawn in its write transaction as the largest plus one
//! ([`Store::ids_in_commit_order`](log_panel_query::Store::ids_in_commit_order)),
//! so no row appears later below the newest id a read saw.
//!
//! Bounded: only a tail of at most [`MAX_TAIL_ROWS`] rows, only a term with
//! at most [`MAX_MATCHES`] matches in it (beyond, each part scans as
//! before), at most [`MAX_TERMS`] terms, each kept [`KEPT_FOR`] after its
//! last use. A reader's memory only: nothing is written.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::file;
use crate::upkeep::search;

/// A longer tail is scanned by each part (its matches' list would cost more
/// to send than the scan saves, and the writer's idle steps index it soon).
pub(crate) const MAX_TAIL_ROWS: i64 = 1_000_000;
/// A term with more matches in the tail is scanned by each part.
pub(crate) const MAX_MATCHES: usize = 10_000;
/// Terms remembered at once.
const MAX_TERMS: usize = 4;
/// How long a term's matches are kept after their last use: the parts of
/// one page, and the next pages of a user paging or a view refreshing.
const KEPT_FOR: Duration = Duration::from_secs(5);

/// A term's matches above `from` up to `upto`: the part tests these ids,
/// then scans the rows above `upto` (written since).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TailMatches {
    /// The ids above the read's mark whose message holds the term, up to `upto`, ascending.
    pub(crate) ids: Vec<i64>,
    /// The search index's mark the ids are above: a part whose own mark is
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

/// One term's memory.
struct Entry {
    file: Option<file::Id>,
    /// The folded term.
    needle: String,
    /// The mark when the memory began: it holds the matches above it.
    from: i64,
    upto: i64,
    ids: Vec<i64>,
    used: Instant,
}

/// The store's memory of the tail's matches (see the module documentation).
#[derive(Default)]
pub(crate) struct TailMemo {
    entries: Mutex<Vec<Entry>>,
}

impl TailMemo {
    /// The matches of `needle` (folded) above the search index's `mark` on
    /// `conn` (a read connection of `file`), the memory extended by the rows
    /// written since its last use; `None` when there is no tail, or it or
    /// its matches are past the bounds (the caller scans).
    pub(crate) fn matches(
        &self,
        conn: &Connection,
        file: Option<file::Id>,
        needle: &str,
        mark: i64,
    ) -> rusqlite::Result<Option<TailMatches>> {
        let newest: i64 =
            conn.query_row("SELECT max(id) FROM log_records", [], |r| r.get::<_, Option<i64>>(0))?.unwrap_or(0);
        // No tail: the statements read the index alone, as they would.
        if newest <= mark || newest.saturating_sub(mark) > MAX_TAIL_ROWS {
            return Ok(None);
        }
        let now = Instant::now();
        // Taken out while its rows are read (the lock is not held over a
        // scan: another term's page does not wait for it), put back after.
        let known = {
            let Ok(mut entries) = self.entries.lock() else { return Ok(None) };
            entries.retain(|e| now.duration_since(e.used) < KEPT_FOR);
            // A memory from a higher mark (an index rebuilt since) or past the
            // newest row (rows deleted at the top, whose ids the next rows take)
            // is not the tail's: read anew.
            let at =
                entries.iter().position(|e| e.file == file && e.needle == needle && e.from <= mark && e.upto <= newest);
            at.map(|i| entries.swap_remove(i))
        };
        let (from, lo, mut ids) = match known {
            Some(e) => (e.from, e.upto, e.ids),
            None => (mark, mark, Vec::new()),
        };
        if newest > lo {
            let room = MAX_MATCHES.saturating_sub(ids.len());
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT id FROM log_records WHERE id > ?1 AND id <= ?2 AND {}(message, ?3) ORDER BY id LIMIT ?4",
                search::CONTAINS_FN
            ))?;
            let more = stmt
                .query_map(
                    params![lo, newest, needle, i64::try_from(room).unwrap_or(i64::MAX).saturating_add(1)],
                    |r| r.get::<_, i64>(0),
                )?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            if more.len() > room {
                return Ok(None);
            }
            ids.extend(more);
        }
        let upto = newest.max(lo);
        // The ids the index now holds are read from it: the memory keeps the tail's.
        ids.retain(|&id| id > mark);
        let found = TailMatches { ids: ids.clone(), mark, upto };
        let Ok(mut entries) = self.entries.lock() else { return Ok(Some(found)) };
        // The same term's memory put back meanwhile by a page beside is
        // replaced: either holds every match of its range.
        entries.retain(|e| !(e.file == file && e.needle == needle));
        if entries.len() >= MAX_TERMS {
            if let Some(oldest) = entries.iter().enumerate().min_by_key(|(_, e)| e.used).map(|(i, _)| i) {
                entries.swap_remove(oldest);
            }
        }
        entries.push(Entry { file, needle: needle.to_owned(), from: from.max(mark), upto, ids, used: now });
        Ok(Some(found))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, DAY, HOUR};
    use log_panel_query::{Cursor, PageAt, RecordFilter, Slots, Store};

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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let t0 = Timestamp::now().0 - 30 * DAY;
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = Origin::new("a", "h", 1);
        sink.write(&Batch::new(&origin, &records(t0, 0..2_000))).unwrap();
        while sink.idle().unwrap() {}
        // The tail: written, not indexed (no idle step).
        sink.write(&Batch::new(&origin, &records(t0, 2_000..5_000))).unwrap();
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
}
