//! cgroup v2 (unified hierarchy) in a subtree delegated to the exporter.
//!
//! Detection rules, in order (the first that fails gives mode `none` with its reason):
//! 1. `/proc/self/cgroup` has the `0::<path>` line. If `<path>` ends in `/supervisor`, setup
//!    was done before (a second detection in the same process): its parent is our cgroup.
//! 2. Our cgroup is under the mount (not `/../x`) and is not the host's root cgroup: it has a
//!    `cgroup.type` file, which only non-root cgroups have. We never reorganise the root.
//! 3. Our pid is listed in its `cgroup.procs` (or `supervisor/cgroup.procs`): the mount shows
//!    our own cgroup namespace, not someone else's tree.
//! 4. Its `cgroup.controllers` offers `memory` and `pids`: those are what protect the host
//!    from a runaway plugin. `cpu` is used when offered; without it a CPU limit is an error.
//! 5. Setup succeeds (this is the writability test: a tree that is not delegated, or is
//!    read-only through `ProtectControlGroups=yes`, fails here): create `supervisor/`, move
//!    every process of our cgroup into it (no process may stay in a cgroup that enables
//!    controllers for its children), write `+cpu +memory +pids` (those offered) to
//!    `cgroup.subtree_control`.

use super::control::{make_dir, read_keyed, read_number, read_text, write_value};
use super::error::{chain, CgroupError};
use super::kill::{parse_pids, remove_tree};
use super::limits::{CgroupLimits, CPU_PERIOD_US};
use super::proc_cgroup::{under, ProcLine};
use crate::sandbox::usage::Usage;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The leaf the exporter itself moves into.
const SUPERVISOR: &str = "supervisor";
/// Prefix of plugin cgroups, siblings of `supervisor/`.
const PLUGIN_PREFIX: &str = "plugin-";
/// Passes over `cgroup.procs` while moving processes: each pass moves what forked meanwhile.
const MOVE_PASSES: usize = 10;

/// Our delegated cgroup.
pub(crate) struct Tree {
    /// Its directory.
    own: PathBuf,
    /// Whether the cpu controller is enabled for plugin cgroups.
    cpu: bool,
}

/// Applies the rules of the module docs; `Err` is the reason for mode `none`.
pub(crate) fn detect(
    sys_root: &Path,
    lines: &[ProcLine<'_>],
    pid: u32,
) -> Result<(Tree, String), String> {
    let line = lines
        .iter()
        .find(|l| l.id == "0" && l.controllers.is_empty())
        .ok_or("/proc/self/cgroup has no `0::` line")?;
    let mut rel = line.path.trim_end_matches('/');
    if let Some(parent) = rel.strip_suffix(SUPERVISOR) {
        if parent.ends_with('/') {
            rel = parent.trim_end_matches('/');
        }
    }
    let rel = if rel.is_empty() { "/" } else { rel };
    let own = under(sys_root, rel)
        .ok_or_else(|| format!("our cgroup {rel} is outside our cgroup namespace"))?;
    if !own.join("cgroup.type").is_file() {
        return Err(format!(
            "our cgroup {rel} is the root cgroup (or missing); run the exporter in its own \
             cgroup (systemd Delegate=yes, or a container with a private cgroup namespace)"
        ));
    }
    let listed = |dir: &Path| {
        fs::read_to_string(dir.join("cgroup.procs"))
            .is_ok_and(|t| parse_pids(&t).contains(&(pid as i32)))
    };
    if !listed(&own) && !listed(&own.join(SUPERVISOR)) {
        return Err(format!(
            "our pid {pid} is not in {}/cgroup.procs: the mount is not our cgroup namespace's view",
            own.display()
        ));
    }
    let offered = read_text(&own.join("cgroup.controllers")).map_err(|e| chain(&e))?;
    let offered: Vec<&str> = offered.split_whitespace().collect();
    let missing: Vec<&str> = ["memory", "pids"]
        .into_iter()
        .filter(|c| !offered.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "controller(s) {} not offered to {rel} (cgroup.controllers: \"{}\"); enable them in \
             the parent's cgroup.subtree_control (systemd: Delegate=yes)",
            missing.join(", "),
            offered.join(" ")
        ));
    }
    let enable: Vec<&str> = ["cpu", "memory", "pids"]
        .into_iter()
        .filter(|c| offered.contains(c))
        .collect();
    setup(&own, &enable).map_err(|e| {
        format!(
            "{rel} is not delegated to us: {} (systemd: Delegate=yes, no ProtectControlGroups)",
            chain(&e)
        )
    })?;
    let why = format!(
        "cgroup v2: delegated cgroup {rel}, controllers {}; the exporter in {SUPERVISOR}/, \
         plugins in {}/{PLUGIN_PREFIX}<name>",
        enable.join(" "),
        own.display()
    );
    let cpu = enable.contains(&"cpu");
    Ok((Tree { own, cpu }, why))
}

