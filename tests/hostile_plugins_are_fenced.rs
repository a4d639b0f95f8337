//! Hostile plugins, each beside a well-behaved one. For every one: the exporter keeps
//! answering scrapes within the deadline, the good plugin's series are served and parse, the
//! right counter moves, the exporter's memory stays bounded, and no process of the hostile
//! plugin is left once the exporter stopped. Real processes, real cgroup v1 hierarchies.
mod common;
use common::*;
use std::time::{Duration, Instant};

const GOOD: &str = r#"{"type":"metrics","families":[{"name":"good_value","type":"gauge","help":"A good value.","samples":[{"value":42}]}]}"#;
/// The exporter must stay well under this, whatever a plugin does.
const RSS_BOUND: u64 = 200 << 20;

struct Setup {
    e: Exporter,
    good: String,
    bad: String,
    _dir: tempfile::TempDir,
}

fn hostile(fixture_name: &str, args: &[&str], plugin_yaml: &str, flags: &[&str]) -> Setup {
    hostile_env(fixture_name, args, plugin_yaml, flags, &[])
}

/// Starts the exporter with a good plugin and the hostile fixture (its extra YAML keys
/// in `plugin_yaml`, e.g. `limits: {memory: 64MiB}`).
fn hostile_env(
    fixture_name: &str,
    args: &[&str],
    plugin_yaml: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("good");
    std::fs::write(&data, format!("{GOOD}\n")).unwrap();
    let (good, bad) = (
        unique("good"),
        unique(&fixture_name.replace(['.', '_'], "-")),
    );
    let cmd: Vec<String> = std::iter::once(
        repo()
            .join("tests/fixtures/hostile")
            .join(fixture_name)
            .display()
            .to_string(),
    )
    .chain(args.iter().map(|a| a.to_string()))
    .map(|a| format!("\"{a}\""))
    .collect();
    let cfg = format!(
        "plugins:\n\
         - {{name: {good}, command: [\"{}\", \"{}\"]}}\n\
         - {{name: {bad}, command: [{}], {plugin_yaml}}}\n",
        fixture("respond.sh"),
        data.display(),
        cmd.join(", "),
    );
    let e = Exporter::start_env(&cfg, flags, env);
    Setup {
        e,
        good,
        bad,
        _dir: dir,
    }
}

impl Setup {
    /// One scrape with a 3 s scrape timeout: answered in time, good series present and
    /// parseable, exporter memory bounded. Returns the body.
    fn assert_serving(&self) -> String {
        let t = Instant::now();
        let r = self
            .e
            .get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "3")]);
        let took = t.elapsed();
        assert!(took < Duration::from_secs(3), "scrape took {took:?}");
        assert_eq!(r.status, 200);
        let body = r.text();
        assert_eq!(
            value(&body, &format!("good_value{{plugin=\"{}\"}}", self.good)),
            Some(42.0),
            "good plugin not served:\n{body}"
        );
        let (code, out) = promtool_check(&body);
        assert!(code == 0 || code == 3, "exposition does not parse:\n{out}");
        let rss = self.e.rss();
        assert!(rss < RSS_BOUND, "exporter RSS {} MiB", rss >> 20);
        body
    }

    fn metric(&self, body: &str, name: &str, extra: &str) -> f64 {
        let series = if extra.is_empty() {
            format!("{name}{{plugin=\"{}\"}}", self.bad)
        } else {
            format!("{name}{{{extra},plugin=\"{}\"}}", self.bad)
        };
        value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}"))
    }

    fn restarts(&self, body: &str, reason: &str) -> f64 {
        value(
            body,
            &format!(
                "plugin_exporter_plugin_restarts_total{{plugin=\"{}\",reason=\"{reason}\"}}",
                self.bad
            ),
        )
        .unwrap_or(0.0)
    }

    /// SIGTERM, exit 0, and nothing of the hostile plugin left.
    fn stop_and_assert_gone(mut self) {
        self.e.signal(libc::SIGTERM);
        assert_eq!(self.e.wait_exit(Duration::from_secs(30)), Some(0));
        wait_no_plugin_processes(&self.bad, Duration::from_secs(5));
        let base = format!("plugin-exporter-{}", self.e.pid());
        assert!(
            find_dir("/sys/fs/cgroup/memory", &base, 4).is_none(),
            "cgroup {base} left behind"
        );
    }
}

