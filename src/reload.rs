//! The running set of plugins, and reloads that change only what changed.
//!
//! A reload reads and checks the whole configuration first; a bad one changes nothing. Then
//! plugins whose configuration is equal keep their process and their series, changed ones are
//! stopped and started anew (stop first: the new instance reuses the plugin's cgroup), removed
//! ones are stopped, new ones start. Scrapes read the set through [`Plugins::snapshot`], so a
//! scrape during a reload sees either the old or the new set, never a half-built one.
//!
//! Processors (`role: processor`) are started before the collectors that list them and are
//! not in the scraped set. A collector holds handles to its processors, so a collector is
//! restarted too when one of its processors changed. Outputs (`role: output`) start before
//! the collectors too, are not scraped either, and get each collect of `remote_write`'s loop.

use crate::config::{self, Config, PluginConfig, Role};
use crate::plugin::{OutputHandle, PluginHandle, ProcessorHandle, SupervisorOptions};
use crate::selfmetrics::SelfMetrics;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tokio::sync::{mpsc, oneshot, Mutex};

/// The plugins being served, in configuration order.
#[derive(Default)]
pub struct Plugins {
    list: RwLock<Arc<Vec<PluginHandle>>>,
    processors: RwLock<Arc<Vec<ProcessorHandle>>>,
    outputs: RwLock<Arc<Vec<OutputHandle>>>,
}

impl Plugins {
    /// The current set; cheap (one `Arc` clone).
    pub fn snapshot(&self) -> Arc<Vec<PluginHandle>> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The plugin called `name`, if configured.
    pub fn get(&self, name: &str) -> Option<PluginHandle> {
        self.snapshot().iter().find(|p| p.name() == name).cloned()
    }

    /// The processors, in configuration order (for the API; they are never scraped).
    pub fn processors(&self) -> Arc<Vec<ProcessorHandle>> {
        self.processors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The outputs, in configuration order (they are never scraped).
    pub fn outputs(&self) -> Arc<Vec<OutputHandle>> {
        self.outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_outputs(&self, cfg: &Config, running: &HashMap<String, OutputHandle>) {
        let list = cfg
            .plugins
            .iter()
            .filter_map(|p| running.get(&p.name).cloned())
            .collect();
        *self.outputs.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }

    fn set(&self, list: Vec<PluginHandle>) {
        *self.list.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }

    fn set_processors(&self, cfg: &Config, running: &HashMap<String, ProcessorHandle>) {
        let list = cfg
            .plugins
            .iter()
            .filter_map(|p| running.get(&p.name).cloned())
            .collect();
        *self.processors.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }
}

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Plugins started for the first time.
    pub added: Vec<String>,
    /// Plugins restarted because their configuration changed.
    pub changed: Vec<String>,
    /// Plugins stopped because they are gone from the configuration.
    pub removed: Vec<String>,
    /// Plugins left running as they were.
    pub kept: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |names: &[String]| {
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        write!(
            f,
            "added {}; changed {}; removed {}; {} unchanged",
            list(&self.added),
            list(&self.changed),
            list(&self.removed),
            self.kept
        )
    }
}

/// A request to reload, answered with the summary or the reason nothing changed.
pub type Request = oneshot::Sender<Result<Summary, String>>;

/// Owns the plugin set and applies configurations to it.
pub struct Reloader {
    config_file: PathBuf,
    sup: SupervisorOptions,
    metrics: Arc<SelfMetrics>,
    plugins: Arc<Plugins>,
    running: Mutex<Running>,
    /// The configuration in force, for what follows reloads besides the plugins (remote
    /// write).
    config: tokio::sync::watch::Sender<Arc<Config>>,
}

struct Running {
    /// Each plugin's configuration and the plugin label it was started with.
    configs: HashMap<String, (PluginConfig, String)>,
    handles: HashMap<String, PluginHandle>,
    processors: HashMap<String, ProcessorHandle>,
    outputs: HashMap<String, OutputHandle>,
}

impl Running {
    /// Stops the plugin called `name`, whatever its role.
    async fn stop(&self, name: &str) {
        if let Some(h) = self.handles.get(name) {
            h.stop().await;
        }
        if let Some(p) = self.processors.get(name) {
            p.stop().await;
        }
        if let Some(o) = self.outputs.get(name) {
            o.stop().await;
        }
    }

