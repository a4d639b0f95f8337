//! The outputs' counters: writes by result, and the samples of acknowledged writes.

use crate::codes::OutputResult;
use prometheus::{IntCounterVec, Opts, Registry};

/// The counters of every output, labelled by its name.
pub struct OutputMetrics {
    /// `plugin_exporter_output_writes_total{output, result}`.
    pub writes: IntCounterVec,
    /// `plugin_exporter_output_samples_total{output}`.
    pub samples: IntCounterVec,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c =
        IntCounterVec::new(Opts::new(name, help), labels).expect("static metric options are valid");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric name is registered once");
    c
}

impl OutputMetrics {
    pub(crate) fn new(registry: &Registry) -> Self {
        OutputMetrics {
            writes: counter_vec(
                registry,
                "plugin_exporter_output_writes_total",
                "Writes to an output by result: ack, error (a failed attempt), retried, \
                 dropped_queue_full, dropped_retries.",
                &["output", "result"],
            ),
            samples: counter_vec(
                registry,
                "plugin_exporter_output_samples_total",
                "Samples in the writes an output acknowledged.",
                &["output"],
            ),
        }
    }

    /// Creates an output's counters at zero.
    pub fn init(&self, output: &str) {
        for r in OutputResult::ALL {
            self.writes.with_label_values(&[output, r.as_str()]);
        }
        self.samples.with_label_values(&[output]);
    }

    /// Adds one to `output_writes_total{output, result}`.
    pub fn write(&self, output: &str, result: OutputResult) {
        self.writes
            .with_label_values(&[output, result.as_str()])
            .inc();
    }

    /// Adds the samples of an acknowledged write.
    pub fn acked_samples(&self, output: &str, n: u64) {
        self.samples.with_label_values(&[output]).inc_by(n);
    }

    /// Removes an output's series (it is no longer configured).
    pub fn remove(&self, output: &str) {
        for r in OutputResult::ALL {
            let _ = self.writes.remove_label_values(&[output, r.as_str()]);
        }
        let _ = self.samples.remove_label_values(&[output]);
    }
}
