//! Scoped binding and carrying a context to other threads.

use std::marker::PhantomData;
use std::sync::Arc;
use std::thread::{Builder, JoinHandle};

use super::{current, replace, Context};
use crate::Value;

/// Restores the exact previous context of its thread when dropped — the Rust
/// `tmp_bind` / `bound_contextvars`.
///
/// Made by [`scope`], [`scope_new`] and [`Context::enter`]. Dropping it puts
/// back the context that was current when it was made, whatever was bound,
/// unbound or cleared in between; this happens on normal exit, early return,
/// `?` and during a panic's unwinding. Guards nest: bound to `let` variables
/// they are dropped in reverse order, which restores each level in turn.
///
/// Keep it in a named variable: `let _ctx = scope(…)`. `let _ = scope(…)`
/// drops it at once, so the binding never takes effect.
///
/// The guard is `!Send`: the context lives in a thread-local, so the guard
/// must be dropped on the thread that made it. A consequence worth knowing:
/// an `async` block that holds a guard across an `.await` is `!Send` too, so
/// it cannot be spawned on a multi-threaded runtime — which is right, as a
/// thread-local scope cannot follow a task between threads. In async code use
/// [`WithContext`](super::WithContext) instead (a guard *between* two awaits,
/// or inside a future wrapped with it, is fine).
///
/// ```
/// use log_panel_core::{context, Value};
///
/// context::bind([("x", 42)]);
/// {
///     let _tmp = log_panel_core::scope!(x = 23, y = "foo");
///     assert_eq!(context::get().get("x"), Some(&Value::from(23)));
///     assert_eq!(context::get().get("y"), Some(&Value::from("foo")));
/// }
/// assert_eq!(context::get().get("x"), Some(&Value::from(42)));
/// assert_eq!(context::get().get("y"), None);
/// context::clear();
/// ```
///
/// It cannot be sent to another thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<log_panel_core::context::ScopeGuard>();
/// ```
#[must_use = "the context is restored when the guard is dropped; `let _ = …` drops it at once"]
pub struct ScopeGuard {
    previous: Context,
    // A raw-pointer marker makes the guard `!Send` and `!Sync` without unsafe
    // code: restoring on another thread would clobber that thread's context.
    _not_send: PhantomData<*const ()>,
}

impl ScopeGuard {
    fn install(ctx: Context) -> ScopeGuard {
        ScopeGuard { previous: replace(ctx), _not_send: PhantomData }
    }

    /// The context that will be restored when this guard is dropped.
    pub fn previous(&self) -> &Context {
        &self.previous
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        // Move the saved context back without cloning; the scope's context is
        // dropped here, after the thread-local borrow has ended.
        drop(replace(std::mem::take(&mut self.previous)));
    }
}

impl std::fmt::Debug for ScopeGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeGuard").field("previous", &self.previous).finish()
    }
}

/// Binds `pairs` over the current context until the returned guard is dropped.
/// For values of mixed types use [`scope!`](crate::scope).
///
/// ```
/// use log_panel_core::context;
/// context::bind([("app", "shop")]);
/// {
///     let _ctx = context::scope([("request_id", "r-1")]);
///     assert_eq!(context::get().len(), 2); // app and request_id
/// }
/// assert_eq!(context::get().len(), 1);
/// context::clear();
/// ```
pub fn scope<K, V, I>(pairs: I) -> ScopeGuard
where
    K: Into<Arc<str>>,
    V: Into<Value>,
    I: IntoIterator<Item = (K, V)>,
{
    ScopeGuard::install(current().merge(pairs))
}

/// Installs a context holding only `pairs` — nothing inherited — until the
/// returned guard is dropped: the way to start a request on a reused thread
/// (structlog's `clear_threadlocal` + `bind_threadlocal`, but undone at the end).
/// For values of mixed types use [`scope_new!`](crate::scope_new).
///
/// ```
/// use log_panel_core::context;
/// context::bind([("stale", "from the last request")]);
/// {
///     let _ctx = context::scope_new([("request_id", "r-2")]);
///     assert_eq!(context::get().get("stale"), None);
/// }
/// assert!(context::get().get("stale").is_some());
/// context::clear();
/// ```
pub fn scope_new<K, V, I>(pairs: I) -> ScopeGuard
where
    K: Into<Arc<str>>,
    V: Into<Value>,
    I: IntoIterator<Item = (K, V)>,
{
    ScopeGuard::install(Context::from_pairs(pairs))
}

impl Context {
    /// Installs this context as the calling thread's current one until the
    /// returned guard is dropped (no merging: exactly this context).
    pub fn enter(&self) -> ScopeGuard {
        ScopeGuard::install(self.clone())
    }

    /// Runs `f` with this context installed on the calling thread, then
    /// restores the previous one (also if `f` panics). This is how a snapshot
    /// taken on one thread is used on another.
    ///
    /// ```
    /// use log_panel_core::context;
    ///
    /// let _req = context::scope([("request_id", 9)]);
    /// let snap = context::get();
    /// std::thread::spawn(move || {
    ///     assert!(context::get().is_empty()); // a new thread starts empty
    ///     snap.run(|| assert_eq!(context::get().get("request_id"), Some(&9.into())));
    ///     assert!(context::get().is_empty());
    /// })
    /// .join()
    /// .unwrap();
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Wraps `f` so that it runs inside this context wherever it is called:
    /// the shape a thread-pool job or a callback needs.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use log_panel_core::{context, Context};
    ///
    /// let (jobs, queue) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
    /// let worker = std::thread::spawn(move || queue.into_iter().for_each(|job| job()));
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let ctx = Context::from_pairs([("request_id", 3)]);
    /// jobs.send(Box::new(ctx.wrap(move || {
    ///     tx.send(context::get().get("request_id").cloned()).unwrap();
    /// })))
    /// .unwrap();
    /// drop(jobs);
    /// worker.join().unwrap();
    /// assert_eq!(rx.recv().unwrap(), Some(3.into()));
    /// ```
    pub fn wrap<R, F: FnOnce() -> R>(self, f: F) -> impl FnOnce() -> R {
        move || self.run(f)
    }
}

/// Wraps `f` so that it runs inside the calling thread's *current* context
/// wherever it is called later — `current().wrap(f)`. Hand the result to a
/// thread pool so the job keeps its request's context.
///
/// ```
/// use log_panel_core::context;
/// let _ctx = context::scope([("request_id", 5)]);
/// let job = context::carry(|| context::get().get("request_id").cloned());
/// let got = std::thread::spawn(job).join().unwrap();
/// assert_eq!(got, Some(5.into()));
/// ```
pub fn carry<R, F: FnOnce() -> R>(f: F) -> impl FnOnce() -> R {
    current().wrap(f)
}

/// [`std::thread::spawn`] that runs `f` inside the calling thread's current context.
///
/// ```
/// use log_panel_core::context;
/// let _ctx = context::scope([("job", "import")]);
/// let got = context::spawn(|| context::get().get("job").cloned()).join().unwrap();
/// assert_eq!(got, Some("import".into()));
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(carry(f))
}

/// [`Builder::spawn`] (a named thread, a stack size) that runs `f` inside the
/// calling thread's current context.
///
/// # Errors
///
/// Whatever [`Builder::spawn`] returns when the OS cannot create the thread.
pub fn spawn_with<F, T>(builder: Builder, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    builder.spawn(carry(f))
}
