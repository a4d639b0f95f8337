//! A real Prometheus server scrapes the exporter: `up` is 1 and a plugin's value is
//! queryable through its HTTP API.
mod common;
use common::*;
use std::time::{Duration, Instant};

const DATA: &str = r#"{"type":"metrics","families":[{"name":"answer_value","type":"gauge","help":"The answer.","samples":[{"labels":{"q":"life"},"value":42}]}]}"#;

fn query(prom: &Prometheus, q: &str) -> Option<f64> {
    // Prometheus needs a moment before it listens: no answer is "not yet".
    let v = prom.query(q)?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn real_prometheus_sees_up_1_and_the_plugins_value() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, format!("{DATA}\n")).unwrap();
    let name = unique("answer");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"]}}\n",
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, &[]);
    let prom = Prometheus::start(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: plugin_exporter\n  static_configs:\n  - targets: ['{}']\n",
            e.addr
        ),
        None,
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let q = format!("answer_value{{plugin=\"{name}\",q=\"life\"}}");
    loop {
        let up = query(&prom, "up{job=\"plugin_exporter\"}");
        let v = query(&prom, &q);
        if up == Some(1.0) && v == Some(42.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw it: up={up:?} value={v:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Prometheus negotiated OpenMetrics and scraped without warnings about duplicates.
    let own = query(
        &prom,
        &format!("plugin_exporter_plugin_up{{plugin=\"{name}\"}}"),
    );
    assert_eq!(own, Some(1.0));
}
