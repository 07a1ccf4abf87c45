//! The server goes away and comes back: `write` reports `Unavailable` while it
//! is down, reconnects by itself, and no batch is stored twice, also when the
//! answer to a COMMIT is lost; reads beside it fail as `Unavailable`, never
//! otherwise, and work again once it is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Origin, Record, Sink, SinkErrorKind, Timestamp, Value};
use log_panel_postgres::{PgSink, PgStore};
use log_panel_query::{FieldMatch, FieldValue, PageAt, RecordFilter, Store, StoreError, StoreErrorKind};
use log_panel_testing::commit_eater::CommitEater;
use log_panel_testing::postgres::{fresh_sink, TestServer};
use log_panel_testing::records::{sequence, BASE};
use postgres::{Client, NoTls};

pub(crate) fn origin() -> Origin {
    Origin::new("reconnect", "h", 7)
}

pub(crate) fn batch_of(from: i64, n: i64) -> Vec<Record> {
    sequence("seq", from..from + n, Timestamp(BASE), 1_000)
}

/// (count, distinct seq, max seq)
pub(crate) fn stored(url: &str) -> (i64, i64, i64) {
    let row = Client::connect(url, NoTls)
        .unwrap()
        .query_one(
            "SELECT count(*), count(DISTINCT (context->>'seq')::bigint), coalesce(max((context->>'seq')::bigint), -1) \
             FROM log_records",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[test]
fn server_stopped_and_started_again() {
    let Some(server) = TestServer::start_stoppable("the reconnect test") else { return };
    let url = server.create_database();
    let mut sink = PgSink::connect(&url).unwrap();
    let first = batch_of(0, 1000);
    sink.write(&Batch::new(&origin(), &first)).unwrap();

    server.stop_server();
    let second = batch_of(1000, 1000);
    for _ in 0..3 {
        let err = sink.write(&Batch::new(&origin(), &second)).unwrap_err();
        assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
        assert!(!err.to_string().is_empty());
    }
    server.start_server();
    // The writer retries the same batch; the sink reconnects on its own.
    sink.write(&Batch::new(&origin(), &second)).unwrap();
    assert!(sink.reconnects() >= 1);
    let third = batch_of(2000, 1000);
    sink.write(&Batch::new(&origin(), &third)).unwrap();
    assert_eq!(stored(&url), (3000, 3000, 2999));
}

/// A new database, a [`CommitEater`] in front of the server (answering a
/// swallowed COMMIT with a FATAL when `fatal`) and a sink through it that
/// stored records 0..500: the database's direct URL, the proxy, the sink.
fn through_commit_eater(fatal: bool) -> Option<(String, CommitEater, PgSink)> {
    through_commit_eater_with(fatal, "")
}

/// [`through_commit_eater`] with `query` after the sink's URL (`?partition=day`).
fn through_commit_eater_with(fatal: bool, query: &str) -> Option<(String, CommitEater, PgSink)> {
    let server = TestServer::shared_own("the COMMIT tests proxy the server's port (LOG_PANEL_TEST_PG_URL is set)")?;
    let direct = server.create_database();
    let dbname = direct.rsplit('/').next().unwrap().to_owned();
    let proxy = CommitEater::start(server.port());
    proxy.fatal.store(fatal, Ordering::SeqCst);
    let url = format!("postgres://postgres@127.0.0.1:{}/{dbname}{query}", proxy.port);
    let mut sink = PgSink::connect(&url).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(0, 500))).unwrap();
    Some((direct, proxy, sink))
}

#[test]
fn a_lost_commit_answer_is_settled_without_writing_twice() {
    let Some((direct, proxy, mut sink)) = through_commit_eater(false) else { return };

    // The COMMIT succeeds on the server, but its answer never arrives.
    let second = batch_of(500, 500);
    proxy.armed.store(true, Ordering::SeqCst);
    let err = sink.write(&Batch::new(&origin(), &second)).unwrap_err();
    assert!(proxy.eaten.load(Ordering::SeqCst), "the proxy did not see the COMMIT");
    assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
    assert_eq!(stored(&direct), (1000, 1000, 999), "the second batch did commit");

    // The writer retries the same batch: acknowledged, not stored again.
    sink.write(&Batch::new(&origin(), &second)).unwrap();
    assert_eq!(stored(&direct), (1000, 1000, 999), "no duplicate");
    sink.write(&Batch::new(&origin(), &batch_of(1000, 500))).unwrap();
    assert_eq!(stored(&direct), (1500, 1500, 1499));
}

