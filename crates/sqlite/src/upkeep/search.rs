//! Message search: a trigram FTS5 index filled in the background, and the
//! SQL condition that searches it plus the not-yet-indexed tail.
//!
//! The index (`log_records_fts`, schema version 3) is never touched on the
//! burst path. [`index_step`] (called from `SqliteSink::idle`) indexes the
//! next rows above `log_fts_state.indexed_id` and moves the mark; a search
//! is `FTS MATCH` over ids at or below the mark, `UNION` a scan of the ids
//! above it, so a result never misses a row however far the index lags.
//!
//! Since schema version 9 the index is `detail=none, columnsize=0`: it
//! holds which records contain each trigram, not where, which halves the
//! cost of indexing a record and writes a third of the pages (a record's
//! trigram positions were most of what a step wrote; docs/performance.md,
//! "SQLite: the cost of indexing a record"). Without positions FTS5 cannot
//! match a phrase, so a term is looked up as the AND of its trigrams
//! ([`fts_query`]), and every record the index gives is then checked with
//! `lp_contains`, the scan side's test: a record whose message holds the
//! trigrams apart (`abcd` in `xbcd abc`) is a candidate, never a match.
//!
//! Case: the trigram tokenizer (`case_sensitive 0`) folds case per code
//! point (Unicode simple case folding, `É` = `é`). SQLite's `LIKE` folds
//! ASCII only, so the scan side does not use it: it calls `lp_contains`, a
//! function registered on every read connection that folds both sides with
//! Rust's per-character lowercase. Both sides therefore agree on every
//! letter with a one-to-one case mapping (all of ASCII, Latin, Greek,
//! Cyrillic…); the rare letters whose lowercase is several characters
//! (`İ`) may differ between the two.
//!
//! Terms shorter than 3 characters cannot be looked up in a trigram index;
//! they are searched by the scan alone (bounded by the other conditions of
//! the filter, and by the page's `LIMIT`).

#[cfg(feature = "read")]
use rusqlite::functions::FunctionFlags;
#[cfg(feature = "read")]
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

#[cfg(test)]
thread_local! {
    /// Plans that probed the search index on this thread (tests count them
    /// per store call; a page's plan may run two counts, see
    /// `SqliteStore::plan_with`).
    pub(crate) static PROBES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Rows the scan side tested on this thread (tests count rows read per call).
    pub(crate) static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Candidates the plans' counts ([`candidates_within`], [`below`])
    /// read on this thread.
    pub(crate) static COUNTED: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Notes `n` candidates counted (tests read [`COUNTED`]).
#[cfg(feature = "read")]
fn counted(n: i64) -> i64 {
    #[cfg(test)]
    COUNTED.with(|c| c.set(c.get() + n));
    n
}

/// How many records the index gives as candidates for the index query
/// `query` ([`lookup_query`], [`fts_query`]; not checked against the
/// messages), with an id of at least `from` when given, counted up to
/// `cap`: an upper bound of the indexed matches, cheap because the index
/// keeps only ids (FTS5 takes the bound into its doclist reads).
#[cfg(feature = "read")]
pub(crate) fn candidates(conn: &Connection, query: &str, from: Option<i64>, cap: i64) -> rusqlite::Result<i64> {
    candidates_within(conn, query, (from.unwrap_or(i64::MIN), i64::MAX), cap)
}

/// [`candidates`] among the ids `within` (inclusive bounds): FTS5 takes
/// both bounds into its doclist reads, so ids outside cost nothing.
#[cfg(feature = "read")]
pub(crate) fn candidates_within(conn: &Connection, query: &str, within: (i64, i64), cap: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM log_records_fts
                               WHERE log_records_fts MATCH ?1 AND rowid >= ?2 AND rowid <= ?3 LIMIT ?4)",
    )?
    .query_row(params![query, within.0, within.1, cap], |r| r.get(0))
    .map(counted)
}

