//! The I/O of one JSON-lines collector: a writer task for stdin, a reader task that turns
//! stdout lines into [`Event`]s (parsing, validating and rendering batches off the
//! supervisor's task), and the stderr forwarder.
//!
//! [`parse_line`] is the one decision about a stdout line; `check-plugin` calls it too.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use plugin_protocol::{HostMessage, LineError, LogLevel, PluginHello, PluginMessage};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::codes::ErrorKind;
use crate::exposition::batch::{build_batch, Batch, BatchOptions, Rejection};
use crate::exposition::drop_reason::{describe, DropReason, DropSink, DropSite};
use crate::exposition::validate::Drops;
use crate::plugin::lines::{Line, LineReader};
use crate::plugin::processor::{pipeline, ProcessorHandle};
use crate::plugin::stderr::read_stderr;

/// What the reader task reports.
#[derive(Debug)]
pub enum Event {
    /// The plugin's `hello`.
    Hello(PluginHello),
    /// A `metrics` line, validated and rendered; `drops` says what validation removed.
    Metrics {
        /// The collect it answers, if given.
        id: Option<u64>,
        /// The batch.
        batch: Arc<Batch>,
        /// What validation dropped.
        drops: Drops,
    },
    /// An `error` line.
    Error {
        /// The collect it answers, if given.
        id: Option<u64>,
        /// The plugin's message.
        message: String,
    },
    /// A line that was dropped, with the error kind to count.
    Dropped(ErrorKind),
    /// A batch refused whole for breaking a budget; it answers a collect with failure.
    Rejected {
        /// The collect it answers, if known (an oversized batch is refused before its id).
        id: Option<u64>,
        /// Why.
        rejection: Rejection,
    },
    /// Stdout reached end of file (or failed).
    Eof,
}

/// A stdout line that is not a protocol message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// Stdout carries protocol lines only: a blank line is an error too.
    #[error("an empty line")]
    Blank,
    /// Not UTF-8.
    #[error("not valid UTF-8")]
    Utf8,
    /// Not a valid message.
    #[error("{0}")]
    Json(String),
    /// A `processed` line, which only processors send.
    #[error("a `processed` line: only processors send it (a collector answers with `metrics`)")]
    Processed,
    /// An `ack` line, which only outputs send.
    #[error("an `ack` line: only outputs send it (a collector answers with `metrics`)")]
    Ack,
}

/// What one stdout line is, decided once for the exporter and `check-plugin` alike.
#[derive(Debug)]
pub enum LineOutcome {
    /// A `hello`.
    Hello(PluginHello),
    /// A `metrics` line: its batch, or why the whole batch was refused. What validation
    /// dropped went to the sink given to [`parse_line`].
    Metrics {
        /// The collect it answers, if given.
        id: Option<u64>,
        /// The batch, or why it was refused whole.
        batch: Result<Arc<Batch>, Rejection>,
    },
    /// An `error` line.
    Error {
        /// The collect it answers, if given.
        id: Option<u64>,
        /// The plugin's message.
        message: String,
    },
    /// A `log` line.
    Log(LogLevel, String),
    /// Not a protocol message: dropped and counted as `protocol`.
    Invalid(ProtocolError),
    /// A message with more series than `max_series`, refused while parsing.
    Rejected(Rejection),
}

/// Parses and checks one stdout line: for `metrics`, the budgets, validation (drops go to
/// `sink`) and rendering.
pub fn parse_line(line: &[u8], opts: &BatchOptions, sink: &mut impl DropSink) -> LineOutcome {
    match read_message(line, opts) {
        Message::Batch { id, families } => LineOutcome::Metrics {
            id,
            batch: build_batch(families, opts, sink),
        },
        Message::Other(outcome) => outcome,
    }
}

/// A stdout line read: a batch still to build, or what the line is otherwise.
enum Message {
    /// The families of a `metrics` line.
    Batch {
        id: Option<u64>,
        families: Vec<plugin_protocol::Family>,
    },
    /// Any other line.
    Other(LineOutcome),
}

/// Reads one stdout line; a `metrics` line's batch is left to the caller to build.
fn read_message(line: &[u8], opts: &BatchOptions) -> Message {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Message::Other(LineOutcome::Invalid(ProtocolError::Blank));
    }
    let msg = match PluginMessage::from_line_limited(line, opts.max_series) {
        Ok(m) => m,
        Err(LineError::TooManySamples { limit }) => {
            return Message::Other(LineOutcome::Rejected(Rejection::SeriesWhileParsing {
                max: limit,
            }))
        }
        Err(LineError::Json(e)) => {
            return Message::Other(LineOutcome::Invalid(
                if std::str::from_utf8(line).is_err() {
                    ProtocolError::Utf8
                } else {
                    ProtocolError::Json(e.to_string())
                },
            ))
        }
    };
    Message::Other(match msg {
        PluginMessage::Metrics(m) => {
            return Message::Batch {
                id: m.id,
                families: m.families,
            }
        }
        PluginMessage::Hello(h) => LineOutcome::Hello(h),
        PluginMessage::Error(e) => LineOutcome::Error {
            id: e.id,
            message: e.message,
        },
        PluginMessage::Log(l) => LineOutcome::Log(l.level, l.message),
        PluginMessage::Processed(_) => LineOutcome::Invalid(ProtocolError::Processed),
        PluginMessage::Ack(_) => LineOutcome::Invalid(ProtocolError::Ack),
    })
}

