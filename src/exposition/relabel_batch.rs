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
use crate::relabel::{LabelSet, Rule};
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
    for mut fam in families {
        let samples = std::mem::take(&mut fam.samples);
        if samples.is_empty() {
            out.family_mut(&fam.name, fam.kind, &fam);
            continue;
        }
        let job = Job {
            fam: &fam,
            rules,
            plugin_label,
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
}

impl Out {
    fn family_mut(
        &mut self,
        name: &str,
        kind: MetricType,
        from: &proto::Family,
    ) -> &mut proto::Family {
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
    fn label_set(&self, labels: &[(String, String)], name: String) -> LabelSet {
        let mut pairs = Vec::with_capacity(labels.len() + 2);
        pairs.extend(labels.iter().cloned());
        pairs.push((NAME.to_string(), name));
        if let Some((n, v)) = self.plugin_label {
            pairs.push((n.to_string(), v.to_string()));
        }
        LabelSet::from_unique(pairs)
    }

    fn keep(&self, ls: &mut LabelSet) -> bool {
        self.rules.iter().all(|r| r.apply(ls))
    }

    /// Takes `__name__` and the plugin label out of a relabeled set.
    fn split(&self, mut ls: LabelSet) -> Result<(String, LabelSet), DropReason> {
        if let Some((n, v)) = self.plugin_label {
            if ls.take(n).as_deref() != Some(v) {
                return Err(DropReason::RelabelPluginLabel(n.to_string()));
            }
        }
        let name = ls.take(NAME).ok_or(DropReason::RelabelNoName)?;
        Ok((name, ls))
    }

    fn scalar(&self, mut s: proto::Sample, dropped: &mut u64) -> Result<Kept, Refused> {
        let mut ls = self.label_set(&s.labels.0, self.fam.name.clone());
        if !self.keep(&mut ls) {
            *dropped += 1;
            return Ok(None);
        }
        let (name, rest) = self
            .split(ls)
            .map_err(|reason| (std::mem::take(&mut s.labels.0), reason))?;
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
    fn compound(&self, mut s: proto::Sample, dropped: &mut u64) -> Result<Kept, Refused> {
        let parts = self.parts(&s);
        let mut kept: Vec<(Part, LabelSet)> = Vec::with_capacity(parts.len());
        for part in parts {
            let name = format!("{}{}", self.fam.name, self.suffix(part));
            let mut ls = self.label_set(&s.labels.0, name);
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
            let (name, mut rest) = self.split(ls).map_err(|r| refuse(&mut s, r))?;
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
