//! A SQLite database's files, for tests that delete or replace one under a
//! running reader.

use std::path::{Path, PathBuf};

/// The files of the database at `path`: itself, its write-ahead log
/// (`-wal`) and its shared memory (`-shm`).
pub fn files(path: &Path) -> [PathBuf; 3] {
    ["", "-wal", "-shm"].map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Deletes the database at `path` with its other files, those that exist.
pub fn delete(path: &Path) {
    for file in files(path) {
        if file.exists() {
            if let Err(e) = std::fs::remove_file(&file) {
                panic!("deleting {}: {e}", file.display());
            }
        }
    }
}