/// A fast shutdown between the commit and its answer: the COMMIT fails with
/// a FATAL, which has a SQLSTATE, yet the batch is stored. Retried as the
/// writer does, the batch is settled, not stored again; and when the writer
/// has meanwhile spooled it (a live batch comes first, then the spool's
/// replay in batches of its own), its records are skipped, each once.
#[test]
fn a_commit_answered_by_a_fatal_shutdown_is_settled_without_writing_twice() {
    let Some((direct, proxy, mut sink)) = through_commit_eater(true) else { return };

    // Retried, as the writer retries a failed batch.
    let second = batch_of(500, 500);
    proxy.armed.store(true, Ordering::SeqCst);
    let err = sink.write(&Batch::new(&origin(), &second)).unwrap_err();
    assert!(proxy.eaten.load(Ordering::SeqCst), "the proxy did not see the COMMIT");
    assert!(err.to_string().contains("administrator command"), "{err}");
    assert_eq!(stored(&direct), (1000, 1000, 999), "the second batch did commit");
    sink.write(&Batch::new(&origin(), &second)).unwrap();
    assert_eq!(stored(&direct), (1000, 1000, 999), "no duplicate");

    // Spooled: a live batch first, then the records again in other batches.
    let third = batch_of(1000, 500);
    proxy.eaten.store(false, Ordering::SeqCst);
    proxy.armed.store(true, Ordering::SeqCst);
    sink.write(&Batch::new(&origin(), &third)).unwrap_err();
    assert!(proxy.eaten.load(Ordering::SeqCst), "the proxy did not see the COMMIT");
    assert_eq!(stored(&direct), (1500, 1500, 1499), "the third batch did commit");
    sink.write(&Batch::new(&origin(), &batch_of(1500, 100))).unwrap();
    let mut replayed = batch_of(1000, 300);
    replayed.extend(batch_of(2000, 50)); // spooled after it: new
    sink.write(&Batch::new(&origin(), &replayed)).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(1300, 200))).unwrap();
    assert_eq!(stored(&direct), (1650, 1650, 2049), "every record once");
}

/// How many rows hold `message`.
fn rows_of(url: &str, message: &str) -> i64 {
    Client::connect(url, NoTls)
        .unwrap()
        .query_one("SELECT count(*) FROM log_records WHERE message = $1", &[&message])
        .unwrap()
        .get(0)
}

/// A writer (a process) whose batch is in doubt when it stops, the batch
/// spooled: the next writer, a new sink started after the records were
/// logged, replays the spool in batches of its own size. Each record is
/// stored once, whether the batch had committed (`committed`) or not.
fn a_batch_in_doubt_outlives_its_writer(committed: bool, query: &str) {
    let Some((direct, proxy, mut first)) = through_commit_eater_with(committed, query) else { return };
    // Two identical records in the batch, and a third one logged after it.
    let mut second = batch_of(500, 500);
    let twin = second[499].clone();
    second.push(twin.clone());
    if committed {
        proxy.armed.store(true, Ordering::SeqCst);
    } else {
        proxy.cut.store(true, Ordering::SeqCst);
    }
    let err = first.write(&Batch::new(&origin(), &second)).unwrap_err();
    assert!(proxy.eaten.load(Ordering::SeqCst), "the proxy did not see the COMMIT");
    assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
    let stored_first = if committed { 1001 } else { 500 };
    assert_eq!(stored(&direct).0, stored_first, "committed: {committed}");
    // The writer stops with the batch spooled; its memory of the doubt goes with it.
    drop(first);

    let mut spool = second.clone();
    spool.push(twin.clone());
    spool.extend(batch_of(1000, 300));
    let mut next = PgSink::connect(&format!("{direct}{query}")).unwrap();
    for replayed in spool.chunks(170) {
        next.write(&Batch::new(&origin(), replayed)).unwrap();
    }
    assert_eq!(stored(&direct), (1302, 1300, 1299), "every record once; committed: {committed}");
    assert_eq!(rows_of(&direct, &twin.message), 3, "three identical records, three rows");
}

