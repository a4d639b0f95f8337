//! Example plugin-exporter plugin in Rust: host CPU, memory, swap, disks and load average,
//! read with the `sysinfo` crate and spoken over the protocol with the `plugin-protocol` types.
//!
//! It reads one [`HostMessage`] per line from stdin, answers each `collect` with a
//! [`PluginMessage::Metrics`] that echoes the collect's id, and exits on `shutdown` or when
//! stdin closes. Diagnostics go to stderr, which the exporter forwards to its log; stdout carries
//! protocol lines only.
//!
//! CPU usage is measured between two refreshes, so each collect reports the usage since the
//! previous collect (since start for the first one).
#![forbid(unsafe_code)]

use plugin_protocol::{
    Family, HostMessage, Labels, MetricType, Metrics, PluginHello, PluginMessage, Sample, Value,
    PROTOCOL_VERSION,
};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};

/// The plugin's name in its `hello`.
const NAME: &str = "sysinfo";

/// What the plugin keeps between collects.
struct Collector {
    system: System,
    disks: Disks,
}

impl Collector {
    fn new() -> Self {
        // The first CPU refresh sets the baseline the first collect measures against.
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::everything()),
        );
        Collector {
            system,
            disks: Disks::new(),
        }
    }

    /// Refreshes everything and returns the families of one batch.
    fn collect(&mut self) -> Vec<Family> {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        // Re-list the disks on each collect: mounts come and go.
        self.disks.refresh(true);

        let mut families = Vec::new();

        let cpu_samples = self
            .system
            .cpus()
            .iter()
            .enumerate()
            .map(|(i, cpu)| {
                // sysinfo reports percent; Prometheus prefers ratios.
                let ratio = f64::from(cpu.cpu_usage()) / 100.0;
                sample([("cpu", i.to_string())], ratio)
            })
            .collect();
        families.push(family(
            "sysinfo_cpu_usage_ratio",
            MetricType::Gauge,
            "Share of time each CPU was busy since the previous collect (0 to 1).",
            Some("ratio"),
            cpu_samples,
        ));

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
            families.push(family(
                name,
                MetricType::Gauge,
                help,
                Some("bytes"),
                vec![sample::<&str, 0>([], bytes as f64)],
            ));
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
        let (mut total, mut available) = (Vec::new(), Vec::new());
        for (mount, (t, a)) in &by_mount {
            total.push(sample([("mount_point", mount.clone())], *t as f64));
            available.push(sample([("mount_point", mount.clone())], *a as f64));
        }
        families.push(family(
            "sysinfo_disk_total_bytes",
            MetricType::Gauge,
            "Size of the filesystem mounted at mount_point.",
            Some("bytes"),
            total,
        ));
        families.push(family(
            "sysinfo_disk_available_bytes",
            MetricType::Gauge,
            "Space available to unprivileged users on the filesystem mounted at mount_point.",
            Some("bytes"),
            available,
        ));

        let load = System::load_average();
        for (name, help, value) in [
            ("sysinfo_load1", "1-minute load average.", load.one),
            ("sysinfo_load5", "5-minute load average.", load.five),
            ("sysinfo_load15", "15-minute load average.", load.fifteen),
        ] {
            families.push(family(
                name,
                MetricType::Gauge,
                help,
                None,
                vec![sample::<&str, 0>([], value)],
            ));
        }

        families
    }
}

/// Builds a family.
fn family(
    name: &str,
    kind: MetricType,
    help: &str,
    unit: Option<&str>,
    samples: Vec<Sample>,
) -> Family {
    Family {
        name: name.to_owned(),
        kind,
        help: help.to_owned(),
        unit: unit.map(str::to_owned),
        samples,
    }
}

/// Builds a counter, gauge or untyped sample.
fn sample<K: Into<String>, const N: usize>(labels: [(K, String); N], value: f64) -> Sample {
    Sample {
        labels: labels.into_iter().collect::<Labels>(),
        value: Some(Value(value)),
        ..Sample::default()
    }
}

/// Writes one protocol line and flushes it. An error means the exporter is gone.
fn send(out: &mut impl Write, msg: &PluginMessage) -> io::Result<()> {
    out.write_all(msg.to_line().as_bytes())?;
    out.flush()
}

fn run() -> io::Result<ExitCode> {
    let mut out = io::stdout().lock();
    send(
        &mut out,
        &PluginMessage::Hello(PluginHello {
            protocol: PROTOCOL_VERSION,
            name: Some(NAME.to_owned()),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
    )?;

    let mut collector = Collector::new();
    let mut input = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            // stdin closed: the same as shutdown.
            return Ok(ExitCode::SUCCESS);
        }
        let msg = match HostMessage::from_line(&line) {
            Ok(msg) => msg,
            Err(e) => {
                // A type from a later protocol version, or garbage: skip it.
                eprintln!("{NAME}: ignoring a line from the host: {e}");
                continue;
            }
        };
        match msg {
            HostMessage::Hello(hello) if hello.protocol != PROTOCOL_VERSION => {
                eprintln!(
                    "{NAME}: the host speaks protocol {}, this plugin only {PROTOCOL_VERSION}",
                    hello.protocol
                );
                return Ok(ExitCode::FAILURE);
            }
            HostMessage::Hello(_) => {}
            HostMessage::Collect(c) => {
                let families = collector.collect();
                send(
                    &mut out,
                    &PluginMessage::Metrics(Metrics {
                        id: Some(c.id),
                        families,
                    }),
                )?;
            }
            HostMessage::Shutdown(_) => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        // Rust ignores SIGPIPE, so a vanished exporter shows up here as a write error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}
