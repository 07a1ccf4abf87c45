//! A search page (and the view of the records sharing a value) says how
//! far the index it reads is behind (the records it scans), and the home
//! page says so for every index; nothing once the indexes caught up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::http::StatusCode;
use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_query::Store;
use log_panel_sqlite::{SqliteSink, SqliteStore};
use log_panel_web::router;

use crate::common::{assert_escaped, get, H_ATTR, H_MSG};

const NOTE: &str = "class=\"lag-note\"";

#[test]
fn a_search_page_notes_the_records_its_index_has_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let origin = Origin::new("shop", "h1", 7);
    let records: Vec<Record> = (0..1_200i64)
        .map(|i| {
            let mut r = Record::new(Level::Warn, "billing", format!("payment {H_MSG} failed {i}"));
            r.kv.push(("user_id".into(), (i % 40).into()));
            r.kv.push(("note".into(), H_ATTR.into()));
            r
        })
        .collect();
    sink.write(&Batch::new(&origin, &records)).unwrap();
    sink.index_some(900).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let app = router(store.clone());
        let (status, _, body) = get(&app, "/records?text=payment").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_escaped("search", &body);
        assert!(
            body.contains(&format!(
                "<p {NOTE} role=\"note\">search index 300 records behind: the newest 300 records are scanned \
                 (results stay complete)</p>"
            )),
            "{body}"
        );
        let (_, _, by_user) = get(&app, "/records?q=user_id%3A7").await;
        assert!(
            by_user.contains(">context-key index 300 records behind: the newest 300 records are scanned"),
            "{by_user}"
        );
        let (_, _, shared) = get(&app, "/related?key=user_id&value=7").await;
        assert!(
            shared.contains(">context-key index 300 records behind: the newest 300 records are scanned"),
            "{shared}"
        );
        let (_, _, unfiltered) = get(&app, "/records").await;
        assert!(!unfiltered.contains(NOTE), "a page that reads no index: {unfiltered}");
        let (_, _, home) = get(&app, "/").await;
        assert_escaped("home", &home);
        assert!(home.contains(">search and context-key index 300 records behind:"), "{home}");

        tokio::task::block_in_place(|| sink.catch_up_indexes(10_000).unwrap());
        for uri in ["/records?text=payment", "/records?q=user_id%3A7", "/related?key=user_id&value=7", "/"] {
            let (status, _, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::OK);
            assert!(!body.contains(NOTE), "{uri} once indexed: {body}");
        }
    });
}
