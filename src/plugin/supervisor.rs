//! One supervisor task per plugin: starts the process, speaks the protocol, serves collects in
//! the plugin's mode, and restarts it with backoff whatever goes wrong. Never gives up.
//!
//! The task owns all of a plugin's mutable state, so there are no locks on the protocol path;
//! scrapes talk to it through a [`PluginHandle`]. Concurrent scrapes of a scrape-mode plugin
//! share one collect (single flight): a plugin never has more than one live collect.

use super::backoff::Backoff;
use super::fence::{Fence, Sandbox, Usage};
use super::instance::{self, Batch, Event, Io, ReaderOptions, EOF_EXIT_WAIT};
use super::oneshot as oneshot_run;
use super::spawn::{self, ExitStatus, Identity, SpawnSpec, Spawner};
use crate::config::{Format, Mode, PluginConfig};
use crate::exposition::validate::Drops;
use crate::selfmetrics::{kind, reason, SelfMetrics};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use plugin_protocol::{Collect, HostHello, HostMessage, Shutdown, PROTOCOL_VERSION};
use serde::Serialize;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout};

/// How often a plugin's resource use is read at most (it is read when scraped).
const USAGE_REFRESH: Duration = Duration::from_secs(1);

/// Collects left unanswered in a row before the plugin is restarted (reason `timeout`).
pub const MAX_UNANSWERED: usize = 3;

/// Exporter-wide settings every supervisor needs.
#[derive(Clone)]
pub struct SupervisorOptions {
    /// The label naming the plugin on its series; empty disables it.
    pub plugin_label: String,
    /// How long a plugin gets after `shutdown` before SIGTERM, and after SIGTERM before SIGKILL.
    pub shutdown_grace: Duration,
    /// The isolation machinery (cgroups or the watchdog).
    pub sandbox: Arc<Sandbox>,
}

/// Lifecycle state of a plugin, as shown in the API and landing page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being started.
    Starting,
    /// Its process runs.
    Running,
    /// Waiting out a backoff delay before the next start.
    Restarting,
    /// Being stopped.
    Stopping,
    /// Stopped for good (exporter shutdown).
    Stopped,
    /// Refused: it would run as root without `allow_root`. Not retried.
    Refused,
    /// Disabled through the API; not running until enabled.
    Disabled,
}

/// A snapshot of a plugin's state for the API and landing page. Never holds secrets.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
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
    /// Whether the last collect succeeded.
    pub up: bool,
    /// Series in the last successful collect.
    pub series: usize,
    /// Unix time of the last successful collect.
    pub last_success_timestamp: Option<f64>,
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
}

/// Why a collect produced no batch.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectError {
    /// The plugin is not running (starting or waiting to restart).
    Down,
    /// No answer before the deadline.
    Timeout,
    /// The plugin answered with `error`.
    Plugin(String),
    /// The plugin exited while the collect was open.
    Exited,
    /// The answer broke a limit and was refused whole.
    Rejected(String),
}

type CollectResult = Result<Arc<Batch>, CollectError>;

enum Command {
    Collect {
        deadline: Duration,
        reply: oneshot::Sender<CollectResult>,
    },
    Stop {
        done: oneshot::Sender<()>,
    },
    /// Stop the running instance and start a new one at once (no backoff).
    Restart {
        done: oneshot::Sender<()>,
    },
    /// Stop the plugin and keep it stopped until enabled.
    Disable {
        done: oneshot::Sender<()>,
    },
    /// Start a disabled plugin again.
    Enable {
        done: oneshot::Sender<()>,
    },
}

struct Shared {
    name: String,
    mode: Mode,
    timeout: Duration,
    status: Mutex<PluginStatus>,
    /// The batch served in interval and push modes.
    cached: Mutex<Option<Arc<Batch>>>,
    /// Set once the first start attempt finished (readiness).
    attempted: AtomicBool,
    metrics: Arc<SelfMetrics>,
    fence: Fence,
    /// Usage figures last reported (to advance counters by what grew), and when.
    usage_seen: Mutex<(Usage, Option<Instant>)>,
}

impl Shared {
    fn status(&self) -> std::sync::MutexGuard<'_, PluginStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn set_cached(&self, batch: Option<Arc<Batch>>) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = batch;
    }
    fn error(&self, kind: &str) {
        self.metrics.error(&self.name, kind, 1);
    }

    /// Reads the plugin's resource use into the metrics. Reading a cgroup's files costs tens
    /// of microseconds a plugin, so scrapes do it at most once a second per plugin; `force`
    /// reads now (an OOM kill must show in the same scrape as the restart it caused).
    fn refresh_usage(&self, force: bool) {
        let mut seen = self.usage_seen.lock().unwrap_or_else(|e| e.into_inner());
        if !force && seen.1.is_some_and(|t| t.elapsed() < USAGE_REFRESH) {
            return;
        }
        let now = self.fence.usage();
        self.metrics.usage(&self.name, &now, &mut seen.0);
        seen.1 = Some(Instant::now());
    }
}

