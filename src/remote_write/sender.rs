//! One destination: its queue ([`Shards`]), a sender task per shard, and delivery as
//! Prometheus does it: 2xx is done; 5xx, 429 (when `retry_on_http_429`) and no answer are
//! retried with exponential backoff from `min_backoff` to `max_backoff`, for as long as it
//! takes (the shard's queue meanwhile keeps its newest `capacity` samples); any other 4xx is
//! counted as failed and dropped. A destination that is down slows nothing else: queueing
//! never waits for a send.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::client::{Client, Conn};
use super::proto;
use super::queue::{Entry, LabelsCache, Shards};
use crate::codes::RemoteDrop;
use crate::config::RemoteWriteConfig;
use crate::selfmetrics::SelfMetrics;

/// A running destination.
pub struct Destination {
    /// Its configuration.
    pub cfg: RemoteWriteConfig,
    client: Client,
    shards: Mutex<Shards>,
    wake: Notify,
    stopped: std::sync::atomic::AtomicBool,
    metrics: Arc<SelfMetrics>,
    labels: Mutex<LabelsCache>,
}

impl Destination {
    /// Starts a destination with `min_shards` senders.
    pub fn start(
        cfg: RemoteWriteConfig,
        metrics: Arc<SelfMetrics>,
    ) -> Result<Arc<Destination>, super::client::ClientError> {
        let client = Client::new(cfg.clone())?;
        let n = cfg.queue.min_shards;
        let d = Arc::new(Destination {
            shards: Mutex::new(Shards::new(n, cfg.queue.capacity)),
            cfg,
            client,
            wake: Notify::new(),
            stopped: std::sync::atomic::AtomicBool::new(false),
            metrics,
            labels: Mutex::new(LabelsCache::default()),
        });
        d.metrics.remote.init(&d.cfg.name, &d.cfg.url);
        d.gauge_shards(n);
        for i in 0..n {
            tokio::spawn(d.clone().send_loop(i));
        }
        Ok(d)
    }

