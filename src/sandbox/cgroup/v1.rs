//! cgroup v1: one directory per plugin in each of the memory, cpu, cpuacct and pids
//! hierarchies.
//!
//! Detection rules (the first that fails gives mode `none` with its reason):
//! 1. `/proc/self/cgroup` lists a hierarchy for each of memory, cpu, cpuacct and pids.
//!    cpu and cpuacct on one line are one hierarchy (co-mounted), handled once.
//! 2. Each is mounted at `sys_root/<controllers of its line>` (like `cpu,cpuacct`) or
//!    `sys_root/<controller>` (a plain mount, or the symlink next to a co-mount).
//! 3. Our cgroup in it is `<mount>/<path>`; when that does not exist (a container without a
//!    cgroup namespace sees host paths over a bind mount of its own cgroup), the mount root if
//!    its `cgroup.procs` lists our pid. It must be a cgroup (have `cgroup.procs`).
//! 4. The base `plugin-exporter-<pid>` can be created in each: that is the writability test.
//!
//! Limits: `memory.limit_in_bytes`, plus `memory.memsw.limit_in_bytes` at the same value when
//! the file exists and the host has swap (no swap on top of the limit); `cpu.cfs_period_us`
//! 100000 and `cpu.cfs_quota_us`; `pids.max`.
//!
//! freezer is not used: [`super::PluginCgroup::kill_all`] kills until empty instead, and
//! `pids.max` bounds how fast a plugin can fork while we kill.

use super::control::{make_dir, read_keyed, read_number, write_value};
use super::error::{chain, CgroupError};
use super::kill::{parse_pids, remove_tree};
use super::limits::{CgroupLimits, CPU_PERIOD_US};
use super::proc_cgroup::{parse_proc_cgroup, under, ProcLine};
use crate::sandbox::usage::Usage;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Prefix of the per-exporter base directory; the exporter's pid follows.
const BASE_PREFIX: &str = "plugin-exporter-";

/// Where one hierarchy keeps our plugin cgroups.
#[derive(Debug, Clone)]
struct Hier {
    /// The controller we use it for.
    controller: &'static str,
    /// Our cgroup's path in it, as `/proc/self/cgroup` says.
    own_rel: String,
    /// `<our cgroup>/plugin-exporter-<pid>`.
    base: PathBuf,
}

/// The v1 hierarchies we use.
pub(crate) struct Tree {
    pid: u32,
    /// Whether the host has swap now (a function so tests can choose).
    host_swap: fn() -> bool,
    memory: Hier,
    cpu: Hier,
    /// Same base as `cpu` when co-mounted.
    cpuacct: Hier,
    pids: Hier,
}

/// One plugin's directories; `cpuacct == cpu` when co-mounted.
pub(crate) struct Dirs {
    memory: PathBuf,
    cpu: PathBuf,
    cpuacct: PathBuf,
    pids: PathBuf,
}