/// The handle scrapes, the API and shutdown use to reach a plugin's supervisor.
#[derive(Clone)]
pub struct PluginHandle {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Scrape => "scrape",
        Mode::Interval => "interval",
        Mode::Push => "push",
    }
}

impl PluginHandle {
    /// Starts the supervisor task of one plugin (the process starts right away).
    pub fn start(cfg: PluginConfig, opts: SupervisorOptions, metrics: Arc<SelfMetrics>) -> Self {
        metrics.init_plugin(&cfg.name);
        let shared = Arc::new(Shared {
            name: cfg.name.clone(),
            mode: cfg.mode,
            timeout: cfg.timeout,
            status: Mutex::new(PluginStatus {
                name: cfg.name.clone(),
                mode: mode_name(cfg.mode),
                state: State::Starting,
                pid: None,
                restarts: 0,
                up: false,
                series: 0,
                last_success_timestamp: None,
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
                }),
                usage: Usage::default(),
            }),
            cached: Mutex::new(None),
            attempted: AtomicBool::new(false),
            metrics,
            fence: Fence::new(opts.sandbox.clone(), &cfg.name, cfg.limits.clone()),
            usage_seen: Mutex::new((Usage::default(), None)),
        });
        let (tx, rx) = mpsc::channel(64);
        let actor = Actor {
            shared: shared.clone(),
            cfg,
            opts,
            rx,
            next_id: 1,
        };
        tokio::spawn(actor.run());
        PluginHandle { shared, tx }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The batch to serve for a scrape. Scrape mode collects now, within `budget` (from the
    /// scrape timeout) capped by the plugin's timeout; other modes serve what they hold.
    /// `None` when the plugin has nothing valid to serve.
    pub async fn batch(&self, budget: Option<Duration>) -> Option<Arc<Batch>> {
        if self.shared.mode != Mode::Scrape {
            return self
                .shared
                .cached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
        }
        let deadline = budget.map_or(self.shared.timeout, |b| b.min(self.shared.timeout));
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Collect { deadline, reply })
            .await
            .ok()?;
        // The supervisor enforces the plugin's deadline; this bound only guards against a
        // joined in-flight collect whose deadline is later than ours.
        match timeout(deadline + Duration::from_millis(20), rx).await {
            Ok(Ok(Ok(batch))) => Some(batch),
            _ => None,
        }
    }

    /// Reads the plugin's resource use into the exporter's metrics (called per scrape).
    pub fn refresh_usage(&self) {
        // A scrape that started before a reload may still hold a plugin the reload removed:
        // reporting it would bring back the series the reload deleted.
        if self.shared.status().state == State::Stopped {
            return;
        }
        self.shared.refresh_usage(false);
    }

    /// A copy of the plugin's current status, with its resource use now.
    pub fn status(&self) -> PluginStatus {
        let mut st = self.shared.status().clone();
        st.usage = self.shared.fence.usage();
        st
    }

    /// True once the plugin's first start attempt has finished, successful or not.
    pub fn attempted(&self) -> bool {
        self.shared.attempted.load(Ordering::Acquire)
    }

    /// Stops the running instance and starts a new one at once. False when the supervisor is
    /// gone.
    pub async fn restart(&self) -> bool {
        self.command(|done| Command::Restart { done }).await
    }

    /// Stops the plugin and keeps it stopped (until enabled, a reload or an exporter
    /// restart).
    pub async fn disable(&self) -> bool {
        self.command(|done| Command::Disable { done }).await
    }

    /// Starts a disabled plugin again.
    pub async fn enable(&self) -> bool {
        self.command(|done| Command::Enable { done }).await
    }

    async fn command(&self, make: impl FnOnce(oneshot::Sender<()>) -> Command) -> bool {
        let (done, rx) = oneshot::channel();
        self.tx.send(make(done)).await.is_ok() && rx.await.is_ok()
    }

    /// Stops the plugin (shutdown message, stdin closed, SIGTERM, SIGKILL) and waits for it.
    pub async fn stop(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Command::Stop { done }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// How one run of the plugin process ended.
enum End {
    /// Stop was requested; reply when done.
    Stop(oneshot::Sender<()>),
    /// Every handle is gone.
    Orphaned,
    /// The process ended or was stopped for a fault; restart it.
    Failed { reason: &'static str, error: String },
    /// A restart was requested (API); reply when the new instance is starting.
    Restart(oneshot::Sender<()>),
    /// The plugin was disabled (API); reply once stopped.
    Disable(oneshot::Sender<()>),
}

/// The collect currently waiting for an answer.
struct Live {
    id: u64,
    started: Instant,
    deadline: Instant,
    waiters: Vec<oneshot::Sender<CollectResult>>,
}

struct Actor {
    shared: Arc<Shared>,
    cfg: PluginConfig,
    opts: SupervisorOptions,
    rx: mpsc::Receiver<Command>,
    next_id: u64,
}

impl Actor {
    async fn run(mut self) {
        if let Some(error) = self.refusal() {
            tracing::error!(plugin = %self.shared.name, %error, "refusing to start plugin");
            {
                let mut st = self.shared.status();
                st.state = State::Refused;
                st.last_error = Some(error);
            }
            self.shared.attempted.store(true, Ordering::Release);
            // Answer scrapes (as down) until stopped; a config change is the only way out.
            while let Some(cmd) = self.rx.recv().await {
                match cmd {
                    Command::Collect { reply, .. } => {
                        let _ = reply.send(Err(CollectError::Down));
                    }
                    Command::Stop { done } => {
                        self.shared.fence.remove();
                        let _ = done.send(());
                        return;
                    }
                    Command::Restart { done }
                    | Command::Disable { done }
                    | Command::Enable { done } => {
                        let _ = done.send(());
                    }
                }
            }
            return;
        }
        if self.cfg.format != Format::Jsonl {
            return self.run_oneshot().await;
        }
        let mut backoff = Backoff::default();
        loop {
            let started = Instant::now();
            let oom_before = self.shared.fence.usage().oom_kills;
            let end = self.run_once().await;
            self.shared.fence.ended();
            self.shared.attempted.store(true, Ordering::Release);
            self.shared.set_cached(None);
            self.shared
                .metrics
                .up
                .with_label_values(&[&self.shared.name])
                .set(0.0);
            let (why, error) = match end {
                End::Stop(done) => {
                    self.shared.fence.remove();
                    self.set_state(State::Stopped, None);
                    let _ = done.send(());
                    return;
                }
                End::Orphaned => {
                    self.shared.fence.remove();
                    return;
                }
                End::Restart(done) => {
                    tracing::info!(plugin = %self.shared.name, "restarting plugin on request");
                    self.count_restart(reason::REQUESTED, "restarted on request".into());
                    backoff = Backoff::default();
                    let _ = done.send(());
                    continue;
                }
                End::Disable(done) => {
                    let _ = done.send(());
                    if !self.disabled().await {
                        return;
                    }
                    backoff = Backoff::default();
                    continue;
                }
                End::Failed { reason, error } => {
                    if self.shared.fence.usage().oom_kills > oom_before {
                        self.shared.refresh_usage(true);
                        let limit = self.cfg.limits.memory.unwrap_or_default();
                        (
                            reason::OOM,
                            format!(
                                "{error}: killed for exceeding its memory limit of {limit} bytes"
                            ),
                        )
                    } else {
                        (reason, error)
                    }
                }
            };
            let delay = backoff.next_delay(started.elapsed());
            tracing::warn!(plugin = %self.shared.name, reason = why, error = %error,
                delay_ms = delay.as_millis() as u64, "plugin stopped; restarting after a delay");
            self.count_restart(why, error);
            let until = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = sleep_until(until) => break,
                    cmd = self.rx.recv() => match cmd {
                        Some(Command::Collect { reply, .. }) => {
                            let _ = reply.send(Err(CollectError::Down));
                        }
                        Some(Command::Stop { done }) => {
                            self.shared.fence.remove();
                            self.set_state(State::Stopped, None);
                            let _ = done.send(());
                            return;
                        }
                        Some(Command::Restart { done }) => {
                            let _ = done.send(());
                            break;
                        }
                        Some(Command::Disable { done }) => {
                            let _ = done.send(());
                            if !self.disabled().await {
                                return;
                            }
                            backoff = Backoff::default();
                            break;
                        }
                        Some(Command::Enable { done }) => {
                            let _ = done.send(());
                        }
                        None => {
                            self.shared.fence.remove();
                            return;
                        }
                    },
                }
            }
        }
    }

    /// Counts a restart and records why in the status.
    fn count_restart(&self, why: &'static str, error: String) {
        self.shared
            .metrics
            .restarts
            .with_label_values(&[&self.shared.name, why])
            .inc();
        let mut st = self.shared.status();
        st.restarts += 1;
        st.up = false;
        st.pid = None;
        st.state = State::Restarting;
        st.last_error = Some(error);
    }

    /// Keeps the plugin stopped until it is enabled (true) or the supervisor must end
    /// (false). Scrapes get nothing for it meanwhile.
    async fn disabled(&mut self) -> bool {
        let name = self.shared.name.clone();
        tracing::info!(plugin = %name, "plugin disabled");
        self.set_state(State::Disabled, None);
        self.shared.set_cached(None);
        self.shared.status().up = false;
        self.shared.metrics.up.with_label_values(&[&name]).set(0.0);
        self.shared
            .metrics
            .disabled
            .with_label_values(&[&name])
            .set(1.0);
        while let Some(cmd) = self.rx.recv().await {
            match cmd {
                Command::Collect { reply, .. } => {
                    let _ = reply.send(Err(CollectError::Down));
                }
                Command::Restart { done } | Command::Disable { done } => {
                    let _ = done.send(());
                }
                Command::Enable { done } => {
                    tracing::info!(plugin = %name, "plugin enabled");
                    self.shared
                        .metrics
                        .disabled
                        .with_label_values(&[&name])
                        .set(0.0);
                    let _ = done.send(());
                    return true;
                }
                Command::Stop { done } => {
                    self.shared.fence.remove();
                    self.set_state(State::Stopped, None);
                    let _ = done.send(());
                    return false;
                }
            }
        }
        self.shared.fence.remove();
        false
    }

    /// Why this plugin must not start at all, if it must not: it would run as root (the
    /// exporter is root and no `user` is set) without `allow_root`.
    fn refusal(&self) -> Option<String> {
        let uid_set = self.cfg.run_as.as_ref().is_some_and(|r| r.uid.is_some());
        if nix::unistd::geteuid().is_root() && !uid_set && !self.cfg.allow_root {
            return Some(format!(
                "plugin {} would run as root: set `user:` to an unprivileged user for it \
                 (for example `user: nobody`), or set `allow_root: true` for it to accept that",
                self.shared.name
            ));
        }
        None
    }

    fn set_state(&self, state: State, pid: Option<i32>) {
        let mut st = self.shared.status();
        st.state = state;
        st.pid = pid;
    }

    fn environment(&self) -> Vec<(OsString, OsString)> {
        let mut env = vec![(
            OsString::from("PATH"),
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        )];
        if let Some(lang) = std::env::var_os("LANG") {
            env.push(("LANG".into(), lang));
        }
        for (k, v) in &self.cfg.env {
            env.push((k.into(), v.expose().into()));
        }
        env
    }

    /// What to start, fenced: environment, rlimits, cgroup, identity.
    fn spawn_spec(&self) -> Result<SpawnSpec, String> {
        let own_uid = self
            .cfg
            .run_as
            .as_ref()
            .and_then(|r| r.uid)
            .is_some_and(|u| u != nix::unistd::getuid().as_raw());
        let cgroup_join = self
            .shared
            .fence
            .join_files()
            .map_err(|e| format!("cannot open the plugin's cgroup: {e}"))?;
        Ok(SpawnSpec {
            plugin: self.shared.name.clone(),
            argv: self.cfg.command.clone(),
            env: self.environment(),
            working_dir: self.cfg.working_dir.clone(),
            rlimits: self.shared.fence.rlimits(own_uid),
            cgroup_join,
            run_as: self.cfg.run_as.as_ref().map(|r| Identity {
                uid: r.uid,
                gid: r.gid,
                groups: r.groups.clone(),
            }),
        })
    }

    fn reader_options(&self) -> ReaderOptions {
        ReaderOptions {
            plugin: self.shared.name.clone(),
            plugin_label: self.opts.plugin_label.clone(),
            max_line: self.cfg.limits.max_line,
            max_series: self.cfg.limits.max_series,
            max_labels: self.cfg.limits.max_labels,
        }
    }

    /// The loop of a plugin run once per collect (`format: prometheus | nagios`): no process
    /// lives between collects, so there is nothing to restart; each collect runs the command
    /// in its fence (single flight, like JSON-lines plugins).
    async fn run_oneshot(mut self) {
        let name = self.shared.name.clone();
        self.set_state(State::Running, None);
        self.shared.attempted.store(true, Ordering::Release);
        type Outcome = Result<(Arc<Batch>, Drops), oneshot_run::Failure>;
        let (done_tx, mut done_rx) = mpsc::channel::<Outcome>(1);
        let mut live: Option<Live> = None;
        let mut task: Option<tokio::task::JoinHandle<()>> = None;
        let mut disabled = false;
        let mut tick = (self.cfg.mode == Mode::Interval).then(|| {
            let mut t = tokio::time::interval(self.cfg.interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let mut start: Option<(Duration, Option<oneshot::Sender<CollectResult>>)> = None;
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(Command::Collect { deadline, reply }) => {
                        if disabled {
                            let _ = reply.send(Err(CollectError::Down));
                        } else if let Some(l) = &mut live {
                            l.waiters.push(reply);
                        } else {
                            start = Some((deadline, Some(reply)));
                        }
                    }
                    Some(Command::Restart { done }) => {
                        let _ = done.send(());
                    }
                    Some(Command::Disable { done }) => {
                        disabled = true;
                        self.set_state(State::Disabled, None);
                        self.shared.set_cached(None);
                        self.shared.metrics.up.with_label_values(&[&name]).set(0.0);
                        self.shared.metrics.disabled.with_label_values(&[&name]).set(1.0);
                        let _ = done.send(());
                    }
                    Some(Command::Enable { done }) => {
                        disabled = false;
                        self.set_state(State::Running, None);
                        self.shared.metrics.disabled.with_label_values(&[&name]).set(0.0);
                        let _ = done.send(());
                    }
                    stop => {
                        if let Some(t) = task.take() {
                            t.abort();
                        }
                        finish(&self.shared, live.take(), Err(CollectError::Down));
                        self.shared.fence.remove();
                        self.set_state(State::Stopped, None);
                        if let Some(Command::Stop { done }) = stop {
                            let _ = done.send(());
                        }
                        return;
                    }
                },
                Some(outcome) = done_rx.recv() => {
                    task = None;
                    let result = match outcome {
                        Ok((batch, drops)) => {
                            let m = &self.shared.metrics;
                            m.error(&name, kind::INVALID_METRIC, drops.invalid_metric);
                            m.error(&name, kind::DUPLICATE_SERIES, drops.duplicate_series);
                            Ok(batch)
                        }
                        Err(failure) => {
                            let (k, lim, detail) = failure.describe();
                            self.shared.error(k);
                            if let Some(l) = lim {
                                self.shared.metrics.limit_hit(&name, l);
                            }
                            tracing::warn!(plugin = %name, error = %detail, "collect failed");
                            self.shared.status().last_error = Some(detail.clone());
                            Err(CollectError::Plugin(detail))
                        }
                    };
                    finish(&self.shared, live.take(), result);
                }
                _ = async { tick.as_mut().expect("guarded by is_some").tick().await }, if tick.is_some() && !disabled => {
                    if live.is_none() {
                        start = Some((self.cfg.timeout, None));
                    }
                }
            }
            let Some((deadline, reply)) = start else {
                continue;
            };
            let now = Instant::now();
            live = Some(Live {
                id: 0,
                started: now,
                deadline: now + deadline,
                waiters: reply.into_iter().collect(),
            });
            let spec = match self.spawn_spec() {
                Ok(spec) => spec,
                Err(e) => {
                    let _ = done_tx.send(Err(oneshot_run::Failure::Spawn(e))).await;
                    continue;
                }
            };
            let (shared, opts, tx) = (self.shared.clone(), self.reader_options(), done_tx.clone());
            let (format, sha, program) = (
                self.cfg.format,
                self.cfg.sha256,
                self.cfg.command[0].clone(),
            );
            task = Some(tokio::spawn(async move {
                let outcome = match checksum_problem(sha, &program).await {
                    Some(e) => Err(oneshot_run::Failure::Failed(e)),
                    None => {
                        oneshot_run::collect(
                            format,
                            spec,
                            &shared.fence,
                            deadline,
                            &opts,
                            &shared.metrics,
                        )
                        .await
                    }
                };
                let _ = tx.send(outcome).await;
            }));
        }
    }

    /// Runs the plugin process once, until it ends or a stop is requested.
    async fn run_once(&mut self) -> End {
        let name = self.shared.name.clone();
        self.set_state(State::Starting, None);
        if let Some(error) = checksum_problem(self.cfg.sha256, &self.cfg.command[0]).await {
            return End::Failed {
                reason: reason::CHECKSUM,
                error,
            };
        }
        let spec = match self.spawn_spec() {
            Ok(spec) => spec,
            Err(error) => {
                return End::Failed {
                    reason: reason::SPAWN_FAILED,
                    error,
                }
            }
        };
        let spawned = match Spawner::global().spawn(spec).await {
            Ok(s) => s,
            Err(e) => {
                return End::Failed {
                    reason: reason::SPAWN_FAILED,
                    error: format!("cannot start {:?}: {e}", self.cfg.command[0]),
                }
            }
        };
        let pid = spawned.pid;
        let mut exited = spawned.exited;
        let opts = self.reader_options();
        let mut io = match instance::start(spawned.stdin, spawned.stdout, spawned.stderr, opts) {
            Ok(io) => io,
            Err(e) => {
                spawn::signal_group(pid, Signal::SIGKILL);
                return End::Failed {
                    reason: reason::SPAWN_FAILED,
                    error: format!("cannot set up the plugin's pipes: {e}"),
                };
            }
        };
        tracing::info!(plugin = %name, pid = pid.as_raw(), "plugin started");
        self.shared.fence.started(pid.as_raw());
        self.set_state(State::Running, Some(pid.as_raw()));
        self.shared.attempted.store(true, Ordering::Release);
        io.send(&HostMessage::Hello(HostHello {
            protocol: PROTOCOL_VERSION,
            name: name.clone(),
            config: self.cfg.config.clone(),
        }));

        let mut open: VecDeque<u64> = VecDeque::new();
        let mut live: Option<Live> = None;
        let mut tick = (self.cfg.mode == Mode::Interval).then(|| {
            let mut t = tokio::time::interval(self.cfg.interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let stale_after = self.cfg.interval * 3;
        let mut last_push: Option<tokio::time::Instant> = None;
        let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);

        loop {
            let live_deadline = live.as_ref().map_or(far, |l| l.deadline.into());
            let stale_at = last_push.map_or(far, |t| t + stale_after);
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(Command::Collect { deadline, reply }) => match &mut live {
                        Some(l) => l.waiters.push(reply),
                        None => self.begin_collect(&io, deadline, Some(reply), &mut open, &mut live),
                    },
                    Some(Command::Stop { done }) => {
                        finish(&self.shared, live.take(), Err(CollectError::Down));
                        self.terminate(&mut io, &mut exited, pid).await;
                        return End::Stop(done);
                    }
                    Some(Command::Restart { done }) => {
                        finish(&self.shared, live.take(), Err(CollectError::Down));
                        self.terminate(&mut io, &mut exited, pid).await;
                        return End::Restart(done);
                    }
                    Some(Command::Disable { done }) => {
                        finish(&self.shared, live.take(), Err(CollectError::Down));
                        self.terminate(&mut io, &mut exited, pid).await;
                        return End::Disable(done);
                    }
                    Some(Command::Enable { done }) => {
                        let _ = done.send(());
                    }
                    None => {
                        self.terminate(&mut io, &mut exited, pid).await;
                        return End::Orphaned;
                    }
                },
                ev = io.events.recv() => match ev.unwrap_or(Event::Eof) {
                    Event::Hello(h) => {
                        if h.protocol != PROTOCOL_VERSION {
                            let error = format!(
                                "plugin speaks protocol version {}, this exporter speaks only {}",
                                h.protocol, PROTOCOL_VERSION
                            );
                            tracing::error!(plugin = %name, %error, "refusing plugin");
                            self.shared.error(kind::PROTOCOL);
                            finish(&self.shared, live.take(), Err(CollectError::Down));
                            self.terminate(&mut io, &mut exited, pid).await;
                            return End::Failed { reason: reason::PROTOCOL, error };
                        }
                        tracing::info!(plugin = %name, name = ?h.name, version = ?h.version, "plugin said hello");
                        self.shared.status().plugin_version = h.version;
                    }
                    Event::Metrics { id, batch, drops } => {
                        let m = &self.shared.metrics;
                        m.error(&name, kind::INVALID_METRIC, drops.invalid_metric);
                        m.error(&name, kind::DUPLICATE_SERIES, drops.duplicate_series);
                        match match_answer(id, &mut open, live.as_ref()) {
                            Answer::Live => finish(&self.shared, live.take(), Ok(batch)),
                            Answer::Late => self.shared.error(kind::LATE),
                            Answer::Unsolicited if self.cfg.mode == Mode::Push => {
                                last_push = Some(tokio::time::Instant::now());
                                record_success(&self.shared, &batch, Duration::ZERO);
                                self.shared.set_cached(Some(batch));
                            }
                            Answer::Unsolicited => {
                                tracing::warn!(plugin = %name, "dropped metrics that answer no collect (push needs mode: push)");
                                self.shared.error(kind::PROTOCOL);
                            }
                        }
                    }
                    Event::Error { id, message } => {
                        self.shared.error(kind::PLUGIN_ERROR);
                        tracing::warn!(plugin = %name, error = %message, "plugin reported a collect error");
                        let answer = match_answer(id, &mut open, live.as_ref());
                        self.shared.status().last_error = Some(message.clone());
                        if answer == Answer::Live {
                            finish(&self.shared, live.take(), Err(CollectError::Plugin(message)));
                        }
                    }
                    Event::Dropped(k) => self.shared.error(k),
                    Event::Rejected { id, kind: k, limit, detail } => {
                        self.shared.error(k);
                        self.shared.metrics.limit_hit(&name, limit);
                        tracing::warn!(plugin = %name, limit, %detail, "rejected a batch over a limit");
                        let answer = match_answer(id, &mut open, live.as_ref());
                        self.shared.status().last_error = Some(detail.clone());
                        if answer == Answer::Live {
                            finish(&self.shared, live.take(), Err(CollectError::Rejected(detail)));
                        }
                    }
                    Event::Eof => {
                        finish(&self.shared, live.take(), Err(CollectError::Exited));
                        // Stdout closes as a process exits; give the exit status a moment to
                        // arrive so the restart reason is right.
                        if let Ok(status) = timeout(EOF_EXIT_WAIT, &mut exited).await {
                            return exit_end(&name, status.ok());
                        }
                        self.terminate(&mut io, &mut exited, pid).await;
                        return End::Failed {
                            reason: reason::STDOUT_CLOSED,
                            error: "plugin closed its stdout but kept running".into(),
                        };
                    }
                },
                status = &mut exited => {
                    finish(&self.shared, live.take(), Err(CollectError::Exited));
                    return exit_end(&name, status.ok());
                }
                _ = sleep_until(live_deadline), if live.is_some() => {
                    let l = live.take();
                    let waited = l.as_ref().map(|l| l.started.elapsed()).unwrap_or_default();
                    tracing::warn!(plugin = %name, waited_ms = waited.as_millis() as u64, "collect timed out");
                    self.shared.error(kind::TIMEOUT);
                    self.shared.status().last_error =
                        Some(format!("collect got no answer within {} ms", waited.as_millis()));
                    finish(&self.shared, l, Err(CollectError::Timeout));
                    if open.len() >= MAX_UNANSWERED {
                        self.terminate(&mut io, &mut exited, pid).await;
                        return End::Failed {
                            reason: reason::TIMEOUT,
                            error: format!("{} collects in a row got no answer", open.len()),
                        };
                    }
                }
                _ = async { tick.as_mut().expect("guarded by is_some").tick().await }, if tick.is_some() => {
                    if live.is_none() {
                        self.begin_collect(&io, self.cfg.timeout, None, &mut open, &mut live);
                    }
                }
                _ = sleep_until(stale_at), if last_push.is_some() => {
                    tracing::warn!(plugin = %name, "no push within 3 intervals; dropping the plugin's series");
                    last_push = None;
                    self.shared.set_cached(None);
                    self.shared.status().up = false;
                    self.shared.metrics.up.with_label_values(&[&name]).set(0.0);
                }
            }
        }
    }

    /// Sends a collect and makes it the live one.
    fn begin_collect(
        &mut self,
        io: &Io,
        deadline: Duration,
        reply: Option<oneshot::Sender<CollectResult>>,
        open: &mut VecDeque<u64>,
        live: &mut Option<Live>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let msg = HostMessage::Collect(Collect {
            id,
            deadline_ms: deadline.as_millis() as u64,
        });
        if !io.send(&msg) {
            // The plugin is not reading its stdin: the collect cannot even be asked.
            self.shared.error(kind::TIMEOUT);
            if let Some(r) = reply {
                let _ = r.send(Err(CollectError::Timeout));
            }
            return;
        }
        open.push_back(id);
        let now = Instant::now();
        *live = Some(Live {
            id,
            started: now,
            deadline: now + deadline,
            waiters: reply.into_iter().collect(),
        });
    }

    /// The stop sequence: `shutdown`, close stdin, SIGTERM the group after the grace period,
    /// SIGKILL after another, then kill strays that left the group.
    async fn terminate(&self, io: &mut Io, exited: &mut oneshot::Receiver<ExitStatus>, pgid: Pid) {
        self.set_state(State::Stopping, Some(pgid.as_raw()));
        io.send(&HostMessage::Shutdown(Shutdown {}));
        io.stdin = None;
        let grace = self.opts.shutdown_grace;
        if timeout(grace, &mut *exited).await.is_err() {
            spawn::signal_group(pgid, Signal::SIGTERM);
            if timeout(grace, &mut *exited).await.is_err() {
                tracing::warn!(plugin = %self.shared.name, "plugin ignored SIGTERM; killing it");
                spawn::signal_group(pgid, Signal::SIGKILL);
                let _ = timeout(Duration::from_secs(5), &mut *exited).await;
            }
        }
        spawn::sweep(Some(&self.shared.name));
    }
}

