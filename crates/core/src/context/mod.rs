//! Per-thread context: the keys an application binds (a request id, a user)
//! that are merged into every record logged while they are bound.
//!
//! A [`Context`] is an immutable, reference-counted map. Capturing it for a
//! record is one reference-count bump; binding builds a new map, so records
//! already queued keep exactly the context they were logged with.

use std::cell::RefCell;
use std::sync::Arc;

use crate::Value;

/// An immutable snapshot of bound context: ordered keys, unique, cheap to clone.
///
/// ```
/// use log_panel_core::{Context, Value};
///
/// let ctx = Context::default().with("request_id", 7).with("user", "ann");
/// assert_eq!(ctx.get("user"), Some(&Value::from("ann")));
/// let later = ctx.with("user", "bob");
/// assert_eq!(ctx.get("user"), Some(&Value::from("ann"))); // the snapshot is unchanged
/// assert_eq!(later.get("user"), Some(&Value::from("bob")));
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Context {
    fields: Option<Fields>,
}

/// The shared, immutable pairs of a non-empty context.
type Fields = Arc<[(Arc<str>, Value)]>;

impl Context {
    /// The empty context.
    pub const fn empty() -> Context {
        Context { fields: None }
    }

    /// Builds a context from pairs; a later pair replaces an earlier one with the same key.
    pub fn from_pairs<K, V, I>(pairs: I) -> Context
    where
        K: Into<Arc<str>>,
        V: Into<Value>,
        I: IntoIterator<Item = (K, V)>,
    {
        Context::empty().merge(pairs)
    }

    /// Returns a new context with `key` set to `value` (replacing an earlier value in place).
    #[must_use]
    pub fn with(&self, key: impl Into<Arc<str>>, value: impl Into<Value>) -> Context {
        self.merge([(key, value)])
    }

    /// Returns a new context with every pair set; later pairs win.
    #[must_use]
    pub fn merge<K, V, I>(&self, pairs: I) -> Context
    where
        K: Into<Arc<str>>,
        V: Into<Value>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut fields: Vec<(Arc<str>, Value)> = self.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in pairs {
            let (k, v) = (k.into(), v.into());
            match fields.iter_mut().find(|(have, _)| *have == k) {
                Some(slot) => slot.1 = v,
                None => fields.push((k, v)),
            }
        }
        Context::from_vec(fields)
    }

    /// Returns a new context without the given keys.
    #[must_use]
    pub fn without<S: AsRef<str>>(&self, keys: &[S]) -> Context {
        let fields = self
            .iter()
            .filter(|(k, _)| !keys.iter().any(|drop| drop.as_ref() == &**k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Context::from_vec(fields)
    }

    fn from_vec(fields: Vec<(Arc<str>, Value)>) -> Context {
        if fields.is_empty() {
            Context::empty()
        } else {
            Context { fields: Some(fields.into()) }
        }
    }

    /// The value bound to `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    /// Iterates over the pairs in binding order.
    pub fn iter(&self) -> impl Iterator<Item = &(Arc<str>, Value)> {
        self.fields.as_deref().unwrap_or(&[]).iter()
    }

    /// Number of bound keys.
    pub fn len(&self) -> usize {
        self.fields.as_deref().map_or(0, <[_]>::len)
    }

    /// True when nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.fields.is_none()
    }

    /// True when both are the same allocation (or both empty): a cheap identity check.
    pub fn ptr_eq(&self, other: &Context) -> bool {
        match (&self.fields, &other.fields) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, v)| (k, v))).finish()
    }
}

thread_local! {
    static CURRENT: RefCell<Context> = const { RefCell::new(Context::empty()) };
}

/// The calling thread's current context (a cheap clone).
pub fn current() -> Context {
    CURRENT.with(|c| c.borrow().clone())
}

/// Replaces the calling thread's context, returning the previous one.
pub fn replace(ctx: Context) -> Context {
    CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn current_is_per_thread() {
        replace(Context::from_pairs([("a", 1)]));
        let other = std::thread::spawn(|| current().len()).join().unwrap_or(99);
        assert_eq!(other, 0);
        assert_eq!(current().len(), 1);
        replace(Context::empty());
    }
}
