//! Plugin processes: starting them fenced, reaping them, and finding and killing what they
//! leave behind. Used by the supervisor ([`crate::plugin`]), the watchdog
//! ([`crate::sandbox::watchdog`]) and `check-plugin`.
//!
//! Three rules keep zombies and orphans impossible:
//! - Every plugin leads its own process group and gets `PR_SET_PDEATHSIG(SIGKILL)`, so killing
//!   the group kills its helpers, and the exporter dying (even by SIGKILL) kills the plugin.
//! - The parent-death signal fires when the *thread* that forked exits, not the process. Tokio
//!   retires idle blocking threads, so all forks happen on one [`spawn::Spawner`] thread that
//!   lives as long as the process.
//! - The exporter is a child subreaper: orphaned descendants of plugins are re-parented to us.
//!   The [`reaper::Reaper`] owns `waitpid` for the whole process: it reaps every child, tracked
//!   or orphan, and hands a tracked child's exit status to whoever waits for it. Before it reaps
//!   a plugin, it SIGKILLs the plugin's process group, while the pid is still a zombie and
//!   cannot be reused: helpers left behind (which may hold the stdout pipe) die with the plugin.
//!
//! Processes that left the group (`setsid`, double fork) are found by the environment tag
//! every plugin gets ([`tags::TAG_PLUGIN`], [`tags::TAG_SUPERVISOR`]) and killed by
//! [`tags::sweep`]; the [`guard`] does the same after the exporter's death.
//!
//! - [`spawn`]: the spawner thread and the pre-exec setup (the only `unsafe` code of the crate
//!   besides systemd's socket handling).
//! - [`reaper`]: `waitpid` for the whole process, exit statuses.
//! - [`tags`]: environment tags, sweeps and group signals.
//! - [`guard`]: the process that cleans up after the exporter's death.

pub mod guard;
pub mod reaper;
pub mod spawn;
pub mod tags;
