//! A small SDK for plugins written in Rust: declare families in a [`Batch`], answer collects
//! with a [`Collector`] run by [`run`], or push batches with a [`Pusher`].
//!
//! The SDK takes care of the protocol rules that are easy to get wrong: the plugin's `hello`,
//! echoing each collect's `id`, answering a failed collect with an `error` (the plugin keeps
//! running), one flushed line per message, nothing but protocol lines on stdout, ignoring
//! message types of later protocol versions, refusing a host that speaks another version, and
//! exiting on `shutdown` or at the end of stdin. Names, labels and values are not checked here:
//! the host validates every batch and counts what it drops (see `PROTOCOL.md`).
//!
//! A plugin answering collects, run here against an in-memory conversation ([`run_with`] is
//! [`run`] with the reader and writer passed in; a real plugin calls `sdk::run(...)` from
//! `main` and talks over stdin and stdout):
//!
//! ```
//! use plugin_protocol::sdk::{self, Batch};
//!
//! let mut jobs_done = 0u64;
//! let collect = |batch: &mut Batch| -> Result<(), String> {
//!     jobs_done += 10;
//!     batch
//!         .counter("app_jobs_done_total", "Jobs finished.")
//!         .sample(&[("queue", "mail")], jobs_done as f64);
//!     batch
//!         .gauge("app_queue_length", "Jobs waiting.")
//!         .sample(&[("queue", "mail")], 2.0);
//!     Ok(())
//! };
//!
//! let host = concat!(
//!     r#"{"type":"hello","protocol":1,"name":"app","config":{}}"#, "\n",
//!     r#"{"type":"collect","id":1,"deadline_ms":9500}"#, "\n",
//!     r#"{"type":"shutdown"}"#, "\n",
//! );
//! let mut out = Vec::new();
//! sdk::run_with(host.as_bytes(), &mut out, "app-exporter", "2.0.1", collect).unwrap();
//!
//! let out = String::from_utf8(out).unwrap();
//! let lines: Vec<&str> = out.lines().collect();
//! assert_eq!(
//!     lines,
//!     [
//!         r#"{"type":"hello","protocol":1,"name":"app-exporter","version":"2.0.1"}"#,
//!         concat!(
//!             r#"{"type":"metrics","id":1,"families":["#,
//!             r#"{"name":"app_jobs_done_total","type":"counter","help":"Jobs finished.","#,
//!             r#""samples":[{"labels":{"queue":"mail"},"value":10.0}]},"#,
//!             r#"{"name":"app_queue_length","type":"gauge","help":"Jobs waiting.","#,
//!             r#""samples":[{"labels":{"queue":"mail"},"value":2.0}]}]}"#,
//!         ),
//!     ]
//! );
//! ```
//!
//! A struct implementing [`Collector`] keeps state between collects and can read the `config`
//! of the host's `hello` in [`Collector::configure`]; a closure like the one above is a
//! collector too.

use crate::{
    ErrorMessage, Family, HostHello, HostMessage, LogLevel, LogMessage, MetricType, PluginHello,
    PluginMessage, Sample, Value, PROTOCOL_VERSION,
};
use serde::Serialize;
use std::io::{self, BufRead, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One batch of metric families under construction: the answer to one collect, or one push.
///
/// Each method adding a family returns a [`FamilyBuilder`] for its samples. Asking twice for
/// the same name and type continues the family already in the batch (its first help and unit
/// stay), so a loop can add to a family wherever it likes.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    families: Vec<Family>,
    log: Log,
    deadline: Option<Instant>,
}

