//! Process bookkeeping: the environment tags every plugin process carries, sweeps that kill
//! tagged processes wherever they went, and signals to process groups.

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// Environment variable naming the plugin in every process a plugin starts.
pub const TAG_PLUGIN: &str = "PLUGIN_EXPORTER_PLUGIN";
/// Environment variable holding the exporter's pid, to find a plugin's strays.
pub const TAG_SUPERVISOR: &str = "PLUGIN_EXPORTER_SUPERVISOR_PID";

/// Sends `sig` to a plugin's process group. A group that is already gone is not an error.
pub fn signal_group(pgid: Pid, sig: Signal) {
    match killpg(pgid, sig) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pgid = pgid.as_raw(), %e, "cannot signal plugin process group"),
    }
}

/// SIGKILLs every process tagged as started by this exporter for `plugin` (or for any plugin
/// when `None`), whatever its group or session. Returns how many were signalled.
pub fn sweep(plugin: Option<&str>) -> usize {
    sweep_for(std::process::id(), plugin)
}

pub fn sweep_for(supervisor: u32, plugin: Option<&str>) -> usize {
    let sup = supervisor.to_string();
    let mut killed = 0;
    for (pid, tags) in tagged_processes() {
        if tags.supervisor.as_deref() != Some(sup.as_str()) {
            continue;
        }
        if plugin.is_some() && tags.plugin.as_deref() != plugin {
            continue;
        }
        if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
            killed += 1;
        }
    }
    killed
}

/// SIGKILLs strays of an earlier exporter that died without cleaning up (for example killed
/// by SIGKILL while a plugin's helper had left its group): tagged processes whose supervisor
/// pid is no longer a running plugin-exporter. Returns how many were signalled.
pub fn sweep_stale() -> usize {
    let me = std::process::id();
    let mut killed = 0;
    for (pid, tags) in tagged_processes() {
        let Some(sup) = tags
            .supervisor
            .as_deref()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if sup == me || supervisor_alive(sup) {
            continue;
        }
        if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
            killed += 1;
        }
    }
    killed
}

fn supervisor_alive(pid: u32) -> bool {
    // A live supervisor has a process and does not itself carry a supervisor tag.
    std::fs::metadata(format!("/proc/{pid}")).is_ok()
        && read_tags(pid as i32).is_some_and(|t| t.supervisor.is_none())
}

/// The environment tags of a process.
#[derive(Debug, Default)]
pub struct Tags {
    /// Value of [`TAG_PLUGIN`].
    pub plugin: Option<String>,
    /// Value of [`TAG_SUPERVISOR`].
    pub supervisor: Option<String>,
}

/// Reads the tags from `/proc/<pid>/environ`; `None` when it cannot be read.
pub fn read_tags(pid: i32) -> Option<Tags> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let mut tags = Tags::default();
    for var in env.split(|b| *b == 0) {
        if let Some(v) = var.strip_prefix(format!("{TAG_PLUGIN}=").as_bytes()) {
            tags.plugin = Some(String::from_utf8_lossy(v).into_owned());
        } else if let Some(v) = var.strip_prefix(format!("{TAG_SUPERVISOR}=").as_bytes()) {
            tags.supervisor = Some(String::from_utf8_lossy(v).into_owned());
        }
    }
    Some(tags)
}

/// Every process on the host that carries a supervisor tag, with its tags.
pub fn tagged_processes() -> Vec<(i32, Tags)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, read_tags(pid)?)))
        .filter(|(_, t)| t.supervisor.is_some())
        .collect()
}

/// True while any process of the group `pgid` exists (zombies included).
pub fn group_alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}
