//! The generated Grafana dashboard works: a real Prometheus scrapes the exporter, and every
//! query of every panel, with Grafana's variables filled in, parses and returns data. The
//! `dashboard` command gives the same panels as the endpoint.
mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const DATA: &str = r#"{"type":"metrics","families":[
{"name":"jobs_total","type":"counter","help":"Jobs done.","samples":[{"labels":{"q":"a"},"value":3}]},
{"name":"queue_depth","type":"gauge","help":"Depth.","samples":[{"value":4}]},
{"name":"wait_seconds","type":"histogram","help":"Waits.","unit":"seconds","samples":[{"buckets":[{"le":0.5,"count":1},{"le":"+Inf","count":2}],"sum":1.5,"count":2}]},
{"name":"size_bytes","type":"summary","help":"Sizes.","samples":[{"quantiles":[{"quantile":0.5,"value":10}],"sum":30,"count":3}]}
]}"#;

/// (status, result count, error) of an instant query; `None` while Prometheus does not
/// answer.
fn query(prom: &Prometheus, q: &str) -> Option<(String, usize, String)> {
    let v = prom.query(q)?;
    let n = v["data"]["result"].as_array().map_or(0, Vec::len);
    Some((
        v["status"].as_str()?.to_string(),
        n,
        v["error"].as_str().unwrap_or("").to_string(),
    ))
}

/// Every query of the dashboard, with Grafana's variables as Grafana would fill them.
fn exprs(dashboard: &serde_json::Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .unwrap()
                .replace("$job", ".+")
                .replace("$instance", ".+")
                .replace("$__rate_interval", "1m")
        })
        .collect()
}

#[test]
fn every_dashboard_query_parses_and_returns_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, format!("{}\n", DATA.replace('\n', ""))).unwrap();
    let name = unique("dash");
    let cfg_text = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"]}}\n",
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg_text, &[]);
    e.scrape_until(Duration::from_secs(20), |b| b.contains("jobs_total"));
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

    let r = e.get("/api/v1/dashboards/grafana", &[]);
    assert_eq!(r.status, 200);
    let dashboard: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(dashboard["uid"], "plugin-exporter");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let vars: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "job", "instance"]);
    let queries = exprs(&dashboard);
    assert!(queries.len() >= 12, "{queries:#?}");
    for family in [
        "jobs_total",
        "queue_depth",
        "wait_seconds_bucket",
        "size_bytes",
    ] {
        assert!(
            queries.iter().any(|q| q.contains(family)),
            "no panel for {family}"
        );
    }

    // Wait for a minute's worth of rate() data: two scrapes at least.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut failing: Vec<String>;
    loop {
        failing = queries
            .iter()
            .filter(|q| match query(&prom, q) {
                Some((status, n, _)) => status != "success" || n == 0,
                None => true,
            })
            .cloned()
            .collect();
        if failing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "queries without data: {:#?}",
            failing
                .iter()
                .map(|q| (q, query(&prom, q)))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The command builds the same panels from a one-off run of the same config.
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, format!("global: {{allow_root: true}}\n{cfg_text}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .args(["dashboard", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = |d: &serde_json::Value| -> Vec<u64> {
        d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&from_cli), ids(&dashboard), "stable panel ids");
    assert_eq!(exprs(&from_cli), queries);
}
