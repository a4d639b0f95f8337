//! The exporter's own metrics, prefixed `plugin_exporter_`.
//!
//! Instruments live in a private prometheus-crate registry; on each scrape they are gathered
//! and converted to our model ([`crate::exposition::own`]) so one encoder writes everything.
//! Label values are fixed codes ([`kind`], [`reason`]), never free text.

use crate::exposition::model::{Family, MetricType, Sample, SampleValue};
use prometheus::{Gauge, GaugeVec, IntCounterVec, Opts, Registry};

/// Codes for `plugin_exporter_plugin_errors_total{kind}`.
pub mod kind {
    /// A collect got no answer before its deadline.
    pub const TIMEOUT: &str = "timeout";
    /// A line on stdout that is not a valid protocol message (bad JSON, bad UTF-8, unknown
    /// type, unsolicited answer, unknown protocol version).
    pub const PROTOCOL: &str = "protocol";
    /// A protocol line longer than the line limit.
    pub const LINE_TOO_LONG: &str = "line_too_long";
    /// A series or family dropped by validation.
    pub const INVALID_METRIC: &str = "invalid_metric";
    /// A series dropped because the same series was already present.
    pub const DUPLICATE_SERIES: &str = "duplicate_series";
    /// A series dropped because another plugin owns its family with another type or help.
    pub const CONFLICT: &str = "conflict";
    /// An answer to a collect that had already timed out.
    pub const LATE: &str = "late";
    /// The plugin answered a collect with `error`.
    pub const PLUGIN_ERROR: &str = "plugin_error";
    /// Every kind, for initialising the counters at zero.
    pub const ALL: [&str; 8] = [
        TIMEOUT,
        PROTOCOL,
        LINE_TOO_LONG,
        INVALID_METRIC,
        DUPLICATE_SERIES,
        CONFLICT,
        LATE,
        PLUGIN_ERROR,
    ];
}

/// Codes for `plugin_exporter_plugin_restarts_total{reason}`.
pub mod reason {
    /// The plugin exited on its own (any exit code).
    pub const EXITED: &str = "exited";
    /// A signal the exporter did not send killed the plugin.
    pub const CRASHED: &str = "crashed";
    /// The plugin left collects unanswered and was stopped.
    pub const TIMEOUT: &str = "timeout";
    /// The plugin broke the protocol (unknown protocol version).
    pub const PROTOCOL: &str = "protocol";
    /// The plugin closed its stdout but kept running.
    pub const STDOUT_CLOSED: &str = "stdout_closed";
    /// The command could not be started.
    pub const SPAWN_FAILED: &str = "spawn_failed";
    /// Every reason, for initialising the counters at zero.
    pub const ALL: [&str; 6] = [
        EXITED,
        CRASHED,
        TIMEOUT,
        PROTOCOL,
        STDOUT_CLOSED,
        SPAWN_FAILED,
    ];
}

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
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("static metric options are valid");
    registry
        .register(Box::new(g.clone()))
        .expect("each metric name is registered once");
    g
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c =
        IntCounterVec::new(Opts::new(name, help), labels).expect("static metric options are valid");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric name is registered once");
    c
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

    /// Creates a plugin's series at their initial values, so rates work from the start.
    pub fn init_plugin(&self, plugin: &str) {
        self.up.with_label_values(&[plugin]).set(0.0);
        self.collect_duration.with_label_values(&[plugin]).set(0.0);
        self.last_success.with_label_values(&[plugin]).set(0.0);
        self.series.with_label_values(&[plugin]).set(0.0);
        for r in reason::ALL {
            self.restarts.with_label_values(&[plugin, r]);
        }
        for k in kind::ALL {
            self.errors.with_label_values(&[plugin, k]);
        }
    }

    /// Removes a plugin's series (it is no longer configured).
    pub fn remove_plugin(&self, plugin: &str) {
        let _ = self.up.remove_label_values(&[plugin]);
        let _ = self.collect_duration.remove_label_values(&[plugin]);
        let _ = self.last_success.remove_label_values(&[plugin]);
        let _ = self.series.remove_label_values(&[plugin]);
        for r in reason::ALL {
            let _ = self.restarts.remove_label_values(&[plugin, r]);
        }
        for k in kind::ALL {
            let _ = self.errors.remove_label_values(&[plugin, k]);
        }
    }

    /// Adds `n` to `errors_total{plugin, kind}`.
    pub fn error(&self, plugin: &str, kind: &str, n: u64) {
        if n > 0 {
            self.errors.with_label_values(&[plugin, kind]).inc_by(n);
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
            samples: vec![Sample {
                labels: Vec::new(),
                value: SampleValue::Scalar(v),
            }],
        })
    };
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
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

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}
