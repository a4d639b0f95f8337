//! A family while its lines come in: its type, its metadata, and how a sample line joins it
//! (the lines of a histogram, gauge histogram, summary or OpenMetrics counter grouped into one
//! wire sample per label set and timestamp), and what OpenMetrics wants of such a sample.

use std::collections::HashMap;
use std::fmt::Write;

use super::line::{self, quote, SampleLine};
use super::number::number;
use plugin_protocol::{Bucket, Labels, MetricType, Quantile, Sample, Value};

/// A family type, OpenMetrics-only ones included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Untyped,
    Counter,
    Gauge,
    Histogram,
    Summary,
    Info,
    StateSet,
    GaugeHistogram,
}

impl Kind {
    pub(super) fn from_type(s: &str, om: bool) -> Option<Kind> {
        Some(match (s, om) {
            ("counter", _) => Kind::Counter,
            ("gauge", _) => Kind::Gauge,
            ("histogram", _) => Kind::Histogram,
            ("summary", _) => Kind::Summary,
            ("untyped", false) | ("unknown", true) => Kind::Untyped,
            ("info", true) => Kind::Info,
            ("stateset", true) => Kind::StateSet,
            ("gaugehistogram", true) => Kind::GaugeHistogram,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        self.metric_type().as_str()
    }

    /// The type in the wire types, which have every OpenMetrics type.
    pub(super) fn metric_type(self) -> MetricType {
        match self {
            Kind::Untyped => MetricType::Untyped,
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Histogram => MetricType::Histogram,
            Kind::Summary => MetricType::Summary,
            Kind::Info => MetricType::Info,
            Kind::StateSet => MetricType::StateSet,
            Kind::GaugeHistogram => MetricType::GaugeHistogram,
        }
    }

    /// Histograms and gauge histograms: samples with buckets.
    pub(super) fn has_buckets(self) -> bool {
        matches!(self, Kind::Histogram | Kind::GaugeHistogram)
    }

    /// The sample-name suffixes of a family of this kind, the bare name included (a bare
    /// histogram sample is refused, but it belongs to the family for error messages).
    pub(super) fn suffixes(self, om: bool) -> &'static [&'static str] {
        match (self, om) {
            (Kind::Histogram, true) => &["", "_bucket", "_sum", "_count", "_created"],
            (Kind::Histogram, false) => &["", "_bucket", "_sum", "_count"],
            (Kind::Summary, true) => &["", "_sum", "_count", "_created"],
            (Kind::Summary, false) => &["", "_sum", "_count"],
            (Kind::Counter, true) => &["", "_total", "_created"],
            (Kind::Info, _) => &["", "_info"],
            (Kind::GaugeHistogram, _) => &["", "_bucket", "_gsum", "_gcount"],
            _ => &[""],
        }
    }

    /// The suffixes of the sum and count lines.
    pub(super) fn sum_count(self) -> (&'static str, &'static str) {
        match self {
            Kind::GaugeHistogram => ("_gsum", "_gcount"),
            _ => ("_sum", "_count"),
        }
    }
}

/// What a sample line is to its family, from the suffix of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Bare,
    Bucket,
    /// `_sum`, or a gauge histogram's `_gsum`.
    Sum,
    /// `_count`, or a gauge histogram's `_gcount`.
    Count,
    Total,
    Created,
    Info,
    Other,
}

impl Role {
    pub(super) fn of(suffix: &str) -> Role {
        match suffix {
            "" => Role::Bare,
            "_bucket" => Role::Bucket,
            "_sum" | "_gsum" => Role::Sum,
            "_count" | "_gcount" => Role::Count,
            "_total" => Role::Total,
            "_created" => Role::Created,
            "_info" => Role::Info,
            _ => Role::Other,
        }
    }
}

/// A family while its lines come in.
pub(super) struct Fam {
    /// The name in its metadata (OpenMetrics family name: `foo` for counter `foo_total`).
    pub(super) name: String,
    pub(super) kind: Kind,
    pub(super) help: Option<String>,
    pub(super) typed: bool,
    pub(super) unit_seen: bool,
    pub(super) unit: Option<String>,
    /// A text 0.0.4 `_created` companion family: its lines are dropped silently.
    pub(super) ignored: bool,
    /// Whether a sample line came (accepted or not), and the family's last line so far.
    pub(super) samples_seen: bool,
    pub(super) last_line: usize,
    /// Samples dropped with an error.
    pub(super) rejected: usize,
    pub(super) samples: Vec<Sample>,
    /// OpenMetrics counters, histograms, gauge histograms and summaries (whose lines group
    /// into samples): the line each sample started on,
    pub(super) starts: Vec<usize>,
    /// the sample each label set (sorted, without `le`/`quantile`) last went to,
    pub(super) groups: HashMap<Vec<(String, String)>, usize>,
    /// and the sample of the previous line.
    pub(super) last_group: Option<usize>,
}

