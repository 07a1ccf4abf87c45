//! The command line: subcommands and the filter flags they share.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use log_panel_query::{FieldMatch, FilterParams, RecordFilter, Timeline, When};

use crate::error::CliError;
use crate::local_time::Clock;

/// Read the logs that log-panel stored.
#[derive(Debug, Parser)]
#[command(name = "log-panel", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    /// SQLite file or postgres:// URL [default: $LOG_PANEL_DATABASE_URL, else `database` of
    /// $LOG_PANEL_CONFIG or ./log_panel.toml, else log_panel.db]
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<String>,
    /// Colours: auto (on a terminal unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Show times in UTC (and read times without an offset as UTC) instead of the local zone.
    #[arg(long, global = true)]
    pub utc: bool,
    /// How long one read may run before it is stopped (500ms, 10s, 2m) [default: 10s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The latest records, oldest first; with -f, new ones as they are committed.
    Tail(TailArgs),
    /// Records matching filters, newest first (or one request's records, in time order).
    Query(QueryArgs),
    /// Logger cards: totals, last hour, and a timeline of coloured cells.
    Stats(StatsArgs),
    /// The most frequent call sites (logger, file, line) in a time window.
    Sites(SitesArgs),
    /// Deletes old records in batches and keeps the aggregates right.
    Prune(PruneArgs),
    /// Recomputes the aggregate tables from the records.
    Rebuild,
    /// Writes every matching record as NDJSON or CSV, page by page.
    Export(ExportArgs),
    /// Brings a database written by an older log-panel to this one's schema (as its writer does).
    Migrate,
    /// Serves the web panel over this database.
    Serve(ServeArgs),
}

impl Command {
    /// The filter of a subcommand that reads records (`None` for the
    /// others), read before the database is opened: a bad flag is a usage
    /// error whatever the database holds.
    pub(crate) fn filter(&self, clock: &Clock) -> Result<Option<RecordFilter>, CliError> {
        let (filter, range) = match self {
            Command::Tail(a) => (&a.filter, RangeArgs::default()),
            Command::Query(a) => (&a.filter, a.range.clone()),
            Command::Export(a) => (&a.filter, a.range.clone()),
            Command::Sites(a) => (&a.filter, RangeArgs { since: Some(a.since.clone()), until: a.until.clone() }),
            _ => return Ok(None),
        };
        filter.to_filter(&range, clock).map(Some)
    }
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; a non-loopback address needs --token or --basic.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub bind: String,
    /// Require this token (`Authorization: Bearer …`, or once as `?token=…`);
    /// default: $LOG_PANEL_WEB_TOKEN (keeps it out of the process list).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Require HTTP basic authentication with these credentials.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub basic: Option<String>,
    /// A logger's own thresholds in records per hour, for it and its `::`
    /// children (`api::http=50` or `api::http=50/200`), over the
    /// configuration's `[panel.loggers]`; repeat for several.
    #[arg(long = "logger-threshold", value_name = "LOGGER=ERRORS[/WARNINGS]", value_parser = parse_logger_threshold)]
    pub logger_thresholds: Vec<LoggerThreshold>,
    /// Link each record's trace id to a trace viewer: an http(s) URL with
    /// `{trace_id}` (and optionally `{span_id}`), e.g.
    /// `http://localhost:16686/trace/{trace_id}`; over `panel.trace_url`.
    #[arg(long, value_name = "TEMPLATE", value_parser = crate::trace::parse_trace_url)]
    pub trace_url: Option<log_panel_web::TraceUrl>,
    /// Lower the panel's scheduling priority by N, as `nice -n N` would
    /// (0–19; 0 keeps it): beside an application writing its logs on the
    /// same host, the panel then takes the CPU the application leaves, so
    /// opening it during an incident does not slow the application's writer.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_NICE, value_parser = clap::value_parser!(u8).range(0..=19))]
    pub nice: u8,
    /// Run at most N of the pages' store reads at once (default: twice the
    /// cores this process may use, at least 4); a request beyond them waits its
    /// turn, up to 10 s, then gets a 503 "The panel is busy".
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub store_calls: Option<u64>,
}

/// `serve --nice`'s default (docs/performance.md, "The panel's priority").
pub(crate) const DEFAULT_NICE: u8 = 10;