    fn forget(&mut self, name: &str) {
        self.configs.remove(name);
        self.handles.remove(name);
        self.processors.remove(name);
        self.outputs.remove(name);
    }

    /// The handles of a collector's processors, in its order.
    fn processors_of(&self, p: &PluginConfig) -> Arc<[ProcessorHandle]> {
        p.processors
            .iter()
            .filter_map(|name| self.processors.get(name).cloned())
            .collect()
    }
}

impl Reloader {
    /// Starts every plugin of `cfg` and returns the reloader owning them.
    pub fn start(
        config_file: PathBuf,
        cfg: &Config,
        sup: SupervisorOptions,
        metrics: Arc<SelfMetrics>,
    ) -> Arc<Reloader> {
        let plugins = Arc::new(Plugins::default());
        let mut running = Running {
            configs: HashMap::new(),
            handles: HashMap::new(),
            processors: HashMap::new(),
            outputs: HashMap::new(),
        };
        let label = &cfg.global.plugin_label;
        for p in cfg.plugins.iter().filter(|p| p.role == Role::Processor) {
            let h = ProcessorHandle::start(p.clone(), options(label, &sup), metrics.clone());
            running.processors.insert(p.name.clone(), h);
            running
                .configs
                .insert(p.name.clone(), (p.clone(), label.clone()));
        }
        for p in cfg.plugins.iter().filter(|p| p.role == Role::Output) {
            let h = OutputHandle::start(p.clone(), options(label, &sup), metrics.clone());
            running.outputs.insert(p.name.clone(), h);
            running
                .configs
                .insert(p.name.clone(), (p.clone(), label.clone()));
        }
        let mut list = Vec::new();
        for p in cfg.plugins.iter().filter(|p| p.role == Role::Collector) {
            let h = start_one(p, label, &sup, &metrics, running.processors_of(p));
            running
                .configs
                .insert(p.name.clone(), (p.clone(), label.clone()));
            running.handles.insert(p.name.clone(), h.clone());
            list.push(h);
        }
        plugins.set(list);
        plugins.set_processors(cfg, &running.processors);
        plugins.set_outputs(cfg, &running.outputs);
        metrics.reload_successful.set(1.0);
        metrics.reload_timestamp.set(unix_now());
        Arc::new(Reloader {
            config_file,
            sup,
            metrics,
            plugins,
            running: Mutex::new(running),
            config: tokio::sync::watch::Sender::new(Arc::new(cfg.clone())),
        })
    }

    /// The set scrapes read.
    pub fn plugins(&self) -> Arc<Plugins> {
        self.plugins.clone()
    }

    /// The configuration in force, updated by every successful reload.
    pub fn config(&self) -> tokio::sync::watch::Receiver<Arc<Config>> {
        self.config.subscribe()
    }

    /// Re-reads the configuration file and applies it. A bad file changes nothing and is
    /// counted (`plugin_exporter_config_last_reload_successful` 0).
    pub async fn reload(&self) -> Result<Summary, String> {
        let cfg = match config::load(&self.config_file) {
            Ok(cfg) => cfg,
            Err(e) => {
                let msg = crate::error_chain(&e);
                tracing::error!(error = %msg, "configuration reload failed; nothing changed");
                self.metrics.reload_successful.set(0.0);
                return Err(msg);
            }
        };
        let summary = self.apply(&cfg).await;
        self.config.send_replace(Arc::new(cfg));
        self.metrics.reload_successful.set(1.0);
        self.metrics.reload_timestamp.set(unix_now());
        tracing::info!(%summary, "configuration reloaded");
        Ok(summary)
    }

