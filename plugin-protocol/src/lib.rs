//! Wire types of the plugin-exporter plugin protocol, version 1.
//!
//! The normative description is `PROTOCOL.md` beside this crate; `schema/protocol.schema.json`
//! is its JSON Schema. One JSON object per line travels each way over the plugin's stdin
//! (host -> plugin, [`HostMessage`]) and stdout (plugin -> host, [`PluginMessage`]). Every
//! object carries a `"type"`; the host always writes it first, so `{"type":"collect"` is a
//! reliable prefix for plugins that match lines without a JSON parser.
//!
//! Receivers ignore fields they do not know, so later minor additions stay compatible.
//!
//! Plugins written in Rust can use the [`sdk`] module instead of these types directly: it
//! builds batches, answers collects and pushes, and keeps to the protocol's rules.
#![forbid(unsafe_code)]

pub mod sdk;
mod value;

use serde::de;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use value::{Exemplar, Labels, Value};

/// The protocol version this crate speaks. A plugin announcing another one is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// A line the host (plugin-exporter) writes to a plugin's stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostMessage {
    /// First line after start: protocol version, the plugin's configured name and `config`.
    Hello(HostHello),
    /// Asks for one batch of metrics, answered by `metrics` or `error`.
    Collect(Collect),
    /// The plugin should exit now; stdin is closed right after.
    Shutdown(Shutdown),
    /// To a processor: a collector's batch to process, answered by `processed` or `error`.
    Process(Process),
    /// To an output: one collect's families to deliver, answered by `ack` or `error`.
    Write(WriteBatch),
}

/// Body of the host's `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostHello {
    /// Protocol version the host speaks ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The plugin's name in the exporter's configuration.
    pub name: String,
    /// The plugin's `config` object from the exporter's configuration (`{}` when absent).
    #[serde(default)]
    pub config: serde_json::Value,
}

/// Body of `collect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collect {
    /// Request id, increasing per plugin instance; echo it in the answer.
    pub id: u64,
    /// Milliseconds the plugin has to answer before the host gives up on this collect.
    pub deadline_ms: u64,
}

/// Body of `process`: a batch for a processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// Request id, increasing per processor instance; echo it in the answer.
    pub id: u64,
    /// The name of the collector the batch comes from.
    pub plugin: String,
    /// Milliseconds the processor has to answer before the host gives up on this batch.
    #[serde(default)]
    pub deadline_ms: u64,
    /// The batch, in the protocol's family model.
    #[serde(default)]
    pub families: Vec<Family>,
}

/// Body of `processed`: a processor's answer to `process`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Processed {
    /// The `process` id this answers.
    pub id: u64,
    /// The new batch, complete: it replaces the one sent.
    #[serde(default)]
    pub families: Vec<Family>,
}

/// Body of `write`: what one collect gathered, for an output to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteBatch {
    /// Request id, increasing per output instance (a retried write gets a new one); echo it
    /// in the answer.
    pub id: u64,
    /// The families, every sample with its `timestamp` (seconds since the Unix epoch).
    #[serde(default)]
    pub families: Vec<Family>,
}

/// Body of `ack`: an output delivered a `write`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// The `write` id this answers.
    pub id: u64,
}

/// Body of `shutdown` (no fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {}

/// A line a plugin writes to its stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PluginMessage {
    /// Optional first line: who the plugin is and which protocol it speaks.
    Hello(PluginHello),
    /// A batch of metric families: an answer to `collect`, or a push.
    Metrics(Metrics),
    /// The plugin could not collect.
    Error(ErrorMessage),
    /// A log line for the exporter's log.
    Log(LogMessage),
    /// A processor's answer to `process`: the processed batch.
    Processed(Processed),
    /// An output's answer to `write`: delivered.
    Ack(Ack),
}

/// Body of the plugin's `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginHello {
    /// Protocol version the plugin speaks; the host refuses versions it does not know.
    pub protocol: u32,
    /// The plugin's own name (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The plugin's own version (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Body of `metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The `collect` id this answers. Absent: answers the oldest open collect, or, with none
    /// open (push mode), replaces the plugin's series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The complete set of families for this batch.
    #[serde(default)]
    pub families: Vec<Family>,
}

