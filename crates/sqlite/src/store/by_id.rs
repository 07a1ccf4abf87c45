//! A page of a search term's matches read by id, bounded by the zone map.
//!
//! Through the search index a page read every candidate's row and sorted
//! their `(ts, id)` (the hostile file's `job 12` over 90 days: 24 393
//! candidates, all in its oldest 2 M ids, for a page of 50). Here the
//! candidates are read in id order, newest id first for a page read newest
//! first (a part at a time), oldest first for the records newer than a
//! cursor (in chunks), each part's or chunk's rows tested with the page's
//! whole filter, and the read stops when
//! the page (its `fetch` rows) is full and the zone map
//! ([`crate::zone_map`]) proves that no unread id's part can hold a time
//! that would enter it: every unread id is below (above) every id read, so
//! a part whose `max_ts` is at or below the page's worst time (whose
//! `min_ts` is at or above it, read upwards) holds no row that sorts before
//! the worst row, equal times being ordered by id. Parts the map rules out
//! (for that, or for the page's time span and cursor) are skipped.
//!
//! The records above the search index's mark (not yet indexed) are read as
//! one more chunk by scan, first (last, read upwards), as their ids are
//! above every candidate's. The rows are therefore those of the page's
//! single statement, in its order, for any filter, cursor and direction.
//!
//! With a time span, the plan (`page_term_plan`) counts the term's
//! candidates within the zones whose bounds meet the span ([`span_runs`]),
//! as those are all this read may test: a term whose candidates all lie
//! in other zones (`job 12` over 7 days on the hostile 10 M file, every
//! candidate in its oldest 2 M ids) costs nothing, so it is read here
//! rather than by the floor's walk of the span's time index, and reads
//! nothing but a statement per run of zones.

use log_panel_core::Timestamp;
use log_panel_query::{PageAt, RecordFilter, StoredRecord};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};

use super::{tail_parts, TailMatches, TailPart};
use crate::rows::{self, RECORD_COLUMNS};
use crate::sql::{Marks, Sql, TextPlan};
use crate::upkeep::search;
use crate::zone_map;
use crate::zone_map::ZONE_BITS;

/// The candidates of a first chunk read oldest first, at least; twice the
/// page's rows when more (a term whose candidates nearly all match fills its page with it).
const FIRST_CHUNK: i64 = 64;

/// The ids whose candidates a page read newest first reads at once
/// (forwards): 2^16, a side-table part.
const WINDOW_BITS: u32 = 16;

/// The most candidates of one chunk: each next chunk doubles up to it, so a
/// term whose candidates rarely match costs a few statements more than
/// reading them all at once, not one per page's worth.
const MAX_CHUNK: i64 = 4_096;

/// One part's bounds from the zone map.
struct Zone {
    part: i64,
    min_ts: String,
    max_ts: String,
}

/// What a page keeps, as bounds on a part's times: its time span and
/// cursor, and once full its worst row.
struct Window {
    /// Read newest first (`Newest`, `Older`).
    desc: bool,
    /// Rows at or after this time only (`since`, a `Newer` cursor).
    from: Option<String>,
    /// Rows before `until` only.
    until: Option<String>,
    /// Rows at or before an `Older` cursor's time only.
    to: Option<String>,
}

impl Window {
    /// Whether a record of `z` may enter the page whose worst row (when
    /// full) has the time `worst`.
    fn may_hold(&self, z: &Zone, worst: Option<&str>) -> bool {
        if self.from.as_deref().is_some_and(|f| z.max_ts.as_str() < f)
            || self.until.as_deref().is_some_and(|u| z.min_ts.as_str() >= u)
            || self.to.as_deref().is_some_and(|t| z.min_ts.as_str() > t)
        {
            return false;
        }
        // An unread row of the worst's time has a smaller (larger) id: it
        // sorts after the worst row, so equality rules the part out too.
        match worst {
            Some(w) if self.desc => z.max_ts.as_str() > w,
            Some(w) => z.min_ts.as_str() < w,
            None => true,
        }
    }
}

