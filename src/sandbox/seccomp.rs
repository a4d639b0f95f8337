//! `syscalls: default`: the seccomp filters, built once as BPF in the parent and installed
//! by the child last of all, after the identity drop ([`crate::process::spawn`]).
//!
//! Refused with EPERM (not a kill, so a plugin can fall back): debugging other processes
//! (`ptrace`, `process_vm_readv`/`writev`), mounts (old and new mount API), `pivot_root`,
//! namespaces (`setns`, `unshare`, `clone` with any `CLONE_NEW*` flag), kernel modules,
//! `kexec`, `bpf`, `perf_event_open`, the keyrings, swap, `reboot`, `userfaultfd`,
//! `io_uring` (whose operations no filter sees), and `personality` with anything but the
//! default persona or a query. `clone3` passes its flags in memory, which a filter cannot
//! read: it is refused with ENOSYS, on which libc falls back to `clone`. On x86_64 the x32
//! system call numbers (which would get around the numbers above) are refused as well, and
//! a call made with another architecture's convention (a 32-bit program, `int 0x80`) kills
//! the process: seccompiler checks the architecture first.

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule,
};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Refused outright with EPERM.
const REFUSED: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_setns,
    libc::SYS_unshare,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

/// The `CLONE_NEW*` flags: `clone` with any of them is refused.
const CLONE_NEW: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// `personality` arguments that are allowed: the default persona and the query.
const PERSONALITY_OK: [u64; 2] = [0, 0xffff_ffff];

/// The filters of `syscalls: default`, in the order to install them. Built once.
pub fn default_filters() -> Result<Vec<BpfProgram>, String> {
    static F: OnceLock<Result<Vec<BpfProgram>, String>> = OnceLock::new();
    F.get_or_init(|| build().map_err(|e| format!("cannot build the seccomp filter: {e}")))
        .clone()
}

fn build() -> Result<Vec<BpfProgram>, seccompiler::BackendError> {
    let arch = std::env::consts::ARCH.try_into()?;
    let cond = |op, value| SeccompCondition::new(0, SeccompCmpArgLen::Dword, op, value);
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|nr| (*nr, Vec::new())).collect();
    let clone_rules = CLONE_NEW
        .iter()
        .map(|flag| {
            let flag = *flag as u32 as u64;
            SeccompRule::new(vec![cond(SeccompCmpOp::MaskedEq(flag), flag)?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    let personality = SeccompRule::new(vec![
        cond(SeccompCmpOp::Ne, PERSONALITY_OK[0])?,
        cond(SeccompCmpOp::Ne, PERSONALITY_OK[1])?,
    ])?;
    rules.insert(libc::SYS_personality, vec![personality]);
    let eperm = SeccompAction::Errno(libc::EPERM as u32);
    let refuse = SeccompFilter::new(rules, SeccompAction::Allow, eperm, arch)?;
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;
    let mut filters = vec![refuse.try_into()?, clone3.try_into()?];
    if cfg!(target_arch = "x86_64") {
        filters.push(x32_guard());
    }
    Ok(filters)
}

/// x86_64 only: refuses every system call numbered as x32 (bit 30 set) with EPERM, since the
/// other filters match the x86_64 numbers only.
fn x32_guard() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x05 | 0x10;
    const JGE_K: u16 = 0x05 | 0x30;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        op(LD_W_ABS, 0, 0, 4),
        op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        op(LD_W_ABS, 0, 0, 0),
        op(JGE_K, 0, 1, X32_SYSCALL_BIT),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_build_and_fit_the_kernel_limit() {
        let filters = default_filters().unwrap();
        assert!(filters.len() >= 2);
        assert!(filters.iter().all(|f| !f.is_empty() && f.len() < 4096));
    }
}
