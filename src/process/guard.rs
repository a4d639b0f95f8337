//! The guard: a small process (this binary, `guard` subcommand) that outlives the exporter
//! and kills what its plugins left behind, however the exporter died (SIGKILL included).
//!
//! The exporter holds the write end of the guard's stdin for its whole life and tells the
//! guard each plugin cgroup it creates, one line `cgroup DIR` each. When stdin reaches end of
//! file (the exporter is gone, or stops it on a clean shutdown), the guard kills every process
//! in those cgroups (`cgroup.kill` on v2), removes them, and kills every process tagged with
//! the exporter's pid: the parent-death signal reaches plugins only, the guard reaches what
//! they left behind, even a process that left its group and cleared its environment. On a
//! clean shutdown the exporter closes the stdin itself and reaps the guard before it exits.

use super::reaper::{spawn_tracked, ExitStatus};
use super::tags::sweep_for;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

/// Rounds of killing, 20 ms apart, before the guard gives up on a cgroup or a tag.
const ROUNDS: usize = 100;

/// The running guard: the write end of its stdin and its exit status.
struct Guard {
    stdin: Option<ChildStdin>,
    exited: Option<oneshot::Receiver<ExitStatus>>,
}

fn guard() -> &'static Mutex<Option<Guard>> {
    static G: OnceLock<Mutex<Option<Guard>>> = OnceLock::new();
    G.get_or_init(|| Mutex::new(None))
}

/// Starts the guard. Call once, after the reaper, before any plugin starts.
pub fn start_guard() -> io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("guard")
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let (mut child, exited) = spawn_tracked(&mut cmd)?;
    let stdin = child.stdin.take().expect("stdin was piped");
    // The std Child is never waited on: the reaper reports its exit on `exited`.
    *guard().lock().unwrap_or_else(|e| e.into_inner()) = Some(Guard {
        stdin: Some(stdin),
        exited: Some(exited),
    });
    Ok(())
}

/// Tells the guard about a plugin cgroup directory, to empty and remove after the exporter's
/// death. Without a guard (tests, `check-plugin`) it does nothing.
pub fn watch_cgroup(dir: &Path) {
    let mut g = guard().lock().unwrap_or_else(|e| e.into_inner());
    let Some(stdin) = g.as_mut().and_then(|g| g.stdin.as_mut()) else {
        return;
    };
    // One short line on a pipe the guard drains at once: never blocks in practice.
    if let Err(e) = writeln!(stdin, "cgroup {}", dir.display()) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot tell the guard about a cgroup");
    }
}

/// Stops the guard on a clean shutdown: closes its stdin (it cleans up what is left, which is
/// nothing by then) and waits until it has been reaped, so it is not left behind as a zombie.
pub async fn stop_guard() {
    let exited = {
        let mut g = guard().lock().unwrap_or_else(|e| e.into_inner());
        let Some(g) = g.as_mut() else { return };
        g.stdin = None;
        g.exited.take()
    };
    if let Some(exited) = exited {
        if tokio::time::timeout(Duration::from_secs(5), exited)
            .await
            .is_err()
        {
            tracing::warn!("the guard process did not exit within 5 s");
        }
    }
}

/// The guard's body: reads `cgroup DIR` lines until end of file (the exporter is gone), then
/// empties and removes those cgroups and kills the exporter's tagged processes until none is
/// left. A killed plugin may have forked while it died, so it scans again until a scan finds
/// nothing.
pub fn run_guard(supervisor: u32) {
    let mut cgroups: Vec<PathBuf> = Vec::new();
    let stdin = io::stdin().lock();
    for line in stdin.lines() {
        let Ok(line) = line else { break };
        if let Some(dir) = line.strip_prefix("cgroup ") {
            let dir = PathBuf::from(dir);
            if !cgroups.contains(&dir) {
                cgroups.push(dir);
            }
        }
    }
    for dir in &cgroups {
        empty_cgroup(dir);
    }
    for _ in 0..ROUNDS {
        if sweep_for(supervisor, None) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for dir in &cgroups {
        remove_cgroup(dir);
    }
}

/// Kills every process in `dir` until it is empty (`cgroup.kill` first where the kernel has
/// it). A cgroup already gone is empty.
fn empty_cgroup(dir: &Path) {
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    for _ in 0..ROUNDS {
        let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
            return;
        };
        let pids: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes an emptied cgroup and, on v1, the exporter's base directory above it once empty.
fn remove_cgroup(dir: &Path) {
    for _ in 0..ROUNDS {
        match std::fs::remove_dir(dir) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            // Busy until the last killed task is gone.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    if let Some(base) = dir.parent() {
        let ours = base
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("plugin-exporter-"));
        if ours {
            let _ = std::fs::remove_dir(base);
        }
    }
}
