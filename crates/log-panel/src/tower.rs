//! Per-request context for tower services: axum, tonic, hyper (feature `tower`).
//!
//! [`RequestContextLayer`] binds, for each request, a `request_id`, the
//! `method` and the `path` (with feature `axum`, the route template such as
//! `/users/{id}` when a route matched), runs the whole request — the inner
//! service's `call` and every poll of its response future — inside that
//! [`Context`], and sets the id on the response. Every record logged while
//! the request is served, through `log` or the `tracing`
//! layer, on whichever worker thread, carries it.
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let app: axum::Router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { log::info!("hello"); "hi" }))
//!     .layer(log_panel::tower::RequestContextLayer::new());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! The incoming `x-request-id` is kept when it is 1–128 characters of
//! `A–Z a–z 0–9 . _ : -`; anything else (it ends up in the web panel's pages and
//! in SQL filters) is replaced by a new UUIDv7, time-ordered. Work handed to
//! other threads inside a handler (`spawn_blocking`, a pool) takes the context
//! with it through [`context::carry`](crate::context::carry) or
//! [`Context::wrap`].
//!
//! A valid W3C `traceparent` header (version `00`, a 32-hex trace id that is
//! not all zero, a 16-hex parent id) binds `trace_id` and `span_id` (the
//! caller's span, the nearest one known) too, so every record of the request
//! can be found by its trace (see [`log_panel_core::trace`]). A malformed
//! header is ignored: the request is served, without trace ids.
//!
//! With [`access_log`](RequestContextLayer::access_log) on (the default), one
//! record per request is logged through `log` when the response headers are
//! ready: target `access`, INFO (WARN for 5xx), key-values `status`,
//! `latency_ms`, and `bytes` when the body's size is known.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::header::HeaderName;
use http::{HeaderValue, Request, Response};
use log_panel_core::context::{WithContext, WithContextFuture};
use log_panel_core::record::cut;
use log_panel_core::trace::{TraceParent, SPAN_ID_KEY, TRACEPARENT_HEADER, TRACE_ID_KEY};
use log_panel_core::{Context, Value};

/// The default header carrying the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest incoming request id kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// The target (logger name) of access records.
pub const ACCESS_TARGET: &str = "access";
/// Longer paths are cut before they are bound.
const MAX_PATH_BYTES: usize = 1_024;

/// Whether `id` is kept as the request id: 1–128 characters of
/// `[A-Za-z0-9._:-]`.
///
/// ```
/// use log_panel::tower::is_valid_request_id;
/// assert!(is_valid_request_id("0193a6f0-3f5c-7d4e-9a1b-2c3d4e5f6a7b"));
/// assert!(!is_valid_request_id("<script>"));
/// assert!(!is_valid_request_id(""));
/// ```
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A new time-ordered request id: a UUIDv7 in its hyphenated form.
pub fn new_request_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

type Generator = Arc<dyn Fn() -> String + Send + Sync>;

/// The request's id, also put into the request's extensions for handlers
/// (`Extension<RequestId>` in axum).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tower [`Layer`](tower_layer::Layer) binding per-request context (see the
/// [module](self) documentation).
#[derive(Clone)]
#[must_use]
pub struct RequestContextLayer {
    settings: Arc<Settings>,
}

struct Settings {
    header: HeaderName,
    generate: Option<Generator>,
    access_log: bool,
}

impl Default for RequestContextLayer {
    fn default() -> Self {
        RequestContextLayer::new()
    }
}

impl fmt::Debug for RequestContextLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContextLayer")
            .field("header", &self.settings.header)
            .field("custom_generator", &self.settings.generate.is_some())
            .field("access_log", &self.settings.access_log)
            .finish()
    }
}

impl RequestContextLayer {
    /// Header `x-request-id`, UUIDv7 ids, access records on.
    pub fn new() -> RequestContextLayer {
        RequestContextLayer {
            settings: Arc::new(Settings {
                header: HeaderName::from_static(REQUEST_ID_HEADER),
                generate: None,
                access_log: true,
            }),
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Settings)) -> RequestContextLayer {
        match Arc::get_mut(&mut self.settings) {
            Some(settings) => f(settings),
            None => {
                let mut settings = Settings {
                    header: self.settings.header.clone(),
                    generate: self.settings.generate.clone(),
                    access_log: self.settings.access_log,
                };
                f(&mut settings);
                self.settings = Arc::new(settings);
            }
        }
        self
    }

    /// The header read from the request and set on the response.
    pub fn header(self, name: HeaderName) -> RequestContextLayer {
        self.update(|s| s.header = name)
    }

    /// Makes the id of a request that has none (or a malformed one). An id it
    /// returns that is not [valid](is_valid_request_id) is replaced by a UUIDv7.
    pub fn id_generator(self, generate: impl Fn() -> String + Send + Sync + 'static) -> RequestContextLayer {
        self.update(|s| s.generate = Some(Arc::new(generate)))
    }

    /// Whether one access record is logged per request (default true).
    pub fn access_log(self, on: bool) -> RequestContextLayer {
        self.update(|s| s.access_log = on)
    }
}

impl<S> tower_layer::Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContextService { inner, settings: Arc::clone(&self.settings) }
    }
}

