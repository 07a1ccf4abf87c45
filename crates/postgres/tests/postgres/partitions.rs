//! `log_records` partitioned by UTC day (`partition=day`): concurrent
//! writers creating the same new days, retention dropping whole days and
//! deleting in the partial one, the conversion of an unpartitioned table with
//! rows (from schema 5), and the reads on a partitioned table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_postgres::{schema, PgMaintenance, PgSink, PgStore};
use log_panel_query::{FieldMatch, FieldValue, Maintenance, PageAt, RecordFilter, Store, DAY, HOUR};
use log_panel_testing::postgres::{client, forge_schema, forge_upgrade, TestServer};
use postgres::Client;

use super::store::aggregate_tables;

const SEC: i64 = 1_000_000;
/// 2031-03-05T00:00:00Z: a day no other test writes.
const MIDNIGHT: i64 = 1_930_435_200 * SEC;
/// 2026-11-20T00:00:00Z.
const T0: i64 = 1_795_132_800 * SEC;

/// A fresh database (its URL, without the option) and a sink that
/// partitioned it by day (`partition=day`).
fn partitioned_sink() -> Option<(String, PgSink)> {
    let url = TestServer::shared_database()?;
    let sink = PgSink::connect(&format!("{url}?partition=day")).unwrap();
    Some((url, sink))
}

/// The day partitions of `log_records`, by name, oldest first.
pub(crate) fn partitions(db: &mut Client) -> Vec<String> {
    db.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'log_records'::regclass ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Rows stored in a partition other than their UTC day's.
fn misplaced(db: &mut Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM log_records
         WHERE tableoid::regclass::text <> 'log_records_' || to_char(ts AT TIME ZONE 'UTC', 'YYYYMMDD')",
        &[],
    )
    .unwrap()
    .get(0)
}

fn record(i: i64, at: i64) -> Record {
    let level = [Level::Debug, Level::Info, Level::Warn, Level::Error][(i % 4) as usize];
    let mut r = Record::new(level, ["api", "api::db", "worker"][(i % 3) as usize], format!("event {i}"));
    r.timestamp = Timestamp(at);
    r.kv.push(("request_id".into(), Value::from(format!("r-{}", i / 5))));
    r.kv.push(("n".into(), Value::I64(i % 10)));
    r
}