/// How many candidates for the index query `query` have an id below
/// `below`, counted up to `cap` ([`candidates`] from the other side).
#[cfg(feature = "read")]
pub(crate) fn below(conn: &Connection, query: &str, below: i64, cap: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM log_records_fts WHERE log_records_fts MATCH ?1 AND rowid < ?2 LIMIT ?3)",
    )?
    .query_row(params![query, below, cap], |r| r.get(0))
    .map(counted)
}

/// The id of the `n`th newest candidate for the index query `query` among
/// the ids `within`
/// (inclusive bounds), `None` when they hold fewer: where a walk of those
/// ids newest first, testing each message, would find its `n`th match if
/// every candidate were one. FTS5 reads its doclists from the upper bound
/// down (`ORDER BY rowid DESC` and the bounds are its own), so this reads
/// about `n` candidates, not the term's older ones.
#[cfg(feature = "read")]
pub(crate) fn nth_newest_candidate(
    conn: &Connection,
    query: &str,
    within: (i64, i64),
    n: i64,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT rowid FROM log_records_fts WHERE log_records_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3
         ORDER BY rowid DESC LIMIT 1 OFFSET ?4",
    )?
    .query_row(params![query, within.0, within.1, n.saturating_sub(1).max(0)], |r| r.get(0))
    .optional()
}

/// [`nth_newest_candidate`] and [`candidates_within`] over the same ids
/// `within` in one read, newest first: the id of the `n`th candidate
/// (`None` when they hold fewer), then how many candidates they hold,
/// counted up to `cap(nth)`, a cap that depends on where the `n`th lies.
/// The two statements each sought every segment of the index for every
/// trigram of `query`, and the count read again from the other end the
/// candidates the first had just read (the hostile 10 M file's `timeout`
/// over 7 days: ~0.9 ms of the five-condition page, docs/performance.md,
/// session 42).
#[cfg(feature = "read")]
pub(crate) fn newest_candidates(
    conn: &Connection,
    query: &str,
    within: (i64, i64),
    n: i64,
    cap: impl FnOnce(Option<i64>) -> i64,
) -> rusqlite::Result<(Option<i64>, i64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid FROM log_records_fts WHERE log_records_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3
         ORDER BY rowid DESC",
    )?;
    let mut rows = stmt.query(params![query, within.0, within.1])?;
    let n = n.max(1);
    let (mut seen, mut nth) = (0i64, None);
    while seen < n {
        let Some(row) = rows.next()? else { break };
        seen += 1;
        if seen == n {
            nth = Some(row.get(0)?);
        }
    }
    let cap = cap(nth);
    while seen < cap && rows.next()?.is_some() {
        seen += 1;
    }
    Ok((nth, counted(seen.min(cap))))
}

/// How many of a term's trigrams its index query ANDs ([`lookup_query`]).
#[cfg(feature = "read")]
pub(crate) const LOOKUP_TRIGRAMS: usize = 3;

/// How many of a trigram's newest entries [`lookup_query`] reads to rank
/// it: the lower the id of its 64th newest, the rarer it is near the
/// table's newest end (a trigram with fewer is rarest).
#[cfg(feature = "read")]
const RARITY_PROBE: i64 = 64;

