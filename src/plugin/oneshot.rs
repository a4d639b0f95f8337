//! Plugins run once per collect: `format: prometheus` (a command printing the Prometheus text
//! format, like node_exporter's textfile collector scripts) and `format: nagios` (a Nagios
//! plugin: exit code and performance data). Same fence, limits, metrics and single-flight
//! collects as JSON-lines plugins; only the process lives for one collect.
//!
//! A collect starts the command with stdin closed, reads its stdout (bounded by `max_line`)
//! while waiting for it to exit before the deadline. At the deadline the whole tree is killed
//! (process group, cgroup, tagged strays); a plugin whose helpers keep stdout open after it
//! exited is not waited for.

use super::fence::Fence;
use super::instance::{build_batch, read_stderr, Batch, ReaderOptions};
use super::spawn::{self, ExitStatus, SpawnSpec, Spawner};
use crate::config::Format;
use crate::exposition::parse;
use crate::exposition::validate::Drops;
use crate::formats::nagios;
use crate::selfmetrics::{kind, limit, SelfMetrics};
use nix::sys::signal::Signal;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// Time left for stdout to reach end of file after the command exited and its leftovers
/// were killed.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Why a one-shot collect produced no batch.
#[derive(Debug)]
pub enum Failure {
    /// The command could not be started.
    Spawn(String),
    /// It did not finish before the deadline; its tree was killed.
    Timeout,
    /// It printed more than `max_line` bytes.
    TooMuchOutput(usize),
    /// It failed (a prometheus-format command that exited non-zero or was killed).
    Failed(String),
    /// Its output broke a budget.
    Rejected(super::instance::Rejection),
}

/// What one run printed and how it ended.
struct Output {
    stdout: Vec<u8>,
    status: Option<ExitStatus>,
}

async fn run(
    spec: SpawnSpec,
    fence: &Fence,
    deadline: Duration,
    max_output: usize,
) -> Result<Output, Failure> {
    let plugin = spec.plugin.clone();
    let started = tokio::time::Instant::now();
    let s = Spawner::global()
        .spawn(spec)
        .await
        .map_err(|e| Failure::Spawn(e.to_string()))?;
    let pid = s.pid;
    fence.started(pid.as_raw());
    drop(s.stdin); // the command gets end of file on stdin at once
    let (stdout, stderr) = match (
        pipe::Receiver::from_owned_fd(s.stdout),
        pipe::Receiver::from_owned_fd(s.stderr),
    ) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            spawn::signal_group(pid, Signal::SIGKILL);
            return Err(Failure::Spawn(format!(
                "cannot read the command's pipes: {e}"
            )));
        }
    };
    tokio::spawn(read_stderr(stderr, plugin.clone()));
    let mut reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let res = stdout
            .take(max_output as u64 + 1)
            .read_to_end(&mut buf)
            .await;
        res.map(|_| buf)
    });
    let mut exited = s.exited;
    let status = tokio::select! {
        st = &mut exited => st.ok(),
        _ = tokio::time::sleep_until(started + deadline) => {
            kill_tree(pid, fence, &plugin);
            let _ = tokio::time::timeout(Duration::from_secs(5), exited).await;
            reader.abort();
            return Err(Failure::Timeout);
        }
    };
    // The reaper killed the rest of its group; kill what left the group too, so nothing
    // keeps stdout open.
    kill_tree(pid, fence, &plugin);
    let stdout = match tokio::time::timeout(DRAIN_AFTER_EXIT, &mut reader).await {
        Ok(Ok(Ok(buf))) => buf,
        Ok(Ok(Err(e))) => return Err(Failure::Failed(format!("cannot read stdout: {e}"))),
        Ok(Err(e)) => return Err(Failure::Failed(format!("stdout reader failed: {e}"))),
        Err(_) => {
            reader.abort();
            return Err(Failure::Failed(
                "stdout stayed open after the command exited".into(),
            ));
        }
    };
    if stdout.len() > max_output {
        return Err(Failure::TooMuchOutput(max_output));
    }
    Ok(Output { stdout, status })
}

fn kill_tree(pid: nix::unistd::Pid, fence: &Fence, plugin: &str) {
    spawn::signal_group(pid, Signal::SIGKILL);
    fence.ended();
    spawn::sweep(Some(plugin));
}

/// One collect of a one-shot plugin: run the command, parse what it printed in its format,
/// and build the batch. Parse problems are counted (`parse_error`) and logged; the valid rest
/// is served.
pub async fn collect(
    format: Format,
    spec: SpawnSpec,
    fence: &Fence,
    deadline: Duration,
    opts: &ReaderOptions,
    metrics: &SelfMetrics,
) -> Result<(Arc<Batch>, Drops), Failure> {
    let out = run(spec, fence, deadline, opts.max_line).await?;
    let plugin = opts.plugin.as_str();
    let (families, problems) = match format {
        Format::Prometheus => {
            match out.status {
                Some(ExitStatus::Exited(0)) => {}
                Some(ExitStatus::Exited(code)) => {
                    return Err(Failure::Failed(format!("command exited with code {code}")))
                }
                Some(ExitStatus::Signaled(sig)) => {
                    return Err(Failure::Failed(format!(
                        "command was killed by signal {sig}"
                    )))
                }
                None => return Err(Failure::Failed("command's exit status was lost".into())),
            }
            let parsed = parse::parse_bytes(&out.stdout);
            let problems: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
            (parsed.families, problems)
        }
        Format::Nagios => {
            let code = match out.status {
                Some(ExitStatus::Exited(c)) => Some(c),
                _ => None,
            };
            nagios::families(&String::from_utf8_lossy(&out.stdout), code)
        }
        Format::Jsonl => unreachable!("JSON-lines plugins are not run once per collect"),
    };
    if !problems.is_empty() {
        metrics.error(plugin, kind::PARSE_ERROR, problems.len() as u64);
        for p in problems.iter().take(5) {
            tracing::warn!(plugin, problem = %p, "dropped invalid output");
        }
    }
    let label = (!opts.plugin_label.is_empty()).then_some(opts.plugin_label.as_str());
    build_batch(families, label, opts).map_err(Failure::Rejected)
}

impl Failure {
    /// The error kind and limit (if any) this failure counts as, and its description.
    pub fn describe(&self) -> (&'static str, Option<&'static str>, String) {
        match self {
            Failure::Spawn(e) => (kind::PLUGIN_ERROR, None, format!("cannot start: {e}")),
            Failure::Timeout => (
                kind::TIMEOUT,
                None,
                "did not finish before the deadline".into(),
            ),
            Failure::TooMuchOutput(n) => (
                kind::LINE_TOO_LONG,
                Some(limit::MAX_LINE),
                format!("printed more than max_line {n} bytes"),
            ),
            Failure::Failed(e) => (kind::PLUGIN_ERROR, None, e.clone()),
            Failure::Rejected(r) => (r.kind, Some(r.limit), r.detail.clone()),
        }
    }
}
