//! Where the time of a lone context value's estimated histogram goes
//! (docs/performance.md, "The hot value's exact bars, cheaper (session 39)"):
//! on `LOG_PANEL_ESTIMATE_DB` (opened read-only; the 10 M hostile file), the
//! panel's 91 daily bars of `LOG_PANEL_ESTIMATE_FIELD` (default `user_id=3`)
//! through `histogram_estimate`, the records page beside it, and the
//! statements the bars' count is made of, each timed alone, alternating.
//! The store reads schema 11 and 12 alike, so one build times both layouts
//! of the side table (session 40: a file and its copy migrated to 12).
//!
//! ```text
//! LOG_PANEL_ESTIMATE_DB=/work/data/c/h10m-v11.db cargo bench -p log-panel-sqlite --bench estimate
//! ```
//!
//! Each read runs `LOG_PANEL_BENCH_ROUNDS` (default 30) times; one line per
//! read with its answer, median, p95 and maximum in ms.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ms, timed};
use log_panel_core::Timestamp;
use log_panel_query::{LevelCounts, PageAt, RecordFilter, Slots, Store};
use log_panel_sqlite::SqliteStore;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// A slot's first and last id by time: the two time-index lookups the
/// estimate makes per bar.
fn slot_ids(conn: &Connection, a: &str, b: &str) -> Option<(i64, i64)> {
    let first = conn
        .prepare_cached("SELECT id FROM log_records WHERE ts >= ?1 ORDER BY ts, id LIMIT 1")
        .unwrap()
        .query_row([a], |r| r.get::<_, i64>(0))
        .optional()
        .unwrap();
    let last = conn
        .prepare_cached("SELECT id FROM log_records WHERE ts < ?1 ORDER BY ts DESC, id DESC LIMIT 1")
        .unwrap()
        .query_row([b], |r| r.get::<_, i64>(0))
        .optional()
        .unwrap();
    first.zip(last).filter(|(lo, hi)| lo <= hi)
}