/// The index query of `term`: its [`LOOKUP_TRIGRAMS`] rarest distinct
/// trigrams ANDed, or all of them when it has no more. A record containing
/// the term contains every one, so the query finds every match, and each
/// candidate is checked on its message anyway ([`fts_query`]); the AND of
/// every trigram read each one's doclist, the long ones too: in the hostile
/// 10 M file `client.rs:123)`'s twelve trigrams, one of them (`ent`) in
/// 2 M records, took 31 ms to give 242 candidates, its two rarest (1 032
/// and 2 480 records) 0.2 ms to give the same 242; `upstream 17` 56 → 3
/// ms and `job 12` 15 → 4 ms, the same candidates (docs/performance.md,
/// session 36). Rarity is ranked by where each trigram's
/// [`RARITY_PROBE`]th newest entry lies, read newest first by FTS5 (a few
/// pages a trigram): cheaper than a count, which reads the whole doclist.
#[cfg(feature = "read")]
pub(crate) fn lookup_query(conn: &Connection, term: &str) -> rusqlite::Result<String> {
    let all = trigrams(term);
    if all.len() <= LOOKUP_TRIGRAMS {
        return Ok(and_of(&all));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT rowid FROM log_records_fts WHERE log_records_fts MATCH ?1 ORDER BY rowid DESC LIMIT 1 OFFSET ?2",
    )?;
    let mut ranked = Vec::with_capacity(all.len());
    for t in all {
        let nth: Option<i64> = stmt.query_row(params![and_of(&[t]), RARITY_PROBE - 1], |r| r.get(0)).optional()?;
        ranked.push((nth.unwrap_or(i64::MIN), t));
    }
    ranked.sort_unstable();
    let mut rarest: Vec<&str> = ranked.into_iter().take(LOOKUP_TRIGRAMS).map(|(_, t)| t).collect();
    rarest.sort_unstable();
    Ok(and_of(&rarest))
}

/// The name of the scan-side substring function.
#[cfg(feature = "read")]
pub(crate) const CONTAINS_FN: &str = "lp_contains";

/// Lowercases per character; the fold both sides of a search agree on.
#[cfg(feature = "read")]
pub(crate) fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Registers `lp_contains(haystack, folded_needle)` on a connection.
#[cfg(feature = "read")]
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        CONTAINS_FN,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            #[cfg(test)]
            SCANNED.with(|n| n.set(n.get() + 1));
            // The message's bytes as stored: `contains_folded` checks them
            // for UTF-8 only where a match depends on it.
            let (ValueRef::Text(hay), Ok(needle)) = (ctx.get_raw(0), ctx.get_raw(1).as_str()) else {
                return Ok(false);
            };
            Ok(contains_folded(hay, needle))
        },
    )
}

/// Whether `hay` (UTF-8 bytes), folded by [`fold`], contains `needle`
/// (already folded). Bytes that are not UTF-8 contain nothing.
///
/// An ASCII needle is looked for in the bytes themselves, ASCII case
/// ignored, without folding or copying `hay`: every ASCII character folds
/// to one ASCII character and every other one to non-ASCII characters,
/// except `İ` (U+0130, to `i` and a combining dot) and the Kelvin sign
/// (U+212A, to `k`) — so a needle found in the bytes is in the fold, and
/// one not found is not, unless `hay` holds one of those two (then it is
/// folded). This is the walk's per-row test (a page's scan, the unindexed
/// tail), so it costs about what SQLite's `LIKE` costs (docs/performance.md,
/// session 46).
#[cfg(feature = "read")]
pub(crate) fn contains_folded(hay: &[u8], needle: &str) -> bool {
    let folded = |hay: &[u8]| std::str::from_utf8(hay).is_ok_and(|h| fold(h).contains(needle));
    if !needle.is_ascii() {
        // The fold of ASCII text is ASCII: it cannot hold this needle.
        return !hay.is_ascii() && folded(hay);
    }
    if find_ascii_nocase(hay, needle.as_bytes()) {
        return hay.is_ascii() || std::str::from_utf8(hay).is_ok();
    }
    !hay.is_ascii() && folds_to_ascii(hay) && folded(hay)
}

