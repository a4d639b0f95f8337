//! [`CgroupStats`]: the usage figures of one plugin's cgroup, read by the v1 and v2
//! backends from their own control files.

/// Usage figures of one plugin's cgroup. Counters are cumulative over the cgroup's life.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub struct CgroupStats {
    /// Memory charged now (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub memory_bytes: u64,
    /// CPU time used, in seconds.
    pub cpu_seconds: f64,
    /// Tasks now, as the pids controller counts them (threads included).
    pub processes: u64,
    /// Processes killed by the kernel's OOM killer for exceeding the memory limit.
    pub oom_kills: u64,
    /// Times the memory limit was hit (v2 `memory.events` max, v1 `memory.failcnt` plus
    /// `memory.memsw.failcnt`).
    pub memory_limit_hits: u64,
    /// Forks refused by `pids.max`.
    pub pids_limit_hits: u64,
    /// CFS periods in which the plugin was throttled.
    pub cpu_throttled: u64,
}