/// The end of a run whose process exited by itself.
fn exit_end(name: &str, status: Option<ExitStatus>) -> End {
    // The reaper killed what was left of the group; kill strays that left it.
    spawn::sweep(Some(name));
    match status {
        Some(ExitStatus::Exited(code)) => End::Failed {
            reason: reason::EXITED,
            error: format!("plugin exited with code {code}"),
        },
        Some(ExitStatus::Signaled(sig)) => End::Failed {
            reason: reason::CRASHED,
            error: format!(
                "plugin was killed by signal {sig} ({})",
                Signal::try_from(sig).map_or("unknown", |s| s.as_str())
            ),
        },
        None => End::Failed {
            reason: reason::CRASHED,
            error: "plugin ended (exit status lost)".into(),
        },
    }
}

/// Checks the executable against the configured SHA-256, reading it anew before every start
/// (it may have been replaced). `None` when it matches or nothing is pinned.
async fn checksum_problem(want: Option<[u8; 32]>, program: &str) -> Option<String> {
    let want = want?;
    let path = std::path::PathBuf::from(program);
    let got = tokio::task::spawn_blocking(move || sha256_file(&path)).await;
    match got {
        Ok(Ok(got)) if got == want => None,
        Ok(Ok(got)) => Some(format!(
            "{program} has SHA-256 {}, but the configuration expects {}; not starting it",
            hex(&got),
            hex(&want)
        )),
        Ok(Err(e)) => Some(format!("cannot hash {program}: {e}")),
        Err(e) => Some(format!("cannot hash {program}: {e}")),
    }
}

