//! Our own model of metric families: what survives validation of a plugin's batch.
//!
//! Plugin data never goes through the prometheus crate (its registry concatenates same-name
//! families unchecked and its encoder writes `inf`); these types and our encoders are the only
//! path from a plugin to the exposition.
//!
//! The model holds OpenMetrics 1.0's data model whole: every type, sample and created
//! timestamps, exemplars. Whatever is in it is valid OpenMetrics; the text 0.0.4 encoder
//! leaves out what that format cannot say (see [`super::render`]).

pub use plugin_protocol::MetricType;

/// A validated metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Metric name, valid per the exposition rules (counters end in `_total` by convention,
    /// info families always in `_info`).
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

/// One validated series (one OpenMetrics MetricPoint).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label pairs, valid names, no duplicates, no reserved names; order as given.
    pub labels: Vec<(String, String)>,
    /// The value, whose shape matches the family's type.
    pub value: SampleValue,
    /// When the value was taken, in seconds since the Unix epoch; finite.
    pub timestamp: Option<f64>,
    /// Its created time and exemplars, which most samples lack: boxed, so that the common
    /// sample stays small (validation moves every one of them).
    pub extra: Option<Box<Extra>>,
}

/// What only some samples have: a created time, exemplars.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    /// Counters, histograms and summaries: when the series started, in seconds; finite.
    pub created: Option<f64>,
    /// A counter's exemplar.
    pub exemplar: Option<Exemplar>,
    /// Histograms and gauge histograms: exemplars, each with the index of its bucket, in
    /// increasing index.
    pub bucket_exemplars: Vec<(usize, Exemplar)>,
}

impl Sample {
    /// A sample without timestamps or exemplars.
    pub fn new(labels: Vec<(String, String)>, value: SampleValue) -> Self {
        Sample {
            labels,
            value,
            timestamp: None,
            extra: None,
        }
    }

    /// Its created time.
    pub fn created(&self) -> Option<f64> {
        self.extra.as_ref().and_then(|e| e.created)
    }

    /// A counter's exemplar.
    pub fn exemplar(&self) -> Option<&Exemplar> {
        self.extra.as_ref().and_then(|e| e.exemplar.as_ref())
    }

    /// A histogram's bucket exemplars, with the index of each bucket.
    pub fn bucket_exemplars(&self) -> &[(usize, Exemplar)] {
        self.extra
            .as_ref()
            .map_or(&[], |e| e.bucket_exemplars.as_slice())
    }
}

/// An exemplar: labels (at most 128 characters of names and values), a value, and when it
/// was observed, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Label pairs, valid names, no duplicates.
    pub labels: Vec<(String, String)>,
    /// The observed value.
    pub value: f64,
    /// When it was observed; finite.
    pub timestamp: Option<f64>,
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// Counter, gauge, untyped, info (1) or stateset (0 or 1) value.
    Scalar(f64),
    /// Histogram or gauge histogram: `(le, cumulative count)` in increasing `le`, the last
    /// one `+Inf` and equal to `count`.
    Histogram {
        /// Buckets `(le, cumulative count)`.
        buckets: Vec<(f64, f64)>,
        /// Sum of observations (a gauge histogram's `_gsum`); `None` writes neither `_sum`
        /// nor `_count` (OpenMetrics wants both or neither).
        sum: Option<f64>,
        /// Count of observations, the `+Inf` bucket's.
        count: f64,
    },
    /// Summary: `(quantile, value)` with quantiles in 0..=1.
    Summary {
        /// Quantiles `(quantile, value)`.
        quantiles: Vec<(f64, f64)>,
        /// Sum of observations.
        sum: Option<f64>,
        /// Count of observations.
        count: Option<f64>,
    },
}
