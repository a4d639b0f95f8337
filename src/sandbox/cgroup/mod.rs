//! One cgroup per plugin: memory, CPU and process limits, usage figures, and a way to kill a
//! plugin's whole process tree even when it left its process group.
//!
//! # Layout
//!
//! - cgroup v2 (`v2.rs`): the exporter's own cgroup must be delegated to it (systemd
//!   `Delegate=yes`, or a container with a writable private cgroup namespace). Because a v2
//!   cgroup that enables controllers for its children may hold no process itself, the exporter
//!   moves itself into `<own>/supervisor` and puts each plugin in a sibling `<own>/plugin-<name>`.
//! - cgroup v1 (`v1.rs`): under our own cgroup of each hierarchy (memory, cpu, cpuacct, pids)
//!   a base `plugin-exporter-<pid>` and one `<base>/<name>` per plugin. The pid in the base
//!   name keeps exporters that share a cgroup (tests, several sidecars) apart, and tells
//!   [`Cgroups::remove_stale`] which bases belong to dead exporters.
//! - Otherwise mode `none`, with the reason, and the caller falls back to its watchdog.
//!
//! Every function takes the cgroup root as an argument, so tests run on a fake tree in a temp
//! dir. Control files are opened without `O_CREAT`: writing a file the kernel would not have
//! fails in tests too, which is why tests pre-create exactly the files a kernel creates.
//! No unsafe code: joining a cgroup is done by the child writing `0` to a descriptor opened
//! here ([`PluginCgroup::join_files`]).
//!
//! # Files
//!
//! This file holds the manager ([`Cgroups`]), one plugin's cgroup ([`PluginCgroup`]) and the
//! [`CgroupMode`]; they dispatch to the backends `v1.rs` and `v2.rs`. What both backends
//! need is in files of its own, none of which uses this one: `limits.rs` ([`CgroupLimits`]
//! and the CPU quota), `error.rs` ([`CgroupError`]),
//! `proc_cgroup.rs` (reading `/proc/self/cgroup`), `control.rs` (reading and writing control
//! files) and `kill.rs` (emptying and removing cgroups).

mod control;
mod error;
mod kill;
mod limits;
mod proc_cgroup;
mod v1;
mod v2;

pub use error::CgroupError;
pub use limits::CgroupLimits;

use crate::sandbox::usage::Usage;
use control::write_value;
use error::chain;
use kill::{kill_until_empty, procs_of, remove_tree};
use limits::cpu_quota_us;
use proc_cgroup::parse_proc_cgroup;
use std::collections::HashSet;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Which cgroup version the exporter uses for plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Unified hierarchy, in a delegated subtree.
    V2,
    /// Legacy hierarchies: memory, cpu, cpuacct and pids.
    V1,
    /// No cgroups: the host does not allow them, or they were turned off.
    None,
}

impl fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupMode::V2 => "v2",
            CgroupMode::V1 => "v1",
            CgroupMode::None => "none",
        })
    }
}

/// The exporter-wide cgroup manager, chosen once at start.
///
/// On v1 one manager per process: managers of the same process share the base directories.
pub struct Cgroups {
    backend: Backend,
    /// Plugin names this manager created cgroups for: [`Cgroups::remove_stale`] keeps them.
    created: Mutex<HashSet<String>>,
}

enum Backend {
    V2(v2::Tree),
    /// Boxed: four hierarchies make it much larger than the others.
    V1(Box<v1::Tree>),
    None(String),
}

