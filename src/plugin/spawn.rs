//! Starting, reaping and killing plugin processes. The only module with `unsafe` code.
//!
//! Three rules keep zombies and orphans impossible:
//! - Every plugin leads its own process group and gets `PR_SET_PDEATHSIG(SIGKILL)`, so killing
//!   the group kills its helpers, and the exporter dying (even by SIGKILL) kills the plugin.
//! - The parent-death signal fires when the *thread* that forked exits, not the process. Tokio
//!   retires idle blocking threads, so all forks happen on one [`Spawner`] thread that lives
//!   as long as the process.
//! - The exporter is a child subreaper: orphaned descendants of plugins are re-parented to us.
//!   The [`Reaper`] owns `waitpid` for the whole process: it reaps every child, tracked or
//!   orphan, and hands a tracked child's exit status to whoever waits for it. Before it reaps a
//!   plugin, it SIGKILLs the plugin's process group, while the pid is still a zombie and cannot
//!   be reused: helpers left behind (which may hold the stdout pipe) die with the plugin.
//!
//! Processes that left the group (`setsid`, double fork) are found by the environment tag
//! every plugin gets ([`TAG_PLUGIN`], [`TAG_SUPERVISOR`]) and killed by [`sweep`].

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use tokio::sync::oneshot;

/// Environment variable naming the plugin in every process a plugin starts.
pub const TAG_PLUGIN: &str = "PLUGIN_EXPORTER_PLUGIN";
/// Environment variable holding the exporter's pid, to find a plugin's strays.
pub const TAG_SUPERVISOR: &str = "PLUGIN_EXPORTER_SUPERVISOR_PID";

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal (this number) killed it.
    Signaled(i32),
}

/// What to run, and the fence to run it in.
#[derive(Debug)]
pub struct SpawnSpec {
    /// Plugin name (for the environment tag).
    pub plugin: String,
    /// Executable and arguments.
    pub argv: Vec<String>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory, if any.
    pub working_dir: Option<PathBuf>,
    /// Resource limits (soft = hard) set in the child before exec.
    pub rlimits: Vec<(Rlimit, u64)>,
    /// Open `cgroup.procs` files: the child writes `0` to each before exec, so it never runs
    /// outside its cgroups.
    pub cgroup_join: Vec<OwnedFd>,
    /// Identity to drop to before exec, after every privileged step.
    pub run_as: Option<Identity>,
}

/// A resource for `setrlimit`.
pub type Rlimit = libc::__rlimit_resource_t;

/// The user, group and supplementary groups a plugin runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id; `None` keeps the exporter's.
    pub uid: Option<u32>,
    /// Group id; `None` keeps the exporter's.
    pub gid: Option<u32>,
    /// Supplementary groups (set only when `gid` is set).
    pub groups: Vec<u32>,
}

/// A started plugin process.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid, which is also its process group id.
    pub pid: Pid,
    /// Write end of its stdin.
    pub stdin: OwnedFd,
    /// Read end of its stdout.
    pub stdout: OwnedFd,
    /// Read end of its stderr.
    pub stderr: OwnedFd,
    /// Resolves once the reaper has reaped it.
    pub exited: oneshot::Receiver<ExitStatus>,
}

/// Tracked children: pid -> who wants its exit status.
type Waiters = Mutex<HashMap<i32, oneshot::Sender<ExitStatus>>>;

fn waiters() -> &'static Waiters {
    static W: OnceLock<Waiters> = OnceLock::new();
    W.get_or_init(|| Mutex::new(HashMap::new()))
}

type SpawnRequest = (SpawnSpec, mpsc::Sender<io::Result<Spawned>>);

/// The one thread that forks plugins (see the module docs for why).
#[derive(Clone)]
pub struct Spawner {
    tx: Arc<Mutex<mpsc::Sender<SpawnRequest>>>,
}

impl Spawner {
    /// The process-wide spawner, started on first use.
    pub fn global() -> &'static Spawner {
        static S: OnceLock<Spawner> = OnceLock::new();
        S.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("plugin-spawner".into())
                .spawn(move || {
                    for (spec, reply) in rx {
                        let _ = reply.send(spawn_now(&spec));
                    }
                })
                .expect("cannot start the spawner thread");
            Spawner {
                tx: Arc::new(Mutex::new(tx)),
            }
        })
    }

    /// Starts a plugin process from the spawner thread.
    pub async fn spawn(&self, spec: SpawnSpec) -> io::Result<Spawned> {
        let (reply_tx, reply_rx) = mpsc::channel();
        self.tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((spec, reply_tx))
            .map_err(|_| io::Error::other("spawner thread is gone"))?;
        tokio::task::spawn_blocking(move || {
            reply_rx
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("spawner thread is gone")))
        })
        .await
        .map_err(io::Error::other)?
    }
}

