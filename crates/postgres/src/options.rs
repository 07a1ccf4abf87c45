//! Connection settings and password redaction.
//!
//! Every string this crate shows (errors, `Debug`, [`Sink::describe`]) goes
//! through [`redact_url`] or [`Options::scrub`], so a password given in the
//! URL (`postgres://user:secret@host/db`), in a `password=` query parameter or
//! in a key-value connection string (`host=h password=secret`) never appears.
//!
//! [`Sink::describe`]: log_panel_core::Sink::describe

use log_panel_core::redact::{redact_password_params, redact_url};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::Error;

/// Connection timeout used when the URL sets none, so a reconnect attempt
/// against an unreachable host returns (as `Unavailable`) instead of hanging.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connection attempts of a process that may still be waiting for
/// a server past their timeout ([`Options::connect`]'s threads).
const WAITING_CONNECTS: usize = 16;

/// Connection attempts of this process under way, timed out or not.
static CONNECTING: AtomicUsize = AtomicUsize::new(0);

/// How long the sink waits for a sign of life from the server while it
/// writes a batch (each statement's answer, each chunk of rows taken) or
/// runs an idle step, used when the URL sets no `write_timeout=`: past it
/// the batch counts as failed and the connection is given up
/// ([`Options::write_timeout`]).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long sent data may stay unacknowledged before the connection is
/// declared dead (Linux `TCP_USER_TIMEOUT`), used when the URL sets none: a
/// network blip then surfaces as `Unavailable` within this time instead of
/// the kernel's ~15 minutes.
pub const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how to connect: a parsed `postgres://` / `postgresql://` URL (or
/// a libpq key-value string). `Debug` and `Display` show the URL with its
/// password replaced by `***`.
///
/// ```
/// use log_panel_postgres::Options;
///
/// let cfg = Options::parse("postgres://app:s3cret@db.internal:5432/logs")?;
/// assert_eq!(cfg.to_string(), "postgres://app:***@db.internal:5432/logs");
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// # Ok::<(), log_panel_postgres::Error>(())
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) inner: postgres::Config,
    redacted: String,
    secrets: Vec<String>,
    /// `sslrootcert=` from the URL (handled here, unknown to the driver).
    ca_file: Option<PathBuf>,
    /// `partition=day` in the URL (handled here): the writer partitions
    /// `log_records` by day when it finds it unpartitioned.
    partition_by_day: bool,
    /// `write_timeout=<seconds>` in the URL (handled here).
    write_timeout: Duration,
}

