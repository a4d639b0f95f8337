//! The exporter's own metrics, prefixed `plugin_exporter_`.
//!
//! Instruments live in a private prometheus-crate registry; on each scrape they are gathered
//! and converted to our model ([`crate::exposition::own`]) so one encoder writes everything.
//! Label values are fixed codes ([`crate::codes`]), never free text. The outputs' counters
//! are in [`output`].

mod output;
pub use output::OutputMetrics;

use crate::codes::{ErrorKind, LimitKind, ProcessorErrorKind, RestartReason};
use crate::exposition::model::{Family, MetricType, Sample, SampleValue};
use crate::sandbox::Usage;
use nix::unistd::{sysconf, SysconfVar};
mod register;
mod remote;

use prometheus::{CounterVec, Gauge, GaugeVec, IntCounterVec, Opts, Registry};
use register::{counter_vec, gauge, gauge_vec};
pub use remote::RemoteMetrics;

/// The exporter's own instruments.
pub struct SelfMetrics {
    registry: Registry,
    /// 1 when the plugin's last collect succeeded.
    pub up: GaugeVec,
    /// Duration of the plugin's last collect.
    pub collect_duration: GaugeVec,
    /// Unix time of the plugin's last successful collect.
    pub last_success: GaugeVec,
    /// Series served from the plugin's last successful collect.
    pub series: GaugeVec,
    /// Restarts by reason.
    pub restarts: IntCounterVec,
    /// Errors and dropped items by kind.
    pub errors: IntCounterVec,
    /// Memory of the plugin's process tree.
    pub memory: GaugeVec,
    /// CPU time of the plugin's process tree.
    pub cpu: CounterVec,
    /// Processes in the plugin's tree.
    pub processes: GaugeVec,
    /// Kills for exceeding the memory limit.
    pub oom_kills: IntCounterVec,
    /// Limit hits by limit.
    pub limit_hits: IntCounterVec,
    /// Series `metric_relabel_configs` dropped.
    pub relabel_dropped: IntCounterVec,
    /// The isolation mode, as a label of a constant 1.
    pub isolation: GaugeVec,
    /// 1 while the plugin is disabled through the API.
    pub disabled: GaugeVec,
    /// Remote write, per destination.
    pub remote: RemoteMetrics,
    /// The package each packaged plugin runs from, as labels of a constant 1.
    package_info: GaugeVec,
    /// The label values set in `package_info`, by plugin, to remove them with the plugin.
    package_labels: std::sync::Mutex<std::collections::HashMap<String, [String; 3]>>,
    /// Batches a processor did not process, by kind.
    pub processor_errors: IntCounterVec,
    /// Batches a processor answered.
    pub processor_batches: IntCounterVec,
    /// Writes to outputs.
    pub outputs: OutputMetrics,
    /// 1 when the last configuration reload succeeded.
    pub reload_successful: Gauge,
    /// Unix time of the last successful configuration (re)load.
    pub reload_timestamp: Gauge,
}

