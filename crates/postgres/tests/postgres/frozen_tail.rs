//! The live tail's listener (`PgCommitWaiter`) against a server frozen
//! whole as its client sees one (the [`Freezer`] proxy: the kernel keeps the
//! connection open, nothing answers, new connections are accepted and left
//! unanswered). Before the listener checked its server it waited on such a
//! connection with no error for as long as the freeze lasted, and never
//! listened again if the server had dropped it meanwhile. Now a wait says
//! so within seconds, later waits stay within their timeout while one
//! connection attempt waits for the server, the listener listens again
//! after the thaw, and the tail shows every record once. Bounded waits; no
//! timing measurements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Sink};
use log_panel_postgres::listen::PgCommitWaiter;
use log_panel_postgres::{Options, PgSink, PgStore};
use log_panel_query::{CommitWaiter, Follow, RecordFilter, Store, StoreError, StoreErrorKind, Wake};
use postgres::{Client, NoTls};

use crate::frozen::Freezer;
use crate::frozen_read::through_freezer;
use crate::reconnect::{batch_of, origin};

/// Within this a wait on a frozen server fails (the listener asks a server
/// quiet for 5 s and gives it 5.5 s to answer: about 11 s at most).
const REPORTED_WITHIN: Duration = Duration::from_secs(30);

/// What a tail asks of a wait (`tail --follow` waits in such slices).
const SLICE: Duration = Duration::from_millis(200);

/// A waiter through the proxy whose first wait connected and listens.
fn listening(url: &str) -> PgCommitWaiter {
    let mut w = PgCommitWaiter::new(Options::parse(url).unwrap());
    assert_eq!(w.wait(Duration::from_secs(10)).unwrap(), Wake::TimedOut);
    assert_eq!(w.connects(), 1, "the first wait connected");
    w
}

/// Waits in slices on a thread, after `cut` cut the waiter off the server
/// (the server frozen), until a wait fails: the waiter, the error and how
/// long after the cut it came. No error within [`REPORTED_WITHIN`] fails
/// the test.
fn wait_until_it_fails(
    proxy: &Freezer,
    mut w: PgCommitWaiter,
    cut: fn(&Freezer),
) -> (PgCommitWaiter, StoreError, Duration) {
    cut(proxy);
    let frozen_at = Instant::now();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        while frozen_at.elapsed() < REPORTED_WITHIN * 2 {
            match w.wait(SLICE) {
                Ok(Wake::TimedOut) => {}
                Ok(Wake::Committed) => panic!("a commit announced by a frozen server"),
                Err(e) => {
                    let _ = tx.send((w, e, frozen_at.elapsed()));
                    return;
                }
            }
        }
    });
    rx.recv_timeout(REPORTED_WITHIN).unwrap_or_else(|_| {
        proxy.thaw();
        panic!("waits cut off from the server reported nothing within {REPORTED_WITHIN:?}")
    })
}

fn assert_silent_server(err: &StoreError) {
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    let text = err.to_string();
    assert!(text.contains("the live tail's listener connection: the server gave no answer for"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

/// A waiter listening through the proxy, then cut off from the server by
/// `cut` until a wait failed as on a silent server, within the bound: the
/// direct URL, the proxy and the waiter.
fn cut_off(cut: fn(&Freezer)) -> Option<(String, Freezer, PgCommitWaiter)> {
    let (direct, proxy, url) = through_freezer()?;
    let (w, err, took) = wait_until_it_fails(&proxy, listening(&url), cut);
    assert_silent_server(&err);
    assert!(took < REPORTED_WITHIN, "{took:?}");
    println!("the wait failed {} ms after the cut: {err}", took.as_millis());
    Some((direct, proxy, w))
}

/// Waits until the waiter listens on a new connection after the thaw.
fn until_listening_again(w: &mut PgCommitWaiter, connects: u64) {
    let started = Instant::now();
    while w.connects() < connects {
        assert!(started.elapsed() < Duration::from_secs(20), "not listening again 20 s after the thaw");
        w.wait(SLICE).expect("a wait after the thaw");
    }
}

/// (1) Frozen while the tail waits: a wait fails, as `Unavailable`, within
/// the bound; while frozen every later wait returns within its timeout (the
/// one connection attempt under way is looked at, not waited for); after the
/// thaw the waiter listens again and a commit wakes it.
#[test]
fn a_listener_on_a_frozen_server_says_so_within_the_bound_and_listens_again_after_the_thaw() {
    let Some((direct, proxy, mut w)) = cut_off(Freezer::freeze) else { return };
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(w.wait(SLICE).unwrap(), Wake::TimedOut);
        assert!(started.elapsed() < SLICE + Duration::from_millis(1500), "{:?}", started.elapsed());
    }
    assert_eq!(w.connects(), 1, "no connection while frozen");
    assert_eq!(w.backend_pid(), None, "not listening while frozen");

    proxy.thaw();
    until_listening_again(&mut w, 2);
    assert_a_commit_wakes(w, &direct);
}

/// A commit (written straight to the server) wakes `w` long before its timeout.
fn assert_a_commit_wakes(mut w: PgCommitWaiter, direct: &str) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(w.wait(Duration::from_secs(30)).map_err(|e| e.to_string()));
    });
    let mut sink = PgSink::connect(direct).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(300, 1))).unwrap();
    let woke = rx.recv_timeout(Duration::from_secs(10)).expect("a commit woke the waiter");
    assert_eq!(woke, Ok(Wake::Committed));
}