impl Cgroups {
    /// Detects the mode from the cgroup mount `sys_root` (normally `/sys/fs/cgroup`), the text
    /// of `/proc/self/cgroup` and our pid, and prepares it (v2: moves us into `supervisor/`
    /// and enables the controllers; v1: creates the base directories). Never fails: a host
    /// that does not allow cgroups gives mode `none`. The string says why, for one log line.
    ///
    /// - `sys_root/cgroup.controllers` exists: v2 when our cgroup (the `0::` line, or its
    ///   parent if that is our `supervisor/`) is not the root cgroup, lists our pid, offers
    ///   `memory` and `pids` (and `cpu`, used if offered), and the setup succeeds; else
    ///   `none`. Details in `v2.rs`.
    /// - Otherwise v1 when memory, cpu, cpuacct and pids hierarchies are listed in
    ///   `/proc/self/cgroup`, mounted at `sys_root/<controller>` (or the co-mount directory,
    ///   like `cpu,cpuacct`), and a base directory can be made in each; else `none`.
    ///   Details in `v1.rs`.
    pub fn detect(sys_root: &Path, proc_self_cgroup: &str, pid: u32) -> (Cgroups, String) {
        let lines = parse_proc_cgroup(proc_self_cgroup);
        let found = if sys_root.join("cgroup.controllers").is_file() {
            v2::detect(sys_root, &lines, pid)
                .map(|(t, why)| (Backend::V2(t), why))
                .map_err(|e| format!("cgroups off: cgroup v2 at {}: {e}", sys_root.display()))
        } else {
            v1::detect(sys_root, &lines, pid)
                .map(|(t, why)| (Backend::V1(Box::new(t)), why))
                .map_err(|e| format!("cgroups off: cgroup v1 at {}: {e}", sys_root.display()))
        };
        match found {
            Ok((backend, why)) => (Cgroups::with(backend), why),
            Err(why) => (Cgroups::none(why.clone()), why),
        }
    }

    /// [`Cgroups::detect`] on the real `/sys/fs/cgroup`, `/proc/self/cgroup` and pid.
    pub fn detect_system() -> (Cgroups, String) {
        match fs::read_to_string("/proc/self/cgroup") {
            Ok(text) => Cgroups::detect(Path::new("/sys/fs/cgroup"), &text, std::process::id()),
            Err(e) => {
                let why = format!("cgroups off: cannot read /proc/self/cgroup: {e}");
                (Cgroups::none(why.clone()), why)
            }
        }
    }

    /// A manager with cgroups off, for the given reason.
    pub fn none(reason: impl Into<String>) -> Cgroups {
        Cgroups::with(Backend::None(reason.into()))
    }

    fn with(backend: Backend) -> Cgroups {
        Cgroups {
            backend,
            created: Mutex::new(HashSet::new()),
        }
    }

    /// The mode in use.
    pub fn mode(&self) -> CgroupMode {
        match self.backend {
            Backend::V2(_) => CgroupMode::V2,
            Backend::V1(_) => CgroupMode::V1,
            Backend::None(_) => CgroupMode::None,
        }
    }

