//! `histogram_quantile` over classic histograms: Prometheus's bucket quantile, with its
//! coalescing of equal bounds and its fix of non-monotonic buckets.

use std::collections::BTreeMap;

use super::error::EvalError;
use super::value::{get, signature, Labels, Sample, Value};

/// Counts closer than this (relative) are taken as equal.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// `histogram_quantile(q, buckets)`.
pub fn histogram_quantile(args: Vec<Value>, t: i64) -> Result<Value, EvalError> {
    let mut args = args.into_iter();
    let (Some(Value::Scalar(q)), Some(Value::InstantVector(v))) = (args.next(), args.next()) else {
        return Err(EvalError::Invalid(
            "histogram_quantile takes a scalar and an instant vector".into(),
        ));
    };
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for s in v {
        let Some(le) = get(&s.labels, "le").and_then(parse_go_float) else {
            continue;
        };
        let key = signature(&s.labels, false, &["le".to_string()]);
        groups.entry(key).or_default().push((le, s.v));
    }
    let out = groups
        .into_iter()
        .map(|(labels, buckets)| Sample {
            labels,
            t,
            v: bucket_quantile(q, buckets),
        })
        .collect();
    Ok(Value::InstantVector(out))
}

/// A bucket bound as Go's `strconv.ParseFloat` reads it (`+Inf`, `Inf`, `-inf`, `NaN`...).
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches('+') {
        "inf" | "infinity" => return Some(f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if lower == "-inf" || lower == "-infinity" {
        return Some(f64::NEG_INFINITY);
    }
    s.parse().ok()
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    let norm = (a.abs() + b.abs()).min(f64::MAX);
    if a == 0.0 || b == 0.0 || norm < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / norm < eps
}

/// The quantile `q` of buckets `(upper bound, cumulative count)`.
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(&(ub, _)) if ub == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Buckets with the same bound are added up.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (ub, c) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    let mut b = merged;
    // Counts must not fall: a lower count is raised to the one before it.
    let mut prev = b[0].1;
    for bucket in b.iter_mut().skip(1) {
        let curr = bucket.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
            bucket.1 = prev;
            continue;
        }
        prev = curr;
    }
    if b.len() < 2 {
        return f64::NAN;
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let idx = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if idx == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_quantile_cases() {
        let b = vec![(0.1, 10.0), (0.2, 20.0), (f64::INFINITY, 20.0)];
        assert!((bucket_quantile(0.5, b.clone()) - 0.1).abs() < 1e-12);
        assert!((bucket_quantile(0.75, b.clone()) - 0.15).abs() < 1e-12);
        // The highest finite bound when the rank falls in the +Inf bucket.
        let c = vec![(1.0, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.9, c), 1.0);
        // No +Inf bucket: NaN.
        assert!(bucket_quantile(0.5, vec![(1.0, 1.0), (2.0, 2.0)]).is_nan());
        // A falling count is raised to the one before it.
        let m = vec![(1.0, 10.0), (2.0, 5.0), (3.0, 20.0), (f64::INFINITY, 20.0)];
        assert!((bucket_quantile(0.5, m) - 1.0).abs() < 1e-12);
        assert_eq!(bucket_quantile(-0.1, b.clone()), f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(1.1, b), f64::INFINITY);
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
    }
}
