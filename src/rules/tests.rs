//! Evaluation tests in the style of Prometheus's promqltest files: series loaded at a
//! step, an expression evaluated at a time, the exact output compared.

use promql_parser::parser::Expr;

use super::check::parse;

use super::error::{EvalError, StoreError};
use super::eval::Engine;
use super::store::Store;
use super::value::{format_labels, Labels, Value, METRIC_NAME};

/// Loads `lines` (`selector values...`) at `step_s`: value `i` is at `i * step_s`.
/// Values: numbers (`Inf`, `NaN` too), `_` (none), `stale`, `a+bxN`, `a-bxN`, `_xN`.
fn load(step_s: i64, lines: &str) -> Store {
    let mut store = Store::new(1000);
    for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let split = line.rfind('}').map(|i| i + 1).unwrap_or_else(|| {
            line.find(char::is_whitespace)
                .expect("values after the series")
        });
        let (sel, vals) = line.split_at(split);
        let labels = series_labels(sel.trim());
        let mut i = 0i64;
        for tok in vals.split_whitespace() {
            let mut push = |v: Option<f64>, stale: bool| {
                let t = i * step_s * 1000;
                if stale {
                    store.mark_stale(labels.clone(), t).unwrap();
                } else if let Some(v) = v {
                    store.append(labels.clone(), t, v).unwrap();
                }
                i += 1;
            };
            if tok == "_" {
                push(None, false);
            } else if tok == "stale" {
                push(None, true);
            } else if let Some((start, n)) = tok.split_once('x') {
                let n: i64 = n.parse().unwrap();
                if start == "_" {
                    (0..n).for_each(|_| push(None, false));
                    continue;
                }
                let pos = start[1..].find(['+', '-']).map(|p| p + 1);
                let (a, b) = match pos {
                    Some(p) => {
                        let b: f64 = start[p + 1..].parse().unwrap();
                        let b = if &start[p..p + 1] == "-" { -b } else { b };
                        (start[..p].parse::<f64>().unwrap(), b)
                    }
                    None => (start.parse::<f64>().unwrap(), 0.0),
                };
                for k in 0..=n {
                    push(Some(a + b * k as f64), false);
                }
            } else {
                push(Some(tok.parse().unwrap()), false);
            }
        }
    }
    store
}

fn series_labels(sel: &str) -> Labels {
    let Expr::VectorSelector(vs) = parse(sel).unwrap() else {
        panic!("not a selector: {sel}");
    };
    let mut labels: Labels = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = vs.name {
        labels.push((METRIC_NAME.to_string(), n));
    }
    labels
}

fn run(store: &Store, q: &str, t_s: f64) -> Result<Value, EvalError> {
    Engine::new(store).instant(&parse(q).unwrap(), (t_s * 1000.0) as i64)
}

/// The result as `(labels, value)` rows, in the engine's order.
fn rows(store: &Store, q: &str, t_s: f64) -> Vec<(String, f64)> {
    match run(store, q, t_s).unwrap_or_else(|e| panic!("{q}: {e}")) {
        Value::InstantVector(v) => v.iter().map(|s| (format_labels(&s.labels), s.v)).collect(),
        Value::Scalar(v) => vec![("scalar".to_string(), v)],
        other => panic!("{q}: unexpected {other:?}"),
    }
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b).abs() <= 1e-9 * a.abs().max(b.abs()))
}

/// Evaluates `q` at `t_s` and compares with `want`, in any order.
fn eval(store: &Store, q: &str, t_s: f64, want: &[(&str, f64)]) {
    let mut got = rows(store, q, t_s);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, f64)> = want.iter().map(|(l, v)| (l.to_string(), *v)).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let ok = got.len() == want.len()
        && got
            .iter()
            .zip(&want)
            .all(|(g, w)| g.0 == w.0 && same(g.1, w.1));
    assert!(ok, "{q} at {t_s}s:\n got  {got:?}\n want {want:?}");
}

/// Evaluates `q` at `t_s` and compares with `want` in order.
fn eval_ordered(store: &Store, q: &str, t_s: f64, want: &[(&str, f64)]) {
    let got = rows(store, q, t_s);
    let ok = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| g.0 == w.0 && same(g.1, w.1));
    assert!(ok, "{q} at {t_s}s:\n got  {got:?}\n want {want:?}");
}

fn eval_err(store: &Store, q: &str, t_s: f64) -> String {
    run(store, q, t_s).unwrap_err().to_string()
}

const M: f64 = 60.0;

fn http_requests() -> Store {
    load(
        300,
        r#"
        http_requests{job="api-server", instance="0", group="production"} 0+10x10
        http_requests{job="api-server", instance="1", group="production"} 0+20x10
        http_requests{job="api-server", instance="0", group="canary"} 0+30x10
        http_requests{job="api-server", instance="1", group="canary"} 0+40x10
        http_requests{job="app-server", instance="0", group="production"} 0+50x10
        http_requests{job="app-server", instance="1", group="production"} 0+60x10
        http_requests{job="app-server", instance="0", group="canary"} 0+70x10
        http_requests{job="app-server", instance="1", group="canary"} 0+80x10
        "#,
    )
}