/// The rows of the page of `filter` at `at` (`fetch` of them, in the page's
/// order) read by id as the module says, when its plan reads a search term
/// through the index and nothing else through an index of its own; `None`
/// otherwise (the page's single statement answers).
pub(super) fn page(
    conn: &Connection,
    filter: &RecordFilter,
    at: PageAt,
    planned: &Sql,
    fetch: i64,
    tail_matches: &dyn Fn(i64) -> rusqlite::Result<Option<TailMatches>>,
) -> rusqlite::Result<Option<Vec<StoredRecord>>> {
    let Some((w, query)) = conditions(filter, at, planned) else { return Ok(None) };
    let desc = !matches!(at, PageAt::Newer(_));
    let window = Window {
        desc,
        from: match at {
            PageAt::Newer(c) => Some(filter.since.map_or(c.ts, |s| s.max(c.ts))),
            _ => filter.since,
        }
        .map(|t| t.to_rfc3339()),
        until: filter.until.map(|t| t.to_rfc3339()),
        to: match at {
            PageAt::Older(c) => Some(c.ts.to_rfc3339()),
            _ => None,
        },
    };
    let zones = zones(conn)?;
    let mark = search::indexed_mark(conn)?;
    let mut read = Read { conn: Some(conn), w, desc, fetch, best: Vec::new() };
    // The tail above the mark: its ids are above every candidate's.
    let tail_may_hold = |read: &Read<'_>| {
        let worst = read.worst();
        zones.iter().any(|z| z.part >= mark >> ZONE_BITS && window.may_hold(z, worst.as_deref()))
    };
    if desc && tail_may_hold(&read) {
        read.tail(mark, tail_matches(mark)?)?;
    }
    let mut forward = conn.prepare_cached(&candidates_sql(false))?;
    let mut candidates = |after: i64, to: i64, n: i64| -> rusqlite::Result<Vec<i64>> {
        forward.query_map(params![query, after, to, mark, n], |r| r.get(0))?.collect()
    };
    if desc {
        // Newest first: the candidates' ids a window of 2^16 ids at a time,
        // read forwards, then each zone's rows tested newest zone first,
        // skipping the zones the map rules out. FTS5 seeks to a lower
        // bound, but reads a doclist backwards by loading it up to the
        // upper one: `job 12`'s 102 newest candidates took 3-4 ms at 10 M
        // whatever the `LIMIT`, a window's 77 read forwards 0.3 ms. So a
        // backward read of one id only finds the next window holding any,
        // when the window below the last one read held none.
        let mut backward = conn.prepare_cached(&candidates_sql(true))?;
        let mut at_id = mark.saturating_add(1);
        let mut below_held = false;
        while let Some((first, last)) = next_run(&zones, &window, read.worst().as_deref(), at_id, true) {
            let top = at_id.min((last + 1) << ZONE_BITS);
            let newest = if below_held {
                top - 1
            } else {
                let newest: Option<i64> = backward
                    .query_map(params![query, top, first << ZONE_BITS, mark, 1], |r| r.get(0))?
                    .next()
                    .transpose()?;
                match newest {
                    Some(id) => id,
                    None => {
                        // None in this run: on below it.
                        at_id = first << ZONE_BITS;
                        below_held = false;
                        if at_id <= 1 {
                            break;
                        }
                        continue;
                    }
                }
            };
            let from = ((newest >> WINDOW_BITS) << WINDOW_BITS).max(first << ZONE_BITS);
            let ids = candidates(from - 1, top - 1, i64::MAX)?;
            let mut end = ids.len();
            while let Some(&id) = end.checked_sub(1).and_then(|i| ids.get(i)) {
                let zone = id >> ZONE_BITS;
                let start = ids.partition_point(|&i| i >> ZONE_BITS < zone);
                let held = zones.binary_search_by_key(&zone, |z| z.part).map_or(true, |i| {
                    let worst = read.worst();
                    window.may_hold(&zones[i], worst.as_deref())
                });
                if held {
                    read.test(&ids[start..end])?;
                }
                end = start;
            }
            below_held = !ids.is_empty();
            at_id = from;
            if at_id <= 1 {
                break;
            }
        }
    } else {
        // Oldest first, forwards, in chunks doubling up to `MAX_CHUNK`.
        let mut at_id = i64::MIN;
        let mut chunk = fetch.saturating_mul(2).max(FIRST_CHUNK);
        while let Some((first, last)) = next_run(&zones, &window, read.worst().as_deref(), at_id, false) {
            let end = ((last + 1) << ZONE_BITS).saturating_sub(1);
            let ids = candidates(at_id.max((first << ZONE_BITS).saturating_sub(1)), end, chunk)?;
            read.test(&ids)?;
            // Fewer than asked: the run holds no more candidates, on past it.
            at_id = match ids.last() {
                Some(&reached) if i64::try_from(ids.len()).is_ok_and(|n| n >= chunk) => reached,
                _ => end,
            };
            if at_id >= mark {
                break;
            }
            chunk = chunk.saturating_mul(2).min(MAX_CHUNK);
        }
    }
    if !desc && tail_may_hold(&read) {
        read.tail(mark, tail_matches(mark)?)?;
    }
    Ok(Some(read.best))
}

