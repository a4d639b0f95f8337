//! One batch checked as the exporter checks it, with reasons: every family, unit and series
//! its validation would drop is an error, and promtool-style lints ([`super::lint`]) are
//! warnings.
//!
//! The exporter's own code decides what is dropped; this module only explains. The batch
//! goes through [`build_batch`] (budgets, validation and rendering, exactly as served), and
//! each family and sample is then validated on its own with [`validate`] to find which ones
//! went; the explanation re-checks that one thing. If the explanations ever account for
//! fewer drops than the exporter counted (validation gained a rule this module does not
//! know), an error says so instead of passing the plugin.

use std::collections::HashSet;

use crate::config::{Limits, DEFAULT_PLUGIN_LABEL};
use crate::exposition::validate::{
    claimed_names, counter_stem, is_label_name, is_metric_name, label_identity, validate, Drops,
    ValidateOptions,
};
use crate::plugin::instance::{build_batch, ReaderOptions};
use plugin_protocol::{Bucket, Family, MetricType, Quantile, Sample, Value};

use super::lint;
use super::report::Report;

/// The plugin name the checked plugin gets (its `PLUGIN_EXPORTER_PLUGIN` and `hello` name).
pub const PLUGIN_NAME: &str = "check";

/// The exporter's defaults for a plugin without `limits` or `global.plugin_label`.
pub fn reader_options() -> ReaderOptions {
    let limits = Limits::default();
    ReaderOptions {
        plugin: PLUGIN_NAME.to_string(),
        plugin_label: DEFAULT_PLUGIN_LABEL.to_string(),
        max_line: limits.max_line,
        max_series: limits.max_series,
        max_labels: limits.max_labels,
    }
}

/// Checks one batch. `locate` gives the report location of a family by name (`""` for the
/// batch as a whole); `lint` adds the promtool-style warnings.
pub fn check_batch(
    families: &[Family],
    locate: &dyn Fn(&str) -> String,
    lint: bool,
    report: &mut Report,
) {
    let opts = reader_options();
    let label = Some(opts.plugin_label.as_str());
    let counted = match build_batch(families.to_vec(), label, &opts) {
        Ok((_, drops)) => Some(drops.invalid_metric + drops.duplicate_series),
        Err(r) => {
            report.error(
                locate(""),
                format!("the exporter refuses the whole batch: {}", r.detail),
            );
            None
        }
    };
    let vopts = ValidateOptions {
        max_labels: opts.max_labels,
        ..ValidateOptions::with_extra_label(Some((&opts.plugin_label, &opts.plugin)))
    };
    let accepted = accepted_families(families, &vopts);
    let mut described = 0;
    for (i, f) in families.iter().enumerate() {
        if accepted[i] {
            described += describe_family(f, &vopts, &locate(&f.name), report);
            if lint {
                lint::lint_family(f, &locate(&f.name), report);
            }
        } else {
            described += 1;
            let why = family_reason(f, &families[..i], &accepted[..i], &vopts);
            report.error(locate(&f.name), format!("family {}: {why}", quote(&f.name)));
        }
    }
    if let Some(n) = counted.filter(|&n| n != described) {
        report.error(
            locate(""),
            format!(
                "the exporter's validation drops {n} things from this batch, while \
                 {described} are explained above (check-plugin does not know a rule)"
            ),
        );
    }
}

/// Which families pass the family-level rules, decided by [`validate`] on the names and
/// types alone (those rules look at nothing else).
fn accepted_families(families: &[Family], vopts: &ValidateOptions) -> Vec<bool> {
    let bare: Vec<Family> = families.iter().map(|f| bare(f, None, Vec::new())).collect();
    let kept = validate(bare, vopts, &mut Drops::default());
    // Kept families come out in batch order, and of several with one name only the first
    // can be kept, so matching names in order pairs them up.
    let mut kept = kept.iter().peekable();
    families
        .iter()
        .map(|f| {
            let ok = kept.peek().is_some_and(|k| k.name == f.name);
            if ok {
                kept.next();
            }
            ok
        })
        .collect()
}