/// Whether `hay` holds `needle` (ASCII), ASCII case ignored.
#[cfg(feature = "read")]
fn find_ascii_nocase(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut from = 0;
    while let Some(i) = hay.get(from..=last_start).and_then(|h| memchr::memchr2(lower, upper, h)) {
        let at = from + i;
        if hay.get(at + 1..at + needle.len()).is_some_and(|h| h.eq_ignore_ascii_case(rest)) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Whether `hay` holds one of the two non-ASCII characters whose lowercase
/// holds an ASCII one: `İ` (U+0130) and the Kelvin sign (U+212A).
#[cfg(feature = "read")]
fn folds_to_ascii(hay: &[u8]) -> bool {
    memchr::memmem::find(hay, "İ".as_bytes()).is_some() || memchr::memmem::find(hay, "\u{212A}".as_bytes()).is_some()
}

/// Whether the term can be looked up in the trigram index (3 characters or more).
#[cfg(feature = "read")]
pub(crate) fn indexable(term: &str) -> bool {
    term.chars().count() >= 3
}

/// The term as an FTS5 query the `detail=none` index can answer: each
/// distinct trigram of it as a string of its own (double quotes doubled, so
/// no query syntax survives inside one), ANDed. Every record containing the
/// term contains all of them; the converse does not hold, so the records it
/// finds are candidates to check with `lp_contains`.
#[cfg(feature = "read")]
pub(crate) fn fts_query(term: &str) -> String {
    and_of(&trigrams(term))
}

/// The distinct trigrams of `term`, sorted.
#[cfg(feature = "read")]
fn trigrams(term: &str) -> Vec<&str> {
    let bounds: Vec<usize> = term.char_indices().map(|(i, _)| i).chain([term.len()]).collect();
    let mut trigrams: Vec<&str> = bounds.windows(4).map(|w| &term[w[0]..w[3]]).collect();
    trigrams.sort_unstable();
    trigrams.dedup();
    trigrams
}

/// `trigrams` as FTS5 strings ANDed.
#[cfg(feature = "read")]
fn and_of(trigrams: &[&str]) -> String {
    trigrams.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" AND ")
}

/// The last indexed id.
pub(crate) fn indexed_mark(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT indexed_id FROM log_fts_state", [], |r| r.get(0))
}

/// Indexes up to `rows` records above the mark, in the caller's transaction.
/// Returns whether rows remain above the new mark.
pub(crate) fn index_step(tx: &Transaction<'_>, rows: i64) -> rusqlite::Result<bool> {
    let mark = indexed_mark(tx)?;
    let Some(last) = step_end(tx, mark, rows)? else { return Ok(false) };
    tx.prepare_cached(
        "INSERT INTO log_records_fts (rowid, message)
         SELECT id, message FROM log_records WHERE id > ?1 AND id <= ?2",
    )?
    .execute(params![mark, last])?;
    tx.prepare_cached("UPDATE log_fts_state SET indexed_id = ?1")?.execute([last])?;
    exists_above(tx, last)
}

/// The last id of the next `rows` records above `mark` (the end of an
/// indexing step), `None` when there are none.
pub(crate) fn step_end(conn: &Connection, mark: i64, rows: i64) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT max(id) FROM (SELECT id FROM log_records WHERE id > ?1 ORDER BY id LIMIT ?2)")?
        .query_row(params![mark, rows], |r| r.get(0))
}

/// The records above `mark`, counted up to `cap`: a walk of at most `cap`
/// rowids, whatever the lag (the writer's step size, the read side's
/// `Store::index_lag`).
pub(crate) fn count_above(conn: &Connection, mark: i64, cap: u64) -> rusqlite::Result<u64> {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM (SELECT 1 FROM log_records WHERE id > ?1 LIMIT ?2)")?
        .query_row(params![mark, cap], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Whether any record has an id above `id`.
pub(crate) fn exists_above(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM log_records WHERE id > ?1)")?.query_row([id], |r| r.get(0))
}

/// The rowid of the index's structure record in `log_records_fts_data`
/// (FTS5's `FTS5_STRUCTURE_ROWID`): which segments the index holds, on
/// which levels, and which are inputs to a merge under way.
const STRUCTURE_ROWID: i64 = 10;

/// What the writer's merge rule needs of the search index's FTS5 segments
/// (see [`MergeStep`](super::steps::MergeStep)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct IndexShape {
    /// Segments in the index: every index read of a search seeks each
    /// trigram in every one of them.
    pub(crate) segments: usize,
    /// Leaf pages of all segments.
    pub(crate) pages: u64,
    /// Leaf pages of the largest segment (what a merge of every segment
    /// rewrites besides the others).
    pub(crate) largest_pages: u64,
    /// Segments on the level holding most (FTS5 merges a level's segments
    /// together: levels stand for how often a segment's entries were merged).
    pub(crate) fullest_level: usize,
    /// Whether a merge is under way (a level's segments are inputs to an
    /// output segment FTS5 has not finished): the next `'merge'` command
    /// with a positive page count goes on with it.
    pub(crate) merging: bool,
}