#[test]
fn four_sinks_writing_across_a_day_boundary_lose_nothing() {
    let Some((url, sink)) = partitioned_sink() else { return };
    drop(sink);
    let mut db = client(&url);
    assert!(!partitions(&mut db).iter().any(|p| p == "log_records_20310305"));
    let start = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4i64)
        .map(|w| {
            let (url, start) = (url.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                let mut sink = PgSink::connect(&url).unwrap();
                let origin = Origin::new("fleet", "h", 1 + w as u32);
                start.wait();
                // Each batch straddles midnight: both days are new to every sink.
                for b in 0..10i64 {
                    let batch: Vec<Record> =
                        (0..100i64).map(|i| record(i, MIDNIGHT - 30 * SEC + (b * 100 + i) * 60_000 + w)).collect();
                    sink.write(&Batch::new(&origin, &batch)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let per_day: Vec<(String, i64)> = db
        .query(
            "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM log_records GROUP BY 1 ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // 30 s before midnight, one a 60 ms: the first 500 of each sink's 1 000 are on the 4th.
    assert_eq!(per_day, [("2031-03-04".to_owned(), 4 * 500), ("2031-03-05".to_owned(), 4 * 500)]);
    let ids: i64 = db.query_one("SELECT count(DISTINCT id) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(ids, 4_000);
    // The four writers' ids interleave across both days: each day's range
    // still holds every id of its rows, and every record is found by id.
    assert_eq!(ids_outside_their_days_range(&mut db), 0);
    let store = PgStore::connect(&url).unwrap();
    for row in db.query("SELECT id, message FROM log_records WHERE id % 13 = 0", &[]).unwrap() {
        let found = store.record(row.get(0)).unwrap().unwrap();
        assert_eq!(found.message, row.get::<_, String>(1));
    }
    assert_eq!(misplaced(&mut db), 0);
    let days = partitions(&mut db);
    for day in ["log_records_20310304", "log_records_20310305", "log_records_20310306", "log_records_20310307"] {
        assert!(days.iter().any(|p| p == day), "{day} in {days:?}");
    }
}

/// A partitioned database holding `count` records from [`T0`], one every
/// `every_secs` seconds, written in batches of 100, with the search side
/// tables holding every row; its URL, the sink and the records.
fn partitioned_and_indexed(count: i64, every_secs: i64) -> Option<(String, PgSink, Vec<Record>)> {
    let (url, mut sink) = partitioned_sink()?;
    let origin = Origin::new("fleet", "h", 1);
    let records: Vec<Record> = (0..count).map(|i| record(i, T0 + i * every_secs * SEC)).collect();
    for chunk in records.chunks(100) {
        sink.write(&Batch::new(&origin, chunk)).unwrap();
    }
    while sink.idle().unwrap() {}
    Some((url, sink, records))
}

/// Rows whose id lies outside their day's range in `log_day_ids` (or whose
/// day has none): a lookup by id would look in the wrong days first.
fn ids_outside_their_days_range(db: &mut Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM log_records r LEFT JOIN log_day_ids d ON d.day = (r.ts AT TIME ZONE 'UTC')::date
         WHERE d.day IS NULL OR r.id NOT BETWEEN d.min_id AND d.max_id",
        &[],
    )
    .unwrap()
    .get(0)
}

/// Per UTC day (as text), the lowest and highest id.
type DayRanges = Vec<(String, i64, i64)>;

/// `log_day_ids` as (day, min id, max id), and the same computed from the rows.
fn day_ranges(db: &mut Client) -> (DayRanges, DayRanges) {
    let read = |db: &mut Client, sql: &str| -> DayRanges {
        db.query(sql, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
    };
    let kept = read(db, "SELECT day::text, min_id, max_id FROM log_day_ids ORDER BY day");
    let rows =
        read(db, "SELECT (ts AT TIME ZONE 'UTC')::date::text, min(id), max(id) FROM log_records GROUP BY 1 ORDER BY 1");
    (kept, rows)
}

#[test]
fn retention_drops_whole_days_and_deletes_in_the_partial_one() {
    // Five days, a record every 10 minutes.
    let Some((url, sink, records)) = partitioned_and_indexed(5 * 144, 600) else { return };
    let mut db = client(&url);
    let all: Vec<(i64, i64)> = db
        .query("SELECT id, (extract(epoch FROM ts) * 1000000)::int8 FROM log_records ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(all.len(), records.len());
    let store = PgMaintenance::connect(&url).unwrap();
    let cutoff = T0 + 2 * DAY + 5 * HOUR + 5 * 60 * SEC;
    let report = store.prune(Timestamp(cutoff), 100, false).unwrap();
    let kept: Vec<i64> = all.iter().filter(|(_, ts)| *ts >= cutoff).map(|(id, _)| *id).collect();
    assert_eq!(report.deleted, (all.len() - kept.len()) as u64);
    let ids: Vec<i64> =
        db.query("SELECT id FROM log_records ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, kept);
    // The two whole days went as partitions; the partial day stays, with its later rows.
    let days = partitions(&mut db);
    assert!(!days.iter().any(|p| p == "log_records_20261120" || p == "log_records_20261121"), "{days:?}");
    assert!(days.iter().any(|p| p == "log_records_20261122"), "{days:?}");
    let ranged: Vec<String> = day_ranges(&mut db).0.into_iter().map(|(day, _, _)| day).collect();
    assert_eq!(ranged, ["2026-11-22", "2026-11-23", "2026-11-24"], "a dropped day's id range goes with it");
    let (search, numbers): (i64, i64) = {
        let r = db
            .query_one(
                "SELECT (SELECT count(*) FROM log_search s WHERE NOT EXISTS
                            (SELECT 1 FROM log_records r WHERE r.id = s.id)),
                        (SELECT count(*) FROM log_search_num s WHERE NOT EXISTS
                            (SELECT 1 FROM log_records r WHERE r.id = s.id))",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((search, numbers), (0, 0), "the search side tables lose the pruned ids");
    let indexed: i64 = db.query_one("SELECT count(*) FROM log_search", &[]).unwrap().get(0);
    assert_eq!(indexed, kept.len() as i64);
    let incremental = aggregate_tables(&mut db);
    store.rebuild().unwrap();
    assert_eq!(aggregate_tables(&mut db), incremental, "pruned aggregates equal a rebuild");
    assert_eq!(store.prune(Timestamp(cutoff), 100, false).unwrap().deleted, 0);
    // The sink's idle retention drops days the same way.
    let mut sink = sink.with_retention(Some(std::time::Duration::from_secs(1)));
    while sink.idle().unwrap() {}
    assert_eq!(db.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get::<_, i64>(0), 0);
    assert!(!partitions(&mut db).iter().any(|p| p.starts_with("log_records_2026112")));
    store.rebuild().unwrap();
    assert_eq!(aggregate_tables(&mut db), vec![Vec::<String>::new(); 5]);
}

/// Every row of `log_records` as text, by id.
fn snapshot(db: &mut Client) -> Vec<String> {
    db.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    db.query("SELECT r::text FROM log_records r ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

#[test]
fn a_version_5_database_with_rows_over_days_is_partitioned_without_losing_a_row() {
    let Some(url) = TestServer::shared_database() else { return };
    // Rows since version 1, so the upgrades to 5 count them as they would have.
    let mut db = forge_schema(&url, 1);
    // 6 000 rows over six days, some sharing a time, with gaps in the ids.
    db.batch_execute(
        "INSERT INTO log_records (ts, level, logger, message, module, line, thread, pid, host, app, context)
         SELECT '2026-11-20T00:00:00Z'::timestamptz + (i / 2) * interval '170 seconds', (1 + i % 4) * 10,
                'svc::' || i % 7, 'message ' || i, CASE WHEN i % 3 = 0 THEN 'm' END, i % 100, 't', i % 5, 'h',
                'x', jsonb_build_object('request_id', 'r-' || i / 4, 'n', i % 10)
         FROM generate_series(1, 6000) i;
         DELETE FROM log_records WHERE id % 97 = 0;",
    )
    .unwrap();
    forge_upgrade(&mut db, 5);
    let before = snapshot(&mut db);
    let days: i64 =
        db.query_one("SELECT count(DISTINCT (ts AT TIME ZONE 'UTC')::date) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(days, 6);
    // Three processes migrate and partition at once: one does it, the others find it done.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgMaintenance::migrate(&format!("{url}?partition=day")).unwrap())
        })
        .collect();
    let outcomes: Vec<(i32, i32)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let latest = schema::latest_version();
    assert!(outcomes.iter().all(|&(_, to)| to == latest), "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|&&(from, _)| from == 5).count(), 1, "{outcomes:?}");
    assert_eq!(snapshot(&mut db), before, "every row, once, with its id and contents");
    let aggregates = aggregate_tables(&mut db);
    log_panel_postgres::aggregates::rebuild(&mut db).unwrap();
    assert_eq!(aggregate_tables(&mut db), aggregates, "the aggregates counted on the way equal a rebuild");
    let kind: i8 =
        db.query_one("SELECT relkind::\"char\" FROM pg_class WHERE oid = 'log_records'::regclass", &[]).unwrap().get(0);
    assert_eq!(kind as u8, b'p');
    assert!(partitions(&mut db).len() >= 6);
    assert_eq!(misplaced(&mut db), 0);
    let (kept, rows) = day_ranges(&mut db);
    assert_eq!(kept, rows, "the conversion fills each day's id range from its rows");
    assert_eq!(kept.len(), 6);
    // Migration 8 gave every search row its record's time.
    let (search, numbers, wrong): (i64, i64, i64) = {
        let r = db
            .query_one(
                "SELECT (SELECT count(*) FROM log_search), (SELECT count(*) FROM log_search_num),
                        (SELECT count(*) FROM log_search s JOIN log_records r USING (id) WHERE s.ts <> r.ts)
                      + (SELECT count(*) FROM log_search_num n JOIN log_records r USING (id) WHERE n.ts <> r.ts)",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!((search, numbers, wrong), (before.len() as i64, before.len() as i64, 0));
    // New rows get new ids, the store reads old and new.
    let max_old: i64 = db.query_one("SELECT max(id) FROM log_records", &[]).unwrap().get(0);
    let mut sink = PgSink::connect(&url).unwrap();
    sink.write(&Batch::new(&Origin::new("x", "h", 1), &[record(1, T0 + 3 * DAY)])).unwrap();
    let new_id: i64 = db.query_one("SELECT max(id) FROM log_records", &[]).unwrap().get(0);
    assert!(new_id > max_old);
    let store = PgStore::connect(&url).unwrap();
    assert_eq!(store.record(1).unwrap().unwrap().message, "message 1");
    assert_eq!(store.record(new_id).unwrap().unwrap().message, "event 1");
    assert_eq!(store.records(&RecordFilter::default(), PageAt::Newest, 10).unwrap().records.len(), 10);
    assert_eq!(snapshot(&mut db).len(), before.len() + 1);
}

#[test]
fn a_writer_role_that_may_not_drop_days_deletes_their_rows() {
    let Some(server) = TestServer::shared_own("a role of its own needs an own server") else { return };
    let Some((url, sink)) = partitioned_sink() else { return };
    drop(sink);
    let dbname = url.rsplit('/').next().unwrap().to_owned();
    let role = server.create_password_role("Days-0f-Old");
    client(&url)
        .batch_execute(&format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let role_url = server.url_with_login(&dbname, &role, "Days-0f-Old");
    let mut sink = PgSink::connect(&role_url).unwrap();
    let origin = Origin::new("fleet", "h", 1);
    // Two days; the role creates both partitions (through the function).
    let records: Vec<Record> = (0..2 * 48).map(|i| record(i, T0 + i * 1_800 * SEC)).collect();
    sink.write(&Batch::new(&origin, &records)).unwrap();
    while sink.idle().unwrap() {}
    let store = PgMaintenance::connect(&role_url).unwrap();
    let report = store.prune(Timestamp(T0 + DAY), 1_000, false).unwrap();
    assert_eq!(report.deleted, 48);
    let mut db = client(&url);
    let left: i64 = db.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(left, 48);
    assert!(partitions(&mut db).iter().any(|p| p == "log_records_20261120"), "the owner's to drop");
    let incremental = aggregate_tables(&mut db);
    store.rebuild().unwrap();
    assert_eq!(aggregate_tables(&mut db), incremental);
}

#[test]
fn records_far_in_the_past_get_their_own_days() {
    let Some((url, mut sink)) = partitioned_sink() else { return };
    // 1999-12-31T23:59:59Z and a time before PostgreSQL's earliest (clamped to 4714-11-24 BC).
    let records = [record(0, 946_684_799 * SEC), record(1, i64::MIN), record(2, T0)];
    sink.write(&Batch::new(&Origin::new("fleet", "h", 1), &records)).unwrap();
    let mut db = client(&url);
    let days = partitions(&mut db);
    // Each record's day, and the two after the newest (not after every day).
    for day in ["log_records_19991231", "log_records_47141124_bc", "log_records_20261120", "log_records_20261122"] {
        assert!(days.iter().any(|p| p == day), "{day} in {days:?}");
    }
    assert!(!days.iter().any(|p| p == "log_records_20000101"), "{days:?}");
    let stored: i64 = db.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(stored, 3);
    assert_eq!(sink.sanitised(), 1, "the clamped time counts as sanitised");
}

/// The day partitions of `log_records r` (the statement's records, not the
/// scan above the search mark) that an executed plan read: those not pruned
/// at run time (`never executed`) nor at its start (`Subplans Removed`).
fn days_read(plan: &str) -> Vec<String> {
    plan.lines()
        .filter(|l| !l.contains("never executed"))
        .filter_map(|l| {
            let table = l.split(" on ").nth(1)?;
            let mut words = table.split_whitespace();
            let (name, alias) = (words.next()?, words.next()?);
            let ours = alias == "r" || alias.strip_prefix("r_").is_some_and(|n| n.parse::<u32>().is_ok());
            (name.starts_with("log_records_") && ours).then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn searches_read_only_the_days_of_their_matches() {
    // Ten days, a record every 30 minutes; request r-7 is records 35..40, all on the first day.
    let Some((url, _sink, _)) = partitioned_and_indexed(10 * 48, 1800) else { return };
    let mut db = client(&url);
    db.batch_execute("ANALYZE").unwrap();
    let days = partitions(&mut db);
    assert!(days.len() >= 10, "{days:?}");
    let store = PgStore::connect(&url).unwrap();

    // The request view's lookup.
    let request = FieldValue::Text("r-7".into());
    let found = store.related("request_id", &request, 100).unwrap();
    assert_eq!(
        found.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
        (35..40).map(|i| format!("event {i}")).collect::<Vec<_>>()
    );
    let plan = store.explain_analyze_related("request_id", &request, 100).unwrap().unwrap();
    assert_eq!(days_read(&plan), ["log_records_20261120"], "{plan}");

    // A page of a context value, and of a rare word (record 123, on the third day).
    let mut by_field = RecordFilter::default();
    by_field.fields.push(FieldMatch::new("request_id", request).unwrap());
    let plan = store.explain_analyze_records(&by_field).unwrap();
    assert_eq!(days_read(&plan), ["log_records_20261120"], "{plan}");
    let mut word = RecordFilter::default();
    word.text = Some("event 123".into());
    let page = store.records(&word, PageAt::Newest, 50).unwrap();
    assert_eq!(page.records.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(), ["event 123"]);
    let plan = store.explain_analyze_records(&word).unwrap();
    assert_eq!(days_read(&plan), ["log_records_20261122"], "{plan}");
}

#[test]
fn a_lookup_by_id_reads_only_its_day() {
    // Ten days, a record every 30 minutes, one sink: each day's range is exact.
    let Some((url, mut sink, records)) = partitioned_and_indexed(10 * 48, 1800) else { return };
    let mut db = client(&url);
    db.batch_execute("ANALYZE").unwrap();
    assert!(partitions(&mut db).len() >= 10);
    let (kept, rows) = day_ranges(&mut db);
    assert_eq!((kept.len(), &kept), (10, &rows));
    let store = PgStore::connect(&url).unwrap();
    let ids: Vec<(i64, String, String)> = db
        .query(
            "SELECT id, message, 'log_records_' || to_char(ts AT TIME ZONE 'UTC', 'YYYYMMDD') FROM log_records
             WHERE id % 47 = 1 ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(ids.len() >= 10);
    for (id, message, day) in &ids {
        assert_eq!(&store.record(*id).unwrap().unwrap().message, message);
        let plan = store.explain_analyze_record(*id).unwrap();
        assert_eq!(days_read(&plan), [day.as_str()], "{plan}");
    }
    assert_eq!(store.record(-5).unwrap(), None);
    assert_eq!(store.record(i64::MAX).unwrap(), None);

    // One batch across midnight: the last record before it and the first
    // after each read their own day.
    let across: Vec<Record> = (0..100).map(|i| record(i, MIDNIGHT - 50 * SEC + i * SEC)).collect();
    sink.write(&Batch::new(&Origin::new("fleet", "h", 1), &across)).unwrap();
    let (kept, rows) = day_ranges(&mut db);
    assert_eq!(kept, rows, "a lone writer's ranges are exact, also across midnight");
    for (message, day) in [("event 49", "log_records_20310304"), ("event 50", "log_records_20310305")] {
        let id: i64 = db
            .query_one("SELECT id FROM log_records WHERE message = $1 AND ts > '2031-01-01'", &[&message])
            .unwrap()
            .get(0);
        assert_eq!(store.record(id).unwrap().unwrap().message, message);
        assert_eq!(days_read(&store.explain_analyze_record(id).unwrap()), [day]);
    }

    // A row stored by other means than a sink lies outside every range:
    // found all the same, by looking in every day.
    let stray: i64 = db
        .query_one(
            "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app)
             VALUES ('2026-11-21T12:00:00Z', 20, 'by-hand', 'inserted by hand', 't', 1, 'h', 'a') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(store.record(stray).unwrap().unwrap().message, "inserted by hand");

    // Two days dropped: their records are gone, the others still read one day.
    let report = PgMaintenance::connect(&url).unwrap().prune(Timestamp(T0 + 2 * DAY), 1_000, false).unwrap();
    assert_eq!(report.dropped, 2 * 48 + 1);
    let (first, _, _) = &ids[0];
    assert_eq!(store.record(*first).unwrap(), None);
    let later = &records[3 * 48].message;
    let id: i64 = db.query_one("SELECT id FROM log_records WHERE message = $1", &[later]).unwrap().get(0);
    assert_eq!(&store.record(id).unwrap().unwrap().message, later);
    assert_eq!(days_read(&store.explain_analyze_record(id).unwrap()), ["log_records_20261123"]);
}

#[test]
fn the_migration_fills_each_days_id_range_from_a_partitioned_database_with_rows() {
    let Some((url, _sink, _)) = partitioned_and_indexed(4 * 48, 1800) else { return };
    let mut db = client(&url);
    // As schema 8 left it: no ranges table, no functions (nor schema 10's site days).
    db.batch_execute(
        "DROP TABLE log_day_ids; DROP FUNCTION log_panel_fill_day_ids(); DROP FUNCTION log_panel_ids_before();
         DROP FUNCTION log_panel_note_ids(date[], bigint[], bigint[], bigint); DROP TABLE log_site_daily;
         DELETE FROM log_panel_schema WHERE version >= 9;
         DELETE FROM log_records WHERE id % 10 = 0;",
    )
    .unwrap();
    let err = PgStore::connect(&url).unwrap_err();
    assert!(err.to_string().contains("schema version 8"), "{err}");
    assert_eq!(PgMaintenance::migrate(&url).unwrap(), (8, schema::latest_version()));
    let (kept, rows) = day_ranges(&mut db);
    assert_eq!(kept.len(), 4);
    assert_eq!(kept, rows, "each day's range from its partition's ids");
    let store = PgStore::connect(&url).unwrap();
    let id: i64 = db.query_one("SELECT max(id) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(days_read(&store.explain_analyze_record(id).unwrap()), ["log_records_20261123"]);
    // An unpartitioned database keeps no ranges.
    let (plain, mut sink) = log_panel_testing::postgres::fresh_sink().unwrap();
    sink.write(&Batch::new(&Origin::new("fleet", "h", 1), &[record(1, T0), record(2, MIDNIGHT)])).unwrap();
    let mut db = client(&plain);
    assert_eq!(db.query_one("SELECT count(*) FROM log_day_ids", &[]).unwrap().get::<_, i64>(0), 0);
    let store = PgStore::connect(&plain).unwrap();
    assert_eq!(store.record(2).unwrap().unwrap().message, "event 2");
}
