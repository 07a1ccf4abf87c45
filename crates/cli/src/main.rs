//! `log-panel`: reads the logs that log-panel stored, in SQLite or PostgreSQL,
//! through the `Store` trait only. See docs/cli.md.

mod args;
mod commands;
mod error;
mod language;
mod local_time;
mod show;
mod trace;
#[cfg(test)]
mod walk_tests;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;
use log_panel_config::Config;
use log_panel_database::env::{database_from_env, DATABASE_ENV, WEB_TOKEN_ENV};
use log_panel_database::{open_maintenance, open_store, Database};
use log_panel_query::{Store, StoreError, DEFAULT_READ_TIMEOUT};

use crate::args::{Cli, ColorChoice, Command};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::local_time::Clock;
use crate::show::{clean, Paint};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("log-panel: {}", clean(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Help and version as clap prints them; any other parse error as one line.
fn usage_error(e: &clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    if let Some(hint) = renamed_flag(e) {
        eprintln!("log-panel: {hint} (see --help)");
        return ExitCode::from(2);
    }
    let text = e.to_string();
    let head: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let line = head.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("log-panel: {} (see --help)", clean(line));
    ExitCode::from(2)
}

/// A hint for a flag that other tools spell differently: the text filter is
/// `--text` here (as `text=` in the web panel's URLs), never `--grep`.
fn renamed_flag(e: &clap::Error) -> Option<&'static str> {
    let ContextValue::String(arg) = e.get(ContextKind::InvalidArg)? else { return None };
    let flag = arg.split(['=', ' ']).next()?;
    (flag == "--grep").then_some("--grep is not a flag: use --text TEXT")
}

fn run(cli: Cli) -> Result<(), CliError> {
    let stdout_tty = std::io::stdout().is_terminal();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let clock = Clock::new(cli.utc);
    if let Command::Serve(a) = &cli.command {
        // Before the store or the runtime starts a thread: threads inherit it.
        lower_priority(a.nice);
    }
    let database = database(cli.db)?;
    if matches!(cli.command, Command::Migrate) {
        return migrate(&database);
    }
    let filter = cli.command.filter(&clock)?.unwrap_or_default();
    let store = open_store(&database, cli.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT))?;
    let ctx = Ctx { store, clock, paint: Paint { on: color }, stdout_tty };
    match &cli.command {
        Command::Tail(a) => commands::tail(&ctx, a, filter),
        Command::Query(a) => commands::query(&ctx, a, &filter),
        Command::Stats(a) => commands::stats(&ctx, a),
        Command::Sites(a) => commands::sites(&ctx, a, &filter),
        Command::Prune(a) => commands::prune(&ctx, open_maintenance(&database)?.as_ref(), a),
        Command::Rebuild => commands::rebuild(&ctx, open_maintenance(&database)?.as_ref()),
        Command::Export(a) => commands::export(&ctx, a, &filter),
        Command::Serve(a) => serve(ctx.store, a),
        Command::Migrate => Ok(()),
    }
}

/// `log-panel migrate`: what a writer does when it opens the database, for a
/// database no application writes to any more. Readers never migrate.
fn migrate(database: &Database) -> Result<(), CliError> {
    let (from, to) = log_panel_database::migrate(database)?;
    let shown = clean(&database.location());
    let text = if from == to {
        format!("{shown} is already at schema version {to}\n")
    } else {
        format!("migrated {shown} from schema version {from} to {to}\n")
    };
    let mut w = std::io::stdout().lock();
    crate::show::print(&mut w, &text)?;
    std::io::Write::flush(&mut w).map_err(crate::error::out)
}

/// Adds `nice` to this thread's scheduling niceness (`serve --nice`), which
/// every thread started afterwards inherits. The panel beside a busy
/// application took the cores from its writer: at half of the writer's
/// maximum rate, three clients reading back to back left it 79–89 % of its
/// rate and its search index 200 000 records behind (docs/performance.md).
/// A system that refuses is not an error: the panel runs as it would have.
fn lower_priority(nice: u8) {
    if nice == 0 {
        return;
    }
    #[cfg(unix)]
    {
        let current = rustix::process::getpriority_process(None).unwrap_or(0);
        let wanted = current.saturating_add(i32::from(nice)).min(19);
        if let Err(e) = rustix::process::setpriority_process(None, wanted) {
            eprintln!("log-panel: could not lower the panel's priority ({e}); serving at the current one");
        }
    }
}

