//! A scrape of the example configuration (sh, Python, Rust and Node.js plugins) passes
//! `promtool check metrics` with no lint problem, and Python's reference parser reads it in
//! both formats; gzip bodies decode to the same families.
mod common;
use common::*;
use std::io::Read;
use std::time::Duration;

fn start_examples() -> Exporter {
    for bin in ["sysinfo-plugin", "sysinfo-push-plugin"] {
        let rust_plugin = repo().join("target/debug").join(bin);
        assert!(
            rust_plugin.exists(),
            "{} is missing: build it with `cargo build --workspace` (scripts/test does)",
            rust_plugin.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    Exporter::start_with_file(&repo().join("examples/plugin-exporter.yml"), dir, &[])
}

fn all_up(body: &str) -> bool {
    [
        "loadavg",
        "meminfo",
        "sysinfo",
        "sysinfo-push",
        "procstat",
        "uptime",
    ]
    .iter()
    .all(|p| {
        value(
            body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{p}\"}}"),
        ) == Some(1.0)
    })
}

#[test]
fn example_scrape_passes_promtool_without_lint_problems() {
    let e = start_examples();
    let body = e.scrape_until(Duration::from_secs(30), all_up);
    let (code, out) = promtool_check(&body);
    assert_eq!(code, 0, "promtool check metrics:\n{out}\nbody:\n{body}");
}

#[test]
fn example_scrape_parses_with_prometheus_client_in_both_formats() {
    let e = start_examples();
    e.scrape_until(Duration::from_secs(30), all_up);
    let text = e.get("/metrics", &[("Accept", "text/plain;version=0.0.4")]);
    assert_eq!(
        text.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let names = python_parse(&text.text(), false);
    for want in [
        "plugin_exporter_plugin_up",
        "loadavg_load1",
        "process_cpu_seconds",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let om = e.get(
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    );
    assert_eq!(
        om.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = om.text();
    assert!(body.ends_with("# EOF\n"));
    let names = python_parse(&body, true);
    assert!(
        names.iter().any(|n| n == "plugin_exporter_plugin_restarts"),
        "{names:?}"
    );
}

#[test]
fn gzip_scrape_decodes_to_a_valid_exposition() {
    let e = start_examples();
    e.scrape_until(Duration::from_secs(30), all_up);
    let r = e.get("/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(
        r.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
    let mut plain = String::new();
    flate2::read::MultiGzDecoder::new(&r.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert!(
        plain.contains("# TYPE plugin_exporter_plugin_up gauge"),
        "{plain}"
    );
    let (code, out) = promtool_check(&plain);
    assert_eq!(code, 0, "{out}");
}
