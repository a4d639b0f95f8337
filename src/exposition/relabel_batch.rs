//! `metric_relabel_configs` applied to one plugin batch, once, when it arrives (before
//! validation, so whatever the rules make is validated and budgeted like what a plugin sends).
//!
//! Rules see every series as Prometheus sees it when it scrapes the exporter: the sample's
//! labels, `__name__` and the plugin label. A histogram or summary sample is several series
//! (`_bucket` with `le`, quantiles with `quantile`, `_sum`, `_count`, or `_gsum` and `_gcount`
//! for gauge histograms, `le` and `quantile` written as OpenMetrics writes them), and each is
//! relabeled on its own; what is left is put back together:
//! - all its series treated alike (same new base name, same labels): the same type, with the
//!   buckets or quantiles that are left (a histogram keeps its `+Inf` bucket, or none);
//! - every bucket dropped, `_sum` and/or `_count` kept: a summary without quantiles, which
//!   writes the same `_sum` and `_count` series Prometheus would have stored;
//! - anything else cannot be served as one type: the sample is dropped and counted
//!   ([`DropReason::RelabelSplit`]).
//!
//! Series whose rules drop them are counted as relabel drops (not errors). A rule may not change
//! or remove the plugin label (the exporter writes it) nor `__name__`'s presence: such series
//! are dropped with their reason. Families sent without samples pass unchanged.

use std::collections::HashMap;

use super::drop_reason::{DropReason, DropSink, DropSite};
use super::encode::push_canonical_float;
use crate::relabel::{LabelSet, Memo, Rule};
use plugin_protocol::{self as proto, Labels, MetricType};

/// The label `__name__`.
const NAME: &str = "__name__";

/// What relabeling did to a batch.
#[derive(Debug)]
pub struct Relabeled {
    /// The families after relabeling, in order of first appearance.
    pub families: Vec<proto::Family>,
    /// Exposition series the rules dropped.
    pub dropped: u64,
}

/// Applies `rules` to every series of `families`. `plugin_label` is the label the exporter
/// adds (name and value), visible to the rules.
pub fn relabel_batch(
    families: Vec<proto::Family>,
    rules: &[Rule],
    plugin_label: Option<(&str, &str)>,
    sink: &mut impl DropSink,
) -> Relabeled {
    if rules.is_empty() {
        return Relabeled {
            families,
            dropped: 0,
        };
    }
    let mut out = Out::default();
    let mut dropped = 0u64;
    let mut memos: Vec<Memo> = rules.iter().map(|_| Memo::default()).collect();
    for mut fam in families {
        let samples = std::mem::take(&mut fam.samples);
        if samples.is_empty() {
            out.family_mut(&fam.name, fam.kind, &fam);
            continue;
        }
        let mut job = Job {
            fam: &fam,
            rules,
            plugin_label,
            memos: &mut memos,
        };
        for sample in samples {
            if job.not_relabelable(&sample) {
                // Validation refuses it with the right reason.
                out.family_mut(&fam.name, fam.kind, &fam)
                    .samples
                    .push(sample);
                continue;
            }
            let result = match fam.kind {
                MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary => {
                    job.compound(sample, &mut dropped)
                }
                _ => job.scalar(sample, &mut dropped),
            };
            match result {
                Ok(Some((name, kind, sample))) => {
                    out.family_mut(&name, kind, &fam).samples.push(sample)
                }
                Ok(None) => {}
                Err((labels, reason)) => {
                    sink.dropped(DropSite::Series(&fam.name, &labels), reason);
                }
            }
        }
    }
    Relabeled {
        families: out.families,
        dropped,
    }
}

/// Output families, one per (name, type), in order of first appearance.
#[derive(Default)]
struct Out {
    families: Vec<proto::Family>,
    index: HashMap<(String, MetricType), usize>,
    /// The family the last sample went to: most samples go where the one before went.
    last: usize,
}

