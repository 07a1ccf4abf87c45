//! The sink's file under load and under attack: the WAL stays within its
//! documented bound while batches arrive back to back (alone, and with a
//! reader in a loop of short read transactions), and a database file deleted
//! under the running sink is recreated at its path with every later record
//! in it (docs/reliability.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Origin, Record, Sink, SinkErrorKind};
use log_panel_sqlite::{SqliteSink, SqliteStore, INDEX_LAG_BOUND};
use rusqlite::Connection;

use log_panel_testing::records::{app_batch as batch, APP_BATCH as BATCH};

/// The bound docs/performance.md promises for the `-wal` file: the restart
/// threshold (32 MiB) plus the pages of one transaction past it.
const WAL_BOUND: u64 = 48 << 20;
/// With readers that keep old frames past the writer's short wait: twice the
/// threshold, one transaction, and what commits while the readers finish.
const SLOW_READER_WAL_BOUND: u64 = 96 << 20;
/// Enough batches to write the bound over several times (about 2 KiB of
/// WAL per record at this shape), bounded in count whatever the machine's speed.
const BATCHES: usize = 300;

fn origin() -> Origin {
    Origin::new("test", "h", 1)
}

fn wal_len(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map(|m| m.len()).unwrap_or(0)
}

fn count(db: &Path) -> i64 {
    let conn = Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap()
}

/// Writes `BATCHES` batches back to back (the writer's full rate) into
/// `db`, sampling the size of the `-wal` file next to `file` (`db` itself,
/// or the file a link at `db` points to) after every commit and once the sink
/// is closed; returns the largest size seen.
fn write_all_sampling_wal(db: &Path, file: &Path) -> u64 {
    let mut sink = SqliteSink::open(db).unwrap();
    let origin = origin();
    let mut max = 0;
    for n in 0..BATCHES {
        sink.write(&Batch::new(&origin, &batch(n))).unwrap();
        max = max.max(wal_len(file));
    }
    drop(sink);
    max.max(wal_len(file))
}

#[test]
fn the_wal_stays_bounded_under_sustained_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    let max = write_all_sampling_wal(&db, &db);
    eprintln!("largest -wal file: {} KiB", max >> 10);
    assert!(max <= WAL_BOUND, "the -wal file reached {} MiB (bound {} MiB)", max >> 20, WAL_BOUND >> 20);
    assert_eq!(count(&db), (BATCHES * BATCH) as i64);
}

/// SQLite keeps the WAL next to the file a symbolic link points to; the
/// bound holds there too.
#[cfg(unix)]
#[test]
fn the_wal_stays_bounded_through_a_symbolic_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("data/logs.db");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::File::create(&real).unwrap();
    let link = dir.path().join("logs.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let max = write_all_sampling_wal(&link, &real);
    assert!(max > 0, "the WAL is next to the link's target");
    assert!(max <= WAL_BOUND, "the -wal file reached {} MiB (bound {} MiB)", max >> 20, WAL_BOUND >> 20);
    assert_eq!(count(&link), (BATCHES * BATCH) as i64);
}

/// A reader in a loop of short read transactions (the panel's queries) must
/// not keep the WAL from restarting.
#[test]
fn the_wal_stays_bounded_with_a_reader_in_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    drop(SqliteSink::open(&db).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (db, stop, reads) = (db.clone(), Arc::clone(&stop), Arc::clone(&reads));
        std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let deadline = Instant::now() + Duration::from_secs(600);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                // Two statements in one read transaction: one snapshot held
                // across them, as a page's count and rows are read.
                conn.execute_batch("BEGIN").unwrap();
                let newest: Option<i64> = conn.query_row("SELECT max(id) FROM log_records", [], |r| r.get(0)).unwrap();
                let _: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM log_records WHERE id > ?1 AND level >= 30",
                        [newest.unwrap_or(0) - 500],
                        |r| r.get(0),
                    )
                    .unwrap();
                conn.execute_batch("COMMIT").unwrap();
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let max = write_all_sampling_wal(&db, &db);
    eprintln!("largest -wal file: {} KiB", max >> 10);
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(reads.load(Ordering::Relaxed) > 0, "the reader read");
    assert!(max <= WAL_BOUND, "the -wal file reached {} MiB (bound {} MiB)", max >> 20, WAL_BOUND >> 20);
    assert_eq!(count(&db), (BATCHES * BATCH) as i64);
}