impl Batch {
    /// An empty batch. An empty batch is a valid answer: the plugin has nothing to report.
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter family; its name ends in `_total`. Add samples with [`FamilyBuilder::sample`].
    pub fn counter(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Counter, name.into(), help.into())
    }

    /// A gauge family. Add samples with [`FamilyBuilder::sample`].
    pub fn gauge(&mut self, name: impl Into<String>, help: impl Into<String>) -> FamilyBuilder<'_> {
        self.family(MetricType::Gauge, name.into(), help.into())
    }

    /// An untyped family. Add samples with [`FamilyBuilder::sample`].
    pub fn untyped(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Untyped, name.into(), help.into())
    }

    /// A histogram family. Add samples with [`FamilyBuilder::observe_buckets`].
    pub fn histogram(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Histogram, name.into(), help.into())
    }

    /// A summary family. Add samples with [`FamilyBuilder::quantiles`].
    pub fn summary(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
    ) -> FamilyBuilder<'_> {
        self.family(MetricType::Summary, name.into(), help.into())
    }

    fn family(&mut self, kind: MetricType, name: String, help: String) -> FamilyBuilder<'_> {
        let index = match self
            .families
            .iter()
            .position(|f| f.name == name && f.kind == kind)
        {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name,
                    kind,
                    help,
                    unit: None,
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        FamilyBuilder {
            family: &mut self.families[index],
        }
    }

    /// `log` lines to send with this batch, before its metrics (or its error).
    pub fn log(&mut self) -> &mut Log {
        &mut self.log
    }

    /// When the host stops waiting for this batch, for a batch answering a collect; `None` for
    /// a batch built by the plugin itself (a push).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The families added so far.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The families, consuming the batch (its log lines are dropped).
    pub fn into_families(self) -> Vec<Family> {
        self.families
    }

    /// True when no family was added.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }
}

/// Adds samples to one family of a [`Batch`]; returned by [`Batch::gauge`] and its siblings.
///
/// Use the method matching the family's type: [`sample`](Self::sample) for counters, gauges
/// and untyped families, [`observe_buckets`](Self::observe_buckets) for histograms,
/// [`quantiles`](Self::quantiles) for summaries. The host drops samples of the wrong shape.
#[derive(Debug)]
pub struct FamilyBuilder<'a> {
    family: &'a mut Family,
}

impl FamilyBuilder<'_> {
    /// Sets the family's unit (`seconds`, `bytes`, ...), which its name must end with (before
    /// `_total` for a counter). Used for the OpenMetrics `# UNIT` line.
    pub fn unit(self, unit: impl Into<String>) -> Self {
        self.family.unit = Some(unit.into());
        self
    }

    /// Adds a counter, gauge or untyped series. NaN and the infinities travel as the protocol's
    /// `"NaN"`, `"+Inf"` and `"-Inf"`.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.family.samples.push(Sample {
            labels: labels.iter().copied().collect(),
            value: Some(Value(value)),
            ..Sample::default()
        });
        self
    }

    /// Adds a histogram series: cumulative `(le, count)` buckets in increasing `le`, the sum
    /// and the count of all observations. The `+Inf` bucket may be left out.
    pub fn observe_buckets(
        &mut self,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) -> &mut Self {
        self.family.samples.push(Sample {
            labels: labels.iter().copied().collect(),
            buckets: Some(
                buckets
                    .iter()
                    .map(|&(le, n)| crate::Bucket {
                        le: Value(le),
                        count: Value(n as f64),
                    })
                    .collect(),
            ),
            sum: Some(Value(sum)),
            count: Some(Value(count as f64)),
            ..Sample::default()
        });
        self
    }

    /// Adds a summary series: `(quantile, value)` pairs in increasing quantile (0 to 1), the sum
    /// and the count of all observations.
    pub fn quantiles(
        &mut self,
        labels: &[(&str, &str)],
        quantiles: &[(f64, f64)],
        sum: f64,
        count: u64,
    ) -> &mut Self {
        self.family.samples.push(Sample {
            labels: labels.iter().copied().collect(),
            quantiles: Some(
                quantiles
                    .iter()
                    .map(|&(q, v)| crate::Quantile {
                        quantile: Value(q),
                        value: Value(v),
                    })
                    .collect(),
            ),
            sum: Some(Value(sum)),
            count: Some(Value(count as f64)),
            ..Sample::default()
        });
        self
    }
}

/// `log` lines waiting to be sent to the host, which writes them to its log tagged with the
/// plugin's name. The structured alternative to `eprintln!`.
#[derive(Debug, Clone, Default)]
pub struct Log {
    lines: Vec<LogMessage>,
}

impl Log {
    /// Queues a line at `level`.
    pub fn line(&mut self, level: LogLevel, message: impl Into<String>) -> &mut Self {
        self.lines.push(LogMessage {
            level,
            message: message.into(),
        });
        self
    }

    /// Queues a `debug` line.
    pub fn debug(&mut self, message: impl Into<String>) -> &mut Self {
        self.line(LogLevel::Debug, message)
    }

    /// Queues an `info` line.
    pub fn info(&mut self, message: impl Into<String>) -> &mut Self {
        self.line(LogLevel::Info, message)
    }

