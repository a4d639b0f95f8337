//! The session with a long-lived JSON-lines collector: hello, collects in the plugin's mode
//! (on scrape, every interval, or pushed by the plugin), answers matched to collects,
//! deadlines, and the faults that make the supervisor restart the child.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use plugin_protocol::{Collect, HostHello, HostMessage, Shutdown, PROTOCOL_VERSION};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant, Interval};

use super::answers::{fail, finish, match_answer, record_success, Answer, Live};
use super::jsonl_io::{self, hello_problem, Event, Io};
use super::shared::{batch_options, CollectError, CollectRequest, CollectResult, Shared};
use crate::codes::{ErrorKind, RestartReason};
use crate::config::Mode;
use crate::plugin::supervisor::fault::{Child, Fault};
use crate::plugin::supervisor::Context;
use crate::process::tags::signal_group;

/// Collects left unanswered in a row before the plugin is restarted (reason `timeout`).
pub const MAX_UNANSWERED: usize = 3;

/// The conversation with one running JSON-lines child.
pub struct JsonlSession {
    ctx: Context,
    shared: Arc<Shared>,
    io: Io,
    /// Collects sent and not answered, oldest first.
    open: VecDeque<u64>,
    live: Option<Live>,
    next_id: u64,
    /// The collect timer in interval mode.
    tick: Option<Interval>,
    /// When the last push came, in push mode.
    last_push: Option<Instant>,
}

