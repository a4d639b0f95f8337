//! Emptying and removing cgroups: the pids listed in `cgroup.procs`, SIGKILL until none is
//! left, and removal of a cgroup tree, child cgroups first.

use super::error::CgroupError;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long [`kill_until_empty`] (and so [`super::PluginCgroup::kill_all`]) keeps killing
/// before it gives up.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two rounds of killing: time for SIGKILLed processes to exit.
const KILL_POLL: Duration = Duration::from_millis(10);

/// Pids in a `cgroup.procs` text. Only pids above 1: a garbage 0 or -1 must never reach
/// kill(2), where it would mean "our group" or "everyone".
pub(crate) fn parse_pids(text: &str) -> Vec<i32> {
    text.lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
        .collect()
}

/// Sorted union of the pids in the `cgroup.procs` of `dirs`; unreadable files count as empty.
pub(crate) fn procs_of(dirs: &[&Path]) -> Vec<i32> {
    let mut pids: Vec<i32> = dirs
        .iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| parse_pids(&t))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// SIGKILLs every process in `dirs` until none is left or [`KILL_TIMEOUT`] passed. Never
/// signals the exporter itself, should it be listed. Returns whether `dirs` are empty.
pub(crate) fn kill_until_empty(dirs: &[&Path]) -> bool {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        let pids = procs_of(dirs);
        if pids.is_empty() {
            return true;
        }
        if pids == [me] || Instant::now() >= deadline {
            return false;
        }
        for p in pids.into_iter().filter(|p| *p != me) {
            match kill(Pid::from_raw(p), Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => tracing::debug!(pid = p, %e, "cannot kill a process in a plugin cgroup"),
            }
        }
        // SIGKILL is delivered asynchronously; the processes leave the cgroup as they exit.
        std::thread::sleep(KILL_POLL);
    }
}

/// Kills what is inside `dir` and removes it, child cgroups first (rmdir refuses a cgroup
/// with children). Counts removed cgroups in `removed`; a missing `dir` is not an error.
pub(crate) fn remove_tree(dir: &Path, removed: &mut usize) -> Result<(), CgroupError> {
    let mut first = Ok(());
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if let Err(err) = remove_tree(&e.path(), removed) {
                    if first.is_ok() {
                        first = Err(err);
                    }
                }
            }
        }
    }
    kill_until_empty(&[dir]);
    match fs::remove_dir(dir) {
        Ok(()) => *removed += 1,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            if first.is_ok() {
                first = Err(CgroupError::RemoveDir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_never_include_0_or_1() {
        assert_eq!(parse_pids("0\n1\n-1\n42\nx\n7\n"), [42, 7]);
    }
}
