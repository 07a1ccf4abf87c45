//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod receiver;

/// A temp dir with a database path inside it.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempDb {
    pub fn new() -> TempDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        TempDb { dir, path }
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }

    pub fn count(&self, sql_where: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM log_records WHERE {sql_where}");
        self.conn().query_row(&sql, [], |r| r.get(0)).unwrap()
    }

    pub fn messages(&self) -> Vec<String> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT message FROM log_records ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Long enough for the writer to act on a record already queued, on a loaded CI machine.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// Logs `per_thread` records from each of `threads` threads at once through
/// `panel`, each with key-values `t` (its thread) and `seq` (0, 1, …), so the
/// stored rows show whether any was lost, duplicated or reordered.
pub fn log_from_threads(panel: &log_panel::Pipeline, threads: u32, per_thread: u32) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for seq in 0..per_thread {
                    log::info!(logger: panel, t = t, seq = seq; "record {}", seq);
                }
            });
        }
    });
}