impl SelfMetrics {
    /// Creates the instruments, with `build_info` set.
    pub fn new(version: &str, revision: &str) -> Self {
        let registry = Registry::new();
        let p = "plugin_exporter_plugin_";
        let m = SelfMetrics {
            up: gauge_vec(
                &registry,
                &format!("{p}up"),
                "1 when the plugin's last collect succeeded, 0 otherwise.",
                &["plugin"],
            ),
            collect_duration: gauge_vec(
                &registry,
                &format!("{p}collect_duration_seconds"),
                "Duration of the plugin's last collect.",
                &["plugin"],
            ),
            last_success: gauge_vec(
                &registry,
                &format!("{p}last_success_timestamp_seconds"),
                "Unix time of the plugin's last successful collect (0: never).",
                &["plugin"],
            ),
            series: gauge_vec(
                &registry,
                &format!("{p}series"),
                "Series the plugin returned in its last successful collect, after validation.",
                &["plugin"],
            ),
            restarts: counter_vec(
                &registry,
                &format!("{p}restarts_total"),
                "Restarts of the plugin's process, by reason.",
                &["plugin", "reason"],
            ),
            errors: counter_vec(
                &registry,
                &format!("{p}errors_total"),
                "Errors of the plugin and series or lines of it dropped, by kind.",
                &["plugin", "kind"],
            ),
            memory: gauge_vec(
                &registry,
                &format!("{p}memory_bytes"),
                "Memory used by the plugin's whole process tree (cgroup, or the watchdog's RSS sum).",
                &["plugin"],
            ),
            cpu: {
                let c = CounterVec::new(
                    Opts::new(
                        format!("{p}cpu_seconds_total"),
                        "CPU time used by the plugin's whole process tree.",
                    ),
                    &["plugin"],
                )
                .expect("static metric options are valid");
                registry
                    .register(Box::new(c.clone()))
                    .expect("each metric name is registered once");
                c
            },
            processes: gauge_vec(
                &registry,
                &format!("{p}processes"),
                "Processes in the plugin's tree.",
                &["plugin"],
            ),
            oom_kills: counter_vec(
                &registry,
                &format!("{p}oom_kills_total"),
                "Kills of the plugin's processes for exceeding its memory limit.",
                &["plugin"],
            ),
            limit_hits: counter_vec(
                &registry,
                &format!("{p}limit_hits_total"),
                "Times the plugin hit one of its limits, by limit.",
                &["plugin", "limit"],
            ),
            relabel_dropped: counter_vec(
                &registry,
                &format!("{p}relabel_dropped_series_total"),
                "Series of the plugin that metric_relabel_configs dropped.",
                &["plugin"],
            ),
            disabled: gauge_vec(
                &registry,
                &format!("{p}disabled"),
                "1 while the plugin is disabled through the API (until enabled or reloaded).",
                &["plugin"],
            ),
            remote: RemoteMetrics::new(&registry),
            package_info: gauge_vec(
                &registry,
                "plugin_exporter_plugin_package_info",
                "The package a plugin runs from, with its version and signature status \
                 (trusted, unsigned, unknown_signer, invalid).",
                &["plugin", "package", "version", "signature"],
            ),
            package_labels: Default::default(),
            outputs: OutputMetrics::new(&registry),
            processor_errors: counter_vec(
                &registry,
                "plugin_exporter_processor_errors_total",
                "Batches a processor failed on (served unprocessed or dropped by its on_error), \
                 or answered invalid, by kind.",
                &["processor", "kind"],
            ),
            processor_batches: counter_vec(
                &registry,
                "plugin_exporter_processor_batches_total",
                "Batches a processor answered.",
                &["processor"],
            ),
            reload_successful: gauge(
                &registry,
                "plugin_exporter_config_last_reload_successful",
                "1 when the last configuration reload succeeded, 0 when it failed (nothing changed).",
            ),
            reload_timestamp: gauge(
                &registry,
                "plugin_exporter_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful configuration load or reload.",
            ),
            isolation: gauge_vec(
                &registry,
                "plugin_exporter_isolation_info",
                "How plugins are isolated: cgroup v2, v1, or none (rlimits and the watchdog).",
                &["cgroup"],
            ),
            registry,
        };
        let info = Gauge::with_opts(
            Opts::new(
                "plugin_exporter_build_info",
                "A metric with a constant 1 labelled by the exporter's version and revision.",
            )
            .const_label("version", version)
            .const_label("revision", revision),
        )
        .expect("static metric options are valid");
        info.set(1.0);
        m.registry
            .register(Box::new(info))
            .expect("each metric name is registered once");
        m
    }

    /// Sets `plugin_exporter_sandbox_info{landlock_abi, seccomp, netns}` to 1: what the
    /// kernel offers the plugins' sandbox profiles. Call once; later calls change nothing.
    pub fn sandbox_info(&self, landlock_abi: &str, seccomp: &str, netns: &str) {
        let info = Gauge::with_opts(
            Opts::new(
                "plugin_exporter_sandbox_info",
                "What the kernel offers plugin sandboxes: the Landlock ABI (0: none), seccomp \
                 filters and network namespaces, as labels of a constant 1.",
            )
            .const_label("landlock_abi", landlock_abi)
            .const_label("seccomp", seccomp)
            .const_label("netns", netns),
        )
        .expect("static metric options are valid");
        info.set(1.0);
        // A second call is refused by the registry: the first labels stay.
        let _ = self.registry.register(Box::new(info));
    }