    /// Creates the plugin's cgroup, or reuses it if it exists, and writes every limit (an
    /// unlimited one too, so a reused cgroup loses its old limits).
    pub fn create(&self, plugin: &str, limits: &CgroupLimits) -> Result<PluginCgroup, CgroupError> {
        check_name(plugin)?;
        let cpu_quota = limits.cpu.map(cpu_quota_us).transpose()?;
        let leaf = match &self.backend {
            Backend::None(reason) => {
                return Err(CgroupError::Disabled {
                    reason: reason.clone(),
                })
            }
            Backend::V2(t) => Leaf::V2(t.create(plugin, limits, cpu_quota)?),
            Backend::V1(t) => Leaf::V1(t.create(plugin, limits, cpu_quota)?),
        };
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plugin.to_string());
        Ok(PluginCgroup { leaf })
    }

    /// Removes cgroups left by exporters that died: on v1 the bases `plugin-exporter-<pid>`
    /// of pids that are gone (or now belong to another cgroup), on v2 the `plugin-*` siblings
    /// this manager did not create. Their processes are killed first. Returns how many cgroups
    /// were removed. Call it at start, before creating plugin cgroups.
    pub fn remove_stale(&self) -> usize {
        match &self.backend {
            Backend::None(_) => 0,
            Backend::V1(t) => t.remove_stale(),
            Backend::V2(t) => {
                let keep = self
                    .created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                t.remove_stale(&keep)
            }
        }
    }

    /// Removes the exporter's v1 base directories; call at shutdown, after every plugin
    /// cgroup was removed. Nothing to do on v2 (the exporter stays in `supervisor/`).
    /// Also runs on drop; a base that still has plugin cgroups stays.
    pub fn cleanup(&self) {
        if let Backend::V1(t) = &self.backend {
            t.cleanup();
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// One plugin's cgroup (one directory per hierarchy on v1).
pub struct PluginCgroup {
    leaf: Leaf,
}

enum Leaf {
    V2(PathBuf),
    V1(v1::Dirs),
}

impl PluginCgroup {
    /// The cgroup's directories, one per hierarchy (v2: one), for logs and tests.
    pub fn dirs(&self) -> Vec<&Path> {
        match &self.leaf {
            Leaf::V2(d) => vec![d.as_path()],
            Leaf::V1(d) => d.unique(),
        }
    }

    /// Opens the `cgroup.procs` file of every hierarchy for writing (close-on-exec, never
    /// created). The spawner hands the raw descriptors to the child, which writes `0` to each
    /// before exec: the plugin is inside its cgroup before it runs a single instruction.
    pub fn join_files(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        self.dirs()
            .into_iter()
            .map(|d| {
                let path = d.join("cgroup.procs");
                // std opens with O_CLOEXEC; no `create`, so a missing cgroup is an error.
                match OpenOptions::new().write(true).open(&path) {
                    Ok(f) => Ok(OwnedFd::from(f)),
                    Err(source) => Err(CgroupError::Open { path, source }),
                }
            })
            .collect()
    }

    /// Pids of the processes in the cgroup (union over the hierarchies), sorted.
    pub fn procs(&self) -> Vec<i32> {
        procs_of(&self.dirs())
    }

    /// Usage figures; a file that is missing or unreadable counts as 0.
    pub fn usage(&self) -> Usage {
        match &self.leaf {
            Leaf::V2(d) => v2::usage(d),
            Leaf::V1(d) => d.usage(),
        }
    }

    /// Kills every process in the cgroup: on v2 through `cgroup.kill` when the kernel has it
    /// (5.14+); in any case SIGKILL to every pid listed, again and again while a forking
    /// plugin adds pids, for at most 2 s. Returns whether the cgroup is empty.
    ///
    /// Without freezing there is a tiny window where a listed pid exits and is reused by
    /// an unrelated process before our kill; `pids.max` keeps a fork bomb from widening it.
    pub fn kill_all(&self) -> bool {
        if let Leaf::V2(d) = &self.leaf {
            let kill_file = d.join("cgroup.kill");
            if kill_file.is_file() {
                if let Err(e) = write_value(&kill_file, "1") {
                    tracing::debug!(error = %chain(&e), "cgroup.kill failed; killing pid by pid");
                }
            }
        }
        kill_until_empty(&self.dirs())
    }

    /// True when no process is in the cgroup.
    pub fn is_empty(&self) -> bool {
        self.procs().is_empty()
    }

    /// Kills everything, then removes the cgroup (child cgroups first) in every hierarchy.
    /// Tries every directory and returns the first error (`EBUSY` if something survived).
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.kill_all();
        let mut first = Ok(());
        for d in self.dirs() {
            let mut removed = 0;
            if let Err(e) = remove_tree(d, &mut removed) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

/// Plugin names become directory names.
fn check_name(name: &str) -> Result<(), CgroupError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > 200
        || name.contains(['/', '\0', '\n']);
    if bad {
        return Err(CgroupError::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_one_path_component_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("node-1.x").unwrap();
    }

    #[test]
    fn mode_none_refuses_to_create() {
        let c = Cgroups::none("turned off");
        assert_eq!(c.mode(), CgroupMode::None);
        assert_eq!(c.mode().to_string(), "none");
        assert_eq!(c.remove_stale(), 0);
        let err = c.create("p", &CgroupLimits::default()).err().unwrap();
        assert_eq!(err.to_string(), "cgroups are off: turned off");
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Cgroups>();
        check::<PluginCgroup>();
    }
}
