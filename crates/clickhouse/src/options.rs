//! The `clickhouse://` URL, parsed: [`Options`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log_panel_core::redact::redact_url;

use crate::Error;

/// The HTTP port when a host names none.
pub const DEFAULT_PORT: u16 = 8123;
/// How long one HTTP request may take unless the URL says `timeout_ms`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request may go without a byte sent or received unless the
/// URL says `silence_ms`.
pub const DEFAULT_SILENCE: Duration = Duration::from_secs(2);

/// The `clickhouse://` URL: the shards, the database, the cluster.
///
/// ```text
/// clickhouse://[user[:password]@]host[:port][,host[:port]…]/database[?cluster=NAME&timeout_ms=N&silence_ms=N]
/// ```
///
/// Each `host:port` is one shard's HTTP interface (port 8123 when left
/// out), listed in the order of the `remote_servers` section of the
/// servers' configuration; one user and password for all. The sink writes
/// each batch to one of them directly (see [`crate::sink`]); reads go
/// through the `Distributed` table, which needs the `cluster` that
/// `remote_servers` names, so with more than one host `cluster` is
/// required. With one host and no cluster the read table is a `Merge` table
/// over the one local table.
///
/// Two bounds end a request to a shard. `silence_ms` (default 2 000): no
/// byte sent or received for that long — a frozen shard (its process
/// stopped, or a network black hole: the kernel still accepts the
/// connection, nothing answers) — fails the request as
/// [`RequestError::Silent`](crate::RequestError::Silent) within that bound.
/// A large insert or read that keeps bytes moving, however slowly, is not
/// cut by it; a read, a `CREATE … IF NOT EXISTS` or a writer-tag claim
/// silent because the server computes before its answer's first byte is
/// sent again once every shard answers `/ping` (see the `http` module); a
/// batch's insert is not (it is in doubt, see [`crate::sink`]). `timeout_ms` (default 30 000) is the backstop: the
/// most one request may take, bytes moving or not.
///
/// Its `Display` is the URL with the password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Options {
    hosts: Vec<String>,
    database: String,
    cluster: Option<String>,
    user: Option<String>,
    password: Option<String>,
    timeout: Duration,
    silence: Duration,
    redacted: String,
    statement_log: Option<PathBuf>,
}

impl Options {
    /// Parses `url`; its form is in the [type's documentation](Options).
    pub fn parse(url: &str) -> Result<Options, Error> {
        let redacted = redact_url(url.trim());
        let bad = |reason: &str| Error::InvalidUrl { url: redacted.clone(), reason: reason.to_owned() };
        let url = url.trim();
        let rest = url
            .get(..13)
            .filter(|s| s.eq_ignore_ascii_case("clickhouse://"))
            .map(|_| &url[13..])
            .ok_or_else(|| bad("it must start with clickhouse://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, database) = rest.split_once('/').ok_or_else(|| bad("it names no database (`/name`)"))?;
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (Some(info.to_owned()), None),
            },
            None => (None, None),
        };
        let mut parsed = Vec::new();
        for host in hosts.split(',') {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (name, port.parse::<u16>().map_err(|_| bad("a port is not a number"))?),
                None => (host, DEFAULT_PORT),
            };
            if name.is_empty() {
                return Err(bad("a host is empty"));
            }
            parsed.push(format!("{name}:{port}"));
        }
        if !is_identifier(database) {
            return Err(bad("the database name must be letters, digits and `_`"));
        }
        let mut cluster = None;
        let mut timeout = DEFAULT_TIMEOUT;
        let mut silence = DEFAULT_SILENCE;
        let millis = |key: &str, ms: &str| {
            ms.parse::<u64>()
                .ok()
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| bad(&format!("{key} must be a positive number of milliseconds, not `{ms}`")))
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("cluster", name)) if is_identifier(name) => cluster = Some(name.to_owned()),
                Some(("cluster", _)) => return Err(bad("the cluster name must be letters, digits and `_`")),
                Some(("timeout_ms", ms)) => timeout = millis("timeout_ms", ms)?,
                Some(("silence_ms", ms)) => silence = millis("silence_ms", ms)?,
                _ => return Err(bad(&format!("unknown parameter `{pair}` (known: cluster, timeout_ms, silence_ms)"))),
            }
        }
        if parsed.len() > 1 && cluster.is_none() {
            return Err(bad("several shards need `?cluster=NAME`, the cluster their remote_servers section names"));
        }
        Ok(Options {
            hosts: parsed,
            database: database.to_owned(),
            cluster,
            user,
            password,
            timeout,
            silence,
            redacted,
            statement_log: None,
        })
    }

    /// Each shard's `host:port`, in the order of the URL.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The cluster of the `Distributed` table, when the URL names one.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// The user, when the URL names one (else the server's `default`).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// How long one HTTP request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long one HTTP request may go without a byte sent or received
    /// (the URL's `silence_ms`, else [`DEFAULT_SILENCE`]) before it fails as
    /// [`RequestError::Silent`](crate::RequestError::Silent).
    pub fn silence(&self) -> Duration {
        self.silence
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The same options, appending every request sent (the statement, its
    /// settings, an insert's RowBinary body, the shard and the answer) to
    /// `path` as one JSON object per line. For checking what this crate
    /// sends against another ClickHouse release (the crate's tests replay
    /// such a log on a current engine); the password is never written.
    #[must_use]
    pub fn with_statement_log(mut self, path: impl Into<PathBuf>) -> Options {
        self.statement_log = Some(path.into());
        self
    }

    /// Where requests are logged (see [`Options::with_statement_log`]).
    pub fn statement_log(&self) -> Option<&Path> {
        self.statement_log.as_deref()
    }

    /// `text` with the password, if any, replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match self.password.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => text.replace(p, "***"),
            None => text.to_owned(),
        }
    }
}

