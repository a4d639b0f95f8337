//! One batch checked as the exporter checks it, with reasons: every family, unit and series
//! its validation drops is an error, and promtool-style lints ([`super::lint`]) are warnings.
//!
//! Nothing is decided here: the batch goes through the exporter's own [`build_batch`], and
//! each drop is printed with the [`DropReason`] validation gave it, the same value the
//! exporter counts under its kind.

use std::collections::HashSet;

use crate::config::{Limits, DEFAULT_PLUGIN_LABEL};
use crate::exposition::batch::{build_batch, BatchOptions, Rejection};
use crate::exposition::drop_reason::{describe, DropReason, DropSink, DropSite};
use crate::exposition::validate::{validate, ValidateOptions};
use crate::plugin::collector::jsonl_io::{parse_line, LineOutcome};
use plugin_protocol::{Family, PluginMessage};

use super::lint;
use super::report::Report;

/// The plugin name the checked plugin gets (its `PLUGIN_EXPORTER_PLUGIN` and `hello` name).
pub const PLUGIN_NAME: &str = "check";

/// The exporter's defaults for a plugin without `limits` or `global.plugin_label`.
pub fn batch_options() -> BatchOptions {
    let limits = Limits::default();
    BatchOptions {
        plugin: PLUGIN_NAME.to_string(),
        plugin_label: DEFAULT_PLUGIN_LABEL.to_string(),
        max_line: limits.max_line,
        max_series: limits.max_series,
        max_labels: limits.max_labels,
        relabel: Vec::new().into(),
    }
}

/// Reports every drop as an error, located by family.
struct Explain<'a> {
    report: &'a mut Report,
    locate: &'a dyn Fn(&str) -> String,
    /// Names whose first family was dropped whole (not linted).
    dropped: HashSet<String>,
}

impl DropSink for Explain<'_> {
    fn dropped(&mut self, site: DropSite<'_>, reason: DropReason) {
        let at = (self.locate)(site.family());
        // A repeat leaves the first family of the name standing.
        if let DropSite::Family(name) = site {
            if reason != DropReason::RepeatedFamily {
                self.dropped.insert(name.to_string());
            }
        }
        self.report
            .counted(reason.kind().as_str(), at, describe(&site, &reason));
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
    let mut explain = Explain {
        report,
        locate,
        dropped: HashSet::new(),
    };
    if let Err(r) = build_batch(families.to_vec(), &batch_options(), &mut explain) {
        explain_rejection(&r, families, &mut explain);
    }
    if lint {
        lint_families(families, &explain.dropped, locate, explain.report);
    }
}

/// Checks one stdout line of a JSON-lines plugin through the exporter's own line parser:
/// drops and refusals of a `metrics` line are reported here (at `at`), with lints; what the
/// line is goes back to the caller.
pub fn check_line(line: &[u8], at: &str, report: &mut Report) -> LineOutcome {
    let locate = |_: &str| at.to_string();
    let mut explain = Explain {
        report,
        locate: &locate,
        dropped: HashSet::new(),
    };
    let outcome = parse_line(line, &batch_options(), &mut explain);
    if let LineOutcome::Metrics { batch, .. } = &outcome {
        // The parser consumed the families; read them again for the explanations.
        let families = match PluginMessage::from_line(line) {
            Ok(PluginMessage::Metrics(m)) => m.families,
            _ => Vec::new(),
        };
        if let Err(r) = batch {
            explain_rejection(r, &families, &mut explain);
        }
        lint_families(&families, &explain.dropped, &locate, explain.report);
    }
    outcome
}

/// A batch refused whole: the refusal, then the series as validation would have seen them.
fn explain_rejection(r: &Rejection, families: &[Family], explain: &mut Explain<'_>) {
    let at = (explain.locate)("");
    explain.report.counted(
        r.kind().as_str(),
        at,
        format!("the exporter refuses the whole batch: {r}"),
    );
    let opts = batch_options();
    let vopts = ValidateOptions {
        max_labels: opts.max_labels,
        ..ValidateOptions::with_extra_label(Some((&opts.plugin_label, &opts.plugin)))
    };
    validate(families.to_vec(), &vopts, explain);
}

/// Lints the first family of each name, unless validation dropped it.
fn lint_families(
    families: &[Family],
    dropped: &HashSet<String>,
    locate: &dyn Fn(&str) -> String,
    report: &mut Report,
) {
    let mut linted = HashSet::new();
    for f in families {
        if !dropped.contains(&f.name) && linted.insert(f.name.as_str()) {
            lint::lint_family(f, &locate(&f.name), report);
        }
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
