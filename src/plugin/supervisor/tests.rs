//! The supervisor's state machine, in-process: a fake role whose sessions the test drives
//! (faults, exits, requests), under `tokio::time::pause()` so backoff delays and grace
//! periods pass at once and their lengths can be read off the paused clock.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::control::Control;
use super::fault::{Child, Fault};
use super::role::{Role, Session};
use super::{Context, Handle, State, SupervisorOptions};
use crate::codes::RestartReason;
use crate::process::reaper::ExitStatus;
use crate::sandbox::cgroup::Cgroups;
use crate::sandbox::Sandbox;
use crate::selfmetrics::SelfMetrics;

/// A request: answered with a word saying who answered it.
type Req = oneshot::Sender<&'static str>;

/// What the test holds of one opened session.
struct Opened {
    at: Instant,
    /// Makes the session fail with this fault.
    fault: oneshot::Sender<Fault>,
    /// Makes the child exit; taken away, the child ignores its goodbye.
    exit: Arc<Mutex<Option<oneshot::Sender<ExitStatus>>>>,
    /// Requests the session took.
    requests: mpsc::UnboundedReceiver<()>,
}

#[derive(Clone, Default)]
struct Counts {
    refused: Arc<AtomicUsize>,
    downs: Arc<AtomicUsize>,
}

struct Fake {
    opened: mpsc::UnboundedSender<Opened>,
    /// Faults to fail the next opens with, before any session starts.
    open_faults: Arc<Mutex<VecDeque<Fault>>>,
    counts: Counts,
}

struct FakeSession {
    fault: Option<oneshot::Receiver<Fault>>,
    /// The child exits on goodbye, as a well-behaved plugin does.
    exit: Arc<Mutex<Option<oneshot::Sender<ExitStatus>>>>,
    open: Vec<Req>,
    took: mpsc::UnboundedSender<()>,
}

impl Role for Fake {
    type Request = Req;
    type Session = FakeSession;

    async fn open(&self, _ctx: &Context) -> Result<(FakeSession, Option<Child>), Fault> {
        if let Some(f) = self.open_faults.lock().unwrap().pop_front() {
            return Err(f);
        }
        let (fault_tx, fault_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        let (took_tx, took_rx) = mpsc::unbounded_channel();
        let exit = Arc::new(Mutex::new(Some(exit_tx)));
        let _ = self.opened.send(Opened {
            at: Instant::now(),
            fault: fault_tx,
            exit: exit.clone(),
            requests: took_rx,
        });
        let session = FakeSession {
            fault: Some(fault_rx),
            exit,
            open: Vec::new(),
            took: took_tx,
        };
        let child = Child {
            pgid: None,
            exited: exit_rx,
        };
        Ok((session, Some(child)))
    }

    fn refuse(&self, req: Req) {
        self.counts.refused.fetch_add(1, Ordering::SeqCst);
        let _ = req.send("refused");
    }

    fn down(&self) {
        self.counts.downs.fetch_add(1, Ordering::SeqCst);
    }
}

impl Session for FakeSession {
    type Request = Req;

    fn request(&mut self, req: Req) {
        let _ = self.took.send(());
        self.open.push(req);
    }

    async fn step(&mut self) -> Option<Fault> {
        match self.fault.as_mut() {
            Some(rx) => {
                let got = rx.await;
                self.fault = None;
                match got {
                    Ok(f) => Some(f),
                    Err(_) => std::future::pending().await,
                }
            }
            None => std::future::pending().await,
        }
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.exit.lock().unwrap().take() {
            let _ = tx.send(ExitStatus::Exited(0));
        }
    }

    fn close(&mut self) {
        for r in self.open.drain(..) {
            let _ = r.send("closed");
        }
    }
}

struct Rig {
    handle: Handle<Fake>,
    opened: mpsc::UnboundedReceiver<Opened>,
    open_faults: Arc<Mutex<VecDeque<Fault>>>,
    counts: Counts,
    metrics: Arc<SelfMetrics>,
}

fn rig(faults: Vec<Fault>) -> Rig {
    let yaml = "plugins:\n  - name: fake\n    command: [\"/bin/true\"]\n    allow_root: true\n";
    let cfg = crate::config::parse_str(yaml, Path::new("/test.yml"), &|_| None)
        .expect("the test config is valid")
        .plugins
        .remove(0);
    let sandbox = Arc::new(Sandbox {
        cgroups: Cgroups::none("test"),
        watchdog: None,
        connections: Default::default(),
    });
    let opts = SupervisorOptions {
        plugin_label: "plugin".into(),
        shutdown_grace: Duration::from_secs(2),
        sandbox,
    };
    let (tx, opened) = mpsc::unbounded_channel();
    let open_faults = Arc::new(Mutex::new(VecDeque::from(faults)));
    let counts = Counts::default();
    let metrics = Arc::new(SelfMetrics::new("test", "test"));
    let fake = Fake {
        opened: tx,
        open_faults: open_faults.clone(),
        counts: counts.clone(),
    };
    let handle = Handle::start(fake, Arc::new(cfg), opts, metrics.clone());
    Rig {
        handle,
        opened,
        open_faults,
        counts,
        metrics,
    }
}

impl Rig {
    async fn next_open(&mut self) -> Opened {
        self.opened.recv().await.expect("the supervisor is gone")
    }

