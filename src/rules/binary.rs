//! Binary operators: arithmetic, comparisons (filtering or `bool`) and set operators,
//! between scalars and vectors, with Prometheus's vector matching.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinModifier, LabelModifier, VectorMatchCardinality};

use super::error::EvalError;
use super::value::{drop_name, format_labels, get, set, signature, Labels, Sample, Value};

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Arithmetic `l op r`, as Go's float operations and `math.Mod`/`math.Pow` give it.
fn arith(op: &str, l: f64, r: f64) -> f64 {
    match op {
        "+" => l + r,
        "-" => l - r,
        "*" => l * r,
        "/" => l / r,
        "%" => l % r,
        "^" => l.powf(r),
        _ => f64::NAN,
    }
}

fn compare(op: &str, l: f64, r: f64) -> bool {
    match op {
        "==" => l == r,
        "!=" => l != r,
        ">" => l > r,
        "<" => l < r,
        ">=" => l >= r,
        "<=" => l <= r,
        _ => false,
    }
}

/// The value of one element pair, or `None` when a comparison filters it out.
fn element(op: &str, l: f64, r: f64, return_bool: bool) -> Option<f64> {
    if is_comparison(op) {
        let ok = compare(op, l, r);
        if return_bool {
            Some(if ok { 1.0 } else { 0.0 })
        } else {
            ok.then_some(l)
        }
    } else {
        Some(arith(op, l, r))
    }
}

/// Evaluates `lhs op rhs`.
pub fn binary(
    op: &str,
    lhs: Value,
    rhs: Value,
    modifier: Option<&BinModifier>,
    t: i64,
) -> Result<Value, EvalError> {
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let v = if is_comparison(op) {
                if compare(op, l, r) {
                    1.0
                } else {
                    0.0
                }
            } else {
                arith(op, l, r)
            };
            Ok(Value::Scalar(v))
        }
        (Value::InstantVector(v), Value::Scalar(s)) => Ok(Value::InstantVector(vector_scalar(
            op,
            v,
            s,
            false,
            return_bool,
            t,
        ))),
        (Value::Scalar(s), Value::InstantVector(v)) => Ok(Value::InstantVector(vector_scalar(
            op,
            v,
            s,
            true,
            return_bool,
            t,
        ))),
        (Value::InstantVector(l), Value::InstantVector(r)) => {
            let (on, names) = match modifier.and_then(|m| m.matching.as_ref()) {
                Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
                Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
                None => (false, Vec::new()),
            };
            let out = match op {
                "and" | "or" | "unless" => set_op(op, l, r, on, &names),
                _ => {
                    let card = modifier
                        .map(|m| m.card.clone())
                        .unwrap_or(VectorMatchCardinality::OneToOne);
                    vector_vector(op, l, r, &card, on, &names, return_bool, t)?
                }
            };
            Ok(Value::InstantVector(out))
        }
        (l, r) => Err(EvalError::Invalid(format!(
            "binary operator {op} between a {} and a {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn vector_scalar(
    op: &str,
    v: Vec<Sample>,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
    t: i64,
) -> Vec<Sample> {
    let drop = return_bool || !is_comparison(op);
    v.into_iter()
        .filter_map(|smp| {
            let (l, r) = if scalar_left { (s, smp.v) } else { (smp.v, s) };
            let mut value = element(op, l, r, return_bool)?;
            // A filtering comparison keeps the vector's value, whichever side it is on.
            if is_comparison(op) && !return_bool {
                value = smp.v;
            }
            let labels = if drop {
                drop_name(&smp.labels)
            } else {
                smp.labels
            };
            Some(Sample {
                labels,
                t,
                v: value,
            })
        })
        .collect()
}

fn set_op(op: &str, l: Vec<Sample>, r: Vec<Sample>, on: bool, names: &[String]) -> Vec<Sample> {
    let sig = |s: &Sample| signature(&s.labels, on, names);
    match op {
        "and" => {
            let right: HashSet<Labels> = r.iter().map(sig).collect();
            l.into_iter().filter(|s| right.contains(&sig(s))).collect()
        }
        "or" => {
            let left: HashSet<Labels> = l.iter().map(sig).collect();
            let mut out = l;
            out.extend(r.into_iter().filter(|s| !left.contains(&sig(s))));
            out
        }
        _ => {
            let right: HashSet<Labels> = r.iter().map(sig).collect();
            l.into_iter().filter(|s| !right.contains(&sig(s))).collect()
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    card: &VectorMatchCardinality,
    on: bool,
    names: &[String],
    return_bool: bool,
    t: i64,
) -> Result<Vec<Sample>, EvalError> {
    // The "many" side is always walked; the "one" side is looked up by signature.
    let (one_to_many, include) = match card {
        VectorMatchCardinality::OneToMany(ls) => (true, ls.labels.clone()),
        VectorMatchCardinality::ManyToOne(ls) => (false, ls.labels.clone()),
        _ => (false, Vec::new()),
    };
    let grouped = matches!(
        card,
        VectorMatchCardinality::OneToMany(_) | VectorMatchCardinality::ManyToOne(_)
    );
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, &Sample> = HashMap::new();
    for s in &one {
        let sig = signature(&s.labels, on, names);
        if let Some(prev) = one_by_sig.insert(sig.clone(), s) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(EvalError::Matching(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the \
                 operation: [{}, {}];many-to-many matching not allowed: matching labels must \
                 be unique on one side",
                format_labels(&sig),
                format_labels(&prev.labels),
                format_labels(&s.labels)
            )));
        }
    }
    let drop = return_bool || !is_comparison(op);
    let mut matched_one: HashSet<Labels> = HashSet::new();
    let mut matched_many: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for m in &many {
        let sig = signature(&m.labels, on, names);
        let Some(o) = one_by_sig.get(&sig) else {
            continue;
        };
        let (l, r) = if one_to_many { (o.v, m.v) } else { (m.v, o.v) };
        let value = element(op, l, r, return_bool);
        let mut labels = if drop {
            drop_name(&m.labels)
        } else {
            m.labels.clone()
        };
        if !grouped {
            labels = if on {
                signature(&labels, true, names)
            } else {
                labels
                    .into_iter()
                    .filter(|(n, _)| !names.contains(n))
                    .collect()
            };
            if !matched_one.insert(sig) {
                return Err(EvalError::Matching(
                    "multiple matches for labels: many-to-one matching must be explicit \
                     (group_left/group_right)"
                        .into(),
                ));
            }
        } else {
            for name in &include {
                set(&mut labels, name, get(&o.labels, name).unwrap_or(""));
            }
            if !matched_many.entry(sig).or_default().insert(labels.clone()) {
                return Err(EvalError::Matching(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
        }
        if let Some(v) = value {
            out.push(Sample { labels, t, v });
        }
    }
    Ok(out)
}
