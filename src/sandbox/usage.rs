//! [`Usage`]: the resource use of one plugin's process tree, as the cgroup backends and the
//! watchdog report it.

/// Resource use of a plugin's whole process tree, cumulative where it counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// Memory in use now.
    pub memory_bytes: u64,
    /// CPU time used, cumulative over restarts.
    pub cpu_seconds: f64,
    /// Processes (v1/v2: tasks) now.
    pub processes: u64,
    /// Kills for exceeding the memory limit (kernel OOM kills, or the watchdog's).
    pub oom_kills: u64,
    /// Times the memory limit was hit.
    pub memory_hits: u64,
    /// Times the process limit was hit.
    pub pids_hits: u64,
    /// Times the CPU quota throttled the plugin.
    pub cpu_hits: u64,
}
