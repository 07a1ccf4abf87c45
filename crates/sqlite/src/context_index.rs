//! Context-key lookups (`request_id = …`): a side table filled in the
//! background, like the message search index (see [`search`](crate::search)).
//!
//! An expression index on `json_extract(context, '$.request_id')` sat on the
//! burst path: a JSON parse per row and a second B-tree insert with random
//! keys cost the writer 23 % of its rate (docs/performance.md). Schema
//! version 4 keeps the lookups in `log_context_index (key, value, id)`
//! instead, one row per indexed key a record carries. [`index_step`] (from
//! `SqliteSink::idle`) fills it from each key's mark in
//! `log_context_state`; a lookup reads the side table for ids at or below
//! the mark and scans the ids above it, so it never misses a record however
//! far the side table lags.
//!
//! Values are stored as `json_extract` returns them (text, integer, real; a
//! boolean as 1 / 0) in a column without affinity, so `'7'` and `7` stay
//! distinct; the store checks the exact JSON type on the record itself.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{params, Connection, Transaction};

use crate::query::valid_index_key;
use crate::search;

/// The JSON path of key `key` (a [`valid_index_key`]).
fn path(key: &str) -> String {
    format!("$.{key}")
}

/// Registers `key` for indexing (from mark 0: the records already stored
/// are indexed by the following idle steps). A key already there is kept.
pub(crate) fn add_key(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO log_context_state (key, indexed_id) VALUES (?1, 0) ON CONFLICT (key) DO NOTHING")?
        .execute([key])?;
    Ok(())
}

/// Every indexed key with its mark (the last id indexed), by key. Keys that
/// could not be inlined in a JSON path are left out (never written by us).
pub(crate) fn marks(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut stmt = conn.prepare_cached("SELECT key, indexed_id FROM log_context_state ORDER BY key")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (key, mark) = row?;
        if valid_index_key(&key) {
            out.insert(key, mark);
        }
    }
    Ok(out)
}

/// Indexes up to `rows` records above each key's mark, in the caller's
/// transaction. Returns whether rows remain above some key's new mark.
pub(crate) fn index_step(tx: &Transaction<'_>, rows: i64) -> rusqlite::Result<bool> {
    let mut more = false;
    for (key, mark) in marks(tx)? {
        let Some(last) = search::step_end(tx, mark, rows)? else { continue };
        // A context that is not JSON (written by hand) is skipped, not an error
        // that would stop every later step.
        tx.prepare_cached(
            "INSERT OR IGNORE INTO log_context_index (key, value, id)
             SELECT ?1, v, id FROM (
                 SELECT id, CASE WHEN json_valid(context) THEN json_extract(context, ?2) END AS v
                 FROM log_records WHERE id > ?3 AND id <= ?4)
             WHERE v IS NOT NULL",
        )?
        .execute(params![key, path(&key), mark, last])?;
        tx.prepare_cached("UPDATE log_context_state SET indexed_id = ?2 WHERE key = ?1")?
            .execute(params![key, last])?;
        more |= search::exists_above(tx, last)?;
    }
    Ok(more)
}

/// Removes the side-table rows of the records listed in `temp.lp_prune_ids`
/// (before they are deleted): each by its primary key, found from the
/// record's own value.
pub(crate) fn forget_pruned(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    for (key, mark) in marks(tx)? {
        let found: Vec<(Value, i64)> = tx
            .prepare_cached(
                "SELECT json_extract(context, ?1), id FROM log_records
                 WHERE id IN (SELECT id FROM temp.lp_prune_ids) AND id <= ?2 AND json_valid(context)",
            )?
            .query_map(params![path(&key), mark], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut delete =
            tx.prepare_cached("DELETE FROM log_context_index WHERE key = ?1 AND value = ?2 AND id = ?3")?;
        for (value, id) in found {
            if value != Value::Null {
                delete.execute(params![key, value, id])?;
            }
        }
    }
    Ok(())
}
