//! The plugin's side of the line protocol, shared by [`super::run`] and [`super::Pusher`]:
//! the plugin's `hello`, the version check of the host's, reading a host line, and writing
//! messages one flushed line each (a `metrics` message borrowing the batch's families).

use super::log::Log;
use crate::{Family, HostHello, HostMessage, PluginHello, PluginMessage, PROTOCOL_VERSION};
use serde::Serialize;
use std::io::{self, Write};

/// The plugin's `hello`.
pub(crate) fn hello(name: &str, version: &str) -> PluginMessage {
    PluginMessage::Hello(PluginHello {
        protocol: PROTOCOL_VERSION,
        name: Some(name.to_owned()),
        version: Some(version.to_owned()),
    })
}

/// Fails when the host speaks another protocol version.
pub(crate) fn check_version(hello: &HostHello) -> io::Result<()> {
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
pub(crate) fn parse_host_line(name: &str, line: &[u8]) -> Option<HostMessage> {
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
                        .is_some_and(|t| !matches!(t, "hello" | "collect" | "shutdown" | "process" | "write"))
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
pub(crate) struct MetricsRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    families: &'a [Family],
}

pub(crate) fn metrics(id: Option<u64>, families: &[Family]) -> MetricsRef<'_> {
    MetricsRef { id, families }
}

/// Writes one message as one line and flushes it, so the host sees it at once.
pub(crate) fn send<W: Write, T: Serialize>(out: &mut W, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

pub(crate) fn send_logs<W: Write>(out: &mut W, log: &Log) -> io::Result<()> {
    for l in &log.lines {
        send(out, &PluginMessage::Log(l.clone()))?;
    }
    Ok(())
}
