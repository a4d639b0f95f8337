//! The last hour of each plugin, for the status page's charts, and the recent events
//! (restarts by reason, OOM kills, limit hits, reloads), in fixed memory: a ring of
//! [`POINTS`] samples per plugin taken every [`STEP`], and a ring of [`EVENTS`] events.
//! Events are found by comparing each plugin's counters with the previous sample, so the
//! supervisor needs no hook for them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::codes::{LimitKind, RestartReason};
use crate::reload::Plugins;
use crate::selfmetrics::SelfMetrics;

/// Time between two samples.
pub const STEP: Duration = Duration::from_secs(30);
/// Samples kept per plugin: one hour.
pub const POINTS: usize = 120;
/// Events kept.
pub const EVENTS: usize = 100;

/// One sample of one plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    /// Unix time, seconds.
    pub at: u32,
    /// Last collect's duration, seconds.
    pub collect_seconds: f32,
    /// Series served.
    pub series: f32,
    /// Memory of its process tree, bytes.
    pub memory_bytes: f32,
    /// CPU used since the sample before, in cores.
    pub cpu_cores: f32,
}

/// Something that happened to a plugin, or to the exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unix time, seconds.
    pub at: u32,
    /// The plugin, empty for the exporter.
    pub plugin: String,
    /// What happened, with its code (`restart: crashed`, `oom_kill`, `limit: memory`, ...).
    pub what: String,
    /// How many times since the sample before.
    pub count: u64,
}

/// Counters of one plugin at the last sample.
#[derive(Debug, Clone, Default)]
struct Seen {
    restarts: Vec<u64>,
    oom_kills: u64,
    limits: Vec<u64>,
    cpu_seconds: f64,
    at: f64,
}

/// The charts' data and the event list, behind one lock.
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    points: HashMap<String, VecDeque<Point>>,
    seen: HashMap<String, Seen>,
    events: VecDeque<Event>,
    reloads: f64,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl History {
    /// The bound on memory, in bytes, for `plugins` plugins (for BENCHMARKS.md and a test).
    pub fn bound(plugins: usize) -> usize {
        let per_plugin = POINTS * std::mem::size_of::<Point>()
            + std::mem::size_of::<Seen>()
            + (RestartReason::ALL.len() + LimitKind::ALL.len()) * 8;
        plugins * per_plugin + EVENTS * (std::mem::size_of::<Event>() + 96)
    }

    /// A plugin's samples, oldest first.
    pub fn points(&self, plugin: &str) -> Vec<Point> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .points
            .get(plugin)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Recent events, newest first; only `plugin`'s when given.
    pub fn events(&self, plugin: Option<&str>) -> Vec<Event> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .events
            .iter()
            .rev()
            .filter(|e| plugin.is_none_or(|p| e.plugin == p))
            .cloned()
            .collect()
    }

    fn push_event(inner: &mut Inner, e: Event) {
        if inner.events.len() == EVENTS {
            inner.events.pop_front();
        }
        inner.events.push_back(e);
    }

    /// Takes one sample of every plugin (and forgets plugins no longer configured).
    pub fn sample(&self, plugins: &Plugins, metrics: &SelfMetrics) {
        let now = now_unix();
        let at = now as u32;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let reloads = metrics.reload_timestamp.get();
        if inner.reloads != 0.0 && reloads > inner.reloads {
            let ok = metrics.reload_successful.get() == 1.0;
            let what = if ok { "reload" } else { "reload failed" };
            Self::push_event(
                &mut inner,
                Event {
                    at,
                    plugin: String::new(),
                    what: what.into(),
                    count: 1,
                },
            );
        }
        inner.reloads = reloads;
        let list = plugins.snapshot();
        let names: Vec<String> = list.iter().map(|p| p.name().to_string()).collect();
        inner.points.retain(|n, _| names.contains(n));
        inner.seen.retain(|n, _| names.contains(n));
        for p in list.iter() {
            let name = p.name();
            let s = p.status();
            let restarts: Vec<u64> = RestartReason::ALL
                .iter()
                .map(|r| {
                    metrics
                        .restarts
                        .with_label_values(&[name, r.as_str()])
                        .get()
                })
                .collect();
            let limits: Vec<u64> = LimitKind::ALL
                .iter()
                .map(|l| {
                    metrics
                        .limit_hits
                        .with_label_values(&[name, l.as_str()])
                        .get()
                })
                .collect();
            let oom_kills = metrics.oom_kills.with_label_values(&[name]).get();
            let cpu_seconds = s.process.usage.cpu_seconds;
            let next = Seen {
                restarts,
                oom_kills,
                limits,
                cpu_seconds,
                at: now,
            };
            let before = inner.seen.insert(name.to_string(), next.clone());
            let mut cpu_cores = 0.0;
            if let Some(b) = before {
                let mut events = Vec::new();
                for (i, r) in RestartReason::ALL.iter().enumerate() {
                    let n =
                        next.restarts[i].saturating_sub(b.restarts.get(i).copied().unwrap_or(0));
                    events.push((format!("restart: {}", r.as_str()), n));
                }
                events.push((
                    "oom_kill".to_string(),
                    next.oom_kills.saturating_sub(b.oom_kills),
                ));
                for (i, l) in LimitKind::ALL.iter().enumerate() {
                    let n = next.limits[i].saturating_sub(b.limits.get(i).copied().unwrap_or(0));
                    events.push((format!("limit: {}", l.as_str()), n));
                }
                for (what, count) in events.into_iter().filter(|(_, n)| *n > 0) {
                    Self::push_event(
                        &mut inner,
                        Event {
                            at,
                            plugin: name.to_string(),
                            what,
                            count,
                        },
                    );
                }
                let dt = now - b.at;
                if dt > 0.0 && cpu_seconds >= b.cpu_seconds {
                    cpu_cores = ((cpu_seconds - b.cpu_seconds) / dt) as f32;
                }
            }
            let point = Point {
                at,
                collect_seconds: metrics.collect_duration.with_label_values(&[name]).get() as f32,
                series: s.outcome.series as f32,
                memory_bytes: s.process.usage.memory_bytes as f32,
                cpu_cores,
            };
            let ring = inner.points.entry(name.to_string()).or_default();
            if ring.len() == POINTS {
                ring.pop_front();
            }
            ring.push_back(point);
        }
    }
}

/// Samples every [`STEP`] until the task is dropped; the first sample at once.
pub async fn run(history: Arc<History>, plugins: Arc<Plugins>, metrics: Arc<SelfMetrics>) {
    let mut tick = tokio::time::interval(STEP);
    loop {
        tick.tick().await;
        history.sample(&plugins, &metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_has_a_fixed_bound() {
        // A plugin's ring never grows past POINTS; the bound is what BENCHMARKS.md records.
        let per_plugin = History::bound(1) - History::bound(0);
        assert!(per_plugin < 4096, "{per_plugin} bytes per plugin");
        assert!(History::bound(20) < 100 * 1024, "{}", History::bound(20));
        println!(
            "history bound: {} bytes per plugin, {} for 20 plugins",
            per_plugin,
            History::bound(20)
        );
        let h = History::default();
        let mut inner = h.inner.lock().unwrap();
        for i in 0..(EVENTS as u32 * 3) {
            let e = Event {
                at: i,
                plugin: "p".into(),
                what: "restart: crashed".into(),
                count: 1,
            };
            History::push_event(&mut inner, e);
        }
        assert_eq!(inner.events.len(), EVENTS);
        assert_eq!(
            inner.events.front().map(|e| e.at),
            Some(EVENTS as u32 * 2),
            "the oldest go"
        );
    }
}
