//! [`Log`]: `log` lines a plugin queues for the host, sent with a batch.

use crate::{LogLevel, LogMessage};

/// `log` lines waiting to be sent to the host, which writes them to its log tagged with the
/// plugin's name. The structured alternative to `eprintln!`.
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub(crate) lines: Vec<LogMessage>,
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
