//! The sink on two shards: rows and aggregates land, batches spread over
//! the shards, a batch across midnight is split, exactly once on retry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_clickhouse::ChSink;
use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp};
use log_panel_testing::clickhouse::Cluster;
use log_panel_testing::records::sequence;

const DAY: i64 = 86_400_000_000;

/// `n` records of `svc::db` from `start`, `step` apart, an ERROR every tenth.
fn records(n: usize, start: i64, step: i64) -> Vec<Record> {
    sequence("svc::db", 0..n as i64, Timestamp(start), step)
}

fn count(cluster: &Cluster, shard: usize, db: &str, sql: &str) -> u64 {
    cluster.query(shard, &format!("SELECT count() FROM {db}.{sql}")).trim().parse().unwrap()
}

fn db_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned()
}

#[test]
fn batches_land_on_both_shards_once_each() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = db_of(&url);
    let mut sink = ChSink::connect(&url).unwrap();
    let origin = Origin::new("app", "host", 42);
    let mut total = 0;
    for b in 0..20 {
        let batch = records(50, 1_800_000_000_000_000 + b * 1_000_000_000, 1_000);
        sink.write(&Batch::new(&origin, &batch)).unwrap();
        total += batch.len() as u64;
    }
    let per_shard: Vec<u64> = (0..2).map(|s| count(cluster, s, &db, "log_records_local")).collect();
    assert_eq!(per_shard.iter().sum::<u64>(), total, "{per_shard:?}");
    assert!(per_shard.iter().all(|&n| n > 0), "both shards hold batches: {per_shard:?}");
    assert_eq!(count(cluster, 0, &db, "log_records"), total, "the Distributed table sees every shard");
    let ids = cluster.query(0, &format!("SELECT uniqExact(id) FROM {db}.log_records"));
    assert_eq!(ids.trim().parse::<u64>().unwrap(), total, "ids are unique");
    let errors = cluster.query(0, &format!("SELECT sum(error), sum(info) FROM {db}.log_logger_quarter"));
    assert_eq!(errors.trim(), format!("{}\t{}", total / 10, total - total / 10));
    let stats = cluster.query(0, &format!("SELECT countMerge(total), countIfMerge(errors) FROM {db}.log_logger_stats"));
    assert_eq!(stats.trim(), format!("{total}\t{}", total / 10));
}

#[test]
fn a_batch_across_midnight_is_one_insert_per_day() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = db_of(&url);
    let mut sink = ChSink::connect(&url).unwrap();
    let origin = Origin::new("app", "host", 42);
    let batch = records(10, 20_000 * DAY - 5, 1);
    sink.write(&Batch::new(&origin, &batch)).unwrap();
    // (parts, partitions) summed over the shards.
    let (parts, days) = (0..2)
        .map(|shard| {
            let sql = format!(
                "SELECT count(), uniqExact(partition) FROM system.parts WHERE database = '{db}' \
                 AND table = 'log_records_local' AND active"
            );
            let row = cluster.query(shard, &sql);
            let mut n = row.split_whitespace().map(|x| x.parse::<u64>().unwrap());
            (n.next().unwrap(), n.next().unwrap())
        })
        .fold((0, 0), |(p, d), (p2, d2)| (p + p2, d + d2));
    assert_eq!((parts, days), (2, 2), "one part for each of the two days");
    assert_eq!(count(cluster, 0, &db, "log_records"), 10);
}

#[test]
fn nul_is_stored_as_the_replacement_character() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = db_of(&url);
    let mut sink = ChSink::connect(&url).unwrap();
    let origin = Origin::new("app", "host", 42);
    let batch = vec![Record::new(Level::Info, "a", "x\0y")];
    sink.write(&Batch::new(&origin, &batch)).unwrap();
    assert_eq!(sink.sanitised(), 1);
    assert_eq!(cluster.query(0, &format!("SELECT message FROM {db}.log_records")).trim(), "x\u{FFFD}y");
}

/// How many rows `db` holds on all shards, and how many distinct ids.
/// A lazy sink creates a shard's tables when it first writes there, so a
/// shard no batch went to has none (four writers of one batch each all
/// pick shard 0 one time in 16): it holds no rows.
fn ids(cluster: &Cluster, db: &str) -> (u64, u64) {
    let mut all = Vec::new();
    for shard in 0..cluster.len() {
        match cluster.try_query(shard, &format!("SELECT id FROM {db}.log_records_local FORMAT TSV")) {
            Ok(body) => all.extend(body.lines().map(|l| l.parse::<i64>().unwrap())),
            Err(e) if e.contains("Code: 60,") => {}
            Err(e) => panic!("shard {shard}: {e}"),
        }
    }
    let rows = all.len() as u64;
    all.sort_unstable();
    all.dedup();
    (rows, all.len() as u64)
}

#[test]
fn a_writer_that_draws_a_held_tag_moves_to_another_and_ids_stay_unique() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = db_of(&url);
    let origin = Origin::new("app", "host", 42);
    // The first writer claims its tag when it connects.
    let mut first = ChSink::connect(&url).unwrap();
    assert!(first.tag_claimed());
    let held = first.tag();
    // A second writer draws the same tag: before its first batch it finds
    // the earlier claim and moves; the first keeps its tag.
    let mut second = ChSink::connect_lazy(&url).unwrap().with_tag(held);
    assert!(!second.tag_claimed());
    let start = 1_800_000_000_000_000;
    for b in 0..5 {
        // Both write the same seconds: with one tag their ids would be the same.
        first.write(&Batch::new(&origin, &records(100, start + b * 1_000_000, 1))).unwrap();
        second.write(&Batch::new(&origin, &records(100, start + b * 1_000_000, 1))).unwrap();
    }
    assert!(second.tag_claimed());
    assert_ne!(second.tag(), held);
    assert_eq!(first.tag(), held);
    assert_eq!(ids(cluster, &db), (1000, 1000));
    // One claim row per writer and tag (no heartbeat is due yet).
    let claims = cluster.query(
        0,
        &format!(
            "SELECT tag, count() FROM {db}.log_panel_writer_tags GROUP BY tag ORDER BY count() DESC, tag FORMAT TSV"
        ),
    );
    let lines: Vec<&str> = claims.lines().collect();
    assert_eq!(lines.len(), 2, "{claims}");
    assert_eq!(lines[0], format!("{held}\t2"), "both claimed the first tag once: {claims}");
    assert_eq!(lines[1], format!("{}\t1", second.tag()));
}

#[test]
fn writers_claiming_one_tag_at_once_end_with_different_tags() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = db_of(&url);
    let tag = 4242;
    let tags: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let url = url.clone();
                s.spawn(move || {
                    let mut sink = ChSink::connect_lazy(&url).unwrap().with_tag(tag);
                    let origin = Origin::new("app", format!("host-{w}"), 42);
                    sink.write(&Batch::new(&origin, &records(50, 1_800_000_000_000_000, 1))).unwrap();
                    assert!(sink.tag_claimed());
                    sink.tag()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut distinct = tags.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{tags:?}");
    assert_eq!(ids(cluster, &db), (200, 200));
}
