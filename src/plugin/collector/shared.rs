//! What a collector's handle and its sessions share: the served batch, what the last
//! collects gave, the collect request and its outcome.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::codes::{ErrorKind, LimitKind};
use crate::config::{Mode, PluginConfig};
use crate::exposition::batch::{Batch, BatchOptions};
use crate::plugin::processor::ProcessorHandle;
use crate::selfmetrics::SelfMetrics;

/// Why a collect produced no batch.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectError {
    /// The plugin is not running (starting, waiting to restart, disabled, stopping).
    Down,
    /// No answer before the deadline.
    Timeout,
    /// The plugin answered with `error`, or its command failed.
    Plugin(String),
    /// The plugin exited while the collect was open.
    Exited,
    /// The answer broke a limit and was refused whole.
    Rejected(String),
}

/// A collect's outcome.
pub type CollectResult = Result<Arc<Batch>, CollectError>;

/// A scrape's collect.
pub struct CollectRequest {
    /// How long the plugin has.
    pub deadline: Duration,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<CollectResult>,
}

/// What the last collects gave, for the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Whether the last collect succeeded.
    pub up: bool,
    /// Series in the last successful collect.
    pub series: usize,
    /// Unix time of the last successful collect.
    pub last_success_timestamp: Option<f64>,
    /// The families of the last successful collect (the status page and dashboards).
    #[serde(skip)]
    pub families: Vec<FamilyInfo>,
}

/// What a family is, without its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyInfo {
    /// Name as in the text format.
    pub name: String,
    /// Type.
    pub kind: crate::exposition::model::MetricType,
    /// HELP.
    pub help: String,
    /// Unit, if any.
    pub unit: Option<String>,
    /// Series.
    pub series: usize,
}

/// The collector state shared by the handle and the sessions.
pub struct Shared {
    pub(crate) name: String,
    pub(crate) mode: Mode,
    /// The batch served in interval and push modes.
    pub(crate) cached: Mutex<Option<Arc<Batch>>>,
    pub(crate) outcome: Mutex<Outcome>,
    pub(crate) metrics: Arc<SelfMetrics>,
    /// The processors its batches go through, in order (none: built as they come).
    pub(crate) processors: Arc<[ProcessorHandle]>,
}

impl Shared {
    pub(crate) fn outcome(&self) -> MutexGuard<'_, Outcome> {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn cached(&self) -> Option<Arc<Batch>> {
        self.cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_cached(&self, batch: Option<Arc<Batch>>) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = batch;
    }

    pub(crate) fn error(&self, kind: ErrorKind, n: u64) {
        self.metrics.error(&self.name, kind, n);
    }

    pub(crate) fn limit_hit(&self, limit: LimitKind) {
        self.metrics.limit_hit(&self.name, limit);
    }

    /// Nothing to serve and down (the session ended, or went stale).
    pub(crate) fn down(&self) {
        self.set_cached(None);
        self.outcome().up = false;
        self.metrics.up.with_label_values(&[&self.name]).set(0.0);
    }
}

/// The budgets and plugin label of a plugin's batches.
pub fn batch_options(cfg: &PluginConfig, plugin_label: &str) -> BatchOptions {
    BatchOptions {
        plugin: cfg.name.clone(),
        plugin_label: plugin_label.to_string(),
        max_line: cfg.limits.max_line,
        max_series: cfg.limits.max_series,
        max_labels: cfg.limits.max_labels,
        relabel: cfg.relabel.clone(),
    }
}
