//! One plugin's batch as a scrape serves it: whole-batch budgets first (a batch over them is
//! refused whole, with a [`Rejection`]), then validation (what it drops goes to a
//! [`DropSink`] with its reason) and rendering in both formats, once, when the batch arrives.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use super::drop_reason::{quote, DropSink};
use super::relabel_batch::relabel_batch;
use super::render::{render, RenderedFamily};
use super::validate::{
    validate, ValidateOptions, DEFAULT_MAX_LABEL_NAME_LEN, DEFAULT_MAX_LABEL_VALUE_LEN,
};
use crate::codes::{ErrorKind, LimitKind};
use crate::relabel::Rule;

/// A validated, rendered batch of one plugin: what a scrape serves for it.
#[derive(Debug)]
pub struct Batch {
    /// Families rendered in both formats.
    pub families: Vec<RenderedFamily>,
    /// Number of series.
    pub series: usize,
    /// When it arrived.
    pub received: SystemTime,
    /// Set once merge drops of this batch were counted, so a batch served by many scrapes
    /// counts its conflicts once.
    pub merge_counted: AtomicBool,
    /// Series `metric_relabel_configs` dropped from it.
    pub relabel_dropped: u64,
}

impl Batch {
    /// A batch with no families.
    pub fn empty() -> Self {
        Batch {
            families: Vec::new(),
            series: 0,
            received: SystemTime::now(),
            merge_counted: AtomicBool::new(false),
            relabel_dropped: 0,
        }
    }
}

/// The budgets a batch is held to, and the plugin it comes from.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Plugin name.
    pub plugin: String,
    /// The plugin label name, empty when disabled.
    pub plugin_label: String,
    /// Longest accepted protocol line (or one-shot output) in bytes.
    pub max_line: usize,
    /// Most series accepted in one batch.
    pub max_series: usize,
    /// Most labels per series (the plugin label included).
    pub max_labels: usize,
    /// `metric_relabel_configs`: the plugin's rules, then `global`'s.
    pub relabel: Arc<[Rule]>,
}

impl BatchOptions {
    /// The plugin label's name, `None` when disabled.
    pub fn label(&self) -> Option<&str> {
        (!self.plugin_label.is_empty()).then_some(self.plugin_label.as_str())
    }
}

/// Why a batch (or a protocol line that would hold one) was refused whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// More series than `max_series`, counted after parsing.
    Series {
        /// Series in the batch.
        series: usize,
        /// The budget.
        max: usize,
    },
    /// More series than `max_series`, found while parsing (the rest was not read).
    SeriesWhileParsing {
        /// The budget.
        max: usize,
    },
    /// A series with more labels than `max_labels` (the plugin label counted).
    Labels {
        /// Its family.
        family: String,
        /// Its labels, the plugin label included.
        labels: usize,
        /// The budget.
        max: usize,
    },
    /// A label name or value over the length bounds.
    LabelLength {
        /// Its family.
        family: String,
    },
    /// A protocol line (or one-shot output) longer than `max_line`.
    Line {
        /// Bytes seen (at least).
        bytes: usize,
        /// The budget.
        max: usize,
    },
}

impl Rejection {
    /// The error kind it is counted under.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Rejection::Series { .. } | Rejection::SeriesWhileParsing { .. } => {
                ErrorKind::SeriesLimit
            }
            Rejection::Labels { .. } | Rejection::LabelLength { .. } => ErrorKind::LabelLimit,
            Rejection::Line { .. } => ErrorKind::LineTooLong,
        }
    }

    /// The limit whose hit it counts.
    pub fn limit(&self) -> LimitKind {
        match self {
            Rejection::Series { .. } | Rejection::SeriesWhileParsing { .. } => LimitKind::MaxSeries,
            Rejection::Labels { .. } | Rejection::LabelLength { .. } => LimitKind::MaxLabels,
            Rejection::Line { .. } => LimitKind::MaxLine,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Series { series, max } => {
                write!(f, "{series} series in one batch, over max_series {max}")
            }
            Rejection::SeriesWhileParsing { max } => {
                write!(f, "more than max_series {max} series in one batch")
            }
            Rejection::Labels {
                family,
                labels,
                max,
            } => write!(
                f,
                "a series of {} has {labels} labels, over max_labels {max}",
                quote(family)
            ),
            Rejection::LabelLength { family } => write!(
                f,
                "a series of {} has a label over {DEFAULT_MAX_LABEL_NAME_LEN} bytes of name or \
                 {DEFAULT_MAX_LABEL_VALUE_LEN} bytes of value",
                quote(family)
            ),
            Rejection::Line { bytes, max } => {
                write!(f, "a line of {bytes} bytes or more, over max_line {max}")
            }
        }
    }
}

