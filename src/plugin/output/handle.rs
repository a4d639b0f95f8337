//! [`OutputHandle`]: how each collect's families reach an output, and how reloads and the
//! exporter's shutdown stop it.

use std::sync::Arc;

use plugin_protocol::Family;
use tokio::task::AbortHandle;

use super::dispatch::{Dispatcher, Queue};
use super::role::OutputRole;
use crate::codes::OutputResult;
use crate::config::PluginConfig;
use crate::plugin::supervisor::control::Control;
use crate::plugin::supervisor::{Handle, State, Status, SupervisorOptions};
use crate::selfmetrics::SelfMetrics;

/// The handle the collect loop uses to reach an output.
#[derive(Clone)]
pub struct OutputHandle {
    sup: Handle<OutputRole>,
    name: Arc<str>,
    queue: Arc<Queue>,
    dispatcher: AbortHandle,
    metrics: Arc<SelfMetrics>,
}

impl OutputHandle {
    /// Starts the supervisor of one output (its process starts right away) and its
    /// dispatcher.
    pub fn start(cfg: PluginConfig, opts: SupervisorOptions, metrics: Arc<SelfMetrics>) -> Self {
        let name: Arc<str> = cfg.name.as_str().into();
        metrics.outputs.init(&name);
        let settings = cfg.output;
        let timeout = cfg.timeout;
        let role = OutputRole {
            name: cfg.name.clone(),
            max_in_flight: settings.max_in_flight,
            metrics: metrics.clone(),
        };
        let sup = Handle::start(role, Arc::new(cfg), opts, metrics.clone());
        let queue = Arc::new(Queue::new(settings.queue));
        let dispatcher = Dispatcher {
            sup: sup.clone(),
            name: name.clone(),
            settings,
            timeout,
            metrics: metrics.clone(),
        };
        let dispatcher = tokio::spawn(dispatcher.run(queue.clone())).abort_handle();
        OutputHandle {
            sup,
            name,
            queue,
            dispatcher,
            metrics,
        }
    }

    /// The output's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues one collect's families for the output; never waits. When the queue is full,
    /// its oldest write is dropped and counted.
    pub fn write(&self, families: Arc<Vec<Family>>) {
        if self.queue.push(families) {
            self.metrics
                .outputs
                .write(&self.name, OutputResult::DroppedQueueFull);
        }
    }

    /// The process side of its status.
    pub fn status(&self) -> Status {
        self.sup.core().snapshot()
    }

    /// The lifecycle state alone.
    pub fn state(&self) -> State {
        self.sup.core().status().state
    }

    /// Stops delivering (what waits is lost) and stops the output (goodbye, stdin closed,
    /// SIGTERM, SIGKILL), waiting for it.
    pub async fn stop(&self) {
        self.dispatcher.abort();
        self.sup.control(Control::Stop).await;
    }
}
