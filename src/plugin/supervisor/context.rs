//! What a role's sessions get from the supervisor: the plugin's configuration and status, and
//! the one way to start a child in the plugin's fence (checksum, environment, rlimits,
//! cgroup, identity).

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::checksum::checksum_problem;
use super::fault::Fault;
use super::status::Core;
use crate::codes::RestartReason;
use crate::config::PluginConfig;
use crate::process::reaper::ExitStatus;
use crate::process::spawn::{Identity, Rlimit, SpawnSpec, Spawned, Spawner};
use crate::process::tags;
use crate::sandbox::confine::{Plugin, Tightened};
use crate::sandbox::{Fence, Sandbox};

/// Exporter-wide settings every supervisor needs.
#[derive(Clone)]
pub struct SupervisorOptions {
    /// The label naming the plugin on its series; empty disables it.
    pub plugin_label: String,
    /// How long a plugin gets after its goodbye before SIGTERM, and after SIGTERM before
    /// SIGKILL.
    pub shutdown_grace: Duration,
    /// The isolation machinery (cgroups or the watchdog).
    pub sandbox: Arc<Sandbox>,
}

/// A supervisor's shared state and settings, as its role's sessions see them.
#[derive(Clone)]
pub struct Context {
    pub(super) core: Arc<Core>,
    pub(super) opts: SupervisorOptions,
}

impl Context {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The plugin's configuration.
    pub fn config(&self) -> &PluginConfig {
        &self.core.cfg
    }

    /// The label naming the plugin on its series; empty when disabled.
    pub fn plugin_label(&self) -> &str {
        &self.opts.plugin_label
    }

    /// The plugin's fence.
    pub fn fence(&self) -> &Arc<Fence> {
        &self.core.fence
    }

    /// Records the plugin's version from its `hello`.
    pub fn set_plugin_version(&self, version: Option<String>) {
        self.core.status().plugin_version = version;
    }

    /// Records the last error, for the API and landing page.
    pub fn set_last_error(&self, error: impl Into<String>) {
        self.core.set_last_error(error);
    }

    /// Reads the plugin's resource use into the metrics now.
    pub fn refresh_usage(&self) {
        self.core.refresh_usage(true);
    }

    /// Starts the plugin's long-lived child: checks the pinned checksum and starts the
    /// command in the fence.
    pub async fn spawn(&self) -> Result<Spawned, Fault> {
        let cfg = &self.core.cfg;
        if let Some(error) = checksum_problem(cfg.sha256, &cfg.command[0]).await {
            return Err(Fault::new(RestartReason::Checksum, error));
        }
        if let Some(p) = &cfg.package {
            let (dir, manifest) = (p.dir.clone(), p.manifest.clone());
            let problem = tokio::task::spawn_blocking(move || {
                crate::package::trust::files_problem(&dir, &manifest)
            })
            .await
            .unwrap_or_else(|e| Some(e.to_string()));
            if let Some(error) = problem {
                return Err(Fault::new(
                    RestartReason::Checksum,
                    format!("package {} {}: {error}; not starting it", p.name, p.version),
                ));
            }
        }
        let spec = self
            .spawn_spec()
            .map_err(|e| Fault::new(RestartReason::SpawnFailed, e))?;
        let spawned = Spawner::global().spawn(spec).await.map_err(|e| {
            Fault::new(
                RestartReason::SpawnFailed,
                format!("cannot start {:?}: {e}", cfg.command[0]),
            )
        })?;
        let pid = spawned.pid.as_raw();
        tracing::info!(plugin = %self.name(), pid, "plugin started");
        self.core.fence.started(pid);
        Ok(spawned)
    }

    /// Starts one run of a command run per collect, in the fence, after the checksum check.
    pub async fn spawn_run(&self) -> Result<Spawned, String> {
        let cfg = &self.core.cfg;
        if let Some(error) = checksum_problem(cfg.sha256, &cfg.command[0]).await {
            return Err(error);
        }
        let spec = self.spawn_spec()?;
        let spawned = Spawner::global()
            .spawn(spec)
            .await
            .map_err(|e| e.to_string())?;
        self.core.fence.started(spawned.pid.as_raw());
        Ok(spawned)
    }

    /// Kills what is left of a run that ended: the cgroup when there is one, else every
    /// process tagged with the plugin's name (processes that left the group). The group
    /// itself is not signalled: its leader was reaped and the id may be reused.
    pub async fn clean_up_after(&self) {
        if !self.core.fence.ended().await {
            tags::sweep(Some(self.name()));
        }
    }

