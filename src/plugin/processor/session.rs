//! The session with one processor child: hello, one `process` at a time (the rest queued),
//! each answer matched to its batch by id, the deadline, and the faults that make the
//! supervisor restart the child (timeout, garbage, end of stdout).

use std::collections::VecDeque;
use std::sync::Arc;

use plugin_protocol::{HostHello, HostMessage, Process, Shutdown, PROTOCOL_VERSION};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};

use super::io::{self, Event, Io};
use super::request::{ProcessError, ProcessRequest, ProcessResult};
use crate::codes::RestartReason;
use crate::plugin::supervisor::fault::{Child, Fault};
use crate::plugin::supervisor::Context;
use crate::process::tags::signal_group;
use crate::selfmetrics::SelfMetrics;

/// The batch sent and not yet answered.
struct Open {
    id: u64,
    deadline: Instant,
    reply: oneshot::Sender<ProcessResult>,
}

/// The conversation with one running processor.
pub struct ProcessorSession {
    ctx: Context,
    metrics: Arc<SelfMetrics>,
    io: Io,
    queue: VecDeque<ProcessRequest>,
    open: Option<Open>,
    next_id: u64,
}

impl ProcessorSession {
    /// Spawns the child in its fence, starts its I/O and says hello.
    pub async fn open(ctx: Context, metrics: Arc<SelfMetrics>) -> Result<(Self, Child), Fault> {
        let spawned = ctx.spawn().await?;
        let pid = spawned.pid;
        let limits = &ctx.config().limits;
        let io = io::start(
            spawned.stdin,
            spawned.stdout,
            spawned.stderr,
            ctx.name(),
            limits.max_line,
            limits.max_series,
        )
        .map_err(|e| {
            signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            Fault::new(
                RestartReason::SpawnFailed,
                format!("cannot set up the processor's pipes: {e}"),
            )
        })?;
        io.send(&HostMessage::Hello(HostHello {
            protocol: PROTOCOL_VERSION,
            name: ctx.name().to_string(),
            config: ctx.config().config.clone(),
        }));
        metrics.up.with_label_values(&[ctx.name()]).set(1.0);
        let session = ProcessorSession {
            ctx,
            metrics,
            io,
            queue: VecDeque::new(),
            open: None,
            next_id: 1,
        };
        let child = Child {
            pgid: Some(pid),
            exited: spawned.exited,
        };
        Ok((session, child))
    }

    /// Queues a batch, and sends it when nothing is open.
    pub fn request(&mut self, req: ProcessRequest) {
        self.queue.push_back(req);
        self.send_next();
    }

    /// The next line or deadline, handled.
    pub async fn step(&mut self) -> Option<Fault> {
        let deadline = self.open.as_ref().map(|o| o.deadline);
        tokio::select! {
            ev = self.io.events.recv() => self.on_event(ev.unwrap_or(Event::Eof)),
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let waited = self.ctx.config().timeout.as_millis();
                tracing::warn!(plugin = %self.ctx.name(), waited_ms = waited as u64, "processor timed out");
                self.ctx.set_last_error(format!("no answer to a batch within {waited} ms"));
                self.answer(Err(ProcessError::Timeout));
                Some(Fault::new(RestartReason::Timeout, "a batch got no answer before the processor's timeout"))
            }
        }
    }

    /// Goodbye and end of file on stdin.
    pub fn shutdown(&mut self) {
        self.io.send(&HostMessage::Shutdown(Shutdown {}));
        self.io.stdin = None;
    }

    /// Fails the open batch (the child is gone) and every queued one.
    pub fn close(&mut self) {
        self.answer(Err(ProcessError::Crash));
        for req in self.queue.drain(..) {
            let _ = req.reply.send(Err(ProcessError::Down));
        }
        self.metrics
            .up
            .with_label_values(&[self.ctx.name()])
            .set(0.0);
    }

    fn on_event(&mut self, ev: Event) -> Option<Fault> {
        let name = self.ctx.name().to_string();
        match ev {
            Event::Hello(h) if h.protocol != PROTOCOL_VERSION => {
                let error = format!(
                    "processor speaks protocol version {}, this exporter speaks only {PROTOCOL_VERSION}",
                    h.protocol
                );
                tracing::error!(plugin = %name, %error, "refusing processor");
                return self.garbage(RestartReason::Protocol, error);
            }
            Event::Hello(h) => {
                tracing::info!(plugin = %name, version = h.version.as_deref().unwrap_or(""), "processor said hello");
                self.ctx.set_plugin_version(h.version);
            }
            Event::Processed { id, families } if self.open_id() == Some(id) => {
                self.answer(Ok(families));
                self.send_next();
            }
            Event::Processed { id, .. } => {
                return self.garbage(
                    RestartReason::Protocol,
                    format!("a `processed` for id {id}, which is not the open batch"),
                );
            }
            Event::Error { id, message } if id.is_none() || id == self.open_id() => {
                if self.open.is_none() {
                    return self.garbage(
                        RestartReason::Protocol,
                        "an `error` with no batch open".to_string(),
                    );
                }
                tracing::warn!(plugin = %name, error = %message, "processor reported an error");
                self.ctx.set_last_error(message.clone());
                self.answer(Err(ProcessError::Plugin(message)));
                self.send_next();
            }
            Event::Error { id, .. } => {
                let id = id.unwrap_or_default();
                return self.garbage(
                    RestartReason::Protocol,
                    format!("an `error` for id {id}, which is not the open batch"),
                );
            }
            Event::TooBig(detail) => {
                tracing::warn!(plugin = %name, %detail, "refused a processor's answer");
                self.ctx.set_last_error(detail.clone());
                self.answer(Err(ProcessError::Invalid(detail)));
                self.send_next();
            }
            Event::Garbage(detail) => return self.garbage(RestartReason::Protocol, detail),
            // Logged by the reader task.
            Event::Log(..) => {}
            Event::Eof => {
                self.answer(Err(ProcessError::Crash));
                return Some(Fault::new(
                    RestartReason::StdoutClosed,
                    "processor closed its stdout",
                ));
            }
        }
        None
    }

    fn open_id(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.id)
    }

    /// A protocol break: the open batch fails and the child is restarted.
    fn garbage(&mut self, reason: RestartReason, detail: String) -> Option<Fault> {
        tracing::warn!(plugin = %self.ctx.name(), %detail, "processor broke the protocol");
        self.ctx.set_last_error(detail.clone());
        self.answer(Err(ProcessError::Garbage(detail.clone())));
        Some(Fault::new(reason, detail))
    }

    /// Completes the open batch, if any.
    fn answer(&mut self, result: ProcessResult) {
        if let Some(open) = self.open.take() {
            let _ = open.reply.send(result);
        }
    }

    /// Sends the oldest queued batch whose sender still waits, when none is open.
    fn send_next(&mut self) {
        while self.open.is_none() {
            let Some(req) = self.queue.pop_front() else {
                return;
            };
            if req.reply.is_closed() {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let timeout = self.ctx.config().timeout;
            let msg = HostMessage::Process(Process {
                id,
                plugin: req.plugin,
                deadline_ms: timeout.as_millis() as u64,
                families: req.families,
            });
            if !self.io.send(&msg) {
                // Not reading its stdin: the batch cannot even be asked.
                let _ = req.reply.send(Err(ProcessError::Timeout));
                continue;
            }
            self.open = Some(Open {
                id,
                deadline: Instant::now() + timeout,
                reply: req.reply,
            });
        }
    }
}