#[test]
fn aggregations_by_and_without() {
    let s = http_requests();
    let t = 50.0 * M;
    eval(
        &s,
        "sum by (job) (http_requests)",
        t,
        &[
            ("{job=\"api-server\"}", 1000.0),
            ("{job=\"app-server\"}", 2600.0),
        ],
    );
    eval(
        &s,
        "avg by (job) (http_requests)",
        t,
        &[
            ("{job=\"api-server\"}", 250.0),
            ("{job=\"app-server\"}", 650.0),
        ],
    );
    eval(
        &s,
        "count by (job) (http_requests)",
        t,
        &[("{job=\"api-server\"}", 4.0), ("{job=\"app-server\"}", 4.0)],
    );
    eval(
        &s,
        "min by (job) (http_requests)",
        t,
        &[
            ("{job=\"api-server\"}", 100.0),
            ("{job=\"app-server\"}", 500.0),
        ],
    );
    eval(
        &s,
        "max by (job) (http_requests)",
        t,
        &[
            ("{job=\"api-server\"}", 400.0),
            ("{job=\"app-server\"}", 800.0),
        ],
    );
    eval(
        &s,
        "group by (job) (http_requests)",
        t,
        &[("{job=\"api-server\"}", 1.0), ("{job=\"app-server\"}", 1.0)],
    );
    eval(
        &s,
        "stdvar by (job) (http_requests)",
        t,
        &[
            ("{job=\"api-server\"}", 12500.0),
            ("{job=\"app-server\"}", 12500.0),
        ],
    );
    eval(
        &s,
        "stddev by (job) (http_requests)",
        t,
        &[
            ("{job=\"api-server\"}", 111.80339887498948),
            ("{job=\"app-server\"}", 111.80339887498948),
        ],
    );
    eval(&s, "sum(http_requests)", t, &[("{}", 3600.0)]);
    eval(&s, "quantile(0.5, http_requests)", t, &[("{}", 450.0)]);
    eval(
        &s,
        "quantile by (job) (0, http_requests)",
        t,
        &[
            ("{job=\"api-server\"}", 100.0),
            ("{job=\"app-server\"}", 500.0),
        ],
    );
    eval(
        &s,
        "quantile(2, http_requests)",
        t,
        &[("{}", f64::INFINITY)],
    );
    eval(
        &s,
        "sum without (instance) (http_requests{job=\"api-server\"})",
        t,
        &[
            ("{group=\"canary\", job=\"api-server\"}", 700.0),
            ("{group=\"production\", job=\"api-server\"}", 300.0),
        ],
    );
    // `by` may keep the metric name; `without` always drops it.
    eval(
        &s,
        "sum by (__name__) (http_requests)",
        t,
        &[("http_requests{}", 3600.0)],
    );
}

#[test]
fn topk_bottomk_and_count_values() {
    let s = http_requests();
    let t = 50.0 * M;
    eval_ordered(
        &s,
        "topk(2, http_requests)",
        t,
        &[
            (
                "http_requests{group=\"canary\", instance=\"1\", job=\"app-server\"}",
                800.0,
            ),
            (
                "http_requests{group=\"canary\", instance=\"0\", job=\"app-server\"}",
                700.0,
            ),
        ],
    );
    eval(
        &s,
        "bottomk by (job) (1, http_requests)",
        t,
        &[
            (
                "http_requests{group=\"production\", instance=\"0\", job=\"api-server\"}",
                100.0,
            ),
            (
                "http_requests{group=\"production\", instance=\"0\", job=\"app-server\"}",
                500.0,
            ),
        ],
    );
    eval(&s, "topk(0, http_requests)", t, &[]);
    let c = load(
        60,
        "v{i=\"a\"} 1\nv{i=\"b\"} 1\nv{i=\"c\"} 2.5\nv{i=\"d\"} NaN",
    );
    eval(
        &c,
        "count_values(\"val\", v)",
        0.0,
        &[
            ("{val=\"1\"}", 2.0),
            ("{val=\"2.5\"}", 1.0),
            ("{val=\"NaN\"}", 1.0),
        ],
    );
    eval(
        &c,
        "count_values by (i) (\"val\", v{i=\"a\"})",
        0.0,
        &[("{i=\"a\", val=\"1\"}", 1.0)],
    );
    // NaN: min and max skip it unless it is all there is; sum takes it.
    eval(&c, "max(v)", 0.0, &[("{}", 2.5)]);
    eval(&c, "min(v)", 0.0, &[("{}", 1.0)]);
    eval(&c, "sum(v)", 0.0, &[("{}", f64::NAN)]);
    eval(&c, "max(v{i=\"d\"})", 0.0, &[("{}", f64::NAN)]);
    eval(&c, "topk(1, v)", 0.0, &[("v{i=\"c\"}", 2.5)]);
    eval(&c, "bottomk(1, v)", 0.0, &[("v{i=\"a\"}", 1.0)]);
}

