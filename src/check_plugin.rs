//! `plugin-exporter check-plugin`: a conformance check plugin authors run against their own
//! plugin. It runs the plugin under the exporter's supervision (own process group,
//! parent-death signal, clean environment with `PLUGIN_EXPORTER_PLUGIN=check`) and reports,
//! one line each, what the exporter would refuse (errors) and what breaks a convention
//! (warnings), with the plugin's log in between.
//!
//! - [`jsonl`]: a session as the exporter runs it (hello, N collects, shutdown), then a
//!   second start that only gets end of file; every stdout line checked against PROTOCOL.md.
//! - [`oneshot`]: `prometheus` and `nagios` commands, run N times.
//! - [`batch`]: every batch through the exporter's own validation, each drop explained.
//! - [`lint`]: promtool-style lints, as warnings.
//! - [`report`]: findings and their printing.
//!
//! Exit codes: 0 when nothing is wrong (warnings allowed), 1 when any error was found, 2 when
//! the command cannot be started.

pub mod batch;
mod child;
pub mod jsonl;
pub mod lint;
pub mod oneshot;
pub mod report;

use std::time::Duration;

use crate::config::Format;
use crate::plugin::spawn::Reaper;
pub use report::{Finding, Report, Severity};

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// How the plugin talks: JSON lines, Prometheus text, or a Nagios plugin.
    pub format: Format,
    /// Collects to send (jsonl) or runs (one-shot formats).
    pub collects: u32,
    /// Deadline of each collect or run.
    pub timeout: Duration,
    /// The plugin's command and arguments.
    pub command: Vec<String>,
}

/// Why no check could be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The command could not be started.
    #[error("cannot start `{command}`")]
    Start {
        /// The command line, joined.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// This process cannot supervise children.
    #[error("cannot start the reaper")]
    Reaper(#[source] std::io::Error),
}

impl CheckError {
    fn start(command: &[String], source: std::io::Error) -> Self {
        CheckError::Start {
            command: command.join(" "),
            source,
        }
    }
}

/// Parses `--format`: `jsonl`, `prometheus` or `nagios`.
pub fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "jsonl" => Ok(Format::Jsonl),
        "prometheus" => Ok(Format::Prometheus),
        "nagios" => Ok(Format::Nagios),
        other => Err(format!(
            "unknown format `{other}`: expected jsonl, prometheus or nagios"
        )),
    }
}

/// Checks the plugin. Call from inside a tokio runtime, once [`Reaper::start`] ran.
pub async fn check(opts: &Options) -> Result<Report, CheckError> {
    let mut report = Report::default();
    match opts.format {
        Format::Jsonl => jsonl::check(opts, &mut report).await?,
        Format::Prometheus | Format::Nagios => oneshot::check(opts, &mut report).await?,
    }
    Ok(report)
}

/// The subcommand: starts the reaper, checks, prints the report to stdout and returns the
/// exit code (0 clean, 1 errors, 2 the command cannot be started). Call from inside a tokio
/// runtime that runs nothing else.
pub async fn run(opts: Options) -> u8 {
    let outcome = match Reaper::start() {
        Ok(()) => check(&opts).await,
        Err(e) => Err(CheckError::Reaper(e)),
    };
    match outcome {
        Ok(report) => {
            print!("{report}");
            report.exit_code()
        }
        Err(e) => {
            let mut report = Report::default();
            report.error("", crate::error_chain(&e));
            print!("{report}");
            2
        }
    }
}