fn bare(f: &Family, unit: Option<String>, samples: Vec<Sample>) -> Family {
    Family {
        name: f.name.clone(),
        kind: f.kind,
        help: String::new(),
        unit,
        samples,
    }
}

/// Why a family was refused whole, given the families before it.
fn family_reason(
    f: &Family,
    earlier: &[Family],
    accepted: &[bool],
    vopts: &ValidateOptions,
) -> String {
    if !is_metric_name(&f.name) {
        return "not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); the exporter drops the family"
            .into();
    }
    if !vopts.reserved_prefix.is_empty() && f.name.starts_with(vopts.reserved_prefix) {
        return format!(
            "names starting with {} are reserved for the exporter's own metrics; the family \
             is dropped",
            vopts.reserved_prefix
        );
    }
    if earlier.iter().any(|e| e.name == f.name) {
        return "appears twice in one batch; the exporter keeps the first".into();
    }
    for (e, _) in earlier.iter().zip(accepted).filter(|(_, ok)| **ok) {
        let theirs: Vec<_> = claimed_names(&e.name, e.kind).collect();
        if let Some(c) = claimed_names(&f.name, f.kind).find(|c| theirs.contains(c)) {
            return format!(
                "a {} that clashes with the {} {} before it: both would write the name \
                 {c}; the family is dropped",
                f.kind.as_str(),
                e.kind.as_str(),
                quote(&e.name)
            );
        }
    }
    "dropped by the exporter's validation".into()
}

/// Reports what validation drops inside an accepted family (its unit, samples, duplicate
/// series); returns how many things that is, counted as the exporter counts them.
fn describe_family(f: &Family, vopts: &ValidateOptions, at: &str, report: &mut Report) -> u64 {
    let mut dropped = 0;
    if let Some(unit) = &f.unit {
        let kept = validate(
            vec![bare(f, Some(unit.clone()), Vec::new())],
            vopts,
            &mut Drops::default(),
        );
        if kept.first().is_some_and(|k| k.unit.is_none()) {
            dropped += 1;
            report.error(
                at,
                format!("family {}: {}", quote(&f.name), unit_reason(f, unit)),
            );
        }
    }
    let mut identities = HashSet::new();
    for s in &f.samples {
        let kept = validate(
            vec![bare(f, None, vec![s.clone()])],
            vopts,
            &mut Drops::default(),
        );
        let what = series(&f.name, s);
        if kept.is_empty() {
            dropped += 1;
            report.error(
                at,
                format!(
                    "series {what} is dropped: {}",
                    sample_reason(s, f.kind, vopts)
                ),
            );
        } else if !identities.insert(label_identity(&s.labels.0)) {
            dropped += 1;
            report.error(
                at,
                format!(
                    "series {what} repeats an earlier series of its family (label order and \
                     empty labels do not count); the exporter keeps the first"
                ),
            );
        }
    }
    dropped
}

fn unit_reason(f: &Family, unit: &str) -> String {
    let syntax = !unit.is_empty()
        && unit
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
    if !syntax {
        return format!(
            "unit {} is not [a-zA-Z0-9_:]+; only the unit is dropped",
            quote(unit)
        );
    }
    let stem = match f.kind {
        MetricType::Counter => counter_stem(&f.name).unwrap_or(&f.name),
        _ => &f.name,
    };
    format!(
        "unit {} does not fit the name: {} must end in _{unit}; only the unit is dropped",
        quote(unit),
        quote(stem)
    )
}

