//! The exporter's own metrics, gathered from the `prometheus` crate, converted to our model so
//! they go through our encoders (the crate has no OpenMetrics encoder, writes `inf`, and its
//! text encoder panics on untyped).

use std::collections::HashSet;

use prometheus::proto;

use super::model::{self, MetricType, SampleValue};

/// Converts gathered families to our model, in the given order. Timestamps are dropped
/// (exporters should not set them). A histogram without a `+Inf` bucket (the crate leaves it
/// implicit) gets one equal to its count. A repeated family name keeps its first occurrence,
/// since a registry does not check that for us and a repeated family is invalid exposition.
pub fn from_prometheus(mfs: &[proto::MetricFamily]) -> Vec<model::Family> {
    let mut seen = HashSet::with_capacity(mfs.len());
    mfs.iter()
        .filter(|mf| seen.insert(mf.name()))
        .map(convert_family)
        .collect()
}

fn convert_family(mf: &proto::MetricFamily) -> model::Family {
    let kind = match mf.get_field_type() {
        proto::MetricType::COUNTER => MetricType::Counter,
        proto::MetricType::GAUGE => MetricType::Gauge,
        proto::MetricType::HISTOGRAM => MetricType::Histogram,
        proto::MetricType::SUMMARY => MetricType::Summary,
        proto::MetricType::UNTYPED => MetricType::Untyped,
    };
    let samples = mf
        .get_metric()
        .iter()
        .map(|m| {
            let labels = m
                .get_label()
                .iter()
                .map(|l| (l.name().to_string(), l.value().to_string()))
                .collect();
            model::Sample::new(labels, convert_value(m, kind))
        })
        .collect();
    model::Family {
        name: mf.name().to_string(),
        kind,
        help: mf.help().to_string(),
        unit: None,
        samples,
    }
}

