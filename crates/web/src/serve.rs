//! The standalone server: bind, check credentials, serve the router within bounded connections (`conns`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use log_panel_query::Store;
use subtle::ConstantTimeEq;

use crate::extract::cookie;
use crate::url::{encode, Params};

mod conns;

/// The cookie that carries the token after a `?token=` visit.
const TOKEN_COOKIE: &str = "log_panel_token";

/// How [`serve`] runs the panel.
///
/// ```
/// let options = log_panel_web::ServeOptions::default().bind("0.0.0.0:8080").token("s3cret-token");
/// # let _ = options;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The address to listen on (`host:port`); `None` is 127.0.0.1:8080.
    pub bind: Option<String>,
    /// A token accepted as `Authorization: Bearer <token>`, or once as
    /// `?token=<token>`, which sets a cookie and redirects to the clean URL.
    pub token: Option<String>,
    /// A user name and password accepted by HTTP basic authentication.
    pub basic: Option<(String, String)>,
    /// How the pages judge what they show.
    pub panel: crate::options::PanelOptions,
    /// Connections open at once ([`DEFAULT_MAX_CONNECTIONS`](Self::DEFAULT_MAX_CONNECTIONS)).
    /// At the cap, a new connection closes the one that has been quiet longest
    /// (no request in progress); when every one is answering, the new one gets
    /// a `503` at once. Either is said on stderr, at most once every 10 s.
    pub max_connections: usize,
    /// Time a new connection has to send a complete request head
    /// ([`DEFAULT_HEADER_TIMEOUT`](Self::DEFAULT_HEADER_TIMEOUT)); then it is closed.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait, after an answer, for the next
    /// complete request head ([`DEFAULT_IDLE_TIMEOUT`](Self::DEFAULT_IDLE_TIMEOUT)); then it is closed.
    pub idle_timeout: Duration,
    /// Bytes of a request head, request line included
    /// ([`DEFAULT_MAX_HEADER_BYTES`](Self::DEFAULT_MAX_HEADER_BYTES)); a larger one gets `431`.
    pub max_header_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            bind: None,
            token: None,
            basic: None,
            panel: crate::options::PanelOptions::default(),
            max_connections: ServeOptions::DEFAULT_MAX_CONNECTIONS,
            header_timeout: ServeOptions::DEFAULT_HEADER_TIMEOUT,
            idle_timeout: ServeOptions::DEFAULT_IDLE_TIMEOUT,
            max_header_bytes: ServeOptions::DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("basic", &self.basic.as_ref().map(|(u, _)| (u, "***")))
            .field("panel", &self.panel)
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .finish()
    }
}

impl ServeOptions {
    /// The default address.
    pub const DEFAULT_BIND: &'static str = "127.0.0.1:8080";
    /// The default cap on open connections: under the common soft limit of
    /// 1 024 file descriptors, with room for the store's own.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    /// The default time to send a request head.
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default time a kept-alive connection may wait for its next request.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default bound on a request head: 64 KiB (hyper's own is 408 KiB).
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

    /// Listens on `addr` (`host:port`).
    #[must_use]
    pub fn bind(mut self, addr: impl Into<String>) -> ServeOptions {
        self.bind = Some(addr.into());
        self
    }

    /// Requires this token (see [`ServeOptions::token`](field@ServeOptions::token)).
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> ServeOptions {
        self.token = Some(token.into());
        self
    }

    /// At most `n` connections open at once (see [`ServeOptions::max_connections`](field@ServeOptions::max_connections)).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> ServeOptions {
        self.max_connections = n;
        self
    }

    /// Closes a connection that has not sent a complete request head within `timeout`.
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> ServeOptions {
        self.header_timeout = timeout;
        self
    }

    /// Closes a kept-alive connection that has not sent its next request head within `timeout`.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> ServeOptions {
        self.idle_timeout = timeout;
        self
    }

    /// Answers `431` to a request head larger than `bytes` (at least 8 192).
    #[must_use]
    pub fn max_header_bytes(mut self, bytes: usize) -> ServeOptions {
        self.max_header_bytes = bytes;
        self
    }

    /// Requires these basic-auth credentials.
    #[must_use]
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> ServeOptions {
        self.basic = Some((user.into(), password.into()));
        self
    }

    fn has_auth(&self) -> bool {
        self.token.is_some() || self.basic.is_some()
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// A non-loopback address without a token or basic-auth credentials.
    #[error("refusing to serve logs on {bind} without authentication: set a token or basic-auth credentials, or bind 127.0.0.1")]
    InsecureBind {
        /// The address asked for.
        bind: String,
    },
    /// An option that cannot be used.
    #[error("{0}")]
    BadOption(String),
    /// The address could not be resolved or bound.
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        /// The address asked for.
        bind: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Serving failed.
    #[error("serving the panel failed: {0}")]
    Serve(#[source] io::Error),
}

/// Serves the panel over `store` until the process ends (or the listener fails).
pub async fn serve(store: Arc<dyn Store>, options: ServeOptions) -> Result<(), WebError> {
    Server::bind(store, options).await?.run().await
}

/// A bound server, not serving yet: [`Server::local_addr`] tells the port of a `:0` bind.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: conns::Limits,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.listener.local_addr().ok()).finish()
    }
}

/// The credentials checked by the middleware.
#[derive(Clone)]
struct Auth {
    token: Option<Arc<[u8]>>,
    basic: Option<Arc<[u8]>>,
}

