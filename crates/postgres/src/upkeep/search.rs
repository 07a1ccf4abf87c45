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
//! learns that bound without a lock that writers or `VACUUM` would notice
//! ([`Watermark`]): in one statement it reads the highest id its snapshot
//! sees, `B`, and then the transactions holding a lock on the id sequence of
//! `log_records`. `nextval` takes that lock (`RowExclusiveLock`) and keeps
//! it until its transaction ends, and the sequence hands out ids in
//! increasing order (it caches none: `CACHE 1`, the identity's default), so
//! a row with an id below `B` that the snapshot does not see was drawn
//! before `B` by a transaction that had not committed when the snapshot was
//! taken: it was still holding the lock when the locks were read after it,
//! or it has ended since. Once every transaction in that list has ended (at
//! once when it is empty, else at a later step), every id up to `B` is final
//! and the mark may move there. A transaction that aborts leaves a gap the
//! mark then passes. The lock list is of this database's sequence only, so
//! long transactions elsewhere on the server do not hold the mark back;
//! `VACUUM` takes no lock on the sequence.
//!
//! `pg_locks` copies the server's whole lock table (all of it, under the lock
//! manager's partition locks), which costs ~5 ms on a server holding 10 000
//! locks. The statement reads it only when some other session of this
//! database is inside a transaction (or its status is hidden or not
//! tracked, or a prepared transaction of it exists): a transaction that
//! drew an id is inside one until after it has ended for every later
//! snapshot (`pg_stat_activity`'s `xact_start` is set before its first
//! statement and cleared after the commit and the lock release), so when
//! none is, the list is empty. The backends' status costs what the number
//! of connections costs, not the number of locks.
//!
//! A sequence that caches ids (`ALTER SEQUENCE … CACHE n`, n > 1) breaks the
//! order: a session hands its cached ids out later, in transactions that
//! start after the step, below ids others have committed since (each such
//! `nextval` still takes the lock, but after the step has read the list).
//! No bound is then known final (a session may keep cached ids as long as
//! it lives), so the step does not move the mark and says why ([`Stop`]:
//! the sink reports it as the error of its idle step, the catch-up as its
//! error); searches stay complete, scanning every row above the mark. The
//! fix, `ALTER SEQUENCE … CACHE 1`, rewrites the sequence (a new
//! relfilenode, since PostgreSQL 10, which identity columns need anyway),
//! and every session drops the ids it cached at its next `nextval`; the
//! `ALTER` waits for the transactions holding the sequence. So once the
//! step reads `CACHE 1`, no id cached before can be handed out any more,
//! and the bound holds again.
//!
//! The step takes only `ACCESS SHARE` on `log_records` (what any read
//! takes), with `NOWAIT`: it conflicts with `ACCESS EXCLUSIVE` alone (a day
//! partition created or dropped, the conversion to partitions, `VACUUM`'s
//! truncation of empty pages at the end), and then the step is skipped and
//! tried again later. A batch never waits behind it; nothing waits.

use std::fmt;
use std::time::Duration;

use postgres::Client;

/// Rows [`index_step`] copies into the search table at most per step
/// (about 7 ms of GIN index work on the test machine: a batch arriving meanwhile waits for it).
pub(crate) const INDEX_STEP_ROWS: i64 = 250;

/// SQLSTATE `lock_not_available`: `NOWAIT` found the lock taken.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// The first delay before a sink's idle step looks again at a bound that
/// waits for another session's transaction (a batch in flight commits within
/// milliseconds); it doubles at each step that still waits, up to
/// [`RECHECK_CAP`].
const RECHECK_FIRST: Duration = Duration::from_millis(20);
/// The longest delay between two such looks: a transaction left open for
/// long costs one step (under a millisecond) a second.
const RECHECK_CAP: Duration = Duration::from_secs(1);

/// In one statement, so the lock table is read after the snapshot the
/// `max(id)` is taken in: the highest id visible; the transactions
/// (`virtualtransaction`, unique while the server runs) holding a lock on
/// `log_records`' id sequence in this database, read only when another
/// session of this database is in a transaction, or shows no statement
/// start (hidden from this role, or with `track_activities` off, which stops
/// it reporting its transactions; or connected and silent so far), or a
/// transaction of it is prepared (else none can hold it; see the module
/// documentation); how many ids the sequence caches per session (the
/// bound holds for 1 only), and its name. The `pg_locks`
/// sub-select is an init plan, run only when the `CASE` needs it; the
/// sequence is looked up in sub-selects, once each, not once per lock.
const BOUND_SQL: &str = "
SELECT (SELECT coalesce(max(id), 0) FROM log_records),
       CASE WHEN EXISTS (SELECT 1 FROM pg_stat_get_backend_idset() b
                         WHERE pg_stat_get_backend_dbid(b) = (SELECT oid FROM pg_database WHERE datname = current_database())
                           AND pg_stat_get_backend_pid(b) <> pg_backend_pid()
                           AND (pg_stat_get_backend_xact_start(b) IS NOT NULL OR pg_stat_get_backend_activity_start(b) IS NULL))
              OR EXISTS (SELECT 1 FROM pg_prepared_xacts p WHERE p.database = current_database())
       THEN ARRAY(SELECT l.virtualtransaction FROM pg_locks l
                  WHERE l.locktype = 'relation'
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.relation = (SELECT pg_get_serial_sequence('log_records', 'id')::regclass))
       ELSE '{}'::text[] END,
       (SELECT s.seqcache FROM pg_sequence s
        WHERE s.seqrelid = (SELECT pg_get_serial_sequence('log_records', 'id')::regclass)),
       pg_get_serial_sequence('log_records', 'id')";

