//! End to end into ClickHouse: the real logger, queue, writer and spool,
//! and `ChSink`, against a throwaway two-shard cluster (see
//! `log_panel_testing::clickhouse`).
#![cfg(feature = "clickhouse")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use log_panel::Level;
use log_panel_testing::clickhouse::{AfterTheLoss, Cluster, LosingProxy};

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The server stores a batch but its answer is lost (an insert in doubt),
/// and the shards then stay unreachable past `spool.after_ms`: the writer
/// spools that batch with the ones behind it and, once the shards are back,
/// replays the spool in batches of `batch.size`, whose boundaries are not
/// the batches it first sent (300, 350 and 350 records, replayed as 500 and
/// 500). Every record is stored once.
#[test]
fn a_batch_in_doubt_that_the_writer_spools_and_replays_in_other_batches_is_stored_once() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    let proxy = LosingProxy::start(&[cluster.http_port(0), cluster.http_port(1)], AfterTheLoss::GoDown);
    let spool = tempfile::tempdir().unwrap();
    let panel = log_panel::builder()
        .database(proxy.url(&db))
        // Creates the tables on both shards at once, so the reads below find them.
        .database_required(true)
        .app("spooled-in-doubt")
        .spool_dir(spool.path())
        .spool_after(Duration::from_millis(300))
        .batch_size(500)
        .flush_level(Some(Level::Warn))
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    // Each WARN closes a batch: 0..300, 300..650, 650..1000.
    let warn_at = [299, 649, 999];
    let log = |records: std::ops::Range<usize>| {
        for i in records {
            if warn_at.contains(&i) {
                log::warn!(logger: panel, "record {i}");
            } else {
                log::info!(logger: panel, "record {i}");
            }
        }
    };
    let stored = || {
        let rows = cluster.query(0, &format!("SELECT message FROM {db}.log_records FORMAT TabSeparated"));
        let mut rows: Vec<String> = rows.lines().map(str::to_owned).collect();
        rows.sort();
        rows
    };

    log(0..300);
    wait_for("the first insert's answer to be lost", || proxy.answer_lost());
    assert_eq!(stored().len(), 300, "the server stored the batch whose answer was lost");
    log(300..1000);
    wait_for("every record to be spooled", || panel.stats().spilled == 1000);
    assert_eq!(stored().len(), 300, "nothing reached the shards while they were down");

    proxy.restore();
    let report = panel.flush_timeout(Duration::from_secs(60)).unwrap();
    assert!(report.complete, "{report:?} {:?}", panel.stats());
    let stats = panel.stats();
    assert_eq!((stats.spilled, stats.replayed, stats.in_spool, stats.lost), (1000, 1000, 0, 0), "{stats:?}");
    assert!(stats.failed_attempts > 0, "{stats:?}");

    let rows = stored();
    let mut distinct = rows.clone();
    distinct.dedup();
    assert_eq!((rows.len(), distinct.len()), (1000, 1000), "rows, distinct records: every record once");
    let mut want: Vec<String> = (0..1000).map(|i| format!("record {i}")).collect();
    want.sort();
    assert!(rows == want, "the records logged and no other");
    let warnings = cluster.query(0, &format!("SELECT count() FROM {db}.log_records WHERE level = 30"));
    assert_eq!(warnings.trim(), "3");
    drop(panel);
}
