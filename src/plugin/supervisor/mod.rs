//! One supervisor task per plugin, for every role: it starts the plugin's child in its
//! fence, hands it to the role's [`Session`], restarts it with backoff whatever goes wrong,
//! and carries out stop, restart, disable and enable. It never gives up, and it knows
//! nothing of what the role does with the child.
//!
//! The task owns the session and all lifecycle state; handles reach it through a channel of
//! [`Command`]s, and read the shared [`Core`] (status, fence, usage) under short locks. Every
//! command in every phase is decided by [`control::decide`], in one place.
//!
//! - [`control`]: commands and the decision table.
//! - [`status`]: lifecycle state and what handles share with the task.
//! - [`context`]: what sessions get: configuration, status updates, fenced spawning.
//! - [`checksum`]: the pinned SHA-256 checked before every start.
//! - [`role`]: the two traits a role implements; [`fault`]: how a session ends, and the
//!   child it watches.

pub mod checksum;
pub mod context;
pub mod control;
pub mod fault;
pub mod role;
pub mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};

use self::context::{exit_fault, signal};
use self::control::{decide, Command, Control, Next, Phase};
use self::fault::{Child, Fault};
use self::role::{Role, Session};
use super::backoff::Backoff;
use crate::codes::RestartReason;
use crate::config::PluginConfig;
use crate::process::reaper::ExitStatus;
use crate::sandbox::Fence;
use crate::selfmetrics::SelfMetrics;
pub use context::{Context, SupervisorOptions};
pub use status::{Core, State, Status};

/// How long to wait for the exit status after a child closed its stdout before calling it
/// "closed stdout but kept running".
pub const EOF_EXIT_WAIT: Duration = Duration::from_millis(500);

/// How long a child gets to be reaped after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The handle the role's front (scrapes, the API, reloads) uses to reach a supervisor.
pub struct Handle<R: Role> {
    core: Arc<Core>,
    tx: mpsc::Sender<Command<R::Request>>,
}

impl<R: Role> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Handle {
            core: self.core.clone(),
            tx: self.tx.clone(),
        }
    }
}

impl<R: Role> Handle<R> {
    /// Starts the supervisor task of one plugin; its child starts right away.
    pub fn start(
        role: R,
        cfg: Arc<PluginConfig>,
        opts: SupervisorOptions,
        metrics: Arc<SelfMetrics>,
    ) -> Self {
        metrics.init_plugin(&cfg.name);
        let fence = Arc::new(Fence::new(
            opts.sandbox.clone(),
            &cfg.name,
            cfg.limits.clone(),
            cfg.sandbox.clone(),
        ));
        let core = Arc::new(Core::new(cfg, fence, metrics));
        let (tx, rx) = mpsc::channel(64);
        let sup = Supervisor {
            role,
            ctx: Context {
                core: core.clone(),
                opts,
            },
            rx,
            backoff: Backoff::default(),
        };
        tokio::spawn(sup.run());
        Handle { core, tx }
    }

    /// What the handle shares with the task.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Sends a request to the role; false when the supervisor is gone.
    pub async fn request(&self, req: R::Request) -> bool {
        self.tx.send(Command::Request(req)).await.is_ok()
    }

    /// Carries out a lifecycle command and waits until it is done; false when the
    /// supervisor is gone.
    pub async fn control(&self, c: Control) -> bool {
        let (done, rx) = oneshot::channel();
        self.tx.send(Command::Control(c, done)).await.is_ok() && rx.await.is_ok()
    }
}

/// Where the supervisor goes next.
enum Step {
    /// Open a session.
    Start,
    /// Wait until then, then start.
    Backoff(Instant),
    /// Stay disabled.
    Disabled,
    /// Stay refused.
    Refused,
    /// The supervisor is done.
    End,
}

/// Why a running session ended.
enum Ending {
    /// The child or the session failed.
    Fault(Fault),
    /// A command that stops the session.
    Command(Next, oneshot::Sender<()>),
    /// Every handle is gone.
    Orphaned,
}

struct Supervisor<R: Role> {
    role: R,
    ctx: Context,
    rx: mpsc::Receiver<Command<R::Request>>,
    backoff: Backoff,
}

