//! Throwaway PostgreSQL servers for tests (feature `postgres`).
//!
//! [`TestServer::start`] runs `initdb` and `pg_ctl start` from the installed
//! PostgreSQL binaries into a fresh directory under the temp dir, on a free
//! loopback port, with `fsync=off` (the WAL still reaches the OS before a
//! COMMIT returns, so killing the server loses nothing committed;
//! `synchronous_commit` stays on for that reason). When the tests run as root the server runs
//! as the `postgres` user (PostgreSQL refuses root). Each test creates its own
//! database with [`TestServer::create_database`], so tests can share one
//! server ([`TestServer::shared`]) and run in parallel.
//!
//! Cleanup cannot rely on `Drop` alone (statics are never dropped, and a test
//! process can be killed), so every server gets a guardian: a small shell
//! process that waits for its stdin to close, then stops the server
//! (`pg_ctl stop -m immediate`) and removes the directory. Its stdin is a pipe
//! held by the [`TestServer`], closed on drop or when the test process exits
//! for any reason.
//!
//! Where the binaries are looked for: `$LOG_PANEL_PG_BIN`, then
//! `/usr/lib/postgresql/<newest>/bin`, then `pg_config --bindir`, then `PATH`.
//!
//! With `LOG_PANEL_TEST_PG_URL` set (a superuser URL to an existing server),
//! no server is started: databases are created there instead, and tests that
//! must stop the server or change authentication skip (with a message).
//!
//! When no binaries exist and `CI` is unset, [`TestServer::start`] prints a
//! loud message and returns `None` (the test returns early); under `CI` it
//! panics, because a missing server must fail CI rather than skip silently.
//!
//! ```no_run
//! use log_panel_testing::postgres::TestServer;
//!
//! let Some(server) = TestServer::shared() else { return };
//! let url = server.create_database();
//! let sink = log_panel_postgres::PgSink::connect(&url);
//! assert!(sink.is_ok());
//! ```

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use crate::server::{free_port, nanos};

/// Environment variable naming an existing server to test against instead.
pub const TEST_URL_ENV: &str = "LOG_PANEL_TEST_PG_URL";

/// A plain connection to `url`, for a test's own queries; panics with the reason.
pub fn client(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("cannot connect to {url}: {e:?}"))
}

