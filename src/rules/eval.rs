//! The evaluator: walks a checked expression at one time (or at every step of a range)
//! over a [`Store`], with Prometheus's lookback and staleness.

use std::collections::BTreeMap;
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, Offset, VectorSelector};

use super::aggregate::aggregate;
use super::binary::binary;
use super::check::check;
use super::error::EvalError;
use super::functions::{absent_labels, call_instant};
use super::histogram::histogram_quantile;
use super::range_fns::{call_range, RangeArgs};
use super::store::Store;
use super::value::{drop_name, is_stale, Sample, Series, Value, METRIC_NAME};

/// Prometheus's default lookback delta: 5 minutes.
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// The step of a subquery that names none (Prometheus uses the evaluation interval).
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;

/// Evaluates PromQL expressions over a store.
#[derive(Debug, Clone, Copy)]
pub struct Engine<'a> {
    store: &'a Store,
    /// How far back an instant selector looks for a sample.
    pub lookback_ms: i64,
    /// The step of subqueries written without one.
    pub subquery_step_ms: i64,
}

fn millis(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
    }
}

/// The matchers of a selector, its metric name included.
fn matchers(vs: &VectorSelector) -> Vec<Matcher> {
    let mut ms = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        ms.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
    }
    ms
}

/// The selector an expression is, looking through parentheses.
fn as_selector(e: &Expr) -> Option<&VectorSelector> {
    match e {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::Paren(p) => as_selector(&p.expr),
        _ => None,
    }
}

/// Fails on two elements with the same label set, as Prometheus does for a result.
fn unique(samples: Vec<Sample>) -> Result<Vec<Sample>, EvalError> {
    let mut seen = std::collections::HashSet::new();
    for s in &samples {
        if !seen.insert(&s.labels) {
            return Err(EvalError::DuplicateLabelset);
        }
    }
    Ok(samples)
}

impl<'a> Engine<'a> {
    /// An engine over `store` with Prometheus's defaults.
    pub fn new(store: &'a Store) -> Self {
        Engine {
            store,
            lookback_ms: LOOKBACK_MS,
            subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS,
        }
    }

    /// Checks `expr` and evaluates it at `t_ms`.
    pub fn instant(&self, expr: &Expr, t_ms: i64) -> Result<Value, EvalError> {
        check(expr)?;
        self.eval(expr, t_ms)
    }

