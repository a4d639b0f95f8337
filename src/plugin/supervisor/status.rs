//! A plugin's lifecycle state as the API and landing page show it, and the part of the
//! supervisor shared with its handles.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::codes::LimitKind;
use crate::config::{Filesystem, Mode, Network, PluginConfig, SandboxProfile};
use crate::sandbox::rlimits::Lowered;
use crate::sandbox::{Fence, Usage};
use crate::selfmetrics::SelfMetrics;

/// How often a plugin's resource use is read at most (it is read when scraped).
const USAGE_REFRESH: Duration = Duration::from_secs(1);

/// Lifecycle state of a plugin, as shown in the API and landing page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being started.
    Starting,
    /// Its process runs (or, run per collect, it is ready to run).
    Running,
    /// Waiting out a backoff delay before the next start.
    Restarting,
    /// Being stopped.
    Stopping,
    /// Stopped for good (exporter shutdown or reload).
    Stopped,
    /// Refused: it would run as root without `allow_root`. Not retried.
    Refused,
    /// Disabled through the API; not running until enabled.
    Disabled,
}

/// The process side of a plugin's status. Never holds secrets.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Configured name.
    pub name: String,
    /// `scrape`, `interval` or `push`.
    pub mode: &'static str,
    /// Lifecycle state.
    pub state: State,
    /// Pid of the running process.
    pub pid: Option<i32>,
    /// Restarts so far.
    pub restarts: u64,
    /// The last error, in words (plugin messages, exit statuses).
    pub last_error: Option<String>,
    /// The plugin's version from its `hello`.
    pub plugin_version: Option<String>,
    /// The command line.
    pub command: Vec<String>,
    /// `jsonl`, `prometheus` or `nagios`.
    pub format: &'static str,
    /// The plugin's limits and budgets (`null`: unlimited).
    pub limits: serde_json::Value,
    /// Resource use of its process tree now.
    pub usage: Usage,
    /// The effective sandbox profile, and what the kernel could not enforce of it.
    pub sandbox: serde_json::Value,
    /// The package it runs from (name, version, signature status, directory), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<serde_json::Value>,
}