/// A connection to the database at `url` after giving it log-panel's schema
/// as version `version` left it (what an older log-panel wrote), to test
/// the migrations from there.
pub fn forge_schema(url: &str, version: i32) -> Client {
    let mut db = client(url);
    db.batch_execute(
        "CREATE TABLE log_panel_schema (version integer PRIMARY KEY, description text NOT NULL,
                                        applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .unwrap_or_else(|e| panic!("CREATE TABLE log_panel_schema: {e:?}"));
    forge_upgrade(&mut db, version);
    db
}

/// Brings a database forged by [`forge_schema`] to `version` as those
/// versions' migrations left it, backfills included (the rows a test
/// inserted meanwhile are counted as an older log-panel's upgrade counted them).
pub fn forge_upgrade(db: &mut Client, version: i32) {
    let from: i32 = db
        .query_one("SELECT coalesce(max(version), 0) FROM log_panel_schema", &[])
        .and_then(|r| r.try_get(0))
        .unwrap_or_else(|e| panic!("reading the forged version: {e:?}"));
    for m in log_panel_postgres::schema::MIGRATIONS.iter().filter(|m| m.version > from && m.version <= version) {
        db.batch_execute(m.sql).unwrap_or_else(|e| panic!("migration {}: {e:?}", m.version));
        db.execute("INSERT INTO log_panel_schema (version, description) VALUES ($1, 'forged')", &[&m.version])
            .unwrap_or_else(|e| panic!("recording version {}: {e:?}", m.version));
    }
}

/// The indexes of `log_records` in the latest schema, sorted as
/// [`index_names`] lists them.
pub const RECORD_INDEXES: [&str; 5] = [
    "log_records_logger_c_ts_id_idx",
    "log_records_pkey",
    "log_records_ts_id_idx",
    "log_records_warn_logger_c_ts_id_idx",
    "log_records_warn_ts_id_idx",
];

/// The names of `table`'s indexes, sorted (what a migration left behind).
pub fn index_names(db: &mut Client, table: &str) -> Vec<String> {
    db.query("SELECT indexname::text FROM pg_indexes WHERE tablename = $1 ORDER BY 1", &[&table])
        .unwrap_or_else(|e| panic!("listing the indexes of {table}: {e:?}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A fresh database on the shared server and a sink connected to it: the
/// prologue of most PostgreSQL tests. `None` (after a loud message) where
/// [`TestServer::shared_database`] skips.
pub fn fresh_sink() -> Option<(String, log_panel_postgres::PgSink)> {
    let url = TestServer::shared_database()?;
    let sink = log_panel_postgres::PgSink::connect(&url).unwrap_or_else(|e| panic!("PgSink::connect({url}): {e:?}"));
    Some((url, sink))
}

/// A `jsonb` parameter in the binary format (version byte 1, then the JSON
/// text), for raw-driver baselines that COPY the rows the sink writes.
///
/// ```
/// use log_panel_testing::postgres::Jsonb;
/// use postgres::types::{ToSql, Type};
/// let mut out = bytes::BytesMut::new();
/// assert!(Jsonb("{}").to_sql(&Type::JSONB, &mut out).is_ok());
/// assert_eq!(&out[..], b"\x01{}");
/// assert!(!<Jsonb<'_> as ToSql>::accepts(&Type::JSON));
/// ```
#[derive(Debug)]
pub struct Jsonb<'a>(pub &'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut as _;
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
    to_sql_checked!();
}
/// Environment variable naming the directory holding `initdb` and `pg_ctl`.
pub const BIN_ENV: &str = "LOG_PANEL_PG_BIN";
/// The group role whose members must log in with a password (scram-sha-256);
/// everyone else is trusted on the throwaway server.
pub const PASSWORD_GROUP: &str = "lp_password_users";
/// The group role whose members may only connect over TLS (`hostnossl … reject`).
pub const TLS_GROUP: &str = "lp_tls_users";

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A PostgreSQL server for tests: one this process started, or the one named
/// by `LOG_PANEL_TEST_PG_URL`.
#[derive(Debug)]
pub struct TestServer {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Own(Own),
    External { url: String },
}

#[derive(Debug)]
struct Own {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    run_as_postgres: bool,
    tls: bool,
    guardian: Mutex<Option<(Child, ChildStdin)>>,
}

pub use crate::server::in_ci;

/// Prints a message that cannot be missed in test output (see [`crate::server::loud_skip`]).
pub fn loud_skip(reason: &str) {
    crate::server::loud_skip("PostgreSQL", reason);
}

impl TestServer {
    /// A server shared by every test of this test binary, started on first use.
    /// `None` means: skip (the reason was printed).
    pub fn shared() -> Option<&'static TestServer> {
        static SHARED: OnceLock<Option<TestServer>> = OnceLock::new();
        SHARED.get_or_init(TestServer::start).as_ref()
    }

    /// A fresh database on the [shared](TestServer::shared) server, by URL:
    /// what most tests need. `None` means skip, as for `shared`.
    pub fn shared_database() -> Option<String> {
        Some(TestServer::shared()?.create_database())
    }

    /// A server of one's own that the test may stop and start again: like
    /// [`TestServer::start`], but `None` (after a loud message naming `test`)
    /// also when `LOG_PANEL_TEST_PG_URL` names a server, which must not be stopped.
    pub fn start_stoppable(test: &str) -> Option<TestServer> {
        TestServer::own_or_skip(
            TestServer::start()?,
            &format!("{test} needs a server it can stop (LOG_PANEL_TEST_PG_URL is set)"),
        )
    }

    /// The [shared](TestServer::shared) server when this process started it,
    /// for tests that reconfigure or proxy it; `None` (after a loud message
    /// giving `reason`) when it is `LOG_PANEL_TEST_PG_URL`'s, or there is none.
    pub fn shared_own(reason: &str) -> Option<&'static TestServer> {
        TestServer::own_or_skip(TestServer::shared()?, reason)
    }

    fn own_or_skip<S: std::borrow::Borrow<TestServer>>(server: S, reason: &str) -> Option<S> {
        if server.borrow().is_own() {
            return Some(server);
        }
        loud_skip(reason);
        None
    }

    /// A server of one's own (needed to stop or restart it). `None` means:
    /// skip (the reason was printed). Panics when a server should be available
    /// but cannot be started, or when none exists under `CI`.
    pub fn start() -> Option<TestServer> {
        if let Some(url) = std::env::var(TEST_URL_ENV).ok().filter(|u| !u.trim().is_empty()) {
            return Some(TestServer { inner: Inner::External { url } });
        }
        let bin = binaries_or_skip()?;
        Some(TestServer { inner: Inner::Own(Own::init(bin, false)) })
    }

    /// A server of one's own that also accepts TLS, with a certificate for
    /// `127.0.0.1` signed by a throwaway CA ([`TestServer::ca_file`]). Needs the
    /// `openssl` command; `None` (after a loud message) when it is missing or
    /// when [`TestServer::start`] would skip, or with `LOG_PANEL_TEST_PG_URL`.
    pub fn start_tls() -> Option<TestServer> {
        if std::env::var(TEST_URL_ENV).is_ok_and(|u| !u.trim().is_empty()) {
            loud_skip("TLS tests need an own server; LOG_PANEL_TEST_PG_URL is set");
            return None;
        }
        if Command::new("openssl").arg("version").output().map_or(true, |o| !o.status.success()) {
            loud_skip("TLS tests need the `openssl` command to make certificates (apt-get install openssl)");
            return None;
        }
        let bin = binaries_or_skip()?;
        Some(TestServer { inner: Inner::Own(Own::init(bin, true)) })
    }

    /// The CA certificate (PEM) that signed a TLS server's certificate.
    pub fn ca_file(&self) -> Option<PathBuf> {
        match &self.inner {
            Inner::Own(own) if own.tls => Some(own.dir.join("ca.crt")),
            _ => None,
        }
    }

    /// Creates a login role (no password) that may connect over TLS only; returns its name.
    pub fn create_tls_role(&self) -> String {
        let name = format!("lp_tls_{}_{}", std::process::id(), unique());
        self.admin()
            .batch_execute(&format!("CREATE ROLE {name} LOGIN IN ROLE {TLS_GROUP}"))
            .unwrap_or_else(|e| panic!("CREATE ROLE: {e:?}"));
        name
    }

    /// A fresh database in which a new TLS-only role ([`TestServer::create_tls_role`])
    /// may create log-panel's schema. Returns a superuser URL of the
    /// database and the role's URL for it, without `sslmode` (add it, and
    /// `sslrootcert` = [`TestServer::ca_file`], to connect).
    pub fn create_tls_database(&self) -> (String, String) {
        let url = self.create_database();
        let dbname = url.rsplit('/').next().unwrap_or_default().to_owned();
        let role = self.create_tls_role();
        Client::connect(&url, NoTls)
            .and_then(|mut c| {
                // CREATE on the database: the schema's migration 3 creates the pg_trgm extension.
                c.batch_execute(&format!(
                    "GRANT CREATE ON SCHEMA public TO {role}; GRANT CREATE ON DATABASE {dbname} TO {role}"
                ))
            })
            .unwrap_or_else(|e| panic!("granting {role} the schema: {e:?}"));
        let tls = format!("postgres://{role}@127.0.0.1:{}/{dbname}", self.port());
        (url, tls)
    }

    /// A hot standby of this server: a streaming replica made with
    /// `pg_basebackup -R` (as the `postgres` user when root), started on a
    /// loopback port of its own, removed on drop like any own server. It
    /// holds every database of this one and replays what is written here;
    /// it refuses writes. `None` (after a loud message) when this server is
    /// `LOG_PANEL_TEST_PG_URL`'s.
    pub fn standby(&self) -> Option<TestServer> {
        let Inner::Own(primary) = &self.inner else {
            loud_skip("a standby needs an own primary (LOG_PANEL_TEST_PG_URL is set)");
            return None;
        };
        Some(TestServer { inner: Inner::Own(Own::standby_of(primary)) })
    }

    /// Waits until this standby has replayed everything `primary` had
    /// written when called (its current WAL position). Panics after a minute.
    pub fn catch_up_with(&self, primary: &TestServer) {
        let lsn: String = primary
            .admin()
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .and_then(|r| r.try_get(0))
            .unwrap_or_else(|e| panic!("reading the primary's WAL position: {e:?}"));
        let mut standby = self.admin();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let replayed: Option<bool> = standby
                .query_one("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", &[&lsn])
                .and_then(|r| r.try_get(0))
                .unwrap_or_else(|e| panic!("reading the standby's replay position: {e:?}"));
            if replayed == Some(true) {
                return;
            }
            assert!(std::time::Instant::now() < until, "the standby did not replay up to {lsn} within a minute");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether this server can be stopped and started ([`TestServer::stop_server`]):
    /// false for a server given by `LOG_PANEL_TEST_PG_URL`.
    pub fn is_own(&self) -> bool {
        matches!(self.inner, Inner::Own(_))
    }

    /// The loopback port (0 for an external server).
    pub fn port(&self) -> u16 {
        match &self.inner {
            Inner::Own(own) => own.port,
            Inner::External { .. } => 0,
        }
    }

    /// A superuser URL for database `dbname`.
    pub fn url(&self, dbname: &str) -> String {
        match &self.inner {
            Inner::Own(own) => format!("postgres://postgres@127.0.0.1:{}/{dbname}", own.port),
            Inner::External { url } => with_dbname(url, dbname),
        }
    }

    /// A URL for `dbname` logging in as `user` with `password` (own servers only).
    pub fn url_with_login(&self, dbname: &str, user: &str, password: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{dbname}", self.port())
    }

    /// A superuser connection to the `postgres` database.
    pub fn admin(&self) -> Client {
        let url = self.url("postgres");
        Client::connect(&url, NoTls).unwrap_or_else(|e| panic!("cannot connect to the test server: {e:?}"))
    }

    /// Creates a fresh, empty database and returns a superuser URL for it.
    pub fn create_database(&self) -> String {
        let name = format!("lp_test_{}_{}_{}", std::process::id(), unique(), nanos() % 1_000_000);
        self.admin()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e:?}"));
        self.url(&name)
    }

    /// Creates a login role that must authenticate with `password` and may use
    /// any database; returns its name. Own servers only (panics otherwise).
    pub fn create_password_role(&self, password: &str) -> String {
        assert!(self.is_own(), "password roles need an own server (pg_hba.conf)");
        let name = format!("lp_pw_{}_{}", std::process::id(), unique());
        let quoted = password.replace('\'', "''");
        self.admin()
            .batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD '{quoted}' IN ROLE {PASSWORD_GROUP}"))
            .unwrap_or_else(|e| panic!("CREATE ROLE: {e:?}"));
        name
    }

    /// Stops the server abruptly (`pg_ctl stop -m immediate`, like a crash:
    /// connections drop). Own servers only.
    pub fn stop_server(&self) {
        let Inner::Own(own) = &self.inner else { panic!("cannot stop an external server") };
        own.pg_ctl(&["-m", "immediate", "-w", "stop"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts the server again on the same port after [`TestServer::stop_server`].
    pub fn start_server(&self) {
        let Inner::Own(own) = &self.inner else { panic!("cannot start an external server") };
        own.start().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops and starts the server.
    pub fn restart(&self) {
        self.stop_server();
        self.start_server();
    }

    /// The server's log file (own servers), handy when a test fails.
    pub fn log_file(&self) -> Option<PathBuf> {
        match &self.inner {
            Inner::Own(own) => Some(own.dir.join("server.log")),
            Inner::External { .. } => None,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Inner::Own(own) = &self.inner {
            own.shutdown();
        }
    }
}

impl Own {
    /// A directory of its own (owned by `postgres` when root) and the
    /// guardian that removes it; no data directory yet, no port.
    fn prepare(bin: PathBuf, tls: bool) -> Own {
        let dir = std::env::temp_dir().join(format!("log-panel-pg-{}-{}-{}", std::process::id(), unique(), nanos()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let run_as_postgres = is_root();
        if run_as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir), "chown the test server directory")
                .unwrap_or_else(|e| panic!("{e} (running as root needs a `postgres` user)"));
        }
        let mut own = Own { bin, dir, port: 0, run_as_postgres, tls, guardian: Mutex::new(None) };
        own.spawn_guardian();
        own
    }

    /// Starts the server on a free loopback port; ports can be taken between
    /// choosing and binding, so it tries a few.
    fn start_on_free_port(&mut self) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..5 {
            self.port = free_port();
            match self.start() {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn init(bin: PathBuf, tls: bool) -> Own {
        let mut own = Own::prepare(bin, tls);
        let data = own.data();
        own.command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .map_err(|e| e.to_string())
            .and_then(|out| check(out, "initdb"))
            .unwrap_or_else(|e| panic!("{e}"));
        // `replication`: a standby's pg_basebackup and WAL stream (`TestServer::standby`).
        let hba = format!(
            "local all all trust\nhostnossl all +{TLS_GROUP} 127.0.0.1/32 reject\n\
             host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n\
             host replication all 127.0.0.1/32 trust\n"
        );
        if tls {
            own.make_certificates().unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap_or_else(|e| panic!("write pg_hba.conf: {e}"));
        own.start_on_free_port().unwrap_or_else(|e| panic!("cannot start the test PostgreSQL server: {e}"));
        let mut admin = Client::connect(&format!("postgres://postgres@127.0.0.1:{}/postgres", own.port), NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the new test server: {e:?}"));
        admin
            .batch_execute(&format!("CREATE ROLE {PASSWORD_GROUP} NOLOGIN; CREATE ROLE {TLS_GROUP} NOLOGIN"))
            .unwrap_or_else(|e| panic!("CREATE ROLE {PASSWORD_GROUP}, {TLS_GROUP}: {e:?}"));
        own
    }

    /// A hot standby of `primary`: its data copied by `pg_basebackup -R`
    /// (which writes `standby.signal` and the `primary_conninfo` to stream
    /// from), started on a free loopback port.
    fn standby_of(primary: &Own) -> Own {
        let mut own = Own::prepare(primary.bin.clone(), false);
        let port = primary.port.to_string();
        own.command("pg_basebackup")
            .arg("-D")
            .arg(own.data())
            .args(["-R", "-X", "stream", "-c", "fast", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
            .output()
            .map_err(|e| e.to_string())
            .and_then(|out| check(out, "pg_basebackup"))
            .unwrap_or_else(|e| panic!("{e}"));
        own.start_on_free_port().unwrap_or_else(|e| panic!("cannot start the standby: {e}"));
        own
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = self.command("pg_ctl").arg("-D").arg(self.data()).args(args).output().map_err(|e| e.to_string())?;
        check(out, "pg_ctl")
    }

    fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let mut options = options;
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
                dir = self.dir.display()
            ));
        }
        let log = self.dir.join("server.log");
        let log = log.to_string_lossy();
        self.pg_ctl(&["-l", &log, "-w", "-t", "60", "-o", &options, "start"]).map_err(|e| {
            let tail = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            format!("{e}\nserver log (last lines, newest first):\n{}", tail.join("\n"))
        })
    }

    /// A throwaway CA and a server certificate for 127.0.0.1 / localhost, made
    /// with the `openssl` command, readable by the server.
    fn make_certificates(&self) -> Result<(), String> {
        let d = &self.dir;
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").map_err(|e| e.to_string())?;
        run(
            Command::new("openssl").current_dir(d).args(["req", "-x509"]).args(ec).args([
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=log-panel test CA",
                "-days",
                "2",
            ]),
            "openssl (CA)",
        )?;
        run(
            Command::new("openssl").current_dir(d).arg("req").args(ec).args([
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]),
            "openssl (server key)",
        )?;
        run(
            Command::new("openssl").current_dir(d).args([
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ]),
            "openssl (server certificate)",
        )?;
        if self.run_as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(d.join("server.key")).arg(d.join("server.crt")),
                "chown",
            )?;
        }
        run(Command::new("chmod").arg("600").arg(d.join("server.key")), "chmod")
    }

    /// The guardian stops the server and removes the directory once its stdin closes.
    // The child is kept in `self.guardian` and waited for in `shutdown`.
    #[allow(clippy::zombie_processes)]
    fn spawn_guardian(&mut self) {
        let script = r#"cat >/dev/null
if [ -n "$LP_RUNAS" ]; then
  runuser -u "$LP_RUNAS" -- "$LP_PG_CTL" -D "$LP_DATA" -m immediate -w stop
else
  "$LP_PG_CTL" -D "$LP_DATA" -m immediate -w stop
fi >/dev/null 2>&1
rm -rf "$LP_DIR""#;
        let mut child = Command::new("sh")
            .args(["-c", script])
            .env("LP_RUNAS", if self.run_as_postgres { "postgres" } else { "" })
            .env("LP_PG_CTL", self.bin.join("pg_ctl"))
            .env("LP_DATA", self.data())
            .env("LP_DIR", &self.dir)
            .stdin(Stdio::piped())
            // Its own process group: a Ctrl-C or group kill aimed at the tests must not
            // take the guardian down before it has cleaned up.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn the cleanup guardian: {e}"));
        let Some(stdin) = child.stdin.take() else { panic!("guardian without stdin") };
        if let Ok(mut g) = self.guardian.lock() {
            *g = Some((child, stdin));
        }
    }

    fn shutdown(&self) {
        let taken = self.guardian.lock().ok().and_then(|mut g| g.take());
        if let Some((mut child, mut stdin)) = taken {
            let _ = stdin.flush();
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// The server binaries, or `None` after a loud message (a panic under `CI`).
fn binaries_or_skip() -> Option<PathBuf> {
    let Some(bin) = find_binaries() else {
        let reason = format!(
            "no PostgreSQL server binaries (initdb, pg_ctl) found in ${BIN_ENV}, /usr/lib/postgresql/*/bin, \
                 pg_config --bindir or PATH, and ${TEST_URL_ENV} is not set. Install PostgreSQL \
                 (apt-get install postgresql) or set {TEST_URL_ENV} to run the PostgreSQL tests."
        );
        if in_ci() {
            panic!("CI is set, so a missing PostgreSQL is a failure: {reason}");
        }
        loud_skip(&reason);
        return None;
    };
    Some(bin)
}

fn check(out: std::process::Output, what: &str) -> Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    check(out, what)
}

/// Whether the effective user is root, from `/proc/self/status` (no libc needed).
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Finds a directory holding `initdb` and `pg_ctl`.
pub fn find_binaries() -> Option<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(BIN_ENV).map(PathBuf::from) {
        return usable(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| usable(d))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && usable(&dir) {
            return Some(dir);
        }
    }
    std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|d| usable(d)))
}

/// `url` with its database name replaced by `dbname`.
fn with_dbname(url: &str, dbname: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    format!("{}/{dbname}{query}", &base[..path_start])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbname_is_replaced() {
        assert_eq!(with_dbname("postgres://u:p@h:5/old?x=1", "new"), "postgres://u:p@h:5/new?x=1");
        assert_eq!(with_dbname("postgres://h", "new"), "postgres://h/new");
    }
}