/// Moves every process of `own` into `own/supervisor`, then enables `controllers` for
/// `own`'s children.
fn setup(own: &Path, controllers: &[&str]) -> Result<(), CgroupError> {
    let sup = own.join(SUPERVISOR);
    make_dir(&sup)?;
    let target = sup.join("cgroup.procs");
    let mut moved = HashSet::new();
    for _ in 0..MOVE_PASSES {
        let text = read_text(&own.join("cgroup.procs"))?;
        let fresh: Vec<i32> = parse_pids(&text)
            .into_iter()
            .filter(|p| moved.insert(*p))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for p in fresh {
            match write_value(&target, &p.to_string()) {
                Ok(()) => {}
                // It exited between the read and the move.
                Err(CgroupError::Write { source, .. })
                    if source.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => return Err(e),
            }
        }
    }
    // If a process is still in `own`, the kernel refuses this with EBUSY: the reason says so.
    let value: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
    write_value(&own.join("cgroup.subtree_control"), &value.join(" "))
}

impl Tree {
    /// Creates (or reuses) `<own>/plugin-<name>` and writes its limits.
    pub(crate) fn create(
        &self,
        name: &str,
        limits: &CgroupLimits,
        cpu_quota: Option<u64>,
    ) -> Result<PathBuf, CgroupError> {
        if cpu_quota.is_some() && !self.cpu {
            return Err(CgroupError::ControllerMissing {
                controller: "cpu",
                path: self.own.clone(),
            });
        }
        let dir = self.own.join(format!("{PLUGIN_PREFIX}{name}"));
        make_dir(&dir)?;
        let or_max = |v: Option<u64>| v.map_or_else(|| "max".to_string(), |n| n.to_string());
        write_value(&dir.join("memory.max"), &or_max(limits.memory))?;
        // Without swap accounting (swapaccount=0) the file does not exist; nothing to limit.
        let swap = dir.join("memory.swap.max");
        if swap.is_file() {
            // No swap on top of a memory limit: the limit must mean what it says.
            let value = if limits.memory.is_some() { "0" } else { "max" };
            write_value(&swap, value)?;
        }
        if self.cpu {
            write_value(
                &dir.join("cpu.max"),
                &format!("{} {CPU_PERIOD_US}", or_max(cpu_quota)),
            )?;
        }
        write_value(&dir.join("pids.max"), &or_max(limits.pids))?;
        Ok(dir)
    }

    /// Removes `plugin-*` cgroups whose name is not in `keep`.
    pub(crate) fn remove_stale(&self, keep: &HashSet<String>) -> usize {
        let Ok(entries) = fs::read_dir(&self.own) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(plugin) = name.to_str().and_then(|n| n.strip_prefix(PLUGIN_PREFIX)) else {
                continue;
            };
            if keep.contains(plugin) || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Err(err) = remove_tree(&e.path(), &mut removed) {
                tracing::warn!(error = %chain(&err), "cannot remove a stale plugin cgroup");
            }
        }
        removed
    }
}

