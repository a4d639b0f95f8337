//! The fence around one plugin: its cgroup (or, without cgroups, the watchdog), the rlimits
//! its process starts with, its tighter fence ([`super::confine`]: file system, network,
//! system calls, connections), and the usage figures the exporter reports for it.

use super::cgroup::{CgroupLimits, CgroupMode, Cgroups, PluginCgroup};
use super::confine::{self, Tightened};
use super::connections::ConnectionWatch;
use super::kernel::KernelSupport;
use super::rlimits::{grantable, Lowered};
use super::tmpdir;
use super::usage::Usage;
use super::watchdog::{WatchLimits, Watchdog};
use crate::config::{Filesystem, Limits, SandboxProfile};
use crate::process::spawn::Rlimit;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// The exporter-wide isolation machinery, chosen once at start.
pub struct Sandbox {
    /// The cgroup manager (mode `none` when cgroups cannot be used).
    pub cgroups: Cgroups,
    /// The watchdog, running only in mode `none`.
    pub watchdog: Option<Watchdog>,
    /// The sampler of `sandbox.max_connections`, whatever the cgroup mode.
    pub connections: ConnectionWatch,
}

impl Sandbox {
    /// Uses `cgroups`; starts the watchdog when they are off. Removes the temporary
    /// directories of exporters that died.
    pub fn new(cgroups: Cgroups) -> Arc<Sandbox> {
        let watchdog = (cgroups.mode() == CgroupMode::None)
            .then(|| Watchdog::start(std::time::Duration::from_millis(100)));
        let stale = tmpdir::sweep_stale();
        if stale > 0 {
            tracing::warn!(
                directories = stale,
                "removed plugin temporary directories left by an exporter that died"
            );
        }
        Arc::new(Sandbox {
            cgroups,
            watchdog,
            connections: ConnectionWatch::default(),
        })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        tmpdir::remove_root();
    }
}

/// One plugin's fence.
pub struct Fence {
    plugin: String,
    limits: Limits,
    profile: SandboxProfile,
    sandbox: Arc<Sandbox>,
    cgroup: Option<PluginCgroup>,
}

impl Fence {
    /// Sets up the fence; with cgroups, creates the plugin's cgroup. A cgroup that cannot be
    /// created leaves the plugin to the rlimits, with a warning (it still runs).
    pub fn new(
        sandbox: Arc<Sandbox>,
        plugin: &str,
        limits: Limits,
        profile: SandboxProfile,
    ) -> Fence {
        let cgroup = if sandbox.cgroups.mode() == CgroupMode::None {
            None
        } else {
            let cl = CgroupLimits {
                memory: limits.memory,
                cpu: limits.cpu,
                pids: limits.pids,
            };
            match sandbox.cgroups.create(plugin, &cl) {
                Ok(c) => {
                    // Emptied and removed by the guard if the exporter dies.
                    for dir in c.dirs() {
                        crate::process::guard::watch_cgroup(dir);
                    }
                    Some(c)
                }
                Err(e) => {
                    tracing::error!(plugin, error = %e, "cannot create the plugin's cgroup; it runs with rlimits only");
                    None
                }
            }
        };
        Fence {
            plugin: plugin.to_string(),
            limits,
            profile,
            sandbox,
            cgroup,
        }
    }

    /// The plugin's sandbox profile.
    pub fn profile(&self) -> &SandboxProfile {
        &self.profile
    }

    /// Prepares the tighter fence of one start (see [`confine::prepare`]).
    pub fn confine(&self, plugin: &confine::Plugin) -> Result<Tightened, String> {
        confine::prepare(&self.profile, plugin, KernelSupport::get())
    }

    /// The rlimits for the plugin's process, each lowered to what the exporter may grant
    /// ([`super::rlimits::grantable`]), and what was lowered. Cores are always off. Without
    /// a cgroup holding memory, RLIMIT_DATA stands in for the memory limit; without a cgroup
    /// holding pids, RLIMIT_NPROC stands in for `pids`, and since it counts every process of
    /// the real uid, only when the plugin has a uid of its own.
    pub fn rlimits(&self, own_uid: bool) -> (Vec<(Rlimit, u64)>, Vec<Lowered>) {
        grantable(self.wanted_rlimits(own_uid))
    }