fn spawn_now(spec: &SpawnSpec) -> io::Result<Spawned> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(TAG_PLUGIN, &spec.plugin)
        .env(TAG_SUPERVISOR, std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    let parent = nix::unistd::getpid().as_raw();
    let join: Vec<i32> = spec.cgroup_join.iter().map(|fd| fd.as_raw_fd()).collect();
    let rlimits = spec.rlimits.clone();
    let run_as = spec.run_as.clone();
    // SAFETY: the closure runs in the forked child before exec and makes only raw,
    // async-signal-safe syscalls on data prepared before the fork: no allocation, no
    // locks, no logging.
    unsafe {
        cmd.pre_exec(move || child_setup(parent, &join, &rlimits, run_as.as_ref()));
    }
    // Hold the waiter table while forking so the reaper cannot reap the new pid before it is
    // registered (it would then be treated as an unknown orphan and its status lost).
    let mut table = waiters().lock().unwrap_or_else(|e| e.into_inner());
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let (tx, rx) = oneshot::channel();
    table.insert(pid, tx);
    drop(table);
    // The std Child is never waited on: the reaper owns waitpid. Dropping it does not wait.
    let stdin = child.stdin.take().expect("stdin was piped").into();
    let stdout = child.stdout.take().expect("stdout was piped").into();
    let stderr = child.stderr.take().expect("stderr was piped").into();
    Ok(Spawned {
        pid: Pid::from_raw(pid),
        stdin,
        stdout,
        stderr,
        exited: rx,
    })
}

/// Runs in the child between fork and exec: raw syscalls only. Order matters: join the
/// cgroups and set limits while still privileged, drop the identity last.
fn child_setup(
    parent: i32,
    join: &[i32],
    rlimits: &[(Rlimit, u64)],
    run_as: Option<&Identity>,
) -> io::Result<()> {
    // SAFETY: plain syscalls with integer arguments or pointers to memory prepared before
    // the fork that stays valid until exec; nothing is allocated.
    unsafe {
        if libc::setpgid(0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        // The parent may have died between fork and prctl: then no signal will ever come.
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        for fd in join {
            if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        for (resource, value) in rlimits {
            let lim = libc::rlimit {
                rlim_cur: *value as libc::rlim_t,
                rlim_max: *value as libc::rlim_t,
            };
            if libc::setrlimit(*resource, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        libc::umask(0o022);
        // Mark every inherited descriptor above stderr close-on-exec (Linux 5.11+). Errors are
        // ignored: on older kernels std's own descriptors are close-on-exec already.
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(id) = run_as {
            if let Some(gid) = id.gid {
                let groups: &[u32] = if id.groups.is_empty() {
                    std::slice::from_ref(&gid)
                } else {
                    &id.groups
                };
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0 || libc::setgid(gid) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(uid) = id.uid {
                if libc::setuid(uid) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
    }
    Ok(())
}

/// Owns `waitpid` for the whole process.
pub struct Reaper;

impl Reaper {
    /// Makes this process a child subreaper and starts the reaping task. Call once, from
    /// inside the tokio runtime, before spawning plugins.
    pub fn start() -> io::Result<()> {
        // SAFETY: prctl with integer arguments only changes this process's own attribute.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
        tokio::spawn(async move {
            // SIGCHLD coalesces; the periodic tick is a safety net, not the mechanism.
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tick.tick() => {}
                }
                reap_all();
            }
        });
        Ok(())
    }
}

/// Reaps every exited child: tracked plugins (after killing their group) and orphans.
pub fn reap_all() {
    let mut table = waiters().lock().unwrap_or_else(|e| e.into_inner());
    loop {
        // Peek without reaping: the pid stays a zombie, so its group id cannot be reused
        // while we kill what is left of the group.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let pid = match waitid(Id::All, flags) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => match status.pid() {
                Some(p) => p,
                None => return,
            },
        };
        let tracked = table.contains_key(&pid.as_raw());
        if tracked {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        let status = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => ExitStatus::Exited(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => ExitStatus::Signaled(sig as i32),
            Ok(_) => continue,
            Err(Errno::ECHILD) => return,
            Err(_) => continue,
        };
        if let Some(tx) = table.remove(&pid.as_raw()) {
            let _ = tx.send(status);
        } else {
            tracing::debug!(
                pid = pid.as_raw(),
                ?status,
                "reaped an orphaned plugin descendant"
            );
        }
    }
}

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

fn sweep_for(supervisor: u32, plugin: Option<&str>) -> usize {
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

/// Starts the guard: a small process (this binary, `guard` subcommand) that waits for the
/// exporter to die however it dies, SIGKILL included, and then kills every process tagged
/// with the exporter's pid. The parent-death signal reaches plugins only; the guard reaches
/// what they left behind. The write end of its stdin stays open for the exporter's lifetime.
pub fn start_guard() -> io::Result<()> {
    static GUARD_STDIN: OnceLock<std::process::ChildStdin> = OnceLock::new();
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("guard")
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take().expect("stdin was piped");
    // Never waited on here: when it exits, the reaper reaps it as an untracked child.
    drop(child);
    let _ = GUARD_STDIN.set(stdin);
    Ok(())
}

/// The guard's body: blocks until stdin reaches EOF (the exporter is gone), then kills the
/// exporter's tagged processes until none is left. A killed plugin may have forked while
/// it died, so it scans again until a scan finds nothing.
pub fn run_guard(supervisor: u32) {
    let mut sink = [0u8; 64];
    let mut stdin = io::stdin().lock();
    loop {
        match io::Read::read(&mut stdin, &mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    for _ in 0..100 {
        if sweep_for(supervisor, None) == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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
