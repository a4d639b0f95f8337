//! Starting plugin processes: one dedicated thread forks every plugin (see [`super`] for why),
//! and the child sets up its own fence between fork and exec. The only module with `unsafe`
//! code besides systemd's socket handling.

use super::reaper::{spawn_tracked, ExitStatus};
use super::tags::{TAG_PLUGIN, TAG_SUPERVISOR};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use tokio::sync::oneshot;

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
    let (mut child, rx) = spawn_tracked(&mut cmd)?;
    let pid = child.id() as i32;
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
