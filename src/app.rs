//! Wires the pieces together: config, reaper, supervisors, listeners, signals, and the
//! shutdown sequence (stop accepting, stop every plugin, kill strays, return).

use crate::config::{self, ConfigError};
use crate::http::Server;
use crate::plugin::SupervisorOptions;
use crate::process::guard;
use crate::process::reaper::Reaper;
use crate::process::tags;
use crate::reload::{self, Reloader};
use crate::sandbox::cgroup::Cgroups;
use crate::sandbox::Sandbox;
use crate::selfmetrics::SelfMetrics;
use crate::systemd;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Runtime options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The YAML configuration file.
    pub config_file: PathBuf,
    /// Addresses to listen on (`host:port`, or `:port` for every interface).
    pub listen: Vec<String>,
    /// Serve on the sockets systemd passes (socket activation) instead of `listen`.
    pub systemd_socket: bool,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// The web config file (`--web.config.file`: TLS, basic authentication, headers).
    pub web_config: Option<PathBuf>,
    /// Grace after `shutdown` before SIGTERM, and after SIGTERM before SIGKILL.
    pub shutdown_grace: Duration,
    /// Use cgroups when the host allows (`true`), or never (`false`: rlimits and the
    /// watchdog only).
    pub cgroups: bool,
    /// Reload when the configuration file changes.
    pub config_watch: bool,
    /// Serve `POST /-/reload` (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// Serve `POST /api/v1/plugins/NAME/{restart,disable,enable}` (`--web.enable-admin-api`).
    pub enable_admin_api: bool,
    /// Most connections open at once (`--web.max-connections`), before the descriptor cap.
    pub max_connections: usize,
    /// How long a keep-alive connection may wait for its next request (`--web.idle-timeout`).
    pub idle_timeout: Duration,
}

/// `check-config`: reads the configuration file and, when given, the web config file, and
/// returns a one-line summary, or every problem of both (one per line).
pub fn check_files(config: &Path, web: Option<&Path>) -> Result<String, String> {
    let mut problems = Vec::new();
    let mut summary = String::new();
    match crate::config::load(config) {
        Ok(cfg) => {
            summary = format!("{}: valid, {} plugins", config.display(), cfg.plugins.len());
            summary.push_str(&crate::sandbox::confine::describe(&cfg));
            for p in &cfg.plugins {
                if let Some(pkg) = &p.package {
                    summary.push_str(&format!(
                        "\n  plugin {}: package {} {} from {}, {}",
                        p.name,
                        pkg.name,
                        pkg.version,
                        pkg.dir.display(),
                        pkg.signature
                    ));
                }
            }
        }
        Err(e) => problems.push(crate::error_chain(&e)),
    }
    if let Some(web) = web {
        match crate::web::load(web) {
            Ok(_) => summary.push_str(&format!("; {}: valid", web.display())),
            Err(e) => problems.push(crate::error_chain(&e)),
        }
    }
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(problems.join("\n"))
    }
}

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is invalid; nothing was started.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listen address could not be bound; nothing was started.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address as given.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The process could not become a child subreaper or watch for children.
    #[error("cannot set up process supervision")]
    Reaper(#[source] std::io::Error),
    /// The guard process, which cleans up after the exporter's death, could not start.
    #[error("cannot start the guard process")]
    Guard(#[source] std::io::Error),
    /// The SIGHUP handler (reload) could not be installed.
    #[error("cannot install the SIGHUP handler")]
    Sighup(#[source] std::io::Error),
    /// The web config file is invalid; nothing was started.
    #[error(transparent)]
    Web(#[from] crate::web::WebConfigError),
    /// `--web.systemd-socket` was given but systemd passed no usable socket.
    #[error("cannot use the sockets systemd passes (--web.systemd-socket)")]
    SystemdSocket(#[source] std::io::Error),
    /// `dashboard --plugin NAME` names no configured plugin.
    #[error("no plugin named `{0}` in the configuration")]
    NoSuchPlugin(String),
}

/// Binds one listen address. `:port` means every interface, IPv6 and IPv4 where possible.
pub async fn bind(address: &str) -> Result<TcpListener, AppError> {
    let err = |source| AppError::Listen {
        address: address.to_string(),
        source,
    };
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad port",
            ))
        })?;
        // [::] accepts IPv4 too on dual-stack hosts; fall back where IPv6 is off.
        return match crate::http::listen_on(SocketAddr::from(([0u16; 8], port))) {
            Ok(l) => Ok(l),
            Err(_) => crate::http::listen_on(SocketAddr::from(([0, 0, 0, 0], port))).map_err(err),
        };
    }
    crate::http::listen(address).await.map_err(err)
}

/// The sockets systemd passes, as `--web.systemd-socket` wants them: at least one.
fn systemd_listeners() -> Result<Vec<std::net::TcpListener>, AppError> {
    match systemd::listeners_from_env().map_err(AppError::SystemdSocket)? {
        Some(l) if !l.is_empty() => Ok(l),
        _ => Err(AppError::SystemdSocket(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "none were passed ($LISTEN_FDS and $LISTEN_PID unset, or for another process)",
        ))),
    }
}

