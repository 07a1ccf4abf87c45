//! The standalone server: loopback by default, credentials checked, over real TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use log_panel_core::store::conformance::MemoryStore;
use log_panel_web::{ServeOptions, Server, WebError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 GET with extra header lines; returns the status, the head and the body.
async fn http_get(addr: SocketAddr, path: &str, headers: &[String]) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

async fn start(options: ServeOptions) -> SocketAddr {
    let store = Arc::new(MemoryStore::default());
    let server = Server::bind(store, options).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    addr
}

#[tokio::test]
async fn a_token_is_required_and_accepted_by_header_cookie_and_first_visit() {
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").token("s3cret-token")).await;
    let (status, head, _) = http_get(addr, "/records", &[]).await;
    assert_eq!(status, 401);
    assert!(!head.to_ascii_lowercase().contains("www-authenticate"), "no basic prompt for a token: {head}");
    assert_eq!(http_get(addr, "/", &["Authorization: Bearer wrong-token".into()]).await.0, 401);
    assert_eq!(http_get(addr, "/", &["Authorization: Bearer s3cret-tokenX".into()]).await.0, 401);
    assert_eq!(http_get(addr, "/", &["Cookie: log_panel_token=s3cret".into()]).await.0, 401);
    assert_eq!(http_get(addr, "/?token=nope", &[]).await.0, 401);
    assert_eq!(http_get(addr, "/static/panel.css", &[]).await.0, 401, "everything is behind the check");

    let (status, _, body) = http_get(addr, "/", &["Authorization: Bearer s3cret-token".into()]).await;
    assert_eq!(status, 200);
    assert!(body.contains("No records stored yet."));

    // First visit with ?token=: a cookie, and the same URL without the token.
    let (status, head, _) = http_get(addr, "/records?logger=a&token=s3cret-token&level=warn", &[]).await;
    assert_eq!(status, 303, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("location: /records?logger=a&level=warn"), "{head}");
    assert!(lower.contains("set-cookie: log_panel_token=s3cret-token; path=/; httponly; samesite=strict"), "{head}");
    let (status, _, _) =
        http_get(addr, "/records?logger=a", &["Cookie: tz=0; log_panel_token=s3cret-token".into()]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn basic_auth_prompts_and_accepts_only_the_right_pair() {
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").basic_auth("ops", "pa:ss w0rd")).await;
    let (status, head, _) = http_get(addr, "/", &[]).await;
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: Basic realm=\"log-panel\""), "{head}");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for wrong in ["ops:pa:ss w0r", "ops:", "op:pa:ss w0rd", "ops:pa:ss w0rdd"] {
        assert_eq!(http_get(addr, "/", &[format!("Authorization: Basic {}", b64(wrong))]).await.0, 401, "{wrong}");
    }
    assert_eq!(http_get(addr, "/", &["Authorization: Basic !!!notbase64".into()]).await.0, 401);
    let ok = format!("Authorization: Basic {}", b64("ops:pa:ss w0rd"));
    assert_eq!(http_get(addr, "/", std::slice::from_ref(&ok)).await.0, 200);
    assert_eq!(http_get(addr, "/records", &[ok]).await.0, 200);
}

#[tokio::test]
async fn without_credentials_only_loopback() {
    let store = || Arc::new(MemoryStore::default());
    let err = Server::bind(store(), ServeOptions::default().bind("0.0.0.0:0")).await.unwrap_err();
    assert!(matches!(err, WebError::InsecureBind { .. }), "{err}");
    assert!(err.to_string().contains("without authentication"));
    let err = Server::bind(store(), ServeOptions::default().bind("[::]:0")).await.unwrap_err();
    assert!(matches!(err, WebError::InsecureBind { .. }), "{err}");
    // With a token, any address; on loopback, no credentials needed.
    let server = Server::bind(store(), ServeOptions::default().bind("0.0.0.0:0").token("s3cret-token")).await.unwrap();
    assert!(server.local_addr().unwrap().ip().is_unspecified());
    let server = Server::bind(store(), ServeOptions::default().bind("localhost:0")).await.unwrap();
    assert!(server.local_addr().unwrap().ip().is_loopback());
    let addr = start(ServeOptions::default().bind("127.0.0.1:0")).await;
    assert_eq!(http_get(addr, "/", &[]).await.0, 200);
    assert_eq!(ServeOptions::DEFAULT_BIND, "127.0.0.1:8080");
    // Options that cannot work are refused before binding.
    for bad in [ServeOptions::default().token("short"), ServeOptions::default().token("has;semicolon")] {
        assert!(matches!(Server::bind(store(), bad).await.unwrap_err(), WebError::BadOption(_)));
    }
    let bad = ServeOptions::default().basic_auth("a:b", "pw");
    assert!(matches!(Server::bind(store(), bad).await.unwrap_err(), WebError::BadOption(_)));
    let debug = format!("{:?}", ServeOptions::default().token("s3cret-token").basic_auth("ops", "pw-secret"));
    assert!(!debug.contains("s3cret") && !debug.contains("pw-secret"), "{debug}");
}
