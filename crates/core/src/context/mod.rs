//! Per-request context, structlog-style: the keys an application binds (a
//! request id, a user) that are merged into every record logged while they
//! are bound.
//!
//! # The model
//!
//! * A [`Context`] is an immutable, reference-counted, ordered map of
//!   key → [`Value`]. Cloning it — which is what capturing it for a record
//!   does — is one reference-count bump. Binding builds a new map, so a record
//!   already captured (or queued for the writer) keeps exactly the context it
//!   was logged with.
//! * Each thread has a *current* context, empty when the thread starts.
//!   [`bind`], [`unbind`] and [`clear`] change it; [`get`] (or [`current`])
//!   returns a snapshot of it.
//! * A [`ScopeGuard`] (from [`scope`], [`scope_new`] or [`Context::enter`])
//!   changes it for a lexical scope and restores the *exact* previous context
//!   when dropped — on normal exit, early return, `?` and panic. Scopes nest.
//!   This is how a request handler should bind:
//!
//! ```
//! use log_panel_core::context;
//!
//! fn handle(request_id: u64, user: &str) -> Result<(), String> {
//!     // Start the request from a clean context: a reused worker thread must
//!     // not carry the previous request's keys.
//!     let _ctx = log_panel_core::scope_new!(request_id = request_id, user = user);
//!     assert_eq!(context::get().len(), 2);
//!     let n: u32 = "not a number".parse().map_err(|_| "bad input".to_string())?;
//!     // The `?` above returned early; the guard restored the previous context anyway.
//!     unreachable!("{n}");
//! }
//!
//! let _ = handle(7, "ann");
//! assert!(context::get().is_empty());
//! ```
//!
//! * Work handed to another thread takes a snapshot with it: [`Context::run`],
//!   [`Context::wrap`], [`carry`] and [`spawn`].
//! * Futures carry their own context with [`WithContext`]: it is installed
//!   around every `poll`, on whichever worker thread runs it, and removed after.
//!
//! Merging into a record happens in [`Record::fields`](crate::Record::fields):
//! the bound context first, then the record's own key-values; on a clash the
//! record's explicit value wins.
//!
//! See `docs/context.md` in the repository for the rules, the thread-reuse
//! warning and the mapping from structlog's functions.

use std::cell::RefCell;
use std::sync::Arc;

use crate::Value;

mod future;
mod macros;
mod scope;

pub use future::{WithContext, WithContextFuture};
#[doc(hidden)]
pub use macros::__pairs;
pub use scope::{carry, scope, scope_new, spawn, spawn_with, ScopeGuard};

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
    ///
    /// Values of different types need converting first (or use the
    /// [`ctx!`](crate::ctx) macro):
    ///
    /// ```
    /// use log_panel_core::{Context, Value};
    /// let c = Context::from_pairs([("id", Value::from(7)), ("user", Value::from("ann"))]);
    /// assert_eq!(c.len(), 2);
    /// ```
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
        let pairs = pairs.into_iter();
        let mut fields: Vec<(Arc<str>, Value)> = Vec::with_capacity(self.len() + pairs.size_hint().0);
        fields.extend(self.iter().cloned());
        for (k, v) in pairs {
            let (k, v) = (k.into(), v.into());
            match fields.iter_mut().find(|(have, _)| *have == k) {
                Some(slot) => slot.1 = v,
                None => fields.push((k, v)),
            }
        }
        Context::from_vec(fields)
    }

    /// Returns a new context with `other`'s pairs set over this one's; `other` wins on a clash.
    ///
    /// ```
    /// use log_panel_core::Context;
    /// let base = Context::from_pairs([("a", 1), ("b", 2)]);
    /// let over = Context::from_pairs([("b", 3)]);
    /// assert_eq!(format!("{:?}", base.merge_context(&over)), r#"{"a": I64(1), "b": I64(3)}"#);
    /// ```
    #[must_use]
    pub fn merge_context(&self, other: &Context) -> Context {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        self.merge(other.iter().cloned())
    }

    /// Returns a new context without the given keys.
    #[must_use]
    pub fn without<S: AsRef<str>>(&self, keys: &[S]) -> Context {
        if !self.iter().any(|(k, _)| keys.iter().any(|drop| drop.as_ref() == &**k)) {
            // Nothing to remove: share the allocation instead of copying it.
            return self.clone();
        }
        let fields = self.iter().filter(|(k, _)| !keys.iter().any(|drop| drop.as_ref() == &**k)).cloned().collect();
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

impl<'a> IntoIterator for &'a Context {
    type Item = &'a (Arc<str>, Value);
    type IntoIter = std::slice::Iter<'a, (Arc<str>, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.fields.as_deref().unwrap_or(&[]).iter()
    }
}

