//! The Landlock ruleset of one plugin start, made in the parent with the `landlock` crate:
//! the file system rules of an [`FsPlan`] and the TCP port rules of a [`Ports`]. The crate's
//! best-effort compatibility drops what an older kernel does not know (the report of what
//! that leaves unenforced comes from [`super::kernel`]); the child enforces the ruleset with
//! the raw `landlock_restrict_self` ([`crate::process::spawn`]).

use super::fs_rules::FsPlan;
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, ABI,
};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// The newest ABI whose rights this fence asks for (tested on a kernel with it).
const TARGET: ABI = ABI::V7;

/// TCP ports a plugin may connect to and bind; nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports {
    /// Ports it may connect to.
    pub connect: Vec<u16>,
    /// Ports it may bind.
    pub bind: Vec<u16>,
}

/// A ruleset ready for the child.
#[derive(Debug)]
pub struct Prepared {
    /// The ruleset.
    pub fd: OwnedFd,
    /// The access the child's own paths get ([`FsPlan::own_read`]); 0 without file system
    /// rules.
    pub own_access: u64,
}

/// Makes the ruleset: file system rules when `fs` is given, TCP rules when `net` is. `None`
/// when the kernel enforces neither.
pub fn build(fs: Option<&FsPlan>, net: Option<&Ports>) -> Result<Option<Prepared>, String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("Landlock: {what}: {e}");
    let mut ruleset = Ruleset::default();
    if fs.is_some() {
        ruleset = ruleset
            .handle_access(AccessFs::from_all(TARGET))
            .map_err(|e| err("file system rights", &e))?;
    }
    if net.is_some() {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET))
            .map_err(|e| err("network rights", &e))?;
    }
    let mut created = ruleset
        .create()
        .map_err(|e| err("cannot create a ruleset", &e))?;
    // The crate's read set includes Execute: read here is reading only.
    let read = AccessFs::from_read(TARGET) & !AccessFs::Execute;
    if let Some(plan) = fs {
        let write = AccessFs::from_all(TARGET) & !AccessFs::Execute;
        let exec = read | AccessFs::Execute;
        for (paths, access) in [(&plan.read, read), (&plan.write, write), (&plan.exec, exec)] {
            created = add_paths(created, paths, access)?;
        }
    }
    if let Some(ports) = net {
        for port in &ports.connect {
            created = created
                .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
                .map_err(|e| err("port rule", &e))?;
        }
        for port in &ports.bind {
            created = created
                .add_rule(NetPort::new(*port, AccessNet::BindTcp))
                .map_err(|e| err("port rule", &e))?;
        }
    }
    let fd: Option<OwnedFd> = created.into();
    Ok(fd.map(|fd| Prepared {
        fd,
        own_access: if fs.is_some() { read.bits() } else { 0 },
    }))
}

/// Adds a rule for each path that exists; a file gets only the rights that apply to files.
fn add_paths(
    mut created: RulesetCreated,
    paths: &[PathBuf],
    access: BitFlags<AccessFs>,
) -> Result<RulesetCreated, String> {
    for path in paths {
        let Ok(fd) = PathFd::new(path) else {
            continue; // absent on this host
        };
        let is_dir =
            nix::sys::stat::fstat(&fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        let access = if is_dir {
            access
        } else {
            access & AccessFs::from_file(TARGET)
        };
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| format!("Landlock: rule for {}: {e}", path.display()))?;
    }
    Ok(created)
}
