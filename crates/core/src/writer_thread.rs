//! Whether the current thread works for a writer: the writer thread itself,
//! or a thread a sink started for it (a connection's thread, a checkpointer).
//! Records logged there (by a sink or its database driver) must never enter
//! the queue: the writer would wait on itself, or store its driver's notices
//! as the application's records. The mark lives here, beside [`Sink`](crate::Sink),
//! so that a sink crate can pass it on to its threads without depending on
//! the logging library.

use std::cell::Cell;
use std::thread::{Builder, JoinHandle};

thread_local! {
    static ON_WRITER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as a writer's: its records are never queued.
pub fn mark_writer_thread() {
    ON_WRITER.with(|w| w.set(true));
}

/// Whether the current thread is a writer's (see [`mark_writer_thread`]).
#[inline]
#[must_use]
pub fn on_writer_thread() -> bool {
    ON_WRITER.with(Cell::get)
}

/// Spawns `f` on a thread built by `builder` that is a writer's when the
/// calling thread is: a sink starting a thread for its work calls this, so
/// that what its driver logs there stays out of the queue as it does on the
/// writer thread.
///
/// ```
/// use log_panel_core::writer_thread::{mark_writer_thread, on_writer_thread, spawn_beside};
///
/// mark_writer_thread();
/// let helper = spawn_beside(std::thread::Builder::new(), on_writer_thread).unwrap();
/// assert!(helper.join().unwrap());
/// ```
pub fn spawn_beside<F, T>(builder: Builder, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let writers = on_writer_thread();
    builder.spawn(move || {
        if writers {
            mark_writer_thread();
        }
        f()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_spawned_beside_carries_the_callers_mark() {
        let plain = std::thread::spawn(|| spawn_beside(Builder::new(), on_writer_thread).map(|h| h.join()));
        assert!(!plain.join().unwrap().unwrap().unwrap(), "not a writer's: neither is its thread");
        let marked = std::thread::spawn(|| {
            mark_writer_thread();
            spawn_beside(Builder::new(), on_writer_thread).map(|h| h.join())
        });
        assert!(marked.join().unwrap().unwrap().unwrap(), "a writer's thread's thread is a writer's");
    }
}