#[test]
fn selectors_matchers_lookback_and_staleness() {
    let s = load(
        60,
        r#"
        m{a="x", b="1"} 1 2 stale
        m{a="y", b="22"} 5 _ _ _ _ _ _
        other 3
        "#,
    );
    eval(&s, "m{a=\"x\"}", 60.0, &[("m{a=\"x\", b=\"1\"}", 2.0)]);
    // Gone at the stale marker, and after it.
    eval(&s, "m{a=\"x\"}", 2.0 * M, &[]);
    eval(&s, "m{a=\"x\"}", 3.0 * M, &[]);
    // The stale marker is no sample for a range selector.
    eval(
        &s,
        "count_over_time(m{a=\"x\"}[5m])",
        3.0 * M,
        &[("{a=\"x\", b=\"1\"}", 2.0)],
    );
    // 5m lookback, its start excluded.
    eval(
        &s,
        "m{a=\"y\"}",
        4.0 * M + 59.0,
        &[("m{a=\"y\", b=\"22\"}", 5.0)],
    );
    eval(&s, "m{a=\"y\"}", 5.0 * M, &[]);
    // Every matcher; regexes fully anchored; a missing label matches "".
    eval(&s, "m{b=~\"2\"}", 0.0, &[]);
    eval(&s, "m{b=~\"2+\"}", 0.0, &[("m{a=\"y\", b=\"22\"}", 5.0)]);
    eval(
        &s,
        "m{b!~\"2\"}",
        0.0,
        &[("m{a=\"x\", b=\"1\"}", 1.0), ("m{a=\"y\", b=\"22\"}", 5.0)],
    );
    eval(&s, "m{a!=\"x\"}", 0.0, &[("m{a=\"y\", b=\"22\"}", 5.0)]);
    eval(
        &s,
        "{__name__=~\"m|other\", a=\"\"}",
        0.0,
        &[("other{}", 3.0)],
    );
    eval(&s, "{__name__=~\"o.*\"}", 0.0, &[("other{}", 3.0)]);
    // Offset.
    eval(
        &s,
        "m{a=\"x\"} offset 1m",
        2.0 * M,
        &[("m{a=\"x\", b=\"1\"}", 2.0)],
    );
    eval(
        &s,
        "m{a=\"x\"} offset -1m",
        0.0,
        &[("m{a=\"x\", b=\"1\"}", 2.0)],
    );
}

#[test]
fn staleness_through_the_store() {
    let mut s = Store::new(10);
    let l: Labels = vec![(METRIC_NAME.into(), "up".into())];
    s.append(l.clone(), 0, 1.0).unwrap();
    s.append(l.clone(), 15_000, 1.0).unwrap();
    eval(&s, "up", 20.0, &[("up{}", 1.0)]);
    s.mark_stale(l.clone(), 30_000).unwrap();
    eval(&s, "up", 30.0, &[]);
    eval(&s, "up", 100.0, &[]);
    eval(&s, "up offset 1m", 85.0, &[("up{}", 1.0)]);
    s.append(l, 120_000, 0.0).unwrap();
    eval(&s, "up", 121.0, &[("up{}", 0.0)]);
    let mut full = Store::new(1);
    full.append(vec![(METRIC_NAME.into(), "a".into())], 0, 1.0)
        .unwrap();
    assert_eq!(
        full.append(vec![(METRIC_NAME.into(), "b".into())], 0, 1.0),
        Err(StoreError::TooManySeries { max: 1 })
    );
}

#[test]
fn rate_increase_delta_extrapolation() {
    let s = load(
        60,
        r#"
        counter{a="x"} 0+10x10
        reset 0 10 20 5 15
        gauge 5 3 8
        "#,
    );
    eval(
        &s,
        "increase(counter[5m])",
        10.0 * M,
        &[("{a=\"x\"}", 50.0)],
    );
    eval(
        &s,
        "rate(counter[5m])",
        10.0 * M,
        &[("{a=\"x\"}", 50.0 / 300.0)],
    );
    eval(
        &s,
        "rate(counter[5m] offset 5m)",
        10.0 * M,
        &[("{a=\"x\"}", 50.0 / 300.0)],
    );
    // At the series' start, extrapolation stops at the counter's zero.
    eval(&s, "increase(counter[5m])", 2.0 * M, &[("{a=\"x\"}", 20.0)]);
    // The series ends in the window: extrapolated by half an interval past its end.
    eval(
        &s,
        "increase(counter[5m])",
        12.0 * M,
        &[("{a=\"x\"}", 20.0 * (120.0 + 60.0 + 30.0) / 120.0)],
    );
    // A reset is added back.
    eval(&s, "increase(reset[5m])", 4.0 * M, &[("{}", 35.0)]);
    eval(&s, "delta(reset[5m])", 4.0 * M, &[("{}", 18.75)]);
    eval(&s, "irate(reset[5m])", 4.0 * M, &[("{}", 10.0 / 60.0)]);
    eval(&s, "irate(reset[5m])", 3.0 * M, &[("{}", 5.0 / 60.0)]);
    eval(&s, "idelta(reset[5m])", 3.0 * M, &[("{}", -15.0)]);
    eval(&s, "resets(reset[5m])", 4.0 * M, &[("{}", 1.0)]);
    eval(&s, "changes(reset[5m])", 4.0 * M, &[("{}", 4.0)]);
    eval(&s, "changes(gauge[5m])", 0.0, &[("{}", 0.0)]);
    // One sample is not enough for a rate.
    eval(&s, "rate(counter[1m])", 5.0 * M, &[]);
    eval(
        &s,
        "delta(gauge[3m])",
        2.0 * M,
        &[("{}", 3.0 * 180.0 / 120.0)],
    );
}

