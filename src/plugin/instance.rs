//! The I/O of one running plugin process: a writer task for stdin, a reader task that turns
//! stdout lines into [`Event`]s (parsing, validating and rendering batches off the supervisor's
//! task), and a stderr task that forwards the plugin's log, rate limited.

use super::lines::{Line, LineReader};
use crate::exposition::render::{render, RenderedFamily};
use crate::exposition::validate::{
    validate, Drops, ValidateOptions, DEFAULT_MAX_LABEL_NAME_LEN, DEFAULT_MAX_LABEL_VALUE_LEN,
};
use crate::selfmetrics::{kind, limit};
use plugin_protocol::{HostMessage, LineError, LogLevel, PluginHello, PluginMessage};
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
    /// A batch refused whole for breaking a budget; it answers a collect with failure.
    Rejected {
        /// The collect it answers, if known (an oversized batch is refused before its id).
        id: Option<u64>,
        /// Error kind to count.
        kind: &'static str,
        /// Limit to count a hit of.
        limit: &'static str,
        /// What was wrong, for the log.
        detail: String,
    },
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
    /// Most series accepted in one batch.
    pub max_series: usize,
    /// Most labels per series (the plugin label included).
    pub max_labels: usize,
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
                // stdout carries protocol lines only (PROTOCOL.md): a blank line is an error too.
                if line.iter().all(u8::is_ascii_whitespace) {
                    tracing::warn!(plugin = %opts.plugin, "dropped a blank line on stdout");
                    if tx.send(Event::Dropped(kind::PROTOCOL)).await.is_err() {
                        return;
                    }
                    continue;
                }
                match parse_line(&line, extra, &opts) {
                    Some(ev) => ev,
                    None => continue,
                }
            }
            // Almost certainly an oversized answer: fail the open collect now rather than
            // let it run into its deadline.
            Ok(Some(Line::TooLong { bytes })) => Event::Rejected {
                id: None,
                kind: kind::LINE_TOO_LONG,
                limit: limit::MAX_LINE,
                detail: format!(
                    "a line of {bytes} bytes or more, over max_line {}",
                    opts.max_line
                ),
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

/// Turns one stdout line into an event: parse, and for `metrics` check the budgets,
/// validate and render. `log` lines are written to the exporter's log here and yield no event.
pub fn parse_line(line: &[u8], plugin_label: Option<&str>, opts: &ReaderOptions) -> Option<Event> {
    let plugin = opts.plugin.as_str();
    let msg = match PluginMessage::from_line_limited(line, opts.max_series) {
        Ok(m) => m,
        Err(LineError::TooManySamples { limit }) => {
            return Some(Event::Rejected {
                id: None,
                kind: kind::SERIES_LIMIT,
                limit: limit::MAX_SERIES,
                detail: format!("more than max_series {limit} series in one batch"),
            })
        }
        Err(LineError::Json(e)) => {
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
        PluginMessage::Metrics(m) => match build_batch(m.families, plugin_label, opts) {
            Ok((batch, drops)) => Event::Metrics {
                id: m.id,
                batch,
                drops,
            },
            Err(r) => Event::Rejected {
                id: m.id,
                kind: r.kind,
                limit: r.limit,
                detail: r.detail,
            },
        },
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

/// A batch refused whole for breaking a budget.
#[derive(Debug)]
pub struct Rejection {
    /// Error kind to count.
    pub kind: &'static str,
    /// Limit to count a hit of.
    pub limit: &'static str,
    /// What was wrong, for the log.
    pub detail: String,
}

/// Turns a plugin's families into a served batch: whole-batch budgets first (series count,
/// labels), then validation (what it drops is returned) and rendering in both formats.
pub fn build_batch(
    families: Vec<plugin_protocol::Family>,
    plugin_label: Option<&str>,
    opts: &ReaderOptions,
) -> Result<(Arc<Batch>, Drops), Rejection> {
    let series: usize = families.iter().map(|f| f.samples.len()).sum();
    if series > opts.max_series {
        return Err(Rejection {
            kind: kind::SERIES_LIMIT,
            limit: limit::MAX_SERIES,
            detail: format!(
                "{series} series in one batch, over max_series {}",
                opts.max_series
            ),
        });
    }
    if let Some(detail) = label_budget_broken(&families, opts.max_labels, plugin_label) {
        return Err(Rejection {
            kind: kind::LABEL_LIMIT,
            limit: limit::MAX_LABELS,
            detail,
        });
    }
    let mut drops = Drops::default();
    let vopts = ValidateOptions {
        max_labels: opts.max_labels,
        ..ValidateOptions::with_extra_label(plugin_label.map(|l| (l, opts.plugin.as_str())))
    };
    let families = validate(families, &vopts, &mut drops);
    let families = render(families, vopts.extra_label, plugin_label.is_none());
    let series = families.iter().map(|f| f.series).sum();
    let batch = Batch {
        families,
        series,
        received: SystemTime::now(),
        merge_counted: AtomicBool::new(false),
    };
    Ok((Arc::new(batch), drops))
}

/// The first series breaking the label budget, described; `None` when all are within it.
/// Counts the plugin label, as a scraper's `label_limit` would.
fn label_budget_broken(
    families: &[plugin_protocol::Family],
    max_labels: usize,
    plugin_label: Option<&str>,
) -> Option<String> {
    let allowed = max_labels.saturating_sub(usize::from(plugin_label.is_some()));
    for f in families {
        for s in &f.samples {
            if s.labels.0.len() > allowed {
                return Some(format!(
                    "a series of {} has {} labels, over max_labels {max_labels}",
                    f.name,
                    s.labels.0.len() + usize::from(plugin_label.is_some())
                ));
            }
            for (k, v) in &s.labels.0 {
                if k.len() > DEFAULT_MAX_LABEL_NAME_LEN || v.len() > DEFAULT_MAX_LABEL_VALUE_LEN {
                    return Some(format!(
                        "a series of {} has a label over {DEFAULT_MAX_LABEL_NAME_LEN} bytes of name or {DEFAULT_MAX_LABEL_VALUE_LEN} bytes of value",
                        f.name
                    ));
                }
            }
        }
    }
    None
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

/// Forwards a plugin's stderr into the exporter's log, line by line, cut and rate limited.
pub async fn read_stderr(pipe: pipe::Receiver, plugin: String) {
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
