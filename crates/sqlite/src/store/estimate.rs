//! [`Store::histogram_estimate`](log_panel_query::Store::histogram_estimate)
//! on SQLite: the exact count where it is cheap, else an estimate from
//! blocks of consecutive ids drawn per slot, each bar with its margin — or,
//! for a lone context `key=value`, each bar's total counted from the side
//! table and only its levels estimated.
//!
//! A count costs what the plan visits: every row of the span when a
//! condition is read by scan, or each match through its index, at
//! [`INDEX_ROW_COST`](super::INDEX_ROW_COST) rows a match. A logger's or
//! the warnings' walk reads its rows by id, so there a search term's
//! candidates in the span cost one walked row each ([`Counting`]). Both are cheap below
//! [`Sizes::exact_rows`]; above, the plan of the exact count is drawn
//! with that budget's cap ([`SqliteStore::plan_with`] probes each term and
//! context condition once), and when it reads some condition from its index
//! (one with fewer candidates than the cap) that plan is the count.
//! Otherwise every condition is common at the budget, no index bounds the
//! count, and the rows are sampled: ids follow time closely, and the rows of
//! a block of consecutive ids lie together in the rowid B-tree, so a block
//! is one short range read. Each block's rows are tested against the whole
//! filter, and each slot's counts scaled by the part of its ids read
//! ([`sample`]). A lone context value's entries are not a sample: each
//! slot's are counted from its id range ([`indexed_field`]), every slot by
//! one statement ([`entries_per_bar`](crate::sql::entries_per_bar)), where
//! reading their rows took 0.9 s.

use log_panel_core::{Timestamp, QUARTER_HOUR};
use log_panel_query::{Histogram, HistogramSpan, LevelCounts, RecordFilter, Sample, Slots, Store, StoreError};
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::{count_row, span_ids, storage, Counting, SqliteStore};
use crate::sql::{KeyCondition, Marks, Sql, TextPlan};

/// When a histogram is estimated, and from how many rows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sizes {
    /// A span of at most this many rows is counted exactly, and so is a
    /// filter with a condition of fewer than this many rows'
    /// worth of index candidates (`exact_rows / INDEX_ROW_COST` matches, or
    /// `/ KEY_ROW_COST` for a context condition).
    pub(super) exact_rows: i64,
    /// About how many rows an estimate reads.
    pub(super) sample_rows: i64,
    /// Consecutive ids in one block of the sample.
    pub(super) block: i64,
}

impl Sizes {
    /// Measured at 10 M records (docs/performance.md, "Estimated histograms
    /// of common values"): 60 000 consecutive rows take 10 ms to read and
    /// 25 ms with a context value checked on each, so 100 000 rows counted
    /// exactly and a sample of 40 000 stay within a page's 50 ms beside the
    /// page itself. Blocks of 20 (session 38; 200 before) put about 22
    /// blocks in each bar of a 91-bar histogram instead of two, so an
    /// incident's hour is hit by a block or two, not by one or none.
    pub(super) const DEFAULT: Sizes = Sizes { exact_rows: 100_000, sample_rows: 40_000, block: 20 };
}

/// See the module documentation.
pub(super) fn histogram(store: &SqliteStore, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
    let Some(span) = HistogramSpan::of(filter, slots)? else { return Ok(Histogram::zeros(slots)) };
    // Logger, level and time alone are counted from the aggregates; a query
    // expression's terms look up their indexes inside it, once per statement,
    // which a sample would repeat for every block.
    if filter.is_aggregate_only() || filter.query.is_some() {
        return store.histogram(filter, slots);
    }
    let narrowed = span.narrow(filter);
    let ids = {
        let conn = store.conn()?;
        span_ids(&conn, narrowed.since, narrowed.until).map_err(storage)?
    };
    let Some((first, last)) = ids else { return Ok(Histogram::zeros(slots)) };
    let span_rows = last.saturating_sub(first).saturating_add(1).max(0);
    let walked = walked_rows(store, &narrowed)?.filter(|&walked| walked < span_rows);
    let rows = walked.unwrap_or(span_rows);
    let sizes = store.estimate;
    if rows <= sizes.exact_rows.max(sizes.sample_rows) {
        // A walk through a logger's or the warnings' index reads its rows
        // by id: a search term's candidates in the span, read by id too,
        // are cheaper when fewer (the `api::` tree's 20 702 warnings of 7
        // days against `timeout`'s 7 537 candidates there, every row
        // tested either way; docs/performance.md, session 40).
        let counting = Counting { rows, by_id: walked.is_some() };
        return store.count_rows(&store.plan_with(&narrowed, None, Some(counting), false)?, slots);
    }
    let w = store.plan_with(&narrowed, None, Some(Counting { rows: sizes.exact_rows, by_id: false }), false)?;
    if w.indexed {
        return store.count_rows(&w, slots);
    }
    let conn = store.conn()?;
    let extents = slot_ids(&conn, &narrowed, slots, (first, last))?;
    let Some((key, entry)) = indexed_field(&conn, &narrowed, last)? else {
        return sample(&conn, &narrowed, slots, &extents, sizes);
    };
    // Each bar's total is its entries in the side table (exact); its
    // matches in a quarter of the usual sample's blocks split it by level.
    let levels = Sizes { sample_rows: sizes.sample_rows / 4, ..sizes };
    let mut h = levels_from_entries(&conn, (key, &entry), slots, &extents, levels)?;
    let bars: Vec<(usize, (i64, i64))> = extents.iter().enumerate().filter_map(|(i, e)| Some((i, (*e)?))).collect();
    let ranges: Vec<(i64, i64)> = bars.iter().map(|&(_, ids)| ids).collect();
    let totals = crate::sql::entries_per_bar(&conn, key, &entry, &ranges).map_err(storage)?;
    for (&(i, _), n) in bars.iter().zip(totals) {
        h.set_total(i, count(n));
    }
    Ok(h)
}

/// A context value's forms, each with its SQLite type ([`exact_entries`](crate::sql::exact_entries)).
type TypedValues = Vec<(Value, &'static str)>;

/// The key and typed value of a filter that is one context `key=value`
/// and time bounds alone, whose matches are exactly the side table's
/// entries of that value ([`exact_entries`](crate::sql::exact_entries)) and
/// whose span's ids, up to `last`, the side table holds: each bar is then
/// counted from the entries (`None`: sample the rows).
fn indexed_field<'f>(
    conn: &rusqlite::Connection,
    narrowed: &'f RecordFilter,
    last: i64,
) -> Result<Option<(&'f str, TypedValues)>, StoreError> {
    let [m] = narrowed.fields.as_slice() else { return Ok(None) };
    let mut rest = narrowed.clone();
    rest.fields.clear();
    (rest.since, rest.until) = (None, None);
    if rest != RecordFilter::default() {
        return Ok(None);
    }
    // A file migrated after this read still holds booleans apart: the
    // version only moves forward.
    let apart = crate::upkeep::context_index::booleans_apart(conn).map_err(storage)?;
    let Some(entry) = crate::sql::exact_entries(m, apart) else { return Ok(None) };
    if crate::sql::key_mark(conn, &m.key).map_err(storage)? < last {
        return Ok(None);
    }
    Ok(Some((m.key.as_str(), entry)))
}

