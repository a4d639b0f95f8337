//! Plugins processing other plugins' batches (`role: processor`): the [`Processor`] trait,
//! and [`run_processor`] / [`run_processor_with`], which send the plugin's `hello` and answer
//! each `process` with `processed` or `error`.

use super::log::Log;
use super::wire::{check_version, hello, parse_host_line, send, send_logs};
use crate::{ErrorMessage, Family, HostHello, HostMessage, PluginMessage, Processed};
use std::io::{self, BufRead, Write};
use std::panic::{self, AssertUnwindSafe};

/// What a processor implements; [`run_processor`] drives it.
///
/// Any `FnMut(&str, Vec<Family>) -> Result<Vec<Family>, String>` closure is a processor
/// (without configuration); it gets the collector's name and its batch.
pub trait Processor {
    /// Called with each `hello` of the host. An `Err` is logged, and every batch is answered
    /// with an `error` naming it until the next `hello`. The default accepts anything.
    fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
        let _ = (hello, log);
        Ok(())
    }

    /// Returns the new batch for the batch `families` of collector `plugin`; it replaces the
    /// one sent. An `Err` (or a panic) is answered with an `error`, and the host serves the
    /// batch as its `on_error` says.
    fn process(
        &mut self,
        plugin: &str,
        families: Vec<Family>,
        log: &mut Log,
    ) -> Result<Vec<Family>, String>;
}

impl<F: FnMut(&str, Vec<Family>) -> Result<Vec<Family>, String>> Processor for F {
    fn process(
        &mut self,
        plugin: &str,
        families: Vec<Family>,
        _log: &mut Log,
    ) -> Result<Vec<Family>, String> {
        self(plugin, families)
    }
}

/// Runs a processor over stdin and stdout until `shutdown` or the end of stdin. See
/// [`run_processor_with`].
pub fn run_processor<P: Processor>(name: &str, version: &str, processor: P) -> io::Result<()> {
    run_processor_with(io::stdin().lock(), io::stdout(), name, version, processor)
}

/// Runs a processor, reading the host's lines from `reader` and writing its own to `writer`.
///
/// Sends the plugin's `hello`, then answers each `process` with `processed` or `error`
/// carrying its `id`. Returns like [`super::run_with`].
pub fn run_processor_with<R: BufRead, W: Write, P: Processor>(
    reader: R,
    writer: W,
    name: &str,
    version: &str,
    processor: P,
) -> io::Result<()> {
    match serve(reader, writer, name, version, processor) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

fn serve<R: BufRead, W: Write, P: Processor>(
    mut reader: R,
    mut out: W,
    name: &str,
    version: &str,
    mut processor: P,
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
                config_error = processor
                    .configure(&h, &mut log)
                    .err()
                    .map(|e| format!("configuration: {e}"));
                if let Some(e) = &config_error {
                    log.error(e.clone());
                }
                send_logs(&mut out, &log)?;
            }
            HostMessage::Process(p) => {
                let mut log = Log::default();
                let result = match &config_error {
                    Some(e) => Err(e.clone()),
                    None => panic::catch_unwind(AssertUnwindSafe(|| {
                        processor.process(&p.plugin, p.families, &mut log)
                    }))
                    .unwrap_or_else(|_| Err("the processor panicked".to_string())),
                };
                send_logs(&mut out, &log)?;
                let answer = match result {
                    Ok(families) => PluginMessage::Processed(Processed { id: p.id, families }),
                    Err(message) => PluginMessage::Error(ErrorMessage {
                        id: Some(p.id),
                        message,
                    }),
                };
                send(&mut out, &answer)?;
            }
            HostMessage::Collect(_) | HostMessage::Write(_) => {
                eprintln!("{name}: this plugin is a processor and answers only `process`: configure it with `role: processor`");
            }
            HostMessage::Shutdown(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_process_with_its_id_and_errors_without_stopping() {
        let host = concat!(
            r#"{"type":"hello","protocol":1,"name":"tag","config":{}}"#,
            "\n",
            r#"{"type":"process","id":1,"plugin":"app","deadline_ms":100,"families":[{"name":"a","type":"gauge","samples":[{"value":1}]}]}"#,
            "\n",
            r#"{"type":"process","id":2,"plugin":"bad","deadline_ms":100,"families":[]}"#,
            "\n",
            r#"{"type":"shutdown"}"#,
            "\n",
        );
        let tag = |plugin: &str, mut families: Vec<Family>| {
            if plugin == "bad" {
                return Err("no".to_string());
            }
            for f in &mut families {
                f.name.push_str("_tagged");
            }
            Ok(families)
        };
        let mut out = Vec::new();
        run_processor_with(host.as_bytes(), &mut out, "tag", "1", tag).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[1].starts_with(r#"{"type":"processed","id":1,"families":[{"name":"a_tagged""#)
        );
        assert_eq!(lines[2], r#"{"type":"error","id":2,"message":"no"}"#);
    }
}
