//! Processor plugins (`role: processor`), with the real exporter and real child processes:
//! batches go through processors in order; a processor that fails (answers `error`, hangs,
//! crashes, writes garbage) costs the batch its processing (`on_error: pass`) or the batch
//! itself (`on_error: drop`) and is counted by kind; a processor answering invalid metrics
//! has them dropped and counted; the other collectors are served throughout.

mod common;

use common::{repo, value, Exporter};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(20);

thread_local! {
    /// This test's suffix to plugin names, so tests running at once (here or in other test
    /// binaries) never share a plugin name, whose processes and cgroup are the name's.
    static SUFFIX: String = common::unique("");
}

/// The plugin called `name` in this test.
fn n(name: &str) -> String {
    SUFFIX.with(|s| format!("{name}{s}"))
}

fn script(name: &str) -> String {
    let p = repo().join("tests/fixtures/processors").join(name);
    assert!(p.exists(), "fixture {} missing", p.display());
    p.to_string_lossy().into_owned()
}

/// A collector serving the gauge `metric`, going through `processors`.
fn collector(name: &str, metric: &str, processors: &[&str]) -> String {
    format!(
        "  - name: {}\n    command: [\"{}\", \"{metric}\"]\n    timeout: 5s\n    processors: [{}]\n",
        n(name),
        script("gauge.sh"),
        processors.iter().map(|p| n(p)).collect::<Vec<_>>().join(", ")
    )
}

/// A processor behaving as `args` say (see `proc.sh`).
fn processor(name: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!(", \"{a}\"")).collect();
    format!(
        "  - name: {}\n    role: processor\n    command: [\"{}\"{}]\n{extra}",
        n(name),
        script("proc.sh"),
        args.concat()
    )
}

fn config(plugins: &[String]) -> String {
    format!(
        "global:\n  allow_root: true\nplugins:\n{}",
        plugins.concat()
    )
}

