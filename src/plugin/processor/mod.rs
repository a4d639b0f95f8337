//! The processor role: a plugin that collectors' batches go through between the collect and
//! the scrape (`role: processor`; PROTOCOL.md, "Processors"). It serves nothing on
//! `/metrics` itself; its supervisor, fence, restarts and self-metrics are every plugin's.
//!
//! - [`request`]: a batch to process and why a processor gave none back.
//! - [`io`]: the child's pipes: stdin writer, stdout reader (one [`io::Event`] a line).
//! - [`session`]: one running child: `hello`, one `process` at a time, answers matched by
//!   id, the deadline, and the faults that restart it (timeout, garbage, end of stdout).
//! - [`role`]: the [`crate::plugin::supervisor::role::Role`] of processors.
//! - [`handle`]: [`ProcessorHandle`], which collectors send batches through.
//! - [`pipeline`]: a collector's batch through its processors in order, with `on_error`.
//!
//! With `on_error: drop`, a batch a processor failed on is served as an empty batch: the
//! collect still counts as successful for the collector (its series count is 0), and the
//! failure is counted in `plugin_exporter_processor_errors_total{processor, kind}`.
//! Processing happens off the collector's supervisor, in its stdout reader task (or its
//! per-collect run), so a scrape's collect deadline covers the collector and its processors.

pub mod handle;
pub mod io;
pub mod pipeline;
pub mod request;
pub mod role;
pub mod session;

pub use handle::ProcessorHandle;
pub use request::{ProcessError, ProcessRequest, ProcessResult};
