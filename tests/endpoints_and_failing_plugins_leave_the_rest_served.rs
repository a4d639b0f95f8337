//! The HTTP endpoints answer as documented, and plugins that cannot start or that close their
//! stdout are restarted with their own reason while the other plugins keep being served.
mod common;
use common::*;
use std::time::Duration;

const OK: &str = r#"{"type":"metrics","families":[{"name":"steady_value","type":"gauge","help":"Steady.","samples":[{"value":7}]}]}"#;

#[test]
fn failing_plugins_are_restarted_with_their_reason_and_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ok");
    std::fs::write(&data, format!("{OK}\n")).unwrap();
    let (ok, nostart, closer) = (unique("ok"), unique("nostart"), unique("closer"));
    let cfg = format!(
        "plugins:\n\
         - {{name: {nostart}, command: [\"{}\"]}}\n\
         - {{name: {closer}, command: [\"{}\"]}}\n\
         - {{name: {ok}, command: [\"{}\", \"{}\"]}}\n",
        fixture("bad_interpreter.sh"),
        fixture("close_stdout.sh"),
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, &["--plugin.shutdown-grace", "200ms"]);
    let restarts = |b: &str, p: &str, r: &str| {
        value(
            b,
            &format!("plugin_exporter_plugin_restarts_total{{plugin=\"{p}\",reason=\"{r}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let body = e.scrape_until(Duration::from_secs(20), |b| {
        restarts(b, &nostart, "spawn_failed") >= 2.0 && restarts(b, &closer, "stdout_closed") >= 1.0
    });
    assert_eq!(
        value(&body, &format!("steady_value{{plugin=\"{ok}\"}}")),
        Some(7.0),
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{ok}\"}}")
        ),
        Some(1.0)
    );
    let api = e.plugins();
    let p = api["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == nostart.as_str())
        .unwrap();
    let err = p["last_error"].as_str().unwrap();
    assert!(
        err.contains("cannot start") && err.contains("bad_interpreter.sh"),
        "{err}"
    );
}

#[test]
fn landing_health_ready_and_api_answer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ok");
    std::fs::write(&data, format!("{OK}\n")).unwrap();
    let name = unique("shown");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"], env: {{SECRET: \"${{HOME}}\"}}}}\n",
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, &[]);
    e.plugin_pid(&name);
    let ready = e.get("/-/ready", &[]);
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(e.get("/-/healthy", &[]).status, 200);
    let landing = e.get("/", &[]);
    assert_eq!(landing.status, 200);
    let html = landing.text();
    assert!(
        html.contains(&name) && html.contains("href=\"/metrics\""),
        "{html}"
    );
    let api = e.get("/api/v1/plugins", &[]);
    assert_eq!(api.headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&api.body).unwrap();
    assert_eq!(v["plugins"][0]["name"], name.as_str());
    assert_eq!(v["plugins"][0]["state"], "running");
    assert_eq!(v["plugins"][0]["mode"], "scrape");
    // The substituted value never shows.
    let home = std::env::var("HOME").unwrap();
    assert!(!api.text().contains(&home) && !html.contains(&home));
    assert_eq!(e.get("/nope", &[]).status, 404);
    assert_eq!(http_request(&e.addr, "POST", "/metrics", &[]).status, 405);
}

#[test]
fn version_flag_names_version_and_revision() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.starts_with(&format!("plugin-exporter {}", env!("CARGO_PKG_VERSION"))),
        "{s}"
    );
    assert!(s.contains("revision"), "{s}");
}