/// Runs the exporter until `shutdown` resolves, then stops every plugin and returns.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    // Connections and plugins' pipes share the descriptors: take all the hard limit allows.
    let nofile = crate::http::raise_nofile_limit();
    let cfg = config::load(&opts.config_file)?;
    // Checked before anything starts: a bad web config must not leave plugins running.
    let web = match &opts.web_config {
        Some(path) => {
            let web = crate::web::load(path)?;
            tracing::info!(file = %path.display(), tls = web.tls_acceptor().is_some(), "web config loaded");
            web
        }
        None => crate::web::WebConfig::disabled(),
    };
    // Taken before any thread or child starts: systemd passes the sockets without
    // close-on-exec (a child would keep them open), and taking them edits the environment.
    let passed = if opts.systemd_socket {
        Some(systemd_listeners()?)
    } else {
        None
    };
    // Non-dumpable: processes of the same uid (plugins without a user of their own) cannot
    // read our memory or /proc/<pid>/environ, where the secrets are.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(error = %e, "cannot make the process non-dumpable");
    }
    Reaper::start().map_err(AppError::Reaper)?;
    // Requests wait in the channel until the reload task runs.
    let (reload_tx, reload_rx) = mpsc::channel::<reload::Request>(8);
    reload_on_sighup(reload_tx.clone()).map_err(AppError::Sighup)?;
    guard::start_guard().map_err(AppError::Guard)?;
    let stale = tags::sweep_stale();
    if stale > 0 {
        tracing::warn!(
            processes = stale,
            "killed processes left by an exporter that died"
        );
    }
    let mut listeners = Vec::new();
    if let Some(passed) = passed {
        for l in passed {
            l.set_nonblocking(true).map_err(AppError::SystemdSocket)?;
            listeners.push(TcpListener::from_std(l).map_err(AppError::SystemdSocket)?);
        }
    } else {
        for a in &opts.listen {
            listeners.push(bind(a).await?);
        }
    }
    let metrics = Arc::new(SelfMetrics::new(crate::VERSION, crate::REVISION));
    let (cgroups, why) = if opts.cgroups {
        Cgroups::detect_system()
    } else {
        let why = "disabled by --sandbox.cgroups=false".to_string();
        (Cgroups::none(&why), why)
    };
    tracing::info!(cgroup = %cgroups.mode(), reason = %why, "plugin isolation chosen");
    let removed = cgroups.remove_stale();
    if removed > 0 {
        tracing::warn!(
            cgroups = removed,
            "removed cgroups left by an exporter that died"
        );
    }
    metrics
        .isolation
        .with_label_values(&[&cgroups.mode().to_string()])
        .set(1.0);
    let [landlock, seccomp, netns] = crate::sandbox::KernelSupport::get().labels();
    metrics.sandbox_info(&landlock, &seccomp, &netns);
    let sandbox = Sandbox::new(cgroups);
    let sup = SupervisorOptions {
        plugin_label: cfg.global.plugin_label.clone(),
        shutdown_grace: opts.shutdown_grace,
        sandbox: sandbox.clone(),
    };
    let reloader = Reloader::start(opts.config_file.clone(), &cfg, sup, metrics.clone());
    tracing::info!(
        plugins = cfg.plugins.len(),
        config = %opts.config_file.display(),
        "plugins starting"
    );
    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            tracing::info!(address = %addr, "listening");
        }
    }
    // Listeners bound and every supervisor started: tell systemd (Type=notify) we are up.
    if let Some(interval) = systemd::watchdog_interval() {
        systemd::spawn_watchdog(interval);
        tracing::info!(
            interval_ms = interval.as_millis() as u64,
            "sending systemd watchdog notifications"
        );
    }
    if let Err(e) = systemd::ready() {
        tracing::warn!(error = %e, "cannot notify systemd of readiness");
    }
    let shutdown = async {
        shutdown.await;
        if let Err(e) = systemd::stopping() {
            tracing::warn!(error = %e, "cannot notify systemd of the shutdown");
        }
    };
    let history = Arc::new(crate::status::History::default());
    let sampler = tokio::spawn(crate::status::history::run(
        history.clone(),
        reloader.plugins(),
        metrics.clone(),
    ));
    let server = Arc::new(Server {
        plugins: reloader.plugins(),
        reload: reload_tx.clone(),
        metrics,
        telemetry_path: opts.telemetry_path.clone(),
        web: std::sync::RwLock::new(Arc::new(web)),
        options: crate::http::ServeOptions {
            enable_lifecycle: opts.enable_lifecycle,
            enable_admin_api: opts.enable_admin_api,
            max_connections: crate::http::cap_connections(opts.max_connections, nofile),
            idle_timeout: opts.idle_timeout,
        },
        throttle: crate::web::Throttle::default(),
        history: history.clone(),
        config: reloader.config(),
    });
    tokio::spawn(serve_reloads(
        reloader.clone(),
        server.clone(),
        opts.web_config.clone(),
        reload_rx,
    ));
    let _watcher = if opts.config_watch {
        match reload::watch(opts.config_file.clone(), reload_tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch the configuration file; --config.watch is off");
                None
            }
        }
    } else {
        None
    };
    let remote_write = tokio::spawn(crate::remote_write::run(
        crate::scrape::Scraper {
            plugins: reloader.plugins(),
            metrics: server.metrics.clone(),
        },
        reloader.config(),
    ));
    server.serve(listeners, shutdown).await;
    remote_write.abort();
    sampler.abort();
    tracing::info!("shutting down: stopping plugins");
    reloader.stop_all().await;
    let strays = tags::sweep(None);
    if strays > 0 {
        tracing::warn!(processes = strays, "killed stray plugin processes");
    }
    sandbox.cgroups.cleanup();
    guard::stop_guard().await;
    tracing::info!("stopped");
    Ok(())
}

