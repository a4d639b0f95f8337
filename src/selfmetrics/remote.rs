//! The remote write destinations' instruments.

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Registry};

use super::register::{counter_vec, gauge_vec};

/// `plugin_exporter_remote_storage_*`, labelled by destination (`remote_name`, `url`), in the
/// spirit of Prometheus's `prometheus_remote_storage_*`.
pub struct RemoteMetrics {
    /// Samples the destination took.
    pub samples: IntCounterVec,
    /// Samples refused for good (4xx).
    pub failed: IntCounterVec,
    /// Samples sent again after a failure.
    pub retried: IntCounterVec,
    /// Samples dropped before they were taken, by reason.
    pub dropped: IntCounterVec,
    /// Compressed request bytes sent.
    pub bytes: IntCounterVec,
    /// Samples waiting.
    pub pending: GaugeVec,
    /// Newest timestamp the destination took, in seconds.
    pub highest_sent: GaugeVec,
    /// Shards (concurrent senders).
    pub shards: GaugeVec,
    /// Duration of each send, successful or not.
    pub duration: HistogramVec,
}

impl RemoteMetrics {
    pub(crate) fn new(registry: &Registry) -> RemoteMetrics {
        let p = "plugin_exporter_remote_storage_";
        let l = &["remote_name", "url"];
        let duration = HistogramVec::new(
            HistogramOpts::new(
                format!("{p}sent_batch_duration_seconds"),
                "Duration of each remote write request, successful or not.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            l,
        )
        .expect("static metric options are valid");
        registry
            .register(Box::new(duration.clone()))
            .expect("each metric name is registered once");
        RemoteMetrics {
            samples: counter_vec(
                registry,
                &format!("{p}samples_total"),
                "Samples the remote write destination accepted.",
                l,
            ),
            failed: counter_vec(
                registry,
                &format!("{p}samples_failed_total"),
                "Samples the destination refused with a 4xx answer; they are not retried.",
                l,
            ),
            retried: counter_vec(
                registry,
                &format!("{p}samples_retried_total"),
                "Samples sent again after a failed request (5xx, 429 when retried, no answer).",
                l,
            ),
            dropped: counter_vec(
                registry,
                &format!("{p}samples_dropped_total"),
                "Samples dropped before the destination took them, by reason.",
                &["remote_name", "url", "reason"],
            ),
            bytes: counter_vec(
                registry,
                &format!("{p}bytes_total"),
                "Compressed request bytes sent, retries included.",
                l,
            ),
            pending: gauge_vec(
                registry,
                &format!("{p}samples_pending"),
                "Samples waiting in the destination's queue.",
                l,
            ),
            highest_sent: gauge_vec(
                registry,
                &format!("{p}queue_highest_sent_timestamp_seconds"),
                "Newest sample timestamp the destination accepted.",
                l,
            ),
            shards: gauge_vec(
                registry,
                &format!("{p}shards"),
                "Shards (concurrent senders) of the destination.",
                l,
            ),
            duration,
        }
    }

    /// Creates a destination's series at zero, so they show before the first event.
    pub fn init(&self, name: &str, url: &str) {
        let l = [name, url];
        for v in [&self.samples, &self.failed, &self.retried, &self.bytes] {
            v.with_label_values(&l);
        }
        for v in [&self.pending, &self.highest_sent, &self.shards] {
            v.with_label_values(&l);
        }
        for r in crate::codes::RemoteDrop::ALL {
            self.dropped.with_label_values(&[name, url, r.as_str()]);
        }
    }

    /// Removes a destination's series.
    pub fn remove(&self, name: &str, url: &str) {
        let l = [name, url];
        for v in [&self.samples, &self.failed, &self.retried, &self.bytes] {
            let _ = v.remove_label_values(&l);
        }
        for v in [&self.pending, &self.highest_sent, &self.shards] {
            let _ = v.remove_label_values(&l);
        }
        let _ = self.duration.remove_label_values(&l);
        for r in crate::codes::RemoteDrop::ALL {
            let _ = self.dropped.remove_label_values(&[name, url, r.as_str()]);
        }
    }
}