/// Why a step could not move the mark although rows may wait above it: the
/// id sequence caches ids per session, so no id below the newest is known
/// final. Reported by the sink's idle step and the catch-up as an error, so
/// the index never stops unsaid. Searches stay complete meanwhile (they scan
/// every row above the mark), only slower as the rows there grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    /// The sequence, as `pg_get_serial_sequence` names it.
    pub sequence: String,
    /// Its `CACHE` setting (0 when it could not be read).
    pub cache: i64,
    /// The mark, where it stays.
    pub mark: i64,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Stop { sequence, cache, mark } = self;
        write!(
            f,
            "the search index stays at id {mark}: the id sequence {sequence} caches {cache} ids per session, so a \
             session may still hand out ids below those others have committed, and none is known final (searches \
             stay complete but scan every record above id {mark}); fix: ALTER SEQUENCE {sequence} CACHE 1 (each \
             session then drops the ids it cached)"
        )
    }
}

/// What the search mark may move to, learnt over the steps of one sink (or
/// one catch-up): a bound seen at an earlier step, waiting for the
/// transactions that held the id sequence then. Each bound is safe on its
/// own, so several sinks on one database, each with its own, index one
/// after the other under the mark's row lock.
#[derive(Debug, Default)]
pub(crate) struct Watermark {
    pending: Option<Candidate>,
    /// Consecutive steps that ended with a bound waiting (the recheck delay doubles with them).
    waited: u32,
}

/// A highest visible id and the transactions that could still commit ids below it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    max_id: i64,
    drawers: Vec<String>,
}

impl Watermark {
    /// Takes one step's reading (`seen`, the highest id its snapshot saw;
    /// `drawers`, the transactions holding the id sequence after it) and
    /// returns the highest bound now known final, if any. A bound waiting
    /// for its transactions is kept until they have all ended, not replaced
    /// by each newer reading: under writers that never pause, every reading
    /// has some, and a replaced bound would never become final.
    fn advance(&mut self, seen: i64, drawers: Vec<String>) -> Option<i64> {
        let mut safe = None;
        if let Some(p) = &self.pending {
            if p.drawers.iter().all(|d| !drawers.contains(d)) {
                safe = Some(p.max_id);
                self.pending = None;
            }
        }
        if drawers.is_empty() {
            safe = Some(safe.map_or(seen, |s: i64| s.max(seen)));
        } else if self.pending.is_none() {
            self.pending = Some(Candidate { max_id: seen, drawers });
        }
        self.waited = if self.pending.is_some() { self.waited.saturating_add(1) } else { 0 };
        safe
    }

    /// Whether a bound waits for transactions still running at the last step.
    pub(crate) fn waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// How soon a sink's idle step should look again while a bound waits
    /// for other sessions' transactions (which no batch of its own will
    /// end): 20 ms, doubling at each step that still waits, at most 1 s.
    /// `None` when nothing waits.
    pub(crate) fn recheck_in(&self) -> Option<Duration> {
        self.waiting().then(|| RECHECK_FIRST.saturating_mul(1 << self.waited.saturating_sub(1).min(6)).min(RECHECK_CAP))
    }

    /// Whether the bound holds given the sequence's `cache` now; if not,
    /// why ([`Stop`]), and a bound read earlier is dropped too (ids cached
    /// since may fall below it).
    fn check_cache(&mut self, cache: i64, sequence: &str, mark: i64) -> Option<Stop> {
        if cache == 1 {
            return None;
        }
        self.pending = None;
        self.waited = 0;
        Some(Stop { sequence: sequence.to_owned(), cache, mark })
    }
}

/// What one [`index_step`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    /// Rows known final remain to index (call again at once).
    pub more: bool,
    /// The highest id the step's snapshot saw.
    pub seen: i64,
    /// The mark after the step.
    pub mark: i64,
    /// Why the mark could not move, when the sequence caches ids.
    pub stop: Option<Stop>,
}

