//! The process environment log-panel reads, in one place: the variable names,
//! and where the configuration file is found. The library (`log_panel::init`)
//! and the `log-panel` command both find their configuration here, so they
//! always agree on which file and which database.

use std::path::{Path, PathBuf};

use crate::{Database, DatabaseError};

/// Names the configuration file (which must then exist).
pub const CONFIG_ENV: &str = "LOG_PANEL_CONFIG";
/// The configuration file looked for in the working directory when [`CONFIG_ENV`] is unset.
pub const CONFIG_FILE: &str = "log_panel.toml";
/// Overrides the configuration's `database` (a path or URL).
pub const DATABASE_ENV: &str = "LOG_PANEL_DATABASE_URL";
/// Overrides the configuration's `filter.directives`.
pub const FILTER_ENV: &str = "LOG_PANEL_FILTER";
/// The filter when neither [`FILTER_ENV`] nor the configuration sets one.
pub const RUST_LOG_ENV: &str = "RUST_LOG";
/// The web panel's bearer token for `log-panel serve` when `--token` is not given.
pub const WEB_TOKEN_ENV: &str = "LOG_PANEL_WEB_TOKEN";

/// A configuration file that was found, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigFile {
    /// Where it was found.
    pub path: PathBuf,
    /// Its contents (TOML; the schema is `log_panel::Config`).
    pub text: String,
}

/// A configuration file that was named or found but cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("{}: cannot read the file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The file's `database` names no database.
    #[error("{}, key `database`: {source}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: DatabaseError,
    },
}

/// The configuration file, found the way `log_panel::init()` finds it: the
/// file named by [`CONFIG_ENV`] (which must exist), else [`CONFIG_FILE`] in
/// the working directory if it exists, else `None` (the defaults).
pub fn config_file() -> Result<Option<ConfigFile>, ConfigFileError> {
    let path = match std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None if Path::new(CONFIG_FILE).is_file() => PathBuf::from(CONFIG_FILE),
        None => return Ok(None),
    };
    ConfigFile::read(path).map(Some)
}

/// [`DATABASE_ENV`], parsed; `None` when unset or empty.
pub fn database_from_env() -> Result<Option<Database>, DatabaseError> {
    std::env::var(DATABASE_ENV).ok().filter(|v| !v.is_empty()).map(|v| Database::parse(&v)).transpose()
}

impl ConfigFile {
    /// Reads the file at `path`.
    pub fn read(path: impl Into<PathBuf>) -> Result<ConfigFile, ConfigFileError> {
        let path = path.into();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(ConfigFile { path, text }),
            Err(source) => Err(ConfigFileError::Read { path, source }),
        }
    }

    /// The file's `database` key alone, parsed; `None` when the file has
    /// none. For readers that need where the records are and nothing else of
    /// the writer's configuration.
    pub fn database(&self) -> Result<Option<Database>, ConfigFileError> {
        let table: toml::Table = self.text.parse().map_err(|e: toml::de::Error| ConfigFileError::Syntax {
            path: self.path.clone(),
            message: e.message().to_owned(),
        })?;
        let Some(value) = table.get("database") else { return Ok(None) };
        let text = value.as_str().ok_or_else(|| ConfigFileError::Syntax {
            path: self.path.clone(),
            message: "`database` is not a string".to_owned(),
        })?;
        Database::parse(text).map(Some).map_err(|source| ConfigFileError::Database { path: self.path.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ConfigFile {
        ConfigFile { path: PathBuf::from("log_panel.toml"), text: text.to_owned() }
    }

    #[test]
    fn the_database_key_alone() {
        let db = file("app = \"x\"\ndatabase = \"sqlite:logs/a.db\"\n[batch]\nsize = 5\n").database();
        assert_eq!(db.ok().flatten(), Some(Database::Sqlite("logs/a.db".into())));
        assert!(matches!(file("[batch]\nsize = 5\n").database(), Ok(None)));
        let e = file("database = \"mysql://x/y\"\n").database().err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("log_panel.toml, key `database`: unknown scheme `mysql`: use a SQLite file path, a sqlite: URL, a postgres:// or a clickhouse:// URL"));
        assert!(matches!(file("database = 3\n").database(), Err(ConfigFileError::Syntax { .. })));
        assert!(matches!(file("database = \n").database(), Err(ConfigFileError::Syntax { .. })));
    }

    #[test]
    fn a_missing_file_names_itself() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope.toml");
        let e = ConfigFile::read(&missing).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with(&format!("{}: cannot read the file: ", missing.display())), "{e}");
    }
}
