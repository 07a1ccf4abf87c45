//! `PgSink` against a real PostgreSQL server (a throwaway one, see `testing`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use log_panel_core::{Batch, Context, Level, Origin, Record, Sink, SinkErrorKind, Timestamp, Value};
use log_panel_postgres::{schema, Error, PgSink};
use log_panel_testing::postgres::{client, fresh_sink, index_names, TestServer, RECORD_INDEXES};

fn origin() -> Origin {
    Origin::new("billing", "web-1", 4242)
}

fn micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap(),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap(),
    }
}

#[test]
fn every_field_round_trips_with_types() {
    let Some((url, mut sink)) = fresh_sink() else { return };

    let mut full = Record::new(Level::Warn, "billing::db", "paid 12 € — ünïcode");
    full.timestamp = Timestamp(1_763_800_000_123_457);
    full.module_path = Some("billing::db".into());
    full.file = Some("src/db.rs".into());
    full.line = Some(42);
    full.thread = Arc::from("worker-1");
    full.context = Context::from_pairs([
        ("request_id", Value::from("r-1")),
        ("user", Value::from("from-context")),
        ("nested", Value::from("{\"a\":1}")),
    ]);
    full.kv.push(("user".into(), Value::from("explicit")));
    full.kv.push(("int".into(), Value::I64(-7)));
    full.kv.push(("big".into(), Value::U64(u64::MAX)));
    full.kv.push(("float".into(), Value::F64(1.5)));
    full.kv.push(("yes".into(), Value::Bool(true)));
    full.kv.push(("nothing".into(), Value::Null));
    full.kv.push(("nan".into(), Value::F64(f64::NAN)));
    full.original_size = Some(123_456);

    let mut bare = Record::new(Level::Trace, "t", "");
    bare.timestamp = Timestamp(-1); // one microsecond before the epoch

    let mut levels: Vec<Record> = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace]
        .into_iter()
        .map(|l| Record::new(l, "levels", l.as_str()))
        .collect();
    let mut records = vec![full, bare];
    records.append(&mut levels);
    sink.write(&Batch::new(&origin(), &records)).unwrap();
    assert_eq!(sink.sanitised(), 0);

    let mut db = client(&url);
    let rows = db
        .query(
            "SELECT ts, level, logger, message, module, file, line, thread, pid, host, app, context::text, \
             original_size, jsonb_typeof(context->'int'), jsonb_typeof(context->'float'), \
             jsonb_typeof(context->'yes'), jsonb_typeof(context->'nothing'), context->>'user', \
             pg_typeof(ts)::text, pg_typeof(level)::text, pg_typeof(context)::text \
             FROM log_records ORDER BY id",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 7);

    let r = &rows[0];
    assert_eq!(micros(r.get::<_, SystemTime>(0)), 1_763_800_000_123_457);
    assert_eq!(r.get::<_, i16>(1), 30);
    assert_eq!(r.get::<_, &str>(2), "billing::db");
    assert_eq!(r.get::<_, &str>(3), "paid 12 € — ünïcode");
    assert_eq!(r.get::<_, Option<&str>>(4), Some("billing::db"));
    assert_eq!(r.get::<_, Option<&str>>(5), Some("src/db.rs"));
    assert_eq!(r.get::<_, Option<i32>>(6), Some(42));
    assert_eq!(r.get::<_, &str>(7), "worker-1");
    assert_eq!(r.get::<_, i32>(8), 4242);
    assert_eq!(r.get::<_, &str>(9), "web-1");
    assert_eq!(r.get::<_, &str>(10), "billing");
    let context: serde_json::Value = serde_json::from_str(r.get::<_, &str>(11)).unwrap();
    assert_eq!(
        context,
        serde_json::json!({
            "request_id": "r-1", "user": "explicit", "nested": "{\"a\":1}", "int": -7,
            "big": u64::MAX, "float": 1.5, "yes": true, "nothing": null, "nan": null
        })
    );
    assert_eq!(r.get::<_, Option<i64>>(12), Some(123_456));
    assert_eq!(r.get::<_, &str>(13), "number");
    assert_eq!(r.get::<_, &str>(14), "number");
    assert_eq!(r.get::<_, &str>(15), "boolean");
    assert_eq!(r.get::<_, &str>(16), "null");
    assert_eq!(r.get::<_, &str>(17), "explicit", "the record's own key-value wins over context");
    assert_eq!(
        (r.get::<_, &str>(18), r.get::<_, &str>(19), r.get::<_, &str>(20)),
        ("timestamp with time zone", "smallint", "jsonb")
    );

    let b = &rows[1];
    assert_eq!(micros(b.get::<_, SystemTime>(0)), -1);
    assert_eq!(b.get::<_, i16>(1), 5);
    assert_eq!(b.get::<_, &str>(3), "");
    assert_eq!(b.get::<_, Option<&str>>(4), None);
    assert_eq!(b.get::<_, Option<&str>>(5), None);
    assert_eq!(b.get::<_, Option<i32>>(6), None);
    assert_eq!(b.get::<_, &str>(7), "main");
    assert_eq!(b.get::<_, &str>(11), "{}");
    assert_eq!(b.get::<_, Option<i64>>(12), None);

    // Levels are stored as severities and named by log_levels.
    let named: Vec<(i16, String, String)> = db
        .query(
            "SELECT r.level, l.name, r.message FROM log_records r JOIN log_levels l USING (level) \
             WHERE r.logger = 'levels' ORDER BY r.id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let expected: Vec<(i16, String, String)> = [(40, "ERROR"), (30, "WARN"), (20, "INFO"), (10, "DEBUG"), (5, "TRACE")]
        .into_iter()
        .map(|(n, s)| (n, s.to_owned(), s.to_owned()))
        .collect();
    assert_eq!(named, expected);
}

