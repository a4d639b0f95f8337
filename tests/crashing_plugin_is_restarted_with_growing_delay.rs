//! A plugin that exits at once is restarted again and again, each delay longer, and every
//! restart is counted with its reason.
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn crashing_plugin_is_restarted_with_growing_delay_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let name = unique("crashy");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"]}}\n",
        fixture("crash.sh"),
        starts.display()
    );
    let e = Exporter::start(&cfg, &[]);
    // Delays are drawn from [50,100], [100,200], [200,400], [400,800], [800,1600] ms.
    let deadline = Instant::now() + Duration::from_secs(30);
    let times: Vec<u64> = loop {
        let t: Vec<u64> = std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        if t.len() >= 7 {
            break t;
        }
        assert!(Instant::now() < deadline, "only {} starts in 30 s", t.len());
        std::thread::sleep(Duration::from_millis(50));
    };
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e6)
        .collect();
    // Equal jitter keeps the bound: a delay two steps later is at least twice the lower end.
    for i in 0..gaps.len() - 2 {
        assert!(gaps[i + 2] > gaps[i], "delays do not grow: {gaps:?} ms");
    }
    assert!(gaps[5] >= 800.0, "sixth delay too short: {gaps:?} ms");
    assert!(gaps[0] < 400.0, "first delay too long: {gaps:?} ms");
    let body = e.scrape();
    let restarts = value(
        &body,
        &format!("plugin_exporter_plugin_restarts_total{{plugin=\"{name}\",reason=\"exited\"}}"),
    )
    .unwrap();
    assert!(restarts >= 6.0, "restarts {restarts}:\n{body}");
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{name}\"}}")
        ),
        Some(0.0)
    );
}
