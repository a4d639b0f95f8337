//! One plugin start's tighter fence, prepared before the fork: a plugin's
//! [`SandboxProfile`] turned into the [`Confinement`] its child applies (network namespace,
//! Landlock ruleset, seccomp filters), its `TMPDIR`, and the list of what this kernel
//! cannot enforce.
//!
//! What cannot be enforced, and how it falls back:
//! - `filesystem` without Landlock: not fenced (the `TMPDIR` is still made). Landlock ABIs
//!   before 3 and 5 leave truncation and device ioctls unfenced.
//! - `network: none` without network namespaces (they need `CAP_SYS_ADMIN`): Landlock (ABI
//!   4 and later) refuses TCP connects and binds; UDP and other sockets stay open.
//!   `network: loopback` has no such fallback.
//! - `network: {connect, bind}` before Landlock ABI 4: not enforced. UDP is never held to
//!   ports: Landlock holds TCP only (documented, not reported).
//! - `syscalls: default` without seccomp filters: not enforced.
//!
//! With `network: none` and Landlock ABI 4, TCP is also refused inside the empty namespace,
//! so even a bind there fails.

use super::fs_rules::{self, FsPlan, Start};
use super::kernel::KernelSupport;
use super::ruleset::{self, Ports};
use super::seccomp;
use super::tmpdir;
use crate::config::{Config, Filesystem, Network, SandboxProfile, Syscalls};
use crate::process::spawn::{Confinement, Identity};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What one start needs of its plugin, besides the profile.
pub struct Plugin<'a> {
    /// Its name.
    pub name: &'a str,
    /// `command[0]`, absolute.
    pub program: &'a Path,
    /// Its working directory.
    pub working_dir: Option<&'a Path>,
    /// The `PATH` it gets.
    pub path_env: Option<&'a OsStr>,
    /// The identity it runs as.
    pub run_as: Option<&'a Identity>,
}

/// The prepared fence of one start.
#[derive(Debug, Default)]
pub struct Tightened {
    /// What the child applies.
    pub confinement: Confinement,
    /// Variables to add to its environment (`TMPDIR`).
    pub env: Vec<(OsString, OsString)>,
    /// What this kernel cannot enforce of the profile, in words; empty when all of it is.
    pub unenforced: Vec<String>,
}

/// Prepares the fence of `profile` for one start of `plugin`. Fails when something that
/// should work does not (the ruleset or the `TMPDIR` cannot be made), or when
/// `profile.require` is set and the kernel cannot enforce all of it.
pub fn prepare(
    profile: &SandboxProfile,
    plugin: &Plugin,
    kernel: KernelSupport,
) -> Result<Tightened, String> {
    let mut t = Tightened {
        unenforced: gaps(profile, kernel),
        ..Tightened::default()
    };
    if profile.is_unconfined() {
        return Ok(t);
    }
    if profile.require && !t.unenforced.is_empty() {
        return Err(format!(
            "this kernel cannot enforce the plugin's sandbox ({}); not starting it, since \
             sandbox.require is set",
            t.unenforced.join("; ")
        ));
    }
    let fs_plan = match &profile.filesystem {
        Filesystem::Unconfined => None,
        Filesystem::Fenced { base, extra } => {
            let (uid, gid) = plugin.run_as.map_or((None, None), |id| (id.uid, id.gid));
            let tmp = tmpdir::create(plugin.name, uid, gid)
                .map_err(|e| format!("cannot make the plugin's temporary directory: {e}"))?;
            t.env.push(("TMPDIR".into(), tmp.clone().into_os_string()));
            let start = Start {
                program: plugin.program,
                working_dir: plugin.working_dir,
                tmpdir: &tmp,
                path_env: plugin.path_env,
            };
            (kernel.landlock_abi > 0).then(|| fs_rules::plan(*base, extra, &start))
        }
    };
    let c = &mut t.confinement;
    let netns = kernel.netns && matches!(profile.network, Network::None | Network::Loopback);
    c.new_netns = netns;
    c.loopback = netns && profile.network == Network::Loopback;
    let ports = match &profile.network {
        Network::None => kernel.landlock_net().then(Ports::default),
        Network::Ports { connect, bind } if kernel.landlock_net() => Some(Ports {
            connect: connect.clone(),
            bind: bind.clone(),
        }),
        _ => None,
    };
    if fs_plan.is_some() || ports.is_some() {
        if let Some(prepared) = ruleset::build(fs_plan.as_ref(), ports.as_ref())? {
            c.landlock_own = own_paths(fs_plan.as_ref(), prepared.own_access);
            c.landlock = Some(prepared.fd);
        }
    }
    if profile.syscalls == Syscalls::Default && kernel.seccomp {
        c.seccomp = seccomp::default_filters()?;
    }
    Ok(t)
}

