//! What the store learnt of a search from one page and trusts for the next
//! ones a short while: that it is rare (`PgStore::rare_mark`), how densely
//! its matches lie (`PgStore::walk_rows`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most `kept` values by key, each trusted for `trusted` after it was
/// noted; past `kept`, the one noted longest ago is dropped first.
pub(super) struct Recent<V> {
    kept: usize,
    trusted: Duration,
    values: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Copy> Recent<V> {
    pub(super) fn new(kept: usize, trusted: Duration) -> Recent<V> {
        Recent { kept, trusted, values: Mutex::new(HashMap::new()) }
    }

    /// Keeps `value` for `key` from now on.
    pub(super) fn note(&self, key: String, value: V) {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if values.len() >= self.kept && !values.contains_key(&key) {
            let oldest = values.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                values.remove(&oldest);
            }
        }
        values.insert(key, (Instant::now(), value));
    }

    /// Drops what was noted for `key`.
    pub(super) fn forget(&self, key: &str) {
        self.values.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    /// The value noted for `key` within the last `trusted`.
    pub(super) fn get(&self, key: &str) -> Option<V> {
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        values.get(key).filter(|(at, _)| at.elapsed() < self.trusted).map(|(_, v)| *v)
    }
}
