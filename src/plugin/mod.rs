//! Plugins: one supervisor per plugin, whatever its role, and the roles. See the crate docs
//! for the layout and how a new role plugs in.
//!
//! - [`supervisor`]: the role-agnostic lifecycle (spawn in the fence, restart with backoff,
//!   disable/enable, stop).
//! - [`collector`]: the collector role (answers collects with metrics).
//! - [`processor`]: the processor role (processes collectors' batches before they are
//!   served).
//! - [`output`]: the output role (gets every collect's families in `write`s and delivers
//!   them elsewhere).
//! - [`backoff`]: exponential backoff with jitter.
//! - [`lines`]: a bounded line reader (a plugin cannot make us buffer without end).
//! - [`stderr`]: a plugin's stderr forwarded into the log, rate limited.

pub mod backoff;
pub mod collector;
pub mod lines;
pub mod output;
pub mod processor;
pub mod stderr;
pub mod supervisor;

pub use collector::{FamilyInfo, PluginHandle, PluginStatus};
pub use output::OutputHandle;
pub use processor::ProcessorHandle;
pub use supervisor::{State, SupervisorOptions};
