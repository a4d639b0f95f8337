//! The checked plugin as a child process: started by the exporter's [`Spawner`] with the
//! exporter's fence (own process group, parent-death signal, clean environment), its output
//! turned into one stream of events, and killed the way the exporter kills a plugin.

use std::ffi::OsString;
use std::io;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use plugin_protocol::HostMessage;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::batch::PLUGIN_NAME;
use crate::plugin::lines::{Line, LineReader};
use crate::process::reaper::ExitStatus;
use crate::process::spawn::{SpawnSpec, Spawned, Spawner};
use crate::process::tags;

/// Longest stderr line shown; the exporter cuts its plugins' log lines at the same length.
pub const STDERR_MAX_LINE: usize = 4096;

/// Starts `argv` as the exporter starts a plugin: no limits or cgroups (the check is about
/// the protocol), but the same group, parent-death signal and environment (`PATH`, `LANG`,
/// `PLUGIN_EXPORTER_PLUGIN=check` and the supervisor tag).
pub async fn spawn(argv: &[String]) -> io::Result<Spawned> {
    let mut env = vec![(
        OsString::from("PATH"),
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
    )];
    if let Some(lang) = std::env::var_os("LANG") {
        env.push(("LANG".into(), lang));
    }
    Spawner::global()
        .spawn(SpawnSpec {
            plugin: PLUGIN_NAME.to_string(),
            argv: argv.to_vec(),
            env,
            working_dir: None,
            rlimits: Vec::new(),
            cgroup_join: Vec::new(),
            confinement: Default::default(),
            run_as: None,
        })
        .await
}

/// Kills the plugin's process group and whatever it started outside the group.
pub fn kill(pid: Pid) {
    tags::signal_group(pid, Signal::SIGKILL);
    tags::sweep(Some(PLUGIN_NAME));
}

/// Reads `stderr` line by line into `tx` until it ends.
pub async fn read_stderr(stderr: pipe::Receiver, tx: mpsc::Sender<Output>) {
    let mut reader = LineReader::new(stderr, STDERR_MAX_LINE);
    while let Ok(Some(line)) = reader.next_line().await {
        if tx.send(Output::Stderr(line)).await.is_err() {
            return;
        }
    }
}

/// Something the plugin wrote.
#[derive(Debug)]
pub enum Output {
    /// A stdout line and its number, from 1.
    Stdout(usize, Line),
    /// Stdout reached end of file.
    StdoutEof,
    /// A stderr line.
    Stderr(Line),
}

/// What waiting on a [`Child`] gave.
#[derive(Debug)]
pub enum Event {
    /// The plugin wrote something.
    Output(Output),
    /// Both stdout and stderr reached end of file (it comes after their last output).
    Closed,
    /// The plugin exited (`None`: its status was lost).
    Exited(Option<ExitStatus>),
    /// The time waited for passed.
    Deadline,
}

/// A running long-lived (JSON-lines) plugin.
pub struct Child {
    pid: Pid,
    stdin: Option<pipe::Sender>,
    output: mpsc::Receiver<Output>,
    output_open: bool,
    exited: oneshot::Receiver<ExitStatus>,
    has_exited: bool,
}

impl Child {
    /// Starts the plugin and the tasks reading its stdout (as lines of at most `max_line`
    /// bytes) and stderr.
    pub async fn start(argv: &[String], max_line: usize) -> io::Result<Child> {
        let s = spawn(argv).await?;
        let pipes = (|| {
            Ok::<_, io::Error>((
                pipe::Sender::from_owned_fd(s.stdin)?,
                pipe::Receiver::from_owned_fd(s.stdout)?,
                pipe::Receiver::from_owned_fd(s.stderr)?,
            ))
        })();
        let (stdin, stdout, stderr) = match pipes {
            Ok(p) => p,
            Err(e) => {
                kill(s.pid);
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(read_stdout(stdout, max_line, tx.clone()));
        tokio::spawn(read_stderr(stderr, tx));
        Ok(Child {
            pid: s.pid,
            stdin: Some(stdin),
            output: rx,
            output_open: true,
            exited: s.exited,
            has_exited: false,
        })
    }

    /// Writes one message to the plugin's stdin. A plugin that stopped reading or exited
    /// is not an error here: what it does next is what the check looks at.
    pub async fn send(&mut self, msg: &HostMessage) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        let line = msg.to_line();
        let written =
            tokio::time::timeout(Duration::from_secs(1), stdin.write_all(line.as_bytes()));
        if !matches!(written.await, Ok(Ok(()))) {
            self.stdin = None;
        }
    }

    /// Closes the plugin's stdin: it sees end of file.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next thing that happens, or [`Event::Deadline`] at `until`. Output already read
    /// comes before the exit, so lines written before exiting are seen first.
    pub async fn next(&mut self, until: Instant) -> Event {
        tokio::select! {
            biased;
            out = self.output.recv(), if self.output_open => match out {
                Some(o) => Event::Output(o),
                None => {
                    self.output_open = false;
                    Event::Closed
                }
            },
            status = &mut self.exited, if !self.has_exited => {
                self.has_exited = true;
                // The reaper killed its group; kill what left the group, so nothing keeps
                // the pipes open.
                tags::sweep(Some(PLUGIN_NAME));
                Event::Exited(status.ok())
            }
            _ = tokio::time::sleep_until(until) => Event::Deadline,
        }
    }

    /// True while stdout or stderr may still bring something.
    pub fn output_open(&self) -> bool {
        self.output_open
    }

    /// Kills the plugin and waits (bounded) until it is reaped.
    pub async fn kill(&mut self) {
        kill(self.pid);
        if !self.has_exited {
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.exited).await;
            self.has_exited = true;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Never leave a plugin behind, whatever path the check took.
        if !self.has_exited {
            kill(self.pid);
        }
    }
}

async fn read_stdout(stdout: pipe::Receiver, max_line: usize, tx: mpsc::Sender<Output>) {
    let mut reader = LineReader::new(stdout, max_line);
    let mut n = 0;
    while let Ok(Some(line)) = reader.next_line().await {
        n += 1;
        if tx.send(Output::Stdout(n, line)).await.is_err() {
            return;
        }
    }
    let _ = tx.send(Output::StdoutEof).await;
}

/// How a process ended, for a message.
pub fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(ExitStatus::Exited(code)) => format!("exit code {code}"),
        Some(ExitStatus::Signaled(sig)) => format!("killed by signal {sig}"),
        None => "exit status lost".into(),
    }
}

/// A duration as the command line takes it: `5s`, `500ms`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