/// Applies the rules of the module docs; `Err` is the reason for mode `none`.
pub(crate) fn detect(
    sys_root: &Path,
    lines: &[ProcLine<'_>],
    pid: u32,
) -> Result<(Tree, String), String> {
    let (_, memory) = locate(sys_root, lines, "memory", pid)?;
    let (cpu_line, cpu) = locate(sys_root, lines, "cpu", pid)?;
    let (acct_line, cpuacct) = locate(sys_root, lines, "cpuacct", pid)?;
    let cpuacct = if acct_line == cpu_line {
        Hier {
            controller: "cpuacct",
            ..cpu.clone()
        }
    } else {
        cpuacct
    };
    let (_, pids) = locate(sys_root, lines, "pids", pid)?;
    let tree = Tree {
        pid,
        host_swap,
        memory,
        cpu,
        cpuacct,
        pids,
    };
    let mut made: Vec<&Path> = Vec::new();
    for h in tree.unique() {
        if let Err(e) = make_dir(&h.base) {
            // Leave nothing behind when the host turns out not to be usable.
            for b in made {
                let _ = fs::remove_dir(b);
            }
            return Err(chain(&e));
        }
        made.push(&h.base);
    }
    let bases: Vec<String> = made.iter().map(|b| b.display().to_string()).collect();
    let why = format!(
        "cgroup v1: memory, cpu, cpuacct and pids; plugin cgroups under {}",
        bases.join(", ")
    );
    Ok((tree, why))
}

/// Finds `controller`'s hierarchy: the id of its `/proc/self/cgroup` line and our base in it.
fn locate<'a>(
    sys_root: &Path,
    lines: &[ProcLine<'a>],
    controller: &'static str,
    pid: u32,
) -> Result<(&'a str, Hier), String> {
    let line = lines
        .iter()
        .find(|l| l.controllers.contains(&controller))
        .ok_or_else(|| format!("no {controller} hierarchy in /proc/self/cgroup"))?;
    let mount = [
        sys_root.join(line.controllers.join(",")),
        sys_root.join(controller),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .ok_or_else(|| {
        format!(
            "the {controller} hierarchy is not mounted at {}",
            sys_root.join(controller).display()
        )
    })?;
    let lists_us = |dir: &Path| {
        fs::read_to_string(dir.join("cgroup.procs"))
            .is_ok_and(|t| parse_pids(&t).contains(&(pid as i32)))
    };
    let own = match under(&mount, line.path) {
        Some(own) if own.is_dir() => own,
        _ if lists_us(&mount) => mount,
        _ => {
            return Err(format!(
                "our {controller} cgroup {} is not under {}",
                line.path,
                mount.display()
            ))
        }
    };
    if !own.join("cgroup.procs").is_file() {
        return Err(format!(
            "{} is not a cgroup (no cgroup.procs)",
            own.display()
        ));
    }
    let hier = Hier {
        controller,
        own_rel: line.path.to_string(),
        base: own.join(format!("{BASE_PREFIX}{pid}")),
    };
    Ok((line.id, hier))
}

impl Tree {
    /// The hierarchies, each once (cpuacct is left out when co-mounted with cpu).
    fn unique(&self) -> Vec<&Hier> {
        let mut v = vec![&self.memory, &self.cpu];
        if self.cpuacct.base != self.cpu.base {
            v.push(&self.cpuacct);
        }
        v.push(&self.pids);
        v
    }

    /// Creates (or reuses) `<base>/<name>` in every hierarchy and writes the limits.
    pub(crate) fn create(
        &self,
        name: &str,
        limits: &CgroupLimits,
        cpu_quota: Option<u64>,
    ) -> Result<Dirs, CgroupError> {
        let dirs = Dirs {
            memory: self.memory.base.join(name),
            cpu: self.cpu.base.join(name),
            cpuacct: self.cpuacct.base.join(name),
            pids: self.pids.base.join(name),
        };
        for h in self.unique() {
            // Another manager of this process may have removed the base in its cleanup.
            make_dir(&h.base)?;
        }
        for d in dirs.unique() {
            make_dir(d)?;
        }
        let number_or = |v: Option<u64>, unlimited: &str| {
            v.map_or_else(|| unlimited.to_string(), |n| n.to_string())
        };
        let memory = number_or(limits.memory, "-1");
        // The kernel keeps memsw >= limit_in_bytes at every step (EINVAL otherwise), and a
        // reused cgroup may hold a lower memsw: open memsw up, set the limit, then bring memsw
        // down to the same value, which leaves no swap on top of the limit.
        // Only when the host has swap: with memsw == limit every failed charge fails on memsw
        // first, and kernels since 6.13 count failures (memory.failcnt) only for the memory
        // counter, so without swap to forbid it would just hide the limit hits.
        let memsw = dirs.memory.join("memory.memsw.limit_in_bytes");
        let swap_accounting = memsw.is_file();
        if swap_accounting {
            write_value(&memsw, "-1")?;
        }
        write_value(&dirs.memory.join("memory.limit_in_bytes"), &memory)?;
        if swap_accounting && limits.memory.is_some() && (self.host_swap)() {
            write_value(&memsw, &memory)?;
        }
        write_value(
            &dirs.cpu.join("cpu.cfs_period_us"),
            &CPU_PERIOD_US.to_string(),
        )?;
        write_value(
            &dirs.cpu.join("cpu.cfs_quota_us"),
            &number_or(cpu_quota, "-1"),
        )?;
        write_value(&dirs.pids.join("pids.max"), &number_or(limits.pids, "max"))?;
        Ok(dirs)
    }

    /// Removes the bases of exporters that are gone, with everything in them.
    pub(crate) fn remove_stale(&self) -> usize {
        let mut removed = 0;
        for h in self.unique() {
            let Some(Ok(entries)) = h.base.parent().map(fs::read_dir) else {
                continue;
            };
            for e in entries.flatten() {
                let owner = e
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix(BASE_PREFIX))
                    .and_then(|p| p.parse::<u32>().ok());
                let Some(owner) = owner else {
                    continue;
                };
                if owner == self.pid
                    || !e.file_type().is_ok_and(|t| t.is_dir())
                    || owner_alive(owner, h)
                {
                    continue;
                }
                if let Err(err) = remove_tree(&e.path(), &mut removed) {
                    tracing::warn!(error = %chain(&err), "cannot remove a stale exporter cgroup");
                }
            }
        }
        removed
    }

    /// Removes our bases; one that still holds plugin cgroups stays.
    pub(crate) fn cleanup(&self) {
        for h in self.unique() {
            match fs::remove_dir(&h.base) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    path = %h.base.display(),
                    error = %e,
                    "cannot remove the exporter's cgroup base"
                ),
            }
        }
    }
}