    /// The series labels cache, taken for a collect; give it back with
    /// [`Destination::keep_labels_cache`].
    pub fn labels_cache(&self) -> LabelsCache {
        std::mem::take(&mut *self.labels.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Ends a collect's use of the cache.
    pub fn keep_labels_cache(&self, mut cache: LabelsCache) {
        cache.rotate();
        *self.labels.lock().unwrap_or_else(|e| e.into_inner()) = cache;
    }

    fn labels(&self) -> [&str; 2] {
        [&self.cfg.name, &self.cfg.url]
    }

    fn gauge_shards(&self, n: usize) {
        self.metrics
            .remote
            .shards
            .with_label_values(&self.labels())
            .set(n as f64);
    }

    /// Counts `n` samples dropped for `reason`.
    pub fn dropped(&self, reason: RemoteDrop, n: u64) {
        if n > 0 {
            let [name, url] = self.labels();
            self.metrics
                .remote
                .dropped
                .with_label_values(&[name, url, reason.as_str()])
                .inc_by(n);
        }
    }

    /// Queues a collect's samples, resharding first when the backlog calls for it.
    pub fn enqueue(self: &Arc<Self>, entries: Vec<Entry>) {
        let now = Instant::now();
        let q = &self.cfg.queue;
        let (dropped, pending, grown) = {
            let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            let backlog = shards.pending() + entries.len();
            let desired = backlog
                .div_ceil(q.max_samples_per_send)
                .clamp(q.min_shards, q.max_shards);
            let old = shards.len();
            // Grow at once; shrink only when far below, so the count does not flap.
            let want = if desired > old || desired * 2 < old {
                desired
            } else {
                old
            };
            let grown = shards.reshard(want, now).then_some((old, want));
            let mut dropped = 0;
            for e in entries {
                dropped += shards.push(e, now);
            }
            (dropped, shards.pending(), grown)
        };
        if let Some((old, new)) = grown {
            self.gauge_shards(new);
            for i in old..new {
                tokio::spawn(self.clone().send_loop(i));
            }
        }
        self.dropped(RemoteDrop::QueueFull, dropped);
        self.metrics
            .remote
            .pending
            .with_label_values(&self.labels())
            .set(pending as f64);
        self.wake.notify_waiters();
    }

    /// Stops the senders; what waits is dropped and counted.
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        let pending = {
            let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            shards.pending()
        };
        self.dropped(RemoteDrop::Stopped, pending as u64);
        self.wake.notify_waiters();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Shard `i`'s sender: waits until its queue is due, sends, repeats. Ends when the shard
    /// no longer exists (resharded away) or the destination stops.
    async fn send_loop(self: Arc<Self>, i: usize) {
        let q = self.cfg.queue.clone();
        let mut conn: Option<Conn> = None;
        loop {
            if self.is_stopped() {
                return;
            }
            // Registered before looking, so a wake between the look and the wait is not lost.
            let woken = self.wake.notified();
            let batch = {
                let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
                if i >= shards.len() {
                    return;
                }
                let now = Instant::now();
                match shards.due(i, q.max_samples_per_send, q.batch_send_deadline, now) {
                    Some(wait) if wait.is_zero() => Ok(shards.take(i, q.max_samples_per_send, now)),
                    Some(wait) => Err(Some(wait)),
                    None => Err(None),
                }
            };
            match batch {
                Ok(batch) => {
                    self.deliver(&batch, &mut conn).await;
                    let pending = {
                        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
                        shards.done(i);
                        shards.pending()
                    };
                    self.metrics
                        .remote
                        .pending
                        .with_label_values(&self.labels())
                        .set(pending as f64);
                }
                Err(Some(wait)) => {
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(None) => woken.await,
            }
        }
    }

    /// Sends one batch until it is taken, refused for good, or the destination stops.
    async fn deliver(&self, batch: &[Entry], conn: &mut Option<Conn>) {
        let mut body = Vec::with_capacity(batch.len() * 64);
        for e in batch {
            proto::push_series(&mut body, &e.labels, e.value, e.timestamp);
        }
        let body = Bytes::from(proto::compress(&body));
        let n = batch.len() as u64;
        let labels = self.labels();
        let m = &self.metrics.remote;
        let mut backoff = self.cfg.queue.min_backoff;
        loop {
            let started = Instant::now();
            let result = self.client.post(conn, body.clone()).await;
            m.duration
                .with_label_values(&labels)
                .observe(started.elapsed().as_secs_f64());
            m.bytes.with_label_values(&labels).inc_by(body.len() as u64);
            let retry = match &result {
                Ok(a) if (200..300).contains(&a.status) => {
                    m.samples.with_label_values(&labels).inc_by(n);
                    if let Some(ts) = batch.iter().map(|e| e.timestamp).max() {
                        let g = m.highest_sent.with_label_values(&labels);
                        g.set(g.get().max(ts as f64 / 1000.0));
                    }
                    return;
                }
                Ok(a)
                    if a.status >= 500 || (a.status == 429 && self.cfg.queue.retry_on_http_429) =>
                {
                    tracing::warn!(remote_name = %self.cfg.name, status = a.status, body = %a.body, "remote write failed; retrying");
                    true
                }
                Ok(a) => {
                    tracing::error!(remote_name = %self.cfg.name, status = a.status, body = %a.body, samples = n, "remote write refused; dropping the samples");
                    m.failed.with_label_values(&labels).inc_by(n);
                    self.dropped(RemoteDrop::HttpClientError, n);
                    false
                }
                Err(e) => {
                    tracing::warn!(remote_name = %self.cfg.name, error = %e, "remote write failed; retrying");
                    true
                }
            };
            if !retry {
                return;
            }
            if self.is_stopped() {
                self.dropped(RemoteDrop::Stopped, n);
                return;
            }
            m.retried.with_label_values(&labels).inc_by(n);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.cfg.queue.max_backoff);
        }
    }
}
