//! The search mark's bound (`upkeep::search`, docs/schema.md "Search"): the
//! sink's idle steps index beside a `VACUUM` of `log_records`, and the mark
//! never passes an id whose transaction may still commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_postgres::PgMaintenance;
use log_panel_testing::postgres::{client, fresh_sink, TestServer};
use postgres::Client;

fn records(from: usize, n: usize) -> Vec<Record> {
    (from..from + n).map(|i| Record::new(Level::Info, "mark", format!("record {i}"))).collect()
}

/// What `VACUUM` (and so an autovacuum) holds on `log_records` while it
/// runs, in an open transaction of its own connection.
fn vacuum_lock(url: &str) -> Client {
    let mut vacuum = client(url);
    vacuum.batch_execute("BEGIN; LOCK TABLE log_records IN SHARE UPDATE EXCLUSIVE MODE").unwrap();
    vacuum
}

/// (mark, search rows, records, max id).
fn state(db: &mut Client) -> (i64, i64, i64, i64) {
    let row = db
        .query_one(
            "SELECT (SELECT last_id FROM log_search_mark), (SELECT count(*) FROM log_search),
                    (SELECT count(*) FROM log_records), (SELECT coalesce(max(id), 0) FROM log_records)",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// Another session's record, in a transaction left open: it draws its id
/// from the sequence now and holds it until the caller ends the transaction.
fn open_insert(db: &mut Client, message: &str) -> i64 {
    db.batch_execute("BEGIN").unwrap();
    db.query_one(
        "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app)
         VALUES (now(), 20, 'other', $1, 't', 1, 'h', 'other') RETURNING id",
        &[&message],
    )
    .unwrap()
    .get(0)
}

#[test]
fn idle_steps_index_every_record_while_a_vacuum_holds_the_table() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let origin = Origin::new("mark", "h", 1);
    let vacuum = vacuum_lock(&url);
    // Batches are stored beside the vacuum (COPY's lock does not conflict
    // with it); so must the index be, in more than one step.
    for from in [0, 400, 800] {
        sink.write(&Batch::new(&origin, &records(from, 400))).unwrap();
    }
    let mut steps = 0;
    while sink.idle().unwrap() {
        steps += 1;
    }
    let mut db = client(&url);
    let (mark, indexed, count, max) = state(&mut db);
    assert_eq!((indexed, mark), (count, max), "every committed record indexed beside the vacuum");
    assert_eq!(count, 1_200);
    assert!(steps >= 4, "{steps} steps of at most 250 rows");
    drop(vacuum);
}

#[test]
fn the_mark_stays_below_an_open_transactions_id_until_it_commits_or_aborts() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let origin = Origin::new("mark", "h", 1);
    let mut db = client(&url);
    // A vacuum runs throughout, as one may at any moment.
    let _vacuum = vacuum_lock(&url);
    sink.write(&Batch::new(&origin, &records(0, 100))).unwrap();
    while sink.idle().unwrap() {}
    assert_eq!(state(&mut db), (100, 100, 100, 100));

    // Another session draws id 101 and has not committed; the sink stores
    // 102..=201 after it, committed.
    let mut other = client(&url);
    let late = open_insert(&mut other, "late writer");
    assert_eq!(late, 101);
    sink.write(&Batch::new(&origin, &records(100, 100))).unwrap();
    while sink.idle().unwrap() {}
    let (mark, indexed, _, max) = state(&mut db);
    assert_eq!((mark, indexed, max), (100, 100, 201), "the mark stays below the open transaction's id");

    // Once it commits, its row and those after it are indexed.
    other.batch_execute("COMMIT").unwrap();
    while sink.idle().unwrap() {}
    assert_eq!(state(&mut db), (201, 201, 201, 201));
    let found: i64 = db
        .query_one("SELECT count(*) FROM log_search WHERE id = $1 AND message = 'late writer'", &[&late])
        .unwrap()
        .get(0);
    assert_eq!(found, 1, "the late record is in the index");

    // A transaction that aborts leaves a gap the mark passes.
    let gap = open_insert(&mut other, "never stored");
    sink.write(&Batch::new(&origin, &records(200, 100))).unwrap();
    while sink.idle().unwrap() {}
    assert_eq!(state(&mut db).0, 201, "below the open id {gap}");
    other.batch_execute("ROLLBACK").unwrap();
    while sink.idle().unwrap() {}
    let (mark, indexed, count, max) = state(&mut db);
    // 100 + the late record + 100 + 100: the aborted one is not there.
    assert_eq!((mark, indexed, count), (max, 301, 301), "the mark passed the gap at {gap}");
    assert!(mark > gap);
}

