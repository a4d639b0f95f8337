//! `format: prometheus` and `format: nagios` plugins: Debian's node_exporter textfile
//! collector scripts and monitoring-plugins checks run unchanged, once per collect, fenced
//! like JSON-lines plugins; their series pass promtool. Invalid lines are counted and
//! dropped, failures and timeouts mark the plugin down, and a timeout kills the whole tree.
mod common;
use common::*;
use std::time::{Duration, Instant};

const COLLECTORS: &str = "/usr/share/prometheus-node-exporter-collectors";
const CHECKS: &str = "/usr/lib/nagios/plugins";

fn need(path: &str, package: &str) -> String {
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: install Debian's {package} (scripts/test does)"
    );
    path.to_string()
}

#[test]
fn debian_collector_scripts_and_checks_are_served_and_pass_promtool() {
    let c = |s: &str| {
        need(
            &format!("{COLLECTORS}/{s}"),
            "prometheus-node-exporter-collectors",
        )
    };
    let n = |s: &str| need(&format!("{CHECKS}/{s}"), "monitoring-plugins-basic");
    let names: Vec<String> = ["dirsize", "fstab", "inotify", "load", "disk", "procs"]
        .iter()
        .map(|n| unique(n))
        .collect();
    let cfg = format!(
        "plugins:\n\
         - {{name: {}, format: prometheus, command: [\"{}\", \"/tmp\"]}}\n\
         - {{name: {}, format: prometheus, command: [\"{}\"]}}\n\
         - {{name: {}, format: prometheus, mode: interval, interval: 1s, command: [\"{}\"]}}\n\
         - {{name: {}, format: nagios, command: [\"{}\", \"-w\", \"50,50,50\", \"-c\", \"90,90,90\"]}}\n\
         - {{name: {}, format: nagios, command: [\"{}\", \"-w\", \"1%\", \"-c\", \"1%\", \"-p\", \"/\"]}}\n\
         - {{name: {}, format: nagios, mode: interval, interval: 1s, command: [\"{}\", \"-w\", \"5000\", \"-c\", \"10000\"]}}\n",
        names[0],
        c("directory-size.sh"),
        names[1],
        c("fstab-check.sh"),
        names[2],
        c("inotify-instances"),
        names[3],
        n("check_load"),
        names[4],
        n("check_disk"),
        names[5],
        n("check_procs"),
    );
    let e = Exporter::start(&cfg, &[]);
    // A scrape reads the plugins' batches before our own metrics: an interval plugin can be
    // up in a scrape that still lacks its first batch. Wait for the series themselves too.
    let body = e.scrape_until(Duration::from_secs(30), |b| {
        let served = |p: &String| {
            b.lines().any(|l| {
                !l.starts_with("plugin_exporter_") && l.contains(&format!("plugin=\"{p}\""))
            })
        };
        names
            .iter()
            .all(|p| value(b, &format!("plugin_exporter_plugin_up{{plugin=\"{p}\"}}")) == Some(1.0))
            // fstab-check.sh and inotify-instances print no sample on a host without fstab
            // entries or inotify users: for them, up and no parse error is the test.
            && [0, 3, 4, 5].iter().all(|&i| served(&names[i]))
    });
    assert!(
        value(
            &body,
            &format!(
                "node_directory_size_bytes{{directory=\"/tmp\",plugin=\"{}\"}}",
                names[0]
            )
        )
        .is_some_and(|v| v > 0.0),
        "{body}"
    );
    for p in &names[3..] {
        assert!(
            body.lines()
                .any(|l| l.starts_with("nagios_") && l.contains(&format!("plugin=\"{p}\""))),
            "no nagios series for {p}:\n{body}"
        );
    }
    let (code, out) = promtool_check(&body);
    assert_eq!(code, 0, "promtool check metrics:\n{out}");
    for p in &names {
        assert_eq!(
            value(
                &body,
                &format!(
                    "plugin_exporter_plugin_errors_total{{kind=\"parse_error\",plugin=\"{p}\"}}"
                )
            ),
            Some(0.0),
            "{p} had parse errors:\n{body}"
        );
    }
}

#[test]
fn invalid_lines_failures_and_timeouts_are_counted_and_the_tree_killed() {
    let text = |s: &str| {
        repo()
            .join("tests/fixtures/text")
            .join(s)
            .display()
            .to_string()
    };
    let (bad, fails, hangs) = (unique("badline"), unique("fails"), unique("hangs"));
    let cfg = format!(
        "plugins:\n\
         - {{name: {bad}, format: prometheus, command: [\"{}\"]}}\n\
         - {{name: {fails}, format: prometheus, command: [\"{}\"]}}\n\
         - {{name: {hangs}, format: prometheus, timeout: 1s, command: [\"{}\"]}}\n",
        text("with_bad_line.sh"),
        text("fails.sh"),
        text("hang_with_child.sh"),
    );
    let e = Exporter::start(&cfg, &[]);
    let t = Instant::now();
    let body = e
        .get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "10")])
        .text();
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "scrape took {took:?} with a 1 s plugin timeout"
    );
    // The valid lines around the invalid one are served; the invalid one is counted.
    assert_eq!(
        value(&body, &format!("text_ok_value{{k=\"a\",plugin=\"{bad}\"}}")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&body, &format!("text_ok_value{{k=\"b\",plugin=\"{bad}\"}}")),
        Some(2.0)
    );
    assert_eq!(
        value(
            &body,
            &format!(
                "plugin_exporter_plugin_errors_total{{kind=\"parse_error\",plugin=\"{bad}\"}}"
            )
        ),
        Some(1.0)
    );
    // A command exiting non-zero fails its collect, whatever it printed.
    assert!(!body.contains("text_failed_value"), "{body}");
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{fails}\"}}")
        ),
        Some(0.0)
    );
    assert!(value(
        &body,
        &format!("plugin_exporter_plugin_errors_total{{kind=\"plugin_error\",plugin=\"{fails}\"}}")
    )
    .is_some_and(|v| v >= 1.0));
    // The hung one timed out, and its whole tree (the command and its helper) is gone.
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{hangs}\"}}")
        ),
        Some(0.0)
    );
    // The scrape gives up at its deadline a moment before the runner has killed the tree and
    // counted the timeout: the count shows in a following scrape.
    e.scrape_until(Duration::from_secs(10), |b| {
        value(
            b,
            &format!("plugin_exporter_plugin_errors_total{{kind=\"timeout\",plugin=\"{hangs}\"}}"),
        )
        .is_some_and(|v| v >= 1.0)
    });
    wait_no_plugin_processes(&hangs, Duration::from_secs(5));
}
