//! Output plugins (`role: output`), with the real exporter and real child processes: every
//! collect of the remote_write loop reaches each output as one `write` of timestamped
//! families (the collectors' series and the exporter's own); a slow output delays neither
//! scrapes nor another output and has its queue drops counted; a crashing output is
//! restarted and its write retried; an output answering garbage is restarted and counted; an
//! output answering `error` is retried up to `max_retries`, then the write is dropped and
//! counted. The example outputs run under the exporter and through `check-plugin`.

mod common;

use common::{repo, value, Exporter};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const WITHIN: Duration = Duration::from_secs(20);

thread_local! {
    /// This test's suffix to plugin names, so tests running at once never share a plugin
    /// name (whose processes and cgroup are the name's).
    static SUFFIX: String = common::unique("");
}

/// The plugin called `name` in this test.
fn n(name: &str) -> String {
    SUFFIX.with(|s| format!("{name}{s}"))
}

fn path_of(rel: &str) -> String {
    let p = repo().join(rel);
    assert!(p.exists(), "fixture {} missing", p.display());
    p.to_string_lossy().into_owned()
}

/// A collector serving the gauge `metric` (value 1, label k="v").
fn collector(name: &str, metric: &str) -> String {
    format!(
        "  - name: {}\n    command: [\"{}\", \"{metric}\"]\n",
        n(name),
        path_of("tests/fixtures/processors/gauge.sh")
    )
}

/// An output behaving as `args` say (see `out.sh`).
fn output(name: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!(", \"{a}\"")).collect();
    format!(
        "  - name: {}\n    role: output\n    command: [\"{}\"{}]\n{extra}",
        n(name),
        path_of("tests/fixtures/outputs/out.sh"),
        args.concat()
    )
}

fn config(plugins: &[String]) -> String {
    format!(
        "global:\n  allow_root: true\n  remote_write_interval: 200ms\nplugins:\n{}",
        plugins.concat()
    )
}

