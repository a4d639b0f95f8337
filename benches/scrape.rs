//! Scrape: what `/metrics` does once every plugin's batch is held, through the exporter's own
//! scrape code ([`plugin_exporter::scrape`]): the exporter's own families gathered and
//! rendered, merged with 10 plugins' rendered batches into text 0.0.4 and OpenMetrics; gzip
//! as a scrape does it (each family's cached gzip member copied, steady state), and, for
//! reference, compressing the whole text body with flate2's fast level per scrape.
//! Throughput is in bytes of the uncompressed body, comparable with a memory copy.
//!
//! Run: `cargo bench --bench scrape`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use plugin_exporter::exposition::batch::Batch;
use plugin_exporter::exposition::render::render;
use plugin_exporter::exposition::Format;
use plugin_exporter::scrape;
use plugin_exporter::selfmetrics::SelfMetrics;
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

#[allow(dead_code)] // each bench uses part of it
mod common;

const PLUGINS: usize = 10;
/// Series per plugin: 10k and 100k in all.
const SIZES: [usize; 2] = [1_000, 10_000];

/// The exporter's own metrics with `n` plugins' series.
fn own(n: usize) -> SelfMetrics {
    let m = SelfMetrics::new("bench", "bench");
    for p in 0..n {
        m.init_plugin(&format!("p{p}"));
    }
    m
}

/// `PLUGINS` plugins' batches of `m` series each, as the exporter holds them, and names.
fn held(m: usize) -> (Vec<String>, Vec<Option<Arc<Batch>>>) {
    let names = (0..PLUGINS).map(|p| format!("p{p}")).collect();
    let batches = (0..PLUGINS)
        .map(|p| {
            let families = common::rendered(p, m);
            Some(Arc::new(Batch {
                series: families.iter().map(|f| f.series).sum(),
                families,
                received: SystemTime::now(),
                merge_counted: AtomicBool::new(false),
                relabel_dropped: 0,
            }))
        })
        .collect();
    (names, batches)
}

fn merge(c: &mut Criterion) {
    let own = own(PLUGINS);
    for (group, format) in [
        ("merge_text", Format::Text),
        ("merge_openmetrics", Format::OpenMetrics),
    ] {
        let mut g = c.benchmark_group(group);
        for m in SIZES {
            let (names, batches) = held(m);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let bytes = scrape::encode(&own, &names, &batches, format).len();
            g.throughput(Throughput::Bytes(bytes as u64));
            g.bench_function(BenchmarkId::from_parameter(PLUGINS * m), |b| {
                b.iter(|| scrape::encode(black_box(&own), &names, black_box(&batches), format))
            });
        }
        g.finish();
    }
}

fn gzip(c: &mut Criterion) {
    let own = own(PLUGINS);
    let mut g = c.benchmark_group("gzip_text_members");
    for m in SIZES {
        let (names, batches) = held(m);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let bytes = scrape::encode(&own, &names, &batches, Format::Text).len();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(BenchmarkId::from_parameter(PLUGINS * m), |b| {
            b.iter(|| {
                scrape::encode_gzip(black_box(&own), &names, black_box(&batches), Format::Text)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("gzip_text_whole_body");
    g.sample_size(20);
    for m in SIZES {
        let (names, batches) = held(m);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let body = scrape::encode(&own, &names, &batches, Format::Text);
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