impl Options {
    /// Parses a connection URL (`postgres://user:password@host:port/db?options`)
    /// or a libpq key-value string (`host=... user=... dbname=...`).
    pub fn parse(url: &str) -> Result<Options, Error> {
        let redacted = redact_url(url);
        let mut secrets = Vec::new();
        let Own { driver_url, ca_file, partition_by_day, write_timeout } = match own_params(url) {
            Ok(own) => own,
            Err(reason) => return Err(Error::InvalidUrl { url: redacted, reason }),
        };
        let mut inner = match postgres::Config::from_str(&driver_url) {
            Ok(inner) => inner,
            Err(e) => {
                // The parser's message names options, not values; scrub anyway with
                // whatever password-looking text the URL has.
                let probe = Options {
                    inner: postgres::Config::new(),
                    redacted: redacted.clone(),
                    secrets: raw_secrets(url),
                    ca_file: None,
                    partition_by_day: false,
                    write_timeout: DEFAULT_WRITE_TIMEOUT,
                };
                return Err(Error::InvalidUrl { url: redacted, reason: probe.scrub(&error_chain(&e)) });
            }
        };
        if let Some(pw) = inner.get_password() {
            secrets.push(String::from_utf8_lossy(pw).into_owned());
        }
        secrets.extend(raw_secrets(url));
        secrets.retain(|s| s.len() >= 3);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        if inner.get_hosts().is_empty() {
            return Err(Error::InvalidUrl { url: redacted, reason: "no host given".to_owned() });
        }
        if inner.get_connect_timeout().is_none() {
            inner.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if inner.get_tcp_user_timeout().is_none() {
            inner.tcp_user_timeout(DEFAULT_TCP_USER_TIMEOUT);
        }
        if inner.get_application_name().is_none() {
            inner.application_name("log-panel");
        }
        let config = Options { inner, redacted, secrets, ca_file, partition_by_day, write_timeout };
        #[cfg(not(feature = "tls"))]
        if config.wants_tls() {
            return Err(Error::InvalidUrl {
                url: config.redacted,
                reason: "sslmode=require needs TLS, which this build lacks (feature `tls` of log-panel-postgres)"
                    .to_owned(),
            });
        }
        Ok(config)
    }

    /// Whether the URL asks for `log_records` partitioned by UTC day
    /// (`partition=day`; docs/scale.md): the sink and `PgMaintenance::migrate`
    /// then convert an unpartitioned table ([`crate::schema::partition_by_day`]).
    pub fn partition_by_day(&self) -> bool {
        self.partition_by_day
    }

    /// How long the sink waits for a sign of life from the server while it
    /// writes a batch or runs an idle step (`write_timeout=<seconds>` in the
    /// URL, decimals allowed; default [`DEFAULT_WRITE_TIMEOUT`]). The bound
    /// is on silence, not on the batch: every statement answered and every
    /// 32 KiB of rows the server takes starts it again, so a large batch on
    /// a busy server does not reach it. Past it the batch fails as
    /// `Unavailable` (in doubt when its COMMIT was sent) and the connection
    /// is given up, so a frozen server costs what a stopped one does: the
    /// writer retries and spools. Keep it below the queue's
    /// `block_timeout_ms` (5 s), which callers wait at most while the writer
    /// waits here.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// Whether the URL asks for TLS (`sslmode=require`, `verify-ca` or `verify-full`).
    pub fn wants_tls(&self) -> bool {
        self.inner.get_ssl_mode() == postgres::config::SslMode::Require
    }

    /// Opens a connection: TLS when [`wants_tls`](Options::wants_tls), plain
    /// otherwise, giving up after the connect timeout however far it got.
    ///
    /// The driver's `connect_timeout` bounds only the TCP connect: a server
    /// whose postmaster is frozen (SIGSTOP, a stuck host) accepts the
    /// connection in the kernel and never answers the startup message, so
    /// without this bound a `log-panel query` waited past a minute there
    /// with `--read-timeout 5s`, and so would the panel's and the writer's
    /// reconnects. The attempt runs on a thread of its own: on a timeout it
    /// is left behind and ends when the server answers or the connection
    /// fails. At most [`WAITING_CONNECTS`] such threads wait at once in a
    /// process; past that a connect fails at once, so a frozen server
    /// under a busy panel does not pile up threads.
    pub(crate) fn connect(&self) -> Result<postgres::Client, String> {
        self.connect_counted(&CONNECTING, self.connect_timeout(), "connect_timeout")
    }

    /// [`connect`](Options::connect), giving up after `limit` when that is
    /// shorter than the connect timeout (`why` says what set it, for the
    /// error): a reader's connection is part of a read and so within its
    /// budget.
    #[cfg(feature = "read")]
    pub(crate) fn connect_within(&self, limit: Duration, why: &str) -> Result<postgres::Client, String> {
        if limit < self.connect_timeout() {
            self.connect_counted(&CONNECTING, limit, why)
        } else {
            self.connect()
        }
    }

    /// `connect_timeout=` from the URL, else [`DEFAULT_CONNECT_TIMEOUT`].
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.get_connect_timeout().copied().unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    fn connect_counted(
        &self,
        connecting: &'static AtomicUsize,
        limit: Duration,
        why: &str,
    ) -> Result<postgres::Client, String> {
        if connecting.fetch_add(1, Ordering::SeqCst) >= WAITING_CONNECTS {
            connecting.fetch_sub(1, Ordering::SeqCst);
            return Err(format!(
                "{WAITING_CONNECTS} connection attempts are still waiting for the server; not starting another"
            ));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let options = self.clone();
        // A writer's thread when a writer connects (see `spawn_beside`).
        log_panel_core::writer_thread::spawn_beside(
            std::thread::Builder::new().name("log-panel-pg-connect".to_owned()),
            move || {
                let connected = options.connect_now();
                connecting.fetch_sub(1, Ordering::SeqCst);
                let _ = tx.send(connected);
            },
        )
        .map_err(|e| {
            connecting.fetch_sub(1, Ordering::SeqCst);
            format!("cannot start a thread to connect: {e}")
        })?;
        match rx.recv_timeout(limit) {
            Ok(connected) => connected,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("the server did not complete the connection within {} ms ({why})", limit.as_millis()))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err("the connecting thread ended without an answer".to_owned())
            }
        }
    }

