//! Context end to end, through the logger, the queue, the writer and SQLite:
//! the `request_context` example's scenario, records queued across rebinds,
//! and async tasks on a multi-threaded runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

// The example's own code, so the test checks exactly what the example does.
#[allow(dead_code)]
#[path = "../../../../examples/request_context.rs"]
mod example;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::TempDb;
use log_panel::context::{self, WithContext};
use serde_json::{json, Value as Json};

/// Every stored row as (message, thread, context), in insertion order.
fn rows(db: &TempDb) -> Vec<(String, String, Json)> {
    let conn = db.conn();
    let mut stmt = conn.prepare("SELECT message, thread, context FROM log_records ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))
        .unwrap()
        .map(|r| {
            let (m, t, c) = r.unwrap();
            (m, t, serde_json::from_str(&c).unwrap())
        })
        .collect()
}

#[test]
fn example_scenario_stores_every_request_with_its_own_context() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).build().unwrap();
    example::serve(&panel, example::WORKERS, example::REQUESTS);
    drop(panel); // drains and commits everything

    let total = example::REQUESTS * example::RECORDS_PER_REQUEST;
    assert_eq!(db.count("1"), total as i64);

    let per_request: Vec<(Option<String>, i64)> = {
        let conn = db.conn();
        let mut stmt = conn
            .prepare("SELECT json_extract(context, '$.request_id') AS rid, count(*) FROM log_records GROUP BY rid")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(per_request.len() as u64, example::REQUESTS, "8 000 distinct request ids");
    assert!(per_request.iter().all(|(rid, n)| rid.is_some() && *n == 3), "exactly 3 rows per request id");
    let explicit = db.count(&format!("json_extract(context, '$.user') = '{}'", example::EXPLICIT_USER));
    assert_eq!(explicit as u64, example::REQUESTS, "one explicit user per request");

    // Row by row: the right user, no key from another request, the worker's own key.
    let mut seen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut threads: HashMap<String, u64> = HashMap::new();
    for (message, thread, ctx) in rows(&db) {
        let rid = ctx["request_id"].as_str().unwrap();
        let seq: u64 = rid.trim_start_matches("req-").parse().unwrap();
        assert_eq!(rid, example::request_id(seq));
        let want_user =
            if message.starts_with("acting") { example::EXPLICIT_USER.to_owned() } else { example::user_of(seq) };
        assert_eq!(ctx["user"], json!(want_user), "{message} / {ctx}");
        let worker = ctx["worker"].as_u64().unwrap();
        assert_eq!(thread, format!("worker-{worker}"), "the worker-lifetime bind stays with its thread");
        *threads.entry(thread).or_default() += 1;
        // `items` is bound mid-request by some requests only: never before the
        // bind, and never leaking into a later request on the same worker.
        let want_items = example::binds_items(seq) && message != "request started";
        assert_eq!(ctx.get("items").is_some(), want_items, "{message} / {ctx}");
        let keys = ctx.as_object().unwrap().len();
        let extra = match message.as_str() {
            "request started" => "path",
            "request finished" => "status",
            _ => "user",
        };
        assert!(ctx.get(extra).is_some(), "{message} / {ctx}");
        assert_eq!(keys, 3 + usize::from(want_items) + usize::from(extra != "user"), "{message} / {ctx}");
        seen.entry(seq).or_default().push(message);
    }
    assert_eq!(seen.len() as u64, example::REQUESTS);
    assert!(seen.values().all(|m| m.len() == 3 && m[0] == "request started" && m[2] == "request finished"));
    assert!(threads.len() > 1, "requests were served by several workers: {threads:?}");
}

#[test]
fn queued_records_keep_the_context_they_were_logged_with() {
    let db = TempDb::new();
    // Nothing is written until the explicit flush: every record below sits in
    // the queue or the writer's batch while the context changes under it.
    let panel = log_panel::builder()
        .database(&db.path)
        .batch_size(10_000)
        .flush_interval(Duration::from_secs(3600))
        .flush_level(None)
        .build()
        .unwrap();
    context::clear();
    log_panel::bind!(step = 1, user = "ann");
    log::info!(logger: &panel, "one");
    log_panel::bind!(step = 2);
    log::info!(logger: &panel, "two");
    {
        let _s = log_panel::scope!(step = 3, extra = true);
        log::info!(logger: &panel, "three");
    }
    log_panel::unbind!(user);
    log::info!(logger: &panel, "four");
    context::clear();
    log::info!(logger: &panel, user = "own"; "five");
    assert_eq!(db.count("1"), 0, "still queued before the flush");
    panel.flush().unwrap();

    let got: Vec<(String, Json)> = rows(&db).into_iter().map(|(m, _, c)| (m, c)).collect();
    assert_eq!(
        got,
        vec![
            ("one".to_owned(), json!({"step": 1, "user": "ann"})),
            ("two".to_owned(), json!({"step": 2, "user": "ann"})),
            ("three".to_owned(), json!({"step": 3, "user": "ann", "extra": true})),
            ("four".to_owned(), json!({"step": 2})),
            ("five".to_owned(), json!({"user": "own"})),
        ]
    );
}

#[test]
fn async_tasks_records_carry_their_own_context() {
    const TASKS: u64 = 64;
    const STEPS: u64 = 5;
    let db = TempDb::new();
    let panel = Arc::new(log_panel::builder().database(&db.path).build().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let panel = Arc::clone(&panel);
                tokio::spawn(
                    async move {
                        for step in 0..STEPS {
                            log_panel::bind!(step = step); // per task, survives the await
                            tokio::task::yield_now().await;
                            log::info!(logger: &*panel, "task {task} step {step}");
                        }
                    }
                    .with_context(log_panel::ctx!(task = task)),
                )
            })
            .collect();
        // A bare task on the same runtime sees none of them.
        let panel2 = Arc::clone(&panel);
        let bare = tokio::spawn(async move {
            for _ in 0..STEPS {
                tokio::task::yield_now().await;
                log::info!(logger: &*panel2, "bare");
            }
        });
        for t in tasks {
            t.await.unwrap();
        }
        bare.await.unwrap();
    });
    panel.flush().unwrap();

    let rows = rows(&db);
    assert_eq!(rows.len() as u64, TASKS * STEPS + STEPS);
    for (message, _, ctx) in rows {
        if message == "bare" {
            assert_eq!(ctx, json!({}));
        } else {
            let task = ctx["task"].as_u64().unwrap();
            let step = ctx["step"].as_u64().unwrap();
            assert_eq!(message, format!("task {task} step {step}"), "{ctx}");
            assert_eq!(ctx.as_object().unwrap().len(), 2, "{ctx}");
        }
    }
}