/// The service [`RequestContextLayer`] wraps around an inner one.
#[derive(Clone)]
pub struct RequestContextService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> fmt::Debug for RequestContextService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContextService").finish_non_exhaustive()
    }
}

impl Settings {
    /// The incoming id when it is well-formed, else a new one.
    fn request_id(&self, headers: &http::HeaderMap) -> (Arc<str>, HeaderValue) {
        if let Some(value) = headers.get(&self.header) {
            if let Ok(text) = value.to_str() {
                if is_valid_request_id(text) {
                    return (Arc::from(text), value.clone());
                }
            }
        }
        let generated = self.generate.as_ref().map(|g| g()).filter(|id| is_valid_request_id(id));
        let id = generated.unwrap_or_else(new_request_id);
        // Valid ids are visible ASCII, always a valid header value.
        let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        (Arc::from(id), header)
    }
}

/// The request's `traceparent` when there is exactly one and it is valid;
/// several (ambiguous) or a malformed one are ignored.
fn trace_parent(headers: &http::HeaderMap) -> Option<TraceParent> {
    let mut values = headers.get_all(TRACEPARENT_HEADER).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    TraceParent::parse(value.to_str().ok()?)
}

/// The route template when axum matched one, else the URI's path, cut to a bound.
fn request_path<B>(request: &Request<B>) -> Arc<str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Arc::from(matched.as_str());
    }
    let path = request.uri().path();
    match cut(path, MAX_PATH_BYTES) {
        None => Arc::from(path),
        Some(c) => Arc::from(c),
    }
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for RequestContextService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let (id, header_value) = self.settings.request_id(request.headers());
        let method: Arc<str> = Arc::from(request.method().as_str());
        let path = request_path(&request);
        request.extensions_mut().insert(RequestId(Arc::clone(&id)));
        // A fresh context: nothing a worker thread had bound leaks into the request.
        let mut ctx = Context::from_pairs([
            ("request_id", Value::from(Arc::clone(&id))),
            ("method", Value::from(Arc::clone(&method))),
            ("path", Value::from(Arc::clone(&path))),
        ]);
        if let Some(parent) = trace_parent(request.headers()) {
            ctx = ctx.with(TRACE_ID_KEY, parent.trace_id()).with(SPAN_ID_KEY, parent.parent_id());
        }
        // The inner `call` may log too (and axum routes in it).
        let inner = ctx.run(|| self.inner.call(request));
        let finish = Finish {
            inner: Box::pin(inner),
            complete: complete::<ResBody, S::Error>,
            state: Completion {
                header: self.settings.header.clone(),
                id: Some(header_value),
                access: self.settings.access_log.then_some(Access { method, path, started }),
            },
        };
        ResponseFuture { inner: finish.with_context(ctx) }
    }
}

/// What the access record needs.
struct Access {
    method: Arc<str>,
    path: Arc<str>,
    started: Instant,
}

/// What is done when the response is ready: set the header, log the access record.
struct Completion {
    header: HeaderName,
    id: Option<HeaderValue>,
    access: Option<Access>,
}

/// The inner response future plus its [`Completion`], polled inside the
/// request's context. `complete` is chosen in `call`, where the response
/// type is known, so this future needs no bounds beyond `Future`.
struct Finish<F: Future> {
    inner: Pin<Box<F>>,
    complete: fn(&mut F::Output, &mut Completion),
    state: Completion,
}

impl<F: Future> Future for Finish<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // All fields are `Unpin` (the inner future is boxed).
        let this = self.get_mut();
        match this.inner.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(mut output) => {
                (this.complete)(&mut output, &mut this.state);
                Poll::Ready(output)
            }
        }
    }
}

fn complete<ResBody: http_body::Body, E>(output: &mut Result<Response<ResBody>, E>, state: &mut Completion) {
    match output {
        Ok(response) => {
            if let Some(id) = state.id.take() {
                response.headers_mut().insert(state.header.clone(), id);
            }
            if let Some(access) = state.access.take() {
                let status = response.status().as_u16();
                let bytes = http_body::Body::size_hint(response.body()).exact();
                log_access(&access, Some(status), bytes);
            }
        }
        Err(_) => {
            if let Some(access) = state.access.take() {
                log_access(&access, None, None);
            }
        }
    }
}

/// One record per request: INFO, WARN for a 5xx or a failed service.
fn log_access(access: &Access, status: Option<u16>, bytes: Option<u64>) {
    // Whole microseconds: the stored JSON number stays short.
    let latency_ms = access.started.elapsed().as_micros() as f64 / 1_000.0;
    let level = match status {
        Some(s) if s < 500 => log::Level::Info,
        _ => log::Level::Warn,
    };
    let (method, path) = (&*access.method, &*access.path);
    match status {
        Some(status) => log::log!(
            target: ACCESS_TARGET, level,
            status = status, latency_ms = latency_ms, bytes = bytes;
            "{method} {path} {status} in {latency_ms:.1} ms"
        ),
        None => log::log!(
            target: ACCESS_TARGET, level,
            latency_ms = latency_ms;
            "{method} {path} failed after {latency_ms:.1} ms"
        ),
    }
}

/// The response future of [`RequestContextService`]: the inner one, run
/// inside the request's context.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F: Future> {
    inner: WithContextFuture<Finish<F>>,
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // `WithContextFuture` is `Unpin`.
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}
