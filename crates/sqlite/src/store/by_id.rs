//! A page of a search term's matches read by id, bounded by the zone map.
//!
//! Through the search index a page read every candidate's row and sorted
//! their `(ts, id)` (the hostile file's `job 12` over 90 days: 24 393
//! candidates, all in its oldest 2 M ids, for a page of 50). Here the
//! candidates are read in id order, newest id first for a page read newest
//! first (oldest first for the records newer than a cursor), in chunks, each
//! chunk's rows tested with the page's whole filter, and the read stops when
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

use log_panel_query::{PageAt, RecordFilter, StoredRecord};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};

use crate::rows::{self, RECORD_COLUMNS};
use crate::sql::{Sql, TextPlan};
use crate::upkeep::context_index::PART_BITS;
use crate::upkeep::search;
use crate::zone_map;

/// The candidates of a first chunk, at least; twice the page's rows when
/// more (a term whose candidates nearly all match fills its page with it).
const FIRST_CHUNK: i64 = 64;

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
) -> rusqlite::Result<Option<Vec<StoredRecord>>> {
    let plan = &planned.text_plan;
    let Some(text) = filter.text.as_deref() else { return Ok(None) };
    // A floor walks the span's time index below it: kept (chosen by cost
    // over the candidates); an expression's words look up the index themselves.
    if plan.scan || !search::indexable(text) || (plan.floor.is_some() && filter.since.is_some()) || filter.query.is_some()
    {
        return Ok(None);
    }
    let mut w = Sql::planned(filter, TextPlan::scan(), planned.key_marks.clone());
    if w.indexed {
        // A context condition read through the side table: its list would
        // be read again for every chunk.
        return Ok(None);
    }
    super::page_condition(&mut w, at);
    let query = plan.query.clone().unwrap_or_else(|| search::fts_query(text));
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
    let zones: Vec<Zone> = zone_map::read(conn)?
        .into_iter()
        .map(|(part, min_ts, max_ts)| Zone { part, min_ts, max_ts })
        .collect();
    let mark = search::indexed_mark(conn)?;
    let mut read = Read { conn, w, desc, fetch, best: Vec::new() };
    // The tail above the mark: its ids are above every candidate's.
    let tail_may_hold = |read: &Read<'_>| {
        let worst = read.worst();
        zones.iter().any(|z| z.part >= mark >> PART_BITS && window.may_hold(z, worst.as_deref()))
    };
    if desc && tail_may_hold(&read) {
        read.tail(mark)?;
    }
    let order = if desc { "DESC" } else { "ASC" };
    let (next, bound) = if desc { ("<", ">=") } else { (">", "<=") };
    let mut candidates = conn.prepare_cached(&format!(
        "SELECT rowid FROM log_records_fts
         WHERE log_records_fts MATCH ?1 AND rowid {next} ?2 AND rowid {bound} ?3 AND rowid <= ?4
         ORDER BY rowid {order} LIMIT ?5"
    ))?;
    // The candidates are read from `at` on (exclusive), in the direction.
    let mut at_id = if desc { mark.saturating_add(1) } else { i64::MIN };
    let mut chunk = fetch.saturating_mul(2).max(FIRST_CHUNK);
    while let Some((first, last)) = next_run(&zones, &window, read.worst().as_deref(), at_id, desc) {
        // The run's ids: from `first`'s part to `last`'s, in the direction.
        let end = if desc { first << PART_BITS } else { ((last + 1) << PART_BITS).saturating_sub(1) };
        let start = if desc {
            at_id.min((last + 1) << PART_BITS)
        } else {
            at_id.max((first << PART_BITS).saturating_sub(1))
        };
        let ids: Vec<i64> =
            candidates.query_map(params![query, start, end, mark, chunk], |r| r.get(0))?.collect::<Result<_, _>>()?;
        read.test(&ids)?;
        // Fewer than asked: the run holds no more candidates, on past it.
        at_id = match ids.last() {
            Some(&reached) if i64::try_from(ids.len()).is_ok_and(|n| n >= chunk) => reached,
            _ => end,
        };
        if (desc && at_id <= 1) || (!desc && at_id >= mark) {
            break;
        }
        chunk = chunk.saturating_mul(2).min(MAX_CHUNK);
    }
    if !desc && tail_may_hold(&read) {
        read.tail(mark)?;
    }
    Ok(Some(read.best))
}

/// The next run of parts, from the one holding the ids next to `at_id` in
/// the direction (`desc`: below it) on, whose records may enter the page:
/// `(first, last)` parts, ascending, of consecutive zones the window does
/// not rule out. `None` when none is left.
fn next_run(zones: &[Zone], window: &Window, worst: Option<&str>, at_id: i64, desc: bool) -> Option<(i64, i64)> {
    let holds = |z: &&Zone| window.may_hold(z, worst);
    if desc {
        let below = at_id.saturating_sub(1) >> PART_BITS;
        let mut run = zones.iter().rev().skip_while(|z| z.part > below).skip_while(|z| !holds(z));
        let last = run.next()?.part;
        let first = run.take_while(holds).last().map_or(last, |z| z.part);
        Some((first, last))
    } else {
        let above = at_id.saturating_add(1) >> PART_BITS;
        let mut run = zones.iter().skip_while(|z| z.part < above).skip_while(|z| !holds(z));
        let first = run.next()?.part;
        let last = run.take_while(holds).last().map_or(first, |z| z.part);
        Some((first, last))
    }
}

/// A page being read: its conditions and the best rows so far.
struct Read<'c> {
    conn: &'c Connection,
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
        let list = format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
        let mut params = self.w.params.clone();
        params.push(Value::Text(list));
        // NOT INDEXED: the list's rowids, never a walk of the time index
        // that the order and the span's bounds could tempt SQLite into.
        let p = params.len();
        self.select(&format!("log_records NOT INDEXED WHERE id IN (SELECT value FROM json_each(?{p})) AND"), params)
    }

    /// Tests the records above `mark` (not yet in the search index).
    fn tail(&mut self, mark: i64) -> rusqlite::Result<()> {
        let mut params = self.w.params.clone();
        params.push(Value::Integer(mark));
        let p = params.len();
        self.select(&format!("log_records NOT INDEXED WHERE id > ?{p} AND"), params)
    }

    /// Runs the page's statement over `from` (a table and the first
    /// conditions) and merges its rows into the best ones.
    fn select(&mut self, from: &str, params: Vec<Value>) -> rusqlite::Result<()> {
        let order = if self.desc { "DESC" } else { "ASC" };
        let conditions = self.w.conditions().unwrap_or_else(|| "1".to_owned());
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM {from} {conditions} ORDER BY ts {order}, id {order} LIMIT {}",
            self.fetch
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(params.iter()), rows::record)?;
        for row in rows {
            self.best.push(row?);
        }
        if self.desc {
            self.best.sort_by(|a, b| (b.ts, b.id).cmp(&(a.ts, a.id)));
        } else {
            self.best.sort_by(|a, b| (a.ts, a.id).cmp(&(b.ts, b.id)));
        }
        self.best.truncate(usize::try_from(self.fetch).unwrap_or(usize::MAX));
        Ok(())
    }
}