#[test]
fn a_committed_batch_in_doubt_that_outlives_its_writer_is_stored_once() {
    a_batch_in_doubt_outlives_its_writer(true, "");
}

#[test]
fn a_rolled_back_batch_in_doubt_that_outlives_its_writer_is_stored_once() {
    a_batch_in_doubt_outlives_its_writer(false, "");
}

#[test]
fn a_committed_batch_in_doubt_that_outlives_its_writer_is_stored_once_in_day_partitions() {
    a_batch_in_doubt_outlives_its_writer(true, "?partition=day");
}

/// Records logged before the sink started but never stored (an ordinary
/// spool left by an earlier process) are stored, each once, also identical
/// ones in separate batches: the look-up matches only rows stored before
/// the sink's first batch, not the sink's own.
#[test]
fn a_replayed_spool_without_doubt_is_stored_whole() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let records = batch_of(0, 1000);
    for replayed in records.chunks(300) {
        sink.write(&Batch::new(&origin(), replayed)).unwrap();
    }
    let twin = &records[..1];
    sink.write(&Batch::new(&origin(), twin)).unwrap();
    sink.write(&Batch::new(&origin(), twin)).unwrap();
    assert_eq!(stored(&url), (1002, 1000, 999));
    assert_eq!(rows_of(&url, &twin[0].message), 3);
}

#[test]
fn a_lost_connection_before_commit_rewrites_the_batch_once() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    sink.write(&Batch::new(&origin(), &batch_of(0, 100))).unwrap();
    // Kill the sink's backend between batches: the next write finds the
    // connection dead, reports Unavailable or reconnects, and stores once.
    let mut admin = Client::connect(&url, NoTls).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND application_name = 'log-panel'",
            &[],
        )
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    let second = batch_of(100, 100);
    let mut attempts = 0;
    while let Err(e) = sink.write(&Batch::new(&origin(), &second)) {
        assert_eq!(e.kind(), SinkErrorKind::Unavailable, "{e}");
        attempts += 1;
        assert!(attempts < 5, "no reconnect after {attempts} attempts: {e}");
    }
    assert_eq!(stored(&url), (200, 200, 199));
}

/// A reader's tally: reads that answered, and reads that failed as the
/// storage being unavailable (any other failure fails the test at once).
#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    unavailable: AtomicU64,
}

impl Tally {
    /// Counts `result`; panics on a failure other than `Unavailable`, or a
    /// read that took longer than any budget allows (a hang, not a slow read).
    fn count<T>(&self, what: &str, started: Instant, result: Result<T, StoreError>) {
        assert!(started.elapsed() < Duration::from_secs(60), "{what} hung for {:?}", started.elapsed());
        match result {
            Ok(_) => self.answered.fetch_add(1, Ordering::SeqCst),
            Err(e) if e.kind() == StoreErrorKind::Unavailable => {
                assert!(!e.to_string().contains('\n'), "{what}: one line: {e}");
                self.unavailable.fetch_add(1, Ordering::SeqCst)
            }
            Err(e) => panic!("{what}: {:?}: {e}", e.kind()),
        };
    }
}

