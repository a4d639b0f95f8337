//! The check of a JSON-lines plugin: a session as the exporter runs it (hello, collects one
//! at a time, shutdown), every stdout line checked against PROTOCOL.md and every batch
//! against the exporter's validation, then a second start that only gets end of file.

use std::collections::VecDeque;
use std::time::Duration;

use plugin_protocol::{Collect, HostHello, HostMessage, LogLevel, Shutdown, PROTOCOL_VERSION};
use tokio::time::Instant;

use super::batch::{batch_options, check_line, PLUGIN_NAME};
use super::child::{describe, human, Child, Event, Output};
use super::options::{CheckError, Options};
use super::report::Report;
use crate::codes::ErrorKind;
use crate::plugin::collector::answers::{match_answer, Answer};
use crate::plugin::collector::jsonl_io::{hello_problem, LineOutcome, ProtocolError};
use crate::plugin::lines::Line;
use crate::process::reaper::ExitStatus;

/// Time a plugin gets to exit after `shutdown` or end of file on stdin: the exporter's
/// default `--plugin.shutdown-grace`.
pub const EXIT_GRACE: Duration = Duration::from_secs(2);
/// Time given to output still in the pipes once the plugin is gone.
const DRAIN: Duration = Duration::from_secs(1);
/// Time a plugin that closed stdout gets to exit before it counts as running without it
/// (the exporter's wait, too).
const EOF_EXIT_WAIT: Duration = Duration::from_millis(500);

/// What one wait during the collects or pushes gave.
enum Wait {
    /// Something was handled; keep waiting.
    Going,
    /// The plugin is gone (or was killed): the session is over.
    Gone,
    /// The deadline passed.
    Deadline,
}

/// Which of the two starts a line comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Hello, collects, shutdown.
    Session,
    /// Hello, then end of file.
    Eof,
}

/// A collect sent and not answered yet.
#[derive(Clone, Copy)]
struct Pending {
    id: u64,
    deadline: Instant,
}

/// The checks that need the session's state: open collects, first line.
struct Session<'r> {
    report: &'r mut Report,
    start: Start,
    timeout: Duration,
    /// Collects sent and not answered, oldest first; a collect past its deadline stays
    /// open, as in the exporter, so its late answer is told apart from a wrong id.
    open: VecDeque<u64>,
    /// The collect waiting for its answer before its deadline.
    live: Option<Pending>,
    messages: usize,
    stdout_closed: bool,
    /// Push mode: batches without a collect are pushes, not errors.
    push: bool,
    /// Pushes seen.
    pushes: u32,
}

/// Runs the whole check of a JSON-lines plugin. Fails only when the plugin cannot be
/// started at all.
pub async fn check(opts: &Options, report: &mut Report) -> Result<(), CheckError> {
    let max_line = batch_options().max_line;
    let mut child = Child::start(&opts.command, max_line)
        .await
        .map_err(|e| CheckError::start(&opts.command, e))?;
    let mut s = Session::new(report, Start::Session, opts.timeout);
    s.push = opts.push;
    child.send(&hello()).await;
    let running = if opts.push {
        s.await_pushes(&mut child, opts.collects).await
    } else {
        s.collect_all(&mut child, opts.collects).await
    };
    if running {
        child.send(&HostMessage::Shutdown(Shutdown {})).await;
        child.close_stdin();
        s.expect_exit(&mut child, "after shutdown").await;
    }
    drop(child);

    match Child::start(&opts.command, max_line).await {
        Err(e) => report.error("", format!("cannot start the plugin a second time: {e}")),
        Ok(mut child) => {
            let mut s = Session::new(report, Start::Eof, opts.timeout);
            s.push = opts.push;
            child.send(&hello()).await;
            child.close_stdin();
            s.expect_exit(&mut child, "on stdin EOF").await;
        }
    }
    Ok(())
}

fn hello() -> HostMessage {
    HostMessage::Hello(HostHello {
        protocol: PROTOCOL_VERSION,
        name: PLUGIN_NAME.to_string(),
        config: serde_json::json!({}),
    })
}

impl<'r> Session<'r> {
    fn new(report: &'r mut Report, start: Start, timeout: Duration) -> Self {
        Session {
            report,
            start,
            timeout,
            open: VecDeque::new(),
            live: None,
            messages: 0,
            stdout_closed: false,
            push: false,
            pushes: 0,
        }
    }

    /// Push mode: waits for `pushes` batches, each within the timeout of the one before. False
    /// when the plugin is gone (or was killed for closing stdout).
    async fn await_pushes(&mut self, child: &mut Child, pushes: u32) -> bool {
        while self.pushes < pushes {
            let seen = self.pushes;
            let deadline = Instant::now() + self.timeout;
            let when = format!("after {seen} of {pushes} pushes");
            while self.pushes == seen {
                match self.wait(child, deadline, &when).await {
                    Wait::Going => {}
                    Wait::Gone => return false,
                    Wait::Deadline => {
                        self.report.error(
                            "",
                            format!(
                                "push {} did not come within {} (in push mode the exporter \
                                 drops a plugin's series after 3 intervals without a push)",
                                seen + 1,
                                human(self.timeout)
                            ),
                        );
                        return true;
                    }
                }
            }
        }
        true
    }

