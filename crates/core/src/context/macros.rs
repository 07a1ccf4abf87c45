//! `key = value` macros over the context functions.
//!
//! Every macro reaches the functions through `$crate::context::…`, so they
//! work unchanged when re-exported by another crate (`log_panel::bind!`).
//! A key is an identifier (`request_id`) or a string literal (`"http.method"`);
//! a value is any expression with a `From` conversion into [`Value`](crate::Value).

use crate::Value;

/// Fixes the element type of a macro's pair array, so that `bind!()` with no
/// pairs still type-checks. Not part of the API.
#[doc(hidden)]
pub fn __pairs<const N: usize>(pairs: [(&'static str, Value); N]) -> [(&'static str, Value); N] {
    pairs
}

/// Turns a macro key (identifier or string literal) into a `&'static str`. Not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __context_key {
    ($key:ident) => {
        ::core::stringify!($key)
    };
    ($key:literal) => {
        $key
    };
}

/// Builds a [`Context`](crate::Context) from `key = value` pairs of any value types.
///
/// ```
/// use log_panel_core::{ctx, Value};
/// let c = ctx!(request_id = 7, user = "ann", "http.method" = "GET", admin = false);
/// assert_eq!(c.len(), 4);
/// assert_eq!(c.get("http.method"), Some(&Value::from("GET")));
/// assert!(ctx!().is_empty());
/// ```
#[macro_export]
macro_rules! ctx {
    ($($key:tt = $value:expr),* $(,)?) => {
        $crate::Context::from_pairs($crate::context::__pairs([
            $(($crate::__context_key!($key), $crate::Value::from($value))),*
        ]))
    };
}

/// Binds `key = value` pairs into the calling thread's context:
/// [`context::bind`](crate::context::bind) with values of any types.
///
/// ```
/// use log_panel_core::{bind, context, Value};
/// let name = String::from("ann");
/// bind!(request_id = 7, user = &name, ratio = 0.5, "trace.id" = None::<u64>);
/// let c = context::get();
/// assert_eq!(c.get("request_id"), Some(&Value::I64(7)));
/// assert_eq!(c.get("user"), Some(&Value::from("ann")));
/// assert_eq!(c.get("trace.id"), Some(&Value::Null));
/// context::clear();
/// ```
#[macro_export]
macro_rules! bind {
    ($($key:tt = $value:expr),* $(,)?) => {
        $crate::context::bind($crate::context::__pairs([
            $(($crate::__context_key!($key), $crate::Value::from($value))),*
        ]))
    };
}

/// Removes keys from the calling thread's context:
/// [`context::unbind`](crate::context::unbind).
///
/// ```
/// use log_panel_core::{bind, context, unbind};
/// bind!(a = 1, b = 2, "c.d" = 3);
/// unbind!(a, "c.d");
/// assert_eq!(context::get().len(), 1);
/// context::clear();
/// ```
#[macro_export]
macro_rules! unbind {
    ($($key:tt),* $(,)?) => {
        $crate::context::unbind::<&'static str>(&[$($crate::__context_key!($key)),*])
    };
}

/// Binds `key = value` pairs over the current context until the returned
/// [`ScopeGuard`](crate::context::ScopeGuard) is dropped:
/// [`context::scope`](crate::context::scope) with values of any types.
///
/// ```
/// use log_panel_core::{context, scope, Value};
/// fn handle(id: u64) {
///     let _ctx = scope!(request_id = id, user = "ann");
///     assert_eq!(context::get().get("request_id"), Some(&Value::from(id)));
/// }
/// handle(1);
/// assert!(context::get().is_empty());
/// ```
#[macro_export]
macro_rules! scope {
    ($($key:tt = $value:expr),* $(,)?) => {
        $crate::context::scope($crate::context::__pairs([
            $(($crate::__context_key!($key), $crate::Value::from($value))),*
        ]))
    };
}

/// Installs a context holding only these pairs (nothing inherited) until the
/// returned [`ScopeGuard`](crate::context::ScopeGuard) is dropped:
/// [`context::scope_new`](crate::context::scope_new). Start each request with it.
///
/// ```
/// use log_panel_core::{bind, context, scope_new};
/// bind!(leftover = true);
/// {
///     let _ctx = scope_new!(request_id = 2);
///     assert_eq!(context::get().len(), 1);
///     assert_eq!(context::get().get("leftover"), None);
/// }
/// assert_eq!(context::get().len(), 1);
/// context::clear();
/// ```
#[macro_export]
macro_rules! scope_new {
    ($($key:tt = $value:expr),* $(,)?) => {
        $crate::context::scope_new($crate::context::__pairs([
            $(($crate::__context_key!($key), $crate::Value::from($value))),*
        ]))
    };
}