    /// Queues a `warn` line.
    pub fn warn(&mut self, message: impl Into<String>) -> &mut Self {
        self.line(LogLevel::Warn, message)
    }

    /// Queues an `error` line.
    pub fn error(&mut self, message: impl Into<String>) -> &mut Self {
        self.line(LogLevel::Error, message)
    }

    /// The queued lines.
    pub fn lines(&self) -> &[LogMessage] {
        &self.lines
    }
}

/// What a plugin answering collects implements; [`run`] drives it.
///
/// Any `FnMut(&mut Batch) -> Result<(), String>` closure is a collector (without
/// configuration).
pub trait Collector {
    /// Called with each `hello` of the host, before the collects it precedes. `hello.config`
    /// is the plugin's `config` from the exporter's configuration (`{}` when absent).
    ///
    /// An `Err` is logged, and every collect is answered with an `error` naming it until the
    /// next `hello` (a restart): the plugin shows as down with the reason, without a restart
    /// loop. The default accepts any configuration.
    fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
        let _ = (hello, log);
        Ok(())
    }

    /// Fills `batch` with one complete set of families. An `Err` (or a panic) is answered
    /// with an `error` message; the families added are discarded, the batch's log lines are
    /// still sent, and the plugin keeps running.
    fn collect(&mut self, batch: &mut Batch) -> Result<(), String>;
}

impl<F: FnMut(&mut Batch) -> Result<(), String>> Collector for F {
    fn collect(&mut self, batch: &mut Batch) -> Result<(), String> {
        self(batch)
    }
}

/// Runs a plugin answering collects over stdin and stdout until `shutdown` or the end of
/// stdin. See [`run_with`].
pub fn run<C: Collector>(name: &str, version: &str, collector: C) -> io::Result<()> {
    run_with(io::stdin().lock(), io::stdout(), name, version, collector)
}

/// Runs a plugin answering collects, reading the host's lines from `reader` and writing the
/// plugin's to `writer`.
///
/// Sends the plugin's `hello` (`name`, `version`), then answers each `collect` with `metrics`
/// or `error` carrying its `id`. Returns `Ok` on `shutdown`, at the end of input, and when the
/// host has gone (a broken pipe); an error when the host speaks another protocol version or
/// reading or writing fails otherwise. On an error the plugin should print it to stderr
/// (which the exporter logs) and exit with a non-zero status.
///
/// Lines that are not host messages are skipped, with a note on stderr unless they are a
/// message type of a later protocol version.
pub fn run_with<R: BufRead, W: Write, C: Collector>(
    reader: R,
    writer: W,
    name: &str,
    version: &str,
    collector: C,
) -> io::Result<()> {
    match serve(reader, writer, name, version, collector) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

fn serve<R: BufRead, W: Write, C: Collector>(
    mut reader: R,
    mut out: W,
    name: &str,
    version: &str,
    mut collector: C,
) -> io::Result<()> {
    send(&mut out, &hello(name, version))?;
    let mut config_error: Option<String> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let Some(msg) = parse_host_line(name, &line) else {
            continue;
        };
        match msg {
            HostMessage::Hello(h) => {
                check_version(&h)?;
                let mut log = Log::default();
                config_error = collector
                    .configure(&h, &mut log)
                    .err()
                    .map(|e| format!("configuration: {e}"));
                if let Some(e) = &config_error {
                    log.error(e.clone());
                }
                send_logs(&mut out, &log)?;
            }
            HostMessage::Collect(c) => {
                let mut batch = Batch {
                    deadline: Some(Instant::now() + Duration::from_millis(c.deadline_ms)),
                    ..Batch::default()
                };
                let result = match &config_error {
                    Some(e) => Err(e.clone()),
                    None => {
                        match panic::catch_unwind(AssertUnwindSafe(|| {
                            collector.collect(&mut batch)
                        })) {
                            Ok(r) => r,
                            // The panic hook has already printed the message to stderr.
                            Err(p) => Err(format!("the collector panicked: {}", panic_text(&*p))),
                        }
                    }
                };
                send_logs(&mut out, &batch.log)?;
                match result {
                    Ok(()) => send(&mut out, &metrics(Some(c.id), &batch.families))?,
                    Err(message) => send(
                        &mut out,
                        &PluginMessage::Error(ErrorMessage {
                            id: Some(c.id),
                            message,
                        }),
                    )?,
                }
            }
            HostMessage::Shutdown(_) => return Ok(()),
        }
    }
}