fn errors(body: &str, processor: &str, kind: &str) -> f64 {
    let processor = n(processor);
    let series = format!(
        "plugin_exporter_processor_errors_total{{kind=\"{kind}\",processor=\"{processor}\"}}"
    );
    value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

fn batches(body: &str, processor: &str) -> f64 {
    let processor = n(processor);
    let series = format!("plugin_exporter_processor_batches_total{{processor=\"{processor}\"}}");
    value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

/// The value of the test gauge `metric` of collector `plugin`, if served.
fn gauge(body: &str, metric: &str, plugin: &str) -> Option<f64> {
    value(
        body,
        &format!("{metric}{{k=\"v\",plugin=\"{}\"}}", n(plugin)),
    )
}

fn restarts(body: &str, plugin: &str, reason: &str) -> f64 {
    let plugin = n(plugin);
    let series =
        format!("plugin_exporter_plugin_restarts_total{{plugin=\"{plugin}\",reason=\"{reason}\"}}");
    value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

#[test]
fn batches_go_through_processors_in_order_and_processors_are_not_scraped() {
    let ex = Exporter::start(
        &config(&[
            processor("first", &["suffix", "_a"], ""),
            processor("second", &["suffix", "_b"], ""),
            collector("ordered", "ord", &["first", "second"]),
            collector("reversed", "rev", &["second", "first"]),
            collector("plain", "plain", &[]),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| {
        gauge(b, "ord_a_b", "ordered").is_some() && gauge(b, "rev_b_a", "reversed").is_some()
    });
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    for unwanted in [
        "ord ",
        "ord_b_a",
        "rev_a_b",
        &format!("plugin=\"{}\"", n("first")),
        &format!("plugin=\"{}\"", n("second")),
    ] {
        assert!(
            !body
                .lines()
                .filter(|l| !l.starts_with("plugin_exporter_") && !l.starts_with('#'))
                .any(|l| l.contains(unwanted)),
            "{unwanted} served:\n{body}"
        );
    }
    assert!(
        batches(&body, "first") >= 2.0 && batches(&body, "second") >= 2.0,
        "{body}"
    );
    assert_eq!(errors(&body, "first", "timeout"), 0.0);
    // The API lists processors apart from the plugins it scrapes.
    let api = ex.plugins();
    let names = |key: &str| -> Vec<String> {
        let list = api[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {api}"));
        list.iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("processors"), [n("first"), n("second")], "{api}");
    assert_eq!(
        names("plugins"),
        [n("ordered"), n("reversed"), n("plain")],
        "{api}"
    );
    assert_eq!(api["processors"][0]["state"], "running", "{api}");
}

#[test]
fn a_failing_processor_passes_or_drops_the_batch_as_on_error_says() {
    let ex = Exporter::start(
        &config(&[
            processor("fails_pass", &["error"], ""),
            processor("fails_drop", &["error"], "    on_error: drop\n"),
            processor("tag", &["suffix", "_t"], ""),
            collector("passed", "passed", &["fails_pass", "tag"]),
            collector("dropped", "dropped", &["fails_drop", "tag"]),
            collector("plain", "plain", &[]),
        ]),
        &[],
    );
    // The batch goes on unprocessed to the next processor, which still does its part.
    let body = ex.scrape_until(WITHIN, |b| gauge(b, "passed_t", "passed").is_some());
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    assert!(
        !body.contains("dropped{") && !body.contains("dropped_t{"),
        "{body}"
    );
    assert!(errors(&body, "fails_pass", "error") >= 1.0, "{body}");
    assert!(errors(&body, "fails_drop", "error") >= 1.0, "{body}");
    // A dropped batch is a successful collect of no series; an `error` answer is no restart.
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{}\"}}", n("dropped"))
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &body,
            &format!(
                "plugin_exporter_plugin_series{{plugin=\"{}\"}}",
                n("dropped")
            )
        ),
        Some(0.0)
    );
    assert_eq!(restarts(&body, "fails_pass", "protocol"), 0.0);
    // Each scrape is counted again.
    let again = ex.scrape();
    assert!(errors(&again, "fails_drop", "error") > errors(&body, "fails_drop", "error"));
}

#[test]
fn a_hanging_processor_costs_its_deadline_and_is_restarted() {
    let ex = Exporter::start(
        &config(&[
            processor("hangs", &["hang"], "    timeout: 300ms\n"),
            processor(
                "hangs_drop",
                &["hang"],
                "    timeout: 300ms\n    on_error: drop\n",
            ),
            collector("slowed", "slowed", &["hangs"]),
            collector("lost", "lost", &["hangs_drop"]),
            collector("plain", "plain", &[]),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| {
        gauge(b, "slowed", "slowed").is_some() && restarts(b, "hangs", "timeout") >= 1.0
    });
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    assert!(gauge(&body, "lost", "lost").is_none(), "{body}");
    assert!(errors(&body, "hangs", "timeout") >= 1.0, "{body}");
    let body = ex.scrape_until(WITHIN, |b| restarts(b, "hangs_drop", "timeout") >= 1.0);
    assert!(errors(&body, "hangs_drop", "timeout") >= 1.0, "{body}");
    assert!(gauge(&body, "lost", "lost").is_none(), "{body}");
}

#[test]
fn a_crashing_processor_is_restarted_and_its_batches_served_unprocessed() {
    let ex = Exporter::start(
        &config(&[
            processor("crashes", &["crash"], ""),
            collector("survivor", "survivor", &["crashes"]),
            collector("plain", "plain", &[]),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| {
        gauge(b, "survivor", "survivor").is_some() && errors(b, "crashes", "crash") >= 1.0
    });
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    let body = ex.scrape_until(WITHIN, |b| {
        restarts(b, "crashes", "exited") + restarts(b, "crashes", "stdout_closed") >= 1.0
    });
    assert_eq!(gauge(&body, "survivor", "survivor"), Some(1.0), "{body}");
}

#[test]
fn a_processor_writing_garbage_is_restarted() {
    let ex = Exporter::start(
        &config(&[
            processor("babbles", &["garbage"], ""),
            collector("victim", "victim", &["babbles"]),
            collector("plain", "plain", &[]),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| {
        errors(b, "babbles", "garbage") >= 1.0 && restarts(b, "babbles", "protocol") >= 1.0
    });
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    let body = ex.scrape_until(WITHIN, |b| gauge(b, "victim", "victim").is_some());
    assert!(errors(&body, "babbles", "garbage") >= 1.0, "{body}");
}

#[test]
fn invalid_metrics_from_a_processor_are_dropped_and_counted() {
    let ex = Exporter::start(
        &config(&[
            processor("breaks", &["invalid"], ""),
            collector("broken", "broken", &["breaks"]),
            collector("plain", "plain", &[]),
        ]),
        &[],
    );
    let body = ex.scrape_until(WITHIN, |b| errors(b, "breaks", "invalid") >= 1.0);
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    assert!(
        !body.contains("9broken") && !body.contains("broken{"),
        "{body}"
    );
    assert!(batches(&body, "breaks") >= 1.0, "{body}");
    let dropped = value(
        &body,
        &format!(
            "plugin_exporter_plugin_errors_total{{kind=\"invalid_metric\",plugin=\"{}\"}}",
            n("broken")
        ),
    );
    assert!(dropped.is_some_and(|n| n >= 1.0), "{body}");
    // Invalid answers restart nothing.
    assert_eq!(restarts(&body, "breaks", "protocol"), 0.0);
}

#[test]
fn processor_references_are_checked_at_load() {
    let cases = [
        (
            "plugins:\n  - name: c\n    command: [/bin/true]\n    processors: [nope]\n",
            "plugins[c].processors[0]",
            "unknown processor `nope`",
        ),
        (
            "global:\n  processors: [c]\nplugins:\n  - name: c\n    command: [/bin/true]\n",
            "global.processors[0]",
            "`c` is a collector, not a processor",
        ),
        (
            "plugins:\n  - name: p\n    role: processor\n    command: [/bin/true]\n    processors: [p]\n",
            "plugins[p].processors",
            "a processor cannot list processors",
        ),
        (
            "plugins:\n  - name: p\n    role: processor\n    command: [/bin/true]\n    mode: interval\n",
            "plugins[p].mode",
            "a processor has no mode",
        ),
        (
            "plugins:\n  - name: c\n    command: [/bin/true]\n    on_error: drop\n",
            "plugins[c].on_error",
            "on_error is for processors",
        ),
        (
            "plugins:\n  - name: p\n    role: processor\n    command: [/bin/true]\n  - name: c\n    command: [/bin/true]\n    processors: [p, p]\n",
            "plugins[c].processors[1]",
            "listed twice",
        ),
    ];
    for (text, key, message) in cases {
        let err =
            plugin_exporter::config::parse_str(text, std::path::Path::new("/etc/x.yml"), &|_| None)
                .expect_err(text);
        let shown = err.to_string() + &format!("{err:?}");
        assert!(
            shown.contains(key) && shown.contains(message),
            "{text}\n{shown}"
        );
    }
    let good = "global:\n  processors: [p]\nplugins:\n  - name: p\n    role: processor\n    command: [/bin/true]\n    on_error: drop\n  - name: q\n    role: processor\n    command: [/bin/true]\n  - name: c\n    command: [/bin/true]\n    processors: [q, p]\n";
    let cfg =
        plugin_exporter::config::parse_str(good, std::path::Path::new("/etc/x.yml"), &|_| None)
            .unwrap();
    assert_eq!(cfg.plugins[2].processors, ["q", "p"]);
    assert!(cfg.plugins[0].processors.is_empty());
    assert_eq!(
        cfg.plugins[0].on_error,
        plugin_exporter::config::OnError::Drop
    );
}

/// `check-plugin --role processor` on a processor: exit code and report.
fn check_processor(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .args(["check-plugin", "--role", "processor", "--collects", "2"])
        .args(["--timeout", "500ms", "--"])
        .arg(script("proc.sh"))
        .args(args)
        .output()
        .expect("check-plugin runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().expect("check-plugin exits"), text)
}

#[test]
fn check_plugin_checks_processors() {
    let (code, text) = check_processor(&["suffix", "_x"]);
    assert_eq!(code, 0, "{text}");
    for (args, expected) in [
        (&["garbage"][..], "not a processor's message"),
        (&["invalid"][..], "9sample_requests_total"),
        (&["error"][..], "answered batch 1 with `error`: no lookup"),
        (&["hang"][..], "batch 1 got no answer within 500ms"),
        (
            &["crash"][..],
            "the processor exited (exit code 3) with batch 1 open",
        ),
    ] {
        let (code, text) = check_processor(args);
        assert_eq!(code, 1, "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
    }
}

/// The example processors under the exporter: `enrich.py` adds a team label from a lookup
/// file, then `rollup-processor` (built by `cargo build --workspace`) sums by team.
#[test]
fn the_example_processors_enrich_then_roll_up() {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .parent()
        .unwrap()
        .to_path_buf();
    let rollup = bin_dir.join("rollup-processor");
    assert!(
        rollup.exists(),
        "{} is not built: run `cargo build --workspace` first",
        rollup.display()
    );
    let lookup = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        lookup.path(),
        "host,team,site\nweb1,shop,fra\nweb2,shop,ams\ndb1,ops,fra\n",
    )
    .unwrap();
    let csv = lookup.path().with_extension("csv");
    std::fs::copy(lookup.path(), &csv).unwrap();
    let enrich = repo().join("examples/processors/enrich.py");
    let (enrich_name, rollup_name, web) = (n("enrich"), n("rollup"), n("web"));
    let cfg = format!(
        "global:\n  allow_root: true\nplugins:\n\
         \x20 - name: {enrich_name}\n    role: processor\n    command: [\"{}\"]\n    config: {{lookup: \"{}\", labels: [team]}}\n\
         \x20 - name: {rollup_name}\n    role: processor\n    command: [\"{}\"]\n    config: {{by: [team]}}\n\
         \x20 - name: {web}\n    command: [\"{}\"]\n    processors: [{enrich_name}, {rollup_name}]\n{}",
        enrich.display(),
        csv.display(),
        rollup.display(),
        script("requests.sh"),
        collector("plain", "plain", &[]),
    );
    let ex = Exporter::start(&cfg, &[]);
    let body = ex.scrape_until(WITHIN, |b| {
        value(
            b,
            &format!("req_total{{team=\"shop\",plugin=\"{}\"}}", n("web")),
        ) == Some(15.0)
    });
    let _ = std::fs::remove_file(&csv);
    assert_eq!(
        value(
            &body,
            &format!("req_total{{team=\"ops\",plugin=\"{}\"}}", n("web"))
        ),
        Some(1.0),
        "{body}"
    );
    assert!(!body.contains("host=\""), "{body}");
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    assert!(batches(&body, "enrich") >= 1.0 && batches(&body, "rollup") >= 1.0);
}

/// Every example processor passes `check-plugin --role processor`.
#[test]
fn the_example_processors_pass_check_plugin() {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .parent()
        .unwrap()
        .to_path_buf();
    let rollup = bin_dir.join("rollup-processor");
    assert!(
        rollup.exists(),
        "{} is not built: run `cargo build --workspace` first",
        rollup.display()
    );
    let enrich = repo().join("examples/processors/enrich.py");
    for cmd in [enrich, rollup] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
            .args(["check-plugin", "--role", "processor", "--"])
            .arg(&cmd)
            .output()
            .expect("check-plugin runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}: {text}", cmd.display());
    }
}

/// A reload that changes a processor restarts it and the collectors listing it, which then
/// use the new one; a processor removed from every list and the configuration is stopped.
#[test]
fn a_reload_swaps_a_changed_processor_under_its_collectors() {
    let first = config(&[
        processor("tag", &["suffix", "_old"], ""),
        processor("spare", &["suffix", "_spare"], ""),
        collector("tagged", "tagged", &["tag"]),
        collector("plain", "plain", &[]),
    ]);
    let ex = Exporter::start(&first, &["--web.enable-lifecycle"]);
    ex.scrape_until(WITHIN, |b| gauge(b, "tagged_old", "tagged").is_some());
    let second = config(&[
        processor("tag", &["suffix", "_new"], ""),
        collector("tagged", "tagged", &["tag"]),
        collector("plain", "plain", &[]),
    ]);
    std::fs::write(ex.dir.path().join("config.yml"), second).unwrap();
    let r = common::http_request(&ex.addr, "POST", "/-/reload", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let summary = r.text();
    assert!(
        summary.contains(&n("tag")) && summary.contains(&n("tagged")),
        "{summary}"
    );
    let body = ex.scrape_until(WITHIN, |b| gauge(b, "tagged_new", "tagged").is_some());
    assert!(gauge(&body, "tagged_old", "tagged").is_none(), "{body}");
    assert_eq!(gauge(&body, "plain", "plain"), Some(1.0), "{body}");
    assert!(
        !body.contains(&format!("processor=\"{}\"", n("spare"))),
        "the removed processor's counters stay:\n{body}"
    );
    common::wait_no_plugin_processes(&n("spare"), WITHIN);
}

/// A command run per collect (`format: prometheus`) has its batches processed too.
#[test]
fn per_collect_commands_go_through_their_processors() {
    let cfg = config(&[
        processor("tag", &["suffix", "_t"], ""),
        format!(
            "  - name: {}\n    format: prometheus\n    command: [\"{}\"]\n    processors: [{}]\n",
            n("text"),
            script("text.sh"),
            n("tag")
        ),
    ]);
    let ex = Exporter::start(&cfg, &[]);
    let body = ex.scrape_until(WITHIN, |b| gauge(b, "percollect_t", "text").is_some());
    assert!(gauge(&body, "percollect", "text").is_none(), "{body}");
    assert!(batches(&body, "tag") >= 1.0, "{body}");
}
