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

mod v1;
mod v2;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long [`PluginCgroup::kill_all`] keeps killing before it gives up.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two rounds of killing: time for SIGKILLed processes to exit.
const KILL_POLL: Duration = Duration::from_millis(10);
/// CFS period for CPU limits, in microseconds (the kernel's default, 100 ms).
const CPU_PERIOD_US: u64 = 100_000;
/// The smallest CFS quota the kernel accepts, in microseconds.
const CPU_MIN_QUOTA_US: u64 = 1_000;

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

/// Limits of one plugin's cgroup; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupLimits {
    /// Memory in bytes; swap is not allowed on top of it.
    pub memory: Option<u64>,
    /// CPU in cores (0.25 is a quarter of one CPU), as a CFS quota.
    pub cpu: Option<f64>,
    /// Tasks (processes and threads) at once.
    pub pids: Option<u64>,
}

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

/// What went wrong with a cgroup operation; carries the path and, for writes, the value.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Cgroups are off (mode `none`).
    #[error("cgroups are off: {reason}")]
    Disabled {
        /// Why (the detection reason).
        reason: String,
    },
    /// The plugin name cannot be a directory name.
    #[error("plugin name {name:?} cannot name a cgroup")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A limit the kernel cannot express.
    #[error("invalid {what} limit {value}")]
    InvalidLimit {
        /// Which limit.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// A limit was asked for a controller our cgroup does not offer.
    #[error("the {controller} controller is not available in {}", path.display())]
    ControllerMissing {
        /// The controller.
        controller: &'static str,
        /// The cgroup lacking it.
        path: PathBuf,
    },
    /// A cgroup directory could not be created.
    #[error("cannot create cgroup {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A control file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A value could not be written to a control file.
    #[error("cannot write {value:?} to {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The value.
        value: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A `cgroup.procs` file could not be opened for the child to join.
    #[error("cannot open {} for writing", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be removed (`EBUSY`: processes or child cgroups left).
    #[error("cannot remove cgroup {}", path.display())]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
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
    pub fn stats(&self) -> CgroupStats {
        match &self.leaf {
            Leaf::V2(d) => v2::stats(d),
            Leaf::V1(d) => d.stats(),
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

/// One line of `/proc/self/cgroup`: `id:controllers:path`.
struct ProcLine<'a> {
    id: &'a str,
    controllers: Vec<&'a str>,
    path: &'a str,
}

fn parse_proc_cgroup(text: &str) -> Vec<ProcLine<'_>> {
    text.lines()
        .filter_map(|l| {
            // The path is last and may itself contain ':'.
            let mut it = l.splitn(3, ':');
            let id = it.next()?;
            let controllers = it.next()?;
            let path = it.next()?;
            Some(ProcLine {
                id,
                controllers: controllers.split(',').filter(|c| !c.is_empty()).collect(),
                path,
            })
        })
        .collect()
}

/// `root` joined with a cgroup path from `/proc/self/cgroup`. `None` when the path climbs
/// out (`/../x`: our cgroup is outside our cgroup namespace, so it is not under the mount).
fn under(root: &Path, cgroup_path: &str) -> Option<PathBuf> {
    let rel = Path::new(cgroup_path.trim_start_matches('/'));
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Some(root.join(rel))
    } else {
        None
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

/// CFS quota per [`CPU_PERIOD_US`] for `cores`.
fn cpu_quota_us(cores: f64) -> Result<u64, CgroupError> {
    if !cores.is_finite() || cores <= 0.0 || cores > 1e6 {
        return Err(CgroupError::InvalidLimit {
            what: "cpu",
            value: cores.to_string(),
        });
    }
    let quota = (cores * CPU_PERIOD_US as f64).round() as u64;
    Ok(quota.max(CPU_MIN_QUOTA_US))
}

/// Writes `value` to a control file in one `write`: cgroupfs takes each write as a whole
/// value, so a split write would be two values. No `O_CREAT`: the kernel makes the files.
/// `O_TRUNC` is ignored by cgroupfs and makes a fake file hold just the last value.
fn write_value(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    match f.write(value.as_bytes()) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(_) => Err(err(io::Error::new(io::ErrorKind::WriteZero, "short write"))),
        Err(e) => Err(err(e)),
    }
}

/// Creates a cgroup directory; an existing one is reused.
fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(source) => Err(CgroupError::CreateDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The whole text of a control file, or an error with its path.
fn read_text(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A single-number file (`memory.current`); missing, unreadable or `max` gives 0.
fn read_number(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The value of `key` in a flat-keyed file (`oom_kill 3` lines); absent gives 0.
fn read_keyed(path: &Path, key: &str) -> u64 {
    let Ok(text) = fs::read_to_string(path) else {
        return 0;
    };
    text.lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == key).then(|| it.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// Pids in a `cgroup.procs` text. Only pids above 1: a garbage 0 or -1 must never reach
/// kill(2), where it would mean "our group" or "everyone".
fn parse_pids(text: &str) -> Vec<i32> {
    text.lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
        .collect()
}

/// Sorted union of the pids in the `cgroup.procs` of `dirs`; unreadable files count as empty.
fn procs_of(dirs: &[&Path]) -> Vec<i32> {
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
fn kill_until_empty(dirs: &[&Path]) -> bool {
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
fn remove_tree(dir: &Path, removed: &mut usize) -> Result<(), CgroupError> {
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

/// An error with its sources, on one line (detection reasons are single strings).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_self_cgroup() {
        let text = "9:name=systemd:/\n3:cpu,cpuacct:/a:b\n0::/system.slice/x.service\n";
        let lines = parse_proc_cgroup(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].id, "3");
        assert_eq!(lines[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(lines[1].path, "/a:b");
        assert!(lines[2].controllers.is_empty());
        assert_eq!(lines[2].path, "/system.slice/x.service");
    }

    #[test]
    fn paths_outside_the_namespace_are_refused() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(under(root, "/"), Some(root.to_path_buf()));
        assert_eq!(under(root, "/a/b"), Some(root.join("a/b")));
        assert_eq!(under(root, "/../x"), None);
    }

    #[test]
    fn cpu_cores_become_a_quota() {
        assert_eq!(cpu_quota_us(0.25).unwrap(), 25_000);
        assert_eq!(cpu_quota_us(2.0).unwrap(), 200_000);
        assert_eq!(cpu_quota_us(0.001).unwrap(), CPU_MIN_QUOTA_US);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                cpu_quota_us(bad),
                Err(CgroupError::InvalidLimit { what: "cpu", .. })
            ));
        }
    }

    #[test]
    fn names_that_are_not_one_path_component_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("node-1.x").unwrap();
    }

    #[test]
    fn pids_never_include_0_or_1() {
        assert_eq!(parse_pids("0\n1\n-1\n42\nx\n7\n"), [42, 7]);
    }

    #[test]
    fn keyed_files_and_numbers_parse_and_default_to_0() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.events");
        fs::write(&f, "low 0\nhigh 0\nmax 12\noom 2\noom_kill 3\n").unwrap();
        assert_eq!(read_keyed(&f, "max"), 12);
        assert_eq!(read_keyed(&f, "oom_kill"), 3);
        assert_eq!(read_keyed(&f, "absent"), 0);
        assert_eq!(read_keyed(&dir.path().join("missing"), "max"), 0);
        let n = dir.path().join("pids.current");
        fs::write(&n, "5\n").unwrap();
        assert_eq!(read_number(&n), 5);
        fs::write(&n, "max\n").unwrap();
        assert_eq!(read_number(&n), 0);
    }

    #[test]
    fn writes_need_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pids.max");
        let err = write_value(&f, "16").unwrap_err();
        assert!(matches!(&err, CgroupError::Write { value, .. } if value == "16"));
        assert!(!f.exists(), "a control file must never be created");
        fs::write(&f, "max\n").unwrap();
        write_value(&f, "16").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "16");
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
