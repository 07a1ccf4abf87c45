//! Interned key names for captured key-values.
//!
//! `log` hands a record's keys to the logger borrowed for the call only, so
//! capture used to copy every key into a new `String`: an allocation per key
//! per record on the calling thread. Key names come from source code and are
//! few, so each distinct name is copied once into a process-wide set and then
//! shared as `&'static str`. The set is bounded ([`MAX_KEYS`] names of at most
//! [`MAX_KEY_LEN`] bytes, about 300 KiB at worst); past that, keys are copied
//! per record as before, so a program that builds key names at run time cannot
//! grow memory without bound.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Mutex;

use log_panel_core::Text;

/// Distinct key names kept for the life of the process.
pub(crate) const MAX_KEYS: usize = 4_096;
/// Longer keys are never interned.
pub(crate) const MAX_KEY_LEN: usize = 64;
/// Names each thread remembers without taking the global lock.
const THREAD_CACHE: usize = 32;

static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

thread_local! {
    static CACHE: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// A name in a thread's cache, with its first 16 bytes as a number: most
/// keys are that short, and then one integer comparison decides, where a
/// string comparison meant a `memcmp` call per cached name.
#[derive(Clone, Copy)]
struct Cached {
    len: usize,
    head: u128,
    name: &'static str,
}

/// The first 16 bytes of `k`, zero-padded.
fn head(k: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = k.len().min(16);
    bytes[..n].copy_from_slice(&k.as_bytes()[..n]);
    u128::from_le_bytes(bytes)
}

/// The key as a [`Text`]: borrowed from the interned set when possible.
pub(crate) fn key(k: &str) -> Text {
    if k.len() > MAX_KEY_LEN {
        return Cow::Owned(k.to_owned());
    }
    let (len, h) = (k.len(), head(k));
    let cached = CACHE.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        let hit = cache.iter().find(|c| c.len == len && c.head == h && (len <= 16 || c.name == k));
        if let Some(c) = hit {
            return Some(c.name);
        }
        let name = global(k)?;
        if cache.len() < THREAD_CACHE {
            cache.push(Cached { len, head: h, name });
        }
        Some(name)
    });
    match cached {
        Ok(Some(name)) => Cow::Borrowed(name),
        _ => Cow::Owned(k.to_owned()),
    }
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
        // Names that share their first 16 bytes, or differ only in length, stay apart.
        let (p, q) = ("request_id_prefix_one", "request_id_prefix_two");
        assert_eq!(key(p), p);
        assert_eq!(key(q), q);
        assert_eq!(key("user"), "user");
        assert_eq!(key("user\0"), "user\0");
        assert_eq!(key("user_id"), "user_id");
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(key(&long), Cow::Owned(ref s) if *s == long));
    }
}
