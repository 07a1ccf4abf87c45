//! The query plan of every filter combination the command and the panel
//! offer (issue 24), on a throwaway server: `PgStore::explain_records` —
//! the statement a page runs through the indexes — never scans
//! `log_records` sequentially, with `enable_seqscan` left on, over enough
//! rows (ANALYZEd) that the planner's choice means something; the
//! level-bounded logger paths use the partial indexes of WARN and above.
//! The rows of the same filters are checked on every store by the
//! conformance suite (`conformance.rs` beside this folder).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::{Sink, Timestamp};
use log_panel_postgres::PgStore;
use log_panel_query::Store;
use log_panel_query::{PageAt, HOUR};
use log_panel_testing::plans::{self, PlanSet};
use log_panel_testing::postgres::{client, fresh_sink};
use log_panel_testing::records::BASE;

const SET: PlanSet = PlanSet::POSTGRES;

const WARN: &[&str] = &["log_records_warn_logger_c_ts_id_idx", "log_records_warn_ts_id_idx"];
const TS: &[&str] = &["log_records_ts_id_idx"];
const LOGGER: &[&str] = &["log_records_logger_c_ts_id_idx", "log_records_ts_id_idx"];
const SEARCH: &[&str] = &["log_search_message_trgm_idx"];
// `key=value` finds its ids in `log_search` (the side table): at this
// size the planner reads that table whole rather than its GIN index
// (12 rows estimated); only `log_records` is pinned here (the
// 10 M PostgreSQL figures are not measured in this run).
const CONTEXT: &[&str] = &["log_search_context_idx", "on log_search s"];
const NUM: &[&str] = &["log_search_num_pkey"];

/// The index names one of which the plan of each of the shared filters must use.
fn indexes(name: &str) -> &'static [&'static str] {
    match name {
        "newest" | "time range" | "levels info,debug" | "call site" | "thread + window" => TS,
        "min level warn"
        | "levels error"
        | "tree + warn"
        | "exact + warn"
        | "quiet exact + warn"
        | "errors + since"
        | "tree + warn + since" => WARN,
        // A busy logger (40 % of the rows): the time order finds its rows, and its site's, at once.
        "logger exact" | "logger tree" | "tree + time range" | "exact logger + call site" => LOGGER,
        "text word" | "text phrase" | "tree + text" => SEARCH,
        // A common term (a quarter of the rows) is looked for in the whole
        // side table, as `key=value` is (`CONTEXT`); `log_records` is read by id.
        "text common" => &["on log_search s"],
        "context key"
        | "request id"
        | "trace id"
        | "exact + context key"
        | "text + context key"
        | "rare text + context key"
        | "tree + warn + text + context key"
        | "app + host + context key"
        | "exact + since + until + request id" => CONTEXT,
        "context range" => NUM,
        "since + context range" => &["log_search_num_pkey", "log_records_ts_id_idx"],
        "tree + warn + since + text" => {
            &["log_records_warn_logger_c_ts_id_idx", "log_records_warn_ts_id_idx", "log_search_message_trgm_idx"]
        }
        other => panic!("no index named for the plan of {other}"),
    }
}

#[test]
fn every_combination_is_planned_through_an_index() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    SET.write(&mut sink);
    while sink.idle().unwrap() {}
    // VACUUM too: the side table's trigram GIN keeps new entries in its
    // pending list (fastupdate) until a vacuum moves them, and the planner
    // prices that list in; whether autovacuum had run decided between the
    // index and a scan of the small side table (one failure under load).
    client(&url).batch_execute("VACUUM ANALYZE").unwrap();
    let store = PgStore::connect(&url).unwrap();
    let mut failures = Vec::new();
    for (name, f) in plans::filters(Timestamp(BASE + HOUR / 2), Timestamp(BASE + HOUR)) {
        let indexes = indexes(name);
        let plan = store.explain_records(&f).unwrap();
        if plan.contains("Seq Scan on log_records ") {
            failures.push(format!("{name}: a sequential scan of log_records:\n{plan}"));
        } else if !indexes.iter().any(|i| plan.contains(i)) {
            failures.push(format!("{name}: none of {indexes:?} in\n{plan}"));
        }
        // The plan is the page's: it answers (rows checked by the conformance suite).
        store.records(&f, PageAt::Newest, 50).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