/// The page's conditions with its term tested on each row (not looked up),
/// and the term's index query, when the page is read by id: its plan reads
/// the term through the search index (not by the walk, nor with a floor:
/// that walks the span's time index below it, chosen by cost over the
/// candidates) and nothing else through an index of its own (a context
/// condition's list, an expression's words would be read again for every
/// chunk).
fn conditions(filter: &RecordFilter, at: PageAt, planned: &Sql) -> Option<(Sql, String)> {
    let plan = &planned.text_plan;
    let text = filter.text.as_deref()?;
    if plan.scan || (plan.floor.is_some() && filter.since.is_some()) {
        return None;
    }
    let mut w = tested(filter, text, &planned.key_marks)?;
    super::page_condition(&mut w, at);
    Some((w, plan.query.clone().unwrap_or_else(|| search::fts_query(text))))
}

/// The conditions of `filter` (its term `text`) with the term tested on
/// each row, when a page whose plan reads the term through the index is
/// read by id: the term is indexable and no other condition is read
/// through an index of its own (with the context side table's marks
/// `key_marks`); `None` otherwise.
fn tested(filter: &RecordFilter, text: &str, key_marks: &Marks) -> Option<Sql> {
    if !search::indexable(text) || filter.query.is_some() {
        return None;
    }
    let w = Sql::planned(filter, TextPlan::scan(), key_marks.clone());
    (!w.indexed).then_some(w)
}

/// Whether a page of `filter` is read by id when its plan reads its term
/// through the index without a floor (the context conditions planned with
/// `key_marks`): the plan then counts the term's candidates within the
/// zones its span meets ([`span_runs`]), as those are all this read may
/// test, not all of the table's.
pub(super) fn reads(filter: &RecordFilter, key_marks: &Marks) -> bool {
    filter.text.as_deref().is_some_and(|text| tested(filter, text, key_marks).is_some())
}

/// The most runs of zones [`span_runs`] gives: beyond, neighbouring runs
/// are merged (with the ids between them), so a plan counts candidates in
/// a few statements however scattered a hostile map's zones are.
const MAX_SPAN_RUNS: usize = 32;

/// The ids (inclusive ranges, newest first) of the runs of zones whose
/// times meet `[since, until)` in the zone map: every record of the span
/// has its id in one, whatever the order of ids and times (the newest
/// run, when it reaches the map's newest zone, open above). At most
/// [`MAX_SPAN_RUNS`] of them, neighbours merged beyond: a cover, for a
/// count of candidates that decides a plan.
pub(super) fn span_runs(
    conn: &Connection,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let zones = zones(conn)?;
    let window =
        Window { desc: true, from: since.map(|t| t.to_rfc3339()), until: until.map(|t| t.to_rfc3339()), to: None };
    let mut runs = Vec::new();
    let mut at_id = i64::MAX;
    let top = zones.last().map(|z| z.part);
    while let Some((first, last)) = next_run(&zones, &window, None, at_id, true) {
        at_id = first << ZONE_BITS;
        // Up to the newest zone: no upper bound, which FTS5 would read
        // the doclists up to (a count of `timeout`'s 337 newest
        // candidates, 1.4 ms from a lower bound alone, 2.5 with both).
        let end = if Some(last) == top { i64::MAX } else { ((last + 1) << ZONE_BITS).saturating_sub(1) };
        runs.push((at_id, end));
    }
    let per = runs.len().div_ceil(MAX_SPAN_RUNS).max(1);
    Ok(runs.chunks(per).filter_map(|c| Some((c.last()?.0, c.first()?.1))).collect())
}

/// The zone map's bounds, by part ascending.
fn zones(conn: &Connection) -> rusqlite::Result<Vec<Zone>> {
    Ok(zone_map::read(conn)?.into_iter().map(|(part, min_ts, max_ts)| Zone { part, min_ts, max_ts }).collect())
}

/// The statement reading the next candidates of a run: `?1` the index
/// query, `?2` the id they follow (exclusive, in the direction), `?3` the
/// run's last id (inclusive), `?4` the index's mark, `?5` how many.
fn candidates_sql(desc: bool) -> String {
    let order = if desc { "DESC" } else { "ASC" };
    let (next, bound) = if desc { ("<", ">=") } else { (">", "<=") };
    format!(
        "SELECT rowid FROM log_records_fts
         WHERE log_records_fts MATCH ?1 AND rowid {next} ?2 AND rowid {bound} ?3 AND rowid <= ?4
         ORDER BY rowid {order} LIMIT ?5"
    )
}

