//! The check of a plugin run once per collect (`format: prometheus` or `format: nagios`):
//! the command runs N times through the exporter's own runner and reader
//! ([`crate::plugin::collector::command_run`]), and each run's output is checked as the
//! exporter takes it.

use std::time::Duration;

use tokio::sync::mpsc;

use super::batch::{batch_options, check_batch, PLUGIN_NAME};
use super::child::{self, describe, human, Output};
use super::options::{CheckError, Options};
use super::report::Report;
use crate::codes::ErrorKind;
use crate::config::Format;
use crate::plugin::collector::command_run::{
    self, interpret, Output as RunOutput, RunError, DRAIN_AFTER_EXIT,
};
use crate::plugin::lines::Line;
use crate::process::reaper::ExitStatus;
use crate::process::tags;

/// What one run gave, and what it wrote on stderr.
struct Run {
    result: Result<RunOutput, RunError>,
    stderr: Vec<Line>,
}

/// Runs the whole check of a plugin run per collect in `opts.format`. Fails only when the
/// first run cannot be started.
pub async fn check(opts: &Options, report: &mut Report) -> Result<(), CheckError> {
    let max_output = batch_options().max_line;
    for k in 1..=opts.collects {
        let run = match run_once(&opts.command, opts.timeout, max_output).await {
            Ok(r) => r,
            Err(e) if k == 1 => return Err(CheckError::start(&opts.command, e)),
            Err(e) => {
                report.error(format!("run {k}"), format!("cannot be started: {e}"));
                continue;
            }
        };
        for line in &run.stderr {
            match line {
                Line::Complete(l) => report.log("stderr", String::from_utf8_lossy(l)),
                Line::TooLong { bytes } => {
                    report.log("stderr", format!("(a line of {bytes} bytes, not shown)"))
                }
            }
        }
        let at = format!("run {k}");
        let out = match run.result {
            Ok(out) => out,
            Err(e) => {
                let (kind, message) = match &e {
                    RunError::Timeout => (
                        ErrorKind::Timeout,
                        format!(
                            "did not exit within {}; the exporter kills it and the collect fails",
                            human(opts.timeout)
                        ),
                    ),
                    RunError::TooMuchOutput { max } => (
                        ErrorKind::LineTooLong,
                        format!(
                            "printed more than the default max_line of {max} bytes; the \
                             collect fails"
                        ),
                    ),
                    RunError::StdoutStuck => (
                        ErrorKind::PluginError,
                        "stdout stayed open after the command exited; the collect fails".into(),
                    ),
                    other => (
                        ErrorKind::PluginError,
                        format!("{other}; the collect fails"),
                    ),
                };
                report.counted(kind.as_str(), at, message);
                continue;
            }
        };
        if opts.format == Format::Nagios {
            nagios_exit(&at, out.status, report);
        }
        let (families, problems) = match interpret(opts.format, &out) {
            Ok(read) => read,
            Err(status) => {
                report.counted(
                    ErrorKind::PluginError.as_str(),
                    at,
                    format!(
                        "ended with {}: a prometheus-format command must exit 0, or the \
                         exporter discards its output and the collect fails",
                        describe(status)
                    ),
                );
                continue;
            }
        };
        for p in &problems {
            let location = p.line.map_or(String::new(), |n| format!("line {n}"));
            report.counted(ErrorKind::ParseError.as_str(), location, &p.message);
        }
        if opts.format == Format::Prometheus {
            let text = String::from_utf8_lossy(&out.stdout);
            let locate = |name: &str| match family_line(&text, name) {
                Some(n) => format!("line {n}"),
                None => String::new(),
            };
            check_batch(&families, &locate, true, report);
        } else {
            // The family names are the exporter's own, so only validation is of interest.
            check_batch(&families, &|_| String::new(), false, report);
        }
    }
    Ok(())
}

/// A Nagios plugin's exit code: anything but 0 to 3 is reported as UNKNOWN.
fn nagios_exit(at: &str, status: Option<ExitStatus>, report: &mut Report) {
    let code = match status {
        Some(ExitStatus::Exited(c)) => Some(c),
        _ => None,
    };
    if !matches!(code, Some(0..=3)) {
        report.warn(
            at,
            format!(
                "ended with {}; a Nagios plugin exits 0 (OK), 1 (WARNING), 2 \
                 (CRITICAL) or 3 (UNKNOWN), and the exporter reports anything else as UNKNOWN",
                describe(status)
            ),
        );
    }
}

/// The first line of `text` that belongs to the family `name`: its HELP or TYPE line, or a
/// sample whose name is the family's name with a suffix the format gives meaning to.
fn family_line(text: &str, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    // In OpenMetrics a counter's metadata names the family without `_total`.
    let stem = name.strip_suffix("_total").unwrap_or(name);
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            if let Some(meta) = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .or_else(|| line.strip_prefix("# UNIT "))
            {
                let token = meta.split_whitespace().next().unwrap_or("");
                return token == name || token == stem;
            }
            if line.starts_with('#') {
                return false;
            }
            let token = line.split(['{', ' ', '\t']).next().unwrap_or("");
            token.strip_prefix(name).is_some_and(|rest| {
                ["", "_bucket", "_count", "_sum", "_total", "_created"].contains(&rest)
            })
        })
        .map(|i| i + 1)
}

/// Runs the command once through the exporter's own runner, stdin closed; its tree is
/// killed at the deadline. Fails only when it cannot be started.
async fn run_once(argv: &[String], timeout: Duration, max_output: usize) -> std::io::Result<Run> {
    let s = child::spawn(argv).await?;
    let (tx, mut rx) = mpsc::channel(64);
    let errlog = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(Output::Stderr(l)) = rx.recv().await {
            lines.push(l);
        }
        lines
    });
    let result = command_run::run(
        s,
        timeout,
        max_output,
        |err| {
            tokio::spawn(child::read_stderr(err, tx));
        },
        || async {
            tags::sweep(Some(PLUGIN_NAME));
        },
    )
    .await;
    if let Err(RunError::Pipes(e)) = result {
        return Err(e);
    }
    let stderr = tokio::time::timeout(DRAIN_AFTER_EXIT, errlog)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Ok(Run { result, stderr })
}

#[cfg(test)]
mod tests {
    use super::family_line;

    #[test]
    fn families_are_found_by_metadata_or_sample_name() {
        let text =
            "# a comment\nup 1\n# HELP foo Foo.\n# TYPE foo histogram\nfoo_bucket{le=\"1\"} 1\n\
                    bar_total 3\n";
        assert_eq!(family_line(text, "up"), Some(2));
        assert_eq!(family_line(text, "foo"), Some(3));
        assert_eq!(family_line(text, "bar_total"), Some(6));
        assert_eq!(family_line(text, "ba"), None);
        assert_eq!(family_line(text, ""), None);
    }
}
