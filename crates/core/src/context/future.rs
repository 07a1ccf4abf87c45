//! Carrying a context through a `Future`, whatever executor polls it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::{current, replace, Context};

/// Gives any [`Future`] its own log context, installed on the polling thread
/// during each `poll` and removed after it.
///
/// An async task moves between worker threads and shares each thread with
/// other tasks, so the thread-local context alone is wrong for it: wrap the
/// task's future instead. Binds made *inside* the wrapped future (with
/// [`bind`](super::bind), a [`scope`](super::scope) guard, …) are kept with
/// the task across its `.await`s and never reach other tasks.
///
/// Works with any executor; the library does not depend on one.
///
/// ```
/// use log_panel_core::context::{self, WithContext};
/// use log_panel_core::ctx;
///
/// async fn handler() -> Option<log_panel_core::Value> {
///     // ... .await points; the task may move to another thread in between ...
///     context::get().get("request_id").cloned()
/// }
///
/// let fut = handler().with_context(ctx!(request_id = 42));
/// // Any executor: tokio::spawn(fut), async_std::task::spawn(fut), block_on(fut), …
/// # let got = futures_lite_block_on(fut);
/// # assert_eq!(got, Some(42.into()));
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Wake, Waker};
/// #     struct Noop;
/// #     impl Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
/// #     let waker = Waker::from(std::sync::Arc::new(Noop));
/// #     let mut f = Box::pin(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v; }
/// #     }
/// # }
/// ```
pub trait WithContext: Future + Sized {
    /// Runs this future inside `ctx` (exactly `ctx`: nothing is inherited from
    /// the thread that happens to poll it).
    fn with_context(self, ctx: Context) -> WithContextFuture<Self> {
        WithContextFuture { inner: Some(Box::pin(self)), ctx }
    }

    /// Runs this future inside the calling thread's context *as it is now*,
    /// when `in_current_context` is called (not when the future is first
    /// polled): call it where the work is handed off, e.g.
    /// `tokio::spawn(work().in_current_context())`.
    fn in_current_context(self) -> WithContextFuture<Self> {
        self.with_context(current())
    }
}

impl<F: Future> WithContext for F {}

/// The future returned by [`WithContext::with_context`] and
/// [`WithContext::in_current_context`].
///
/// The inner future is boxed: a `Pin<Box<F>>` is `Unpin`, so the wrapper can
/// reach its fields without unsafe pin projection (the workspace forbids
/// unsafe code) and without requiring `F: Unpin`. The cost is one allocation
/// per wrapped future, none per poll. The wrapper is `Send` when `F` is.
#[must_use = "futures do nothing unless polled"]
pub struct WithContextFuture<F: Future> {
    // `None` only while `Drop` runs, so the inner future can be dropped inside the context.
    inner: Option<Pin<Box<F>>>,
    // The task's context: installed before each poll, updated with what the
    // poll bound, and put aside again after it.
    ctx: Context,
}

impl<F: Future> WithContextFuture<F> {
    /// The context the next poll will run in.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

/// Puts the polling thread's own context back, also when the inner poll panics.
struct Restore(Option<Context>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            drop(replace(previous));
        }
    }
}

impl<F: Future> Future for WithContextFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // `WithContextFuture` is `Unpin` (its only pinned data lives in a Box),
        // so plain `&mut` access is sound and needs no unsafe projection.
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            // Unreachable: `inner` is `None` only inside `Drop`.
            return Poll::Pending;
        };
        let mut restore = Restore(Some(replace(this.ctx.clone())));
        let out = inner.as_mut().poll(cx);
        // Keep what this poll bound for the task's next poll, and hand the
        // thread its own context back. On panic only `restore`'s Drop runs.
        if let Some(previous) = restore.0.take() {
            this.ctx = replace(previous);
        }
        out
    }
}

impl<F: Future> Drop for WithContextFuture<F> {
    fn drop(&mut self) {
        // Drop the inner future inside its context: guards and values it
        // drops (or records it logs from `Drop` impls) see the task's context.
        if let Some(inner) = self.inner.take() {
            let _restore = Restore(Some(replace(self.ctx.clone())));
            drop(inner);
        }
    }
}

impl<F: Future> std::fmt::Debug for WithContextFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithContextFuture").field("ctx", &self.ctx).finish_non_exhaustive()
    }
}