/// Body of `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// The `collect` id this answers; absent answers the oldest open collect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// What went wrong, for the exporter's log (never used as a label value).
    pub message: String,
}

/// Body of `log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMessage {
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// Severity of a plugin `log` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Verbose detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd the plugin survived.
    Warn,
    /// Something failed.
    Error,
}

/// The type of a metric family: the types of OpenMetrics 1.0 (`untyped` is its `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// Monotonic total; name it `..._total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets with sum and count.
    Histogram,
    /// Quantiles with sum and count.
    Summary,
    /// No type information (OpenMetrics `unknown`, also accepted under that name).
    #[serde(alias = "unknown")]
    Untyped,
    /// Cumulative buckets of a current state (queue sizes, ages), with `sum` and `count`
    /// written as `_gsum` and `_gcount` in OpenMetrics.
    #[serde(rename = "gaugehistogram")]
    GaugeHistogram,
    /// Labels describing the target (a version, a build); each sample's value is 1. The name
    /// ends in `_info`, which OpenMetrics leaves out of the family name.
    Info,
    /// A set of states, one sample per state (its label named after the family), 1 for the
    /// states that hold and 0 for the others.
    #[serde(rename = "stateset")]
    StateSet,
}

impl MetricType {
    /// The type's name in the protocol and in an OpenMetrics `# TYPE` line (`untyped` is
    /// OpenMetrics' `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }
}

/// One metric family: a name, a type, help text and its samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// Metric name as written in the text format: counters end in `_total` and info families
    /// in `_info`.
    pub name: String,
    /// The family's type.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// Help text (may be empty).
    #[serde(default)]
    pub help: String,
    /// Optional unit (a suffix of the name, e.g. `seconds`), used in OpenMetrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The family's series.
    #[serde(default, deserialize_with = "budget::samples")]
    pub samples: Vec<Sample>,
}

/// One series of a family. Counters, gauges, untyped, info and stateset use `value`;
/// histograms and gauge histograms use `buckets`, `sum` and `count`; summaries use
/// `quantiles`, `sum` and `count`. Any of them may carry a `timestamp`; counters, histograms
/// and summaries a `created` timestamp; counters an `exemplar` (buckets carry their own).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Label names and values, in the order given.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The value of a counter, gauge, untyped, info (1) or stateset (0 or 1) series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Histogram buckets, cumulative, in increasing `le`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<Bucket>>,
    /// Summary quantiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<Vec<Quantile>>,
    /// Histogram or summary sum (a gauge histogram's `_gsum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<Value>,
    /// Histogram or summary count (a gauge histogram's `_gcount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Value>,
    /// When the value was taken, in seconds since the Unix epoch. Absent (the usual case):
    /// the scraper stamps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// When a counter, histogram or summary series started counting, in seconds since the
    /// Unix epoch (OpenMetrics `_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
    /// A counter's exemplar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemplar: Option<Box<Exemplar>>,
}

/// One histogram bucket: observations less than or equal to `le`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound (`"+Inf"` for the last bucket).
    pub le: Value,
    /// Cumulative count.
    pub count: Value,
    /// An observation in this bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemplar: Option<Box<Exemplar>>,
}

impl Bucket {
    /// A bucket without an exemplar.
    pub fn new(le: f64, count: f64) -> Self {
        Bucket {
            le: Value(le),
            count: Value(count),
            exemplar: None,
        }
    }
}

/// One summary quantile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// The quantile, 0 to 1.
    pub quantile: Value,
    /// Its value.
    pub value: Value,
}

impl HostMessage {
    /// Serializes the message as one protocol line, newline included.
    pub fn to_line(&self) -> String {
        // Serializing these types cannot fail: all keys are strings and values are finite
        // numbers or strings (non-finite values serialize as strings).
        let mut s = serde_json::to_string(self).expect("host message serializes");
        s.push('\n');
        s
    }
}

