//! The read side on a hot standby: a sink writes to the primary, and a
//! `PgStore` on a streaming replica (`pg_basebackup -R`) reads pages, cards,
//! search and a live tail, which polls because a standby cannot `LISTEN`.
//! Nothing the store does writes: a standby refuses every write, so each
//! read passing proves it. Bounded waits, no timing measurements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp};
use log_panel_postgres::{PgSink, PgStore};
use log_panel_query::{CardsQuery, PageAt, RecordFilter, Slots, Store, Wake};
use log_panel_testing::postgres::TestServer;

/// How long the tail may take to see a record written to the primary.
const BOUND: Duration = Duration::from_secs(30);

fn batch(first: i64, n: i64, now: Timestamp) -> Vec<Record> {
    (first..first + n)
        .map(|i| {
            let level = if i % 10 == 0 { Level::Error } else { Level::Info };
            let mut r = Record::new(level, ["api", "worker"][(i % 2) as usize], format!("standby read {i}"));
            r.timestamp = Timestamp(now.0 - 600_000_000 + i * 1_000);
            r
        })
        .collect()
}

#[test]
fn a_store_on_a_standby_reads_what_the_primary_writes() {
    let Some(primary) = TestServer::start_stoppable("the standby test") else { return };
    let Some(standby) = primary.standby() else { return };
    let url = primary.create_database();
    let dbname = url.rsplit('/').next().unwrap().to_owned();
    let origin = Origin::new("standby", "h", 1);
    let now = Timestamp::now();
    // Partitioned by day: the standby replays the partitions the writer creates.
    let mut sink = PgSink::connect(&format!("{url}?partition=day")).unwrap();
    sink.write(&Batch::new(&origin, &batch(0, 500, now))).unwrap();
    while sink.idle().unwrap() {} // search indexed on the primary
    standby.catch_up_with(&primary);

    // A writer cannot use the standby; the reader can. (A record the primary
    // holds would be found stored, logged before this sink started, and not
    // written again: the refused write is of a new one.)
    let mut refused = PgSink::connect(&standby.url(&dbname)).unwrap();
    assert!(refused.write(&Batch::new(&origin, &batch(500, 1, now))).is_err());
    let store = PgStore::connect(&standby.url(&dbname)).unwrap();
    assert!(store.is_standby());
    assert!(!PgStore::connect(&url).unwrap().is_standby());
    let all = RecordFilter::default();
    let page = store.records(&all, PageAt::Newest, 50).unwrap();
    assert_eq!(page.records.len(), 50);
    assert_eq!(page.records[0].message, "standby read 499");
    let older = store.records(&all, PageAt::Older(page.older.unwrap()), 50).unwrap();
    assert_eq!(older.records[0].message, "standby read 449");
    let mut search = RecordFilter::default();
    search.text = Some("READ 123".into());
    let found: Vec<String> =
        store.records(&search, PageAt::Newest, 10).unwrap().records.into_iter().map(|r| r.message).collect();
    assert_eq!(found, ["standby read 123"]);
    let mut q = CardsQuery::new(Slots::hours_until(now, 2).unwrap(), now);
    q.limit = 10;
    let cards = store.cards(&q).unwrap();
    let loggers: Vec<&str> = cards.cards.iter().map(|c| c.logger.as_str()).collect();
    assert_eq!(cards.matching, 2, "{loggers:?}");
    assert_eq!(store.record(page.records[0].id).unwrap().unwrap().message, "standby read 499");

    // The live tail: the waiter polls, and what the primary commits shows up.
    let mut waiter = store.commit_waiter();
    assert!(!waiter.pushed(), "a standby cannot push commits");
    let last = store.tail(&all, None, 1).unwrap()[0].id;
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        sink.write(&Batch::new(&origin, &batch(500, 20, now))).unwrap();
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 20 {
        assert!(start.elapsed() < BOUND, "the standby's tail saw {} of 20 records", seen.len());
        assert_eq!(waiter.wait(Duration::from_millis(200)).unwrap(), Wake::TimedOut);
        let after = seen.last().map_or(last, |r: &log_panel_query::StoredRecord| r.id);
        seen.extend(store.tail(&all, Some(after), 100).unwrap());
    }
    writer.join().unwrap();
    let messages: Vec<String> = seen.iter().map(|r| r.message.clone()).collect();
    assert_eq!(messages, (500..520).map(|i| format!("standby read {i}")).collect::<Vec<_>>());
}