/// Why validation refused one sample, in the order validation checks.
fn sample_reason(s: &Sample, kind: MetricType, vopts: &ValidateOptions) -> String {
    if let Some(why) = labels_reason(&s.labels.0, vopts) {
        return why;
    }
    let name = kind.as_str();
    let has = |present: bool, member: &str| present.then(|| member.to_string());
    let foreign: Vec<String> = match kind {
        MetricType::Counter | MetricType::Gauge | MetricType::Untyped => [
            has(s.buckets.is_some(), "buckets"),
            has(s.quantiles.is_some(), "quantiles"),
            has(s.sum.is_some(), "sum"),
            has(s.count.is_some(), "count"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        MetricType::Histogram => [
            has(s.value.is_some(), "value"),
            has(s.quantiles.is_some(), "quantiles"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        MetricType::Summary => [
            has(s.value.is_some(), "value"),
            has(s.buckets.is_some(), "buckets"),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    if !foreign.is_empty() {
        return format!("a {name} sample must not have {}", foreign.join(", "));
    }
    match kind {
        MetricType::Counter | MetricType::Gauge | MetricType::Untyped => match s.value {
            None => format!("a {name} sample needs a value"),
            Some(Value(v)) if kind == MetricType::Counter && (v.is_nan() || v < 0.0) => {
                format!(
                    "a counter value must not be negative or NaN, it is {}",
                    num(v)
                )
            }
            Some(_) => "dropped by the exporter's validation".into(),
        },
        MetricType::Histogram => match (&s.buckets, s.sum, s.count) {
            (Some(b), Some(_), Some(c)) => histogram_reason(b, c.0),
            _ => "a histogram sample needs buckets, sum and count".into(),
        },
        MetricType::Summary => match (&s.quantiles, s.sum, s.count) {
            (Some(q), Some(_), Some(c)) => summary_reason(q, c.0),
            _ => "a summary sample needs quantiles, sum and count".into(),
        },
    }
}

fn labels_reason(labels: &[(String, String)], vopts: &ValidateOptions) -> Option<String> {
    let extra = vopts.extra_label.map(|(n, _)| n);
    let allowed = vopts.max_labels - usize::from(extra.is_some());
    if labels.len() > allowed {
        return Some(format!(
            "{} labels, over the {allowed} a series may have besides the plugin label",
            labels.len()
        ));
    }
    for (i, (n, v)) in labels.iter().enumerate() {
        let why = if n.len() > vopts.max_label_name_len || v.len() > vopts.max_label_value_len {
            format!(
                "label {} is over {} bytes of name or {} bytes of value",
                quote(n),
                vopts.max_label_name_len,
                vopts.max_label_value_len
            )
        } else if !is_label_name(n) {
            format!(
                "{} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                quote(n)
            )
        } else if n.starts_with("__") {
            format!("label names starting with __ are reserved ({})", quote(n))
        } else if n == "le" || n == "quantile" {
            format!(
                "the label {n} is written by the exporter itself (le for histogram buckets, \
                 quantile for summaries); a plugin may not set it on any type"
            )
        } else if Some(n.as_str()) == extra {
            format!(
                "the exporter adds the label {n} itself, naming the plugin (the default \
                 global.plugin_label)"
            )
        } else if labels[..i].iter().any(|(m, _)| m == n) {
            format!("label {} appears twice", quote(n))
        } else {
            continue;
        };
        return Some(why);
    }
    None
}

/// A count as OpenMetrics wants it: finite, non-negative, integral.
fn is_count(v: f64) -> bool {
    v.is_finite() && v >= 0.0 && v.fract() == 0.0
}

fn histogram_reason(buckets: &[Bucket], count: f64) -> String {
    if !is_count(count) {
        return format!("count {} is not a non-negative integer", num(count));
    }
    let mut prev: Option<(f64, f64)> = None;
    for b in buckets {
        let (le, c) = (b.le.0, b.count.0);
        if le.is_nan() {
            return "a bucket bound (le) is NaN".into();
        }
        if !is_count(c) {
            return format!(
                "bucket le={} has count {}, not a non-negative integer",
                num(le),
                num(c)
            );
        }
        if let Some((pl, pc)) = prev {
            if le <= pl {
                return format!(
                    "bucket bounds must increase: le={} after le={}",
                    num(le),
                    num(pl)
                );
            }
            if c < pc {
                return format!(
                    "buckets are cumulative, but le={} has count {} after {} for le={}",
                    num(le),
                    num(c),
                    num(pc),
                    num(pl)
                );
            }
        }
        prev = Some((le, c));
    }
    match prev {
        Some((le, c)) if le == f64::INFINITY && c != count => format!(
            "the +Inf bucket has count {} but the sample's count is {}",
            num(c),
            num(count)
        ),
        Some((_, c)) if c > count => format!(
            "count {} is less than the last bucket's count {}",
            num(count),
            num(c)
        ),
        _ => "dropped by the exporter's validation".into(),
    }
}

fn summary_reason(quantiles: &[Quantile], count: f64) -> String {
    if !is_count(count) {
        return format!("count {} is not a non-negative integer", num(count));
    }
    let mut prev: Option<f64> = None;
    for q in quantiles {
        let v = q.quantile.0;
        if !(0.0..=1.0).contains(&v) {
            return format!("quantile {} is outside 0 to 1", num(v));
        }
        if prev.is_some_and(|p| v <= p) {
            return format!(
                "quantiles must increase: {} comes after {}",
                num(v),
                num(prev.unwrap_or(v))
            );
        }
        prev = Some(v);
    }
    "dropped by the exporter's validation".into()
}

/// A name quoted for a message, cut to 64 characters so a hostile name stays readable.
pub(super) fn quote(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// A series written as in the text format, `name{a="1"}`, cut to a readable length.
fn series(name: &str, s: &Sample) -> String {
    let labels: Vec<String> = s
        .labels
        .0
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    let text = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    };
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// A value as the protocol writes it.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str, lint: bool) -> String {
        let families: Vec<Family> = serde_json::from_str(json).unwrap();
        let mut r = Report::default();
        check_batch(&families, &|_| "line 1".into(), lint, &mut r);
        r.to_string()
    }

    #[test]
    fn every_drop_is_explained_once() {
        let out = check(
            r#"[{"name":"ok_total","type":"counter","help":"h","samples":[
                  {"value":-1},{"labels":{"a":"1"},"value":1},{"labels":{"a":"1"},"value":2},
                  {"labels":{"le":"1"},"value":1},{"labels":{"plugin":"x"},"value":1}]},
                {"name":"1bad","type":"gauge","samples":[{"value":1}]},
                {"name":"ok_total","type":"counter","samples":[{"value":1}]},
                {"name":"h","type":"histogram","help":"h","unit":"seconds","samples":[
                  {"buckets":[{"le":1,"count":2},{"le":2,"count":1}],"sum":1,"count":2}]},
                {"name":"h_count","type":"gauge","help":"h","samples":[{"value":1}]}]"#,
            false,
        );
        for want in [
            "ok_total is dropped: a counter value must not be negative or NaN, it is -1",
            r#"ok_total{a="1"} repeats an earlier series"#,
            "the label le is written by the exporter itself",
            "the exporter adds the label plugin itself",
            r#"family "1bad": not a valid metric name"#,
            "appears twice in one batch",
            r#"family "h": unit "seconds" does not fit the name"#,
            "buckets are cumulative, but le=2 has count 1 after 2 for le=1",
            r#"a gauge that clashes with the histogram "h" before it: both would write the name h_count"#,
        ] {
            assert!(out.contains(want), "{want:?} missing from\n{out}");
        }
        assert!(!out.contains("explained above"), "{out}");
        assert!(
            out.ends_with("check-plugin: 9 errors, 0 warnings\n"),
            "{out}"
        );
    }

    #[test]
    fn a_batch_over_the_label_budget_is_refused_whole() {
        let labels: Vec<String> = (0..40).map(|i| format!(r#""l{i}":"v""#)).collect();
        let json = format!(
            r#"[{{"name":"g","type":"gauge","help":"h","samples":[{{"labels":{{{}}},"value":1}}]}}]"#,
            labels.join(",")
        );
        let out = check(&json, false);
        assert!(
            out.contains("the exporter refuses the whole batch"),
            "{out}"
        );
        assert!(out.contains("40 labels, over the 31"), "{out}");
    }
}
