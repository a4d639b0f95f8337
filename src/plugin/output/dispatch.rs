//! An output's queue of writes and their delivery, in a task of its own beside the
//! supervisor: writes wait in a bounded queue (the oldest dropped when it is full), at most
//! `max_in_flight` are being delivered at a time, and each failed attempt is retried after an
//! exponential backoff delay, at most `max_retries` times. A write that meets the output
//! down (starting, restarting, disabled) waits for it without spending a retry.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use plugin_protocol::Family;
use tokio::sync::{oneshot, Notify};
use tokio::time::{sleep, timeout};

use super::request::{WriteError, WriteRequest, WriteResult};
use super::role::OutputRole;
use crate::codes::OutputResult;
use crate::config::OutputSettings;
use crate::plugin::supervisor::Handle;
use crate::selfmetrics::SelfMetrics;

/// The first retry's delay; each next one doubles, up to [`RETRY_MAX`].
pub const RETRY_INITIAL: Duration = Duration::from_millis(200);
/// The longest delay between two attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often a write checks again whether a down output is back.
const DOWN_POLL: Duration = Duration::from_millis(100);
/// Longest an attempt waits behind the output's other writes, beyond its own timeout.
const QUEUE_SLACK: Duration = Duration::from_millis(100);

/// What the handle shares with the dispatcher task.
pub struct Queue {
    waiting: Mutex<VecDeque<Arc<Vec<Family>>>>,
    wake: Notify,
    capacity: usize,
}

impl Queue {
    /// An empty queue of `capacity` writes (at least one).
    pub fn new(capacity: usize) -> Self {
        Queue {
            waiting: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues a write without waiting; true when the oldest waiting one was dropped for it.
    pub fn push(&self, families: Arc<Vec<Family>>) -> bool {
        let mut q = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = q.len() >= self.capacity && q.pop_front().is_some();
        q.push_back(families);
        drop(q);
        self.wake.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Arc<Vec<Family>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}

/// What delivering needs.
pub struct Dispatcher {
    /// The output's supervisor.
    pub sup: Handle<OutputRole>,
    /// Its name, for the counters and logs.
    pub name: Arc<str>,
    /// Its queue, in-flight bound and retries.
    pub settings: OutputSettings,
    /// The deadline of one attempt.
    pub timeout: Duration,
    /// The counters.
    pub metrics: Arc<SelfMetrics>,
}

impl Dispatcher {
    /// Delivers what `queue` holds until the task is aborted.
    pub async fn run(self, queue: Arc<Queue>) {
        let mut active = FuturesUnordered::new();
        loop {
            while active.len() < self.settings.max_in_flight {
                match queue.pop() {
                    Some(batch) => active.push(self.deliver(batch)),
                    None => break,
                }
            }
            tokio::select! {
                _ = queue.wake.notified() => {}
                Some(()) = active.next(), if !active.is_empty() => {}
            }
        }
    }

    /// One write, attempted until acknowledged or out of retries.
    async fn deliver(&self, families: Arc<Vec<Family>>) {
        let samples: u64 = families.iter().map(|f| f.samples.len() as u64).sum();
        let mut retries = 0u32;
        loop {
            match self.attempt(families.clone()).await {
                Ok(()) => {
                    self.count(OutputResult::Ack);
                    self.metrics.outputs.acked_samples(&self.name, samples);
                    return;
                }
                Err(WriteError::Down) => sleep(DOWN_POLL).await,
                Err(e) => {
                    self.count(OutputResult::Error);
                    if retries >= self.settings.max_retries {
                        tracing::warn!(output = %self.name, error = %e, retries,
                            "an output failed a write too often; it is dropped");
                        self.count(OutputResult::DroppedRetries);
                        return;
                    }
                    retries += 1;
                    tracing::debug!(output = %self.name, error = %e, retries, "retrying a write");
                    sleep(retry_delay(retries)).await;
                    self.count(OutputResult::Retried);
                }
            }
        }
    }

    async fn attempt(&self, families: Arc<Vec<Family>>) -> WriteResult {
        let (reply, rx) = oneshot::channel();
        if !self.sup.request(WriteRequest { families, reply }).await {
            // The supervisor is gone: the output was stopped; this task ends with it.
            return std::future::pending().await;
        }
        match timeout(self.timeout * 2 + QUEUE_SLACK, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(WriteError::Down),
            Err(_) => Err(WriteError::Timeout),
        }
    }

    fn count(&self, result: OutputResult) {
        self.metrics.outputs.write(&self.name, result);
    }
}

/// The delay before retry number `n` (from 1): [`RETRY_INITIAL`] doubling, at most
/// [`RETRY_MAX`].
pub fn retry_delay(n: u32) -> Duration {
    let factor = 1u32 << n.saturating_sub(1).min(16);
    (RETRY_INITIAL * factor).min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_oldest_write() {
        let q = Queue::new(2);
        let batch = |n: usize| {
            Arc::new(vec![Family {
                name: format!("f{n}"),
                kind: plugin_protocol::MetricType::Gauge,
                help: String::new(),
                unit: None,
                samples: Vec::new(),
            }])
        };
        assert!(!q.push(batch(1)));
        assert!(!q.push(batch(2)));
        assert!(q.push(batch(3)));
        assert_eq!(q.pop().unwrap()[0].name, "f2");
        assert_eq!(q.pop().unwrap()[0].name, "f3");
        assert!(q.pop().is_none());
    }

    #[test]
    fn retry_delays_double_up_to_the_bound() {
        assert_eq!(retry_delay(1), RETRY_INITIAL);
        assert_eq!(retry_delay(2), RETRY_INITIAL * 2);
        assert_eq!(retry_delay(3), RETRY_INITIAL * 4);
        assert_eq!(retry_delay(40), RETRY_MAX);
    }
}
