//! log-panel's configuration: the TOML file (`log_panel.toml` or
//! `$LOG_PANEL_CONFIG`, found by `log_panel_database::env`) and its typed
//! form. Unknown keys are errors, and every error names the key and the line.
//!
//! A crate of its own, without the writer's runtime, so that the `log-panel`
//! command reads the same file with the same checks as the library
//! (`log_panel::Config` is this crate's [`Config`]). `filter.directives` is
//! checked by [`validate_directives`], which refuses what the writer's
//! `env_filter` refuses without depending on it.

// On docs.rs (see [package.metadata.docs.rs]): show which feature each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::collections::BTreeMap;
use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use log_panel_core::{parse_level, BatchPolicy, Level};
pub use log_panel_database::env::{CONFIG_ENV, CONFIG_FILE};
pub use log_panel_database::{Database, DEFAULT_DATABASE};

use log_panel_database::env::{ConfigFile, ConfigFileError};

mod alert_config;
mod directives;
mod webhook_config;

pub use directives::validate_directives;

pub use alert_config::{AlertConfig, DEFAULT_WINDOW};
pub use webhook_config::{WebhookConfig, WebhookFormat};

/// The whole configuration. Every field has a default, so an empty file is valid.
///
/// ```
/// use log_panel_config::Config;
///
/// let cfg = Config::from_toml_str(r#"
/// app = "billing"
/// database = "logs/app.db"
///
/// [filter]
/// directives = "info,billing::db=debug"
/// ignore_prefixes = ["hyper"]
///
/// [batch]
/// size = 500
/// flush_level = "error"
/// flush_interval_ms = 1000
/// "#, None)?;
/// assert_eq!(cfg.app.as_deref(), Some("billing"));
/// assert_eq!(cfg.batch.size.get(), 500);
/// # Ok::<(), log_panel_config::ConfigError>(())
/// ```
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Config {
    /// Application name stored on every row; defaults to the executable's name.
    pub app: Option<String>,
    /// Where records go: a SQLite file path (or `sqlite:` / `sqlite://path`),
    /// or a `postgres://` URL when built with the `postgres` feature.
    #[serde(deserialize_with = "database")]
    pub database: Database,
    /// Refuse to start when a server database (PostgreSQL) cannot be reached
    /// (default false: start disconnected, spool, and connect when it is up).
    pub database_required: bool,
    /// What is stored.
    pub filter: FilterConfig,
    /// The queue between callers and the writer.
    pub queue: QueueConfig,
    /// When the writer writes a batch.
    pub batch: BatchConfig,
    /// Where records go while storage is unavailable.
    pub spool: SpoolConfig,
    /// Size limits on captured text.
    pub limits: LimitsConfig,
    /// Shutdown deadline and panic hook.
    pub shutdown: ShutdownConfig,
    /// When a logger's records fire an alert, and where alert events are
    /// posted (`[[alerts.webhooks]]`; see [`AlertConfig`]).
    pub alerts: AlertConfig,
    /// How long records are kept.
    pub retention: RetentionConfig,
    /// Which context keys are indexed for lookups (SQLite).
    pub index: IndexConfig,
    /// How the web panel (`log-panel serve`) judges particular loggers.
    pub panel: PanelConfig,
    /// Also print each record to stderr once it is stored (default false).
    pub console: bool,
}

// By hand so that `{:?}` never shows a password in `database`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app", &self.app)
            .field("database", &self.database)
            .field("database_required", &self.database_required)
            .field("filter", &self.filter)
            .field("queue", &self.queue)
            .field("batch", &self.batch)
            .field("spool", &self.spool)
            .field("limits", &self.limits)
            .field("shutdown", &self.shutdown)
            .field("alerts", &self.alerts)
            .field("retention", &self.retention)
            .field("index", &self.index)
            .field("panel", &self.panel)
            .field("console", &self.console)
            .finish_non_exhaustive()
    }
}

