//! Throwaway ClickHouse servers for tests (feature `clickhouse`): two
//! servers on loopback, the two shards of one cluster.
//!
//! [`Cluster::start`] writes a configuration into a fresh directory under
//! the temp dir (root element `<yandex>`, as Debian's 18.16 wants it), picks
//! free loopback ports for each server's HTTP and native interfaces, and runs
//! `clickhouse-server --config-file=…` twice. Each configuration caps memory
//! in the `default` profile (`max_memory_usage` 2 GB, all queries together
//! 4 GB: without a cap one runaway query grew a server past the machine's
//! memory), names both shards under `remote_servers` as the cluster
//! [`CLUSTER`] (for the `Distributed` table), and gives the server a
//! `display_name` that the start checks in the `X-ClickHouse-Server-Display-Name`
//! header of its `SELECT 1`: a server that found its port taken logs the
//! error and stays up, so answering is not proof that the server is ours.
//!
//! Stopping is SIGTERM, then SIGKILL when the server has not gone within a
//! few seconds (it can ignore SIGTERM when stuck). Cleanup cannot rely on
//! `Drop` alone (a shared cluster lives in a static, and a test process can
//! be killed), so each server gets a guardian as the PostgreSQL harness does:
//! a shell process that waits for its stdin to close, then stops the server
//! whose pid the harness wrote last and removes the directory.
//!
//! The server binary is `$LOG_PANEL_CLICKHOUSE_SERVER`, else
//! `/usr/sbin/clickhouse-server`, else `clickhouse-server` on `PATH`. When
//! none exists the tests skip with a loud message, and under `CI` panic.
//!
//! ```no_run
//! use log_panel_testing::clickhouse::Cluster;
//!
//! let Some(cluster) = Cluster::shared() else { return };
//! let url = cluster.create_database();
//! assert!(url.starts_with("clickhouse://127.0.0.1:"));
//! ```

use std::io::Read as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::server::{free_port, in_ci, loud_skip, nanos};

/// The cluster name under `remote_servers`, which the URLs name with `?cluster=`.
pub const CLUSTER: &str = "log_panel";
/// Environment variable naming the `clickhouse-server` binary to run.
pub const BIN_ENV: &str = "LOG_PANEL_CLICKHOUSE_SERVER";
/// The environment variable naming a Python with `chdb-core` (see [`current_engine_python`]).
pub const CHDB_PYTHON_ENV: &str = "LOG_PANEL_CHDB_PYTHON";
/// How long a server may take to answer its first `SELECT 1`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Two servers on loopback, the shards of the cluster [`CLUSTER`].
#[derive(Debug)]
pub struct Cluster {
    shards: Vec<Shard>,
}

/// One server of a [`Cluster`].
#[derive(Debug)]
struct Shard {
    dir: PathBuf,
    name: String,
    http_port: u16,
    child: Mutex<Option<Child>>,
    guardian: Mutex<Option<(Child, ChildStdin)>>,
}