impl Fam {
    /// A family of type untyped until a TYPE line says otherwise.
    pub(super) fn new(name: &str, line: usize, ignored: bool) -> Self {
        Fam {
            name: name.to_string(),
            kind: Kind::Untyped,
            help: None,
            typed: false,
            unit_seen: false,
            unit: None,
            ignored,
            samples_seen: false,
            last_line: line,
            rejected: 0,
            samples: Vec::new(),
            starts: Vec::new(),
            groups: HashMap::new(),
            last_group: None,
        }
    }

    /// Adds a sample line that belongs to this family as `role`.
    pub(super) fn place(
        &mut self,
        role: Role,
        n: usize,
        s: SampleLine<'_>,
        om: bool,
    ) -> Result<(), String> {
        let exemplar_ok = match role {
            Role::Total => self.kind == Kind::Counter,
            Role::Bucket => self.kind.has_buckets(),
            _ => false,
        };
        if s.exemplar.is_some() && !exemplar_ok {
            return Err(
                "exemplars are only allowed on counter _total and histogram _bucket samples".into(),
            );
        }
        match (self.kind, role) {
            (Kind::Counter, Role::Bare) if om => Err(format!(
                "counter {}: samples are named {}",
                quote(&self.name),
                quote(&format!("{}_total", self.name))
            )),
            (Kind::Info, Role::Bare) => Err(format!(
                "info {}: samples are named {}",
                quote(&self.name),
                quote(&format!("{}_info", self.name))
            )),
            (Kind::Histogram | Kind::GaugeHistogram, Role::Bare) => {
                let name = quote(&self.name);
                Err(format!(
                    "{} {name}: a sample named {name} needs the suffix _bucket, {} or {}",
                    self.kind.as_str(),
                    self.kind.sum_count().0,
                    self.kind.sum_count().1
                ))
            }
            (Kind::Counter, _) if om => self.group(role, n, s, om),
            (Kind::Histogram | Kind::GaugeHistogram | Kind::Summary, _) => {
                self.group(role, n, s, om)
            }
            _ => self.scalar(s),
        }
    }

    /// A gauge, untyped, info, stateset or text 0.0.4 counter sample: one line, one sample.
    /// Info and stateset values are validation's to check, as for a JSON plugin's.
    fn scalar(&mut self, s: SampleLine<'_>) -> Result<(), String> {
        if let Some(msg) = misplaced(&s.labels) {
            return Err(msg);
        }
        self.samples.push(Sample {
            labels: Labels(s.labels),
            value: Some(Value(s.value)),
            timestamp: s.timestamp,
            exemplar: s.exemplar,
            ..Sample::default()
        });
        Ok(())
    }

    /// A line of an OpenMetrics counter, or of a histogram, gauge histogram or summary, added
    /// to the sample of its label set and timestamp.
    fn group(&mut self, role: Role, n: usize, s: SampleLine<'_>, om: bool) -> Result<(), String> {
        let hist = self.kind.has_buckets();
        let wanted = match self.kind {
            _ if hist => Some("le"),
            Kind::Summary => Some("quantile"),
            _ => None,
        };
        let mut labels = s.labels;
        if let Some(other) = ["le", "quantile"]
            .into_iter()
            .find(|&l| Some(l) != wanted && labels.iter().any(|(n, _)| n == l))
        {
            return Err(misplaced_label(other));
        }
        let pos = wanted.and_then(|w| labels.iter().position(|(l, _)| l == w));
        // Buckets (histogram) and bare lines (summary) carry the bound; the rest don't.
        let takes_bound = matches!(role, Role::Bucket | Role::Bare);
        let bound = match (takes_bound, pos, wanted) {
            (false, None, _) => None,
            (false, Some(_), Some(w)) => {
                return Err(format!("{} must not have a label \"{w}\"", quote(s.name)))
            }
            (_, None, Some(w)) => return Err(format!("{} needs a label \"{w}\"", quote(s.name))),
            (_, Some(p), Some(w)) => {
                let (_, raw) = labels.remove(p);
                let v =
                    number(&raw, om).ok_or_else(|| format!("invalid {w} value {}", quote(&raw)))?;
                if om && v == f64::INFINITY && raw != "+Inf" {
                    return Err(format!("{w}={} must be written \"+Inf\"", quote(&raw)));
                }
                Some(v)
            }
            // No bound label exists for this kind, so none was found.
            (_, _, None) => None,
        };
        let mut key = labels.clone();
        key.sort_unstable();
        let i = match self.groups.get(&key) {
            Some(&i) if om && self.last_group != Some(i) => {
                return Err(format!(
                "series {} of {} is interleaved with another series (not allowed in OpenMetrics)",
                labels_excerpt(&labels),
                quote(&self.name)
            ))
            }
            Some(&i) if !self.slot_taken(i, role, bound, s.timestamp) => i,
            _ => {
                let i = self.samples.len();
                self.samples.push(Sample {
                    labels: Labels(labels),
                    buckets: hist.then(Vec::new),
                    quantiles: (self.kind == Kind::Summary).then(Vec::new),
                    timestamp: s.timestamp,
                    ..Sample::default()
                });
                self.starts.push(n);
                self.groups.insert(key, i);
                i
            }
        };
        self.last_group = Some(i);
        let sample = &mut self.samples[i];
        let value = Value(s.value);
        match (role, bound) {
            (Role::Sum, _) => sample.sum = Some(value),
            (Role::Count, _) => sample.count = Some(value),
            (Role::Created, _) => sample.created = Some(s.value),
            (Role::Total, _) => {
                sample.value = Some(value);
                sample.exemplar = s.exemplar;
            }
            (_, Some(b)) if hist => sample.buckets.get_or_insert_default().push(Bucket {
                le: Value(b),
                count: value,
                exemplar: s.exemplar,
            }),
            (_, b) => sample.quantiles.get_or_insert_default().push(Quantile {
                quantile: Value(b.unwrap_or(f64::NAN)),
                value,
            }),
        }
        Ok(())
    }

