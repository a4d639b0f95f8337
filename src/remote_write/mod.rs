//! `remote_write`: every `global.remote_write_interval`, the exporter collects every plugin as
//! a scrape would (sharing collects with concurrent scrapes), takes the merged exposition
//! (the exporter's own metrics included) as series stamped at collect time, and queues them
//! for each destination after its `write_relabel_configs`. Each destination sends on its own
//! ([`sender`]): one that is down slows neither scrapes nor the others. Nothing is written to
//! disk: what waits when the exporter stops is lost (and counted).
//!
//! The same collect feeds the outputs (`role: output`): each running output gets the
//! families, each sample stamped with the collect time unless it has its own timestamp, as
//! one queued `write` ([`crate::plugin::OutputHandle::write`], which never waits). The loop
//! runs when there are outputs even without a destination.
//!
//! Parts: [`series`] (exposition to samples), [`proto`] (the wire format), [`queue`] (shards),
//! [`client`] (HTTP), [`sender`] (delivery and retries).

pub mod client;
pub mod proto;
pub mod queue;
pub mod sender;
pub mod series;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::codes::RemoteDrop;
use crate::config::Config;
use crate::relabel::Memo;
use crate::scrape::Scraper;
use sender::Destination;

/// Runs remote write for the configuration `config` holds, following its reloads, until
/// `config`'s sender is dropped.
pub async fn run(scraper: Scraper, mut config: watch::Receiver<Arc<Config>>) {
    let mut running: HashMap<String, Arc<Destination>> = HashMap::new();
    loop {
        let cfg = config.borrow_and_update().clone();
        apply(&cfg, &scraper, &mut running);
        let interval = cfg.global.remote_write_interval;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !running.is_empty() || !scraper.plugins.outputs().is_empty() {
                        collect(&scraper, &cfg, &running, interval).await;
                    }
                }
                changed = config.changed() => {
                    if changed.is_err() {
                        for d in running.values() {
                            d.stop();
                        }
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// Starts new and changed destinations, stops removed and changed ones.
fn apply(cfg: &Config, scraper: &Scraper, running: &mut HashMap<String, Arc<Destination>>) {
    let wanted: HashMap<&str, _> = cfg
        .remote_write
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    running.retain(|name, d| {
        let keep = wanted.get(name.as_str()).is_some_and(|w| **w == d.cfg);
        if !keep {
            d.stop();
            scraper.metrics.remote.remove(&d.cfg.name, &d.cfg.url);
            tracing::info!(remote_name = %name, "remote write destination stopped");
        }
        keep
    });
    for rw in &cfg.remote_write {
        if running.contains_key(&rw.name) {
            continue;
        }
        match Destination::start(rw.clone(), scraper.metrics.clone()) {
            Ok(d) => {
                tracing::info!(remote_name = %rw.name, url = %rw.url, "remote write destination started");
                running.insert(rw.name.clone(), d);
            }
            Err(e) => tracing::error!(error = %e, "cannot start a remote write destination"),
        }
    }
}

/// One collect: every plugin, then each destination's samples queued.
async fn collect(
    scraper: &Scraper,
    cfg: &Config,
    running: &HashMap<String, Arc<Destination>>,
    interval: Duration,
) {
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let families = scraper.families(Some(interval)).await;
    let outputs = scraper.plugins.outputs();
    if !outputs.is_empty() {
        let stamped = Arc::new(series::stamped(&families, now_ms));
        for o in outputs.iter() {
            o.write(stamped.clone());
        }
    }
    if running.is_empty() {
        return;
    }
    let points = series::points(&families, now_ms, &cfg.global.external_labels);
    for d in running.values() {
        let rules = &d.cfg.write_relabel;
        let mut memos: Vec<Memo> = rules.iter().map(|_| Memo::default()).collect();
        let mut entries = Vec::with_capacity(points.len());
        let mut dropped = 0;
        let mut labels = d.labels_cache();
        for p in &points {
            let entry = if rules.is_empty() {
                labels.entry(&p.labels, p.value, p.timestamp)
            } else {
                match series::relabel(p, rules, &mut memos) {
                    Some(l) => labels.entry(&l, p.value, p.timestamp),
                    None => {
                        dropped += 1;
                        continue;
                    }
                }
            };
            entries.push(entry);
        }
        d.keep_labels_cache(labels);
        d.dropped(RemoteDrop::Relabel, dropped);
        d.enqueue(entries);
    }
}
