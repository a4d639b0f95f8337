//! Invalid metric output and a type conflict between two plugins are dropped and counted,
//! while every valid series is served and the exposition still parses.
mod common;
use common::*;
use std::time::Duration;

// Plugin A is listed first: it owns `shared_thing` (a gauge).
const A: &str = r#"{"type":"metrics","families":[
 {"name":"shared_thing","type":"gauge","help":"Owned by A.","samples":[{"value":1}]},
 {"name":"a_ok","type":"gauge","help":"Valid.","samples":[{"value":1}]}]}"#;

// Plugin B: a non-JSON line first, then a batch with one valid family, a type conflict
// (one series), and invalid things: a bad metric name (family), a reserved label, a
// duplicate series, a negative counter, non-monotonic buckets, the plugin label itself.
const B: &str = r#"this is not json
{"type":"metrics","families":[
 {"name":"b_ok","type":"gauge","help":"Valid.","samples":[{"labels":{"x":"1"},"value":1},{"labels":{"x":"1"},"value":2}]},
 {"name":"shared_thing","type":"counter","help":"Not A's.","samples":[{"value":5}]},
 {"name":"1bad","type":"gauge","help":"Bad name.","samples":[{"value":1}]},
 {"name":"b_reserved","type":"gauge","help":"Reserved label.","samples":[{"labels":{"__x":"1"},"value":1},{"labels":{"ok":"1"},"value":2}]},
 {"name":"b_neg_total","type":"counter","help":"Negative.","samples":[{"value":-1},{"labels":{"ok":"1"},"value":3}]},
 {"name":"b_hist","type":"histogram","help":"Buckets go down.","samples":[{"buckets":[{"le":1,"count":5},{"le":2,"count":3},{"le":"+Inf","count":5}],"sum":1,"count":5}]},
 {"name":"b_own_label","type":"gauge","help":"Sets plugin.","samples":[{"labels":{"plugin":"evil"},"value":1}]}
]}"#;

fn one_line(s: &str) -> String {
    // The first line of B stays a line of its own; the JSON is joined into one line.
    let mut out = String::new();
    for (i, part) in s.split("\n{").enumerate() {
        if i > 0 {
            out.push_str("\n{");
        }
        out.push_str(&part.replace('\n', ""));
    }
    out.push('\n');
    out
}

#[test]
fn invalid_output_and_type_conflicts_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (unique("a"), unique("b"));
    std::fs::write(dir.path().join("a"), one_line(A)).unwrap();
    std::fs::write(dir.path().join("b"), one_line(B)).unwrap();
    let d = dir.path().display();
    let cfg = format!(
        "plugins:\n\
         - {{name: {a}, command: [\"{r}\", \"{d}/a\"]}}\n\
         - {{name: {b}, command: [\"{r}\", \"{d}/b\"]}}\n",
        r = fixture("respond.sh"),
    );
    let e = Exporter::start(&cfg, &[]);
    let body = e.scrape_until(Duration::from_secs(20), |body| {
        value(body, &format!("b_ok{{x=\"1\",plugin=\"{b}\"}}")).is_some()
    });
    // Valid series of both plugins are served; the first of a duplicate pair is kept.
    assert_eq!(
        value(&body, &format!("a_ok{{plugin=\"{a}\"}}")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&body, &format!("b_ok{{x=\"1\",plugin=\"{b}\"}}")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&body, &format!("b_reserved{{ok=\"1\",plugin=\"{b}\"}}")),
        Some(2.0)
    );
    assert_eq!(
        value(&body, &format!("b_neg_total{{ok=\"1\",plugin=\"{b}\"}}")),
        Some(3.0)
    );
    // The family belongs to A, as a gauge; B's counter series is gone.
    assert!(body.contains("# TYPE shared_thing gauge\n"), "{body}");
    assert_eq!(
        value(&body, &format!("shared_thing{{plugin=\"{a}\"}}")),
        Some(1.0)
    );
    assert!(
        value(&body, &format!("shared_thing{{plugin=\"{b}\"}}")).is_none(),
        "{body}"
    );
    // Nothing invalid passed through.
    for bad in ["1bad", "__x", "b_hist", "b_own_label", "plugin=\"evil\""] {
        assert!(!body.contains(bad), "{bad} passed through:\n{body}");
    }
    let count = |kind: &str| {
        value(
            &body,
            &format!("plugin_exporter_plugin_errors_total{{kind=\"{kind}\",plugin=\"{b}\"}}"),
        )
        .unwrap_or_else(|| panic!("no errors_total for {kind}:\n{body}"))
    };
    // Conflicts are counted when merged; scrape once more to see this scrape's count.
    let body = e.scrape();
    let count_now = |kind: &str| {
        value(
            &body,
            &format!("plugin_exporter_plugin_errors_total{{kind=\"{kind}\",plugin=\"{b}\"}}"),
        )
        .unwrap()
    };
    assert!(count("protocol") >= 1.0);
    assert!(count_now("conflict") >= 1.0, "{body}");
    assert!(count_now("duplicate_series") >= 1.0, "{body}");
    // Per batch: 1bad (family), __x (series), -1 counter (series), b_hist (series),
    // plugin label (series).
    assert!(count_now("invalid_metric") >= 5.0, "{body}");
    assert_eq!(
        value(
            &body,
            &format!(
                "plugin_exporter_plugin_errors_total{{kind=\"invalid_metric\",plugin=\"{a}\"}}"
            )
        ),
        Some(0.0)
    );
    // The whole exposition still parses.
    let out = promtool_check(&body);
    assert!(
        out.0 == 0 || out.0 == 3,
        "promtool failed to parse ({}):\n{}",
        out.0,
        out.1
    );
}