    /// Whether sample `i` already has what this line would set, or another timestamp: then
    /// the line starts a new sample (a repeated series, or the series' next point in time).
    /// A bucket or quantile repeats when it equals the first bound, which a repeated series
    /// starts with; comparing with the first only keeps this O(1), and an out-of-order bound
    /// elsewhere stays in its sample for validation to refuse.
    fn slot_taken(&self, i: usize, role: Role, bound: Option<f64>, ts: Option<f64>) -> bool {
        let s = &self.samples[i];
        let same = |a: f64| bound.is_some_and(|b| a == b || (a.is_nan() && b.is_nan()));
        s.timestamp != ts
            || match role {
                Role::Sum => s.sum.is_some(),
                Role::Count => s.count.is_some(),
                Role::Created => s.created.is_some(),
                Role::Total => s.value.is_some(),
                _ if self.kind.has_buckets() => s
                    .buckets
                    .as_ref()
                    .and_then(|b| b.first())
                    .is_some_and(|b| same(b.le.0)),
                _ => s
                    .quantiles
                    .as_ref()
                    .and_then(|q| q.first())
                    .is_some_and(|q| same(q.quantile.0)),
            }
    }

    /// OpenMetrics: what a sample needs besides its values, else why it is refused. A
    /// counter needs its `_total`; a histogram or gauge histogram its `+Inf` bucket, and its
    /// sum and count both or neither.
    pub(super) fn incomplete(&self, s: &Sample) -> Option<String> {
        let name = &self.name;
        let missing = match self.kind {
            Kind::Counter if s.value.is_none() => format!(
                "{} without {}",
                quote(&format!("{name}_created")),
                quote(&format!("{name}_total"))
            ),
            Kind::Histogram | Kind::GaugeHistogram => {
                let (sum, count) = self.kind.sum_count();
                let inf = s.buckets.iter().flatten().any(|b| b.le.0 == f64::INFINITY);
                match (s.sum.is_some(), s.count.is_some()) {
                    _ if !inf => format!(
                        "no {} line (OpenMetrics requires the +Inf bucket)",
                        quote(&format!("{name}_bucket{{le=\"+Inf\"}}"))
                    ),
                    (true, false) | (false, true) => format!(
                        "{} without {} (OpenMetrics wants both or neither)",
                        quote(&format!(
                            "{name}{}",
                            if s.sum.is_some() { sum } else { count }
                        )),
                        quote(&format!(
                            "{name}{}",
                            if s.sum.is_some() { count } else { sum }
                        ))
                    ),
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(format!(
            "{} {} series {}: {missing}",
            self.kind.as_str(),
            quote(name),
            labels_excerpt(&s.labels.0)
        ))
    }
}

/// An error for `le` or `quantile` on a sample that cannot have it.
pub(super) fn misplaced(labels: &[(String, String)]) -> Option<String> {
    ["le", "quantile"]
        .into_iter()
        .find(|l| labels.iter().any(|(n, _)| n == l))
        .map(misplaced_label)
}

pub(super) fn misplaced_label(label: &str) -> String {
    match label {
        "le" => "label \"le\" is only allowed on histogram buckets".into(),
        _ => "label \"quantile\" is only allowed on summary quantiles".into(),
    }
}

/// A label set for messages, cut short.
pub(super) fn labels_excerpt(labels: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in labels.iter().enumerate() {
        if out.len() > 100 {
            out.push('…');
            break;
        }
        if i > 0 {
            out.push(',');
        }
        // write! to a String cannot fail.
        let _ = write!(out, "{}={}", line::excerpt(n), quote(v));
    }
    out.push('}');
    out
}
