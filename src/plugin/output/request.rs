//! One write attempt sent to an output, and why an attempt failed.

use std::sync::Arc;

use plugin_protocol::Family;
use tokio::sync::oneshot;

/// Why an output did not acknowledge a write.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// No answer before the deadline (the output is restarted).
    #[error("no answer within the output's timeout")]
    Timeout,
    /// The output exited or closed its stdout with the write open (it is restarted).
    #[error("the output exited with the write open")]
    Crash,
    /// A line that is no protocol message, or an answer to no open write (restarted).
    #[error("the output broke the protocol: {0}")]
    Garbage(String),
    /// The output answered `error`.
    #[error("the output reported an error: {0}")]
    Plugin(String),
    /// The output is not running (starting, restarting, disabled).
    #[error("the output is not running")]
    Down,
}

/// What became of one attempt.
pub type WriteResult = Result<(), WriteError>;

/// One write attempt.
pub struct WriteRequest {
    /// What one collect gathered, timestamps set.
    pub families: Arc<Vec<Family>>,
    /// Where the answer goes.
    pub reply: oneshot::Sender<WriteResult>,
}