    async fn apply(&self, cfg: &Config) -> Summary {
        let mut running = self.running.lock().await;
        let label = &cfg.global.plugin_label;
        let mut summary = Summary::default();
        let wanted: HashMap<&str, &PluginConfig> =
            cfg.plugins.iter().map(|p| (p.name.as_str(), p)).collect();
        for (name, (old, old_label)) in &running.configs {
            match wanted.get(name.as_str()) {
                None => summary.removed.push(name.clone()),
                Some(new) if *new != old || old_label != label => {
                    summary.changed.push(name.clone())
                }
                Some(_) => continue,
            }
        }
        // A kept collector holds handles to its processors: it restarts with a changed one.
        let restarted: Vec<String> = cfg
            .plugins
            .iter()
            .filter(|p| running.configs.contains_key(&p.name) && !summary.changed.contains(&p.name))
            .filter(|p| p.processors.iter().any(|q| summary.changed.contains(q)))
            .map(|p| p.name.clone())
            .collect();
        summary.changed.extend(restarted);
        // Stop before starting again: a changed plugin's new instance reuses its cgroup.
        let stop = summary.removed.iter().chain(&summary.changed);
        futures_util::future::join_all(stop.map(|name| running.stop(name))).await;
        for name in &summary.removed {
            running.forget(name);
            self.metrics.remove_plugin(name);
            crate::plugin::stderr::forget(name);
        }
        let known = |running: &Running, name: &str| running.configs.contains_key(name);
        for p in cfg.plugins.iter().filter(|p| p.role != Role::Collector) {
            if known(&running, &p.name) && !summary.changed.contains(&p.name) {
                summary.kept += 1;
                continue;
            }
            if !summary.changed.contains(&p.name) {
                summary.added.push(p.name.clone());
            }
            running.forget(&p.name);
            let opts = options(label, &self.sup);
            if p.role == Role::Output {
                let h = OutputHandle::start(p.clone(), opts, self.metrics.clone());
                running.outputs.insert(p.name.clone(), h);
            } else {
                let h = ProcessorHandle::start(p.clone(), opts, self.metrics.clone());
                running.processors.insert(p.name.clone(), h);
            }
            running
                .configs
                .insert(p.name.clone(), (p.clone(), label.clone()));
        }
        let mut list = Vec::new();
        for p in cfg.plugins.iter().filter(|p| p.role == Role::Collector) {
            let fresh = !running.handles.contains_key(&p.name) || summary.changed.contains(&p.name);
            let h = if fresh {
                if !summary.changed.contains(&p.name) {
                    summary.added.push(p.name.clone());
                }
                running.forget(&p.name);
                let processors = running.processors_of(p);
                let h = start_one(p, label, &self.sup, &self.metrics, processors);
                running.handles.insert(p.name.clone(), h.clone());
                running
                    .configs
                    .insert(p.name.clone(), (p.clone(), label.clone()));
                h
            } else {
                summary.kept += 1;
                let h = running.handles[&p.name].clone();
                // A disabled state lasts until the next reload.
                h.enable().await;
                h
            };
            list.push(h);
        }
        self.plugins.set(list);
        self.plugins.set_processors(cfg, &running.processors);
        self.plugins.set_outputs(cfg, &running.outputs);
        summary
    }

    /// Stops every plugin (exporter shutdown).
    pub async fn stop_all(&self) {
        let running = self.running.lock().await;
        futures_util::future::join_all(running.handles.values().map(|h| h.stop())).await;
        futures_util::future::join_all(running.processors.values().map(|h| h.stop())).await;
        futures_util::future::join_all(running.outputs.values().map(|h| h.stop())).await;
    }
}

fn start_one(
    p: &PluginConfig,
    label: &str,
    sup: &SupervisorOptions,
    metrics: &Arc<SelfMetrics>,
    processors: Arc<[ProcessorHandle]>,
) -> PluginHandle {
    PluginHandle::start(p.clone(), options(label, sup), metrics.clone(), processors)
}

fn options(label: &str, sup: &SupervisorOptions) -> SupervisorOptions {
    SupervisorOptions {
        plugin_label: label.to_string(),
        ..sup.clone()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Watches the configuration file and asks for a reload when its content changes. The
/// directory is watched, not the file: editors and Kubernetes ConfigMaps replace the file by
/// rename (a ConfigMap swaps a `..data` symlink), which a watch on the file itself would miss.
/// Events are debounced, and a reload is asked only when the bytes differ from the last ones
/// seen, so a touch or a burst of events gives at most one reload.
pub fn watch(
    config_file: PathBuf,
    requests: mpsc::Sender<Request>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = config_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), |p| p.to_path_buf());
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        let mut last = std::fs::read(&config_file).ok();
        while rx.recv().await.is_some() {
            // Let a burst of events (write, rename, chmod) settle.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            let now = std::fs::read(&config_file).ok();
            if now.is_none() || now == last {
                continue;
            }
            last = now;
            tracing::info!(file = %config_file.display(), "configuration file changed; reloading");
            let (reply, done) = oneshot::channel();
            if requests.send(reply).await.is_err() {
                return;
            }
            let _ = done.await;
        }
    });
    Ok(watcher)
}
