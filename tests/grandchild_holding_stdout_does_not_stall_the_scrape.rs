//! A plugin that dies while a grandchild still holds its stdout open fails its collect at
//! once (not at the deadline), and the grandchild is killed with it.
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn grandchild_holding_stdout_does_not_stall_the_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let name = unique("gc");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"], timeout: 20s}}\n",
        fixture("grandchild.sh"),
        pids.display()
    );
    let e = Exporter::start(&cfg, &[]);
    e.plugin_pid(&name);
    let t = Instant::now();
    let body = e
        .get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "30")])
        .text();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "scrape stalled for {took:?}");
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{name}\"}}")
        ),
        Some(0.0)
    );
    let listed = std::fs::read_to_string(&pids).unwrap();
    let sleeper: i32 = listed
        .lines()
        .nth(1)
        .expect("grandchild pid written")
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_zombie(sleeper) {
        assert!(
            Instant::now() < deadline,
            "grandchild {sleeper} survives its plugin"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    e.scrape_until(Duration::from_secs(10), |b| {
        value(
            b,
            &format!(
                "plugin_exporter_plugin_restarts_total{{plugin=\"{name}\",reason=\"exited\"}}"
            ),
        )
        .is_some_and(|v| v >= 1.0)
    });
}
