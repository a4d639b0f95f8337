//! The check of a JSON-lines plugin: a session as the exporter runs it (hello, collects one
//! at a time, shutdown), every stdout line checked against PROTOCOL.md and every batch
//! against the exporter's validation, then a second start that only gets end of file.

use std::collections::VecDeque;
use std::time::Duration;

use plugin_protocol::{
    Collect, HostHello, HostMessage, LineError, LogLevel, PluginMessage, Shutdown, PROTOCOL_VERSION,
};
use tokio::time::Instant;

use super::batch::{check_batch, reader_options, PLUGIN_NAME};
use super::child::{describe, human, Child, Event, Output};
use super::report::Report;
use super::{CheckError, Options};
use crate::plugin::lines::Line;
use crate::plugin::spawn::ExitStatus;

/// Time a plugin gets to exit after `shutdown` or end of file on stdin: the exporter's
/// default `--plugin.shutdown-grace`.
pub const EXIT_GRACE: Duration = Duration::from_secs(2);
/// Time given to output still in the pipes once the plugin is gone.
const DRAIN: Duration = Duration::from_secs(1);
/// Time a plugin that closed stdout gets to exit before it counts as running without it
/// (the exporter's wait, too).
const EOF_EXIT_WAIT: Duration = Duration::from_millis(500);

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
    /// pending, as in the exporter, so its late answer is told apart from a wrong id.
    pending: VecDeque<Pending>,
    /// The collect waiting for its answer before its deadline.
    live: Option<u64>,
    messages: usize,
    stdout_closed: bool,
}

/// Runs the whole check of a JSON-lines plugin. Fails only when the plugin cannot be
/// started at all.
pub async fn check(opts: &Options, report: &mut Report) -> Result<(), CheckError> {
    let max_line = reader_options().max_line;
    let mut child = Child::start(&opts.command, max_line)
        .await
        .map_err(|e| CheckError::start(&opts.command, e))?;
    let mut s = Session::new(report, Start::Session, opts.timeout);
    child.send(&hello()).await;
    if s.collect_all(&mut child, opts.collects).await {
        child.send(&HostMessage::Shutdown(Shutdown {})).await;
        child.close_stdin();
        s.expect_exit(&mut child, "after shutdown").await;
    }
    drop(child);

    match Child::start(&opts.command, max_line).await {
        Err(e) => report.error("", format!("cannot start the plugin a second time: {e}")),
        Ok(mut child) => {
            let mut s = Session::new(report, Start::Eof, opts.timeout);
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
            pending: VecDeque::new(),
            live: None,
            messages: 0,
            stdout_closed: false,
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
            self.pending.push_back(Pending { id, deadline });
            self.live = Some(id);
            while self.live.is_some() {
                match child.next(deadline).await {
                    Event::Closed => {}
                    Event::Output(o) => {
                        self.handle(o);
                        if self.stdout_closed && !self.stdout_closed_ok(child, id).await {
                            return false;
                        }
                    }
                    Event::Exited(status) => {
                        self.drain(child).await;
                        self.report.error(
                            "",
                            format!(
                                "the plugin exited ({}) while collect {id} was open, before \
                                 any shutdown (the exporter restarts it)",
                                describe(status)
                            ),
                        );
                        return false;
                    }
                    Event::Deadline => {
                        self.report.error(
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
    async fn stdout_closed_ok(&mut self, child: &mut Child, id: u64) -> bool {
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
                            "the plugin exited ({}) while collect {id} was open, before any \
                             shutdown (the exporter restarts it)",
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
            Output::Stdout(n, Line::TooLong { bytes }) => self.report.error(
                self.at(n),
                format!(
                    "a line of {bytes} bytes or more, over the exporter's default max_line of \
                     {} bytes: it is skipped and the open collect fails",
                    reader_options().max_line
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

    /// Checks one stdout line.
    fn line(&mut self, n: usize, line: &[u8]) {
        let at = self.at(n);
        self.messages += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            self.report.error(
                at,
                "an empty line: stdout carries protocol messages only (a protocol error)",
            );
            return;
        }
        let msg = match PluginMessage::from_line_limited(line, reader_options().max_series) {
            Ok(m) => m,
            Err(LineError::TooManySamples { limit }) => {
                self.report.error(
                    at,
                    format!(
                        "more than {limit} samples in one message: over the default \
                         max_series, the exporter refuses the whole batch"
                    ),
                );
                return;
            }
            Err(LineError::Json(e)) => {
                let why = match std::str::from_utf8(line) {
                    Err(_) => "not valid UTF-8".to_string(),
                    Ok(_) => e.to_string(),
                };
                let hint = if line.trim_ascii_start().starts_with(b"{") {
                    ""
                } else {
                    " (stdout carries protocol lines only: write logs to stderr)"
                };
                self.report.error(
                    at,
                    format!("not a protocol message: {why}; the exporter drops the line{hint}"),
                );
                return;
            }
        };
        match msg {
            PluginMessage::Hello(h) => {
                if h.protocol != PROTOCOL_VERSION {
                    self.report.error(
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
            PluginMessage::Metrics(m) => {
                self.answer(&at, m.id, "metrics");
                check_batch(&m.families, &|_| at.clone(), true, self.report);
            }
            PluginMessage::Error(e) => {
                if let Some(id) = self.answer(&at, e.id, "error") {
                    self.report.warn(
                        at,
                        format!(
                            "collect {id} failed: the plugin answered error: {}",
                            e.message
                        ),
                    );
                }
            }
            PluginMessage::Log(l) => {
                let level = match l.level {
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                };
                let src = self.log_source(&format!("log {level}"));
                self.report.log(src, l.message);
            }
        }
    }

    /// Matches an answer to a pending collect as the exporter does; reports answers that
    /// match none or come late. Returns the collect it answered.
    fn answer(&mut self, at: &str, id: Option<u64>, what: &str) -> Option<u64> {
        let pos = match id {
            Some(i) => self.pending.iter().position(|p| p.id == i),
            None => (!self.pending.is_empty()).then_some(0),
        };
        let Some(pos) = pos else {
            let why = match (id, self.live) {
                (Some(i), Some(open)) => format!(
                    "{what} with id {i}, but the open collect has id {open}: answers must echo \
                     the collect's id (or leave it out to answer in order); the exporter drops it"
                ),
                (Some(i), None) => format!(
                    "{what} with id {i}, but no collect with that id is pending; the exporter \
                     drops it"
                ),
                (None, _) => format!(
                    "{what} without id while no collect is pending: it answers nothing (only \
                     plugins in push mode send metrics on their own); the exporter drops it"
                ),
            };
            self.report.error(at, why);
            return None;
        };
        let p = self.pending[pos];
        // An answer settles every older pending collect too: the plugin moved past them.
        self.pending.drain(..=pos);
        if self.live == Some(p.id) && Instant::now() <= p.deadline {
            self.live = None;
        } else {
            self.report.error(
                at,
                format!(
                    "{what} for collect {} came after its deadline of {}; the exporter drops it",
                    p.id,
                    human(self.timeout)
                ),
            );
        }
        Some(p.id)
    }
}