impl Cluster {
    /// A cluster shared by every test of this test binary, started on first
    /// use. `None` means: skip (the reason was printed).
    pub fn shared() -> Option<&'static Cluster> {
        static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
        SHARED.get_or_init(Cluster::start).as_ref()
    }

    /// A cluster of one's own (a test that stops a shard needs one). `None`
    /// means: skip (the reason was printed). Panics when the servers cannot
    /// start, or when the binary is missing under `CI`.
    pub fn start() -> Option<Cluster> {
        let bin = binary_or_skip()?;
        let mut last = String::new();
        // Ports can be taken between choosing and binding; try a few times.
        for _ in 0..5 {
            match Cluster::try_start(&bin) {
                Ok(cluster) => return Some(cluster),
                Err(e) => last = e,
            }
        }
        panic!("cannot start the test ClickHouse cluster: {last}");
    }

    fn try_start(bin: &Path) -> Result<Cluster, String> {
        let ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
        let tag = format!("{}-{}-{}", std::process::id(), unique(), nanos() % 1_000_000_000);
        let mut shards = Vec::new();
        for (i, &(http_port, _)) in ports.iter().enumerate() {
            let name = format!("lp-test-{tag}-{i}");
            let dir = std::env::temp_dir().join(format!("log-panel-ch-{tag}-{i}"));
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            std::fs::write(dir.join("config.xml"), config(&dir, &name, i, &ports))
                .and_then(|()| std::fs::write(dir.join("users.xml"), USERS))
                .map_err(|e| format!("cannot write the configuration: {e}"))?;
            let shard = Shard { dir, name, http_port, child: Mutex::new(None), guardian: Mutex::new(None) };
            shard.spawn_guardian();
            shards.push(shard);
        }
        let cluster = Cluster { shards };
        for shard in &cluster.shards {
            shard.run(bin)?;
        }
        for shard in &cluster.shards {
            shard.wait_ready()?;
        }
        Ok(cluster)
    }

    /// How many shards the cluster has.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether the cluster has no shard (never: it starts with two).
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// Shard `i`'s HTTP port.
    pub fn http_port(&self, i: usize) -> u16 {
        self.shard(i).http_port
    }

    /// The URL of database `db` on every shard, in shard order.
    pub fn url(&self, db: &str) -> String {
        url_of(self.shards.iter().map(|s| s.http_port), db)
    }

    /// Creates a fresh database on every shard and returns its URL.
    pub fn create_database(&self) -> String {
        let db = format!("lp_test_{}_{}_{}", std::process::id(), unique(), nanos() % 1_000_000);
        for i in 0..self.shards.len() {
            self.query(i, &format!("CREATE DATABASE {db}"));
        }
        self.url(&db)
    }

    /// Runs `sql` on shard `i` and returns the answer's body; panics with
    /// the server's message when it fails.
    pub fn query(&self, i: usize, sql: &str) -> String {
        self.try_query(i, sql).unwrap_or_else(|e| panic!("shard {i}: {sql}: {e}"))
    }

    /// Runs `sql` on shard `i`: the answer's body, or what went wrong.
    pub fn try_query(&self, i: usize, sql: &str) -> Result<String, String> {
        http_query(self.shard(i).http_port, sql).map(|(body, _)| body)
    }

    /// Stops shard `i` (SIGTERM, then SIGKILL).
    pub fn stop_shard(&self, i: usize) {
        self.shard(i).stop();
    }

    /// Kills shard `i` at once (SIGKILL), as a crash would.
    pub fn kill_shard(&self, i: usize) {
        self.shard(i).kill();
    }

    /// Freezes shard `i` (SIGSTOP): it keeps its sockets open and answers
    /// nothing, as a server stalled on a full disk or in swap would.
    pub fn pause_shard(&self, i: usize) {
        self.shard(i).signal("-STOP");
    }

    /// Lets shard `i` run again after [`Cluster::pause_shard`] (SIGCONT).
    pub fn resume_shard(&self, i: usize) {
        self.shard(i).signal("-CONT");
    }

    /// Starts shard `i` again after [`Cluster::stop_shard`] and waits until it answers.
    pub fn start_shard(&self, i: usize) {
        let Some(bin) = find_binary() else { panic!("the server binary has gone") };
        let shard = self.shard(i);
        shard.run(&bin).and_then(|()| shard.wait_ready()).unwrap_or_else(|e| panic!("restarting shard {i}: {e}"));
    }

    fn shard(&self, i: usize) -> &Shard {
        self.shards.get(i).unwrap_or_else(|| panic!("no shard {i}: the cluster has {}", self.shards.len()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for shard in &self.shards {
            shard.stop();
            shard.release_guardian();
        }
    }
}

impl Shard {
    fn run(&self, bin: &Path) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("stdout.log")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        std::fs::write(self.dir.join("server.pid"), child.id().to_string()).map_err(|e| e.to_string())?;
        if let Ok(mut slot) = self.child.lock() {
            *slot = Some(child);
        }
        Ok(())
    }

    /// Waits until `SELECT 1` answers with this server's display name.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            let exited = self.child.lock().ok().and_then(|mut c| c.as_mut().and_then(|c| c.try_wait().ok().flatten()));
            if let Some(status) = exited {
                return Err(format!("the server exited ({status}): {}", self.log_tail()));
            }
            match http_query(self.http_port, "SELECT 1") {
                Ok((body, Some(name))) if name == self.name && body.trim() == "1" => return Ok(()),
                Ok((_, name)) => {
                    // Someone else's server on our port: ours cannot bind; give up on these ports.
                    self.stop();
                    return Err(format!("port {} answers as {name:?}, not {}", self.http_port, self.name));
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        Err(format!("no answer within {START_TIMEOUT:?}: {last}; {}", self.log_tail()))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("err.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        format!("error log (newest first): {}", tail.join(" | "))
    }

    fn stop(&self) {
        let Some(mut child) = self.child.lock().ok().and_then(|mut c| c.take()) else { return };
        // The guardian must not signal a pid that may be reused once this server has gone.
        let _ = std::fs::remove_file(self.dir.join("server.pid"));
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.lock().ok().and_then(|c| c.as_ref().map(std::process::Child::id));
        let Some(pid) = pid else { panic!("shard {} is not running", self.dir.display()) };
        let status = Command::new("kill").args([signal, &pid.to_string()]).status();
        assert!(status.as_ref().is_ok_and(|s| s.success()), "kill {signal} {pid}: {status:?}");
    }

    fn kill(&self) {
        if let Some(mut child) = self.child.lock().ok().and_then(|mut c| c.take()) {
            let _ = std::fs::remove_file(self.dir.join("server.pid"));
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    // The child is kept in `self.guardian` and waited for in `release_guardian`.
    #[allow(clippy::zombie_processes)]
    fn spawn_guardian(&self) {
        let script = r#"cat >/dev/null
P=$(cat "$LP_DIR/server.pid" 2>/dev/null)
if [ -n "$P" ] && kill -TERM "$P" 2>/dev/null; then
  i=0
  while kill -0 "$P" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$P" 2>/dev/null
fi
rm -rf "$LP_DIR""#;
        let child = Command::new("sh")
            .args(["-c", script])
            .env("LP_DIR", &self.dir)
            .stdin(Stdio::piped())
            // Its own process group: a Ctrl-C aimed at the tests must not take it down before it cleaned up.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = child.unwrap_or_else(|e| panic!("cannot spawn the cleanup guardian: {e}"));
        let Some(stdin) = child.stdin.take() else { panic!("guardian without stdin") };
        if let Ok(mut g) = self.guardian.lock() {
            *g = Some((child, stdin));
        }
    }

    /// Closes the guardian's stdin (it then removes the directory) and waits for it.
    fn release_guardian(&self) {
        if let Some((mut child, stdin)) = self.guardian.lock().ok().and_then(|mut g| g.take()) {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// The URL of database `db` on the cluster [`CLUSTER`] whose shards answer
/// HTTP on `ports`, in shard order.
fn url_of(ports: impl Iterator<Item = u16>, db: &str) -> String {
    let hosts: Vec<String> = ports.map(|port| format!("127.0.0.1:{port}")).collect();
    format!("clickhouse://{}/{db}?cluster={CLUSTER}", hosts.join(","))
}

/// What a [`LosingProxy`] does once it has lost the answer to an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterTheLoss {
    /// Passes every later request and answer on.
    PassOn,
    /// Closes every connection as soon as the client sends on it (nothing
    /// more reaches the servers: they look down) until [`LosingProxy::restore`].
    GoDown,
}

/// Proxies on loopback ports of their own, one per upstream HTTP port, that
/// pass every request and answer, except that the answer to the first
/// RowBinary insert through any of them never reaches the client: the
/// server stores the batch, and the client sees its connection closed
/// (an insert in doubt). Its threads live as long as the test process.
#[derive(Debug)]
pub struct LosingProxy {
    ports: Vec<u16>,
    state: Arc<ProxyState>,
}

#[derive(Debug)]
struct ProxyState {
    then: AfterTheLoss,
    /// Set once an insert has been picked to lose its answer.
    picked: AtomicBool,
    /// Set once that insert's answer has come and been dropped.
    lost: AtomicBool,
    /// Set with `lost` under [`AfterTheLoss::GoDown`], cleared by `restore`.
    down: AtomicBool,
}

impl LosingProxy {
    /// One proxy per port of `upstreams`, sharing one loss.
    pub fn start(upstreams: &[u16], then: AfterTheLoss) -> LosingProxy {
        let state = Arc::new(ProxyState {
            then,
            picked: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            down: AtomicBool::new(false),
        });
        let ports = upstreams.iter().map(|&upstream| proxy(upstream, Arc::clone(&state))).collect();
        LosingProxy { ports, state }
    }

    /// The port in front of `upstreams[i]`.
    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// The URL of database `db` through the proxies, in the order of the
    /// upstreams, on the cluster [`CLUSTER`].
    pub fn url(&self, db: &str) -> String {
        url_of(self.ports.iter().copied(), db)
    }

    /// Whether an insert's answer has been lost (its server stored it).
    pub fn answer_lost(&self) -> bool {
        self.state.lost.load(Ordering::SeqCst)
    }

    /// Passes requests on again after [`AfterTheLoss::GoDown`].
    pub fn restore(&self) {
        self.state.down.store(false, Ordering::SeqCst);
    }
}

/// A proxy to `upstream` on a port of its own (returned), run by threads.
fn proxy(upstream: u16, state: Arc<ProxyState>) -> u16 {
    use std::io::Write as _;
    use std::net::{Shutdown, TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("cannot bind a proxy port: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("the proxy's port: {e}"));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
            let (Ok(mut from_client), Ok(mut to_server)) = (client.try_clone(), server.try_clone()) else { continue };
            // Set once this connection carried the insert whose answer is to be lost.
            let losing = Arc::new(AtomicBool::new(false));
            let (state_up, losing_up) = (Arc::clone(&state), Arc::clone(&losing));
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n @ 1..) = from_client.read(&mut buf) {
                    if state_up.down.load(Ordering::SeqCst) {
                        let _ = from_client.shutdown(Shutdown::Both);
                        let _ = to_server.shutdown(Shutdown::Both);
                        return;
                    }
                    if buf[..n].windows(9).any(|w| w == b"RowBinary") && !state_up.picked.swap(true, Ordering::SeqCst) {
                        losing_up.store(true, Ordering::SeqCst);
                    }
                    if to_server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let state = Arc::clone(&state);
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n @ 1..) = from_server.read(&mut buf) {
                    if losing.load(Ordering::SeqCst) {
                        // The server answered (the insert is stored): the client hears nothing.
                        if state.then == AfterTheLoss::GoDown {
                            state.down.store(true, Ordering::SeqCst);
                        }
                        state.lost.store(true, Ordering::SeqCst);
                        let _ = to_client.shutdown(Shutdown::Both);
                        return;
                    }
                    if state.down.load(Ordering::SeqCst) || to_client.write_all(&buf[..n]).is_err() {
                        let _ = to_client.shutdown(Shutdown::Both);
                        return;
                    }
                }
            });
        }
    });
    port
}

/// `SELECT`s over HTTP: the body and the server's display name, or the error.
fn http_query(port: u16, sql: &str) -> Result<(String, Option<String>), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent.post(&format!("http://127.0.0.1:{port}/")).send(sql).map_err(|e| e.to_string())?;
    let name =
        response.headers().get("X-ClickHouse-Server-Display-Name").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = response.status();
    let mut body = String::new();
    response.body_mut().as_reader().read_to_string(&mut body).map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", body.trim()));
    }
    Ok((body, name))
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
      <max_memory_usage_for_all_queries>4000000000</max_memory_usage_for_all_queries>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#;

/// Server `i`'s configuration; `ports` are every server's (HTTP, native) ports.
fn config(dir: &Path, name: &str, i: usize, ports: &[(u16, u16)]) -> String {
    let d = dir.display();
    let (http, tcp) = ports[i];
    let shards: String = ports
        .iter()
        .map(|(_, tcp)| format!("<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>"))
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/err.log</errorlog><console>0</console></logger>
  <display_name>{name}</display_name>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <remote_servers><{CLUSTER}>{shards}</{CLUSTER}></remote_servers>
</yandex>
"#
    )
}

