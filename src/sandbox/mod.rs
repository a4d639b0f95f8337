//! Isolation of plugins: cgroups where the host allows, otherwise a /proc watchdog.
//!
//! - [`fence`]: one plugin's fence (its cgroup or watchdog entry, rlimits, usage figures) and
//!   the exporter-wide [`fence::Sandbox`].
//! - [`usage`]: a plugin's resource use, as both backends report it.
//! - [`cgroup`]: cgroup v2 and v1 management.
//! - [`rlimits`]: rlimits lowered to what the exporter may grant.
//! - [`watchdog`]: without cgroups, samples process trees and enforces memory and CPU.
//! - The tighter fence of `sandbox:` profiles: [`confine`] prepares one start (and says
//!   what the kernel cannot enforce) from [`fs_rules`] (what to read, write, execute),
//!   [`ruleset`] (Landlock), [`seccomp`] (the BPF filters) and [`tmpdir`] (the private
//!   `TMPDIR`); [`kernel`] probes what this kernel offers; [`connections`] samples and
//!   bounds `max_connections`.

pub mod cgroup;
pub mod confine;
pub mod connections;
pub mod fence;
pub mod fs_rules;
pub mod kernel;
mod proc_scan;
pub mod rlimits;
pub mod ruleset;
pub mod seccomp;
pub mod tmpdir;
pub mod usage;
pub mod watchdog;

pub use fence::{Fence, Sandbox};
pub use kernel::KernelSupport;
pub use usage::Usage;
