//! The standalone server: loopback by default, credentials checked, over real TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use log_panel_query::conformance::MemoryStore;
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

/// The security headers every response of `serve` carries.
fn assert_security_headers(head: &str) {
    let lower = head.to_ascii_lowercase();
    for h in [
        "content-security-policy: default-src 'none'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
    ] {
        assert!(lower.contains(h), "{h} missing in:\n{head}");
    }
}

#[tokio::test]
async fn the_first_visit_redirects_only_to_a_path_of_this_server() {
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").token("s3cret-token")).await;
    for (path, location) in [
        ("//evil.example/?token=s3cret-token", "/evil.example/"),
        ("///evil.example/x?token=s3cret-token&q=a", "/evil.example/x?q=a"),
        ("/\\evil.example/?token=s3cret-token", "/evil.example/"),
        ("/\\/\\evil.example?token=s3cret-token", "/evil.example"),
        ("/records?token=s3cret-token", "/records"),
    ] {
        let (status, head, _) = http_get(addr, path, &[]).await;
        assert_eq!(status, 303, "{path}: {head}");
        let got = head
            .lines()
            .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
            .unwrap_or_else(|| panic!("{path}: no location in {head}"));
        assert_eq!(got, location, "{path}");
        assert_security_headers(&head);
    }
}

#[tokio::test]
async fn every_answer_of_serve_carries_the_security_headers() {
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").token("s3cret-token")).await;
    let (status, head, _) = http_get(addr, "/records", &[]).await;
    assert_eq!(status, 401);
    assert_security_headers(&head);
    let (status, head, _) = http_get(addr, "/?token=s3cret-token", &[]).await;
    assert_eq!(status, 303);
    assert_security_headers(&head);
    let (status, head, _) = http_get(addr, "/no-such-page", &["Authorization: Bearer s3cret-token".into()]).await;
    assert_eq!(status, 404);
    assert_security_headers(&head);
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").basic_auth("ops", "pw-secret")).await;
    let (status, head, _) = http_get(addr, "/", &[]).await;
    assert_eq!(status, 401);
    assert_security_headers(&head);
}

#[tokio::test]
async fn the_auth_scheme_is_matched_case_insensitively() {
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").token("s3cret-token")).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, head, _) = http_get(addr, "/", &[format!("Authorization: {scheme} s3cret-token")]).await;
        assert_eq!(status, 200, "{scheme}: {head}");
    }
    assert_eq!(http_get(addr, "/", &["Authorization: bearer wrong-token".into()]).await.0, 401);
    assert_eq!(http_get(addr, "/", &["Authorization: Bearers3cret-token".into()]).await.0, 401);
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").basic_auth("ops", "pw-secret")).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode("ops:pw-secret");
    for scheme in ["Basic", "basic", "BASIC"] {
        assert_eq!(http_get(addr, "/", &[format!("Authorization: {scheme} {b64}")]).await.0, 200, "{scheme}");
    }
}

/// How long any connection test waits for the server before failing: far
/// beyond the timeouts it sets, so the test checks behaviour, not speed.
const PATIENCE: Duration = Duration::from_secs(15);

/// Reads until the server closes `s` (end of stream or a reset); `false` if it
/// is still open after `PATIENCE`.
async fn closed_by_server(s: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.is_ok()
}

/// Reads one response with a Content-Length from a kept-alive connection.
async fn read_response(s: &mut tokio::net::TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "closed mid-head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .expect("a content-length");
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).await.unwrap();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), head)
}

#[tokio::test]
async fn quiet_and_slow_connections_are_closed_after_their_timeouts() {
    let options = ServeOptions::default()
        .bind("127.0.0.1:0")
        .header_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(500));
    let addr = start(options).await;

    // Connected, never a byte.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Half a request head, then silence.
    let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // One request served, then kept alive with nothing more.
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /static/panel.css HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut kept).await.0, 200);

    assert!(closed_by_server(&mut silent).await, "a silent connection stays open");
    assert!(closed_by_server(&mut partial).await, "a partial request head stays open");
    assert!(closed_by_server(&mut kept).await, "an idle kept-alive connection stays open");

    // A head sent a byte at a time, faster than the timeout but never finished.
    let mut loris = tokio::net::TcpStream::connect(addr).await.unwrap();
    loris.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (mut read, mut write) = loris.split();
    let drip = async {
        for _ in 0..(PATIENCE.as_millis() / 50) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if write.write_all(b"X").await.is_err() {
                return;
            }
        }
    };
    let mut buf = [0u8; 64];
    let closed = tokio::select! {
        r = read.read(&mut buf) => matches!(r, Ok(0) | Err(_)),
        () = drip => false,
    };
    assert!(closed, "a head sent byte by byte is never cut off");

    // The server still answers.
    assert_eq!(http_get(addr, "/", &[]).await.0, 200);
}

