//! The PromQL evaluation engine for rules at the edge: expressions parsed by
//! `promql-parser`, checked ([`check::check`]) and evaluated by our [`eval::Engine`] over
//! an in-memory [`store::Store`], with Prometheus's semantics (5m lookback, staleness
//! markers, `rate` extrapolation, vector matching, NaN and Inf rules). What the engine
//! does not evaluate exactly is refused by the check, by name; `@` and native
//! histograms among it.
//!
//! Windows follow Prometheus 3: an instant selector takes the latest sample in
//! `(t - 5m, t]`, a range selector the samples in `(t - range, t]`, and a subquery's steps
//! are the multiples of its step in `(t - range, t]` (all less the offset); a series whose
//! latest sample is a stale marker ([`value::STALE_NAN_BITS`]) is not returned.
//! Use [`check::parse`] to parse, so that `holt_winters` is refused by name.
//!
//! Files depend one way: `eval` on `aggregate`, `binary`, `functions`, `histogram`,
//! `range_fns` and `check`; those on `stats`, `value` and `error`; `store` on `value`.

pub mod aggregate;
pub mod binary;
pub mod check;
pub mod error;
pub mod eval;
pub mod functions;
pub mod histogram;
pub mod range_fns;
pub mod stats;
pub mod store;
pub mod value;

#[cfg(test)]
mod tests;

pub use check::{check, parse};
pub use error::{EvalError, StoreError, Unsupported};
pub use eval::Engine;
pub use store::Store;
pub use value::{Labels, Sample, Series, Value};
