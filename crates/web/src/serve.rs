//! The standalone server: bind, check credentials, serve the router.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use log_panel_core::Store;
use subtle::ConstantTimeEq;

use crate::pages::cookie;
use crate::query::{encode, Params};

/// The cookie that carries the token after a `?token=` visit.
const TOKEN_COOKIE: &str = "log_panel_token";

/// How [`serve`] runs the panel.
///
/// ```
/// let options = log_panel_web::ServeOptions::default().bind("0.0.0.0:8080").token("s3cret-token");
/// # let _ = options;
/// ```
#[derive(Clone, Default)]
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
    pub panel: crate::PanelOptions,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("basic", &self.basic.as_ref().map(|(u, _)| (u, "***")))
            .field("panel", &self.panel)
            .finish()
    }
}

impl ServeOptions {
    /// The default address.
    pub const DEFAULT_BIND: &'static str = "127.0.0.1:8080";

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
        Ok(Server { listener, app })
    }

    /// The address bound.
    pub fn local_addr(&self) -> Result<SocketAddr, WebError> {
        self.listener.local_addr().map_err(WebError::Serve)
    }

    /// Serves until the listener fails.
    pub async fn run(self) -> Result<(), WebError> {
        axum::serve(self.listener, self.app).await.map_err(WebError::Serve)
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
        if let Some(given) = value.strip_prefix("Bearer ") {
            ok |= same(given.trim().as_bytes(), token);
        }
    }
    if let (Some(basic), Some(value)) = (&auth.basic, authorization) {
        if let Some(given) = value.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(given.trim()).unwrap_or_default();
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

/// After a right `?token=`: the cookie, and the same URL without the token
/// (so it leaves the address bar and the history).
fn token_redirect(request: &Request, token: &[u8]) -> Response {
    let uri = request.uri();
    let rest = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect::<Vec<_>>();
    let query = encode(rest);
    let location = if query.is_empty() { uri.path().to_owned() } else { format!("{}?{query}", uri.path()) };
    let token = String::from_utf8_lossy(token);
    let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let (Ok(loc), Ok(c)) = (HeaderValue::from_str(&location), HeaderValue::from_str(&cookie)) {
        response.headers_mut().insert(header::LOCATION, loc);
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}
