//! The functions over instant vectors and scalars: math, clamping, rounding, labels,
//! dates, `time`/`vector`/`scalar`, sorting.

use promql_parser::label::{MatchOp, Matcher};
use regex::Regex;

use super::error::EvalError;
use super::value::{cmp_asc, cmp_desc, drop_name, get, set, Labels, Sample, Value, METRIC_NAME};

/// The labels `absent` gives its answer: those of the selector's equality matchers,
/// the metric name and labels matched more than once left out.
pub fn absent_labels(matchers: &[Matcher]) -> Labels {
    let mut out: Labels = Vec::new();
    let mut twice = Vec::new();
    for m in matchers {
        if m.op != MatchOp::Equal || m.name == METRIC_NAME {
            continue;
        }
        if get(&out, &m.name).is_some() {
            twice.push(m.name.clone());
        }
        set(&mut out, &m.name, &m.value);
    }
    out.retain(|(n, _)| !twice.contains(n));
    out
}

fn vector(name: &str, v: Option<Value>) -> Result<Vec<Sample>, EvalError> {
    match v {
        Some(Value::InstantVector(s)) => Ok(s),
        other => Err(EvalError::Invalid(format!(
            "expected an instant vector argument to {name}, got {}",
            other.map(|v| v.type_name()).unwrap_or("none")
        ))),
    }
}

fn scalar(name: &str, v: Option<Value>) -> Result<f64, EvalError> {
    match v {
        Some(Value::Scalar(s)) => Ok(s),
        other => Err(EvalError::Invalid(format!(
            "expected a scalar argument to {name}, got {}",
            other.map(|v| v.type_name()).unwrap_or("none")
        ))),
    }
}

fn string(name: &str, v: Option<Value>) -> Result<String, EvalError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        other => Err(EvalError::Invalid(format!(
            "expected a string argument to {name}, got {}",
            other.map(|v| v.type_name()).unwrap_or("none")
        ))),
    }
}

/// Applies `f` to every element, dropping the metric name.
fn map(v: Vec<Sample>, t: i64, f: impl Fn(f64) -> f64) -> Value {
    Value::InstantVector(
        v.into_iter()
            .map(|s| Sample {
                labels: drop_name(&s.labels),
                t,
                v: f(s.v),
            })
            .collect(),
    )
}

fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
}

