//! plugin-exporter: a Prometheus exporter sidecar that runs metric collectors ("plugins") as
//! supervised child processes and serves what they return as one merged `/metrics`.
//!
//! # Layout
//!
//! A scrape or a timer asks each plugin's supervisor for a batch; the supervisor talks to its
//! child over newline-delimited JSON (or runs a one-shot command), the batch is checked against
//! the plugin's budgets, validated and rendered once, and the HTTP layer merges the rendered
//! batches into one exposition. Every plugin runs fenced: its own process group, rlimits, a
//! cgroup (or the watchdog), a dropped identity, a clean environment.
//!
//! - [`config`]: the YAML configuration, every check done before anything starts.
//! - [`plugin`]: one supervisor per plugin.
//!   - [`plugin::spawn`]: process group, parent-death signal, rlimits, cgroup join and
//!     identity drop before exec; the dedicated spawner thread, the reaper that owns
//!     `waitpid` (we are a subreaper) and the guard that cleans up after our own death.
//!   - [`plugin::fence`]: one plugin's cgroup or watchdog entry, rlimits and usage figures.
//!   - [`plugin::lines`]: a bounded line reader (a plugin cannot make us buffer without end).
//!   - [`plugin::instance`]: one running child's I/O: hello, batches, budgets, stderr logs.
//!   - [`plugin::supervisor`]: modes (scrape, interval, push), collect matching, restarts
//!     with backoff, disable/enable, state.
//!   - [`plugin::oneshot`]: `format: prometheus | nagios`, a command run per collect.
//!   - [`plugin::backoff`]: exponential backoff with jitter.
//! - [`sandbox`]: cgroup v2/v1 management ([`sandbox::cgroup`]) and, without cgroups, the
//!   watchdog that samples process trees ([`sandbox::watchdog`]).
//! - [`exposition`]: our model of families, validation of plugin batches, the text 0.0.4 and
//!   OpenMetrics encoders and parser, gzip members, and the merge of all plugins into one body.
//! - [`formats`]: other plugin output formats (Nagios checks).
//! - [`selfmetrics`]: the exporter's own metrics (prometheus crate, encoded by ours).
//! - [`http`]: the hyper server: `/metrics`, landing page, health, readiness, reload, JSON API.
//! - [`web`]: `--web.config.file`: TLS, basic auth, response headers.
//! - [`reload`]: the running plugin set; reloads restart only plugins whose config changed.
//! - [`app`]: wires everything together; signals, reloads and graceful shutdown.
//! - [`systemd`]: sd_notify (ready, watchdog, stopping, reloading) and socket activation.
//! - [`check_plugin`]: `plugin-exporter check-plugin`, the conformance checker for authors.
//! - [`logging`]: tracing-subscriber setup, logfmt or JSON.
//!
//! The wire types live in the `plugin-protocol` crate, with the normative `PROTOCOL.md`.

pub mod app;
pub mod check_plugin;
pub mod config;
pub mod exposition;
pub mod formats;
pub mod http;
pub mod logging;
pub mod plugin;
pub mod reload;
pub mod sandbox;
pub mod selfmetrics;
pub mod systemd;
pub mod web;

/// The exporter's version, from Cargo.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision the binary was built from, or `unknown`.
pub const REVISION: &str = env!("PLUGIN_EXPORTER_REVISION");

/// An error with its sources, `outer: inner: innermost`, for messages a person reads.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}