#[test]
fn nul_bytes_are_sanitised_and_counted_without_failing_the_batch() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let counter = sink.sanitised_counter();

    let mut dirty_message = Record::new(Level::Info, "app", "before\0after");
    dirty_message.thread = Arc::from("th\0read");
    let mut dirty_context = Record::new(Level::Info, "lo\0gger", "clean");
    dirty_context.context = Context::from_pairs([("ke\0y", "va\0lue")]);
    dirty_context.kv.push(("k".into(), Value::from("\0")));
    let clean = Record::new(Level::Info, "app", "fine");
    let records = vec![dirty_message, clean.clone(), dirty_context, clean];
    sink.write(&Batch::new(&origin(), &records)).unwrap();
    assert_eq!(sink.sanitised(), 2);
    assert_eq!(counter.get(), 2);

    let mut db = client(&url);
    let rows: Vec<(String, String, String, String)> = db
        .query("SELECT logger, message, thread, context::text FROM log_records ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(rows.len(), 4, "the whole batch is stored");
    assert_eq!(rows[0].1, "before\u{FFFD}after");
    assert_eq!(rows[0].2, "th\u{FFFD}read");
    assert_eq!(rows[1].1, "fine");
    assert_eq!(rows[2].0, "lo\u{FFFD}gger");
    let ctx: serde_json::Value = serde_json::from_str(&rows[2].3).unwrap();
    assert_eq!(ctx, serde_json::json!({"ke\u{FFFD}y": "va\u{FFFD}lue", "k": "\u{FFFD}"}));
    assert_eq!(rows[3].3, "{}");
}

#[test]
fn many_batches_append_in_order() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    // Batches larger than the encoder's chunk size, plus an empty one.
    for b in 0..3 {
        let records: Vec<Record> = (0..20_000)
            .map(|i| {
                let mut r = Record::new(Level::Info, "bulk", format!("batch {b} record {i}"));
                r.kv.push(("seq".into(), Value::I64(b * 20_000 + i)));
                r
            })
            .collect();
        sink.write(&Batch::new(&origin(), &records)).unwrap();
    }
    sink.write(&Batch::new(&origin(), &[])).unwrap();
    let mut db = client(&url);
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT (context->>'seq')::bigint), min((context->>'seq')::bigint), \
             max((context->>'seq')::bigint), bool_and(message = 'batch ' || ((context->>'seq')::bigint / 20000) \
             || ' record ' || ((context->>'seq')::bigint % 20000)) FROM log_records",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 60_000);
    assert_eq!(row.get::<_, i64>(1), 60_000);
    assert_eq!((row.get::<_, i64>(2), row.get::<_, i64>(3)), (0, 59_999));
    assert!(row.get::<_, bool>(4));
}