thread_local! {
    static CURRENT: RefCell<Context> = const { RefCell::new(Context::empty()) };
}

/// The calling thread's current context (a cheap clone): what a record captures.
///
/// Never panics: during thread teardown, after the thread-local is destroyed
/// (a record logged from another thread-local's destructor), it returns the
/// empty context.
pub fn current() -> Context {
    CURRENT.try_with(|c| c.borrow().clone()).unwrap_or_default()
}

/// Replaces the calling thread's context, returning the previous one.
///
/// This is the primitive under every other function here; prefer [`scope`]
/// or [`Context::enter`], which put the previous context back for you.
/// During thread teardown it does nothing and returns the empty context.
pub fn replace(ctx: Context) -> Context {
    // The borrow is never held across user code (only `Arc` and `Value`
    // moves happen inside), so `borrow_mut` cannot find it borrowed.
    CURRENT.try_with(|c| std::mem::replace(&mut *c.borrow_mut(), ctx)).unwrap_or_default()
}

/// Builds the next context from the current one and installs it.
fn update(f: impl FnOnce(&Context) -> Context) {
    let next = f(&current());
    // The previous value is dropped here, outside the thread-local borrow.
    drop(replace(next));
}

/// A snapshot of the calling thread's context (structlog's `get_threadlocal` /
/// `get_contextvars`). Later binds do not change the snapshot.
///
/// ```
/// use log_panel_core::context;
/// context::bind([("a", 1)]);
/// let snap = context::get();
/// context::bind([("a", 2)]);
/// assert_eq!(snap.get("a"), Some(&1.into())); // a copy: unchanged
/// assert_eq!(context::get().get("a"), Some(&2.into()));
/// context::clear();
/// ```
pub fn get() -> Context {
    current()
}

/// Adds (or replaces) keys in the calling thread's context (structlog's
/// `bind_threadlocal` / `bind_contextvars`). Builds a new map; records already
/// captured keep the old one. For values of mixed types use [`bind!`](crate::bind).
///
/// The binding lasts until unbound, cleared, or until an enclosing
/// [`ScopeGuard`] ends — prefer a scope in code that runs on reused threads.
///
/// ```
/// use log_panel_core::context;
/// context::clear();
/// context::bind([("a", 1)]);
/// assert_eq!(context::get().get("a"), Some(&1.into()));
/// context::clear();
/// assert!(context::get().is_empty());
/// ```
pub fn bind<K, V, I>(pairs: I)
where
    K: Into<Arc<str>>,
    V: Into<Value>,
    I: IntoIterator<Item = (K, V)>,
{
    update(|ctx| ctx.merge(pairs));
}

/// Removes keys from the calling thread's context (structlog's `unbind_contextvars`).
/// Keys that are not bound are ignored.
///
/// ```
/// use log_panel_core::context;
/// context::bind([("a", 1), ("b", 2)]);
/// context::unbind(&["a", "missing"]);
/// assert_eq!(context::get().get("a"), None);
/// assert_eq!(context::get().len(), 1);
/// context::clear();
/// ```
pub fn unbind<S: AsRef<str>>(keys: &[S]) {
    update(|ctx| ctx.without(keys));
}

/// Empties the calling thread's context (structlog's `clear_threadlocal` /
/// `clear_contextvars`). Inside a scope the enclosing context comes back when
/// the scope ends.
pub fn clear() {
    drop(replace(Context::empty()));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
