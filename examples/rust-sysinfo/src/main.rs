//! Example plugin-exporter plugin in Rust: host CPU, memory, swap, disks and load average,
//! read with the `sysinfo` crate and spoken over the protocol with the `plugin-protocol` SDK.
//!
//! [`sdk::run`] does the protocol: it sends the plugin's `hello`, answers each `collect` with
//! the batch [`Sysinfo::collect`] fills (echoing the collect's id), and returns on `shutdown`
//! or when stdin closes. Diagnostics go to stderr, which the exporter forwards to its log;
//! stdout carries protocol lines only.
//!
//! CPU usage is measured between two refreshes, so each collect reports the usage since the
//! previous collect (since start for the first one).
#![forbid(unsafe_code)]

use plugin_protocol::sdk::{self, Batch, Collector};
use std::collections::BTreeMap;
use std::process::ExitCode;
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};

/// The plugin's name in its `hello`.
const NAME: &str = "sysinfo";

/// What the plugin keeps between collects.
struct Sysinfo {
    system: System,
    disks: Disks,
}

impl Sysinfo {
    fn new() -> Self {
        // The first CPU refresh sets the baseline the first collect measures against.
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::everything()),
        );
        Sysinfo {
            system,
            disks: Disks::new(),
        }
    }
}

impl Collector for Sysinfo {
    /// Refreshes everything and fills one batch.
    fn collect(&mut self, batch: &mut Batch) -> Result<(), String> {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        // Re-list the disks on each collect: mounts come and go.
        self.disks.refresh(true);

        let mut cpu = batch
            .gauge(
                "sysinfo_cpu_usage_ratio",
                "Share of time each CPU was busy since the previous collect (0 to 1).",
            )
            .unit("ratio");
        for (i, c) in self.system.cpus().iter().enumerate() {
            // sysinfo reports percent; Prometheus prefers ratios.
            cpu.sample(&[("cpu", &i.to_string())], f64::from(c.cpu_usage()) / 100.0);
        }

        let s = &self.system;
        for (name, help, bytes) in [
            (
                "sysinfo_memory_total_bytes",
                "Total physical memory.",
                s.total_memory(),
            ),
            (
                "sysinfo_memory_used_bytes",
                "Physical memory in use.",
                s.used_memory(),
            ),
            (
                "sysinfo_memory_available_bytes",
                "Physical memory available to new allocations without swapping.",
                s.available_memory(),
            ),
            (
                "sysinfo_swap_total_bytes",
                "Total swap space.",
                s.total_swap(),
            ),
            (
                "sysinfo_swap_used_bytes",
                "Swap space in use.",
                s.used_swap(),
            ),
        ] {
            batch
                .gauge(name, help)
                .unit("bytes")
                .sample(&[], bytes as f64);
        }

        // One series per mount point. A mount point can be listed twice when mounts are
        // stacked; the last one listed is the one visible, and a duplicate series would be
        // dropped by the exporter anyway.
        let mut by_mount: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for disk in self.disks.list() {
            by_mount.insert(
                disk.mount_point().to_string_lossy().into_owned(),
                (disk.total_space(), disk.available_space()),
            );
        }
        let mut total = batch
            .gauge(
                "sysinfo_disk_total_bytes",
                "Size of the filesystem mounted at mount_point.",
            )
            .unit("bytes");
        for (mount, (t, _)) in &by_mount {
            total.sample(&[("mount_point", mount)], *t as f64);
        }
        let mut available = batch
            .gauge(
                "sysinfo_disk_available_bytes",
                "Space available to unprivileged users on the filesystem mounted at mount_point.",
            )
            .unit("bytes");
        for (mount, (_, a)) in &by_mount {
            available.sample(&[("mount_point", mount)], *a as f64);
        }

        let load = System::load_average();
        for (name, help, value) in [
            ("sysinfo_load1", "1-minute load average.", load.one),
            ("sysinfo_load5", "5-minute load average.", load.five),
            ("sysinfo_load15", "15-minute load average.", load.fifteen),
        ] {
            batch.gauge(name, help).sample(&[], value);
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    match sdk::run(NAME, env!("CARGO_PKG_VERSION"), Sysinfo::new()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}
