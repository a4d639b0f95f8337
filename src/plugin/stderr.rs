//! A plugin's stderr, forwarded into the exporter's log, for every role and format.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use tokio::net::unix::pipe;

use super::lines::{Line, LineReader};

/// Longest stderr line forwarded; a longer line is not shown, only its length.
pub const STDERR_MAX_LINE: usize = 4096;
/// Sustained stderr lines per second forwarded to the log, and the burst allowed.
const STDERR_RATE: f64 = 20.0;
const STDERR_BURST: f64 = 100.0;

/// Lines of stderr kept per plugin for the status page.
pub const TAIL_LINES: usize = 50;
/// Longest line kept in the tail, in bytes (longer ones are cut).
const TAIL_LINE_BYTES: usize = 512;

/// The last [`TAIL_LINES`] stderr lines of each plugin, by name.
static TAILS: Mutex<Option<HashMap<String, VecDeque<String>>>> = Mutex::new(None);

fn remember(plugin: &str, line: &Line) {
    let text = match line {
        Line::Complete(l) => {
            let cut = &l[..l.len().min(TAIL_LINE_BYTES)];
            String::from_utf8_lossy(cut).into_owned()
        }
        Line::TooLong { bytes } => format!("(a line of {bytes} bytes, not shown)"),
    };
    let mut tails = TAILS.lock().unwrap_or_else(|e| e.into_inner());
    let tail = tails
        .get_or_insert_with(HashMap::new)
        .entry(plugin.to_string())
        .or_default();
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(text);
}

/// The last stderr lines of `plugin`, oldest first.
pub fn tail(plugin: &str) -> Vec<String> {
    let tails = TAILS.lock().unwrap_or_else(|e| e.into_inner());
    tails
        .as_ref()
        .and_then(|t| t.get(plugin))
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default()
}

/// Forgets the tail of a plugin that is no longer configured.
pub fn forget(plugin: &str) {
    let mut tails = TAILS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = tails.as_mut() {
        t.remove(plugin);
    }
}

/// Forwards a plugin's stderr into the exporter's log, line by line, rate limited; a line
/// over [`STDERR_MAX_LINE`] is replaced by a note of its length.
pub async fn read_stderr(pipe: pipe::Receiver, plugin: String) {
    let mut reader = LineReader::new(pipe, STDERR_MAX_LINE);
    let mut tokens = STDERR_BURST;
    let mut last = Instant::now();
    let mut suppressed: u64 = 0;
    while let Ok(Some(line)) = reader.next_line().await {
        remember(&plugin, &line);
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
