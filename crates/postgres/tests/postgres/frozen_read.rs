//! A reader (the panel, `log-panel query`) against a server frozen whole
//! (SIGSTOP): `statement_timeout` is the server's own, so a frozen server
//! never stops a read, and before the client-side bound a read on an open
//! connection waited as long as the freeze lasted (past the 20 s these
//! tests allow), a new connection its full `connect_timeout`. Now each
//! read answers within its budget and `READ_GRACE`, as `Unavailable`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Sink};
use log_panel_postgres::{PgSink, PgStore, READ_GRACE};
use log_panel_query::{PageAt, RecordFilter, Store, StoreError, StoreErrorKind};
use log_panel_testing::postgres::TestServer;
use postgres::{Client, NoTls};

use crate::frozen::Freezer;
use crate::reconnect::{batch_of, origin};

const BUDGET: Duration = Duration::from_secs(1);

/// A database with 300 records, a [`Freezer`] in front of the server that
/// never freezes by itself, and the direct URL and the proxied one (whose
/// `connect_timeout` of 10 s is far past the read budget of 1 s).
pub(crate) fn through_freezer() -> Option<(String, Freezer, String)> {
    let server = TestServer::shared_own("the freeze tests proxy the server's port (LOG_PANEL_TEST_PG_URL is set)")?;
    let direct = server.create_database();
    let dbname = direct.rsplit('/').next().unwrap().to_owned();
    let mut sink = PgSink::connect(&direct).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(0, 300))).unwrap();
    drop(sink);
    let proxy = Freezer::start(server.port(), b"\0never\0");
    let url = format!("postgres://postgres@127.0.0.1:{}/{dbname}?connect_timeout=10", proxy.port);
    Some((direct, proxy, url))
}

/// Reads the newest page on a thread: its answer and how long it took. No
/// answer within 20 s fails the test (the read hangs on the frozen server).
fn read(proxy: &Freezer, store: &Arc<PgStore>) -> (Result<usize, StoreError>, Duration) {
    let (tx, rx) = mpsc::channel();
    let store = Arc::clone(store);
    thread::spawn(move || {
        let started = Instant::now();
        let page = store.records(&RecordFilter::default(), PageAt::Newest, 50).map(|p| p.records.len());
        let _ = tx.send((page, started.elapsed()));
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
        proxy.thaw();
        panic!("a read from a frozen server did not answer within 20 s (read budget 1 s)")
    })
}

/// The bound a read answers within: its budget and the grace, and a little
/// for a loaded machine; and not before the budget (it did wait).
fn assert_given_up(answer: &Result<usize, StoreError>, took: Duration) {
    let err = answer.as_ref().expect_err("read from a frozen server");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    assert!(took >= BUDGET && took < BUDGET + READ_GRACE + Duration::from_millis(1500), "{took:?}: {err}");
}

fn connections(direct: &str) -> i64 {
    let dbname = direct.rsplit('/').next().unwrap();
    Client::connect(direct, NoTls)
        .unwrap()
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&dbname])
        .unwrap()
        .get(0)
}

