//! Every field of a record lands in SQLite with the right value and type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::TempDb;
use serde_json::json;

#[test]
fn every_field_lands_with_its_value() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).app("fields-test").filter("trace").build().unwrap();
    let before = log_panel::Timestamp::now().to_rfc3339();
    let line = line!() + 1;
    log::warn!(logger: panel, target: "billing::payments", order = 12; "declined {} of {}", 2, 3);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("worker-7".into())
            .spawn_scoped(s, || log::trace!(logger: panel, "from a named thread"))
            .unwrap();
    });
    panel.flush().unwrap();
    let after = log_panel::Timestamp::now().to_rfc3339();

    let conn = db.conn();
    let row = conn
        .query_row(
            "SELECT ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size
             FROM log_records WHERE level = 30",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, String>(11)?,
                    r.get::<_, Option<i64>>(12)?,
                ))
            },
        )
        .unwrap();
    let (ts, level, logger, message, module, file, line_no, thread, pid, host, app, context, original_size) = row;
    assert!(ts.len() == 27 && ts.ends_with('Z'), "RFC 3339 UTC with microseconds: {ts}");
    assert!(before <= ts && ts <= after, "{before} <= {ts} <= {after}");
    assert_eq!(level, 30);
    assert_eq!(logger, "billing::payments");
    assert_eq!(message, "declined 2 of 3");
    assert_eq!(module.as_deref(), Some(module_path!()));
    assert!(file.as_deref().unwrap().ends_with("tests/panel/fields.rs"), "{file:?}");
    assert_eq!(line_no, Some(i64::from(line)));
    // libtest names each test's thread after the test.
    assert_eq!(thread, "fields::every_field_lands_with_its_value");
    assert_eq!(pid, i64::from(std::process::id()));
    assert_eq!(host, gethostname());
    assert_eq!(app, "fields-test");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&context).unwrap(), json!({"order": 12}));
    assert_eq!(original_size, None);

    let (thread, level): (String, i64) = conn
        .query_row("SELECT thread, level FROM log_records WHERE message = 'from a named thread'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((thread.as_str(), level), ("worker-7", 5));
}

fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_default()
}

#[test]
fn key_value_types_survive() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).build().unwrap();
    let name = String::from("ann");
    let missing: Option<i32> = None;
    log::info!(logger: panel,
        int = -7, big = u64::MAX, float = 2.5, yes = true, text = "x\"y", owned = name.as_str(),
        addr:% = std::net::Ipv4Addr::LOCALHOST, dbg:? = vec![1, 2], none:? = missing;
        "typed");
    panel.flush().unwrap();
    let context: String = db.conn().query_row("SELECT context FROM log_records", [], |r| r.get(0)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&context).unwrap();
    assert_eq!(
        v,
        json!({"int": -7, "big": u64::MAX, "float": 2.5, "yes": true, "text": "x\"y", "owned": "ann",
               "addr": "127.0.0.1", "dbg": "[1, 2]", "none": "None"})
    );
    // Types as SQLite's JSON functions see them.
    let types: String = db
        .conn()
        .query_row(
            "SELECT group_concat(type, ',') FROM (SELECT json_type(context, '$.' || key) AS type
             FROM log_records, json_each(log_records.context) ORDER BY key)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(types, "text,integer,text,real,integer,text,text,text,true");
}

/// Stores nothing; keeps each record's (thread, i, timestamp), slowly, so
/// that records wait in the queue before the writer receives them.
struct SlowRecorder(std::sync::Arc<std::sync::Mutex<Vec<(i64, i64, i64)>>>);

impl log_panel::Sink for SlowRecorder {
    fn write(&mut self, batch: &log_panel::Batch<'_>) -> Result<(), log_panel::SinkError> {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let int = |r: &log_panel::Record, k: &str| match r.fields().find(|(key, _)| *key == k) {
            Some((_, log_panel::Value::I64(v))) => *v,
            other => panic!("{k}: {other:?}"),
        };
        let mut kept = self.0.lock().unwrap();
        for r in batch.records {
            kept.push((int(r, "thread"), int(r, "i"), r.timestamp.as_micros()));
        }
        Ok(())
    }
}

/// The calling thread only reads a tick counter; the writer turns ticks into
/// wall time when it receives the record (`clock.rs`). Each stored time must
/// still be the call's own: within the wall-clock readings taken just before
/// and after the call, though the writer, stuck in a slow sink, received it
/// up to tens of milliseconds later.
#[test]
fn timestamps_are_the_calls_own_though_converted_later() {
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let panel = log_panel::builder().sink(SlowRecorder(kept.clone())).batch_size(1).build().unwrap();
    let micros = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    let mut windows: Vec<(i64, i64, i64, i64)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..3i64)
            .map(|t| {
                let panel = &panel;
                s.spawn(move || {
                    let mut windows = Vec::new();
                    for i in 0..10i64 {
                        let before = micros(std::time::SystemTime::now());
                        log::info!(logger: panel, thread = t, i = i; "call");
                        let after = micros(std::time::SystemTime::now());
                        windows.push((t, i, before, after));
                        std::thread::sleep(std::time::Duration::from_millis(3));
                    }
                    windows
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    panel.flush().unwrap();
    windows.sort();
    let mut stored = kept.lock().unwrap().clone();
    stored.sort();
    assert_eq!(stored.len(), windows.len());
    for ((t, i, at), (wt, wi, before, after)) in stored.iter().zip(&windows) {
        assert_eq!((t, i), (wt, wi));
        // One microsecond of slack each side: the readings round differently.
        assert!(before - 1 <= *at && *at <= after + 1, "thread {t} call {i}: {before} <= {at} <= {after}");
    }
    // The 30 calls are over in ~40 ms; the writer, one 20 ms write per
    // record, receives the last ones ~0.5 s after their calls: a time taken
    // on receipt would fail the windows above.
}