/// Finds a directory called `name` under `root`, at most `depth` levels down.
fn find_dir(root: &str, name: &str, depth: usize) -> Option<std::path::PathBuf> {
    let mut stack = vec![(std::path::PathBuf::from(root), 0)];
    while let Some((dir, d)) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                if e.file_name() == name {
                    return Some(e.path());
                }
                if d < depth {
                    stack.push((e.path(), d + 1));
                }
            }
        }
    }
    None
}

fn wait_until(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what} not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn memory_hog_is_oom_killed_counted_and_restarted() {
    let s = hostile("memhog.py", &[], "mode: push, limits: {memory: 64MiB}", &[]);
    let mut body = String::new();
    wait_until(Duration::from_secs(30), "an OOM kill and restart", || {
        body = s.e.scrape();
        s.restarts(&body, "oom") >= 1.0
    });
    assert!(s.metric(&body, "plugin_exporter_plugin_oom_kills_total", "") >= 1.0);
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn memory_hog_without_cgroups_is_killed_by_the_watchdog() {
    // Shared memory escapes RLIMIT_DATA: only the watchdog can stop this one.
    let s = hostile(
        "memhog.py",
        &["shared"],
        "mode: push, limits: {memory: 64MiB}",
        &["--sandbox.cgroups=false"],
    );
    let mut body = String::new();
    wait_until(
        Duration::from_secs(30),
        "a watchdog kill and restart",
        || {
            body = s.e.scrape();
            s.restarts(&body, "oom") >= 1.0
        },
    );
    assert!(s.metric(&body, "plugin_exporter_plugin_oom_kills_total", "") >= 1.0);
    assert!(
        body.contains("plugin_exporter_isolation_info{cgroup=\"none\"} 1"),
        "{body}"
    );
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn memory_hog_without_cgroups_is_stopped_by_rlimit_data() {
    let s = hostile(
        "memhog.py",
        &[],
        "mode: push, limits: {memory: 64MiB}",
        &["--sandbox.cgroups=false"],
    );
    let mut body = String::new();
    wait_until(
        Duration::from_secs(30),
        "the hog to fail and restart",
        || {
            body = s.e.scrape();
            s.restarts(&body, "exited") + s.restarts(&body, "oom") >= 1.0
        },
    );
    s.assert_serving();
    s.stop_and_assert_gone();
}

/// CPU seconds the hostile plugin used over `window`, from the exporter's own counter.
fn cpu_rate(s: &Setup, window: Duration) -> f64 {
    let read = || {
        s.metric(
            &s.e.scrape(),
            "plugin_exporter_plugin_cpu_seconds_total",
            "",
        )
    };
    let (t0, c0) = (Instant::now(), read());
    std::thread::sleep(window); // a measurement window, not a wait for an event
    let (t1, c1) = (Instant::now(), read());
    (c1 - c0) / (t1 - t0).as_secs_f64()
}

#[test]
fn cpu_spinner_is_held_to_its_quota() {
    let s = hostile("cpuspin.sh", &[], "mode: push, limits: {cpu: 0.25}", &[]);
    s.e.plugin_pid(&s.bad);
    std::thread::sleep(Duration::from_millis(500)); // let the spinners start
    let rate = cpu_rate(&s, Duration::from_secs(3));
    assert!(
        rate > 0.15 && rate < 0.35,
        "cpu rate {rate:.3} cores, quota 0.25"
    );
    let body = s.assert_serving();
    assert!(
        s.metric(
            &body,
            "plugin_exporter_plugin_limit_hits_total",
            "limit=\"cpu\""
        ) > 0.0
    );
    s.stop_and_assert_gone();
}

#[test]
fn cpu_spinner_without_cgroups_is_held_by_the_watchdog() {
    let s = hostile(
        "cpuspin.sh",
        &[],
        "mode: push, limits: {cpu: 0.25}",
        &["--sandbox.cgroups=false"],
    );
    s.e.plugin_pid(&s.bad);
    std::thread::sleep(Duration::from_millis(500));
    let rate = cpu_rate(&s, Duration::from_secs(3));
    assert!(
        rate > 0.1 && rate < 0.45,
        "cpu rate {rate:.3} cores, quota 0.25"
    );
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn fork_bomb_is_capped_by_pids() {
    let s = hostile("forkbomb.sh", &[], "mode: push, limits: {pids: 32}", &[]);
    let mut body = String::new();
    wait_until(Duration::from_secs(20), "the pids limit to be hit", || {
        body = s.e.scrape();
        s.metric(
            &body,
            "plugin_exporter_plugin_limit_hits_total",
            "limit=\"pids\"",
        ) > 0.0
    });
    assert!(
        s.metric(&body, "plugin_exporter_plugin_processes", "") <= 32.0,
        "{body}"
    );
    // The host keeps working: we can still start processes and the exporter still serves.
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn setsid_child_and_double_forked_grandchild_are_killed_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let pids_file = dir.path().join("pids");
    let s = hostile(
        "escape.sh",
        &[pids_file.to_str().unwrap()],
        "mode: scrape",
        &[],
    );
    let mut pids: Vec<i32> = Vec::new();
    wait_until(Duration::from_secs(10), "both escapees to start", || {
        pids = std::fs::read_to_string(&pids_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.len() == 2 && pids.iter().all(|p| !is_zombie(*p))
    });
    // One left the session, the other lost its parent: neither is in the plugin's group.
    s.assert_serving();
    s.stop_and_assert_gone();
    for p in pids {
        assert!(is_zombie(p), "escapee {p} survives");
    }
}

#[test]
fn plugin_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (good_data, bad_data) = (dir.path().join("good"), dir.path().join("stubborn"));
    std::fs::write(&good_data, format!("{GOOD}\n")).unwrap();
    std::fs::write(
        &bad_data,
        format!("{GOOD}\n").replace("good_value", "stubborn_value"),
    )
    .unwrap();
    let (good, bad) = (unique("good"), unique("stubborn"));
    let cfg = format!(
        "plugins:\n\
         - {{name: {good}, command: [\"{r}\", \"{}\"]}}\n\
         - {{name: {bad}, command: [\"{stubborn}\", \"{}\"]}}\n",
        good_data.display(),
        bad_data.display(),
        r = fixture("respond.sh"),
        stubborn = fixture("ignore_term.sh"),
    );
    let s = Setup {
        e: Exporter::start(&cfg, &["--plugin.shutdown-grace", "300ms"]),
        good,
        bad,
        _dir: dir,
    };
    s.e.plugin_pid(&s.bad);
    s.assert_serving();
    let t = Instant::now();
    let bad = s.bad.clone();
    let logs = {
        let mut e = s.e;
        e.signal(libc::SIGTERM);
        assert_eq!(e.wait_exit(Duration::from_secs(30)), Some(0));
        e.logs()
    };
    wait_no_plugin_processes(&bad, Duration::from_secs(5));
    // shutdown, 300 ms, SIGTERM (ignored), 300 ms, SIGKILL.
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "grace periods not honoured"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("ignored SIGTERM") && l.contains(&bad)),
        "no SIGKILL after the grace period"
    );
}

#[test]
fn floods_of_stdout_and_stderr_keep_memory_bounded() {
    let s = hostile("floods.sh", &[], "mode: push", &[]);
    let mut body = String::new();
    wait_until(
        Duration::from_secs(60),
        "the 100 MB line to be dropped",
        || {
            body = s.e.scrape();
            s.metric(
                &body,
                "plugin_exporter_plugin_errors_total",
                "kind=\"line_too_long\"",
            ) >= 1.0
                && s.restarts(&body, "exited") >= 1.0
        },
    );
    assert!(
        s.metric(
            &body,
            "plugin_exporter_plugin_limit_hits_total",
            "limit=\"max_line\""
        ) >= 1.0
    );
    s.e.wait_log(Duration::from_secs(10), |l| {
        l.contains("suppressed plugin stderr lines")
    });
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn invalid_utf8_non_json_and_a_million_series_are_counted_and_dropped() {
    let s = hostile(
        "garbage.sh",
        &[],
        "mode: scrape, limits: {max_series: 10000, max_line: 64MiB}",
        &[],
    );
    let first =
        s.e.scrape_until(Duration::from_secs(20), |b| b.contains("garbage_ok{"));
    assert!(
        s.metric(
            &first,
            "plugin_exporter_plugin_errors_total",
            "kind=\"protocol\""
        ) >= 2.0
    );
    let mut body = String::new();
    wait_until(
        Duration::from_secs(60),
        "the million-series batch to be rejected",
        || {
            body =
                s.e.get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "10")])
                    .text();
            s.metric(
                &body,
                "plugin_exporter_plugin_errors_total",
                "kind=\"series_limit\"",
            ) >= 1.0
        },
    );
    assert!(!body.contains("huge{"), "oversized batch served");
    assert!(
        s.metric(
            &body,
            "plugin_exporter_plugin_limit_hits_total",
            "limit=\"max_series\""
        ) >= 1.0
    );
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn a_plugin_cannot_read_the_exporters_secrets() {
    let secret = format!("hunter2-{}", std::process::id());
    let s = hostile_env(
        "secret.sh",
        &["SECRET_TOKEN="],
        "mode: scrape, user: nobody",
        &[],
        &[("SECRET_TOKEN", &secret)],
    );
    let body =
        s.e.scrape_until(Duration::from_secs(20), |b| b.contains("secret_found_own{"));
    assert_eq!(s.metric(&body, "secret_found_own", ""), 0.0);
    assert_eq!(s.metric(&body, "secret_found_parent", ""), 0.0);
    assert_eq!(s.metric(&body, "secret_parent_environ_readable", ""), 0.0);
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn substituted_secrets_never_show_in_logs_api_or_landing_page() {
    let secret = format!("s3cr3t-{}", std::process::id());
    let s = hostile_env(
        "secret.sh",
        &["NOTHING"],
        "mode: scrape, user: nobody, env: {TOKEN: \"${SECRET_TOKEN}\"}",
        &[],
        &[("SECRET_TOKEN", &secret)],
    );
    s.e.plugin_pid(&s.bad);
    s.assert_serving();
    let api = s.e.get("/api/v1/plugins", &[]).text();
    let landing = s.e.get("/", &[]).text();
    assert!(!api.contains(&secret) && !landing.contains(&secret));
    let mut e = s.e;
    e.signal(libc::SIGTERM);
    e.wait_exit(Duration::from_secs(30));
    assert!(
        e.logs().iter().all(|l| !l.contains(&secret)),
        "secret in the logs"
    );
}

#[test]
fn root_plugin_without_allow_root_is_refused_clearly() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root, as CI has"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("good");
    std::fs::write(&data, format!("{GOOD}\n")).unwrap();
    let (good, bad) = (unique("good"), unique("rooty"));
    let cfg = format!(
        "global:\n  timeout: 5s\nplugins:\n\
         - {{name: {good}, command: [\"{r}\", \"{d}\"], allow_root: true}}\n\
         - {{name: {bad}, command: [\"{r}\", \"{d}\"]}}\n",
        r = fixture("respond.sh"),
        d = data.display(),
    );
    let e = Exporter::start(&cfg, &[]);
    let line = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("refusing to start plugin")
    });
    assert!(
        line.contains("allow_root") && line.contains("user:"),
        "{line}"
    );
    let api = e.plugins();
    let p = api["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == bad.as_str())
        .unwrap();
    assert_eq!(p["state"], "refused", "{p}");
    assert!(plugin_processes(&bad).is_empty());
    let body = e.scrape();
    assert_eq!(
        value(&body, &format!("good_value{{plugin=\"{good}\"}}")),
        Some(42.0)
    );
    assert_eq!(
        value(
            &body,
            &format!("plugin_exporter_plugin_up{{plugin=\"{bad}\"}}")
        ),
        Some(0.0)
    );
}

