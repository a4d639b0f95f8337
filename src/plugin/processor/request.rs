//! A batch sent to a processor, and why a processor gave no batch back.

use plugin_protocol::Family;
use tokio::sync::oneshot;

use crate::codes::ProcessorErrorKind;

/// Why a processor gave no batch back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProcessError {
    /// No answer before the deadline.
    #[error("no answer within the processor's timeout")]
    Timeout,
    /// The processor exited or closed its stdout with the batch open.
    #[error("the processor exited with the batch open")]
    Crash,
    /// A line that is no protocol message, or an answer to another batch.
    #[error("the processor broke the protocol: {0}")]
    Garbage(String),
    /// An answer the budgets refuse.
    #[error("the processor's answer was refused: {0}")]
    Invalid(String),
    /// The processor answered `error`.
    #[error("the processor reported an error: {0}")]
    Plugin(String),
    /// The processor is not running.
    #[error("the processor is not running")]
    Down,
}

impl ProcessError {
    /// The code it is counted under.
    pub fn kind(&self) -> ProcessorErrorKind {
        match self {
            ProcessError::Timeout => ProcessorErrorKind::Timeout,
            ProcessError::Crash => ProcessorErrorKind::Crash,
            ProcessError::Garbage(_) => ProcessorErrorKind::Garbage,
            ProcessError::Invalid(_) => ProcessorErrorKind::Invalid,
            ProcessError::Plugin(_) => ProcessorErrorKind::Error,
            ProcessError::Down => ProcessorErrorKind::Down,
        }
    }
}

/// What a processor gave back.
pub type ProcessResult = Result<Vec<Family>, ProcessError>;

/// One batch to process.
pub struct ProcessRequest {
    /// The collector the batch comes from.
    pub plugin: String,
    /// The batch.
    pub families: Vec<Family>,
    /// Where the answer goes.
    pub reply: oneshot::Sender<ProcessResult>,
}