/// Frozen with the store's connections open: each read, on a pooled
/// connection or a new one, answers `Unavailable` within its bound, also
/// six at once (a panel's pages); after the thaw reads answer again and
/// the given-up connections end.
#[test]
fn a_read_from_a_frozen_server_answers_within_its_budget() {
    let Some((direct, proxy, url)) = through_freezer() else { return };
    let store = Arc::new(PgStore::connect_with_read_timeout(&url, BUDGET).unwrap());
    assert_eq!(read(&proxy, &store).0.unwrap(), 50);

    proxy.freeze();
    let (answer, took) = read(&proxy, &store);
    assert_given_up(&answer, took);
    assert!(answer.unwrap_err().to_string().contains("gave no answer within 2000 ms"), "the pooled connection");

    // Pages at once: none waits on another. Each needs a new connection,
    // which waits 1 s at most now that the server was silent (not the
    // read's whole bound again: a page of several reads answers within
    // about one bound).
    let pages: Vec<_> = (0..6)
        .map(|_| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let started = Instant::now();
                let page = store.records(&RecordFilter::default(), PageAt::Newest, 50).map(|p| p.records.len());
                (page, started.elapsed())
            })
        })
        .collect();
    let started = Instant::now();
    while !pages.iter().all(|p| p.is_finished()) {
        if started.elapsed() > Duration::from_secs(20) {
            proxy.thaw();
            panic!("pages from a frozen server did not answer within 20 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    for page in pages {
        let (answer, took) = page.join().unwrap();
        let err = answer.expect_err("read from a frozen server");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains("gave no answer to this store's last attempt"), "{err}");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(2500), "{took:?}: {err}");
    }

    proxy.thaw();
    let started = Instant::now();
    while read(&proxy, &store).0.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no read after the thaw");
        thread::sleep(Duration::from_millis(50));
    }
    // The given-up connections end once the server answers them: what stays
    // is the pool's (at most 4 idle).
    let started = Instant::now();
    while connections(&direct) > 4 {
        assert!(started.elapsed() < Duration::from_secs(10), "{} connections left", connections(&direct));
        thread::sleep(Duration::from_millis(50));
    }
}

/// Frozen before the store connects: `connect_timeout` is 10 s, the read
/// budget 1 s, and opening the store (a command's first read) answers
/// within the budget's bound, not the connect timeout.
#[test]
fn opening_a_store_on_a_frozen_server_answers_within_the_read_budget() {
    let Some((_direct, proxy, url)) = through_freezer() else { return };
    proxy.freeze();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let started = Instant::now();
        let opened = PgStore::connect_with_read_timeout(&url, BUDGET).map(|_| ());
        let _ = tx.send((opened, started.elapsed()));
    });
    let (opened, took) = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
        proxy.thaw();
        panic!("opening a store on a frozen server did not answer within 20 s");
    });
    proxy.thaw();
    let err = opened.expect_err("opened a store on a frozen server");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("the read budget"), "{err}");
    assert!(took >= BUDGET && took < BUDGET + READ_GRACE + Duration::from_millis(1500), "{took:?}: {err}");
}

/// A connection given up at `connect_timeout` (shorter than the read's
/// bound, as the panel's 10 s default is beside its 11 s bound) marks the
/// server silent too: the next connection waits 1 s, not `connect_timeout`
/// again (seen on the panel: searching pages, two reads each, answered at
/// 20 s on a frozen server).
#[test]
fn a_connection_given_up_at_its_connect_timeout_marks_the_server_silent() {
    let Some((_direct, proxy, url)) = through_freezer() else { return };
    let url = url.replace("connect_timeout=10", "connect_timeout=2");
    let store = Arc::new(PgStore::connect_with_read_timeout(&url, Duration::from_secs(3)).unwrap());
    proxy.freeze();
    // One read takes the pooled connection (and waits its 4 s bound); the
    // other opens one, given up at the 2 s connect timeout.
    let pooled = {
        let store = Arc::clone(&store);
        thread::spawn(move || store.records(&RecordFilter::default(), PageAt::Newest, 50).map(|p| p.records.len()))
    };
    thread::sleep(Duration::from_millis(200));
    let (answer, took) = read(&proxy, &store);
    let err = answer.expect_err("read from a frozen server");
    assert!(err.to_string().contains("within 2000 ms (connect_timeout)"), "{took:?}: {err}");
    let (answer, took) = read(&proxy, &store);
    let err = answer.expect_err("read from a frozen server");
    assert!(err.to_string().contains("gave no answer to this store's last attempt"), "{took:?}: {err}");
    assert!(took < Duration::from_millis(1_600), "{took:?}: {err}");
    assert!(pooled.join().unwrap().is_err(), "the pooled read answered from a frozen server");
    proxy.thaw();
}
