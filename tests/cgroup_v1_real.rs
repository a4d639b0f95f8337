//! Plugin cgroups on the real cgroup v1 hierarchies of the development and CI machines
//! (root, memory/cpu/cpuacct/pids mounted under /sys/fs/cgroup). These tests fail rather than
//! skip when the hierarchies are not writable: CI runs them as root on such a machine.
//!
//! The tests of this file share one process, hence one base `plugin-exporter-<pid>` per
//! hierarchy: they take turns through [`serial`] so one test's cleanup never removes a base
//! another test is using.

use plugin_exporter::sandbox::cgroup::{CgroupLimits, CgroupMode, Cgroups, PluginCgroup};
use std::fs::{self, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A plugin cgroup removed when the test ends, passed or failed, so one failure does not
/// leave a cgroup behind that makes the next test's cleanup fail too.
struct Scoped(PluginCgroup);

impl std::ops::Deref for Scoped {
    type Target = PluginCgroup;
    fn deref(&self) -> &PluginCgroup {
        &self.0
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

fn create(cg: &Cgroups, name: &str, limits: CgroupLimits) -> Scoped {
    Scoped(cg.create(name, &limits).unwrap())
}

/// What `memory.memsw.limit_in_bytes` reads for a memory limit of `bytes`: the same value
/// when the host has swap to forbid, else unlimited (the kernel's largest page multiple).
fn expected_memsw(bytes: u64) -> String {
    let swap = fs::read_to_string("/proc/swaps").unwrap();
    if swap.lines().skip(1).any(|l| !l.trim().is_empty()) {
        bytes.to_string()
    } else {
        "9223372036854771712".to_string()
    }
}

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The real manager; panics with the detection reason unless it is v1.
fn real_v1() -> Cgroups {
    let (cg, why) = Cgroups::detect_system();
    assert_eq!(
        cg.mode(),
        CgroupMode::V1,
        "these tests need writable cgroup v1 hierarchies (memory, cpu, cpuacct, pids under \
         /sys/fs/cgroup, as root); detection said: {why}"
    );
    cg
}

/// Starts `argv` so that it joins the cgroups of `fds` before exec, as the spawner does.
fn spawn_joined(fds: &[OwnedFd], argv: &[&str]) -> Child {
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the child between fork and exec and only calls write(2) on
    // descriptors the parent keeps open until spawn returns; it reads the Vec moved into it
    // and allocates nothing, takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &raw {
                if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn().expect("cannot start the test child")
}

/// Waits for `child` to exit, up to `limit`; on timeout kills it and panics.
fn wait_for(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the child did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The plugin's directory in the hierarchy that has `file`.
fn dir_with(p: &PluginCgroup, file: &str) -> PathBuf {
    p.dirs()
        .into_iter()
        .find(|d| d.join(file).is_file())
        .unwrap_or_else(|| panic!("no hierarchy of {:?} has {file}", p.dirs()))
        .to_path_buf()
}

fn pids_in(dir: &Path) -> Vec<i32> {
    read_trim(&dir.join("cgroup.procs"))
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

#[test]
fn limits_read_back_and_a_child_joins_every_hierarchy_before_exec() {
    let _turn = serial();
    let cg = real_v1();
    let limits = CgroupLimits {
        memory: Some(64 << 20),
        cpu: Some(0.5),
        pids: Some(16),
    };
    let p = create(&cg, "limits", limits);
    let dirs: Vec<PathBuf> = p.dirs().iter().map(|d| d.to_path_buf()).collect();
    assert_eq!(
        dirs.len(),
        4,
        "separate memory, cpu, cpuacct, pids: {dirs:?}"
    );
    let mem = dir_with(&p, "memory.limit_in_bytes");
    let cpu = dir_with(&p, "cpu.cfs_quota_us");
    let pids = dir_with(&p, "pids.max");
    assert_eq!(read_trim(&mem.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(
        read_trim(&mem.join("memory.memsw.limit_in_bytes")),
        expected_memsw(64 << 20)
    );
    assert_eq!(read_trim(&cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read_trim(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read_trim(&pids.join("pids.max")), "16");

    let fds = p.join_files().unwrap();
    assert_eq!(fds.len(), 4);
    let mut child = spawn_joined(&fds, &["sleep", "30"]);
    drop(fds);
    let pid = child.id() as i32;
    for d in &dirs {
        assert!(pids_in(d).contains(&pid), "{pid} not in {}", d.display());
    }
    assert_eq!(p.procs(), [pid]);
    assert!(!p.is_empty());
    assert!(p.usage().processes >= 1, "{:?}", p.usage());

    assert!(p.kill_all(), "kill_all left {:?}", p.procs());
    assert!(p.is_empty());
    let status = wait_for(&mut child, Duration::from_secs(5), "killed sleep");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    p.remove().unwrap();
    for d in &dirs {
        assert!(!d.exists(), "{} survived remove", d.display());
    }
    drop(p);
    drop(cg);
    for d in &dirs {
        let base = d.parent().unwrap();
        assert!(!base.exists(), "{} survived cleanup", base.display());
    }
}

#[test]
fn reusing_a_cgroup_rewrites_its_limits() {
    let _turn = serial();
    let cg = real_v1();
    let small = CgroupLimits {
        memory: Some(32 << 20),
        cpu: Some(0.25),
        pids: Some(8),
    };
    let p = create(&cg, "reuse", small);
    // Raising the limit above the old memsw only works in the right order.
    let big = CgroupLimits {
        memory: Some(128 << 20),
        cpu: None,
        pids: None,
    };
    let again = cg.create("reuse", &big).unwrap();
    assert_eq!(again.dirs(), p.dirs());
    let mem = dir_with(&p, "memory.limit_in_bytes");
    assert_eq!(read_trim(&mem.join("memory.limit_in_bytes")), "134217728");
    assert_eq!(
        read_trim(&mem.join("memory.memsw.limit_in_bytes")),
        expected_memsw(128 << 20)
    );
    assert_eq!(
        read_trim(&dir_with(&p, "cpu.cfs_quota_us").join("cpu.cfs_quota_us")),
        "-1"
    );
    assert_eq!(read_trim(&dir_with(&p, "pids.max").join("pids.max")), "max");
    p.remove().unwrap();
}

#[test]
fn a_plugin_over_its_memory_limit_is_oom_killed_and_counted() {
    let _turn = serial();
    let cg = real_v1();
    let limits = CgroupLimits {
        memory: Some(32 << 20),
        cpu: None,
        pids: Some(16),
    };
    let p = create(&cg, "oom", limits);
    let before = p.usage();
    assert_eq!(before.oom_kills, 0, "{before:?}");
    let fds = p.join_files().unwrap();
    // tail keeps everything since the last newline, and /dev/zero has none: it grows
    // until the kernel kills it.
    let mut child = spawn_joined(&fds, &["tail", "/dev/zero"]);
    drop(fds);
    let status = wait_for(&mut child, Duration::from_secs(30), "tail /dev/zero");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let after = p.usage();
    assert!(after.oom_kills > before.oom_kills, "{after:?}");
    assert!(after.memory_hits > 0, "{after:?}");
    p.remove().unwrap();
}

#[test]
fn kill_all_empties_a_cgroup_whose_plugin_keeps_forking() {
    let _turn = serial();
    let cg = real_v1();
    let limits = CgroupLimits {
        memory: Some(256 << 20),
        cpu: None,
        pids: Some(64),
    };
    let p = create(&cg, "forker", limits);
    let fds = p.join_files().unwrap();
    // A fork bomb that survives failed forks: every process forks for ever, so slots freed
    // by our kills are refilled at once, until everyone is dead.
    let mut child = spawn_joined(&fds, &["perl", "-e", "fork while 1"]);
    drop(fds);
    assert!(
        eventually(Duration::from_secs(10), || p.usage().pids_hits > 0),
        "the fork loop never hit pids.max: {:?}",
        p.usage()
    );
    assert!(p.procs().len() > 1, "{:?}", p.procs());
    assert!(p.usage().processes <= 64, "{:?}", p.usage());
    assert!(p.kill_all(), "kill_all left {:?}", p.procs());
    assert!(p.is_empty());
    let status = wait_for(&mut child, Duration::from_secs(5), "fork loop");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    p.remove().unwrap();
}

#[test]
fn remove_stale_kills_and_removes_what_a_dead_exporter_left() {
    let _turn = serial();
    let cg = real_v1();
    // Where our bases live, to plant a dead exporter's base next to each.
    let probe = cg.create("probe", &CgroupLimits::default()).unwrap();
    let owns: Vec<PathBuf> = probe
        .dirs()
        .iter()
        .map(|d| d.parent().unwrap().parent().unwrap().to_path_buf())
        .collect();
    probe.remove().unwrap();
    let dead = dead_pid();
    let mut fds = Vec::new();
    let mut stale = Vec::new();
    for own in &owns {
        let base = own.join(format!("plugin-exporter-{dead}"));
        let leaf = base.join("left-behind");
        fs::create_dir_all(&leaf).unwrap();
        let f = OpenOptions::new()
            .write(true)
            .open(leaf.join("cgroup.procs"))
            .unwrap();
        fds.push(OwnedFd::from(f));
        stale.push(base);
    }
    let mut child = spawn_joined(&fds, &["sleep", "30"]);
    drop(fds);
    let removed = cg.remove_stale();
    assert!(removed >= 2 * owns.len(), "removed {removed}");
    for base in &stale {
        assert!(!base.exists(), "{} survived", base.display());
    }
    let status = wait_for(&mut child, Duration::from_secs(5), "stale sleep");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // Our own bases are not stale.
    for own in &owns {
        let ours = own.join(format!("plugin-exporter-{}", std::process::id()));
        assert!(ours.is_dir(), "{} was removed", ours.display());
    }
}

/// A pid no process has right now.
fn dead_pid() -> u32 {
    let max: u32 = read_trim(Path::new("/proc/sys/kernel/pid_max"))
        .parse()
        .unwrap();
    (2..max)
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .expect("some pid is free")
}