/// The search index's segments, decoded from its structure record; `None`
/// for an empty index or a record this decoder does not know (the merge
/// rule then leaves the index as FTS5's own merges keep it).
pub(crate) fn index_shape(conn: &Connection) -> rusqlite::Result<Option<IndexShape>> {
    let record: Option<Vec<u8>> = conn
        .prepare_cached("SELECT block FROM log_records_fts_data WHERE id = ?1")?
        .query_row([STRUCTURE_ROWID], |r| r.get(0))
        .optional()?;
    Ok(record.as_deref().and_then(decode_shape))
}

/// Decodes FTS5's structure record (`fts5StructureDecode` in SQLite's
/// `fts5_index.c`): a 4-byte cookie, an optional 4-byte version 2 marker,
/// then varints — levels, segments, the write counter, and per level the
/// count of its segments in a merge, its segment count and per segment its
/// id, first and last leaf page (version 2 adds five varints a segment).
fn decode_shape(record: &[u8]) -> Option<IndexShape> {
    const V2: [u8; 4] = [0xff, 0x00, 0x00, 0x01];
    let mut at = 4;
    let v2 = record.get(4..8) == Some(&V2[..]);
    if v2 {
        at = 8;
    }
    let mut next = || {
        let (v, len) = varint(record.get(at..)?)?;
        at += len;
        Some(v)
    };
    let levels = next()?;
    let _segments = next()?;
    let _write_counter = next()?;
    let mut shape = IndexShape::default();
    for _ in 0..levels {
        let in_merge = next()?;
        let segments = next()?;
        shape.merging |= in_merge > 0;
        shape.fullest_level = shape.fullest_level.max(usize::try_from(segments).ok()?);
        for _ in 0..segments {
            let (_id, first, last) = (next()?, next()?, next()?);
            if v2 {
                for _ in 0..5 {
                    next()?;
                }
            }
            let pages = (last + 1).saturating_sub(first);
            shape.segments += 1;
            shape.pages += pages;
            shape.largest_pages = shape.largest_pages.max(pages);
        }
    }
    Some(shape)
}

/// SQLite's varint (big-endian 7 bits a byte, the ninth byte whole) and
/// its length.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(8) {
        v = (v << 7) | u64::from(b & 0x7f);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    let last = *bytes.get(8)?;
    Some(((v << 8) | u64::from(last), 9))
}

/// How one merge step asks FTS5 for its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    /// `'merge'` with a positive page count: goes on with the merge under
    /// way (or merges a level holding `usermerge`, 4, segments).
    Continue,
    /// `'merge'` with a negative page count: starts a merge of every
    /// segment into one. Never while a merge is under way: FTS5 would then
    /// restart it with the partly written output as one more input.
    Start,
}

/// One step of merging the search index's segments, writing about `pages`
/// leaf pages (FTS5 stops at the first term boundary past them, so a term
/// whose doclist spans more pages is written whole), in the caller's
/// transaction. Returns whether it did any work (FTS5's documented test:
/// `total_changes()` grew by 2 or more).
pub(crate) fn merge_step(tx: &Transaction<'_>, merge: Merge, pages: i64) -> rusqlite::Result<bool> {
    let pages = pages.clamp(1, i64::from(i32::MAX));
    let n = match merge {
        Merge::Continue => pages,
        Merge::Start => -pages,
    };
    let before = tx.total_changes();
    tx.prepare_cached("INSERT INTO log_records_fts (log_records_fts, rank) VALUES ('merge', ?1)")?.execute([n])?;
    Ok(tx.total_changes().saturating_sub(before) >= 2)
}

