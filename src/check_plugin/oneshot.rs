//! The check of a plugin run once per collect (`format: prometheus` or `format: nagios`):
//! the command runs N times with stdin closed, and each run's output is checked as the
//! exporter would take it.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use super::batch::{check_batch, reader_options};
use super::child::{self, describe, human, Output};
use super::report::Report;
use super::{CheckError, Options};
use crate::config::Format;
use crate::exposition::parse;
use crate::formats::nagios;
use crate::plugin::lines::Line;
use crate::plugin::spawn::ExitStatus;

/// Time stdout gets to reach end of file after the command exited and its leftovers were
/// killed (the exporter waits as long).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// What one run printed and how it ended.
struct Run {
    stdout: Vec<u8>,
    stderr: Vec<Line>,
    /// `None`: killed at the deadline; `Some(None)`: its status was lost.
    status: Option<Option<ExitStatus>>,
    /// Something it left behind kept stdout open after it exited.
    stdout_stuck: bool,
}

/// Runs the whole check of a one-shot plugin in `opts.format`. Fails only when the first
/// run cannot be started.
pub async fn check(opts: &Options, report: &mut Report) -> Result<(), CheckError> {
    let max_output = reader_options().max_line;
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
        let Some(status) = run.status else {
            report.error(
                format!("run {k}"),
                format!(
                    "did not exit within {}; the exporter kills it and the collect fails",
                    human(opts.timeout)
                ),
            );
            continue;
        };
        if run.stdout_stuck {
            report.error(
                format!("run {k}"),
                "stdout stayed open after the command exited; the collect fails",
            );
            continue;
        }
        if run.stdout.len() > max_output {
            report.error(
                format!("run {k}"),
                format!(
                    "printed more than the default max_line of {max_output} bytes; the \
                     collect fails"
                ),
            );
            continue;
        }
        match opts.format {
            Format::Prometheus => prometheus(k, status, &run.stdout, report),
            Format::Nagios => nagios_run(k, status, &run.stdout, report),
            Format::Jsonl => unreachable!("JSON-lines plugins are checked by the jsonl module"),
        }
    }
    Ok(())
}

fn prometheus(k: u32, status: Option<ExitStatus>, stdout: &[u8], report: &mut Report) {
    if status != Some(ExitStatus::Exited(0)) {
        report.error(
            format!("run {k}"),
            format!(
                "ended with {}: a prometheus-format command must exit 0, or the \
                 exporter discards its output and the collect fails",
                describe(status)
            ),
        );
        return;
    }
    let parsed = parse::parse_bytes(stdout);
    for e in &parsed.errors {
        report.error(format!("line {}", e.line), &e.message);
    }
    let text = String::from_utf8_lossy(stdout);
    let locate = |name: &str| match family_line(&text, name) {
        Some(n) => format!("line {n}"),
        None => String::new(),
    };
    check_batch(&parsed.families, &locate, true, report);
}

fn nagios_run(k: u32, status: Option<ExitStatus>, stdout: &[u8], report: &mut Report) {
    let code = match status {
        Some(ExitStatus::Exited(c)) => Some(c),
        _ => None,
    };
    if !matches!(code, Some(0..=3)) {
        report.warn(
            format!("run {k}"),
            format!(
                "ended with {}; a Nagios plugin exits 0 (OK), 1 (WARNING), 2 \
                 (CRITICAL) or 3 (UNKNOWN), and the exporter reports anything else as UNKNOWN",
                describe(status)
            ),
        );
    }
    let (families, problems) = nagios::families(&String::from_utf8_lossy(stdout), code);
    for p in problems {
        report.error("", p);
    }
    // The family names are the exporter's own, so only validation is of interest.
    check_batch(&families, &|_| String::new(), false, report);
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

/// Runs the command once with stdin closed; kills its tree at the deadline.
async fn run_once(argv: &[String], timeout: Duration, max_output: usize) -> std::io::Result<Run> {
    let started = tokio::time::Instant::now();
    let s = child::spawn(argv).await?;
    let pid = s.pid;
    drop(s.stdin);
    let pipes = (
        pipe::Receiver::from_owned_fd(s.stdout),
        pipe::Receiver::from_owned_fd(s.stderr),
    );
    let (stdout, stderr) = match pipes {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            child::kill(pid);
            return Err(e);
        }
    };
    let (tx, mut rx) = mpsc::channel(64);
    let errlog = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(Output::Stderr(l)) = rx.recv().await {
            lines.push(l);
        }
        lines
    });
    tokio::spawn(child::read_stderr(stderr, tx));
    let mut reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        // One byte over the limit tells "too much" from "exactly the limit".
        let _ = stdout
            .take(max_output as u64 + 1)
            .read_to_end(&mut buf)
            .await;
        buf
    });
    let mut exited = s.exited;
    let status = tokio::select! {
        st = &mut exited => Some(st.ok()),
        _ = tokio::time::sleep_until(started + timeout) => None,
    };
    if status.is_none() {
        child::kill(pid);
        let _ = tokio::time::timeout(Duration::from_secs(5), exited).await;
    } else {
        // The reaper killed its group before reaping it (the group id may be reused now);
        // kill what left the group, so nothing keeps stdout open.
        crate::plugin::spawn::sweep(Some(super::batch::PLUGIN_NAME));
    }
    let (stdout, stdout_stuck) = match tokio::time::timeout(DRAIN_AFTER_EXIT, &mut reader).await {
        Ok(Ok(buf)) => (buf, false),
        _ => {
            reader.abort();
            (Vec::new(), true)
        }
    };
    let stderr = tokio::time::timeout(DRAIN_AFTER_EXIT, errlog)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Ok(Run {
        stdout,
        stderr,
        status,
        stdout_stuck,
    })
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
