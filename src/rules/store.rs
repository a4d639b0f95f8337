//! The in-memory store of series the engine evaluates over.

use std::collections::BTreeMap;

use promql_parser::label::Matcher;

use super::error::StoreError;
use super::value::{format_labels, get, normalize, stale_nan, Labels, Series};

/// Series by label set (sorted, `__name__` included), each with samples in time order.
#[derive(Debug, Clone)]
pub struct Store {
    series: BTreeMap<Labels, Vec<(i64, f64)>>,
    max_series: usize,
}

impl Store {
    /// An empty store that holds at most `max_series` series.
    pub fn new(max_series: usize) -> Self {
        Store {
            series: BTreeMap::new(),
            max_series,
        }
    }

    /// How many series the store holds.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the store holds no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Adds sample `(t_ms, v)` to the series `labels`, creating it if there is room.
    pub fn append(&mut self, labels: Labels, t_ms: i64, v: f64) -> Result<(), StoreError> {
        let labels = normalize(labels);
        if let Some(points) = self.series.get_mut(&labels) {
            if let Some(&(last_ms, _)) = points.last() {
                if t_ms <= last_ms {
                    return Err(StoreError::OutOfOrder {
                        series: format_labels(&labels),
                        t_ms,
                        last_ms,
                    });
                }
            }
            points.push((t_ms, v));
            return Ok(());
        }
        if self.series.len() >= self.max_series {
            return Err(StoreError::TooManySeries {
                max: self.max_series,
            });
        }
        self.series.insert(labels, vec![(t_ms, v)]);
        Ok(())
    }

    /// Marks the series `labels` stale at `t_ms`: instant selectors no longer return it
    /// from then on. A series the store does not hold is left alone.
    pub fn mark_stale(&mut self, labels: Labels, t_ms: i64) -> Result<(), StoreError> {
        let labels = normalize(labels);
        if !self.series.contains_key(&labels) {
            return Ok(());
        }
        self.append(labels, t_ms, stale_nan())
    }

    /// Drops every sample older than `min_t_ms`, and the series left without samples.
    pub fn trim(&mut self, min_t_ms: i64) {
        self.series.retain(|_, points| {
            let keep_from = points.partition_point(|&(t, _)| t < min_t_ms);
            points.drain(..keep_from);
            !points.is_empty()
        });
    }

    /// The series all `matchers` match (a missing label matches as the empty string),
    /// with their samples in `(start_ms, end_ms]`, stale markers included; series without
    /// a sample there are left out.
    pub fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        self.series
            .iter()
            .filter(|(labels, _)| {
                matchers
                    .iter()
                    .all(|m| m.is_match(get(labels, &m.name).unwrap_or("")))
            })
            .filter_map(|(labels, points)| {
                let from = points.partition_point(|&(t, _)| t <= start_ms);
                let to = points.partition_point(|&(t, _)| t <= end_ms);
                (from < to).then(|| Series {
                    labels: labels.clone(),
                    points: points[from..to].to_vec(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::value::is_stale;
    use promql_parser::label::MatchOp;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn append_select_trim_and_bound() {
        let mut s = Store::new(2);
        s.append(ls(&[("__name__", "a"), ("x", "1")]), 1000, 1.0)
            .unwrap();
        s.append(ls(&[("x", "1"), ("__name__", "a")]), 2000, 2.0)
            .unwrap();
        assert!(matches!(
            s.append(ls(&[("__name__", "a"), ("x", "1")]), 2000, 3.0),
            Err(StoreError::OutOfOrder { .. })
        ));
        s.append(ls(&[("__name__", "b")]), 1000, 5.0).unwrap();
        assert_eq!(
            s.append(ls(&[("__name__", "c")]), 1000, 5.0),
            Err(StoreError::TooManySeries { max: 2 })
        );
        let m = vec![Matcher::new(MatchOp::Equal, "__name__", "a")];
        let got = s.select(&m, 1000, 2000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].points, vec![(2000, 2.0)]);
        let missing = vec![Matcher::new(MatchOp::Equal, "x", "")];
        assert_eq!(
            s.select(&missing, 0, 5000)[0].labels,
            ls(&[("__name__", "b")])
        );
        s.mark_stale(ls(&[("__name__", "b")]), 3000).unwrap();
        assert!(is_stale(s.select(&missing, 2000, 5000)[0].points[0].1));
        s.trim(2500);
        assert_eq!(s.len(), 1);
        s.trim(10_000);
        assert!(s.is_empty());
    }
}
