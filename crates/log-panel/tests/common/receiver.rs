//! A webhook receiver on loopback for the alert webhook tests: a real
//! HTTP/1.1 server (keep-alive, `Content-Length` bodies) that records every
//! request it reads in full and answers from a script, or holds the answer
//! until released. Every wait is bounded.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::WAIT;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line and headers, as sent.
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    /// Statuses to answer, in order; 200 once empty.
    script: VecDeque<u16>,
    /// Answers wait while this is set.
    holding: bool,
}

pub struct Receiver {
    pub url: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Receiver {
    /// Answers the statuses of `script` in order, then 200.
    pub fn answering(script: &[u16]) -> Receiver {
        Receiver::start(State { script: script.iter().copied().collect(), ..State::default() })
    }

    /// Reads each request and holds its answer until [`release`](Receiver::release).
    pub fn holding() -> Receiver {
        Receiver::start(State { holding: true, ..State::default() })
    }

    fn start(state: State) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/T000/B000/s3cret-path", listener.local_addr().unwrap());
        let state = Arc::new((Mutex::new(state), Condvar::new()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Receiver { url, state }
    }

    /// Answers the held requests and every later one (200 once the script is done).
    pub fn release(&self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().holding = false;
        changed.notify_all();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.0.lock().unwrap().requests.clone()
    }

    /// Waits (at most `WAIT`) until `n` requests have been read.
    pub fn wait_for(&self, n: usize) -> Vec<Request> {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + WAIT;
        let mut state = lock.lock().unwrap();
        while state.requests.len() < n {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("{} requests of {n} after {WAIT:?}", state.requests.len()));
            state = changed.wait_timeout(state, left).unwrap().0;
        }
        state.requests.clone()
    }
}

fn serve(stream: TcpStream, state: &(Mutex<State>, Condvar)) {
    let _ = stream.set_read_timeout(Some(WAIT * 3));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let length = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")))
            .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (lock, changed) = state;
        let status = {
            let mut s = lock.lock().unwrap();
            s.requests.push(Request { head, body });
            changed.notify_all();
            let deadline = Instant::now() + WAIT * 3;
            while s.holding {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else { return };
                s = changed.wait_timeout(s, left.min(Duration::from_secs(1))).unwrap().0;
            }
            s.script.pop_front().unwrap_or(200)
        };
        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
