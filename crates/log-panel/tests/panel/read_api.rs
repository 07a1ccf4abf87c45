//! Feature `read`: a program queries its own logs through `log_panel::read`
//! alone (no direct dependency on the storage crates), on SQLite and on
//! PostgreSQL, with the records it logged through a panel of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TempDb;
use log_panel::read::{FieldMatch, FieldValue, PageAt, PgStore, RecordFilter, SqliteStore, Store, TRACE_ID_KEY};
use log_panel::{Level, Pipeline};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Six records: users 7 and 8, INFO and WARN, two of them in one trace.
fn log_into(panel: &Pipeline) {
    let log = |level: log::Level, user: i64, message: &str, trace: Option<&str>| {
        let _scope = trace.map(|t| log_panel::scope!(trace_id = t.to_owned()));
        let kvs = [("user_id", log::kv::Value::from(user))];
        log::Log::log(
            panel,
            &log::Record::builder()
                .args(format_args!("{message}"))
                .level(level)
                .target("app::billing")
                .key_values(&kvs)
                .build(),
        );
    };
    log(log::Level::Info, 7, "signed in", Some(TRACE));
    log(log::Level::Warn, 7, "card declined", Some(TRACE));
    log(log::Level::Warn, 8, "card declined", None);
    log(log::Level::Info, 8, "signed in", None);
    log(log::Level::Warn, 7, "retry", None);
    log(log::Level::Info, 9, "browsing", None);
    panel.flush().unwrap();
}

/// The same questions to any store: user 7's warnings, the trace, a count.
fn ask(store: &dyn Store) {
    let mut filter = RecordFilter::default();
    filter.min_level = Some(Level::Warn);
    filter.fields.push(FieldMatch::new("user_id", FieldValue::Int(7)).unwrap());
    let page = store.records(&filter, PageAt::Newest, 50).unwrap();
    let messages: Vec<&str> = page.records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["retry", "card declined"]);
    assert!(page.records.iter().all(|r| r.logger == "app::billing" && r.context["user_id"] == 7));

    let mut trace = RecordFilter::default();
    trace.fields.push(FieldMatch::new(TRACE_ID_KEY, FieldValue::Text(TRACE.to_owned())).unwrap());
    let page = store.records(&trace, PageAt::Newest, 50).unwrap();
    assert_eq!(page.records.len(), 2);

    // Keyset paging: pages of 2 walk all six records once.
    let mut seen = Vec::new();
    let mut at = PageAt::Newest;
    loop {
        let page = store.records(&RecordFilter::default(), at, 2).unwrap();
        seen.extend(page.records.iter().map(|r| r.id));
        match page.older {
            Some(cursor) => at = PageAt::Older(cursor),
            None => break,
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 6);
}

#[test]
fn a_program_reads_its_sqlite_logs_through_log_panel_alone() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).panic_hook(false).build().unwrap();
    log_into(&panel);
    let store = SqliteStore::open(&db.path).unwrap();
    ask(&store);
}

#[test]
fn a_program_reads_its_postgres_logs_through_log_panel_alone() {
    let Some(url) = log_panel_testing::postgres::TestServer::shared_database() else {
        return;
    };
    let panel = log_panel::builder().postgres(url.clone()).panic_hook(false).build().unwrap();
    log_into(&panel);
    let store = PgStore::connect(&url).unwrap();
    ask(&store);
}
