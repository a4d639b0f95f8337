//! A family while its lines come in: its type, its metadata, and how a sample line joins it
//! (histogram and summary lines grouped into one wire sample per label set).

use std::collections::HashMap;
use std::fmt::Write;

use super::line::{self, quote, SampleLine};
use super::number::number;
use plugin_protocol::{Bucket, Labels, Quantile, Sample, Value};

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
        match self {
            Kind::Untyped => "untyped",
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Info => "info",
            Kind::StateSet => "stateset",
            Kind::GaugeHistogram => "gaugehistogram",
        }
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
}

/// What a sample line is to its family, from the suffix of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Bare,
    Bucket,
    Sum,
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
            "_sum" => Role::Sum,
            "_count" => Role::Count,
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
    /// Histograms and summaries: the line each sample started on,
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
        let exemplar_ok = matches!(
            (self.kind, role),
            (Kind::Counter, Role::Total) | (Kind::Histogram, Role::Bucket)
        );
        if s.exemplar && !exemplar_ok {
            return Err(
                "exemplars are only allowed on counter _total and histogram _bucket samples".into(),
            );
        }
        match (self.kind, role) {
            // OpenMetrics only (see Kind::suffixes): no place in the wire types.
            (_, Role::Created) => Ok(()),
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
            (Kind::Histogram, Role::Bare) => {
                let name = quote(&self.name);
                Err(format!(
                    "histogram {name}: a sample named {name} needs the suffix _bucket, _sum or _count"
                ))
            }
            (Kind::Histogram | Kind::Summary, _) => self.group(role, n, s, om),
            _ => self.scalar(s),
        }
    }

    /// A counter, gauge, untyped, info or stateset sample.
    fn scalar(&mut self, s: SampleLine<'_>) -> Result<(), String> {
        if let Some(msg) = misplaced(&s.labels) {
            return Err(msg);
        }
        let problem = match self.kind {
            Kind::StateSet if !s.labels.iter().any(|(l, _)| *l == self.name) => Some(format!(
                "stateset {0}: a sample needs the label {0}",
                quote(&self.name)
            )),
            Kind::StateSet if s.value != 0.0 && s.value != 1.0 => Some(format!(
                "stateset {}: a value must be 0 or 1",
                quote(&self.name)
            )),
            Kind::Info if s.value != 1.0 => {
                Some(format!("info {}: the value must be 1", quote(&self.name)))
            }
            _ => None,
        };
        if let Some(msg) = problem {
            return Err(msg);
        }
        self.samples.push(Sample {
            labels: Labels(s.labels),
            value: Some(Value(s.value)),
            ..Sample::default()
        });
        Ok(())
    }

    /// A histogram or summary line, added to the sample of its label set.
    fn group(&mut self, role: Role, n: usize, s: SampleLine<'_>, om: bool) -> Result<(), String> {
        let hist = self.kind == Kind::Histogram;
        let (wanted, other) = if hist {
            ("le", "quantile")
        } else {
            ("quantile", "le")
        };
        let mut labels = s.labels;
        if labels.iter().any(|(l, _)| l == other) {
            return Err(misplaced_label(other));
        }
        let pos = labels.iter().position(|(l, _)| l == wanted);
        // Buckets (histogram) and bare lines (summary) carry the bound; sums and counts don't.
        let bound = match (role, pos) {
            (Role::Sum | Role::Count, None) => None,
            (Role::Sum | Role::Count, Some(_)) => {
                return Err(format!(
                    "{} must not have a label \"{wanted}\"",
                    quote(s.name)
                ))
            }
            (_, None) => return Err(format!("{} needs a label \"{wanted}\"", quote(s.name))),
            (_, Some(p)) => {
                let (_, raw) = labels.remove(p);
                let v = number(&raw, om)
                    .ok_or_else(|| format!("invalid {wanted} value {}", quote(&raw)))?;
                if om && v == f64::INFINITY && raw != "+Inf" {
                    return Err(format!("{wanted}={} must be written \"+Inf\"", quote(&raw)));
                }
                Some(v)
            }
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
            Some(&i) if !self.slot_taken(i, role, bound) => i,
            _ => {
                let i = self.samples.len();
                self.samples.push(Sample {
                    labels: Labels(labels),
                    buckets: hist.then(Vec::new),
                    quantiles: (!hist).then(Vec::new),
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
            (_, Some(b)) if hist => sample.buckets.get_or_insert_default().push(Bucket {
                le: Value(b),
                count: value,
            }),
            (_, b) => sample.quantiles.get_or_insert_default().push(Quantile {
                quantile: Value(b.unwrap_or(f64::NAN)),
                value,
            }),
        }
        Ok(())
    }

    /// Whether sample `i` already has what this line would set: then the line starts a new
    /// sample (a repeated series). A bucket or quantile repeats when it equals the first bound,
    /// which a repeated series starts with; comparing with the first only keeps this O(1), and
    /// an out-of-order bound elsewhere stays in its sample for validation to refuse.
    fn slot_taken(&self, i: usize, role: Role, bound: Option<f64>) -> bool {
        let s = &self.samples[i];
        let same = |a: f64| bound.is_some_and(|b| a == b || (a.is_nan() && b.is_nan()));
        match role {
            Role::Sum => s.sum.is_some(),
            Role::Count => s.count.is_some(),
            _ if self.kind == Kind::Histogram => s
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
