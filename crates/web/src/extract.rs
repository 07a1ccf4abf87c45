//! What every handler takes from the request: the [`Ctx`] extractor (where
//! the panel is mounted, the query string, the viewer's offset), cookies, and
//! the bridge that runs store calls on a blocking thread.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use log_panel_query::{Store, StoreError, StoreErrorKind};

use crate::html::{Base, Frame, Nav};
use crate::url::{encode, Params};
use crate::viewer::Viewer;
use crate::AppState;

/// What every page reads from the request: where the panel is mounted, the
/// query string, the viewer's offset.
pub(crate) struct Ctx {
    pub(crate) base: Base,
    pub(crate) params: Params,
    pub(crate) viewer: Result<Viewer, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Ctx, Infallible> {
        let inner = parts.uri.path().to_owned();
        let outer = parts.extensions.get::<OriginalUri>().map_or_else(|| inner.clone(), |o| o.0.path().to_owned());
        // Nested under `/admin/logs`, the router sees `/records` for `/admin/logs/records`.
        let base = match outer.strip_suffix(inner.as_str()) {
            Some(b) => b.to_owned(),
            None if inner == "/" => outer.trim_end_matches('/').to_owned(),
            None => String::new(),
        };
        let params = Params::parse(parts.uri.query());
        let viewer = Viewer::from_request(&params, cookie(&parts.headers, "log_panel_tz").as_deref());
        Ok(Ctx { base: Base(base.trim_end_matches('/').to_owned()), params, viewer })
    }
}

impl Ctx {
    pub(crate) fn viewer(&self) -> Viewer {
        self.viewer.clone().unwrap_or_else(|_| Viewer::utc())
    }

    pub(crate) fn frame(&self, title: &str, nav: Nav) -> Frame {
        Frame {
            base: self.base.clone(),
            viewer: self.viewer(),
            title: title.to_owned(),
            nav,
            params: self.params.clone(),
        }
    }

    /// A link to `path` with `pairs` and the viewer's offset when it came from the URL.
    pub(crate) fn link(&self, path: &str, mut pairs: Vec<(&'static str, String)>) -> String {
        pairs.extend(self.tz_pairs());
        self.base.link(path, &encode(pairs))
    }

    /// `tz=…` when the offset came from the URL, for links.
    pub(crate) fn tz_pairs(&self) -> Vec<(&'static str, String)> {
        let v = self.viewer();
        if v.in_url {
            vec![("tz", (v.offset_secs / 60).to_string())]
        } else {
            Vec::new()
        }
    }
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Runs a store call on a blocking thread (store calls do I/O), once one of
/// the [`PanelOptions::store_calls`](crate::PanelOptions::store_calls) turns
/// is free: without a bound, a client firing hundreds of searches at once
/// would get hundreds of scans (and threads, and connections). A request
/// that does not get its turn within
/// [`PanelOptions::store_wait`](crate::PanelOptions::store_wait) fails with
/// [`CallError::Busy`], which the error page shows as busy.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, CallError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let wait = state.options.store_wait;
    let turn = match tokio::time::timeout(wait, state.store_turns.clone().acquire_owned()).await {
        Ok(Ok(turn)) => turn,
        Ok(Err(closed)) => {
            let e = StoreError::new(StoreErrorKind::Storage, "the panel stopped reading").with_source(closed);
            return Err(CallError::Store(e));
        }
        Err(_) => return Err(CallError::Busy(Busy { calls: state.options.store_calls, waited: wait })),
    };
    let store = state.store.clone();
    // The turn goes with the call, not the request: a client that gives up
    // does not stop the scan, so its turn is free only when the scan ends.
    let call = move || {
        let _turn = turn;
        f(store.as_ref())
    };
    match tokio::task::spawn_blocking(call).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(StoreError::new(StoreErrorKind::Storage, "the query failed unexpectedly").with_source(e).into()),
    }
}

/// Why a [`blocking`] store call gave no answer.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The store was called and failed (or the call could not run).
    Store(StoreError),
    /// The request did not get its turn to call the store in time.
    Busy(Busy),
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> CallError {
        CallError::Store(e)
    }
}

/// A request did not get its turn to call the store in time: the panel runs
/// `calls` store calls at once and every one stayed busy for `waited`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the panel is already running as many reads as it allows at once ({calls}); this one waited {} s for its turn; \
     try again in a moment",
    waited.as_secs_f64()
)]
pub(crate) struct Busy {
    calls: usize,
    waited: std::time::Duration,
}
