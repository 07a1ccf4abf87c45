//! [`Builder`]: programmatic configuration, and the bridge from [`Config`].

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log_panel_core::{Level, Origin, Sink};
use log_panel_database::env::{database_from_env, DATABASE_ENV, FILTER_ENV, RUST_LOG_ENV};
use log_panel_database::{open_sink, Database, OpenError, SinkOptions};

use crate::alerts::{AlertCounters, AlertEvent, Alerts, Callback, WebhookConfig, WebhookSender, Webhooks};
use crate::config::{validate_directives, Config, ConfigError, FilterConfig, Overflow};
use crate::console::Console;
use crate::global::{self, Guard};
use crate::ignore::IgnoreRules;
use crate::logger::Logger;
use crate::spool::SpoolLimits;
use crate::stats::Counters;
use crate::writer::{SpoolSettings, Writer, WriterSettings};
use crate::{Error, Pipeline};

/// Configures and starts log-panel.
///
/// ```
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let pipeline = log_panel::builder()
///     .database(dir.path().join("app.db"))
///     .app("billing")
///     .filter("info,billing::db=debug")
///     .ignore_prefix("hyper")
///     .batch_size(500)
///     .flush_interval(Duration::from_millis(500))
///     .build()?;
/// log::warn!(logger: pipeline, "disk almost full");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct Builder {
    config: Config,
    sink: Option<Box<dyn Sink>>,
    callbacks: Vec<Callback>,
    /// The first value a method refused (a zero where the key's type is non-zero),
    /// returned by `build`/`init`, so that the methods chain without `Result`s.
    refused: Option<ConfigError>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("sink", &self.sink.as_ref().map(|s| s.describe())).finish_non_exhaustive()
    }
}

impl Builder {
    /// Defaults: SQLite file `log_panel.db` in the working directory, level INFO.
    pub fn new() -> Builder {
        Builder::from_config(Config::default())
    }

    /// Starts from a parsed configuration.
    pub fn from_config(config: Config) -> Builder {
        Builder { config, sink: None, callbacks: Vec::new(), refused: None }
    }

    /// What [`init`](crate::init) uses: the file in `$LOG_PANEL_CONFIG`, else
    /// `./log_panel.toml` if present, else the defaults; then
    /// `$LOG_PANEL_DATABASE_URL` and `$LOG_PANEL_FILTER` override `database`
    /// and `filter.directives` when set. `$RUST_LOG` is the filter when
    /// neither `$LOG_PANEL_FILTER` nor the file changes `filter.directives`
    /// from its default (`info`).
    pub fn from_env() -> Result<Builder, Error> {
        let mut config = Config::discover()?.unwrap_or_default();
        if let Some(database) = database_from_env().map_err(|e| env_error(DATABASE_ENV, e.to_string()))? {
            config.database = database;
        }
        if let Some(filter) = filter_from_env(FILTER_ENV)? {
            config.filter.directives = filter;
        } else if config.filter.directives == FilterConfig::default().directives {
            // A user's first try is RUST_LOG; it counts when nothing more specific says otherwise.
            if let Some(filter) = filter_from_env(RUST_LOG_ENV)? {
                config.filter.directives = filter;
            }
        }
        Ok(Builder::from_config(config))
    }

    /// The SQLite file (or `sqlite:` / `sqlite://path`), or a `postgres://` /
    /// `postgresql://` URL (with the `postgres` feature), parsed as
    /// [`Database`]; `build`/`init` return a string that names no database.
    pub fn database(mut self, path_or_url: impl AsRef<Path>) -> Builder {
        let path = path_or_url.as_ref();
        let parsed = match path.to_str() {
            Some(text) => Database::parse(text),
            None => Ok(Database::sqlite_file(path)),
        };
        match parsed {
            Ok(database) => self.config.database = database,
            Err(e) => self.refuse("database", e.to_string()),
        }
        self
    }

    /// Stores into PostgreSQL at `url` (`postgres://user:password@host/db`):
    /// the same as [`database`](Builder::database) with a URL. The password
    /// never appears in errors or diagnostics.
    #[cfg(feature = "postgres")]
    pub fn postgres(self, url: impl Into<String>) -> Builder {
        self.database(url.into())
    }