/// Usage of the plugin cgroup `dir`.
pub(crate) fn usage(dir: &Path) -> Usage {
    let memory_events = dir.join("memory.events");
    let cpu_stat = dir.join("cpu.stat");
    Usage {
        memory_bytes: read_number(&dir.join("memory.current")),
        cpu_seconds: read_keyed(&cpu_stat, "usage_usec") as f64 / 1e6,
        processes: read_number(&dir.join("pids.current")),
        oom_kills: read_keyed(&memory_events, "oom_kill"),
        memory_hits: read_keyed(&memory_events, "max"),
        pids_hits: read_keyed(&dir.join("pids.events"), "max"),
        cpu_hits: read_keyed(&cpu_stat, "nr_throttled"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CgroupMode, Cgroups};
    use super::*;

    const SERVICE: &str = "system.slice/x.service";

    fn put(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A v2 mount with our cgroup delegated as systemd does it. Only `cgroup.procs` exists in
    /// `supervisor/`, as the kernel would create it on mkdir; tests add plugin dirs themselves.
    fn delegated_tree(pid: u32) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        put(
            &r.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        );
        put(&r.join("cgroup.procs"), "1\n");
        let own = r.join(SERVICE);
        put(
            &own.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        );
        put(&own.join("cgroup.procs"), &format!("{pid}\n"));
        put(&own.join("cgroup.subtree_control"), "");
        put(&own.join("cgroup.type"), "domain\n");
        put(&own.join("supervisor/cgroup.procs"), "");
        root
    }

    /// The files a kernel creates in a new plugin cgroup under our tree.
    fn kernel_plugin_files(own: &Path, name: &str) -> PathBuf {
        let dir = own.join(format!("plugin-{name}"));
        for f in [
            "cgroup.procs",
            "cgroup.kill",
            "cgroup.type",
            "memory.max",
            "memory.swap.max",
            "memory.current",
            "memory.events",
            "cpu.max",
            "cpu.stat",
            "pids.max",
            "pids.current",
            "pids.events",
        ] {
            put(&dir.join(f), "");
        }
        dir
    }

    fn proc_text() -> String {
        format!("0::/{SERVICE}\n")
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn detects_a_delegated_cgroup_and_moves_us_into_supervisor() {
        let pid = 4242;
        let root = delegated_tree(pid);
        let own = root.path().join(SERVICE);
        let (cg, why) = Cgroups::detect(root.path(), &proc_text(), pid);
        assert_eq!(cg.mode(), CgroupMode::V2, "{why}");
        assert!(why.contains("/system.slice/x.service"), "{why}");
        assert_eq!(read(&own.join("supervisor/cgroup.procs")), "4242");
        assert_eq!(
            read(&own.join("cgroup.subtree_control")),
            "+cpu +memory +pids"
        );
    }

    #[test]
    fn detecting_again_from_inside_supervisor_keeps_the_same_tree() {
        let pid = 4242;
        let root = delegated_tree(pid);
        let own = root.path().join(SERVICE);
        put(&own.join("supervisor/cgroup.procs"), "4242\n");
        put(&own.join("cgroup.procs"), "");
        let text = format!("0::/{SERVICE}/supervisor\n");
        let (cg, why) = Cgroups::detect(root.path(), &text, pid);
        assert_eq!(cg.mode(), CgroupMode::V2, "{why}");
        kernel_plugin_files(&own, "a");
        let p = cg.create("a", &CgroupLimits::default()).unwrap();
        assert_eq!(p.dirs(), [own.join("plugin-a")]);
    }

    #[test]
    fn create_writes_every_limit_exactly() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        let (cg, why) = Cgroups::detect(root.path(), &proc_text(), 7);
        assert_eq!(cg.mode(), CgroupMode::V2, "{why}");
        let dir = kernel_plugin_files(&own, "node");
        let limits = CgroupLimits {
            memory: Some(64 << 20),
            cpu: Some(0.25),
            pids: Some(16),
        };
        let p = cg.create("node", &limits).unwrap();
        assert_eq!(read(&dir.join("memory.max")), "67108864");
        assert_eq!(read(&dir.join("memory.swap.max")), "0");
        assert_eq!(read(&dir.join("cpu.max")), "25000 100000");
        assert_eq!(read(&dir.join("pids.max")), "16");

        // Reuse with no limits resets every file to unlimited.
        let p2 = cg.create("node", &CgroupLimits::default()).unwrap();
        assert_eq!(p2.dirs(), p.dirs());
        assert_eq!(read(&dir.join("memory.max")), "max");
        assert_eq!(read(&dir.join("memory.swap.max")), "max");
        assert_eq!(read(&dir.join("cpu.max")), "max 100000");
        assert_eq!(read(&dir.join("pids.max")), "max");

        let fds = p.join_files().unwrap();
        assert_eq!(fds.len(), 1);
    }

    #[test]
    fn create_fails_when_the_kernel_would_lack_a_file() {
        let root = delegated_tree(7);
        let (cg, _) = Cgroups::detect(root.path(), &proc_text(), 7);
        // No pre-created files: like a controller that is not enabled for children.
        let err = cg.create("bare", &CgroupLimits::default()).err().unwrap();
        assert!(
            matches!(&err, CgroupError::Write { path, value, .. }
                if path.ends_with("plugin-bare/memory.max") && value == "max"),
            "{err:?}"
        );
        let dir = kernel_plugin_files(&root.path().join(SERVICE), "bare");
        let p = cg.create("bare", &CgroupLimits::default()).unwrap();
        fs::remove_file(dir.join("cgroup.procs")).unwrap();
        let err = p.join_files().unwrap_err();
        assert!(matches!(&err, CgroupError::Open { path, .. } if path.ends_with("cgroup.procs")));
        assert!(!dir.join("cgroup.procs").exists());
    }

    #[test]
    fn stats_parse_the_v2_files() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        let (cg, _) = Cgroups::detect(root.path(), &proc_text(), 7);
        let dir = kernel_plugin_files(&own, "s");
        let p = cg.create("s", &CgroupLimits::default()).unwrap();
        put(&dir.join("memory.current"), "1048576\n");
        put(
            &dir.join("memory.events"),
            "low 0\nhigh 0\nmax 17\noom 2\noom_kill 2\noom_group_kill 0\n",
        );
        put(
            &dir.join("cpu.stat"),
            "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n\
             nr_periods 40\nnr_throttled 9\nthrottled_usec 12345\n",
        );
        put(&dir.join("pids.current"), "3\n");
        put(&dir.join("pids.events"), "max 4\n");
        assert_eq!(
            p.usage(),
            Usage {
                memory_bytes: 1 << 20,
                cpu_seconds: 2.5,
                processes: 3,
                oom_kills: 2,
                memory_hits: 17,
                pids_hits: 4,
                cpu_hits: 9,
            }
        );
        fs::remove_file(dir.join("pids.events")).unwrap();
        assert_eq!(p.usage().pids_hits, 0);
    }

    #[test]
    fn kill_all_writes_cgroup_kill() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        let (cg, _) = Cgroups::detect(root.path(), &proc_text(), 7);
        let dir = kernel_plugin_files(&own, "k");
        let p = cg.create("k", &CgroupLimits::default()).unwrap();
        assert!(p.kill_all());
        assert_eq!(read(&dir.join("cgroup.kill")), "1");
        assert!(p.is_empty());
    }

    #[test]
    fn remove_stale_removes_only_unknown_plugin_cgroups() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        let (cg, _) = Cgroups::detect(root.path(), &proc_text(), 7);
        kernel_plugin_files(&own, "live");
        cg.create("live", &CgroupLimits::default()).unwrap();
        fs::create_dir_all(own.join("plugin-old/nested")).unwrap();
        fs::create_dir(own.join("other")).unwrap();
        assert_eq!(cg.remove_stale(), 2);
        assert!(!own.join("plugin-old").exists());
        assert!(own.join("plugin-live").is_dir());
        assert!(own.join("other").is_dir());
        assert!(own.join("supervisor").is_dir());
    }

    #[test]
    fn a_cpu_limit_without_the_cpu_controller_is_an_error() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        put(&own.join("cgroup.controllers"), "memory pids\n");
        let (cg, why) = Cgroups::detect(root.path(), &proc_text(), 7);
        assert_eq!(cg.mode(), CgroupMode::V2, "{why}");
        assert_eq!(read(&own.join("cgroup.subtree_control")), "+memory +pids");
        kernel_plugin_files(&own, "c");
        let limits = CgroupLimits {
            cpu: Some(1.0),
            ..CgroupLimits::default()
        };
        let err = cg.create("c", &limits).err().unwrap();
        assert!(matches!(
            err,
            CgroupError::ControllerMissing {
                controller: "cpu",
                ..
            }
        ));
    }

    #[test]
    fn missing_controllers_give_none_with_the_reason() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        put(&own.join("cgroup.controllers"), "cpu io\n");
        let (cg, why) = Cgroups::detect(root.path(), &proc_text(), 7);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("memory, pids not offered"), "{why}");
        assert_eq!(
            read(&own.join("cgroup.subtree_control")),
            "",
            "nothing was set up"
        );
    }

    #[test]
    fn an_undelegated_cgroup_gives_none_with_the_reason() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        // Like a tree we may not write: the supervisor leaf cannot be made.
        fs::remove_dir_all(own.join("supervisor")).unwrap();
        put(&own.join("supervisor"), "not a directory");
        let (cg, why) = Cgroups::detect(root.path(), &proc_text(), 7);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("is not delegated to us"), "{why}");
        assert!(why.contains("supervisor"), "{why}");
    }

    #[test]
    fn a_refused_subtree_control_gives_none() {
        let root = delegated_tree(7);
        let own = root.path().join(SERVICE);
        // Root ignores permission bits in a temp dir, so a missing file stands for the kernel
        // refusing the write (EBUSY, EROFS): the same failure as far as detection can tell.
        fs::remove_file(own.join("cgroup.subtree_control")).unwrap();
        let (cg, why) = Cgroups::detect(root.path(), &proc_text(), 7);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("cgroup.subtree_control"), "{why}");
    }

    #[test]
    fn the_root_cgroup_and_foreign_trees_are_refused() {
        let root = delegated_tree(7);
        let (cg, why) = Cgroups::detect(root.path(), "0::/\n", 7);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("root cgroup"), "{why}");

        let (cg, why) = Cgroups::detect(root.path(), &proc_text(), 99);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("pid 99 is not in"), "{why}");

        let (cg, why) = Cgroups::detect(root.path(), "1:name=systemd:/\n", 7);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("no `0::` line"), "{why}");
    }
}
