//! The stylesheet and the script, compiled into the panel (`/static/…`).

use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// `/static/panel.css` and `/static/panel.js`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/static/panel.css", get(stylesheet)).route("/static/panel.js", get(script))
}

pub(crate) async fn stylesheet(query: RawQuery, headers: HeaderMap) -> Response {
    STYLESHEET.respond(query, &headers)
}

pub(crate) async fn script(query: RawQuery, headers: HeaderMap) -> Response {
    SCRIPT.respond(query, &headers)
}

/// A file compiled into the panel, with a validator from its content.
pub(crate) struct StaticFile {
    content_type: &'static str,
    body: &'static str,
    /// FNV-1a of the body, computed at compile time: a new build with a changed
    /// file gets a new tag, an unchanged file keeps it across builds.
    hash: u64,
}

pub(crate) const STYLESHEET: StaticFile =
    StaticFile::new("text/css; charset=utf-8", include_str!("../assets/panel.css"));
pub(crate) const SCRIPT: StaticFile =
    StaticFile::new("text/javascript; charset=utf-8", include_str!("../assets/panel.js"));

/// The pages link each file as `?v=<version>`: that URL always names the same
/// bytes, so browsers keep it without asking again.
const VERSIONED_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Any other URL of a file (bare, or an older version's, from a page kept
/// across an upgrade): kept, but asked about before each use; a matching
/// `If-None-Match` costs a 304 without a body, so it is never stale.
const UNVERSIONED_CACHE_CONTROL: &str = "no-cache";

impl StaticFile {
    const fn new(content_type: &'static str, body: &'static str) -> StaticFile {
        let bytes = body.as_bytes();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        StaticFile { content_type, body, hash }
    }

    /// The version the pages put in the file's URL (`?v=`), also its ETag.
    pub(crate) fn version(&self) -> String {
        format!("{:016x}", self.hash)
    }

    fn respond(&self, RawQuery(query): RawQuery, request: &HeaderMap) -> Response {
        let version = self.version();
        let versioned =
            query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "v" && v == version.as_str()));
        let cache_control = if versioned { VERSIONED_CACHE_CONTROL } else { UNVERSIONED_CACHE_CONTROL };
        let etag = format!("\"{version}\"");
        let cached = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim())
            // Weak comparison, as RFC 9110 asks of If-None-Match: `W/"x"` matches `"x"`.
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
        let headers = [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control.to_owned())];
        if cached {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (headers, [(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}
