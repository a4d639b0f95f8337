//! One sample's shape and values, type by type, as [`super::validate`] checks them: the
//! members its type takes, and the value rules of OpenMetrics 1.0 (counts are non-negative
//! integers, buckets cumulative in increasing bounds, sums never NaN or negative, quantiles
//! in 0..=1 with values never negative, info values 1, stateset values 0 or 1, finite
//! timestamps, exemplars only where OpenMetrics has them and with at most 128 characters of
//! labels).
//!
//! A broken rule drops the least it spoils: the whole sample ([`check`] returns the reason),
//! or only a part of it (a sum, a quantile, a created time, an exemplar), whose reasons
//! [`check`] adds to a list while the rest is served. A summary left with nothing to write
//! is then dropped whole.

use super::drop_reason::DropReason;
use super::model::{self, MetricType, SampleValue};
use plugin_protocol as proto;

/// OpenMetrics: "The combined length of the label names and values of an Exemplar's LabelSet
/// MUST NOT exceed 128 UTF-8 characters."
pub const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// A sample that passed: its value and extras, and the parts dropped from it.
#[derive(Debug)]
pub struct Checked {
    /// The value in our model.
    pub value: SampleValue,
    /// Its timestamp, in seconds.
    pub timestamp: Option<f64>,
    /// Its created time and exemplars, if any.
    pub extra: Option<Box<model::Extra>>,
}

/// True when `s` is a valid label name, `[a-zA-Z_][a-zA-Z0-9_]*` (reserved `__` not checked).
pub fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A count: finite, non-negative, integral (OpenMetrics 1.0 requires integers).
fn is_count(v: f64) -> bool {
    v.is_finite() && v >= 0.0 && v.fract() == 0.0
}

/// Checks sample `s` of a family named `family` of type `kind` (labels are checked by the
/// caller). The reasons of parts dropped ([`DropReason::partial`]) go to `partial`, also when
/// the sample is then dropped whole.
pub fn check(
    s: &proto::Sample,
    family: &str,
    kind: MetricType,
    partial: &mut Vec<DropReason>,
) -> Result<Checked, DropReason> {
    if let Some(t) = s.timestamp.filter(|t| !t.is_finite()) {
        return Err(DropReason::Timestamp(t));
    }
    let created_ok = matches!(
        kind,
        MetricType::Counter | MetricType::Histogram | MetricType::Summary
    );
    let scalar = !matches!(
        kind,
        MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary
    );
    foreign(
        kind,
        [
            (scalar && s.buckets.is_some(), "buckets"),
            (
                kind != MetricType::Summary && s.quantiles.is_some(),
                "quantiles",
            ),
            (scalar && s.sum.is_some(), "sum"),
            (scalar && s.count.is_some(), "count"),
            (!scalar && s.value.is_some(), "value"),
            (
                kind == MetricType::Summary && s.buckets.is_some(),
                "buckets",
            ),
            (!created_ok && s.created.is_some(), "created"),
        ],
    )?;
    let mut bucket_exemplars = Vec::new();
    let value = match kind {
        MetricType::Histogram | MetricType::GaugeHistogram => match &s.buckets {
            Some(b) => histogram(b, s.sum, s.count, kind, &mut bucket_exemplars, partial)?,
            None => return Err(DropReason::Incomplete(kind)),
        },
        MetricType::Summary => summary(s, partial)?,
        _ => SampleValue::Scalar(scalar_value(s, family, kind)?),
    };
    let created = match s.created {
        Some(c) if !c.is_finite() => {
            partial.push(DropReason::Created(c));
            None
        }
        c => c,
    };
    let exemplar = match &s.exemplar {
        None => None,
        Some(_) if kind != MetricType::Counter => {
            partial.push(DropReason::ExemplarNotAllowed(kind));
            None
        }
        Some(e) => match exemplar(e) {
            Ok(e) => Some(e),
            Err(r) => {
                partial.push(r);
                None
            }
        },
    };
    let extra =
        (created.is_some() || exemplar.is_some() || !bucket_exemplars.is_empty()).then(|| {
            Box::new(model::Extra {
                created,
                exemplar,
                bucket_exemplars,
            })
        });
    Ok(Checked {
        value,
        timestamp: s.timestamp,
        extra,
    })
}

