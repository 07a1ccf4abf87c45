//! Nothing lost: storage failures, panicking sinks, bad records, a locked
//! database, shutdown with storage down and replay by a new process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use common::TempDb;
use log_panel_testing::Shared;

fn seqs(shared: &Shared) -> Vec<i64> {
    shared
        .stored
        .lock()
        .unwrap()
        .iter()
        // Drop summaries (logger `log_panel`) carry no seq.
        .filter(|r| r.logger != "log_panel")
        .map(|r| match r.kv.iter().find(|(k, _)| k == "seq") {
            Some((_, log_panel::Value::I64(n))) => *n,
            other => panic!("no seq: {other:?}"),
        })
        .collect()
}

#[test]
fn sink_failing_n_times_then_succeeding_stores_all_once() {
    let shared = Shared::default();
    shared.script.lock().unwrap().fail_first = 5;
    let panel = log_panel::builder().sink(shared.sink()).batch_size(100).build().unwrap();
    for seq in 0..1000 {
        log::info!(logger: panel, seq = seq; "r");
    }
    panel.flush().unwrap();
    assert_eq!(seqs(&shared), (0..1000).collect::<Vec<_>>(), "all stored, once, in order");
    let stats = panel.stats();
    assert_eq!(stats.written, 1000);
    assert_eq!(stats.failed_attempts, 5);
    assert!(stats.retried_batches >= 1);
    assert!(stats.last_error.unwrap().0.contains("scripted outage"));
}

#[test]
fn sink_panicking_on_a_batch_stores_all() {
    let shared = Shared::default();
    shared.script.lock().unwrap().panic_on = [3, 4].into_iter().collect();
    let panel = log_panel::builder().sink(shared.sink()).batch_size(50).build().unwrap();
    for seq in 0..500 {
        log::info!(logger: panel, seq = seq; "r");
    }
    drop(panel);
    assert_eq!(seqs(&shared), (0..500).collect::<Vec<_>>());
}

#[test]
fn one_rejected_record_is_quarantined_and_the_rest_stored() {
    let db = TempDb::new();
    let spool = db.dir.path().join("spool");
    let shared = Shared::default();
    shared.reject(|r| r.message.contains("poison"));
    let panel = log_panel::builder().sink(shared.sink()).spool_dir(&spool).batch_size(64).build().unwrap();
    for seq in 0..64 {
        if seq == 37 {
            log::info!(logger: panel, seq = seq; "poison pill");
        } else {
            log::info!(logger: panel, seq = seq; "fine");
        }
    }
    panel.flush().unwrap();
    let stored = seqs(&shared);
    assert_eq!(stored, (0..64).filter(|s| *s != 37).collect::<Vec<_>>());
    assert_eq!(panel.stats().quarantined, 1);
    let quarantine = std::fs::read_to_string(spool.join("quarantine.jsonl")).unwrap();
    assert_eq!(quarantine.lines().count(), 1);
    let entry: serde_json::Value = serde_json::from_str(quarantine.trim()).unwrap();
    assert_eq!(entry["record"]["message"], "poison pill");
    assert!(entry["reason"].as_str().unwrap().contains("scripted rejection"));
}

#[test]
fn a_record_with_nul_is_stored_sanitised_and_the_batch_intact() {
    let shared = Shared::default();
    shared.reject(|r| r.message.contains('\0'));
    let panel = log_panel::builder().sink(shared.sink()).build().unwrap();
    log::info!(logger: panel, "before");
    log::info!(logger: panel, "nul \0 inside");
    log::info!(logger: panel, "after");
    panel.flush().unwrap();
    assert_eq!(shared.stored_messages(), ["before", "nul \u{FFFD} inside", "after"]);
    assert_eq!(panel.stats().sanitised, 1);
    assert_eq!(panel.stats().quarantined, 0);
}