/// Each slot's ids (its first and last record by time, within `[first,
/// last]`), the slot clipped to the span of `narrowed`: two lookups of the
/// time index a slot. `None` for a slot without records there.
fn slot_ids(
    conn: &rusqlite::Connection,
    narrowed: &RecordFilter,
    slots: &Slots,
    (first, last): (i64, i64),
) -> Result<Vec<Option<(i64, i64)>>, StoreError> {
    let mut extents = Vec::with_capacity(slots.len());
    for i in 0..slots.len() {
        let clipped = slots.slot(i).and_then(|(a, b)| {
            let a = narrowed.since.map_or(a, |s| s.max(a));
            let b = narrowed.until.map_or(b, |u| u.min(b));
            (a < b).then_some((a, b))
        });
        let ids = match clipped {
            Some((a, b)) => span_ids(conn, Some(a), Some(b)).map_err(storage)?,
            None => None,
        };
        extents.push(ids.map(|(lo, hi)| (lo.max(first), hi.min(last))).filter(|(lo, hi)| lo <= hi));
    }
    Ok(extents)
}

/// The rows an exact count of `narrowed` walks when a logger or the
/// warnings' index narrows the walk to fewer than its span (`None`: every
/// row of the span), as the aggregates count them over the span's quarter
/// hours: a narrow logger or level beside a common value is counted, not
/// estimated (billing's errors of a day with a hot user: 7, not "≈ 8").
fn walked_rows(store: &SqliteStore, narrowed: &RecordFilter) -> Result<Option<i64>, StoreError> {
    let warnings = narrowed.keeps_warnings_only();
    if narrowed.logger.is_none() && !warnings {
        return Ok(None);
    }
    let (Some(since), Some(until)) = (narrowed.since, narrowed.until) else { return Ok(None) };
    let q = QUARTER_HOUR;
    let quarters =
        Slots::new(vec![Timestamp(since.0.div_euclid(q) * q), Timestamp((until.0 + q - 1).div_euclid(q) * q)])?;
    let mut walk = RecordFilter::default();
    walk.logger.clone_from(&narrowed.logger);
    if warnings {
        walk.min_level = narrowed.min_level;
        walk.levels.clone_from(&narrowed.levels);
    }
    let counted = store.histogram(&walk, &quarters)?;
    let total: u64 = counted.slots.iter().map(LevelCounts::total).sum();
    Ok(Some(i64::try_from(total).unwrap_or(i64::MAX)))
}