#[test]
fn spawned_plugin_shows_its_rlimits_cgroup_and_user() {
    let s = hostile(
        "secret.sh",
        &["NOTHING"],
        "mode: scrape, user: nobody, limits: {nofile: 256, fsize: 16MiB, pids: 32, memory: 96MiB}",
        &[],
    );
    let pid = s.e.plugin_pid(&s.bad);
    // Once it answered, the script's start-up pipelines (whose pipes the shell holds for a
    // moment) are done: any descriptor left is one it inherited or keeps.
    s.e.scrape_until(Duration::from_secs(20), |b| b.contains("secret_found_own{"));
    assert_eq!(s.e.plugin_pid(&s.bad), pid);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let row = |name: &str| -> Vec<String> {
        let l = limits.lines().find(|l| l.starts_with(name)).unwrap();
        l[name.len()..]
            .split_whitespace()
            .take(2)
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Max open files"), ["256", "256"], "{limits}");
    assert_eq!(row("Max file size"), ["16777216", "16777216"], "{limits}");
    assert_eq!(row("Max core file size"), ["0", "0"], "{limits}");
    // `pids` is held by the plugin's cgroup, exactly and with its hits counted; RLIMIT_NPROC
    // (which would refuse forks first, unseen) stands in only without a cgroup.
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let pids_cgroup = cgroups
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_string()))
        .expect("the plugin is in no pids cgroup");
    let pids_max =
        std::fs::read_to_string(format!("/sys/fs/cgroup/pids{pids_cgroup}/pids.max")).unwrap();
    assert_eq!(pids_max.trim(), "32", "{pids_cgroup}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid_line}"
    );
    assert!(status
        .lines()
        .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')));
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mem = cg.lines().find(|l| l.contains(":memory:")).unwrap();
    let want = format!("plugin-exporter-{}/{}", s.e.pid(), s.bad);
    assert!(mem.ends_with(&want), "{mem} is not in {want}");
    assert!(status.lines().any(|l| l == "Umask:\t0022"), "{status}");
    // Only stdio is inherited: any other descriptor is the shell's own script file.
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let n: i32 = fd.file_name().to_str().unwrap().parse().unwrap();
        if n > 2 {
            let target = std::fs::read_link(fd.path()).unwrap();
            assert!(
                target.ends_with("secret.sh"),
                "inherited fd {n} -> {}",
                target.display()
            );
        }
    }
    // A fresh environment: PATH, LANG, the PLUGIN_EXPORTER_* tags, nothing else.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    for var in environ.split(|b| *b == 0).filter(|v| !v.is_empty()) {
        let var = String::from_utf8_lossy(var);
        let name = var.split('=').next().unwrap();
        assert!(
            ["PATH", "LANG"].contains(&name) || name.starts_with("PLUGIN_EXPORTER_"),
            "unexpected variable {var}"
        );
    }
    let mem_dir = format!(
        "/sys/fs/cgroup/memory{}",
        mem.splitn(3, ':').nth(2).unwrap()
    );
    let limit = std::fs::read_to_string(format!("{mem_dir}/memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), (96u64 << 20).to_string());
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn without_cgroups_the_memory_limit_becomes_rlimit_data() {
    let s = hostile(
        "secret.sh",
        &["NOTHING"],
        "mode: scrape, limits: {memory: 96MiB}",
        &["--sandbox.cgroups=false"],
    );
    let pid = s.e.plugin_pid(&s.bad);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let data = limits
        .lines()
        .find(|l| l.starts_with("Max data size"))
        .unwrap();
    assert!(data.contains("100663296"), "{data}");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        !cg.contains("plugin-exporter-"),
        "in a cgroup although cgroups are off: {cg}"
    );
    s.assert_serving();
    s.stop_and_assert_gone();
}

#[test]
fn a_wrong_sha256_refuses_the_start_and_names_both_hashes() {
    use sha2::Digest;
    let script = std::fs::read(fixture("respond.sh")).unwrap();
    let right: String = sha2::Sha256::digest(&script)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let wrong = "0".repeat(64);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("good");
    std::fs::write(&data, format!("{GOOD}\n")).unwrap();
    let (good, bad) = (unique("pinned"), unique("tampered"));
    let cfg = format!(
        "plugins:\n\
         - {{name: {good}, command: [\"{r}\", \"{d}\"], sha256: {right}}}\n\
         - {{name: {bad}, command: [\"{r}\", \"{d}\"], sha256: {wrong}}}\n",
        r = fixture("respond.sh"),
        d = data.display(),
    );
    let e = Exporter::start(&cfg, &[]);
    let body = e.scrape_until(Duration::from_secs(20), |b| {
        value(
            b,
            &format!(
                "plugin_exporter_plugin_restarts_total{{plugin=\"{bad}\",reason=\"checksum\"}}"
            ),
        )
        .is_some_and(|v| v >= 1.0)
    });
    assert_eq!(
        value(&body, &format!("good_value{{plugin=\"{good}\"}}")),
        Some(42.0)
    );
    assert!(
        plugin_processes(&bad).is_empty(),
        "a plugin with a wrong hash ran"
    );
    let api = e.plugins();
    let p = api["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == bad.as_str())
        .unwrap();
    let err = p["last_error"].as_str().unwrap();
    assert!(err.contains(&right) && err.contains(&wrong), "{err}");
}