/// `[retention]`: how long records are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RetentionConfig {
    /// Records older than this many days are deleted by the writer, in small
    /// batches while it is idle. `0` (the default) keeps records forever:
    /// deleting stored logs is a choice the user makes (the Python system
    /// deleted after 90 days by default; set `days = 90` for the same).
    pub days: u64,
}

/// `[panel]`: how the web panel served by `log-panel serve` judges loggers.
///
/// ```
/// let cfg = log_panel_config::Config::from_toml_str(r#"
/// [panel.loggers]
/// "api::http" = { error = 50, warn = 200 }
/// "api::auth" = { warn = 1000 }
/// "#, None)?;
/// assert_eq!(cfg.panel.loggers["api::http"].error.map(|n| n.get()), Some(50));
/// assert_eq!(cfg.panel.loggers["api::auth"].error, None);
/// # Ok::<(), log_panel_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PanelConfig {
    /// Slot thresholds of particular loggers and their `::` descendants
    /// (`api::http` covers `api::http::access`, not `api::https`; the
    /// longest name that covers a logger wins), so a noisy logger's normal
    /// rate of errors is not red. Others use `alerts.error` / `.warn`.
    pub loggers: BTreeMap<String, PanelThresholds>,
    /// The link from a record's `trace_id` to a trace viewer, an http(s)
    /// URL with `{trace_id}` (and optionally `{span_id}`), such as
    /// `http://localhost:16686/trace/{trace_id}` (Jaeger); checked by
    /// `log-panel serve`.
    pub trace_url: Option<String>,
}

/// One entry of `[panel.loggers]`: the ERROR and WARN records per hour from
/// which the panel shows a span red or amber (a day's slot: 24 times as
/// many). A count left out is `alerts.error` / `.warn` (1 when those are off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PanelThresholds {
    /// ERROR records that make a span red (at least 1).
    pub error: Option<NonZeroU64>,
    /// WARN records that make a span amber (at least 1).
    pub warn: Option<NonZeroU64>,
}

/// `[index]`: lookups that must not scan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct IndexConfig {
    /// Context keys registered with SQLite. Every top-level key is indexed in a side
    /// table filled while idle (PostgreSQL indexes every key too), so this list does
    /// not choose what is indexed. Each is 1–64 ASCII letters, digits or `_`.
    /// Default: `["request_id"]`.
    #[serde(deserialize_with = "index_keys")]
    pub context_keys: Vec<String>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig { context_keys: vec!["request_id".to_owned()] }
    }
}

fn index_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let keys = Vec::<String>::deserialize(d)?;
    if let Some(bad) =
        keys.iter().find(|k| !(1..=64).contains(&k.len()) || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(serde::de::Error::custom(format!(
            "`{}` cannot be indexed: use 1 to 64 ASCII letters, digits or `_`",
            bad.escape_debug()
        )));
    }
    Ok(keys)
}

/// `[filter]`: which records are stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FilterConfig {
    /// RUST_LOG-style directives, e.g. `"info,my_app::db=debug"`.
    #[serde(deserialize_with = "directives")]
    pub directives: String,
    /// Logger prefixes to ignore, with their `::` children.
    pub ignore_prefixes: Vec<String>,
    /// Exact logger names to ignore (children are still stored).
    pub ignore_loggers: Vec<String>,
    /// Records whose message contains any of these are ignored.
    pub ignore_messages: Vec<String>,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            directives: "info".to_owned(),
            ignore_prefixes: Vec::new(),
            ignore_loggers: Vec::new(),
            ignore_messages: Vec::new(),
        }
    }
}

/// `[queue]`: the bounded channel between logging threads and the writer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct QueueConfig {
    /// Capacity in records (at least 1).
    pub capacity: NonZeroUsize,
    /// What a logging call does when the queue is full.
    pub overflow: Overflow,
    /// The longest a blocking call waits for room in the queue, in
    /// milliseconds (default 5000, at least 1). After such a wait the record
    /// is counted lost (`stats().timed_out`), and until the writer takes
    /// records again, calls that find the queue full give up at once.
    pub block_timeout_ms: NonZeroU64,
}

