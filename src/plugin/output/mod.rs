//! The output role: a plugin that gets what every collect gathered and delivers it elsewhere
//! (`role: output`; PROTOCOL.md, "Outputs"). It serves nothing on `/metrics`; its
//! supervisor, fence, restarts and self-metrics are every plugin's.
//!
//! - [`request`]: one write attempt and why it failed.
//! - [`io`]: the child's pipes: stdin writer, stdout reader (one [`io::Event`] a line).
//! - [`session`]: one running child: `hello`, up to `max_in_flight` writes open, answers
//!   matched by id, the deadlines, and the faults that restart it (timeout, garbage, end of
//!   stdout).
//! - [`role`]: the [`crate::plugin::supervisor::role::Role`] of outputs.
//! - [`dispatch`]: the output's queue of writes, outside the supervisor so that it outlives
//!   restarts: at most `max_in_flight` writes at a time, each retried with backoff up to
//!   `max_retries`, the oldest waiting write dropped when the queue is full.
//! - [`handle`]: [`OutputHandle`], which the collect loop of `remote_write` queues writes
//!   through.
//!
//! Nothing here waits on the caller's side: queueing a write never blocks, so a slow output
//! slows neither scrapes, remote write nor the other outputs.

pub mod dispatch;
pub mod handle;
pub mod io;
pub mod request;
pub mod role;
pub mod session;

pub use handle::OutputHandle;
pub use request::{WriteError, WriteRequest, WriteResult};
