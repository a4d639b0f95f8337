//! Tests of the SDK: batches on the wire, conversations with an in-memory host, pushing.

use super::wire::{metrics, send};
use super::*;
use crate::{HostHello, LogLevel, MetricType, PluginMessage};
use serde_json::json;
use std::io::{self, Write};
use std::time::Duration;

fn host(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

const HELLO: &str = r#"{"type":"hello","protocol":1,"name":"t","config":{"k":"v"}}"#;
const SHUTDOWN: &str = r#"{"type":"shutdown"}"#;

fn collect(id: u64) -> String {
    format!(r#"{{"type":"collect","id":{id},"deadline_ms":1000}}"#)
}

/// Runs `collector` on the host's `lines`; the plugin's lines, each checked to be a
/// message the host accepts and valid against the protocol's JSON Schema.
fn converse<C: Collector>(lines: &[&str], collector: C) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    run_with(&host(lines)[..], &mut out, "t", "0.1", collector).unwrap();
    check_lines(&out)
}

fn check_lines(out: &[u8]) -> Vec<serde_json::Value> {
    let schema = plugin_schema();
    let text = std::str::from_utf8(out).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    text.lines()
        .map(|l| {
            PluginMessage::from_line(l.as_bytes()).unwrap_or_else(|e| panic!("{e}: {l}"));
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let errors: Vec<String> = schema.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{l}: {errors:?}");
            v
        })
        .collect()
}

/// The schema narrowed to the plugin's messages.
fn plugin_schema() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/protocol.schema.json");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let o = s.as_object_mut().unwrap();
    o.remove("anyOf");
    o.insert("$ref".into(), json!("#/$defs/plugin_message"));
    jsonschema::validator_for(&s).unwrap()
}

fn full_batch(b: &mut Batch) {
    b.counter("c_total", "A counter.")
        .sample(&[("a", "1")], 3.0)
        .sample(&[("a", "2")], 4.0);
    b.gauge("g_celsius", "A gauge.")
        .unit("celsius")
        .sample(&[], f64::NAN)
        .sample(&[("s", "hot")], f64::INFINITY)
        .sample(&[("s", "cold")], f64::NEG_INFINITY);
    b.untyped("u", "Untyped.").sample(&[], -0.5);
    b.histogram("h_seconds", "A histogram.")
        .unit("seconds")
        .observe_buckets(
            &[("x", "y")],
            &[(0.1, 1), (1.0, 3), (f64::INFINITY, 4)],
            2.5,
            4,
        );
    b.summary("s_seconds", "A summary.")
        .unit("seconds")
        .quantiles(&[], &[(0.5, 0.2), (0.99, 1.3)], 120.5, 400);
}

#[test]
fn openmetrics_types_and_extras_serialize_as_the_protocol_says() {
    let mut b = Batch::new();
    b.counter("c_total", "A counter.")
        .sample(&[("a", "1")], 3.0)
        .timestamp(1700000000.5)
        .created(1600000000.0)
        .exemplar(&[("trace_id", "t1")], 1.0);
    b.gauge_histogram("q_seconds", "Ages.")
        .unit("seconds")
        .observe_buckets(&[], &[(1.0, 2), (f64::INFINITY, 3)], 4.5, 3);
    b.info("build_info", "Build.").info(&[("version", "1.2")]);
    b.stateset("mode", "Mode.")
        .states(&[("app", "x")], &[("on", true), ("off", false)]);
    let lines = check_lines(&{
        let mut out = Vec::new();
        send(&mut out, &metrics(None, b.families())).unwrap();
        out
    });
    assert_eq!(
        lines[0]["families"],
        json!([
            {"name":"c_total","type":"counter","help":"A counter.","samples":[
                {"labels":{"a":"1"},"value":3.0,"timestamp":1700000000.5,"created":1600000000.0,
                 "exemplar":{"labels":{"trace_id":"t1"},"value":1.0}}]},
            {"name":"q_seconds","type":"gaugehistogram","help":"Ages.","unit":"seconds","samples":[
                {"buckets":[{"le":1.0,"count":2.0},{"le":"+Inf","count":3.0}],"sum":4.5,"count":3.0}]},
            {"name":"build_info","type":"info","help":"Build.","samples":[
                {"labels":{"version":"1.2"},"value":1.0}]},
            {"name":"mode","type":"stateset","help":"Mode.","samples":[
                {"labels":{"app":"x","mode":"on"},"value":1.0},
                {"labels":{"app":"x","mode":"off"},"value":0.0}]}
        ])
    );
    let kinds: Vec<MetricType> = b.families().iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            MetricType::Counter,
            MetricType::GaugeHistogram,
            MetricType::Info,
            MetricType::StateSet
        ]
    );
}

