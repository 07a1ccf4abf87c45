//! An axum service whose every record — `log` or `tracing`, in a handler, a
//! span or a blocking task — is stored in `./log_panel.db` with its request's
//! id, method and route:
//!
//! ```sh
//! cargo run --example axum_service --features tracing,tower,axum -- --bind 127.0.0.1:3000
//! curl -i localhost:3000/users/7           # the response carries x-request-id
//! sqlite3 log_panel.db "SELECT message, context FROM log_records ORDER BY id DESC LIMIT 8"
//! ```
//!
//! Ctrl-C (SIGINT) stops accepting connections, lets requests in flight
//! finish, and the guard commits every record before the process exits.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use log_panel::tower::RequestContextLayer;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// Records each `/work/{n}` request stores, besides its access record.
pub const RECORDS_PER_WORK: usize = 5;

/// The service: `/`, `/users/{id}`, `/work/{n}`, each request in its own context.
pub fn app() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/users/{id}", get(user))
        .route("/work/{n}", get(work))
        .layer(RequestContextLayer::new())
}

async fn index() -> &'static str {
    log::info!("index");
    "log-panel axum_service: try /users/7 or /work/3\n"
}

async fn user(Path(id): Path<u64>) -> String {
    tracing::info!(user_id = id, "loading user");
    let name = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        tracing::debug!("cache miss");
        tokio::time::sleep(Duration::from_millis(5)).await;
        tracing::info!(rows = 1, "user loaded");
        format!("user-{id}")
    }
    .instrument(tracing::info_span!("db_query", table = "users"))
    .await;
    log::info!(name = name.as_str(); "rendering");
    format!("{name}\n")
}

/// Logs across several `.await`s, in a span, and on a blocking thread: the
/// five records all carry the request's context.
async fn work(Path(n): Path<u64>) -> String {
    log::info!(n = n; "work started");
    tokio::task::yield_now().await;
    tracing::info!(n, "step one");
    tokio::time::sleep(Duration::from_millis(1)).await;
    // A blocking thread has no context of its own: carry the request's to it.
    let doubled = tokio::task::spawn_blocking(log_panel::context::carry(move || {
        log::info!(n = n; "hashing on a blocking thread");
        n * 2
    }))
    .await
    .unwrap_or_default();
    async {
        tokio::task::yield_now().await;
        tracing::info!(n, "stored");
    }
    .instrument(tracing::info_span!("db_query", table = "jobs"))
    .await;
    log::info!(n = n, result = doubled; "work done");
    format!("{doubled}\n")
}

fn bind_address() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut bind = String::from("127.0.0.1:3000");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = args.next().ok_or("--bind needs an address, e.g. 127.0.0.1:3000")?,
            other => return Err(format!("unknown argument {other:?}; usage: axum_service [--bind ADDR]")),
        }
    }
    bind.parse().map_err(|e| format!("--bind {bind:?}: {e}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = bind_address()?;
    // The two lines of setup: the pipeline (also `log`'s logger), then the
    // tracing subscriber with log-panel's layer next to the console output.
    let guard = log_panel::builder().database("log_panel.db").init()?;
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(log_panel::tracing::layer()).with(tracing_subscriber::fmt::layer()),
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        log::info!(addr = addr.to_string().as_str(); "listening; Ctrl-C to stop");
        axum::serve(listener, app())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
                log::warn!("SIGINT: finishing requests in flight");
            })
            .await
    })?;
    drop(runtime);
    let report = log_panel::shutdown();
    drop(guard);
    println!("stopped: {} records written, complete: {}", report.written, report.complete);
    Ok(())
}