#[tokio::test]
async fn idle_and_slow_connections_beyond_the_cap_do_not_lock_out_a_normal_request() {
    const CAP: usize = 16;
    // Long timeouts: only the cap can save the normal request.
    let options = ServeOptions::default()
        .bind("127.0.0.1:0")
        .max_connections(CAP)
        .header_timeout(Duration::from_secs(120))
        .idle_timeout(Duration::from_secs(120));
    let addr = start(options).await;

    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut lorises = Vec::new();
    let mut opened = 0;
    for i in 0..4 * CAP {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        opened += 1;
        if i % 4 == 0 {
            // Slow loris: a partial head and a byte every 100 ms.
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            let (r, w) = s.into_split();
            let tx = closed_tx.clone();
            let mut r = r;
            lorises.push(slow_loris_half(w));
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = r.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = tx.send(());
            });
        } else {
            let tx = closed_tx.clone();
            tokio::spawn(async move {
                if closed_by_server(&mut s).await {
                    let _ = tx.send(());
                }
            });
        }
    }
    let (status, _, body) = tokio::time::timeout(PATIENCE, http_get(addr, "/", &[]))
        .await
        .expect("a normal request is not answered with idle and slow connections beyond the cap");
    assert_eq!(status, 200);
    assert!(body.contains("No records stored yet."));

    // The server sheds what is beyond its cap: at most CAP stay open.
    let mut closed = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while closed < opened - CAP {
        match tokio::time::timeout_at(deadline, closed_rx.recv()).await {
            Ok(Some(())) => closed += 1,
            _ => break,
        }
    }
    assert!(closed >= opened - CAP, "{closed} of {opened} quiet connections closed with a cap of {CAP}");
    for l in lorises {
        l.abort();
    }
}

/// The writing half of a slow loris: a header byte every 100 ms.
fn slow_loris_half(mut w: tokio::net::tcp::OwnedWriteHalf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let until = tokio::time::Instant::now() + PATIENCE * 2;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if w.write_all(b"a").await.is_err() {
                return;
            }
        }
    })
}

#[tokio::test]
async fn when_every_slot_is_busy_a_new_connection_is_refused_at_once() {
    let options = ServeOptions::default()
        .bind("127.0.0.1:0")
        .max_connections(2)
        .header_timeout(Duration::from_secs(120))
        .idle_timeout(Duration::from_secs(120));
    let addr = start(options).await;
    // Two live-tail streams: answers in progress, which are never shed.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /tail/events HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).await.unwrap(), 1);
            head.push(byte[0]);
        }
        assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200"));
        streams.push(s);
    }
    let (status, head, body) =
        tokio::time::timeout(PATIENCE, http_get(addr, "/", &[])).await.expect("refused without an answer");
    assert_eq!(status, 503, "{head}");
    assert!(body.contains("connections"), "{body}");
    assert_security_headers(&head);
    // A stream ends: its slot is free again.
    drop(streams.pop());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, _, _) = http_get(addr, "/", &[]).await;
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot of a closed stream is never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_request_head_beyond_the_bound_gets_431() {
    let addr = start(ServeOptions::default().bind("127.0.0.1:0")).await;
    assert_eq!(ServeOptions::DEFAULT_MAX_HEADER_BYTES, 64 * 1024);
    let (status, _, _) = http_get(addr, "/", &[format!("X-Big: {}", "a".repeat(40 * 1024))]).await;
    assert_eq!(status, 200, "a 40 KiB head is within the default bound");
    let (status, _, _) = http_get(addr, "/", &[format!("X-Big: {}", "a".repeat(100 * 1024))]).await;
    assert_eq!(status, 431);
    let (status, _, _) = http_get(addr, &format!("/records?q={}", "a".repeat(100 * 1024)), &[]).await;
    assert_eq!(status, 431);
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").max_header_bytes(16 * 1024)).await;
    let (status, _, _) = http_get(addr, "/", &[format!("X-Big: {}", "a".repeat(20 * 1024))]).await;
    assert_eq!(status, 431);
    assert_eq!(http_get(addr, "/", &[]).await.0, 200);
    let bad = ServeOptions::default().bind("127.0.0.1:0").max_header_bytes(100);
    assert!(matches!(Server::bind(Arc::new(MemoryStore::default()), bad).await.unwrap_err(), WebError::BadOption(_)));
    for bad in [
        ServeOptions::default().max_connections(0),
        ServeOptions::default().header_timeout(Duration::ZERO),
        ServeOptions::default().idle_timeout(Duration::ZERO),
    ] {
        assert!(matches!(
            Server::bind(Arc::new(MemoryStore::default()), bad).await.unwrap_err(),
            WebError::BadOption(_)
        ));
    }
}