    /// Whether `build`/`init` fail when a PostgreSQL database cannot be
    /// reached (default false: start disconnected; the writer retries,
    /// spools meanwhile, and `stats().storage_down_since` shows the outage).
    pub fn database_required(mut self, required: bool) -> Builder {
        self.config.database_required = required;
        self
    }

    /// Stores into a sink of your own instead of `database`.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Builder {
        self.sink = Some(Box::new(sink));
        self
    }

    /// The application name stored on every row (default: the executable's name).
    pub fn app(mut self, name: impl Into<String>) -> Builder {
        self.config.app = Some(name.into());
        self
    }

    /// RUST_LOG-style directives, e.g. `"info,my_app::db=debug"`.
    pub fn filter(mut self, directives: impl Into<String>) -> Builder {
        self.config.filter.directives = directives.into();
        self
    }

    /// Shorthand for a single global level, e.g. `.level(log::LevelFilter::Debug)`.
    pub fn level(self, level: log::LevelFilter) -> Builder {
        let directive = level.as_str().to_ascii_lowercase();
        self.filter(directive)
    }

    /// Ignores a logger and all its `::` children (`hyper` ignores `hyper::client`, not `hyperx`).
    pub fn ignore_prefix(mut self, prefix: impl Into<String>) -> Builder {
        self.config.filter.ignore_prefixes.push(prefix.into());
        self
    }

    /// Ignores exactly this logger; its children are still stored.
    pub fn ignore_logger(mut self, name: impl Into<String>) -> Builder {
        self.config.filter.ignore_loggers.push(name.into());
        self
    }

    /// Ignores records whose message contains `substring`.
    pub fn ignore_message(mut self, substring: impl Into<String>) -> Builder {
        self.config.filter.ignore_messages.push(substring.into());
        self
    }

    /// Capacity of the queue in records (at least 1). Under `block`, callers
    /// wait while it is full (at most [`block_timeout`](Builder::block_timeout)).
    pub fn queue_capacity(mut self, records: usize) -> Builder {
        if let Some(records) = self.non_zero("queue.capacity", NonZeroUsize::new(records)) {
            self.config.queue.capacity = records;
        }
        self
    }

    /// What a logging call does when the queue is full (default: block).
    pub fn overflow(mut self, policy: Overflow) -> Builder {
        self.config.queue.overflow = policy;
        self
    }

    /// The longest a blocking logging call waits for room in the queue
    /// (`queue.block_timeout_ms`, default 5 s, at least 1 ms). After such a
    /// wait its record is counted lost (`stats().timed_out`), and calls that
    /// find the queue full give up at once until the writer takes records
    /// again. See `docs/reliability.md`.
    pub fn block_timeout(mut self, timeout: Duration) -> Builder {
        let millis = NonZeroU64::new(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        if let Some(millis) = self.non_zero("queue.block_timeout_ms", millis) {
            self.config.queue.block_timeout_ms = millis;
        }
        self
    }

    /// Spool directory (default: `<database file>.spool`, or `log_panel.spool`).
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.config.spool.dir = Some(dir.into());
        self
    }

    /// Spool after storage has been failing this long (default 1 s).
    pub fn spool_after(mut self, after: Duration) -> Builder {
        self.config.spool.after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Turns the spool off: records still failing at the shutdown deadline
    /// are then lost (and counted).
    pub fn without_spool(mut self) -> Builder {
        self.config.spool.enabled = false;
        self
    }

    /// Messages and string values longer than this are cut (default 1 MiB, at least 64).
    pub fn max_field_bytes(mut self, bytes: usize) -> Builder {
        self.config.limits.max_field_bytes = bytes;
        self
    }

    /// How long shutdown waits for failing storage before spooling (default 10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.config.shutdown.timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Also prints each record to stderr (`time LEVEL logger: message
    /// {fields}`), from the writer thread once the record is stored, so the
    /// caller never waits on the terminal (default false; key `console`).
    pub fn console(mut self, on: bool) -> Builder {
        self.config.console = on;
        self
    }

    /// Whether [`init`](Builder::init) installs the panic hook that stores a
    /// panic as an ERROR record and flushes (default true).
    pub fn panic_hook(mut self, install: bool) -> Builder {
        self.config.shutdown.panic_hook = install;
        self
    }

    /// Deletes records older than `days` days while the writer is idle
    /// (`retention.days`; `0`, the default, keeps them forever).
    pub fn retention_days(mut self, days: u64) -> Builder {
        self.config.retention.days = days;
        self
    }

    /// Context keys registered with SQLite (`index.context_keys`, default
    /// `["request_id"]`), replacing the list. SQLite indexes every top-level
    /// key, so this list does not choose what is indexed.
    pub fn index_context_keys<I, S>(mut self, keys: I) -> Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.index.context_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Write a batch once this many records are pending.
    pub fn batch_size(mut self, records: usize) -> Builder {
        if let Some(records) = self.non_zero("batch.size", NonZeroUsize::new(records)) {
            self.config.batch.size = records;
        }
        self
    }

    /// Write at once when a record at or above `level` arrives (`None` disables).
    pub fn flush_level(mut self, level: Option<Level>) -> Builder {
        self.config.batch.flush_level = level;
        self
    }

    /// Write when the oldest pending record is this old, even if nothing else arrives.
    pub fn flush_interval(mut self, interval: Duration) -> Builder {
        let millis = NonZeroU64::new(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX));
        if let Some(millis) = self.non_zero("batch.flush_interval_ms", millis) {
            self.config.batch.flush_interval_ms = millis;
        }
        self
    }

    /// Sets the alert threshold of `level`: this many records of exactly that
    /// level from one logger within the window fire the
    /// [`on_alert`](Builder::on_alert) callbacks. `None` or `Some(0)`
    /// disables the level. Defaults: WARN 1, ERROR 1, others off.
    pub fn alert_threshold(mut self, level: Level, count: Option<u32>) -> Builder {
        self.config.alerts.set(level, count);
        self
    }

    /// The sliding window alert thresholds are counted over (default one hour).
    pub fn alert_window(mut self, window: Duration) -> Builder {
        self.config.alerts.window = window;
        self
    }

    /// Registers a callback run when a logger crosses a threshold. Several
    /// may be registered; each event goes to each, in order.
    ///
    /// Callbacks run on the `log-panel-alerts` thread, after the records
    /// are committed. A panic is caught and counted
    /// ([`Pipeline::alert_stats`]); records the callback logs are stored but
    /// not counted toward thresholds. See `docs/alerts.md`.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use log_panel::Level;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (tx, events) = mpsc::channel();
    /// let pipeline = log_panel::builder()
    ///     .database(dir.path().join("app.db"))
    ///     .alert_threshold(Level::Error, Some(2))
    ///     .on_alert(move |event| {
    ///         // A real application would post to a webhook or page someone.
    ///         let _ = tx.send(event.to_string());
    ///     })
    ///     .build()?;
    /// log::error!(logger: pipeline, target: "billing", "payment failed");
    /// log::error!(logger: pipeline, target: "billing", "payment failed again");
    /// drop(pipeline); // commits, and returns once the callbacks have run
    /// let event = events.try_recv()?;
    /// assert!(event.starts_with("ERROR threshold 2 reached by billing: 2 records"), "{event}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_alert<F>(mut self, callback: F) -> Builder
    where
        F: FnMut(&AlertEvent) + Send + 'static,
    {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Posts every alert event to a webhook, as [`on_alert`](Builder::on_alert)
    /// callbacks get them (the same as a `[[alerts.webhooks]]` entry). The
    /// post happens on a thread of the webhook's own, with a timeout and
    /// retries; a slow or dead receiver never delays logging, storage or the
    /// other callbacks. Checked by `build`/`init` (URL, headers, retries).
    ///
    /// ```
    /// use std::time::Duration;
    /// use log_panel::{Level, WebhookConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pipeline = log_panel::builder()
    ///     .database(dir.path().join("app.db"))
    ///     .alert_threshold(Level::Error, Some(5))
    ///     .webhook(WebhookConfig::json("http://alerts.internal:9000/log-panel").with_timeout(Duration::from_secs(2)))
    ///     .build()?;
    /// # drop(pipeline);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn webhook(mut self, webhook: WebhookConfig) -> Builder {
        self.config.alerts.webhooks.push(webhook);
        self
    }

    /// Builds and installs the pipeline as the global logger. Returns a guard
    /// that drains, commits and stops everything when dropped.
    ///
    /// A second `init`, or one while another logger is installed, returns
    /// [`Error::AlreadyInitialized`] before it opens or creates a database or
    /// starts a thread. So does an invalid value. When the storage cannot be
    /// opened the error is returned and nothing runs, but log-panel keeps
    /// `log`'s global logger slot (records are dropped quietly, as before
    /// `init`), so a later `init` can try again.
    pub fn init(self) -> Result<Guard, Error> {
        self.install(true)
    }

    /// Builds and installs the global pipeline for [`tracing::layer`](crate::tracing::layer),
    /// leaving `log`'s logger slot free: for applications whose subscriber
    /// installs `tracing-log`'s `LogTracer` (`tracing_subscriber`'s `init()`
    /// does, with its default features), so that `log` records reach the
    /// pipeline as tracing events. [`flush`](crate::flush), [`shutdown`](crate::shutdown)
    /// and the returned guard work as with [`init`](Builder::init).
    ///
    /// Fails (starting nothing) if a global pipeline is already installed.
    #[cfg(feature = "tracing")]
    pub fn init_for_tracing(self) -> Result<Guard, Error> {
        self.install(false)
    }

    fn install(self, as_log_logger: bool) -> Result<Guard, Error> {
        let valid = self.validate();
        global::install(as_log_logger, self.config.shutdown.panic_hook, valid, || self.build())
    }

    /// Opens the storage and starts the writer; the returned [`Pipeline`] is not
    /// installed as the global logger (see [`Builder::init`]).
    ///
    /// If the global `log::max_level()` is below the filter's most verbose
    /// level, it is raised so that the `log` macros reach the pipeline.
    pub fn build(self) -> Result<Pipeline, Error> {
        self.validate()?;
        let Builder { config, sink, mut callbacks, .. } = self;
        let spool = config.spool.enabled.then(|| SpoolSettings {
            dir: config.spool.dir.clone().unwrap_or_else(|| default_spool_dir(sink.is_some(), &config.database)),
            after: Duration::from_millis(config.spool.after_ms),
            limits: SpoolLimits {
                max_bytes: config.spool.max_mb.get().saturating_mul(1024 * 1024),
                max_files: crate::spool::MAX_FILES,
            },
        });
        let max_held_bytes = config.spool.max_pending_mb.get().saturating_mul(1024 * 1024);
        let filter = env_filter::Builder::new().parse(&config.filter.directives).build();
        let sink = match sink {
            Some(sink) => sink,
            None => open_sink(&config.database, &sink_options(&config)).map_err(|e| match e {
                e @ OpenError::NotEnabled { .. } => Error::UnsupportedDatabase(e),
                OpenError::Storage { database, source } => Error::Storage { storage: database, source },
                other => Error::Storage { storage: config.database.to_string(), source: Box::new(other) },
            })?,
        };
        let sink: Box<dyn Sink> = if config.console { Box::new(Console::new(sink)) } else { sink };
        let origin = Origin::new(
            config.app.clone().unwrap_or_else(default_app_name),
            gethostname::gethostname().to_string_lossy().into_owned(),
            std::process::id(),
        );
        let storage = sink.describe();
        let counters = Arc::new(Counters::default());
        let (tx, rx) = crossbeam_channel::bounded(config.queue.capacity.get());
        let settings = WriterSettings {
            policy: config.batch.policy(),
            capacity: config.queue.capacity.get(),
            spool,
            max_held_bytes,
        };
        let alert_counters = Arc::new(AlertCounters::default());
        let from = WebhookSender { app: origin.app.clone(), host: origin.host.clone(), pid: origin.pid };
        if let Some(mut webhooks) =
            Webhooks::start(&config.alerts.webhooks, &from, &alert_counters).map_err(Error::Spawn)?
        {
            callbacks.push(Box::new(move |event: &AlertEvent| webhooks.notify(event)));
        }
        let alerts = Alerts::start(&config.alerts, callbacks, Arc::clone(&alert_counters)).map_err(Error::Spawn)?;
        let writer = Writer::new(rx, sink, settings, origin, Arc::clone(&counters)).with_alerts(alerts);
        let handle = std::thread::Builder::new()
            .name("log-panel-writer".into())
            .spawn(move || writer.run())
            .map_err(Error::Spawn)?;
        raise_max_level(filter.filter());
        Ok(Pipeline {
            logger: Logger {
                filter,
                ignore: IgnoreRules::of(&config.filter),
                tx,
                closed: AtomicBool::new(false),
                counters,
                overflow: config.queue.overflow,
                max_field_bytes: config.limits.max_field_bytes,
                block_timeout: Duration::from_millis(config.queue.block_timeout_ms.get()),
            },
            writer: Mutex::new(Some(handle)),
            shutdown_timeout: Duration::from_millis(config.shutdown.timeout_ms),
            alerts: alert_counters,
            storage,
        })
    }

    /// Checks every value without opening anything: what [`build`](Builder::build)
    /// refuses before it touches storage, and what [`init`](Builder::init)
    /// checks before it claims `log`'s global logger.
    fn validate(&self) -> Result<(), Error> {
        if let Some(refused) = &self.refused {
            return Err(Error::Config(refused.clone()));
        }
        Ok(self.config.validate()?)
    }

    /// `value`, or `None` after noting that `key` refused a zero.
    fn non_zero<N>(&mut self, key: &str, value: Option<N>) -> Option<N> {
        if value.is_none() {
            self.refuse(key, "must be at least 1".into());
        }
        value
    }

    /// Notes the first value a method refused, for `build`/`init` to return.
    fn refuse(&mut self, key: &str, message: String) {
        if self.refused.is_none() {
            self.refused = Some(ConfigError::new(None, None, Some(key.to_owned()), message));
        }
    }
}