#[test]
fn sqlite_locked_by_another_writer_for_three_seconds_stores_all() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).batch_size(100).queue_capacity(64).build().unwrap();
    log::info!(logger: panel, seq = -1; "creates the schema first");
    panel.flush().unwrap();
    let locker = std::thread::spawn({
        let path = db.path.clone();
        move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO log_levels VALUES (99, 'HOLD');").unwrap();
            std::thread::sleep(Duration::from_secs(3));
            conn.execute_batch("ROLLBACK").unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(200)); // let the locker take the lock
                                                    // Under `block`, a caller waits only while the queue is full; the writer
                                                    // keeps draining it into memory (and the spool) while it retries, so the
                                                    // worst wait is bounded by one short attempt (SQLite's 100 ms write busy
                                                    // timeout), not by the 3 s lock. The bound leaves room for a loaded machine.
    let mut worst = Duration::ZERO;
    for seq in 0..2000 {
        let t = std::time::Instant::now();
        log::info!(logger: panel, seq = seq; "during the lock");
        worst = worst.max(t.elapsed());
    }
    assert!(!locker.is_finished(), "the records were logged while the lock was held");
    assert!(worst < Duration::from_millis(1000), "a caller waited {worst:?} (before: up to 4.9 s)");
    locker.join().unwrap();
    drop(panel);
    assert_eq!(db.count("1"), 2001);
    assert_eq!(
        db.conn()
            .query_row("SELECT count(DISTINCT json_extract(context, '$.seq')) FROM log_records", [], |r| r
                .get::<_, i64>(0))
            .unwrap(),
        2001
    );
}

#[test]
fn long_outage_spills_to_the_spool_and_replays_when_storage_returns() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    let panel = thousand_records_while_down(&shared, dir.path(), Duration::from_millis(50));
    // Storage is down: the flush cannot complete, and the records go to the spool.
    let report = panel.flush_timeout(Duration::from_millis(1500)).unwrap();
    assert!(!report.complete);
    assert_eq!(report.written, 0);
    assert!(panel.stats().spilled > 0, "{:?}", panel.stats());
    shared.set_down(false);
    panel.flush().unwrap();
    assert_eq!(seqs(&shared), (0..1000).collect::<Vec<_>>(), "replayed in order, once");
    let stats = panel.stats();
    assert_eq!(stats.written, 1000);
    assert_eq!(stats.replayed, stats.spilled);
    assert_eq!(stats.in_spool, 0);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "spool files removed after replay: {left:?}");
}

/// Run by `shutdown_with_storage_down_spools_and_a_new_process_replays` in a
/// child process: replays the spool into SQLite and exits.
#[test]
fn replay_child() {
    let (Ok(spool), Ok(db)) = (std::env::var("REPLAY_SPOOL"), std::env::var("REPLAY_DB")) else { return };
    let panel = log_panel::builder().database(db).spool_dir(spool).build().unwrap();
    log::info!(logger: panel, seq = 1_000_000; "new record of the new process");
    drop(panel);
}

