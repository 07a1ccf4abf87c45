//! Times the look-up by content of a replayed batch in a shared database
//! (docs/reliability.md, "Session 46: a batch in doubt that outlives its
//! process", "Cost in a shared database").
//!
//! ```sh
//! cargo run --release -p log-panel-postgres --example shared_lookup -- 1000000 5 /work/data/measure.lock
//! ```
//!
//! On a throwaway server (`TestServer::start`, or `LOG_PANEL_TEST_PG_URL`),
//! two databases each hold another application's OTHER rows (first argument)
//! spread over ten minutes (and as many on each of the two days before,
//! so that the span is a part of the table, as in a database kept for
//! days), and this
//! application's 1 000 records (the
//! request loggers of `records::requests`) over the same ten minutes, stored
//! through a sink: `apart`, where the other application's loggers are its
//! own; `alike`, where it logs under the same five loggers (the same
//! application on another host). Each round (second argument), in
//! alternating order, runs the look-up statement of session 46 (`ts` range,
//! app, host, pid) and this session's (the batch's loggers too), as the sink
//! binds them, and replays the batch through a new sink (found stored,
//! nothing written; the connection excluded). Prints each time and the rows
//! each statement read, and each statement's plan once. With a third
//! argument, the timed part holds an exclusive lock on that file (filled
//! first, untimed).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log_panel_core::{Batch, Origin, Record, Sink};
use log_panel_postgres::PgSink;
use log_panel_testing::postgres::TestServer;
use log_panel_testing::records::{load_average, requests};
use postgres::types::ToSql;
use postgres::{Client, NoTls};

/// 2025-11-22: records logged long before any sink of this run started.
const PAST: i64 = 1_763_800_000_000_000;
/// The span both applications' rows cover: ten minutes.
const SPAN_MICROS: i64 = 600_000_000;
/// This application's batch: 1 000 records over the span.
const OURS: usize = 1_000;

/// Session 46's statement: the origin's rows of the span, through the `ts` index.
const BEFORE: &str = "SELECT ts, logger, thread, message FROM log_records \
     WHERE ts >= $1 AND ts <= $2 AND id <= $3 AND app = $4 AND host = $5 AND pid = $6";
/// This session's, as `sink.rs` has it: the batch's loggers too.
const NARROWED: &str = "SELECT ts, logger, thread, message FROM log_records \
     WHERE ts >= $1 AND ts <= $2 AND id <= $3 AND app = $4 AND host = $5 AND pid = $6 \
     AND (logger COLLATE \"C\") = ANY($7::text[])";

fn origin() -> Origin {
    Origin::new("replay", "bench", 7)
}

fn time(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap())
}

/// A database holding `other` rows of another application (`alike`: under
/// this application's loggers) and this application's batch, analysed.
fn fill(server: &TestServer, other: usize, alike: bool, ours: &[Record]) -> String {
    let url = server.create_database();
    let mut sink = PgSink::connect(&url).unwrap();
    sink.write(&Batch::new(&origin(), ours)).unwrap();
    drop(sink);
    let mut db = Client::connect(&url, NoTls).unwrap();
    let logger = if alike {
        "(ARRAY['billing::api','billing::db','web::http','worker::queue','auth'])[1 + i % 5]"
    } else {
        "'shop::module' || (i % 20)"
    };
    let n = i64::try_from(other).unwrap();
    // The days before first (lower ids, as written earlier), then the span.
    let day = 86_400_000_000i64;
    let before = (1..=2).rev().map(|d| (PAST - d * day, (day - SPAN_MICROS) / n));
    for (start, step) in before.chain([(PAST, SPAN_MICROS / n)]) {
        db.batch_execute(&format!(
            "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app)
             SELECT to_timestamp({start} / 1e6) + (i::bigint * {step}) * interval '1 microsecond', 20, {logger},
                    'order ' || i || ' shipped', 'main', 1, 'shop-' || (i % 6), 'shop'
             FROM generate_series(0, {n} - 1) AS i"
        ))
        .unwrap();
    }
    db.batch_execute("ANALYZE log_records").unwrap();
    url
}

