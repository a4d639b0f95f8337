//! Isolation of plugins: cgroups where the host allows, otherwise a /proc watchdog.

pub mod cgroup;
pub mod watchdog;