    /// Creates a plugin's series at their initial values, so rates work from the start.
    pub fn init_plugin(&self, plugin: &str) {
        self.up.with_label_values(&[plugin]).set(0.0);
        self.collect_duration.with_label_values(&[plugin]).set(0.0);
        self.last_success.with_label_values(&[plugin]).set(0.0);
        self.series.with_label_values(&[plugin]).set(0.0);
        for r in RestartReason::ALL {
            self.restarts.with_label_values(&[plugin, r.as_str()]);
        }
        for k in ErrorKind::ALL {
            self.errors.with_label_values(&[plugin, k.as_str()]);
        }
        self.memory.with_label_values(&[plugin]).set(0.0);
        self.cpu.with_label_values(&[plugin]);
        self.processes.with_label_values(&[plugin]).set(0.0);
        self.disabled.with_label_values(&[plugin]).set(0.0);
        self.oom_kills.with_label_values(&[plugin]);
        self.relabel_dropped.with_label_values(&[plugin]);
        for l in LimitKind::ALL {
            self.limit_hits.with_label_values(&[plugin, l.as_str()]);
        }
    }

    /// Records a plugin's resource use. Cumulative figures advance counters by what grew
    /// since `seen`, which is then updated (a source that restarted from zero restarts
    /// `seen` without moving the counter back).
    pub fn usage(&self, plugin: &str, now: &Usage, seen: &mut Usage) {
        self.memory
            .with_label_values(&[plugin])
            .set(now.memory_bytes as f64);
        self.processes
            .with_label_values(&[plugin])
            .set(now.processes as f64);
        if now.cpu_seconds > seen.cpu_seconds {
            self.cpu
                .with_label_values(&[plugin])
                .inc_by(now.cpu_seconds - seen.cpu_seconds);
        }
        let grow = |n: u64, s: u64| n.saturating_sub(s);
        self.oom_kills
            .with_label_values(&[plugin])
            .inc_by(grow(now.oom_kills, seen.oom_kills));
        for (l, n, s) in [
            (LimitKind::Memory, now.memory_hits, seen.memory_hits),
            (LimitKind::Pids, now.pids_hits, seen.pids_hits),
            (LimitKind::Cpu, now.cpu_hits, seen.cpu_hits),
        ] {
            self.limit_hits
                .with_label_values(&[plugin, l.as_str()])
                .inc_by(grow(n, s));
        }
        *seen = *now;
    }

    /// Adds one to `limit_hits_total{plugin, limit}`.
    pub fn limit_hit(&self, plugin: &str, limit: LimitKind) {
        self.limit_hits
            .with_label_values(&[plugin, limit.as_str()])
            .inc();
    }

    /// Creates a processor's counters at zero.
    pub fn init_processor(&self, processor: &str) {
        for k in ProcessorErrorKind::ALL {
            self.processor_errors
                .with_label_values(&[processor, k.as_str()]);
        }
        self.processor_batches.with_label_values(&[processor]);
    }

    /// Adds one to `processor_errors_total{processor, kind}`.
    pub fn processor_error(&self, processor: &str, kind: ProcessorErrorKind) {
        self.processor_errors
            .with_label_values(&[processor, kind.as_str()])
            .inc();
    }

    /// Sets a plugin's `package_info` (replacing what it had).
    pub fn package_info(&self, plugin: &str, package: &str, version: &str, signature: &str) {
        let mut labels = self
            .package_labels
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some([p, v, s]) = labels.remove(plugin) {
            let _ = self.package_info.remove_label_values(&[plugin, &p, &v, &s]);
        }
        self.package_info
            .with_label_values(&[plugin, package, version, signature])
            .set(1.0);
        labels.insert(
            plugin.to_string(),
            [
                package.to_string(),
                version.to_string(),
                signature.to_string(),
            ],
        );
    }