/// What `kernel` cannot enforce of `profile`, in words (see the module docs).
pub fn gaps(profile: &SandboxProfile, kernel: KernelSupport) -> Vec<String> {
    let mut gaps = Vec::new();
    let abi = kernel.landlock_abi;
    if profile.filesystem != Filesystem::Unconfined {
        if abi == 0 {
            gaps.push("filesystem: not fenced: this kernel has no Landlock".to_string());
        }
        for (since, what) in [(3, "truncating files"), (5, "ioctl on devices")] {
            if abi > 0 && abi < since {
                gaps.push(format!(
                    "filesystem: {what} is not fenced (Landlock ABI {abi} < {since})"
                ));
            }
        }
    }
    let no_netns = "no network namespace (the exporter lacks CAP_SYS_ADMIN)";
    match &profile.network {
        Network::None if !kernel.netns && kernel.landlock_net() => gaps.push(format!(
            "network none: {no_netns}: TCP is refused by Landlock, UDP and other sockets are not"
        )),
        Network::None if !kernel.netns => gaps.push(format!(
            "network none: not enforced: {no_netns} and no Landlock TCP rules (ABI {abi} < 4)"
        )),
        Network::Loopback if !kernel.netns => {
            gaps.push(format!("network loopback: not enforced: {no_netns}"))
        }
        Network::Ports { .. } if !kernel.landlock_net() => gaps.push(format!(
            "network ports: not enforced: Landlock holds TCP ports from ABI 4, this kernel has \
             {abi}"
        )),
        _ => {}
    }
    if profile.syscalls == Syscalls::Default && !kernel.seccomp {
        gaps.push("syscalls: not filtered: this kernel has no seccomp filters".to_string());
    }
    gaps
}

/// For `check-config`: a line per plugin whose profile is not `unconfined`, with what this
/// kernel cannot enforce of it.
pub fn describe(config: &Config) -> String {
    let kernel = KernelSupport::get();
    let mut out = String::new();
    for p in config.plugins.iter().filter(|p| !p.sandbox.is_unconfined()) {
        out.push_str(&format!("\n  {}: sandbox {}", p.name, p.sandbox));
        let gaps = gaps(&p.sandbox, kernel);
        if !gaps.is_empty() {
            out.push_str(&format!(" (not enforced here: {})", gaps.join("; ")));
        }
    }
    out
}

/// The child's own paths, as C strings, with the access they get.
fn own_paths(plan: Option<&FsPlan>, access: u64) -> Vec<(CString, u64)> {
    let Some(plan) = plan.filter(|_| access != 0) else {
        return Vec::new();
    };
    plan.own_read
        .iter()
        .filter_map(|p| CString::new(OsStr::new(p).as_bytes()).ok())
        .map(|p| (p, access))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FsPaths, Preset, SandboxKeys};

    fn plugin(name: &str) -> Plugin<'_> {
        Plugin {
            name,
            program: Path::new("/bin/true"),
            working_dir: None,
            path_env: None,
            run_as: None,
        }
    }

    fn strict() -> SandboxProfile {
        SandboxKeys {
            preset: Some(Preset::Strict),
            ..SandboxKeys::default()
        }
        .resolve()
    }

    #[test]
    fn unconfined_prepares_nothing() {
        let t = prepare(
            &SandboxProfile::default(),
            &plugin("x"),
            KernelSupport::get(),
        )
        .unwrap();
        assert!(t.confinement.landlock.is_none() && t.env.is_empty());
    }

    #[test]
    fn what_the_kernel_lacks_is_listed_and_refused_when_required() {
        let none = KernelSupport {
            landlock_abi: 0,
            seccomp: false,
            netns: false,
        };
        let name = format!("confine-test-{}", std::process::id());
        let t = prepare(&strict(), &plugin(&name), none).unwrap();
        assert_eq!(t.unenforced.len(), 3, "{:?}", t.unenforced);
        assert!(t.confinement.landlock.is_none() && !t.confinement.new_netns);
        assert_eq!(t.env[0].0, "TMPDIR");
        let mut required = strict();
        required.require = true;
        let err = prepare(&required, &plugin(&name), none).unwrap_err();
        assert!(err.contains("sandbox.require"), "{err}");
        tmpdir::remove(&name);
    }

    #[test]
    fn a_full_kernel_gets_every_part() {
        let k = KernelSupport::get();
        if k.landlock_abi < 4 || !k.seccomp || !k.netns {
            return; // this host cannot show it
        }
        let name = format!("confine-full-{}", std::process::id());
        let mut p = strict();
        p.filesystem = Filesystem::Fenced {
            base: Preset::Strict,
            extra: FsPaths::default(),
        };
        let t = prepare(&p, &plugin(&name), k).unwrap();
        assert!(t.unenforced.is_empty(), "{:?}", t.unenforced);
        let c = &t.confinement;
        assert!(c.new_netns && !c.loopback && c.landlock.is_some());
        assert_eq!(c.landlock_own.len(), 1);
        assert!(c.seccomp.len() >= 2);
        tmpdir::remove(&name);
    }
}
