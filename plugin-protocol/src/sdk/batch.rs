//! [`Batch`]: one batch of metric families under construction, and the [`FamilyBuilder`]
//! that adds samples to one of its families.

use super::log::Log;
use crate::{Bucket, Exemplar, Family, MetricType, Quantile, Sample, Value};
use std::time::Instant;

/// One batch of metric families under construction: the answer to one collect, or one push.
///
/// Each method adding a family returns a [`FamilyBuilder`] for its samples. Asking twice for
/// the same name and type continues the family already in the batch (its first help and unit
/// stay), so a loop can add to a family wherever it likes.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(crate) families: Vec<Family>,
    pub(crate) log: Log,
    pub(crate) deadline: Option<Instant>,
}

impl Batch {
    /// An empty batch. An empty batch is a valid answer: the plugin has nothing to report.
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter family; its name ends in `_total`. Add samples with [`FamilyBuilder::sample`].
    pub fn counter(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Counter, name.into(), help.into())
    }

    /// A gauge family. Add samples with [`FamilyBuilder::sample`].
    pub fn gauge(&mut self, name: impl Into<String>, help: impl Into<String>) -> FamilyBuilder<'_> {
        self.family(MetricType::Gauge, name.into(), help.into())
    }

    /// An untyped family. Add samples with [`FamilyBuilder::sample`].
    pub fn untyped(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Untyped, name.into(), help.into())
    }

    /// A histogram family. Add samples with [`FamilyBuilder::observe_buckets`].
    pub fn histogram(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Histogram, name.into(), help.into())
    }

    /// A summary family. Add samples with [`FamilyBuilder::quantiles`].
    pub fn summary(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Summary, name.into(), help.into())
    }

    /// A gauge histogram family (a distribution of a current state, such as the ages of the
    /// jobs in a queue). Add samples with [`FamilyBuilder::observe_buckets`].
    pub fn gauge_histogram(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::GaugeHistogram, name.into(), help.into())
    }

    /// An info family; its name ends in `_info`. Add samples with [`FamilyBuilder::info`].
    pub fn info(&mut self, name: impl Into<String>, help: impl Into<String>) -> FamilyBuilder<'_> {
        self.family(MetricType::Info, name.into(), help.into())
    }

    /// A stateset family. Add samples with [`FamilyBuilder::states`].
    pub fn stateset(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::StateSet, name.into(), help.into())
    }

    fn family(&mut self, kind: MetricType, name: String, help: String) -> FamilyBuilder<'_> {
        let index = match self
            .families
            .iter()
            .position(|f| f.name == name && f.kind == kind)
        {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name,
                    kind,
                    help,
                    unit: None,
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        FamilyBuilder {
            family: &mut self.families[index],
        }
    }

    /// `log` lines to send with this batch, before its metrics (or its error).
    pub fn log(&mut self) -> &mut Log {
        &mut self.log
    }

    /// When the host stops waiting for this batch, for a batch answering a collect; `None` for
    /// a batch built by the plugin itself (a push).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The families added so far.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The families, consuming the batch (its log lines are dropped).
    pub fn into_families(self) -> Vec<Family> {
        self.families
    }

    /// True when no family was added.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }
}

/// Adds samples to one family of a [`Batch`]; returned by [`Batch::gauge`] and its siblings.
///
/// Use the method matching the family's type: [`sample`](Self::sample) for counters, gauges
/// and untyped families, [`observe_buckets`](Self::observe_buckets) for histograms and gauge
/// histograms, [`quantiles`](Self::quantiles) for summaries, [`info`](Self::info) and
/// [`states`](Self::states). The host drops samples of the wrong shape.
/// [`timestamp`](Self::timestamp), [`created`](Self::created) and
/// [`exemplar`](Self::exemplar) add to the sample added last.
#[derive(Debug)]
pub struct FamilyBuilder<'a> {
    family: &'a mut Family,
}