#[test]
fn migrating_twice_and_concurrently_is_safe() {
    let Some(url) = TestServer::shared_database() else { return };
    // Eight sinks start at once against an empty database.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgSink::connect(&url).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    // And once more, sequentially, with the migration function itself.
    let mut db = client(&url);
    let outcome = schema::migrate(&mut db).unwrap();
    let latest = schema::latest_version();
    assert_eq!(outcome, schema::MigrationOutcome { from: latest, to: latest });
    let versions: Vec<i32> = db
        .query("SELECT version FROM log_panel_schema ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=latest).collect::<Vec<i32>>());
    let levels: i64 = db.query_one("SELECT count(*) FROM log_levels", &[]).unwrap().get(0);
    assert_eq!(levels, 5);
    assert_eq!(index_names(&mut db, "log_records"), RECORD_INDEXES);
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(url) = TestServer::shared_database() else { return };
    drop(PgSink::connect(&url).unwrap());
    client(&url).execute("INSERT INTO log_panel_schema (version, description) VALUES (99, 'future')", &[]).unwrap();
    let err = PgSink::connect(&url).unwrap_err();
    let latest = schema::latest_version();
    assert!(matches!(err, Error::SchemaTooNew { found: 99, supported, .. } if supported == latest), "{err:?}");
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    let Some(server) = TestServer::shared_own("wrong-password test needs an own server (pg_hba.conf)") else { return };
    let url = server.create_database();
    let dbname = url.rsplit('/').next().unwrap().to_owned();
    let role = server.create_password_role("Corr3ct-Horse");
    // The owner migrates; the password role only gets to read and insert (and update its
    // writer row and the aggregate counts).
    drop(PgSink::connect(&url).unwrap());
    client(&url)
        .batch_execute(&format!(
            "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role};
             GRANT UPDATE ON log_panel_writers, log_logger_stats, log_logger_hourly, log_logger_quarter, log_site_hourly,
                              log_site_daily TO {role}"
        ))
        .unwrap();
    // The right password works (so the failure below is about the password).
    let good = server.url_with_login(&dbname, &role, "Corr3ct-Horse");
    let mut sink = PgSink::connect(&good).unwrap();
    sink.write(&Batch::new(&origin(), &[Record::new(Level::Info, "a", "as a plain role")])).unwrap();
    assert!(!format!("{sink:?} {}", sink.describe()).contains("Corr3ct-Horse"));
    drop(sink);

    let bad = server.url_with_login(&dbname, &role, "Wr0ng-Battery-Staple");
    let err = PgSink::connect(&bad).unwrap_err();
    let shown = format!("{err}");
    let debug = format!("{err:?}");
    for text in [&shown, &debug] {
        assert!(!text.contains("Wr0ng-Battery-Staple"), "password leaked: {text}");
        assert!(text.contains(&format!("postgres://{role}:***@127.0.0.1:{}/{dbname}", server.port())), "{text}");
    }
    assert!(matches!(err, Error::Connect { .. }), "{debug}");
    assert!(shown.contains("password authentication failed"), "{shown}");
}

#[test]
fn bad_urls_are_clear_errors_without_the_password() {
    // Unparseable port.
    let err = PgSink::connect("postgres://u:Secret-One@localhost:notaport/db").unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("Secret-One"));
    assert!(err.to_string().contains("postgres://u:***@localhost:notaport/db"), "{err}");

    // Nothing listens there: a connection error, quickly, naming the redacted URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgresql://u:Secret-Two@127.0.0.1:{port}/db?password=Secret-Three&connect_timeout=5");
    let err = PgSink::connect(&url).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("Secret-Two") && !text.contains("Secret-Three"), "{text}");
    assert!(matches!(err, Error::Connect { .. }), "{text}");
    assert!(err.is_transient());
    assert!(text.contains(&format!("postgresql://u:***@127.0.0.1:{port}/db?password=***&connect_timeout=5")), "{text}");

    // Key-value form.
    let err =
        PgSink::connect("host=127.0.0.1 port=1 user=u password=Secret-Four dbname=d connect_timeout=2").unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("Secret-Four"), "{text}");
    assert!(text.contains("password=***"), "{text}");
}

#[test]
fn describe_and_debug_are_redacted() {
    let Some((_, sink)) = fresh_sink() else { return };
    assert!(sink.describe().starts_with("PostgreSQL postgres://"), "{}", sink.describe());
    let cfg = log_panel_postgres::Options::parse("postgres://a:Hidden-Pw@h/d").unwrap();
    assert_eq!(format!("{cfg:?}"), r#"Options { url: "postgres://a:***@h/d" }"#);
    assert!(!format!("{:?}", cfg.driver_config()).contains("Hidden-Pw"));
}

#[test]
fn server_side_data_errors_are_bad_records() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    // A constraint the sink does not know about stands in for any data error.
    client(&url)
        .batch_execute("ALTER TABLE log_records ADD CONSTRAINT no_forbidden CHECK (message <> 'forbidden')")
        .unwrap();
    let records = vec![Record::new(Level::Info, "a", "ok"), Record::new(Level::Info, "a", "forbidden")];
    let err = sink.write(&Batch::new(&origin(), &records)).unwrap_err();
    assert_eq!(err.kind(), SinkErrorKind::BadRecord, "{err}");
    // The connection is still usable and nothing of the failed batch was stored.
    sink.write(&Batch::new(&origin(), &records[..1])).unwrap();
    let n: i64 = client(&url).query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}
