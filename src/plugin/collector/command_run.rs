//! One run of a command collected per collect (`format: prometheus | nagios`): the command
//! runs with stdin closed, its stdout is read (bounded by `max_line`) while it runs to its
//! end or to the deadline, and what it printed is read in its format. The exporter and
//! `check-plugin` both run commands through here.
//!
//! At the deadline the whole tree is killed (process group, then the caller's clean-up:
//! cgroup and tagged strays). A command whose helpers keep stdout open after it exited is not
//! waited for.

use std::future::Future;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::codes::{ErrorKind, LimitKind};
use crate::config::Format;
use crate::exposition::batch::Rejection;
use crate::exposition::parse;
use crate::formats::nagios;
use crate::process::reaper::ExitStatus;
use crate::process::spawn::Spawned;
use crate::process::tags::signal_group;

/// Time left for stdout to reach end of file after the command exited and its leftovers
/// were killed.
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// How long a command killed at its deadline gets to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Why a run gave no output to read.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Its pipes could not be set up.
    #[error("cannot read the command's pipes: {0}")]
    Pipes(std::io::Error),
    /// It did not finish before the deadline; its tree was killed.
    #[error("did not finish before the deadline")]
    Timeout,
    /// It printed more than `max` bytes.
    #[error("printed more than max_line {max} bytes")]
    TooMuchOutput {
        /// The budget.
        max: usize,
    },
    /// Something it left behind kept stdout open after it exited.
    #[error("stdout stayed open after the command exited")]
    StdoutStuck,
    /// Stdout could not be read.
    #[error("cannot read stdout: {0}")]
    Read(String),
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// All it printed on stdout.
    pub stdout: Vec<u8>,
    /// How it ended (`None`: the status was lost).
    pub status: Option<ExitStatus>,
}

/// Runs a spawned command to its end or to `deadline`. Its stderr goes to `stderr`;
/// `clean_up` kills what the command left behind (run after it ended or was killed).
pub async fn run<C, F>(
    s: Spawned,
    deadline: Duration,
    max_output: usize,
    stderr: impl FnOnce(pipe::Receiver),
    clean_up: C,
) -> Result<Output, RunError>
where
    C: Fn() -> F,
    F: Future<Output = ()>,
{
    let started = tokio::time::Instant::now();
    let pid = s.pid;
    drop(s.stdin); // the command gets end of file on stdin at once
    let pipes = (
        pipe::Receiver::from_owned_fd(s.stdout),
        pipe::Receiver::from_owned_fd(s.stderr),
    );
    let (stdout, err) = match pipes {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            signal_group(pid, Signal::SIGKILL);
            return Err(RunError::Pipes(e));
        }
    };
    stderr(err);
    let mut reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        // One byte over the limit tells "too much" from "exactly the limit".
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
            // Not reaped yet (the reaper kills the group before reaping), so the group id
            // is still ours to signal.
            if exited.try_recv().is_err() {
                signal_group(pid, Signal::SIGKILL);
            }
            clean_up().await;
            let _ = tokio::time::timeout(KILL_WAIT, exited).await;
            reader.abort();
            return Err(RunError::Timeout);
        }
    };
    // The reaper killed the rest of its group before reaping it; kill what left the group
    // too, so nothing keeps stdout open.
    clean_up().await;
    let stdout = match tokio::time::timeout(DRAIN_AFTER_EXIT, &mut reader).await {
        Ok(Ok(Ok(buf))) => buf,
        Ok(Ok(Err(e))) => return Err(RunError::Read(e.to_string())),
        Ok(Err(e)) => return Err(RunError::Read(e.to_string())),
        Err(_) => {
            reader.abort();
            return Err(RunError::StdoutStuck);
        }
    };
    if stdout.len() > max_output {
        return Err(RunError::TooMuchOutput { max: max_output });
    }
    Ok(Output { stdout, status })
}

/// An output line that could not be read, dropped and counted as `parse_error`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Its line, from 1, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "line {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Reads a run's output in its format. A prometheus-format command must exit 0, or its
/// output is discarded (`Err` with its status); a Nagios plugin's exit code is its state.
pub fn interpret(
    format: Format,
    out: &Output,
) -> Result<(Vec<plugin_protocol::Family>, Vec<Problem>), Option<ExitStatus>> {
    match format {
        Format::Prometheus => {
            if out.status != Some(ExitStatus::Exited(0)) {
                return Err(out.status);
            }
            let parsed = parse::parse_bytes(&out.stdout);
            let problems = parsed
                .errors
                .iter()
                .map(|e| Problem {
                    line: Some(e.line),
                    message: e.message.clone(),
                })
                .collect();
            Ok((parsed.families, problems))
        }
        Format::Nagios => {
            let code = match out.status {
                Some(ExitStatus::Exited(c)) => Some(c),
                _ => None,
            };
            let (families, problems) =
                nagios::families(&String::from_utf8_lossy(&out.stdout), code);
            let problems = problems
                .into_iter()
                .map(|message| Problem {
                    line: None,
                    message,
                })
                .collect();
            Ok((families, problems))
        }
        Format::Jsonl => unreachable!("JSON-lines plugins are not run once per collect"),
    }
}

/// Why a collect of a command run per collect produced no batch.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command could not be started.
    #[error("cannot start: {0}")]
    Spawn(String),
    /// The run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A prometheus-format command that did not exit 0.
    #[error("{}", exit_text(*.0))]
    Exit(Option<ExitStatus>),
    /// Its output broke a budget.
    #[error("{0}")]
    Rejected(Rejection),
}

fn exit_text(status: Option<ExitStatus>) -> String {
    match status {
        Some(ExitStatus::Exited(code)) => format!("command exited with code {code}"),
        Some(ExitStatus::Signaled(sig)) => format!("command was killed by signal {sig}"),
        None => "command's exit status was lost".into(),
    }
}

impl Failure {
    /// The error kind it is counted under.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Failure::Run(RunError::Timeout) => ErrorKind::Timeout,
            Failure::Run(RunError::TooMuchOutput { .. }) => ErrorKind::LineTooLong,
            Failure::Rejected(r) => r.kind(),
            _ => ErrorKind::PluginError,
        }
    }

    /// The limit whose hit it counts, if any.
    pub fn limit(&self) -> Option<LimitKind> {
        match self {
            Failure::Run(RunError::TooMuchOutput { .. }) => Some(LimitKind::MaxLine),
            Failure::Rejected(r) => Some(r.limit()),
            _ => None,
        }
    }
}
