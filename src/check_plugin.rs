//! `plugin-exporter check-plugin`: a conformance check plugin authors run against their own
//! plugin. It runs the plugin under the exporter's supervision (own process group,
//! parent-death signal, clean environment with `PLUGIN_EXPORTER_PLUGIN=check`) and reports,
//! one line each, what the exporter would refuse (errors) and what breaks a convention
//! (warnings), with the plugin's log in between.
//!
//! - [`jsonl`]: a session as the exporter runs it (hello, N collects, shutdown), then a
//!   second start that only gets end of file; every stdout line checked against PROTOCOL.md.
//! - [`per_collect`]: `prometheus` and `nagios` commands, run N times through the exporter's
//!   own runner.
//! - [`processor`]: `--role processor`: hello, sample batches in `process` messages, each
//!   `processed` answer checked like a collector's batch, shutdown.
//! - [`output`]: `--role output`: hello, sample `write`s, each answer checked to be a
//!   well-formed `ack` or `error` for its id within the timeout, shutdown.
//! - [`batch`]: every line and batch through the exporter's own parser and validation, each
//!   drop printed with the reason the exporter counts.
//! - [`options`]: what to check; why it may be impossible.
//! - [`lint`]: promtool-style lints, as warnings.
//! - [`report`]: findings and their printing.
//!
//! Exit codes: 0 when nothing is wrong (warnings allowed), 1 when any error was found, 2 when
//! the command cannot be started.

pub mod batch;
mod child;
pub mod jsonl;
pub mod lint;
pub mod options;
pub mod output;
pub mod per_collect;
pub mod processor;
pub mod report;

use crate::config::{Format, Role};
use crate::process::reaper::Reaper;
pub use options::{parse_format, parse_role, CheckError, Options};
pub use report::{Finding, Report, Severity};

/// Checks the plugin. Call from inside a tokio runtime, once [`Reaper::start`] ran.
pub async fn check(opts: &Options) -> Result<Report, CheckError> {
    let mut report = Report::default();
    match opts.format {
        Format::Jsonl if opts.role == Role::Processor => {
            processor::check(opts, &mut report).await?
        }
        Format::Jsonl if opts.role == Role::Output => output::check(opts, &mut report).await?,
        Format::Jsonl => jsonl::check(opts, &mut report).await?,
        Format::Prometheus | Format::Nagios => per_collect::check(opts, &mut report).await?,
    }
    Ok(report)
}

/// The subcommand: starts the reaper, checks, prints the report to stdout (as text, or as
/// JSON when `json`) and returns the exit code (0 clean, 1 errors, 2 the command cannot be
/// started). Call from inside a tokio runtime that runs nothing else.
pub async fn run(opts: Options, json: bool) -> u8 {
    let outcome = match Reaper::start() {
        Ok(()) => check(&opts).await,
        Err(e) => Err(CheckError::Reaper(e)),
    };
    let (report, code) = match outcome {
        Ok(report) => {
            let code = report.exit_code();
            (report, code)
        }
        Err(e) => {
            let mut report = Report::default();
            report.error("", crate::error_chain(&e));
            (report, 2)
        }
    };
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    code
}
