//! Shards failing under the sink: a batch for a down shard goes to the
//! other, and a shard killed mid-insert and restarted leaves every record
//! stored exactly once. Under the reader: a killed or frozen shard fails
//! every read as unreachable, and the reads answer as before once it is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use log_panel_clickhouse::{ChSink, ChStore, RequestError, DEFAULT_SILENCE, DEFAULT_TIMEOUT};
use log_panel_core::{Batch, Origin, Record, Sink, SinkError, SinkErrorKind, Timestamp};
use log_panel_query::{CardsQuery, PageAt, RecordFilter, Slots, Store, StoreError, StoreErrorKind};
use log_panel_testing::clickhouse::{AfterTheLoss, Cluster, LosingProxy};
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

/// What the panel and the command read, each as a comparable answer.
fn reads(store: &ChStore, newest: Timestamp, id: i64) -> Vec<(&'static str, Result<String, StoreError>)> {
    let slots = Slots::hours_until(newest, 48).unwrap();
    let mut text = RecordFilter::default();
    text.text = Some("failed".into());
    vec![
        ("newest page", store.records(&RecordFilter::default(), PageAt::Newest, 50).map(|p| format!("{p:?}"))),
        ("search", store.records(&text, PageAt::Newest, 50).map(|p| format!("{p:?}"))),
        ("histogram", store.histogram(&RecordFilter::default(), &slots).map(|h| format!("{h:?}"))),
        ("cards", store.cards(&CardsQuery::new(slots.clone(), newest)).map(|c| format!("{c:?}"))),
        ("call sites", store.call_sites(&RecordFilter::default(), 20).map(|s| format!("{s:?}"))),
        ("one record", store.record(id).map(|r| format!("{r:?}"))),
    ]
}

/// The panel reading while a shard is killed, then frozen (SIGSTOP: its
/// sockets accept and nothing answers): every read fails as the storage
/// being unreachable — never a partial answer from the other shard, never
/// a hang past the URL's `timeout_ms` — and answers as before once the
/// shard is back.
#[test]
fn reads_with_a_shard_killed_or_frozen_fail_as_unavailable_and_recover() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.create_database();
    let reference = crate::filled(&url);
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = ChStore::connect(&format!("{url}{sep}timeout_ms=3000")).unwrap();
    let newest = store.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap().records;
    let expected = reference.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap().records;
    assert_eq!(newest[0].message, expected[0].message, "the newest record is the data set's");
    let (ts, id) = (newest[0].ts, newest[0].id);
    let healthy: Vec<(&str, String)> = reads(&store, ts, id)
        .into_iter()
        .map(|(what, r)| (what, r.unwrap_or_else(|e| panic!("{what}: {e}"))))
        .collect();

    for (how, down, up) in [
        ("killed", Cluster::kill_shard as fn(&Cluster, usize), Cluster::start_shard as fn(&Cluster, usize)),
        ("frozen", Cluster::pause_shard, Cluster::resume_shard),
    ] {
        down(&cluster, 1);
        for (what, r) in reads(&store, ts, id) {
            let e = r.err().unwrap_or_else(|| panic!("{how}: {what} answered with a shard missing"));
            assert!(
                matches!(e.kind(), StoreErrorKind::Unavailable | StoreErrorKind::TimedOut),
                "{how}: {what}: {:?} {e}",
                e.kind()
            );
        }
        up(&cluster, 1);
        let mut tries = 0;
        // A frozen shard's half-done reads on the other shard finish first.
        while cluster.try_query(1, "SELECT 1").is_err() && tries < 50 {
            tries += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        for ((what, r), (_, before)) in reads(&store, ts, id).into_iter().zip(&healthy) {
            assert_eq!(&r.unwrap_or_else(|e| panic!("{how}, back: {what}: {e}")), before, "{how}, back: {what}");
        }
    }
}

