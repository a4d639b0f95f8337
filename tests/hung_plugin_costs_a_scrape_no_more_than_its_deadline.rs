//! A plugin that never answers costs a scrape its deadline and no more; it is marked down
//! while the others are served, and restarted after collects in a row go unanswered.
mod common;
use common::*;
use std::time::{Duration, Instant};

const GOOD: &str = r#"{"type":"metrics","families":[{"name":"good_value","type":"gauge","help":"A good value.","samples":[{"value":42}]}]}"#;

#[test]
fn hung_plugin_costs_a_scrape_no_more_than_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("good");
    std::fs::write(&data, format!("{GOOD}\n")).unwrap();
    let (good, hung) = (unique("good"), unique("hung"));
    let cfg = format!(
        "plugins:\n\
         - {{name: {good}, command: [\"{}\", \"{}\"]}}\n\
         - {{name: {hung}, command: [\"{}\"], timeout: 1s}}\n",
        fixture("respond.sh"),
        data.display(),
        fixture("hang.sh"),
    );
    let e = Exporter::start(&cfg, &[]);
    e.plugin_pid(&hung);
    e.plugin_pid(&good);

    // Scrape timeout 10 s: the hung plugin's own 1 s timeout is the deadline.
    let t = Instant::now();
    let r = e.get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "10")]);
    let took = t.elapsed();
    let body = r.text();
    assert!(
        took >= Duration::from_millis(900),
        "deadline not waited: {took:?}"
    );
    assert!(took < Duration::from_millis(1800), "scrape took {took:?}");
    assert_eq!(
        value(&body, &format!("good_value{{plugin=\"{good}\"}}")),
        Some(42.0),
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{hung}\"}}")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{good}\"}}")
        ),
        Some(1.0)
    );

    // Scrape timeout 0.8 s: the scrape's budget (half of it) is shorter than the plugin's.
    let t = Instant::now();
    let body = e
        .get(
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "0.8")],
        )
        .text();
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(800),
        "scrape took {took:?} with a 0.8 s timeout"
    );
    assert!(value(&body, &format!("good_value{{plugin=\"{good}\"}}")).is_some());

    // The third unanswered collect in a row restarts the plugin, counted as a timeout.
    let body = e.scrape_until(Duration::from_secs(20), |b| {
        value(
            b,
            &format!(
                "plugin_exporter_plugin_restarts_total{{plugin=\"{hung}\",reason=\"timeout\"}}"
            ),
        )
        .is_some_and(|v| v >= 1.0)
    });
    let timeouts = value(
        &body,
        &format!("plugin_exporter_plugin_errors_total{{kind=\"timeout\",plugin=\"{hung}\"}}"),
    )
    .unwrap();
    assert!(timeouts >= 3.0, "{body}");
}
