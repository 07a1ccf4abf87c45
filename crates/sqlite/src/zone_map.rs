//! The zone map (schema version 11): per range of 2^[`ZONE_BITS`] ids (a
//! zone, `part` in the table), the oldest and newest `ts` of its records, in
//! `log_id_times`.
//!
//! Ids follow commit order, times mostly follow ids, but not always (a
//! spooled batch brings old times under new ids, a clock runs ahead). A
//! read of a term's candidates by id (newest id first, see
//! `store/by_id.rs`) needs a proof that no unread id carries a time that
//! would enter its page; the map is that proof: an unread part whose
//! `max_ts` is below the page's worst row cannot hold one.
//!
//! The map is an over-approximation: every record's time lies within its
//! part's `[min_ts, max_ts]`; the bounds need not be tight. The sink widens
//! them in each batch's transaction (one upsert per part the batch
//! touches, usually one); a prune leaves them as they are (a bound wider
//! than the records left is still a bound) and only drops the parts below
//! the oldest id left; a rebuild recomputes them exactly.

use rusqlite::{params, Connection, Transaction};

use log_panel_core::Timestamp;

/// A zone is the ids of the same `id >> ZONE_BITS`: 4 096 ids, 2 442 zones
/// at 10 M records (a read of the map costs well under a millisecond). A
/// page read by id tests a zone's candidates whole, as the map bounds no
/// finer: at the side table's 65 536 ids a part, `job 12`'s newest part on
/// the hostile file held 11 013 candidates for a page of 50.
pub(crate) const ZONE_BITS: u32 = 12;

/// Widens a part's bounds to hold `(min, max)`, or adds the part.
pub(crate) const UPSERT: &str = "INSERT INTO log_id_times (part, min_ts, max_ts) VALUES (?1, ?2, ?3)
    ON CONFLICT (part) DO UPDATE SET
        min_ts = min(min_ts, excluded.min_ts), max_ts = max(max_ts, excluded.max_ts)";

/// The map recomputed from `log_records` (a rebuild; migration 11 fills it
/// with the same statements, that copy frozen). `12` is [`ZONE_BITS`].
pub(crate) const REBUILD: &str = "DELETE FROM log_id_times;
    INSERT INTO log_id_times (part, min_ts, max_ts)
        SELECT id >> 12, min(ts), max(ts) FROM log_records GROUP BY id >> 12;";

/// The parts a batch's records fall in, each with the oldest and newest
/// time of its records there: gathered as the batch's rows are inserted,
/// written by [`Zones::upsert`] in the same transaction.
#[derive(Default, Debug)]
pub(crate) struct Zones {
    /// (part, oldest, newest), the last one the part being filled.
    parts: Vec<(i64, Timestamp, Timestamp)>,
}

impl Zones {
    /// Notes the record of id `id` at time `ts`.
    pub(crate) fn note(&mut self, id: i64, ts: Timestamp) {
        let part = id >> ZONE_BITS;
        match self.parts.last_mut() {
            Some((p, lo, hi)) if *p == part => {
                *lo = (*lo).min(ts);
                *hi = (*hi).max(ts);
            }
            // A batch's ids are consecutive: a part it left is not met again
            // (and if it were, the second upsert widens the first).
            _ => self.parts.push((part, ts, ts)),
        }
    }

    /// Widens the map by the parts noted, inside the batch's transaction.
    pub(crate) fn upsert(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if self.parts.is_empty() {
            return Ok(());
        }
        let mut upsert = tx.prepare_cached(UPSERT)?;
        for (part, lo, hi) in &self.parts {
            upsert.execute(params![part, lo.to_rfc3339(), hi.to_rfc3339()])?;
        }
        Ok(())
    }
}

/// After a prune deleted records: drops the parts wholly below the oldest
/// id left (every part when none is). The other parts keep their bounds,
/// wider than their records now: still bounds.
pub(crate) fn forget_pruned(conn: &Connection) -> rusqlite::Result<()> {
    let bits = ZONE_BITS;
    conn.prepare_cached(&format!(
        "DELETE FROM log_id_times
         WHERE part < coalesce((SELECT min(id) FROM log_records) >> {bits}, (SELECT max(part) + 1 FROM log_id_times))"
    ))?
    .execute([])?;
    Ok(())
}

/// The map, by part: `(part, min_ts, max_ts)` ascending.
#[cfg(feature = "read")]
pub(crate) fn read(conn: &Connection) -> rusqlite::Result<Vec<(i64, String, String)>> {
    let mut stmt = conn.prepare_cached("SELECT part, min_ts, max_ts FROM log_id_times ORDER BY part")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}