/// Turns a plugin's families into a served batch: whole-batch budgets first (series count,
/// labels), then relabeling and the label budget again on its result, then validation (what
/// it drops goes to `sink`) and rendering in both formats.
pub fn build_batch(
    families: Vec<plugin_protocol::Family>,
    opts: &BatchOptions,
    sink: &mut impl DropSink,
) -> Result<Arc<Batch>, Rejection> {
    let series: usize = families.iter().map(|f| f.samples.len()).sum();
    if series > opts.max_series {
        return Err(Rejection::Series {
            series,
            max: opts.max_series,
        });
    }
    let plugin_label = opts.label();
    label_budget(&families, opts.max_labels, plugin_label)?;
    let mut relabel_dropped = 0;
    let families = if opts.relabel.is_empty() {
        families
    } else {
        let extra = plugin_label.map(|l| (l, opts.plugin.as_str()));
        let relabeled = relabel_batch(families, &opts.relabel, extra, sink);
        relabel_dropped = relabeled.dropped;
        label_budget(&relabeled.families, opts.max_labels, plugin_label)?;
        relabeled.families
    };
    let vopts = ValidateOptions {
        max_labels: opts.max_labels,
        ..ValidateOptions::with_extra_label(plugin_label.map(|l| (l, opts.plugin.as_str())))
    };
    let families = validate(families, &vopts, sink);
    let families = render(families, vopts.extra_label, plugin_label.is_none());
    let series = families.iter().map(|f| f.series).sum();
    Ok(Arc::new(Batch {
        families,
        series,
        received: SystemTime::now(),
        merge_counted: AtomicBool::new(false),
        relabel_dropped,
    }))
}

/// How many families, units and series validation would drop from `families` (checked on a
/// copy, as [`build_batch`] would check them without relabeling). Processors' answers are
/// compared with the batches they were sent by this count.
pub fn count_invalid(families: &[plugin_protocol::Family], opts: &BatchOptions) -> u64 {
    struct Count(u64);
    impl DropSink for Count {
        fn dropped(
            &mut self,
            _: super::drop_reason::DropSite<'_>,
            _: super::drop_reason::DropReason,
        ) {
            self.0 += 1;
        }
    }
    let plugin_label = opts.label();
    let vopts = ValidateOptions {
        max_labels: opts.max_labels,
        ..ValidateOptions::with_extra_label(plugin_label.map(|l| (l, opts.plugin.as_str())))
    };
    let mut count = Count(0);
    validate(families.to_vec(), &vopts, &mut count);
    count.0
}

/// Refuses the batch at the first series breaking the label budget. Counts the plugin label,
/// as a scraper's `label_limit` would.
fn label_budget(
    families: &[plugin_protocol::Family],
    max_labels: usize,
    plugin_label: Option<&str>,
) -> Result<(), Rejection> {
    let own = usize::from(plugin_label.is_some());
    let allowed = max_labels.saturating_sub(own);
    for f in families {
        for s in &f.samples {
            if s.labels.0.len() > allowed {
                return Err(Rejection::Labels {
                    family: f.name.clone(),
                    labels: s.labels.0.len() + own,
                    max: max_labels,
                });
            }
            let too_long = s.labels.0.iter().any(|(k, v)| {
                k.len() > DEFAULT_MAX_LABEL_NAME_LEN || v.len() > DEFAULT_MAX_LABEL_VALUE_LEN
            });
            if too_long {
                return Err(Rejection::LabelLength {
                    family: f.name.clone(),
                });
            }
        }
    }
    Ok(())
}
