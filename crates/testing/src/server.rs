//! What the throwaway database servers of the tests share: whether CI runs
//! (a missing server is then a failure), the loud skip message, free ports.

use std::io::Write;

/// Whether the `CI` environment variable says we run in CI.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Prints a message that cannot be missed in test output: written to the
/// stderr handle directly, which the test harness does not capture (it
/// captures only the `print!` family), so it shows for passing tests too.
/// `storage` names the server skipped (`PostgreSQL`, `ClickHouse`).
pub fn loud_skip(storage: &str, reason: &str) {
    let banner = "=".repeat(78);
    let _ = writeln!(std::io::stderr(), "\n{banner}\nSKIPPED ({storage}): {reason}\n{banner}");
}

/// Nanoseconds since the epoch, to make directory and database names unique across runs.
#[cfg(any(feature = "postgres", feature = "clickhouse"))]
pub(crate) fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Asks the kernel for a free loopback port (it may be taken again before use; callers retry).
#[cfg(any(feature = "postgres", feature = "clickhouse"))]
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}
