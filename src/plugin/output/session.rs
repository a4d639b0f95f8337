//! The session with one output child: hello, up to `max_in_flight` writes open (the rest
//! queued), each answer matched to its write by id, the deadlines, and the faults that make
//! the supervisor restart the child (timeout, garbage, end of stdout).

use std::collections::VecDeque;
use std::sync::Arc;

use plugin_protocol::{Family, HostHello, HostMessage, Shutdown, PROTOCOL_VERSION};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};

use super::io::{self, Event, Io};
use super::request::{WriteError, WriteRequest, WriteResult};
use crate::codes::RestartReason;
use crate::plugin::supervisor::fault::{Child, Fault};
use crate::plugin::supervisor::Context;
use crate::process::tags::signal_group;
use crate::selfmetrics::SelfMetrics;

/// A write sent and not yet answered.
struct Open {
    id: u64,
    deadline: Instant,
    reply: oneshot::Sender<WriteResult>,
}

/// A `write` line borrowing its families, serialized exactly like
/// [`HostMessage::Write`] (`type` first) without copying the batch.
#[derive(Serialize)]
#[serde(tag = "type", rename = "write")]
struct WriteRef<'a> {
    id: u64,
    families: &'a [Family],
}

/// The conversation with one running output.
pub struct OutputSession {
    ctx: Context,
    metrics: Arc<SelfMetrics>,
    io: Io,
    queue: VecDeque<WriteRequest>,
    open: Vec<Open>,
    max_in_flight: usize,
    next_id: u64,
}

impl OutputSession {
    /// Spawns the child in its fence, starts its I/O and says hello.
    pub async fn open(
        ctx: Context,
        metrics: Arc<SelfMetrics>,
        max_in_flight: usize,
    ) -> Result<(Self, Child), Fault> {
        let spawned = ctx.spawn().await?;
        let pid = spawned.pid;
        let io = io::start(
            spawned.stdin,
            spawned.stdout,
            spawned.stderr,
            ctx.name(),
            ctx.config().limits.max_line,
        )
        .map_err(|e| {
            signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            Fault::new(
                RestartReason::SpawnFailed,
                format!("cannot set up the output's pipes: {e}"),
            )
        })?;
        io.send_line(
            HostMessage::Hello(HostHello {
                protocol: PROTOCOL_VERSION,
                name: ctx.name().to_string(),
                config: ctx.config().config.clone(),
            })
            .to_line(),
        );
        metrics.up.with_label_values(&[ctx.name()]).set(1.0);
        let session = OutputSession {
            ctx,
            metrics,
            io,
            queue: VecDeque::new(),
            open: Vec::new(),
            max_in_flight: max_in_flight.max(1),
            next_id: 1,
        };
        let child = Child {
            pgid: Some(pid),
            exited: spawned.exited,
        };
        Ok((session, child))
    }

    /// Queues a write, and sends it when fewer than `max_in_flight` are open.
    pub fn request(&mut self, req: WriteRequest) {
        self.queue.push_back(req);
        self.send_next();
    }

    /// The next line or deadline, handled.
    pub async fn step(&mut self) -> Option<Fault> {
        let deadline = self.open.iter().map(|o| o.deadline).min();
        tokio::select! {
            ev = self.io.events.recv() => self.on_event(ev.unwrap_or(Event::Eof)),
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let waited = self.ctx.config().timeout.as_millis();
                tracing::warn!(plugin = %self.ctx.name(), waited_ms = waited as u64, "output timed out");
                self.ctx.set_last_error(format!("no answer to a write within {waited} ms"));
                self.answer_all(Err(WriteError::Timeout));
                Some(Fault::new(RestartReason::Timeout, "a write got no answer before the output's timeout"))
            }
        }
    }

    /// Goodbye and end of file on stdin.
    pub fn shutdown(&mut self) {
        self.io
            .send_line(HostMessage::Shutdown(Shutdown {}).to_line());
        self.io.stdin = None;
    }

    /// Fails the open writes (the child is gone) and every queued one.
    pub fn close(&mut self) {
        self.answer_all(Err(WriteError::Crash));
        for req in self.queue.drain(..) {
            let _ = req.reply.send(Err(WriteError::Down));
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
                    "output speaks protocol version {}, this exporter speaks only {PROTOCOL_VERSION}",
                    h.protocol
                );
                tracing::error!(plugin = %name, %error, "refusing output");
                return self.garbage(error);
            }
            Event::Hello(h) => {
                tracing::info!(plugin = %name, version = h.version.as_deref().unwrap_or(""), "output said hello");
                self.ctx.set_plugin_version(h.version);
            }
            Event::Ack(id) => match self.take(Some(id)) {
                Some(open) => {
                    let _ = open.reply.send(Ok(()));
                    self.send_next();
                }
                None => {
                    return self.garbage(format!("an `ack` for id {id}, which is no open write"))
                }
            },
            Event::Error { id, message } => match self.take(id) {
                Some(open) => {
                    tracing::warn!(plugin = %name, error = %message, "output reported an error");
                    self.ctx.set_last_error(message.clone());
                    let _ = open.reply.send(Err(WriteError::Plugin(message)));
                    self.send_next();
                }
                None => {
                    let id = id.map_or_else(|| "none".to_string(), |i| i.to_string());
                    return self.garbage(format!("an `error` for id {id}, which is no open write"));
                }
            },
            Event::Garbage(detail) => return self.garbage(detail),
            // Logged by the reader task.
            Event::Log(..) => {}
            Event::Eof => {
                self.answer_all(Err(WriteError::Crash));
                return Some(Fault::new(
                    RestartReason::StdoutClosed,
                    "output closed its stdout",
                ));
            }
        }
        None
    }

    /// The open write `id` answers; without an id, the only open one.
    fn take(&mut self, id: Option<u64>) -> Option<Open> {
        let at = match id {
            Some(id) => self.open.iter().position(|o| o.id == id)?,
            None if self.open.len() == 1 => 0,
            None => return None,
        };
        Some(self.open.swap_remove(at))
    }

    /// A protocol break: the open writes fail and the child is restarted.
    fn garbage(&mut self, detail: String) -> Option<Fault> {
        tracing::warn!(plugin = %self.ctx.name(), %detail, "output broke the protocol");
        self.ctx.set_last_error(detail.clone());
        self.answer_all(Err(WriteError::Garbage(detail.clone())));
        Some(Fault::new(RestartReason::Protocol, detail))
    }

    fn answer_all(&mut self, result: WriteResult) {
        for open in self.open.drain(..) {
            let _ = open.reply.send(result.clone());
        }
    }

    /// Sends the oldest queued writes whose senders still wait, up to `max_in_flight` open.
    fn send_next(&mut self) {
        while self.open.len() < self.max_in_flight {
            let Some(req) = self.queue.pop_front() else {
                return;
            };
            if req.reply.is_closed() {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let msg = WriteRef {
                id,
                families: &req.families,
            };
            let mut line = match serde_json::to_string(&msg) {
                Ok(l) => l,
                Err(e) => {
                    let _ = req.reply.send(Err(WriteError::Garbage(format!(
                        "the write could not be encoded: {e}"
                    ))));
                    continue;
                }
            };
            line.push('\n');
            if !self.io.send_line(line) {
                // Not reading its stdin: the write cannot even be sent.
                let _ = req.reply.send(Err(WriteError::Timeout));
                continue;
            }
            self.open.push(Open {
                id,
                deadline: Instant::now() + self.ctx.config().timeout,
                reply: req.reply,
            });
        }
    }
}
