//! Isolation of plugins: cgroups where the host allows, otherwise a /proc watchdog.
//!
//! - [`fence`]: one plugin's fence (its cgroup or watchdog entry, rlimits, usage figures) and
//!   the exporter-wide [`fence::Sandbox`].
//! - [`usage`]: a plugin's resource use, as both backends report it.
//! - [`cgroup`]: cgroup v2 and v1 management.
//! - [`rlimits`]: rlimits lowered to what the exporter may grant.
//! - [`watchdog`]: without cgroups, samples process trees and enforces memory and CPU.

pub mod cgroup;
pub mod fence;
mod proc_scan;
pub mod rlimits;
pub mod usage;
pub mod watchdog;

pub use fence::{Fence, Sandbox};
pub use usage::Usage;
