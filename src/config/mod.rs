//! The YAML configuration: which plugins to run and how. Every check happens here, before
//! anything starts, and every problem is reported with the file, line and key.
//!
//! ```yaml
//! global:                 # defaults for every plugin
//!   timeout: 5s           # default 5s, must be > 0
//!   interval: 15s         # default 15s, at least 100ms
//!   plugin_label: plugin  # label naming the plugin on its series; "" disables
//!   limits:               # defaults for every plugin's limits (see below)
//!     memory: 64MiB
//!   user: nobody          # default user and group for every plugin (see below)
//!   group: nogroup
//!   allow_root: false     # default for every plugin's allow_root
//! plugins:
//!   - name: disk                                   # required, unique, [a-z0-9_-]{1,64}
//!     command: ["/usr/lib/plugin-exporter/disk", "--verbose"]
//!     mode: scrape                                 # scrape (default) | interval | push
//!     interval: 15s                                # default global.interval
//!     timeout: 3s                                  # default global.timeout
//!     config: {mounts: ["/"]}                      # any mapping, handed to the plugin
//!     env: {TOKEN: "${DISK_TOKEN}"}                # ${VAR} from our environment, $$ = $
//!     working_dir: /var/lib/x                      # absolute, existing directory
//!     limits: {memory: 128MiB}                     # overrides global.limits key by key
//!     user: prometheus                             # name or numeric uid
//!     group: prometheus                            # name or numeric gid
//!     allow_root: true                             # may run as root (see below)
//!     sha256: 3b4c...                              # 64 hex digits: command[0]'s SHA-256
//! ```
//!
//! `limits` (all keys optional; `null` means unlimited where an unlimited setting exists):
//!
//! | key | meaning | default | accepted |
//! |---|---|---|---|
//! | `memory` | cgroup memory limit, no swap | 256MiB | size >= 4MiB, or null |
//! | `cpu` | cores (cgroup CPU quota) | 1 | 0.01 to 1024, or null |
//! | `pids` | processes and threads | 64 | >= 1, or null |
//! | `nofile` | `RLIMIT_NOFILE` | 1024 | >= 3 |
//! | `fsize` | `RLIMIT_FSIZE`, largest file written | 64MiB | size >= 1B |
//! | `max_series` | series accepted from one collect | 100000 | >= 1 |
//! | `max_line` | bytes in one protocol line | 16MiB | size >= 1KiB |
//! | `max_labels` | labels on one series | 32 | 1 to 1000 |
//!
//! Sizes are bytes or binary units ([`size`]). The reasons for each bound are on [`Limits`].
//!
//! `user` and `group` are resolved when the file is read ([`RunAs`]). A plugin that sets
//! either of them (even to `null`) takes neither from `global`: a plugin's own `user` comes
//! with that user's own primary group, not with `global.group`. `allow_root` lets a plugin
//! run as root when the exporter runs as root and no user is set; `user: root` needs no
//! `allow_root`, as it says so itself. `sha256` is checked here for form only.
//!
//! Durations use the Prometheus grammar ([`duration`]). Unknown keys are refused everywhere
//! except inside `config`, which belongs to the plugin. `command[0]` is resolved once, here:
//! a name without `/` is looked up in `PATH`, a relative path is taken relative to the config
//! file's directory (not the working directory, so the result does not depend on where the
//! exporter was started), and the absolute result replaces `command[0]`.
//!
//! In `env` values, `${VAR}` is replaced from the exporter's environment (unset is an
//! error), `$$` is a literal `$`, and any other `$` is an error. Values that used `${VAR}`
//! print as `<redacted>` ([`Secret`]).
//!
//! Parsing is two steps. Syntax and type errors come from yaml_serde, which stops at the
//! first; its line and path are kept. After a successful parse every semantic problem is
//! collected, each with the line of its key found by re-walking the YAML (see the `locate`
//! module); a file that may use YAML aliases gets these problems without a line, because a
//! position reached through an alias is the anchor's, not the use's.

mod check;
pub mod duration;
mod env;
mod limits;
mod locate;
mod run_as;
pub mod size;

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::Secret;
pub use limits::Limits;
pub use run_as::RunAs;
pub use size::{parse_size, SizeError};

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

/// A checked configuration, with every default applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Settings shared by all plugins.
    pub global: Global,
    /// The plugins, in file order; names are unique.
    pub plugins: Vec<PluginConfig>,
}

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
}