fn serve(store: Box<dyn Store>, a: &args::ServeArgs) -> Result<(), CliError> {
    let mut options = log_panel_web::ServeOptions::default().bind(a.bind.clone());
    options.panel = panel_options(Config::discover()?.as_ref())?;
    if let Some(url) = &a.trace_url {
        options.panel = options.panel.clone().trace_url(url.clone());
    }
    if let Some(n) = a.store_calls.and_then(|n| usize::try_from(n).ok()) {
        options.panel = options.panel.clone().store_calls(n);
    }
    for t in &a.logger_thresholds {
        let warnings = t.warnings.unwrap_or(options.panel.slot_warnings);
        options.panel = options.panel.clone().logger_thresholds(t.logger.clone(), t.errors, warnings);
    }
    if let Some(token) = a.token.clone().or_else(|| std::env::var(WEB_TOKEN_ENV).ok().filter(|t| !t.is_empty())) {
        options = options.token(token);
    }
    if let Some(basic) = &a.basic {
        let (user, password) =
            basic.split_once(':').ok_or_else(|| CliError::usage("--basic: expected USER:PASSWORD"))?;
        options = options.basic_auth(user, password);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io("starting the server runtime".into(), e))?;
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::from(store);
    runtime.block_on(async move {
        let server = log_panel_web::Server::bind(store, options).await.map_err(CliError::Web)?;
        let addr = server.local_addr().map_err(CliError::Web)?;
        println!("log-panel: serving the panel on http://{addr}/ (Ctrl-C stops)");
        server.run().await.map_err(CliError::Web)
    })
}

/// Slot colours from the configuration's `alerts.error` / `alerts.warn`,
/// as the library reads them; a threshold that is off (or no configuration)
/// keeps the panel's default of 1, so an error never shows as an ok slot.
/// `[panel.loggers]` gives particular loggers their own, a count left out
/// being the default one. The alerts page gets the thresholds and window of `[alerts]`.
///
/// `panel.trace_url` (checked here: the library does not know the panel) is
/// the link to a trace viewer.
fn panel_options(config: Option<&Config>) -> Result<log_panel_web::PanelOptions, CliError> {
    let thresholds = config.map(|c| c.alerts.clone()).unwrap_or_default();
    let count = |t: Option<u32>| t.map_or(1, u64::from);
    let (errors, warnings) = (count(thresholds.error), count(thresholds.warn));
    let mut options = log_panel_web::PanelOptions::default().slot_thresholds(errors, warnings);
    // The alerts page recomputes crossings with the same thresholds the application fires by.
    for level in log_panel_core::LEVELS {
        options = options.alert_threshold(level, thresholds.get(level));
    }
    options = options.alert_window(thresholds.window);
    for (logger, t) in config.map(|c| &c.panel.loggers).into_iter().flatten() {
        let (e, w) = (t.error.map_or(errors, |n| n.get()), t.warn.map_or(warnings, |n| n.get()));
        options = options.logger_thresholds(logger.clone(), e, w);
    }
    if let Some(template) = config.and_then(|c| c.panel.trace_url.as_deref()) {
        let url = trace::parse_trace_url(template).map_err(|e| CliError::usage(format!("panel.trace_url: {e}")))?;
        options = options.trace_url(url);
    }
    Ok(options)
}

/// `--db`, else `$LOG_PANEL_DATABASE_URL`, else the configuration's `database`
/// (`$LOG_PANEL_CONFIG` or ./log_panel.toml), else `log_panel.db`.
fn database(flag: Option<String>) -> Result<Database, CliError> {
    let bad = |source: &str, e: log_panel_database::DatabaseError| StoreError::bad_filter(format!("{source}: {e}"));
    if let Some(db) = flag {
        return Ok(Database::parse(&db).map_err(|e| bad("--db", e))?);
    }
    if let Some(db) = database_from_env().map_err(|e| bad(DATABASE_ENV, e))? {
        return Ok(db);
    }
    Ok(Config::discover()?.map(|c| c.database).unwrap_or_default())
}
