//! Starting plugin processes: one dedicated thread forks every plugin (see [`super`] for why),
//! and the child sets up its own fence between fork and exec. The only module with `unsafe`
//! code besides systemd's socket handling, so the kernel probes of the sandbox
//! ([`landlock_abi`], [`seccomp_filter_available`]) live here too.

use super::reaper::{spawn_tracked, ExitStatus};
use super::tags::{TAG_PLUGIN, TAG_SUPERVISOR};
use nix::unistd::Pid;
use std::ffi::{CString, OsString};
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
    /// The tighter fence (network namespace, Landlock, seccomp), prepared before the fork.
    pub confinement: Confinement,
}

/// What the child applies of the tighter fence, prepared in the parent so that the child
/// only makes raw syscalls on it. Empty (the default): nothing is applied.
#[derive(Debug, Default)]
pub struct Confinement {
    /// unshare(CLONE_NEWNET) while still privileged: a network namespace of its own.
    pub new_netns: bool,
    /// Bring `lo` up in that namespace.
    pub loopback: bool,
    /// A Landlock ruleset with its rules, enforced after the identity drop.
    pub landlock: Option<OwnedFd>,
    /// Paths that name something of the child itself (`/proc/self`), with the Landlock
    /// access bits they get: the child opens them and adds them to the ruleset, since in
    /// the parent they would name the parent.
    pub landlock_own: Vec<(CString, u64)>,
    /// Seccomp filters, installed last, in order.
    pub seccomp: Vec<seccompiler::BpfProgram>,
}

/// `struct landlock_path_beneath_attr` of the kernel's uapi (packed).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `LANDLOCK_RULE_PATH_BENEATH`.
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
/// `LANDLOCK_CREATE_RULESET_VERSION`.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The Landlock ABI version the kernel offers; 0 when it has no Landlock (not built in, not
/// enabled at boot, or refused by a seccomp filter around the exporter).
pub fn landlock_abi() -> i32 {
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag
    // only returns the ABI version; no memory is passed.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    v.max(0) as i32
}

/// True when the kernel takes seccomp filters that return an errno.
pub fn seccomp_filter_available() -> bool {
    let action: u32 = libc::SECCOMP_RET_ERRNO;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads the u32 the pointer points to, which lives on
    // this stack frame for the whole call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    rc == 0
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
    let c = &spec.confinement;
    let fence = ChildFence {
        new_netns: c.new_netns,
        loopback: c.loopback,
        landlock: c.landlock.as_ref().map(|fd| fd.as_raw_fd()),
        landlock_own: c.landlock_own.clone(),
        seccomp: c.seccomp.clone(),
    };
    // SAFETY: the closure runs in the forked child before exec and makes only raw,
    // async-signal-safe syscalls on data prepared before the fork: no allocation, no
    // locks, no logging. `fence` owns copies made here, in the parent.
    unsafe {
        cmd.pre_exec(move || child_setup(parent, &join, &rlimits, run_as.as_ref(), &fence));
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

/// The [`Confinement`] as the child sees it: raw descriptors, and copies of the paths and
/// filters made before the fork (the child only reads them).
struct ChildFence {
    new_netns: bool,
    loopback: bool,
    landlock: Option<i32>,
    landlock_own: Vec<(CString, u64)>,
    seccomp: Vec<seccompiler::BpfProgram>,
}

/// Runs in the child between fork and exec: raw syscalls only. Order matters: join the
/// cgroups and set limits while still privileged, unshare the network while still root,
/// then no_new_privs and the identity drop, then Landlock, and seccomp last (so that
/// setuid and the rest of this setup are not filtered).
fn child_setup(
    parent: i32,
    join: &[i32],
    rlimits: &[(Rlimit, u64)],
    run_as: Option<&Identity>,
    fence: &ChildFence,
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
        if fence.new_netns {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if fence.loopback {
                loopback_up()?;
            }
        }
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
    if let Some(ruleset) = fence.landlock {
        landlock_restrict(ruleset, &fence.landlock_own)?;
    }
    for program in &fence.seccomp {
        // apply_filter builds the sock_fprog on its stack and makes two syscalls.
        if seccompiler::apply_filter(program).is_err() {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In the child, in its new network namespace: sets `lo` up (SIOCSIFFLAGS), as root.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a socket, two ioctls on an ifreq on this stack frame, and close; no
    // allocation.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let mut rc = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr);
        if rc == 0 {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            rc = libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr);
        }
        let err = io::Error::last_os_error();
        libc::close(s);
        if rc != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// In the child, after the identity drop: adds the rules for the child's own paths to the
/// prepared ruleset and enforces it with the raw landlock_restrict_self (the crate's call
/// may allocate). A path that cannot be opened (absent on this host) gets no rule.
fn landlock_restrict(ruleset: i32, own: &[(CString, u64)]) -> io::Result<()> {
    // SAFETY: open/close on NUL-terminated paths prepared before the fork, and the two
    // Landlock syscalls with an attribute on this stack frame; no allocation.
    unsafe {
        for (path, access) in own {
            let fd = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if fd < 0 {
                continue;
            }
            let attr = PathBeneathAttr {
                allowed_access: *access,
                parent_fd: fd,
            };
            let rc = libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset,
                LANDLOCK_RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0,
            );
            let err = io::Error::last_os_error();
            libc::close(fd);
            if rc != 0 {
                return Err(err);
            }
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