/// Whether the host has an active swap area (`/proc/swaps` lists one below its header).
fn host_swap() -> bool {
    fs::read_to_string("/proc/swaps").is_ok_and(|t| t.lines().skip(1).any(|l| !l.trim().is_empty()))
}

/// Whether the exporter that made base `plugin-exporter-<pid>` in `h` still runs: the pid
/// exists and sits in the cgroup holding the base (an exporter never leaves its own v1
/// cgroup, so a pid elsewhere was reused by an unrelated process).
fn owner_alive(pid: u32, h: &Hier) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 || kill(Pid::from_raw(raw), None) == Err(Errno::ESRCH) {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/cgroup")) {
        Ok(text) => parse_proc_cgroup(&text)
            .iter()
            .find(|l| l.controllers.contains(&h.controller))
            .is_none_or(|l| l.path == h.own_rel),
        // Cannot tell (another pid namespace, hidepid): leave it alone.
        Err(_) => true,
    }
}

impl Dirs {
    /// The directories, each hierarchy once.
    pub(crate) fn unique(&self) -> Vec<&Path> {
        let mut v = vec![self.memory.as_path(), self.cpu.as_path()];
        if self.cpuacct != self.cpu {
            v.push(&self.cpuacct);
        }
        v.push(&self.pids);
        v
    }

    /// Usage from the v1 files.
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            memory_bytes: read_number(&self.memory.join("memory.usage_in_bytes")),
            cpu_seconds: read_number(&self.cpuacct.join("cpuacct.usage")) as f64 / 1e9,
            processes: read_number(&self.pids.join("pids.current")),
            oom_kills: read_keyed(&self.memory.join("memory.oom_control"), "oom_kill"),
            // A charge fails on memsw or on memory, never both: the sum is the hits.
            memory_hits: read_number(&self.memory.join("memory.failcnt"))
                + read_number(&self.memory.join("memory.memsw.failcnt")),
            pids_hits: read_keyed(&self.pids.join("pids.events"), "max"),
            cpu_hits: read_keyed(&self.cpu.join("cpu.stat"), "nr_throttled"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CgroupMode, Cgroups};
    use super::*;

