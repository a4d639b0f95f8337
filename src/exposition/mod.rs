//! The exposition: our model of families, validation of plugin batches, encoders for the
//! text format 0.0.4 and OpenMetrics 1.0, and the merge of all plugins into one body.
//!
//! Work is split so a scrape does as little as possible: a plugin's batch is validated and
//! rendered to both formats once, when it arrives ([`render`]); a scrape only orders the
//! families, settles conflicts between plugins from their metadata and copies bytes
//! ([`merge`]) into a [`merge::Sink`]: a plain body, or a gzip body made of members compressed
//! ahead of time ([`gzip`]).
//!
//! This file only declares the parts and re-exports [`Format`] (defined in `format.rs`, next
//! to the content negotiation); no part imports from it. The [`merge::Sink`] trait lives in
//! `sink.rs` and the gzip member encoders in `gzip_member.rs` (re-exported by [`merge`] and
//! [`gzip`]), so that rendering, merging and gzip do not depend on each other in a circle.
//! The pieces of a line (values, labels, timestamps, exemplars) are in `encode.rs`, and the
//! value rules of one sample, type by type, in `values.rs` (used by [`validate`]).

pub mod batch;
pub mod drop_reason;
mod encode;
mod format;
pub mod gzip;
mod gzip_member;
pub mod merge;
pub mod model;
pub mod own;
pub mod parse;
pub mod relabel_batch;
pub mod render;
mod sink;
#[cfg(test)]
mod testing;
pub mod validate;
mod values;

pub use format::Format;
