//! The values an expression evaluates to, and the label-set helpers they are built with.

use std::cmp::Ordering;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Prometheus's stale marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A label set, sorted by name, without empty values.
pub type Labels = Vec<(String, String)>;

/// Whether `v` is the stale marker (and not some other NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The stale marker as a value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// One element of an instant vector. `t` is the sample's own time for a selector's
/// result and the evaluation time for everything computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One element of a range vector: points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// The result of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    InstantVector(Vec<Sample>),
    RangeVector(Vec<Series>),
    String(String),
}

impl Value {
    /// The name of the value's type, as Prometheus says it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::InstantVector(_) => "vector",
            Value::RangeVector(_) => "matrix",
            Value::String(_) => "string",
        }
    }
}

/// Sorts `labels` by name and drops empty values: the form every label set is kept in.
pub fn normalize(mut labels: Labels) -> Labels {
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}

/// The value of label `name`, if set.
pub fn get<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

/// Sets label `name` to `value`; an empty value removes the label.
pub fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

/// The label set without the metric name.
pub fn drop_name(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| n != METRIC_NAME)
        .cloned()
        .collect()
}

/// The labels listed in `names` (`on`/`by`), or all but them and the metric name
/// (`ignoring`/`without`).
pub fn signature(labels: &Labels, on: bool, names: &[String]) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| {
            if on {
                names.contains(n)
            } else {
                n != METRIC_NAME && !names.contains(n)
            }
        })
        .cloned()
        .collect()
}

/// A label set as Prometheus prints it: `name{a="b", c="d"}`.
pub fn format_labels(labels: &Labels) -> String {
    let name = get(labels, METRIC_NAME).unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(n, _)| n != METRIC_NAME)
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it: the shortest digits
/// that read back to the same value, never an exponent, `+Inf`, `-Inf`, `NaN`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// Ascending order with NaN last, as `sort` orders.
pub fn cmp_asc(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Descending order with NaN last, as `sort_desc` orders.
pub fn cmp_desc(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_as_go_does() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn stale_marker_is_a_distinct_nan() {
        assert!(is_stale(stale_nan()));
        assert!(stale_nan().is_nan());
        assert!(!is_stale(f64::NAN));
    }

    #[test]
    fn set_and_signature() {
        let mut l = normalize(vec![
            ("b".into(), "2".into()),
            (METRIC_NAME.into(), "m".into()),
            ("a".into(), "1".into()),
            ("c".into(), String::new()),
        ]);
        assert_eq!(format_labels(&l), "m{a=\"1\", b=\"2\"}");
        set(&mut l, "c", "3");
        set(&mut l, "a", "");
        assert_eq!(format_labels(&l), "m{b=\"2\", c=\"3\"}");
        assert_eq!(
            signature(&l, true, &["b".into()]),
            vec![("b".into(), "2".into())]
        );
        assert_eq!(
            signature(&l, false, &["b".into()]),
            vec![("c".into(), "3".into())]
        );
    }
}