impl JsonlSession {
    /// Spawns the child in its fence, starts its I/O and says hello.
    pub async fn open(ctx: Context, shared: Arc<Shared>) -> Result<(Self, Child), Fault> {
        let spawned = ctx.spawn().await?;
        let pid = spawned.pid;
        let opts = batch_options(ctx.config(), ctx.plugin_label());
        let processors = shared.processors.clone();
        let io = jsonl_io::start(
            spawned.stdin,
            spawned.stdout,
            spawned.stderr,
            opts,
            processors,
        )
        .map_err(|e| {
            signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            Fault::new(
                RestartReason::SpawnFailed,
                format!("cannot set up the plugin's pipes: {e}"),
            )
        })?;
        io.send(&HostMessage::Hello(HostHello {
            protocol: PROTOCOL_VERSION,
            name: ctx.name().to_string(),
            config: ctx.config().config.clone(),
        }));
        let cfg = ctx.config();
        let tick = (cfg.mode == Mode::Interval).then(|| {
            let mut t = tokio::time::interval(cfg.interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let session = JsonlSession {
            shared,
            io,
            open: VecDeque::new(),
            live: None,
            next_id: 1,
            tick,
            last_push: None,
            ctx,
        };
        let child = Child {
            pgid: Some(pid),
            exited: spawned.exited,
        };
        Ok((session, child))
    }

    /// A scrape's collect: joins the live one or asks anew.
    pub fn request(&mut self, req: CollectRequest) {
        match &mut self.live {
            Some(l) => l.waiters.push(req.reply),
            None => self.begin_collect(req.deadline, Some(req.reply)),
        }
    }

    /// The next line, deadline or timer, handled.
    pub async fn step(&mut self) -> Option<Fault> {
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        let live_deadline = self.live.as_ref().map_or(far, |l| l.deadline);
        let stale_at = self
            .last_push
            .map_or(far, |t| t + self.ctx.config().interval * 3);
        tokio::select! {
            ev = self.io.events.recv() => self.on_event(ev.unwrap_or(Event::Eof)),
            _ = sleep_until(live_deadline), if self.live.is_some() => self.on_deadline(),
            _ = async { self.tick.as_mut().expect("guarded by is_some").tick().await }, if self.tick.is_some() => {
                if self.live.is_none() {
                    self.begin_collect(self.ctx.config().timeout, None);
                }
                None
            }
            _ = sleep_until(stale_at), if self.last_push.is_some() => {
                tracing::warn!(plugin = %self.ctx.name(), "no push within 3 intervals; dropping the plugin's series");
                self.last_push = None;
                self.shared.down();
                None
            }
        }
    }

    /// Goodbye and end of file on stdin.
    pub fn shutdown(&mut self) {
        self.io.send(&HostMessage::Shutdown(Shutdown {}));
        self.io.stdin = None;
    }

    /// Fails the open collect.
    pub fn close(&mut self) {
        fail(&self.shared, self.live.take(), CollectError::Exited);
    }

    fn on_event(&mut self, ev: Event) -> Option<Fault> {
        let ctx = self.ctx.clone();
        let name = ctx.name();
        match ev {
            Event::Hello(h) => {
                if let Some(error) = hello_problem(&h) {
                    tracing::error!(plugin = %name, %error, "refusing plugin");
                    self.shared.error(ErrorKind::Protocol, 1);
                    return Some(Fault::new(RestartReason::Protocol, error));
                }
                tracing::info!(plugin = %name, name = h.name.as_deref().unwrap_or(""),
                    version = h.version.as_deref().unwrap_or(""), "plugin said hello");
                self.ctx.set_plugin_version(h.version);
            }
            Event::Metrics { id, batch, drops } => {
                for (kind, n) in drops.counts() {
                    self.shared.error(kind, n);
                }
                match self.answer(id) {
                    Answer::Live => finish(&self.shared, self.live.take(), Ok(batch)),
                    Answer::Late(_) | Answer::Unknown => self.shared.error(ErrorKind::Late, 1),
                    Answer::Unsolicited if self.ctx.config().mode == Mode::Push => {
                        self.last_push = Some(Instant::now());
                        record_success(&self.shared, &batch, Duration::ZERO);
                        self.shared.set_cached(Some(batch));
                    }
                    Answer::Unsolicited => {
                        tracing::warn!(plugin = %name, "dropped metrics that answer no collect (push needs mode: push)");
                        self.shared.error(ErrorKind::Protocol, 1);
                    }
                }
            }
            Event::Error { id, message } => {
                self.shared.error(ErrorKind::PluginError, 1);
                tracing::warn!(plugin = %name, error = %message, "plugin reported a collect error");
                self.ctx.set_last_error(message.clone());
                if self.answer(id) == Answer::Live {
                    fail(
                        &self.shared,
                        self.live.take(),
                        CollectError::Plugin(message),
                    );
                }
            }
            Event::Dropped(kind) => self.shared.error(kind, 1),
            Event::Rejected { id, rejection } => {
                self.shared.error(rejection.kind(), 1);
                self.shared.limit_hit(rejection.limit());
                let detail = rejection.to_string();
                tracing::warn!(plugin = %name, limit = %rejection.limit(), %detail, "rejected a batch over a limit");
                self.ctx.set_last_error(detail.clone());
                if self.answer(id) == Answer::Live {
                    fail(
                        &self.shared,
                        self.live.take(),
                        CollectError::Rejected(detail),
                    );
                }
            }
            Event::Eof => {
                fail(&self.shared, self.live.take(), CollectError::Exited);
                return Some(Fault::new(
                    RestartReason::StdoutClosed,
                    "plugin closed its stdout but kept running",
                ));
            }
        }
        None
    }

    fn answer(&mut self, id: Option<u64>) -> Answer {
        match_answer(id, &mut self.open, self.live.as_ref().map(|l| l.id))
    }

    fn on_deadline(&mut self) -> Option<Fault> {
        let live = self.live.take();
        let waited = live
            .as_ref()
            .map(|l| l.started.elapsed())
            .unwrap_or_default();
        tracing::warn!(plugin = %self.ctx.name(), waited_ms = waited.as_millis() as u64, "collect timed out");
        self.shared.error(ErrorKind::Timeout, 1);
        self.ctx.set_last_error(format!(
            "collect got no answer within {} ms",
            waited.as_millis()
        ));
        fail(&self.shared, live, CollectError::Timeout);
        (self.open.len() >= MAX_UNANSWERED).then(|| {
            Fault::new(
                RestartReason::Timeout,
                format!("{} collects in a row got no answer", self.open.len()),
            )
        })
    }

    /// Sends a collect and makes it the live one.
    fn begin_collect(&mut self, deadline: Duration, reply: Option<oneshot::Sender<CollectResult>>) {
        let id = self.next_id;
        self.next_id += 1;
        let msg = HostMessage::Collect(Collect {
            id,
            deadline_ms: deadline.as_millis() as u64,
        });
        if !self.io.send(&msg) {
            // The plugin is not reading its stdin: the collect cannot even be asked.
            self.shared.error(ErrorKind::Timeout, 1);
            if let Some(r) = reply {
                let _ = r.send(Err(CollectError::Timeout));
            }
            return;
        }
        self.open.push_back(id);
        self.live = Some(Live::new(id, deadline, reply));
    }
}
