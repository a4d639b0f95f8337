//! Validation of one plugin batch: whatever survives is valid in text 0.0.4 and, rendered by
//! [`super::render`], in OpenMetrics 1.0. Each problem drops the smallest unit it spoils (a
//! sample, a unit, or a whole family when family-level data is bad) and is counted in
//! [`Drops`] (or any [`DropSink`]) with its [`DropReason`]; nothing here panics on plugin input.
//!
//! # Choices
//! - Family-level decisions (name syntax, reserved prefix, repeated name, claimed-name
//!   collision) look at names and types only, in batch order, before any sample is checked. A
//!   family therefore never loses its name to a later one because its own samples were bad,
//!   and the outcome is easy to explain to a plugin author.
//! - A family the plugin sent with zero samples is kept (its HELP/TYPE still document it). A
//!   family whose samples were all dropped is dropped as well, without a further count: its
//!   samples were already counted, and an empty family would hide that something went wrong.
//! - Histogram bucket counts and `count`, and summary `count`, must be finite non-negative
//!   integers. Text 0.0.4 would take floats, but OpenMetrics 1.0 says "Count and bucket values
//!   MUST be integers" and we serve both formats from one validated batch.
//! - The value rules are OpenMetrics' ([`super::values`]), for every input: what we keep is
//!   what both formats can serve. A rule about a part of a series (a NaN or negative sum, a
//!   sum beside negative bucket bounds, a negative quantile value, an exemplar where none
//!   belongs) drops only that part, counted under its own kind (`forbidden_value`,
//!   `invalid_exemplar`), and the series is served without it.
//! - A series repeated with increasing timestamps is a series with several samples, of which
//!   the latest is served (the exposition has one per series); no error. Repeated with a
//!   timestamp before the previous one, or with and without one, the repeat is dropped as
//!   `timestamp_order`; with the same timestamp it is the same sample written twice (what
//!   OpenMetrics' own test suite calls a duplicate by timestamp truncation) and the first is
//!   kept silently; without timestamps it is a `duplicate_series`.
//! - Prometheus treats a label with an empty value as absent, so `{a=""}` and `{}` are the
//!   same series: duplicate detection ignores empty-valued labels ([`label_identity`]).
//! - `le` and `quantile` are refused as plugin labels on every type: the encoders generate them
//!   for histograms and summaries, and elsewhere they confuse queries and promtool.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use super::drop_reason::{DropReason, DropSink, DropSite};
use super::model::{self, MetricType};
use super::values;
use crate::codes::ErrorKind;
use plugin_protocol as proto;

/// Metric-name prefix of the exporter's own metrics.
pub const RESERVED_PREFIX: &str = "plugin_exporter_";
/// Default for [`ValidateOptions::max_labels`].
pub const DEFAULT_MAX_LABELS: usize = 32;
/// Default for [`ValidateOptions::max_label_name_len`] (bytes).
pub const DEFAULT_MAX_LABEL_NAME_LEN: usize = 1024;
/// Default for [`ValidateOptions::max_label_value_len`] (bytes).
pub const DEFAULT_MAX_LABEL_VALUE_LEN: usize = 4096;

/// What a batch is checked against, beyond the fixed exposition rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateOptions<'a> {
    /// Label the exporter adds to every series of this plugin (e.g. `("plugin", "disk")`), or
    /// `None` when disabled. A plugin label with this name is refused.
    pub extra_label: Option<(&'a str, &'a str)>,
    /// Metric-name prefix reserved for the exporter's own metrics (`plugin_exporter_`). Empty
    /// disables the check.
    pub reserved_prefix: &'a str,
    /// Max label pairs per series, counting the plugin's labels plus the extra label (what a
    /// scraper's `label_limit` sees, minus the generated `le`/`quantile`).
    pub max_labels: usize,
    /// Max label name length in bytes.
    pub max_label_name_len: usize,
    /// Max label value length in bytes.
    pub max_label_value_len: usize,
}

impl Default for ValidateOptions<'static> {
    fn default() -> Self {
        ValidateOptions {
            extra_label: None,
            reserved_prefix: RESERVED_PREFIX,
            max_labels: DEFAULT_MAX_LABELS,
            max_label_name_len: DEFAULT_MAX_LABEL_NAME_LEN,
            max_label_value_len: DEFAULT_MAX_LABEL_VALUE_LEN,
        }
    }
}

impl<'a> ValidateOptions<'a> {
    /// Options with the default limits, the given extra label and the standard reserved prefix.
    pub fn with_extra_label(extra_label: Option<(&'a str, &'a str)>) -> Self {
        ValidateOptions {
            extra_label,
            ..ValidateOptions::default()
        }
    }
}

/// Counts of what validation dropped, by kind. Adds up over batches.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Drops {
    /// Families, units and samples that broke a rule (one per dropped thing).
    pub invalid_metric: u64,
    /// Samples whose label set repeated an earlier one in the same family.
    pub duplicate_series: u64,
    /// Samples, or parts of them, holding a value OpenMetrics forbids.
    pub forbidden_value: u64,
    /// Samples repeating their series out of timestamp order.
    pub timestamp_order: u64,
    /// Exemplars dropped from their samples.
    pub invalid_exemplar: u64,
}

impl Drops {
    /// Every count with the error kind it is counted under.
    pub fn counts(&self) -> [(ErrorKind, u64); 5] {
        [
            (ErrorKind::InvalidMetric, self.invalid_metric),
            (ErrorKind::DuplicateSeries, self.duplicate_series),
            (ErrorKind::ForbiddenValue, self.forbidden_value),
            (ErrorKind::TimestampOrder, self.timestamp_order),
            (ErrorKind::InvalidExemplar, self.invalid_exemplar),
        ]
    }

    /// The number of drops of every kind.
    pub fn total(&self) -> u64 {
        self.counts().iter().map(|(_, n)| n).sum()
    }
}

impl DropSink for Drops {
    fn dropped(&mut self, _site: DropSite<'_>, reason: DropReason) {
        let count = match reason.kind() {
            ErrorKind::DuplicateSeries => &mut self.duplicate_series,
            ErrorKind::ForbiddenValue => &mut self.forbidden_value,
            ErrorKind::TimestampOrder => &mut self.timestamp_order,
            ErrorKind::InvalidExemplar => &mut self.invalid_exemplar,
            _ => &mut self.invalid_metric,
        };
        *count += 1;
    }
}

/// Suffixes the exposition formats give meaning to. None is a suffix of another, so a name
/// splits into stem and suffix in exactly one way.
const SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
];

/// A sample or family name that a family occupies in either format, split canonically so that
/// histogram `foo` + `_bucket` equals a gauge literally named `foo_bucket` without allocating
/// (merge builds these on every scrape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimedName<'a> {
    stem: &'a str,
    suffix: &'static str,
}

