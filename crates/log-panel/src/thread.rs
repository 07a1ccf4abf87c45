//! Which thread a record comes from: the thread's name, given to its
//! records, and whether it is the writer thread, whose records must never be
//! queued (the mark is log_panel_core's, which sinks pass on to their own
//! threads). Shared by the logger, the tracing layer, the writer and the alert
//! thread, so none of them imports another for it.

use std::cell::OnceCell;
use std::sync::Arc;

pub(crate) use log_panel_core::writer_thread::{mark_writer_thread, on_writer_thread};

thread_local! {
    /// The thread's name (or id), computed once per thread.
    static THREAD_NAME: OnceCell<Arc<str>> = const { OnceCell::new() };
}

/// Names the current thread's records `name` from now on (when nothing has
/// been logged on it yet). The alert thread uses one shared `Arc` so that its
/// records can be recognised by identity (see `alerts/mod.rs`).
pub(crate) fn set_thread_name(name: Arc<str>) {
    THREAD_NAME.with(|slot| {
        let _ = slot.set(name);
    });
}

#[inline]
pub(crate) fn thread_name() -> Arc<str> {
    THREAD_NAME.with(|name| {
        name.get_or_init(|| {
            let t = std::thread::current();
            match t.name() {
                Some(n) => Arc::from(n),
                None => Arc::from(format!("{:?}", t.id()).as_str()),
            }
        })
        .clone()
    })
}