#[test]
fn a_batch_stored_whose_writer_died_in_doubt_is_stored_once_when_a_new_writer_replays_it() {
    let Some(cluster) = Cluster::shared() else { return };
    let url = cluster.create_database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    let direct = format!("clickhouse://127.0.0.1:{}/{db}", cluster.http_port(0));
    drop(ChSink::connect(&direct).unwrap());
    let origin = Origin::new("app", "host", 4242);
    // Logged an hour ago, as the records of a spool left by an earlier process are.
    let an_hour_ago = Timestamp(Timestamp::now().0 - 3_600_000_000);
    let mut records = sequence("svc::restart", 0..5_000, an_hour_ago, 1_000);
    // Two records alike in all but the context: both are stored, once each.
    records[4_000] = records[3_999].clone();
    records[4_000].kv.clear();
    let count =
        || cluster.query(0, &format!("SELECT count() FROM {db}.log_records_local")).trim().parse::<u64>().unwrap();

    // The first process: its insert is stored, but its answer is lost.
    let proxy = LosingProxy::start(&[cluster.http_port(0)], AfterTheLoss::PassOn);
    let mut first = ChSink::connect_lazy(&format!("clickhouse://127.0.0.1:{}/{db}", proxy.port(0))).unwrap();
    let e = first.write(&Batch::new(&origin, &records[..2_000])).expect_err("the answer was lost");
    assert_eq!(count(), 2_000, "the server stored the batch all the same: {e}");
    // The process dies with the batch in doubt; the next replays the spool in batches of its own.
    drop(first);
    let mut next = ChSink::connect(&direct).unwrap();
    for chunk in records.chunks(1_500) {
        next.write(&Batch::new(&origin, chunk)).unwrap();
    }
    assert_eq!(count(), 5_000, "every record once");
    let distinct = cluster.query(0, &format!("SELECT uniqExact(message, ts) FROM {db}.log_records_local"));
    assert_eq!(distinct.trim(), "4999", "the two alike records both, and no other twice");
    // The same spool replayed once more (its offset lost) adds nothing.
    for chunk in records.chunks(700) {
        next.write(&Batch::new(&origin, chunk)).unwrap();
    }
    assert_eq!(count(), 5_000, "a second replay adds nothing");
}

/// Both shards frozen (SIGSTOP) with a batch on its way: the kernel takes
/// the request and nothing answers. The write fails within its request
/// timeout (`timeout_ms`, 2 s here) as in doubt, rather than hanging for
/// the freeze; retries into the freeze fail within a bound too; after the
/// thaw the retried batch is stored exactly once, beside later ones.
#[test]
fn a_batch_into_frozen_shards_fails_within_the_timeout_and_is_stored_once_after_the_thaw() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.create_database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut sink = ChSink::connect(&format!("{url}{sep}timeout_ms=2000")).unwrap();
    let origin = Origin::new("app", "host", 7);
    sink.write(&Batch::new(&origin, &batch(500, 0))).unwrap();

    cluster.pause_shard(0);
    cluster.pause_shard(1);
    let frozen = batch(1_000, 500);
    let (tx, rx) = std::sync::mpsc::channel();
    let (records, sent_origin) = (frozen.clone(), origin.clone());
    std::thread::spawn(move || {
        let origin = sent_origin;
        let started = std::time::Instant::now();
        let written = sink.write(&Batch::new(&origin, &records));
        let _ = tx.send((sink, written, started.elapsed()));
    });
    let Ok((mut sink, written, took)) = rx.recv_timeout(Duration::from_secs(60)) else {
        cluster.resume_shard(0);
        cluster.resume_shard(1);
        panic!("a write into frozen shards did not return within 60 s (timeout_ms=2000)");
    };
    let err = written.expect_err("written into frozen shards");
    assert!(took >= Duration::from_millis(1_900) && took < Duration::from_secs(7), "{took:?}: {err}");
    eprintln!("into the freeze: {took:?}: {err}");
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let err = sink.write(&Batch::new(&origin, &frozen)).expect_err("written into frozen shards");
        eprintln!("retry into the freeze: {:?}: {err}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}: {err}", started.elapsed());
    }
    cluster.resume_shard(0);
    cluster.resume_shard(1);
    let started = std::time::Instant::now();
    while let Err(e) = sink.write(&Batch::new(&origin, &frozen)) {
        assert!(started.elapsed() < Duration::from_secs(60), "no write after the thaw: {e}");
        std::thread::sleep(Duration::from_millis(100));
    }
    sink.write(&Batch::new(&origin, &batch(500, 1_500))).unwrap();
    assert_eq!(totals(&cluster, &db), (2_000, 2_000), "every record once");
    let messages = cluster.query(0, &format!("SELECT uniqExact(message) FROM {db}.log_records"));
    assert_eq!(messages.trim(), "2000", "no record lost, none twice");
}

