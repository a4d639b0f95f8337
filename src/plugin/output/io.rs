//! The I/O of one output child: a writer task for stdin, a reader task that turns stdout
//! lines into [`Event`]s (parsing off the supervisor's task; `log` lines go to the log
//! here), and the stderr forwarder.

use std::os::fd::OwnedFd;

use plugin_protocol::{LineError, LogLevel, PluginHello, PluginMessage};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::plugin::lines::{Line, LineReader};
use crate::plugin::stderr::read_stderr;

/// What the reader task reports.
#[derive(Debug)]
pub enum Event {
    /// The output's `hello`.
    Hello(PluginHello),
    /// An `ack` answer.
    Ack(u64),
    /// An `error` answer.
    Error {
        /// The `write` it answers, if given.
        id: Option<u64>,
        /// The output's message.
        message: String,
    },
    /// A line that is no message an output sends.
    Garbage(String),
    /// A `log` line (the reader task logs it and reports nothing).
    Log(LogLevel, String),
    /// Stdout reached end of file (or failed).
    Eof,
}

/// Handles to a running output's I/O tasks.
pub struct Io {
    /// Lines to write to stdin; dropping it closes stdin once queued lines are written.
    pub stdin: Option<mpsc::Sender<String>>,
    /// Events from stdout.
    pub events: mpsc::Receiver<Event>,
}

impl Io {
    /// Queues a line for stdin. False when the output is not reading (queue full) or stdin
    /// is closed.
    pub fn send_line(&self, line: String) -> bool {
        match &self.stdin {
            Some(tx) => tx.try_send(line).is_ok(),
            None => false,
        }
    }
}

/// Starts the three I/O tasks of a freshly spawned output, taking its pipe ends.
pub fn start(
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    name: &str,
    max_line: usize,
) -> std::io::Result<Io> {
    let stdin = pipe::Sender::from_owned_fd(stdin)?;
    let stdout = pipe::Receiver::from_owned_fd(stdout)?;
    let stderr = pipe::Receiver::from_owned_fd(stderr)?;
    let (in_tx, in_rx) = mpsc::channel(16);
    let (ev_tx, ev_rx) = mpsc::channel(16);
    tokio::spawn(write_stdin(stdin, in_rx));
    tokio::spawn(read_stderr(stderr, name.to_string()));
    tokio::spawn(read_stdout(stdout, ev_tx, name.to_string(), max_line));
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
}

/// What one stdout line of an output is, decided once for the exporter and
/// `check-plugin --role output` alike. An output sends no families: a line carrying samples
/// is refused as it streams in.
pub fn parse_line(line: &[u8]) -> Event {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Event::Garbage("an empty line".to_string());
    }
    let msg = match PluginMessage::from_line_limited(line, 0) {
        Ok(m) => m,
        Err(LineError::TooManySamples { .. }) => {
            return Event::Garbage("a line with samples: an output answers `ack`".to_string())
        }
        Err(LineError::Json(e)) => return Event::Garbage(e.to_string()),
    };
    match msg {
        PluginMessage::Hello(h) => Event::Hello(h),
        PluginMessage::Ack(a) => Event::Ack(a.id),
        PluginMessage::Error(e) => Event::Error {
            id: e.id,
            message: e.message,
        },
        PluginMessage::Log(l) => Event::Log(l.level, l.message),
        PluginMessage::Metrics(_) | PluginMessage::Processed(_) => Event::Garbage(
            "a `metrics` or `processed` line: an output answers with `ack`".to_string(),
        ),
    }
}

fn log_line(name: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::Debug => tracing::debug!(plugin = name, source = "protocol", "{message}"),
        LogLevel::Info => tracing::info!(plugin = name, source = "protocol", "{message}"),
        LogLevel::Warn => tracing::warn!(plugin = name, source = "protocol", "{message}"),
        LogLevel::Error => tracing::error!(plugin = name, source = "protocol", "{message}"),
    }
}

async fn read_stdout(pipe: pipe::Receiver, tx: mpsc::Sender<Event>, name: String, max_line: usize) {
    let mut reader = LineReader::new(pipe, max_line);
    loop {
        let event = match reader.next_line().await {
            Ok(Some(Line::Complete(line))) => match parse_line(&line) {
                Event::Log(level, message) => {
                    log_line(&name, level, &message);
                    continue;
                }
                ev => ev,
            },
            Ok(Some(Line::TooLong { bytes })) => Event::Garbage(format!(
                "a line of {bytes} bytes or more, over max_line {max_line}"
            )),
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
