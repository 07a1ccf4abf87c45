//! Interned key names for captured key-values.
//!
//! `log` hands a record's keys to the logger borrowed for the call only;
//! copying every key into a new `String` would cost an allocation per key
//! per record on the calling thread. Key names come from source code and are
//! few, so each distinct name is copied once into a process-wide set and then
//! shared as `&'static str`; each thread keeps a small direct-mapped cache
//! of the names it used, so the usual lookup takes no lock. The set is
//! bounded ([`MAX_KEYS`] names of at most [`MAX_KEY_LEN`] bytes, about
//! 300 KiB at worst); past that, keys are copied per record, so a
//! program that builds key names at run time cannot grow memory without bound.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::Mutex;

use log_panel_core::Text;

/// Distinct key names kept for the life of the process.
pub(crate) const MAX_KEYS: usize = 4_096;
/// Longer keys are never interned.
pub(crate) const MAX_KEY_LEN: usize = 64;
/// Slots in each thread's cache of names (a power of two).
const THREAD_SLOTS: usize = 64;

static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

thread_local! {
    /// A direct-mapped cache: a name lives in the slot its hash picks, so a
    /// lookup is one hash and one comparison, with no lock and no scan. Two
    /// names that share a slot evict each other and cost a global lookup.
    static CACHE: [Cell<&'static str>; THREAD_SLOTS] = const { [const { Cell::new("") }; THREAD_SLOTS] };
}

/// The key as a [`Text`]: borrowed from the interned set when possible.
pub(crate) fn key(k: &str) -> Text {
    if k.is_empty() || k.len() > MAX_KEY_LEN {
        return Cow::Owned(k.to_owned());
    }
    let cached = CACHE.try_with(|cache| {
        let slot = &cache[slot_of(k)];
        let name = slot.get();
        if same(name, k) {
            return Some(name);
        }
        let name = global(k)?;
        slot.set(name);
        Some(name)
    });
    match cached {
        Ok(Some(name)) => Cow::Borrowed(name),
        _ => Cow::Owned(k.to_owned()),
    }
}

/// The cache slot for `k`, from its length and three of its bytes: a few
/// loads, where hashing every byte cost more than the lookup it saves.
fn slot_of(k: &str) -> usize {
    let b = k.as_bytes();
    let (first, mid, last) = (b[0] as usize, b[b.len() / 2] as usize, b[b.len() - 1] as usize);
    (b.len().wrapping_mul(0x9E37) ^ first.wrapping_mul(0x2F) ^ mid.wrapping_mul(0x11) ^ last) % THREAD_SLOTS
}

/// `a == b`, compared inline: key names are short, and the library call a
/// slice comparison makes costs more than the comparison itself.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

fn global(k: &str) -> Option<&'static str> {
    let mut names = NAMES.lock().ok()?;
    if let Some(&name) = names.get(k) {
        return Some(name);
    }
    if names.len() >= MAX_KEYS {
        return None;
    }
    let name: &'static str = Box::leak(k.to_owned().into_boxed_str());
    names.insert(name);
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_storage_and_long_keys_are_copied() {
        let a = key("user_id");
        let b = key(&String::from("user_id"));
        match (&a, &b) {
            (Cow::Borrowed(x), Cow::Borrowed(y)) => assert!(std::ptr::eq(*x, *y)),
            other => panic!("expected interned keys, got {other:?}"),
        }
        let other_thread = std::thread::spawn(|| key("user_id")).join().unwrap_or(Cow::Borrowed("x"));
        assert!(matches!(other_thread, Cow::Borrowed(n) if std::ptr::eq(n, &*a)));
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(key(&long), Cow::Owned(ref s) if *s == long));
    }

    #[test]
    fn names_sharing_a_slot_each_come_back_as_themselves() {
        // More names than slots, so some share one and evict each other.
        let names: Vec<String> = (0..3 * THREAD_SLOTS).map(|i| format!("k{i}_{}", "x".repeat(i % 7))).collect();
        for _ in 0..3 {
            for n in &names {
                let k = key(n);
                assert_eq!(k, n.as_str());
                assert!(matches!(k, Cow::Borrowed(_)), "{n} was not interned");
            }
        }
        // A slot's old name is never returned for a new key of the same shape.
        assert_eq!(key("ab"), "ab");
        assert_eq!(key("aab"), "aab");
        assert_eq!(key("a"), "a");
        assert_eq!(key(""), "");
    }
}
