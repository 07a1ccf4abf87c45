//! One blocking HTTP client for every request to the shards: statements and
//! their answers as text, inserts with a RowBinary body.
//!
//! No async runtime: the sink runs on the writer thread and the read side
//! is blocking by contract. The user and password travel as the `user` and
//! `password` parameters, which every ClickHouse release accepts.
//!
//! Each request is bounded twice (see [`crate::options`]): by the URL's
//! `silence_ms`, as the client's limit on every socket read and write —
//! each restarts once a byte has moved, so a frozen shard fails a request
//! in that time while a slow one that keeps sending is left alone — and by
//! `timeout_ms`, the whole request's backstop.
//!
//! A statement also falls silent while the server computes before the
//! first byte of its answer (an aggregate over much data, a `CREATE` waiting
//! on a busy server), which a frozen shard cannot be told apart from on the
//! socket: asking for progress headers (`send_progress_in_http_headers`)
//! does not help, as Debian's 18.16 never sends them (docs/reliability.md,
//! session 47). So a silent statement is followed by `/ping` to every shard
//! (the shard asked first; a `SELECT` through a `Distributed` table waits on
//! all of them), under the same bound: a shard that does not answer is the
//! frozen one, named in the error. When all answer, a statement its caller
//! marked [`Resend::Safe`] (one that leaves the same when sent twice: a read,
//! `CREATE … IF NOT EXISTS`, `DROP … IF EXISTS`, a writer-tag claim) is sent
//! again under the same `query_id` with `replace_running_query=1` (the
//! server cancels the first, or lets it finish) and bounded by `timeout_ms`
//! alone; a [`Resend::Never`] one fails as silent and its caller decides.
//! An insert's batch ([`Http::insert`]) is never sent again here: the sink
//! settles a batch in doubt itself. Statements that compute for long by
//! nature (rebuilding aggregates, maintenance) use [`Http::query_patient`],
//! bounded by `timeout_ms` alone.

use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{RequestError, NOT_CONNECTED};
use crate::Options;

/// A client for the shards of one URL.
#[derive(Clone)]
pub(crate) struct Http {
    /// Bounded by `silence_ms` per socket read and write, and `timeout_ms`.
    agent: ureq::Agent,
    /// Bounded by `timeout_ms` alone.
    patient: ureq::Agent,
    options: Options,
}

/// Whether a statement may be sent a second time after a silence that every
/// shard answers `/ping` to (see the [module documentation](self)). Its
/// caller says which; nothing is read from the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Sending it twice leaves what sending it once leaves, whether or not
    /// the first run finishes: a read, `CREATE … IF NOT EXISTS`, `DROP … IF
    /// EXISTS`, a writer-tag claim row (see [`crate::writer_tag`]).
    Safe,
    /// It may have changed something, or its caller tries it again itself:
    /// a silence fails it as [`RequestError::Silent`].
    Never,
}

/// Numbers the statements this process may send twice (see the module documentation).
static STATEMENTS: AtomicU64 = AtomicU64::new(0);
/// Tells this process's statement ids from those of other processes on the
/// same servers (`replace_running_query` cancels a running statement of the
/// same id, whoever sent it).
static PROCESS: OnceLock<u64> = OnceLock::new();

