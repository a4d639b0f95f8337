//! What the exporter may grant a plugin: an rlimit above the exporter's own hard limit can
//! only be set with `CAP_SYS_RESOURCE`; without it, `setrlimit` fails in the child and the
//! plugin cannot start at all ("Operation not permitted", as under `ulimit -n 64`). Such a
//! limit is lowered to the hard limit instead, and the lowering is reported.

use std::fmt;

use super::kernel::has_capability;
use crate::process::spawn::Rlimit;

/// Bit of `CAP_SYS_RESOURCE` in the capability sets of `/proc/<pid>/status`.
const CAP_SYS_RESOURCE: u32 = 24;

/// An rlimit set lower than configured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lowered {
    /// The configuration key (`nofile`, `fsize`, `memory`, `pids`).
    pub limit: &'static str,
    /// What the configuration asks for.
    pub configured: u64,
    /// What the plugin gets: the exporter's own hard limit.
    pub applied: u64,
}

impl fmt::Display for Lowered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "limits.{} {} is above the exporter's own hard limit {}, which it cannot raise \
             without CAP_SYS_RESOURCE: the plugin gets {}",
            self.limit, self.configured, self.applied, self.applied
        )
    }
}

/// The configuration key an rlimit stands for.
fn key(resource: Rlimit) -> &'static str {
    match resource {
        libc::RLIMIT_NOFILE => "nofile",
        libc::RLIMIT_FSIZE => "fsize",
        libc::RLIMIT_DATA => "memory",
        libc::RLIMIT_NPROC => "pids",
        _ => "core",
    }
}

fn hard_limit(resource: Rlimit) -> Option<u64> {
    let r = match resource {
        libc::RLIMIT_NOFILE => rlimit::Resource::NOFILE,
        libc::RLIMIT_FSIZE => rlimit::Resource::FSIZE,
        libc::RLIMIT_DATA => rlimit::Resource::DATA,
        libc::RLIMIT_NPROC => rlimit::Resource::NPROC,
        libc::RLIMIT_CORE => rlimit::Resource::CORE,
        _ => return None,
    };
    let (_, hard) = rlimit::getrlimit(r).ok()?;
    (hard != rlimit::INFINITY).then_some(hard)
}

/// True when this process holds `CAP_SYS_RESOURCE` (it may raise hard limits).
fn may_raise_hard_limits() -> bool {
    has_capability(CAP_SYS_RESOURCE)
}

/// Lowers each wanted limit to what this process may grant; returns the limits to set and
/// what was lowered.
pub fn grantable(wanted: Vec<(Rlimit, u64)>) -> (Vec<(Rlimit, u64)>, Vec<Lowered>) {
    if may_raise_hard_limits() {
        return (wanted, Vec::new());
    }
    clamp(wanted, hard_limit)
}

fn clamp(
    wanted: Vec<(Rlimit, u64)>,
    hard: impl Fn(Rlimit) -> Option<u64>,
) -> (Vec<(Rlimit, u64)>, Vec<Lowered>) {
    let mut lowered = Vec::new();
    let limits = wanted
        .into_iter()
        .map(|(resource, value)| match hard(resource) {
            Some(h) if value > h => {
                lowered.push(Lowered {
                    limit: key(resource),
                    configured: value,
                    applied: h,
                });
                (resource, h)
            }
            _ => (resource, value),
        })
        .collect();
    (limits, lowered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_above_the_hard_limit_are_lowered_and_reported() {
        let hard = |r: Rlimit| match r {
            libc::RLIMIT_NOFILE => Some(64),
            _ => None,
        };
        let (limits, lowered) = clamp(
            vec![
                (libc::RLIMIT_CORE, 0),
                (libc::RLIMIT_NOFILE, 1024),
                (libc::RLIMIT_FSIZE, 1 << 26),
            ],
            hard,
        );
        assert_eq!(
            limits,
            [
                (libc::RLIMIT_CORE, 0),
                (libc::RLIMIT_NOFILE, 64),
                (libc::RLIMIT_FSIZE, 1 << 26)
            ]
        );
        assert_eq!(
            lowered,
            [Lowered {
                limit: "nofile",
                configured: 1024,
                applied: 64
            }]
        );
        assert!(lowered[0].to_string().contains("CAP_SYS_RESOURCE"));
    }
}