/// The explicit catch-up indexes beside a vacuum too, and waits (without a
/// lock) for a transaction that holds a lower id: on return every record
/// committed before it started is indexed, also the one committed meanwhile.
#[test]
fn the_catch_up_runs_beside_a_vacuum_and_waits_for_an_open_lower_id() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let origin = Origin::new("mark", "h", 1);
    // The old catch-up waited for a lock the vacuum holds: fail instead of hanging.
    client(&url)
        .batch_execute(&format!("ALTER DATABASE {} SET lock_timeout = '5s'", url.rsplit('/').next().unwrap()))
        .unwrap();
    let _vacuum = vacuum_lock(&url);
    sink.write(&Batch::new(&origin, &records(0, 500))).unwrap();
    PgMaintenance::connect(&url).unwrap().catch_up_search().unwrap();
    let mut db = client(&url);
    assert_eq!(state(&mut db), (500, 500, 500, 500));

    let mut other = client(&url);
    let late = open_insert(&mut other, "late writer");
    sink.write(&Batch::new(&origin, &records(500, 3_000))).unwrap();
    let maintenance = PgMaintenance::connect(&format!("{url}?application_name=lp-catch-up")).unwrap();
    let catch_up = std::thread::spawn(move || maintenance.catch_up_search().unwrap());
    // Once the catch-up has looked at the bound (and found id `late` open), end that transaction.
    loop {
        let looked: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = 'lp-catch-up' AND query LIKE '%log_search_mark FOR UPDATE%'",
                &[],
            )
            .unwrap()
            .get(0);
        if looked > 0 {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(state(&mut db).0, 500, "the mark waits below {late}");
    other.batch_execute("COMMIT").unwrap();
    catch_up.join().unwrap();
    assert_eq!(state(&mut db), (3_501, 3_501, 3_501, 3_501));
}

/// A writer role with just the grants docs/schema.md lists indexes while
/// idle: the step's `ACCESS SHARE` needs `SELECT` (the old `SHARE` needed
/// `UPDATE` on `log_records`), and it fills `log_search_num` too.
#[test]
fn a_writer_role_with_the_documented_grants_indexes_while_idle() {
    let Some(server) = TestServer::shared_own("the writer role test needs an own server (pg_hba.conf)") else {
        return;
    };
    let url = server.create_database();
    let dbname = url.rsplit('/').next().unwrap().to_owned();
    drop(log_panel_postgres::PgSink::connect(&url).unwrap()); // the owner migrates
    let role = server.create_password_role("Wr1ter-Only");
    client(&url)
        .batch_execute(&format!(
            "GRANT SELECT, INSERT ON log_records, log_levels, log_panel_schema TO {role};
             GRANT SELECT, INSERT, UPDATE ON log_panel_writers TO {role};
             GRANT SELECT, INSERT, UPDATE ON log_logger_stats, log_logger_hourly, log_logger_quarter, log_site_hourly,
                                             log_site_daily TO {role};
             GRANT SELECT, INSERT ON log_search, log_search_num TO {role};
             GRANT SELECT, UPDATE ON log_search_mark TO {role};"
        ))
        .unwrap();
    let mut sink = log_panel_postgres::PgSink::connect(&server.url_with_login(&dbname, &role, "Wr1ter-Only")).unwrap();
    let mut batch = records(0, 300);
    for r in &mut batch {
        r.kv.push(("status".into(), log_panel_core::Value::I64(200)));
    }
    sink.write(&Batch::new(&Origin::new("mark", "h", 1), &batch)).unwrap();
    while sink.idle().unwrap() {}
    let mut db = client(&url);
    assert_eq!(state(&mut db), (300, 300, 300, 300));
    let numbers: i64 = db.query_one("SELECT count(*) FROM log_search_num", &[]).unwrap().get(0);
    assert_eq!(numbers, 300);
}

/// The name of `log_records`' id sequence, as `ALTER SEQUENCE` takes it.
fn id_sequence(db: &mut Client) -> String {
    db.query_one("SELECT pg_get_serial_sequence('log_records', 'id')", &[]).unwrap().get(0)
}

/// The messages of the records a search for `text` finds through the store.
fn search(url: &str, text: &str) -> Vec<String> {
    use log_panel_query::{PageAt, RecordFilter, Store};
    let store = log_panel_postgres::PgStore::connect(url).unwrap();
    let mut filter = RecordFilter::default();
    filter.text = Some(text.to_owned());
    let mut found: Vec<String> =
        store.records(&filter, PageAt::Newest, 1_000).unwrap().records.into_iter().map(|r| r.message).collect();
    found.sort();
    found
}

