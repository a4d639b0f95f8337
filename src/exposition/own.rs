//! The exporter's own metrics, gathered from the `prometheus` crate, converted to our model so
//! they go through our encoders (the crate has no OpenMetrics encoder, writes `inf`, and its
//! text encoder panics on untyped).

use std::collections::HashSet;

use prometheus::proto;

use super::model::{self, MetricType, SampleValue};

/// Converts gathered families to our model, in the given order. Timestamps are dropped
/// (exporters should not set them). A histogram without a `+Inf` bucket (the crate leaves it
/// implicit) gets one equal to its count. A repeated family name keeps its first occurrence,
/// since a registry does not check that for us and a repeated family is invalid exposition.
pub fn from_prometheus(mfs: &[proto::MetricFamily]) -> Vec<model::Family> {
    let mut seen = HashSet::with_capacity(mfs.len());
    mfs.iter()
        .filter(|mf| seen.insert(mf.name()))
        .map(convert_family)
        .collect()
}

fn convert_family(mf: &proto::MetricFamily) -> model::Family {
    let kind = match mf.get_field_type() {
        proto::MetricType::COUNTER => MetricType::Counter,
        proto::MetricType::GAUGE => MetricType::Gauge,
        proto::MetricType::HISTOGRAM => MetricType::Histogram,
        proto::MetricType::SUMMARY => MetricType::Summary,
        proto::MetricType::UNTYPED => MetricType::Untyped,
    };
    let samples = mf
        .get_metric()
        .iter()
        .map(|m| model::Sample {
            labels: m
                .get_label()
                .iter()
                .map(|l| (l.name().to_string(), l.value().to_string()))
                .collect(),
            value: convert_value(m, kind),
        })
        .collect();
    model::Family {
        name: mf.name().to_string(),
        kind,
        help: mf.help().to_string(),
        unit: None,
        samples,
    }
}

fn convert_value(m: &proto::Metric, kind: MetricType) -> SampleValue {
    match kind {
        MetricType::Counter => SampleValue::Scalar(m.get_counter().get_value()),
        MetricType::Gauge => SampleValue::Scalar(m.get_gauge().get_value()),
        // The crate deprecates untyped (a protobuf leftover) but still carries it.
        #[allow(deprecated)]
        MetricType::Untyped => SampleValue::Scalar(m.get_untyped().get_value()),
        MetricType::Histogram => {
            let h = m.get_histogram();
            let count = h.get_sample_count() as f64;
            let mut buckets: Vec<(f64, f64)> = h
                .get_bucket()
                .iter()
                .map(|b| (b.upper_bound(), b.cumulative_count() as f64))
                .collect();
            if buckets.last().is_none_or(|&(le, _)| le != f64::INFINITY) {
                buckets.push((f64::INFINITY, count));
            }
            SampleValue::Histogram {
                buckets,
                sum: h.get_sample_sum(),
                count,
            }
        }
        MetricType::Summary => {
            let s = m.get_summary();
            SampleValue::Summary {
                quantiles: s
                    .get_quantile()
                    .iter()
                    .map(|q| (q.quantile(), q.value()))
                    .collect(),
                sum: s.sample_sum(),
                count: s.sample_count() as f64,
            }
        }
    }
}