fn find_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os(BIN_ENV).filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let packaged = PathBuf::from("/usr/sbin/clickhouse-server");
    if packaged.is_file() {
        return Some(packaged);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("clickhouse-server"))
        .find(|p| p.is_file())
}

fn binary_or_skip() -> Option<PathBuf> {
    let Some(bin) = find_binary() else {
        let reason = format!(
            "no clickhouse-server binary found in ${BIN_ENV}, /usr/sbin or PATH. Install it \
             (apt-get install clickhouse-server) to run the ClickHouse tests."
        );
        if in_ci() {
            panic!("CI is set, so a missing ClickHouse is a failure: {reason}");
        }
        loud_skip("ClickHouse", &reason);
        return None;
    };
    Some(bin)
}

/// The Python that runs a current ClickHouse engine in-process (`chdb-core`
/// from PyPI), for checking the crate's statements against a current
/// release: `$LOG_PANEL_CHDB_PYTHON`, else `python3`. `None` means: skip
/// (the reason was printed); under `CI` a Python without `chdb` is a
/// failure (`.ci/run` installs it).
pub fn current_engine_python() -> Option<PathBuf> {
    let python = std::env::var_os(CHDB_PYTHON_ENV).filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
    let works = Command::new(&python)
        .args(["-c", "import chdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        return Some(PathBuf::from(python));
    }
    let reason = format!(
        "{} cannot import chdb. Install it (python3 -m pip install chdb-core) or name a Python that has it \
         in ${CHDB_PYTHON_ENV} to check the statements on a current ClickHouse.",
        Path::new(&python).display()
    );
    if in_ci() {
        panic!("CI is set, so a missing current engine is a failure: {reason}");
    }
    loud_skip("ClickHouse, current release", &reason);
    None
}