/// Records of one writer, named so a search tells them apart.
fn named(who: &str, from: usize, n: usize) -> Vec<Record> {
    (from..from + n).map(|i| Record::new(Level::Info, "mark", format!("{who} {i}"))).collect()
}

/// A sequence that caches ids (`CACHE 20`) with two writers: each session
/// hands out ids from its own block of 20, so a row commits below ids
/// another session committed earlier, in a transaction that began after
/// them. The step must not move the mark then, and must say so (before:
/// `idle` returned `Ok(false)`, the catch-up `Ok`, and the index stood
/// still unsaid). After `ALTER SEQUENCE … CACHE 1` every session drops its
/// cached ids, and the index moves on.
#[test]
fn a_sequence_that_caches_ids_stops_the_index_with_an_error_naming_the_fix() {
    let Some((url, mut a)) = fresh_sink() else { return };
    let origin = Origin::new("mark", "h", 1);
    let mut b = log_panel_postgres::PgSink::connect(&url).unwrap();
    let mut db = client(&url);
    let seq = id_sequence(&mut db);
    a.write(&Batch::new(&origin, &named("first", 0, 10))).unwrap();
    while a.idle().unwrap() {}
    assert_eq!(state(&mut db), (10, 10, 10, 10));

    db.batch_execute(&format!("ALTER SEQUENCE {seq} CACHE 20")).unwrap();
    a.write(&Batch::new(&origin, &named("cached a", 0, 5))).unwrap(); // ids 11..=15; a holds 16..=30
    b.write(&Batch::new(&origin, &named("cached b", 0, 5))).unwrap(); // ids 31..=35; b holds 36..=50
    let err = a.idle().expect_err("a caching sequence stops the index, and says so").to_string();
    assert!(err.contains(&seq) && err.contains("caches 20 ids"), "{err}");
    assert!(err.contains(&format!("ALTER SEQUENCE {seq} CACHE 1")), "the fix: {err}");
    assert!(err.contains("stays at id 10"), "{err}");
    let catch_up = PgMaintenance::connect(&url).unwrap().catch_up_search().expect_err("the catch-up says so too");
    assert!(catch_up.to_string().contains(&format!("ALTER SEQUENCE {seq} CACHE 1")), "{catch_up}");

    // No transaction is open now, and 35 is the highest id: the lock bound
    // alone would move the mark there. But a still holds 16..=30.
    a.write(&Batch::new(&origin, &named("cached a", 5, 5))).unwrap();
    let ids = |db: &mut Client, like: &str| -> Vec<i64> {
        db.query("SELECT id FROM log_records WHERE message LIKE $1 ORDER BY id", &[&like])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    assert_eq!(ids(&mut db, "cached a%"), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20], "below b's 31..=35");
    assert!(a.idle().is_err());
    assert_eq!(state(&mut db).0, 10, "the mark stays");
    assert_eq!(search(&url, "cached").len(), 15, "searches stay complete: they scan the rows above the mark");
    // Only the writer sees the error; a reader sees the stuck mark as a lag
    // (ids 11..=20 and 31..=35 counted, not the 25 ids of the span).
    let lag = log_panel_query::Store::index_lag(&log_panel_postgres::PgStore::connect(&url).unwrap()).unwrap();
    assert_eq!(lag.search, log_panel_query::Behind::counted(15));

    // The fix: every session drops the ids it cached at its next draw.
    db.batch_execute(&format!("ALTER SEQUENCE {seq} CACHE 1")).unwrap();
    b.write(&Batch::new(&origin, &named("after b", 0, 5))).unwrap();
    a.write(&Batch::new(&origin, &named("after a", 0, 5))).unwrap();
    assert_eq!(ids(&mut db, "after b%"), [51, 52, 53, 54, 55], "b's cached 36..=50 are gone");
    assert_eq!(ids(&mut db, "after a%"), [56, 57, 58, 59, 60]);
    while a.idle().unwrap() {}
    assert_eq!(state(&mut db), (60, 35, 35, 60), "every record indexed");
    assert_eq!(search(&url, "cached").len(), 15);
}

