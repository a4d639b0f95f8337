//! The check of a processor (`--role processor`): a session as the exporter runs it (hello,
//! a sample batch in `process` messages one at a time, shutdown). Every stdout line goes
//! through the exporter's own processor line parser, and every `processed` answer through
//! the exporter's validation, as a collector's batch would.

use plugin_protocol::{
    Family, HostHello, HostMessage, LogLevel, MetricType, Process, Sample, Shutdown, Value,
    PROTOCOL_VERSION,
};
use tokio::time::Instant;

use super::batch::{batch_options, check_batch, PLUGIN_NAME};
use super::child::{describe, human, Child, Event, Output};
use super::jsonl::EXIT_GRACE;
use super::options::{CheckError, Options};
use super::report::Report;
use crate::codes::ProcessorErrorKind;
use crate::plugin::lines::Line;
use crate::plugin::processor::io::{parse_line, Event as Answer};
use crate::process::reaper::ExitStatus;

/// The name of the collector the sample batches come from.
pub const SAMPLE_PLUGIN: &str = "sample";

/// The batch sent to the processor: a counter and a gauge with a few labelled series.
pub fn sample_batch() -> Vec<Family> {
    let sample = |labels: &[(&str, &str)], value: f64| Sample {
        labels: plugin_protocol::Labels(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        value: Some(Value(value)),
        ..Sample::default()
    };
    vec![
        Family {
            name: "sample_requests_total".to_string(),
            kind: MetricType::Counter,
            help: "Requests served.".to_string(),
            unit: None,
            samples: vec![
                sample(&[("host", "web1"), ("path", "/")], 10.0),
                sample(&[("host", "web2"), ("path", "/")], 5.0),
            ],
        },
        Family {
            name: "sample_queue_length".to_string(),
            kind: MetricType::Gauge,
            help: "Jobs waiting.".to_string(),
            unit: None,
            samples: vec![sample(&[("host", "web1")], 2.0)],
        },
    ]
}

/// Runs the whole check of a processor. Fails only when it cannot be started at all.
pub async fn check(opts: &Options, report: &mut Report) -> Result<(), CheckError> {
    let limits = batch_options();
    let mut child = Child::start(&opts.command, limits.max_line)
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
        child
            .send(&HostMessage::Process(Process {
                id,
                plugin: SAMPLE_PLUGIN.to_string(),
                deadline_ms: opts.timeout.as_millis() as u64,
                families: sample_batch(),
            }))
            .await;
        let deadline = Instant::now() + opts.timeout;
        match answer(&mut child, id, deadline, report).await {
            Waited::Answered => {}
            Waited::Deadline => report.counted(
                ProcessorErrorKind::Timeout.as_str(),
                "",
                format!(
                    "batch {id} got no answer within {} (the exporter serves it as on_error \
                     says and restarts the processor)",
                    human(opts.timeout)
                ),
            ),
            Waited::Gone(status) => {
                report.counted(
                    ProcessorErrorKind::Crash.as_str(),
                    "",
                    format!(
                        "the processor exited ({}) with batch {id} open (the exporter restarts \
                         it)",
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
                                "the processor ended with {} after shutdown, not exit code 0",
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
                            "the processor does not exit after shutdown: still running {} later",
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

/// Handles one output of the processor while batch `id` is open; true when it answered it.
fn output(o: Output, id: u64, report: &mut Report) -> bool {
    let garbage = ProcessorErrorKind::Garbage.as_str();
    let (n, line) = match o {
        Output::Stdout(n, Line::Complete(line)) => (n, line),
        Output::Stdout(n, Line::TooLong { bytes }) => {
            report.counted(
                ProcessorErrorKind::Invalid.as_str(),
                format!("line {n}"),
                format!("a line of {bytes} bytes or more, over the default max_line"),
            );
            return true;
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
    match parse_line(&line, batch_options().max_series) {
        Answer::Hello(h) if h.protocol != PROTOCOL_VERSION => {
            report.error(
                at,
                format!(
                    "the processor speaks protocol version {}, the exporter only {PROTOCOL_VERSION}",
                    h.protocol
                ),
            );
            false
        }
        Answer::Hello(_) => false,
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
        Answer::Processed { id: got, families } if got == id => {
            check_batch(&families, &|_| at.clone(), true, report);
            true
        }
        Answer::Processed { id: got, .. } => {
            report.counted(
                garbage,
                at,
                format!("a `processed` for id {got}, but the open batch is {id} (the exporter restarts the processor)"),
            );
            false
        }
        Answer::Error { message, .. } => {
            report.counted(
                ProcessorErrorKind::Error.as_str(),
                at,
                format!("the processor answered batch {id} with `error`: {message}"),
            );
            true
        }
        Answer::TooBig(detail) => {
            report.counted(ProcessorErrorKind::Invalid.as_str(), at, detail);
            true
        }
        Answer::Garbage(detail) => {
            report.counted(
                garbage,
                at,
                format!(
                    "not a processor's message: {detail} (the exporter restarts the processor)"
                ),
            );
            false
        }
        Answer::Eof => false,
    }
}
