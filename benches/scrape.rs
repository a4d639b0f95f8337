//! Scrape: what `/metrics` does once every plugin's batch is held. The merge of the
//! exporter's own families and 10 plugins' rendered batches into text 0.0.4 and
//! OpenMetrics; gzip as the HTTP layer does it (the merge into a `GzipSink` that copies each
//! family's cached gzip member, steady state), and, for reference, compressing the whole
//! text body with flate2's fast level per scrape. Throughput is in bytes of the uncompressed
//! body, comparable with a memory copy.
//!
//! Run: `cargo bench --bench scrape`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use plugin_exporter::exposition::gzip::GzipSink;
use plugin_exporter::exposition::merge::{assemble, Contribution};
use plugin_exporter::exposition::render::{render, RenderedFamily};
use plugin_exporter::exposition::Format;
use plugin_exporter::selfmetrics::SelfMetrics;
use std::hint::black_box;
use std::io::Write;

#[allow(dead_code)] // each bench uses part of it
mod common;

const PLUGINS: usize = 10;
/// Series per plugin: 10k and 100k in all.
const SIZES: [usize; 2] = [1_000, 10_000];

/// The exporter's own families for `n` plugins, rendered.
fn own(n: usize) -> Vec<RenderedFamily> {
    let m = SelfMetrics::new("bench", "bench");
    for p in 0..n {
        m.init_plugin(&format!("p{p}"));
    }
    render(m.families(), None, false)
}

fn merged(own: &[RenderedFamily], plugins: &[Vec<RenderedFamily>], format: Format) -> Vec<u8> {
    let contributions: Vec<Contribution> = plugins
        .iter()
        .map(|f| Contribution { families: f })
        .collect();
    let mut out = Vec::new();
    assemble(own, &contributions, format, &mut out);
    out
}

fn merge(c: &mut Criterion) {
    let own = own(PLUGINS);
    for (group, format) in [
        ("merge_text", Format::Text),
        ("merge_openmetrics", Format::OpenMetrics),
    ] {
        let mut g = c.benchmark_group(group);
        for m in SIZES {
            let plugins: Vec<_> = (0..PLUGINS).map(|p| common::rendered(p, m)).collect();
            let bytes = merged(&own, &plugins, format).len();
            g.throughput(Throughput::Bytes(bytes as u64));
            g.bench_function(BenchmarkId::from_parameter(PLUGINS * m), |b| {
                b.iter(|| merged(black_box(&own), black_box(&plugins), format))
            });
        }
        g.finish();
    }
}

fn gzip(c: &mut Criterion) {
    let own = own(PLUGINS);
    let mut g = c.benchmark_group("gzip_text_members");
    for m in SIZES {
        let plugins: Vec<_> = (0..PLUGINS).map(|p| common::rendered(p, m)).collect();
        let contributions: Vec<Contribution> = plugins
            .iter()
            .map(|f| Contribution { families: f })
            .collect();
        let bytes = merged(&own, &plugins, Format::Text).len();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(BenchmarkId::from_parameter(PLUGINS * m), |b| {
            b.iter(|| {
                let mut sink = GzipSink::with_capacity(64 * 1024);
                assemble(
                    black_box(&own),
                    black_box(&contributions),
                    Format::Text,
                    &mut sink,
                );
                sink.finish()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("gzip_text_whole_body");
    g.sample_size(20);
    for m in SIZES {
        let plugins: Vec<_> = (0..PLUGINS).map(|p| common::rendered(p, m)).collect();
        let body = merged(&own, &plugins, Format::Text);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(PLUGINS * m),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut enc =
                        GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
                    enc.write_all(black_box(body)).unwrap();
                    enc.finish().unwrap()
                })
            },
        );
    }
    g.finish();
}

/// The exporter's own families, gathered and rendered on every scrape.
fn own_metrics(c: &mut Criterion) {
    let mut g = c.benchmark_group("own_metrics");
    for n in [10, 100] {
        let m = SelfMetrics::new("bench", "bench");
        for p in 0..n {
            m.init_plugin(&format!("p{p}"));
        }
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| render(m.families(), None, false))
        });
    }
    g.finish();
}

criterion_group!(benches, merge, gzip, own_metrics);
criterion_main!(benches);