/// Copies up to `max_rows` records above the mark into the search table and
/// moves the mark, up to the bound `watermark` knows final. `None` when the
/// step was skipped: `log_records` was held in `ACCESS EXCLUSIVE` mode.
pub(crate) fn index_step(
    client: &mut Client,
    watermark: &mut Watermark,
    max_rows: i64,
) -> Result<Option<Step>, postgres::Error> {
    let mut tx = client.transaction()?;
    match tx.batch_execute("LOCK TABLE log_records IN ACCESS SHARE MODE NOWAIT") {
        Ok(()) => {}
        Err(e) if e.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE) => return Ok(None),
        Err(e) => return Err(e),
    }
    let row = tx.query_one(BOUND_SQL, &[])?;
    let seen: i64 = row.try_get(0)?;
    let drawers: Vec<String> = row.try_get(1)?;
    let cache: Option<i64> = row.try_get(2)?;
    let sequence: Option<String> = row.try_get(3)?;
    // FOR UPDATE: several sinks on one database index one after the other.
    let mark: i64 = tx.query_one("SELECT last_id FROM log_search_mark FOR UPDATE", &[])?.try_get(0)?;
    let sequence = sequence.unwrap_or_else(|| "(log_records' id sequence)".to_owned());
    let stop = watermark.check_cache(cache.unwrap_or(0), &sequence, mark);
    let safe = if stop.is_none() { watermark.advance(seen, drawers) } else { None };
    let Some(safe_max) = safe.filter(|s| *s > mark) else {
        tx.commit()?;
        return Ok(Some(Step { more: false, seen, mark, stop }));
    };
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
    Ok(Some(Step { more: full, seen, mark: new_mark, stop: None }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use log_panel_testing::postgres::{client, TestServer};

    /// The bound's executed plan.
    fn bound_plan(db: &mut Client) -> String {
        let explain = format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {BOUND_SQL}");
        db.query(&explain, &[]).unwrap().iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
    }

    /// `pg_locks` copies the server's whole lock table (~5 ms at 10 000
    /// locks, docs/performance.md): the bound reads it only while another
    /// session of the database is inside a transaction, which any holder of
    /// the id sequence is.
    #[test]
    fn the_bound_reads_the_lock_table_only_while_another_session_is_in_a_transaction() {
        let Some(url) = TestServer::shared_database() else { return };
        drop(crate::PgSink::connect(&url).unwrap());
        let mut db = client(&url);
        let mut other = client(&url);
        other.batch_execute("SELECT 1").unwrap(); // a session that has not run a statement yet counts as busy
        let not_read = "Function Scan on pg_lock_status l (never executed)";
        // An autovacuum worker of this fresh database (its catalogs) counts as
        // a session in a transaction for as long as it runs: look until none does.
        let mut plan = bound_plan(&mut db);
        for _ in 0..500 {
            if plan.contains(not_read) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            plan = bound_plan(&mut db);
        }
        assert!(plan.contains(not_read), "no other session in a transaction: {plan}");
        let read = "Function Scan on pg_lock_status l (actual rows=";
        other.batch_execute("BEGIN; SELECT 1").unwrap();
        let plan = bound_plan(&mut db);
        assert!(plan.contains(read), "another in a transaction: {plan}");
        other.batch_execute("COMMIT").unwrap();
        // A session that does not report its activity does not report its
        // transactions either: it counts as one that may be in a transaction.
        other.batch_execute("SET track_activities = off; BEGIN; SELECT 1").unwrap();
        let plan = bound_plan(&mut db);
        assert!(plan.contains(read), "a session with track_activities off: {plan}");
        other.batch_execute("COMMIT").unwrap();
    }

    fn tx(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_bound_is_final_at_once_when_no_transaction_holds_the_sequence() {
        let mut w = Watermark::default();
        assert_eq!(w.advance(100, tx(&[])), Some(100));
        assert!(!w.waiting());
    }

    #[test]
    fn a_bound_waits_for_the_transactions_that_held_the_sequence_then() {
        let mut w = Watermark::default();
        assert_eq!(w.advance(100, tx(&["3/7", "4/2"])), None);
        // 3/7 still runs; 5/1 started since (its ids are above 100 but it holds
        // the newer reading back): the first bound waits, and is not replaced.
        assert_eq!(w.advance(150, tx(&["3/7", "5/1"])), None);
        assert_eq!(w.advance(180, tx(&["5/1"])), Some(100), "3/7 and 4/2 ended");
        assert!(w.waiting(), "180 waits for 5/1");
        assert_eq!(w.advance(200, tx(&["6/9"])), Some(180));
        assert_eq!(w.advance(210, tx(&[])), Some(210), "nothing running: the newest bound");
        assert!(!w.waiting());
    }
}