impl PluginMessage {
    /// Serializes the message as one protocol line, newline included.
    pub fn to_line(&self) -> String {
        // See HostMessage::to_line: serialization of these types cannot fail.
        let mut s = serde_json::to_string(self).expect("plugin message serializes");
        s.push('\n');
        s
    }

    /// Parses one protocol line (without its newline).
    ///
    /// Prefer this to `serde_json::from_slice`: serde's internally tagged enums also accept a
    /// JSON array whose first element is the tag (`["metrics"]`), which is not a message.
    pub fn from_line(line: &[u8]) -> Result<Self, serde_json::Error> {
        require_object(line)?;
        let flat: flat::FlatPluginMessage = serde_json::from_slice(line)?;
        flat.into_message()
    }

    /// Parses one protocol line, refusing it as soon as it holds more than `max_samples`
    /// samples in all: memory stays bounded by the limit, not by the line.
    pub fn from_line_limited(line: &[u8], max_samples: usize) -> Result<Self, LineError> {
        let _guard = budget::Guard::set(max_samples);
        match Self::from_line(line) {
            Ok(m) => Ok(m),
            Err(_) if budget::exceeded() => Err(LineError::TooManySamples { limit: max_samples }),
            Err(e) => Err(LineError::Json(e)),
        }
    }
}

/// Why [`PluginMessage::from_line_limited`] refused a line.
#[derive(Debug)]
pub enum LineError {
    /// Not a valid message.
    Json(serde_json::Error),
    /// More samples than allowed.
    TooManySamples {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            LineError::Json(e) => e.fmt(f),
            LineError::TooManySamples { limit } => {
                write!(f, "more than {limit} samples in one message")
            }
        }
    }
}

impl std::error::Error for LineError {}

/// A per-thread sample budget consulted while deserializing `Family::samples`, so an
/// oversized batch is refused while it streams in instead of after it was built.
mod budget {
    use super::Sample;
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use std::cell::Cell;
    use std::fmt;

    thread_local! {
        static REMAINING: Cell<Option<usize>> = const { Cell::new(None) };
        static EXCEEDED: Cell<bool> = const { Cell::new(false) };
    }

    /// Sets the budget for this thread until dropped.
    pub struct Guard;

    impl Guard {
        pub fn set(max: usize) -> Guard {
            REMAINING.with(|r| r.set(Some(max)));
            EXCEEDED.with(|e| e.set(false));
            Guard
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            REMAINING.with(|r| r.set(None));
        }
    }

    pub fn exceeded() -> bool {
        EXCEEDED.with(|e| e.get())
    }

    pub fn samples<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sample>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Sample>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of samples")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Sample>, A::Error> {
                let mut out = Vec::new();
                loop {
                    let left = REMAINING.with(|r| r.get());
                    if left == Some(0) {
                        // Stop before reading the next element: refuse if there is one.
                        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                            EXCEEDED.with(|e| e.set(true));
                            return Err(serde::de::Error::custom("sample limit exceeded"));
                        }
                        return Ok(out);
                    }
                    match seq.next_element::<Sample>()? {
                        Some(s) => out.push(s),
                        None => return Ok(out),
                    }
                    if let Some(n) = left {
                        REMAINING.with(|r| r.set(Some(n - 1)));
                    }
                }
            }
        }
        d.deserialize_seq(V)
    }
}

/// A flat form of [`PluginMessage`] for parsing: serde's internally tagged enums buffer the
/// whole message before choosing the variant; a struct streams, which keeps the sample
/// budget effective and parsing fast.
mod flat {
    use super::*;

    #[derive(Deserialize)]
    pub struct FlatPluginMessage {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        protocol: Option<u32>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        id: Option<u64>,
        #[serde(default)]
        families: Option<Vec<Family>>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        level: Option<LogLevel>,
    }

    fn missing(field: &'static str) -> serde_json::Error {
        <serde_json::Error as serde::de::Error>::missing_field(field)
    }

