//! The checked configuration: [`Config`], its [`Global`] section and each [`PluginConfig`],
//! with every default applied, plus the [`Mode`] and [`Format`] of a plugin and the defaults
//! and bounds the checks use.

use super::env::Secret;
use super::limits::Limits;
use super::remote_write::RemoteWriteConfig;
use super::run_as::RunAs;
use super::sandbox::{SandboxKeys, SandboxProfile};
use crate::relabel::Rule;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The default `global.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default `global.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// The default `global.plugin_label`.
pub const DEFAULT_PLUGIN_LABEL: &str = "plugin";
/// The shortest accepted interval: anything faster keeps a plugin permanently busy and is
/// not a useful sampling rate for Prometheus, which scrapes in seconds.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How a plugin's metrics are gathered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Collected on each scrape of `/metrics`.
    #[default]
    Scrape,
    /// Collected every `interval`; scrapes serve the latest batch.
    Interval,
    /// The plugin sends batches when it likes; scrapes serve the latest one.
    Push,
}

impl Mode {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Scrape => "scrape",
            Mode::Interval => "interval",
            Mode::Push => "push",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plugin's command is and prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A long-running process speaking the JSON-lines protocol (PROTOCOL.md).
    #[default]
    Jsonl,
    /// Run once per collect; prints the Prometheus text format (or OpenMetrics) and exits.
    Prometheus,
    /// Run once per collect; a Nagios plugin: exit code and performance data.
    Nagios,
}

impl Format {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Prometheus => "prometheus",
            Format::Nagios => "nagios",
        }
    }
}

/// What a plugin is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Answers collects with metrics, served on `/metrics`.
    #[default]
    Collector,
    /// Processes collectors' batches between the collect and the scrape; serves nothing.
    Processor,
    /// Receives what each collect gathered (`write`) and delivers it; serves nothing.
    Output,
}

/// An output's delivery settings (`queue`, `max_in_flight`, `max_retries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSettings {
    /// Writes waiting for the output; when full the oldest is dropped.
    pub queue: usize,
    /// Writes sent to the output before it answers.
    pub max_in_flight: usize,
    /// Times a failed write is sent again before it is dropped.
    pub max_retries: u32,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            queue: 16,
            max_in_flight: 1,
            max_retries: 3,
        }
    }
}

/// What happens to a batch a processor failed on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// The batch goes on as the processor got it.
    #[default]
    Pass,
    /// The batch is dropped: the collect serves no series.
    Drop,
}

/// A checked configuration, with every default applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Settings shared by all plugins.
    pub global: Global,
    /// The plugins, in file order; names are unique.
    pub plugins: Vec<PluginConfig>,
    /// Where to push every plugin's series.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Every package found under `plugins_dirs`, judged with `trust`'s keys.
    pub packages: Vec<crate::package::Found>,
}

/// Default of `global.evaluation_interval`, Prometheus's.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(15);

/// The `global` section: defaults for every plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    /// Default collection timeout.
    pub timeout: Duration,
    /// Default collection interval.
    pub interval: Duration,
    /// Label naming the plugin on each of its series; empty disables it.
    pub plugin_label: String,
    /// Default limits, defaults applied; each plugin's `limits` overrides them key by key.
    pub limits: Limits,
    /// Default for every plugin's `allow_root`.
    pub allow_root: bool,
    /// Default `sandbox` keys; each plugin's `sandbox` overrides them key by key.
    pub sandbox: SandboxKeys,
    /// `metric_relabel_configs` for every plugin, run after each plugin's own.
    pub metric_relabel_configs: Vec<Rule>,
    /// How often rules are evaluated (default 15s).
    pub evaluation_interval: Duration,
    /// How often every plugin is collected for `remote_write` (default the evaluation
    /// interval).
    pub remote_write_interval: Duration,
    /// Labels added to what leaves the exporter (remote write, alerts), sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// Processors every collector's batches go through, after the collector's own.
    pub processors: Vec<String>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            timeout: DEFAULT_TIMEOUT,
            interval: DEFAULT_INTERVAL,
            plugin_label: DEFAULT_PLUGIN_LABEL.to_string(),
            limits: Limits::default(),
            allow_root: false,
            sandbox: SandboxKeys::default(),
            metric_relabel_configs: Vec::new(),
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            remote_write_interval: DEFAULT_EVALUATION_INTERVAL,
            external_labels: Vec::new(),
            processors: Vec::new(),
        }
    }
}

/// One plugin, resolved: defaults applied, `command[0]` absolute, env substituted.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginConfig {
    /// Unique name, `[a-z0-9_-]{1,64}`.
    pub name: String,
    /// Program and arguments; `command[0]` is an absolute path to an executable file.
    pub command: Vec<String>,
    /// How metrics are gathered.
    pub mode: Mode,
    /// What the command is: a JSON-lines plugin, or a command run once per collect.
    pub format: Format,
    /// Collection interval (`global.interval` unless set).
    pub interval: Duration,
    /// Collection timeout (`global.timeout` unless set); greater than zero.
    pub timeout: Duration,
    /// The plugin's own settings, always a JSON object.
    pub config: serde_json::Value,
    /// Extra environment for the plugin, in file order, after `${VAR}` substitution.
    pub env: Vec<(String, Secret)>,
    /// Directory to start the plugin in; absolute and existing when set.
    pub working_dir: Option<PathBuf>,
    /// Resource limits and ingestion budgets: `global.limits` merged with the plugin's own,
    /// defaults applied.
    pub limits: Limits,
    /// The user and group to run as; `None` when neither is set (here or in `global`).
    pub run_as: Option<RunAs>,
    /// Whether the plugin may run as root when the exporter is root and no user is set.
    pub allow_root: bool,
    /// The expected SHA-256 of the file `command[0]` names, when pinned.
    pub sha256: Option<[u8; 32]>,
    /// The tighter fence: file system, network and system calls (`global.sandbox` merged
    /// with the plugin's own, the preset's defaults applied).
    pub sandbox: SandboxProfile,
    /// Relabeling of every batch: the plugin's `metric_relabel_configs`, then `global`'s.
    pub relabel: Arc<[Rule]>,
    /// The package it runs from, when its entry names one.
    pub package: Option<crate::package::PackageRef>,
    /// What the plugin is for.
    pub role: Role,
    /// For a collector: the processors its batches go through, in order (its own
    /// `processors`, then those of `global.processors` it does not list). Empty for a
    /// processor.
    pub processors: Vec<String>,
    /// For a processor: what happens to a batch it fails on.
    pub on_error: OnError,
    /// For an output: its queue, writes in flight and retries (defaults otherwise).
    pub output: OutputSettings,
}