    /// The /proc/self/cgroup of the development machine.
    const PROC: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/8ffc\n\
                        2:cpuacct:/\n1:cpu:/\n0::/\n";

    fn put(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Separate memory, cpu, cpuacct and pids mounts, our memory cgroup nested.
    fn separate_tree() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        put(&r.join("memory/process_api/8ffc/cgroup.procs"), "");
        for c in ["cpu", "cpuacct", "pids"] {
            put(&r.join(c).join("cgroup.procs"), "");
        }
        fs::create_dir_all(r.join("unified")).unwrap();
        root
    }

    /// The files a v1 kernel creates in a new cgroup of each hierarchy.
    fn kernel_files(p: &Dirs) {
        for f in [
            "cgroup.procs",
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
        ] {
            put(&p.memory.join(f), "");
        }
        for f in ["cgroup.procs", "cpu.cfs_period_us", "cpu.cfs_quota_us"] {
            put(&p.cpu.join(f), "");
        }
        put(&p.cpuacct.join("cgroup.procs"), "");
        for f in ["cgroup.procs", "pids.max"] {
            put(&p.pids.join(f), "");
        }
    }

    /// Pretends the host has swap (or not), whatever the test machine has.
    fn set_host_swap(cg: &mut Cgroups, swap: bool) {
        match &mut cg.backend {
            super::super::Backend::V1(t) => t.host_swap = if swap { || true } else { || false },
            _ => panic!("not v1"),
        }
    }

