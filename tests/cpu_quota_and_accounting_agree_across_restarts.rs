//! On cgroup v1 with `cpu` and `cpuacct` as separate hierarchies (as on this machine), a
//! spinning plugin is held to its CPU quota and `plugin_exporter_plugin_cpu_seconds_total`
//! grows exactly as its cgroup's own `cpuacct.usage`, in push mode and in scrape mode where
//! it is restarted for leaving collects unanswered; every process of the plugin is in both
//! hierarchies' cgroups.

mod common;
use common::*;
use std::time::{Duration, Instant};

const QUOTA: f64 = 0.2;

/// The exporter's cgroup path in the v1 hierarchy whose line names `controller`.
fn own_cgroup(pid: i32, controller: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            ctrls
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("no {controller} hierarchy: this test needs cgroup v1"))
}

/// The plugin's cgroup directory in the hierarchy mounted at /sys/fs/cgroup/`mount`.
fn plugin_dir(exporter: i32, mount: &str, controller: &str, plugin: &str) -> std::path::PathBuf {
    let own = own_cgroup(exporter, controller);
    std::path::PathBuf::from(format!(
        "/sys/fs/cgroup/{mount}{own}/plugin-exporter-{exporter}/{plugin}"
    ))
    .components()
    .collect()
}

fn cpuacct_seconds(dir: &std::path::Path) -> f64 {
    let ns: f64 = std::fs::read_to_string(dir.join("cpuacct.usage"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .trim()
        .parse()
        .unwrap();
    ns / 1e9
}

/// The cgroup of `pid` in the hierarchy whose line names `controller`; `None` once gone.
fn cgroup_of(pid: i32, controller: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

#[test]
fn cpu_is_held_to_the_quota_and_counted_as_the_cgroup_counts_it_in_every_mode() {
    let (push, scrape) = (unique("spinpush"), unique("spinscrape"));
    let spin = repo().join("tests/fixtures/hostile/cpuspin.sh");
    let cfg = format!(
        "global:\n  allow_root: true\n  timeout: 300ms\nplugins:\n  \
         - {{name: {push}, mode: push, command: [\"{s}\"], limits: {{cpu: {QUOTA}}}}}\n  \
         - {{name: {scrape}, command: [\"{s}\"], limits: {{cpu: {QUOTA}}}}}\n",
        s = spin.display()
    );
    let e = Exporter::start(&cfg, &["--plugin.shutdown-grace", "200ms"]);
    let body = e.scrape();
    assert_eq!(
        value(&body, "plugin_exporter_isolation_info{cgroup=\"v1\"}"),
        Some(1.0),
        "this test needs this machine's cgroup v1 hierarchies:\n{body}"
    );
    let dirs: Vec<_> = [&push, &scrape]
        .iter()
        .map(|p| {
            (
                p.to_string(),
                plugin_dir(e.pid(), "cpu", "cpu", p),
                plugin_dir(e.pid(), "cpuacct", "cpuacct", p),
            )
        })
        .collect();
    for (p, cpu, _) in &dirs {
        let quota = std::fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap();
        assert_eq!(quota.trim(), "20000", "{p}");
    }
    let metric = |body: &str, p: &str| {
        value(
            body,
            &format!("plugin_exporter_plugin_cpu_seconds_total{{plugin=\"{p}\"}}"),
        )
        .unwrap_or(0.0)
    };
    for window in 0..2 {
        let (t0, body0) = (Instant::now(), e.scrape());
        let acct0: Vec<f64> = dirs.iter().map(|(_, _, a)| cpuacct_seconds(a)).collect();
        // A measurement window, scraped every 400 ms: the scrape-mode plugin leaves its
        // collects unanswered and is restarted meanwhile.
        let mut body1 = body0.clone();
        while t0.elapsed() < Duration::from_secs(4) {
            std::thread::sleep(Duration::from_millis(400));
            body1 = e.scrape();
            for (p, cpu, acct) in &dirs {
                let procs = std::fs::read_to_string(acct.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let (Some(in_cpu), Some(in_acct)) =
                        (cgroup_of(pid, "cpu"), cgroup_of(pid, "cpuacct"))
                    else {
                        continue; // gone meanwhile
                    };
                    assert!(
                        cpu.ends_with(in_cpu.trim_start_matches('/')),
                        "{p}: process {pid} is in cpuacct {in_acct} but in cpu {in_cpu}"
                    );
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        for (i, (p, _, acct)) in dirs.iter().enumerate() {
            let counted = cpuacct_seconds(acct) - acct0[i];
            let reported = metric(&body1, p) - metric(&body0, p);
            let rate = counted / secs;
            assert!(
                rate <= QUOTA * 1.3,
                "window {window}, {p}: {rate:.3} cores by cpuacct, quota {QUOTA}"
            );
            // The metric is read at most once a second per plugin, so its window is shifted
            // by up to a second of the cgroup's: allow that much of the quota.
            assert!(
                (reported - counted).abs() <= QUOTA * 1.2 + 0.05,
                "window {window}, {p}: metric grew {reported:.3} s, cpuacct {counted:.3} s \
                 over {secs:.1} s"
            );
        }
    }
    let body = e.scrape();
    let restarts = value(
        &body,
        &format!("plugin_exporter_plugin_restarts_total{{plugin=\"{scrape}\",reason=\"timeout\"}}"),
    )
    .unwrap_or(0.0);
    assert!(
        restarts >= 1.0,
        "the scrape-mode plugin was never restarted:\n{body}"
    );
}
