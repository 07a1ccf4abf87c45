//! Context-key lookups (`user_id = 7`, `status >= 500`) on **every**
//! top-level key: a side table filled in the background, like the message
//! search index (see [`search`](super::search)).
//!
//! An expression index on `json_extract(context, '$.request_id')` sat on the
//! burst path: a JSON parse per row and a second B-tree insert with random
//! keys cost the writer 23 % of its rate (docs/performance.md). The lookups
//! live in `log_context_index (key, value, id)` instead, one row per
//! top-level key a record carries. Schema version 5 fills it for every key
//! from one mark, `log_context_all.indexed_id`: [`index_step`] (from
//! `SqliteSink::idle`) reads the next records above it with `json_each`. A
//! lookup reads the side table for ids at or below the mark and scans the
//! ids above it, so it never misses a record however far the side table lags.
//!
//! Version 4 indexed only configured keys, each from its own mark in
//! `log_context_state`; a key's lookups use the higher of its own mark and
//! the common one (`Marks::of` in `sql.rs`). Migration 9 remade the table
//! and set every mark to 0, so those marks only matter between migrations.
//!
//! Since schema version 9 the table is keyed `(key, part, value, id)`,
//! `part` being the id's range of 2^[`PART_BITS`] records: a step's
//! entries land in the newest part of each key, a few hundred pages
//! whatever the table's size, where keyed by `(key, value, id)` a key of
//! scattered values (a user id, a latency) put every entry on a page of its
//! own at 1 M records and each step rewrote that many pages (six times the
//! search index's writes; docs/performance.md, "SQLite: the cost of
//! indexing a record"). A lookup reads each part up to its mark
//! ([`parts`]): one B-tree search a part, about 150 at 10 M records.
//!
//! Values are stored as `json_each` gives them (text, integer, real; a
//! boolean as a BLOB since version 13, below) in a column without affinity, so `'7'` and `7` stay
//! distinct; the store checks the exact JSON type on the record itself.
//!
//! Since schema version 12 a real's entries are keyed by the key's BLOB form
//! ([`real_key`]), not the key: SQL compares `3` and `3.0` as equal, so
//! under one key the integer 3 and the real 3.0 sort as one value,
//! interleaved by id, and an exact count of `user_id=3` had to check
//! `typeof` on each of its entries (15 ms of the hot user's 48 ms bars at
//! 10 M records; docs/performance.md, session 40). A BLOB never equals a
//! text, so lookups of the key never meet a real, and a lookup that accepts
//! a real (a range, `x=2.5`) reads both forms, which also finds the reals a
//! version-11 file keeps under the key: a reader reads both versions.
//!
//! Since schema version 13 a boolean's entry holds the BLOB `x'01'` (true)
//! or `x'00'` (false) ([`bool_value`]) under the key, not the integer 1 or
//! 0 it is in SQL: the integers 1 and 0 and the booleans were one value
//! with one `typeof`, so the exact bars declined `x=1`, `x=0` and `flag=true`
//! and a lookup of `flag=true` met every entry of the integer 1. No JSON
//! value `json_each` gives is a BLOB, so these never equal another entry;
//! BLOBs sort after every number and text, so a range's bounds (`value <
//! ''` above, a number below) never meet them, and a key's entries stay in
//! one run of its parts (no third key form, no more B-tree searches). A
//! reader of a version-11 or -12 file also looks a boolean up as 1 / 0
//! ([`booleans_apart`]).
//!
//! What is not stored, and why no accepted filter meets a scan for it:
//! - a text longer than [`PREFIX_CHARS`] characters is stored as its first
//!   [`PREFIX_CHARS`] (a lookup asks for that prefix and checks the whole
//!   value on the record), so a long value costs no more than a short one;
//! - objects and arrays (nested values): a `key=value` condition never
//!   matches them, nor does a comparison;
//! - keys longer than `FieldMatch::MAX_KEY_LEN` (128 bytes), which no filter may name;
//! - a `context` that is not a JSON object (written by hand).

use rusqlite::types::Value;
use rusqlite::{params, Connection, Transaction};

use super::search;