/// Parses a line like [`parse_line`], with the families of a `metrics` line sent through
/// `processors` before the batch is built.
async fn parse_processed(
    line: &[u8],
    opts: &BatchOptions,
    processors: &[ProcessorHandle],
    sink: &mut impl DropSink,
) -> LineOutcome {
    match read_message(line, opts) {
        Message::Batch { id, families } => LineOutcome::Metrics {
            id,
            batch: match pipeline::run(processors, families, opts).await {
                Some(families) => build_batch(families, opts, sink),
                None => Ok(Arc::new(Batch::empty())),
            },
        },
        Message::Other(outcome) => outcome,
    }
}

/// Why a plugin's `hello` makes it unusable, if it does.
pub fn hello_problem(h: &PluginHello) -> Option<String> {
    (h.protocol != plugin_protocol::PROTOCOL_VERSION).then(|| {
        format!(
            "plugin speaks protocol version {}, this exporter speaks only {}",
            h.protocol,
            plugin_protocol::PROTOCOL_VERSION
        )
    })
}

/// Handles to a running plugin's I/O tasks.
pub struct Io {
    /// Lines to write to stdin; dropping it closes stdin once queued lines are written.
    pub stdin: Option<mpsc::Sender<String>>,
    /// Events from stdout.
    pub events: mpsc::Receiver<Event>,
}

impl Io {
    /// Queues a message for stdin. Returns false when the plugin is not reading (queue full)
    /// or stdin is closed.
    pub fn send(&self, msg: &HostMessage) -> bool {
        match &self.stdin {
            Some(tx) => tx.try_send(msg.to_line()).is_ok(),
            None => false,
        }
    }
}

/// Starts the three I/O tasks of a freshly spawned plugin, taking its pipe ends.
pub fn start(
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    opts: BatchOptions,
    processors: Arc<[ProcessorHandle]>,
) -> std::io::Result<Io> {
    let stdin = pipe::Sender::from_owned_fd(stdin)?;
    let stdout = pipe::Receiver::from_owned_fd(stdout)?;
    let stderr = pipe::Receiver::from_owned_fd(stderr)?;
    let (in_tx, in_rx) = mpsc::channel(16);
    let (ev_tx, ev_rx) = mpsc::channel(16);
    tokio::spawn(write_stdin(stdin, in_rx));
    tokio::spawn(read_stderr(stderr, opts.plugin.clone()));
    tokio::spawn(read_stdout(stdout, ev_tx, opts, processors));
    Ok(Io {
        stdin: Some(in_tx),
        events: ev_rx,
    })
}

async fn write_stdin(mut pipe: pipe::Sender, mut rx: mpsc::Receiver<String>) {
    while let Some(line) = rx.recv().await {
        if pipe.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
    // The sender was dropped: the pipe closes here, which is the plugin's stdin EOF.
}

/// Counts what validation drops and keeps the first reason, for one log line per batch.
#[derive(Default)]
struct LoggedDrops {
    drops: Drops,
    first: Option<String>,
}

impl DropSink for LoggedDrops {
    fn dropped(&mut self, site: DropSite<'_>, reason: DropReason) {
        if self.first.is_none() {
            self.first = Some(describe(&site, &reason));
        }
        self.drops.dropped(site, reason);
    }
}

async fn read_stdout(
    pipe: pipe::Receiver,
    tx: mpsc::Sender<Event>,
    opts: BatchOptions,
    processors: Arc<[ProcessorHandle]>,
) {
    let mut reader = LineReader::new(pipe, opts.max_line);
    let plugin = opts.plugin.as_str();
    loop {
        let event = match reader.next_line().await {
            Ok(Some(Line::Complete(line))) => {
                let mut sink = LoggedDrops::default();
                let outcome = if processors.is_empty() {
                    parse_line(&line, &opts, &mut sink)
                } else {
                    parse_processed(&line, &opts, &processors, &mut sink).await
                };
                if let Some(first) = &sink.first {
                    let d = &sink.drops;
                    tracing::warn!(plugin, invalid_metric = d.invalid_metric,
                        duplicate_series = d.duplicate_series, first = %first,
                        "dropped invalid series from a batch");
                }
                match outcome {
                    LineOutcome::Hello(h) => Event::Hello(h),
                    LineOutcome::Metrics { id, batch } => match batch {
                        Ok(batch) => Event::Metrics {
                            id,
                            batch,
                            drops: sink.drops,
                        },
                        Err(rejection) => Event::Rejected { id, rejection },
                    },
                    LineOutcome::Error { id, message } => Event::Error { id, message },
                    LineOutcome::Log(level, message) => {
                        log_line(plugin, level, &message);
                        continue;
                    }
                    LineOutcome::Invalid(e) => {
                        tracing::warn!(plugin, error = %e, "dropped an invalid protocol line");
                        Event::Dropped(ErrorKind::Protocol)
                    }
                    LineOutcome::Rejected(rejection) => Event::Rejected {
                        id: None,
                        rejection,
                    },
                }
            }
            // Almost certainly an oversized answer: fail the open collect now rather than
            // let it run into its deadline.
            Ok(Some(Line::TooLong { bytes })) => Event::Rejected {
                id: None,
                rejection: Rejection::Line {
                    bytes,
                    max: opts.max_line,
                },
            },
            Ok(None) | Err(_) => {
                let _ = tx.send(Event::Eof).await;
                return;
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

fn log_line(plugin: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::Debug => tracing::debug!(plugin, source = "protocol", "{message}"),
        LogLevel::Info => tracing::info!(plugin, source = "protocol", "{message}"),
        LogLevel::Warn => tracing::warn!(plugin, source = "protocol", "{message}"),
        LogLevel::Error => tracing::error!(plugin, source = "protocol", "{message}"),
    }
}