fn sha256_file(path: &std::path::Path) -> std::io::Result<[u8; 32]> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().into())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Answers the live collect.
    Live,
    /// Answers a collect that already timed out (or an unknown id).
    Late,
    /// Answers nothing: no collect is open.
    Unsolicited,
}

/// Matches an answer to an open collect: by id, or without one to the oldest open collect.
/// An answer also settles every older open collect: the plugin has moved past them.
fn match_answer(id: Option<u64>, open: &mut VecDeque<u64>, live: Option<&Live>) -> Answer {
    let pos = match id {
        Some(id) => open.iter().position(|&o| o == id),
        None if open.is_empty() => return Answer::Unsolicited,
        None => Some(0),
    };
    let Some(pos) = pos else {
        return Answer::Late;
    };
    let answered = open[pos];
    open.drain(..=pos);
    if live.is_some_and(|l| l.id == answered) {
        Answer::Live
    } else {
        Answer::Late
    }
}

fn record_success(shared: &Shared, batch: &Batch, took: Duration) {
    let m = &shared.metrics;
    let name = shared.name.as_str();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    m.up.with_label_values(&[name]).set(1.0);
    m.last_success.with_label_values(&[name]).set(now);
    m.series.with_label_values(&[name]).set(batch.series as f64);
    if !took.is_zero() {
        m.collect_duration
            .with_label_values(&[name])
            .set(took.as_secs_f64());
    }
    let mut st = shared.status();
    st.up = true;
    st.series = batch.series;
    st.last_success_timestamp = Some(now);
}