#[test]
fn shutdown_with_storage_down_spools_and_a_new_process_replays() {
    let db = TempDb::new();
    let spool = db.dir.path().join("spool");
    let shared = Shared::default();
    shared.set_down(true);
    let panel = log_panel::builder().sink(shared.sink()).spool_dir(&spool).batch_size(100).build().unwrap();
    for seq in 0..2500 {
        log::info!(logger: panel, seq = seq; "logged while storage is down");
    }
    let report = panel.shutdown_timeout(Duration::from_millis(300));
    let figures = (report.complete, report.written, report.pending, report.spilled, report.dropped);
    assert_eq!(figures, (true, 0, 0, 2500, 0));
    assert!(shared.stored.lock().unwrap().is_empty());

    // A new process replays the spool before its own records.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "faults::replay_child", "--nocapture", "--test-threads=1"])
        .env("REPLAY_SPOOL", &spool)
        .env("REPLAY_DB", &db.path)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(db.count("1"), 2501);
    let conn = db.conn();
    let (distinct, min, max): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(DISTINCT json_extract(context, '$.seq')), min(json_extract(context, '$.seq')),
                    max(json_extract(context, '$.seq')) FROM log_records WHERE pid != ?1",
            [std::process::id()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or((0, 0, 0));
    // The replayed rows keep this process's pid; only the child's own record has the child's pid.
    assert_eq!((distinct, min, max), (1, 1_000_000, 1_000_000));
    let replayed: i64 = conn
        .query_row(
            "SELECT count(DISTINCT json_extract(context, '$.seq')) FROM log_records WHERE pid = ?1",
            [std::process::id()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(replayed, 2500);
    // Replayed batches and the new record are stored in turn; every row keeps
    // the time it was logged, so readers (by time) see the new record last.
    let newest: i64 = conn
        .query_row(
            "SELECT json_extract(context, '$.seq') FROM log_records ORDER BY ts DESC, id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(newest, 1_000_000);
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
}

#[test]
fn without_spool_a_shutdown_with_storage_down_reports_the_loss() {
    let shared = Shared::default();
    shared.set_down(true);
    let panel = log_panel::builder().sink(shared.sink()).without_spool().build().unwrap();
    for seq in 0..10 {
        log::info!(logger: panel, seq = seq; "r");
    }
    let report = panel.shutdown_timeout(Duration::from_millis(200));
    assert_eq!((report.written, report.spilled, report.dropped), (0, 0, 10));
    assert_eq!(panel.stats().lost, 10);
}

/// Waits (up to `common::WAIT`) until `cond` holds on the panel's stats.
fn wait_for(panel: &log_panel::Pipeline, what: &str, cond: impl Fn(&log_panel::Stats) -> bool) {
    let start = std::time::Instant::now();
    while !cond(&panel.stats()) {
        assert!(start.elapsed() < common::WAIT, "timed out waiting for {what}: {:?}", panel.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn duplicates(seqs: &[i64]) -> usize {
    let distinct: std::collections::HashSet<_> = seqs.iter().collect();
    seqs.len() - distinct.len()
}

/// A panel over `shared`'s sink, taken down first, that has logged records
/// `seq` 0..1000 and spools them once storage has failed for `spool_after`.
fn thousand_records_while_down(shared: &Shared, spool: &std::path::Path, spool_after: Duration) -> log_panel::Pipeline {
    shared.set_down(true);
    let panel = log_panel::builder()
        .sink(shared.sink())
        .spool_dir(spool)
        .spool_after(spool_after)
        .batch_size(100)
        .build()
        .unwrap();
    for seq in 0..1000 {
        log::info!(logger: panel, seq = seq; "r");
    }
    panel
}

fn spool_entries(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(ext)).collect())
        .unwrap_or_default()
}

#[test]
fn replay_whose_offset_cannot_be_written_pauses_and_never_stores_a_batch_twice() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    let panel = thousand_records_while_down(&shared, dir.path(), Duration::from_millis(20));
    wait_for(&panel, "everything spooled", |s| s.in_spool == 1000);
    // Fault: every offset file becomes a directory, which nobody (root included) can write.
    let offsets = spool_entries(dir.path(), ".offset");
    assert!(!offsets.is_empty());
    for o in &offsets {
        std::fs::remove_file(o).unwrap();
        std::fs::create_dir(o).unwrap();
    }
    shared.set_down(false);
    let report = panel.flush_timeout(Duration::from_millis(1500)).unwrap();
    assert!(!report.complete);
    let stored = seqs(&shared);
    assert_eq!(stored, (0..100).collect::<Vec<_>>(), "one batch stored, then replay paused: no repeats");
    let error = panel.stats().last_error.unwrap().0;
    assert!(error.contains("replay paused"), "{error}");
    // The disk recovers: replay resumes after the stored batch.
    for o in &offsets {
        std::fs::remove_dir(o).unwrap();
    }
    panel.flush().unwrap();
    let stored = seqs(&shared);
    assert_eq!((stored.len(), duplicates(&stored)), (1000, 0), "sent 1000: stored 1000, duplicated 0");
    let stats = panel.stats();
    assert_eq!((stats.written, stats.lost, stats.in_spool), (1000, 0, 0));
}

/// A small filesystem for the spool: a tmpfs of `kib` KiB when this process
/// may mount (root in a container that allows it), else `None`.
struct SmallDisk {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl SmallDisk {
    fn new(kib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        SmallDisk { dir, mounted }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
        }
    }
}

/// The spool on a full disk: a 256 KiB tmpfs when the test may mount one,
/// else the spool's own size limit (`spool.max_mb = 1`) as the fault.
fn full_disk_builder(shared: &Shared, disk: &SmallDisk) -> log_panel::Builder {
    let mut config = log_panel::Config::default();
    config.spool.dir = Some(disk.dir.path().join("spool"));
    config.spool.after_ms = 10;
    config.spool.max_pending_mb = std::num::NonZeroUsize::MIN; // 1 MiB
    if !disk.mounted {
        eprintln!("full disk: cannot mount a tmpfs here; the spool's size limit stands in for the full disk");
        config.spool.max_mb = std::num::NonZeroU64::MIN; // 1 MiB
    }
    log_panel::Builder::from_config(config).batch_size(200).sink(shared.sink())
}

const BIG: &str = "a record big enough to fill a small disk quickly ..................................................";

#[test]
fn full_disk_under_block_keeps_memory_bounded_and_stores_everything_once_when_storage_returns() {
    let disk = SmallDisk::new(256);
    let shared = Shared::default();
    shared.set_down(true);
    let panel = full_disk_builder(&shared, &disk).queue_capacity(256).build().unwrap();
    const N: i64 = 30_000;
    let sent = std::sync::atomic::AtomicI64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for seq in 0..N {
                log::info!(logger: panel, seq = seq; "{BIG}");
                sent.store(seq + 1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        wait_for(&panel, "the spool failing", |s| s.last_error.as_ref().is_some_and(|e| e.0.contains("spool")));
        std::thread::sleep(Duration::from_millis(300));
        let blocked_at = sent.load(std::sync::atomic::Ordering::SeqCst);
        assert!(blocked_at < N, "memory and spool full: the caller waits under `block`");
        let stats = panel.stats();
        assert!(stats.pending < 12_000, "memory bounded (1 MiB of records + the queue): {stats:?}");
        shared.set_down(false);
    });
    panel.flush().unwrap();
    let stored = seqs(&shared);
    assert_eq!((stored.len() as i64, duplicates(&stored)), (N, 0), "sent {N}: all stored, none twice");
    assert_eq!(panel.stats().lost, 0);
    let spool = disk.dir.path().join("spool");
    assert!(spool_entries(&spool, ".jsonl").is_empty() && spool_entries(&spool, ".tmp").is_empty());
}

#[test]
fn full_disk_under_drop_counts_every_missing_record_and_a_new_process_replays_the_rest() {
    let disk = SmallDisk::new(256);
    let shared = Shared::default();
    shared.set_down(true);
    let panel = full_disk_builder(&shared, &disk)
        .queue_capacity(256)
        .overflow(log_panel::Overflow::Drop)
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    const N: u64 = 30_000;
    for seq in 0..N {
        log::info!(logger: panel, seq = seq; "{BIG}");
    }
    let report = panel.shutdown_timeout(Duration::from_millis(200));
    let stats = panel.stats();
    assert!(stats.lost > 0 && stats.dropped.total() > 0, "{stats:?}");
    let spool = disk.dir.path().join("spool");
    assert!(spool_entries(&spool, ".tmp").is_empty(), "no partial files");
    // A new process replays what the spool kept.
    let after = Shared::default();
    let replayer = log_panel::builder().sink(after.sink()).spool_dir(&spool).build().unwrap();
    replayer.flush().unwrap();
    drop(replayer);
    let stored = seqs(&after);
    assert_eq!(duplicates(&stored), 0);
    let stored_all = after.stored.lock().unwrap().len() as u64;
    let summaries_stored = stored_all - stored.len() as u64;
    // Every record logged was either queued or dropped (and counted).
    assert_eq!(stats.accepted + stats.dropped.total(), N, "{stats:?}");
    // Everything the spool kept is replayed exactly once.
    assert_eq!(stored_all, report.spilled, "{report:?}");
    // The writer's own drop summaries are counted in `lost` too when they could not be kept.
    let summaries_made = stats.spilled + stats.lost - stats.accepted;
    let lost_records = stats.lost - (summaries_made - summaries_stored);
    let missing = N - stored.len() as u64;
    assert_eq!(missing, stats.dropped.total() + lost_records, "missing = dropped + lost: {stats:?}");
}

/// Run by `sigkill_during_an_outage_loses_nothing_already_spooled`: logs into
/// a locked SQLite file, says when everything is spooled, then waits to be killed.
#[test]
fn sigkill_child() {
    let (Ok(db), Ok(n)) = (std::env::var("SIGKILL_DB"), std::env::var("SIGKILL_N")) else { return };
    let n: i64 = n.parse().unwrap();
    let panel = log_panel::builder().database(&db).batch_size(100).build().unwrap();
    // The outage: another connection holds the write lock (released when the process dies).
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE; INSERT INTO log_levels VALUES (99, 'HOLD');").unwrap();
    for seq in 0..n {
        log::info!(logger: panel, seq = seq; "logged during the outage");
    }
    wait_for(&panel, "all spooled", |s| s.in_spool == n as u64 && s.pending == 0);
    println!("SPOOLED");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn sigkill_during_an_outage_loses_nothing_already_spooled() {
    use std::io::BufRead;
    let db = TempDb::new();
    const N: i64 = 5000;
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "faults::sigkill_child", "--nocapture", "--test-threads=1"])
        .env("SIGKILL_DB", &db.path)
        .env("SIGKILL_N", N.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("SPOOLED")), "the child spooled its backlog");
    // Spooled within about `spool.after_ms` (1 s) of the outage, not 30 s.
    assert!(started.elapsed() < Duration::from_secs(8));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The next start replays the spool.
    let panel = log_panel::builder().database(&db.path).build().unwrap();
    panel.flush().unwrap();
    drop(panel);
    let (rows, distinct): (i64, i64) = db
        .conn()
        .query_row("SELECT count(*), count(DISTINCT json_extract(context, '$.seq')) FROM log_records", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((rows, distinct), (N, N), "sent {N}: stored {N}, duplicated 0, lost 0");
}

#[test]
fn a_flood_of_drops_makes_at_most_one_summary_a_second_with_exact_counts() {
    let shared = Shared::default();
    shared.script.lock().unwrap().delay = Duration::from_millis(2);
    let panel = log_panel::builder()
        .sink(shared.sink())
        .queue_capacity(16)
        .batch_size(16)
        .overflow(log_panel::Overflow::Drop)
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    let mut sent = 0i64;
    while start.elapsed() < Duration::from_millis(2500) {
        log::info!(logger: panel, seq = sent; "flood");
        sent += 1;
    }
    let elapsed = start.elapsed();
    let _ = panel.shutdown_timeout(common::WAIT);
    let stats = panel.stats();
    let stored = seqs(&shared);
    let records = shared.stored.lock().unwrap();
    let summaries: Vec<_> = records.iter().filter(|r| r.logger == "log_panel").collect();
    let summed: u64 = summaries
        .iter()
        .map(|r| match r.kv.iter().find(|(k, _)| k == "dropped") {
            Some((_, log_panel::Value::I64(n))) => *n as u64,
            Some((_, log_panel::Value::U64(n))) => *n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert!(stats.dropped.total() > 1000, "a real flood: {stats:?}");
    // One a second while logging, plus the final one at shutdown.
    assert!(summaries.len() as u64 <= elapsed.as_secs() + 2, "{} summaries in {elapsed:?}", summaries.len());
    assert_eq!(summed, stats.dropped.total(), "summaries add up to the drops");
    assert_eq!((stored.len() as u64 + stats.dropped.total(), duplicates(&stored)), (sent as u64, 0));
    assert_eq!(stats.lost, 0);
}

#[test]
fn huge_targets_and_keys_are_cut_and_nul_replaced_in_sqlite_as_in_postgres() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).build().unwrap();
    let target = "t".repeat(3 * 1024 * 1024);
    log::info!(logger: panel, target: &target, "huge target");
    log::info!(logger: panel, "nul \0 inside");
    panel.flush().unwrap();
    let (logger_len, cut): (i64, i64) = db
        .conn()
        .query_row(
            "SELECT length(logger), logger LIKE '%…[cut]' FROM log_records WHERE message = 'huge target'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((logger_len, cut), (1024 + "…[cut]".chars().count() as i64, 1));
    assert_eq!(db.count("message = 'nul \u{FFFD} inside'"), 1);
    let stats = panel.stats();
    assert_eq!((stats.truncated, stats.sanitised), (1, 1));
}

#[test]
fn a_blip_shorter_than_spool_after_writes_no_spool_file_and_a_longer_one_spools_once() {
    for (outage_ms, spools) in [(400, false), (1800, true)] {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::default();
        shared.set_down(true);
        // The default spool.after_ms (1 s).
        let panel = log_panel::builder().sink(shared.sink()).spool_dir(dir.path()).batch_size(50).build().unwrap();
        let start = std::time::Instant::now();
        let mut seq = 0;
        while start.elapsed() < Duration::from_millis(outage_ms) {
            log::info!(logger: panel, seq = seq; "during the blip");
            seq += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        let files_during = spool_entries(dir.path(), ".jsonl").len();
        shared.set_down(false);
        panel.flush().unwrap();
        let stored = seqs(&shared);
        assert_eq!((stored.len() as i64, duplicates(&stored)), (seq, 0));
        let stats = panel.stats();
        assert_eq!(stats.spilled > 0, spools, "{outage_ms} ms outage: {stats:?}");
        assert!(files_during <= 1, "one spool file per outage, not per attempt: {files_during}");
        assert_eq!(stats.replayed, stats.spilled);
    }
}

/// A sink whose first write waits (at most `common::WAIT`) until the test
/// opens the gate, so the test knows what is queued before anything is stored.
struct Gated {
    inner: log_panel_testing::ScriptedSink,
    gate: Option<std::sync::mpsc::Receiver<()>>,
}

impl log_panel::Sink for Gated {
    fn write(&mut self, batch: &log_panel::Batch<'_>) -> Result<(), log_panel::SinkError> {
        if let Some(gate) = self.gate.take() {
            let _ = gate.recv_timeout(common::WAIT);
        }
        self.inner.write(batch)
    }
}

#[test]
fn replay_alternates_with_live_records_so_the_queue_keeps_draining() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    // An earlier process left 20 batches in the spool.
    let earlier = Shared::default();
    earlier.set_down(true);
    let panel = log_panel::builder().sink(earlier.sink()).spool_dir(&spool).batch_size(100).build().unwrap();
    for seq in 0..2000 {
        log::info!(logger: panel, seq = seq; "spooled by an earlier process");
    }
    assert_eq!(panel.shutdown_timeout(Duration::from_millis(200)).spilled, 2000);
    drop(panel);

    // This process replays them while it logs: its record is queued before the first replayed batch is stored.
    let shared = Shared::default();
    let (open, gate) = std::sync::mpsc::channel();
    let sink = Gated { inner: shared.sink(), gate: Some(gate) };
    let panel = log_panel::builder().sink(sink).spool_dir(&spool).batch_size(100).build().unwrap();
    log::warn!(logger: panel, seq = 1_000_000; "live");
    open.send(()).unwrap();
    panel.flush().unwrap();
    let start = std::time::Instant::now();
    while shared.stored.lock().unwrap().len() < 2001 {
        assert!(start.elapsed() < common::WAIT, "replay did not finish: {:?}", panel.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(panel);
    let stored = seqs(&shared);
    let live_at = stored.iter().position(|s| *s == 1_000_000).unwrap();
    // Before: the whole spool was replayed before the queue was read (live_at 2000).
    assert!(live_at <= 200, "the live record waited for {live_at} replayed records");
    let replayed: Vec<i64> = stored.iter().copied().filter(|s| *s != 1_000_000).collect();
    assert_eq!(replayed, (0..2000).collect::<Vec<_>>(), "the spool replayed in order, once");
    assert_eq!(stored.len(), 2001);
    assert!(spool_entries(&spool, ".jsonl").is_empty());
}

/// A panel whose storage is down and whose spool cannot be written (a file
/// stands where its directory should be), holding at most 1 MiB in memory,
/// with a small queue under `block` and `block_timeout`.
fn storage_and_spool_failing(dir: &tempfile::TempDir, shared: &Shared, block_timeout: Duration) -> log_panel::Pipeline {
    let spool = dir.path().join("spool");
    std::fs::write(&spool, b"not a directory").unwrap();
    shared.set_down(true);
    let mut config = log_panel::Config::default();
    config.spool.max_pending_mb = std::num::NonZeroUsize::MIN; // 1 MiB
    log_panel::Builder::from_config(config)
        .sink(shared.sink())
        .spool_dir(&spool)
        .spool_after(Duration::from_millis(10))
        .batch_size(200)
        .queue_capacity(64)
        .block_timeout(block_timeout)
        .build()
        .unwrap()
}

#[test]
fn storage_down_and_the_spool_failing_under_block_a_caller_waits_at_most_block_timeout_and_losses_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    // Long enough that a writer slowed by a loaded machine never makes a healthy call give up.
    let panel = storage_and_spool_failing(&dir, &shared, Duration::from_secs(2));
    let panel = std::sync::Arc::new(panel);
    const N: i64 = 20_000;
    let (finished, done) = std::sync::mpsc::channel();
    let logging = std::thread::spawn({
        let panel = std::sync::Arc::clone(&panel);
        move || {
            for seq in 0..N {
                log::info!(logger: *panel, seq = seq; "{BIG}");
            }
            let _ = finished.send(());
        }
    });
    // Not a timing assertion: before, the calls waited for as long as storage and the spool failed.
    let returned = done.recv_timeout(Duration::from_secs(120));
    assert!(returned.is_ok(), "the logging calls are still blocked: {:?}", panel.stats());
    logging.join().unwrap();
    let during = panel.stats();
    assert!(during.timed_out > 0 && during.timed_out == during.lost, "{during:?}");

    // Storage is back: the writer stores what it held and takes records again, so callers wait again.
    shared.script.lock().unwrap().delay = Duration::from_millis(1);
    shared.set_down(false);
    wait_for(&panel, "storage back and the queue drained", |s| s.storage_down_since.is_none() && s.pending == 0);
    const M: i64 = 5_000;
    for seq in N..N + M {
        log::info!(logger: *panel, seq = seq; "after");
    }
    panel.flush().unwrap();
    let after = panel.stats();
    assert_eq!(after.lost, during.lost, "nothing lost once storage works: {after:?}");
    let stored = seqs(&shared);
    assert_eq!(duplicates(&stored), 0);
    assert_eq!(stored.len() as u64 + after.lost, (N + M) as u64, "logged = stored + lost: {after:?}");
    let later: std::collections::HashSet<i64> = stored.iter().copied().filter(|s| *s >= N).collect();
    assert_eq!(later.len() as i64, M, "every record logged after storage returned is stored");
}

#[test]
fn with_storage_and_the_spool_failing_flush_timeout_and_shutdown_end_and_count_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    let panel = storage_and_spool_failing(&dir, &shared, Duration::from_millis(100));
    const N: u64 = 10_000;
    for seq in 0..N {
        log::info!(logger: panel, seq = seq; "{BIG}");
    }
    assert!(panel.stats().timed_out > 0, "{:?}", panel.stats());
    let flushed = panel.flush_timeout(Duration::from_millis(100)).unwrap();
    assert!(!flushed.complete);
    let report = panel.shutdown_timeout(Duration::from_millis(300));
    let stats = panel.stats();
    assert_eq!((report.written, report.pending, report.spilled), (0, 0, 0), "{report:?}");
    assert_eq!(report.dropped, stats.lost);
    assert_eq!(stats.lost, N, "every record counted lost: {stats:?}");
    assert!(shared.stored.lock().unwrap().is_empty());
}

/// The database itself on a full disk (a 1 MiB tmpfs, grown to 64 MiB later):
/// the writer's batches and the idle steps that index them all meet
/// "database or disk is full". Nothing is lost or stored twice (the batches
/// wait in memory and in the spool, on another disk), the file stays sound,
/// and once space returns the search index and the context side table catch
/// up to the last record and answer as the rows do.
#[test]
fn sqlite_on_a_full_disk_loses_nothing_and_its_indexes_catch_up_when_space_returns() {
    use log_panel::read::{FieldMatch, FieldValue, RecordFilter, Slots, SqliteStore, Store};

    let disk = SmallDisk::new(1024);
    if !disk.mounted {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "CI=true: this test needs to mount a tmpfs (run as root)");
        eprintln!("\n*** SKIPPED: the database on a full disk — cannot mount a tmpfs here ***\n");
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let path = disk.dir.path().join("logs.db");
    let mut config = log_panel::Config::default();
    config.spool.dir = Some(spool.path().to_owned());
    config.spool.after_ms = 10;
    let panel = log_panel::Builder::from_config(config).database(&path).batch_size(200).build().unwrap();
    const N: i64 = 6000;
    for seq in 0..N {
        log::info!(logger: panel, seq = seq, user_id = seq % 7, tenant = "t-full"; "{BIG} order {seq} quokka");
    }
    wait_for(&panel, "the full disk to refuse a batch", |s| s.failed_attempts > 0);
    // The disk stays full long enough for batches to go to the spool.
    wait_for(&panel, "a batch in the spool", |s| s.spilled > 0);
    std::thread::sleep(Duration::from_millis(500));
    let stats = panel.stats();
    assert!(stats.written < N as u64 && stats.lost == 0, "{stats:?}");
    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(disk.dir.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(grown, "remount the tmpfs larger");
    panel.flush().unwrap();
    let stats = panel.stats();
    assert_eq!((stats.written, stats.lost, stats.in_spool), (N as u64, 0, 0), "{stats:?}");
    assert_eq!(panel.stats().lost, 0);

    // More records, then the disk fills again while the idle steps index
    // them (a filler file takes every free block for a second).
    const M: i64 = 20_000;
    for seq in N..N + M {
        log::info!(logger: panel, seq = seq, user_id = seq % 7, tenant = "t-full"; "{BIG} order {seq} quokka");
    }
    panel.flush().unwrap();
    let filler = disk.dir.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::remove_file(&filler).unwrap();
    const ALL: i64 = N + M;

    // The idle steps index what the full disk held back.
    let db = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let marks = || -> (i64, i64, i64) {
        db.query_row(
            "SELECT (SELECT max(id) FROM log_records), (SELECT indexed_id FROM log_fts_state),
                    (SELECT indexed_id FROM log_context_all)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    let start = std::time::Instant::now();
    while {
        let (last, fts, ctx) = marks();
        fts < last || ctx < last
    } {
        assert!(start.elapsed() < common::WAIT, "the indexes did not catch up: {:?} {:?}", marks(), panel.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = panel.stats();
    assert_eq!((stats.written, stats.lost, stats.in_spool), (ALL as u64, 0, 0), "{stats:?}");
    drop(panel);

    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM log_records"), ALL);
    assert_eq!(count("SELECT count(DISTINCT json_extract(context, '$.seq')) FROM log_records"), ALL);
    let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    drop(db);
    // FTS5's own check of the search index against the rows.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("INSERT INTO log_records_fts(log_records_fts) VALUES ('integrity-check')")
        .unwrap();

    // Through the indexes, the same counts as the rows.
    let store = SqliteStore::open(&path).unwrap();
    let slots = Slots::ending_at(log_panel::Timestamp::now(), 3_600_000_000, 2).unwrap();
    let counted = |filter: &RecordFilter| {
        let h = store.histogram(filter, &slots).unwrap();
        assert!(h.complete);
        h.slots.iter().map(|c| c.total()).sum::<u64>()
    };
    let mut word = RecordFilter::default();
    word.text = Some("QUOKKA".to_owned());
    assert_eq!(counted(&word), ALL as u64);
    let mut user = RecordFilter::default();
    user.fields.push(FieldMatch::new("user_id", FieldValue::Int(3)).unwrap());
    assert_eq!(counted(&user), (0..ALL).filter(|s| s % 7 == 3).count() as u64);
    let mut order = RecordFilter::default();
    for seq in [4321, N + 12_345] {
        order.text = Some(format!("order {seq} "));
        assert_eq!(counted(&order), 1, "{seq}");
    }
}