#[cfg(all(test, feature = "read"))]
mod tests {
    use super::*;

    #[test]
    fn a_term_is_looked_up_by_each_distinct_trigram_quoted() {
        assert_eq!(fts_query("abcd"), r#""abc" AND "bcd""#);
        assert_eq!(fts_query("abc"), r#""abc""#);
        assert_eq!(fts_query("aaaaa"), r#""aaa""#);
        assert_eq!(fts_query(r#"a"bc"#), r#""""bc" AND "a""b""#);
        assert_eq!(fts_query("été!"), r#""té!" AND "été""#);
    }

    /// The walk's test against its definition, the fold of the whole
    /// message then a substring search, on hostile text: `LIKE`'s and
    /// escapes' characters, case across scripts, the two letters whose
    /// lowercase is ASCII, matches at either end, a first byte that
    /// repeats.
    #[test]
    fn a_message_holds_a_folded_needle_exactly_when_its_fold_does() {
        let hays = [
            "",
            "a",
            "Job 12 done",
            "job 1",
            "xJOB 12",
            "ends with JOB 12",
            "jjob 12",
            "aaab",
            "AAAB",
            "100% done_ok \\ path",
            "50%_off",
            "back\\slash",
            "Éclair ÉTÉ été",
            "ΣΊΣΥΦΟΣ σίσυφος",
            "ПРИВЕТ мир",
            "İstanbul",
            "\u{212A}elvin",
            "KELVIN \u{212A}",
            "straße STRASSE",
            "emoji 🎉 Timeout",
            "nul\u{1}ctl\ttab",
            "mixed İ and timeout",
            "timeou",
            "TIMEOUT",
        ];
        let needles = [
            "",
            "job 12",
            "12",
            "aab",
            "%",
            "_",
            "\\",
            "% done",
            "_off",
            "\\slash",
            "été",
            "éclair",
            "σίσυφος",
            "ςσ",
            "привет",
            "istanbul",
            "i\u{307}stanbul",
            "i",
            "kelvin",
            "k",
            "strasse",
            "straße",
            "🎉 timeout",
            "timeout",
            "\u{1}ctl",
            "\t",
        ];
        for hay in hays {
            for needle in needles {
                let needle = fold(needle);
                let expected = fold(hay).contains(&needle);
                assert_eq!(contains_folded(hay.as_bytes(), &needle), expected, "{hay:?} holds {needle:?}");
            }
        }
        // The letters whose lowercase is ASCII: found through the fold only.
        assert!(contains_folded("\u{212A}ELVIN".as_bytes(), "kelvin"));
        assert!(contains_folded("İstanbul".as_bytes(), "i\u{307}stanbul"));
        assert!(contains_folded("İstanbul".as_bytes(), "i"));
        assert!(!contains_folded("İstanbul".as_bytes(), "istanbul"));
        // `%`, `_` and `\` are characters, not patterns.
        assert!(!contains_folded(b"50 off", "%"));
        assert!(!contains_folded(b"ab", "_"));
        assert!(contains_folded(b"a_b", "_"));
    }

    /// Bytes that are not UTF-8 hold nothing, whether the needle's bytes
    /// are among them or not (the function's caller gave `false` for such
    /// text before it looked at bytes).
    #[test]
    fn bytes_that_are_not_utf8_hold_no_needle() {
        assert!(!contains_folded(b"timeout \xff", "timeout"));
        assert!(!contains_folded(b"\xc4 timeout", "timeout"));
        assert!(!contains_folded(b"\xe2\x84 kelvin", "kelvin"));
        assert!(!contains_folded(b"caf\xc3", "caf\u{e9}"));
        assert!(contains_folded(b"timeout \xc3\xa9", "timeout"));
    }
}
