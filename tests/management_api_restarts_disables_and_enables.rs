//! The management API: restart, disable and enable a plugin; its state shows in the API,
//! the landing page and the metrics.
mod common;
use common::*;
use std::time::Duration;

const DATA: &str = r#"{"type":"metrics","families":[{"name":"managed_value","type":"gauge","help":"A value.","samples":[{"value":5}]}]}"#;

fn state(e: &Exporter, name: &str) -> serde_json::Value {
    e.plugins()["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap()
}

#[test]
fn restart_disable_and_enable_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    std::fs::write(&data, format!("{DATA}\n")).unwrap();
    let name = unique("managed");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"], limits: {{memory: 32MiB}}}}\n",
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, &["--web.enable-admin-api"]);
    let series = format!("managed_value{{plugin=\"{name}\"}}");
    e.scrape_until(Duration::from_secs(20), |b| value(b, &series).is_some());
    let pid = e.plugin_pid(&name);
    let st = state(&e, &name);
    assert_eq!(st["limits"]["memory_bytes"], 32 << 20, "{st}");
    assert!(st["usage"]["memory_bytes"].is_number(), "{st}");

    let r = http_request(
        &e.addr,
        "POST",
        &format!("/api/v1/plugins/{name}/restart"),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let new_pid = e.plugin_pid(&name);
    assert_ne!(new_pid, pid);
    let body = e.scrape_until(Duration::from_secs(10), |b| value(b, &series).is_some());
    assert_eq!(
        value(
            &body,
            &format!(
                "plugin_exporter_plugin_restarts_total{{plugin=\"{name}\",reason=\"requested\"}}"
            )
        ),
        Some(1.0)
    );

    let r = http_request(
        &e.addr,
        "POST",
        &format!("/api/v1/plugins/{name}/disable"),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(state(&e, &name)["state"], "disabled");
    wait_no_plugin_processes(&name, Duration::from_secs(10));
    let body = e.scrape();
    assert!(
        value(&body, &series).is_none(),
        "a disabled plugin is served"
    );
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_disabled{{plugin=\"{name}\"}}")
        ),
        Some(1.0)
    );
    assert!(e.get("/", &[]).text().contains("Disabled"));

    let r = http_request(
        &e.addr,
        "POST",
        &format!("/api/v1/plugins/{name}/enable"),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    e.plugin_pid(&name);
    let body = e.scrape_until(Duration::from_secs(10), |b| value(b, &series).is_some());
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_disabled{{plugin=\"{name}\"}}")
        ),
        Some(0.0)
    );

    assert_eq!(
        http_request(&e.addr, "POST", "/api/v1/plugins/nope/restart", &[]).status,
        404
    );
    assert_eq!(
        http_request(
            &e.addr,
            "POST",
            &format!("/api/v1/plugins/{name}/explode"),
            &[]
        )
        .status,
        404
    );
    assert_eq!(
        http_request(
            &e.addr,
            "GET",
            &format!("/api/v1/plugins/{name}/restart"),
            &[]
        )
        .status,
        405
    );
}