fn main() {
    let rounds: usize = std::env::var("LOG_PANEL_BENCH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(30);
    let db = std::env::var("LOG_PANEL_ESTIMATE_DB").expect("LOG_PANEL_ESTIMATE_DB: the file to read");
    let field = std::env::var("LOG_PANEL_ESTIMATE_FIELD").unwrap_or_else(|_| "user_id=3".into());
    let store = SqliteStore::open(std::path::Path::new(&db)).unwrap();
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let newest = store.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap();
    let now = newest.records.first().map_or_else(|| Timestamp::now().0, |r| r.ts.0 + 1);
    let slots = Slots::days_until(Timestamp(now), 0, 91).unwrap();
    let mut filter = RecordFilter::default();
    filter.fields = vec![field.parse().unwrap()];
    let bounds: Vec<String> = slots.bounds().iter().map(|t| t.to_rfc3339()).collect();
    let (key, value) = field.split_once('=').unwrap();
    let int: i64 = value.parse().unwrap();
    let extents: Vec<(i64, i64)> =
        (0..slots.len()).filter_map(|i| slot_ids(&conn, &bounds[i], &bounds[i + 1])).collect();
    let part = |id: i64| id >> 16;

    type Read<'a> = Box<dyn Fn() -> String + 'a>;
    let reads: Vec<(&str, Read<'_>)> = vec![
        (
            "histogram_estimate (91 days)",
            Box::new(|| {
                let h = store.histogram_estimate(&filter, &slots).unwrap();
                h.slots.iter().map(LevelCounts::total).sum::<u64>().to_string()
            }),
        ),
        (
            "records page (50 newest)",
            Box::new(|| store.records(&filter, PageAt::Newest, 50).unwrap().records.len().to_string()),
        ),
        (
            "slot ids: 182 time-index lookups",
            Box::new(|| {
                (0..slots.len()).filter_map(|i| slot_ids(&conn, &bounds[i], &bounds[i + 1])).count().to_string()
            }),
        ),
        (
            "zone map read whole",
            Box::new(|| {
                let mut stmt =
                    conn.prepare_cached("SELECT part, min_ts, max_ts FROM log_id_times ORDER BY part").unwrap();
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                    .unwrap();
                rows.count().to_string()
            }),
        ),
        (
            "counts: a statement per bar, part and form, typeof checked (main)",
            Box::new(|| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT count(*) FROM log_context_index
                         WHERE key = ?1 AND part = ?2 AND value = ?3 AND id BETWEEN ?4 AND ?5 AND typeof(value) = ?6",
                    )
                    .unwrap();
                let forms: [(rusqlite::types::Value, &str); 2] = [
                    (rusqlite::types::Value::Text(value.into()), "text"),
                    (rusqlite::types::Value::Integer(int), "integer"),
                ];
                let mut n = 0i64;
                for &(lo, hi) in &extents {
                    for p in part(lo)..=part(hi) {
                        for (v, t) in &forms {
                            n += stmt
                                .query_row(rusqlite::params![key, p, v, lo, hi, t], |r| r.get::<_, i64>(0))
                                .unwrap();
                        }
                    }
                }
                n.to_string()
            }),
        ),
        (
            "counts: per bar and part, both forms in one statement, no typeof (exact on schema 12; on 11 it would count a real 3.0)",
            Box::new(|| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT count(*) FROM log_context_index
                         WHERE key = ?1 AND part = ?2 AND value IN (?3, ?4) AND id BETWEEN ?5 AND ?6",
                    )
                    .unwrap();
                let mut n = 0i64;
                for &(lo, hi) in &extents {
                    for p in part(lo)..=part(hi) {
                        n += stmt
                            .query_row(rusqlite::params![key, p, int, value, lo, hi], |r| r.get::<_, i64>(0))
                            .unwrap();
                    }
                }
                n.to_string()
            }),
        ),
        (
            "counts: one statement, bars x parts joined, GROUP BY bar, typeof checked",
            Box::new(|| {
                let bars: Vec<String> = extents.iter().map(|(lo, hi)| format!("[{lo},{hi}]")).collect();
                let mut stmt = conn
                    .prepare_cached(
                        "WITH b(n, lo, hi) AS (SELECT key, value ->> 0, value ->> 1 FROM json_each(?1)),
                              p(n, bar, lo, hi) AS (
                                  SELECT b.lo >> 16, b.n, b.lo, b.hi FROM b
                                  UNION ALL SELECT p.n + 1, p.bar, p.lo, p.hi FROM p WHERE p.n < p.hi >> 16)
                         SELECT p.bar, count(*) FROM p CROSS JOIN log_context_index AS e
                           ON e.key = ?2 AND e.part = p.n AND e.value IN (?3, ?4) AND e.id BETWEEN p.lo AND p.hi
                              AND typeof(e.value) IN ('integer', 'text')
                         GROUP BY p.bar",
                    )
                    .unwrap();
                let rows = stmt
                    .query_map(rusqlite::params![format!("[{}]", bars.join(",")), key, int, value], |r| {
                        r.get::<_, i64>(1)
                    })
                    .unwrap();
                rows.map(Result::unwrap).sum::<i64>().to_string()
            }),
        ),
        (
            "ids: every entry returned, one statement (bucketed by the caller)",
            Box::new(|| {
                let (first, last) = (extents[0].0, extents[extents.len() - 1].1);
                let mut stmt = conn
                    .prepare_cached(
                        "WITH RECURSIVE p(n) AS (SELECT ?2 UNION ALL SELECT n + 1 FROM p WHERE n < ?3)
                         SELECT e.id FROM p CROSS JOIN log_context_index AS e
                           ON e.key = ?1 AND e.part = p.n AND e.value = ?4 AND e.id BETWEEN ?5 AND ?6",
                    )
                    .unwrap();
                let mut bar = vec![0u32; extents.len()];
                let mut rows = stmt.query(rusqlite::params![key, part(first), part(last), int, first, last]).unwrap();
                let mut k = 0;
                while let Some(r) = rows.next().unwrap() {
                    let id: i64 = r.get(0).unwrap();
                    while k < extents.len() && extents[k].1 < id {
                        k += 1;
                    }
                    if k < extents.len() && extents[k].0 <= id {
                        bar[k] += 1;
                    }
                }
                bar.iter().sum::<u32>().to_string()
            }),
        ),
    ];
    let mut times = vec![Vec::new(); reads.len()];
    let mut answers = vec![String::new(); reads.len()];
    for round in 0..rounds {
        for k in 0..reads.len() {
            let k = (k + round) % reads.len();
            let (answer, t) = timed(&reads[k].1);
            answers[k] = answer;
            if round > 0 {
                times[k].push(t);
            }
        }
    }
    for ((name, _), (t, answer)) in reads.iter().zip(times.into_iter().zip(answers)) {
        let (p50, p95, max) = ms(t);
        println!("{name}: {answer} | median {p50:.2} ms, p95 {p95:.2} ms, max {max:.2} ms");
    }
}