impl Http {
    pub(crate) fn new(options: &Options) -> Http {
        let agent = |silence: Option<Duration>| -> ureq::Agent {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(options.timeout()))
                .timeout_per_read(silence)
                .timeout_per_write(silence)
                .timeout_connect(Some(options.timeout().min(Duration::from_secs(5))))
                .build()
                .into()
        };
        Http { agent: agent(Some(options.silence())), patient: agent(None), options: options.clone() }
    }

    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `sql` (the whole statement in the body) on shard `shard` with
    /// the given settings; returns the answer's body. After a silence it is
    /// sent again when `resend` is [`Resend::Safe`], see the
    /// [module documentation](self).
    pub(crate) fn query(
        &self,
        shard: usize,
        resend: Resend,
        sql: &str,
        settings: &[(&str, &str)],
    ) -> Result<String, RequestError> {
        // The second run needs an id to replace the first by.
        let id = (resend == Resend::Safe).then(|| {
            let process = PROCESS.get_or_init(crate::sink::random_u64);
            format!("lp-again-{process:016x}-{}", STATEMENTS.fetch_add(1, Ordering::Relaxed))
        });
        let request = self.request(&self.agent, shard, settings, id.as_deref())?;
        let mut answer = self.finish(shard, request.send(sql));
        if let (Err(RequestError::Silent { .. }), Some(id)) = (&answer, &id) {
            answer = self.after_silence(shard, sql, settings, id);
        }
        self.log(shard, sql, settings, None, &answer);
        answer
    }

    /// [`Http::query`] bounded by `timeout_ms` alone, for a statement that
    /// computes for long before it answers by nature (rebuilding a day of
    /// aggregates, maintenance).
    pub(crate) fn query_patient(
        &self,
        shard: usize,
        sql: &str,
        settings: &[(&str, &str)],
    ) -> Result<String, RequestError> {
        let request = self.request(&self.patient, shard, settings, None)?;
        let answer = self.finish(shard, request.send(sql));
        self.log(shard, sql, settings, None, &answer);
        answer
    }

    /// A statement safe to send again fell silent on `shard`: the frozen shard, when `/ping`
    /// finds one, else the answer of the same statement sent again.
    fn after_silence(
        &self,
        shard: usize,
        sql: &str,
        settings: &[(&str, &str)],
        id: &str,
    ) -> Result<String, RequestError> {
        let others = (0..self.options.hosts().len()).filter(|&s| s != shard);
        for probed in std::iter::once(shard).chain(others) {
            self.ping(probed)?;
        }
        let mut again = settings.to_vec();
        again.push(("replace_running_query", "1"));
        let request = self.request(&self.patient, shard, &again, Some(id))?;
        self.finish(shard, request.send(sql))
    }

    /// Whether `shard` answers `/ping` (ClickHouse's `Ok.`) within `silence_ms`.
    fn ping(&self, shard: usize) -> Result<(), RequestError> {
        let Some(host) = self.options.hosts().get(shard) else {
            return Err(RequestError::Transport(format!("{NOT_CONNECTED}: no shard {shard}")));
        };
        let answer = self.finish(shard, self.agent.get(&format!("http://{host}/ping")).call())?;
        if answer.trim() == "Ok." {
            Ok(())
        } else {
            Err(RequestError::Transport(format!(
                "shard {} ({host}) answered /ping with `{}`",
                shard + 1,
                answer.trim()
            )))
        }
    }

    /// Runs `INSERT … FORMAT RowBinary` (`sql`, in the URL) with `rows` as
    /// the body, under `query_id`.
    pub(crate) fn insert(&self, shard: usize, sql: &str, rows: &[u8], query_id: &str) -> Result<(), RequestError> {
        let request = self.request(&self.agent, shard, &[("query", sql)], Some(query_id))?;
        let answer = self.finish(shard, request.send(rows));
        self.log(shard, sql, &[], Some(rows), &answer);
        answer.map(drop)
    }

    /// Appends one request to the statement log, when there is one (see
    /// [`Options::with_statement_log`]). A log that cannot be written is
    /// skipped: it is a diagnostic, never a reason to fail a request.
    fn log(
        &self,
        shard: usize,
        sql: &str,
        settings: &[(&str, &str)],
        rows: Option<&[u8]>,
        answer: &Result<String, RequestError>,
    ) {
        use std::io::Write as _;
        let Some(path) = self.options.statement_log() else { return };
        let settings: serde_json::Map<String, serde_json::Value> =
            settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
        let (ok, answer) = match answer {
            Ok(body) => (true, body.clone()),
            Err(e) => (false, e.to_string()),
        };
        let entry = serde_json::json!({
            "database": self.options.database(),
            "shard": shard,
            "sql": sql,
            "settings": settings,
            "rows_hex": rows.map(|r| r.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            "ok": ok,
            "answer": answer,
        });
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{entry}");
        }
    }

    fn request(
        &self,
        agent: &ureq::Agent,
        shard: usize,
        settings: &[(&str, &str)],
        query_id: Option<&str>,
    ) -> Result<ureq::RequestBuilder<ureq::typestate::WithBody>, RequestError> {
        let Some(host) = self.options.hosts().get(shard) else {
            return Err(RequestError::Transport(format!("{NOT_CONNECTED}: no shard {shard}")));
        };
        let mut request = agent.post(&format!("http://{host}/")).query("database", self.options.database());
        if let Some(user) = self.options.user() {
            request = request.query("user", user);
        }
        if let Some(password) = self.options.password() {
            request = request.query("password", password);
        }
        if let Some(id) = query_id {
            request = request.query("query_id", id);
        }
        for (key, value) in settings {
            request = request.query(*key, *value);
        }
        Ok(request)
    }

    fn finish(
        &self,
        shard: usize,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, RequestError> {
        let mut response = sent.map_err(|e| self.transport(shard, e))?;
        let status = response.status().as_u16();
        let mut body = String::new();
        response.body_mut().as_reader().read_to_string(&mut body).map_err(|e| {
            // The body's reader wraps the client's own errors (a timeout among them) in an `io::Error`.
            match self.transport(shard, ureq::Error::from(e)) {
                RequestError::Transport(shown) => RequestError::Transport(format!("reading the answer: {shown}")),
                silent => silent,
            }
        })?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = self.options.scrub(body.trim());
        Err(RequestError::Server { status, code: error_code(&message), message })
    }

    fn transport(&self, shard: usize, e: ureq::Error) -> RequestError {
        if let ureq::Error::Timeout(ureq::Timeout::PerRead | ureq::Timeout::PerWrite) = e {
            let host = self.options.hosts().get(shard).cloned().unwrap_or_default();
            return RequestError::Silent { shard: shard + 1, host, silence: self.options.silence() };
        }
        let refused = match &e {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            ureq::Error::Io(io) => {
                matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable)
            }
            _ => false,
        };
        let shown = self.options.scrub(&e.to_string());
        if refused {
            RequestError::Transport(format!("{NOT_CONNECTED}: {shown}"))
        } else {
            RequestError::Transport(shown)
        }
    }
}