    /// The environment a plugin gets: `PATH`, `LANG` and its configured variables.
    fn environment(&self) -> Vec<(OsString, OsString)> {
        let mut env = vec![(
            OsString::from("PATH"),
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        )];
        if let Some(lang) = std::env::var_os("LANG") {
            env.push(("LANG".into(), lang));
        }
        for (k, v) in &self.core.cfg.env {
            env.push((k.into(), v.expose().into()));
        }
        env
    }

    /// The plugin's rlimits, lowered to what the exporter may grant: each lowering is logged
    /// once and shown in the API; with `require_rlimits` a lowering refuses the start.
    fn rlimits(&self, own_uid: bool) -> Result<Vec<(Rlimit, u64)>, String> {
        let (limits, lowered) = self.core.fence.rlimits(own_uid);
        if lowered.is_empty() {
            return Ok(limits);
        }
        if self.core.cfg.limits.require_rlimits {
            let why: Vec<String> = lowered.iter().map(|l| l.to_string()).collect();
            return Err(format!(
                "{}; not starting it, since limits.require_rlimits is set",
                why.join("; ")
            ));
        }
        if self.core.set_lowered(&lowered) {
            for l in &lowered {
                tracing::warn!(plugin = %self.name(), limit = l.limit, configured = l.configured,
                    applied = l.applied, "{l}");
            }
        }
        Ok(limits)
    }

    /// The tighter fence of one start (`sandbox`): what the kernel cannot enforce is logged
    /// once and shown in the API; with `sandbox.require` it refuses the start.
    fn confine(
        &self,
        env: &[(OsString, OsString)],
        run_as: Option<&Identity>,
    ) -> Result<Tightened, String> {
        let cfg = &self.core.cfg;
        let plugin = Plugin {
            name: &cfg.name,
            program: std::path::Path::new(&cfg.command[0]),
            working_dir: cfg.working_dir.as_deref(),
            path_env: env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.as_os_str()),
            run_as,
        };
        let tightened = self.core.fence.confine(&plugin)?;
        if self.core.set_unenforced(&tightened.unenforced) {
            for what in &tightened.unenforced {
                tracing::warn!(plugin = %self.name(), "sandbox not fully enforced: {what}");
            }
        }
        Ok(tightened)
    }

    /// What to start, fenced: environment, rlimits, cgroup, identity, sandbox.
    fn spawn_spec(&self) -> Result<SpawnSpec, String> {
        let cfg = &self.core.cfg;
        let own_uid = cfg
            .run_as
            .as_ref()
            .and_then(|r| r.uid)
            .is_some_and(|u| u != nix::unistd::getuid().as_raw());
        let cgroup_join = self
            .core
            .fence
            .join_files()
            .map_err(|e| format!("cannot open the plugin's cgroup: {e}"))?;
        let run_as = cfg.run_as.as_ref().map(|r| Identity {
            uid: r.uid,
            gid: r.gid,
            groups: r.groups.clone(),
        });
        let mut env = self.environment();
        let rlimits = self.rlimits(own_uid)?;
        let tightened = self.confine(&env, run_as.as_ref())?;
        env.extend(tightened.env);
        Ok(SpawnSpec {
            plugin: cfg.name.clone(),
            argv: cfg.command.clone(),
            env,
            working_dir: cfg.working_dir.clone(),
            rlimits,
            cgroup_join,
            run_as,
            confinement: tightened.confinement,
        })
    }
}

/// Signals a child's process group, when it has one.
pub(super) fn signal(pgid: Option<Pid>, sig: Signal) {
    if let Some(p) = pgid {
        tags::signal_group(p, sig);
    }
}

/// The fault of a child that exited by itself.
pub(super) fn exit_fault(status: Option<ExitStatus>) -> Fault {
    match status {
        Some(ExitStatus::Exited(code)) => Fault::new(
            RestartReason::Exited,
            format!("plugin exited with code {code}"),
        ),
        Some(ExitStatus::Signaled(sig)) => Fault::new(
            RestartReason::Crashed,
            format!(
                "plugin was killed by signal {sig} ({})",
                Signal::try_from(sig).map_or("unknown", |s| s.as_str())
            ),
        ),
        None => Fault::new(RestartReason::Crashed, "plugin ended (exit status lost)"),
    }
}