/// The [`RequestError`] under a sink's error.
fn request_error(e: &SinkError) -> Option<&RequestError> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<RequestError>())
}

/// One shard frozen (SIGSTOP) under the URL's default bounds (`silence_ms`
/// 2 s, `timeout_ms` 30 s): a batch bound for it fails within seconds as
/// that shard being silent — not at the 30 s backstop — and stays in
/// doubt: a retry into the freeze fails the same way, a read fails as the
/// storage unavailable, and after the thaw the batch is stored exactly
/// once beside those the other shard took meanwhile.
#[test]
fn a_frozen_shard_fails_a_write_and_a_read_within_the_silence_bound_and_loses_nothing() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.create_database();
    let db = crate::database(&url);
    let mut sink = ChSink::connect(&url).unwrap();
    assert_eq!((sink.options().silence(), sink.options().timeout()), (DEFAULT_SILENCE, DEFAULT_TIMEOUT));
    let store = ChStore::connect(&url).unwrap();
    let origin = Origin::new("app", "host", 45);
    sink.write(&Batch::new(&origin, &batch(500, 0))).unwrap();
    let mut written = 500;

    cluster.pause_shard(1);
    let frozen_host = format!("127.0.0.1:{}", cluster.http_port(1));
    // A batch's shard follows from its number: the other shard takes some
    // at once; write until one is bound for the frozen shard.
    let (frozen, err, took) = loop {
        let records = batch(1_000, written);
        let started = Instant::now();
        match sink.write(&Batch::new(&origin, &records)) {
            Ok(()) => written += records.len(),
            Err(e) => break (records, e, started.elapsed()),
        }
        assert!(written < 40_000, "no batch was bound for the frozen shard");
    };
    eprintln!("a batch into the frozen shard failed after {took:?}: {err}");
    assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
    assert!(
        matches!(request_error(&err), Some(RequestError::Silent { shard: 2, host, silence })
            if *host == frozen_host && *silence == DEFAULT_SILENCE),
        "{err:?}"
    );
    assert!(err.to_string().contains(&format!("shard 2 ({frozen_host}) was silent for 2000 ms")), "{err}");
    assert!(took < Duration::from_secs(15), "{took:?}, well under the 30 s backstop: {err}");

    // Retried into the freeze: settling the doubt asks the frozen shard, and fails as fast.
    let started = Instant::now();
    let again = sink.write(&Batch::new(&origin, &frozen)).expect_err("written into a frozen shard");
    eprintln!("its retry into the freeze failed after {:?}: {again}", started.elapsed());
    assert!(matches!(request_error(&again), Some(RequestError::Silent { shard: 2, .. })), "{again:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}: {again}", started.elapsed());

    // A read through the Distributed table needs the frozen shard: silent too.
    let started = Instant::now();
    let read = store.records(&RecordFilter::default(), PageAt::Newest, 10).expect_err("read with a shard frozen");
    eprintln!("a read failed after {:?}: {read}", started.elapsed());
    assert_eq!(read.kind(), StoreErrorKind::Unavailable, "{read}");
    assert!(read.to_string().contains("was silent for 2000 ms"), "{read}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}: {read}", started.elapsed());

    cluster.resume_shard(1);
    let started = Instant::now();
    while let Err(e) = sink.write(&Batch::new(&origin, &frozen)) {
        assert!(started.elapsed() < Duration::from_secs(60), "no write after the thaw: {e}");
        std::thread::sleep(Duration::from_millis(100));
    }
    written += frozen.len();
    for _ in 0..4 {
        let records = batch(1_000, written);
        sink.write(&Batch::new(&origin, &records)).unwrap();
        written += records.len();
    }
    assert_eq!(totals(&cluster, &db), (written as u64, written as u64), "every record once");
    let messages = cluster.query(0, &format!("SELECT uniqExact(message) FROM {db}.log_records"));
    assert_eq!(messages.trim(), written.to_string(), "no record lost, none twice");
    let newest = store.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap().records;
    assert_eq!(newest.len(), 1, "reads answer again after the thaw");
}
