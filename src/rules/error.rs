//! The errors of the rules engine: what the store refuses, what the checker refuses, and
//! what evaluation fails with.

use thiserror::Error;

/// A construct the engine does not evaluate, found when the expression is checked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0} is not supported")]
pub struct Unsupported(pub String);

/// Why the store did not take a sample.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// A new series would exceed the bound on the number of series.
    #[error("too many series: the store holds at most {max}")]
    TooManySeries { max: usize },
    /// The sample is not newer than the series' last sample.
    #[error("out of order sample for {series} at {t_ms} (last at {last_ms})")]
    OutOfOrder {
        series: String,
        t_ms: i64,
        last_ms: i64,
    },
}

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The expression holds a construct the engine does not evaluate.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// Vector matching found more matches than the matching mode allows.
    #[error("{0}")]
    Matching(String),
    /// Two elements of a result have the same label set.
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,
    /// An argument or operand has the wrong type or value.
    #[error("{0}")]
    Invalid(String),
}
