//! The command's errors: each shown as one line, `log-panel: …`.

use std::fmt;
use std::io;

use log_panel_config::ConfigError;
use log_panel_query::{FilterError, StoreError};

#[derive(Debug)]
pub(crate) enum CliError {
    /// A bad argument (exit status 2, as for clap's own errors).
    Usage(String),
    /// Filter flags or a query that do not parse (exit status 2): every
    /// problem, in the words the web panel shows them.
    Filter(FilterError),
    /// The configuration file does not parse.
    Config(ConfigError),
    /// The store failed (unreachable, newer schema, query refused).
    Store(StoreError),
    /// The web panel could not start or stopped.
    Web(log_panel_web::WebError),
    /// Writing the output failed.
    Io(String, io::Error),
}

impl CliError {
    pub(crate) fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Filter(_) => 2,
            CliError::Store(e) if e.kind() == log_panel_query::StoreErrorKind::BadFilter => 2,
            _ => 1,
        }
    }

    /// A reader closed the pipe (`log-panel tail | head`): not a failure.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io(_, e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
            // A flag's problem points at the help, as clap's own errors do; a
            // query's carries its column instead.
            CliError::Filter(e) if e.fields().all(|field| field == "query") => write!(f, "{e}"),
            CliError::Filter(e) => write!(f, "{e} (see --help)"),
            CliError::Config(e) => write!(f, "{e}"),
            CliError::Store(e) => {
                write!(f, "{e}")?;
                // Add the causes the message does not already say.
                let shown = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    let text = s.to_string();
                    if !shown.contains(&text) {
                        write!(f, ": {text}")?;
                    }
                    source = s.source();
                }
                Ok(())
            }
            CliError::Web(e) => write!(f, "{e}"),
            CliError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> CliError {
        CliError::Store(e)
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> CliError {
        CliError::Config(e)
    }
}

/// Writing to standard output.
pub(crate) fn out(e: io::Error) -> CliError {
    CliError::Io("writing the output".into(), e)
}

impl From<csv::Error> for CliError {
    fn from(e: csv::Error) -> CliError {
        match e.into_kind() {
            csv::ErrorKind::Io(e) => out(e),
            other => CliError::Io("writing CSV".into(), io::Error::other(format!("{other:?}"))),
        }
    }
}
