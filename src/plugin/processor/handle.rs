//! [`ProcessorHandle`]: how collectors send batches to a processor, and how reloads and the
//! exporter's shutdown stop it.

use std::sync::Arc;
use std::time::Duration;

use plugin_protocol::Family;
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::request::{ProcessError, ProcessRequest, ProcessResult};
use super::role::ProcessorRole;
use crate::codes::ProcessorErrorKind;
use crate::config::{OnError, PluginConfig};
use crate::plugin::supervisor::control::Control;
use crate::plugin::supervisor::{Handle, State, Status, SupervisorOptions};
use crate::selfmetrics::SelfMetrics;

/// Longest a batch waits behind others for a processor, beyond its own timeout.
const QUEUE_SLACK: Duration = Duration::from_millis(100);

/// The handle collectors use to reach a processor.
#[derive(Clone)]
pub struct ProcessorHandle {
    sup: Handle<ProcessorRole>,
    name: Arc<str>,
    timeout: Duration,
    on_error: OnError,
    metrics: Arc<SelfMetrics>,
}

impl ProcessorHandle {
    /// Starts the supervisor of one processor (its process starts right away).
    pub fn start(cfg: PluginConfig, opts: SupervisorOptions, metrics: Arc<SelfMetrics>) -> Self {
        let name: Arc<str> = cfg.name.as_str().into();
        metrics.init_processor(&name);
        let timeout = cfg.timeout;
        let on_error = cfg.on_error;
        let role = ProcessorRole {
            name: cfg.name.clone(),
            metrics: metrics.clone(),
        };
        let sup = Handle::start(role, Arc::new(cfg), opts, metrics.clone());
        ProcessorHandle {
            sup,
            name,
            timeout,
            on_error,
            metrics,
        }
    }

    /// The processor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What happens to a batch this processor fails on.
    pub fn on_error(&self) -> OnError {
        self.on_error
    }

    /// Sends the batch of collector `plugin` and waits for the processor's answer: within its
    /// timeout once sent, and a little more while batches of other collectors go first.
    pub async fn process(&self, plugin: &str, families: Vec<Family>) -> ProcessResult {
        let (reply, rx) = oneshot::channel();
        let req = ProcessRequest {
            plugin: plugin.to_string(),
            families,
            reply,
        };
        if !self.sup.request(req).await {
            return Err(ProcessError::Down);
        }
        match timeout(self.timeout * 2 + QUEUE_SLACK, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ProcessError::Down),
            Err(_) => Err(ProcessError::Timeout),
        }
    }

    /// Counts one batch the processor failed on or answered invalid.
    pub fn count_error(&self, kind: ProcessorErrorKind) {
        self.metrics.processor_error(&self.name, kind);
    }

    /// Counts one batch the processor answered.
    pub fn count_batch(&self) {
        self.metrics
            .processor_batches
            .with_label_values(&[&self.name])
            .inc();
    }

    /// The process side of its status.
    pub fn status(&self) -> Status {
        self.sup.core().snapshot()
    }

    /// The lifecycle state alone.
    pub fn state(&self) -> State {
        self.sup.core().status().state
    }

    /// Stops the processor (goodbye, stdin closed, SIGTERM, SIGKILL) and waits for it.
    pub async fn stop(&self) {
        self.sup.control(Control::Stop).await;
    }
}
