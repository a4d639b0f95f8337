//! Why validation dropped something: one variant per rule of [`super::validate`].
//!
//! The exporter counts each reason under its [`DropReason::kind`] (the label of
//! `plugin_exporter_plugin_errors_total`) and logs a few; `check-plugin` prints every one with
//! its [`Display`](std::fmt::Display), the sentence a plugin author reads. Both come from the
//! same value, decided once, so the two can never disagree.

use std::fmt;

use super::model::MetricType;
use crate::codes::ErrorKind;

/// The rule a dropped family, unit or series broke.
#[derive(Debug, Clone, PartialEq)]
pub enum DropReason {
    /// The family name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    FamilyName,
    /// The family name starts with the exporter's own prefix.
    ReservedPrefix(&'static str),
    /// A family of the same name came earlier in the batch.
    RepeatedFamily,
    /// The family would write a name an earlier family of the batch writes.
    Collision {
        /// The family's type.
        kind: MetricType,
        /// The earlier family.
        other: String,
        /// Its type.
        other_kind: MetricType,
        /// The name both would write.
        name: String,
    },
    /// The unit is not `[a-zA-Z0-9_:]+`.
    UnitSyntax(String),
    /// The family name does not end in `_<unit>`.
    UnitMismatch {
        /// The unit.
        unit: String,
        /// The name that must end in it (a counter's name without `_total`).
        stem: String,
    },
    /// More labels than `max_labels` allows besides the plugin label.
    TooManyLabels {
        /// Labels the series has.
        labels: usize,
        /// Labels it may have.
        allowed: usize,
    },
    /// A label name or value over the length bounds.
    LabelTooLong {
        /// The label.
        name: String,
        /// Bound on names, in bytes.
        max_name: usize,
        /// Bound on values, in bytes.
        max_value: usize,
    },
    /// A label name that is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    LabelName(String),
    /// A label name starting with `__`.
    ReservedLabel(String),
    /// `le` or `quantile`, which the encoders write themselves.
    GeneratedLabel(String),
    /// The label naming the plugin, which the exporter adds.
    PluginLabel(String),
    /// A label name that appears twice in one series.
    RepeatedLabel(String),
    /// Members the sample's type does not have (a gauge with buckets, ...).
    ForeignMembers {
        /// The family's type.
        kind: MetricType,
        /// The members present that must not be.
        members: Vec<&'static str>,
    },
    /// A counter, gauge or untyped sample without a value.
    MissingValue(MetricType),
    /// A counter value below zero or NaN.
    CounterValue(f64),
    /// A histogram or summary without its sum, count, buckets or quantiles.
    Incomplete(MetricType),
    /// A histogram or summary count that is not a non-negative integer.
    Count(f64),
    /// A bucket bound that is NaN.
    BucketBoundNan,
    /// A bucket count that is not a non-negative integer.
    BucketCount {
        /// The bucket's bound.
        le: f64,
        /// Its count.
        count: f64,
    },
    /// Bucket bounds that do not increase.
    BucketOrder {
        /// The bound.
        le: f64,
        /// The bound before it.
        prev: f64,
    },
    /// A bucket count below the one before it.
    NotCumulative {
        /// The bucket's bound.
        le: f64,
        /// Its count.
        count: f64,
        /// The bound before it.
        prev_le: f64,
        /// The count before it.
        prev_count: f64,
    },
    /// The `+Inf` bucket's count differs from the sample's count.
    InfBucket {
        /// The `+Inf` bucket's count.
        inf: f64,
        /// The sample's count.
        count: f64,
    },
    /// A count below the last bucket's count.
    CountBelowBuckets {
        /// The sample's count.
        count: f64,
        /// The last bucket's count.
        last: f64,
    },
    /// A quantile outside 0 to 1.
    QuantileRange(f64),
    /// Quantiles that do not increase.
    QuantileOrder {
        /// The quantile.
        q: f64,
        /// The one before it.
        prev: f64,
    },
    /// The series repeats an earlier series of its family.
    DuplicateSeries,
    /// An info family whose name is not `<stem>_info`.
    InfoName,
    /// A unit on a type that takes none (info, stateset).
    UnitNotAllowed(MetricType),
    /// A stateset sample without the label named after its family.
    StateLabel(String),
    /// An info value other than 1.
    InfoValue(f64),
    /// A stateset value other than 0 or 1.
    StateValue(f64),
    /// A NaN or negative histogram or summary sum; only the sum (and a histogram's count)
    /// is dropped.
    ForbiddenSum {
        /// The family's type.
        kind: MetricType,
        /// The sum.
        sum: f64,
    },
    /// A histogram sum beside a negative bucket bound; only the sum and count are dropped.
    SumWithNegativeBuckets {
        /// The lowest bound.
        le: f64,
    },
    /// A gauge histogram's negative sum without a negative bucket bound; only the sum and
    /// count are dropped.
    NegativeGaugeSum(f64),
    /// A negative quantile value; only that quantile is dropped.
    NegativeQuantileValue {
        /// The quantile.
        q: f64,
        /// Its value.
        value: f64,
    },
    /// A sample timestamp that is not finite.
    Timestamp(f64),
    /// A created time that is not finite; only the created time is dropped.
    Created(f64),
    /// The series repeats with a timestamp before its previous sample's.
    TimestampOrder {
        /// This sample's timestamp.
        ts: f64,
        /// The timestamp it should come after.
        prev: f64,
    },
    /// The series repeats, once with a timestamp and once without.
    TimestampPresence,
    /// An exemplar on a sample of a type that takes none; only the exemplar is dropped.
    ExemplarNotAllowed(MetricType),
    /// Exemplar labels over 128 characters; only the exemplar is dropped.
    ExemplarTooLong(usize),
    /// An invalid or repeated exemplar label name; only the exemplar is dropped.
    ExemplarLabel(String),
    /// An exemplar timestamp that is not finite; only the exemplar is dropped.
    ExemplarTimestamp(f64),
    /// Relabeling left the series without a `__name__`.
    RelabelNoName,
    /// Relabeling changed or removed the plugin label, which the exporter sets.
    RelabelPluginLabel(String),
    /// Relabeling treated the series of one histogram or summary sample differently (renamed
    /// or relabeled some of them only, changed `le` or `quantile`, kept part of `_sum` and
    /// `_count`), leaving something neither type can hold.
    RelabelSplit,
}

impl DropReason {
    /// The error kind it is counted under.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DropReason::DuplicateSeries => ErrorKind::DuplicateSeries,
            DropReason::TimestampOrder { .. } | DropReason::TimestampPresence => {
                ErrorKind::TimestampOrder
            }
            DropReason::InfoValue(_)
            | DropReason::StateValue(_)
            | DropReason::ForbiddenSum { .. }
            | DropReason::SumWithNegativeBuckets { .. }
            | DropReason::NegativeGaugeSum(_)
            | DropReason::NegativeQuantileValue { .. }
            | DropReason::Timestamp(_)
            | DropReason::Created(_) => ErrorKind::ForbiddenValue,
            DropReason::ExemplarNotAllowed(_)
            | DropReason::ExemplarTooLong(_)
            | DropReason::ExemplarLabel(_)
            | DropReason::ExemplarTimestamp(_) => ErrorKind::InvalidExemplar,
            _ => ErrorKind::InvalidMetric,
        }
    }

    /// True when only a part of the series is dropped (its sum, a quantile, its created time,
    /// an exemplar) and the series itself is still served.
    pub fn partial(&self) -> bool {
        matches!(
            self,
            DropReason::ForbiddenSum { .. }
                | DropReason::SumWithNegativeBuckets { .. }
                | DropReason::NegativeGaugeSum(_)
                | DropReason::NegativeQuantileValue { .. }
                | DropReason::Created(_)
                | DropReason::ExemplarNotAllowed(_)
                | DropReason::ExemplarTooLong(_)
                | DropReason::ExemplarLabel(_)
                | DropReason::ExemplarTimestamp(_)
        )
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::RelabelNoName => write!(
                f,
                "metric_relabel_configs removed __name__; a series needs a name, so it is dropped"
            ),
            DropReason::RelabelPluginLabel(l) => write!(
                f,
                "metric_relabel_configs changed or removed the plugin label {}, which the \
                 exporter sets; the series is dropped",
                quote(l)
            ),
            DropReason::RelabelSplit => write!(
                f,
                "metric_relabel_configs treated the series of one histogram or summary \
                 differently (some renamed, relabeled or dropped, `le` or `quantile` changed); \
                 what is left is neither type, so the sample is dropped"
            ),
            DropReason::FamilyName => write!(
                f,
                "not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); the exporter drops the family"
            ),
            DropReason::ReservedPrefix(p) => write!(
                f,
                "names starting with {p} are reserved for the exporter's own metrics; the \
                 family is dropped"
            ),
            DropReason::RepeatedFamily => {
                write!(
                    f,
                    "appears twice in one batch; the exporter keeps the first"
                )
            }
            DropReason::Collision {
                kind,
                other,
                other_kind,
                name,
            } => write!(
                f,
                "a {} that clashes with the {} {} before it: both would write the name \
                 {name}; the family is dropped",
                kind.as_str(),
                other_kind.as_str(),
                quote(other)
            ),
            DropReason::UnitSyntax(u) => write!(
                f,
                "unit {} is not [a-zA-Z0-9_:]+; only the unit is dropped",
                quote(u)
            ),
            DropReason::UnitMismatch { unit, stem } => write!(
                f,
                "unit {} does not fit the name: {} must end in _{unit}; only the unit is dropped",
                quote(unit),
                quote(stem)
            ),
            DropReason::TooManyLabels { labels, allowed } => write!(
                f,
                "{labels} labels, over the {allowed} a series may have besides the plugin label"
            ),
            DropReason::LabelTooLong {
                name,
                max_name,
                max_value,
            } => write!(
                f,
                "label {} is over {max_name} bytes of name or {max_value} bytes of value",
                quote(name)
            ),
            DropReason::LabelName(n) => write!(
                f,
                "{} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                quote(n)
            ),
            DropReason::ReservedLabel(n) => {
                write!(
                    f,
                    "label names starting with __ are reserved ({})",
                    quote(n)
                )
            }
            DropReason::GeneratedLabel(n) => write!(
                f,
                "the label {n} is written by the exporter itself (le for histogram buckets, \
                 quantile for summaries); a plugin may not set it on any type"
            ),
            DropReason::PluginLabel(n) => write!(
                f,
                "the exporter adds the label {n} itself, naming the plugin (the default \
                 global.plugin_label)"
            ),
            DropReason::RepeatedLabel(n) => write!(f, "label {} appears twice", quote(n)),
            DropReason::ForeignMembers { kind, members } => write!(
                f,
                "a {} sample must not have {}",
                kind.as_str(),
                members.join(", ")
            ),
            DropReason::MissingValue(kind) => write!(f, "a {} sample needs a value", kind.as_str()),
            DropReason::CounterValue(v) => write!(
                f,
                "a counter value must not be negative or NaN, it is {}",
                num(*v)
            ),
            DropReason::Incomplete(MetricType::Summary) => {
                write!(
                    f,
                    "a summary sample needs quantiles, a sum or a count (that OpenMetrics allows)"
                )
            }
            DropReason::Incomplete(kind) => write!(
                f,
                "a {} sample needs buckets, and a count or a +Inf bucket",
                kind.as_str()
            ),
            DropReason::Count(c) => {
                write!(f, "count {} is not a non-negative integer", num(*c))
            }
            DropReason::BucketBoundNan => write!(f, "a bucket bound (le) is NaN"),
            DropReason::BucketCount { le, count } => write!(
                f,
                "bucket le={} has count {}, not a non-negative integer",
                num(*le),
                num(*count)
            ),
            DropReason::BucketOrder { le, prev } => write!(
                f,
                "bucket bounds must increase: le={} after le={}",
                num(*le),
                num(*prev)
            ),
            DropReason::NotCumulative {
                le,
                count,
                prev_le,
                prev_count,
            } => write!(
                f,
                "buckets are cumulative, but le={} has count {} after {} for le={}",
                num(*le),
                num(*count),
                num(*prev_count),
                num(*prev_le)
            ),
            DropReason::InfBucket { inf, count } => write!(
                f,
                "the +Inf bucket has count {} but the sample's count is {}",
                num(*inf),
                num(*count)
            ),
            DropReason::CountBelowBuckets { count, last } => write!(
                f,
                "count {} is less than the last bucket's count {}",
                num(*count),
                num(*last)
            ),
            DropReason::QuantileRange(q) => write!(f, "quantile {} is outside 0 to 1", num(*q)),
            DropReason::QuantileOrder { q, prev } => write!(
                f,
                "quantiles must increase: {} comes after {}",
                num(*q),
                num(*prev)
            ),
            DropReason::DuplicateSeries => write!(
                f,
                "repeats an earlier series of its family (label order and empty labels do not \
                 count); the exporter keeps the first"
            ),
            other => explain_more(other, f),
        }
    }
}

