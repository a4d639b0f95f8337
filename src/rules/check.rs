//! The check an expression passes before it is evaluated: everything the engine does not
//! evaluate exactly as Prometheus does is refused here, by name.

use std::sync::Once;

use promql_parser::parser::function::{register_extra_functions, Function};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, VectorSelector};

use super::error::Unsupported;

/// The functions the engine evaluates.
pub const FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "resets",
    "changes",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "histogram_quantile",
    "label_replace",
    "label_join",
    "absent",
    "absent_over_time",
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "sgn",
    "time",
    "timestamp",
    "vector",
    "scalar",
    "sort",
    "sort_desc",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

/// The aggregations the engine evaluates.
pub const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

/// The binary operators the engine evaluates.
pub const OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless",
];

/// Functions Prometheus has removed that rules may still name: the parser learns them so
/// the check can refuse them by name rather than the parser failing on them.
fn register_removed_functions() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let m = ValueType::Matrix;
        let s = ValueType::Scalar;
        // An error means the parser knows the name already; the check refuses it either way.
        let _ = register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![m, s, s],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

/// Parses a PromQL expression with `promql-parser`; the removed `holt_winters` parses,
/// to be refused by [`check`].
pub fn parse(input: &str) -> Result<Expr, String> {
    register_removed_functions();
    promql_parser::parser::parse(input)
}

/// Refuses the first construct in `expr` the engine does not evaluate.
pub fn check(expr: &Expr) -> Result<(), Unsupported> {
    match expr {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if !AGGREGATIONS.contains(&op.as_str()) {
                return Err(Unsupported(format!("aggregation `{op}`")));
            }
            if let Some(p) = &a.param {
                check(p)?;
            }
            check(&a.expr)
        }
        Expr::Unary(u) => check(&u.expr),
        Expr::Binary(b) => {
            let op = b.op.to_string();
            if !OPERATORS.contains(&op.as_str()) {
                return Err(Unsupported(format!("operator `{op}`")));
            }
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(Unsupported("the `fill` modifier".to_string()));
                }
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
        Expr::Paren(p) => check(&p.expr),
        Expr::Subquery(s) => {
            if s.at.is_some() {
                return Err(Unsupported("the `@` modifier".to_string()));
            }
            check(&s.expr)
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs),
        Expr::Call(c) => {
            let name = c.func.name;
            if !FUNCTIONS.contains(&name) {
                return Err(Unsupported(format!("function `{name}`")));
            }
            c.args.args.iter().try_for_each(|a| check(a))
        }
        Expr::Extension(_) => Err(Unsupported("an extension expression".to_string())),
    }
}

fn check_selector(vs: &VectorSelector) -> Result<(), Unsupported> {
    if vs.at.is_some() {
        return Err(Unsupported("the `@` modifier".to_string()));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Unsupported("`or` in label matchers".to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(q: &str) -> String {
        check(&parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn supported_constructs_pass() {
        for q in [
            "sum by (a) (rate(x[5m])) / on(a) group_left(b) y",
            "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
            "max_over_time(deriv(x[5m])[30m:1m] offset 1m)",
            "topk(2, x) or bottomk(1, -x)",
            "label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\")",
            "count_values(\"v\", x) > bool 1",
        ] {
            check(&parse(q).unwrap()).unwrap();
        }
    }

    #[test]
    fn unsupported_constructs_are_refused_by_name() {
        assert_eq!(
            refusal("holt_winters(x[5m], 0.5, 0.5)"),
            "function `holt_winters` is not supported"
        );
        assert_eq!(
            refusal("sum(rate(x[5m] @ 100))"),
            "the `@` modifier is not supported"
        );
        assert_eq!(
            refusal("x[5m:1m] @ end()"),
            "the `@` modifier is not supported"
        );
        assert_eq!(refusal("x atan2 y"), "operator `atan2` is not supported");
        assert_eq!(
            refusal("limitk(2, x)"),
            "aggregation `limitk` is not supported"
        );
        assert_eq!(
            refusal("double_exponential_smoothing(x[5m], 0.5, 0.5)"),
            "function `double_exponential_smoothing` is not supported"
        );
        assert_eq!(
            refusal("histogram_count(x)"),
            "function `histogram_count` is not supported"
        );
        assert_eq!(
            refusal("quantile_over_time(0.5, x[5m]) * mad_over_time(x[5m])"),
            "function `mad_over_time` is not supported"
        );
    }
}