/// The server stopped (as in a crash) while a writer stores batches into a
/// day-partitioned table as fast as it can and readers run the lookups that
/// read the search's days and ids (the request view, a context value's page,
/// a rare word's page, a record by id): every read answers or fails as
/// `Unavailable`, the writer retries each failed batch as the writer thread
/// does, and after the restart every record is stored exactly once, with
/// every id inside its day's range.
#[test]
fn server_stopped_under_a_writer_at_full_rate_and_partitioned_reads() {
    let Some(server) = TestServer::start_stoppable("the outage test under load") else { return };
    let url = server.create_database();
    const BATCHES: i64 = 80;
    const BATCH: i64 = 500;
    // Ten seconds apart: 40 000 records over four and a half days.
    let batch = |b: i64| -> Vec<Record> {
        let mut records = sequence("load", b * BATCH..(b + 1) * BATCH, Timestamp(BASE), 10_000_000);
        for r in &mut records {
            let seq = r.kv.iter().find_map(|(_, v)| if let Value::I64(n) = v { Some(*n) } else { None });
            r.kv.push(("request_id".into(), Value::from(format!("r-{}", seq.unwrap_or(0) / 5))));
        }
        records
    };
    let mut sink = PgSink::connect(&format!("{url}?partition=day")).unwrap();
    sink.write(&Batch::new(&origin(), &batch(0))).unwrap();
    while sink.idle().unwrap() {}
    let store = PgStore::connect(&url).unwrap();
    let written = AtomicU64::new(1);
    let failures = AtomicU64::new(0);
    let writing = AtomicBool::new(true);
    let readers: [Tally; 2] = Default::default();
    let after_restart = AtomicBool::new(false);
    let answered_after: [AtomicU64; 2] = Default::default();
    thread::scope(|s| {
        s.spawn(|| {
            for b in 1..BATCHES {
                let records = batch(b);
                while let Err(e) = sink.write(&Batch::new(&origin(), &records)) {
                    assert_eq!(e.kind(), SinkErrorKind::Unavailable, "{e}");
                    failures.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(20));
                }
                written.fetch_add(1, Ordering::SeqCst);
            }
            writing.store(false, Ordering::SeqCst);
        });
        for (r, tally) in readers.iter().enumerate() {
            let (store, writing, after_restart, answered_after) =
                (&store, &writing, &after_restart, &answered_after[r]);
            s.spawn(move || {
                let mut k = r as i64;
                let started = Instant::now();
                // Bounded: reads that never work again end the loop, and the asserts below fail.
                while (writing.load(Ordering::SeqCst) || answered_after.load(Ordering::SeqCst) == 0)
                    && started.elapsed() < Duration::from_secs(300)
                {
                    k += 7;
                    let request = FieldValue::Text(format!("r-{}", k % 100));
                    let mut by_field = RecordFilter::default();
                    by_field.fields.push(FieldMatch::new("request_id", request.clone()).unwrap());
                    let mut word = RecordFilter::default();
                    word.text = Some(format!("record {}", k % 500));
                    let before = tally.answered.load(Ordering::SeqCst);
                    let t = Instant::now();
                    tally.count("the request view", t, store.related("request_id", &request, 100));
                    let t = Instant::now();
                    tally.count("a context value's page", t, store.records(&by_field, PageAt::Newest, 50));
                    let t = Instant::now();
                    tally.count("a word's page", t, store.records(&word, PageAt::Newest, 50));
                    let t = Instant::now();
                    tally.count("a record by id", t, store.record(1 + k % 400));
                    if after_restart.load(Ordering::SeqCst) && tally.answered.load(Ordering::SeqCst) > before {
                        answered_after.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
            let started = Instant::now();
            while !cond() {
                assert!(started.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
                thread::sleep(Duration::from_millis(10));
            }
        };
        wait_for("batches before the outage", &|| written.load(Ordering::SeqCst) >= 20);
        server.stop_server();
        wait_for("the writer failing", &|| failures.load(Ordering::SeqCst) >= 3);
        wait_for("reads failing", &|| readers.iter().all(|t| t.unavailable.load(Ordering::SeqCst) >= 1));
        server.start_server();
        after_restart.store(true, Ordering::SeqCst);
    });
    eprintln!(
        "outage under load: {} failed writes; reads answered/unavailable {:?}; reconnects {}",
        failures.load(Ordering::SeqCst),
        readers
            .iter()
            .map(|t| (t.answered.load(Ordering::SeqCst), t.unavailable.load(Ordering::SeqCst)))
            .collect::<Vec<_>>(),
        sink.reconnects()
    );
    assert_eq!(written.load(Ordering::SeqCst), BATCHES as u64);
    assert!(answered_after.iter().all(|n| n.load(Ordering::SeqCst) >= 1), "reads work again after the restart");
    let total = BATCHES * BATCH;
    assert_eq!(stored(&url), (total, total, total - 1), "every record exactly once");
    let mut db = Client::connect(&url, NoTls).unwrap();
    let outside: i64 = db
        .query_one(
            "SELECT count(*) FROM log_records r LEFT JOIN log_day_ids d ON d.day = (r.ts AT TIME ZONE 'UTC')::date
             WHERE d.day IS NULL OR r.id NOT BETWEEN d.min_id AND d.max_id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(outside, 0, "every id inside its day's range");
    let days: i64 = db.query_one("SELECT count(*) FROM log_day_ids", &[]).unwrap().get(0);
    assert_eq!(days, 5);
    let last: i64 = db.query_one("SELECT max(id) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(store.record(last).unwrap().unwrap().message, format!("record {}", total - 1));
}