/// The sentences of the OpenMetrics rules (types, values, timestamps, exemplars).
fn explain_more(reason: &DropReason, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match reason {
        DropReason::InfoName => write!(
            f,
            "an info family is named <name>_info (OpenMetrics calls it <name>); the family \
             is dropped"
        ),
        DropReason::UnitNotAllowed(kind) => write!(
            f,
            "a {} takes no unit; only the unit is dropped",
            kind.as_str()
        ),
        DropReason::StateLabel(n) => write!(
            f,
            "a stateset sample needs the label {}, naming its state",
            quote(n)
        ),
        DropReason::InfoValue(v) => write!(f, "an info value must be 1, it is {}", num(*v)),
        DropReason::StateValue(v) => {
            write!(f, "a stateset value must be 0 or 1, it is {}", num(*v))
        }
        DropReason::ForbiddenSum { kind, sum } => write!(
            f,
            "its sum is {}, which OpenMetrics forbids (a sum counts up from 0): the {} dropped",
            num(*sum),
            if *kind == MetricType::Summary {
                "sum is"
            } else {
                "sum and count are"
            }
        ),
        DropReason::SumWithNegativeBuckets { le } => write!(
            f,
            "it has a negative bucket bound (le={}) and a sum, which OpenMetrics forbids: the \
             sum and count are dropped",
            num(*le)
        ),
        DropReason::NegativeGaugeSum(v) => write!(
            f,
            "its sum is {} but no bucket bound is negative, which OpenMetrics forbids: the sum \
             and count are dropped",
            num(*v)
        ),
        DropReason::NegativeQuantileValue { q, value } => write!(
            f,
            "quantile {} has the value {}, and OpenMetrics forbids negative ones: the quantile \
             is dropped",
            num(*q),
            num(*value)
        ),
        DropReason::Timestamp(v) => write!(f, "its timestamp {} is not finite", num(*v)),
        DropReason::Created(v) => write!(
            f,
            "its created time {} is not finite: the created time is dropped",
            num(*v)
        ),
        DropReason::TimestampOrder { ts, prev } => write!(
            f,
            "repeats its series with the timestamp {}, not after the {} before it; a \
             series' timestamps must increase (the latest sample is served)",
            num(*ts),
            num(*prev)
        ),
        DropReason::TimestampPresence => write!(
            f,
            "repeats its series, once with a timestamp and once without; the exporter keeps \
             the first"
        ),
        DropReason::ExemplarNotAllowed(kind) => write!(
            f,
            "a {} sample takes no exemplar (counters and histogram buckets do): the exemplar \
             is dropped",
            kind.as_str()
        ),
        DropReason::ExemplarTooLong(chars) => write!(
            f,
            "its exemplar's labels have {chars} characters, over the 128 OpenMetrics allows: \
             the exemplar is dropped"
        ),
        DropReason::ExemplarLabel(n) => write!(
            f,
            "its exemplar has an invalid or repeated label name {}: the exemplar is dropped",
            quote(n)
        ),
        DropReason::ExemplarTimestamp(v) => write!(
            f,
            "its exemplar's timestamp {} is not finite: the exemplar is dropped",
            num(*v)
        ),
        // Every other reason is written by Display itself.
        other => write!(f, "{other:?}"),
    }
}