impl<'a> ClaimedName<'a> {
    /// `base` followed by `suffix` (empty or one of [`SUFFIXES`]), in canonical form.
    fn new(base: &'a str, suffix: &'static str) -> Self {
        if suffix.is_empty() {
            for s in SUFFIXES {
                if let Some(stem) = base.strip_suffix(s) {
                    return ClaimedName { stem, suffix: s };
                }
            }
        }
        ClaimedName { stem: base, suffix }
    }
}

impl fmt::Display for ClaimedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.stem, self.suffix)
    }
}

/// For a counter named `<stem>_total` (with a non-empty stem), the stem: its OpenMetrics
/// family name. `None` for counters without the suffix, which OpenMetrics gets as `unknown`.
pub fn counter_stem(name: &str) -> Option<&str> {
    name.strip_suffix("_total").filter(|s| !s.is_empty())
}

/// For an info family named `<stem>_info` (with a non-empty stem), the stem: its OpenMetrics
/// family name. Info families without the suffix are refused.
pub fn info_stem(name: &str) -> Option<&str> {
    name.strip_suffix("_info").filter(|s| !s.is_empty())
}

/// Every name a family of this name and type occupies in text 0.0.4 or OpenMetrics 1.0:
/// its sample names, its OpenMetrics family name, and the `_created` name OpenMetrics reserves
/// for counters, histograms and summaries. Two families may not share any of them. A gauge
/// histogram claims the names of both its formats: text 0.0.4 writes it as a histogram.
pub fn claimed_names(name: &str, kind: MetricType) -> impl Iterator<Item = ClaimedName<'_>> {
    let (base, suffixes): (&str, &'static [&'static str]) = match kind {
        MetricType::Counter => match counter_stem(name) {
            Some(stem) => (stem, &["", "_total", "_created"]),
            None => (name, &[""]),
        },
        MetricType::Info => match info_stem(name) {
            Some(stem) => (stem, &["", "_info"]),
            None => (name, &[""]),
        },
        MetricType::Gauge | MetricType::Untyped | MetricType::StateSet => (name, &[""]),
        MetricType::Histogram => (name, &["", "_bucket", "_count", "_sum", "_created"]),
        MetricType::GaugeHistogram => (
            name,
            &[
                "", "_bucket", "_gcount", "_gsum", "_count", "_sum", "_created",
            ],
        ),
        MetricType::Summary => (name, &["", "_count", "_sum", "_created"]),
    };
    suffixes.iter().map(move |s| ClaimedName::new(base, s))
}

/// True when `s` is a valid metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

pub use values::is_label_name;

/// The label set as Prometheus identifies a series: empty-valued labels removed (they mean
/// "absent"), sorted by name. Used for duplicate detection here and span keys in render.
pub fn label_identity(labels: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    v.sort_unstable();
    v
}

/// Checks one plugin batch and converts what is valid into our model, in batch order.
/// Every dropped family, unit or sample is reported to `sink` with its reason.
pub fn validate(
    families: Vec<proto::Family>,
    opts: &ValidateOptions,
    sink: &mut impl DropSink,
) -> Vec<model::Family> {
    let accepted = accept_families(&families, opts, sink);
    let mut out = Vec::with_capacity(families.len());
    for (fam, ok) in families.into_iter().zip(accepted) {
        if ok {
            if let Some(f) = validate_family(fam, opts, sink) {
                out.push(f);
            }
        }
    }
    out
}

/// Family-level decisions, from names and types only: which families may go on.
fn accept_families(
    families: &[proto::Family],
    opts: &ValidateOptions,
    sink: &mut impl DropSink,
) -> Vec<bool> {
    let mut names: HashSet<&str> = HashSet::with_capacity(families.len());
    // Each claimed name, with the index of the family that claimed it.
    let mut claims: HashMap<ClaimedName<'_>, usize> = HashMap::with_capacity(families.len() * 3);
    let mut accepted = Vec::with_capacity(families.len());
    for (i, f) in families.iter().enumerate() {
        // `names` also holds families dropped for a collision, so a repeat of one of those is
        // refused by the repeated-name rule rather than getting a second chance.
        let refused = family_refusal(f, opts, &mut names, &claims, families);
        accepted.push(refused.is_none());
        match refused {
            None => {
                for c in claimed_names(&f.name, f.kind) {
                    claims.entry(c).or_insert(i);
                }
            }
            Some(reason) => sink.dropped(DropSite::Family(&f.name), reason),
        }
    }
    accepted
}

/// Why family `f` is refused whole, given the names and claims of the families before it.
fn family_refusal<'a>(
    f: &'a proto::Family,
    opts: &ValidateOptions,
    names: &mut HashSet<&'a str>,
    claims: &HashMap<ClaimedName<'_>, usize>,
    families: &[proto::Family],
) -> Option<DropReason> {
    if !is_metric_name(&f.name) {
        return Some(DropReason::FamilyName);
    }
    if !opts.reserved_prefix.is_empty() && f.name.starts_with(opts.reserved_prefix) {
        return Some(DropReason::ReservedPrefix(RESERVED_PREFIX));
    }
    if !names.insert(f.name.as_str()) {
        return Some(DropReason::RepeatedFamily);
    }
    if f.kind == MetricType::Info && info_stem(&f.name).is_none() {
        return Some(DropReason::InfoName);
    }
    let (claimed, &owner) =
        claimed_names(&f.name, f.kind).find_map(|c| claims.get(&c).map(|o| (c, o)))?;
    let other = &families[owner];
    Some(DropReason::Collision {
        kind: f.kind,
        other: other.name.clone(),
        other_kind: other.kind,
        name: claimed.to_string(),
    })
}

/// Unit, samples and duplicates of one accepted family. `None` when all its samples went.
fn validate_family(
    mut f: proto::Family,
    opts: &ValidateOptions,
    sink: &mut impl DropSink,
) -> Option<model::Family> {
    let unit = match f.unit {
        Some(u) => match unit_problem(&f.name, f.kind, &u) {
            None => Some(u),
            Some(reason) => {
                sink.dropped(DropSite::Unit(&f.name), reason);
                None
            }
        },
        None => None,
    };
    let sent = f.samples.len();
    let mut samples = Vec::with_capacity(sent);
    let mut partial = Vec::new();
    // By reference: a wire sample is large, and only its labels are kept.
    for s in &mut f.samples {
        let checked = match labels_problem(&s.labels.0, opts) {
            Some(reason) => Err(reason),
            None => values::check(s, &f.name, f.kind, &mut partial),
        };
        for reason in partial.drain(..) {
            sink.dropped(DropSite::Series(&f.name, &s.labels.0), reason);
        }
        match checked {
            Ok(c) => samples.push(model::Sample {
                labels: std::mem::take(&mut s.labels.0),
                value: c.value,
                timestamp: c.timestamp,
                extra: c.extra,
            }),
            Err(reason) => sink.dropped(DropSite::Series(&f.name, &s.labels.0), reason),
        }
    }
    drop_duplicates(&f.name, &mut samples, sink);
    if samples.is_empty() && sent > 0 {
        return None;
    }
    Some(model::Family {
        name: f.name,
        kind: f.kind,
        help: f.help,
        unit,
        samples,
    })
}