#[test]
fn deriv_and_predict_linear() {
    let s = load(60, "g 0+10x10\nflat 3 3 3");
    eval(&s, "deriv(g[5m])", 10.0 * M, &[("{}", 10.0 / 60.0)]);
    eval(&s, "predict_linear(g[5m], 60)", 10.0 * M, &[("{}", 110.0)]);
    eval(&s, "predict_linear(g[5m], 0)", 10.5 * M, &[("{}", 105.0)]);
    eval(&s, "deriv(flat[5m])", 2.0 * M, &[("{}", 0.0)]);
    eval(&s, "predict_linear(flat[5m], 600)", 2.0 * M, &[("{}", 3.0)]);
}

#[test]
fn over_time_functions() {
    let s = load(60, "gauge{a=\"b\"} 1 2 3 4 5");
    let t = 4.0 * M;
    let l = "{a=\"b\"}";
    eval(&s, "avg_over_time(gauge[5m])", t, &[(l, 3.0)]);
    eval(&s, "min_over_time(gauge[5m])", t, &[(l, 1.0)]);
    eval(&s, "max_over_time(gauge[5m])", t, &[(l, 5.0)]);
    eval(&s, "sum_over_time(gauge[5m])", t, &[(l, 15.0)]);
    eval(&s, "count_over_time(gauge[5m])", t, &[(l, 5.0)]);
    eval(&s, "quantile_over_time(0.5, gauge[5m])", t, &[(l, 3.0)]);
    eval(&s, "quantile_over_time(0.75, gauge[5m])", t, &[(l, 4.0)]);
    eval(
        &s,
        "stddev_over_time(gauge[5m])",
        t,
        &[(l, std::f64::consts::SQRT_2)],
    );
    eval(&s, "stdvar_over_time(gauge[5m])", t, &[(l, 2.0)]);
    eval(
        &s,
        "last_over_time(gauge[5m])",
        t,
        &[("gauge{a=\"b\"}", 5.0)],
    );
    eval(&s, "present_over_time(gauge[5m])", t, &[(l, 1.0)]);
    eval(&s, "avg_over_time(gauge[2m])", t, &[(l, 4.5)]);
    eval(&s, "absent_over_time(gauge[5m])", t, &[]);
    eval(
        &s,
        "absent_over_time(nope{job=\"x\", a=~\"y\"}[5m])",
        t,
        &[("{job=\"x\"}", 1.0)],
    );
    eval(&s, "absent_over_time(gauge[1m])", 10.0 * M, &[("{}", 1.0)]);
}

fn operands() -> Store {
    load(
        60,
        r#"
        a{x="1", y="a"} 10
        a{x="2", y="b"} 20
        b{x="1", z="p"} 2
        b{x="2", z="q"} 4
        c{x="1", i="0"} 1
        c{x="1", i="1"} 2
        "#,
    )
}

#[test]
fn arithmetic_and_comparisons() {
    let s = operands();
    eval(&s, "2 ^ 3 - 5 % 3 * 2", 0.0, &[("scalar", 4.0)]);
    eval(&s, "1 / 0", 0.0, &[("scalar", f64::INFINITY)]);
    eval(&s, "0 / 0", 0.0, &[("scalar", f64::NAN)]);
    eval(&s, "-5 % 3", 0.0, &[("scalar", -2.0)]);
    eval(&s, "NaN == bool NaN", 0.0, &[("scalar", 0.0)]);
    eval(&s, "1 < bool 2", 0.0, &[("scalar", 1.0)]);
    eval(
        &s,
        "a * 2",
        0.0,
        &[("{x=\"1\", y=\"a\"}", 20.0), ("{x=\"2\", y=\"b\"}", 40.0)],
    );
    eval(
        &s,
        "100 / a",
        0.0,
        &[("{x=\"1\", y=\"a\"}", 10.0), ("{x=\"2\", y=\"b\"}", 5.0)],
    );
    eval(
        &s,
        "-a",
        0.0,
        &[("{x=\"1\", y=\"a\"}", -10.0), ("{x=\"2\", y=\"b\"}", -20.0)],
    );
    eval(&s, "a > 15", 0.0, &[("a{x=\"2\", y=\"b\"}", 20.0)]);
    eval(&s, "15 < a", 0.0, &[("a{x=\"2\", y=\"b\"}", 20.0)]);
    eval(
        &s,
        "a > bool 15",
        0.0,
        &[("{x=\"1\", y=\"a\"}", 0.0), ("{x=\"2\", y=\"b\"}", 1.0)],
    );
    eval(&s, "a == 10", 0.0, &[("a{x=\"1\", y=\"a\"}", 10.0)]);
    eval(&s, "a != 10", 0.0, &[("a{x=\"2\", y=\"b\"}", 20.0)]);
    eval(&s, "a >= 20", 0.0, &[("a{x=\"2\", y=\"b\"}", 20.0)]);
    eval(&s, "a <= 10", 0.0, &[("a{x=\"1\", y=\"a\"}", 10.0)]);
    eval(
        &s,
        "a == a",
        0.0,
        &[("a{x=\"1\", y=\"a\"}", 10.0), ("a{x=\"2\", y=\"b\"}", 20.0)],
    );
    eval(
        &s,
        "a - a",
        0.0,
        &[("{x=\"1\", y=\"a\"}", 0.0), ("{x=\"2\", y=\"b\"}", 0.0)],
    );
    eval(
        &s,
        "a < bool a",
        0.0,
        &[("{x=\"1\", y=\"a\"}", 0.0), ("{x=\"2\", y=\"b\"}", 0.0)],
    );
}

