//! What one collect sends: the exporter's merged exposition (what a scrape would serve, the
//! exporter's own metrics included) as series, each with one sample stamped at collect time
//! (or the plugin's own timestamp), `le` and `quantile` as OpenMetrics writes them, the
//! external labels added where a series lacks them.

use std::borrow::Cow;

use crate::exposition::model::MetricType;
use crate::relabel::{LabelSet, Memo, Rule};
use plugin_protocol as proto;

/// One sample of one series, labels sorted with `__name__`, borrowed from the families
/// where they can be.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    /// Labels, sorted by name.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// Value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// A float as OpenMetrics writes `le` and `quantile`.
fn canonical(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        ryu::Buffer::new().format_finite(v).to_string()
    }
}

/// Flattens families into points stamped `now_ms`.
pub fn points<'a>(
    families: &'a [proto::Family],
    now_ms: i64,
    external: &'a [(String, String)],
) -> Vec<Point<'a>> {
    let mut out = Vec::new();
    for f in families {
        for s in &f.samples {
            let ts = s.timestamp.map_or(now_ms, |t| (t * 1000.0).round() as i64);
            let mut push = |suffix: &str, extra: Option<(&'static str, f64)>, value: f64| {
                let mut labels: Vec<(&str, Cow<str>)> =
                    Vec::with_capacity(s.labels.0.len() + 2 + external.len());
                labels.extend(
                    s.labels
                        .0
                        .iter()
                        .map(|(n, v)| (n.as_str(), Cow::Borrowed(v.as_str()))),
                );
                let name = if suffix.is_empty() {
                    Cow::Borrowed(f.name.as_str())
                } else {
                    Cow::Owned(format!("{}{suffix}", f.name))
                };
                labels.push(("__name__", name));
                if let Some((n, v)) = extra {
                    labels.push((n, Cow::Owned(canonical(v))));
                }
                for (n, v) in external {
                    if !labels.iter().any(|(m, _)| m == n) {
                        labels.push((n.as_str(), Cow::Borrowed(v.as_str())));
                    }
                }
                labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
                out.push(Point {
                    labels,
                    value,
                    timestamp: ts,
                });
            };
            let (sum, count) = match f.kind {
                MetricType::GaugeHistogram => ("_gsum", "_gcount"),
                _ => ("_sum", "_count"),
            };
            match f.kind {
                MetricType::Histogram | MetricType::GaugeHistogram => {
                    for b in s.buckets.iter().flatten() {
                        push("_bucket", Some(("le", b.le.0)), b.count.0);
                    }
                }
                MetricType::Summary => {
                    for q in s.quantiles.iter().flatten() {
                        push("", Some(("quantile", q.quantile.0)), q.value.0);
                    }
                }
                _ => {
                    if let Some(v) = s.value {
                        push("", None, v.0);
                    }
                }
            }
            if let Some(v) = s.sum {
                push(sum, None, v.0);
            }
            if let Some(v) = s.count {
                push(count, None, v.0);
            }
        }
    }
    out
}

/// The families with every sample's `timestamp` set to `now_ms` (in seconds, as the
/// protocol has it) where it had none: what outputs get.
pub fn stamped(families: &[proto::Family], now_ms: i64) -> Vec<proto::Family> {
    let now = now_ms as f64 / 1000.0;
    let mut out = families.to_vec();
    for s in out.iter_mut().flat_map(|f| f.samples.iter_mut()) {
        s.timestamp.get_or_insert(now);
    }
    out
}

/// Applies a destination's `write_relabel_configs` (not called without rules); `None` when
/// the point is dropped.
pub fn relabel(point: &Point, rules: &[Rule], memos: &mut [Memo]) -> Option<Vec<(String, String)>> {
    let owned = point
        .labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let mut ls = LabelSet::from_unique(owned);
    let keep = rules
        .iter()
        .zip(memos.iter_mut())
        .all(|(r, m)| r.apply_memo(&mut ls, m));
    let labels = ls.into_pairs();
    (keep && labels.iter().any(|(n, _)| n == "__name__")).then_some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_get_the_collect_time_where_a_sample_has_no_timestamp() {
        let fams: Vec<proto::Family> = serde_json::from_str(
            r#"[{"name":"g","type":"gauge","samples":[{"value":1},{"value":2,"timestamp":12.5}]}]"#,
        )
        .unwrap();
        let out = stamped(&fams, 1_700_000_000_250);
        let ts: Vec<Option<f64>> = out[0].samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(ts, [Some(1_700_000_000.25), Some(12.5)]);
    }

    #[test]
    fn every_type_flattens_to_the_series_prometheus_stores() {
        let fams: Vec<proto::Family> = serde_json::from_str(
            r#"[{"name":"c_total","type":"counter","samples":[{"labels":{"a":"1"},"value":3}]},
                {"name":"h","type":"histogram","samples":[{"buckets":[{"le":1,"count":1},{"le":"+Inf","count":2}],"sum":3,"count":2}]},
                {"name":"s","type":"summary","samples":[{"quantiles":[{"quantile":0.5,"value":7}],"count":1}]},
                {"name":"g","type":"gauge","samples":[{"value":1,"timestamp":12.5}]}]"#,
        )
        .unwrap();
        let ext = [
            ("cluster".to_string(), "eu".to_string()),
            ("a".to_string(), "x".to_string()),
        ];
        let pts = points(&fams, 1000, &ext);
        let shown: Vec<String> = pts
            .iter()
            .map(|p| {
                let l: Vec<String> = p.labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
                format!("{} {} {}", l.join(","), p.value, p.timestamp)
            })
            .collect();
        assert_eq!(
            shown,
            [
                "__name__=c_total,a=1,cluster=eu 3 1000",
                "__name__=h_bucket,a=x,cluster=eu,le=1.0 1 1000",
                "__name__=h_bucket,a=x,cluster=eu,le=+Inf 2 1000",
                "__name__=h_sum,a=x,cluster=eu 3 1000",
                "__name__=h_count,a=x,cluster=eu 2 1000",
                "__name__=s,a=x,cluster=eu,quantile=0.5 7 1000",
                "__name__=s_count,a=x,cluster=eu 1 1000",
                "__name__=g,a=x,cluster=eu 1 12500",
            ]
        );
    }
}