    fn wanted_rlimits(&self, own_uid: bool) -> Vec<(Rlimit, u64)> {
        let mut r = vec![
            (libc::RLIMIT_CORE, 0),
            (libc::RLIMIT_NOFILE, self.limits.nofile),
            (libc::RLIMIT_FSIZE, self.limits.fsize),
        ];
        if self.cgroup.is_none() {
            if let Some(m) = self.limits.memory {
                r.push((libc::RLIMIT_DATA, m));
            }
        }
        // Only without a cgroup: `pids.max` is exact, and its hits are counted, while a fork
        // refused by RLIMIT_NPROC (which counts every process of the uid) is seen by no one.
        if own_uid && self.cgroup.is_none() {
            if let Some(p) = self.limits.pids {
                r.push((libc::RLIMIT_NPROC, p));
            }
        }
        r
    }

    /// Open `cgroup.procs` files for the child to join before exec.
    pub fn join_files(&self) -> std::io::Result<Vec<OwnedFd>> {
        match &self.cgroup {
            Some(c) => c.join_files().map_err(std::io::Error::other),
            None => Ok(Vec::new()),
        }
    }

    /// Called once the plugin runs, with its process group.
    pub fn started(&self, pgid: i32) {
        if let Some(max) = self.profile.max_connections {
            self.sandbox.connections.watch(&self.plugin, pgid, max);
        }
        if let Some(w) = &self.sandbox.watchdog {
            w.watch(
                &self.plugin,
                pgid,
                WatchLimits {
                    memory: self.limits.memory,
                    cpu: self.limits.cpu,
                },
            );
        }
    }

    /// Called when an instance is over: kills whatever is left in its cgroup (processes that
    /// left the group with setsid or a double fork) and stops watching it. Killing polls the
    /// cgroup for up to 2 s, so it runs on a blocking thread. Returns true when a cgroup held
    /// the plugin's whole tree, so nothing of it can be elsewhere; false when strays must be
    /// found by their tags ([`crate::process::tags::sweep`]).
    pub async fn ended(self: &Arc<Self>) -> bool {
        if let Some(w) = &self.sandbox.watchdog {
            w.unwatch(&self.plugin);
        }
        self.sandbox.connections.unwatch(&self.plugin);
        if self.cgroup.is_none() {
            self.remove_tmpdir();
            return false;
        }
        let me = self.clone();
        let emptied =
            tokio::task::spawn_blocking(move || me.cgroup.as_ref().is_some_and(|c| c.kill_all()))
                .await
                .unwrap_or(false);
        if !emptied {
            tracing::warn!(plugin = %self.plugin, "processes survive in the plugin's cgroup");
        }
        self.remove_tmpdir();
        emptied
    }

    /// Removes the plugin's private `TMPDIR`, if its file system is fenced.
    fn remove_tmpdir(&self) {
        if self.profile.filesystem != Filesystem::Unconfined {
            tmpdir::remove(&self.plugin);
        }
    }

    /// Kills everything and removes the cgroup (the plugin is gone for good).
    pub fn remove(&self) {
        self.remove_tmpdir();
        if let Some(c) = &self.cgroup {
            if let Err(e) = c.remove() {
                tracing::warn!(plugin = %self.plugin, error = %e, "cannot remove the plugin's cgroup");
            }
        }
    }

    /// The plugin's resource use now.
    pub fn usage(&self) -> Usage {
        if let Some(c) = &self.cgroup {
            return c.usage();
        }
        self.sandbox
            .watchdog
            .as_ref()
            .and_then(|w| w.usage(&self.plugin))
            .unwrap_or_default()
    }

    /// Sockets held at the last sample and kills for holding more than
    /// `sandbox.max_connections` (over every instance); zeros without a bound.
    pub fn connections(&self) -> (u64, u64) {
        let c = &self.sandbox.connections;
        (c.open(&self.plugin), c.hits(&self.plugin))
    }
}