impl Server {
    /// Checks the options and binds; fails on a non-loopback address without credentials.
    pub async fn bind(store: Arc<dyn Store>, options: ServeOptions) -> Result<Server, WebError> {
        let bind = options.bind.clone().unwrap_or_else(|| ServeOptions::DEFAULT_BIND.to_owned());
        if let Some(t) = &options.token {
            // The token travels in a header and a cookie, so it must be a plain visible string.
            if t.len() < 8 || !t.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\')) {
                return Err(WebError::BadOption(
                    "the token must be at least 8 visible ASCII characters, without ; , \" or \\".into(),
                ));
            }
        }
        if options.max_connections == 0 || options.header_timeout.is_zero() || options.idle_timeout.is_zero() {
            return Err(WebError::BadOption(
                "max_connections, header_timeout and idle_timeout must be more than 0".into(),
            ));
        }
        if options.max_header_bytes < conns::MIN_HEADER_BYTES {
            return Err(WebError::BadOption(format!("max_header_bytes must be at least {}", conns::MIN_HEADER_BYTES)));
        }
        if let Some((user, password)) = &options.basic {
            if user.is_empty() || user.contains(':') || password.is_empty() {
                return Err(WebError::BadOption(
                    "basic auth needs a user name without `:` and a non-empty password".into(),
                ));
            }
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(bind.as_str())
            .await
            .map_err(|source| WebError::Bind { bind: bind.clone(), source })?
            .collect();
        if addrs.is_empty() {
            let source = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
            return Err(WebError::Bind { bind, source });
        }
        if !options.has_auth() && addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(WebError::InsecureBind { bind });
        }
        let listener = tokio::net::TcpListener::bind(addrs.as_slice())
            .await
            .map_err(|source| WebError::Bind { bind: bind.clone(), source })?;
        let auth = Auth {
            token: options.token.as_ref().map(|t| Arc::from(t.as_bytes())),
            basic: options.basic.as_ref().map(|(u, p)| Arc::from(format!("{u}:{p}").as_bytes())),
        };
        let mut app = crate::router_with(store, options.panel);
        if auth.token.is_some() || auth.basic.is_some() {
            app = app.layer(axum::middleware::from_fn_with_state(auth, check_auth));
        }
        // Outermost, so the answers of the auth check carry the headers too.
        let app = app.layer(axum::middleware::map_response(crate::security_headers));
        let limits = conns::Limits {
            max_connections: options.max_connections,
            header_timeout: options.header_timeout,
            idle_timeout: options.idle_timeout,
            max_header_bytes: options.max_header_bytes,
            refusal: conns::refusal().await,
        };
        Ok(Server { listener, app, limits })
    }

    /// The address bound.
    pub fn local_addr(&self) -> Result<SocketAddr, WebError> {
        self.listener.local_addr().map_err(WebError::Serve)
    }

    /// Serves until the process ends, within the bounds of [`ServeOptions`]: a
    /// failing `accept` (out of file descriptors, say) closes the longest-quiet
    /// connection and is retried after a pause (10 ms, doubling up to 1 s), never
    /// in a busy loop.
    pub async fn run(self) -> Result<(), WebError> {
        conns::run(self.listener, self.app, self.limits).await
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

async fn check_auth(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let mut ok = false;
    if let (Some(token), Some(value)) = (&auth.token, authorization) {
        if let Some(given) = credentials(value, "Bearer") {
            ok |= same(given.as_bytes(), token);
        }
    }
    if let (Some(basic), Some(value)) = (&auth.basic, authorization) {
        if let Some(given) = credentials(value, "Basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(given).unwrap_or_default();
            ok |= same(&decoded, basic);
        }
    }
    if let Some(token) = &auth.token {
        if let Some(given) = cookie(headers, TOKEN_COOKIE) {
            ok |= same(given.as_bytes(), token);
        }
        let params = Params::parse(request.uri().query());
        if let Some(given) = params.get("token") {
            if same(given.as_bytes(), token) {
                return token_redirect(&request, token);
            }
        }
    }
    if ok {
        return next.run(request).await;
    }
    let mut response =
        (StatusCode::UNAUTHORIZED, "401 Unauthorized: this log panel needs credentials.\n").into_response();
    if auth.basic.is_some() {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"log-panel\""));
    }
    response
}

/// The credentials of an `Authorization` value in `scheme`, whose name is
/// case-insensitive (RFC 7235); `None` for another scheme.
fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.trim_start().split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `path` as a path of this server: a run of leading slashes and backslashes
/// becomes one slash, so a browser cannot read it as `//other.host/…`.
fn local_path(path: &str) -> String {
    format!("/{}", path.trim_start_matches(['/', '\\']))
}

/// After a right `?token=`: the cookie, and the same URL without the token
/// (so it leaves the address bar and the history).
fn token_redirect(request: &Request, token: &[u8]) -> Response {
    let uri = request.uri();
    let rest = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect::<Vec<_>>();
    let query = encode(rest);
    let path = local_path(uri.path());
    let location = if query.is_empty() { path } else { format!("{path}?{query}") };
    let token = String::from_utf8_lossy(token);
    let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let (Ok(loc), Ok(c)) = (HeaderValue::from_str(&location), HeaderValue::from_str(&cookie)) {
        response.headers_mut().insert(header::LOCATION, loc);
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}
