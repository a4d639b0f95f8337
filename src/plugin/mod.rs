//! Plugins: spawning, protocol I/O and supervision. See the crate docs for the layout.

pub mod backoff;
pub mod fence;
pub mod instance;
pub mod lines;
pub mod oneshot;
pub mod spawn;
pub mod supervisor;

pub use instance::Batch;
pub use supervisor::{PluginHandle, PluginStatus, State, SupervisorOptions};
