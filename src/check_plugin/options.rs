//! What `check-plugin` checks, and why it may be unable to.

use std::time::Duration;

use crate::config::{Format, Role};

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// How the plugin talks: JSON lines, Prometheus text, or a Nagios plugin.
    pub format: Format,
    /// Collects to send (jsonl), pushes to wait for (jsonl in push mode), or runs (one-shot
    /// formats).
    pub collects: u32,
    /// Push mode: the plugin sends batches on its own and is sent no collect.
    pub push: bool,
    /// Deadline of each collect or run.
    pub timeout: Duration,
    /// The plugin's command and arguments.
    pub command: Vec<String>,
    /// Collector (collects, pushes), processor (sample batches to process) or output (sample
    /// writes to deliver).
    pub role: Role,
}

/// Why no check could be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The command could not be started.
    #[error("cannot start `{command}`")]
    Start {
        /// The command line, joined.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// This process cannot supervise children.
    #[error("cannot start the reaper")]
    Reaper(#[source] std::io::Error),
}

impl CheckError {
    pub(super) fn start(command: &[String], source: std::io::Error) -> Self {
        CheckError::Start {
            command: command.join(" "),
            source,
        }
    }
}

/// Parses `--format`: `jsonl`, `prometheus` or `nagios`.
pub fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "jsonl" => Ok(Format::Jsonl),
        "prometheus" => Ok(Format::Prometheus),
        "nagios" => Ok(Format::Nagios),
        other => Err(format!(
            "unknown format `{other}`: expected jsonl, prometheus or nagios"
        )),
    }
}

/// Parses `--role`: `collector`, `processor` or `output`.
pub fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "collector" => Ok(Role::Collector),
        "processor" => Ok(Role::Processor),
        "output" => Ok(Role::Output),
        other => Err(format!(
            "unknown role `{other}`: expected collector, processor or output"
        )),
    }
}
