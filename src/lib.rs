//! plugin-exporter: a Prometheus exporter sidecar that runs metric collectors ("plugins") as
//! supervised child processes and serves what they return as one merged `/metrics`.
//!
//! # Layout
//!
//! Dependencies point one way, from the top of this list to the bottom; no two files or
//! modules import each other, directly or in a circle (`tests/source_layout.rs` checks).
//!
//! - [`app`]: wires everything together; signals, reloads and graceful shutdown.
//! - `http`: the hyper server: routes and headers for `/metrics`, the landing page,
//!   health, readiness, reload and the JSON API. `web`: `--web.config.file` (TLS, basic
//!   auth, response headers). `systemd`: sd_notify and socket activation.
//! - [`status`]: the status page and per-plugin pages (with their last hour,
//!   [`status::history`]) and the generated Grafana dashboard.
//! - [`remote_write`]: pushes what a scrape would serve to `remote_write` destinations on
//!   an interval (series, queue shards, HTTP client, delivery with retries); the same
//!   collect, timestamped, is queued for every output.
//! - [`scrape`]: one scrape: concurrent collects, usage refresh, the exporter's own metrics,
//!   the merge and its drop counting; the same as protocol families (`/api/v1/metrics`).
//! - `reload`: the running plugin set; reloads restart only plugins whose config changed.
//! - [`check_plugin`]: `plugin-exporter check-plugin`, the conformance checker for authors.
//!   It decides nothing itself: it drives the collector's own line parser, command runner
//!   and validation, and prints the reasons they give.
//! - [`plugin`]: one supervisor per plugin, whatever its role.
//!   - [`plugin::supervisor`]: the role-agnostic lifecycle: spawn in the fence, restart with
//!     backoff, disable/enable, stop; every command decided in [`plugin::supervisor::control`].
//!     A role implements the two traits of [`plugin::supervisor::role`].
//!   - [`plugin::collector`]: the collector role (JSON-lines sessions in scrape, interval or
//!     push mode; commands run per collect for `format: prometheus | nagios`).
//!   - [`plugin::processor`]: the processor role (`role: processor`): long-running JSON-lines
//!     children that collectors' batches go through, in each collector's order, before the
//!     batch is built; `on_error` serves a failed batch unprocessed or not at all. Started
//!     before the collectors by `reload`, never scraped. Collectors reach them through
//!     [`plugin::ProcessorHandle`]s ([`plugin::processor::pipeline`]).
//!   - [`plugin::output`]: the output role (`role: output`): long-running JSON-lines children
//!     that get each collect of the `remote_write` loop as a `write` and answer `ack` or
//!     `error`; a bounded queue per output, writes in flight, retries with backoff
//!     ([`plugin::output::dispatch`], outside the supervisor so it outlives restarts). Started
//!     before the collectors by `reload`, never scraped; reached through
//!     [`plugin::OutputHandle`]s, which never wait.
//! - [`sandbox`]: a plugin's fence ([`sandbox::Fence`]: cgroup v2/v1 or the watchdog,
//!   rlimits, usage figures).
//!   `sandbox:` profiles: confine (fs_rules, ruleset, seccomp, tmpdir, kernel), connections.
//! - [`process`]: spawning with the pre-exec setup, the reaper, process tags and sweeps, the
//!   guard. The only `unsafe` code lives in [`process::spawn`] and `systemd`.
//! - [`selfmetrics`]: the exporter's own metrics (prometheus crate, encoded by ours), labelled
//!   by the fixed codes of [`codes`].
//! - [`exposition`]: model, validation (each drop with a typed [`exposition::drop_reason`]),
//!   batches with their budgets, relabeling of a batch ([`exposition::relabel_batch`]), the
//!   text 0.0.4 and OpenMetrics encoders and parser, gzip members, the merge. [`formats`]:
//!   other plugin output formats (Nagios checks).
//! - [`config`]: the YAML configuration, every check done before anything starts.
//! - [`package`]: plugin packages: manifests, minisign signatures and pinned files, scanning
//!   `plugins_dirs`, and the `plugins verify|new|sign` commands.
//! - [`relabel`]: Prometheus's relabel rules (`metric_relabel_configs`,
//!   `write_relabel_configs`) and the label set they work on.
//! - [`logging`]: tracing-subscriber setup, logfmt or JSON.
//! - [`rules`]: the PromQL engine for rules (parse, check, evaluate over an in-memory store).
//!
//! The wire types live in the `plugin-protocol` crate, with the normative `PROTOCOL.md`.
//!
//! # The path of one scrape
//!
//! 1. `http` routes `GET /metrics`, negotiates the format and gzip, and reads the scrape
//!    timeout header into a budget ([`scrape::scrape_budget`]).
//! 2. [`scrape::Scraper::scrape`] asks every [`plugin::PluginHandle`] for a batch at once.
//!    A scrape-mode plugin's handle sends a collect request to its supervisor task, which
//!    hands it to the running session ([`plugin::collector::jsonl`]): the session writes a
//!    `collect` line to the child's stdin, or joins the collect already in flight. Interval
//!    and push plugins answer from the batch they hold.
//! 3. The child's stdout reader task ([`plugin::collector::jsonl_io`]) parses the answer,
//!    sends its families through the collector's processors in order, if it has any
//!    ([`plugin::processor::pipeline`]: a `process` request to each processor's supervisor,
//!    answered by its session within the processor's timeout), then
//!    holds it to the budgets, relabels it, and validates and renders it once
//!    ([`exposition::batch`]), counting what validation drops by reason; the session matches it to the collect
//!    ([`plugin::collector::answers`]) and completes every waiting scrape.
//! 4. The scrape refreshes each plugin's usage (cgroup or watchdog), renders the exporter's
//!    own metrics, and [`exposition::merge`] copies the rendered families (or their gzip
//!    members) into one body, first plugin first; merge conflicts are counted once per batch.
//!
//! # Adding a plugin role
//!
//! A role (alerter, ...) is a new module beside [`plugin::collector`], [`plugin::processor`]
//! and [`plugin::output`] (the processor is the smallest, and the one to copy):
//! 1. Define its request type and a session type that implements
//!    [`plugin::supervisor::role::Session`]: take requests, handle the child's output in
//!    `step` (return a [`plugin::supervisor::fault::Fault`] to have the child restarted),
//!    say goodbye in `shutdown`, and fail what is open in `close`.
//! 2. Implement [`plugin::supervisor::role::Role`]: `open` spawns the child through
//!    [`plugin::supervisor::Context::spawn`] (checksum, fence, identity, environment) and
//!    wraps its pipes in a session; `refuse` answers requests while nothing runs; `down`
//!    drops what the role serves.
//! 3. Start it with [`plugin::supervisor::Handle::start`] and give the outside a handle type
//!    that sends requests with [`plugin::supervisor::Handle::request`] and lifecycle
//!    commands with [`plugin::supervisor::Handle::control`].
//!
//! Restarts, backoff, disable/enable, stop, reload, rlimits, cgroups, usage metrics and the
//! API's process status come with the supervisor; a role writes none of them.

pub mod app;
pub mod check_plugin;
pub mod codes;
pub mod config;
pub mod exposition;
pub mod formats;
pub(crate) mod http;
pub mod logging;
pub mod package;
pub mod plugin;
pub mod process;
pub mod relabel;
pub(crate) mod reload;
pub mod remote_write;
pub mod rules;
pub mod sandbox;
pub mod scrape;
pub mod selfmetrics;
pub mod status;
pub(crate) mod systemd;
pub(crate) mod web;

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
