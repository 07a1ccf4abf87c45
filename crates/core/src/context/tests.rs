//! Each test runs on its own harness thread, so each starts from an empty
//! thread-local context; they still `clear()` first to say so.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Wake, Waker};

use super::*;
use crate::{ctx, Level, Record};

/// A record captured the way the logger captures one: with `current()`.
fn record(message: &'static str) -> Record {
    let mut r = Record::new(Level::Info, "test", message);
    r.context = current();
    r
}

fn fields_json(r: &Record) -> String {
    let mut out = String::new();
    r.write_fields_json(&mut out);
    out
}

// ---------------------------------------------------------------- basics

#[test]
fn with_replaces_in_place_and_keeps_order() {
    let c = Context::from_pairs([("a", 1), ("b", 2)]).with("a", 3);
    let keys: Vec<&str> = c.iter().map(|(k, _)| &**k).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(c.get("a"), Some(&Value::I64(3)));
}

#[test]
fn without_removes_and_empties() {
    let c = Context::from_pairs([("a", 1)]).without(&["a"]);
    assert!(c.is_empty());
    assert_eq!(c.len(), 0);
    let d = Context::from_pairs([("a", 1)]);
    assert!(d.without(&["zzz"]).ptr_eq(&d), "removing nothing shares the map");
}

