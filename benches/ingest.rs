//! Ingest: what the exporter does with each `metrics` line a plugin writes, stage by stage
//! (JSON-lines parse, validation, rendering to text and OpenMetrics) and end to end
//! (`parse_line`, what the reader task runs). Throughput is in samples, so
//! "1 CPU-second per million samples" is 1 Melem/s.
//!
//! Run: `cargo bench --bench ingest`.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use plugin_exporter::exposition::render::render;
use plugin_exporter::exposition::validate::{validate, Drops, ValidateOptions};
use plugin_exporter::plugin::collector::jsonl_io::{parse_line, LineOutcome};
use plugin_protocol::PluginMessage;
use std::hint::black_box;

#[allow(dead_code)] // each bench uses part of it
mod common;

const SIZES: [usize; 2] = [1_000, 10_000];

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for m in SIZES {
        let line = common::line(m);
        g.throughput(Throughput::Elements(m as u64));
        g.bench_with_input(BenchmarkId::from_parameter(m), &line, |b, line| {
            b.iter(|| PluginMessage::from_line_limited(black_box(line), 1_000_000).unwrap())
        });
    }
    g.finish();
}

fn validate_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("validate");
    let opts = ValidateOptions::with_extra_label(Some(("plugin", "p0")));
    for m in SIZES {
        g.throughput(Throughput::Elements(m as u64));
        g.bench_function(BenchmarkId::from_parameter(m), |b| {
            b.iter_batched(
                || common::families(m),
                |f| {
                    let mut drops = Drops::default();
                    validate(f, &opts, &mut drops)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn render_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("render");
    let opts = ValidateOptions::with_extra_label(Some(("plugin", "p0")));
    for m in SIZES {
        g.throughput(Throughput::Elements(m as u64));
        g.bench_function(BenchmarkId::from_parameter(m), |b| {
            b.iter_batched(
                || validate(common::families(m), &opts, &mut Drops::default()),
                |f| render(f, opts.extra_label, false),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Parse, budgets, validation and rendering of one line: the reader task's work per push.
fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    let opts = common::batch_options("p0");
    for m in SIZES {
        let line = common::line(m);
        g.throughput(Throughput::Elements(m as u64));
        g.bench_with_input(BenchmarkId::from_parameter(m), &line, |b, line| {
            b.iter(
                || match parse_line(black_box(line), &opts, &mut Drops::default()) {
                    LineOutcome::Metrics { batch: Ok(b), .. } => b,
                    other => panic!("not a batch: {other:?}"),
                },
            )
        });
    }
    g.finish();
}

/// [`ingest`] with ten `metric_relabel_configs` rules: [`common::RELABEL_RULES`] (several
/// read every series' own label) and [`common::RELABEL_RULES_BY_NAME`] (names and fixed
/// labels only).
fn ingest_relabeled(c: &mut Criterion) {
    for (group, rules) in [
        ("ingest_relabeled", common::RELABEL_RULES),
        ("ingest_relabeled_by_name", common::RELABEL_RULES_BY_NAME),
    ] {
        relabeled_group(c, group, rules);
    }
}

fn relabeled_group(c: &mut Criterion, group: &str, rules: &str) {
    let mut g = c.benchmark_group(group);
    let opts = common::relabel_options("p0", rules);
    for m in SIZES {
        let line = common::line(m);
        g.throughput(Throughput::Elements(m as u64));
        g.bench_with_input(BenchmarkId::from_parameter(m), &line, |b, line| {
            b.iter(
                || match parse_line(black_box(line), &opts, &mut Drops::default()) {
                    LineOutcome::Metrics { batch: Ok(b), .. } => {
                        assert_eq!(b.series, m, "the rules keep every series");
                        b
                    }
                    other => panic!("not a batch: {other:?}"),
                },
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    parse,
    validate_bench,
    render_bench,
    ingest,
    ingest_relabeled
);
criterion_main!(benches);