impl Out {
    fn family_mut(
        &mut self,
        name: &str,
        kind: MetricType,
        from: &proto::Family,
    ) -> &mut proto::Family {
        if let Some(f) = self.families.get(self.last) {
            if f.kind == kind && f.name == name {
                return &mut self.families[self.last];
            }
        }
        let i = *self
            .index
            .entry((name.to_string(), kind))
            .or_insert_with(|| {
                self.families.push(proto::Family {
                    name: name.to_string(),
                    kind,
                    help: from.help.clone(),
                    unit: from.unit.clone(),
                    samples: Vec::new(),
                });
                self.families.len() - 1
            });
        self.last = i;
        &mut self.families[i]
    }
}

/// A sample dropped with a reason, and its labels as the plugin sent them.
type Refused = (Vec<(String, String)>, DropReason);
/// A kept sample: its family name, type and the sample.
type Kept = Option<(String, MetricType, proto::Sample)>;

/// One family's relabeling.
struct Job<'a> {
    fam: &'a proto::Family,
    rules: &'a [Rule],
    plugin_label: Option<(&'a str, &'a str)>,
    /// One per rule, kept over the batch.
    memos: &'a mut [Memo],
}

/// One series of a compound sample.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Bucket(usize),
    Quantile(usize),
    Sum,
    Count,
}