/// The directives in environment variable `name`, validated; `None` when unset or blank.
fn filter_from_env(name: &str) -> Result<Option<String>, Error> {
    let Some(filter) = std::env::var(name).ok().filter(|v| !v.is_empty()) else { return Ok(None) };
    validate_directives(&filter).map_err(|message| env_error(name, message))?;
    Ok(Some(filter))
}

/// A bad value of environment variable `name`.
fn env_error(name: &str, message: String) -> ConfigError {
    ConfigError::new(None, None, Some(name.to_owned()), message)
}

/// How the configuration opens the writer's sink.
fn sink_options(config: &Config) -> SinkOptions {
    let mut options = SinkOptions::default();
    options.required = config.database_required;
    options.retention =
        (config.retention.days > 0).then(|| Duration::from_secs(config.retention.days.saturating_mul(86_400)));
    options.index_keys.clone_from(&config.index.context_keys);
    options
}

/// `<database file>.spool` beside a SQLite file; `log_panel.spool` for a
/// custom sink or a server database.
fn default_spool_dir(custom_sink: bool, database: &Database) -> PathBuf {
    match database.sqlite_path() {
        Some(file) if !custom_sink => {
            let mut spool = file.as_os_str().to_owned();
            spool.push(".spool");
            PathBuf::from(spool)
        }
        _ => PathBuf::from("log_panel.spool"),
    }
}

fn default_app_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".to_owned())
}

/// Raises `log`'s global maximum level to `level` if it is lower. Under a
/// lock: two pipelines built at once (tests do) must not interleave the check
/// and the set, or the lower of their levels can win and the other pipeline's
/// more verbose records never reach it.
pub(crate) fn raise_max_level(level: log::LevelFilter) {
    static RAISING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = RAISING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if log::max_level() < level {
        log::set_max_level(level);
    }
}