/// Letters, digits and `_`, not starting with a digit: safe to name in SQL unquoted.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

// By hand so that `{:?}` never shows the password.
impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Options").field(&self.redacted).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shards_database_and_cluster() {
        let o = Options::parse("clickhouse://app:s3cret@ch1:9123,ch2/logs?cluster=fleet").unwrap();
        assert_eq!(o.hosts(), ["ch1:9123", "ch2:8123"]);
        assert_eq!((o.database(), o.cluster(), o.user()), ("logs", Some("fleet"), Some("app")));
        assert_eq!(o.password(), Some("s3cret"));
        assert_eq!(o.to_string(), "clickhouse://app:***@ch1:9123,ch2/logs?cluster=fleet");
        assert!(!format!("{o:?}").contains("s3cret"));
        let one = Options::parse("CLICKHOUSE://localhost/logs?timeout_ms=500").unwrap();
        assert_eq!((one.hosts().len(), one.cluster(), one.timeout()), (1, None, Duration::from_millis(500)));
        assert_eq!(one.silence(), DEFAULT_SILENCE);
    }

    #[test]
    fn silence_ms_beside_timeout_ms() {
        let o = Options::parse("clickhouse://u:pw@ch1,ch2/logs?silence_ms=750&cluster=fleet&timeout_ms=9000").unwrap();
        assert_eq!((o.silence(), o.timeout()), (Duration::from_millis(750), Duration::from_millis(9_000)));
        assert_eq!(o.to_string(), "clickhouse://u:***@ch1,ch2/logs?silence_ms=750&cluster=fleet&timeout_ms=9000");
        let plain = Options::parse("clickhouse://ch1/logs").unwrap();
        assert_eq!((plain.silence(), plain.timeout()), (Duration::from_secs(2), Duration::from_secs(30)));
        for bad in ["0", "-5", "2s", "", "1.5"] {
            let e = Options::parse(&format!("clickhouse://u:pw@ch1/logs?silence_ms={bad}")).unwrap_err().to_string();
            assert!(e.contains(&format!("silence_ms must be a positive number of milliseconds, not `{bad}`")), "{e}");
            assert!(e.contains("clickhouse://u:***@ch1/logs") && !e.contains("pw"), "{e}");
        }
        let e = Options::parse("clickhouse://ch1/logs?silence=5").unwrap_err().to_string();
        assert!(e.contains("unknown parameter `silence=5`") && e.contains("silence_ms"), "{e}");
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("postgres://h/db", "clickhouse://"),
            ("clickhouse://h", "no database"),
            ("clickhouse://h/db;drop", "database name"),
            ("clickhouse://h1,h2/db", "cluster"),
            ("clickhouse://h:x/db", "port"),
            ("clickhouse://h/db?cluster=a-b", "cluster name"),
            ("clickhouse://h/db?color=red", "unknown parameter"),
            ("clickhouse://,h/db", "host is empty"),
        ] {
            let e = Options::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
        }
    }
}