/// A unit is `[a-zA-Z0-9_:]+` and the OpenMetrics family name must end in `_<unit>`.
fn unit_problem(name: &str, kind: MetricType, unit: &str) -> Option<DropReason> {
    let valid = !unit.is_empty()
        && unit
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
    if !valid {
        return Some(DropReason::UnitSyntax(unit.to_string()));
    }
    if matches!(kind, MetricType::Info | MetricType::StateSet) {
        return Some(DropReason::UnitNotAllowed(kind));
    }
    let family = match kind {
        MetricType::Counter => counter_stem(name).unwrap_or(name),
        _ => name,
    };
    let fits = family
        .strip_suffix(unit)
        .is_some_and(|rest| rest.ends_with('_'));
    (!fits).then(|| DropReason::UnitMismatch {
        unit: unit.to_string(),
        stem: family.to_string(),
    })
}

fn labels_problem(labels: &[(String, String)], opts: &ValidateOptions) -> Option<DropReason> {
    let extra = opts.extra_label.map(|(n, _)| n);
    let allowed = opts.max_labels.saturating_sub(usize::from(extra.is_some()));
    if labels.len() > allowed {
        return Some(DropReason::TooManyLabels {
            labels: labels.len(),
            allowed,
        });
    }
    for (i, (n, v)) in labels.iter().enumerate() {
        let reason = if n.len() > opts.max_label_name_len || v.len() > opts.max_label_value_len {
            DropReason::LabelTooLong {
                name: n.clone(),
                max_name: opts.max_label_name_len,
                max_value: opts.max_label_value_len,
            }
        } else if !is_label_name(n) {
            DropReason::LabelName(n.clone())
        } else if n.starts_with("__") {
            DropReason::ReservedLabel(n.clone())
        } else if n == "le" || n == "quantile" {
            DropReason::GeneratedLabel(n.clone())
        } else if Some(n.as_str()) == extra {
            DropReason::PluginLabel(n.clone())
        // Quadratic, but bounded by max_labels; cheaper than hashing for typical sizes.
        } else if labels[..i].iter().any(|(m, _)| m == n) {
            DropReason::RepeatedLabel(n.clone())
        } else {
            continue;
        };
        return Some(reason);
    }
    None
}

/// A fingerprint of a label set's identity ([`label_identity`]) that needs no allocation and
/// no sort: the wrapping sum of one hash per non-empty pair, so label order does not matter.
/// Equal identities give equal fingerprints; unequal ones collide with a chance of about
/// 2^-64, and callers that must be exact compare identities when fingerprints match. The keys
/// are fixed, so fingerprints are comparable across plugins and batches.
pub fn label_fingerprint(labels: &[(String, String)]) -> u64 {
    let keys = BuildHasherDefault::<DefaultHasher>::default();
    labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .fold(0u64, |acc, (n, v)| {
            acc.wrapping_add(keys.hash_one((n.as_str(), v.as_str())))
        })
}

/// Keeps one sample of each series (label identity), in order: the first, or the latest of
/// increasing timestamps; every other is reported (see the module docs).
fn drop_duplicates(family: &str, samples: &mut Vec<model::Sample>, sink: &mut impl DropSink) {
    drop_duplicates_by(family, samples, sink, label_fingerprint);
}

