//! Wires the pieces together: config, reaper, supervisors, listeners, signals, and the
//! shutdown sequence (stop accepting, stop every plugin, kill strays, return).

use crate::config::{self, ConfigError};
use crate::http::Server;
use crate::plugin::fence::Sandbox;
use crate::plugin::spawn::{self, Reaper};
use crate::plugin::{PluginHandle, SupervisorOptions};
use crate::sandbox::cgroup::Cgroups;
use crate::selfmetrics::SelfMetrics;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Runtime options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The YAML configuration file.
    pub config_file: PathBuf,
    /// Addresses to listen on (`host:port`, or `:port` for every interface).
    pub listen: Vec<String>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// Grace after `shutdown` before SIGTERM, and after SIGTERM before SIGKILL.
    pub shutdown_grace: Duration,
    /// Use cgroups when the host allows (`true`), or never (`false`: rlimits and the
    /// watchdog only).
    pub cgroups: bool,
}

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is invalid; nothing was started.
    #[error("{0}")]
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
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))
                .await
                .map_err(err),
        };
    }
    TcpListener::bind(address).await.map_err(err)
}

/// Runs the exporter until `shutdown` resolves, then stops every plugin and returns.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let cfg = config::load(&opts.config_file)?;
    // Non-dumpable: processes of the same uid (plugins without a user of their own) cannot
    // read our memory or /proc/<pid>/environ, where the secrets are.
    // SAFETY: prctl with integer arguments only changes this process's own attribute.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    Reaper::start().map_err(AppError::Reaper)?;
    spawn::start_guard().map_err(AppError::Reaper)?;
    let stale = spawn::sweep_stale();
    if stale > 0 {
        tracing::warn!(
            processes = stale,
            "killed processes left by an exporter that died"
        );
    }
    let mut listeners = Vec::new();
    for a in &opts.listen {
        listeners.push(bind(a).await?);
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
    let sandbox = Sandbox::new(cgroups);
    let sup = SupervisorOptions {
        plugin_label: cfg.global.plugin_label.clone(),
        shutdown_grace: opts.shutdown_grace,
        sandbox: sandbox.clone(),
    };
    let plugins: Vec<PluginHandle> = cfg
        .plugins
        .iter()
        .map(|p| PluginHandle::start(p.clone(), sup.clone(), metrics.clone()))
        .collect();
    tracing::info!(
        plugins = plugins.len(),
        config = %opts.config_file.display(),
        "plugins starting"
    );
    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            tracing::info!(address = %addr, "listening");
        }
    }
    let server = Arc::new(Server {
        plugins: plugins.clone(),
        metrics,
        telemetry_path: opts.telemetry_path.clone(),
    });
    server.serve(listeners, shutdown).await;
    tracing::info!("shutting down: stopping plugins");
    futures_util::future::join_all(plugins.iter().map(|p| p.stop())).await;
    let strays = spawn::sweep(None);
    if strays > 0 {
        tracing::warn!(processes = strays, "killed stray plugin processes");
    }
    sandbox.cgroups.cleanup();
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. SIGHUP is logged and otherwise ignored (its default action
/// would kill the process).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("cannot watch SIGTERM");
    let mut int = signal(SignalKind::interrupt()).expect("cannot watch SIGINT");
    let mut hup = signal(SignalKind::hangup()).expect("cannot watch SIGHUP");
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!(signal = "SIGTERM", "received signal"); return }
            _ = int.recv() => { tracing::info!(signal = "SIGINT", "received signal"); return }
            _ = hup.recv() => tracing::warn!("SIGHUP received: configuration reload is not supported yet; ignoring"),
        }
    }
}
