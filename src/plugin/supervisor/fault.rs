//! How a session ends by itself ([`Fault`]), and the running child as the supervisor
//! watches it ([`Child`]).

use nix::unistd::Pid;
use tokio::sync::oneshot;

use crate::codes::RestartReason;
use crate::process::reaper::ExitStatus;

/// Why a session ended on its own, so that its child must be restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The restart reason it is counted under.
    pub reason: RestartReason,
    /// What happened, in words (shown in the API and logs).
    pub error: String,
}

impl Fault {
    /// A fault of `reason`, described by `error`.
    pub fn new(reason: RestartReason, error: impl Into<String>) -> Self {
        Fault {
            reason,
            error: error.into(),
        }
    }
}

/// The running child a session talks to, as the supervisor watches it.
pub struct Child {
    /// Its process group, to signal on stop; `None` for a child that is no process of ours
    /// (the supervisor's tests drive sessions without one).
    pub pgid: Option<Pid>,
    /// Resolves when it has been reaped.
    pub exited: oneshot::Receiver<ExitStatus>,
}
