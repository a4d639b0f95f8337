//! The check of an output (`--role output`): a session as the exporter runs it (hello,
//! sample `write` messages one at a time, shutdown). Every stdout line goes through the
//! exporter's own output line parser; each write must be answered with a well-formed `ack`
//! or `error` for its id within the timeout.

use std::time::SystemTime;

use plugin_protocol::{HostHello, HostMessage, LogLevel, Shutdown, WriteBatch, PROTOCOL_VERSION};
use tokio::time::Instant;

use super::batch::{batch_options, PLUGIN_NAME};
use super::child::{describe, human, Child, Event, Output};
use super::jsonl::EXIT_GRACE;
use super::options::{CheckError, Options};
use super::processor::sample_batch;
use super::report::Report;
use crate::codes::RestartReason;
use crate::plugin::lines::Line;
use crate::plugin::output::io::{parse_line, Event as Answer};
use crate::process::reaper::ExitStatus;

/// The sample write: [`sample_batch`] with every sample stamped now, as the exporter sends.
pub fn sample_write(id: u64) -> WriteBatch {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as f64
        / 1000.0;
    let mut families = sample_batch();
    for s in families.iter_mut().flat_map(|f| f.samples.iter_mut()) {
        s.timestamp = Some(now);
    }
    WriteBatch { id, families }
}

/// Runs the whole check of an output. Fails only when it cannot be started at all.
pub async fn check(opts: &Options, report: &mut Report) -> Result<(), CheckError> {
    let mut child = Child::start(&opts.command, batch_options().max_line)
        .await
        .map_err(|e| CheckError::start(&opts.command, e))?;
    child
        .send(&HostMessage::Hello(HostHello {
            protocol: PROTOCOL_VERSION,
            name: PLUGIN_NAME.to_string(),
            config: serde_json::json!({}),
        }))
        .await;
    let mut running = true;
    for id in 1..=u64::from(opts.collects) {
        child.send(&HostMessage::Write(sample_write(id))).await;
        let deadline = Instant::now() + opts.timeout;
        match answer(&mut child, id, deadline, report).await {
            Waited::Answered => {}
            Waited::Deadline => report.counted(
                RestartReason::Timeout.as_str(),
                "",
                format!(
                    "write {id} got no answer within {} (the exporter restarts the output and \
                     retries the write)",
                    human(opts.timeout)
                ),
            ),
            Waited::Gone(status) => {
                report.counted(
                    RestartReason::Exited.as_str(),
                    "",
                    format!(
                        "the output exited ({}) with write {id} open (the exporter restarts it \
                         and retries the write)",
                        describe(status)
                    ),
                );
                running = false;
                break;
            }
        }
    }
    if running {
        child.send(&HostMessage::Shutdown(Shutdown {})).await;
        child.close_stdin();
        let until = Instant::now() + EXIT_GRACE;
        loop {
            match child.next(until).await {
                Event::Output(o) => {
                    output(o, 0, report);
                }
                Event::Closed => {}
                Event::Exited(status) => {
                    if status != Some(ExitStatus::Exited(0)) {
                        report.warn(
                            "",
                            format!(
                                "the output ended with {} after shutdown, not exit code 0",
                                describe(status)
                            ),
                        );
                    }
                    break;
                }
                Event::Deadline => {
                    report.error(
                        "",
                        format!(
                            "the output does not exit after shutdown: still running {} later",
                            human(EXIT_GRACE)
                        ),
                    );
                    child.kill().await;
                    break;
                }
            }
        }
    }
    Ok(())
}

/// How waiting for one answer ended.
enum Waited {
    Answered,
    Deadline,
    Gone(Option<ExitStatus>),
}

async fn answer(child: &mut Child, id: u64, deadline: Instant, report: &mut Report) -> Waited {
    loop {
        match child.next(deadline).await {
            Event::Output(o) => {
                if output(o, id, report) {
                    return Waited::Answered;
                }
            }
            Event::Closed => {}
            Event::Exited(status) => return Waited::Gone(status),
            Event::Deadline => return Waited::Deadline,
        }
    }
}

/// Handles one output line while write `id` is open (0: none); true when it answered it.
fn output(o: Output, id: u64, report: &mut Report) -> bool {
    let protocol = RestartReason::Protocol.as_str();
    let (n, line) = match o {
        Output::Stdout(n, Line::Complete(line)) => (n, line),
        Output::Stdout(n, Line::TooLong { bytes }) => {
            report.counted(
                protocol,
                format!("line {n}"),
                format!("a line of {bytes} bytes or more, over the default max_line"),
            );
            return false;
        }
        Output::StdoutEof => return false,
        Output::Stderr(Line::Complete(line)) => {
            report.log("stderr", String::from_utf8_lossy(&line));
            return false;
        }
        Output::Stderr(Line::TooLong { bytes }) => {
            report.log("stderr", format!("(a line of {bytes} bytes, not shown)"));
            return false;
        }
    };
    let at = format!("line {n}");
    match parse_line(&line) {
        Answer::Hello(h) if h.protocol != PROTOCOL_VERSION => {
            report.error(
                at,
                format!(
                    "the output speaks protocol version {}, the exporter only {PROTOCOL_VERSION}",
                    h.protocol
                ),
            );
            false
        }
        Answer::Hello(_) | Answer::Eof => false,
        Answer::Log(level, message) => {
            let src = match level {
                LogLevel::Debug => "log debug",
                LogLevel::Info => "log info",
                LogLevel::Warn => "log warn",
                LogLevel::Error => "log error",
            };
            report.log(src, message);
            false
        }
        Answer::Ack(got) if got == id => true,
        Answer::Error { id: got, message } if got == Some(id) || (got.is_none() && id != 0) => {
            report.warn(
                at,
                format!(
                    "the output answered write {id} with `error`: {message} (the exporter \
                     retries it with backoff, up to max_retries)"
                ),
            );
            true
        }
        Answer::Ack(got) => {
            report.counted(
                protocol,
                at,
                format!("an `ack` for id {got}, but the open write is {id} (the exporter restarts the output)"),
            );
            false
        }
        Answer::Error { id: got, .. } => {
            let got = got.map_or_else(|| "none".to_string(), |g| g.to_string());
            report.counted(
                protocol,
                at,
                format!("an `error` for id {got}, but the open write is {id} (the exporter restarts the output)"),
            );
            false
        }
        Answer::Garbage(detail) => {
            report.counted(
                protocol,
                at,
                format!("not an output's message: {detail} (the exporter restarts the output)"),
            );
            false
        }
    }
}
