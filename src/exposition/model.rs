//! Our own model of metric families: what survives validation of a plugin's batch.
//!
//! Plugin data never goes through the prometheus crate (its registry concatenates same-name
//! families unchecked and its encoder writes `inf`); these types and our encoders are the only
//! path from a plugin to the exposition.

pub use plugin_protocol::MetricType;

/// A validated metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Metric name, valid per the exposition rules (counters end in `_total` by convention).
    pub name: String,
    /// The family's type.
    pub kind: MetricType,
    /// Help text, unescaped.
    pub help: String,
    /// Unit, only when it is a suffix of the name (OpenMetrics rule).
    pub unit: Option<String>,
    /// Series, each with a label set unique within the family.
    pub samples: Vec<Sample>,
}

/// One validated series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label pairs, valid names, no duplicates, no reserved names; order as given.
    pub labels: Vec<(String, String)>,
    /// The value, whose shape matches the family's type.
    pub value: SampleValue,
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// Counter, gauge or untyped value.
    Scalar(f64),
    /// Histogram: `(le, cumulative count)` in increasing `le`, the last one `+Inf`
    /// and equal to `count`.
    Histogram {
        /// Buckets `(le, cumulative count)`.
        buckets: Vec<(f64, f64)>,
        /// Sum of observations.
        sum: f64,
        /// Count of observations.
        count: f64,
    },
    /// Summary: `(quantile, value)` with quantiles in 0..=1.
    Summary {
        /// Quantiles `(quantile, value)`.
        quantiles: Vec<(f64, f64)>,
        /// Sum of observations.
        sum: f64,
        /// Count of observations.
        count: f64,
    },
}