/// Sends batches on the plugin's own schedule, for plugins in `mode: push`.
///
/// A background thread reads the host's lines, so the plugin notices `shutdown` and the end of
/// stdin: [`Pusher::sleep`] returns `false` then, which ends the plugin's loop.
///
/// ```
/// use plugin_protocol::sdk::{Batch, Pusher};
/// use std::time::Duration;
///
/// let host: &'static [u8] = b"{\"type\":\"hello\",\"protocol\":1,\"name\":\"backup\",\"config\":{}}\n{\"type\":\"shutdown\"}\n";
/// let mut out = Vec::new();
/// let mut pusher = Pusher::with_io(host, &mut out, "backup", "1.0.0").unwrap();
/// let mut pushes = 0;
/// loop {
///     let mut batch = Batch::new();
///     batch
///         .gauge("backup_last_success_timestamp_seconds", "When the last backup finished.")
///         .unit("seconds")
///         .sample(&[], 1735689600.0);
///     pusher.push(&batch).unwrap();
///     pushes += 1;
///     // Returns false as soon as the host says shutdown (here: at once).
///     if !pusher.sleep(Duration::from_secs(60)).unwrap() {
///         break;
///     }
/// }
/// drop(pusher);
/// assert_eq!(pushes, 1);
/// let out = String::from_utf8(out).unwrap();
/// assert!(out.lines().nth(1).unwrap().starts_with(r#"{"type":"metrics","families":[{"name":"backup_last"#));
/// ```
pub struct Pusher<W: Write> {
    out: W,
    host: Arc<HostState>,
}

/// What the reader thread has heard from the host.
#[derive(Default)]
struct HostState {
    heard: Mutex<Heard>,
    changed: Condvar,
}

#[derive(Default)]
struct Heard {
    hello: Option<HostHello>,
    stopped: bool,
    refused: Option<String>,
}

impl HostState {
    fn lock(&self) -> MutexGuard<'_, Heard> {
        // The reader thread only sets plain fields while holding the lock and cannot panic
        // there, so a poisoned lock still holds consistent data.
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Heard)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

impl Pusher<io::Stdout> {
    /// Starts pushing over stdin and stdout: sends the plugin's `hello` and starts reading the
    /// host's lines.
    pub fn start(name: &str, version: &str) -> io::Result<Self> {
        Self::with_io(io::BufReader::new(io::stdin()), io::stdout(), name, version)
    }
}