    /// Checks `expr` and evaluates it at every step from `start_ms` to `end_ms`; the
    /// result has one series per label set, a scalar's under the empty label set.
    pub fn range(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Series>, EvalError> {
        check(expr)?;
        self.eval_range(expr, start_ms, end_ms, step_ms)
    }

    fn eval_range(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Series>, EvalError> {
        if step_ms <= 0 {
            return Err(EvalError::Invalid("the step must be positive".into()));
        }
        let mut out: BTreeMap<_, Vec<(i64, f64)>> = BTreeMap::new();
        let mut t = start_ms;
        while t <= end_ms {
            match self.eval(expr, t)? {
                Value::Scalar(v) => out.entry(Vec::new()).or_default().push((t, v)),
                Value::InstantVector(samples) => {
                    for s in samples {
                        out.entry(s.labels).or_default().push((t, s.v));
                    }
                }
                other => {
                    return Err(EvalError::Invalid(format!(
                        "range evaluation of a {} is not possible",
                        other.type_name()
                    )))
                }
            }
            t += step_ms;
        }
        Ok(out
            .into_iter()
            .map(|(labels, points)| Series { labels, points })
            .collect())
    }

    fn eval(&self, expr: &Expr, t: i64) -> Result<Value, EvalError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::InstantVector(samples) => Ok(Value::InstantVector(unique(
                    samples
                        .into_iter()
                        .map(|s| Sample {
                            labels: drop_name(&s.labels),
                            t,
                            v: -s.v,
                        })
                        .collect(),
                )?)),
                other => Err(EvalError::Invalid(format!(
                    "unary minus of a {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Value::InstantVector(self.select_instant(vs, t))),
            Expr::MatrixSelector(ms) => {
                let end = t - offset_ms(&ms.vs.offset);
                Ok(Value::RangeVector(self.select_range(
                    &ms.vs,
                    end - millis(&ms.range),
                    end,
                )))
            }
            Expr::Subquery(sq) => {
                let (series, _, _) = self.subquery(sq, t)?;
                Ok(Value::RangeVector(series))
            }
            Expr::Aggregate(a) => {
                let input = match self.eval(&a.expr, t)? {
                    Value::InstantVector(v) => v,
                    other => {
                        return Err(EvalError::Invalid(format!(
                            "aggregation over a {}",
                            other.type_name()
                        )))
                    }
                };
                let param = match &a.param {
                    Some(p) => Some(self.eval(p, t)?),
                    None => None,
                };
                let out = aggregate(&a.op.to_string(), input, param, a.modifier.as_ref(), t)?;
                Ok(Value::InstantVector(out))
            }
            Expr::Binary(b) => {
                let lhs = self.eval(&b.lhs, t)?;
                let rhs = self.eval(&b.rhs, t)?;
                match binary(&b.op.to_string(), lhs, rhs, b.modifier.as_ref(), t)? {
                    Value::InstantVector(v) => Ok(Value::InstantVector(unique(v)?)),
                    other => Ok(other),
                }
            }
            Expr::Call(c) => self.call(c.func.name, &c.args.args, t),
            Expr::Extension(_) => Err(EvalError::Invalid("extension expressions".into())),
        }
    }

    fn call(&self, name: &str, args: &[Box<Expr>], t: i64) -> Result<Value, EvalError> {
        // A range vector argument: the range functions.
        if let Some(pos) = args
            .iter()
            .position(|a| matches!(a.as_ref(), Expr::MatrixSelector(_) | Expr::Subquery(_)))
        {
            let (series, range_ms, end_ms) = match args[pos].as_ref() {
                Expr::MatrixSelector(ms) => {
                    let end = t - offset_ms(&ms.vs.offset);
                    let range = millis(&ms.range);
                    (self.select_range(&ms.vs, end - range, end), range, end)
                }
                Expr::Subquery(sq) => self.subquery(sq, t)?,
                _ => unreachable!("position matched a range vector"),
            };
            let mut scalars = Vec::new();
            for (i, a) in args.iter().enumerate() {
                if i != pos {
                    match self.eval(a, t)? {
                        Value::Scalar(v) => scalars.push(v),
                        other => {
                            return Err(EvalError::Invalid(format!(
                                "expected a scalar argument to {name}, got a {}",
                                other.type_name()
                            )))
                        }
                    }
                }
            }
            if name == "absent_over_time" {
                if series.iter().any(|s| !s.points.is_empty()) {
                    return Ok(Value::InstantVector(Vec::new()));
                }
                let labels = match args[pos].as_ref() {
                    Expr::MatrixSelector(ms) => absent_labels(&matchers(&ms.vs)),
                    _ => Vec::new(),
                };
                return Ok(Value::InstantVector(vec![Sample { labels, t, v: 1.0 }]));
            }
            let ra = RangeArgs {
                t,
                range_ms,
                end_ms,
                scalars,
            };
            return Ok(Value::InstantVector(unique(call_range(
                name, series, &ra,
            )?)?));
        }
        match name {
            "absent" => {
                let present = match self.eval(&args[0], t)? {
                    Value::InstantVector(v) => !v.is_empty(),
                    _ => true,
                };
                if present {
                    return Ok(Value::InstantVector(Vec::new()));
                }
                let labels = as_selector(&args[0])
                    .map(|vs| absent_labels(&matchers(vs)))
                    .unwrap_or_default();
                return Ok(Value::InstantVector(vec![Sample { labels, t, v: 1.0 }]));
            }
            "timestamp" => {
                // A selector's samples keep their own time; anything else is at `t`.
                let samples = match self.eval(&args[0], t)? {
                    Value::InstantVector(v) => v,
                    other => {
                        return Err(EvalError::Invalid(format!(
                            "timestamp of a {}",
                            other.type_name()
                        )))
                    }
                };
                let direct = as_selector(&args[0]).is_some();
                let out = samples
                    .into_iter()
                    .map(|s| Sample {
                        labels: drop_name(&s.labels),
                        t,
                        v: if direct { s.t } else { t } as f64 / 1000.0,
                    })
                    .collect();
                return Ok(Value::InstantVector(unique(out)?));
            }
            _ => {}
        }
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(self.eval(a, t)?);
        }
        let out = if name == "histogram_quantile" {
            histogram_quantile(values, t)?
        } else {
            call_instant(name, values, t)?
        };
        match out {
            Value::InstantVector(v) => Ok(Value::InstantVector(unique(v)?)),
            other => Ok(other),
        }
    }

    /// An instant selector at `t`: each series' latest sample in the lookback window,
    /// unless that sample is a stale marker.
    fn select_instant(&self, vs: &VectorSelector, t: i64) -> Vec<Sample> {
        let end = t - offset_ms(&vs.offset);
        self.store
            .select(&matchers(vs), end - self.lookback_ms, end)
            .into_iter()
            .filter_map(|s| {
                let &(st, v) = s.points.last()?;
                (!is_stale(v)).then_some(Sample {
                    labels: s.labels,
                    t: st,
                    v,
                })
            })
            .collect()
    }

    /// A range selector: the samples in `(start, end]`, stale markers left out.
    fn select_range(&self, vs: &VectorSelector, start: i64, end: i64) -> Vec<Series> {
        self.store
            .select(&matchers(vs), start, end)
            .into_iter()
            .filter_map(|mut s| {
                s.points.retain(|&(_, v)| !is_stale(v));
                (!s.points.is_empty()).then_some(s)
            })
            .collect()
    }

    /// A subquery at `t`: its series, its range and the end of its window.
    fn subquery(
        &self,
        sq: &promql_parser::parser::SubqueryExpr,
        t: i64,
    ) -> Result<(Vec<Series>, i64, i64), EvalError> {
        let range = millis(&sq.range);
        let step = match &sq.step {
            Some(d) if !d.is_zero() => millis(d),
            _ => self.subquery_step_ms,
        };
        let end = t - offset_ms(&sq.offset);
        let window_start = end - range;
        // The first step-aligned time after the window's start.
        let mut start = window_start.div_euclid(step) * step;
        if start <= window_start {
            start += step;
        }
        let series = self.eval_range(&sq.expr, start, end, step)?;
        Ok((series, range, end))
    }
}