/// Applies reload requests (`POST /-/reload`, SIGHUP, `--config.watch`) one at a time. The web
/// config is checked first and the plugin config next; either one bad changes nothing.
async fn serve_reloads(
    reloader: Arc<Reloader>,
    server: Arc<Server>,
    web_config: Option<PathBuf>,
    mut requests: mpsc::Receiver<reload::Request>,
) {
    while let Some(reply) = requests.recv().await {
        let _ = systemd::reloading();
        let web = match web_config.as_deref().map(crate::web::load).transpose() {
            Ok(w) => w,
            Err(e) => {
                let msg = crate::error_chain(&e);
                tracing::error!(error = %msg, "web config reload failed; nothing changed");
                server.metrics.reload_successful.set(0.0);
                let _ = systemd::ready();
                let _ = reply.send(Err(msg));
                continue;
            }
        };
        let result = reloader.reload().await;
        if result.is_ok() {
            if let Some(w) = web {
                server.set_web(w);
            }
        }
        let _ = systemd::ready();
        let _ = reply.send(result);
    }
}

/// Turns SIGHUP into reload requests. Registered early: SIGHUP's default action would kill
/// the process.
pub fn reload_on_sighup(requests: mpsc::Sender<reload::Request>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "reloading the configuration");
            let (reply, done) = tokio::sync::oneshot::channel();
            if requests.send(reply).await.is_err() {
                return;
            }
            let _ = done.await;
        }
    });
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("cannot watch SIGTERM");
    let mut int = signal(SignalKind::interrupt()).expect("cannot watch SIGINT");
    let signal = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal, "received signal");
}

/// `plugin-exporter dashboard`: starts the plugins of `config_file` (without cgroups, as a
/// one-off run), collects once, and returns the Grafana dashboard of what they export (only
/// `plugin`'s row when given). Plugins that have nothing after `wait` get an empty row.
pub async fn dashboard(
    config_file: &Path,
    plugin: Option<&str>,
    wait: Duration,
) -> Result<serde_json::Value, AppError> {
    let cfg = config::load(config_file)?;
    if let Some(p) = plugin {
        if !cfg.plugins.iter().any(|c| c.name == p) {
            return Err(AppError::NoSuchPlugin(p.to_string()));
        }
    }
    Reaper::start().map_err(AppError::Reaper)?;
    let metrics = Arc::new(SelfMetrics::new(crate::VERSION, crate::REVISION));
    let sup = SupervisorOptions {
        plugin_label: cfg.global.plugin_label.clone(),
        shutdown_grace: Duration::from_secs(2),
        sandbox: Sandbox::new(Cgroups::none("a one-off dashboard run")),
    };
    let reloader = Reloader::start(config_file.to_path_buf(), &cfg, sup, metrics.clone());
    let plugins = reloader.plugins();
    let scraper = crate::scrape::Scraper {
        plugins: plugins.clone(),
        metrics,
    };
    let until = tokio::time::Instant::now() + wait;
    loop {
        let _ = scraper
            .scrape(None, crate::exposition::Format::Text, false)
            .await;
        let list = plugins.snapshot();
        let all = list
            .iter()
            .filter(|p| plugin.is_none_or(|o| p.name() == o))
            .all(|p| !p.status().outcome.families.is_empty());
        if all || tokio::time::Instant::now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let catalog = crate::status::catalog(&plugins.snapshot(), plugin);
    let dashboard = crate::status::dashboard::dashboard(&catalog, &cfg.global.plugin_label);
    reloader.stop_all().await;
    tags::sweep(None);
    Ok(dashboard)
}

/// `plugin-exporter plugins list`: every package under the configuration's `plugins_dirs`,
/// one line each: name, version, roles, signature status, directory.
pub fn list_packages(config_file: &Path) -> Result<String, ConfigError> {
    let cfg = config::load(config_file)?;
    let mut out = String::new();
    for f in &cfg.packages {
        let m = &f.manifest;
        let used: Vec<&str> = cfg
            .plugins
            .iter()
            .filter(|p| p.package.as_ref().is_some_and(|r| r.dir == f.dir))
            .map(|p| p.name.as_str())
            .collect();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}{}\n",
            m.name,
            m.version,
            m.roles.join(","),
            f.signature.code(),
            f.dir.display(),
            if used.is_empty() {
                String::new()
            } else {
                format!("\tused by {}", used.join(", "))
            },
        ));
    }
    Ok(out)
}
