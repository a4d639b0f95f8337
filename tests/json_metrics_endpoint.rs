//! `GET /api/v1/metrics`: what `/metrics` serves, as JSON in the protocol's family model, for
//! clients that do not speak the exposition format.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn the_merged_metrics_come_as_protocol_families() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(
        &data,
        r#"{"type":"metrics","families":[{"name":"jobs_total","type":"counter","help":"Jobs.","samples":[{"labels":{"q":"a"},"value":3}]},{"name":"wait_seconds","type":"histogram","help":"W.","unit":"seconds","samples":[{"buckets":[{"le":1,"count":2},{"le":"+Inf","count":3}],"sum":2.5,"count":3}]}]}"#.to_string() + "\n",
    )
    .unwrap();
    let name = unique("json");
    let e = Exporter::start(
        &format!(
            "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"]}}\n",
            fixture("respond.sh"),
            data.display()
        ),
        &[],
    );
    e.scrape_until(Duration::from_secs(20), |b| b.contains("jobs_total"));
    let r = e.get("/api/v1/metrics", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let families: Vec<plugin_protocol::Family> =
        serde_json::from_value(v["families"].clone()).expect("protocol families");
    let jobs = families
        .iter()
        .find(|f| f.name == "jobs_total")
        .expect("the plugin's counter");
    assert_eq!(jobs.kind, plugin_protocol::MetricType::Counter);
    assert_eq!(jobs.help, "Jobs.");
    let labels = &jobs.samples[0].labels.0;
    assert!(
        labels.contains(&("plugin".to_string(), name.clone())),
        "{labels:?}"
    );
    assert_eq!(jobs.samples[0].value.map(|v| v.0), Some(3.0));
    let wait = families.iter().find(|f| f.name == "wait_seconds").unwrap();
    assert_eq!(wait.unit.as_deref(), Some("seconds"));
    assert_eq!(wait.samples[0].buckets.as_ref().map(Vec::len), Some(2));
    assert!(
        families
            .iter()
            .any(|f| f.name == "plugin_exporter_plugin_up"),
        "own metrics too"
    );
}
