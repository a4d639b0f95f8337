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

/// Ten relabel rules of the kinds people write, over the series of [`families`]: drops and
/// keeps by name, a capture into a new label, a static label, a hash shard, case mapping,
/// labelmap, labeldrop and an equality check.
pub const RELABEL_RULES: &str = r#"
- {source_labels: [__name__], regex: 'go_.*|process_.*', action: drop}
- {source_labels: [__name__], regex: 'bench_.*|node_.*', action: keep}
- {source_labels: [series], regex: 's(\d)(\d*)', target_label: decade, replacement: '$1'}
- {target_label: env, replacement: prod}
- {source_labels: [series], modulus: 16, target_label: shard, action: hashmod}
- {source_labels: [env], target_label: env_upper, action: uppercase}
- {regex: '(series)', replacement: 'orig_$1', action: labelmap}
- {regex: 'orig_.*|tmp_.*', action: labeldrop}
- {source_labels: [series], target_label: decade, action: dropequal}
- {source_labels: [__name__, series], regex: 'bench_series_value;s999999', action: drop}
"#;

/// Ten rules that look at names and fixed labels only, the most common kind: drops and keeps
/// by name, a rename, static labels and label drops.
pub const RELABEL_RULES_BY_NAME: &str = r#"
- {source_labels: [__name__], regex: 'go_.*', action: drop}
- {source_labels: [__name__], regex: 'process_.*', action: drop}
- {source_labels: [__name__], regex: 'promhttp_.*', action: drop}
- {source_labels: [__name__], regex: 'bench_.*|node_.*', action: keep}
- {source_labels: [__name__], regex: 'bench_series_(.*)', target_label: __name__, replacement: 'bench_$1'}
- {target_label: env, replacement: prod}
- {target_label: region, replacement: eu-west-1}
- {regex: 'tmp_.*', action: labeldrop}
- {regex: 'pod_template_hash', action: labeldrop}
- {source_labels: [__name__, env], regex: 'bench_value;dev', action: drop}
"#;

/// [`batch_options`] with the rules of `yaml`.
pub fn relabel_options(name: &str, yaml: &str) -> BatchOptions {
    let raw: Vec<plugin_exporter::relabel::RawRule> =
        yaml_serde::from_str(yaml).expect("bench rules parse");
    let rules = plugin_exporter::relabel::compile_rules(&raw).expect("bench rules compile");
    BatchOptions {
        relabel: rules.into(),
        ..batch_options(name)
    }
}
