//! A plugin's grandchild that left the process group and cleared its environment (so no tag
//! names it) is still in the plugin's cgroup: when the exporter is killed with SIGKILL, the
//! guard empties the plugin's cgroups and removes them, so the grandchild dies with it.
//! Runs on this machine's real cgroup v1 hierarchies.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

#[test]
fn an_untagged_grandchild_in_the_plugins_cgroup_dies_with_a_sigkilled_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let name = unique("escape");
    let cfg = format!(
        "plugins:\n  - {{name: {name}, command: [\"{}\", \"{}\"]}}\n",
        fixture("escape_untagged.sh"),
        pidfile.display()
    );
    let mut e = Exporter::start(&cfg, &[]);
    let body = e.scrape_until(Duration::from_secs(10), |b| {
        value(
            b,
            &format!("plugin_exporter_plugin_up{{plugin=\"{name}\"}}"),
        ) == Some(1.0)
    });
    assert_eq!(
        value(&body, "plugin_exporter_isolation_info{cgroup=\"v1\"}"),
        Some(1.0),
        "this test needs the cgroup v1 hierarchies of this machine (memory, cpu, pids mounted \
         and writable under /sys/fs/cgroup); the exporter chose another mode:\n{body}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let grandchild: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the grandchild never wrote its pid"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(alive(grandchild));
    let environ = std::fs::read(format!("/proc/{grandchild}/environ")).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains("PLUGIN_EXPORTER"),
        "the grandchild still carries a tag, so this tests nothing"
    );
    e.signal(libc::SIGKILL);
    e.wait_exit(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(grandchild) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survived = alive(grandchild);
    if survived {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(grandchild),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        !survived,
        "the grandchild {grandchild} outlived the SIGKILLed exporter"
    );
    // The plugin's cgroups go too, once the guard has removed them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = ["memory", "cpu", "pids"]
            .iter()
            .flat_map(|c| glob_dirs(&format!("/sys/fs/cgroup/{c}"), &name))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "cgroups left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Directories named `name` anywhere under `root` (two levels down at most).
fn glob_dirs(root: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(std::path::PathBuf::from(root), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.file_name().is_some_and(|n| n == name) {
                out.push(p.display().to_string());
            } else if depth < 3 {
                stack.push((p, depth + 1));
            }
        }
    }
    out
}