    /// Opens a connection on the calling thread, waiting as long as the
    /// server takes past the TCP connect (a frozen postmaster: until it
    /// wakes). Only for a thread of its own whose caller bounds its wait and
    /// keeps at most one such attempt under way (the live tail's listener,
    /// [`crate::listen`]); anything else connects through [`Options::connect`].
    pub(crate) fn connect_now(&self) -> Result<postgres::Client, String> {
        #[cfg(feature = "tls")]
        if self.wants_tls() {
            let tls = crate::tls::connector(self.ca_file.as_deref())?;
            return self.inner.connect(tls).map_err(|e| self.scrub(&error_chain(&e)));
        }
        let _ = &self.ca_file;
        self.inner.connect(postgres::NoTls).map_err(|e| self.scrub(&error_chain(&e)))
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The underlying driver configuration (its `Debug` omits the password too).
    pub fn driver_config(&self) -> &postgres::Config {
        &self.inner
    }

    /// Replaces every occurrence of this configuration's password in `text` by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = redact_password_params(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options").field("url", &self.redacted).finish()
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl FromStr for Options {
    type Err = Error;
    fn from_str(s: &str) -> Result<Options, Error> {
        Options::parse(s)
    }
}

/// A URL's parameters that the driver does not know, and the URL without them.
struct Own {
    driver_url: String,
    ca_file: Option<PathBuf>,
    partition_by_day: bool,
    write_timeout: Duration,
}

/// Takes the parameters the driver does not know out of a URL's query:
/// `sslrootcert=<file>`, `partition=day` and `write_timeout=<seconds>` are
/// removed and returned; `sslmode=verify-ca` and `verify-full` become
/// `require` (the `tls` feature always verifies the chain and the host name).
fn own_params(url: &str) -> Result<Own, String> {
    let mut own = Own {
        driver_url: url.to_owned(),
        ca_file: None,
        partition_by_day: false,
        write_timeout: DEFAULT_WRITE_TIMEOUT,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok(own);
    };
    let mut kept = Vec::new();
    for param in query.split('&') {
        match param.split_once('=') {
            Some(("sslrootcert", file)) => own.ca_file = Some(PathBuf::from(file)),
            Some(("partition", "day")) => own.partition_by_day = true,
            Some(("write_timeout", secs)) => {
                own.write_timeout = secs
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.001 && *s <= 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        format!("write_timeout must be a number of seconds from 0.001 to 86400, not `{secs}`")
                    })?;
            }
            Some(("sslmode", "verify-ca" | "verify-full")) => kept.push("sslmode=require"),
            _ => kept.push(param),
        }
    }
    own.driver_url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok(own)
}

/// Password-looking substrings of the raw URL text (undecoded), to scrub from messages.
fn raw_secrets(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(i) = url.find("://") {
        let rest = &url[i + 3..];
        if let Some(at) = rest.rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                found.push(rest[colon + 1..at].to_owned());
            }
        }
    }
    let redacted = redact_password_params(url);
    if redacted != url {
        // Collect the removed values by walking both strings' `password=` values.
        let lower = url.to_ascii_lowercase();
        let mut pos = 0;
        while let Some(f) = lower[pos..].find("password=") {
            let v = pos + f + "password=".len();
            let value = &url[v..];
            let end = value.find(|c: char| c == '&' || c.is_whitespace()).unwrap_or(value.len());
            let candidate = value[..end].trim_matches('\'');
            if !candidate.is_empty() {
                found.push(candidate.to_owned());
            }
            pos = v;
        }
    }
    found.retain(|s| s.len() >= 3);
    found
}

