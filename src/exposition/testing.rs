//! Test helpers shared by the exposition modules: batches from JSON, the golden fixture, and
//! the reference parsers (`promtool check metrics`, Python's `prometheus_client`).
//!
//! The parser helpers fail the test when a tool is missing instead of skipping it: the CI
//! installs both, and a skipped check would look like a passed one.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::format::Format;
use super::merge::{assemble, Contribution};
use super::render::{render, RenderedFamily};
use super::validate::{validate, Drops, ValidateOptions};

/// Families from a JSON array, as a plugin would send them in `metrics.families`.
pub fn families(json: &str) -> Vec<plugin_protocol::Family> {
    serde_json::from_str(json).expect("test fixture is valid protocol JSON")
}

/// The golden input: every type, special values, units, escaping.
pub const FIXTURE_JSON: &str = include_str!("../../tests/golden/fixture.json");
/// Expected text 0.0.4 exposition of [`FIXTURE_JSON`] with the extra label `plugin="disk"`.
pub const GOLDEN_TEXT: &str = include_str!("../../tests/golden/fixture.txt");
/// Expected OpenMetrics 1.0 exposition of [`FIXTURE_JSON`] with the extra label.
pub const GOLDEN_OM: &str = include_str!("../../tests/golden/fixture.om");

/// Validates a JSON batch with default options and renders it, panicking on any drop (test
/// inputs that are meant to be valid must be).
pub fn rendered(
    json: &str,
    extra_label: Option<(&str, &str)>,
    with_spans: bool,
) -> Vec<RenderedFamily> {
    let mut drops = Drops::default();
    let fams = validate(
        families(json),
        &ValidateOptions::with_extra_label(extra_label),
        &mut drops,
    );
    assert_eq!(drops, Drops::default(), "test batch should be valid");
    render(fams, extra_label, with_spans)
}

/// The full exposition of one plugin's rendered families.
pub fn exposition(fams: &[RenderedFamily], format: Format) -> String {
    let mut out = Vec::new();
    assemble(&[], &[Contribution { families: fams }], format, &mut out);
    String::from_utf8(out).expect("expositions are UTF-8")
}

fn run(program: &str, args: &[&str], stdin: &str, install_hint: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): {install_hint}"));
    // Our bodies are small; the tools read all of stdin before writing much.
    let mut pipe = child.stdin.take().expect("stdin was piped");
    pipe.write_all(stdin.as_bytes())
        .unwrap_or_else(|e| panic!("writing to `{program}`: {e}"));
    drop(pipe);
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `{program}`: {e}"))
}

/// Runs `promtool check metrics` on a text exposition. Exit 0 passes; exit 3 (lint only)
/// passes when `lint_ok`; anything else fails with the tool's output.
pub fn promtool_check(body: &str, lint_ok: bool) {
    let out = run(
        "promtool",
        &["check", "metrics"],
        body,
        "install promtool (Debian package `prometheus`)",
    );
    let code = out.status.code();
    let passed = code == Some(0) || (lint_ok && code == Some(3));
    assert!(
        passed,
        "promtool check metrics exited {:?}\nstdout:\n{}\nstderr:\n{}\nbody:\n{}",
        code,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        body
    );
}

const PY_PARSE: &str = r#"
import sys
if sys.argv[1] == "om":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    print(f.name, f.type, f.unit or "-", len(f.samples))
"#;

/// Parses an exposition with Python's `prometheus_client` (the text or the OpenMetrics
/// parser) and returns one line per family: `name type unit samples`, as the parser saw it.
/// Fails with the parser's error when it rejects the body.
pub fn python_parse(body: &str, format: Format) -> Vec<String> {
    let which = match format {
        Format::Text => "text",
        Format::OpenMetrics => "om",
    };
    let out = run(
        "python3",
        &["-c", PY_PARSE, which],
        body,
        "install python3 with prometheus_client (pip install prometheus_client)",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'prometheus_client'"),
        "python3 lacks prometheus_client: pip install prometheus_client\n{stderr}"
    );
    assert!(
        out.status.success(),
        "prometheus_client ({which}) rejected the exposition:\n{stderr}\nbody:\n{body}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "promtool check metrics exited Some(1)")]
    fn promtool_check_fails_on_a_parse_error() {
        promtool_check("x{a=\"1\" 1\n", true);
    }

    #[test]
    #[should_panic(expected = "promtool check metrics exited Some(3)")]
    fn promtool_check_fails_on_lint_when_lint_is_not_allowed() {
        promtool_check("# HELP x_total \n# TYPE x_total gauge\nx_total 1\n", false);
    }

    #[test]
    #[should_panic(expected = "prometheus_client (om) rejected the exposition")]
    fn python_openmetrics_parse_fails_without_eof() {
        python_parse("# TYPE x gauge\nx 1\n", Format::OpenMetrics);
    }

    #[test]
    #[should_panic(expected = "prometheus_client (text) rejected the exposition")]
    fn python_text_parse_fails_on_a_broken_line() {
        python_parse("x{a=\"1\" 1\n", Format::Text);
    }
}
