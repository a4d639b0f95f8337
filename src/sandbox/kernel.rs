//! What this kernel (and this exporter's privileges) can enforce of a plugin's tighter
//! fence, probed once: the Landlock ABI, seccomp filters, network namespaces.

use crate::process::spawn::{landlock_abi, seccomp_filter_available};
use std::sync::OnceLock;

/// Bit of `CAP_SYS_ADMIN` in the capability sets of `/proc/<pid>/status`.
const CAP_SYS_ADMIN: u32 = 21;

/// What the kernel offers the tighter fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSupport {
    /// The Landlock ABI version; 0 without Landlock. File system rules need 1, TCP port
    /// rules 4.
    pub landlock_abi: i32,
    /// Seccomp filters that return an errno.
    pub seccomp: bool,
    /// Network namespaces this exporter may create (the kernel has them, the exporter holds
    /// `CAP_SYS_ADMIN`, and `user.max_net_namespaces` is not 0).
    pub netns: bool,
}

impl KernelSupport {
    /// The support of this host, probed on first use.
    pub fn get() -> KernelSupport {
        static K: OnceLock<KernelSupport> = OnceLock::new();
        *K.get_or_init(KernelSupport::probe)
    }

    fn probe() -> KernelSupport {
        KernelSupport {
            landlock_abi: landlock_abi(),
            seccomp: seccomp_filter_available(),
            netns: netns_available(),
        }
    }

    /// True when Landlock can hold TCP ports (ABI 4 and later).
    pub fn landlock_net(&self) -> bool {
        self.landlock_abi >= 4
    }

    /// The labels of `plugin_exporter_sandbox_info`: `landlock_abi`, `seccomp`, `netns`.
    pub fn labels(&self) -> [String; 3] {
        [
            self.landlock_abi.to_string(),
            self.seccomp.to_string(),
            self.netns.to_string(),
        ]
    }
}

fn netns_available() -> bool {
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        return false;
    }
    let limit = std::fs::read_to_string("/proc/sys/user/max_net_namespaces");
    if limit.is_ok_and(|l| l.trim() == "0") {
        return false;
    }
    has_capability(CAP_SYS_ADMIN)
}

/// True when this process holds capability number `bit` in its effective set
/// (`CapEff:` of `/proc/self/status`).
pub(crate) fn has_capability(bit: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_is_probed_once_and_labelled() {
        let k = KernelSupport::get();
        assert_eq!(k, KernelSupport::get());
        assert!(k.landlock_abi >= 0);
        let labels = k.labels();
        assert!(labels[1] == "true" || labels[1] == "false");
    }
}