impl Job<'_> {
    /// Labels relabeling cannot take (reserved names, the plugin label): left to validation.
    fn not_relabelable(&self, s: &proto::Sample) -> bool {
        let own = self.plugin_label.map(|(n, _)| n);
        s.labels
            .0
            .iter()
            .any(|(n, _)| n.starts_with("__") || Some(n.as_str()) == own)
    }

    /// The label set a rule sees for a series named `name`.
    fn label_set(&self, mut pairs: Vec<(String, String)>, name: String) -> LabelSet {
        pairs.reserve(2);
        pairs.push((NAME.to_string(), name));
        if let Some((n, v)) = self.plugin_label {
            pairs.push((n.to_string(), v.to_string()));
        }
        LabelSet::from_unique(pairs)
    }

    fn keep(&mut self, ls: &mut LabelSet) -> bool {
        let memos = self.memos.iter_mut();
        self.rules
            .iter()
            .zip(memos)
            .all(|(r, m)| r.apply_memo(ls, m))
    }

    /// Takes `__name__` and the plugin label out of a relabeled set.
    /// On refusal, the labels are handed back with the reason.
    fn split(&self, mut ls: LabelSet) -> Result<(String, LabelSet), (DropReason, LabelSet)> {
        if let Some((n, v)) = self.plugin_label {
            if ls.take(n).as_deref() != Some(v) {
                return Err((DropReason::RelabelPluginLabel(n.to_string()), ls));
            }
        }
        match ls.take(NAME) {
            Some(name) => Ok((name, ls)),
            None => Err((DropReason::RelabelNoName, ls)),
        }
    }

    fn scalar(&mut self, mut s: proto::Sample, dropped: &mut u64) -> Result<Kept, Refused> {
        let labels = std::mem::take(&mut s.labels.0);
        let mut ls = self.label_set(labels, self.fam.name.clone());
        if !self.keep(&mut ls) {
            *dropped += 1;
            return Ok(None);
        }
        // Reported with the labels relabeling left.
        let (name, rest) = self
            .split(ls)
            .map_err(|(reason, ls)| (ls.into_pairs(), reason))?;
        s.labels = Labels(rest.into_pairs());
        Ok(Some((name, self.fam.kind, s)))
    }

    fn parts(&self, s: &proto::Sample) -> Vec<Part> {
        let mut parts = Vec::new();
        let n = s.buckets.as_ref().map_or(0, Vec::len);
        parts.extend((0..n).map(Part::Bucket));
        let n = s.quantiles.as_ref().map_or(0, Vec::len);
        parts.extend((0..n).map(Part::Quantile));
        if s.sum.is_some() {
            parts.push(Part::Sum);
        }
        if s.count.is_some() {
            parts.push(Part::Count);
        }
        parts
    }

    fn suffix(&self, part: Part) -> &'static str {
        let gauge = self.fam.kind == MetricType::GaugeHistogram;
        match part {
            Part::Bucket(_) => "_bucket",
            Part::Quantile(_) => "",
            Part::Sum if gauge => "_gsum",
            Part::Count if gauge => "_gcount",
            Part::Sum => "_sum",
            Part::Count => "_count",
        }
    }

    /// The generated label of a part and its value as OpenMetrics writes it.
    fn generated(&self, s: &proto::Sample, part: Part) -> Option<(&'static str, String)> {
        let canonical = |v: f64| {
            let mut b = Vec::new();
            push_canonical_float(&mut b, v);
            String::from_utf8(b).unwrap_or_default()
        };
        match part {
            Part::Bucket(i) => Some(("le", canonical(s.buckets.as_ref()?[i].le.0))),
            Part::Quantile(i) => Some(("quantile", canonical(s.quantiles.as_ref()?[i].quantile.0))),
            Part::Sum | Part::Count => None,
        }
    }

    /// A histogram, gauge histogram or summary sample: each series relabeled, then put back.
    fn compound(&mut self, mut s: proto::Sample, dropped: &mut u64) -> Result<Kept, Refused> {
        let parts = self.parts(&s);
        let mut kept: Vec<(Part, LabelSet)> = Vec::with_capacity(parts.len());
        for part in parts {
            let name = format!("{}{}", self.fam.name, self.suffix(part));
            let mut ls = self.label_set(s.labels.0.clone(), name);
            if let Some((label, value)) = self.generated(&s, part) {
                ls.set(label, value);
            }
            if self.keep(&mut ls) {
                kept.push((part, ls));
            } else {
                *dropped += 1;
            }
        }
        if kept.is_empty() {
            return Ok(None);
        }
        let refuse = |s: &mut proto::Sample, reason| (std::mem::take(&mut s.labels.0), reason);
        let mut base: Option<(String, LabelSet)> = None;
        let mut which = Vec::with_capacity(kept.len());
        for (part, ls) in kept {
            let (name, mut rest) = self.split(ls).map_err(|(r, _)| refuse(&mut s, r))?;
            let stem = name.strip_suffix(self.suffix(part));
            let generated = self.generated(&s, part);
            let same_generated = match &generated {
                Some((label, value)) => rest.take(label).as_deref() == Some(value.as_str()),
                None => true,
            };
            let consistent = match (&base, stem) {
                (_, None) => false,
                (None, Some(stem)) => {
                    base = Some((stem.to_string(), rest));
                    same_generated
                }
                (Some((b, labels)), Some(stem)) => same_generated && b == stem && *labels == rest,
            };
            if !consistent {
                return Err(refuse(&mut s, DropReason::RelabelSplit));
            }
            which.push(part);
        }
        let Some((name, labels)) = base else {
            return Ok(None);
        };
        let kind = self
            .reassemble(&mut s, &which)
            .ok_or_else(|| refuse(&mut s, DropReason::RelabelSplit))?;
        s.labels = Labels(labels.into_pairs());
        Ok(Some((name, kind, s)))
    }

    /// Keeps the parts in `which` of sample `s`; the type that holds them, `None` when none
    /// can.
    fn reassemble(&self, s: &mut proto::Sample, which: &[Part]) -> Option<MetricType> {
        let sum = which.contains(&Part::Sum);
        let count = which.contains(&Part::Count);
        if !sum {
            s.sum = None;
        }
        if !count {
            s.count = None;
        }
        if self.fam.kind == MetricType::Summary {
            if let Some(quantiles) = &mut s.quantiles {
                let mut i = 0;
                quantiles.retain(|_| {
                    i += 1;
                    which.contains(&Part::Quantile(i - 1))
                });
            }
            return Some(MetricType::Summary);
        }
        let buckets = s.buckets.take().unwrap_or_default();
        let total = buckets.len();
        let kept: Vec<proto::Bucket> = buckets
            .into_iter()
            .enumerate()
            .filter(|(i, _)| which.contains(&Part::Bucket(*i)))
            .map(|(_, b)| b)
            .collect();
        if kept.is_empty() {
            // `_sum`/`_count` alone: a summary without quantiles writes the same series, but
            // not for a gauge histogram, whose `_gsum`/`_gcount` no other type writes.
            if self.fam.kind == MetricType::GaugeHistogram || total == 0 {
                return None;
            }
            s.quantiles = Some(Vec::new());
            return Some(MetricType::Summary);
        }
        let inf_kept = kept.last().is_some_and(|b| b.le.0 == f64::INFINITY);
        if (sum != count) || !inf_kept {
            return None;
        }
        s.buckets = Some(kept);
        Some(self.fam.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::testing::families;
    use crate::exposition::validate::Drops;
    use crate::relabel::RawRule;

    fn rules(yaml: &str) -> Vec<Rule> {
        let raw: Vec<RawRule> = yaml_serde::from_str(yaml).expect("test rules parse");
        crate::relabel::compile_rules(&raw).expect("test rules compile")
    }

    /// Reasons dropped, in order.
    #[derive(Default)]
    struct Reasons(Vec<DropReason>);

    impl DropSink for Reasons {
        fn dropped(&mut self, _: DropSite<'_>, reason: DropReason) {
            self.0.push(reason);
        }
    }

    fn run(json: &str, yaml: &str) -> (Relabeled, Vec<DropReason>) {
        let mut sink = Reasons::default();
        let out = relabel_batch(
            families(json),
            &rules(yaml),
            Some(("plugin", "p")),
            &mut sink,
        );
        (out, sink.0)
    }

    fn summary(f: &proto::Family) -> (String, MetricType, usize) {
        (f.name.clone(), f.kind, f.samples.len())
    }

    #[test]
    fn without_rules_the_batch_is_untouched() {
        let json = r#"[{"name":"a","type":"gauge","samples":[{"value":1}]},
                       {"name":"a","type":"gauge","samples":[{"value":2}]}]"#;
        let mut sink = Drops::default();
        let out = relabel_batch(families(json), &[], Some(("plugin", "p")), &mut sink);
        assert_eq!(out.families, families(json));
        assert_eq!(out.dropped, 0);
    }

    #[test]
    fn renamed_series_join_the_family_of_their_new_name() {
        let json = r#"[{"name":"a_x","type":"gauge","help":"x","samples":[{"labels":{"k":"1"},"value":1}]},
                       {"name":"a_y","type":"gauge","samples":[{"labels":{"k":"2"},"value":2},{"labels":{"k":"3"},"value":3}]}]"#;
        let (out, reasons) = run(
            json,
            "[{source_labels: [__name__], regex: 'a_.', target_label: __name__, replacement: a},
              {source_labels: [k], regex: '3', action: drop}]",
        );
        let got: Vec<_> = out.families.iter().map(summary).collect();
        assert_eq!(got, [("a".to_string(), MetricType::Gauge, 2)]);
        assert_eq!(out.families[0].help, "x");
        assert_eq!(out.dropped, 1);
        assert!(reasons.is_empty());
    }

    #[test]
    fn the_plugin_label_and_the_name_must_survive() {
        let json = r#"[{"name":"a","type":"gauge","samples":[{"labels":{"k":"1"},"value":1}]}]"#;
        let (out, reasons) = run(json, "[{target_label: plugin, replacement: other}]");
        assert!(out.families.is_empty());
        assert_eq!(reasons, [DropReason::RelabelPluginLabel("plugin".into())]);
        let (_, reasons) = run(json, "[{action: labelkeep, regex: 'k|plugin'}]");
        assert_eq!(reasons, [DropReason::RelabelNoName]);
        // The plugin label is visible to rules, and kept when left alone.
        let (out, reasons) = run(json, "[{source_labels: [plugin], target_label: src}]");
        assert!(reasons.is_empty());
        let labels = &out.families[0].samples[0].labels.0;
        assert_eq!(
            labels,
            &[("k".into(), "1".into()), ("src".into(), "p".into())]
        );
    }

    #[test]
    fn reserved_labels_pass_unrelabeled_for_validation_to_refuse() {
        let json = r#"[{"name":"a","type":"gauge","samples":[{"labels":{"__x":"1"},"value":1}]}]"#;
        let (out, reasons) = run(json, "[{action: drop, source_labels: [__x], regex: '1'}]");
        assert_eq!(out.families[0].samples.len(), 1);
        assert!(reasons.is_empty());
    }

    const HIST: &str = r#"[{"name":"h","type":"histogram","samples":[{"labels":{"k":"1"},
        "buckets":[{"le":0.5,"count":1},{"le":1,"count":2},{"le":"+Inf","count":3}],"sum":2,"count":3}]}]"#;

    #[test]
    fn histogram_series_are_relabeled_one_by_one_and_put_back() {
        // A bucket dropped by its `le` (written as OpenMetrics writes it): fewer buckets.
        let (out, reasons) = run(
            HIST,
            "[{source_labels: [le], regex: '1\\.0', action: drop}]",
        );
        assert!(reasons.is_empty());
        let s = &out.families[0].samples[0];
        let les: Vec<f64> = s.buckets.as_ref().unwrap().iter().map(|b| b.le.0).collect();
        assert_eq!(les, [0.5, f64::INFINITY]);
        assert_eq!(out.dropped, 1);
        // Every bucket dropped: a summary of `_sum` and `_count`.
        let (out, _) = run(
            HIST,
            "[{source_labels: [__name__], regex: 'h_bucket', action: drop}]",
        );
        assert_eq!(
            summary(&out.families[0]),
            ("h".into(), MetricType::Summary, 1)
        );
        assert_eq!(out.families[0].samples[0].quantiles, Some(Vec::new()));
        assert_eq!(out.dropped, 3);
    }

    #[test]
    fn histogram_series_treated_apart_are_dropped_with_a_reason() {
        for yaml in [
            // `_sum` relabeled alone.
            "[{source_labels: [__name__], regex: 'h_sum', target_label: x, replacement: y}]",
            // The `+Inf` bucket dropped.
            "[{source_labels: [le], regex: '\\+Inf', action: drop}]",
            // `le` rewritten.
            "[{source_labels: [le], regex: '0\\.5', target_label: le, replacement: '0.25'}]",
            // `_count` dropped, `_sum` kept.
            "[{source_labels: [__name__], regex: 'h_count', action: drop}]",
        ] {
            let (out, reasons) = run(HIST, yaml);
            assert!(out.families.iter().all(|f| f.samples.is_empty()), "{yaml}");
            assert_eq!(reasons, [DropReason::RelabelSplit], "{yaml}");
        }
    }

    #[test]
    fn gauge_histograms_and_summaries_keep_their_own_series_names() {
        let gh = r#"[{"name":"g","type":"gaugehistogram","samples":[{
            "buckets":[{"le":"+Inf","count":3}],"sum":2,"count":3}]}]"#;
        let (out, _) = run(
            gh,
            "[{source_labels: [__name__], regex: 'g_gsum', target_label: x, replacement: y}]",
        );
        assert!(out.families.is_empty(), "_gsum is relabeled as g_gsum");
        let (_, reasons) = run(
            gh,
            "[{source_labels: [__name__], regex: 'g_bucket', action: drop}]",
        );
        assert_eq!(reasons, [DropReason::RelabelSplit]);

        let sm = r#"[{"name":"s","type":"summary","samples":[{
            "quantiles":[{"quantile":0.5,"value":1},{"quantile":0.9,"value":2}],"sum":2,"count":3}]}]"#;
        let (out, reasons) = run(
            sm,
            "[{source_labels: [__name__], regex: 's_sum', action: drop}]",
        );
        assert!(reasons.is_empty());
        let s = &out.families[0].samples[0];
        assert_eq!((s.sum, s.count.map(|c| c.0)), (None, Some(3.0)));
        assert_eq!(s.quantiles.as_ref().map(Vec::len), Some(2));
    }
}