/// What was dropped: a whole family, only its unit, or one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DropSite<'a> {
    /// The family of this name, whole.
    Family(&'a str),
    /// Only the unit of the family of this name.
    Unit(&'a str),
    /// One series of the family of this name.
    Series(&'a str, &'a [(String, String)]),
}

impl DropSite<'_> {
    /// The family the dropped thing belongs to.
    pub fn family(&self) -> &str {
        match self {
            DropSite::Family(f) | DropSite::Unit(f) | DropSite::Series(f, _) => f,
        }
    }
}

impl fmt::Display for DropSite<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropSite::Family(name) | DropSite::Unit(name) => write!(f, "family {}", quote(name)),
            DropSite::Series(name, labels) => write!(f, "series {}", series(name, labels)),
        }
    }
}

/// A dropped thing and why, as one sentence: what the exporter logs and `check-plugin`
/// prints.
pub fn describe(site: &DropSite<'_>, reason: &DropReason) -> String {
    match (site, reason) {
        (
            DropSite::Series(..),
            DropReason::DuplicateSeries
            | DropReason::TimestampOrder { .. }
            | DropReason::TimestampPresence,
        ) => format!("{site} {reason}"),
        (DropSite::Series(..), r) if r.partial() => format!("{site}: {reason}"),
        (DropSite::Series(..), _) => format!("{site} is dropped: {reason}"),
        (DropSite::Family(_) | DropSite::Unit(_), _) => format!("{site}: {reason}"),
    }
}

/// Where validation reports what it drops: [`super::validate::Drops`] counts, `check-plugin`
/// collects every reason.
pub trait DropSink {
    /// One dropped family, unit or series, and why.
    fn dropped(&mut self, site: DropSite<'_>, reason: DropReason);
}

/// A name quoted for a message, cut to 64 characters so a hostile name stays readable.
pub fn quote(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// A series written as in the text format, `name{a="1"}`, cut to a readable length.
pub fn series(name: &str, labels: &[(String, String)]) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
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
pub fn num(v: f64) -> String {
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