/// The statements of a page read by id ([`page`]) with parameters to
/// explain them by: the candidates of a run, the test of a chunk's rows,
/// the test of the rows above the index's mark. `None` when the page is not
/// read by id.
pub(super) fn statements(
    filter: &RecordFilter,
    at: PageAt,
    planned: &Sql,
    fetch: i64,
) -> Option<Vec<(String, Vec<Value>)>> {
    let (w, query) = conditions(filter, at, planned)?;
    let desc = !matches!(at, PageAt::Newer(_));
    let candidates = (
        candidates_sql(desc),
        vec![Value::Text(query), Value::Integer(0), Value::Integer(0), Value::Integer(0), Value::Integer(1)],
    );
    let read = Read { conn: None, w, desc, fetch, best: Vec::new() };
    Some(vec![candidates, read.chunk(&[]), read.above(0)])
}

/// The next run of parts, from the one holding the ids next to `at_id` in
/// the direction (`desc`: below it) on, whose records may enter the page:
/// `(first, last)` parts, ascending, of consecutive zones the window does
/// not rule out. `None` when none is left.
fn next_run(zones: &[Zone], window: &Window, worst: Option<&str>, at_id: i64, desc: bool) -> Option<(i64, i64)> {
    let holds = |z: &&Zone| window.may_hold(z, worst);
    if desc {
        let below = at_id.saturating_sub(1) >> ZONE_BITS;
        let mut run = zones.iter().rev().skip_while(|z| z.part > below).skip_while(|z| !holds(z));
        let last = run.next()?.part;
        let first = run.take_while(holds).last().map_or(last, |z| z.part);
        Some((first, last))
    } else {
        let above = at_id.saturating_add(1) >> ZONE_BITS;
        let mut run = zones.iter().skip_while(|z| z.part < above).skip_while(|z| !holds(z));
        let first = run.next()?.part;
        let last = run.take_while(holds).last().map_or(first, |z| z.part);
        Some((first, last))
    }
}

/// A page being read: its conditions and the best rows so far.
struct Read<'c> {
    /// `None`: the statements are only built (to be explained).
    conn: Option<&'c Connection>,
    /// The page's conditions, the term tested on each row.
    w: Sql,
    desc: bool,
    fetch: i64,
    /// The page's rows so far, in its order, at most `fetch`.
    best: Vec<StoredRecord>,
}

