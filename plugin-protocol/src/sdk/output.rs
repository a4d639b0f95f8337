//! Plugins delivering what the exporter collects (`role: output`): the [`Output`] trait, and
//! [`run_output`] / [`run_output_with`], which send the plugin's `hello` and answer each
//! `write` with `ack` or `error`.

use super::log::Log;
use super::wire::{check_version, hello, parse_host_line, send, send_logs};
use crate::{Ack, ErrorMessage, Family, HostHello, HostMessage, PluginMessage};
use std::io::{self, BufRead, Write};
use std::panic::{self, AssertUnwindSafe};

/// What an output implements; [`run_output`] drives it.
///
/// Any `FnMut(&[Family]) -> Result<(), String>` closure is an output (without
/// configuration).
pub trait Output {
    /// Called with each `hello` of the host. An `Err` is logged, and every write is answered
    /// with an `error` naming it until the next `hello`. The default accepts anything.
    fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
        let _ = (hello, log);
        Ok(())
    }

    /// Delivers one collect's families (every sample carries its `timestamp`). `Ok` is
    /// answered with `ack`; an `Err` (or a panic) with an `error`, and the host retries the
    /// write with backoff up to the output's `max_retries`.
    fn write(&mut self, families: &[Family], log: &mut Log) -> Result<(), String>;
}

impl<F: FnMut(&[Family]) -> Result<(), String>> Output for F {
    fn write(&mut self, families: &[Family], _log: &mut Log) -> Result<(), String> {
        self(families)
    }
}

/// Runs an output over stdin and stdout until `shutdown` or the end of stdin. See
/// [`run_output_with`].
pub fn run_output<O: Output>(name: &str, version: &str, output: O) -> io::Result<()> {
    run_output_with(io::stdin().lock(), io::stdout(), name, version, output)
}

/// Runs an output, reading the host's lines from `reader` and writing its own to `writer`.
///
/// Sends the plugin's `hello`, then answers each `write` with `ack` or `error` carrying its
/// `id`, one at a time in the order they come. Returns like [`super::run_with`].
pub fn run_output_with<R: BufRead, W: Write, O: Output>(
    reader: R,
    writer: W,
    name: &str,
    version: &str,
    output: O,
) -> io::Result<()> {
    match serve(reader, writer, name, version, output) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

fn serve<R: BufRead, W: Write, O: Output>(
    mut reader: R,
    mut out: W,
    name: &str,
    version: &str,
    mut output: O,
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
                config_error = output
                    .configure(&h, &mut log)
                    .err()
                    .map(|e| format!("configuration: {e}"));
                if let Some(e) = &config_error {
                    log.error(e.clone());
                }
                send_logs(&mut out, &log)?;
            }
            HostMessage::Write(w) => {
                let mut log = Log::default();
                let result = match &config_error {
                    Some(e) => Err(e.clone()),
                    None => panic::catch_unwind(AssertUnwindSafe(|| {
                        output.write(&w.families, &mut log)
                    }))
                    .unwrap_or_else(|_| Err("the output panicked".to_string())),
                };
                send_logs(&mut out, &log)?;
                let answer = match result {
                    Ok(()) => PluginMessage::Ack(Ack { id: w.id }),
                    Err(message) => PluginMessage::Error(ErrorMessage {
                        id: Some(w.id),
                        message,
                    }),
                };
                send(&mut out, &answer)?;
            }
            HostMessage::Collect(_) | HostMessage::Process(_) => {
                eprintln!("{name}: this plugin is an output and answers only `write`: configure it with `role: output`");
            }
            HostMessage::Shutdown(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_each_write_with_its_id_and_errors_without_stopping() {
        let host = concat!(
            r#"{"type":"hello","protocol":1,"name":"sink","config":{}}"#,
            "\n",
            r#"{"type":"write","id":1,"families":[{"name":"a","type":"gauge","samples":[{"value":1,"timestamp":1700000000.5}]}]}"#,
            "\n",
            r#"{"type":"write","id":2,"families":[]}"#,
            "\n",
            r#"{"type":"shutdown"}"#,
            "\n",
        );
        let mut seen = Vec::new();
        let sink = |families: &[Family]| {
            if families.is_empty() {
                return Err("nothing to write".to_string());
            }
            seen.extend(
                families
                    .iter()
                    .map(|f| (f.name.clone(), f.samples[0].timestamp)),
            );
            Ok(())
        };
        let mut out = Vec::new();
        run_output_with(host.as_bytes(), &mut out, "sink", "1", sink).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1..],
            [
                r#"{"type":"ack","id":1}"#,
                r#"{"type":"error","id":2,"message":"nothing to write"}"#
            ],
            "{out}"
        );
        assert_eq!(seen, [("a".to_string(), Some(1700000000.5))]);
    }
}
