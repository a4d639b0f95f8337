//! The I/O of one running plugin process: a writer task for stdin, a reader task that turns
//! stdout lines into [`Event`]s (parsing, validating and rendering batches off the supervisor's
//! task), and a stderr task that forwards the plugin's log, rate limited.

use super::lines::{Line, LineReader};
use crate::exposition::render::{render, RenderedFamily};
use crate::exposition::validate::{validate, Drops, ValidateOptions};
use crate::selfmetrics::kind;
use plugin_protocol::{HostMessage, LogLevel, PluginHello, PluginMessage};
use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// A validated, rendered batch of one plugin: what a scrape serves for it.
#[derive(Debug)]
pub struct Batch {
    /// Families rendered in both formats.
    pub families: Vec<RenderedFamily>,
    /// Number of series.
    pub series: usize,
    /// When it arrived.
    pub received: SystemTime,
    /// Set once merge drops of this batch were counted, so a batch served by many scrapes
    /// counts its conflicts once.
    pub merge_counted: AtomicBool,
}

impl Batch {
    /// A batch with no families.
    pub fn empty() -> Self {
        Batch {
            families: Vec::new(),
            series: 0,
            received: SystemTime::now(),
            merge_counted: AtomicBool::new(false),
        }
    }
}

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
    Dropped(&'static str),
    /// Stdout reached end of file (or failed).
    Eof,
}

/// Settings the reader needs.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Plugin name.
    pub plugin: String,
    /// The plugin label name, empty when disabled.
    pub plugin_label: String,
    /// Longest accepted protocol line in bytes.
    pub max_line: usize,
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
    opts: ReaderOptions,
) -> std::io::Result<Io> {
    let stdin = pipe::Sender::from_owned_fd(stdin)?;
    let stdout = pipe::Receiver::from_owned_fd(stdout)?;
    let stderr = pipe::Receiver::from_owned_fd(stderr)?;
    let (in_tx, in_rx) = mpsc::channel(16);
    let (ev_tx, ev_rx) = mpsc::channel(16);
    tokio::spawn(write_stdin(stdin, in_rx));
    tokio::spawn(read_stdout(stdout, ev_tx, opts.clone()));
    tokio::spawn(read_stderr(stderr, opts.plugin));
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

async fn read_stdout(pipe: pipe::Receiver, tx: mpsc::Sender<Event>, opts: ReaderOptions) {
    let mut reader = LineReader::new(pipe, opts.max_line);
    let extra = (!opts.plugin_label.is_empty()).then_some(opts.plugin_label.as_str());
    loop {
        let event = match reader.next_line().await {
            Ok(Some(Line::Complete(line))) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match parse_line(&line, extra, &opts.plugin) {
                    Some(ev) => ev,
                    None => continue,
                }
            }
            Ok(Some(Line::TooLong { bytes })) => {
                tracing::warn!(plugin = %opts.plugin, bytes, limit = opts.max_line, "dropped a protocol line over the line limit");
                Event::Dropped(kind::LINE_TOO_LONG)
            }
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

/// Turns one stdout line into an event: parse, and for `metrics` validate and render.
/// `log` lines are written to the exporter's log here and yield no event.
pub fn parse_line(line: &[u8], plugin_label: Option<&str>, plugin: &str) -> Option<Event> {
    let msg = match PluginMessage::from_line(line) {
        Ok(m) => m,
        Err(e) => {
            let what = if std::str::from_utf8(line).is_err() {
                "invalid UTF-8".to_string()
            } else {
                e.to_string()
            };
            tracing::warn!(plugin, error = %what, "dropped an invalid protocol line");
            return Some(Event::Dropped(kind::PROTOCOL));
        }
    };
    Some(match msg {
        PluginMessage::Hello(h) => Event::Hello(h),
        PluginMessage::Metrics(m) => {
            let mut drops = Drops::default();
            let opts = ValidateOptions::with_extra_label(plugin_label.map(|l| (l, plugin)));
            let families = validate(m.families, &opts, &mut drops);
            let families = render(families, opts.extra_label, plugin_label.is_none());
            let series = families.iter().map(|f| f.series).sum();
            Event::Metrics {
                id: m.id,
                batch: Arc::new(Batch {
                    families,
                    series,
                    received: SystemTime::now(),
                    merge_counted: AtomicBool::new(false),
                }),
                drops,
            }
        }
        PluginMessage::Error(e) => Event::Error {
            id: e.id,
            message: e.message,
        },
        PluginMessage::Log(l) => {
            log_line(plugin, l.level, &l.message);
            return None;
        }
    })
}

fn log_line(plugin: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::Debug => tracing::debug!(plugin, source = "protocol", "{message}"),
        LogLevel::Info => tracing::info!(plugin, source = "protocol", "{message}"),
        LogLevel::Warn => tracing::warn!(plugin, source = "protocol", "{message}"),
        LogLevel::Error => tracing::error!(plugin, source = "protocol", "{message}"),
    }
}

/// Longest stderr line forwarded; the rest of a longer line is cut.
const STDERR_MAX_LINE: usize = 4096;
/// Sustained stderr lines per second forwarded to the log, and the burst allowed.
const STDERR_RATE: f64 = 20.0;
const STDERR_BURST: f64 = 100.0;

async fn read_stderr(pipe: pipe::Receiver, plugin: String) {
    let mut reader = LineReader::new(pipe, STDERR_MAX_LINE);
    let mut tokens = STDERR_BURST;
    let mut last = Instant::now();
    let mut suppressed: u64 = 0;
    while let Ok(Some(line)) = reader.next_line().await {
        let now = Instant::now();
        tokens = (tokens + now.duration_since(last).as_secs_f64() * STDERR_RATE).min(STDERR_BURST);
        last = now;
        if tokens < 1.0 {
            suppressed += 1;
            continue;
        }
        tokens -= 1.0;
        if suppressed > 0 {
            tracing::warn!(
                plugin,
                lines = suppressed,
                "suppressed plugin stderr lines over the rate limit"
            );
            suppressed = 0;
        }
        match line {
            Line::Complete(l) => {
                tracing::info!(plugin, source = "stderr", "{}", String::from_utf8_lossy(&l))
            }
            Line::TooLong { bytes } => {
                tracing::info!(
                    plugin,
                    source = "stderr",
                    bytes,
                    "(a stderr line over 4 KiB, not shown)"
                )
            }
        }
    }
    if suppressed > 0 {
        tracing::warn!(
            plugin,
            lines = suppressed,
            "suppressed plugin stderr lines over the rate limit"
        );
    }
}

/// How long to wait for the exit status after stdout closed before calling it
/// "closed stdout but kept running".
pub const EOF_EXIT_WAIT: Duration = Duration::from_millis(500);
