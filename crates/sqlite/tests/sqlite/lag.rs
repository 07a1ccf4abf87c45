//! `Store::index_lag`: how far the search index and the context-key side
//! table are behind, each from its own mark, counted up to the cap and
//! beyond it the span of ids; the note a search shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_query::{index_note, Behind, IndexLag, RecordFilter, Store};
use log_panel_sqlite::{SqliteSink, SqliteStore};

fn write(sink: &mut SqliteSink, n: i64) {
    let origin = Origin::new("api", "h1", 7);
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut r = Record::new(Level::Info, "app", format!("request {i} served"));
            r.kv.push(("user_id".into(), (i % 50).into()));
            r
        })
        .collect();
    sink.write(&Batch::new(&origin, &records)).unwrap();
}

fn text(term: &str) -> RecordFilter {
    let mut f = RecordFilter::default();
    f.text = Some(term.into());
    f
}

fn user(id: i64) -> RecordFilter {
    let mut f = RecordFilter::default();
    f.fields.push(format!("user_id={id}").parse().unwrap());
    f
}

#[test]
fn each_index_says_how_far_it_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.index_lag().unwrap(), IndexLag::default(), "an empty database");

    write(&mut sink, 1_500);
    sink.index_some(1_000).unwrap();
    let lag = store.index_lag().unwrap();
    assert_eq!(lag, IndexLag::new(Behind::counted(500), Behind::counted(500)));
    assert_eq!(
        index_note(&store, &text("served")).line(),
        Some("search index 500 records behind: the newest 500 records are scanned (results stay complete)")
    );
    assert_eq!(index_note(&store, &RecordFilter::default()).line(), None, "a page that reads no index");

    // The side table's mark set back (as a migration that recreates it
    // does): past the count's cap, the span of ids, and only a context-key
    // filter's note says so.
    sink.catch_up_indexes(10_000).unwrap();
    sink.connection().execute("UPDATE log_context_all SET indexed_id = 0", []).unwrap();
    let lag = store.index_lag().unwrap();
    assert_eq!(lag.search, Behind::default());
    assert_eq!((lag.context.records, lag.context.exact), (1_500, false));
    assert_eq!(index_note(&store, &text("served")).line(), None);
    assert_eq!(
        index_note(&store, &user(7)).line(),
        Some(
            "context-key index about 1\u{202f}500 records behind: the newest records above it, \
             about 1\u{202f}500 records, are scanned (results stay complete)"
        )
    );
    // The answer is complete all the same.
    assert_eq!(store.records(&user(7), log_panel_query::PageAt::Newest, 100).unwrap().records.len(), 30);

    sink.catch_up_indexes(10_000).unwrap();
    assert_eq!(store.index_lag().unwrap(), IndexLag::default(), "caught up");
}