#[test]
fn a_batch_serializes_as_the_protocol_says() {
    let mut b = Batch::new();
    full_batch(&mut b);
    let mut out = Vec::new();
    send(&mut out, &metrics(Some(3), b.families())).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        concat!(
            r#"{"type":"metrics","id":3,"families":["#,
            r#"{"name":"c_total","type":"counter","help":"A counter.","samples":[{"labels":{"a":"1"},"value":3.0},{"labels":{"a":"2"},"value":4.0}]},"#,
            r#"{"name":"g_celsius","type":"gauge","help":"A gauge.","unit":"celsius","samples":[{"value":"NaN"},{"labels":{"s":"hot"},"value":"+Inf"},{"labels":{"s":"cold"},"value":"-Inf"}]},"#,
            r#"{"name":"u","type":"untyped","help":"Untyped.","samples":[{"value":-0.5}]},"#,
            r#"{"name":"h_seconds","type":"histogram","help":"A histogram.","unit":"seconds","samples":[{"labels":{"x":"y"},"buckets":[{"le":0.1,"count":1.0},{"le":1.0,"count":3.0},{"le":"+Inf","count":4.0}],"sum":2.5,"count":4.0}]},"#,
            r#"{"name":"s_seconds","type":"summary","help":"A summary.","unit":"seconds","samples":[{"quantiles":[{"quantile":0.5,"value":0.2},{"quantile":0.99,"value":1.3}],"sum":120.5,"count":400.0}]}]}"#,
            "\n"
        )
    );
    check_lines(&{
        let mut o = Vec::new();
        send(&mut o, &metrics(None, b.families())).unwrap();
        o
    });
}

#[test]
fn the_borrowed_metrics_line_is_the_wire_types_line() {
    let mut b = Batch::new();
    full_batch(&mut b);
    for id in [None, Some(u64::MAX)] {
        let mut out = Vec::new();
        send(&mut out, &metrics(id, b.families())).unwrap();
        let owned = PluginMessage::Metrics(crate::Metrics {
            id,
            families: b.families().to_vec(),
        });
        assert_eq!(String::from_utf8(out).unwrap(), owned.to_line());
    }
}

#[test]
fn asking_again_for_a_family_continues_it() {
    let mut b = Batch::new();
    for cpu in ["0", "1"] {
        b.gauge("cpu_ratio", "Busy share.")
            .sample(&[("cpu", cpu)], 0.5);
        b.gauge("cpu_ratio", "Ignored help.")
            .sample(&[("cpu", cpu)], 0.5);
    }
    // Another type under the same name is kept apart, for the host to refuse.
    b.counter("cpu_ratio", "Wrong.").sample(&[], 1.0);
    let f = b.families();
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].help.as_str(), f[0].samples.len()), ("Busy share.", 4));
    assert_eq!(f[1].kind, MetricType::Counter);
}