/// Whether a context key may be inlined in SQL and indexed:
/// `[A-Za-z0-9_]{1,64}`.
pub fn valid_index_key(key: &str) -> bool {
    (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A side-table entry's `part` is its id shifted right by this much.
pub(crate) const PART_BITS: u32 = 16;

/// The parts (column `n`) that hold the ids up to `last`, an SQL
/// expression: a lookup `CROSS JOIN`s the side table to them (so SQLite
/// keeps them the outer loop) and searches each part by its key.
#[cfg(feature = "read")]
pub(crate) fn parts(last: &str) -> String {
    format!(
        "(WITH RECURSIVE p(n) AS (SELECT 0 UNION SELECT n + 1 FROM p WHERE n < ({last}) >> {PART_BITS})
          SELECT n FROM p)"
    )
}

/// The parts that hold a record of the time span `[since, until)`, as a
/// JSON array: every part a match of the span can be in, whatever order
/// ids and times were written in, found by a walk of the span's `ts` index
/// entries (a day of 10 M records: 4.5 ms; reading its records to test a
/// context value: 42 ms).
#[cfg(feature = "read")]
pub(crate) fn span_parts(
    conn: &Connection,
    since: Option<log_panel_core::Timestamp>,
    until: Option<log_panel_core::Timestamp>,
) -> rusqlite::Result<String> {
    // An absent `since` is the smallest text; an absent `until` no bound,
    // so the walk stops at the span's end.
    let since = since.map_or_else(String::new, |t| t.to_rfc3339());
    let parts = |within: &str| {
        format!(
            "SELECT json_group_array(n) FROM (SELECT DISTINCT id >> {PART_BITS} AS n FROM log_records WHERE {within})"
        )
    };
    match until {
        Some(until) => conn
            .prepare_cached(&parts("ts >= ?1 AND ts < ?2"))?
            .query_row(params![since, until.to_rfc3339()], |r| r.get(0)),
        None => conn.prepare_cached(&parts("ts >= ?1"))?.query_row([since], |r| r.get(0)),
    }
}

/// The parts (column `n`) of the JSON array `listed`, an SQL expression.
#[cfg(feature = "read")]
pub(crate) fn listed_parts(listed: &str) -> String {
    format!("(SELECT value AS n FROM json_each({listed}))")
}

/// The first schema version whose side table keys reals by [`real_key`].
#[cfg(feature = "read")]
pub(crate) const REALS_APART_VERSION: i64 = 12;

/// The side table's `key` of a real's entries (since
/// [`REALS_APART_VERSION`]): the key's UTF-8 bytes as a BLOB, what
/// `CAST(key AS BLOB)` gives in SQL.
#[cfg(feature = "read")]
pub(crate) fn real_key(key: &str) -> Value {
    Value::Blob(key.as_bytes().to_vec())
}

/// Whether the file `conn` reads keys reals apart ([`real_key`]). A writer
/// may migrate the file between two statements of a read: a caller whose
/// answer depends on it reads this and the entries in one transaction.
#[cfg(feature = "read")]
pub(crate) fn reals_apart(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(schema_version(conn)? >= REALS_APART_VERSION)
}

/// The schema version of the file `conn` reads.
#[cfg(feature = "read")]
fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// The first schema version whose side table holds booleans as
/// [`bool_value`].
#[cfg(feature = "read")]
pub(crate) const BOOLEANS_APART_VERSION: i64 = 13;

/// The side table's `value` of a boolean (since
/// [`BOOLEANS_APART_VERSION`]): a one-byte BLOB, 1 for true, 0 for false.
#[cfg(feature = "read")]
pub(crate) fn bool_value(b: bool) -> Value {
    Value::Blob(vec![u8::from(b)])
}

/// Whether the file `conn` reads holds booleans as [`bool_value`]. A
/// writer only migrates forward: a read planned on an answer of `false`
/// also looks booleans up as 1 / 0, which finds them in either version.
#[cfg(feature = "read")]
pub(crate) fn booleans_apart(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(schema_version(conn)? >= BOOLEANS_APART_VERSION)
}

/// Text values longer than this many characters are indexed by their
/// first `PREFIX_CHARS` characters.
pub(crate) const PREFIX_CHARS: usize = 128;

/// What the side table stores for a text value: itself, or its prefix.
pub(crate) fn stored_text(text: &str) -> Option<String> {
    text.char_indices().nth(PREFIX_CHARS).map(|(end, _)| text[..end].to_owned())
}

/// Registers `key` with its own mark (schema version 4). Every key is
/// indexed from the common mark whether registered or not; a registered
/// key's rows written before version 5 stay usable up to its own mark.
pub(crate) fn add_key(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    // Read first: an `INSERT` that finds the key still takes the write lock.
    if conn.prepare_cached("SELECT 1 FROM log_context_state WHERE key = ?1")?.exists([key])? {
        return Ok(());
    }
    conn.prepare_cached("INSERT INTO log_context_state (key, indexed_id) VALUES (?1, 0) ON CONFLICT (key) DO NOTHING")?
        .execute([key])?;
    Ok(())
}

/// The last id the side table holds every key of.
pub(crate) fn all_mark(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT indexed_id FROM log_context_all")?.query_row([], |r| r.get(0))
}

/// The side-table rows (`key, value, id, part`) of the records `records` (a
/// condition on `r.id`) keeps; `?1` is the length above which a text is
/// cut to it, `?2` the longest key. A real's `key` is the key as a BLOB
/// ([`real_key`]): any value SQLite holds as a real, as migration 12 tells
/// them by `typeof`; a boolean's `value` the BLOB `x'01'` or `x'00'`
/// (`bool_value`), as migration 13 tells them by the record's JSON type. A context that is not a JSON object is skipped, not an
/// error that would stop every later step.
fn entries(records: &str) -> String {
    format!(
        "SELECT CASE WHEN typeof(j.value) = 'real' THEN CAST(j.key AS BLOB) ELSE j.key END,
                CASE j.type WHEN 'true' THEN x'01' WHEN 'false' THEN x'00'
                            WHEN 'text' THEN CASE WHEN length(j.value) > ?1 THEN substr(j.value, 1, ?1) ELSE j.value END
                            ELSE j.value END,
                r.id, r.id >> {PART_BITS}
         FROM log_records AS r,
              json_each(CASE WHEN json_valid(r.context) THEN
                            CASE WHEN json_type(r.context) = 'object' THEN r.context END END) AS j
         WHERE {records}
           AND j.type IN ('text', 'integer', 'real', 'true', 'false') AND length(j.key) <= ?2"
    )
}

/// The longest key indexed: `FieldMatch::MAX_KEY_LEN` of the query crate,
/// the longest a filter may name (checked there when the read side is built).
const MAX_KEY_LEN: i64 = 128;
#[cfg(feature = "read")]
const _: () = assert!(MAX_KEY_LEN == log_panel_query::FieldMatch::MAX_KEY_LEN as i64);

/// Indexes every key of up to `rows` records above the common mark, in the
/// caller's transaction. Returns whether rows remain above the new mark.
pub(crate) fn index_step(tx: &Transaction<'_>, rows: i64) -> rusqlite::Result<bool> {
    let mark = all_mark(tx)?;
    let Some(last) = search::step_end(tx, mark, rows)? else { return Ok(false) };
    let insert = format!(
        "INSERT OR IGNORE INTO log_context_index (key, value, id, part) {}",
        entries("r.id > ?3 AND r.id <= ?4")
    );
    tx.prepare_cached(&insert)?.execute(params![PREFIX_CHARS as i64, MAX_KEY_LEN, mark, last])?;
    tx.prepare_cached("UPDATE log_context_all SET indexed_id = ?1")?.execute([last])?;
    search::exists_above(tx, last)
}

/// Removes the side-table rows of the records listed in `temp.lp_prune_ids`
/// (before they are deleted): each by its primary key, found from the
/// record's own values (as the common step stored them, and whole, as a
/// registered key's own step did).
pub(crate) fn forget_pruned(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let found: Vec<(Value, Value, i64)> = tx
        .prepare_cached(&entries("r.id IN (SELECT id FROM temp.lp_prune_ids)"))?
        .query_map(params![i64::MAX, MAX_KEY_LEN], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut delete = tx.prepare_cached(&format!(
        "DELETE FROM log_context_index WHERE key = ?1 AND part = ?3 >> {PART_BITS} AND value = ?2 AND id = ?3"
    ))?;
    for (key, value, id) in found {
        if let Value::Text(t) = &value {
            if let Some(prefix) = stored_text(t) {
                delete.execute(params![key, prefix, id])?;
            }
        }
        delete.execute(params![key, value, id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_stored_by_their_prefix_in_characters() {
        assert_eq!(stored_text(&"a".repeat(PREFIX_CHARS)), None);
        assert_eq!(stored_text(&"é".repeat(PREFIX_CHARS + 5)), Some("é".repeat(PREFIX_CHARS)));
    }
}