#[test]
fn vector_matching() {
    let s = operands();
    // Without on/ignoring every label but the name must match.
    eval(&s, "a + b", 0.0, &[]);
    eval(
        &s,
        "a / on(x) b",
        0.0,
        &[("{x=\"1\"}", 5.0), ("{x=\"2\"}", 5.0)],
    );
    eval(
        &s,
        "a / ignoring(y, z) b",
        0.0,
        &[("{x=\"1\"}", 5.0), ("{x=\"2\"}", 5.0)],
    );
    // One-to-one `on` keeps only the matching labels.
    eval(
        &s,
        "a > on(x) b",
        0.0,
        &[("{x=\"1\"}", 10.0), ("{x=\"2\"}", 20.0)],
    );
    eval(
        &s,
        "a * on(x) group_left(z) b",
        0.0,
        &[
            ("{x=\"1\", y=\"a\", z=\"p\"}", 20.0),
            ("{x=\"2\", y=\"b\", z=\"q\"}", 80.0),
        ],
    );
    eval(
        &s,
        "c * on(x) group_left b",
        0.0,
        &[("{i=\"0\", x=\"1\"}", 2.0), ("{i=\"1\", x=\"1\"}", 4.0)],
    );
    eval(
        &s,
        "b * on(x) group_right(z) c",
        0.0,
        &[
            ("{i=\"0\", x=\"1\", z=\"p\"}", 2.0),
            ("{i=\"1\", x=\"1\", z=\"p\"}", 4.0),
        ],
    );
    eval(&s, "c - ignoring(i) group_left b", 0.0, &[]);
    eval(
        &s,
        "c > bool on(x) group_left b",
        0.0,
        &[("{i=\"0\", x=\"1\"}", 0.0), ("{i=\"1\", x=\"1\"}", 0.0)],
    );
    assert_eq!(
        eval_err(&s, "c * on(x) b", 0.0),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    assert!(eval_err(&s, "b * on(x) c", 0.0).starts_with(
        "found duplicate series for the match group {x=\"1\"} on the right hand-side"
    ));
    assert!(eval_err(&s, "c * on(x) group_right b", 0.0)
        .starts_with("found duplicate series for the match group {x=\"1\"} on the left hand-side"));
    eval(
        &s,
        "c * on(x) group_left b * on() group_left vector(1)",
        0.0,
        &[("{i=\"0\", x=\"1\"}", 2.0), ("{i=\"1\", x=\"1\"}", 4.0)],
    );
    let d = load(
        60,
        "l{x=\"1\", i=\"0\"} 1\nl{x=\"1\", i=\"1\"} 2\nr{x=\"1\"} 5",
    );
    assert_eq!(
        // group_left(i) copies `i` from the one side, which has none: both results are {x="1"}.
        eval_err(&d, "l * on(x) group_left(i) r", 0.0),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    assert_eq!(
        eval_err(&d, "sum without(i) (l) + on(x) group_left(q) (l * 0)", 0.0),
        "found duplicate series for the match group {x=\"1\"} on the right hand-side of the operation: [{i=\"0\", x=\"1\"}, {i=\"1\", x=\"1\"}];many-to-many matching not allowed: matching labels must be unique on one side"
    );
}

#[test]
fn set_operators() {
    let s = operands();
    eval(&s, "a and b", 0.0, &[]);
    eval(
        &s,
        "a and on(x) b",
        0.0,
        &[("a{x=\"1\", y=\"a\"}", 10.0), ("a{x=\"2\", y=\"b\"}", 20.0)],
    );
    eval(
        &s,
        "a and ignoring(y, z) b{z=\"q\"}",
        0.0,
        &[("a{x=\"2\", y=\"b\"}", 20.0)],
    );
    eval(
        &s,
        "a unless on(x) b{x=\"1\"}",
        0.0,
        &[("a{x=\"2\", y=\"b\"}", 20.0)],
    );
    eval(
        &s,
        "a unless b",
        0.0,
        &[("a{x=\"1\", y=\"a\"}", 10.0), ("a{x=\"2\", y=\"b\"}", 20.0)],
    );
    eval(
        &s,
        "a or b",
        0.0,
        &[
            ("a{x=\"1\", y=\"a\"}", 10.0),
            ("a{x=\"2\", y=\"b\"}", 20.0),
            ("b{x=\"1\", z=\"p\"}", 2.0),
            ("b{x=\"2\", z=\"q\"}", 4.0),
        ],
    );
    eval(
        &s,
        "a{x=\"1\"} or on(x) b",
        0.0,
        &[("a{x=\"1\", y=\"a\"}", 10.0), ("b{x=\"2\", z=\"q\"}", 4.0)],
    );
    // Name dropped by a function: two series with one label set are an error.
    let d = load(60, "m1{x=\"1\"} 1\nm2{x=\"1\"} 2");
    assert_eq!(
        eval_err(&d, "abs({x=\"1\"})", 0.0),
        "vector cannot contain metrics with the same labelset"
    );
    assert_eq!(
        eval_err(&d, "{x=\"1\"} * 2", 0.0),
        "vector cannot contain metrics with the same labelset"
    );
    eval(&d, "{x=\"1\"} > 1", 0.0, &[("m2{x=\"1\"}", 2.0)]);
    eval(
        &d,
        "last_over_time({x=\"1\"}[1m])",
        0.0,
        &[("m1{x=\"1\"}", 1.0), ("m2{x=\"1\"}", 2.0)],
    );
}

#[test]
fn math_and_clamping_functions() {
    let s = load(
        60,
        "v{i=\"a\"} -2.5\nv{i=\"b\"} 2.5\nv{i=\"c\"} 16\nw 1.234",
    );
    let all = |a: f64, b: f64, c: f64| [("{i=\"a\"}", a), ("{i=\"b\"}", b), ("{i=\"c\"}", c)];
    eval(&s, "abs(v)", 0.0, &all(2.5, 2.5, 16.0));
    eval(&s, "ceil(v)", 0.0, &all(-2.0, 3.0, 16.0));
    eval(&s, "floor(v)", 0.0, &all(-3.0, 2.0, 16.0));
    eval(&s, "round(v)", 0.0, &all(-2.0, 3.0, 16.0));
    eval(&s, "round(w, 0.1)", 0.0, &[("{}", 1.2)]);
    eval(&s, "round(w, 0.01)", 0.0, &[("{}", 1.23)]);
    eval(&s, "clamp(v, -1, 10)", 0.0, &all(-1.0, 2.5, 10.0));
    eval(&s, "clamp(v, 10, -1)", 0.0, &[]);
    eval(&s, "clamp_min(v, 0)", 0.0, &all(0.0, 2.5, 16.0));
    eval(&s, "clamp_max(v, 0)", 0.0, &all(-2.5, 0.0, 0.0));
    eval(
        &s,
        "clamp_max(v, NaN)",
        0.0,
        &all(f64::NAN, f64::NAN, f64::NAN),
    );
    eval(&s, "sqrt(v)", 0.0, &all(f64::NAN, 2.5f64.sqrt(), 4.0));
    eval(&s, "sgn(v)", 0.0, &all(-1.0, 1.0, 1.0));
    eval(&s, "exp(v{i=\"c\"} * 0)", 0.0, &[("{i=\"c\"}", 1.0)]);
    eval(&s, "ln(v)", 0.0, &all(f64::NAN, 2.5f64.ln(), 16f64.ln()));
    eval(&s, "log2(v{i=\"c\"})", 0.0, &[("{i=\"c\"}", 4.0)]);
    eval(&s, "log10(v{i=\"c\"} * 62.5)", 0.0, &[("{i=\"c\"}", 3.0)]);
    eval(
        &s,
        "ln(v{i=\"c\"} * 0)",
        0.0,
        &[("{i=\"c\"}", f64::NEG_INFINITY)],
    );
}

#[test]
fn time_vector_scalar_and_sorting() {
    let s = load(
        60,
        "m{i=\"a\"} 3 3 3\nm{i=\"b\"} 1 1 1\nm{i=\"c\"} NaN NaN NaN\nm{i=\"d\"} 2 2 2",
    );
    eval(&s, "time()", 150.0, &[("scalar", 150.0)]);
    eval(&s, "vector(time())", 150.0, &[("{}", 150.0)]);
    eval(&s, "timestamp(m{i=\"a\"})", 150.0, &[("{i=\"a\"}", 120.0)]);
    eval(
        &s,
        "timestamp(m{i=\"a\"} offset 1m)",
        150.0,
        &[("{i=\"a\"}", 60.0)],
    );
    eval(
        &s,
        "timestamp(abs(m{i=\"a\"}))",
        150.0,
        &[("{i=\"a\"}", 150.0)],
    );
    eval(&s, "scalar(m)", 0.0, &[("scalar", f64::NAN)]);
    eval(&s, "scalar(m{i=\"b\"}) + 1", 0.0, &[("scalar", 2.0)]);
    eval_ordered(
        &s,
        "sort(m)",
        0.0,
        &[
            ("m{i=\"b\"}", 1.0),
            ("m{i=\"d\"}", 2.0),
            ("m{i=\"a\"}", 3.0),
            ("m{i=\"c\"}", f64::NAN),
        ],
    );
    eval_ordered(
        &s,
        "sort_desc(m)",
        0.0,
        &[
            ("m{i=\"a\"}", 3.0),
            ("m{i=\"d\"}", 2.0),
            ("m{i=\"b\"}", 1.0),
            ("m{i=\"c\"}", f64::NAN),
        ],
    );
}

#[test]
fn label_functions_and_absent() {
    let s = operands();
    eval(
        &s,
        "label_replace(a, \"dst\", \"v-$1\", \"y\", \"(.*)\")",
        0.0,
        &[
            ("a{dst=\"v-a\", x=\"1\", y=\"a\"}", 10.0),
            ("a{dst=\"v-b\", x=\"2\", y=\"b\"}", 20.0),
        ],
    );
    // Anchored: "a" does not match "ab"; no match leaves the series alone.
    eval(
        &s,
        "label_replace(a, \"y\", \"${1}z\", \"y\", \"(a)\")",
        0.0,
        &[
            ("a{x=\"1\", y=\"az\"}", 10.0),
            ("a{x=\"2\", y=\"b\"}", 20.0),
        ],
    );
    // An empty replacement removes the label.
    eval(
        &s,
        "label_replace(a, \"y\", \"\", \"x\", \"1\")",
        0.0,
        &[("a{x=\"1\"}", 10.0), ("a{x=\"2\", y=\"b\"}", 20.0)],
    );
    assert!(
        eval_err(&s, "label_replace(a, \"1x\", \"\", \"x\", \"1\")", 0.0)
            .contains("invalid destination label name")
    );
    eval(
        &s,
        "label_join(a, \"j\", \"-\", \"x\", \"y\", \"nope\")",
        0.0,
        &[
            ("a{j=\"1-a-\", x=\"1\", y=\"a\"}", 10.0),
            ("a{j=\"2-b-\", x=\"2\", y=\"b\"}", 20.0),
        ],
    );
    eval(&s, "absent(a)", 0.0, &[]);
    eval(
        &s,
        "absent(nope{job=\"x\", env=~\"p.*\", k=\"1\", k=\"2\"})",
        0.0,
        &[("{job=\"x\"}", 1.0)],
    );
    eval(&s, "absent(sum(nope))", 0.0, &[("{}", 1.0)]);
}

#[test]
fn date_functions() {
    // 2024-02-29T13:45:00Z, a Thursday.
    let s = load(60, "ts{i=\"a\"} 1709214300");
    let l = "{i=\"a\"}";
    eval(&s, "year(ts)", 0.0, &[(l, 2024.0)]);
    eval(&s, "month(ts)", 0.0, &[(l, 2.0)]);
    eval(&s, "day_of_month(ts)", 0.0, &[(l, 29.0)]);
    eval(&s, "day_of_week(ts)", 0.0, &[(l, 4.0)]);
    eval(&s, "day_of_year(ts)", 0.0, &[(l, 60.0)]);
    eval(&s, "days_in_month(ts)", 0.0, &[(l, 29.0)]);
    eval(&s, "hour(ts)", 0.0, &[(l, 13.0)]);
    eval(&s, "minute(ts)", 0.0, &[(l, 45.0)]);
    // Without an argument: the evaluation time.
    eval(&s, "year()", 0.0, &[("{}", 1970.0)]);
    eval(&s, "hour()", 7200.0, &[("{}", 2.0)]);
    eval(&s, "day_of_week()", 86400.0 * 3.0, &[("{}", 0.0)]);
}

#[test]
fn histogram_quantile_classic_buckets() {
    let s = load(
        300,
        r#"
        req_bucket{job="a", le="0.1"} 0+1x10
        req_bucket{job="a", le="0.2"} 0+2x10
        req_bucket{job="a", le="+Inf"} 0+4x10
        bad_bucket{le="1"} 0+10x10
        bad_bucket{le="2"} 0+5x10
        bad_bucket{le="3"} 0+20x10
        bad_bucket{le="+Inf"} 0+20x10
        noinf_bucket{le="1"} 1
        "#,
    );
    let t = 50.0 * 60.0;
    let l = "{job=\"a\"}";
    eval(&s, "histogram_quantile(0.5, req_bucket)", t, &[(l, 0.2)]);
    eval(&s, "histogram_quantile(0.25, req_bucket)", t, &[(l, 0.1)]);
    eval(&s, "histogram_quantile(0.375, req_bucket)", t, &[(l, 0.15)]);
    eval(&s, "histogram_quantile(0.9, req_bucket)", t, &[(l, 0.2)]);
    eval(
        &s,
        "histogram_quantile(0.5, rate(req_bucket[10m]))",
        t,
        &[(l, 0.2)],
    );
    eval(
        &s,
        "histogram_quantile(0.5, sum by (le) (rate(req_bucket[10m])))",
        t,
        &[("{}", 0.2)],
    );
    eval(
        &s,
        "histogram_quantile(1.5, req_bucket)",
        t,
        &[(l, f64::INFINITY)],
    );
    eval(
        &s,
        "histogram_quantile(-1, req_bucket)",
        t,
        &[(l, f64::NEG_INFINITY)],
    );
    eval(
        &s,
        "histogram_quantile(NaN, req_bucket)",
        t,
        &[(l, f64::NAN)],
    );
    // Non-monotonic counts are fixed: 100, 50->100, 200, 200; rank 100 falls in le=1.
    eval(&s, "histogram_quantile(0.5, bad_bucket)", t, &[("{}", 1.0)]);
    eval(
        &s,
        "histogram_quantile(0.75, bad_bucket)",
        t,
        &[("{}", 2.5)],
    );
    eval(
        &s,
        "histogram_quantile(0.5, noinf_bucket)",
        0.0,
        &[("{}", f64::NAN)],
    );
}

#[test]
fn subqueries() {
    let s = load(60, "counter 0+10x20");
    let t = 10.0 * M;
    eval(&s, "max_over_time(counter[5m:1m])", t, &[("{}", 100.0)]);
    eval(&s, "min_over_time(counter[5m:1m])", t, &[("{}", 60.0)]);
    eval(&s, "count_over_time(counter[5m:1m])", t, &[("{}", 5.0)]);
    eval(&s, "count_over_time(counter[5m:])", t, &[("{}", 5.0)]);
    eval(&s, "count_over_time(counter[5m:2m])", t, &[("{}", 3.0)]);
    eval(
        &s,
        "max_over_time(counter[5m:1m] offset 2m)",
        t,
        &[("{}", 80.0)],
    );
    eval(&s, "rate(counter[5m:1m])", t, &[("{}", 50.0 / 300.0)]);
    eval(
        &s,
        "last_over_time(counter[5m:1m])",
        t,
        &[("counter{}", 100.0)],
    );
    // Steps aligned to multiples of the step, not to the evaluation time.
    eval(
        &s,
        "min_over_time(counter[5m:2m])",
        10.5 * M,
        &[("{}", 60.0)],
    );
    eval(
        &s,
        "max_over_time(rate(counter[2m])[5m:1m])",
        t,
        &[("{}", 10.0 / 60.0)],
    );
    eval(
        &s,
        "sum_over_time(sum(counter)[3m:1m])",
        t,
        &[("{}", 270.0)],
    );
}

#[test]
fn range_evaluation() {
    let s = load(60, "m{i=\"a\"} 1 2 stale 4\nn 5 5");
    let e = Engine::new(&s);
    let got = e.range(&parse("m").unwrap(), 0, 180_000, 60_000).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].points, vec![(0, 1.0), (60_000, 2.0), (180_000, 4.0)]);
    let got = e
        .range(&parse("sum(m) + 1").unwrap(), 0, 120_000, 60_000)
        .unwrap();
    assert_eq!(got[0].labels, Vec::new());
    assert_eq!(got[0].points, vec![(0, 2.0), (60_000, 3.0)]);
    let got = e
        .range(&parse("time()").unwrap(), 0, 60_000, 30_000)
        .unwrap();
    assert_eq!(
        got[0].points,
        vec![(0, 0.0), (30_000, 30.0), (60_000, 60.0)]
    );
}

