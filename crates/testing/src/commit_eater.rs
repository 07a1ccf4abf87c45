//! [`CommitEater`]: a TCP proxy in front of a PostgreSQL server that loses
//! the answer to a COMMIT, for the tests of batches in doubt.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A TCP proxy in front of a server that, once `armed`, swallows the
/// server's answer to the next COMMIT and cuts the connection: the COMMIT
/// happened, but the client cannot know. With `fatal` set it answers instead
/// as a fast shutdown does when it lands between the commit and its answer:
/// a FATAL `57P01` (an error with a SQLSTATE, yet the batch committed). With
/// `cut` set instead, it never forwards the next COMMIT and cuts the
/// connection: the client cannot know either, but the server rolls back.
/// With `down_after` set, once it has eaten a COMMIT it closes every new
/// connection at once (the server as good as down) until `down` is cleared.
/// With `batches_only` set, it eats only the answer to a COMMIT sent with a
/// `pg_notify`, as a sink's batch sends it (not an idle step's).
#[derive(Debug)]
pub struct CommitEater {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Eat the next COMMIT's answer.
    pub armed: Arc<AtomicBool>,
    /// A COMMIT (or its answer) was eaten.
    pub eaten: Arc<AtomicBool>,
    /// Answer the eaten COMMIT with a FATAL `57P01`.
    pub fatal: Arc<AtomicBool>,
    /// Eat the next COMMIT itself, before the server sees it.
    pub cut: Arc<AtomicBool>,
    /// Go down once a COMMIT is eaten.
    pub down_after: Arc<AtomicBool>,
    /// New connections are closed at once.
    pub down: Arc<AtomicBool>,
    /// Eat only a COMMIT answered together with a `pg_notify`.
    pub batches_only: Arc<AtomicBool>,
}

/// The switches the pumps of one connection share with the proxy.
#[derive(Clone)]
struct Switches {
    armed: Arc<AtomicBool>,
    eaten: Arc<AtomicBool>,
    fatal: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
    down_after: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
    batches_only: Arc<AtomicBool>,
}

impl Switches {
    fn ate(&self) {
        self.eaten.store(true, Ordering::SeqCst);
        if self.down_after.load(Ordering::SeqCst) {
            self.down.store(true, Ordering::SeqCst);
        }
    }
}

impl CommitEater {
    /// Listens on a free port and forwards to `upstream` on 127.0.0.1.
    pub fn start(upstream: u16) -> CommitEater {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let flag = || Arc::new(AtomicBool::new(false));
        let switches = Switches {
            armed: flag(),
            eaten: flag(),
            fatal: flag(),
            cut: flag(),
            down_after: flag(),
            down: flag(),
            batches_only: flag(),
        };
        let s = switches.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if s.down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (up, down) = (s.clone(), s.clone());
                // client -> server: a plain copy, or cut at the COMMIT
                thread::spawn(move || pump(c2, s2, &up, Direction::Up));
                // server -> client: watch for the COMMIT's CommandComplete
                thread::spawn(move || pump(server, client, &down, Direction::Down));
            }
        });
        let Switches { armed, eaten, fatal, cut, down_after, down, batches_only } = switches;
        CommitEater { port, armed, eaten, fatal, cut, down_after, down, batches_only }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// The ErrorResponse a server sends when `pg_ctl stop -m fast` ends a session.
fn admin_shutdown() -> Vec<u8> {
    let mut fields = Vec::new();
    for (code, text) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "57P01"),
        (b'M', "terminating connection due to administrator command"),
    ] {
        fields.push(code);
        fields.extend_from_slice(text.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
    message.extend_from_slice(&fields);
    message
}

fn has(bytes: &[u8], tag: &[u8]) -> bool {
    bytes.windows(tag.len()).any(|w| w == tag)
}

fn pump(mut from: TcpStream, mut to: TcpStream, s: &Switches, direction: Direction) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if direction == Direction::Up {
            // The COMMIT itself, never forwarded when `cut`.
            if has(&buf[..n], b"COMMIT") && s.cut.swap(false, Ordering::SeqCst) {
                s.ate();
                break;
            }
        } else if has(&buf[..n], b"COMMIT\0")
            && (!s.batches_only.load(Ordering::SeqCst) || has(&buf[..n], b"pg_notify\0"))
            && s.armed.swap(false, Ordering::SeqCst)
        {
            // CommandComplete 'C' with tag "COMMIT\0".
            if s.fatal.load(Ordering::SeqCst) {
                let _ = to.write_all(&admin_shutdown());
                let _ = to.flush();
                // Read together with the close, the driver reports only the close.
                thread::sleep(Duration::from_millis(200));
            }
            s.ate();
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