/// Runs `sql` (`EXPLAIN`ed when `explain` is given) bound as the sink binds
/// it for the batch `ours` and the id mark `mark`; its rows and the time.
fn run(db: &mut Client, sql: &str, ours: &[Record], mark: i64) -> (Vec<postgres::Row>, Duration) {
    let lo = ours.iter().map(|r| r.timestamp.as_micros()).min().unwrap();
    let hi = ours.iter().map(|r| r.timestamp.as_micros()).max().unwrap();
    let (from, to, app, host, pid) = (time(lo), time(hi), "replay", "bench", 7i32);
    let mut loggers: Vec<String> = ours.iter().map(|r| r.logger.to_string()).collect();
    loggers.sort_unstable();
    loggers.dedup();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&from, &to, &mark, &app, &host, &pid];
    if sql.contains("$7") {
        params.push(&loggers);
    }
    let started = Instant::now();
    let rows = db.query(sql, &params).unwrap();
    (rows, started.elapsed())
}

/// The plan of `sql` as the sink binds it, with the rows and buffers it read.
fn explain(db: &mut Client, sql: &str, ours: &[Record], mark: i64) -> String {
    let (rows, _) = run(db, &format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"), ours, mark);
    rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
}

/// Replays `ours` through a new sink (found stored, nothing written); the
/// write's time, the connection excluded.
fn replay(url: &str, ours: &[Record]) -> Duration {
    let mut sink = PgSink::connect(url).unwrap();
    let started = Instant::now();
    sink.write(&Batch::new(&origin(), ours)).unwrap();
    started.elapsed()
}

fn count(db: &mut Client) -> i64 {
    db.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (other, rounds, lock) = match &args[1..] {
        [other, rounds, rest @ ..] if rest.len() <= 1 => {
            (other.parse::<usize>().unwrap(), rounds.parse::<usize>().unwrap(), rest.first())
        }
        _ => panic!("usage: shared_lookup <other rows> <rounds> [lock file]"),
    };
    let server = TestServer::start().expect("a PostgreSQL server (binaries or LOG_PANEL_TEST_PG_URL)");
    let step = SPAN_MICROS / i64::try_from(OURS).unwrap();
    let ours = requests(0, OURS, PAST + step / 2, step);
    // Both filled first, untimed; the timed part holds the lock (another
    // process timing meanwhile would skew both).
    let cases: Vec<(&str, String)> = [("apart", false), ("alike", true)]
        .into_iter()
        .map(|(case, alike)| (case, fill(&server, other, alike, &ours)))
        .collect();
    let lock = lock.map(|path| {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).unwrap();
        println!("waiting for the lock {path}");
        file.lock().unwrap();
        file
    });
    for (case, url) in &cases {
        let mut db = Client::connect(url, NoTls).unwrap();
        let stored = count(&mut db);
        let mark: i64 = db.query_one("SELECT max(id) FROM log_records", &[]).unwrap().get(0);
        println!("== {case}: {other} rows of another application, {OURS} of this one, in the same ten minutes");
        for (name, sql) in [("before", BEFORE), ("narrowed", NARROWED)] {
            println!("-- plan, {name}:\n{}", explain(&mut db, sql, &ours, mark));
        }
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [("before", BEFORE), ("narrowed", NARROWED)]
            } else {
                [("narrowed", NARROWED), ("before", BEFORE)]
            };
            for (name, sql) in order {
                let (rows, took) = run(&mut db, sql, &ours, mark);
                let ms = took.as_secs_f64() * 1e3;
                println!("round {round} {case} {name:>8}: {ms:8.1} ms, {} rows (load {})", rows.len(), load_average());
            }
            let took = replay(url, &ours);
            println!(
                "round {round} {case}   replay: {:8.1} ms through a new sink (load {})",
                took.as_secs_f64() * 1e3,
                load_average()
            );
            assert_eq!(count(&mut db), stored, "a replay of stored records wrote some again");
        }
    }
    drop(lock);
    let mut admin = Client::connect(&server.url("postgres"), NoTls).unwrap();
    for (_, url) in &cases {
        let name = url.rsplit('/').next().unwrap();
        admin.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).unwrap();
    }
}