fn convert_value(m: &proto::Metric, kind: MetricType) -> SampleValue {
    match kind {
        MetricType::Counter => SampleValue::Scalar(m.get_counter().get_value()),
        // The crate has no OpenMetrics-only types: `convert_family` never gives those kinds.
        MetricType::Gauge | MetricType::Info | MetricType::StateSet => {
            SampleValue::Scalar(m.get_gauge().get_value())
        }
        // The crate deprecates untyped (a protobuf leftover) but still carries it.
        #[allow(deprecated)]
        MetricType::Untyped => SampleValue::Scalar(m.get_untyped().get_value()),
        MetricType::Histogram | MetricType::GaugeHistogram => {
            let h = m.get_histogram();
            let count = h.get_sample_count() as f64;
            let mut buckets: Vec<(f64, f64)> = h
                .get_bucket()
                .iter()
                .map(|b| (b.upper_bound(), b.cumulative_count() as f64))
                .collect();
            if buckets.last().is_none_or(|&(le, _)| le != f64::INFINITY) {
                buckets.push((f64::INFINITY, count));
            }
            SampleValue::Histogram {
                buckets,
                sum: Some(h.get_sample_sum()),
                count,
            }
        }
        MetricType::Summary => {
            let s = m.get_summary();
            SampleValue::Summary {
                quantiles: s
                    .get_quantile()
                    .iter()
                    .map(|q| (q.quantile(), q.value()))
                    .collect(),
                sum: Some(s.sample_sum()),
                count: Some(s.sample_count() as f64),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::merge::assemble;
    use crate::exposition::render::render;
    use crate::exposition::testing::{promtool_check, python_parse};
    use crate::exposition::Format;

    fn label(name: &str, value: &str) -> proto::LabelPair {
        let mut l = proto::LabelPair::default();
        l.set_name(name.to_string());
        l.set_value(value.to_string());
        l
    }

    fn family(name: &str, kind: proto::MetricType, metric: proto::Metric) -> proto::MetricFamily {
        let mut mf = proto::MetricFamily::default();
        mf.set_name(name.to_string());
        mf.set_help(format!("{name} help"));
        mf.set_field_type(kind);
        mf.set_metric(vec![metric]);
        mf
    }

    fn bucket(le: f64, count: u64) -> proto::Bucket {
        let mut b = proto::Bucket::default();
        b.set_upper_bound(le);
        b.set_cumulative_count(count);
        b
    }

    #[test]
    fn every_type_converts_with_labels_help_and_values() {
        let mut counter = proto::Counter::default();
        counter.set_value(3.0);
        let mut m = proto::Metric::from_label(vec![label("plugin", "disk")]);
        m.set_counter(counter);
        let c = family("c_total", proto::MetricType::COUNTER, m);

        let mut gauge = proto::Gauge::default();
        gauge.set_value(-1.5);
        let g = family(
            "g",
            proto::MetricType::GAUGE,
            proto::Metric::from_gauge(gauge),
        );

        let mut hist = proto::Histogram::default();
        hist.set_sample_count(4);
        hist.set_sample_sum(2.5);
        hist.set_bucket(vec![bucket(0.5, 1), bucket(1.0, 3)]);
        let mut m = proto::Metric::default();
        m.set_histogram(hist);
        let h = family("h_seconds", proto::MetricType::HISTOGRAM, m);

        let mut q = proto::Quantile::default();
        q.set_quantile(0.5);
        q.set_value(0.25);
        let mut summary = proto::Summary::default();
        summary.set_sample_count(2);
        summary.set_sample_sum(0.75);
        summary.set_quantile(vec![q]);
        let mut m = proto::Metric::default();
        m.set_summary(summary);
        let s = family("s_seconds", proto::MetricType::SUMMARY, m);

        let mut untyped = proto::Untyped::default();
        #[allow(deprecated)]
        untyped.set_value(7.0);
        let mut m = proto::Metric::default();
        #[allow(deprecated)]
        m.set_untyped(untyped);
        let u = family("u", proto::MetricType::UNTYPED, m);

        let got = from_prometheus(&[c, g, h, s, u]);
        let fam = |name: &str, kind, labels: Vec<(String, String)>, value| model::Family {
            name: name.to_string(),
            kind,
            help: format!("{name} help"),
            unit: None,
            samples: vec![model::Sample::new(labels, value)],
        };
        let want = vec![
            fam(
                "c_total",
                MetricType::Counter,
                vec![("plugin".to_string(), "disk".to_string())],
                SampleValue::Scalar(3.0),
            ),
            fam("g", MetricType::Gauge, vec![], SampleValue::Scalar(-1.5)),
            fam(
                "h_seconds",
                MetricType::Histogram,
                vec![],
                SampleValue::Histogram {
                    // The crate leaves +Inf implicit; we add it with the count.
                    buckets: vec![(0.5, 1.0), (1.0, 3.0), (f64::INFINITY, 4.0)],
                    sum: Some(2.5),
                    count: 4.0,
                },
            ),
            fam(
                "s_seconds",
                MetricType::Summary,
                vec![],
                SampleValue::Summary {
                    quantiles: vec![(0.5, 0.25)],
                    sum: Some(0.75),
                    count: Some(2.0),
                },
            ),
            fam("u", MetricType::Untyped, vec![], SampleValue::Scalar(7.0)),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn explicit_inf_bucket_is_not_added_twice() {
        let mut hist = proto::Histogram::default();
        hist.set_sample_count(2);
        hist.set_bucket(vec![bucket(1.0, 1), bucket(f64::INFINITY, 2)]);
        let mut m = proto::Metric::default();
        m.set_histogram(hist);
        let got = from_prometheus(&[family("h", proto::MetricType::HISTOGRAM, m)]);
        let SampleValue::Histogram { buckets, .. } = &got[0].samples[0].value else {
            panic!("not a histogram")
        };
        assert_eq!(buckets, &[(1.0, 1.0), (f64::INFINITY, 2.0)]);
    }

    #[test]
    fn repeated_family_name_keeps_the_first() {
        let mut g1 = proto::Gauge::default();
        g1.set_value(1.0);
        let mut g2 = proto::Gauge::default();
        g2.set_value(2.0);
        let a = family("g", proto::MetricType::GAUGE, proto::Metric::from_gauge(g1));
        let b = family("g", proto::MetricType::GAUGE, proto::Metric::from_gauge(g2));
        let got = from_prometheus(&[a, b]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples[0].value, SampleValue::Scalar(1.0));
    }

    /// The exporter's own metrics must be lint-clean, not just parseable.
    #[test]
    fn registry_output_through_our_encoders_is_lint_clean_and_parses() {
        let registry = prometheus::Registry::new();
        let scrapes = prometheus::IntCounter::new(
            "plugin_exporter_scrapes_total",
            "Scrapes served since start.",
        )
        .unwrap();
        let up = prometheus::GaugeVec::new(
            prometheus::Opts::new(
                "plugin_exporter_plugin_up",
                "Whether the plugin's last collect succeeded.",
            ),
            &["plugin"],
        )
        .unwrap();
        let duration = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new(
                "plugin_exporter_collect_duration_seconds",
                "Time a plugin took to answer a collect.",
            )
            .buckets(vec![0.01, 0.1, 1.0]),
            &["plugin"],
        )
        .unwrap();
        registry.register(Box::new(scrapes.clone())).unwrap();
        registry.register(Box::new(up.clone())).unwrap();
        registry.register(Box::new(duration.clone())).unwrap();
        scrapes.inc_by(3);
        up.with_label_values(&["disk"]).set(1.0);
        up.with_label_values(&["net"]).set(0.0);
        duration.with_label_values(&["disk"]).observe(0.05);

        let own = render(from_prometheus(&registry.gather()), None, false);
        let mut text = Vec::new();
        assemble(&own, &[], Format::Text, &mut text);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(
                "plugin_exporter_collect_duration_seconds_bucket{plugin=\"disk\",le=\"+Inf\"} 1\n"
            ),
            "{text}"
        );
        promtool_check(&text, false);
        assert_eq!(
            python_parse(&text, Format::Text),
            [
                "plugin_exporter_collect_duration_seconds histogram - 6",
                "plugin_exporter_plugin_up gauge - 2",
                "plugin_exporter_scrapes counter - 1",
            ]
        );
        let mut om = Vec::new();
        assemble(&own, &[], Format::OpenMetrics, &mut om);
        let om = String::from_utf8(om).unwrap();
        assert_eq!(
            python_parse(&om, Format::OpenMetrics),
            [
                "plugin_exporter_collect_duration_seconds histogram - 6",
                "plugin_exporter_plugin_up gauge - 2",
                "plugin_exporter_scrapes counter - 1",
            ]
        );
    }
}