/// Refuses the sample when any of the flagged members is present.
fn foreign<const N: usize>(
    kind: MetricType,
    members: [(bool, &'static str); N],
) -> Result<(), DropReason> {
    if members.iter().all(|(present, _)| !present) {
        return Ok(());
    }
    let mut present: Vec<&'static str> = members
        .iter()
        .filter(|(p, _)| *p)
        .map(|(_, m)| *m)
        .collect();
    present.dedup();
    Err(DropReason::ForeignMembers {
        kind,
        members: present,
    })
}

/// The value of a counter, gauge, untyped, info or stateset sample.
fn scalar_value(s: &proto::Sample, family: &str, kind: MetricType) -> Result<f64, DropReason> {
    let v = match (s.value, kind) {
        (Some(v), _) => v.0,
        // An info sample is its labels; its value can only be 1.
        (None, MetricType::Info) => 1.0,
        (None, _) => return Err(DropReason::MissingValue(kind)),
    };
    match kind {
        // `v < 0.0` is false for -0.0, which is a fine counter value.
        MetricType::Counter if v.is_nan() || v < 0.0 => Err(DropReason::CounterValue(v)),
        MetricType::Info if v != 1.0 => Err(DropReason::InfoValue(v)),
        MetricType::StateSet if !s.labels.0.iter().any(|(n, _)| n == family) => {
            Err(DropReason::StateLabel(family.to_string()))
        }
        MetricType::StateSet if v != 0.0 && v != 1.0 => Err(DropReason::StateValue(v)),
        _ => Ok(v),
    }
}

/// Buckets in strictly increasing bounds with cumulative integer counts, ending in `+Inf`
/// (added from `count` when missing), and a sum OpenMetrics allows. The buckets' exemplars go
/// to `exemplars`.
fn histogram(
    buckets: &[proto::Bucket],
    sum: Option<proto::Value>,
    count: Option<proto::Value>,
    kind: MetricType,
    exemplars: &mut Vec<(usize, model::Exemplar)>,
    partial: &mut Vec<DropReason>,
) -> Result<SampleValue, DropReason> {
    let count = count.map(|c| c.0);
    if let Some(c) = count.filter(|c| !is_count(*c)) {
        return Err(DropReason::Count(c));
    }
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(buckets.len() + 1);
    for (i, b) in buckets.iter().enumerate() {
        let (le, c) = (b.le.0, b.count.0);
        if le.is_nan() {
            return Err(DropReason::BucketBoundNan);
        }
        if !is_count(c) {
            return Err(DropReason::BucketCount { le, count: c });
        }
        if let Some(&(prev_le, prev_c)) = out.last() {
            if le <= prev_le {
                return Err(DropReason::BucketOrder { le, prev: prev_le });
            }
            if c < prev_c {
                return Err(DropReason::NotCumulative {
                    le,
                    count: c,
                    prev_le,
                    prev_count: prev_c,
                });
            }
        }
        out.push((le, c));
        if let Some(e) = &b.exemplar {
            match exemplar(e) {
                Ok(e) => exemplars.push((i, e)),
                Err(r) => partial.push(r),
            }
        }
    }
    let count = match (out.last().copied(), count) {
        (Some((le, c)), Some(n)) if le == f64::INFINITY => {
            if c != n {
                return Err(DropReason::InfBucket { inf: c, count: n });
            }
            n
        }
        (Some((le, c)), None) if le == f64::INFINITY => c,
        (last, Some(n)) => {
            // Cumulative buckets make the last one the largest; count must cover it.
            if let Some((_, c)) = last.filter(|&(_, c)| c > n) {
                return Err(DropReason::CountBelowBuckets { count: n, last: c });
            }
            out.push((f64::INFINITY, n));
            n
        }
        (_, None) => return Err(DropReason::Incomplete(kind)),
    };
    // Bounds increase, so the first tells whether any is negative.
    let lowest = out[0].0;
    let sum = match sum.map(|s| s.0) {
        None => None,
        Some(v) if v.is_nan() || (v < 0.0 && kind == MetricType::Histogram) => {
            partial.push(DropReason::ForbiddenSum { kind, sum: v });
            None
        }
        Some(_) if kind == MetricType::Histogram && lowest < 0.0 => {
            partial.push(DropReason::SumWithNegativeBuckets { le: lowest });
            None
        }
        Some(v) if v < 0.0 && lowest >= 0.0 => {
            partial.push(DropReason::NegativeGaugeSum(v));
            None
        }
        v => v,
    };
    Ok(SampleValue::Histogram {
        buckets: out,
        sum,
        count,
    })
}

/// Quantiles strictly increasing within 0..=1, an integer count, a sum OpenMetrics allows.
/// A summary with nothing left to write (no quantile, sum or count that OpenMetrics allows)
/// is refused whole.
fn summary(s: &proto::Sample, partial: &mut Vec<DropReason>) -> Result<SampleValue, DropReason> {
    let count = s.count.map(|c| c.0);
    if let Some(c) = count.filter(|c| !is_count(*c)) {
        return Err(DropReason::Count(c));
    }
    let quantiles = s.quantiles.as_deref().unwrap_or_default();
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(quantiles.len());
    let mut prev: Option<f64> = None;
    for q in quantiles {
        let (v, value) = (q.quantile.0, q.value.0);
        // `contains` is false for NaN.
        if !(0.0..=1.0).contains(&v) {
            return Err(DropReason::QuantileRange(v));
        }
        if let Some(p) = prev.filter(|p| v <= *p) {
            return Err(DropReason::QuantileOrder { q: v, prev: p });
        }
        prev = Some(v);
        // NaN means "no observations", which is fine; a negative value is not.
        if value < 0.0 {
            partial.push(DropReason::NegativeQuantileValue { q: v, value });
            continue;
        }
        out.push((v, value));
    }
    let sum = match s.sum.map(|s| s.0) {
        Some(v) if v.is_nan() || v < 0.0 => {
            partial.push(DropReason::ForbiddenSum {
                kind: MetricType::Summary,
                sum: v,
            });
            None
        }
        v => v,
    };
    if out.is_empty() && sum.is_none() && count.is_none() {
        return Err(DropReason::Incomplete(MetricType::Summary));
    }
    Ok(SampleValue::Summary {
        quantiles: out,
        sum,
        count,
    })
}

/// An exemplar's labels (valid, unrepeated names; at most 128 characters) and timestamp.
fn exemplar(e: &proto::Exemplar) -> Result<model::Exemplar, DropReason> {
    let labels = &e.labels.0;
    let chars: usize = labels
        .iter()
        .map(|(n, v)| n.chars().count() + v.chars().count())
        .sum();
    if chars > MAX_EXEMPLAR_LABEL_CHARS {
        return Err(DropReason::ExemplarTooLong(chars));
    }
    for (i, (n, _)) in labels.iter().enumerate() {
        if !is_label_name(n) || labels[..i].iter().any(|(m, _)| m == n) {
            return Err(DropReason::ExemplarLabel(n.clone()));
        }
    }
    if let Some(t) = e.timestamp.filter(|t| !t.is_finite()) {
        return Err(DropReason::ExemplarTimestamp(t));
    }
    Ok(model::Exemplar {
        labels: labels.clone(),
        value: e.value.0,
        timestamp: e.timestamp,
    })
}
