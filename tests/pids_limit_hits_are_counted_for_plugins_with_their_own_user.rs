//! A fork bomb running as its own user is stopped by its cgroup's `pids.max`, and the refused
//! forks show in `plugin_exporter_plugin_limit_hits_total{limit="pids"}`: RLIMIT_NPROC, which
//! would refuse them first without the cgroup seeing anything, is not set when a cgroup holds
//! the plugin's processes.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn a_fork_bomb_as_nobody_hits_pids_max_and_is_counted() {
    let name = unique("bomb");
    let cfg = format!(
        "plugins:\n  - {{name: {name}, mode: push, user: nobody, command: [\"{}\"], \
         limits: {{pids: 32}}}}\n",
        repo().join("tests/fixtures/hostile/forkbomb.sh").display()
    );
    let e = Exporter::start(&cfg, &[]);
    let series =
        format!("plugin_exporter_plugin_limit_hits_total{{limit=\"pids\",plugin=\"{name}\"}}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let body = e.scrape();
        assert_eq!(
            value(&body, "plugin_exporter_isolation_info{cgroup=\"v1\"}"),
            Some(1.0),
            "this test needs this machine's cgroup v1 hierarchies:\n{body}"
        );
        if value(&body, &series).is_some_and(|v| v > 0.0) {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no pids limit hit counted within 20 s:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let processes = value(
        &body,
        &format!("plugin_exporter_plugin_processes{{plugin=\"{name}\"}}"),
    );
    assert!(processes.is_some_and(|p| p <= 32.0), "{body}");
}