impl<W: Write> Pusher<W> {
    /// [`Pusher::start`] with the host's lines read from `reader` and the plugin's written to
    /// `writer`.
    pub fn with_io<R: BufRead + Send + 'static>(
        reader: R,
        mut writer: W,
        name: &str,
        version: &str,
    ) -> io::Result<Self> {
        send(&mut writer, &hello(name, version))?;
        let host = Arc::new(HostState::default());
        let listener = host.clone();
        let name = name.to_owned();
        std::thread::Builder::new()
            .name("plugin-host-reader".into())
            .spawn(move || listen(reader, &listener, &name))?;
        Ok(Pusher { out: writer, host })
    }

    /// Sends the batch's log lines, then its families as a push (`metrics` without `id`),
    /// which replaces everything pushed before. Build a new batch for each push.
    ///
    /// When the host has gone (broken pipe), nothing is sent and the pusher counts as
    /// stopped.
    pub fn push(&mut self, batch: &Batch) -> io::Result<()> {
        let sent = send_logs(&mut self.out, &batch.log)
            .and_then(|()| send(&mut self.out, &metrics(None, &batch.families)));
        self.gone_on_broken_pipe(sent)
    }

    /// Sends one `log` line.
    pub fn log(&mut self, level: LogLevel, message: impl Into<String>) -> io::Result<()> {
        let line = PluginMessage::Log(LogMessage {
            level,
            message: message.into(),
        });
        let sent = send(&mut self.out, &line);
        self.gone_on_broken_pipe(sent)
    }

    fn gone_on_broken_pipe(&self, sent: io::Result<()>) -> io::Result<()> {
        match sent {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.host.update(|h| h.stopped = true);
                Ok(())
            }
            r => r,
        }
    }

    /// Waits `period`, or less if the host says stop. `Ok(true)`: push again; `Ok(false)`: the
    /// host sent `shutdown`, closed stdin or has gone, so the plugin should exit. An error
    /// when the host speaks another protocol version: the plugin should print it to stderr
    /// and exit with a non-zero status.
    pub fn sleep(&self, period: Duration) -> io::Result<bool> {
        let end = Instant::now() + period;
        let mut heard = self.host.lock();
        loop {
            if let Some(e) = &heard.refused {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
            }
            if heard.stopped {
                return Ok(false);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(true);
            }
            heard = self
                .host
                .changed
                .wait_timeout(heard, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The host's `hello` (with the plugin's `config`), waiting up to `wait` for it; `None`
    /// when it did not come (the plugin runs by hand, or the host stopped first). An error
    /// when the host speaks another protocol version, as for [`Pusher::sleep`].
    pub fn host_hello(&self, wait: Duration) -> io::Result<Option<HostHello>> {
        let end = Instant::now() + wait;
        let mut heard = self.host.lock();
        loop {
            if let Some(e) = &heard.refused {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
            }
            if heard.hello.is_some() || heard.stopped {
                return Ok(heard.hello.clone());
            }
            let now = Instant::now();
            if now >= end {
                return Ok(None);
            }
            heard = self
                .host
                .changed
                .wait_timeout(heard, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// True once the host said stop (see [`Pusher::sleep`]).
    pub fn stopped(&self) -> bool {
        self.host.lock().stopped
    }
}

/// The reader thread of a [`Pusher`]: records the host's hello and when it says stop.
fn listen<R: BufRead>(mut reader: R, host: &HostState, name: &str) {
    let mut told_about_collect = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("{name}: reading from the host: {e}");
                break;
            }
        }
        match parse_host_line(name, &line) {
            Some(HostMessage::Hello(h)) => match check_version(&h) {
                Ok(()) => host.update(|s| s.hello = Some(h)),
                Err(e) => {
                    host.update(|s| {
                        s.refused = Some(e.to_string());
                        s.stopped = true;
                    });
                    return;
                }
            },
            Some(HostMessage::Collect(_)) if !told_about_collect => {
                eprintln!("{name}: this plugin pushes and answers no collect: configure it with `mode: push`");
                told_about_collect = true;
            }
            Some(HostMessage::Collect(_)) | None => {}
            Some(HostMessage::Shutdown(_)) => break,
        }
    }
    host.update(|s| s.stopped = true);
}

/// The plugin's `hello`.
fn hello(name: &str, version: &str) -> PluginMessage {
    PluginMessage::Hello(PluginHello {
        protocol: PROTOCOL_VERSION,
        name: Some(name.to_owned()),
        version: Some(version.to_owned()),
    })
}

/// Fails when the host speaks another protocol version.
fn check_version(hello: &HostHello) -> io::Result<()> {
    if hello.protocol == PROTOCOL_VERSION {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the host speaks protocol version {}, this plugin only {PROTOCOL_VERSION}",
            hello.protocol
        ),
    ))
}

/// Parses a line from the host; `None` for a line to skip. Message types this version does
/// not know are skipped quietly (later versions may add some), anything else with a note.
fn parse_host_line(name: &str, line: &[u8]) -> Option<HostMessage> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match HostMessage::from_line(line) {
        Ok(m) => Some(m),
        Err(e) => {
            let later_type = matches!(
                serde_json::from_slice::<serde_json::Value>(line),
                Ok(serde_json::Value::Object(o))
                    if o.get("type").and_then(|t| t.as_str())
                        .is_some_and(|t| !matches!(t, "hello" | "collect" | "shutdown"))
            );
            if !later_type {
                eprintln!("{name}: ignoring a line from the host: {e}");
            }
            None
        }
    }
}

/// A `metrics` message borrowing its families, serialized exactly like
/// [`PluginMessage::Metrics`] (`type` first) without copying the batch.
#[derive(Serialize)]
#[serde(tag = "type", rename = "metrics")]
struct MetricsRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    families: &'a [Family],
}

fn metrics(id: Option<u64>, families: &[Family]) -> MetricsRef<'_> {
    MetricsRef { id, families }
}