/// While a bound waits for another session's transaction (another
/// process's batch in flight), the idle step asks to be called again soon
/// (before: at the next batch of its own, or a minute later), and backs off
/// while it still waits; once the transaction has ended, the next step
/// indexes up to it and asks for nothing.
#[test]
fn a_bound_waiting_for_another_sessions_batch_asks_for_an_early_recheck() {
    use std::time::Duration;
    let Some((url, mut sink)) = fresh_sink() else { return };
    let origin = Origin::new("mark", "h", 1);
    sink.write(&Batch::new(&origin, &records(0, 100))).unwrap();
    while sink.idle().unwrap() {}
    assert_eq!(sink.idle_soon(), None, "nothing waits");

    let mut other = client(&url);
    open_insert(&mut other, "other process");
    sink.write(&Batch::new(&origin, &records(100, 100))).unwrap();
    assert!(!sink.idle().unwrap());
    assert_eq!(sink.idle_soon(), Some(Duration::from_millis(20)), "look again soon");
    assert!(!sink.idle().unwrap());
    assert_eq!(sink.idle_soon(), Some(Duration::from_millis(40)), "doubling while it waits");
    for _ in 0..10 {
        assert!(!sink.idle().unwrap());
    }
    assert_eq!(sink.idle_soon(), Some(Duration::from_secs(1)), "at most a second apart");
    let mut db = client(&url);
    assert_eq!(state(&mut db).0, 100);

    other.batch_execute("COMMIT").unwrap();
    while sink.idle().unwrap() {}
    assert_eq!(state(&mut db), (201, 201, 201, 201));
    assert_eq!(sink.idle_soon(), None);
}

/// `Store::index_lag`: the records above the search mark, counted up to the
/// cap and beyond it the span of ids; one mark serves text and context-key
/// filters alike, and the note of a search says how far it is behind.
#[test]
fn the_store_says_how_far_the_search_mark_is_behind() {
    use log_panel_query::{index_note, Behind, IndexLag, RecordFilter, Store};
    let Some((url, mut sink)) = fresh_sink() else { return };
    let store = log_panel_postgres::PgStore::connect(&url).unwrap();
    let origin = Origin::new("mark", "h", 1);
    assert_eq!(store.index_lag().unwrap(), IndexLag::default(), "an empty database");
    sink.write(&Batch::new(&origin, &records(0, 1_500))).unwrap();
    // One step indexes 250 rows: 1 250 above the mark, past the count's cap.
    assert!(sink.idle().unwrap());
    let mut db = client(&url);
    let (mark, _, _, max) = state(&mut db);
    assert_eq!((mark, max), (250, 1_500));
    let lag = store.index_lag().unwrap();
    assert_eq!((lag.search.records, lag.search.exact), (1_250, false));
    assert_eq!(lag.context, lag.search);
    // Two more steps: 750 above it, counted.
    assert!(sink.idle().unwrap() && sink.idle().unwrap());
    let lag = store.index_lag().unwrap();
    assert_eq!(lag, IndexLag::new(Behind::counted(750), Behind::counted(750)));
    let mut search = RecordFilter::default();
    search.text = Some("record".into());
    assert_eq!(
        index_note(&store, &search).line(),
        Some("search index 750 records behind: the newest 750 records are scanned (results stay complete)")
    );
    assert_eq!(
        lag.summary().as_deref(),
        Some(
            "search and context-key index 750 records behind: the newest 750 records are scanned \
             (results stay complete)"
        )
    );
    while sink.idle().unwrap() {}
    assert_eq!(store.index_lag().unwrap(), IndexLag::default(), "caught up");
    assert_eq!(index_note(&store, &search).line(), None);
}

/// What a reader sees while another session of the database has connected
/// and run no statement (its statement start is unknown, so the bound reads
/// `pg_locks`), and while one sits in a transaction that drew no id (a
/// reader's query, an autovacuum worker): the note of a search says how far
/// the mark is behind until the idle steps ran, and nothing after. Such
/// sessions make the bound read the lock table; they do not hold the mark.
#[test]
fn a_silent_session_or_a_transaction_without_an_id_does_not_keep_the_readers_note() {
    use log_panel_query::{index_note, RecordFilter};
    let Some((url, mut sink)) = fresh_sink() else { return };
    let store = log_panel_postgres::PgStore::connect(&url).unwrap();
    let silent = client(&url);
    let mut reading = client(&url);
    reading.batch_execute("BEGIN; SELECT count(*) FROM log_records").unwrap();
    let mut db = client(&url);
    let no_statement: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND backend_type = 'client backend' AND query_start IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(no_statement >= 1, "a session that ran no statement");
    sink.write(&Batch::new(&Origin::new("mark", "h", 1), &records(0, 600))).unwrap();
    let mut search = RecordFilter::default();
    search.text = Some("record".into());
    assert_eq!(
        index_note(&store, &search).line(),
        Some("search index 600 records behind: the newest 600 records are scanned (results stay complete)")
    );
    while sink.idle().unwrap() {}
    assert_eq!(state(&mut db).0, 600, "the mark moved past both sessions");
    assert_eq!(index_note(&store, &search).line(), None, "nothing is said once the steps ran");
    reading.batch_execute("COMMIT").unwrap();
    drop(silent);
}