impl<R: Role> Supervisor<R> {
    async fn run(mut self) {
        let mut step = match self.refusal() {
            Some(error) => {
                tracing::error!(plugin = %self.ctx.name(), %error, "refusing to start plugin");
                self.core().set_state(State::Refused, None);
                self.core().set_last_error(error);
                self.core().set_attempted();
                Step::Refused
            }
            None => Step::Start,
        };
        loop {
            step = match step {
                Step::Start => self.run_session().await,
                Step::Backoff(until) => self.wait(Phase::Backoff, Some(until)).await,
                Step::Disabled => self.wait(Phase::Disabled, None).await,
                Step::Refused => self.wait(Phase::Refused, None).await,
                Step::End => return,
            };
        }
    }

    fn core(&self) -> &Core {
        &self.ctx.core
    }

    /// While no session runs: requests are refused by the role, commands decided.
    async fn wait(&mut self, phase: Phase, until: Option<Instant>) -> Step {
        loop {
            let cmd = tokio::select! {
                _ = sleep_until(until.unwrap_or_else(far_future)), if until.is_some() => {
                    return Step::Start;
                }
                cmd = self.rx.recv() => cmd,
            };
            let (c, done) = match cmd {
                None => return self.orphaned().await,
                Some(Command::Request(q)) => {
                    self.role.refuse(q);
                    continue;
                }
                Some(Command::Control(c, done)) => (c, done),
            };
            let step = match decide(phase, c) {
                Next::Stay => None,
                Next::Start | Next::Restart => {
                    if phase == Phase::Disabled {
                        self.enabled();
                    }
                    Some(Step::Start)
                }
                Next::Disable => {
                    self.disabled();
                    Some(Step::Disabled)
                }
                Next::Stop => {
                    self.stopped().await;
                    Some(Step::End)
                }
            };
            let _ = done.send(());
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// Opens a session and runs it until it ends; then decides what comes next.
    async fn run_session(&mut self) -> Step {
        let started = Instant::now();
        let oom_before = self.core().fence.usage().oom_kills;
        self.core().set_state(State::Starting, None);
        let opened = self.role.open(&self.ctx).await;
        self.core().set_attempted();
        let (mut session, mut child) = match opened {
            Ok(opened) => opened,
            Err(fault) => {
                self.role.down();
                return self.after_fault(fault, started, oom_before);
            }
        };
        let pid = child.as_ref().and_then(|c| c.pgid).map(|p| p.as_raw());
        self.core().set_state(State::Running, pid);
        let ending = loop {
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    None => break Ending::Orphaned,
                    Some(Command::Request(q)) => session.request(q),
                    Some(Command::Control(c, done)) => match decide(Phase::Running, c) {
                        Next::Stay => {
                            let _ = done.send(());
                        }
                        next => break Ending::Command(next, done),
                    },
                },
                status = exit_of(&mut child) => {
                    child = None;
                    break Ending::Fault(exit_fault(status));
                }
                fault = session.step() => {
                    if let Some(fault) = fault {
                        break Ending::Fault(fault);
                    }
                }
            }
        };
        session.close();
        let ending = match ending {
            // Stdout closes as a process exits: give the exit status a moment to arrive
            // so the restart reason is right.
            Ending::Fault(f) if f.reason == RestartReason::StdoutClosed => {
                match child
                    .as_mut()
                    .map(|c| timeout(EOF_EXIT_WAIT, &mut c.exited))
                {
                    Some(wait) => match wait.await {
                        Ok(status) => {
                            child = None;
                            Ending::Fault(exit_fault(status.ok()))
                        }
                        Err(_) => Ending::Fault(f),
                    },
                    None => Ending::Fault(f),
                }
            }
            other => other,
        };
        if let Some(c) = child.as_mut() {
            self.terminate(&mut session, c).await;
        }
        self.ctx.clean_up_after().await;
        self.role.down();
        match ending {
            Ending::Fault(fault) => self.after_fault(fault, started, oom_before),
            Ending::Orphaned => self.orphaned().await,
            Ending::Command(next, done) => {
                let step = match next {
                    Next::Restart | Next::Start => {
                        tracing::info!(plugin = %self.ctx.name(), "restarting plugin on request");
                        self.count_restart(RestartReason::Requested, "restarted on request".into());
                        self.backoff = Backoff::default();
                        Step::Start
                    }
                    Next::Disable => {
                        self.disabled();
                        Step::Disabled
                    }
                    Next::Stop => {
                        self.stopped().await;
                        Step::End
                    }
                    Next::Stay => unreachable!("stay never ends a session"),
                };
                let _ = done.send(());
                step
            }
        }
    }