/// One `--logger-threshold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoggerThreshold {
    /// The logger (and its `::` children).
    pub logger: String,
    /// ERROR records an hour that make a span red.
    pub errors: u64,
    /// WARN records an hour that make a span amber; the panel's default when absent.
    pub warnings: Option<u64>,
}

/// `LOGGER=ERRORS[/WARNINGS]`, both counts at least 1.
pub(crate) fn parse_logger_threshold(s: &str) -> Result<LoggerThreshold, String> {
    let (logger, counts) =
        s.rsplit_once('=').ok_or_else(|| format!("`{s}`: expected LOGGER=ERRORS or LOGGER=ERRORS/WARNINGS"))?;
    if logger.is_empty() {
        return Err(format!("`{s}`: no logger before `=`"));
    }
    let count = |n: &str| match n.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}`: `{n}` is not a count of at least 1")),
    };
    let (errors, warnings) = match counts.split_once('/') {
        Some((e, w)) => (count(e)?, Some(count(w)?)),
        None => (count(counts)?, None),
    };
    Ok(LoggerThreshold { logger: logger.to_owned(), errors, warnings })
}

/// Refuses any `--grep` (see `renamed_flag` in main.rs for the message).
fn refuse_grep(_: &str) -> Result<String, String> {
    Err("use --text".to_owned())
}

/// Filters shared by every subcommand that reads records, as typed: read
/// into a filter by `FilterParams::to_filter`, as the web panel's URL is.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct FilterArgs {
    /// Exactly this logger; `name::` for the logger and its `::` children.
    #[arg(long, value_name = "NAME")]
    pub logger: Option<String>,
    /// One level: that level and above (`warn` or `warning` = warn and error). A list: exactly
    /// those (`error,info`).
    #[arg(long, value_name = "LEVEL[,LEVEL]")]
    pub level: Option<String>,
    /// Messages containing this text (case-insensitive).
    #[arg(long, value_name = "TEXT", value_parser = non_empty)]
    pub text: Option<String>,
    /// Not a flag: refused with a hint to use `--text`. Declared (hidden) so
    /// that the query argument, which takes words starting with `-`, does
    /// not swallow `--grep` as a search term.
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "", value_parser = refuse_grep)]
    pub grep: Option<String>,
    /// A stored field equal to a value; repeat to AND several.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// Records of this trace: `--context trace_id=ID`, the id checked (32 hex digits).
    #[arg(long, value_name = "TRACE_ID", value_parser = crate::trace::parse_trace)]
    pub trace: Option<FieldMatch>,
    /// Records of this application.
    #[arg(long, value_parser = non_empty)]
    pub app: Option<String>,
    /// Records of this host.
    #[arg(long, value_parser = non_empty)]
    pub host: Option<String>,
    /// Records of this process id.
    #[arg(long)]
    pub pid: Option<String>,
    /// Records logged at this call site: `src/db.rs:42`, or `src/db.rs` for any line (with
    /// --logger, one call site as `sites` lists it).
    #[arg(long, value_name = "FILE:LINE")]
    pub site: Option<String>,
    /// A query (docs/query.md), ANDed with the flags: words, "phrases", key:value, key>=N,
    /// level:warn, logger:api::, -term or NOT, OR, parentheses.
    #[arg(value_name = "QUERY", allow_hyphen_values = true)]
    pub query: Option<String>,
}

impl FilterArgs {
    /// The store filter these flags, `range` and the query describe, read
    /// by [`FilterParams::to_filter`] (the web panel's reader) with
    /// wall-clock times in `clock`'s zone. Any condition that does not parse
    /// is a usage error naming every problem; the parts of the query no
    /// index serves are named on stderr, so a slow answer is not a surprise.
    pub(crate) fn to_filter(&self, range: &RangeArgs, clock: &Clock) -> Result<RecordFilter, CliError> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut params = FilterParams::default();
        params.logger = text(&self.logger);
        params.level = text(&self.level);
        params.text = text(&self.text);
        params.query = text(&self.query);
        params.since = text(&range.since);
        params.until = text(&range.until);
        params.app = text(&self.app);
        params.host = text(&self.host);
        params.pid = text(&self.pid);
        params.site = text(&self.site);
        params.context.clone_from(&self.context);
        let mut f = params.to_filter(|w| clock.place(w)).map_err(CliError::Filter)?;
        // `--trace` is `--context trace_id=ID` with the id checked and lowered by its parser.
        f.fields.extend(self.trace.clone());
        if let Some(note) = crate::language::unindexed_note(&f) {
            eprintln!("log-panel: {note}");
        }
        Ok(f)
    }
}

/// `--read-timeout`: a whole number of milliseconds, seconds or minutes (`500ms`, `10s`, `2m`), at least 1 ms.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("`{s}`: expected a duration such as 500ms, 10s or 2m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("`{s}`: expected a duration such as 500ms, 10s or 2m")),
    };
    if d < Duration::from_millis(1) {
        return Err(format!("`{s}`: at least 1ms"));
    }
    Ok(d)
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s.to_owned())
}

/// `--since` / `--until`, as typed (see [`FilterArgs::to_filter`]).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct RangeArgs {
    /// Records at or after: a duration ago (15m, 2h, 7d), now, or a time (RFC 3339, or local `2026-12-01 10:00`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Records before: same forms as --since.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// Keep printing new records as they are committed (Ctrl-C stops).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// How many of the latest records to print first.
    #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
    pub lines: usize,
    /// With -f: how far behind this machine's clock a record's time must be
    /// before it is printed, so records of several writers come out in time
    /// order (above the writers' flush interval; 0 prints as read).
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub reorder_ms: u64,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Record output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One line per record, for people.
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180 CSV with a header row.
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// The records of one request (field `request_id`), in time order, across threads and apps.
    #[arg(long, value_name = "ID", conflicts_with_all = ["logger", "level", "text", "context", "trace", "app", "host", "pid", "site", "since", "until", "query"])]
    pub request: Option<String>,
    /// At most this many records.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The timeline: `24h` (hourly slots) or `30d` / `90d` (local days); any Nh up to 168 or Nd up to 366.
    #[arg(long, default_value = "24h", value_parser = Timeline::from_str)]
    pub range: Timeline,
    /// Only loggers whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Only loggers with errors in the range.
    #[arg(long, conflicts_with = "warnings")]
    pub errors: bool,
    /// Only loggers with warnings or errors in the range.
    #[arg(long)]
    pub warnings: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SitesArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Window start: a duration ago or a time.
    #[arg(long, default_value = "1h", value_name = "WHEN")]
    pub since: String,
    /// Window end.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// At most this many call sites.
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Delete records older than this: a duration ago (90d) or a time.
    #[arg(long, value_name = "WHEN")]
    pub older_than: When,
    /// Records deleted per statement (short locks, so a running writer is not delayed).
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    Ndjson,
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
    pub format: ExportFormat,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(["log-panel"].iter().chain(args)).map(|c| c.command)
    }

    /// The levels `--level arg` keeps, as the command reads them into its filter.
    fn level(arg: &str) -> Result<Option<LevelSpec>, CliError> {
        let Command::Query(q) = parse(&["query", "--level", arg]).map_err(|e| CliError::usage(e.to_string()))? else {
            unreachable!()
        };
        let clock = Clock::new(true);
        let f = q.filter.to_filter(&q.range, &clock)?;
        Ok(match (f.min_level, f.levels.is_empty()) {
            (Some(l), true) => Some(LevelSpec::AtLeast(l)),
            (None, false) => Some(LevelSpec::Exactly(f.levels)),
            _ => None,
        })
    }

    use log_panel_query::LevelSpec;

    #[test]
    fn level_spec_single_is_minimum_list_is_exact() {
        use log_panel_core::Level;
        assert_eq!(level("warn").unwrap(), Some(LevelSpec::AtLeast(Level::Warn)));
        assert_eq!(level("warning").unwrap(), Some(LevelSpec::AtLeast(Level::Warn)));
        assert_eq!(level("error, info,error").unwrap(), Some(LevelSpec::Exactly(vec![Level::Error, Level::Info])));
        assert!(level("loud").is_err());
        assert_eq!(level("warn,").unwrap(), Some(LevelSpec::Exactly(vec![Level::Warn])));
        assert!(level(",").is_err());
    }

    #[test]
    fn stats_ranges() {
        let range = |r: &str| match parse(&["stats", "--range", r])? {
            Command::Stats(s) => Ok::<_, clap::Error>(s.range),
            _ => unreachable!(),
        };
        assert_eq!(range("24h").unwrap(), Timeline::Hours(24));
        assert_eq!(range("90d").unwrap(), Timeline::Days(90));
        for bad in ["", "h", "0d", "400d", "5w", "-1h"] {
            assert!(range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn read_timeouts() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "10", "0ms", "1h", "ms", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
