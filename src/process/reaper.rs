//! The reaper: owns `waitpid` for the whole process (we are a child subreaper), hands each
//! tracked plugin's exit status to whoever waits for it, and reaps orphans.

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, OnceLock};
use tokio::sync::oneshot;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal (this number) killed it.
    Signaled(i32),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exit code {code}"),
            ExitStatus::Signaled(sig) => write!(f, "signal {sig}"),
        }
    }
}

/// Tracked children: pid -> who wants its exit status.
type Waiters = Mutex<HashMap<i32, oneshot::Sender<ExitStatus>>>;

fn waiters() -> &'static Waiters {
    static W: OnceLock<Waiters> = OnceLock::new();
    W.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Spawns `cmd` as a tracked child: its exit status arrives on the receiver once the reaper
/// reaped it. The waiter table is held while forking so the reaper cannot reap the new pid
/// before it is registered (it would then be taken for an orphan and its status lost).
pub(crate) fn spawn_tracked(
    cmd: &mut std::process::Command,
) -> io::Result<(std::process::Child, oneshot::Receiver<ExitStatus>)> {
    let mut table = waiters().lock().unwrap_or_else(|e| e.into_inner());
    let child = cmd.spawn()?;
    let (tx, rx) = oneshot::channel();
    table.insert(child.id() as i32, tx);
    Ok((child, rx))
}

/// Owns `waitpid` for the whole process.
pub struct Reaper;

impl Reaper {
    /// Makes this process a child subreaper and starts the reaping task. Call once, from
    /// inside the tokio runtime, before spawning plugins.
    pub fn start() -> io::Result<()> {
        nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
        let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
        tokio::spawn(async move {
            // SIGCHLD coalesces; the periodic tick is a safety net, not the mechanism.
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tick.tick() => {}
                }
                reap_all();
            }
        });
        Ok(())
    }
}

/// Reaps every exited child: tracked plugins (after killing their group) and orphans.
pub fn reap_all() {
    let mut table = waiters().lock().unwrap_or_else(|e| e.into_inner());
    loop {
        // Peek without reaping: the pid stays a zombie, so its group id cannot be reused
        // while we kill what is left of the group.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let pid = match waitid(Id::All, flags) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => match status.pid() {
                Some(p) => p,
                None => return,
            },
        };
        let tracked = table.contains_key(&pid.as_raw());
        if tracked {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        let status = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => ExitStatus::Exited(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => ExitStatus::Signaled(sig as i32),
            Ok(_) => continue,
            Err(Errno::ECHILD) => return,
            Err(_) => continue,
        };
        if let Some(tx) = table.remove(&pid.as_raw()) {
            let _ = tx.send(status);
        } else {
            tracing::debug!(
                pid = pid.as_raw(),
                %status,
                "reaped an orphaned plugin descendant"
            );
        }
    }
}