    async fn ask(&self) -> &'static str {
        let (tx, rx) = oneshot::channel();
        assert!(self.handle.request(tx).await, "the supervisor is gone");
        rx.await.expect("the request was dropped unanswered")
    }

    fn state(&self) -> State {
        self.handle.core().status().state
    }

    fn restarts(&self, reason: RestartReason) -> u64 {
        self.metrics
            .restarts
            .with_label_values(&["fake", reason.as_str()])
            .get()
    }
}

fn crash() -> Fault {
    Fault::new(RestartReason::Exited, "plugin exited with code 1")
}

#[tokio::test(start_paused = true)]
async fn restart_delays_grow_and_reset_after_a_healthy_run() {
    let mut r = rig(Vec::new());
    let mut prev = r.next_open().await;
    let mut delays = Vec::new();
    for _ in 0..6 {
        prev.fault.send(crash()).unwrap();
        let next = r.next_open().await;
        delays.push(next.at - prev.at);
        prev = next;
    }
    // Equal jitter: each delay lies in [bound/2, bound], bound doubling from 100 ms.
    let mut bound = Duration::from_millis(100);
    for d in &delays {
        assert!(
            *d >= bound / 2 && *d <= bound,
            "{d:?} outside [{:?}, {bound:?}] in {delays:?}",
            bound / 2
        );
        bound *= 2;
    }
    assert_eq!(r.restarts(RestartReason::Exited), 6);
    // A run longer than a minute is healthy: the next delay starts small again.
    tokio::time::sleep(Duration::from_secs(61)).await;
    prev.fault.send(crash()).unwrap();
    let next = r.next_open().await;
    assert!(
        next.at - prev.at - Duration::from_secs(61) <= Duration::from_millis(100),
        "{:?}",
        next.at - prev.at
    );
}

#[tokio::test(start_paused = true)]
async fn the_exit_of_the_child_is_a_restart_with_its_reason() {
    let mut r = rig(Vec::new());
    let first = r.next_open().await;
    let exit = first.exit.lock().unwrap().take().unwrap();
    exit.send(ExitStatus::Signaled(9)).unwrap();
    r.next_open().await;
    assert_eq!(r.restarts(RestartReason::Crashed), 1);
    let st = r.handle.core().snapshot();
    assert_eq!(st.restarts, 1);
    assert_eq!(
        st.last_error.as_deref(),
        Some("plugin was killed by signal 9 (SIGKILL)")
    );
}

#[tokio::test(start_paused = true)]
async fn failed_starts_back_off_and_are_counted() {
    let mut r = rig(vec![
        Fault::new(RestartReason::SpawnFailed, "no such file"),
        Fault::new(RestartReason::Checksum, "bad hash"),
    ]);
    let started = Instant::now();
    let first = r.next_open().await;
    assert!(first.at - started >= Duration::from_millis(50 + 100));
    assert_eq!(r.restarts(RestartReason::SpawnFailed), 1);
    assert_eq!(r.restarts(RestartReason::Checksum), 1);
    assert!(r.open_faults.lock().unwrap().is_empty());
    assert!(r.handle.core().attempted());
}

#[tokio::test(start_paused = true)]
async fn disable_stops_the_plugin_and_enable_starts_it_again() {
    let mut r = rig(Vec::new());
    let _first = r.next_open().await;
    assert_eq!(r.state(), State::Running);
    assert!(r.handle.control(Control::Disable).await);
    assert_eq!(r.state(), State::Disabled);
    assert_eq!(r.metrics.disabled.with_label_values(&["fake"]).get(), 1.0);
    // Requests are refused while disabled; restart and disable change nothing.
    assert_eq!(r.ask().await, "refused");
    assert!(r.handle.control(Control::Restart).await);
    assert!(r.handle.control(Control::Disable).await);
    assert_eq!(r.state(), State::Disabled);
    assert!(r.opened.try_recv().is_err(), "a disabled plugin started");
    assert!(r.handle.control(Control::Enable).await);
    let _second = r.next_open().await;
    assert_eq!(r.metrics.disabled.with_label_values(&["fake"]).get(), 0.0);
    assert_eq!(r.restarts(RestartReason::Requested), 0);
}