#[test]
fn merge_context_lets_the_argument_win() {
    let base = ctx!(a = 1, b = "x");
    let merged = base.merge_context(&ctx!(b = 2, c = true));
    assert_eq!(format!("{merged:?}"), r#"{"a": I64(1), "b": I64(2), "c": Bool(true)}"#);
    assert!(base.merge_context(&Context::empty()).ptr_eq(&base));
    assert!(Context::empty().merge_context(&base).ptr_eq(&base));
}

// ------------------------------------------- structlog's doctest scenarios

#[test]
fn seed_bind_then_clear() {
    clear();
    bind([("a", 1)]);
    let r = record("hi");
    assert_eq!(fields_json(&r), r#"{"a":1}"#, "log.msg('hi') -> a=1 event='hi'");
    assert_eq!(format!("{:?}", get()), r#"{"a": I64(1)}"#, "get_threadlocal() -> {{'a': 1}}");

    // get_merged_threadlocal(log.bind(example=True)) -> {'a': 1, 'example': True}
    let mut with_kv = record("merged");
    with_kv.kv.push(("example".into(), Value::Bool(true)));
    assert_eq!(fields_json(&with_kv), r#"{"a":1,"example":true}"#);

    clear();
    let r = record("hi there");
    assert_eq!(fields_json(&r), "{}", "after clear_threadlocal() the key is gone");
    assert!(get().is_empty());
}

#[test]
fn seed_get_returns_a_copy() {
    clear();
    bind([("a", 1)]);
    let snap = get();
    bind([("a", 2), ("b", 3)]);
    unbind(&["a"]);
    assert_eq!(snap.get("a"), Some(&Value::I64(1)));
    assert_eq!(snap.len(), 1);
    assert_eq!(get().get("a"), None);
    assert_eq!(get().get("b"), Some(&Value::I64(3)));
    clear();
}

#[test]
fn seed_tmp_bind_restores_42() {
    clear();
    crate::bind!(x = 42);
    assert_eq!(fields_json(&record("event!")), r#"{"x":42}"#);
    let before = current();
    {
        let _tmp = crate::scope!(x = 23, y = "foo");
        assert_eq!(fields_json(&record("another event!")), r#"{"x":23,"y":"foo"}"#);
    }
    assert_eq!(fields_json(&record("one last event!")), r#"{"x":42}"#);
    assert!(current().ptr_eq(&before), "the exact previous map is back");
    clear();
}

// ------------------------------------------------------------ merge rules

#[test]
fn record_kv_wins_over_bound_context_and_types_survive() {
    clear();
    crate::bind!(user = "bound", s = "x", i = -1, u = u64::MAX, f = 1.5, b = true, n = None::<i32>);
    let mut r = record("m");
    r.kv.push(("user".into(), Value::from("explicit")));
    assert_eq!(
        fields_json(&r),
        r#"{"s":"x","i":-1,"u":18446744073709551615,"f":1.5,"b":true,"n":null,"user":"explicit"}"#
    );
    clear();
}

#[test]
fn captured_records_keep_the_context_they_were_logged_with() {
    clear();
    crate::bind!(step = 1);
    let first = record("one");
    assert!(first.context.ptr_eq(&current()), "capture is a reference-count bump, not a copy");
    crate::bind!(step = 2);
    let second = record("two");
    clear();
    let third = record("three");
    assert_eq!(fields_json(&first), r#"{"step":1}"#);
    assert_eq!(fields_json(&second), r#"{"step":2}"#);
    assert_eq!(fields_json(&third), "{}");
}

#[test]
fn macros_accept_literal_keys_and_unbind() {
    clear();
    crate::bind!("http.method" = "GET", a = 1,);
    crate::bind!();
    assert_eq!(get().len(), 2);
    crate::unbind!("http.method");
    assert_eq!(format!("{:?}", get()), r#"{"a": I64(1)}"#);
    crate::unbind!();
    assert_eq!(get().len(), 1);
    clear();
}

// ------------------------------------------------------------------ scopes

#[test]
fn nested_scopes_restore_in_order() {
    clear();
    crate::bind!(level = 0);
    let c0 = current();
    {
        let _a = crate::scope!(level = 1, a = "a");
        let c1 = current();
        {
            let _b = crate::scope!(level = 2, b = "b");
            assert_eq!(format!("{:?}", get()), r#"{"level": I64(2), "a": Str("a"), "b": Str("b")}"#);
        }
        assert!(current().ptr_eq(&c1));
        assert_eq!(get().get("b"), None);
    }
    assert!(current().ptr_eq(&c0));
    assert_eq!(get().get("a"), None);
    clear();
}

#[test]
fn scope_restores_exactly_whatever_happened_inside() {
    clear();
    crate::bind!(keep = 1);
    let before = current();
    {
        let _s = crate::scope!(tmp = 1);
        crate::bind!(inner = 2);
        unbind(&["keep"]);
        clear();
        crate::bind!(other = 3);
    }
    assert!(current().ptr_eq(&before));
    clear();
}

#[test]
fn nested_scopes_restore_after_panic() {
    clear();
    crate::bind!(outer = "yes");
    let before = current();
    let seen_inside = Arc::new(Mutex::new(Context::empty()));
    let seen = Arc::clone(&seen_inside);
    let result = catch_unwind(AssertUnwindSafe(move || {
        let _a = crate::scope!(a = 1);
        let _b = crate::scope!(b = 2);
        {
            let _c = crate::scope_new!(c = 3);
            crate::bind!(d = 4);
            *seen.lock().unwrap() = current();
            panic!("boom inside three nested scopes");
        }
    }));
    assert!(result.is_err(), "the closure panicked");
    assert_eq!(format!("{:?}", seen_inside.lock().unwrap()), r#"{"c": I64(3), "d": I64(4)}"#);
    assert!(current().ptr_eq(&before), "every level unwound back to the start");
    assert_eq!(get().get("a"), None);

    // A panic in an outer scope after an inner one ended restores too.
    let result = catch_unwind(|| {
        let _a = crate::scope!(a = 1);
        {
            let _b = crate::scope!(b = 2);
        }
        assert_eq!(get().get("b"), None);
        panic!("boom in the outer scope");
    });
    assert!(result.is_err());
    assert!(current().ptr_eq(&before));
    clear();
}

#[test]
fn scope_restores_on_early_return() {
    fn handler(fail: bool) -> Result<usize, &'static str> {
        let _ctx = crate::scope!(request_id = "r-1");
        if fail {
            return Err("early");
        }
        Ok(get().len())
    }
    clear();
    crate::bind!(app = "shop");
    assert_eq!(handler(false), Ok(2));
    assert_eq!(handler(true), Err("early"));
    assert_eq!(format!("{:?}", get()), r#"{"app": Str("shop")}"#);
    clear();
}

#[test]
fn scope_new_starts_clean_and_restores() {
    clear();
    crate::bind!(stale = "previous request");
    {
        let _ctx = crate::scope_new!(request_id = 1);
        assert_eq!(format!("{:?}", get()), r#"{"request_id": I64(1)}"#);
    }
    assert_eq!(get().get("stale"), Some(&Value::from("previous request")));
    clear();
}

#[test]
fn enter_and_run_install_exactly_the_snapshot() {
    clear();
    crate::bind!(thread_own = 1);
    let snap = ctx!(snap = 2);
    let inside = snap.run(current);
    assert!(inside.ptr_eq(&snap), "run installs the snapshot itself, nothing merged");
    assert_eq!(get().get("thread_own"), Some(&Value::I64(1)));

    let panicked = catch_unwind(AssertUnwindSafe(|| snap.run(|| panic!("in run"))));
    assert!(panicked.is_err());
    assert_eq!(format!("{:?}", get()), r#"{"thread_own": I64(1)}"#);
    {
        let g = snap.enter();
        assert_eq!(format!("{:?}", g.previous()), r#"{"thread_own": I64(1)}"#);
        assert!(current().ptr_eq(&snap));
    }
    clear();
}

// ----------------------------------------------------------------- threads

#[test]
fn no_leak_between_threads() {
    clear();
    crate::bind!(owner = "main");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let at_start = get();
                crate::bind!(owner = i);
                std::thread::yield_now();
                (at_start, get())
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let (at_start, at_end) = h.join().unwrap();
        assert!(at_start.is_empty(), "a new thread starts with an empty context");
        assert_eq!(at_end.get("owner"), Some(&Value::from(i)), "each thread sees only its own bind");
    }
    assert_eq!(get().get("owner"), Some(&Value::from("main")), "no thread changed ours");
    clear();
}

#[test]
fn spawn_and_spawn_with_carry_the_current_context() {
    clear();
    let _ctx = crate::scope!(request_id = 77);
    let got =
        spawn(|| (get().get("request_id").cloned(), std::thread::current().name().map(str::to_owned))).join().unwrap();
    assert_eq!(got.0, Some(Value::I64(77)));

    let named = std::thread::Builder::new().name("carrier".into());
    let got =
        spawn_with(named, || (get().get("request_id").cloned(), std::thread::current().name().map(str::to_owned)))
            .unwrap()
            .join()
            .unwrap();
    assert_eq!(got, (Some(Value::I64(77)), Some("carrier".to_owned())));
}

#[test]
fn pool_jobs_keep_their_requests_context_and_leave_workers_clean() {
    type Job = Box<dyn FnOnce() + Send>;
    clear();
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let (out_tx, out_rx) = mpsc::channel::<(u64, Option<Value>, usize)>();
    // Counts jobs after which a worker's own context was not empty again.
    let dirty = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let rx = Arc::clone(&jobs_rx);
            let dirty = Arc::clone(&dirty);
            std::thread::spawn(move || loop {
                let job = rx.lock().unwrap().recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => break,
                }
                if !get().is_empty() {
                    dirty.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    for id in 0..60u64 {
        let _req = crate::scope_new!(request_id = id);
        let out = out_tx.clone();
        jobs_tx
            .send(Box::new(carry(move || {
                crate::bind!(in_job = true); // ends with the job
                out.send((id, get().get("request_id").cloned(), get().len())).unwrap();
            })))
            .unwrap();
    }
    drop((jobs_tx, out_tx));
    let results: Vec<_> = out_rx.iter().collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(results.len(), 60);
    assert_eq!(dirty.load(Ordering::Relaxed), 0, "a job's context stayed on its worker");
    for (id, seen, len) in results {
        assert_eq!(seen, Some(Value::from(id)));
        assert_eq!(len, 2);
    }
}

// ------------------------------------------------------------------- async

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(NoopWake));
    Pin::new(f).poll(&mut std::task::Context::from_waker(&waker))
}

/// Pending on the first poll, ready on the second: one explicit suspension point.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn future_context_follows_it_to_another_thread_and_keeps_its_binds() {
    clear();
    crate::bind!(poller = "main");
    let mut fut = async {
        let first = get();
        crate::bind!(step = 1); // bound inside the task: kept across the await
        YieldOnce(false).await;
        (first, get())
    }
    .with_context(ctx!(task = 1));
    assert_send(&fut);

    assert!(poll_once(&mut fut).is_pending());
    assert_eq!(format!("{:?}", get()), r#"{"poller": Str("main")}"#, "the poll left nothing behind");
    assert_eq!(format!("{:?}", fut.context()), r#"{"task": I64(1), "step": I64(1)}"#);

    // Finish it on another thread, as a work-stealing executor would.
    let (first, last) = std::thread::spawn(move || {
        crate::bind!(poller = "other");
        let out = match poll_once(&mut fut) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("second poll must finish"),
        };
        assert_eq!(format!("{:?}", get()), r#"{"poller": Str("other")}"#);
        out
    })
    .join()
    .unwrap();
    assert_eq!(format!("{first:?}"), r#"{"task": I64(1)}"#, "not the polling thread's context");
    assert_eq!(format!("{last:?}"), r#"{"task": I64(1), "step": I64(1)}"#);
    clear();
}

#[test]
fn in_current_context_captures_at_the_call() {
    clear();
    let mut fut = {
        let _req = crate::scope!(request_id = 5);
        async { get().get("request_id").cloned() }.in_current_context()
    };
    assert!(get().is_empty());
    assert_eq!(poll_once(&mut fut), Poll::Ready(Some(Value::I64(5))));
}

#[test]
fn panicking_poll_restores_the_pollers_context() {
    clear();
    crate::bind!(poller = 1);
    let before = current();
    let mut fut = async {
        crate::bind!(inside = true);
        panic!("poll panics");
    }
    .with_context(ctx!(task = 9));
    let result = catch_unwind(AssertUnwindSafe(|| poll_once(&mut fut)));
    assert!(result.is_err());
    assert!(current().ptr_eq(&before), "the polling thread got its own context back");
    clear();
}

#[test]
fn dropping_an_unfinished_future_runs_its_drops_inside_its_context() {
    struct Probe(Arc<Mutex<Option<Context>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(current());
        }
    }
    clear();
    crate::bind!(dropper = 1);
    let seen = Arc::new(Mutex::new(None));
    let probe = Probe(Arc::clone(&seen));
    let mut fut = async move {
        let _probe = probe;
        YieldOnce(false).await;
    }
    .with_context(ctx!(task = 3));
    assert!(poll_once(&mut fut).is_pending());
    drop(fut);
    assert_eq!(format!("{:?}", seen.lock().unwrap()), r#"Some({"task": I64(3)})"#);
    assert_eq!(format!("{:?}", get()), r#"{"dropper": I64(1)}"#);
    clear();
}

#[test]
fn many_tasks_on_a_multi_thread_runtime_keep_their_own_context() {
    const TASKS: u64 = 200;
    const STEPS: u64 = 25;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
    let (migrated, mismatches) = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|id| {
                tokio::spawn(
                    async move {
                        let mut threads = HashSet::new();
                        let mut mismatches = 0u64;
                        for step in 0..STEPS {
                            // A per-task bind that must survive the await.
                            crate::bind!(step = step);
                            tokio::task::yield_now().await;
                            threads.insert(std::thread::current().id());
                            let c = get();
                            if c.get("request_id") != Some(&Value::from(id))
                                || c.get("step") != Some(&Value::from(step))
                                || c.len() != 2
                            {
                                mismatches += 1;
                            }
                        }
                        (threads.len() > 1, mismatches)
                    }
                    .with_context(ctx!(request_id = id)),
                )
            })
            .collect();
        let mut migrated = 0;
        let mut mismatches = 0;
        for h in handles {
            let (moved, bad) = h.await.unwrap();
            migrated += u64::from(moved);
            mismatches += bad;
        }
        (migrated, mismatches)
    });
    assert_eq!(mismatches, 0, "every task saw only its own request_id and step");
    // The point of the test is tasks moving between workers; make sure some did.
    assert!(migrated > 0, "no task ever changed worker thread");
    // The runtime's workers must not keep any task's context between polls.
    let leftovers: Vec<Context> = rt
        .block_on(async { (0..16).map(|_| tokio::spawn(async { get() })).collect::<Vec<_>>() })
        .into_iter()
        .map(|h| rt.block_on(h).unwrap())
        .collect();
    assert!(leftovers.iter().all(Context::is_empty), "a bare task saw a leftover context");
}

#[test]
fn tasks_sharing_one_thread_never_see_each_others_context() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let log = Arc::new(Mutex::new(Vec::<(&'static str, Context)>::new()));
    rt.block_on(async {
        let mut handles = Vec::new();
        for (name, ctx) in [("a", ctx!(task = "a")), ("b", ctx!(task = "b"))] {
            let log = Arc::clone(&log);
            handles.push(tokio::spawn(
                async move {
                    for i in 0..5 {
                        crate::bind!(i = i);
                        log.lock().unwrap().push((name, get()));
                        tokio::task::yield_now().await;
                    }
                }
                .with_context(ctx),
            ));
        }
        // An unwrapped task interleaved with them sees no context at all.
        let log2 = Arc::clone(&log);
        handles.push(tokio::spawn(async move {
            for _ in 0..5 {
                log2.lock().unwrap().push(("bare", get()));
                tokio::task::yield_now().await;
            }
        }));
        for h in handles {
            h.await.unwrap();
        }
    });
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 15);
    let order: Vec<&str> = log.iter().map(|(n, _)| *n).collect();
    assert_ne!(order[..5], ["a"; 5], "the tasks interleaved on the one thread");
    let mut per_task: HashMap<&str, u64> = HashMap::new();
    for (name, ctx) in log.iter() {
        if *name == "bare" {
            assert!(ctx.is_empty(), "bare task saw {ctx:?}");
        } else {
            let i = per_task.entry(name).or_default();
            assert_eq!(format!("{ctx:?}"), format!(r#"{{"task": Str("{name}"), "i": I64({i})}}"#));
            *i += 1;
        }
    }
    assert_eq!(per_task.get("a"), Some(&5));
    assert_eq!(per_task.get("b"), Some(&5));
}

#[test]
fn a_panicking_task_leaves_its_worker_clean() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let after = rt.block_on(async {
        let bad = tokio::spawn(
            async {
                crate::bind!(doomed = true);
                tokio::task::yield_now().await;
                panic!("task panics mid-poll");
            }
            .with_context(ctx!(task = "bad")),
        );
        let err = bad.await.err().map(|e| e.is_panic());
        let next = tokio::spawn(async { get() }).await.unwrap();
        (err, next)
    });
    assert_eq!(after.0, Some(true));
    assert!(after.1.is_empty(), "the next task on the thread saw {:?}", after.1);
}