    /// Removes a plugin's series (it is no longer configured).
    pub fn remove_plugin(&self, plugin: &str) {
        if let Some([p, v, s]) = self
            .package_labels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(plugin)
        {
            let _ = self.package_info.remove_label_values(&[plugin, &p, &v, &s]);
        }
        for k in ProcessorErrorKind::ALL {
            let _ = self
                .processor_errors
                .remove_label_values(&[plugin, k.as_str()]);
        }
        let _ = self.processor_batches.remove_label_values(&[plugin]);
        self.outputs.remove(plugin);
        let _ = self.up.remove_label_values(&[plugin]);
        let _ = self.collect_duration.remove_label_values(&[plugin]);
        let _ = self.last_success.remove_label_values(&[plugin]);
        let _ = self.series.remove_label_values(&[plugin]);
        for r in RestartReason::ALL {
            let _ = self.restarts.remove_label_values(&[plugin, r.as_str()]);
        }
        for k in ErrorKind::ALL {
            let _ = self.errors.remove_label_values(&[plugin, k.as_str()]);
        }
        let _ = self.memory.remove_label_values(&[plugin]);
        let _ = self.cpu.remove_label_values(&[plugin]);
        let _ = self.processes.remove_label_values(&[plugin]);
        let _ = self.disabled.remove_label_values(&[plugin]);
        let _ = self.oom_kills.remove_label_values(&[plugin]);
        let _ = self.relabel_dropped.remove_label_values(&[plugin]);
        for l in LimitKind::ALL {
            let _ = self.limit_hits.remove_label_values(&[plugin, l.as_str()]);
        }
    }

    /// Adds `n` to `errors_total{plugin, kind}`.
    pub fn error(&self, plugin: &str, kind: ErrorKind, n: u64) {
        if n > 0 {
            self.errors
                .with_label_values(&[plugin, kind.as_str()])
                .inc_by(n);
        }
    }

    /// Every own family, process metrics included, in our model.
    pub fn families(&self) -> Vec<Family> {
        let mut out = crate::exposition::own::from_prometheus(&self.registry.gather());
        out.extend(process_families());
        out
    }
}

/// The standard `process_*` metrics of this process, read from `/proc/self`.
pub fn process_families() -> Vec<Family> {
    let mut out = Vec::new();
    let mut push = |name: &str, kind: MetricType, help: &str, v: f64| {
        out.push(Family {
            name: name.to_string(),
            kind,
            help: help.to_string(),
            unit: None,
            samples: vec![Sample::new(Vec::new(), SampleValue::Scalar(v))],
        })
    };
    let conf = |v: SysconfVar, default: i64| sysconf(v).ok().flatten().unwrap_or(default) as f64;
    let ticks = conf(SysconfVar::CLK_TCK, 100);
    let page = conf(SysconfVar::PAGE_SIZE, 4096);
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name; utime is field 14 overall.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            // rest[0] is field 3 (state): field n is rest[n - 3].
            push(
                "process_cpu_seconds_total",
                MetricType::Counter,
                "Total user and system CPU time spent in seconds.",
                (num(11) + num(12)) / ticks,
            );
            push(
                "process_virtual_memory_bytes",
                MetricType::Gauge,
                "Virtual memory size in bytes.",
                num(20),
            );
            push(
                "process_resident_memory_bytes",
                MetricType::Gauge,
                "Resident memory size in bytes.",
                num(21) * page,
            );
            if let Some(boot) = boot_time() {
                push(
                    "process_start_time_seconds",
                    MetricType::Gauge,
                    "Start time of the process since unix epoch in seconds.",
                    boot + num(19) / ticks,
                );
            }
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        push(
            "process_open_fds",
            MetricType::Gauge,
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        push(
            "process_max_fds",
            MetricType::Gauge,
            "Maximum number of open file descriptors.",
            soft as f64,
        );
    }
    out
}

/// The host's boot time; read once, since `/proc/stat` is large and it never changes.
fn boot_time() -> Option<f64> {
    static BOOT: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    })
}
