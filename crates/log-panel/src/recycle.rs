//! Buffers the writer hands back for calling threads to reuse.
//!
//! A message is formatted on the calling thread (its arguments borrow the
//! caller's stack) into an owned buffer, and key-values are collected into a
//! `Vec`; the writer frees both after the commit. Allocated on one thread and
//! freed on another, every such buffer took the allocator's slow path on both
//! (glibc's per-thread caches only serve a thread that frees what it
//! allocated, and a foreign free locks the allocating thread's arena): ~180
//! instructions per buffer on the caller, more than the queue itself. So the
//! writer returns committed records' buffers to shared stacks, and each
//! calling thread takes [`REFILL`] of them at a time into a per-thread stash:
//! one lock per [`REFILL`] records, and a caller never waits for it
//! (`try_lock`; when the lock is busy or the stack nearly empty it allocates
//! as before).
//!
//! Memory stays bounded: each shared stack keeps at most [`SHARED_MAX`]
//! buffers of bounded capacity (message buffers up to [`KEEP_MAX`] bytes,
//! key-value `Vec`s up to [`KEEP_KV`] pairs: about 3 MiB at worst), a stash
//! at most [`REFILL`] of each.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use log_panel_core::{Record, Text, Value};

/// Buffers a calling thread takes from a shared stack at a time.
pub(crate) const REFILL: usize = 64;
/// Buffers each shared stack keeps at most.
pub(crate) const SHARED_MAX: usize = 2_048;
/// Larger message buffers (long messages) are freed, not kept.
pub(crate) const KEEP_MAX: usize = 1_024;
/// Key-value `Vec`s with room for more pairs are freed, not kept.
pub(crate) const KEEP_KV: usize = 16;
/// Capacity of a new message buffer: most messages fit without growing it.
pub(crate) const NEW_CAPACITY: usize = 128;

/// A record's key-values as captured.
pub(crate) type Pairs = Vec<(Text, Value)>;

static MESSAGES: Pool<String> = Pool::new();
static PAIRS: Pool<Pairs> = Pool::new();

