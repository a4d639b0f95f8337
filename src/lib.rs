//! plugin-exporter: a Prometheus exporter sidecar that runs metric collectors ("plugins") as
//! supervised child processes and serves what they return as one merged `/metrics`.
//!
//! # Layout
//!
//! A scrape or a timer asks each plugin's supervisor for a batch; the supervisor talks to its
//! child over newline-delimited JSON, the batch is validated and rendered once, and the HTTP
//! layer merges the rendered batches into one exposition.
//!
//! - [`config`]: the YAML configuration, every check done before anything starts.
//! - [`plugin`]: one supervisor per plugin.
//!   - [`plugin::spawn`]: the only unsafe code: process group, parent-death signal, the
//!     dedicated spawner thread and the reaper that owns `waitpid` (we are a subreaper).
//!   - [`plugin::lines`]: a bounded line reader (a plugin cannot make us buffer without end).
//!   - [`plugin::instance`]: one running child: hello, collect/answer matching, push, logs.
//!   - [`plugin::supervisor`]: modes (scrape, interval, push), restarts with backoff, state.
//!   - [`plugin::backoff`]: exponential backoff with jitter.
//! - [`exposition`]: our model of families, validation of plugin batches, text 0.0.4 and
//!   OpenMetrics encoders, and the merge of all plugins into one body.
//! - [`selfmetrics`]: the exporter's own metrics (prometheus crate, encoded by ours).
//! - [`http`]: the hyper server: `/metrics`, landing page, health, readiness, JSON API.
//! - [`reload`]: the running plugin set; reloads restart only plugins whose config changed.
//! - [`app`]: wires config, supervisors and server together; signals and graceful shutdown.
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