impl QueueConfig {
    /// The default `block_timeout_ms`: far longer than a full queue takes to
    /// drain while the writer works, far shorter than a health check's
    /// patience with a hung application.
    pub const DEFAULT_BLOCK_TIMEOUT_MS: u64 = 5_000;
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: NonZeroUsize::new(8192).unwrap_or(NonZeroUsize::MIN),
            overflow: Overflow::Block,
            block_timeout_ms: NonZeroU64::new(Self::DEFAULT_BLOCK_TIMEOUT_MS).unwrap_or(NonZeroU64::MIN),
        }
    }
}

/// What a logging call does when the queue is full.
///
/// In TOML: `overflow = "block"`, `overflow = "drop"`, or
/// `overflow = { drop_below = "warn" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Overflow {
    /// The caller waits for room (the default), at most
    /// `queue.block_timeout_ms`; only when the writer takes no records for
    /// that long is a record lost, and counted.
    #[default]
    Block,
    /// The caller never waits: the record is dropped and counted.
    Drop,
    /// Records below this level are dropped when full; records at or above it
    /// wait as under [`Overflow::Block`] — so with `"warn"`, warnings and
    /// errors are never dropped.
    DropBelow(#[serde(deserialize_with = "level")] Level),
}

impl Overflow {
    /// Whether a record of `level` waits for room (rather than being dropped) when the queue is full.
    pub fn blocks(self, level: Level) -> bool {
        match self {
            Overflow::Block => true,
            Overflow::Drop => false,
            Overflow::DropBelow(min) => level <= min,
        }
    }
}

/// `[spool]`: the local spool that keeps records while storage is down.
///
/// Records go to the spool (JSON lines, fsynced per batch) when storage has
/// been failing for `after_ms`, when the records waiting in memory pass
/// `max_pending_mb`, or at shutdown with storage still failing. They are
/// replayed, oldest first, once storage is back — also by the next process.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SpoolConfig {
    /// Spool at all (default true). Without it, records still failing at the
    /// shutdown deadline are lost and counted.
    pub enabled: bool,
    /// Spool directory; default: `<database file>.spool` beside a SQLite
    /// file, else `log_panel.spool` in the working directory.
    pub dir: Option<PathBuf>,
    /// Spool after storage has been failing this long, in milliseconds (default 1000).
    pub after_ms: u64,
    /// Spool when records waiting in memory exceed this many MiB (at least 1).
    /// When the spool cannot take them either, the writer holds no more than
    /// this and leaves records in the queue, so `queue.overflow` applies.
    pub max_pending_mb: NonZeroUsize,
    /// The most the spool directory may hold, in MiB (at least 1); past it,
    /// records stay in memory (see `max_pending_mb`) or are counted as lost.
    pub max_mb: NonZeroU64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            enabled: true,
            dir: None,
            after_ms: 1_000,
            max_pending_mb: NonZeroUsize::new(64).unwrap_or(NonZeroUsize::MIN),
            max_mb: NonZeroU64::new(1024).unwrap_or(NonZeroU64::MIN),
        }
    }
}

/// `[limits]`: size limits applied on capture.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Messages and string values longer than this many bytes are cut at a
    /// character boundary with a marker; the original size is kept (at least 64).
    #[serde(deserialize_with = "field_bytes")]
    pub max_field_bytes: usize,
}

impl LimitsConfig {
    /// The smallest `max_field_bytes`: room for the cut marker and some text.
    pub const MIN_FIELD_BYTES: usize = 64;

    /// The one check of `limits.max_field_bytes`, for the file and for [`Config::validate`].
    fn check_max_field_bytes(n: usize) -> Result<(), String> {
        if n < Self::MIN_FIELD_BYTES {
            return Err(format!("must be at least {}", Self::MIN_FIELD_BYTES));
        }
        Ok(())
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { max_field_bytes: 1024 * 1024 }
    }
}

