//! Aggregations over an instant vector, grouped `by` or `without` labels.

use std::collections::BTreeMap;

use promql_parser::parser::LabelModifier;

use super::error::EvalError;
use super::stats::{kahan_sum, mean, quantile, variance};
use super::value::{cmp_asc, format_float, set, signature, Labels, Sample, Value};

/// The group key of `labels`: the `by` labels, all but the `without` labels and the
/// metric name, or nothing without a modifier.
fn group_key(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(ls)) => signature(labels, true, &ls.labels),
        Some(LabelModifier::Exclude(ls)) => signature(labels, false, &ls.labels),
        None => Vec::new(),
    }
}

fn scalar_param(op: &str, param: Option<Value>) -> Result<f64, EvalError> {
    match param {
        Some(Value::Scalar(v)) => Ok(v),
        other => Err(EvalError::Invalid(format!(
            "expected a scalar parameter to {op}, got {}",
            other.map(|v| v.type_name()).unwrap_or("none")
        ))),
    }
}

/// Evaluates aggregation `op` over `input` at `t`.
pub fn aggregate(
    op: &str,
    input: Vec<Sample>,
    param: Option<Value>,
    modifier: Option<&LabelModifier>,
    t: i64,
) -> Result<Vec<Sample>, EvalError> {
    match op {
        "topk" | "bottomk" => {
            let k = scalar_param(op, param)?;
            if k.is_nan() {
                return Err(EvalError::Invalid(format!(
                    "Parameter value is NaN for {op}"
                )));
            }
            return Ok(top_bottom(op == "topk", k, input, modifier));
        }
        "count_values" => {
            let label = match param {
                Some(Value::String(s)) => s,
                _ => {
                    return Err(EvalError::Invalid(
                        "expected a string parameter to count_values".into(),
                    ))
                }
            };
            if label.is_empty()
                || !label.chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                })
            {
                return Err(EvalError::Invalid(format!("invalid label name {label:?}")));
            }
            let mut counts: BTreeMap<Labels, f64> = BTreeMap::new();
            for s in &input {
                let mut key = group_key(&s.labels, modifier);
                set(&mut key, &label, &format_float(s.v));
                *counts.entry(key).or_default() += 1.0;
            }
            return Ok(counts
                .into_iter()
                .map(|(labels, v)| Sample { labels, t, v })
                .collect());
        }
        _ => {}
    }
    let q = if op == "quantile" {
        Some(scalar_param(op, param)?)
    } else {
        None
    };
    let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
    for s in &input {
        groups
            .entry(group_key(&s.labels, modifier))
            .or_default()
            .push(s.v);
    }
    let out = groups
        .into_iter()
        .map(|(labels, vals)| {
            let v = match op {
                "sum" => kahan_sum(&vals),
                "avg" => mean(&vals),
                "min" => vals
                    .iter()
                    .fold(f64::NAN, |m, &v| if m.is_nan() || v < m { v } else { m }),
                "max" => vals
                    .iter()
                    .fold(f64::NAN, |m, &v| if m.is_nan() || v > m { v } else { m }),
                "count" => vals.len() as f64,
                "group" => 1.0,
                "stddev" => variance(&vals).sqrt(),
                "stdvar" => variance(&vals),
                "quantile" => quantile(q.unwrap_or(f64::NAN), vals.clone()),
                _ => f64::NAN,
            };
            Sample { labels, t, v }
        })
        .collect();
    Ok(out)
}

/// `topk`/`bottomk`: the `k` largest (smallest) elements of each group, labels kept,
/// NaN ranked last either way.
fn top_bottom(
    top: bool,
    k: f64,
    input: Vec<Sample>,
    modifier: Option<&LabelModifier>,
) -> Vec<Sample> {
    if k < 1.0 {
        return Vec::new();
    }
    let k = if k > input.len() as f64 {
        input.len()
    } else {
        k as usize
    };
    let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in input {
        groups
            .entry(group_key(&s.labels, modifier))
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for (_, mut members) in groups {
        members.sort_by(|a, b| {
            if top {
                super::value::cmp_desc(a.v, b.v)
            } else {
                cmp_asc(a.v, b.v)
            }
        });
        members.truncate(k);
        out.extend(members);
    }
    out
}