    /// Handles the next thing the plugin does before `deadline`; `when` says where the
    /// session is, for messages ("while collect 3 was open", "after 1 of 3 pushes").
    async fn wait(&mut self, child: &mut Child, deadline: Instant, when: &str) -> Wait {
        match child.next(deadline).await {
            Event::Closed => Wait::Going,
            Event::Output(o) => {
                self.handle(o);
                if self.stdout_closed && !self.stdout_closed_ok(child, when).await {
                    Wait::Gone
                } else {
                    Wait::Going
                }
            }
            Event::Exited(status) => {
                self.drain(child).await;
                self.report.error(
                    "",
                    format!(
                        "the plugin exited ({}) {when}, before any shutdown (the exporter \
                         restarts it)",
                        describe(status)
                    ),
                );
                Wait::Gone
            }
            Event::Deadline => Wait::Deadline,
        }
    }

    /// Sends the collects one at a time. False when the plugin is gone (or was killed for
    /// closing stdout), so there is nobody to shut down.
    async fn collect_all(&mut self, child: &mut Child, collects: u32) -> bool {
        for id in 1..=u64::from(collects) {
            let deadline = Instant::now() + self.timeout;
            child
                .send(&HostMessage::Collect(Collect {
                    id,
                    deadline_ms: self.timeout.as_millis() as u64,
                }))
                .await;
            self.open.push_back(id);
            self.live = Some(Pending { id, deadline });
            let when = format!("while collect {id} was open");
            while self.live.is_some() {
                match self.wait(child, deadline, &when).await {
                    Wait::Going => {}
                    Wait::Gone => return false,
                    Wait::Deadline => {
                        self.report.counted(
                            ErrorKind::Timeout.as_str(),
                            "",
                            format!("collect {id} got no answer within {}", human(self.timeout)),
                        );
                        self.live = None;
                    }
                }
            }
        }
        true
    }

    /// Stdout closed during the collects: the plugin exits (reported) or keeps running
    /// without it (reported, killed). Returns false either way: the session is over.
    async fn stdout_closed_ok(&mut self, child: &mut Child, when: &str) -> bool {
        let until = Instant::now() + EOF_EXIT_WAIT;
        loop {
            match child.next(until).await {
                Event::Closed => {}
                Event::Output(o) => self.handle(o),
                Event::Exited(status) => {
                    self.drain(child).await;
                    self.report.error(
                        "",
                        format!(
                            "the plugin exited ({}) {when}, before any shutdown (the exporter \
                             restarts it)",
                            describe(status)
                        ),
                    );
                    return false;
                }
                Event::Deadline => {
                    self.report.error(
                        "",
                        "the plugin closed its stdout but kept running (the exporter restarts it)",
                    );
                    child.kill().await;
                    self.drain(child).await;
                    return false;
                }
            }
        }
    }

    /// Waits [`EXIT_GRACE`] for the plugin to exit, checking what it still writes; an error
    /// `does not exit {when}` and a kill otherwise.
    async fn expect_exit(&mut self, child: &mut Child, when: &str) {
        let until = Instant::now() + EXIT_GRACE;
        loop {
            match child.next(until).await {
                Event::Closed => {}
                Event::Output(o) => self.handle(o),
                Event::Exited(status) => {
                    self.drain(child).await;
                    if status != Some(ExitStatus::Exited(0)) {
                        self.report.warn(
                            "",
                            format!(
                                "the plugin ended with {} {when}, not exit code 0",
                                describe(status)
                            ),
                        );
                    }
                    return;
                }
                Event::Deadline => {
                    self.report.error(
                        "",
                        format!(
                            "the plugin does not exit {when}: still running {} later (the \
                             exporter then sends SIGTERM, then SIGKILL)",
                            human(EXIT_GRACE)
                        ),
                    );
                    child.kill().await;
                    self.drain(child).await;
                    return;
                }
            }
        }
    }

    /// Handles what is left in the pipes of a plugin that is gone, for a bounded time.
    async fn drain(&mut self, child: &mut Child) {
        let until = Instant::now() + DRAIN;
        while child.output_open() {
            match child.next(until).await {
                Event::Output(o) => self.handle(o),
                Event::Exited(_) | Event::Closed => {}
                Event::Deadline => return,
            }
        }
    }

    fn at(&self, n: usize) -> String {
        match self.start {
            Start::Session => format!("line {n}"),
            Start::Eof => format!("line {n} (second start)"),
        }
    }