/// `[shutdown]`: how the end of the process is handled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ShutdownConfig {
    /// How long the guard drop / `shutdown()` keeps retrying failing storage
    /// before spooling what is left, in milliseconds.
    pub timeout_ms: u64,
    /// Install a panic hook (global logger only) that stores the panic as an
    /// ERROR record and flushes before the previous hook runs.
    pub panic_hook: bool,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { timeout_ms: 10_000, panic_hook: true }
    }
}

/// `[batch]`: the batching policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Write once this many records are pending (at least 1).
    pub size: NonZeroUsize,
    /// Write at once on a record at or above this level; `"off"` disables.
    #[serde(deserialize_with = "optional_level")]
    pub flush_level: Option<Level>,
    /// Write when the oldest pending record is this old, in milliseconds (at least 1).
    pub flush_interval_ms: NonZeroU64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        let p = BatchPolicy::default();
        BatchConfig {
            size: NonZeroUsize::new(p.batch_size).unwrap_or(NonZeroUsize::MIN),
            flush_level: p.flush_level,
            flush_interval_ms: NonZeroU64::new(u64::try_from(p.flush_interval.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(NonZeroU64::MIN),
        }
    }
}

impl BatchConfig {
    /// The policy this section describes.
    pub fn policy(&self) -> BatchPolicy {
        BatchPolicy::new(self.size.get(), self.flush_level, Duration::from_millis(self.flush_interval_ms.get()))
    }
}

fn database<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Database, D::Error> {
    let s = String::deserialize(d)?;
    Database::parse(&s).map_err(serde::de::Error::custom)
}

fn level<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
    let s = String::deserialize(d)?;
    parse_level(&s).map_err(serde::de::Error::custom)
}

fn field_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    LimitsConfig::check_max_field_bytes(n).map_err(serde::de::Error::custom)?;
    Ok(n)
}

fn optional_level<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Level>, D::Error> {
    let s = String::deserialize(d)?;
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    parse_level(&s).map(Some).map_err(|e| serde::de::Error::custom(format!("{e}, or off")))
}

fn directives<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    validate_directives(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

/// A configuration error: which file, which line, which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file, when the configuration came from one.
    pub path: Option<PathBuf>,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `batch.size`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}", p.display())?,
            None => f.write_str("configuration")?,
        }
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about `key` (dotted), in the file at `path` and its `line` when known.
    pub fn new(
        path: Option<PathBuf>,
        line: Option<usize>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError { path, line, key, message: message.into() }
    }
}

