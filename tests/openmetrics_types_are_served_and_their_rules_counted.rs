//! OpenMetrics' whole data model, from a `format: prometheus` plugin printing OpenMetrics and
//! from a JSON-lines plugin: every type is served as OpenMetrics defines it and in text 0.0.4
//! as Prometheus' clients write it there (both pass the reference parsers), and the breaches of
//! OpenMetrics' rules are counted under their own kinds, the same in the exporter and in
//! `check-plugin`.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

fn fixture_path(name: &str) -> String {
    let p = repo().join("tests/fixtures/openmetrics").join(name);
    assert!(p.exists(), "fixture {} missing", p.display());
    p.to_string_lossy().into_owned()
}

/// The error kinds `check-plugin --report json` reports for a plugin.
fn check_plugin_kinds(format: &str, command: &[String]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .args(["check-plugin", "--report", "json", "--collects", "1"])
        .args(["--timeout", "2s", "--format", format, "--"])
        .args(command)
        .output()
        .expect("cannot run check-plugin");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("check-plugin printed no JSON report ({e}):\n{text}"));
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str().map(str::to_string))
        .collect()
}

/// Kinds with a non-zero count for `plugin`.
fn counted(body: &str, plugin: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| l.starts_with("plugin_exporter_plugin_errors_total{"))
        .filter(|l| l.contains(&format!("plugin=\"{plugin}\"")))
        .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) > Some(0.0))
        .filter_map(|l| Some(l.split("kind=\"").nth(1)?.split('"').next()?.to_string()))
        .collect()
}

#[test]
fn every_openmetrics_type_is_served_in_both_formats_and_rule_breaches_are_counted() {
    let (om, js) = (unique("om"), unique("js"));
    let om_cmd = vec![fixture_path("openmetrics_types.sh")];
    let js_cmd = vec![
        fixture("respond.sh"),
        fixture_path("openmetrics_types.json"),
    ];
    let cfg = format!(
        "plugins:\n\
         - {{name: {om}, format: prometheus, command: [\"{}\"]}}\n\
         - {{name: {js}, command: [\"{}\", \"{}\"]}}\n",
        om_cmd[0], js_cmd[0], js_cmd[1]
    );
    let e = Exporter::start(&cfg, &[]);
    let kinds: BTreeSet<String> = ["forbidden_value", "timestamp_order", "invalid_exemplar"]
        .map(String::from)
        .into();
    let text = e.scrape_until(Duration::from_secs(30), |b| {
        counted(b, &om) == kinds && counted(b, &js) == kinds
    });
    let r = e.get("/metrics", &[("Accept", OPENMETRICS)]);
    assert_eq!(r.status, 200);
    let om_body = r.text();

    // OpenMetrics: each type as such, with timestamps, created times and exemplars.
    for line in [
        "# TYPE om_jobs counter\n",
        &format!(
            "om_jobs_total{{q=\"a\",plugin=\"{om}\"}} 3 # {{trace_id=\"abc\"}} 1 1700000000.25\n"
        ),
        &format!("om_jobs_created{{q=\"a\",plugin=\"{om}\"}} 1600000000\n"),
        // The exemplar over 128 characters is dropped, its sample kept.
        &format!("om_jobs_total{{q=\"b\",plugin=\"{om}\"}} 1\n"),
        "# TYPE om_queue_age_seconds gaugehistogram\n# UNIT om_queue_age_seconds seconds\n",
        &format!(
            "om_queue_age_seconds_bucket{{plugin=\"{om}\",le=\"1.0\"}} 2 # {{job=\"j1\"}} 0.5\n"
        ),
        &format!("om_queue_age_seconds_gsum{{plugin=\"{om}\"}} 4.5\n"),
        &format!("om_queue_age_seconds_gcount{{plugin=\"{om}\"}} 3\n"),
        "# TYPE om_build info\n",
        &format!("om_build_info{{version=\"1.2\",plugin=\"{om}\"}} 1\n"),
        "# TYPE om_mode stateset\n",
        &format!("om_mode{{om_mode=\"down\",plugin=\"{om}\"}} 0\n"),
        // The NaN sum is dropped with the count; the buckets are served.
        &format!("om_lat_seconds_bucket{{plugin=\"{om}\",le=\"+Inf\"}} 2\n"),
        // The later of the two readings.
        &format!("om_reading{{plugin=\"{om}\"}} 5 1700000001\n"),
        "# TYPE js_queue gaugehistogram\n",
        "# TYPE js_build info\n",
        "# TYPE js_mode stateset\n",
        &format!("js_jobs_created{{plugin=\"{js}\"}} 1600000000\n"),
        &format!("js_reading{{plugin=\"{js}\"}} 1 1700000010\n"),
        &format!("js_reading{{a=\"1\",plugin=\"{js}\"}} 1\n"),
        &format!("js_rpc_seconds{{plugin=\"{js}\",quantile=\"0.9\"}} 2\n"),
    ] {
        assert!(om_body.contains(line), "{line:?} missing from\n{om_body}");
    }
    for gone in [
        "om_lat_seconds_sum".to_string(),
        format!("om_reading{{plugin=\"{om}\"}} 4"),
        "quantile=\"0.5\"".to_string(),
    ] {
        assert!(!om_body.contains(&gone), "{gone:?} served:\n{om_body}");
    }
    let names = python_parse(&om_body, true);
    for name in [
        "om_queue_age_seconds",
        "om_build",
        "om_mode",
        "js_queue",
        "js_build",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }

    // Text 0.0.4: what Prometheus' clients write there, and nothing it cannot say.
    for line in [
        "# TYPE om_queue_age_seconds histogram\n",
        "# TYPE om_queue_age_seconds_gcount gauge\n",
        "# TYPE om_queue_age_seconds_gsum gauge\n",
        "# TYPE om_build_info gauge\n",
        "# TYPE om_mode gauge\n",
        "# TYPE js_queue histogram\n",
        &format!("om_jobs_total{{q=\"a\",plugin=\"{om}\"}} 3\n"),
        &format!("om_reading{{plugin=\"{om}\"}} 5 1700000001000\n"),
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    assert!(
        !text.contains("_created{") && !text.contains(" # {"),
        "created times or exemplars in text:\n{text}"
    );
    let (code, out) = promtool_check(&text);
    assert!(code == 0 || code == 3, "promtool ({code}): {out}\n{text}");
    let names = python_parse(&text, false);
    for name in [
        "om_queue_age_seconds",
        "om_queue_age_seconds_gsum",
        "om_build_info",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }

    // check-plugin reports the same kinds, from the same rules.
    assert_eq!(check_plugin_kinds("prometheus", &om_cmd), kinds);
    assert_eq!(check_plugin_kinds("jsonl", &js_cmd), kinds);
}
