//! Example plugin-exporter processor in Rust (`role: processor`), on the `plugin-protocol`
//! SDK's [`Processor`]: sums series by a label set.
//!
//! `config` in the exporter's configuration: `by`, the labels to keep (default: none, one
//! series per family). Every counter, gauge and untyped series is grouped by the values of
//! those labels alone, and each group becomes one series with the sum of the group's values
//! (a label a series lacks counts as empty). Families of other types (histograms, summaries,
//! info, ...) go on unchanged; `timestamp`, `created` and exemplars are dropped from summed
//! series, as they belong to one series and not to a sum.
//!
//! ```yaml
//! - name: rollup
//!   role: processor
//!   command: ["../target/debug/rollup-processor"]
//!   config: {by: [path]}
//! ```
#![forbid(unsafe_code)]

use plugin_protocol::sdk::{run_processor, Log, Processor};
use plugin_protocol::{Family, HostHello, Labels, MetricType, Sample, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// The processor's name in its `hello`.
const NAME: &str = "rollup";

#[derive(Default)]
struct Rollup {
    /// The labels kept; series are summed over the others.
    by: Vec<String>,
}

impl Processor for Rollup {
    fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
        self.by = match hello.config.get("by") {
            None => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| "`by` must be a list of label names".to_string())?,
        };
        log.info(format!("summing series by {:?}", self.by));
        Ok(())
    }

    fn process(
        &mut self,
        _plugin: &str,
        families: Vec<Family>,
        _log: &mut Log,
    ) -> Result<Vec<Family>, String> {
        Ok(families.into_iter().map(|f| self.roll(f)).collect())
    }
}

impl Rollup {
    fn roll(&self, mut family: Family) -> Family {
        if !matches!(
            family.kind,
            MetricType::Counter | MetricType::Gauge | MetricType::Untyped
        ) {
            return family;
        }
        // Groups in the order of their first series, keyed by the kept label values.
        let mut order: Vec<Vec<String>> = Vec::new();
        let mut sums: BTreeMap<Vec<String>, f64> = BTreeMap::new();
        for s in &family.samples {
            let key: Vec<String> = self
                .by
                .iter()
                .map(|name| {
                    s.labels
                        .0
                        .iter()
                        .find(|(k, _)| k == name)
                        .map_or_else(String::new, |(_, v)| v.clone())
                })
                .collect();
            let value = s.value.map_or(0.0, |v| v.0);
            match sums.get_mut(&key) {
                Some(sum) => *sum += value,
                None => {
                    sums.insert(key.clone(), value);
                    order.push(key);
                }
            }
        }
        family.samples = order
            .into_iter()
            .map(|key| {
                let labels: Labels = self
                    .by
                    .iter()
                    .zip(&key)
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Sample {
                    labels,
                    value: Some(Value(sums[&key])),
                    ..Sample::default()
                }
            })
            .collect();
        family
    }
}

fn main() -> ExitCode {
    match run_processor(NAME, env!("CARGO_PKG_VERSION"), Rollup::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}
