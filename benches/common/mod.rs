//! Inputs shared by the benches: the synthetic series of `bench/synth` (and of the peers in
//! `textfile_gen.py`), as a protocol line and as rendered batches.

use plugin_exporter::exposition::batch::BatchOptions;
use plugin_exporter::exposition::render::{render, RenderedFamily};
use plugin_exporter::exposition::validate::{validate, Drops, ValidateOptions};
use plugin_protocol::sdk::Batch;
use plugin_protocol::{Family, Metrics, PluginMessage};

/// `m` series in one family, as `bench/synth` pushes them: `bench_series_value`,
/// `series="s<i>"`, value `<i>.5`.
pub fn families(m: usize) -> Vec<Family> {
    let mut b = Batch::new();
    let mut fam = b.gauge("bench_series_value", "A benchmark gauge");
    for i in 0..m {
        let s = format!("s{i}");
        fam.sample(&[("series", s.as_str())], i as f64 + 0.5);
    }
    b.into_families()
}

/// The `metrics` line (without its newline) a push of `m` series is.
pub fn line(m: usize) -> Vec<u8> {
    let mut l = PluginMessage::Metrics(Metrics {
        id: None,
        families: families(m),
    })
    .to_line()
    .into_bytes();
    l.pop();
    l
}

/// The batch settings of plugin `name` with the default budgets.
pub fn batch_options(name: &str) -> BatchOptions {
    BatchOptions {
        plugin: name.to_string(),
        plugin_label: "plugin".to_string(),
        max_line: 16 << 20,
        max_series: 1_000_000,
        max_labels: 32,
        relabel: Vec::new().into(),
    }
}

/// Plugin `p`'s batch of `m` series, validated and rendered as the exporter keeps it.
pub fn rendered(p: usize, m: usize) -> Vec<RenderedFamily> {
    let name = format!("p{p}");
    let opts = ValidateOptions::with_extra_label(Some(("plugin", name.as_str())));
    let mut drops = Drops::default();
    let valid = validate(families(m), &opts, &mut drops);
    render(valid, opts.extra_label, false)
}
