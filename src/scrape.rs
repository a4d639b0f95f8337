//! One scrape of `/metrics`, whatever the transport: every plugin collected concurrently
//! within the scrape's budget, their resource use refreshed, the exporter's own metrics
//! gathered, and everything merged into one body (gzip members copied when asked), with the
//! series the merge drops counted once per batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::codes::ErrorKind;
use crate::exposition::batch::Batch;
use crate::exposition::gzip::GzipSink;
use crate::exposition::merge::{assemble, Contribution, Sink};
use crate::exposition::render::render;
use crate::exposition::Format;
use crate::reload::Plugins;
use crate::selfmetrics::SelfMetrics;

/// Kept free of the scrape timeout for merging and sending (blackbox_exporter uses the same).
pub const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// Scrapes the running plugins.
pub struct Scraper {
    /// Plugins in configuration order (the first listed owns a contested family).
    pub plugins: Arc<Plugins>,
    /// The exporter's own metrics.
    pub metrics: Arc<SelfMetrics>,
}

impl Scraper {
    /// Collects every plugin concurrently (each within `budget`, capped by its timeout) and
    /// returns the merged body in `format`, gzip-compressed when `gzip`.
    pub async fn scrape(&self, budget: Option<Duration>, format: Format, gzip: bool) -> Vec<u8> {
        let plugins = self.plugins.snapshot();
        let batches: Vec<Option<Arc<Batch>>> =
            futures_util::future::join_all(plugins.iter().map(|p| p.batch(budget))).await;
        for p in plugins.iter() {
            p.refresh_usage();
        }
        let names: Vec<&str> = plugins.iter().map(|p| p.name()).collect();
        if gzip {
            encode_gzip(&self.metrics, &names, &batches, format)
        } else {
            encode(&self.metrics, &names, &batches, format)
        }
    }
}

impl Scraper {
    /// What a scrape serves, as families of the protocol's model (for `GET /api/v1/metrics`
    /// and remote write): the OpenMetrics body, parsed back by the exporter's own parser, so
    /// both see exactly what Prometheus would.
    pub async fn families(&self, budget: Option<Duration>) -> Vec<plugin_protocol::Family> {
        let body = self.scrape(budget, Format::OpenMetrics, false).await;
        let parsed = crate::exposition::parse::parse_bytes(&body);
        if let Some(first) = parsed.errors.first() {
            tracing::warn!(errors = parsed.errors.len(), %first, "own exposition did not parse cleanly");
        }
        parsed.families
    }
}

/// The uncompressed body: [`encode_into`] a buffer sized for it.
pub fn encode(
    metrics: &SelfMetrics,
    plugins: &[&str],
    batches: &[Option<Arc<Batch>>],
    format: Format,
) -> Vec<u8> {
    let size: usize = batches
        .iter()
        .flatten()
        .flat_map(|b| b.families.iter())
        .map(|f| f.body(format).len() + f.name.len() * 2 + f.help.len() + 32)
        .sum();
    let mut body = Vec::with_capacity(size + 16 * 1024);
    encode_into(metrics, plugins, batches, format, &mut body);
    body
}

/// The gzip body, from each family's cached gzip member.
pub fn encode_gzip(
    metrics: &SelfMetrics,
    plugins: &[&str],
    batches: &[Option<Arc<Batch>>],
    format: Format,
) -> Vec<u8> {
    let mut sink = GzipSink::with_capacity(64 * 1024);
    encode_into(metrics, plugins, batches, format, &mut sink);
    sink.finish()
}

/// Merges the batches (in plugin order, `plugins[i]` naming `batches[i]`) with our own
/// metrics into `out`, counting merge drops once per batch.
pub fn encode_into(
    metrics: &SelfMetrics,
    plugins: &[&str],
    batches: &[Option<Arc<Batch>>],
    format: Format,
    out: &mut impl Sink,
) {
    let own = render(metrics.families(), None, false);
    let contributions: Vec<Contribution> = batches
        .iter()
        .map(|b| Contribution {
            families: b.as_deref().map_or(&[][..], |b| &b.families[..]),
        })
        .collect();
    let drops = assemble(&own, &contributions, format, out);
    for ((plugin, batch), d) in plugins.iter().zip(batches).zip(&drops) {
        let Some(batch) = batch else { continue };
        if (d.conflict > 0 || d.duplicate_series > 0)
            && !batch.merge_counted.swap(true, Ordering::AcqRel)
        {
            tracing::warn!(
                plugin,
                conflict = d.conflict,
                duplicate_series = d.duplicate_series,
                "dropped series that collide with another plugin's"
            );
            metrics.error(plugin, ErrorKind::Conflict, d.conflict);
            metrics.error(plugin, ErrorKind::DuplicateSeries, d.duplicate_series);
        }
    }
}

/// The time plugins get for a scrape with the given timeout header: the timeout less
/// [`SCRAPE_TIMEOUT_OFFSET`], or half of it when it is short. `None` for a bad header.
pub fn scrape_budget(header: &str) -> Option<Duration> {
    let secs: f64 = header.trim().parse().ok()?;
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    let t = Duration::from_secs_f64(secs.min(86400.0));
    Some(if t > SCRAPE_TIMEOUT_OFFSET * 2 {
        t - SCRAPE_TIMEOUT_OFFSET
    } else {
        t / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_the_offset_free() {
        assert_eq!(scrape_budget("10"), Some(Duration::from_millis(9500)));
        assert_eq!(scrape_budget("0.5"), Some(Duration::from_millis(250)));
        assert_eq!(scrape_budget("abc"), None);
        assert_eq!(scrape_budget("-1"), None);
    }
}
