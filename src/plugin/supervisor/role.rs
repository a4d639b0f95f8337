//! What a plugin is for, seen from the supervisor: a [`Role`] opens a [`Session`] with each
//! running child, and the session is all the supervisor knows of it.
//!
//! The supervisor ([`super`]) owns the process lifecycle: spawning in the fence,
//! restarts with backoff, disable/enable, stop. It knows nothing of metrics. A role decides
//! what its requests are (a collect today; a batch to process, a notification or a write for
//! the roles to come) and what a child's output means. A new role is a new module that
//! implements these two traits; see the crate docs for the steps.

use std::future::Future;

use super::context::Context;
use super::fault::{Child, Fault};

/// A plugin role: how requests are answered while no child runs, and how a session starts.
pub trait Role: Send + Sync + 'static {
    /// What the outside asks of the plugin (a scrape's collect, ...).
    type Request: Send + 'static;
    /// The conversation with one child.
    type Session: Session<Request = Self::Request>;

    /// Starts a session: spawns the child through `ctx` (which fences it) and sets up its
    /// I/O, or, for a plugin run once per request, starts a session without a child.
    fn open(
        &self,
        ctx: &Context,
    ) -> impl Future<Output = Result<(Self::Session, Option<Child>), Fault>> + Send;

    /// Answers a request that comes while no session runs (starting, waiting to restart,
    /// disabled, refused).
    fn refuse(&self, req: Self::Request);

    /// Called each time a session is over or the plugin goes down: whatever the role serves
    /// from the last session is dropped.
    fn down(&self);
}

/// One conversation with a running child (or, for a plugin run per request, with none).
pub trait Session: Send + 'static {
    /// See [`Role::Request`].
    type Request: Send + 'static;

    /// Takes a request.
    fn request(&mut self, req: Self::Request);

    /// Waits for the next thing of the session's own (a line from the child, a deadline, a
    /// timer) and handles it. `Some` when the child must be restarted. Must be cancel-safe:
    /// the supervisor drops it when a command or the child's exit comes first.
    fn step(&mut self) -> impl Future<Output = Option<Fault>> + Send;

    /// Asks the child to stop: the role's goodbye, then end of file on its stdin.
    fn shutdown(&mut self);

    /// The session is over (the child exited, is being stopped, or the plugin is stopped):
    /// fail whatever is still open.
    fn close(&mut self);
}