/// Two readers whose read transactions each last longer than the writer's
/// short wait, overlapping so that one of them always holds a snapshot (a
/// panel under load): the writer waits for them longer once the WAL is past
/// twice its threshold, so the WAL stays bounded.
#[test]
fn the_wal_stays_bounded_with_overlapping_slow_readers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    drop(SqliteSink::open(&db).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2u64)
        .map(|n| {
            let (db, stop, reads) = (db.clone(), Arc::clone(&stop), Arc::clone(&reads));
            std::thread::spawn(move || {
                let conn = Connection::open(&db).unwrap();
                conn.busy_timeout(Duration::from_secs(5)).unwrap();
                std::thread::sleep(Duration::from_millis(75 * n));
                let deadline = Instant::now() + Duration::from_secs(600);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    conn.execute_batch("BEGIN").unwrap();
                    let _: Option<i64> = conn.query_row("SELECT max(id) FROM log_records", [], |r| r.get(0)).unwrap();
                    // Holds the snapshot: longer than the 100 ms short wait.
                    std::thread::sleep(Duration::from_millis(150));
                    conn.execute_batch("COMMIT").unwrap();
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let max = write_all_sampling_wal(&db, &db);
    eprintln!("largest -wal file: {} KiB", max >> 10);
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0, "the readers read");
    assert!(
        max <= SLOW_READER_WAL_BOUND,
        "the -wal file reached {} MiB (bound {} MiB)",
        max >> 20,
        SLOW_READER_WAL_BOUND >> 20
    );
    assert_eq!(count(&db), (BATCHES * BATCH) as i64);
}

/// Writes `batch` as the writer does: retried while the sink reports the
/// storage unavailable (bounded), never on another kind of error.
/// Batches at a steady rate with one idle step after each (what the writer
/// does when its queue empties between batches): once past the bound, each
/// step brings the records the indexes have not covered back within
/// `INDEX_LAG_BOUND`, however long indexing takes on this machine, and no
/// search or context lookup scans more than that plus one batch.
#[test]
fn one_idle_step_per_batch_keeps_the_index_lag_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&db).unwrap();
    let store = SqliteStore::open(&db).unwrap();
    let origin = origin();
    let bound = INDEX_LAG_BOUND as u64;
    // A burst first, with no idle step (a saturated writer): past the bound.
    let burst = INDEX_LAG_BOUND / BATCH + 1;
    for n in 0..burst {
        sink.write(&Batch::new(&origin, &batch(n))).unwrap();
    }
    assert_eq!(store.unindexed().unwrap(), (burst * BATCH) as u64);
    sink.idle().unwrap();
    assert!(store.unindexed().unwrap() <= bound, "one step after the burst");
    for n in burst..burst + 12 {
        sink.write(&Batch::new(&origin, &batch(n))).unwrap();
        let before = store.unindexed().unwrap();
        assert!(before <= bound + BATCH as u64, "batch {n}: {before} records unindexed after it was written");
        sink.idle().unwrap();
        let after = store.unindexed().unwrap();
        assert!(after <= bound, "batch {n}: {after} records unindexed after one idle step");
        assert!(after < before, "batch {n}: the step indexed nothing");
    }
    while sink.idle().unwrap() {}
    assert_eq!(store.unindexed().unwrap(), 0);
}

