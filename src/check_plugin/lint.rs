//! promtool-style lints (`promtool check metrics`) of one family, as warnings: they do not
//! stop the exporter from serving the family, but make its exposition fail the lint.
//!
//! Written from the rules in REFERENCE.md: missing HELP, `_total` on the wrong type, the
//! suffixes histograms and summaries write, the type in the name, camelCase, and non-base or
//! abbreviated units. `le` and `quantile` labels are not linted here: the exporter refuses
//! them outright, so [`super::batch`] reports them as errors.

use plugin_protocol::{Family, MetricType};

use super::report::Report;
use crate::exposition::drop_reason::quote;

/// Non-base units (as whole words of a name) and the base unit to use instead.
const NON_BASE_UNITS: &[(&str, &str)] = &[
    ("milliseconds", "seconds"),
    ("microseconds", "seconds"),
    ("nanoseconds", "seconds"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("ms", "seconds"),
    ("us", "seconds"),
    ("ns", "seconds"),
    ("sec", "seconds"),
    ("secs", "seconds"),
    ("kilobytes", "bytes"),
    ("megabytes", "bytes"),
    ("gigabytes", "bytes"),
    ("terabytes", "bytes"),
    ("kibibytes", "bytes"),
    ("mebibytes", "bytes"),
    ("gibibytes", "bytes"),
    ("kb", "bytes"),
    ("mb", "bytes"),
    ("gb", "bytes"),
    ("tb", "bytes"),
    ("kib", "bytes"),
    ("mib", "bytes"),
    ("gib", "bytes"),
    ("percent", "ratio (0 to 1)"),
    ("percentage", "ratio (0 to 1)"),
    ("pct", "ratio (0 to 1)"),
    ("centimeters", "meters"),
    ("millimeters", "meters"),
    ("kilometers", "meters"),
    ("kilograms", "grams"),
    ("fahrenheit", "celsius"),
];

/// The promtool-style lints of one family, as warnings.
pub fn lint_family(f: &Family, at: &str, report: &mut Report) {
    let name = quote(&f.name);
    let kind = f.kind.as_str();
    if f.help.trim().is_empty() {
        report.warn(at, format!("family {name} has no help text"));
    }
    let total = f.name.ends_with("_total");
    match f.kind {
        MetricType::Counter if !total => {
            report.warn(at, format!("counter {name} should have the suffix _total"))
        }
        MetricType::Counter => {}
        _ if total => report.warn(
            at,
            format!("{kind} {name} should not have the suffix _total, which is for counters"),
        ),
        _ => {}
    }
    let reserved: &[&str] = match f.kind {
        MetricType::Histogram | MetricType::GaugeHistogram => &[],
        MetricType::Summary => &["_bucket"],
        _ => &["_bucket", "_count", "_sum"],
    };
    for suffix in reserved {
        if f.name.ends_with(suffix) {
            report.warn(
                at,
                format!("{kind} {name} should not have the suffix {suffix}, which histograms and summaries write"),
            );
        }
    }
    let words: Vec<String> = f
        .name
        .to_ascii_lowercase()
        .split('_')
        .map(str::to_string)
        .collect();
    // An info family's name ends in `_info` by rule, not by mistake.
    if f.kind != MetricType::Info && words.iter().skip(1).any(|w| w == kind) {
        report.warn(
            at,
            format!("{kind} {name} should not have its type in its name"),
        );
    }
    for (unit, base) in NON_BASE_UNITS {
        if words.iter().skip(1).any(|w| w == unit) {
            report.warn(
                at,
                format!("{name} uses the unit {unit}; use the base unit {base}"),
            );
        }
    }
    if camel(&f.name) {
        report.warn(
            at,
            format!("{name} is camelCase; metric names are snake_case"),
        );
    }
    let mut labels: Vec<&str> = f
        .samples
        .iter()
        .flat_map(|s| s.labels.0.iter().map(|(n, _)| n.as_str()))
        .filter(|n| camel(n))
        .collect();
    labels.sort_unstable();
    labels.dedup();
    for l in labels {
        report.warn(
            at,
            format!(
                "label {} of {name} is camelCase; label names are snake_case",
                quote(l)
            ),
        );
    }
}

/// True when a lowercase letter is followed by an uppercase one.
fn camel(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(json: &str) -> String {
        let families: Vec<Family> = serde_json::from_str(json).unwrap();
        let mut r = Report::default();
        for f in &families {
            lint_family(f, "line 1", &mut r);
        }
        r.to_string()
    }

    #[test]
    fn lints_are_warnings() {
        let out = lint(
            r#"[{"name":"requests","type":"counter","samples":[{"labels":{"httpCode":"200"},"value":1}]},
                {"name":"temp_total","type":"gauge","help":"h","samples":[]},
                {"name":"latency_ms","type":"gauge","help":"h","samples":[]},
                {"name":"disk_percent","type":"gauge","help":"h","samples":[]},
                {"name":"x_sum","type":"counter","help":"h","samples":[]},
                {"name":"fooBar_gauge","type":"gauge","help":"h","samples":[]},
                {"name":"build_info","type":"info","help":"h","samples":[]},
                {"name":"q_bucket","type":"gaugehistogram","help":"h","samples":[]}]"#,
        );
        for want in [
            r#"WARN line 1: family "requests" has no help text"#,
            r#"counter "requests" should have the suffix _total"#,
            r#"label "httpCode" of "requests" is camelCase"#,
            r#"gauge "temp_total" should not have the suffix _total"#,
            r#""latency_ms" uses the unit ms; use the base unit seconds"#,
            r#""disk_percent" uses the unit percent; use the base unit ratio"#,
            r#"counter "x_sum" should not have the suffix _sum"#,
            r#"gauge "fooBar_gauge" should not have its type in its name"#,
            r#""fooBar_gauge" is camelCase"#,
        ] {
            assert!(out.contains(want), "{want:?} missing from\n{out}");
        }
        // No warning for info's `_info` or for a gauge histogram's `_bucket`.
        assert!(
            !out.contains("build_info") && !out.contains("q_bucket"),
            "{out}"
        );
        assert!(out.ends_with(" 0 errors, 10 warnings\n"), "{out}");
    }
}