/// `Code: 60, e.displayText() = …` → 60.
fn error_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + 6..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `text` as a ClickHouse string literal: the one place user values enter a
/// statement (the packaged server has no query parameters). Backslash and
/// quote are escaped; every other byte stands for itself inside quotes.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// One request a fake shard took in: its request line and body.
    #[derive(Debug, Clone)]
    struct Taken {
        line: String,
        body: String,
    }

    impl Taken {
        fn param(&self, key: &str) -> Option<&str> {
            let query = self.line.split(' ').nth(1)?.split_once('?')?.1;
            query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        }

        /// Sent again: with `replace_running_query=1`.
        fn again(&self) -> bool {
            self.param("replace_running_query") == Some("1")
        }
    }

    /// A shard on loopback that answers `/ping` with `Ok.` and a statement
    /// sent with `replace_running_query=1` with `answer(statement)`, and
    /// keeps every other request unanswered (a server computing, or frozen)
    /// until the client goes. `ping` false: it answers nothing at all.
    struct Fake {
        port: u16,
        taken: Arc<Mutex<Vec<Taken>>>,
    }

    impl Fake {
        fn start(ping: bool, answer: fn(&str) -> String) -> Fake {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let taken = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&taken);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let log = Arc::clone(&log);
                    std::thread::spawn(move || {
                        let Some(request) = read_request(&mut stream) else { return };
                        log.lock().unwrap().push(request.clone());
                        let body = if !ping {
                            None
                        } else if request.line.starts_with("GET /ping") {
                            Some("Ok.\n".to_owned())
                        } else if request.again() {
                            Some(answer(&request.body))
                        } else {
                            None
                        };
                        match body {
                            Some(body) => {
                                let answer = format!(
                                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                let _ = stream.write_all(answer.as_bytes());
                            }
                            // Silent until the client hangs up.
                            None => while stream.read(&mut [0u8; 4096]).is_ok_and(|n| n > 0) {},
                        }
                    });
                }
            });
            Fake { port, taken }
        }

        /// The statements and inserts taken in, in order (not the pings).
        fn posts(&self) -> Vec<Taken> {
            self.taken.lock().unwrap().iter().filter(|t| t.line.starts_with("POST")).cloned().collect()
        }

        fn pings(&self) -> usize {
            self.taken.lock().unwrap().iter().filter(|t| t.line.starts_with("GET /ping")).count()
        }
    }

    /// The head and the `Content-Length` body of one request.
    fn read_request(stream: &mut std::net::TcpStream) -> Option<Taken> {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
            bytes.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while bytes.len() < end + length {
            let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
            bytes.extend_from_slice(&chunk[..n]);
        }
        let line = head.lines().next().unwrap_or_default().to_owned();
        Some(Taken { line, body: String::from_utf8_lossy(&bytes[end..end + length]).into_owned() })
    }

    fn forty_two(_: &str) -> String {
        "42\n".to_owned()
    }

    fn http(ports: &[u16]) -> Http {
        let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let cluster = if ports.len() > 1 { "&cluster=c" } else { "" };
        Http::new(
            &Options::parse(&format!("clickhouse://{}/db?silence_ms=300&timeout_ms=20000{cluster}", hosts.join(",")))
                .unwrap(),
        )
    }

    fn assert_silent(e: RequestError, port: u16, n: usize) {
        match e {
            RequestError::Silent { shard, host, silence } => {
                assert_eq!((shard, host, silence), (n, format!("127.0.0.1:{port}"), Duration::from_millis(300)));
            }
            other => panic!("not silent: {other:?}"),
        }
    }

    /// Each statement taken in twice in a row, the first time silent, the
    /// second under the same `query_id` with `replace_running_query=1`.
    fn assert_each_sent_twice(posts: &[Taken]) {
        assert!(!posts.is_empty() && posts.len().is_multiple_of(2), "{posts:?}");
        for pair in posts.chunks(2) {
            let (first, second) = (&pair[0], &pair[1]);
            assert!(!first.again() && second.again(), "{pair:?}");
            assert_eq!(first.body, second.body);
            assert!(first.param("query_id").is_some_and(|id| id.starts_with("lp-again-")), "{pair:?}");
            assert_eq!(first.param("query_id"), second.param("query_id"));
        }
    }

    #[test]
    fn a_frozen_shard_is_named_silent() {
        let (alive, frozen) = (Fake::start(true, forty_two), Fake::start(false, forty_two));
        let create = "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = TinyLog";
        // A statement on the frozen shard, and one on a live shard that waits on it, safe to send
        // again: `/ping` finds the frozen one.
        for sql in ["SELECT 1", create] {
            assert_silent(http(&[frozen.port]).query(0, Resend::Safe, sql, &[]).unwrap_err(), frozen.port, 1);
            let waiting = http(&[alive.port, frozen.port]).query(0, Resend::Safe, sql, &[]);
            assert_silent(waiting.unwrap_err(), frozen.port, 2);
        }
        assert_eq!((frozen.pings(), alive.pings()), (4, 2));
        // Not safe to send again: no `/ping`, the shard asked is named.
        assert_silent(http(&[frozen.port]).query(0, Resend::Never, create, &[]).unwrap_err(), frozen.port, 1);
        let waiting = http(&[alive.port, frozen.port]).query(0, Resend::Never, create, &[]);
        assert_silent(waiting.unwrap_err(), alive.port, 1);
        assert_eq!((frozen.pings(), alive.pings()), (4, 2));
        assert!(frozen.posts().iter().all(|p| !p.again()), "nothing was sent again: {:?}", frozen.posts());
    }

    #[test]
    fn a_batch_insert_or_a_statement_not_safe_to_send_again_fails_silent_and_is_sent_once() {
        let alive = Fake::start(true, forty_two);
        let insert = http(&[alive.port]).insert(0, "INSERT INTO t FORMAT RowBinary", b"rows", "log-panel-q");
        assert_silent(insert.unwrap_err(), alive.port, 1);
        let once = http(&[alive.port]).query(0, Resend::Never, "INSERT INTO t SELECT 1", &[]);
        assert_silent(once.unwrap_err(), alive.port, 1);
        let posts = alive.posts();
        assert_eq!(posts.len(), 2, "{posts:?}");
        assert_eq!((posts[0].body.as_str(), posts[0].param("query_id")), ("rows", Some("log-panel-q")));
        assert_eq!((posts[1].body.as_str(), posts[1].param("query_id")), ("INSERT INTO t SELECT 1", None));
        assert_eq!(alive.pings(), 0);
    }

    /// A read that computes a few seconds on 18.16 here before its first byte.
    const COMPUTING: &str = "SELECT count() FROM numbers(200000000) WHERE sipHash64(number) % 7 = 0";

    /// Two real 18.16 shards, a fresh database and a client of it with
    /// `silence_ms=100`; `None`: skip (no server here).
    fn real_shards() -> Option<(log_panel_testing::clickhouse::Cluster, Http)> {
        let cluster = log_panel_testing::clickhouse::Cluster::start()?;
        let url = cluster.create_database();
        let sep = if url.contains('?') { '&' } else { '?' };
        let http = Http::new(&Options::parse(&format!("{url}{sep}silence_ms=100")).unwrap());
        Some((cluster, http))
    }

    /// A real server computing longer than `silence_ms` before its answer's
    /// first byte: the read is sent again (the first one replaced) and
    /// answers, rather than failing as a frozen shard.
    #[test]
    fn a_select_computing_past_the_silence_bound_on_a_real_server_answers() {
        let Some((cluster, http)) = real_shards() else { return };
        let expected = cluster.query(0, COMPUTING);
        assert_eq!(http.query(0, Resend::Safe, COMPUTING, &[]).unwrap(), expected);
        let running = cluster.query(0, "SELECT count() FROM system.processes WHERE query_id LIKE 'lp-again-%'");
        assert_eq!(running.trim(), "0", "the first, silent, run was replaced, not left running");
    }

    /// The writer-tag claim's shape (`INSERT … SELECT`) on a real server
    /// computing past `silence_ms`: sent again under the same id it
    /// answers, and once the first run has gone the table holds the row once
    /// or twice (the first cancelled or finished), never anything else.
    #[test]
    fn an_insert_select_computing_past_the_silence_bound_on_a_real_server_is_sent_again() {
        let Some((cluster, http)) = real_shards() else { return };
        let create = "CREATE TABLE IF NOT EXISTS t (n UInt64) ENGINE = MergeTree ORDER BY n";
        http.query(0, Resend::Safe, create, &[]).unwrap();
        let expected = cluster.query(0, COMPUTING);
        assert_eq!(http.query(0, Resend::Safe, &format!("INSERT INTO t {COMPUTING}"), &[]).unwrap(), "");
        let running = "SELECT count() FROM system.processes WHERE query_id LIKE 'lp-again-%'";
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while cluster.query(0, running).trim() != "0" {
            assert!(std::time::Instant::now() < deadline, "the first run is still going");
            std::thread::sleep(Duration::from_millis(100));
        }
        let rows = http.query(0, Resend::Safe, "SELECT n FROM t FORMAT TSV", &[]).unwrap();
        let rows: Vec<&str> = rows.lines().collect();
        assert!((1..=2).contains(&rows.len()), "{rows:?}");
        assert!(rows.iter().all(|n| *n == expected.trim()), "{rows:?}, expected {expected}");
    }

    #[test]
    fn a_select_silent_on_live_shards_is_sent_again_and_answered() {
        let shards = [Fake::start(true, forty_two), Fake::start(true, forty_two)];
        let http = http(&[shards[0].port, shards[1].port]);
        assert_eq!(http.query(1, Resend::Safe, "  select 42", &[]).unwrap(), "42\n");
        assert_each_sent_twice(&shards[1].posts());
        // The shard asked first, then the other one.
        assert_eq!((shards[1].pings(), shards[0].pings()), (1, 1));
    }

    #[test]
    fn a_ddl_silent_on_a_live_shard_is_sent_again_and_answered() {
        let shard = Fake::start(true, |_| String::new());
        let create = "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = TinyLog";
        assert_eq!(http(&[shard.port]).query(0, Resend::Safe, create, &[]).unwrap(), "");
        let posts = shard.posts();
        assert_each_sent_twice(&posts);
        assert_eq!(posts[0].body, create);
    }

    /// What a shard with this build's tables answers to the statements of
    /// migrating and of the writer-tag claim.
    fn migrated_shard(sql: &str) -> String {
        if sql.starts_with("SELECT max(version)") {
            format!("{}\n", crate::schema::LATEST_VERSION)
        } else if sql.starts_with("SELECT count() FROM system.tables") {
            "1\n".to_owned()
        } else if sql.starts_with("SELECT writer, toUInt32(min(since))") {
            "7\t1700000000\n".to_owned()
        } else {
            // `CREATE`, the claim's insert, the list of partitions (none).
            String::new()
        }
    }

    /// Migrating a shard that computes before every answer: each statement
    /// falls silent once and is sent again, and the migration succeeds.
    #[test]
    fn migrating_on_a_computing_shard_sends_each_statement_again() {
        let shard = Fake::start(true, migrated_shard);
        crate::schema::migrate(&http(&[shard.port]), 0).unwrap();
        let posts = shard.posts();
        assert_each_sent_twice(&posts);
        let sent: Vec<&str> = posts.iter().map(|p| p.body.as_str()).collect();
        for ddl in crate::schema::statements("db", None) {
            assert!(sent.contains(&ddl.as_str()), "{ddl} not sent: {sent:?}");
        }
    }

    /// The writer-tag claim on a shard that computes before every answer:
    /// its insert and its read each fall silent once and are sent again, and
    /// the tag is held.
    #[test]
    fn a_writer_tag_claim_on_a_computing_shard_is_sent_again_and_holds() {
        let shard = Fake::start(true, migrated_shard);
        let held = crate::writer_tag::claim(&http(&[shard.port]), 7, None, 12, || unreachable!("no other writer"));
        assert_eq!(held.unwrap(), Some(crate::writer_tag::Held { tag: 12, since: 1_700_000_000 }));
        let posts = shard.posts();
        assert_each_sent_twice(&posts);
        assert_eq!(posts.len(), 4);
        assert!(posts[0].body.starts_with("INSERT INTO log_panel_writer_tags"), "{posts:?}");
    }

    #[test]
    fn codes_and_literals() {
        assert_eq!(error_code("Code: 60, e.displayText() = DB::Exception: Table x doesn't exist"), Some(60));
        assert_eq!(error_code("Internal error"), None);
        assert_eq!(quote(r"it's a \ path"), r"'it\'s a \\ path'");
        assert_eq!(quote("a\0b"), r"'a\0b'");
    }
}
