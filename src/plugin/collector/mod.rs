//! The collector role: a plugin that answers collects with metrics. Scrapes reach it through
//! a [`PluginHandle`]; its supervisor runs one of two sessions:
//!
//! - [`jsonl`]: a long-lived child speaking the JSON-lines protocol ([`jsonl_io`]), in scrape,
//!   interval or push mode.
//! - [`per_collect`]: a command run once per collect (`format: prometheus | nagios`),
//!   through [`command_run`].
//!
//! With processors configured, each batch goes through them
//! ([`crate::plugin::processor::pipeline`]) before it is built.
//!
//! [`answers`] matches answers to collects and completes them. Concurrent scrapes of a
//! scrape-mode plugin share one collect (single flight): a plugin never has more than one
//! live collect.

pub mod answers;
pub mod command_run;
pub mod jsonl;
pub mod jsonl_io;
pub mod per_collect;
pub mod shared;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::time::timeout;

use shared::Shared;
pub use shared::{CollectError, CollectRequest, CollectResult, FamilyInfo, Outcome};

use super::processor::ProcessorHandle;
use super::supervisor::control::Control;
use super::supervisor::fault::{Child, Fault};
use super::supervisor::role::{Role, Session};
use super::supervisor::{Context, Handle, State, Status, SupervisorOptions};
use crate::config::{Format, Mode, PluginConfig};
use crate::exposition::batch::Batch;
use crate::selfmetrics::SelfMetrics;

/// A snapshot of a plugin's state for the API and landing page. Never holds secrets.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// The process side: state, pid, restarts, usage, ...
    #[serde(flatten)]
    pub process: Status,
    /// What its collects gave.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The collector role, as its supervisor holds it.
pub struct Collector {
    shared: Arc<Shared>,
}

/// A collector's session: a long-lived child, or commands run per collect.
pub enum CollectorSession {
    /// A JSON-lines child.
    Jsonl(jsonl::JsonlSession),
    /// Commands run per collect.
    PerCollect(per_collect::PerCollectSession),
}

impl Role for Collector {
    type Request = CollectRequest;
    type Session = CollectorSession;

    async fn open(&self, ctx: &Context) -> Result<(CollectorSession, Option<Child>), Fault> {
        let shared = self.shared.clone();
        Ok(match ctx.config().format {
            Format::Jsonl => {
                let (session, child) = jsonl::JsonlSession::open(ctx.clone(), shared).await?;
                (CollectorSession::Jsonl(session), Some(child))
            }
            Format::Prometheus | Format::Nagios => (
                CollectorSession::PerCollect(per_collect::PerCollectSession::new(
                    ctx.clone(),
                    shared,
                )),
                None,
            ),
        })
    }

    fn refuse(&self, req: CollectRequest) {
        let _ = req.reply.send(Err(CollectError::Down));
    }

    fn down(&self) {
        self.shared.down();
    }
}

impl Session for CollectorSession {
    type Request = CollectRequest;

    fn request(&mut self, req: CollectRequest) {
        match self {
            CollectorSession::Jsonl(s) => s.request(req),
            CollectorSession::PerCollect(s) => s.request(req),
        }
    }

    async fn step(&mut self) -> Option<Fault> {
        match self {
            CollectorSession::Jsonl(s) => s.step().await,
            CollectorSession::PerCollect(s) => s.step().await,
        }
    }

    fn shutdown(&mut self) {
        if let CollectorSession::Jsonl(s) = self {
            s.shutdown();
        }
    }

    fn close(&mut self) {
        match self {
            CollectorSession::Jsonl(s) => s.close(),
            CollectorSession::PerCollect(s) => s.close(),
        }
    }
}

/// The handle scrapes, the API and reloads use to reach a collector.
#[derive(Clone)]
pub struct PluginHandle {
    sup: Handle<Collector>,
    shared: Arc<Shared>,
    timeout: Duration,
}

impl PluginHandle {
    /// Starts the supervisor of one collector (its process starts right away); its batches
    /// go through `processors` in order.
    pub fn start(
        cfg: PluginConfig,
        opts: SupervisorOptions,
        metrics: Arc<SelfMetrics>,
        processors: Arc<[ProcessorHandle]>,
    ) -> Self {
        let shared = Arc::new(Shared {
            name: cfg.name.clone(),
            mode: cfg.mode,
            cached: Mutex::new(None),
            outcome: Mutex::new(Outcome::default()),
            metrics: metrics.clone(),
            processors,
        });
        let timeout = cfg.timeout;
        let role = Collector {
            shared: shared.clone(),
        };
        let sup = Handle::start(role, Arc::new(cfg), opts, metrics);
        PluginHandle {
            sup,
            shared,
            timeout,
        }
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
            return self.shared.cached();
        }
        let deadline = budget.map_or(self.timeout, |b| b.min(self.timeout));
        let (reply, rx) = oneshot::channel();
        if !self.sup.request(CollectRequest { deadline, reply }).await {
            return None;
        }
        // The session enforces the plugin's deadline; this bound only guards against a
        // joined in-flight collect whose deadline is later than ours.
        match timeout(deadline + Duration::from_millis(20), rx).await {
            Ok(Ok(Ok(batch))) => Some(batch),
            _ => None,
        }
    }

    /// Reads the plugin's resource use into the exporter's metrics (at most once a second;
    /// nothing for a stopped plugin).
    pub fn refresh_usage(&self) {
        self.sup.core().refresh_usage(false);
    }

    /// A copy of the plugin's current status, with its resource use now.
    pub fn status(&self) -> PluginStatus {
        PluginStatus {
            process: self.sup.core().snapshot(),
            outcome: self.shared.outcome().clone(),
        }
    }

    /// The plugin's configuration.
    pub fn config(&self) -> Arc<PluginConfig> {
        self.sup.core().cfg.clone()
    }

    /// The lifecycle state alone.
    pub fn state(&self) -> State {
        self.sup.core().status().state
    }

    /// True once the plugin's first start attempt has finished, successful or not.
    pub fn attempted(&self) -> bool {
        self.sup.core().attempted()
    }

    /// Stops the running instance and starts a new one at once. False when the supervisor is
    /// gone.
    pub async fn restart(&self) -> bool {
        self.sup.control(Control::Restart).await
    }

    /// Stops the plugin and keeps it stopped (until enabled, a reload or an exporter
    /// restart).
    pub async fn disable(&self) -> bool {
        self.sup.control(Control::Disable).await
    }

    /// Starts a disabled plugin again.
    pub async fn enable(&self) -> bool {
        self.sup.control(Control::Enable).await
    }

    /// Stops the plugin (goodbye, stdin closed, SIGTERM, SIGKILL) and waits for it.
    pub async fn stop(&self) {
        self.sup.control(Control::Stop).await;
    }
}