impl Default for Global {
    fn default() -> Self {
        Global {
            timeout: DEFAULT_TIMEOUT,
            interval: DEFAULT_INTERVAL,
            plugin_label: DEFAULT_PLUGIN_LABEL.to_string(),
            limits: Limits::default(),
            allow_root: false,
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
}

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration; one line per problem.
    #[error("{}", ShowProblems { path, problems })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found (for syntax and type errors: the first one).
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems of an `Invalid` error; empty for `Io`.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Io { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Where in the document, e.g. `plugins[disk].timeout` (or `plugins[1].timeout` when the
    /// entry has no usable name); empty for the document as a whole.
    pub key: String,
    /// What is wrong, and where possible what would be right.
    pub message: String,
}

/// Renders problems as `FILE:LINE:COL: KEY: MESSAGE`, one per line, omitting unknown parts.
struct ShowProblems<'a> {
    path: &'a Path,
    problems: &'a [Problem],
}

impl fmt::Display for ShowProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}", self.path.display())?;
            if let Some(line) = problem.line {
                write!(f, ":{line}")?;
                if let Some(column) = problem.column {
                    write!(f, ":{column}")?;
                }
            }
            f.write_str(": ")?;
            if !problem.key.is_empty() {
                write!(f, "{}: ", problem.key)?;
            }
            f.write_str(&problem.message)?;
        }
        Ok(())
    }
}

/// Reads and checks the config file, substituting `${VAR}` from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, path, &|name| std::env::var(name).ok())
}

/// What `check-config FILE` runs: the same as [`load`].
pub fn check_file(path: &Path) -> Result<Config, ConfigError> {
    load(path)
}

/// Parses and checks config text. `file` names the file in errors and anchors relative
/// command paths; `env` answers `${VAR}` lookups and `PATH`.
pub fn parse_str(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        path: file.to_path_buf(),
        problems,
    };
    let raw: RawConfig = yaml_serde::from_str(text)
        .map_err(|err| invalid(vec![check::syntax_problem(text, &err)]))?;
    let mut report = check::Reporter::new(text, raw.names());
    let config = check::resolve(raw, file, env, &mut report);
    match report.into_problems() {
        problems if problems.is_empty() => Ok(config),
        problems => Err(invalid(problems)),
    }
}

/// The file as written, before defaults and checks.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `global` and `plugins`"
)]
struct RawConfig {
    #[serde(default)]
    global: Option<RawGlobal>,
    #[serde(default)]
    plugins: Option<Vec<RawPlugin>>,
}

impl RawConfig {
    fn names(&self) -> Vec<Option<String>> {
        let plugins = self.plugins.iter().flatten();
        plugins.map(|plugin| Some(plugin.name.clone())).collect()
    }
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `timeout`, `interval`, `plugin_label`, `limits`, \
                 `user`, `group` and `allow_root`"
)]
struct RawGlobal {
    timeout: Option<duration::PromDuration>,
    interval: Option<duration::PromDuration>,
    plugin_label: Option<String>,
    limits: Option<limits::RawLimits>,
    user: Option<String>,
    group: Option<String>,
    allow_root: Option<bool>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a plugin: a mapping with at least `name` and `command`"
)]
struct RawPlugin {
    name: String,
    command: RawCommand,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    format: Format,
    interval: Option<duration::PromDuration>,
    timeout: Option<duration::PromDuration>,
    #[serde(default)]
    config: RawParams,
    #[serde(default)]
    env: env::RawEnv,
    working_dir: Option<PathBuf>,
    limits: Option<limits::RawLimits>,
    /// Present and `null` is "no user", which stops `global.user` from applying.
    #[serde(default, deserialize_with = "limits::nullable")]
    user: Option<Option<String>>,
    #[serde(default, deserialize_with = "limits::nullable")]
    group: Option<Option<String>>,
    allow_root: Option<bool>,
    sha256: Option<String>,
}

/// `command`: a list of strings; a lone string gets a message showing the list form, since
/// splitting it on spaces would guess wrong about quoting.
struct RawCommand(Vec<String>);

impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawCommandVisitor)
    }
}

struct RawCommandVisitor;

impl<'de> serde::de::Visitor<'de> for RawCommandVisitor {
    type Value = RawCommand;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of strings, e.g. [\"/path/to/plugin\", \"--flag\"]")
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<RawCommand, E> {
        Err(E::custom(
            "command must be a list of strings, e.g. [\"/path/to/plugin\", \"--flag\"]",
        ))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<RawCommand, E> {
        // Reported as an empty command by the semantic checks, with the key's line.
        Ok(RawCommand(Vec::new()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawCommand, A::Error> {
        let mut args = Vec::new();
        while let Some(arg) = seq.next_element::<String>()? {
            args.push(arg);
        }
        Ok(RawCommand(args))
    }
}

/// `config`: any mapping, kept as a JSON object for the plugin.
#[derive(Default)]
struct RawParams(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for RawParams {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than Value-then-check, so a non-mapping is refused while the YAML
        // deserializer still knows where it is, and the error gets this value's line.
        deserializer.deserialize_any(RawParamsVisitor)
    }
}

struct RawParamsVisitor;

impl<'de> serde::de::Visitor<'de> for RawParamsVisitor {
    type Value = RawParams;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping (handed to the plugin as a JSON object)")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<RawParams, E> {
        Ok(RawParams::default())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawParams, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        Ok(RawParams(object))
    }
}