impl Read<'_> {
    /// The worst row's time once the page is full.
    fn worst(&self) -> Option<String> {
        let full = usize::try_from(self.fetch).is_ok_and(|n| self.best.len() >= n);
        if full {
            self.best.last().map(|r| r.ts.to_rfc3339())
        } else {
            None
        }
    }

    /// Tests the records of ids `ids` (candidates) with the page's filter.
    fn test(&mut self, ids: &[i64]) -> rusqlite::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (sql, params) = self.chunk(ids);
        self.select(&sql, params)
    }

    /// Tests the records above `mark` (not yet in the search index), with
    /// the term's remembered matches as [`tail_parts`] says.
    fn tail(&mut self, mark: i64, matches: Option<TailMatches>) -> rusqlite::Result<()> {
        for part in tail_parts(matches.as_ref()) {
            match part {
                // Each row once: the candidates hold those at or below the mark.
                TailPart::Listed(t) => {
                    let ids: Vec<i64> = t.ids.iter().copied().filter(|&id| id > mark).collect();
                    self.test(&ids)?;
                }
                TailPart::UpTo(to) if to > mark => {
                    let (sql, params) = self.between(mark, to);
                    self.select(&sql, params)?;
                }
                TailPart::UpTo(_) => {}
                TailPart::Above(upto) => {
                    let (sql, params) = self.above(upto.map_or(mark, |u| u.max(mark)));
                    self.select(&sql, params)?;
                }
            }
        }
        Ok(())
    }

    /// The statement testing the records of ids `ids`.
    fn chunk(&self, ids: &[i64]) -> (String, Vec<Value>) {
        let list = format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
        // NOT INDEXED: the list's rowids, never a walk of the time index
        // that the order and the span's bounds could tempt SQLite into.
        self.statement("id IN (SELECT value FROM json_each(?{0}))", vec![Value::Text(list)])
    }

    /// The statement testing the records above `mark`.
    fn above(&self, mark: i64) -> (String, Vec<Value>) {
        self.statement("id > ?{0}", vec![Value::Integer(mark)])
    }

    /// The statement testing the records above `mark` up to `to`.
    fn between(&self, mark: i64, to: i64) -> (String, Vec<Value>) {
        self.statement("id > ?{0} AND id <= ?{1}", vec![Value::Integer(mark), Value::Integer(to)])
    }

    /// The page's statement over the records of `ids` (a condition on the
    /// id, `?{0}`, `?{1}` its parameters `values`), in the page's order,
    /// `fetch` rows.
    fn statement(&self, ids: &str, values: Vec<Value>) -> (String, Vec<Value>) {
        let mut params = self.w.params.clone();
        let mut ids = ids.to_owned();
        for (i, value) in values.into_iter().enumerate() {
            params.push(value);
            ids = ids.replace(&format!("{{{i}}}"), &params.len().to_string());
        }
        let order = if self.desc { "DESC" } else { "ASC" };
        let conditions = self.w.conditions().unwrap_or_else(|| "1".to_owned());
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM log_records NOT INDEXED WHERE {ids} AND {conditions}
             ORDER BY ts {order}, id {order} LIMIT {}",
            self.fetch
        );
        (sql, params)
    }

    /// Runs `sql` and merges its rows into the best ones.
    fn select(&mut self, sql: &str, params: Vec<Value>) -> rusqlite::Result<()> {
        let Some(conn) = self.conn else { return Ok(()) };
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(params.iter()), rows::record)?;
        for row in rows {
            self.best.push(row?);
        }
        if self.desc {
            self.best.sort_by_key(|r| std::cmp::Reverse((r.ts, r.id)));
        } else {
            self.best.sort_by_key(|r| (r.ts, r.id));
        }
        self.best.truncate(usize::try_from(self.fetch).unwrap_or(usize::MAX));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, DAY};
    use log_panel_query::{Cursor, Maintenance, PageAt, RecordFilter, Store};
    use rusqlite::{params, Connection, OpenFlags};

    use super::{Read, TailMatches};
    use crate::upkeep::search;
    use crate::zone_map::ZONE_BITS;
    use crate::{SqliteMaintenance, SqliteSink, SqliteStore};

    /// Writes records through `sink`, each `(seconds after t0, message)`,
    /// in one batch.
    fn write(sink: &mut SqliteSink, t0: i64, records: &[(i64, String)]) {
        let thread: std::sync::Arc<str> = std::sync::Arc::from("main");
        let records: Vec<Record> = records
            .iter()
            .map(|(s, m)| {
                Record::at(Timestamp(t0 + s * 1_000_000), Level::Info, "web".into(), m.clone().into(), thread.clone())
            })
            .collect();
        sink.write(&Batch::new(&Origin::new("a", "h", 1), &records)).unwrap();
    }

    /// Makes the sink's next record's id `part << 16` + 1: a record of id
    /// `part << 16` at `t0`, its part noted in the map by the sink's upsert,
    /// so a test spreads a few records over parts of 65 536 ids.
    fn jump_to_part(sink: &SqliteSink, part: i64, t0: i64) {
        let ts = Timestamp(t0).to_rfc3339();
        sink.connection()
            .execute(
                "INSERT INTO log_records (id, ts, level, logger, message, thread, pid, host, app)
                 VALUES (?1, ?2, 20, 'web', 'filler', 'main', 1, 'h', 'a')",
                params![part << 16, ts],
            )
            .unwrap();
        sink.connection().execute(crate::zone_map::UPSERT, params![(part << 16) >> ZONE_BITS, ts, ts]).unwrap();
    }

    /// The ids of the naive SQL's rows for `term` within `[since, until)`,
    /// newest first.
    fn naive(path: &std::path::Path, term: &str, since: Option<Timestamp>, until: Option<Timestamp>) -> Vec<i64> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let at = |t: Option<Timestamp>, or: &str| t.map_or_else(|| or.to_owned(), |t| t.to_rfc3339());
        let mut stmt = conn
            .prepare(
                "SELECT id FROM log_records WHERE message LIKE '%' || ?1 || '%' AND ts >= ?2 AND ts < ?3
                 ORDER BY ts DESC, id DESC",
            )
            .unwrap();
        let ids = stmt.query_map(params![term, at(since, ""), at(until, "~")], |r| r.get(0)).unwrap();
        ids.map(Result::unwrap).collect()
    }

    /// Every page of `filter`, `limit` rows each: newest first down by
    /// cursor, then from the oldest row back up by cursor. Returns the ids
    /// read down, and those read up (newest first, the oldest row excluded).
    fn both_ways(store: &SqliteStore, filter: &RecordFilter, limit: usize) -> (Vec<i64>, Vec<i64>) {
        let mut down = Vec::new();
        let mut at = PageAt::Newest;
        loop {
            let page = store.records(filter, at, limit).unwrap();
            down.extend(page.records.iter().map(|r| r.id));
            match page.older {
                Some(c) => at = PageAt::Older(c),
                None => break,
            }
        }
        let mut up = Vec::new();
        let Some(oldest) = down.last().and_then(|&id| store.record(id).unwrap()) else { return (down, up) };
        let mut at = PageAt::Newer(Cursor::of(&oldest));
        loop {
            let page = store.records(filter, at, limit).unwrap();
            // Shown newest first: prepended page by page.
            up.splice(0..0, page.records.iter().map(|r| r.id));
            match page.newer {
                Some(c) => at = PageAt::Newer(c),
                None => break,
            }
        }
        (down, up)
    }

    /// The tail read with a memory of its matches ([`super::tail_parts`]):
    /// from the read's own mark, from a higher one (an index rebuilt since:
    /// the rows between are scanned) and from a lower one (its ids at or
    /// below the read's mark are the index's), each row above the read's
    /// mark once, as without a memory: 60 records, one in two a `comet`,
    /// the read's mark at 10.
    #[test]
    fn a_tail_memory_from_any_mark_gives_each_row_above_the_read_s_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = SqliteSink::open(&path).unwrap();
        let t0 = Timestamp::now().0 - DAY;
        let records: Vec<(i64, String)> =
            (1..=60i64).map(|i| (i, if i % 2 == 0 { format!("comet {i}") } else { format!("request {i}") })).collect();
        write(&mut sink, t0, &records);
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        search::register(&conn).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("comet".into());
        let mark = 10;
        let tail = |memo: Option<TailMatches>| -> Vec<i64> {
            let w = crate::sql::Sql::planned(&filter, crate::sql::TextPlan::scan(), Default::default());
            let mut read = Read { conn: Some(&conn), w, desc: true, fetch: 1_000, best: Vec::new() };
            read.tail(mark, memo).unwrap();
            read.best.iter().map(|r| r.id).collect()
        };
        let comets = |above: i64, upto: i64| (above + 1..=upto).filter(|i| i % 2 == 0).collect::<Vec<i64>>();
        let want: Vec<i64> = comets(mark, 60).into_iter().rev().collect();
        assert_eq!(tail(None), want);
        for memo_mark in [mark, 30, 4] {
            let memo = TailMatches { ids: comets(memo_mark, 45), mark: memo_mark, upto: 45 };
            assert_eq!(tail(Some(memo)), want, "a memory from mark {memo_mark}");
        }
    }

    /// Ten parts of 65 536 ids with 200 records each, one in two a
    /// `comet`, times rising with the ids, then a part without one: the newest page of `comet`
    /// tests the newest part's 100 candidates (and the next chunk's), and
    /// stops there, as the map proves the nine older parts hold no newer
    /// time; through the index it tested all 1 000. Every page by cursor,
    /// both ways, is the naive `LIKE` query's rows.
    #[test]
    fn an_old_term_s_page_reads_about_its_page_of_candidates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let t0 = Timestamp::now().0 - 2 * DAY;
        let mut sink = SqliteSink::open(&path).unwrap();
        for part in (0..10i64).chain([15]) {
            if part > 0 {
                jump_to_part(&sink, part, t0);
            }
            // The newest part's records are no `comet`: a walk newest
            // first would read its ids down to the older parts' (a span
            // of 360 000 ids with the fillers' gaps, against 1 000
            // candidates), so the page is read through the index.
            let records: Vec<(i64, String)> = (0..200i64)
                .map(|i| {
                    let s = part * 1_000 + i + 1;
                    (s, if i % 2 == 0 && part < 10 { format!("comet {part}-{i}") } else { format!("request {i}") })
                })
                .collect();
            write(&mut sink, t0, &records);
        }
        while sink.idle().unwrap() {}
        let store = SqliteStore::open(&path).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("comet".into());
        filter.since = Some(Timestamp(t0 - DAY));
        let before = search::SCANNED.with(std::cell::Cell::get);
        let page = store.records(&filter, PageAt::Newest, 50).unwrap();
        let tested = search::SCANNED.with(std::cell::Cell::get) - before;
        assert_eq!(page.records.len(), 50);
        assert!(tested <= 200, "about the newest part's 100 candidates, not all 1 000: {tested}");
        let all = naive(&path, "comet", filter.since, None);
        assert_eq!(all.len(), 1_000);
        assert_eq!(page.records.iter().map(|r| r.id).collect::<Vec<_>>(), all[..50]);
        let (down, up) = both_ways(&store, &filter, 50);
        assert_eq!(down, all);
        assert_eq!(up, all[..all.len() - 1]);
    }

    /// 3 000 `comet`s in the oldest ids (zone 0, a second apart from t0),
    /// 100 more at ids 7 951-8 050 (zone 1, across a span's start at
    /// 8 000 s), 25 000 records without one, times rising with the ids.
    /// Over the span from 10 000 s, whose zones hold no candidate, the page
    /// is read by id within them: it reads nothing, its plan counts no
    /// candidate, and no time-index entry is walked (on main the floor
    /// counted the 3 000 old ones up to 282 and walked the span's 18 000
    /// entries). Then a spooled batch (new ids, times before and inside
    /// the span, some equal to its start and to each other) and an
    /// unindexed tail: every page by cursor, both ways, over spans cutting
    /// zones, is the naive `LIKE` query's rows; with zone 1's bound moved
    /// before the span by hand the page misses its `comet`s inside the span
    /// (the read relies on the map), and a rebuild makes it right again.
    #[test]
    fn a_span_s_page_reads_the_candidates_of_the_zones_its_times_meet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let t0 = Timestamp::now().0 - 2 * DAY;
        let s = |seconds: i64| Some(Timestamp(t0 + seconds * 1_000_000));
        let mut sink = SqliteSink::open(&path).unwrap();
        let records: Vec<(i64, String)> = (1..=28_000i64)
            .map(|id| match id {
                ..=3_000 => (id, format!("comet old {id}")),
                7_951..=8_050 => (id, format!("comet edge {id}")),
                _ => (id, format!("request {id}")),
            })
            .collect();
        write(&mut sink, t0, &records);
        while sink.idle().unwrap() {}
        let store = SqliteStore::open(&path).unwrap();
        let mut filter = RecordFilter::default();
        filter.text = Some("comet".into());
        filter.since = s(10_000);
        let plan = store.explain_records(&filter).unwrap();
        assert!(plan.starts_with("SCAN log_records_fts VIRTUAL TABLE"), "read by id: {plan}");
        assert!(!plan.contains("log_records_ts"), "no walk of the time index: {plan}");
        let (counted, scanned) =
            (search::COUNTED.with(std::cell::Cell::get), search::SCANNED.with(std::cell::Cell::get));
        let page = store.records(&filter, PageAt::Newest, 50).unwrap();
        assert!(page.records.is_empty());
        let counted = search::COUNTED.with(std::cell::Cell::get) - counted;
        assert_eq!(counted, 0, "no candidate of the span's zones, none counted below it");
        assert_eq!(search::SCANNED.with(std::cell::Cell::get) - scanned, 0);

        let mut spooled: Vec<(i64, String)> =
            (0..5).map(|k| (9_000 + k, format!("comet spooled before {k}"))).collect();
        spooled.extend((0..3).map(|k| (10_000, format!("comet spooled at the start {k}"))));
        spooled.extend((0..3).map(|k| (20_000, format!("comet spooled equal {k}"))));
        spooled.push((8_000, "comet spooled at the edge".to_owned()));
        write(&mut sink, t0, &spooled);
        while sink.idle().unwrap() {}
        let tail = [(10_000, "comet unindexed at the start".to_owned()), (5, "comet unindexed, old".to_owned())];
        write(&mut sink, t0, &tail);
        assert!(store.unindexed().unwrap() >= 2);
        // Read by id over the spans of more than 16 000 rows; over the
        // shorter ones the page walks (`page_term_plan`), the rows the same.
        for (since, until, by_id) in [
            (s(10_000), None, true),
            (s(8_000), None, true),
            (s(8_000), s(27_000), true),
            (s(9_002), s(28_001), true),
            (s(8_000), s(10_000), false),
            (s(7_990), s(8_020), false),
            (None, s(8_001), false),
        ] {
            filter.since = since;
            filter.until = until;
            let plan = store.explain_records(&filter).unwrap();
            if by_id {
                assert!(plan.starts_with("SCAN log_records_fts VIRTUAL TABLE"), "{since:?}..{until:?}: {plan}");
            }
            let all = naive(&path, "comet", since, until);
            assert!(!all.is_empty(), "{since:?}..{until:?}");
            for limit in [1, 4, 50] {
                let (down, up) = both_ways(&store, &filter, limit);
                assert_eq!(down, all, "{since:?}..{until:?} by {limit}");
                assert_eq!(up, all[..all.len() - 1], "{since:?}..{until:?} by {limit}");
            }
        }
        filter.since = s(8_000);
        filter.until = None;
        let all = naive(&path, "comet", filter.since, None);
        let newest = |store: &SqliteStore| -> Vec<i64> {
            store.records(&filter, PageAt::Newest, 100).unwrap().records.iter().map(|r| r.id).collect()
        };
        assert_eq!(newest(&store), all);
        drop(sink);
        let writer = Connection::open(&path).unwrap();
        // Zone 1's bound moved before the span: a lie.
        writer.execute("UPDATE log_id_times SET min_ts = '1970', max_ts = '1970' WHERE part = 1", []).unwrap();
        let wrong = newest(&store);
        assert!(wrong.iter().all(|&id| !(7_951..=8_050).contains(&id)), "zone 1 ruled out: {wrong:?}");
        assert!(all.iter().any(|&id| (7_951..=8_050).contains(&id)));
        SqliteMaintenance::open(&path).unwrap().rebuild().unwrap();
        assert_eq!(newest(&store), all);
    }

    /// Ids out of time order: the oldest part's `comet`s carry the newest
    /// times, the next part's older ones, and the newest part holds a
    /// spooled batch's late-written `comet`s with times among the oldest
    /// part's (some equal to theirs: ordered by id) and before them; above
    /// the search index's mark, more, unindexed. A read newest id first
    /// fills its page from the newer parts, and the map sends it on to the
    /// oldest part, whose times are newer. Every page by cursor, both ways
    /// and over spans, is the naive `LIKE` query's rows; with the oldest
    /// part's bound made wrong by hand, the newest page misses its rows
    /// (the read relies on the map), and a rebuild makes it right again.
    #[test]
    fn the_zone_map_sends_the_read_to_older_ids_with_newer_times() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let t0 = Timestamp::now().0 - 2 * DAY;
        let mut sink = SqliteSink::open(&path).unwrap();
        let comets = |from: i64, n: i64, name: &str| -> Vec<(i64, String)> {
            (0..n).map(|i| (from + i, format!("comet {name} {i}"))).collect()
        };
        write(&mut sink, t0, &comets(5_000, 100, "newest"));
        jump_to_part(&sink, 1, t0);
        write(&mut sink, t0, &comets(1_000, 100, "older"));
        jump_to_part(&sink, 2, t0);
        let noise: Vec<(i64, String)> = (0..100).map(|i| (3_000 + i, format!("request {i}"))).collect();
        write(&mut sink, t0, &noise);
        let mut spooled = comets(5_050, 10, "spooled among the newest");
        spooled.extend(comets(2_000, 10, "spooled before them"));
        write(&mut sink, t0, &spooled);
        while sink.idle().unwrap() {}
        let mut tail = comets(5_020, 5, "unindexed among the newest");
        tail.extend(comets(10, 5, "unindexed, old"));
        write(&mut sink, t0, &tail);
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.unindexed().unwrap() >= 10);
        let s = |seconds: i64| Some(Timestamp(t0 + seconds * 1_000_000));
        for (since, until) in [(None, None), (s(1_000), None), (s(1_050), s(5_060)), (None, s(5_020))] {
            let mut filter = RecordFilter::default();
            filter.text = Some("comet".into());
            filter.since = since;
            filter.until = until;
            let all = naive(&path, "comet", since, until);
            for limit in [1, 7, 50] {
                let (down, up) = both_ways(&store, &filter, limit);
                assert_eq!(down, all, "{since:?}..{until:?} by {limit}");
                assert_eq!(up, all[..all.len().saturating_sub(1)], "{since:?}..{until:?} by {limit}");
            }
        }
        let mut filter = RecordFilter::default();
        filter.text = Some("comet".into());
        let all = naive(&path, "comet", None, None);
        let newest = |store: &SqliteStore| -> Vec<i64> {
            store.records(&filter, PageAt::Newest, 50).unwrap().records.iter().map(|r| r.id).collect()
        };
        assert_eq!(newest(&store), all[..50]);
        drop(sink);
        let writer = Connection::open(&path).unwrap();
        // The oldest part's bound moved to before every time: a lie.
        writer.execute("UPDATE log_id_times SET min_ts = '1970', max_ts = '1970' WHERE part = 0", []).unwrap();
        let wrong = newest(&store);
        assert!(wrong.iter().all(|&id| id >= 1 << 16), "the oldest part ruled out: {wrong:?}");
        SqliteMaintenance::open(&path).unwrap().rebuild().unwrap();
        assert_eq!(newest(&store), all[..50]);
    }
}