    /// The stop sequence: the role's goodbye and end of file on stdin, SIGTERM to the group
    /// after the grace period, SIGKILL after another.
    async fn terminate(&self, session: &mut R::Session, child: &mut Child) {
        self.core()
            .set_state(State::Stopping, child.pgid.map(|p| p.as_raw()));
        session.shutdown();
        let grace = self.ctx.opts.shutdown_grace;
        if timeout(grace, &mut child.exited).await.is_err() {
            signal(child.pgid, Signal::SIGTERM);
            if timeout(grace, &mut child.exited).await.is_err() {
                tracing::warn!(plugin = %self.ctx.name(), "plugin ignored SIGTERM; killing it");
                signal(child.pgid, Signal::SIGKILL);
                let _ = timeout(KILL_WAIT, &mut child.exited).await;
            }
        }
    }

    /// Counts a fault as a restart (an OOM kill when the memory limit did it) and waits out
    /// the backoff delay next.
    fn after_fault(&mut self, fault: Fault, started: Instant, oom_before: u64) -> Step {
        let fault = if self.core().fence.usage().oom_kills > oom_before {
            self.core().refresh_usage(true);
            let limit = self.core().cfg.limits.memory.unwrap_or_default();
            Fault::new(
                RestartReason::Oom,
                format!(
                    "{}: killed for exceeding its memory limit of {limit} bytes",
                    fault.error
                ),
            )
        } else {
            fault
        };
        let delay = self.backoff.next_delay(started.elapsed());
        tracing::warn!(plugin = %self.ctx.name(), reason = %fault.reason, error = %fault.error,
            delay_ms = delay.as_millis() as u64, "plugin stopped; restarting after a delay");
        self.count_restart(fault.reason, fault.error);
        Step::Backoff(Instant::now() + delay)
    }

    /// Counts a restart and records why in the status.
    fn count_restart(&self, why: RestartReason, error: String) {
        let core = self.core();
        core.metrics
            .restarts
            .with_label_values(&[core.name(), why.as_str()])
            .inc();
        let mut st = core.status();
        st.restarts += 1;
        st.pid = None;
        st.state = State::Restarting;
        st.last_error = Some(error);
    }

    fn disabled(&mut self) {
        let core = self.core();
        tracing::info!(plugin = %core.name(), "plugin disabled");
        core.set_state(State::Disabled, None);
        core.metrics
            .disabled
            .with_label_values(&[core.name()])
            .set(1.0);
        self.role.down();
    }

    fn enabled(&mut self) {
        let core = self.core();
        tracing::info!(plugin = %core.name(), "plugin enabled");
        core.metrics
            .disabled
            .with_label_values(&[core.name()])
            .set(0.0);
        self.backoff = Backoff::default();
    }

    /// Stopped for good: the fence is removed and the state says so.
    async fn stopped(&mut self) {
        self.remove_fence().await;
        self.core().set_stopped();
        self.role.down();
    }

    /// Every handle is gone: clean up without a word.
    async fn orphaned(&mut self) -> Step {
        self.remove_fence().await;
        Step::End
    }

    async fn remove_fence(&self) {
        let fence = self.core().fence.clone();
        let _ = tokio::task::spawn_blocking(move || fence.remove()).await;
    }

    /// Why this plugin must not start at all, if it must not: it would run as root (the
    /// exporter is root and no `user` is set) without `allow_root`.
    fn refusal(&self) -> Option<String> {
        let cfg = &self.core().cfg;
        let uid_set = cfg.run_as.as_ref().is_some_and(|r| r.uid.is_some());
        if nix::unistd::geteuid().is_root() && !uid_set && !cfg.allow_root {
            return Some(format!(
                "plugin {} would run as root: set `user:` to an unprivileged user for it \
                 (for example `user: nobody`), or set `allow_root: true` for it to accept that",
                cfg.name
            ));
        }
        None
    }
}

/// The child's exit status once reaped; never resolves without a child.
async fn exit_of(child: &mut Option<Child>) -> Option<ExitStatus> {
    match child {
        Some(c) => (&mut c.exited).await.ok(),
        None => std::future::pending().await,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}