pub(crate) use log_panel_core::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_day_is_ours_not_the_drivers() {
        let o = Options::parse("postgres://u@h/d?partition=day&connect_timeout=3").unwrap_or_else(|e| panic!("{e}"));
        assert!(o.partition_by_day());
        assert_eq!(o.inner.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert!(!Options::parse("postgres://u@h/d").unwrap_or_else(|e| panic!("{e}")).partition_by_day());
        assert!(Options::parse("postgres://u@h/d?partition=hour").is_err());
    }

    #[test]
    fn write_timeout_is_ours_in_seconds() {
        let parse = |url: &str| Options::parse(url).map(|o| o.write_timeout());
        assert_eq!(parse("postgres://u@h/d").ok(), Some(DEFAULT_WRITE_TIMEOUT));
        assert_eq!(
            parse("postgres://u@h/d?write_timeout=0.5&connect_timeout=3").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse("postgres://u@h/d?write_timeout=30").ok(), Some(Duration::from_secs(30)));
        for bad in ["0", "-1", "soon", "NaN", "1e9"] {
            let err = parse(&format!("postgres://u@h/d?write_timeout={bad}")).err().map(|e| e.to_string());
            assert!(err.as_deref().is_some_and(|e| e.contains("write_timeout must be")), "{bad}: {err:?}");
        }
    }

    /// A frozen postmaster as a client sees it: the kernel accepts the TCP
    /// connection, nothing ever answers the startup message. Without the
    /// bound around the whole connect, `connect` waited until the listener
    /// went away (past the 10 s this test allows).
    #[test]
    fn a_server_that_accepts_and_never_answers_times_out_within_the_connect_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        let cfg = Options::parse(&format!("postgres://u@127.0.0.1:{port}/d?connect_timeout=1&sslmode=disable"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let result = cfg.connect().map(|_| ());
            let _ = tx.send((result, started.elapsed()));
        });
        let (result, took) = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| {
            panic!("connect to a server that never answers did not return within 10 s (connect_timeout=1)")
        });
        let error = result.err().unwrap_or_else(|| panic!("connected to a server that never answered"));
        assert!(error.contains("did not complete the connection within 1000 ms"), "{error}");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
        drop(listener);
    }

    /// Attempts left waiting on a server that never answers are capped: the
    /// next one fails at once instead of leaving one more thread behind,
    /// and attempts are made again once the waiting ones ended.
    #[test]
    fn connection_attempts_left_waiting_are_capped() {
        static CONNECTING: AtomicUsize = AtomicUsize::new(0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        let cfg = Options::parse(&format!("postgres://u@127.0.0.1:{port}/d?connect_timeout=1&sslmode=disable"))
            .unwrap_or_else(|e| panic!("{e}"));
        let waiting: Vec<_> = (0..WAITING_CONNECTS)
            .map(|_| {
                let cfg = cfg.clone();
                std::thread::spawn(move || {
                    cfg.connect_counted(&CONNECTING, Duration::from_secs(1), "connect_timeout").map(|_| ())
                })
            })
            .collect();
        for attempt in waiting {
            let error = attempt.join().unwrap_or_else(|_| panic!("panicked")).err().unwrap_or_default();
            assert!(error.contains("within 1000 ms"), "{error}");
        }
        assert_eq!(CONNECTING.load(Ordering::SeqCst), WAITING_CONNECTS, "each timed-out attempt still waits");
        let started = std::time::Instant::now();
        let error =
            cfg.connect_counted(&CONNECTING, Duration::from_secs(1), "connect_timeout").err().unwrap_or_default();
        assert!(error.contains("16 connection attempts are still waiting"), "{error}");
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
        // The server goes away: the waiting attempts end, and new ones start again.
        drop(listener);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while CONNECTING.load(Ordering::SeqCst) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} attempts still waiting",
                CONNECTING.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let error =
            cfg.connect_counted(&CONNECTING, Duration::from_secs(1), "connect_timeout").err().unwrap_or_default();
        assert!(!error.contains("still waiting"), "{error}");
    }

    #[test]
    fn redacts_every_form() {
        assert_eq!(
            redact_url("postgresql://a:b%40c@h:1/d?sslmode=disable"),
            "postgresql://a:***@h:1/d?sslmode=disable"
        );
        assert_eq!(redact_url("postgres://a:p@ss@h/d"), "postgres://a:***@h/d");
        assert_eq!(redact_url("postgres://h/d?password=x&user=u"), "postgres://h/d?password=***&user=u");
        assert_eq!(redact_url("host=h password='it\\'s' user=u"), "host=h password=*** user=u");
        assert_eq!(redact_url("host=h user=u"), "host=h user=u");
        assert_eq!(redact_url("postgres://h/d?xpassword=keep"), "postgres://h/d?xpassword=keep");
    }

    #[test]
    fn scrub_removes_decoded_password() {
        let cfg = Options::parse("postgres://u:s%3Acret@localhost/db").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.scrub("bad s:cret here"), "bad *** here");
        assert_eq!(cfg.redacted(), "postgres://u:***@localhost/db");
    }

    #[test]
    fn invalid_url_error_has_no_password() {
        let err = match Options::parse("postgres://u:hunter22@h:notaport/db") {
            Ok(c) => panic!("parsed: {c:?}"),
            Err(e) => e,
        };
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("postgres://u:***@h:notaport/db"), "{shown}");
    }
}
