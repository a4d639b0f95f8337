//! The supervisor's commands and the one decision table that says what each does in each
//! phase of a plugin's life.

use tokio::sync::oneshot;

/// A lifecycle command (API, reload, shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop for good (exporter shutdown, or the plugin left the configuration).
    Stop,
    /// Stop the running child and start a new one at once (no backoff).
    Restart,
    /// Stop the plugin and keep it stopped until enabled.
    Disable,
    /// Start a disabled plugin again.
    Enable,
}

/// What reaches a supervisor: a request for its role, or a lifecycle command answered on
/// `done` once carried out.
pub enum Command<Q> {
    /// For the role's session (or refused by the role while none runs).
    Request(Q),
    /// A lifecycle command.
    Control(Control, oneshot::Sender<()>),
}

/// Where a plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A session runs.
    Running,
    /// Waiting out a backoff delay before the next start.
    Backoff,
    /// Disabled through the API.
    Disabled,
    /// Refused at start (it would run as root); only a new configuration helps.
    Refused,
}

/// What a command makes the supervisor do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing changes; the command is answered at once.
    Stay,
    /// Start a session now (a restart during backoff, an enable).
    Start,
    /// Stop the running session, count a requested restart and start anew at once.
    Restart,
    /// Stop whatever runs and stay disabled.
    Disable,
    /// Stop whatever runs, remove the fence, and end the supervisor.
    Stop,
}

/// The whole state machine of commands, in one place.
pub fn decide(phase: Phase, control: Control) -> Next {
    match (control, phase) {
        (Control::Stop, _) => Next::Stop,
        (Control::Restart, Phase::Running) => Next::Restart,
        (Control::Restart, Phase::Backoff) => Next::Start,
        (Control::Restart, Phase::Disabled | Phase::Refused) => Next::Stay,
        (Control::Disable, Phase::Running | Phase::Backoff) => Next::Disable,
        (Control::Disable, Phase::Disabled | Phase::Refused) => Next::Stay,
        (Control::Enable, Phase::Disabled) => Next::Start,
        (Control::Enable, Phase::Running | Phase::Backoff | Phase::Refused) => Next::Stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_wins_in_every_phase() {
        for p in [
            Phase::Running,
            Phase::Backoff,
            Phase::Disabled,
            Phase::Refused,
        ] {
            assert_eq!(decide(p, Control::Stop), Next::Stop, "{p:?}");
        }
    }

    #[test]
    fn a_refused_plugin_only_stops() {
        for c in [Control::Restart, Control::Disable, Control::Enable] {
            assert_eq!(decide(Phase::Refused, c), Next::Stay, "{c:?}");
        }
    }

    #[test]
    fn restart_and_enable_start_only_where_nothing_runs() {
        assert_eq!(decide(Phase::Running, Control::Restart), Next::Restart);
        assert_eq!(decide(Phase::Backoff, Control::Restart), Next::Start);
        assert_eq!(decide(Phase::Disabled, Control::Restart), Next::Stay);
        assert_eq!(decide(Phase::Disabled, Control::Enable), Next::Start);
        assert_eq!(decide(Phase::Running, Control::Enable), Next::Stay);
        assert_eq!(decide(Phase::Backoff, Control::Disable), Next::Disable);
    }
}