    fn dirs_for(cg: &Cgroups, name: &str) -> Dirs {
        match &cg.backend {
            super::super::Backend::V1(t) => Dirs {
                memory: t.memory.base.join(name),
                cpu: t.cpu.base.join(name),
                cpuacct: t.cpuacct.base.join(name),
                pids: t.pids.base.join(name),
            },
            _ => panic!("not v1"),
        }
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn detects_separate_hierarchies_and_makes_the_bases() {
        let root = separate_tree();
        let r = root.path();
        let (cg, why) = Cgroups::detect(r, PROC, 321);
        assert_eq!(cg.mode(), CgroupMode::V1, "{why}");
        assert_eq!(cg.mode().to_string(), "v1");
        for base in [
            "memory/process_api/8ffc/plugin-exporter-321",
            "cpu/plugin-exporter-321",
            "cpuacct/plugin-exporter-321",
            "pids/plugin-exporter-321",
        ] {
            assert!(r.join(base).is_dir(), "{base} missing; {why}");
        }
        cg.cleanup();
        assert!(!r.join("cpu/plugin-exporter-321").exists());
    }

    #[test]
    fn create_writes_the_limits_with_memsw_equal_to_the_limit() {
        let root = separate_tree();
        let (mut cg, why) = Cgroups::detect(root.path(), PROC, 321);
        assert_eq!(cg.mode(), CgroupMode::V1, "{why}");
        set_host_swap(&mut cg, true);
        let d = dirs_for(&cg, "node");
        kernel_files(&d);
        let limits = CgroupLimits {
            memory: Some(64 << 20),
            cpu: Some(0.5),
            pids: Some(16),
        };
        let p = cg.create("node", &limits).unwrap();
        assert_eq!(read(&d.memory.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(
            read(&d.memory.join("memory.memsw.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(read(&d.cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(&d.cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(&d.pids.join("pids.max")), "16");
        assert_eq!(p.join_files().unwrap().len(), 4);
        assert_eq!(p.dirs().len(), 4);

        cg.create("node", &CgroupLimits::default()).unwrap();
        assert_eq!(read(&d.memory.join("memory.limit_in_bytes")), "-1");
        assert_eq!(read(&d.memory.join("memory.memsw.limit_in_bytes")), "-1");
        assert_eq!(read(&d.cpu.join("cpu.cfs_quota_us")), "-1");
        assert_eq!(read(&d.pids.join("pids.max")), "max");
    }

    #[test]
    fn without_swap_accounting_only_the_limit_is_written() {
        let root = separate_tree();
        let (mut cg, _) = Cgroups::detect(root.path(), PROC, 321);
        set_host_swap(&mut cg, true);
        let d = dirs_for(&cg, "n");
        kernel_files(&d);
        fs::remove_file(d.memory.join("memory.memsw.limit_in_bytes")).unwrap();
        let limits = CgroupLimits {
            memory: Some(1 << 20),
            ..CgroupLimits::default()
        };
        cg.create("n", &limits).unwrap();
        assert_eq!(read(&d.memory.join("memory.limit_in_bytes")), "1048576");
        assert!(!d.memory.join("memory.memsw.limit_in_bytes").exists());
    }

    #[test]
    fn without_host_swap_memsw_stays_unlimited() {
        let root = separate_tree();
        let (mut cg, _) = Cgroups::detect(root.path(), PROC, 321);
        set_host_swap(&mut cg, false);
        let d = dirs_for(&cg, "n");
        kernel_files(&d);
        let limits = CgroupLimits {
            memory: Some(1 << 20),
            ..CgroupLimits::default()
        };
        cg.create("n", &limits).unwrap();
        assert_eq!(read(&d.memory.join("memory.limit_in_bytes")), "1048576");
        assert_eq!(read(&d.memory.join("memory.memsw.limit_in_bytes")), "-1");
    }

    #[test]
    fn co_mounted_cpu_and_cpuacct_are_one_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        put(&r.join("memory/cgroup.procs"), "");
        put(&r.join("pids/cgroup.procs"), "");
        put(&r.join("cpu,cpuacct/cgroup.procs"), "");
        std::os::unix::fs::symlink("cpu,cpuacct", r.join("cpu")).unwrap();
        std::os::unix::fs::symlink("cpu,cpuacct", r.join("cpuacct")).unwrap();
        let text = "5:pids:/\n3:cpu,cpuacct:/\n2:memory:/\n";
        let (cg, why) = Cgroups::detect(r, text, 55);
        assert_eq!(cg.mode(), CgroupMode::V1, "{why}");
        let d = dirs_for(&cg, "p");
        assert_eq!(d.cpu, d.cpuacct);
        assert_eq!(d.cpu, r.join("cpu,cpuacct/plugin-exporter-55/p"));
        kernel_files(&d);
        let p = cg.create("p", &CgroupLimits::default()).unwrap();
        assert_eq!(p.dirs().len(), 3);
        assert_eq!(p.join_files().unwrap().len(), 3);
        put(&d.cpu.join("cpuacct.usage"), "1500000000\n");
        put(
            &d.cpu.join("cpu.stat"),
            "nr_periods 10\nnr_throttled 4\nthrottled_time 9\n",
        );
        let s = p.usage();
        assert_eq!(s.cpu_seconds, 1.5);
        assert_eq!(s.cpu_hits, 4);
    }

    #[test]
    fn stats_parse_the_v1_files() {
        let root = separate_tree();
        let (cg, _) = Cgroups::detect(root.path(), PROC, 321);
        let d = dirs_for(&cg, "s");
        kernel_files(&d);
        let p = cg.create("s", &CgroupLimits::default()).unwrap();
        put(&d.memory.join("memory.usage_in_bytes"), "2097152\n");
        put(
            &d.memory.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        );
        put(&d.memory.join("memory.failcnt"), "40\n");
        put(&d.memory.join("memory.memsw.failcnt"), "1\n");
        put(&d.cpuacct.join("cpuacct.usage"), "250000000\n");
        put(&d.cpu.join("cpu.stat"), "nr_periods 5\nnr_throttled 2\n");
        put(&d.pids.join("pids.current"), "6\n");
        put(&d.pids.join("pids.events"), "max 8\n");
        assert_eq!(
            p.usage(),
            Usage {
                memory_bytes: 2 << 20,
                cpu_seconds: 0.25,
                processes: 6,
                oom_kills: 3,
                memory_hits: 41,
                pids_hits: 8,
                cpu_hits: 2,
            }
        );
    }

    #[test]
    fn a_missing_hierarchy_gives_none_with_the_reason() {
        let root = separate_tree();
        let text = "4:memory:/process_api/8ffc\n2:cpuacct:/\n1:cpu:/\n0::/\n";
        let (cg, why) = Cgroups::detect(root.path(), text, 321);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("no pids hierarchy"), "{why}");
        // Nothing was created before the failure was known.
        assert!(!root.path().join("cpu/plugin-exporter-321").exists());

        fs::remove_dir_all(root.path().join("pids")).unwrap();
        let (cg, why) = Cgroups::detect(root.path(), PROC, 321);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("pids hierarchy is not mounted"), "{why}");
    }

    #[test]
    fn an_unwritable_hierarchy_gives_none_and_leaves_nothing() {
        let root = separate_tree();
        // A file where the pids base must go: mkdir fails as on a read-only mount.
        put(&root.path().join("pids/plugin-exporter-321"), "");
        let (cg, why) = Cgroups::detect(root.path(), PROC, 321);
        assert_eq!(cg.mode(), CgroupMode::None);
        assert!(why.contains("cannot create cgroup"), "{why}");
        assert!(!root.path().join("cpu/plugin-exporter-321").exists());
        assert!(!root
            .path()
            .join("memory/process_api/8ffc/plugin-exporter-321")
            .exists());
    }

    #[test]
    fn host_paths_in_a_container_fall_back_to_the_mount_root_listing_us() {
        let root = separate_tree();
        let text = "8:pids:/docker/abc\n4:memory:/docker/abc\n2:cpuacct:/\n1:cpu:/\n";
        let (cg, why) = Cgroups::detect(root.path(), text, 321);
        assert_eq!(cg.mode(), CgroupMode::None, "pid not listed: {why}");
        assert!(why.contains("not under"), "{why}");
        put(&root.path().join("pids/cgroup.procs"), "1\n321\n");
        put(&root.path().join("memory/cgroup.procs"), "321\n");
        let (cg, why) = Cgroups::detect(root.path(), text, 321);
        assert_eq!(cg.mode(), CgroupMode::V1, "{why}");
        assert!(root.path().join("pids/plugin-exporter-321").is_dir());
        assert!(root.path().join("memory/plugin-exporter-321").is_dir());
    }

    #[test]
    fn remove_stale_takes_dead_exporters_bases_only() {
        let root = separate_tree();
        let (cg, _) = Cgroups::detect(root.path(), PROC, std::process::id());
        let dead = dead_pid();
        let stale = root.path().join(format!("cpu/plugin-exporter-{dead}"));
        fs::create_dir_all(stale.join("plugin-a")).unwrap();
        fs::create_dir_all(root.path().join("cpu/plugin-exporter-x")).unwrap();
        assert_eq!(cg.remove_stale(), 2);
        assert!(!stale.exists());
        assert!(root.path().join("cpu/plugin-exporter-x").exists());
        let ours = format!("cpu/plugin-exporter-{}", std::process::id());
        assert!(root.path().join(ours).is_dir());
    }

    /// A pid no process has right now.
    fn dead_pid() -> u32 {
        let max: u32 = read(Path::new("/proc/sys/kernel/pid_max"))
            .trim()
            .parse()
            .unwrap();
        (2..max)
            .rev()
            .find(|p| kill(Pid::from_raw(*p as i32), None) == Err(Errno::ESRCH))
            .expect("some pid is free")
    }
}