/// Writes one message as one line and flushes it, so the host sees it at once.
fn send<W: Write, T: Serialize>(out: &mut W, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

fn send_logs<W: Write>(out: &mut W, log: &Log) -> io::Result<()> {
    for l in &log.lines {
        send(out, &PluginMessage::Log(l.clone()))?;
    }
    Ok(())
}

/// The message of a panic payload, when it has one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn host(lines: &[&str]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect()
    }

    const HELLO: &str = r#"{"type":"hello","protocol":1,"name":"t","config":{"k":"v"}}"#;
    const SHUTDOWN: &str = r#"{"type":"shutdown"}"#;

    fn collect(id: u64) -> String {
        format!(r#"{{"type":"collect","id":{id},"deadline_ms":1000}}"#)
    }

    /// Runs `collector` on the host's `lines`; the plugin's lines, each checked to be a
    /// message the host accepts and valid against the protocol's JSON Schema.
    fn converse<C: Collector>(lines: &[&str], collector: C) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        run_with(&host(lines)[..], &mut out, "t", "0.1", collector).unwrap();
        check_lines(&out)
    }

    fn check_lines(out: &[u8]) -> Vec<serde_json::Value> {
        let schema = plugin_schema();
        let text = std::str::from_utf8(out).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{text}");
        text.lines()
            .map(|l| {
                PluginMessage::from_line(l.as_bytes()).unwrap_or_else(|e| panic!("{e}: {l}"));
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let errors: Vec<String> = schema.iter_errors(&v).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{l}: {errors:?}");
                v
            })
            .collect()
    }

    /// The schema narrowed to the plugin's messages.
    fn plugin_schema() -> jsonschema::Validator {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/protocol.schema.json");
        let mut s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let o = s.as_object_mut().unwrap();
        o.remove("anyOf");
        o.insert("$ref".into(), json!("#/$defs/plugin_message"));
        jsonschema::validator_for(&s).unwrap()
    }

    fn full_batch(b: &mut Batch) {
        b.counter("c_total", "A counter.")
            .sample(&[("a", "1")], 3.0)
            .sample(&[("a", "2")], 4.0);
        b.gauge("g_celsius", "A gauge.")
            .unit("celsius")
            .sample(&[], f64::NAN)
            .sample(&[("s", "hot")], f64::INFINITY)
            .sample(&[("s", "cold")], f64::NEG_INFINITY);
        b.untyped("u", "Untyped.").sample(&[], -0.5);
        b.histogram("h_seconds", "A histogram.")
            .unit("seconds")
            .observe_buckets(
                &[("x", "y")],
                &[(0.1, 1), (1.0, 3), (f64::INFINITY, 4)],
                2.5,
                4,
            );
        b.summary("s_seconds", "A summary.")
            .unit("seconds")
            .quantiles(&[], &[(0.5, 0.2), (0.99, 1.3)], 120.5, 400);
    }

    #[test]
    fn a_batch_serializes_as_the_protocol_says() {
        let mut b = Batch::new();
        full_batch(&mut b);
        let mut out = Vec::new();
        send(&mut out, &metrics(Some(3), b.families())).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"type":"metrics","id":3,"families":["#,
                r#"{"name":"c_total","type":"counter","help":"A counter.","samples":[{"labels":{"a":"1"},"value":3.0},{"labels":{"a":"2"},"value":4.0}]},"#,
                r#"{"name":"g_celsius","type":"gauge","help":"A gauge.","unit":"celsius","samples":[{"value":"NaN"},{"labels":{"s":"hot"},"value":"+Inf"},{"labels":{"s":"cold"},"value":"-Inf"}]},"#,
                r#"{"name":"u","type":"untyped","help":"Untyped.","samples":[{"value":-0.5}]},"#,
                r#"{"name":"h_seconds","type":"histogram","help":"A histogram.","unit":"seconds","samples":[{"labels":{"x":"y"},"buckets":[{"le":0.1,"count":1.0},{"le":1.0,"count":3.0},{"le":"+Inf","count":4.0}],"sum":2.5,"count":4.0}]},"#,
                r#"{"name":"s_seconds","type":"summary","help":"A summary.","unit":"seconds","samples":[{"quantiles":[{"quantile":0.5,"value":0.2},{"quantile":0.99,"value":1.3}],"sum":120.5,"count":400.0}]}]}"#,
                "\n"
            )
        );
        check_lines(&{
            let mut o = Vec::new();
            send(&mut o, &metrics(None, b.families())).unwrap();
            o
        });
    }

    #[test]
    fn the_borrowed_metrics_line_is_the_wire_types_line() {
        let mut b = Batch::new();
        full_batch(&mut b);
        for id in [None, Some(u64::MAX)] {
            let mut out = Vec::new();
            send(&mut out, &metrics(id, b.families())).unwrap();
            let owned = PluginMessage::Metrics(crate::Metrics {
                id,
                families: b.families().to_vec(),
            });
            assert_eq!(String::from_utf8(out).unwrap(), owned.to_line());
        }
    }

    #[test]
    fn asking_again_for_a_family_continues_it() {
        let mut b = Batch::new();
        for cpu in ["0", "1"] {
            b.gauge("cpu_ratio", "Busy share.")
                .sample(&[("cpu", cpu)], 0.5);
            b.gauge("cpu_ratio", "Ignored help.")
                .sample(&[("cpu", cpu)], 0.5);
        }
        // Another type under the same name is kept apart, for the host to refuse.
        b.counter("cpu_ratio", "Wrong.").sample(&[], 1.0);
        let f = b.families();
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].help.as_str(), f[0].samples.len()), ("Busy share.", 4));
        assert_eq!(f[1].kind, MetricType::Counter);
    }

    #[test]
    fn hello_first_then_each_collect_answered_with_its_id() {
        let mut n = 0.0;
        let lines = converse(
            &[HELLO, &collect(7), &collect(9), SHUTDOWN],
            |b: &mut Batch| {
                n += 1.0;
                b.gauge("n", "Calls.").sample(&[], n);
                assert!(b.deadline().is_some());
                Ok(())
            },
        );
        assert_eq!(
            lines[0],
            json!({"type":"hello","protocol":1,"name":"t","version":"0.1"})
        );
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["id"], 7);
        assert_eq!(lines[1]["families"][0]["samples"][0]["value"], 1.0);
        assert_eq!(lines[2]["id"], 9);
        assert_eq!(lines[2]["families"][0]["samples"][0]["value"], 2.0);
    }

    #[test]
    fn a_failed_or_panicking_collect_is_an_error_and_the_plugin_goes_on() {
        let mut call = 0;
        let lines = converse(&[&collect(1), &collect(2), &collect(3)], |b: &mut Batch| {
            call += 1;
            b.gauge("x", "X.").sample(&[], 1.0);
            b.log().warn(format!("call {call}"));
            match call {
                1 => Err("database is locked".to_owned()),
                2 => panic!("boom"),
                _ => Ok(()),
            }
        });
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["hello", "log", "error", "log", "error", "log", "metrics"]
        );
        assert_eq!(
            lines[2],
            json!({"type":"error","id":1,"message":"database is locked"})
        );
        assert_eq!(
            lines[3],
            json!({"type":"log","level":"warn","message":"call 2"})
        );
        assert_eq!(
            lines[4],
            json!({"type":"error","id":2,"message":"the collector panicked: boom"})
        );
        assert_eq!(lines[6]["id"], 3);
    }

    #[test]
    fn it_stops_at_shutdown_and_at_the_end_of_input() {
        let answered = |lines: &[&str]| {
            converse(lines, |_: &mut Batch| Ok(()))
                .iter()
                .filter(|l| l["type"] == "metrics")
                .count()
        };
        assert_eq!(answered(&[&collect(1), SHUTDOWN, &collect(2)]), 1);
        assert_eq!(answered(&[&collect(1), &collect(2)]), 2);
        assert_eq!(answered(&[]), 0);
        // A last line without its newline still counts.
        let mut out = Vec::new();
        let input = collect(5);
        run_with(input.as_bytes(), &mut out, "t", "0.1", |_: &mut Batch| {
            Ok(())
        })
        .unwrap();
        assert_eq!(check_lines(&out)[1]["id"], 5);
    }

    #[test]
    fn unknown_and_broken_lines_are_skipped() {
        let lines = converse(
            &[
                r#"{"type":"reload","id":1}"#,
                "not json",
                "",
                r#"["collect"]"#,
                &collect(4),
            ],
            |_: &mut Batch| Ok(()),
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["id"], 4);
    }

    struct Configured {
        seen: Option<serde_json::Value>,
    }

    impl Collector for Configured {
        fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
            log.info(format!("configured as {}", hello.name));
            if hello.config.get("bad").is_some() {
                return Err("`bad` is not allowed".into());
            }
            self.seen = Some(hello.config.clone());
            Ok(())
        }

        fn collect(&mut self, b: &mut Batch) -> Result<(), String> {
            let k = self
                .seen
                .as_ref()
                .and_then(|c| c["k"].as_str())
                .unwrap_or("");
            b.gauge("k", "Config.").sample(&[("k", k)], 1.0);
            Ok(())
        }
    }

    #[test]
    fn configure_sees_the_config_and_a_bad_one_fails_every_collect() {
        let mut c = Configured { seen: None };
        let lines = converse(&[HELLO, &collect(1)], Lent(&mut c));
        assert_eq!(c.seen, Some(json!({"k":"v"})));
        assert_eq!(
            lines[1],
            json!({"type":"log","level":"info","message":"configured as t"})
        );
        assert_eq!(lines[2]["families"][0]["samples"][0]["labels"]["k"], "v");

        let bad = r#"{"type":"hello","protocol":1,"name":"t","config":{"bad":1}}"#;
        let lines = converse(
            &[bad, &collect(1), &collect(2), HELLO, &collect(3)],
            Lent(&mut c),
        );
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["hello", "log", "log", "error", "error", "log", "metrics"]
        );
        assert_eq!(lines[2]["level"], "error");
        assert_eq!(lines[3]["message"], "configuration: `bad` is not allowed");
    }

    /// Lends a collector to [`run_with`], so a test can look at it afterwards.
    struct Lent<'a, C>(&'a mut C);

    impl<C: Collector> Collector for Lent<'_, C> {
        fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
            self.0.configure(hello, log)
        }
        fn collect(&mut self, batch: &mut Batch) -> Result<(), String> {
            self.0.collect(batch)
        }
    }

    #[test]
    fn another_protocol_version_is_refused() {
        let mut out = Vec::new();
        let hello2 = r#"{"type":"hello","protocol":2,"name":"t","config":{}}"#;
        let err = run_with(
            &host(&[hello2, &collect(1)])[..],
            &mut out,
            "t",
            "0.1",
            |_: &mut Batch| Ok(()),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(check_lines(&out).len(), 1, "only the hello was sent");
    }

    /// A writer whose reader has gone.
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_vanished_host_ends_the_plugin_cleanly() {
        let input = host(&[&collect(1)]);
        assert!(run_with(&input[..], Closed, "t", "0.1", |_: &mut Batch| Ok(())).is_ok());
        let p = Pusher::with_io(std::io::empty(), Vec::new(), "t", "0.1").unwrap();
        let mut p = Pusher {
            out: Closed,
            host: p.host,
        };
        assert!(p.push(&Batch::new()).is_ok());
        assert!(p.stopped());
    }

    #[test]
    fn a_pusher_pushes_without_id_until_the_host_says_stop() {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = io::BufReader::new(ChannelReader(rx, Vec::new()));
        let mut out = Vec::new();
        let mut p = Pusher::with_io(reader, &mut out, "t", "0.1").unwrap();
        assert_eq!(p.host_hello(Duration::from_millis(10)).unwrap(), None);
        tx.send(host(&[HELLO, &collect(1)])).unwrap();
        let hello = p.host_hello(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(hello.config, json!({"k":"v"}));
        let mut b = Batch::new();
        b.gauge("g", "G.").sample(&[], 1.0);
        b.log().info("pushing");
        p.push(&b).unwrap();
        p.log(LogLevel::Debug, "again").unwrap();
        assert!(p.sleep(Duration::from_millis(1)).unwrap());
        tx.send(host(&[SHUTDOWN])).unwrap();
        assert!(!p.sleep(Duration::from_secs(10)).unwrap());
        assert!(p.stopped());
        drop(p);
        let lines = check_lines(&out);
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["hello", "log", "metrics", "log"]);
        assert!(lines[2].get("id").is_none());
    }

    #[test]
    fn a_pusher_stops_at_the_end_of_input_and_refuses_another_version() {
        let p = Pusher::with_io(io::empty(), Vec::new(), "t", "0.1").unwrap();
        assert!(!p.sleep(Duration::from_secs(10)).unwrap());
        assert_eq!(p.host_hello(Duration::from_secs(10)).unwrap(), None);

        let hello2: &'static [u8] = b"{\"type\":\"hello\",\"protocol\":2,\"name\":\"t\"}\n";
        let p = Pusher::with_io(hello2, Vec::new(), "t", "0.1").unwrap();
        let err = p.host_hello(Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let err = p.sleep(Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    /// Reads what the test sends, blocking like a pipe; ends when the sender is dropped.
    struct ChannelReader(std::sync::mpsc::Receiver<Vec<u8>>, Vec<u8>);
    impl io::Read for ChannelReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1.is_empty() {
                match self.0.recv() {
                    Ok(b) => self.1 = b,
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.1.len());
            buf[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }
}