fn writes(body: &str, output: &str, result: &str) -> f64 {
    let series = format!(
        "plugin_exporter_output_writes_total{{output=\"{}\",result=\"{result}\"}}",
        n(output)
    );
    value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

fn restarts(body: &str, plugin: &str, reason: &str) -> f64 {
    let series = format!(
        "plugin_exporter_plugin_restarts_total{{plugin=\"{}\",reason=\"{reason}\"}}",
        n(plugin)
    );
    value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

/// Waits until `cond` holds, checking every 50 ms; panics with `what` after `within`.
fn wait_for<T>(within: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The families of the `write` lines in `file` (one JSON message a line).
fn written(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_healthy_output_receives_timestamped_families_of_collectors_and_the_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("writes.jsonl");
    let started = now_secs();
    let ex = Exporter::start(
        &config(&[
            output("sink", &["ack", file.to_str().unwrap()], ""),
            collector("app", "app_gauge"),
        ]),
        &[],
    );
    let line = wait_for(WITHIN, "a write with the collector's series", || {
        written(&file).into_iter().find(|w| {
            w["families"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["name"] == "app_gauge"))
        })
    });
    assert_eq!(line["type"], "write");
    assert!(line["id"].as_u64().is_some(), "{line}");
    let families = line["families"].as_array().unwrap();
    let app = families.iter().find(|f| f["name"] == "app_gauge").unwrap();
    let sample = &app["samples"][0];
    assert_eq!(sample["labels"]["plugin"], n("app").as_str(), "{line}");
    assert_eq!(sample["labels"]["k"], "v", "{line}");
    assert_eq!(sample["value"], 1.0, "{line}");
    assert!(
        families
            .iter()
            .any(|f| f["name"] == "plugin_exporter_plugin_up"),
        "no exporter metrics in {line}"
    );
    // Every sample carries the collect time, in seconds.
    for f in families {
        for s in f["samples"].as_array().unwrap() {
            let ts = s["timestamp"]
                .as_f64()
                .unwrap_or_else(|| panic!("no timestamp: {s} in {}", f["name"]));
            assert!(
                ts >= started - 1.0 && ts <= now_secs() + 1.0,
                "timestamp {ts} is not the collect time"
            );
        }
    }
    let body = ex.scrape_until(WITHIN, |b| writes(b, "sink", "ack") >= 1.0);
    let samples = value(
        &body,
        &format!(
            "plugin_exporter_output_samples_total{{output=\"{}\"}}",
            n("sink")
        ),
    )
    .unwrap();
    assert!(samples >= families.len() as f64, "{body}");
    assert_eq!(writes(&body, "sink", "error"), 0.0, "{body}");
    // The output is not scraped: none of its series carry its name as plugin label.
    assert!(!body
        .lines()
        .filter(|l| !l.starts_with("plugin_exporter_") && !l.starts_with('#'))
        .any(|l| l.contains(&format!("plugin=\"{}\"", n("sink")))));
    let api = ex.plugins();
    assert_eq!(api["outputs"][0]["name"], n("sink").as_str(), "{api}");
    assert_eq!(api["outputs"][0]["state"], "running", "{api}");
    assert_eq!(api["plugins"].as_array().unwrap().len(), 1, "{api}");
}

#[test]
fn a_slow_output_delays_neither_scrapes_nor_another_output_and_its_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fast.jsonl");
    let ex = Exporter::start(
        &config(&[
            output("slow", &["slow", "30"], "    queue: 2\n    timeout: 60s\n"),
            output("fast", &["ack", file.to_str().unwrap()], ""),
            collector("app", "app_gauge"),
        ]),
        &[],
    );
    // While the slow output holds its first write, the fast one gets write after write.
    let body = ex.scrape_until(WITHIN, |b| {
        writes(b, "fast", "ack") >= 10.0 && writes(b, "slow", "dropped_queue_full") >= 3.0
    });
    assert_eq!(writes(&body, "slow", "ack"), 0.0, "{body}");
    assert_eq!(
        value(
            &body,
            &format!("app_gauge{{k=\"v\",plugin=\"{}\"}}", n("app"))
        ),
        Some(1.0)
    );
    // Scrapes stay fast with the slow output holding writes.
    for _ in 0..5 {
        let t = Instant::now();
        ex.scrape();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a scrape took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn a_crashing_output_is_restarted_and_its_write_retried() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("crashed");
    let ex = Exporter::start(
        &config(&[
            output("crashy", &["crash-once", marker.to_str().unwrap()], ""),
            collector("app", "app_gauge"),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| {
        writes(b, "crashy", "ack") >= 2.0 && writes(b, "crashy", "retried") >= 1.0
    });
    assert!(marker.exists());
    assert!(restarts(&body, "crashy", "exited") >= 1.0, "{body}");
    assert!(writes(&body, "crashy", "error") >= 1.0, "{body}");
    assert_eq!(writes(&body, "crashy", "dropped_retries"), 0.0, "{body}");
}

#[test]
fn an_output_answering_garbage_is_restarted_and_counted() {
    let ex = Exporter::start(
        &config(&[
            output("noisy", &["garbage"], "    max_retries: 1\n"),
            collector("app", "app_gauge"),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| writes(b, "noisy", "dropped_retries") >= 1.0);
    assert!(restarts(&body, "noisy", "protocol") >= 2.0, "{body}");
    assert!(writes(&body, "noisy", "error") >= 2.0, "{body}");
    assert!(writes(&body, "noisy", "retried") >= 1.0, "{body}");
    assert_eq!(writes(&body, "noisy", "ack"), 0.0, "{body}");
    assert_eq!(
        value(
            &body,
            &format!("app_gauge{{k=\"v\",plugin=\"{}\"}}", n("app"))
        ),
        Some(1.0)
    );
}

#[test]
fn an_output_answering_error_is_retried_up_to_max_retries_then_the_write_is_dropped() {
    let ex = Exporter::start(
        &config(&[
            output("failing", &["error"], "    max_retries: 2\n"),
            collector("app", "app_gauge"),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| writes(b, "failing", "dropped_retries") >= 2.0);
    let dropped = writes(&body, "failing", "dropped_retries");
    // Each dropped write was tried once and retried twice.
    assert!(writes(&body, "failing", "error") >= 3.0 * dropped, "{body}");
    assert!(
        writes(&body, "failing", "retried") >= 2.0 * dropped,
        "{body}"
    );
    assert_eq!(writes(&body, "failing", "ack"), 0.0, "{body}");
    // An `error` answer is no fault: the output keeps running.
    for reason in ["protocol", "timeout", "exited"] {
        assert_eq!(restarts(&body, "failing", reason), 0.0, "{body}");
    }
}

#[test]
fn output_keys_are_for_outputs_and_outputs_take_no_collector_keys() {
    let check = |yaml: &str| -> String {
        match plugin_exporter::config::parse_str(yaml, Path::new("/etc/x.yml"), &|_| None) {
            Ok(cfg) => {
                let o = cfg.plugins.iter().find(|p| p.name == "o").unwrap();
                format!("ok {:?}", o.output)
            }
            Err(e) => e.to_string() + &format!("{e:?}"),
        }
    };
    let bad = check(
        "plugins:\n  - name: c\n    command: [/bin/true]\n    queue: 4\n  - name: o\n    role: output\n    command: [/bin/true]\n    mode: push\n    max_in_flight: 99\n  - name: d\n    command: [/bin/true]\n    processors: [o]\n",
    );
    for want in [
        "queue is for outputs",
        "an output has no mode",
        "max_in_flight must be between 1 and 8",
        "is an output, not a processor",
    ] {
        assert!(bad.contains(want), "no {want:?} in:\n{bad}");
    }
    let good = check(
        "plugins:\n  - name: o\n    role: output\n    command: [/bin/true]\n    queue: 4\n    max_in_flight: 2\n    max_retries: 0\n",
    );
    assert_eq!(
        good,
        "ok OutputSettings { queue: 4, max_in_flight: 2, max_retries: 0 }"
    );
}

/// Runs `check-plugin --role output` on `command`; its exit code and report.
fn check_plugin(command: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .args(["check-plugin", "--role", "output", "--"])
        .args(command)
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), report)
}

fn python3() -> String {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "python3 is needed to run the example outputs");
    "python3".to_string()
}

#[test]
fn the_example_outputs_write_their_files_under_the_exporter_and_pass_check_plugin() {
    let py = python3();
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("samples.jsonl");
    let influx = dir.path().join("samples.influx");
    let ex = Exporter::start(
        &format!(
            "{}  - name: {}\n    role: output\n    command: [\"{py}\", \"{}\"]\n    config: {{path: \"{}\", max_bytes: 4000}}\n  - name: {}\n    role: output\n    command: [\"{py}\", \"{}\"]\n    config: {{path: \"{}\"}}\n",
            config(&[collector("app", "app_gauge")]),
            n("jsonl"),
            path_of("examples/outputs/jsonl_file.py"),
            jsonl.display(),
            n("influx"),
            path_of("examples/outputs/influx_line.py"),
            influx.display(),
        ),
        &[],
    );
    // JSON lines, rotated to `.1` once over max_bytes.
    let rotated = dir.path().join("samples.jsonl.1");
    wait_for(WITHIN, "the JSON lines file rotated", || {
        rotated.exists().then_some(())
    });
    let text = std::fs::read_to_string(&rotated).unwrap();
    let app: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["name"] == "app_gauge")
        .unwrap_or_else(|| panic!("no app_gauge line in:\n{text}"));
    assert_eq!(app["labels"]["plugin"], n("app").as_str(), "{app}");
    assert_eq!(app["value"], 1.0);
    assert!(app["timestamp"].as_f64().unwrap() > 1.6e9, "{app}");
    assert!(
        std::fs::metadata(&rotated).unwrap().len() > 4000,
        "rotated before max_bytes"
    );
    // InfluxDB line protocol: measurement, sorted tags, value field, timestamp in ns.
    let line = wait_for(WITHIN, "an app_gauge line in the influx file", || {
        std::fs::read_to_string(&influx)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("app_gauge,"))
            .map(str::to_string)
    });
    let want = format!("app_gauge,k=v,plugin={} value=1.0 ", n("app"));
    assert!(line.starts_with(&want), "{line}");
    let ns: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((ns / 1e9 - now_secs()).abs() < 60.0, "{line}");
    let body = ex.scrape_until(WITHIN, |b| {
        writes(b, "jsonl", "ack") >= 1.0 && writes(b, "influx", "ack") >= 1.0
    });
    assert_eq!(writes(&body, "influx", "error"), 0.0, "{body}");
    drop(ex);

    let (code, report) = check_plugin(&[&py, &path_of("examples/outputs/influx_line.py")]);
    assert_eq!(code, 0, "{report}");
    // Without config.path the jsonl example answers every write with `error`: a warning.
    let (code, report) = check_plugin(&[&py, &path_of("examples/outputs/jsonl_file.py")]);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("config.path"), "{report}");
    // Broken outputs are reported.
    let (code, report) = check_plugin(&[&path_of("tests/fixtures/outputs/out.sh"), "garbage"]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("not an output's message"), "{report}");
    let (code, report) = check_plugin(&[
        &path_of("tests/fixtures/outputs/out.sh"),
        "crash-once",
        dir.path().join("m").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("exited"), "{report}");
}