    impl FlatPluginMessage {
        pub fn into_message(self) -> Result<PluginMessage, serde_json::Error> {
            Ok(match self.kind.as_str() {
                "hello" => PluginMessage::Hello(PluginHello {
                    protocol: self.protocol.ok_or_else(|| missing("protocol"))?,
                    name: self.name,
                    version: self.version,
                }),
                "metrics" => PluginMessage::Metrics(Metrics {
                    id: self.id,
                    families: self.families.unwrap_or_default(),
                }),
                "error" => PluginMessage::Error(ErrorMessage {
                    id: self.id,
                    message: self.message.ok_or_else(|| missing("message"))?,
                }),
                "log" => PluginMessage::Log(LogMessage {
                    level: self.level.ok_or_else(|| missing("level"))?,
                    message: self.message.ok_or_else(|| missing("message"))?,
                }),
                "processed" => PluginMessage::Processed(Processed {
                    id: self.id.ok_or_else(|| missing("id"))?,
                    families: self.families.unwrap_or_default(),
                }),
                "ack" => PluginMessage::Ack(Ack {
                    id: self.id.ok_or_else(|| missing("id"))?,
                }),
                other => {
                    return Err(<serde_json::Error as serde::de::Error>::unknown_variant(
                        other,
                        &["hello", "metrics", "error", "log", "processed", "ack"],
                    ))
                }
            })
        }
    }
}

impl HostMessage {
    /// Parses one protocol line (without its newline); for plugins written in Rust.
    ///
    /// Like [`PluginMessage::from_line`], it refuses anything but a JSON object.
    pub fn from_line(line: &[u8]) -> Result<Self, serde_json::Error> {
        require_object(line)?;
        serde_json::from_slice(line)
    }
}