/// The listener's connection lost in a network black hole (a NAT or
/// firewall that forgot it) while the server and new connections are fine:
/// the server's notifications never reach it, and nothing tells the client.
/// Before the listener checked its server it waited on that connection for
/// good (the tail fell back to polling and was never pushed again); now a
/// wait says so within the bound, the listener listens on a new connection
/// at once, and commits wake it again.
#[test]
fn a_listener_connection_lost_in_a_black_hole_is_given_up_and_listening_resumes() {
    let Some((direct, _proxy, mut w)) = cut_off(Freezer::black_hole_open_connections) else { return };
    until_listening_again(&mut w, 2);
    assert_a_commit_wakes(w, &direct);
}

/// (2) The tail's reads and waits through the freeze: records written while
/// the server was out of reach and after the thaw are shown once each, in
/// id order, resuming after the last record shown before the freeze.
#[test]
fn after_the_thaw_the_tail_shows_every_record_once() {
    let Some((direct, proxy, url)) = through_freezer() else { return };
    let store = PgStore::connect_with_read_timeout(&url, Duration::from_secs(1)).unwrap();
    let last_before = store.tail(&RecordFilter::default(), None, 1).unwrap()[0].id;
    let mut follow = Follow::after(RecordFilter::default(), last_before);
    assert!(follow.poll(&store, 100).unwrap().is_empty());
    let w = listening(&url);
    let (mut w, err, _) = wait_until_it_fails(&proxy, w, Freezer::freeze);
    assert_silent_server(&err);
    // Out of reach for the tail, not for the writer (a network black hole).
    let mut sink = PgSink::connect(&direct).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(300, 50))).unwrap();
    assert_eq!(follow.poll(&store, 100).map_err(|e| e.kind()).err(), Some(StoreErrorKind::Unavailable));

    proxy.thaw();
    until_listening_again(&mut w, 2);
    sink.write(&Batch::new(&origin(), &batch_of(350, 50))).unwrap();
    let mut shown = Vec::new();
    let mut woken = false;
    let started = Instant::now();
    while shown.len() < 100 {
        assert!(started.elapsed() < Duration::from_secs(30), "the tail showed {} of 100 records", shown.len());
        // A read may still meet a connection given up during the freeze.
        if let Ok(new) = follow.poll(&store, 30) {
            shown.extend(new);
        }
        woken |= w.wait(SLICE).unwrap() == Wake::Committed;
    }
    let ids: Vec<i64> = shown.iter().map(|r| r.id).collect();
    let stored: Vec<i64> = Client::connect(&direct, NoTls)
        .unwrap()
        .query("SELECT id FROM log_records WHERE id > $1 ORDER BY id", &[&last_before])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, stored, "each record once, in id order");
    let messages: Vec<String> = shown.iter().map(|r| r.message.clone()).collect();
    assert_eq!(messages, (300..400).map(|i| format!("record {i}")).collect::<Vec<_>>());
    assert!(woken || w.wait(Duration::from_secs(5)).unwrap() == Wake::Committed, "no commit woke the tail");
}

/// Threads of this process now, and those of them a listener runs on.
fn threads() -> (usize, usize) {
    let mut all = 0;
    let mut listeners = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        all += 1;
        let comm = std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
        // The kernel keeps 15 bytes of a thread's name.
        if comm.trim_end() == &"log-panel-pg-listen"[..15] {
            listeners += 1;
        }
    }
    (all, listeners)
}

/// (3) Run alone in a process of its own, so that `/proc/self/task` counts
/// only its threads: waits in short slices against a frozen server for 25 s
/// (the one error, then attempts that the server never answers) keep the
/// threads within a few of what listening took: the given-up listener, one
/// attempt, the proxy's two for it.
#[test]
#[ignore = "run alone by threads_stay_bounded_while_a_tail_waits_on_a_frozen_server"]
fn thread_count_of_a_tail_waiting_on_a_frozen_server() {
    let Some((_direct, proxy, url)) = through_freezer() else { return };
    let mut w = listening(&url);
    let (before, listeners) = threads();
    assert_eq!(listeners, 1);
    proxy.freeze();
    let started = Instant::now();
    let (mut most, mut most_listeners, mut errors, mut waits) = (before, listeners, 0, 0);
    while started.elapsed() < Duration::from_secs(25) {
        match w.wait(Duration::from_millis(50)) {
            Ok(_) => {}
            Err(e) => {
                assert_silent_server(&e);
                errors += 1;
            }
        }
        waits += 1;
        let (all, listeners) = threads();
        (most, most_listeners) = (most.max(all), most_listeners.max(listeners));
    }
    proxy.thaw();
    println!("threads: {before} listening, at most {most} over {waits} waits against the frozen server");
    assert_eq!(errors, 1, "one error, then attempts that wait for the server");
    assert!(waits > 100, "{waits} waits");
    assert!(most_listeners <= 2, "{most_listeners} listener threads");
    assert!(most <= before + 6, "{most} threads, {before} when listening");
}

/// Runs [`thread_count_of_a_tail_waiting_on_a_frozen_server`] in a process
/// of its own (this test binary, that test alone).
#[test]
fn threads_stay_bounded_while_a_tail_waits_on_a_frozen_server() {
    let name = "frozen_tail::thread_count_of_a_tail_waiting_on_a_frozen_server";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the test did not run alone: {stdout}");
    println!("{stdout}");
}