/// [`drop_duplicates`] with the fingerprint as a parameter, so tests can force collisions.
fn drop_duplicates_by(
    family: &str,
    samples: &mut Vec<model::Sample>,
    sink: &mut impl DropSink,
    fingerprint: impl Fn(&[(String, String)]) -> u64,
) {
    if samples.len() < 2 {
        return;
    }
    let mut keep = vec![true; samples.len()];
    let mut all_kept = true;
    {
        // Each series' fingerprint, with the index of the sample kept for it so far. Series
        // whose fingerprint collides with another series' go to `collided`, keyed exactly.
        let mut kept: HashMap<u64, usize> = HashMap::with_capacity(samples.len());
        let mut collided: HashMap<Vec<(&str, &str)>, usize> = HashMap::new();
        for (i, s) in samples.iter().enumerate() {
            let mut slot = match kept.entry(fingerprint(&s.labels)) {
                Entry::Vacant(v) => {
                    v.insert(i);
                    continue;
                }
                Entry::Occupied(o) => o,
            };
            let same = label_identity(&samples[*slot.get()].labels) == label_identity(&s.labels);
            let slot: &mut usize = if same {
                slot.get_mut()
            } else {
                match collided.entry(label_identity(&s.labels)) {
                    Entry::Vacant(v) => {
                        v.insert(i);
                        continue;
                    }
                    Entry::Occupied(o) => o.into_mut(),
                }
            };
            all_kept = false;
            let k = *slot;
            let reason = match (samples[k].timestamp, s.timestamp) {
                (Some(prev), Some(ts)) if ts > prev => {
                    // A later sample of the series replaces the earlier one.
                    keep[k] = false;
                    *slot = i;
                    continue;
                }
                (Some(prev), Some(ts)) if ts == prev => None,
                (Some(prev), Some(ts)) => Some(DropReason::TimestampOrder { ts, prev }),
                (None, None) => Some(DropReason::DuplicateSeries),
                _ => Some(DropReason::TimestampPresence),
            };
            keep[i] = false;
            if let Some(reason) = reason {
                sink.dropped(DropSite::Series(family, &s.labels), reason);
            }
        }
    }
    if all_kept {
        return;
    }
    let mut keep = keep.into_iter();
    // `keep` has exactly one entry per sample, in the order retain visits them.
    samples.retain(|_| keep.next().unwrap_or(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::model::SampleValue;
    use crate::exposition::testing::families;

    fn run(json: &str, opts: &ValidateOptions) -> (Vec<model::Family>, Drops) {
        let mut drops = Drops::default();
        let out = validate(families(json), opts, &mut drops);
        (out, drops)
    }

    fn run_default(json: &str) -> (Vec<model::Family>, Drops) {
        run(json, &ValidateOptions::default())
    }

    fn names(fams: &[model::Family]) -> Vec<&str> {
        fams.iter().map(|f| f.name.as_str()).collect()
    }

    fn invalid(n: u64) -> Drops {
        Drops {
            invalid_metric: n,
            ..Drops::default()
        }
    }

    fn forbidden(n: u64) -> Drops {
        Drops {
            forbidden_value: n,
            ..Drops::default()
        }
    }

    /// One sample kept, with exactly the parts dropped that `drops` counts.
    fn assert_sample_trimmed(
        kind: &str,
        sample: &str,
        drops: Drops,
        opts: &ValidateOptions,
    ) -> model::Sample {
        let (mut kept, got) = one_sample(kind, sample, opts);
        assert_eq!(got, drops, "{kind} {sample}");
        assert_eq!(kept.len(), 1, "{kind} {sample}");
        kept.remove(0)
    }

    fn gauge(name: &str) -> String {
        format!(r#"{{"name":"{name}","type":"gauge","samples":[{{"value":1}}]}}"#)
    }

    fn batch(fams: &[String]) -> String {
        format!("[{}]", fams.join(","))
    }

    /// Validates one family holding `sample` (a JSON object) and returns what was kept.
    fn one_sample(kind: &str, sample: &str, opts: &ValidateOptions) -> (Vec<model::Sample>, Drops) {
        let json = format!(r#"[{{"name":"x","type":"{kind}","samples":[{sample}]}}]"#);
        let (fams, drops) = run(&json, opts);
        (fams.into_iter().flat_map(|f| f.samples).collect(), drops)
    }

    fn assert_sample_dropped(kind: &str, sample: &str, opts: &ValidateOptions) {
        let (kept, drops) = one_sample(kind, sample, opts);
        assert!(
            kept.is_empty(),
            "{kind} {sample} should be dropped, kept {kept:?}"
        );
        assert_eq!(drops, invalid(1), "{kind} {sample}");
    }

    fn assert_sample_kept(kind: &str, sample: &str, opts: &ValidateOptions) -> model::Sample {
        let (mut kept, drops) = one_sample(kind, sample, opts);
        assert_eq!(drops, Drops::default(), "{kind} {sample} should be kept");
        assert_eq!(kept.len(), 1, "{kind} {sample}");
        kept.remove(0)
    }

    #[test]
    fn family_name_must_match_metric_name_syntax() {
        let json = batch(&[
            gauge("ok_name"),
            gauge("1bad"),
            gauge("bad-name"),
            gauge(""),
            gauge("a:b"),
            gauge("caf\u{e9}"),
        ]);
        let (out, drops) = run_default(&json);
        assert_eq!(names(&out), ["ok_name", "a:b"]);
        assert_eq!(drops, invalid(4));
    }

    #[test]
    fn reserved_prefix_drops_the_family() {
        let json = batch(&[gauge("plugin_exporter_up"), gauge("plugin_exporterx")]);
        let (out, drops) = run_default(&json);
        assert_eq!(names(&out), ["plugin_exporterx"]);
        assert_eq!(drops, invalid(1));
        let no_prefix = ValidateOptions {
            reserved_prefix: "",
            ..ValidateOptions::default()
        };
        let (out, drops) = run(&json, &no_prefix);
        assert_eq!(names(&out), ["plugin_exporter_up", "plugin_exporterx"]);
        assert_eq!(drops, invalid(0));
    }

    #[test]
    fn repeated_family_name_keeps_the_first() {
        let json = r#"[{"name":"x","type":"gauge","samples":[{"value":1}]},
                       {"name":"x","type":"gauge","samples":[{"value":2}]},
                       {"name":"x","type":"counter","samples":[{"value":3}]}]"#;
        let (out, drops) = run_default(json);
        assert_eq!(names(&out), ["x"]);
        assert_eq!(out[0].samples[0].value, SampleValue::Scalar(1.0));
        assert_eq!(drops, invalid(2));
    }

    #[test]
    fn claimed_names_cover_both_formats() {
        let claimed = |name, kind| -> Vec<String> {
            claimed_names(name, kind).map(|c| c.to_string()).collect()
        };
        assert_eq!(
            claimed("foo", MetricType::Histogram),
            ["foo", "foo_bucket", "foo_count", "foo_sum", "foo_created"]
        );
        assert_eq!(
            claimed("foo", MetricType::Summary),
            ["foo", "foo_count", "foo_sum", "foo_created"]
        );
        assert_eq!(
            claimed("foo_total", MetricType::Counter),
            ["foo", "foo_total", "foo_created"]
        );
        assert_eq!(claimed("foo", MetricType::Counter), ["foo"]);
        assert_eq!(claimed("foo_sum", MetricType::Gauge), ["foo_sum"]);
        assert_eq!(claimed("foo", MetricType::Untyped), ["foo"]);
        // Same text, different split: equal claims.
        let bucket = ClaimedName::new("foo", "_bucket");
        assert_eq!(
            claimed_names("foo_bucket", MetricType::Gauge).next(),
            Some(bucket)
        );
    }

    #[test]
    fn histogram_claims_block_later_families() {
        let json = batch(&[
            r#"{"name":"foo","type":"histogram","samples":[]}"#.to_string(),
            gauge("foo_bucket"),
            gauge("foo_sum"),
            gauge("foo_count"),
            gauge("foo_created"),
            gauge("foo_other"),
        ]);
        let (out, drops) = run_default(&json);
        assert_eq!(names(&out), ["foo", "foo_other"]);
        assert_eq!(drops, invalid(4));
    }

    #[test]
    fn earlier_gauge_blocks_a_later_histogram_that_would_claim_its_name() {
        let json = batch(&[
            gauge("foo_sum"),
            r#"{"name":"foo","type":"histogram","samples":[]}"#.to_string(),
        ]);
        let (out, drops) = run_default(&json);
        assert_eq!(names(&out), ["foo_sum"]);
        assert_eq!(drops, invalid(1));
    }

    #[test]
    fn summary_claims_sum_and_count_but_not_bucket() {
        let json = batch(&[
            r#"{"name":"foo","type":"summary","samples":[]}"#.to_string(),
            gauge("foo_count"),
            gauge("foo_bucket"),
        ]);
        let (out, drops) = run_default(&json);
        assert_eq!(names(&out), ["foo", "foo_bucket"]);
        assert_eq!(drops, invalid(1));
    }

    #[test]
    fn counter_with_total_claims_its_openmetrics_family_name_and_created() {
        let json = batch(&[
            r#"{"name":"foo_total","type":"counter","samples":[{"value":1}]}"#.to_string(),
            gauge("foo"),
            gauge("foo_created"),
            r#"{"name":"foo","type":"counter","samples":[{"value":1}]}"#.to_string(),
            // A counter without `_total` only claims its own name.
            r#"{"name":"bar","type":"counter","samples":[{"value":1}]}"#.to_string(),
            gauge("bar_total"),
        ]);
        let (out, drops) = run_default(&json);
        assert_eq!(names(&out), ["foo_total", "bar", "bar_total"]);
        assert_eq!(drops, invalid(3));
    }

    #[test]
    fn unit_must_be_a_suffix_of_the_name_or_only_the_unit_is_dropped() {
        let json = r#"[
          {"name":"a_bytes","type":"gauge","unit":"bytes","samples":[{"value":1}]},
          {"name":"b_seconds_total","type":"counter","unit":"seconds","samples":[{"value":1}]},
          {"name":"c_bytes","type":"gauge","unit":"seconds","samples":[{"value":1}]},
          {"name":"dbytes","type":"gauge","unit":"bytes","samples":[{"value":1}]},
          {"name":"e_total","type":"counter","unit":"total","samples":[{"value":1}]},
          {"name":"f_by","type":"gauge","unit":"","samples":[{"value":1}]},
          {"name":"g_by-tes","type":"gauge","unit":"by-tes","samples":[{"value":1}]},
          {"name":"bytes","type":"gauge","unit":"bytes","samples":[{"value":1}]}
        ]"#;
        let (out, drops) = run_default(json);
        let units: Vec<(&str, Option<&str>)> = out
            .iter()
            .map(|f| (f.name.as_str(), f.unit.as_deref()))
            .collect();
        assert_eq!(
            units,
            [
                ("a_bytes", Some("bytes")),
                ("b_seconds_total", Some("seconds")),
                ("c_bytes", None),
                ("dbytes", None),
                ("e_total", None),
                ("f_by", None),
                ("bytes", None),
            ]
        );
        // g_by-tes is dropped for its name; five others lose only their unit.
        assert_eq!(drops, invalid(6));
    }

    #[test]
    fn invalid_labels_drop_only_their_sample() {
        let opts = ValidateOptions {
            extra_label: Some(("plugin", "disk")),
            max_labels: 3,
            max_label_name_len: 8,
            max_label_value_len: 5,
            ..ValidateOptions::default()
        };
        let cases = [
            ("gauge", r#"{"labels":{"1a":"x"},"value":1}"#),
            ("gauge", r#"{"labels":{"a-b":"x"},"value":1}"#),
            ("gauge", r#"{"labels":{"":"x"},"value":1}"#),
            ("gauge", r#"{"labels":{"__name__":"x"},"value":1}"#),
            ("gauge", r#"{"labels":{"__x":"x"},"value":1}"#),
            ("gauge", r#"{"labels":{"a":"1","a":"2"},"value":1}"#),
            ("gauge", r#"{"labels":{"plugin":"x"},"value":1}"#),
            ("gauge", r#"{"labels":{"le":"1"},"value":1}"#),
            ("gauge", r#"{"labels":{"quantile":"1"},"value":1}"#),
            (
                "histogram",
                r#"{"labels":{"le":"1"},"buckets":[],"sum":0,"count":0}"#,
            ),
            (
                "histogram",
                r#"{"labels":{"quantile":"1"},"buckets":[],"sum":0,"count":0}"#,
            ),
            (
                "summary",
                r#"{"labels":{"quantile":"1"},"quantiles":[],"sum":0,"count":0}"#,
            ),
            (
                "summary",
                r#"{"labels":{"le":"1"},"quantiles":[],"sum":0,"count":0}"#,
            ),
            // Three plugin labels plus the extra label exceed max_labels = 3.
            ("gauge", r#"{"labels":{"a":"1","b":"2","c":"3"},"value":1}"#),
            ("gauge", r#"{"labels":{"abcdefghi":"x"},"value":1}"#),
            ("gauge", r#"{"labels":{"a":"abcdef"},"value":1}"#),
        ];
        for (kind, sample) in cases {
            assert_sample_dropped(kind, sample, &opts);
        }
        // Exactly at every limit is fine; a single underscore prefix is not reserved.
        let s = assert_sample_kept(
            "gauge",
            r#"{"labels":{"_a":"12345","abcdefgh":""},"value":1}"#,
            &opts,
        );
        assert_eq!(s.labels.len(), 2);
    }

    #[test]
    fn value_shape_must_match_the_type() {
        let opts = ValidateOptions::default();
        let cases = [
            ("gauge", r#"{}"#),
            ("gauge", r#"{"value":1,"buckets":[]}"#),
            ("gauge", r#"{"value":1,"sum":1}"#),
            ("counter", r#"{"value":1,"quantiles":[]}"#),
            ("untyped", r#"{"value":1,"count":1}"#),
            ("histogram", r#"{"sum":1,"count":1}"#),
            ("histogram", r#"{"buckets":[],"sum":1}"#),
            ("histogram", r#"{"value":1,"buckets":[],"sum":0,"count":0}"#),
            (
                "histogram",
                r#"{"quantiles":[],"buckets":[],"sum":0,"count":0}"#,
            ),
            ("summary", r#"{}"#),
            ("summary", r#"{"value":1,"count":1}"#),
            (
                "summary",
                r#"{"quantiles":[],"buckets":[],"sum":0,"count":0}"#,
            ),
            ("gauge", r#"{"value":1,"created":5}"#),
            ("untyped", r#"{"value":1,"timestamp":1,"created":5}"#),
            ("gaugehistogram", r#"{"buckets":[],"count":1,"created":5}"#),
            ("gaugehistogram", r#"{"buckets":[],"sum":1}"#),
            ("info", r#"{"labels":{"v":"1"},"count":1}"#),
            ("stateset", r#"{"labels":{"x":"a"}}"#),
        ];
        for (kind, sample) in cases {
            assert_sample_dropped(kind, sample, &opts);
        }
    }

    #[test]
    fn counter_values_must_not_be_nan_or_negative_while_gauges_take_anything() {
        let opts = ValidateOptions::default();
        assert_sample_dropped("counter", r#"{"value":"NaN"}"#, &opts);
        assert_sample_dropped("counter", r#"{"value":-1}"#, &opts);
        assert_sample_dropped("counter", r#"{"value":"-Inf"}"#, &opts);
        let inf = assert_sample_kept("counter", r#"{"value":"+Inf"}"#, &opts);
        assert_eq!(inf.value, SampleValue::Scalar(f64::INFINITY));
        assert_sample_kept("counter", r#"{"value":0}"#, &opts);
        for v in [r#""NaN""#, r#""-Inf""#, r#""+Inf""#, "-1"] {
            assert_sample_kept("gauge", &format!(r#"{{"value":{v}}}"#), &opts);
            assert_sample_kept("untyped", &format!(r#"{{"value":{v}}}"#), &opts);
        }
    }

    #[test]
    fn histogram_buckets_must_be_increasing_cumulative_integers_matching_count() {
        let opts = ValidateOptions::default();
        let bad = [
            r#"{"buckets":[{"le":1,"count":1},{"le":1,"count":1}],"sum":1,"count":1}"#,
            r#"{"buckets":[{"le":2,"count":1},{"le":1,"count":1}],"sum":1,"count":1}"#,
            r#"{"buckets":[{"le":"NaN","count":1}],"sum":1,"count":1}"#,
            r#"{"buckets":[{"le":1,"count":"NaN"}],"sum":1,"count":1}"#,
            r#"{"buckets":[{"le":1,"count":-1}],"sum":1,"count":1}"#,
            r#"{"buckets":[{"le":1,"count":2},{"le":2,"count":1}],"sum":1,"count":2}"#,
            r#"{"buckets":[{"le":1,"count":0.5}],"sum":1,"count":1}"#,
            r#"{"buckets":[{"le":1,"count":"+Inf"}],"sum":1,"count":"+Inf"}"#,
            r#"{"buckets":[],"sum":1,"count":"NaN"}"#,
            r#"{"buckets":[],"sum":1,"count":-1}"#,
            r#"{"buckets":[],"sum":1,"count":1.5}"#,
            r#"{"buckets":[{"le":1,"count":1},{"le":"+Inf","count":2}],"sum":1,"count":3}"#,
            r#"{"buckets":[{"le":1,"count":3}],"sum":1,"count":2}"#,
        ];
        for sample in bad {
            assert_sample_dropped("histogram", sample, &opts);
        }
        let appended = assert_sample_kept(
            "histogram",
            r#"{"buckets":[{"le":"-Inf","count":0},{"le":1,"count":2}],"count":3}"#,
            &opts,
        );
        assert_eq!(appended.extra, None);
        let SampleValue::Histogram {
            buckets,
            sum,
            count,
        } = appended.value
        else {
            panic!("not a histogram")
        };
        assert_eq!(
            buckets,
            [(f64::NEG_INFINITY, 0.0), (1.0, 2.0), (f64::INFINITY, 3.0)]
        );
        assert_eq!((sum, count), (None, 3.0));
        // The count follows from the +Inf bucket, and the sum is optional (OpenMetrics).
        let explicit = assert_sample_kept(
            "histogram",
            r#"{"buckets":[{"le":1,"count":2},{"le":"+Inf","count":3}],"sum":7.5}"#,
            &opts,
        );
        assert_eq!(
            explicit.value,
            SampleValue::Histogram {
                buckets: vec![(1.0, 2.0), (f64::INFINITY, 3.0)],
                sum: Some(7.5),
                count: 3.0,
            }
        );
    }

    #[test]
    fn openmetrics_sum_rules_drop_only_the_sum_and_count() {
        let opts = ValidateOptions::default();
        let hist = |sample: &str| {
            let s = assert_sample_trimmed("histogram", sample, forbidden(1), &opts);
            let SampleValue::Histogram { sum, count, .. } = s.value else {
                panic!("not a histogram")
            };
            (sum, count)
        };
        // NaN and negative sums, and any sum beside a negative bound (-Inf included).
        for sample in [
            r#"{"buckets":[{"le":1,"count":2}],"sum":"NaN","count":3}"#,
            r#"{"buckets":[{"le":1,"count":2}],"sum":-7.5,"count":3}"#,
            r#"{"buckets":[{"le":-1,"count":2}],"sum":7.5,"count":3}"#,
            r#"{"buckets":[{"le":"-Inf","count":0}],"sum":0,"count":3}"#,
        ] {
            assert_eq!(hist(sample), (None, 3.0), "{sample}");
        }
        // A gauge histogram's sum may be negative only with a negative bucket bound.
        let gauge = r#"{"buckets":[{"le":-1,"count":2}],"sum":-7.5,"count":3}"#;
        let kept = assert_sample_kept("gaugehistogram", gauge, &opts);
        assert!(matches!(kept.value, SampleValue::Histogram { sum: Some(s), .. } if s == -7.5));
        for sample in [
            r#"{"buckets":[{"le":1,"count":2}],"sum":-7.5,"count":3}"#,
            r#"{"buckets":[{"le":-1,"count":2}],"sum":"NaN","count":3}"#,
        ] {
            let s = assert_sample_trimmed("gaugehistogram", sample, forbidden(1), &opts);
            assert!(matches!(s.value, SampleValue::Histogram { sum: None, .. }));
        }
        // A summary loses its sum only, and a negative quantile value only that quantile.
        let s = assert_sample_trimmed(
            "summary",
            r#"{"quantiles":[{"quantile":0.5,"value":-1},{"quantile":0.9,"value":"NaN"}],"sum":-2,"count":3}"#,
            forbidden(2),
            &opts,
        );
        let SampleValue::Summary {
            quantiles,
            sum,
            count,
        } = s.value
        else {
            panic!("not a summary")
        };
        assert_eq!((quantiles.len(), quantiles[0].0), (1, 0.9));
        assert_eq!((sum, count), (None, Some(3.0)));
        // A summary left with nothing to write goes whole, after its sum.
        let (kept, d) = one_sample("summary", r#"{"quantiles":[],"sum":-1}"#, &opts);
        assert!(kept.is_empty());
        let mut want = forbidden(1);
        want.invalid_metric = 1;
        assert_eq!(d, want);
    }

    #[test]
    fn summary_quantiles_must_be_increasing_within_zero_and_one_with_an_integer_count() {
        let opts = ValidateOptions::default();
        let bad = [
            r#"{"quantiles":[{"quantile":1.5,"value":1}],"sum":1,"count":1}"#,
            r#"{"quantiles":[{"quantile":-0.1,"value":1}],"sum":1,"count":1}"#,
            r#"{"quantiles":[{"quantile":"NaN","value":1}],"sum":1,"count":1}"#,
            r#"{"quantiles":[{"quantile":0.5,"value":1},{"quantile":0.5,"value":2}],"sum":1,"count":1}"#,
            r#"{"quantiles":[{"quantile":0.9,"value":1},{"quantile":0.5,"value":2}],"sum":1,"count":1}"#,
            r#"{"quantiles":[],"sum":1,"count":"NaN"}"#,
            r#"{"quantiles":[],"sum":1,"count":-1}"#,
            r#"{"quantiles":[],"sum":1,"count":0.5}"#,
        ];
        for sample in bad {
            assert_sample_dropped("summary", sample, &opts);
        }
        let ok = assert_sample_kept(
            "summary",
            r#"{"quantiles":[{"quantile":0,"value":"NaN"},{"quantile":1,"value":3}],"sum":"+Inf","count":0}"#,
            &opts,
        );
        let SampleValue::Summary {
            quantiles,
            sum,
            count,
        } = ok.value
        else {
            panic!("not a summary")
        };
        assert!(quantiles[0].1.is_nan());
        assert_eq!((quantiles[0].0, quantiles[1]), (0.0, (1.0, 3.0)));
        assert_eq!((sum, count), (Some(f64::INFINITY), Some(0.0)));
        // Sum, count and quantiles are each optional, but not all at once.
        for sample in [
            r#"{"count":1}"#,
            r#"{"sum":1}"#,
            r#"{"quantiles":[{"quantile":0.5,"value":1}]}"#,
        ] {
            assert_sample_kept("summary", sample, &opts);
        }
        assert_sample_dropped("summary", r#"{"quantiles":[]}"#, &opts);
    }

    #[test]
    fn duplicate_series_keep_the_first_regardless_of_label_order() {
        let json = r#"[{"name":"x","type":"gauge","samples":[
            {"labels":{"a":"1","b":"2"},"value":1},
            {"labels":{"b":"2","a":"1"},"value":2},
            {"labels":{"a":"1"},"value":3},
            {"labels":{"a":"1","c":""},"value":4},
            {"labels":{"a":"2"},"value":5}]}]"#;
        let (out, drops) = run_default(json);
        let values: Vec<_> = out[0].samples.iter().map(|s| s.value.clone()).collect();
        assert_eq!(
            values,
            [
                SampleValue::Scalar(1.0),
                SampleValue::Scalar(3.0),
                SampleValue::Scalar(5.0)
            ]
        );
        assert_eq!(
            drops,
            Drops {
                duplicate_series: 2,
                ..Drops::default()
            }
        );
    }

    #[test]
    fn fingerprint_ignores_label_order_and_empty_values() {
        let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let ab = label_fingerprint(&l(&[("a", "1"), ("b", "2")]));
        assert_eq!(ab, label_fingerprint(&l(&[("b", "2"), ("a", "1")])));
        assert_eq!(
            ab,
            label_fingerprint(&l(&[("a", "1"), ("c", ""), ("b", "2")]))
        );
        assert_ne!(ab, label_fingerprint(&l(&[("a", "2"), ("b", "1")])));
        assert_ne!(ab, label_fingerprint(&l(&[("a", "1")])));
    }

    #[test]
    fn colliding_fingerprints_of_different_series_keep_both() {
        // Every series gets the same fingerprint: only the exact comparison tells them apart.
        let json = r#"[{"name":"x","type":"gauge","samples":[
            {"labels":{"a":"1"},"value":1},
            {"labels":{"a":"2"},"value":2},
            {"labels":{"a":"2"},"value":3},
            {"labels":{"a":"1"},"value":4},
            {"labels":{"a":"3"},"value":5}]}]"#;
        let fams = families(json);
        let mut samples: Vec<model::Sample> = fams[0]
            .samples
            .iter()
            .map(|s| model::Sample {
                labels: s.labels.0.clone(),
                value: SampleValue::Scalar(s.value.map(|v| v.0).unwrap_or_default()),
                timestamp: None,
                extra: None,
            })
            .collect();
        let mut drops = Drops::default();
        drop_duplicates_by("x", &mut samples, &mut drops, |_| 7);
        let values: Vec<_> = samples.iter().map(|s| s.value.clone()).collect();
        assert_eq!(
            values,
            [1.0, 2.0, 5.0].map(SampleValue::Scalar),
            "one sample per series"
        );
        assert_eq!(drops.duplicate_series, 2);
    }

    #[test]
    fn family_sent_empty_is_kept_but_one_emptied_by_validation_is_dropped() {
        let json = r#"[{"name":"sent_empty","type":"gauge","help":"h","samples":[]},
                       {"name":"emptied","type":"counter","samples":[{"value":-1},{"value":"NaN"}]},
                       {"name":"partly","type":"counter","samples":[{"value":-1},{"value":2}]}]"#;
        let (out, drops) = run_default(json);
        assert_eq!(names(&out), ["sent_empty", "partly"]);
        assert!(out[0].samples.is_empty());
        assert_eq!(out[1].samples.len(), 1);
        // Three bad samples; the emptied family itself is not counted again.
        assert_eq!(drops, invalid(3));
    }

    #[test]
    fn drops_add_up_over_batches() {
        let mut drops = Drops::default();
        let opts = ValidateOptions::default();
        validate(families(&batch(&[gauge("1x")])), &opts, &mut drops);
        validate(families(&batch(&[gauge("2x")])), &opts, &mut drops);
        assert_eq!(drops, invalid(2));
    }

    fn drops(kind: ErrorKind, n: u64) -> Drops {
        let mut d = Drops::default();
        for _ in 0..n {
            d.dropped(DropSite::Family("x"), reason_of(kind));
        }
        d
    }

    /// Some reason of `kind`, to build expected counts.
    fn reason_of(kind: ErrorKind) -> DropReason {
        match kind {
            ErrorKind::DuplicateSeries => DropReason::DuplicateSeries,
            ErrorKind::TimestampOrder => DropReason::TimestampPresence,
            ErrorKind::ForbiddenValue => DropReason::InfoValue(2.0),
            ErrorKind::InvalidExemplar => DropReason::ExemplarTooLong(129),
            _ => DropReason::FamilyName,
        }
    }

    fn values(f: &model::Family) -> Vec<(Option<f64>, f64)> {
        f.samples
            .iter()
            .map(|s| match s.value {
                SampleValue::Scalar(v) => (s.timestamp, v),
                _ => panic!("not a scalar"),
            })
            .collect()
    }

    #[test]
    fn a_series_repeated_with_later_timestamps_keeps_the_latest() {
        let json = r#"[{"name":"x","type":"gauge","samples":[
            {"labels":{"a":"1"},"value":1,"timestamp":10},
            {"labels":{"a":"2"},"value":2,"timestamp":10},
            {"labels":{"a":"1"},"value":3,"timestamp":10.5},
            {"labels":{"a":"1"},"value":4,"timestamp":11}]}]"#;
        let (out, d) = run_default(json);
        assert_eq!(values(&out[0]), [(Some(10.0), 2.0), (Some(11.0), 4.0)]);
        assert_eq!(d, Drops::default());
    }

    #[test]
    fn equal_timestamps_keep_the_first_silently_and_earlier_ones_are_refused() {
        // OpenMetrics' own test suite takes a repeat with the same timestamp (two writes of
        // one sample, or sub-millisecond times cut short); an earlier one breaks the order,
        // and so does a repeat with and without a timestamp.
        let json = r#"[{"name":"x","type":"gauge","samples":[
            {"labels":{"a":"1"},"value":1,"timestamp":10},
            {"labels":{"a":"1"},"value":2,"timestamp":10},
            {"labels":{"a":"1"},"value":3,"timestamp":9},
            {"labels":{"a":"1"},"value":4},
            {"labels":{"a":"2"},"value":5},
            {"labels":{"a":"2"},"value":6,"timestamp":1},
            {"labels":{"a":"3"},"value":7},
            {"labels":{"a":"3"},"value":8}]}]"#;
        let (out, d) = run_default(json);
        assert_eq!(
            values(&out[0]),
            [(Some(10.0), 1.0), (None, 5.0), (None, 7.0)]
        );
        assert_eq!(
            d,
            Drops {
                timestamp_order: 3,
                duplicate_series: 1,
                ..Drops::default()
            }
        );
        // JSON has no non-finite numbers, but a Rust plugin's families may hold one.
        let mut fams = families(r#"[{"name":"x","type":"gauge","samples":[{"value":1}]}]"#);
        fams[0].samples[0].timestamp = Some(f64::NAN);
        let mut d = Drops::default();
        assert!(validate(fams, &ValidateOptions::default(), &mut d).is_empty());
        assert_eq!(d, drops(ErrorKind::ForbiddenValue, 1));
    }

    #[test]
    fn info_families_are_named_info_with_values_of_one_and_no_unit() {
        let json = r#"[
          {"name":"build_info","type":"info","unit":"seconds","samples":[
            {"labels":{"version":"1"}},{"labels":{"version":"2"},"value":1},
            {"labels":{"version":"3"},"value":2}]},
          {"name":"build","type":"info","samples":[{"labels":{"v":"1"}}]},
          {"name":"_info","type":"info","samples":[{"labels":{"v":"1"}}]},
          {"name":"build","type":"gauge","samples":[{"value":1}]}]"#;
        let (out, d) = run_default(json);
        assert_eq!(names(&out), ["build_info"]);
        assert_eq!(out[0].unit, None);
        assert_eq!(
            values(&out[0]),
            [(None, 1.0), (None, 1.0)],
            "an absent info value is 1"
        );
        // The unit, two misnamed families, and the gauge `build`, which OpenMetrics would
        // write as the info family's name; the value 2.
        let mut want = invalid(4);
        want.forbidden_value = 1;
        assert_eq!(d, want);
    }

    #[test]
    fn stateset_samples_name_their_state_with_values_zero_or_one() {
        let json = r#"[{"name":"mode","type":"stateset","samples":[
            {"labels":{"mode":"a"},"value":1},{"labels":{"mode":"b"},"value":0},
            {"labels":{"mode":"c"},"value":0.5},{"labels":{"other":"d"},"value":1},
            {"labels":{"mode":"e"}}]}]"#;
        let (out, d) = run_default(json);
        assert_eq!(values(&out[0]), [(None, 1.0), (None, 0.0)]);
        let mut want = invalid(2);
        want.forbidden_value = 1;
        assert_eq!(d, want);
    }

    #[test]
    fn exemplars_are_kept_on_counters_and_buckets_and_dropped_elsewhere() {
        let opts = ValidateOptions::default();
        let long = "v".repeat(127);
        let ok = assert_sample_kept(
            "counter",
            &format!(
                r#"{{"value":1,"exemplar":{{"labels":{{"a":"{long}"}},"value":0.5,"timestamp":2}}}}"#
            ),
            &opts,
        );
        let e = ok.exemplar().expect("kept");
        assert_eq!(
            (e.value, e.timestamp, e.labels[0].1.len()),
            (0.5, Some(2.0), 127)
        );
        let h = assert_sample_kept(
            "histogram",
            r#"{"buckets":[{"le":1,"count":1},{"le":2,"count":1,"exemplar":{"value":1.5}}],"count":2}"#,
            &opts,
        );
        let exemplars = h.bucket_exemplars();
        assert_eq!(exemplars.len(), 1);
        assert_eq!((exemplars[0].0, exemplars[0].1.value), (1, 1.5));
        let invalid_exemplar = Drops {
            invalid_exemplar: 1,
            ..Drops::default()
        };
        for (kind, sample) in [
            ("gauge", r#"{"value":1,"exemplar":{"value":1}}"#.to_string()),
            (
                "histogram",
                r#"{"buckets":[],"count":0,"exemplar":{"value":1}}"#.to_string(),
            ),
            (
                "counter",
                format!(r#"{{"value":1,"exemplar":{{"labels":{{"ab":"{long}"}},"value":1}}}}"#),
            ),
            (
                "counter",
                r#"{"value":1,"exemplar":{"labels":{"a-b":"1"},"value":1}}"#.to_string(),
            ),
            (
                "counter",
                r#"{"value":1,"exemplar":{"labels":{"a":"1","a":"2"},"value":1}}"#.to_string(),
            ),
            (
                "histogram",
                format!(
                    r#"{{"buckets":[{{"le":1,"count":1,"exemplar":{{"labels":{{"ab":"{long}"}},"value":1}}}}],"count":1}}"#
                ),
            ),
        ] {
            let s = assert_sample_trimmed(kind, &sample, invalid_exemplar.clone(), &opts);
            assert_eq!(s.extra, None, "{sample}");
        }
    }

    #[test]
    fn created_times_belong_to_counters_histograms_and_summaries() {
        let opts = ValidateOptions::default();
        let c = assert_sample_kept("counter", r#"{"value":1,"created":1600000000.5}"#, &opts);
        assert_eq!(c.created(), Some(1600000000.5));
        let s = assert_sample_kept("summary", r#"{"count":1,"created":1}"#, &opts);
        assert_eq!(s.created(), Some(1.0));
        // Not finite: only the created time goes. On a gauge: a member it does not have.
        let mut fams = families(r#"[{"name":"x","type":"counter","samples":[{"value":1}]}]"#);
        fams[0].samples[0].created = Some(f64::INFINITY);
        let mut d = Drops::default();
        let out = validate(fams, &opts, &mut d);
        assert_eq!((d, out[0].samples[0].created()), (forbidden(1), None));
        assert_sample_dropped("gauge", r#"{"value":1,"created":1}"#, &opts);
    }

    #[test]
    fn gauge_histograms_claim_the_names_of_both_formats() {
        let claimed = |name, kind| -> Vec<String> {
            claimed_names(name, kind).map(|c| c.to_string()).collect()
        };
        assert_eq!(
            claimed("q", MetricType::GaugeHistogram),
            [
                "q",
                "q_bucket",
                "q_gcount",
                "q_gsum",
                "q_count",
                "q_sum",
                "q_created"
            ]
        );
        assert_eq!(
            claimed("build_info", MetricType::Info),
            ["build", "build_info"]
        );
        assert_eq!(claimed("mode", MetricType::StateSet), ["mode"]);
        let json = batch(&[
            r#"{"name":"q","type":"gaugehistogram","samples":[]}"#.to_string(),
            gauge("q_gsum"),
            gauge("q_sum"),
            gauge("q_info"),
            r#"{"name":"mode_info","type":"info","samples":[]}"#.to_string(),
            gauge("mode"),
        ]);
        let (out, d) = run_default(&json);
        assert_eq!(names(&out), ["q", "q_info", "mode_info"]);
        assert_eq!(d, invalid(3));
    }

    #[test]
    fn every_drop_reason_is_counted_under_its_kind() {
        let mut d = Drops::default();
        for kind in [
            ErrorKind::InvalidMetric,
            ErrorKind::DuplicateSeries,
            ErrorKind::ForbiddenValue,
            ErrorKind::TimestampOrder,
            ErrorKind::InvalidExemplar,
        ] {
            d.dropped(DropSite::Family("x"), reason_of(kind));
            assert_eq!(reason_of(kind).kind(), kind);
        }
        assert_eq!(d.total(), 5);
        assert!(d.counts().iter().all(|(_, n)| *n == 1));
    }
}