/// Fails unless the line's first non-whitespace byte opens a JSON object.
fn require_object(line: &[u8]) -> Result<(), serde_json::Error> {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(de::Error::custom(
            "a protocol message must be a JSON object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_messages_start_with_their_type() {
        let m = HostMessage::Collect(Collect {
            id: 7,
            deadline_ms: 2500,
        });
        assert_eq!(
            m.to_line(),
            "{\"type\":\"collect\",\"id\":7,\"deadline_ms\":2500}\n"
        );
        let s = HostMessage::Shutdown(Shutdown {});
        assert_eq!(s.to_line(), "{\"type\":\"shutdown\"}\n");
    }

    #[test]
    fn special_values_round_trip_as_strings() {
        let line = br#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"value":"NaN"},{"value":"+Inf"},{"value":"-Inf"},{"value":3}]}]}"#;
        let PluginMessage::Metrics(m) = PluginMessage::from_line(line).unwrap() else {
            panic!("not metrics")
        };
        let vals: Vec<f64> = m.families[0]
            .samples
            .iter()
            .map(|s| s.value.unwrap().0)
            .collect();
        assert!(vals[0].is_nan());
        assert_eq!(&vals[1..], &[f64::INFINITY, f64::NEG_INFINITY, 3.0]);
        let back = PluginMessage::Metrics(m).to_line();
        assert!(back.contains(r#""value":"NaN""#) && back.contains(r#""value":"-Inf""#));
    }

    #[test]
    fn duplicate_label_names_are_kept_for_the_host_to_reject() {
        let s: Sample = serde_json::from_str(r#"{"labels":{"a":"1","a":"2"},"value":1}"#).unwrap();
        assert_eq!(s.labels.0.len(), 2);
    }

    #[test]
    fn the_sample_budget_refuses_an_oversized_batch() {
        let many: Vec<String> = (0..50).map(|i| format!(r#"{{"value":{i}}}"#)).collect();
        let line = format!(
            r#"{{"type":"metrics","families":[{{"name":"a","type":"gauge","samples":[{}]}},{{"name":"b","type":"gauge","samples":[{}]}}]}}"#,
            many.join(","),
            many.join(",")
        );
        assert!(matches!(
            PluginMessage::from_line_limited(line.as_bytes(), 99),
            Err(LineError::TooManySamples { limit: 99 })
        ));
        let PluginMessage::Metrics(m) =
            PluginMessage::from_line_limited(line.as_bytes(), 100).unwrap()
        else {
            panic!("not metrics")
        };
        assert_eq!(m.families[1].samples.len(), 50);
        // Outside a limited parse there is no budget.
        assert!(PluginMessage::from_line(line.as_bytes()).is_ok());
        assert!(matches!(
            PluginMessage::from_line_limited(b"{\"type\":\"nope\"}", 10),
            Err(LineError::Json(_))
        ));
    }

    #[test]
    fn only_objects_are_messages() {
        // serde would read these as a `metrics` and a `shutdown`.
        assert!(PluginMessage::from_line(br#"["metrics"]"#).is_err());
        assert!(HostMessage::from_line(br#" ["shutdown"]"#).is_err());
        assert!(HostMessage::from_line(br#" {"type":"shutdown"}"#).is_ok());
    }

    #[test]
    fn openmetrics_types_and_members_round_trip() {
        let line = br#"{"type":"metrics","families":[{"name":"q","type":"gaugehistogram","samples":[{"buckets":[{"le":1,"count":1,"exemplar":{"labels":{"id":"x"},"value":0.5,"timestamp":1.25}},{"le":"+Inf","count":2}],"sum":3,"count":2,"timestamp":10.5}]},{"name":"b_info","type":"info","samples":[{"labels":{"v":"1"}}]},{"name":"m","type":"stateset","samples":[{"labels":{"m":"a"},"value":1}]},{"name":"c_total","type":"counter","samples":[{"value":1,"created":5,"exemplar":{"value":1}}]},{"name":"u","type":"unknown","samples":[]}]}"#;
        let PluginMessage::Metrics(m) = PluginMessage::from_line(line).unwrap() else {
            panic!("not metrics")
        };
        let kinds: Vec<MetricType> = m.families.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                MetricType::GaugeHistogram,
                MetricType::Info,
                MetricType::StateSet,
                MetricType::Counter,
                MetricType::Untyped
            ]
        );
        let q = &m.families[0].samples[0];
        assert_eq!(q.timestamp, Some(10.5));
        let e = q.buckets.as_ref().unwrap()[0].exemplar.as_ref().unwrap();
        assert_eq!(
            (e.value.0, e.timestamp, e.labels.0.len()),
            (0.5, Some(1.25), 1)
        );
        let c = &m.families[3].samples[0];
        assert_eq!(
            (c.created, c.exemplar.as_ref().map(|e| e.value.0)),
            (Some(5.0), Some(1.0))
        );
        let back = PluginMessage::Metrics(m.clone()).to_line();
        assert!(
            back.contains(r#""type":"gaugehistogram""#) && back.contains(r#""type":"stateset""#)
        );
        // `unknown` is read as untyped and written under the protocol's name.
        assert!(back.contains(r#""name":"u","type":"untyped""#));
        let PluginMessage::Metrics(again) =
            PluginMessage::from_line(back.trim_end().as_bytes()).unwrap()
        else {
            panic!("not metrics")
        };
        assert_eq!(again, m);
    }

    #[test]
    fn writes_and_acks_round_trip() {
        let w = HostMessage::Write(WriteBatch {
            id: 3,
            families: Vec::new(),
        });
        assert_eq!(
            w.to_line(),
            "{\"type\":\"write\",\"id\":3,\"families\":[]}\n"
        );
        let ack = PluginMessage::from_line(br#"{"type":"ack","id":3}"#).unwrap();
        assert_eq!(ack, PluginMessage::Ack(Ack { id: 3 }));
        assert_eq!(ack.to_line(), "{\"type\":\"ack\",\"id\":3}\n");
        assert!(PluginMessage::from_line(br#"{"type":"ack"}"#).is_err());
    }

    #[test]
    fn bad_value_string_is_an_error() {
        assert!(serde_json::from_str::<Value>(r#""inf""#).is_err());
    }
}