impl Status {
    /// The effective sandbox profile in one line, with what the kernel did not enforce.
    pub fn sandbox_summary(&self) -> String {
        let mut line = self.sandbox["summary"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let gaps = self.sandbox["unenforced"].as_array().map_or(0, Vec::len);
        if gaps > 0 {
            line.push_str(&format!(" ({gaps} part(s) not enforced by this kernel)"));
        }
        line
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Scrape => "scrape",
        Mode::Interval => "interval",
        Mode::Push => "push",
    }
}

/// The API's view of a profile: each key, a one-line summary, and what was not enforced.
fn sandbox_json(p: &SandboxProfile) -> serde_json::Value {
    let filesystem = match &p.filesystem {
        Filesystem::Unconfined => serde_json::json!("unconfined"),
        Filesystem::Fenced { base, extra } => serde_json::json!({
            "base": base.as_str(),
            "read": extra.read,
            "write": extra.write,
            "exec": extra.exec,
        }),
    };
    let network = match &p.network {
        Network::Ports { connect, bind } => serde_json::json!({"connect": connect, "bind": bind}),
        other => serde_json::json!(other.to_string()),
    };
    serde_json::json!({
        "preset": p.preset.as_str(),
        "filesystem": filesystem,
        "network": network,
        "max_connections": p.max_connections,
        "syscalls": p.syscalls.as_str(),
        "require": p.require,
        "summary": p.to_string(),
        "unenforced": [],
    })
}

/// What a supervisor shares with its handles and its role's sessions.
pub struct Core {
    /// The plugin's configuration.
    pub cfg: Arc<PluginConfig>,
    status: Mutex<Status>,
    /// Set once the first start attempt finished (readiness).
    attempted: AtomicBool,
    /// The plugin's fence.
    pub fence: Arc<Fence>,
    /// The exporter's own metrics (restarts, usage, disabled).
    pub metrics: Arc<SelfMetrics>,
    /// Usage figures last reported (to advance counters by what grew), and when.
    usage_seen: Mutex<(Usage, Option<Instant>)>,
    /// Kills for `sandbox.max_connections` last reported.
    connection_hits_seen: AtomicU64,
}

impl Core {
    /// The shared part of a new supervisor.
    pub fn new(cfg: Arc<PluginConfig>, fence: Arc<Fence>, metrics: Arc<SelfMetrics>) -> Self {
        let status = Status {
            name: cfg.name.clone(),
            mode: mode_name(cfg.mode),
            state: State::Starting,
            pid: None,
            restarts: 0,
            last_error: None,
            plugin_version: None,
            command: cfg.command.clone(),
            format: cfg.format.as_str(),
            limits: serde_json::json!({
                "memory_bytes": cfg.limits.memory,
                "cpu_cores": cfg.limits.cpu,
                "pids": cfg.limits.pids,
                "nofile": cfg.limits.nofile,
                "fsize_bytes": cfg.limits.fsize,
                "max_series": cfg.limits.max_series,
                "max_line_bytes": cfg.limits.max_line,
                "max_labels": cfg.limits.max_labels,
                "require_rlimits": cfg.limits.require_rlimits,
                "rlimits_lowered": [],
            }),
            usage: Usage::default(),
            sandbox: sandbox_json(&cfg.sandbox),
            package: cfg.package.as_ref().map(|p| {
                serde_json::json!({
                    "name": p.name, "version": p.version, "signature": p.signature.code(),
                    "signature_detail": p.signature.to_string(), "dir": p.dir,
                })
            }),
        };
        if let Some(p) = &cfg.package {
            metrics.package_info(&cfg.name, &p.name, &p.version, p.signature.code());
        }
        Core {
            cfg,
            status: Mutex::new(status),
            attempted: AtomicBool::new(false),
            fence,
            metrics,
            usage_seen: Mutex::new((Usage::default(), None)),
            connection_hits_seen: AtomicU64::new(0),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The status, locked for a short update.
    pub fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the status, with the resource use now.
    pub fn snapshot(&self) -> Status {
        let mut st = self.status().clone();
        st.usage = self.fence.usage();
        if self.cfg.sandbox.max_connections.is_some() {
            st.sandbox["connections"] = self.fence.connections().0.into();
        }
        st
    }

    /// Sets the state and pid.
    pub fn set_state(&self, state: State, pid: Option<i32>) {
        let mut st = self.status();
        st.state = state;
        st.pid = pid;
    }

    /// Records the last error.
    pub fn set_last_error(&self, error: impl Into<String>) {
        self.status().last_error = Some(error.into());
    }

    /// Marks the first start attempt as finished.
    pub fn set_attempted(&self) {
        self.attempted.store(true, Ordering::Release);
    }

    /// True once the first start attempt has finished, successful or not.
    pub fn attempted(&self) -> bool {
        self.attempted.load(Ordering::Acquire)
    }

    /// Reads the plugin's resource use into the metrics. Reading a cgroup's files costs tens
    /// of microseconds a plugin, so scrapes do it at most once a second per plugin; `force`
    /// reads now (an OOM kill must show in the same scrape as the restart it caused). A
    /// stopped plugin reports nothing: a scrape that started before a reload may still hold
    /// a plugin the reload removed, and reporting it would bring back the series the reload
    /// deleted.
    pub fn refresh_usage(&self, force: bool) {
        let mut seen = self.usage_seen.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the usage lock: the supervisor sets the state under it before it
        // removes the plugin's series, so no refresh slips in between.
        if self.status().state == State::Stopped {
            return;
        }
        if !force && seen.1.is_some_and(|t| t.elapsed() < USAGE_REFRESH) {
            return;
        }
        let now = self.fence.usage();
        self.metrics.usage(self.name(), &now, &mut seen.0);
        let (_, hits) = self.fence.connections();
        let before = self.connection_hits_seen.swap(hits, Ordering::Relaxed);
        if hits > before {
            self.metrics
                .limit_hits
                .with_label_values(&[self.name(), LimitKind::Connections.as_str()])
                .inc_by(hits - before);
        }
        seen.1 = Some(Instant::now());
    }

    /// Records the rlimits lowered below the configuration, for the API; true when they
    /// differ from what was recorded (so the caller logs them once).
    pub fn set_lowered(&self, lowered: &[Lowered]) -> bool {
        let value = serde_json::to_value(lowered).unwrap_or_default();
        let mut st = self.status();
        let slot = &mut st.limits["rlimits_lowered"];
        if *slot == value {
            return false;
        }
        *slot = value;
        true
    }

    /// Records what the kernel could not enforce of the sandbox, for the API; true when it
    /// differs from what was recorded (so the caller logs it once).
    pub fn set_unenforced(&self, unenforced: &[String]) -> bool {
        let value = serde_json::json!(unenforced);
        let mut st = self.status();
        let slot = &mut st.sandbox["unenforced"];
        if *slot == value {
            return false;
        }
        *slot = value;
        true
    }

    /// Marks the plugin stopped for good, so that no later usage refresh reports it.
    pub fn set_stopped(&self) {
        let _seen = self.usage_seen.lock().unwrap_or_else(|e| e.into_inner());
        self.set_state(State::Stopped, None);
    }
}
