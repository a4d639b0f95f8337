//! `check-plugin` and the exporter decide from one source: for every fixture plugin, the
//! error kinds `check-plugin --report json` reports are exactly the kinds the exporter
//! counts in `plugin_exporter_plugin_errors_total` for the same plugin, and every series or
//! line the exporter drops is explained with the same sentence in both.
//!
//! `check-plugin` also reports what the exporter only sees when it stops a plugin (ignoring
//! `shutdown`, exiting on end of input); such findings carry no error kind and are not
//! compared.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

/// Name in the exporter's config, format, path under tests/fixtures.
const FIXTURES: &[(&str, &str, &str)] = &[
    ("counter-no-total", "jsonl", "broken/counter_no_total.sh"),
    ("drops", "jsonl", "broken/drops.sh"),
    ("immortal", "jsonl", "broken/immortal.sh"),
    ("invalid-name", "jsonl", "broken/invalid_name.sh"),
    ("protocol2", "jsonl", "broken/protocol2.sh"),
    ("silent", "jsonl", "broken/silent.sh"),
    ("stdout-log", "jsonl", "broken/stdout_log.sh"),
    ("wrong-id", "jsonl", "broken/wrong_id.sh"),
    (
        "prom-bad-line",
        "prometheus",
        "broken/prometheus_bad_line.sh",
    ),
    ("prom-exit1", "prometheus", "broken/prometheus_exit1.sh"),
    ("text-bad-line", "prometheus", "text/with_bad_line.sh"),
    ("text-fails", "prometheus", "text/fails.sh"),
];

fn path(rel: &str) -> String {
    let p = repo().join("tests/fixtures").join(rel);
    assert!(p.exists(), "fixture {} missing", p.display());
    p.to_string_lossy().into_owned()
}

/// What check-plugin found: the error kinds, and the messages of drops (by kind).
struct Verdict {
    kinds: BTreeSet<String>,
    drops: Vec<String>,
    parse_errors: Vec<String>,
}

fn check_plugin(format: &str, rel: &str) -> Verdict {
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .args(["check-plugin", "--report", "json", "--collects", "1"])
        .args(["--timeout", "1s", "--format", format, "--", &path(rel)])
        .output()
        .expect("cannot run check-plugin");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("check-plugin printed no JSON report ({e}):\n{text}"));
    let mut v = Verdict {
        kinds: BTreeSet::new(),
        drops: Vec::new(),
        parse_errors: Vec::new(),
    };
    for f in report["findings"].as_array().expect("findings") {
        let Some(kind) = f["kind"].as_str() else {
            continue;
        };
        assert_eq!(f["severity"], "error", "{f}");
        v.kinds.insert(kind.to_string());
        let message = f["message"].as_str().unwrap().to_string();
        match kind {
            "invalid_metric" | "duplicate_series" => v.drops.push(message),
            "parse_error" => v
                .parse_errors
                .push(format!("{}: {message}", f["location"].as_str().unwrap())),
            _ => {}
        }
    }
    v
}

/// Kinds with a non-zero count for `plugin` in a scrape.
fn counted(body: &str, plugin: &str) -> BTreeSet<String> {
    let prefix = "plugin_exporter_plugin_errors_total{";
    body.lines()
        .filter(|l| l.starts_with(prefix) && l.contains(&format!("plugin=\"{plugin}\"")))
        .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) > Some(0.0))
        .filter_map(|l| {
            let k = l.split("kind=\"").nth(1)?;
            Some(k.split('"').next()?.to_string())
        })
        .collect()
}

/// Values of `field` in the exporter's JSON log lines about `plugin` with `message`.
fn logged(e: &Exporter, plugin: &str, message: &str, field: &str) -> BTreeSet<String> {
    e.logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["plugin"] == plugin && v["message"] == message)
        .filter_map(|v| v[field].as_str().map(str::to_string))
        .collect()
}

#[test]
fn check_plugin_and_the_exporter_agree_on_every_fixture() {
    let verdicts: Vec<Verdict> = FIXTURES
        .iter()
        .map(|(_, format, rel)| check_plugin(format, rel))
        .collect();
    let mut cfg = String::from("global:\n  allow_root: true\n  timeout: 1s\nplugins:\n");
    for (name, format, rel) in FIXTURES {
        cfg.push_str(&format!(
            "  - {{name: {name}, format: {format}, command: [\"{}\"]}}\n",
            path(rel)
        ));
    }
    let e = Exporter::start(&cfg, &[]);
    // Scrape until the exporter has counted at least what check-plugin found for every
    // plugin; then both must be equal on that scrape.
    let body = e.scrape_until(Duration::from_secs(30), |body| {
        FIXTURES
            .iter()
            .zip(&verdicts)
            .all(|((name, _, _), v)| counted(body, name).is_superset(&v.kinds))
    });
    let mut differ = Vec::new();
    for ((name, _, rel), v) in FIXTURES.iter().zip(&verdicts) {
        let exporter = counted(&body, name);
        if exporter != v.kinds {
            differ.push(format!(
                "{rel}: check-plugin {:?}, exporter {exporter:?}",
                v.kinds
            ));
        }
        // Same reasons, word for word: the exporter logs the first drop of each batch,
        // which is the first check-plugin prints.
        let drops = logged(&e, name, "dropped invalid series from a batch", "first");
        let first: BTreeSet<String> = v.drops.first().cloned().into_iter().collect();
        assert_eq!(
            drops, first,
            "{rel}: exporter's log against check-plugin's report"
        );
        if !v.parse_errors.is_empty() {
            let problems = logged(&e, name, "dropped invalid output", "problem");
            assert_eq!(
                problems,
                v.parse_errors.iter().cloned().collect::<BTreeSet<_>>(),
                "{rel}"
            );
        }
    }
    assert!(differ.is_empty(), "verdicts differ:\n{}", differ.join("\n"));
    // The fixtures cover every kind a plugin's output alone can cause, and a clean one.
    let all: BTreeSet<&str> = verdicts
        .iter()
        .flat_map(|v| v.kinds.iter().map(String::as_str))
        .collect();
    for k in [
        "invalid_metric",
        "duplicate_series",
        "protocol",
        "timeout",
        "late",
        "parse_error",
        "plugin_error",
    ] {
        assert!(all.contains(k), "no fixture covers {k}: {all:?}");
    }
    assert!(verdicts.iter().any(|v| v.kinds.is_empty()));
}
