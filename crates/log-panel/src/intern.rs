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
    static CACHE: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// The key as a [`Text`]: borrowed from the interned set when possible.
pub(crate) fn key(k: &str) -> Text {
    if k.len() > MAX_KEY_LEN {
        return Cow::Owned(k.to_owned());
    }
    let cached = CACHE.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if let Some(&name) = cache.iter().find(|&&name| name == k) {
            return Some(name);
        }
        let name = global(k)?;
        if cache.len() < THREAD_CACHE {
            cache.push(name);
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
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(key(&long), Cow::Owned(ref s) if *s == long));
    }
}