#[tokio::test(start_paused = true)]
async fn stop_during_backoff_ends_the_supervisor_without_a_start() {
    let mut r = rig(Vec::new());
    let first = r.next_open().await;
    first.fault.send(crash()).unwrap();
    // Wait until the supervisor counted the fault and is backing off.
    while r.state() != State::Restarting {
        tokio::task::yield_now().await;
    }
    assert!(r.handle.control(Control::Stop).await);
    assert_eq!(r.state(), State::Stopped);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(r.opened.try_recv().is_err(), "started after stop");
    assert!(!r.handle.control(Control::Enable).await, "still answering");
}

#[tokio::test(start_paused = true)]
async fn a_reload_during_a_collect_answers_it_and_stops() {
    let mut r = rig(Vec::new());
    let mut first = r.next_open().await;
    let (tx, rx) = oneshot::channel();
    assert!(r.handle.request(tx).await);
    first
        .requests
        .recv()
        .await
        .expect("the session took the request");
    // A reload stops the plugin; the open collect is answered, not dropped.
    assert!(r.handle.control(Control::Stop).await);
    assert_eq!(rx.await.unwrap(), "closed");
    assert_eq!(r.state(), State::Stopped);
    assert!(r.counts.downs.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_collect_racing_a_restart_is_answered_and_the_next_goes_to_the_new_child() {
    let mut r = rig(Vec::new());
    let mut first = r.next_open().await;
    let (tx, rx) = oneshot::channel();
    assert!(r.handle.request(tx).await);
    let restart = r.handle.control(Control::Restart);
    let (restarted, answer) = tokio::join!(restart, rx);
    assert!(restarted);
    assert_eq!(answer.unwrap(), "closed");
    first
        .requests
        .recv()
        .await
        .expect("the first session took it");
    let mut second = r.next_open().await;
    let (tx, _rx) = oneshot::channel();
    assert!(r.handle.request(tx).await);
    second
        .requests
        .recv()
        .await
        .expect("the new session takes requests");
    assert_eq!(r.restarts(RestartReason::Requested), 1);
    assert_eq!(r.handle.core().snapshot().restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_refused_plugin_reaches_the_stopped_state() {
    let mut r = rig(Vec::new());
    let _first = r.next_open().await;
    // A plugin refused at start (run as root without allow_root) is a plugin in the
    // Refused phase; its Stop must leave it Stopped so no usage is reported after a reload.
    let yaml = "plugins:\n  - name: refused\n    command: [\"/bin/true\"]\n";
    let cfg = crate::config::parse_str(yaml, Path::new("/test.yml"), &|_| None)
        .unwrap()
        .plugins
        .remove(0);
    if !nix::unistd::geteuid().is_root() {
        panic!("this test needs root: the exporter refuses plugins without `user` only as root");
    }
    let (tx, _opened) = mpsc::unbounded_channel();
    let fake = Fake {
        opened: tx,
        open_faults: Arc::default(),
        counts: Counts::default(),
    };
    let opts = SupervisorOptions {
        plugin_label: "plugin".into(),
        shutdown_grace: Duration::from_secs(2),
        sandbox: Arc::new(Sandbox {
            cgroups: Cgroups::none("test"),
            watchdog: None,
            connections: Default::default(),
        }),
    };
    let h = Handle::start(fake, Arc::new(cfg), opts, r.metrics.clone());
    while !h.core().attempted() {
        tokio::task::yield_now().await;
    }
    assert_eq!(h.core().status().state, State::Refused);
    assert!(h.control(Control::Stop).await);
    assert_eq!(h.core().status().state, State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_child_ignoring_its_goodbye_is_stopped_after_the_grace_periods() {
    let mut r = rig(Vec::new());
    let first = r.next_open().await;
    // Well behaved: it exits on goodbye, so a restart waits no grace period.
    let started = Instant::now();
    assert!(r.handle.control(Control::Restart).await);
    let second = r.next_open().await;
    assert!(second.at - started < Duration::from_millis(100));
    drop(first);
    // This one ignores its goodbye: SIGTERM after one grace period, SIGKILL after another.
    let _keep = second.exit.lock().unwrap().take();
    let started = Instant::now();
    assert!(r.handle.control(Control::Restart).await);
    let third = r.next_open().await;
    assert!(
        third.at - started >= Duration::from_secs(4),
        "{:?}",
        third.at - started
    );
    assert_eq!(r.restarts(RestartReason::Requested), 2);
}