impl FamilyBuilder<'_> {
    /// Sets the family's unit (`seconds`, `bytes`, ...), which its name must end with (before
    /// `_total` for a counter). Used for the OpenMetrics `# UNIT` line.
    pub fn unit(self, unit: impl Into<String>) -> Self {
        self.family.unit = Some(unit.into());
        self
    }

    /// Adds a counter, gauge or untyped series. NaN and the infinities travel as the protocol's
    /// `"NaN"`, `"+Inf"` and `"-Inf"`.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.family.samples.push(Sample {
            labels: labels.iter().copied().collect(),
            value: Some(Value(value)),
            ..Sample::default()
        });
        self
    }

    /// Adds a histogram series: cumulative `(le, count)` buckets in increasing `le`, the sum
    /// and the count of all observations. The `+Inf` bucket may be left out.
    pub fn observe_buckets(
        &mut self,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) -> &mut Self {
        self.family.samples.push(Sample {
            labels: labels.iter().copied().collect(),
            buckets: Some(
                buckets
                    .iter()
                    .map(|&(le, n)| Bucket::new(le, n as f64))
                    .collect(),
            ),
            sum: Some(Value(sum)),
            count: Some(Value(count as f64)),
            ..Sample::default()
        });
        self
    }

    /// Adds a summary series: `(quantile, value)` pairs in increasing quantile (0 to 1), the sum
    /// and the count of all observations.
    pub fn quantiles(
        &mut self,
        labels: &[(&str, &str)],
        quantiles: &[(f64, f64)],
        sum: f64,
        count: u64,
    ) -> &mut Self {
        self.family.samples.push(Sample {
            labels: labels.iter().copied().collect(),
            quantiles: Some(
                quantiles
                    .iter()
                    .map(|&(q, v)| Quantile {
                        quantile: Value(q),
                        value: Value(v),
                    })
                    .collect(),
            ),
            sum: Some(Value(sum)),
            count: Some(Value(count as f64)),
            ..Sample::default()
        });
        self
    }
    /// Adds an info series: labels describing the target, value 1.
    pub fn info(&mut self, labels: &[(&str, &str)]) -> &mut Self {
        self.family.samples.push(Sample {
            labels: labels.iter().copied().collect(),
            value: Some(Value(1.0)),
            ..Sample::default()
        });
        self
    }

    /// Adds a stateset's states: one series per state, with `labels` and a label named after
    /// the family holding the state, 1 when the state holds and 0 when not.
    pub fn states(&mut self, labels: &[(&str, &str)], states: &[(&str, bool)]) -> &mut Self {
        for &(state, holds) in states {
            let mut l: crate::Labels = labels.iter().copied().collect();
            l.0.push((self.family.name.clone(), state.to_owned()));
            self.family.samples.push(Sample {
                labels: l,
                value: Some(Value(f64::from(u8::from(holds)))),
                ..Sample::default()
            });
        }
        self
    }

    /// Stamps the sample added last with the time its value was taken, in seconds since the
    /// Unix epoch (most plugins leave this to the scraper).
    pub fn timestamp(&mut self, seconds: f64) -> &mut Self {
        if let Some(s) = self.family.samples.last_mut() {
            s.timestamp = Some(seconds);
        }
        self
    }

    /// Sets when the counter, histogram or summary series added last started counting, in
    /// seconds since the Unix epoch.
    pub fn created(&mut self, seconds: f64) -> &mut Self {
        if let Some(s) = self.family.samples.last_mut() {
            s.created = Some(seconds);
        }
        self
    }

    /// Gives the counter series added last an exemplar: an observation with labels (a trace
    /// id) and its value.
    pub fn exemplar(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        if let Some(s) = self.family.samples.last_mut() {
            s.exemplar = Some(Box::new(Exemplar {
                labels: labels.iter().copied().collect(),
                value: Value(value),
                timestamp: None,
            }));
        }
        self
    }
}