#[test]
fn hello_first_then_each_collect_answered_with_its_id() {
    let mut n = 0.0;
    let lines = converse(
        &[HELLO, &collect(7), &collect(9), SHUTDOWN],
        |b: &mut Batch| {
            n += 1.0;
            b.gauge("n", "Calls.").sample(&[], n);
            assert!(b.deadline().is_some());
            Ok(())
        },
    );
    assert_eq!(
        lines[0],
        json!({"type":"hello","protocol":1,"name":"t","version":"0.1"})
    );
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["id"], 7);
    assert_eq!(lines[1]["families"][0]["samples"][0]["value"], 1.0);
    assert_eq!(lines[2]["id"], 9);
    assert_eq!(lines[2]["families"][0]["samples"][0]["value"], 2.0);
}

#[test]
fn a_failed_or_panicking_collect_is_an_error_and_the_plugin_goes_on() {
    let mut call = 0;
    let lines = converse(&[&collect(1), &collect(2), &collect(3)], |b: &mut Batch| {
        call += 1;
        b.gauge("x", "X.").sample(&[], 1.0);
        b.log().warn(format!("call {call}"));
        match call {
            1 => Err("database is locked".to_owned()),
            2 => panic!("boom"),
            _ => Ok(()),
        }
    });
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["hello", "log", "error", "log", "error", "log", "metrics"]
    );
    assert_eq!(
        lines[2],
        json!({"type":"error","id":1,"message":"database is locked"})
    );
    assert_eq!(
        lines[3],
        json!({"type":"log","level":"warn","message":"call 2"})
    );
    assert_eq!(
        lines[4],
        json!({"type":"error","id":2,"message":"the collector panicked: boom"})
    );
    assert_eq!(lines[6]["id"], 3);
}

#[test]
fn it_stops_at_shutdown_and_at_the_end_of_input() {
    let answered = |lines: &[&str]| {
        converse(lines, |_: &mut Batch| Ok(()))
            .iter()
            .filter(|l| l["type"] == "metrics")
            .count()
    };
    assert_eq!(answered(&[&collect(1), SHUTDOWN, &collect(2)]), 1);
    assert_eq!(answered(&[&collect(1), &collect(2)]), 2);
    assert_eq!(answered(&[]), 0);
    // A last line without its newline still counts.
    let mut out = Vec::new();
    let input = collect(5);
    run_with(input.as_bytes(), &mut out, "t", "0.1", |_: &mut Batch| {
        Ok(())
    })
    .unwrap();
    assert_eq!(check_lines(&out)[1]["id"], 5);
}

#[test]
fn unknown_and_broken_lines_are_skipped() {
    let lines = converse(
        &[
            r#"{"type":"reload","id":1}"#,
            "not json",
            "",
            r#"["collect"]"#,
            &collect(4),
        ],
        |_: &mut Batch| Ok(()),
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["id"], 4);
}

struct Configured {
    seen: Option<serde_json::Value>,
}

impl Collector for Configured {
    fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
        log.info(format!("configured as {}", hello.name));
        if hello.config.get("bad").is_some() {
            return Err("`bad` is not allowed".into());
        }
        self.seen = Some(hello.config.clone());
        Ok(())
    }

    fn collect(&mut self, b: &mut Batch) -> Result<(), String> {
        let k = self
            .seen
            .as_ref()
            .and_then(|c| c["k"].as_str())
            .unwrap_or("");
        b.gauge("k", "Config.").sample(&[("k", k)], 1.0);
        Ok(())
    }
}

#[test]
fn configure_sees_the_config_and_a_bad_one_fails_every_collect() {
    let mut c = Configured { seen: None };
    let lines = converse(&[HELLO, &collect(1)], Lent(&mut c));
    assert_eq!(c.seen, Some(json!({"k":"v"})));
    assert_eq!(
        lines[1],
        json!({"type":"log","level":"info","message":"configured as t"})
    );
    assert_eq!(lines[2]["families"][0]["samples"][0]["labels"]["k"], "v");

    let bad = r#"{"type":"hello","protocol":1,"name":"t","config":{"bad":1}}"#;
    let lines = converse(
        &[bad, &collect(1), &collect(2), HELLO, &collect(3)],
        Lent(&mut c),
    );
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["hello", "log", "log", "error", "error", "log", "metrics"]
    );
    assert_eq!(lines[2]["level"], "error");
    assert_eq!(lines[3]["message"], "configuration: `bad` is not allowed");
}

