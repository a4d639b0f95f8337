//! A real Prometheus server scrapes the exporter: `up` is 1 and a plugin's value is
//! queryable through its HTTP API.
mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DATA: &str = r#"{"type":"metrics","families":[{"name":"answer_value","type":"gauge","help":"The answer.","samples":[{"labels":{"q":"life"},"value":42}]}]}"#;

struct Prom(std::process::Child);
impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn query(prom: &str, q: &str) -> Option<f64> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    // Prometheus needs a moment before it listens: a refused connection is "not yet".
    let r = try_http_request(prom, "GET", &format!("/api/v1/query?query={enc}"), &[]).ok()?;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
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
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: plugin_exporter\n  static_configs:\n  - targets: ['{}']\n",
            e.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let prom_addr = format!("127.0.0.1:{port}");
    let _prom = Prom(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "prometheus is installed (Debian package prometheus; scripts/test installs it)",
            ),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let q = format!("answer_value{{plugin=\"{name}\",q=\"life\"}}");
    loop {
        let up = query(&prom_addr, "up{job=\"plugin_exporter\"}");
        let v = query(&prom_addr, &q);
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
        &prom_addr,
        &format!("plugin_exporter_plugin_up{{plugin=\"{name}\"}}"),
    );
    assert_eq!(own, Some(1.0));
}