thread_local! {
    static MESSAGE_STASH: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static PAIRS_STASH: RefCell<Vec<Pairs>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer for a message that will keep at most `limit` bytes.
pub(crate) fn message(limit: usize) -> String {
    MESSAGES.take(&MESSAGE_STASH).unwrap_or_else(|| String::with_capacity(limit.min(NEW_CAPACITY)))
}

/// An empty `Vec` with room for `n` key-values.
pub(crate) fn pairs(n: usize) -> Pairs {
    let mut kv = PAIRS.take(&PAIRS_STASH).unwrap_or_default();
    kv.reserve_exact(n);
    kv
}

/// Takes back the buffers of `records`, which the writer is done with, and
/// drops the rest of them.
pub(crate) fn give_back(records: Vec<Record>) {
    let mut messages = Vec::new();
    let mut pairs = Vec::new();
    // Checked once per batch, so a full stack costs nothing per record.
    let (keep_messages, keep_pairs) = (MESSAGES.has_room(), PAIRS.has_room());
    for record in records {
        if let (true, Cow::Owned(mut buf)) = (keep_messages, record.message) {
            if (NEW_CAPACITY..=KEEP_MAX).contains(&buf.capacity()) {
                buf.clear();
                messages.push(buf);
            }
        }
        let mut kv = record.kv;
        if keep_pairs && (1..=KEEP_KV).contains(&kv.capacity()) {
            kv.clear();
            pairs.push(kv);
        }
    }
    MESSAGES.put(messages);
    PAIRS.put(pairs);
}

/// A shared stack of reusable buffers.
pub(crate) struct Pool<T> {
    shared: Mutex<Vec<T>>,
    /// `shared`'s length as last seen under the lock, so that callers skip
    /// the lock while there is too little to take.
    len: AtomicUsize,
}

impl<T> Pool<T> {
    pub(crate) const fn new() -> Pool<T> {
        Pool { shared: Mutex::new(Vec::new()), len: AtomicUsize::new(0) }
    }

    /// One buffer from the thread's stash, refilled from the shared stack
    /// when empty; `None` when there is none to be had without waiting.
    fn take(&self, stash: &'static std::thread::LocalKey<RefCell<Vec<T>>>) -> Option<T> {
        stash
            .try_with(|stash| {
                let mut stash = stash.try_borrow_mut().ok()?;
                if stash.is_empty() {
                    self.refill(&mut stash);
                }
                stash.pop()
            })
            .ok()
            .flatten()
    }

    /// Moves [`REFILL`] buffers into `stash`, unless that means waiting.
    fn refill(&self, stash: &mut Vec<T>) {
        if self.len.load(Relaxed) < REFILL {
            return;
        }
        let Ok(mut shared) = self.shared.try_lock() else { return };
        let at = shared.len().saturating_sub(REFILL);
        stash.extend(shared.drain(at..));
        self.len.store(shared.len(), Relaxed);
    }

    fn has_room(&self) -> bool {
        self.len.load(Relaxed) < SHARED_MAX
    }

    /// Keeps as many of `items` as there is room for; drops the rest.
    fn put(&self, mut items: Vec<T>) {
        if items.is_empty() {
            return;
        }
        // The writer may wait here briefly; callers never do (they `try_lock`).
        let Ok(mut shared) = self.shared.lock() else { return };
        let room = SHARED_MAX.saturating_sub(shared.len());
        items.truncate(room);
        shared.append(&mut items);
        self.len.store(shared.len(), Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use log_panel_core::Level;

    fn record_with(buf: String) -> Record {
        Record::new(Level::Info, "t", buf)
    }

    fn fresh(n: usize) -> Vec<Record> {
        (0..n).map(|_| record_with(String::with_capacity(NEW_CAPACITY))).collect()
    }

    #[test]
    fn given_back_buffers_come_back_cleared_a_refill_at_a_time() {
        let pool = Pool::new();
        let mut records = fresh(REFILL + 10);
        records[0].message = String::from("old text").into();
        let addrs: Vec<usize> = records.iter().map(|r| r.message.as_ptr() as usize).collect();
        pool.put(records.into_iter().map(|r| r.message.into_owned()).collect());
        assert_eq!(pool.len.load(Relaxed), REFILL + 10);
        let mut stash = Vec::new();
        pool.refill(&mut stash);
        assert_eq!(stash.len(), REFILL);
        assert_eq!(pool.len.load(Relaxed), 10);
        assert!(stash.iter().all(|b| b.capacity() >= NEW_CAPACITY));
        assert!(stash.iter().all(|b| addrs.contains(&(b.as_ptr() as usize))));
        // Fewer than a refill left: callers allocate rather than take the lock for a few.
        let mut more = Vec::new();
        pool.refill(&mut more);
        assert!(more.is_empty());
    }

    #[test]
    fn the_shared_stack_never_passes_its_bound() {
        let pool = Pool::new();
        for _ in 0..3 {
            pool.put(fresh(SHARED_MAX - 1).into_iter().map(|r| r.message.into_owned()).collect());
            assert_eq!(pool.shared.lock().unwrap().len(), pool.len.load(Relaxed));
            assert!(pool.len.load(Relaxed) <= SHARED_MAX);
        }
        assert_eq!(pool.len.load(Relaxed), SHARED_MAX);
    }

    #[test]
    fn a_busy_lock_never_makes_a_caller_wait() {
        let pool = Pool::new();
        pool.put(vec![String::new(); REFILL]);
        let held = pool.shared.lock().unwrap();
        let mut stash = Vec::new();
        pool.refill(&mut stash);
        assert!(stash.is_empty());
        drop(held);
        pool.refill(&mut stash);
        assert_eq!(stash.len(), REFILL);
    }

    #[test]
    fn give_back_keeps_only_owned_bounded_buffers_cleared() {
        // The process-wide stacks are shared with other tests, so this
        // checks what comes out on a fresh thread, not exact counts.
        std::thread::spawn(|| {
            let mut big = record_with(String::with_capacity(KEEP_MAX * 4));
            big.kv = Vec::with_capacity(KEEP_KV * 4);
            let mut small = record_with(String::from("text"));
            small.message = {
                let mut s = String::with_capacity(NEW_CAPACITY);
                s.push_str("old text");
                s.into()
            };
            small.kv.push(("k".into(), Value::from("v")));
            give_back(vec![big, small, Record::new(Level::Info, "t", "static")]);
            for _ in 0..(REFILL * 2) {
                let m = message(1_000);
                assert!(m.is_empty() && (NEW_CAPACITY..=KEEP_MAX).contains(&m.capacity()));
                let kv = pairs(3);
                assert!(kv.is_empty() && kv.capacity() >= 3);
            }
        })
        .join()
        .unwrap();
    }
}