    fn log_source(&self, source: &str) -> String {
        match self.start {
            Start::Session => source.to_string(),
            Start::Eof => format!("{source}, second start"),
        }
    }

    fn handle(&mut self, out: Output) {
        match out {
            Output::Stdout(n, Line::Complete(line)) => self.line(n, &line),
            Output::Stdout(n, Line::TooLong { bytes }) => self.report.counted(
                ErrorKind::LineTooLong.as_str(),
                self.at(n),
                format!(
                    "a line of {bytes} bytes or more, over the exporter's default max_line of \
                     {} bytes: it is skipped and the open collect fails",
                    batch_options().max_line
                ),
            ),
            Output::StdoutEof => self.stdout_closed = true,
            Output::Stderr(Line::Complete(line)) => {
                let src = self.log_source("stderr");
                self.report.log(src, String::from_utf8_lossy(&line));
            }
            Output::Stderr(Line::TooLong { bytes }) => {
                let src = self.log_source("stderr");
                self.report
                    .log(src, format!("(a line of {bytes} bytes, not shown)"));
            }
        }
    }

    /// Checks one stdout line through the exporter's own line parser.
    fn line(&mut self, n: usize, line: &[u8]) {
        let at = self.at(n);
        self.messages += 1;
        let protocol = ErrorKind::Protocol.as_str();
        match check_line(line, &at, self.report) {
            LineOutcome::Invalid(ProtocolError::Blank) => self.report.counted(
                protocol,
                at,
                "an empty line: stdout carries protocol messages only (a protocol error)",
            ),
            LineOutcome::Invalid(why) => {
                let hint = if line.trim_ascii_start().starts_with(b"{") {
                    ""
                } else {
                    " (stdout carries protocol lines only: write logs to stderr)"
                };
                self.report.counted(
                    protocol,
                    at,
                    format!("not a protocol message: {why}; the exporter drops the line{hint}"),
                );
            }
            LineOutcome::Rejected(r) => self.report.counted(
                r.kind().as_str(),
                at,
                format!("{r}: over the default max_series, the exporter refuses the whole batch"),
            ),
            LineOutcome::Hello(h) => {
                if hello_problem(&h).is_some() {
                    self.report.counted(
                        protocol,
                        at.clone(),
                        format!(
                            "the plugin announces protocol version {}, but the exporter speaks \
                             {PROTOCOL_VERSION} and refuses the plugin",
                            h.protocol
                        ),
                    );
                }
                if self.messages > 1 {
                    self.report
                        .warn(at, "a hello should be the plugin's first line");
                }
            }
            LineOutcome::Metrics { id, .. } => {
                self.answer(&at, id, "metrics");
            }
            LineOutcome::Error { id, message } => {
                if let Some(id) = self.answer(&at, id, "error") {
                    self.report.warn(
                        at,
                        format!("collect {id} failed: the plugin answered error: {message}"),
                    );
                }
            }
            LineOutcome::Log(level, message) => {
                let level = match level {
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                };
                let src = self.log_source(&format!("log {level}"));
                self.report.log(src, message);
            }
        }
    }

    /// Matches an answer to a pending collect as the exporter does; reports answers that
    /// match none or come late. Returns the collect it answered.
    fn answer(&mut self, at: &str, id: Option<u64>, what: &str) -> Option<u64> {
        let live = self.live.map(|p| p.id);
        let late = ErrorKind::Late.as_str();
        match match_answer(id, &mut self.open, live) {
            Answer::Live => {
                let p = self.live.take()?;
                if Instant::now() <= p.deadline {
                    return Some(p.id);
                }
                self.report.counted(late, at, self.late(what, p.id));
                Some(p.id)
            }
            Answer::Late(answered) => {
                self.report.counted(late, at, self.late(what, answered));
                Some(answered)
            }
            Answer::Unknown => {
                let i = id.unwrap_or_default();
                let why = match live {
                    Some(open) => format!(
                        "{what} with id {i}, but the open collect has id {open}: answers must \
                         echo the collect's id (or leave it out to answer in order); the \
                         exporter drops it"
                    ),
                    None => format!(
                        "{what} with id {i}, but no collect with that id is pending; the \
                         exporter drops it"
                    ),
                };
                self.report.counted(late, at, why);
                None
            }
            Answer::Unsolicited if self.push && what == "metrics" => {
                self.pushes += 1;
                None
            }
            Answer::Unsolicited => {
                self.report.counted(
                    ErrorKind::Protocol.as_str(),
                    at,
                    format!(
                        "{what} without id while no collect is pending: it answers nothing (only \
                         plugins in push mode send metrics on their own); the exporter drops it"
                    ),
                );
                None
            }
        }
    }

    fn late(&self, what: &str, id: u64) -> String {
        format!(
            "{what} for collect {id} came after its deadline of {}; the exporter drops it",
            human(self.timeout)
        )
    }
}