/// The estimate from blocks of `sizes.block` consecutive ids, drawn per
/// slot (stratified): each slot's ids (its first and last record by time)
/// get a share of `sizes.sample_rows` in proportion to their number, at
/// least [`MIN_BLOCKS`] blocks, evenly spaced over them (one in the middle
/// of each equal share), their rows tested against every condition of
/// `narrowed`; a slot with fewer ids than its share is read whole (exact).
/// Each slot is scaled by its own part read, and its margin is the wider
/// of the Poisson one and what its blocks show ([`Histogram::widen_by_clusters`]): a
/// burst one block hits and its neighbours miss widens the bar's range
/// instead of passing for a certain height.
fn sample(
    conn: &rusqlite::Connection,
    narrowed: &RecordFilter,
    slots: &Slots,
    extents: &[Option<(i64, i64)>],
    sizes: Sizes,
) -> Result<Histogram, StoreError> {
    let (blocks, per_slot, all) = blocks(extents, slots.len(), sizes);
    // Every condition is checked on the row itself: an index lookup would
    // read all of its matches for each block.
    let every = Marks { common: (0..KeyCondition::all(narrowed).count()).collect(), ..Marks::default() };
    let mut w = Sql::planned(narrowed, TextPlan::scan(), every);
    let listed: Vec<String> = blocks.iter().map(|(a, b, _)| format!("[{a},{b}]")).collect();
    let listed = w.bind(format!("[{}]", listed.join(",")));
    w.and("log_records.id >= b.start AND log_records.id < b.stop".to_owned());
    // One statement for every block (a range read of the rowid B-tree
    // each, `CROSS JOIN` keeping the blocks the outer loop): executing one
    // per block cost ~10 µs each, 20 ms for 2 000 blocks at 10 M.
    // `NOT INDEXED`: the rowid range is the only access path, never the
    // time or logger index over the whole span.
    let sql = format!(
        "WITH b(n, start, stop) AS (SELECT key, value ->> 0, value ->> 1 FROM json_each({listed}))
         SELECT ts, level, b.n FROM b CROSS JOIN log_records NOT INDEXED{}",
        w.sql()
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let mut found = vec![0u64; blocks.len()];
    let mut counted = vec![LevelCounts::default(); slots.len()];
    let mut one = vec![LevelCounts::default(); slots.len()];
    let mut rows = stmt.query(params_from_iter(w.params.iter())).map_err(storage)?;
    while let Some(row) = rows.next().map_err(storage)? {
        let n: i64 = row.get(2).map_err(storage)?;
        let Some((n, &(_, _, i))) = usize::try_from(n).ok().and_then(|n| Some((n, blocks.get(n)?))) else { continue };
        one.fill(LevelCounts::default());
        count_row(row, slots, &mut one)?;
        // Only the rows of this block's slot: a record out of time order
        // belongs to the slot it was sampled for alone.
        let here = one.get(i).copied().unwrap_or_default();
        if here.total() > 0 {
            found[n] += 1;
            counted[i].merge(&here);
        }
    }
    let read = per_slot.iter().map(|s| s.read).sum();
    let mut h = Histogram::estimated_per_slot(counted, &per_slot, Sample { read, of: count(all) });
    // The blocks are listed slot by slot: each slot's margin from its own.
    let mut k = 0;
    while let Some(&(a, b, i)) = blocks.get(k) {
        let n = blocks[k..].iter().take_while(|(_, _, s)| *s == i).count();
        let rows = extents.get(i).copied().flatten().map_or(0, |(lo, hi)| hi - lo + 1);
        let clusters: Vec<(u64, u64)> = found[k..k + n].iter().map(|&f| (f, count(b - a))).collect();
        h.widen_by_clusters(i, &clusters, count(rows));
        k += n;
    }
    Ok(h)
}

/// The levels of a lone context value's bars (whose totals the caller
/// sets, counted), from its matches in the blocks [`sample`] would read
/// (`sizes`), found through the side table
/// ([`entries_in_blocks`](crate::sql::entries_in_blocks)): the same
/// matches as reading the blocks' rows, without parsing the others
/// (~20 rows a match of the hot `user_id=3`; docs/performance.md,
/// session 41).
fn levels_from_entries(
    conn: &rusqlite::Connection,
    (key, entry): (&str, &TypedValues),
    slots: &Slots,
    extents: &[Option<(i64, i64)>],
    sizes: Sizes,
) -> Result<Histogram, StoreError> {
    let (blocks, per_slot, all) = blocks(extents, slots.len(), sizes);
    let bounds: Vec<(i64, i64)> = blocks.iter().map(|&(start, stop, _)| (start, stop)).collect();
    let found = crate::sql::entries_in_blocks(conn, key, entry, &bounds).map_err(storage)?;
    let mut counted = vec![LevelCounts::default(); slots.len()];
    for (n, ts, severity) in found {
        let Some(&(_, _, i)) = blocks.get(n) else { continue };
        let t = crate::rows::timestamp(&ts).map_err(storage)?;
        // A record out of time order counts for the slot it was sampled
        // for alone, as in [`sample`].
        if slots.index_of(t) != Some(i) {
            continue;
        }
        if let (Some(c), Some(level)) = (counted.get_mut(i), log_panel_core::level_from_severity(severity)) {
            c.add(level);
        }
    }
    let read = per_slot.iter().map(|s| s.read).sum();
    Ok(Histogram::estimated_per_slot(counted, &per_slot, Sample { read, of: count(all) }))
}

/// The blocks of [`sample`], `[start, end)` with their slot, slot by slot;
/// each slot's part read; and the rows of every slot.
fn blocks(extents: &[Option<(i64, i64)>], slots: usize, sizes: Sizes) -> (Vec<(i64, i64, usize)>, Vec<Sample>, i64) {
    let all: i64 = extents.iter().flatten().map(|(lo, hi)| hi - lo + 1).sum();
    let mut blocks: Vec<(i64, i64, usize)> = Vec::new();
    let mut per_slot = vec![Sample { read: 0, of: 0 }; slots];
    for (i, extent) in extents.iter().enumerate() {
        let Some((lo, hi)) = *extent else { continue };
        let rows = hi - lo + 1;
        // This slot's share of the sample, in whole blocks.
        let share_rows = i64::try_from(i128::from(sizes.sample_rows) * i128::from(rows) / i128::from(all.max(1)))
            .unwrap_or(i64::MAX);
        let block = sizes.block.clamp(1, rows);
        let n = (share_rows / block).max(MIN_BLOCKS);
        let (block, n) = if n.saturating_mul(block) >= rows { (rows, 1) } else { (block, n) };
        let share = rows / n;
        for k in 0..n {
            let start = lo + k * share + (share - block) / 2;
            blocks.push((start, start + block, i));
        }
        if let Some(s) = per_slot.get_mut(i) {
            *s = Sample { read: count(block * n), of: count(rows) };
        }
    }
    (blocks, per_slot, all)
}

/// A slot gets at least this many blocks, so its blocks can disagree.
const MIN_BLOCKS: i64 = 2;

/// `n` as a count (0 when negative).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use log_panel_core::Sink;
    use log_panel_testing::estimate as set;

    use super::super::tests::statements;
    use super::super::INDEX_ROW_COST;
    use super::*;

    /// The estimate set of 240 000 records, with sizes scaled to it: exact
    /// up to 20 000 rows (a condition of fewer than 1 250 candidates), a
    /// sample of 200 blocks of 100.
    fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        set::write(&mut sink, 5_000);
        while sink.idle().unwrap() {}
        let mut store = SqliteStore::open(&path).unwrap();
        store.estimate = Sizes { exact_rows: 20_000, sample_rows: 20_000, block: 100 };
        store
    }

    #[test]
    fn a_common_word_or_value_over_a_wide_span_is_estimated_within_a_quarter_per_bar() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let slots = set::slots();
        // The common user's bars are counted from the side table; only their
        // levels come from its matches in a quarter of the sample's blocks
        // (about 400 errors: ±5 %).
        for (what, f, read, whole) in [
            ("common word", set::common_word(), 20_000, 0.03),
            ("common user (levels only)", set::common_user(), 4_000, 0.06),
        ] {
            let exact = store.histogram(&f, &slots).unwrap();
            let total: u64 = exact.slots.iter().map(LevelCounts::total).sum();
            let fifth = set::RECORDS / 5;
            assert!((fifth * 95 / 100..fifth * 105 / 100).contains(&total), "{what}: about a fifth: {total}");
            let estimate = store.histogram_estimate(&f, &slots).unwrap();
            assert_eq!(estimate.sample, Some(Sample { read, of: set::RECORDS }), "{what}");
            // A bar's 12 000 rows give 1 000 to the sample, about 200 matches:
            // ±6 % is one standard deviation, 25 % four.
            set::assert_close(what, &exact, &estimate, 0.25, whole);
        }
    }

    /// A burst of the common word (2 000 records in the middle of bar 7,
    /// [`set::BURST`]) among 1 % elsewhere, sampled at 1.7 % in the default
    /// blocks: the burst's bar is drawn near its height, and every bar's
    /// exact total lies in its range. The blocks of 200 drawn before (one
    /// in the middle of each bar) put bar 7's one block in the burst: 200
    /// matches of 200, drawn as 12 000 for about 2 100; with that block
    /// size this test fails.
    #[test]
    fn a_burst_is_drawn_near_its_height_and_every_bar_within_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        set::write_bursty(&mut sink, 5_000);
        while sink.idle().unwrap() {}
        let mut store = SqliteStore::open(&path).unwrap();
        store.estimate = Sizes { exact_rows: 20_000, sample_rows: 4_000, block: Sizes::DEFAULT.block };
        let (slots, word) = (set::slots(), set::common_word());
        let exact = store.histogram(&word, &slots).unwrap();
        let estimate = store.histogram_estimate(&word, &slots).unwrap();
        assert_eq!(estimate.sample.map(|s| s.read), Some(4_000));
        assert_eq!(estimate.margins.len(), slots.len());
        for (i, (x, e)) in exact.slots.iter().zip(&estimate.slots).enumerate() {
            let (low, high) = estimate.range(i).unwrap();
            assert!(
                (low..=high).contains(&x.total()),
                "bar {i}: {} counted, {} ± → {low}–{high}",
                x.total(),
                e.total()
            );
        }
        let (x, e) = (exact.slots[7].total(), estimate.slots[7].total());
        assert!(x > 2_000 && x < 2_300, "the burst's bar: {x}");
        assert!(e > x / 2 && e < x * 3 / 2, "the burst's bar: {e} estimated, {x} counted");
        // A quiet bar rests on a few sampled matches: uncertain, and said so.
        let quiet = (0..slots.len()).filter(|&i| i != 7 && estimate.is_uncertain(i)).count();
        assert_eq!(quiet, slots.len() - 1, "{:?}", estimate.margins);
    }

    /// A lone context `key=value` over a wide span: each bar's total is its
    /// entries in the side table, equal to the exact count (`GROUP BY` of
    /// the rows), and only its levels are estimated (a quarter of the
    /// sample): no margin, no bar uncertain. Beside another condition, or
    /// where the side table lags behind the span, the rows are sampled.
    #[test]
    fn a_lone_context_value_is_counted_per_bar_from_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let slots = set::slots();
        let user = set::common_user();
        let estimate = store.histogram_estimate(&user, &slots).unwrap();
        // As a URL gives it, `3` is the integer, the real or the text: the same bars.
        let untyped = log_panel_testing::records::filter(|f| f.fields = vec!["user_id=3".parse().unwrap()]);
        assert_eq!(store.histogram_estimate(&untyped, &slots).unwrap().margins, vec![0; slots.len()]);
        let conn = store.conn().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT (CAST(substr(ts, 12, 2) AS INTEGER)
                         + 24 * CAST(julianday(substr(ts, 1, 10)) - julianday(?1) AS INTEGER)) / 3,
                        count(*)
                 FROM log_records WHERE json_extract(context, '$.user_id') = 3 GROUP BY 1 ORDER BY 1",
            )
            .unwrap();
        let first_day = Timestamp(log_panel_testing::records::BASE).to_rfc3339()[..10].to_owned();
        // The bars of 3 hours from BASE (midnight), grouped by the rows' times.
        let mut grouped = vec![0u64; slots.len()];
        for row in stmt.query_map([first_day], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).unwrap() {
            let (bar, n) = row.unwrap();
            grouped[usize::try_from(bar).unwrap()] = u64::try_from(n).unwrap();
        }
        let totals: Vec<u64> = estimate.slots.iter().map(LevelCounts::total).collect();
        assert_eq!(totals, grouped);
        assert_eq!(estimate.margins, vec![0; slots.len()]);
        assert!((0..slots.len()).all(|i| !estimate.is_uncertain(i)));
        assert_eq!(estimate.sample.map(|s| s.read), Some(4_000), "the levels' sample, in whole blocks");
        let exact = store.histogram(&user, &slots).unwrap();
        set::assert_close("the common user's levels", &exact, &estimate, 0.0, 0.2);
        drop(stmt);
        drop(conn);

        // Beside a common word, the rows are sampled.
        let mut both = set::common_user();
        both.text = Some(set::COMMON_WORD.into());
        assert_eq!(store.histogram_estimate(&both, &slots).unwrap().sample.map(|s| s.read), Some(20_000));
        // The side table behind the span: sampled.
        let conn = rusqlite::Connection::open(dir.path().join("logs.db")).unwrap();
        conn.execute("UPDATE log_context_all SET indexed_id = indexed_id - 1", []).unwrap();
        drop(conn);
        assert_eq!(store.histogram_estimate(&user, &slots).unwrap().sample.map(|s| s.read), Some(20_000));
    }

    /// A file in `dir` of the records `record(0..n)`, written in batches
    /// of 5 000 and indexed whole: its path and its sink.
    fn indexed(
        dir: &tempfile::TempDir,
        n: i64,
        record: impl Fn(i64) -> log_panel_core::Record,
    ) -> (std::path::PathBuf, crate::SqliteSink) {
        let path = dir.path().join("logs.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = log_panel_core::Origin::new("api", "h1", 10);
        for chunk in (0..n).step_by(5_000) {
            let records: Vec<_> = (chunk..(chunk + 5_000).min(n)).map(&record).collect();
            sink.write(&log_panel_core::Batch::new(&origin, &records)).unwrap();
        }
        while sink.idle().unwrap() {}
        (path, sink)
    }

    /// A lone context value's bars are counted by one statement over the
    /// side table, however many bars and parts: session 38 ran one per bar,
    /// part and accepted form (here 46 for the 24 bars of `user_id=3`, the
    /// integer and the text), and split by level by one more, reading the
    /// side table's matches in the levels' blocks (session 41; the blocks'
    /// rows before). The other statement that reads the side table is the
    /// planner's probe of how common the value is.
    #[test]
    fn a_lone_context_values_bars_are_counted_by_one_statement() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let slots = set::slots();
        let untyped = log_panel_testing::records::filter(|f| f.fields = vec!["user_id=3".parse().unwrap()]);
        let seen = statements(&store, || {
            let h = store.histogram_estimate(&untyped, &slots).unwrap();
            assert_eq!(h.margins, vec![0; slots.len()], "counted, not sampled");
        });
        let side: Vec<&String> = seen.iter().filter(|s| s.contains("log_context_index")).collect();
        assert_eq!(side.len(), 3, "{side:#?}");
        assert_eq!(side.iter().filter(|s| s.contains("json_each") && s.contains("count(*)")).count(), 1, "{side:#?}");
        // The levels from the side table's entries in the blocks, each
        // match's record by id, not from the blocks' rows (session 40 read
        // 4 000 rows here, `NOT INDEXED`, each one's context parsed).
        let levels: Vec<&&String> = side.iter().filter(|s| s.contains("ON r.id = e.id")).collect();
        assert_eq!(levels.len(), 1, "{side:#?}");
        assert!(!seen.iter().any(|s| s.contains("NOT INDEXED") || s.contains("json_extract")), "{seen:#?}");
    }

    /// Records holding 3 as each type writes it, the integer, the real 3.0
    /// and the text "3", beside the integer 4 and the real 2.5 (`user_id`,
    /// 800 of each over 4 000 records a second apart), and a `score` that is
    /// a real on even records, an integer on odd ones: written by a sink of
    /// this build (schema 12) and indexed. Returns its path.
    fn typed_threes(dir: &tempfile::TempDir) -> std::path::PathBuf {
        use log_panel_core::{Batch, Level, Origin, Record, Value as V};
        let path = dir.path().join("threes.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let origin = Origin::new("api", "h1", 10);
        let records: Vec<Record> = (0..4_000i64)
            .map(|i| {
                let mut r = Record::new(Level::Info, "web::api", format!("request {i}"));
                r.timestamp = Timestamp(log_panel_testing::records::BASE + i * 1_000_000);
                let user = [V::I64(3), V::F64(3.0), V::Str("3".into()), V::I64(4), V::F64(2.5)];
                #[allow(clippy::cast_precision_loss)]
                let score = if i % 2 == 0 { V::F64(i as f64) } else { V::I64(i) };
                r.kv = vec![("user_id".into(), user[usize::try_from(i % 5).unwrap()].clone()), ("score".into(), score)];
                r
            })
            .collect();
        sink.write(&Batch::new(&origin, &records)).unwrap();
        while sink.idle().unwrap() {}
        path
    }

    /// The store of `path` with sizes that count a lone common value's bars
    /// from the side table ([`entries_per_bar`](crate::sql::entries_per_bar)).
    fn small_store(path: &std::path::Path) -> SqliteStore {
        let mut store = SqliteStore::open(path).unwrap();
        store.estimate = Sizes { exact_rows: 100, sample_rows: 100, block: 10 };
        store
    }

    /// What each filter on [`typed_threes`] matches, as the records' own JSON
    /// types say: (filter, matches). `user_id=3` as a URL gives it is the
    /// integer or the text, never the real 3.0 (equal to 3 in SQL);
    /// `user_id=3.0` the real alone; a range every number of either type.
    fn threes_filters() -> Vec<(&'static str, RecordFilter, usize)> {
        use log_panel_query::{FieldMatch, FieldRange, FieldValue, RangeOp};
        let field = |m: FieldMatch| log_panel_testing::records::filter(|f| f.fields = vec![m]);
        let range = |key: &str, op: RangeOp, bound: f64| {
            let r = FieldRange::new(key, op, bound).unwrap();
            log_panel_testing::records::filter(|f| f.ranges = vec![r])
        };
        vec![
            ("user_id=3", field("user_id=3".parse().unwrap()), 1_600),
            ("the integer 3", field(FieldMatch::new("user_id", FieldValue::Int(3)).unwrap()), 800),
            ("the text 3", field(FieldMatch::new("user_id", FieldValue::Str("3".into())).unwrap()), 800),
            ("user_id=3.0", field("user_id=3.0".parse().unwrap()), 800),
            ("user_id=2.5", field("user_id=2.5".parse().unwrap()), 800),
            ("user_id=4", field("user_id=4".parse().unwrap()), 800),
            ("user_id >= 3", range("user_id", RangeOp::Ge, 3.0), 2_400),
            ("user_id < 3", range("user_id", RangeOp::Lt, 3.0), 800),
            ("score >= 3000", range("score", RangeOp::Ge, 3_000.0), 1_000),
            ("score < 10.5", range("score", RangeOp::Lt, 10.5), 11),
        ]
    }

    /// Each filter's matches on `store` by every read that uses the side
    /// table: a page (up to 10 000 rows), the exact histogram and the
    /// estimated one (a lone value's bars counted from its entries).
    fn threes_counts(store: &SqliteStore) -> Vec<(&'static str, usize, u64, u64)> {
        let slots =
            Slots::ending_at(Timestamp(log_panel_testing::records::BASE + 4_000_000_000), 400_000_000, 10).unwrap();
        threes_filters()
            .into_iter()
            .map(|(what, f, _)| {
                let page = store.records(&f, log_panel_query::PageAt::Newest, 10_000).unwrap().records.len();
                let total = |h: Histogram| h.slots.iter().map(LevelCounts::total).sum::<u64>();
                let exact = total(store.histogram(&f, &slots).unwrap());
                let estimate = store.histogram_estimate(&f, &slots).unwrap();
                let estimated = if estimate.sample.is_none() || f.fields.len() == 1 { total(estimate) } else { exact };
                (what, page, exact, estimated)
            })
            .collect()
    }

    /// Schema 12 keys a real's side-table entries by the key's BLOB form:
    /// `user_id=3`'s bars are counted without a `typeof` per entry, and
    /// every lookup answers as the records' JSON types say, a real 3.0
    /// matching `user_id=3.0` and a range, not `user_id=3`.
    #[test]
    fn reals_are_kept_apart_so_the_hot_values_count_checks_no_typeof() {
        let dir = tempfile::tempdir().unwrap();
        let path = typed_threes(&dir);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let forms: Vec<(String, String, i64)> = conn
            .prepare(
                "SELECT typeof(key), typeof(value), count(*) FROM log_context_index
                 WHERE CAST(key AS TEXT) = 'user_id' GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let form = |k: &str, v: &str, n| (k.to_owned(), v.to_owned(), n);
        assert_eq!(forms, [form("blob", "real", 1_600), form("text", "integer", 1_600), form("text", "text", 800)]);
        let store = small_store(&path);
        for ((what, page, exact, estimated), (_, _, want)) in threes_counts(&store).into_iter().zip(threes_filters()) {
            assert_eq!((page, exact, estimated), (want, want as u64, want as u64), "{what}");
        }
        let slots =
            Slots::ending_at(Timestamp(log_panel_testing::records::BASE + 4_000_000_000), 400_000_000, 10).unwrap();
        let untyped = log_panel_testing::records::filter(|f| f.fields = vec!["user_id=3".parse().unwrap()]);
        let seen = statements(&store, || {
            let h = store.histogram_estimate(&untyped, &slots).unwrap();
            assert!(h.sample.is_some_and(|s| s.read > 0), "the bars' levels are sampled, their totals counted");
        });
        let side: Vec<&String> = seen.iter().filter(|s| s.contains("json_each(?1)")).collect();
        // The count and the levels' lookups.
        assert_eq!(side.len(), 2, "{seen:#?}");
        assert!(side.iter().all(|s| !s.contains("typeof")), "{side:#?}");
        // A real's lookup reads the key's BLOB form: the request view finds 3.0.
        let related = store.related("user_id", &log_panel_query::FieldValue::Text("3.0".into()), 10_000).unwrap();
        assert_eq!(related.len(), 800);
    }

    /// The side table's entries of the file `conn` reads, in key order.
    fn side_entries(conn: &rusqlite::Connection) -> Vec<(Value, i64, Value, i64)> {
        conn.prepare("SELECT key, part, value, id FROM log_context_index ORDER BY key, part, value, id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// A copy of the file `path` at `copy` (`VACUUM INTO`), and the side
    /// table's entries the file's sink wrote.
    fn copy_of(path: &std::path::Path, copy: &std::path::Path) -> (std::path::PathBuf, Vec<(Value, i64, Value, i64)>) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()]).unwrap();
        (copy.to_owned(), side_entries(&conn))
    }

    /// The same records in a file of schema 11 (as main wrote it: every
    /// entry under its key): this build's reader opens it as it is, reads
    /// the same answers (its exact bars with `typeof`, as before), and the
    /// writer's migration 12 re-encodes the reals, leaving the entries this
    /// build's sink writes and the same answers.
    #[test]
    fn a_schema_11_file_reads_the_same_before_and_after_its_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = typed_threes(&dir);
        let (old, written) = copy_of(&path, &dir.path().join("v11.db"));
        let v11 = rusqlite::Connection::open(&old).unwrap();
        v11.execute_batch(
            "UPDATE log_context_index SET key = CAST(key AS TEXT) WHERE typeof(key) = 'blob';
             PRAGMA user_version = 11;",
        )
        .unwrap();
        let blobs = "SELECT count(*) FROM log_context_index WHERE typeof(key) = 'blob'";
        assert_eq!(v11.query_row(blobs, [], |r| r.get::<_, i64>(0)).unwrap(), 0);
        let want = threes_counts(&small_store(&path));
        let before = small_store(&old);
        assert_eq!(threes_counts(&before), want);
        let slots =
            Slots::ending_at(Timestamp(log_panel_testing::records::BASE + 4_000_000_000), 400_000_000, 10).unwrap();
        let untyped = log_panel_testing::records::filter(|f| f.fields = vec!["user_id=3".parse().unwrap()]);
        let seen = statements(&before, || drop(before.histogram_estimate(&untyped, &slots).unwrap()));
        let count = seen.iter().find(|s| s.contains("json_each(?1)")).unwrap();
        assert!(count.contains("typeof(value) IN ('integer', 'text')"), "{count}");
        // Maintenance writes the side table as schema 12 keeps it: it asks for the migration first.
        assert!(crate::SqliteMaintenance::open(&old).unwrap_err().to_string().contains("schema version 11"));
        assert_eq!(crate::SqliteMaintenance::migrate(&old).unwrap(), (11, crate::SCHEMA_VERSION));
        // 1 600 reals of `user_id` (3.0 and 2.5) and 2 000 of `score`.
        assert_eq!(v11.query_row(blobs, [], |r| r.get::<_, i64>(0)).unwrap(), 3_600);
        assert_eq!(side_entries(&v11), written);
        assert_eq!(threes_counts(&before), want);
        assert_eq!(threes_counts(&small_store(&old)), want);
        let seen = statements(&before, || drop(before.histogram_estimate(&untyped, &slots).unwrap()));
        let count = seen.iter().find(|s| s.contains("json_each(?1)")).unwrap();
        assert!(!count.contains("typeof"), "{count}");
        drop(crate::SqliteMaintenance::open(&old).unwrap());
    }

    /// Records whose `flag` is the integer 1 or 0, the boolean true or
    /// false, or the text "1" (4 000, a millisecond apart, a burst of trues
    /// in the third bar), and a `dup` written twice on every 100th (the
    /// integer 1, then true), written by a sink of this build and indexed.
    /// Returns its path.
    fn flags(dir: &tempfile::TempDir) -> std::path::PathBuf {
        use log_panel_core::{Batch, Level, Origin, Record, Value as V};
        let path = dir.path().join("flags.db");
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let records: Vec<Record> = (0..4_000i64)
            .map(|i| {
                let mut r = Record::new(Level::Info, "web::api", format!("request {i}"));
                r.timestamp = Timestamp(log_panel_testing::records::BASE + i * 1_000_000);
                let flag = match i % 8 {
                    _ if (900..1_100).contains(&i) => V::Bool(true),
                    0..=2 => V::I64(1),
                    3 => V::Bool(true),
                    4 => V::I64(0),
                    5 | 6 => V::Bool(false),
                    _ => V::Str("1".into()),
                };
                r.kv = vec![("flag".into(), flag)];
                if i % 100 == 0 {
                    r.kv.extend([("dup".into(), V::I64(1)), ("dup".into(), V::Bool(true))]);
                }
                r
            })
            .collect();
        sink.write(&Batch::new(&Origin::new("api", "h1", 10), &records)).unwrap();
        while sink.idle().unwrap() {}
        path
    }

    /// The ten bars of [`flags`].
    fn flag_slots() -> Slots {
        Slots::ending_at(Timestamp(log_panel_testing::records::BASE + 4_000_000_000), 400_000_000, 10).unwrap()
    }

    /// The filters on [`flags`] with the JSON types and value each matches,
    /// as `json_type` / `json_extract` tell them by hand.
    fn flag_filters() -> Vec<(&'static str, RecordFilter, &'static str)> {
        use log_panel_query::{FieldMatch, FieldValue};
        let field = |m: FieldMatch| log_panel_testing::records::filter(|f| f.fields = vec![m]);
        vec![
            ("flag=1", field("flag=1".parse().unwrap()), "(t = 'integer' AND v = 1) OR (t = 'text' AND v = '1')"),
            ("the integer 1", field(FieldMatch::new("flag", FieldValue::Int(1)).unwrap()), "t = 'integer' AND v = 1"),
            ("flag=0", field("flag=0".parse().unwrap()), "t = 'integer' AND v = 0"),
            ("flag=true", field("flag=true".parse().unwrap()), "t = 'true'"),
            ("flag=false", field("flag=false".parse().unwrap()), "t = 'false'"),
        ]
    }

    /// Each bar's records of `flags` whose `flag` passes `test` (on its
    /// JSON type `t` and value `v`), counted by hand with `json_type`.
    fn flag_bars_by_hand(path: &std::path::Path, test: &str) -> Vec<u64> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let slots = flag_slots();
        (0..slots.len())
            .map(|i| {
                let (a, b) = slots.slot(i).unwrap();
                conn.query_row(
                    &format!(
                        "SELECT count(*) FROM (SELECT json_type(context, '$.flag') AS t, json_extract(context, '$.flag') AS v
                                               FROM log_records WHERE ts >= ?1 AND ts < ?2)
                         WHERE {test}"
                    ),
                    [a.to_rfc3339(), b.to_rfc3339()],
                    |r| r.get::<_, i64>(0),
                )
                .map(count)
                .unwrap()
            })
            .collect()
    }

    /// What a store answers a filter of [`flag_filters`].
    #[derive(Debug, PartialEq)]
    struct FlagAnswer {
        what: &'static str,
        /// The page's length.
        page: usize,
        /// The exact bars.
        exact: Vec<u64>,
        /// The estimated bars' totals.
        totals: Vec<u64>,
        /// Whether those were counted (no margin), not sampled.
        counted: bool,
    }

    /// Each filter of [`flag_filters`] on `store`.
    fn flag_answers(store: &SqliteStore) -> Vec<FlagAnswer> {
        let slots = flag_slots();
        flag_filters()
            .into_iter()
            .map(|(what, f, _)| {
                let page = store.records(&f, log_panel_query::PageAt::Newest, 10_000).unwrap().records.len();
                let exact: Vec<u64> =
                    store.histogram(&f, &slots).unwrap().slots.iter().map(LevelCounts::total).collect();
                let estimate = store.histogram_estimate(&f, &slots).unwrap();
                let totals: Vec<u64> = estimate.slots.iter().map(LevelCounts::total).collect();
                FlagAnswer { what, page, exact, totals, counted: estimate.margins.iter().all(|&m| m == 0) }
            })
            .collect()
    }

    /// `flag`'s values in field statistics: (label, records).
    fn flag_values(store: &SqliteStore) -> std::collections::BTreeMap<Option<String>, u64> {
        let mut values = std::collections::BTreeMap::new();
        for (label, n) in store.count_field_values(&RecordFilter::default(), "flag", 10_000).unwrap() {
            *values.entry(label).or_default() += n;
        }
        values
    }

    /// Schema 13 keeps a boolean's side-table entry apart from the integers
    /// 1 and 0 (the BLOB x'01' / x'00'): the bars of `flag=1`, `flag=0`,
    /// `flag=true` and `flag=false` over a key holding each are counted
    /// from the entries, each bar as `json_type` counts it by hand (the
    /// integer 1 beside `true` was sampled before: its entries counted the
    /// `true`s too), a lookup of `flag=true` meets the booleans' entries
    /// alone, and field statistics tell `true` from `1`.
    #[test]
    fn booleans_are_kept_apart_so_their_bars_and_0_and_1_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = flags(&dir);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let forms: Vec<(String, Value, i64)> = conn
            .prepare(
                "SELECT typeof(value), value, count(*) FROM log_context_index
                 WHERE key = 'flag' GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let by_hand = |test: &str| -> i64 {
            conn.query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT json_type(context, '$.flag') AS t, json_extract(context, '$.flag') AS v
                                           FROM log_records) WHERE {test}"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let form = |t: &str, v: Value, test: &str| (t.to_owned(), v, by_hand(test));
        assert_eq!(
            forms,
            [
                form("blob", Value::Blob(vec![0]), "t = 'false'"),
                form("blob", Value::Blob(vec![1]), "t = 'true'"),
                form("integer", Value::Integer(0), "t = 'integer' AND v = 0"),
                form("integer", Value::Integer(1), "t = 'integer' AND v = 1"),
                form("text", Value::Text("1".into()), "t = 'text'"),
            ]
        );
        let store = small_store(&path);
        for (FlagAnswer { what, page, exact, totals, counted }, (_, _, test)) in
            flag_answers(&store).into_iter().zip(flag_filters())
        {
            let want = flag_bars_by_hand(&path, test);
            assert_eq!(page as u64, want.iter().sum::<u64>(), "{what}");
            assert_eq!(exact, want, "{what}");
            assert_eq!((totals, counted), (want, true), "{what}: counted from the side table");
        }
        // A lookup of `flag=true` reads the booleans' entries, not the integer 1's.
        let lookup = |m: &str, apart: bool| {
            let m: log_panel_query::FieldMatch = m.parse().unwrap();
            crate::sql::entries(&conn, KeyCondition::Field(&m), i64::MAX, None, apart).unwrap()
        };
        assert_eq!(lookup("flag=true", true), by_hand("t = 'true'"));
        assert_eq!(lookup("flag=false", true), by_hand("t = 'false'"));
        assert_eq!(lookup("flag=1", true), by_hand("(t = 'integer' AND v = 1) OR (t = 'text' AND v = '1')"));
        // Field statistics tell `true` from `1` (and `"1"`).
        let values = flag_values(&store);
        let label = |l: &str| Some(l.to_owned());
        #[allow(clippy::cast_sign_loss)]
        let want = std::collections::BTreeMap::from([
            (label("0"), by_hand("t = 'integer' AND v = 0") as u64),
            (label("1"), by_hand("(t = 'integer' AND v = 1) OR t = 'text'") as u64),
            (label("false"), by_hand("t = 'false'") as u64),
            (label("true"), by_hand("t = 'true'") as u64),
        ]);
        assert_eq!(values, want);
    }

    /// The [`flags`] file as schema 12 kept it (booleans as 1 / 0 beside
    /// the integers, a key written twice as one entry): this build's reader
    /// opens it as it is and gives the same answers, its bars of `flag=1`,
    /// `flag=true`… sampled, not counted, and its lookups reading a boolean
    /// as 1 / 0 too; maintenance (prune, rebuild) asks for the migration
    /// first; `migrate` leaves exactly the entries this build's sink
    /// writes, and the bars are counted.
    #[test]
    fn a_schema_12_file_reads_the_same_before_and_after_its_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = flags(&dir);
        let (old, written) = copy_of(&path, &dir.path().join("v12.db"));
        let v12 = rusqlite::Connection::open(&old).unwrap();
        v12.execute_batch(
            "INSERT OR IGNORE INTO log_context_index (key, part, value, id)
                 SELECT key, part, CASE value WHEN x'01' THEN 1 ELSE 0 END, id FROM log_context_index
                 WHERE typeof(value) = 'blob';
             DELETE FROM log_context_index WHERE typeof(value) = 'blob';
             PRAGMA user_version = 12;",
        )
        .unwrap();
        let (dups, blobs) = (
            "SELECT count(*) FROM log_context_index WHERE key = 'dup'",
            "SELECT count(*) FROM log_context_index WHERE typeof(value) = 'blob'",
        );
        let count = |conn: &rusqlite::Connection, sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!((count(&v12, dups), count(&v12, blobs)), (40, 0));
        let fresh = flag_answers(&small_store(&path));
        let before = small_store(&old);
        let sampled = flag_answers(&before);
        for (f, s) in fresh.iter().zip(&sampled) {
            assert_eq!((f.what, f.page, &f.exact), (s.what, s.page, &s.exact), "the same page and exact bars");
            assert!(!s.counted, "{}: sampled on schema 12", s.what);
        }
        let ranges = before.histogram_estimate(&flag_filters()[3].1, &flag_slots()).unwrap();
        for (i, want) in fresh[3].exact.iter().enumerate() {
            let (low, high) = ranges.range(i).unwrap();
            assert!((low..=high).contains(want), "flag=true, bar {i}: {want} in {low}..={high}");
        }
        assert_eq!(flag_values(&before), flag_values(&small_store(&path)));
        // The lookup of `flag=true` reads 1 too, where schema 12 kept trues.
        let m: log_panel_query::FieldMatch = "flag=true".parse().unwrap();
        let apart = crate::upkeep::context_index::booleans_apart(&v12).unwrap();
        assert!(!apart);
        let seen = crate::sql::entries(&v12, KeyCondition::Field(&m), i64::MAX, None, apart).unwrap();
        assert_eq!(seen, count(&v12, "SELECT count(*) FROM log_context_index WHERE key = 'flag' AND value = 1"));
        // Prune and rebuild write the side table as schema 13 keeps it.
        let refused = crate::SqliteMaintenance::open(&old).unwrap_err().to_string();
        assert!(refused.contains("schema version 12"), "{refused}");
        assert_eq!(crate::SqliteMaintenance::migrate(&old).unwrap(), (12, crate::SCHEMA_VERSION));
        assert_eq!(side_entries(&v12), written);
        assert_eq!(count(&v12, dups), 80, "the integer 1 and true of each record");
        assert_eq!(flag_answers(&before), fresh);
        assert_eq!(flag_answers(&small_store(&old)), fresh);
        // A prune removes the booleans' entries with their records.
        use log_panel_query::Maintenance;
        let maintenance = crate::SqliteMaintenance::open(&old).unwrap();
        let until = Timestamp(log_panel_testing::records::BASE + 2_000_000_000);
        assert_eq!(maintenance.prune(until, 500, false).unwrap().deleted, 2_000);
        let left = "SELECT count(*) FROM log_context_index WHERE id NOT IN (SELECT id FROM log_records)";
        assert_eq!(count(&v12, left), 0);
        assert!(count(&v12, blobs) > 0);
    }

    /// A term whose candidates all lie in zones the span does not meet (a
    /// word of the oldest records, a span of the newest) matches nothing
    /// there: its bars are exact zeros, not a sample's uncertain ones (the
    /// plan counts the span's candidates, none, so the count reads them and
    /// the records above the search mark); over a span that meets them the
    /// rows are sampled as before. A match above the search mark is counted:
    /// session 39 sampled the span then, and drew it before as 0 ± a margin.
    #[test]
    fn a_term_without_candidates_in_the_spans_zones_draws_exact_zeros() {
        use log_panel_core::{Batch, Level, Origin, Record};
        let dir = tempfile::tempdir().unwrap();
        let base = log_panel_testing::records::BASE;
        let record = |i: i64| {
            let message = if i < 10_000 { format!("comet {i} seen") } else { format!("request {i} served") };
            let mut r = Record::new(Level::Info, "web::api", message);
            r.timestamp = Timestamp(base + i * 1_000_000);
            r
        };
        let (path, mut sink) = indexed(&dir, 60_000, record);
        let origin = Origin::new("api", "h1", 10);
        let mut store = SqliteStore::open(&path).unwrap();
        store.estimate = Sizes { exact_rows: 1_000, sample_rows: 2_000, block: 20 };
        let slots =
            |from: i64| Slots::ending_at(Timestamp(base + 60_000 * 1_000_000), (60_000 - from) * 50_000, 20).unwrap();
        let comet = log_panel_testing::records::filter(|f| f.text = Some("comet".into()));
        // The newest 30 000 records: no comet there.
        let late = slots(30_000);
        let h = store.histogram_estimate(&comet, &late).unwrap();
        assert_eq!(h, Histogram::zeros(&late), "exact zeros, no sample");
        assert_eq!(h, store.histogram(&comet, &late).unwrap());
        // Over every record: the comets are there, sampled (10 000 candidates over the cap).
        assert!(store.histogram_estimate(&comet, &slots(0)).unwrap().sample.is_some());
        // A comet above the search mark, in the last bar: counted, exactly.
        let mut tail = record(0);
        tail.timestamp = Timestamp(base + 59_999 * 1_000_000);
        sink.write(&Batch::new(&origin, &[tail])).unwrap();
        let h = store.histogram_estimate(&comet, &late).unwrap();
        assert!(h.sample.is_none());
        assert_eq!(h.slots.iter().map(LevelCounts::total).collect::<Vec<_>>()[19], 1);
        assert_eq!(h, store.histogram(&comet, &late).unwrap());
    }

    /// The five-condition combination in small (session 40): a tree's
    /// warnings with a word common in the table but rarer in the span, and
    /// a common context value. The tree's warnings of the span (1 750) are
    /// within the exact budget, so the bars are counted; the count reads
    /// the word's candidates of the span (700), by id like the warnings'
    /// rows, not every warning of the tree tested on its row: the count's
    /// statement looks the word up in the search index, bounded to the
    /// span's ids. Before, it scanned (the table's 5 700 candidates against
    /// a cap of 1 750 / 16), and this test fails. The bars equal a `GROUP
    /// BY` of the rows by hand.
    #[test]
    fn a_narrow_walks_count_reads_the_spans_candidates_when_fewer() {
        use log_panel_core::{Level, Record, Value as KvValue};
        const DAY: i64 = 86_400_000_000;
        const STEP: i64 = DAY / 1_000;
        let dir = tempfile::tempdir().unwrap();
        let base = log_panel_testing::records::BASE;
        // 20 days of 1 000 records: `timeout` in every other record of the
        // first 10 days, in one of 20 after.
        let record = |i: i64| {
            let logger = ["api::a", "api::b", "web", "db"][usize::try_from(i % 4).unwrap()];
            let level = if (i / 4) % 2 == 0 { Level::Warn } else { Level::Info };
            let word = if i < 10_000 { i % 2 == 0 } else { i % 20 == 0 || i % 20 == 5 };
            let message = if word { format!("upstream timeout {i}") } else { format!("request {i} served") };
            let mut r = Record::new(level, logger, message);
            r.timestamp = Timestamp(base + i * STEP);
            let tenant = if i % 3 == 0 { "globex" } else { "acme" };
            r.kv = vec![("tenant".into(), KvValue::from(tenant))];
            r
        };
        let (path, _sink) = indexed(&dir, 20_000, record);
        let mut store = SqliteStore::open(&path).unwrap();
        store.estimate = Sizes { exact_rows: 2_000, sample_rows: 1_000, block: 20 };
        let end = base + 20 * DAY;
        let slots = Slots::ending_at(Timestamp(end), 3 * 3_600_000_000, 56).unwrap();
        let mut five = log_panel_testing::records::filter(|f| {
            f.logger = Some(log_panel_query::LoggerMatch::Tree("api".into()));
            f.min_level = Some(Level::Warn);
            f.since = Some(Timestamp(end - 7 * DAY));
            f.text = Some("timeout".into());
        });
        five.fields = vec!["tenant=globex".parse().unwrap()];
        let mut drawn = None;
        let seen = statements(&store, || drawn = Some(store.histogram_estimate(&five, &slots).unwrap()));
        let h = drawn.unwrap();
        assert!(h.sample.is_none() && h.complete, "counted");
        let counts: Vec<&String> = seen.iter().filter(|s| s.contains("SELECT ts, level")).collect();
        assert_eq!(counts.len(), 1, "{counts:#?}");
        assert!(counts[0].contains("log_records_fts MATCH") && counts[0].contains("rowid BETWEEN"), "{}", counts[0]);

        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut grouped = vec![0u64; slots.len()];
        let mut stmt = conn
            .prepare(
                "SELECT (CAST(strftime('%s', substr(ts, 1, 19)) AS INTEGER) - ?1) / 10800, count(*) FROM log_records
                 WHERE logger LIKE 'api::%' AND level >= 30 AND ts >= ?2 AND message LIKE '%timeout%'
                   AND json_extract(context, '$.tenant') = 'globex'
                 GROUP BY 1",
            )
            .unwrap();
        let start = slots.start().0 / 1_000_000;
        let rows = stmt
            .query_map(rusqlite::params![start, Timestamp(end - 7 * DAY).to_rfc3339()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .unwrap();
        for row in rows {
            let (bar, n) = row.unwrap();
            grouped[usize::try_from(bar).unwrap()] = u64::try_from(n).unwrap();
        }
        let totals: Vec<u64> = h.slots.iter().map(LevelCounts::total).collect();
        assert_eq!(totals, grouped);
        assert!(grouped.iter().sum::<u64>() > 0);
        assert_eq!(h, store.histogram(&five, &slots).unwrap());
    }

    #[test]
    fn the_estimate_is_chosen_only_above_the_cap_and_is_exact_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(&dir);
        let slots = set::slots();
        let rare = set::rare_word();
        let exact = store.histogram(&rare, &slots).unwrap();
        let candidates = set::RECORDS / set::RARE_EVERY;
        assert_eq!(exact.slots.iter().map(LevelCounts::total).sum::<u64>(), candidates);
        let candidates = i64::try_from(candidates).unwrap();
        // 1 200 candidates: below a cap of 1 201 the index counts them exactly …
        store.estimate.exact_rows = (candidates + 1) * INDEX_ROW_COST;
        assert_eq!(store.histogram_estimate(&rare, &slots).unwrap(), exact);
        // … at a cap of 1 200 they are common: sampled.
        store.estimate.exact_rows = candidates * INDEX_ROW_COST;
        assert!(store.histogram_estimate(&rare, &slots).unwrap().sample.is_some());

        store.estimate.exact_rows = 20_000;
        // A common word beside a rare condition is read through the rare one's index: exact.
        let mut both = set::user(1_234);
        both.text = Some(set::COMMON_WORD.into());
        let h = store.histogram_estimate(&both, &slots).unwrap();
        assert_eq!(h, store.histogram(&both, &slots).unwrap());
        assert!(h.sample.is_none());
        // A span of 15 000 rows holds fewer than the exact budget: exact.
        let mut narrow = set::common_word();
        narrow.since = Some(log_panel_core::Timestamp(log_panel_testing::records::BASE + 100_000 * set::STEP));
        narrow.until = Some(log_panel_core::Timestamp(log_panel_testing::records::BASE + 115_000 * set::STEP));
        let h = store.histogram_estimate(&narrow, &slots).unwrap();
        assert_eq!(h, store.histogram(&narrow, &slots).unwrap());
        assert!(h.sample.is_none());
        // Logger and level alone: the aggregates, exact.
        let errors = log_panel_testing::records::filter(|f| f.min_level = Some(log_panel_core::Level::Error));
        let h = store.histogram_estimate(&errors, &slots).unwrap();
        assert_eq!(h.slots.iter().map(LevelCounts::total).sum::<u64>(), set::RECORDS / 10);
        assert!(h.sample.is_none());

        // A common value among the errors: the exact count walks the
        // warnings' index, 24 000 rows, within a budget of 30 000: counted.
        store.estimate.exact_rows = 30_000;
        let mut errors_of_user = set::common_user();
        errors_of_user.min_level = Some(log_panel_core::Level::Error);
        let h = store.histogram_estimate(&errors_of_user, &slots).unwrap();
        assert!(h.sample.is_none());
        assert_eq!(h, store.histogram(&errors_of_user, &slots).unwrap());
        // The value alone walks the whole span: still estimated.
        assert!(store.histogram_estimate(&set::common_user(), &slots).unwrap().sample.is_some());
    }
}
