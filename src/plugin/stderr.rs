//! A plugin's stderr, forwarded into the exporter's log, for every role and format.

use std::time::Instant;

use tokio::net::unix::pipe;

use super::lines::{Line, LineReader};

/// Longest stderr line forwarded; a longer line is not shown, only its length.
pub const STDERR_MAX_LINE: usize = 4096;
/// Sustained stderr lines per second forwarded to the log, and the burst allowed.
const STDERR_RATE: f64 = 20.0;
const STDERR_BURST: f64 = 100.0;

/// Forwards a plugin's stderr into the exporter's log, line by line, rate limited; a line
/// over [`STDERR_MAX_LINE`] is replaced by a note of its length.
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