/// Lends a collector to [`run_with`], so a test can look at it afterwards.
struct Lent<'a, C>(&'a mut C);

impl<C: Collector> Collector for Lent<'_, C> {
    fn configure(&mut self, hello: &HostHello, log: &mut Log) -> Result<(), String> {
        self.0.configure(hello, log)
    }
    fn collect(&mut self, batch: &mut Batch) -> Result<(), String> {
        self.0.collect(batch)
    }
}

#[test]
fn another_protocol_version_is_refused() {
    let mut out = Vec::new();
    let hello2 = r#"{"type":"hello","protocol":2,"name":"t","config":{}}"#;
    let err = run_with(
        &host(&[hello2, &collect(1)])[..],
        &mut out,
        "t",
        "0.1",
        |_: &mut Batch| Ok(()),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(check_lines(&out).len(), 1, "only the hello was sent");
}

/// A writer whose reader has gone.
struct Closed;
impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_vanished_host_ends_the_plugin_cleanly() {
    let input = host(&[&collect(1)]);
    assert!(run_with(&input[..], Closed, "t", "0.1", |_: &mut Batch| Ok(())).is_ok());
    let p = Pusher::with_io(std::io::empty(), Vec::new(), "t", "0.1").unwrap();
    let mut p = Pusher {
        out: Closed,
        host: p.host,
    };
    assert!(p.push(&Batch::new()).is_ok());
    assert!(p.stopped());
}

#[test]
fn a_pusher_pushes_without_id_until_the_host_says_stop() {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = io::BufReader::new(ChannelReader(rx, Vec::new()));
    let mut out = Vec::new();
    let mut p = Pusher::with_io(reader, &mut out, "t", "0.1").unwrap();
    assert_eq!(p.host_hello(Duration::from_millis(10)).unwrap(), None);
    tx.send(host(&[HELLO, &collect(1)])).unwrap();
    let hello = p.host_hello(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(hello.config, json!({"k":"v"}));
    let mut b = Batch::new();
    b.gauge("g", "G.").sample(&[], 1.0);
    b.log().info("pushing");
    p.push(&b).unwrap();
    p.log(LogLevel::Debug, "again").unwrap();
    assert!(p.sleep(Duration::from_millis(1)).unwrap());
    tx.send(host(&[SHUTDOWN])).unwrap();
    assert!(!p.sleep(Duration::from_secs(10)).unwrap());
    assert!(p.stopped());
    drop(p);
    let lines = check_lines(&out);
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["hello", "log", "metrics", "log"]);
    assert!(lines[2].get("id").is_none());
}

#[test]
fn a_pusher_stops_at_the_end_of_input_and_refuses_another_version() {
    let p = Pusher::with_io(io::empty(), Vec::new(), "t", "0.1").unwrap();
    assert!(!p.sleep(Duration::from_secs(10)).unwrap());
    assert_eq!(p.host_hello(Duration::from_secs(10)).unwrap(), None);

    let hello2: &'static [u8] = b"{\"type\":\"hello\",\"protocol\":2,\"name\":\"t\"}\n";
    let p = Pusher::with_io(hello2, Vec::new(), "t", "0.1").unwrap();
    let err = p.host_hello(Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let err = p.sleep(Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

/// Reads what the test sends, blocking like a pipe; ends when the sender is dropped.
struct ChannelReader(std::sync::mpsc::Receiver<Vec<u8>>, Vec<u8>);
impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.1.is_empty() {
            match self.0.recv() {
                Ok(b) => self.1 = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.1.len());
        buf[..n].copy_from_slice(&self.1[..n]);
        self.1.drain(..n);
        Ok(n)
    }
}
