//! Plugins written with the SDKs run under the real exporter and are served: the Rust SDK's
//! collector (`sysinfo-plugin`) and pusher (`sysinfo-push-plugin`), the Python SDK's example,
//! and the dependency-free Node.js example. Each is up, has its series served with the plugin
//! label, and costs no error of any kind.
mod common;
use common::*;
use std::path::PathBuf;
use std::time::Duration;

/// A binary of the Rust examples, built by `cargo build --workspace`.
fn example_binary(name: &str) -> String {
    let p = repo().join("target/debug").join(name);
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build --workspace` (scripts/test does)",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

/// A script example; a `.js` one also needs `node` in the PATH.
fn example_script(path: &str) -> String {
    let p: PathBuf = repo().join(path);
    assert!(p.exists(), "{} missing", p.display());
    if path.ends_with(".js") {
        let node = std::process::Command::new("node").arg("--version").output();
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "{path} needs Node.js: install it (Debian package nodejs) so `node` is in the PATH"
        );
    }
    p.to_string_lossy().into_owned()
}

fn up(body: &str, plugin: &str) -> Option<f64> {
    value(
        body,
        &format!("plugin_exporter_plugin_up{{plugin=\"{plugin}\"}}"),
    )
}

/// Every `plugin_exporter_plugin_errors_total` series of `plugin` that is not zero.
fn errors(body: &str, plugin: &str) -> Vec<String> {
    let tag = format!("plugin=\"{plugin}\"");
    body.lines()
        .filter(|l| l.starts_with("plugin_exporter_plugin_errors_total{") && l.contains(&tag))
        .filter(|l| !l.ends_with(" 0"))
        .map(String::from)
        .collect()
}

/// Scrapes until `series` is served and the plugin is up, then checks it made no error.
fn served(e: &Exporter, plugin: &str, series: &str) -> String {
    let body = e.scrape_until(Duration::from_secs(30), |b| {
        value(b, series).is_some() && up(b, plugin) == Some(1.0)
    });
    assert_eq!(errors(&body, plugin), Vec::<String>::new(), "{body}");
    body
}

#[test]
fn a_collector_built_on_the_rust_sdk_is_served() {
    let name = unique("rust-sdk");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\"], mode: scrape}}\n",
        example_binary("sysinfo-plugin")
    );
    let e = Exporter::start(&cfg, &[]);
    let body = served(&e, &name, &format!("sysinfo_load1{{plugin=\"{name}\"}}"));
    for family in [
        "# TYPE sysinfo_cpu_usage_ratio gauge",
        "# TYPE sysinfo_memory_total_bytes gauge",
        "# TYPE sysinfo_disk_available_bytes gauge",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
    let total = value(
        &body,
        &format!("sysinfo_memory_total_bytes{{plugin=\"{name}\"}}"),
    )
    .unwrap();
    assert!(total > 0.0, "{body}");
    // The SDK's hello reached the exporter.
    e.wait_log(Duration::from_secs(10), |l| {
        l.contains("plugin said hello") && l.contains(&name) && l.contains("0.1.0")
    });
}

#[test]
fn a_pusher_built_on_the_rust_sdk_is_served_and_replaces_its_pushes() {
    let name = unique("rust-push");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\"], mode: push, interval: 5s, \
         config: {{every_seconds: 0.2}}}}\n",
        example_binary("sysinfo-push-plugin")
    );
    let e = Exporter::start(&cfg, &[]);
    let pushes = format!("sysinfo_push_pushes_total{{plugin=\"{name}\"}}");
    let body = served(&e, &name, &pushes);
    let first = value(&body, &pushes).unwrap();
    assert!(value(
        &body,
        &format!("sysinfo_uptime_seconds{{plugin=\"{name}\"}}")
    )
    .is_some());
    // Each push replaces the previous one: the counter moves on.
    e.scrape_until(Duration::from_secs(30), |b| {
        value(b, &pushes).is_some_and(|n| n > first)
    });
}

#[test]
fn the_python_sdk_example_is_served() {
    let name = unique("python-sdk");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\"], config: {{modes: [user, system]}}}}\n",
        example_script("examples/python/sdk_example.py")
    );
    let e = Exporter::start(&cfg, &[]);
    let body = served(
        &e,
        &name,
        &format!("procstat_context_switches_total{{plugin=\"{name}\"}}"),
    );
    for mode in ["user", "system"] {
        let series = format!("procstat_cpu_seconds_total{{mode=\"{mode}\",plugin=\"{name}\"}}");
        assert!(value(&body, &series).is_some(), "{series} missing:\n{body}");
    }
    // config.modes left the other modes out.
    assert!(
        value(
            &body,
            &format!("procstat_cpu_seconds_total{{mode=\"idle\",plugin=\"{name}\"}}")
        )
        .is_none(),
        "{body}"
    );
}

#[test]
fn the_node_example_is_served_and_answers_each_scrape() {
    let name = unique("node");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\"]}}\n",
        example_script("examples/node/uptime.js")
    );
    let e = Exporter::start(&cfg, &[]);
    let collects = format!("uptime_plugin_collects_total{{plugin=\"{name}\"}}");
    let body = served(&e, &name, &collects);
    assert!(
        value(
            &body,
            &format!("uptime_host_uptime_seconds{{plugin=\"{name}\"}}")
        )
        .is_some_and(|s| s > 0.0),
        "{body}"
    );
    // Scrape mode: every scrape is a new collect, answered with its id.
    let before = value(&body, &collects).unwrap();
    let after = value(&e.scrape(), &collects).unwrap();
    assert_eq!(after, before + 1.0);
}

/// With a long shutdown grace, the exporter stops quickly only if every plugin exits on
/// `shutdown` by itself, without waiting for SIGTERM.
#[test]
fn every_sdk_plugin_exits_at_shutdown_without_a_signal() {
    let names = [
        unique("rust-sdk"),
        unique("rust-push"),
        unique("python-sdk"),
        unique("node"),
    ];
    let commands = [
        example_binary("sysinfo-plugin"),
        example_binary("sysinfo-push-plugin"),
        example_script("examples/python/sdk_example.py"),
        example_script("examples/node/uptime.js"),
    ];
    let mut cfg = String::from("plugins:\n");
    for (name, command) in names.iter().zip(&commands) {
        let mode = if name.starts_with("rust-push") {
            "push"
        } else {
            "scrape"
        };
        cfg.push_str(&format!(
            "- {{name: {name}, command: [\"{command}\"], mode: {mode}}}\n"
        ));
    }
    let mut e = Exporter::start(&cfg, &["--plugin.shutdown-grace", "20s"]);
    e.scrape_until(Duration::from_secs(30), |b| {
        names.iter().all(|n| up(b, n) == Some(1.0))
    });
    let started = std::time::Instant::now();
    e.signal(libc::SIGTERM);
    assert_eq!(e.wait_exit(Duration::from_secs(40)), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the exporter took {:?} to stop: a plugin waited for SIGTERM",
        started.elapsed()
    );
    for n in &names {
        wait_no_plugin_processes(n, Duration::from_secs(5));
    }
}
