//! Plugins answering collects: the [`Collector`] trait, and [`run`] / [`run_with`], which
//! send the plugin's `hello` and answer each `collect` with `metrics` or `error`.

use super::batch::Batch;
use super::log::Log;
use super::wire::{check_version, hello, metrics, parse_host_line, send, send_logs};
use crate::{ErrorMessage, HostHello, HostMessage, PluginMessage};
use std::io::{self, BufRead, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

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
            HostMessage::Process(_) => {
                eprintln!("{name}: this plugin is a collector and processes no batch: configure it without `role: processor`");
            }
            HostMessage::Write(_) => {
                eprintln!("{name}: this plugin is a collector and takes no write: configure it without `role: output`");
            }
            HostMessage::Shutdown(_) => return Ok(()),
        }
    }
}

/// The message of a panic payload, when it has one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