/// Completes the live collect: metrics, cache, and every waiting scrape.
fn finish(shared: &Shared, live: Option<Live>, result: CollectResult) {
    let Some(live) = live else { return };
    let took = live.started.elapsed();
    match &result {
        Ok(batch) => {
            record_success(shared, batch, took);
            if shared.mode == Mode::Interval {
                shared.set_cached(Some(batch.clone()));
            }
        }
        Err(_) => {
            let name = shared.name.as_str();
            shared.metrics.up.with_label_values(&[name]).set(0.0);
            shared
                .metrics
                .collect_duration
                .with_label_values(&[name])
                .set(took.as_secs_f64());
            shared.status().up = false;
            if shared.mode == Mode::Interval {
                shared.set_cached(None);
            }
        }
    }
    for w in live.waiters {
        let _ = w.send(result.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: u64) -> Live {
        Live {
            id,
            started: Instant::now(),
            deadline: Instant::now(),
            waiters: Vec::new(),
        }
    }

    #[test]
    fn in_order_answers_settle_abandoned_collects_first() {
        let mut open: VecDeque<u64> = [1, 2, 3].into();
        let l = live(3);
        assert_eq!(match_answer(None, &mut open, Some(&l)), Answer::Late);
        assert_eq!(match_answer(None, &mut open, Some(&l)), Answer::Late);
        assert_eq!(match_answer(None, &mut open, Some(&l)), Answer::Live);
        assert_eq!(match_answer(None, &mut open, None), Answer::Unsolicited);
    }

    #[test]
    fn an_answer_by_id_settles_older_collects() {
        let mut open: VecDeque<u64> = [4, 5, 6].into();
        let l = live(6);
        assert_eq!(match_answer(Some(6), &mut open, Some(&l)), Answer::Live);
        assert!(open.is_empty());
        assert_eq!(match_answer(Some(4), &mut open, None), Answer::Late);
    }
}
