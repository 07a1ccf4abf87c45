//! An application that mounts the log panel under its own `/admin/logs`,
//! behind its own authentication, the way an admin site would.
//!
//! ```sh
//! cargo run --example quickstart     # fills ./log_panel.db
//! ADMIN_TOKEN=let-me-in cargo run -p log-panel-web --example embed_panel -- log_panel.db   # or a postgres:// URL
//! curl -H 'Authorization: Bearer let-me-in' http://127.0.0.1:3000/admin/logs
//! ```
//!
//! The panel's links follow the mount point (`/admin/logs/records?…`), its
//! responses carry their own security headers, and it answers GET only; who
//! may see it is the application's decision — here a bearer token, in a real
//! application its session middleware.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use log_panel_database::{open_store, Database};
use log_panel_query::DEFAULT_READ_TIMEOUT;

/// The application's own check: a real app would look at its session here.
async fn require_admin(request: Request, next: Next) -> Response {
    let expected = std::env::var("ADMIN_TOKEN").unwrap_or_default();
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // A plain comparison keeps the example short; compare in constant time in real code.
    if expected.is_empty() || given != expected {
        return (StatusCode::UNAUTHORIZED, "admins only\n").into_response();
    }
    next.run(request).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database = match std::env::args().nth(1) {
        Some(db) => Database::parse(&db)?,
        None => Database::default(),
    };
    // The panel takes any Store; it opens read-only, on a blocking thread.
    let store = tokio::task::spawn_blocking(move || open_store(&database, DEFAULT_READ_TIMEOUT)).await??;
    let admin = log_panel_web::router(Arc::from(store)).layer(middleware::from_fn(require_admin));
    let app = axum::Router::new()
        .route("/", get(|| async { Html("<p>The shop. Logs are at <a href=\"/admin/logs\">/admin/logs</a>.</p>") }))
        .nest("/admin/logs", admin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/admin/logs", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