/// Set in the child process of `out_of_file_descriptors_…`: serve with few descriptors.
const CHILD_ENV: &str = "LOG_PANEL_TEST_SERVE_CHILD";

/// The server half of `out_of_file_descriptors_…`, run in a child process
/// whose descriptor limit is low; a no-op in a normal test run.
#[tokio::test]
async fn child_server_with_few_descriptors() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let server =
        Server::bind(Arc::new(MemoryStore::default()), ServeOptions::default().bind("127.0.0.1:0")).await.unwrap();
    println!("ADDR {}", server.local_addr().unwrap());
    // Bounded: the child ends by itself if the parent never kills it.
    let _ = tokio::time::timeout(PATIENCE * 4, server.run()).await;
}

#[cfg(unix)]
#[tokio::test]
async fn out_of_file_descriptors_the_server_makes_room_and_says_so() {
    use std::io::{BufRead, Read};
    use std::process::{Command, Stdio};

    let exe = std::env::current_exe().unwrap();
    // 64 descriptors: far fewer than the default cap of 512 connections, so accept fails (EMFILE).
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(
            "ulimit -n 64 && exec \"$0\" --exact serve::child_server_with_few_descriptors --nocapture --test-threads 1",
        )
        .arg(&exe)
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr: SocketAddr = loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the child server did not start");
        // The harness prints the test's name on the same line first.
        if let Some((_, addr)) = line.trim().split_once("ADDR ") {
            break addr.parse().unwrap();
        }
    };

    // Up to 200 connections that never send a byte: three times what the server
    // can hold. A connect that hangs means the backlog is full (the server no
    // longer accepts): stop there, the normal request below tells.
    let mut quiet = Vec::new();
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => quiet.push(s),
            _ => break,
        }
    }
    let answered = tokio::time::timeout(PATIENCE, http_get(addr, "/", &[])).await;

    child.kill().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    child.wait().unwrap();
    let (status, _, _) = answered.expect("no answer with the descriptors exhausted by quiet connections");
    assert_eq!(status, 200);
    assert!(stderr.contains("log-panel: web panel (cap 512 connections): "), "stderr: {stderr}");
    assert!(stderr.contains("accepting a connection failed"), "stderr: {stderr}");
    assert!(
        stderr.lines().filter(|l| l.contains("log-panel: web panel (cap")).count() <= 2,
        "not rate-limited: {stderr}"
    );
    drop(quiet);
}

#[tokio::test]
async fn timeouts_of_any_length_are_taken() {
    let options = ServeOptions::default()
        .bind("127.0.0.1:0")
        .header_timeout(Duration::MAX)
        .idle_timeout(Duration::MAX)
        .max_connections(usize::MAX);
    let addr = start(options).await;
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /static/panel.css HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut kept).await.0, 200);
    kept.write_all(b"GET /static/panel.css HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut kept).await.0, 200);
}

/// `serve` answers gzip over real TCP to a client that accepts it, with the
/// security headers, and plain bytes to one that does not.
#[tokio::test]
async fn serve_gzips_pages_for_a_client_that_accepts_it() {
    let addr = start(ServeOptions::default().bind("127.0.0.1:0").token("s3cret-token")).await;
    let auth = "Authorization: Bearer s3cret-token".to_owned();
    let (status, head, plain) = http_get(addr, "/", std::slice::from_ref(&auth)).await;
    assert_eq!(status, 200);
    assert!(!head.to_ascii_lowercase().contains("content-encoding"), "{head}");

    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\nAccept-Encoding: gzip\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(out[..split].to_vec()).unwrap();
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{head}");
    assert!(lower.contains("content-encoding: gzip"), "{head}");
    assert_security_headers(&head);
    let mut body = &out[split + 4..];
    let gz = if lower.contains("transfer-encoding: chunked") {
        let mut gz = Vec::new();
        loop {
            let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16).unwrap();
            if size == 0 {
                break gz;
            }
            gz.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
            body = &body[line_end + 2 + size + 2..];
        }
    } else {
        body.to_vec()
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut text).unwrap();
    assert_eq!(text, plain);
    assert!(text.contains("No records stored yet."));
}
