//! A small SDK for plugins written in Rust: declare families in a [`Batch`], answer collects
//! with a [`Collector`] run by [`run`], or push batches with a [`Pusher`].
//!
//! The SDK takes care of the protocol rules that are easy to get wrong: the plugin's `hello`,
//! echoing each collect's `id`, answering a failed collect with an `error` (the plugin keeps
//! running), one flushed line per message, nothing but protocol lines on stdout, ignoring
//! message types of later protocol versions, refusing a host that speaks another version, and
//! exiting on `shutdown` or at the end of stdin. Names, labels and values are not checked here:
//! the host validates every batch and counts what it drops (see `PROTOCOL.md`).
//!
//! A plugin answering collects, run here against an in-memory conversation ([`run_with`] is
//! [`run`] with the reader and writer passed in; a real plugin calls `sdk::run(...)` from
//! `main` and talks over stdin and stdout):
//!
//! ```
//! use plugin_protocol::sdk::{self, Batch};
//!
//! let mut jobs_done = 0u64;
//! let collect = |batch: &mut Batch| -> Result<(), String> {
//!     jobs_done += 10;
//!     batch
//!         .counter("app_jobs_done_total", "Jobs finished.")
//!         .sample(&[("queue", "mail")], jobs_done as f64);
//!     batch
//!         .gauge("app_queue_length", "Jobs waiting.")
//!         .sample(&[("queue", "mail")], 2.0);
//!     Ok(())
//! };
//!
//! let host = concat!(
//!     r#"{"type":"hello","protocol":1,"name":"app","config":{}}"#, "\n",
//!     r#"{"type":"collect","id":1,"deadline_ms":9500}"#, "\n",
//!     r#"{"type":"shutdown"}"#, "\n",
//! );
//! let mut out = Vec::new();
//! sdk::run_with(host.as_bytes(), &mut out, "app-exporter", "2.0.1", collect).unwrap();
//!
//! let out = String::from_utf8(out).unwrap();
//! let lines: Vec<&str> = out.lines().collect();
//! assert_eq!(
//!     lines,
//!     [
//!         r#"{"type":"hello","protocol":1,"name":"app-exporter","version":"2.0.1"}"#,
//!         concat!(
//!             r#"{"type":"metrics","id":1,"families":["#,
//!             r#"{"name":"app_jobs_done_total","type":"counter","help":"Jobs finished.","#,
//!             r#""samples":[{"labels":{"queue":"mail"},"value":10.0}]},"#,
//!             r#"{"name":"app_queue_length","type":"gauge","help":"Jobs waiting.","#,
//!             r#""samples":[{"labels":{"queue":"mail"},"value":2.0}]}]}"#,
//!         ),
//!     ]
//! );
//! ```
//!
//! A struct implementing [`Collector`] keeps state between collects and can read the `config`
//! of the host's `hello` in [`Collector::configure`]; a closure like the one above is a
//! collector too.
//!
//! The parts, one file each: [`Batch`] and [`FamilyBuilder`] (`batch.rs`), [`Log`]
//! (`log.rs`), [`Collector`] with [`run`] and [`run_with`] (`collector.rs`), [`Pusher`]
//! (`pusher.rs`), [`Processor`] with [`run_processor`] and [`run_processor_with`]
//! (`processor.rs`, for plugins with `role: processor`), [`Output`] with [`run_output`] and
//! [`run_output_with`] (`output.rs`, for plugins with `role: output`), and the protocol lines every kind of
//! plugin reads and writes (`wire.rs`).

mod batch;
mod collector;
mod log;
mod output;
mod processor;
mod pusher;
#[cfg(test)]
mod tests;
mod wire;

pub use batch::{Batch, FamilyBuilder};
pub use collector::{run, run_with, Collector};
pub use log::Log;
pub use output::{run_output, run_output_with, Output};
pub use processor::{run_processor, run_processor_with, Processor};
pub use pusher::Pusher;