/// An idle step indexes its rows in one statement per index: FTS5 writes a
/// new segment at the end of every statement that changes it, so a step in
/// chunks of 100 rows left segments to merge and indexed at about 0.6 times
/// the rate (docs/performance.md, "SQLite: one statement an indexing step").
#[test]
fn an_idle_step_writes_one_search_segment_and_every_context_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&db).unwrap();
    let origin = origin();
    // Twice the bound unindexed: the step must index the excess, 2 000 rows.
    for n in 0..2 * INDEX_LAG_BOUND / BATCH {
        sink.write(&Batch::new(&origin, &batch(n))).unwrap();
    }
    sink.idle().unwrap();
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.unindexed().unwrap(), INDEX_LAG_BOUND as u64, "the step indexed the excess");
    let conn = Connection::open(&db).unwrap();
    let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(one("SELECT count(DISTINCT segid) FROM log_records_fts_idx"), 1, "FTS5 segments after one step");
    // The index answers for exactly the rows below its mark, as a scan does
    // (a term of one trigram: its candidates are its matches).
    assert_eq!(one("SELECT indexed_id FROM log_fts_state"), one("SELECT indexed_id FROM log_context_all"));
    let mark = one("SELECT indexed_id FROM log_fts_state");
    let found: i64 = conn
        .query_row("SELECT count(*) FROM log_records_fts WHERE log_records_fts MATCH '\"t 1\"'", [], |r| r.get(0))
        .unwrap();
    let by_hand: i64 = conn
        .query_row("SELECT count(*) FROM log_records WHERE id <= ?1 AND instr(message, 't 1') > 0", [mark], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(by_hand > 100, "{by_hand}");
    assert_eq!(found, by_hand);
    // Every top-level key of every indexed record, counted by hand.
    let entries = one("SELECT count(*) FROM log_context_index");
    let by_hand: i64 = conn
        .query_row("SELECT count(*) FROM log_records AS r, json_each(r.context) AS j WHERE r.id <= ?1", [mark], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(entries, by_hand);
    assert_eq!(entries, 3 * INDEX_LAG_BOUND as i64, "three keys a record");
}

fn write_retrying(sink: &mut SqliteSink, records: &[Record]) {
    let origin = origin();
    for _ in 0..50 {
        match sink.write(&Batch::new(&origin, records)) {
            Ok(()) => return,
            Err(e) => {
                assert_eq!(e.kind(), SinkErrorKind::Unavailable, "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    panic!("the batch was never written");
}

/// Deletes the database file (and, with `with_wal`, its `-wal` and `-shm`)
/// under a sink that has written to it, writes on, and checks that every
/// record written after the deletion is in the file now at the path.
fn delete_under_the_sink(with_wal: bool, reader_open: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&db).unwrap();
    for n in 0..5 {
        write_retrying(&mut sink, &batch(n));
    }
    // A reader holding a connection to the old file, as the panel's pool does.
    let reader = reader_open.then(|| Connection::open(&db).unwrap());
    if let Some(r) = &reader {
        let n: i64 = r.query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 5_000);
    }
    std::fs::remove_file(&db).unwrap();
    if with_wal {
        for suffix in ["-wal", "-shm"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    for n in 5..25 {
        write_retrying(&mut sink, &batch(n));
    }
    assert_eq!(count(&db), 20_000, "every record written after the deletion is in the file at the path");
    // The records are there for a reader that opens the path, and still
    // after the sink is gone (nothing left only in a WAL of the old file).
    drop(sink);
    assert_eq!(count(&db), 20_000);
    if let Some(r) = reader {
        // The old connection reads the deleted file, unharmed.
        let n: i64 = r.query_row("SELECT count(*) FROM log_records", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 5_000);
    }
}

#[test]
fn a_database_file_deleted_under_the_sink_is_recreated() {
    delete_under_the_sink(false, false);
}

#[test]
fn a_database_file_deleted_with_its_wal_under_the_sink_is_recreated() {
    delete_under_the_sink(true, false);
}

#[test]
fn a_database_file_deleted_while_a_reader_holds_it_is_recreated() {
    delete_under_the_sink(false, true);
}

/// A file moved away (not deleted) keeps what was committed to it; the sink
/// writes on into a new file at the path.
#[test]
fn a_database_file_moved_away_keeps_its_records_and_the_sink_writes_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    let moved = dir.path().join("moved.db");
    let mut sink = SqliteSink::open(&db).unwrap();
    for n in 0..5 {
        write_retrying(&mut sink, &batch(n));
    }
    std::fs::rename(&db, &moved).unwrap();
    for n in 5..10 {
        write_retrying(&mut sink, &batch(n));
    }
    drop(sink);
    assert_eq!(count(&db), 5_000);
    assert_eq!(count(&moved), 5_000, "the moved file keeps every record committed to it");
}
