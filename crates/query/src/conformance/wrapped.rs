//! One delegating store for test doubles: [`Wrapped`] forwards every read
//! to an inner store through [`Hooks`], whose defaults pass each read on
//! unchanged, so a double (a store that goes down, one that counts its
//! tails, one that bounds its histograms) writes only what it changes.

use super::*;

/// The reads a [`Wrapped`] store forwards, as [`Hooks::before`] sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// [`Store::records`].
    Records,
    /// [`Store::tail`].
    Tail,
    /// [`Store::record`].
    Record,
    /// [`Store::related`].
    Related,
    /// [`Store::cards`].
    Cards,
    /// [`Store::histogram`] and [`Store::histogram_estimate`].
    Histogram,
    /// [`Store::call_sites`].
    CallSites,
    /// [`Store::loggers`].
    Loggers,
}

/// What a [`Wrapped`] store changes about its inner store. Every method has
/// a default that forwards unchanged.
pub trait Hooks: Send + Sync {
    /// Runs before every read; an error is the read's answer, and the inner
    /// store is not asked.
    fn before(&self, _read: Read) -> Result<(), StoreError> {
        Ok(())
    }

    /// The answer to [`Store::tail`].
    fn tail(
        &self,
        inner: &dyn Store,
        filter: &RecordFilter,
        after_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        inner.tail(filter, after_id, limit)
    }

    /// The answer to [`Store::histogram`].
    fn histogram(&self, inner: &dyn Store, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        inner.histogram(filter, slots)
    }

    /// The answer to [`Store::histogram_estimate`].
    fn histogram_estimate(
        &self,
        inner: &dyn Store,
        filter: &RecordFilter,
        slots: &Slots,
    ) -> Result<Histogram, StoreError> {
        inner.histogram_estimate(filter, slots)
    }

    /// The answer to [`Store::describe`].
    fn describe(&self, inner: &dyn Store) -> String {
        inner.describe()
    }

    /// The answer to [`Store::index_lag`] (not a record read: [`Hooks::before`]
    /// does not see it, so a store that goes down for its reads still
    /// answers its lag unless a double says otherwise).
    fn index_lag(&self, inner: &dyn Store) -> Result<IndexLag, StoreError> {
        inner.index_lag()
    }

    /// The answer to [`Store::ids_in_commit_order`]: the trait's default,
    /// like the other provided methods, unless a double says otherwise.
    fn ids_in_commit_order(&self) -> bool {
        false
    }

    /// The answer to [`Store::commit_waiter`]: the trait's default
    /// ([`Sleep`]), unless a double says otherwise (one whose waits fail).
    fn commit_waiter(&self) -> Box<dyn CommitWaiter> {
        Box::new(Sleep)
    }
}

/// Forwards to an inner store through `hooks`. The trait's provided methods
/// (splits, field statistics) keep their defaults, built on the forwarded
/// reads, so the hooks see those too; the commit waiter and the commit
/// order are the hooks' (the trait's defaults unless a double changes them).
pub struct Wrapped<H> {
    /// The store that answers.
    pub inner: Arc<dyn Store>,
    /// What this store changes.
    pub hooks: H,
}

impl<H: Hooks> Wrapped<H> {
    /// `inner` with `hooks`.
    pub fn new(inner: Arc<dyn Store>, hooks: H) -> Wrapped<H> {
        Wrapped { inner, hooks }
    }
}

impl<H: Hooks> Store for Wrapped<H> {
    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError> {
        self.hooks.before(Read::Records)?;
        self.inner.records(filter, at, limit)
    }
    fn tail(
        &self,
        filter: &RecordFilter,
        after_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.hooks.before(Read::Tail)?;
        self.hooks.tail(self.inner.as_ref(), filter, after_id, limit)
    }
    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        self.hooks.before(Read::Record)?;
        self.inner.record(id)
    }
    fn related(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.hooks.before(Read::Related)?;
        self.inner.related(key, value, limit)
    }
    fn cards(&self, query: &CardsQuery) -> Result<Cards, StoreError> {
        self.hooks.before(Read::Cards)?;
        self.inner.cards(query)
    }
    fn histogram(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        self.hooks.before(Read::Histogram)?;
        self.hooks.histogram(self.inner.as_ref(), filter, slots)
    }
    fn histogram_estimate(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        self.hooks.before(Read::Histogram)?;
        self.hooks.histogram_estimate(self.inner.as_ref(), filter, slots)
    }
    fn call_sites(&self, filter: &RecordFilter, limit: usize) -> Result<Vec<CallSite>, StoreError> {
        self.hooks.before(Read::CallSites)?;
        self.inner.call_sites(filter, limit)
    }
    fn loggers(&self) -> Result<Vec<String>, StoreError> {
        self.hooks.before(Read::Loggers)?;
        self.inner.loggers()
    }
    fn describe(&self) -> String {
        self.hooks.describe(self.inner.as_ref())
    }
    fn ids_in_commit_order(&self) -> bool {
        self.hooks.ids_in_commit_order()
    }
    fn index_lag(&self) -> Result<IndexLag, StoreError> {
        self.hooks.index_lag(self.inner.as_ref())
    }
    fn commit_waiter(&self) -> Box<dyn CommitWaiter> {
        self.hooks.commit_waiter()
    }
}
