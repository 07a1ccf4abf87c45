//! The search side table.
//!
//! GIN indexes on `log_records` (trigram on `message`, `jsonb_path_ops` on
//! `context`) cut COPY throughput by half or more (docs/performance.md), so
//! they live on a side table, `log_search (id, message, context, ts)`, holding every record with `id <=
//! log_search_mark.last_id`. [`index_step`] copies the next rows above the
//! mark; searches read the index up to the mark and scan the rows above it,
//! so they are complete however far the index lags. The same step fills
//! `log_search_num (key, num, id, ts)` with the numbers among each copied
//! record's top-level context values, for comparisons (`status >= 500`).
//!
//! The mark may only pass an id once no transaction can still commit a row
//! below it (concurrent writers commit out of id order). [`index_step`]
//! learns that bound by taking `SHARE` lock on `log_records` with `NOWAIT`
//! for the instant of a `max(id)`: the lock is granted only when no write is
//! in flight, and once it is, every id drawn so far belongs to a finished
//! transaction. When another process is writing, the step is skipped and
//! tried again later; nothing waits.
//!

use postgres::Client;

/// Rows [`index_step`] copies into the search table at most per step
/// (about 7 ms of GIN index work on the test machine: a batch arriving meanwhile waits for it).
pub(crate) const INDEX_STEP_ROWS: i64 = 250;

/// SQLSTATE `lock_not_available`: `NOWAIT` found the lock taken.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// How [`index_step`] takes its lock on `log_records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "read"), allow(dead_code))]
pub(crate) enum LockWait {
    /// Give up at once when the lock is taken (the sink: a batch must never
    /// wait behind indexing, and the next idle moment tries again).
    NoWait,
    /// Wait for it (an explicit catch-up): a batch in flight finishes first,
    /// and an autovacuum of `log_records`, whose lock conflicts with this
    /// one, is cancelled by the server after `deadlock_timeout` instead of
    /// stopping the catch-up for as long as it runs.
    Wait,
}

/// Copies up to `max_rows` records above the mark into the search table and
/// moves the mark. Returns whether rows remain to index (`false` also when,
/// with [`LockWait::NoWait`], a write in flight or a vacuum kept the step from running).
pub(crate) fn index_step(client: &mut Client, max_rows: i64, wait: LockWait) -> Result<bool, postgres::Error> {
    let lock = match wait {
        LockWait::NoWait => "LOCK TABLE log_records IN SHARE MODE NOWAIT",
        LockWait::Wait => "LOCK TABLE log_records IN SHARE MODE",
    };
    let safe_max = {
        let mut tx = client.transaction()?;
        match tx.batch_execute(lock) {
            Ok(()) => {}
            Err(e) if e.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE) => return Ok(false),
            Err(e) => return Err(e),
        }
        let max: i64 = tx.query_one("SELECT coalesce(max(id), 0) FROM log_records", &[])?.try_get(0)?;
        tx.commit()?;
        max
    };
    let mut tx = client.transaction()?;
    // FOR UPDATE: several sinks on one database index one after the other.
    let mark: i64 = tx.query_one("SELECT last_id FROM log_search_mark FOR UPDATE", &[])?.try_get(0)?;
    if mark >= safe_max {
        tx.commit()?;
        return Ok(false);
    }
    let row = tx.query_one(
        "WITH copied AS (
             INSERT INTO log_search (id, ts, message, context)
             SELECT id, ts, message, context FROM log_records WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3
             ON CONFLICT (id) DO NOTHING
             RETURNING id, ts, context),
         numbers AS (
             INSERT INTO log_search_num (key, num, id, ts)
             SELECT e.key, e.value::numeric::float8, c.id, c.ts FROM copied c,
                  jsonb_each(CASE WHEN jsonb_typeof(c.context) = 'object' THEN c.context ELSE '{}' END) e
             WHERE jsonb_typeof(e.value) = 'number'
               AND abs(e.value::numeric) < 1e308
             ON CONFLICT DO NOTHING)
         SELECT count(*), max(id) FROM copied",
        &[&mark, &safe_max, &max_rows],
    )?;
    let copied: i64 = row.try_get(0)?;
    let last: Option<i64> = row.try_get(1)?;
    let full = copied >= max_rows;
    // A full step stops at its last row; otherwise every id up to safe_max is done.
    let new_mark = if full { last.unwrap_or(safe_max) } else { safe_max };
    tx.execute("UPDATE log_search_mark SET last_id = $1", &[&new_mark])?;
    tx.commit()?;
    Ok(full || new_mark < safe_max)
}
