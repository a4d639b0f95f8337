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
//!   sandbox: {preset: standard}  # default sandbox keys (see the `sandbox` module)
//!   processors: [rollup]  # processors every collector's batches go through, after its own
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
//!     sandbox: {preset: strict, max_connections: 4} # overrides global.sandbox key by key
//!     processors: [enrich]                         # processors of its batches, in order
//!   - name: enrich
//!     role: processor                              # collector (default) | processor
//!     command: ["/usr/lib/plugin-exporter/enrich.py"]
//!     on_error: pass                               # pass (default) | drop
//!     timeout: 1s                                  # each batch's deadline
//!   - name: archive
//!     role: output                                 # gets every collect in `write`s
//!     command: ["/usr/lib/plugin-exporter/jsonl_file.py"]
//!     queue: 16                                    # writes waiting (1 to 10000)
//!     max_in_flight: 1                             # writes sent before answers (1 to 8)
//!     max_retries: 3                               # resends of a failed write (0 to 100)
//!     timeout: 5s                                  # each write's deadline
//! ```
//!
//! A processor (`role: processor`) is a long-running JSON-lines plugin that collectors'
//! batches go through (see PROTOCOL.md); it has no `mode`, `interval`, `format` other than
//! jsonl, `processors` or `metric_relabel_configs`, and only collectors take `processors`
//! (`roles` checks the references). An output (`role: output`) has none of these either, nor
//! `on_error`; only outputs take `queue`, `max_in_flight` and `max_retries`.
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
//!
//! The parts: `model` holds the checked [`Config`], `raw` the file as written, `check` the
//! semantic checks, `error` the [`ConfigError`] and its [`Problem`]s; [`duration`], [`size`],
//! `env`, `limits`, `run_as` and `sandbox` one kind of value each, `program` the resolution of
//! `command[0]`, `locate` the key-to-line lookup. This file only reads a file and runs the two
//! steps; the types are re-exported here.

mod check;
pub mod duration;
mod env;
mod error;
mod lenient;
mod limits;
mod locate;
mod model;
mod packages;
mod program;
mod raw;
mod relabel_keys;
pub mod remote_write;
mod roles;
mod run_as;
mod sandbox;
pub mod size;

use std::path::Path;

pub use env::Secret;
pub use error::{ConfigError, Problem};
pub use limits::Limits;
pub use model::{
    Config, Format, Global, Mode, OnError, OutputSettings, PluginConfig, Role,
    DEFAULT_EVALUATION_INTERVAL, DEFAULT_INTERVAL, DEFAULT_PLUGIN_LABEL, DEFAULT_TIMEOUT,
    MIN_INTERVAL,
};
pub use remote_write::RemoteWriteConfig;
pub use run_as::RunAs;
pub use sandbox::{
    Filesystem, FsKey, FsPaths, Network, Preset, SandboxKeys, SandboxProfile, Syscalls,
};
pub use size::{parse_size, SizeError};

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
    // Every key that cannot be read is reported and left out; the checks then run on the
    // rest, so one run lists every problem.
    let (raw, mut problems) = lenient::read(text);
    let Some(raw) = raw else {
        return Err(invalid(problems));
    };
    let mut report = check::Reporter::new(text, raw.names());
    let config = check::resolve(raw, file, env, &mut report);
    // A key the lenient reader left out is not reported again as missing.
    let left_out: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
    problems.extend(report.into_problems().into_iter().filter(|p| {
        !(p.message.starts_with("missing `command`")
            && left_out.contains(&format!("{}.command", p.key)))
    }));
    match problems {
        problems if problems.is_empty() => Ok(config),
        problems => Err(invalid(problems)),
    }
}