#[test]
fn unsupported_constructs_are_refused_before_evaluation() {
    let s = operands();
    for (q, what) in [
        ("holt_winters(a[5m], 0.5, 0.5)", "function `holt_winters`"),
        ("a @ 100", "the `@` modifier"),
        ("sum(rate(a[5m] @ start()))", "the `@` modifier"),
        (
            "histogram_quantile(0.9, histogram_avg(a))",
            "function `histogram_avg`",
        ),
        ("limit_ratio(0.5, a)", "aggregation `limit_ratio`"),
        ("sort_by_label(a, \"x\")", "function `sort_by_label`"),
        ("a atan2 b", "operator `atan2`"),
        ("mad_over_time(a[5m])", "function `mad_over_time`"),
    ] {
        assert_eq!(
            eval_err(&s, q, 0.0),
            format!("{what} is not supported"),
            "{q}"
        );
    }
}

#[test]
fn nan_and_inf_rules() {
    let s = load(
        60,
        r#"
        n NaN 1 NaN NaN 3
        i Inf 1 -Inf
        d 10-2x4
        gap 1 _x3 5
        "#,
    );
    let t = 4.0 * M;
    eval(&s, "max_over_time(n[5m])", t, &[("{}", 3.0)]);
    eval(&s, "min_over_time(n[5m])", t, &[("{}", 1.0)]);
    eval(&s, "sum_over_time(n[5m])", t, &[("{}", f64::NAN)]);
    // NaN to NaN is no change; NaN to a number and back are.
    eval(&s, "changes(n[5m])", t, &[("{}", 3.0)]);
    eval(&s, "count_over_time(n[5m])", t, &[("{}", 5.0)]);
    eval(&s, "n", 3.0 * M, &[("n{}", f64::NAN)]);
    eval(&s, "n == n", 3.0 * M, &[]);
    eval(&s, "n != bool n", 3.0 * M, &[("{}", 1.0)]);
    eval(
        &s,
        "max_over_time(i[5m])",
        2.0 * M,
        &[("{}", f64::INFINITY)],
    );
    eval(
        &s,
        "min_over_time(i[5m])",
        2.0 * M,
        &[("{}", f64::NEG_INFINITY)],
    );
    eval(&s, "avg_over_time(i[5m])", 2.0 * M, &[("{}", f64::NAN)]);
    eval(&s, "i * 0", 0.0, &[("{}", f64::NAN)]);
    eval(&s, "i - i", 0.0, &[("{}", f64::NAN)]);
    eval(&s, "-i", 2.0 * M, &[("{}", f64::INFINITY)]);
    // A falling gauge: delta is negative; as a counter every step is a reset.
    eval(&s, "delta(d[5m])", t, &[("{}", -8.0 * 300.0 / 240.0)]);
    eval(&s, "resets(d[5m])", t, &[("{}", 4.0)]);
    eval(&s, "d", t, &[("d{}", 2.0)]);
    // Missing samples: the lookback carries the last one.
    eval(&s, "gap", 3.0 * M, &[("gap{}", 1.0)]);
    eval(&s, "count_over_time(gap[5m])", t, &[("{}", 2.0)]);
}

#[test]
fn retention_trim_forgets_old_samples() {
    let mut s = load(60, "m 1 2 3 4");
    eval(&s, "count_over_time(m[10m])", 3.0 * M, &[("{}", 4.0)]);
    s.trim(120_000);
    eval(&s, "count_over_time(m[10m])", 3.0 * M, &[("{}", 2.0)]);
    eval(&s, "m offset 2m", 3.0 * M, &[]);
}
