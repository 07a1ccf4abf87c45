//! Shards failing under the sink: a batch for a down shard goes to the
//! other, and a shard killed mid-insert and restarted leaves every record
//! stored exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use log_panel_clickhouse::ChSink;
use log_panel_core::{Batch, Origin, Record, Sink, Timestamp};
use log_panel_testing::clickhouse::Cluster;
use log_panel_testing::records::sequence;

/// Records `first..first + n` of a stream, each with 200 bytes more of
/// message so an insert takes long enough to be killed in.
fn batch(n: usize, first: usize) -> Vec<Record> {
    let mut records =
        sequence("svc::faults", first as i64..(first + n) as i64, Timestamp(1_800_000_000_000_000), 1_000);
    for r in &mut records {
        r.message.to_mut().push_str(&"x".repeat(200));
    }
    records
}

fn totals(cluster: &Cluster, db: &str) -> (u64, u64) {
    let row = cluster.query(0, &format!("SELECT count(), uniqExact(id) FROM {db}.log_records"));
    let mut n = row.split_whitespace().map(|x| x.parse().unwrap());
    (n.next().unwrap(), n.next().unwrap())
}

#[test]
fn a_shard_killed_mid_stream_and_restarted_stores_every_record_once() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.create_database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    let mut sink = ChSink::connect(&url).unwrap();
    let origin = Origin::new("app", "host", 1);
    let mut written = 0;

    // Shard 1 down: every batch still goes somewhere at once.
    cluster.kill_shard(1);
    for _ in 0..10 {
        let records = batch(100, written);
        sink.write(&Batch::new(&origin, &records)).expect("a down shard does not block the other");
        written += records.len();
    }
    cluster.start_shard(1);

    // Kill shard 1 while large batches stream in, restart it, retry each batch until stored.
    let mut failures = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(400));
            cluster.kill_shard(1);
        });
        for _ in 0..12 {
            let records = batch(20_000, written);
            let mut tries = 0;
            while let Err(e) = sink.write(&Batch::new(&origin, &records)) {
                failures += 1;
                tries += 1;
                assert!(tries < 50, "the batch is never stored: {e}");
                if cluster.try_query(1, "SELECT 1").is_err() {
                    std::thread::sleep(Duration::from_millis(200));
                    if cluster.try_query(1, "SELECT 1").is_err() {
                        cluster.start_shard(1);
                    }
                }
            }
            written += records.len();
        }
    });
    if cluster.try_query(1, "SELECT 1").is_err() {
        cluster.start_shard(1);
    }
    assert_eq!(totals(&cluster, &db), (written as u64, written as u64), "every record once ({failures} failed writes)");
}
