//! The functions over a range vector: `rate` and its kin with Prometheus's extrapolation,
//! `deriv`/`predict_linear`, `resets`/`changes`, and every `*_over_time`.

use super::error::EvalError;
use super::stats::{kahan_sum, mean, quantile, variance};
use super::value::{drop_name, Sample, Series};

/// What a range function needs besides the series.
#[derive(Debug, Clone)]
pub struct RangeArgs {
    /// The evaluation time.
    pub t: i64,
    /// The range of the selector or subquery.
    pub range_ms: i64,
    /// The end of the window (the evaluation time less the offset).
    pub end_ms: i64,
    /// The scalar arguments, in order (the quantile, the `predict_linear` duration).
    pub scalars: Vec<f64>,
}

/// Evaluates range function `name` for every series with samples.
pub fn call_range(
    name: &str,
    series: Vec<Series>,
    args: &RangeArgs,
) -> Result<Vec<Sample>, EvalError> {
    let scalar = |i: usize| {
        args.scalars
            .get(i)
            .copied()
            .ok_or_else(|| EvalError::Invalid(format!("missing scalar argument to {name}")))
    };
    let mut out = Vec::new();
    for s in series {
        let p = &s.points;
        if p.is_empty() {
            continue;
        }
        let vals: Vec<f64> = p.iter().map(|x| x.1).collect();
        let v = match name {
            "rate" => extrapolated_rate(p, args, true, true),
            "increase" => extrapolated_rate(p, args, true, false),
            "delta" => extrapolated_rate(p, args, false, false),
            "irate" => instant_delta(p, true),
            "idelta" => instant_delta(p, false),
            "deriv" => (p.len() >= 2).then(|| linear_regression(p, p[0].0).0),
            "predict_linear" => {
                let d = scalar(0)?;
                (p.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(p, args.t);
                    slope * d + intercept
                })
            }
            "resets" => Some(p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
            "changes" => Some(
                p.windows(2)
                    .filter(|w| !(w[1].1 == w[0].1 || (w[1].1.is_nan() && w[0].1.is_nan())))
                    .count() as f64,
            ),
            "avg_over_time" => Some(mean(&vals)),
            "sum_over_time" => Some(kahan_sum(&vals)),
            "count_over_time" => Some(vals.len() as f64),
            "min_over_time" => {
                Some(
                    vals.iter()
                        .fold(f64::NAN, |m, &v| if m.is_nan() || v < m { v } else { m }),
                )
            }
            "max_over_time" => {
                Some(
                    vals.iter()
                        .fold(f64::NAN, |m, &v| if m.is_nan() || v > m { v } else { m }),
                )
            }
            "quantile_over_time" => Some(quantile(scalar(0)?, vals)),
            "stddev_over_time" => Some(variance(&vals).sqrt()),
            "stdvar_over_time" => Some(variance(&vals)),
            "last_over_time" => Some(vals[vals.len() - 1]),
            "present_over_time" => Some(1.0),
            other => {
                return Err(EvalError::Invalid(format!(
                    "{other} does not take a range vector"
                )))
            }
        };
        if let Some(v) = v {
            let labels = if name == "last_over_time" {
                s.labels
            } else {
                drop_name(&s.labels)
            };
            out.push(Sample {
                labels,
                t: args.t,
                v,
            });
        }
    }
    Ok(out)
}

/// `rate`, `increase` and `delta`: the change over the samples, with counter resets
/// added back for counters, extrapolated towards the window's edges the way
/// Prometheus's `extrapolatedRate` does.
fn extrapolated_rate(p: &[(i64, f64)], a: &RangeArgs, counter: bool, rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let range_start = a.end_ms - a.range_ms;
    let (first_t, first_v) = p[0];
    let (last_t, last_v) = p[p.len() - 1];
    let mut result = last_v - first_v;
    if counter {
        for w in p.windows(2) {
            if w[1].1 < w[0].1 {
                result += w[0].1;
            }
        }
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (a.end_ms - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / (p.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if counter {
        // A counter does not go below zero: extrapolate no further back than its zero.
        let to_zero = if result > 0.0 && first_v >= 0.0 {
            sampled * (first_v / result)
        } else {
            to_start
        };
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = if sampled != 0.0 {
        (sampled + to_start + to_end) / sampled
    } else {
        1.0
    };
    if rate {
        factor /= a.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples.
fn instant_delta(p: &[(i64, f64)], rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (pt, pv) = p[p.len() - 2];
    let (lt, lv) = p[p.len() - 1];
    if !rate {
        return Some(lv - pv);
    }
    let dv = if lv < pv { lv } else { lv - pv };
    let dt = lt - pt;
    (dt != 0).then(|| dv / (dt as f64 / 1000.0))
}

/// The least-squares line through the samples, time measured in seconds from
/// `intercept_t`: `(slope, intercept)`.
fn linear_regression(p: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let n = p.len() as f64;
    let first = p[0].1;
    if p.iter().all(|x| x.1 == first) {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let xs: Vec<f64> = p
        .iter()
        .map(|x| (x.0 - intercept_t) as f64 / 1000.0)
        .collect();
    let ys: Vec<f64> = p.iter().map(|x| x.1).collect();
    let sum_x = kahan_sum(&xs);
    let sum_y = kahan_sum(&ys);
    let sum_xy = kahan_sum(&xs.iter().zip(&ys).map(|(x, y)| x * y).collect::<Vec<_>>());
    let sum_x2 = kahan_sum(&xs.iter().map(|x| x * x).collect::<Vec<_>>());
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}