impl Config {
    /// Parses TOML text; `path` only labels errors.
    pub fn from_toml_str(text: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
        let err = |line, key, message| ConfigError { path: path.map(Path::to_path_buf), line, key, message };
        let de =
            toml::Deserializer::parse(text).map_err(|e| err(line_of(text, e.span()), None, e.message().to_owned()))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let mut key = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().to_owned();
            // Some deserializers report an unknown or missing key at its parent's path; name the key itself.
            let named = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"));
            if let Some(unknown) = named.and_then(|m| m.split('`').next()) {
                if key == "." {
                    key = unknown.to_owned();
                } else if key.rsplit('.').next() != Some(unknown) {
                    key = format!("{key}.{unknown}");
                }
            }
            let key = (key != ".").then_some(key);
            err(line_of(text, inner.span()), key, message)
        })
    }

    /// Checks what the types of the fields cannot say (the directives parse, `limits.max_field_bytes` is at least 64,
    /// `alerts.window_secs` is not zero, each webhook's URL, headers and
    /// retries), with the same checks and messages as the file; for a
    /// configuration changed in code. `init` and `Builder::build` call it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, message: String| ConfigError { path: None, line: None, key: Some(key.to_owned()), message };
        validate_directives(&self.filter.directives).map_err(|m| invalid("filter.directives", m))?;
        LimitsConfig::check_max_field_bytes(self.limits.max_field_bytes)
            .map_err(|m| invalid("limits.max_field_bytes", m))?;
        AlertConfig::check_window(self.alerts.window).map_err(|m| invalid("alerts.window_secs", m))?;
        for (i, hook) in self.alerts.webhooks.iter().enumerate() {
            hook.check().map_err(|(key, m)| invalid(&format!("alerts.webhooks[{i}].{key}"), m))?;
        }
        Ok(())
    }

    /// Reads and parses a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Config::from_found(ConfigFile::read(path))
    }

    /// Finds the configuration the way `log_panel::init()` does
    /// ([`log_panel_database::env::config_file`]: the file named by
    /// `$LOG_PANEL_CONFIG`, which must exist, else `./log_panel.toml` if it
    /// exists), and parses it; `None` means the defaults.
    pub fn discover() -> Result<Option<Config>, ConfigError> {
        log_panel_database::env::config_file().transpose().map(Config::from_found).transpose()
    }

    fn from_found(file: Result<ConfigFile, ConfigFileError>) -> Result<Config, ConfigError> {
        match file {
            Ok(file) => Config::from_toml_str(&file.text, Some(&file.path)),
            Err(ConfigFileError::Read { path, source }) => Err(ConfigError {
                path: Some(path),
                line: None,
                key: None,
                message: format!("cannot read the file: {source}"),
            }),
            Err(other) => Err(ConfigError { path: None, line: None, key: None, message: other.to_string() }),
        }
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> Option<usize> {
    let start = span?.start.min(text.len());
    Some(text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> ConfigError {
        match Config::from_toml_str(text, Some(Path::new("log_panel.toml"))) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::from_toml_str("", None), Ok(Config::default()));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = error("app = \"x\"\n\n[batch]\nsize = 10\nflush_intervl_ms = 5\n");
        assert_eq!(e.key.as_deref(), Some("batch.flush_intervl_ms"));
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("unknown field"), "{e}");
        let top = error("databse = \"x\"\n");
        assert_eq!(top.key.as_deref(), Some("databse"));
        assert_eq!(top.line, Some(1));
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let e = error("[queue]\n# comment\ncapacity = \"big\"\n");
        assert_eq!(e.key.as_deref(), Some("queue.capacity"));
        assert_eq!(e.line, Some(3));
        let shown = e.to_string();
        assert!(shown.starts_with("log_panel.toml, line 3, key `queue.capacity`: invalid type"), "{shown}");
    }

    #[test]
    fn bad_level_names_key_and_line() {
        let e = error("[batch]\nflush_level = \"loud\"\n");
        assert_eq!(e.key.as_deref(), Some("batch.flush_level"));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("unknown level `loud`"), "{e}");
    }

    #[test]
    fn zero_and_bad_directives_are_rejected() {
        let e = error("[batch]\nsize = 0\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("batch.size"), Some(2)));
        let e = error("\n[filter]\ndirectives = \"info,a=loud\"\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("filter.directives"), Some(3)));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = error("app = \"x\"\n[batch\n");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn overflow_policies_parse() {
        let parse = |t: &str| Config::from_toml_str(t, None).map(|c| c.queue.overflow);
        assert_eq!(parse(""), Ok(Overflow::Block));
        assert_eq!(parse("[queue]\noverflow = \"drop\""), Ok(Overflow::Drop));
        assert_eq!(parse("[queue]\noverflow = { drop_below = \"WARN\" }"), Ok(Overflow::DropBelow(Level::Warn)));
        let e = error("[queue]\noverflow = { drop_below = \"loud\" }\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("unknown level `loud`"), "{e}");
        let e = error("[queue]\n\noverflow = \"sometimes\"\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("queue.overflow"), Some(3)));
    }

    #[test]
    fn drop_below_blocks_at_or_above() {
        let p = Overflow::DropBelow(Level::Warn);
        assert!(p.blocks(Level::Error) && p.blocks(Level::Warn));
        assert!(!p.blocks(Level::Info) && !p.blocks(Level::Trace));
        assert!(Overflow::Block.blocks(Level::Trace));
        assert!(!Overflow::Drop.blocks(Level::Error));
    }

    #[test]
    fn spool_limits_shutdown_sections() {
        let c = Config::from_toml_str(
            "[spool]\ndir = \"/tmp/s\"\nafter_ms = 5\n[limits]\nmax_field_bytes = 100\n[shutdown]\npanic_hook = false\n",
            None,
        )
        .unwrap_or_default();
        assert_eq!(c.spool.dir.as_deref(), Some(Path::new("/tmp/s")));
        assert_eq!(c.spool.after_ms, 5);
        assert_eq!(c.limits.max_field_bytes, 100);
        assert!(!c.shutdown.panic_hook);
        let e = error("[limits]\nmax_field_bytes = 10\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("limits.max_field_bytes"), Some(2)));
    }

    #[test]
    fn retention_and_index_sections() {
        let c = Config::from_toml_str(
            "[retention]\ndays = 90\n[index]\ncontext_keys = [\"request_id\", \"user_id\"]\n",
            None,
        )
        .unwrap_or_default();
        assert_eq!(c.retention.days, 90);
        assert_eq!(c.index.context_keys, ["request_id", "user_id"]);
        let d = Config::default();
        assert_eq!((d.retention.days, d.index.context_keys), (0, vec!["request_id".to_owned()]));
        let e = error("[index]\n\ncontext_keys = [\"a'b\"]\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("index.context_keys"), Some(3)));
        let e = error("[retention]\ndays = -1\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("retention.days"), Some(2)));
    }

    #[test]
    fn debug_never_shows_the_database_password() {
        let database = Database::parse("postgres://app:s3cret@db/logs").unwrap_or_default();
        let c = Config { database, ..Config::default() };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret") && shown.contains("postgres://app:***@db/logs"), "{shown}");
    }

    #[test]
    fn alerts_section_parses_counts_off_and_zero() {
        let c = Config::from_toml_str(
            "[alerts]\nerror = 5\nwarning = \"off\"\ninfo = 3\ndebug = 0\nwindow_secs = 60\n",
            None,
        )
        .unwrap_or_default();
        assert_eq!(c.alerts.get(Level::Error), Some(5));
        assert_eq!(c.alerts.get(Level::Warn), None);
        assert_eq!(c.alerts.get(Level::Info), Some(3));
        assert_eq!(c.alerts.get(Level::Debug), None);
        assert_eq!(c.alerts.get(Level::Trace), None);
        assert_eq!(c.alerts.window, Duration::from_secs(60));
        let defaults = Config::default().alerts;
        assert_eq!((defaults.get(Level::Warn), defaults.get(Level::Error)), (Some(1), Some(1)));
        assert_eq!(defaults.get(Level::Info), None);
        assert_eq!(defaults.window, Duration::from_secs(3600));
    }

    #[test]
    fn panel_loggers_parse_and_bad_values_name_key_and_line() {
        let c = Config::from_toml_str(
            "[panel.loggers]\n\"api::http\" = { error = 50, warn = 200 }\n\"api::auth\" = { warn = 9 }\n",
            None,
        )
        .unwrap_or_default();
        let http = c.panel.loggers["api::http"];
        assert_eq!((http.error.map(NonZeroU64::get), http.warn.map(NonZeroU64::get)), (Some(50), Some(200)));
        let auth = c.panel.loggers["api::auth"];
        assert_eq!((auth.error, auth.warn.map(NonZeroU64::get)), (None, Some(9)));
        let e = error("[panel.loggers]\n\"api::http\" = { error = 0 }\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("panel.loggers.api::http.error"), Some(2)), "{e}");
        let e = error("[panel]\nloggers = { api = { eror = 3 } }\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("panel.loggers.api.eror"), Some(2)), "{e}");
        let e = error("[panel.loggers]\n\n\"api\" = { warn = \"many\" }\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("panel.loggers.api.warn"), Some(3)), "{e}");
    }

    #[test]
    fn bad_alert_thresholds_name_key_and_line() {
        let e = error("[alerts]\nerror = -1\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.error"), Some(2)));
        assert!(e.message.contains("negative"), "{e}");
        let e = error("[alerts]\n\nwarn = \"sometimes\"\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.warn"), Some(3)));
        assert!(e.message.contains("invalid threshold `sometimes`"), "{e}");
        let e = error("[alerts]\ninfo = 1.5\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.info"), Some(2)));
        let e = error("[alerts]\nerror = 99999999999\n");
        assert!(e.message.contains("too large"), "{e}");
        let e = error("[alerts]\nwindow_secs = 0\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.window_secs"), Some(2)));
        let e = error("[alerts]\nwindow = 10\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.window"), Some(2)));
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn webhooks_parse_with_defaults() {
        let c = Config::from_toml_str(
            "[[alerts.webhooks]]\nurl = \"http://127.0.0.1:9000/a\"\n\n[[alerts.webhooks]]\nurl = \"http://relay/slack\"\nformat = \"slack\"\nheaders = { Authorization = \"Bearer x\" }\ntimeout_ms = 250\nretries = 0\nbackoff_ms = 10\n",
            None,
        )
        .unwrap_or_default();
        let hooks = &c.alerts.webhooks;
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0], WebhookConfig::json("http://127.0.0.1:9000/a"));
        assert_eq!(
            hooks[1],
            WebhookConfig::slack("http://relay/slack")
                .with_header("Authorization", "Bearer x")
                .with_timeout(Duration::from_millis(250))
                .with_retries(0)
                .with_backoff(Duration::from_millis(10))
        );
        assert!(Config::default().alerts.webhooks.is_empty());
    }

    #[test]
    fn a_bad_clickhouse_url_parameter_names_the_database_key_and_line() {
        let e = error("\n\ndatabase = \"clickhouse://ch1,ch2/logs?cluster=c&silence_ms=2s\"\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("database"), Some(3)), "{e}");
        assert!(e.message.contains("silence_ms must be a positive number of milliseconds, not `2s`"), "{e}");
        let ok = Config::from_toml_str("database = \"clickhouse://ch1/logs?silence_ms=500&timeout_ms=9000\"\n", None);
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn bad_webhooks_name_key_and_line() {
        let e = error("[[alerts.webhooks]]\nurl = \"http://ok/\"\n[[alerts.webhooks]]\n\nurl = \"ftp://x/y\"\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.webhooks[1].url"), Some(5)), "{e}");
        assert!(e.message.contains("is not an http:// or https:// URL"), "{e}");
        let e = error("[[alerts.webhooks]]\nurl = \"http://ok/\"\nformat = \"teams\"\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.webhooks[0].format"), Some(3)), "{e}");
        let e = error("[[alerts.webhooks]]\nurl = \"http://ok/\"\nretries = 11\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.webhooks[0].retries"), Some(3)), "{e}");
        assert!(e.message.contains("more than 10"), "{e}");
        let e = error("[[alerts.webhooks]]\nurl = \"http://ok/\"\nheaders = { \"Bad Name\" = \"v\" }\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.webhooks[0].headers"), Some(3)), "{e}");
        let e = error("[[alerts.webhooks]]\nurl = \"http://ok/\"\ntimeout_ms = 0\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.webhooks[0].timeout_ms"), Some(3)), "{e}");
        let e = error("[[alerts.webhooks]]\nurl = \"http://ok/\"\nretry = 3\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.webhooks[0].retry"), Some(3)), "{e}");
        let e = error("app = \"x\"\n[[alerts.webhooks]]\nformat = \"slack\"\n");
        assert_eq!(e.key.as_deref(), Some("alerts.webhooks[0].url"), "{e}");
        assert!(e.message.contains("missing field `url`"), "{e}");
        let e = error("[alerts]\nwebhook = []\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("alerts.webhook"), Some(2)), "{e}");
    }

    #[test]
    fn off_disables_level_flush() {
        let c = Config::from_toml_str("[batch]\nflush_level = \"OFF\"\n", None).unwrap_or_default();
        assert_eq!(c.batch.flush_level, None);
        assert_eq!(c.batch.policy().flush_level, None);
    }
}