/// Evaluates instant function `name` on evaluated `args` at `t`.
pub fn call_instant(name: &str, args: Vec<Value>, t: i64) -> Result<Value, EvalError> {
    let mut args = args.into_iter();
    let mut next = || args.next();
    let out = match name {
        "abs" => map(vector(name, next())?, t, f64::abs),
        "ceil" => map(vector(name, next())?, t, f64::ceil),
        "floor" => map(vector(name, next())?, t, f64::floor),
        "exp" => map(vector(name, next())?, t, f64::exp),
        "ln" => map(vector(name, next())?, t, f64::ln),
        "log2" => map(vector(name, next())?, t, f64::log2),
        "log10" => map(vector(name, next())?, t, f64::log10),
        "sqrt" => map(vector(name, next())?, t, f64::sqrt),
        "sgn" => map(vector(name, next())?, t, |v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }),
        "round" => {
            let v = vector(name, next())?;
            let to = match next() {
                Some(a) => scalar(name, Some(a))?,
                None => 1.0,
            };
            let inv = 1.0 / to;
            map(v, t, move |x| (x * inv + 0.5).floor() / inv)
        }
        "clamp" => {
            let v = vector(name, next())?;
            let (lo, hi) = (scalar(name, next())?, scalar(name, next())?);
            if hi < lo {
                return Ok(Value::InstantVector(Vec::new()));
            }
            map(v, t, move |x| go_max(lo, go_min(hi, x)))
        }
        "clamp_min" => {
            let v = vector(name, next())?;
            let lo = scalar(name, next())?;
            map(v, t, move |x| go_max(lo, x))
        }
        "clamp_max" => {
            let v = vector(name, next())?;
            let hi = scalar(name, next())?;
            map(v, t, move |x| go_min(hi, x))
        }
        "time" => Value::Scalar(t as f64 / 1000.0),
        "vector" => Value::InstantVector(vec![Sample {
            labels: Vec::new(),
            t,
            v: scalar(name, next())?,
        }]),
        "scalar" => {
            let v = vector(name, next())?;
            Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN })
        }
        "sort" | "sort_desc" => {
            let mut v = vector(name, next())?;
            if name == "sort" {
                v.sort_by(|a, b| cmp_asc(a.v, b.v));
            } else {
                v.sort_by(|a, b| cmp_desc(a.v, b.v));
            }
            Value::InstantVector(v)
        }
        "label_replace" => {
            let v = vector(name, next())?;
            let dst = string(name, next())?;
            let repl = string(name, next())?;
            let src = string(name, next())?;
            let re = string(name, next())?;
            let re = Regex::new(&format!("^(?s:{re})$")).map_err(|e| {
                EvalError::Invalid(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
            if !valid_label_name(&dst) {
                return Err(EvalError::Invalid(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let out = v
                .into_iter()
                .map(|mut s| {
                    let value = get(&s.labels, &src).unwrap_or("").to_string();
                    if let Some(caps) = re.captures(&value) {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        set(&mut s.labels, &dst, &res);
                    }
                    s.t = t;
                    s
                })
                .collect();
            Value::InstantVector(out)
        }
        "label_join" => {
            let v = vector(name, next())?;
            let dst = string(name, next())?;
            let sep = string(name, next())?;
            let mut srcs = Vec::new();
            while let Some(a) = next() {
                srcs.push(string(name, Some(a))?);
            }
            if !valid_label_name(&dst) {
                return Err(EvalError::Invalid(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let out = v
                .into_iter()
                .map(|mut s| {
                    let joined: Vec<&str> = srcs
                        .iter()
                        .map(|n| get(&s.labels, n).unwrap_or(""))
                        .collect();
                    let joined = joined.join(&sep);
                    set(&mut s.labels, &dst, &joined);
                    s.t = t;
                    s
                })
                .collect();
            Value::InstantVector(out)
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let v = match next() {
                Some(a) => vector(name, Some(a))?,
                None => vec![Sample {
                    labels: Vec::new(),
                    t,
                    v: t as f64 / 1000.0,
                }],
            };
            let mut out = Vec::new();
            for s in v {
                if s.v.is_nan() || s.v.is_infinite() {
                    continue;
                }
                out.push(Sample {
                    labels: drop_name(&s.labels),
                    t,
                    v: date_part(name, s.v.trunc() as i64),
                });
            }
            Value::InstantVector(out)
        }
        other => return Err(EvalError::Invalid(format!("unknown function {other}"))),
    };
    Ok(out)
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// The civil date `(year, month, day)` of a day counted from 1970-01-01 (proleptic
/// Gregorian calendar).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// One part of the UTC date and time of unix time `secs`.
fn date_part(name: &str, secs: i64) -> f64 {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let v = match name {
        "day_of_month" => d,
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => (1..m).map(|mm| days_in(y, mm)).sum::<i64>() + d,
        "days_in_month" => days_in(y, m),
        "hour" => of_day / 3600,
        "minute" => of_day % 3600 / 60,
        "month" => m,
        _ => y,
    };
    v as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let t = 1_709_214_300;
        assert_eq!(civil(t / 86_400), (2024, 2, 29));
        assert_eq!(date_part("day_of_week", t), 4.0);
        assert_eq!(date_part("day_of_year", t), 60.0);
        assert_eq!(date_part("days_in_month", t), 29.0);
        assert_eq!(date_part("hour", t), 13.0);
        assert_eq!(date_part("minute", t), 45.0);
        assert_eq!(date_part("year", 0), 1970.0);
        assert_eq!(date_part("month", -1), 12.0);
        assert_eq!(date_part("days_in_month", 951_782_400), 29.0); // 2000-02-29
        assert!(!is_leap(2100) && is_leap(2000) && !is_leap(2023));
    }
}
