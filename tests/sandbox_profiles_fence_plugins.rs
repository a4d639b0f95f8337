//! `sandbox:` profiles, for real: Landlock, seccomp and network namespaces on this kernel,
//! the exporter as root. Each hostile plugin (tests/fixtures/sandbox) tries what its profile
//! forbids and reports what happened as metrics; the same plugin without a profile shows it
//! can do all of it (so each assertion can fail); a good plugin beside them is served
//! throughout.
mod common;
use common::*;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GOOD: &str = r#"{"type":"metrics","families":[{"name":"good_value","type":"gauge","help":"A good value.","samples":[{"value":42}]}]}"#;
const EPERM: f64 = libc::EPERM as f64;
const EACCES: f64 = libc::EACCES as f64;

/// An exporter running a good plugin beside the plugins under test.
struct Run {
    e: Exporter,
    good: String,
    _dir: tempfile::TempDir,
}

/// A fixture of tests/fixtures/sandbox with its arguments, as a YAML flow list.
fn command(fixture: &str, args: &[&str]) -> String {
    let program = repo().join("tests/fixtures/sandbox").join(fixture);
    let all: Vec<String> = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("\"{a}\""))
        .collect();
    format!("[{}]", all.join(", "))
}

impl Run {
    /// Starts the exporter with the good plugin and `plugins` (name, rest of the mapping).
    fn start(plugins: &[(&str, String)], flags: &[&str]) -> Run {
        Self::start_with(plugins, flags, None)
    }

    /// [`Run::start`], the exporter started through `wrap` (e.g. `setpriv ...`) if given.
    fn start_with(plugins: &[(&str, String)], flags: &[&str], wrap: Option<&[&str]>) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("good");
        std::fs::write(&data, format!("{GOOD}\n")).unwrap();
        let good = unique("good");
        let mut cfg = format!(
            "global:\n  allow_root: true\nplugins:\n  - {{name: {good}, command: [\"{}\", \"{}\"]}}\n",
            fixture("respond.sh"),
            data.display()
        );
        for (name, rest) in plugins {
            cfg.push_str(&format!("  - {{name: {name}, {rest}}}\n"));
        }
        let file = dir.path().join("config.yml");
        std::fs::write(&file, &cfg).unwrap();
        let run_dir = tempfile::tempdir().unwrap();
        let e = match wrap {
            None => Exporter::start_with_file(&file, run_dir, flags),
            Some(wrap) => {
                let mut cmd = std::process::Command::new(wrap[0]);
                cmd.args(&wrap[1..])
                    .arg(env!("CARGO_BIN_EXE_plugin-exporter"))
                    .arg("--config.file")
                    .arg(&file)
                    .args([
                        "--web.listen-address",
                        "127.0.0.1:0",
                        "--log.format",
                        "json",
                    ])
                    .args(flags);
                Exporter::spawn_command(cmd, run_dir)
            }
        };
        Run { e, good, _dir: dir }
    }

    /// Scrapes until every plugin in `plugins` reported its probes; the good plugin must be
    /// served in that scrape. Returns the body.
    fn probes(&self, plugins: &[&str]) -> String {
        let body = self.e.scrape_until(Duration::from_secs(30), |b| {
            plugins.iter().all(|p| {
                let label = format!("plugin=\"{p}\"}}");
                b.lines()
                    .any(|l| l.starts_with("sandbox_probe{") && l.contains(&label))
            })
        });
        self.assert_good(&body);
        body
    }

    fn assert_good(&self, body: &str) {
        assert_eq!(
            value(body, &format!("good_value{{plugin=\"{}\"}}", self.good)),
            Some(42.0),
            "the good plugin is not served:\n{body}"
        );
    }

    /// Serves in time, the good plugin included.
    fn assert_serving(&self) {
        let t = Instant::now();
        let r = self
            .e
            .get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "3")]);
        assert!(t.elapsed() < Duration::from_secs(3));
        assert_eq!(r.status, 200);
        self.assert_good(&r.text());
    }

    /// The plugin's entry in /api/v1/plugins.
    fn api(&self, plugin: &str) -> serde_json::Value {
        self.e.plugins()["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == plugin)
            .unwrap_or_else(|| panic!("no plugin {plugin}"))
            .clone()
    }

    /// SIGTERM, exit 0, no process of `plugins` left.
    fn stop(mut self, plugins: &[&str]) {
        self.e.signal(libc::SIGTERM);
        assert_eq!(self.e.wait_exit(Duration::from_secs(30)), Some(0));
        for p in plugins {
            wait_no_plugin_processes(p, Duration::from_secs(5));
        }
    }
}

/// A directory anyone may read and write (so only the sandbox can refuse), holding a
/// readable file `readable`.
fn outside(base: &Path, name: &str) -> PathBuf {
    let d = base.join(name);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(d.join("readable"), "x\n").unwrap();
    d
}

/// A temporary directory others may enter (plugins that run as nobody).
fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// `sandbox_probe_errno{probe, plugin}`: 0 when the probe worked, else its errno.
fn errno(body: &str, plugin: &str, probe: &str) -> f64 {
    let series = format!("sandbox_probe_errno{{probe=\"{probe}\",plugin=\"{plugin}\"}}");
    value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

/// `sandbox_probe{probe, plugin}`: 1 when the probe worked.
fn worked(body: &str, plugin: &str, probe: &str) -> bool {
    let series = format!("sandbox_probe{{probe=\"{probe}\",plugin=\"{plugin}\"}}");
    value(body, &series).unwrap_or_else(|| panic!("no {series} in:\n{body}")) == 1.0
}

/// `limit_hits_total{limit, plugin}`.
fn limit_hits(body: &str, limit: &str, plugin: &str) -> f64 {
    let series =
        format!("plugin_exporter_plugin_limit_hits_total{{limit=\"{limit}\",plugin=\"{plugin}\"}}");
    value(body, &series).unwrap_or(0.0)
}

/// `restarts_total{plugin, reason}`.
fn restarts(body: &str, plugin: &str, reason: &str) -> f64 {
    let series =
        format!("plugin_exporter_plugin_restarts_total{{plugin=\"{plugin}\",reason=\"{reason}\"}}");
    value(body, &series).unwrap_or(0.0)
}

fn status_line(pid: i32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .to_string()
}

fn netns(pid: i32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap()
}

/// The private temporary directory the exporter made for `plugin`.
fn tmpdir_of(exporter: i32, plugin: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("plugin-exporter-sandbox-{exporter}"))
        .join(plugin)
}

#[test]
fn strict_fences_files_and_programs_and_unconfined_does_not() {
    let (py, sh, open) = (unique("strict-py"), unique("strict-sh"), unique("open-py"));
    let base = shared_dir();
    let (out_py, out_sh, out_open) = (
        outside(base.path(), "py"),
        outside(base.path(), "sh"),
        outside(base.path(), "open"),
    );
    let cmd = |f: &str, out: &Path| command(f, &["fs", out.to_str().unwrap()]);
    let sh_cmd = command("fs_probe.sh", &[out_sh.to_str().unwrap()]);
    let r = Run::start(
        &[
            (
                &py,
                format!(
                    "command: {}, sandbox: {{preset: strict}}",
                    cmd("probe.py", &out_py)
                ),
            ),
            (
                &sh,
                format!("command: {sh_cmd}, sandbox: {{preset: strict}}"),
            ),
            (&open, format!("command: {}", cmd("probe.py", &out_open))),
        ],
        &[],
    );
    let body = r.probes(&[&py, &sh, &open]);

    // Python under strict: its own file, /proc/self and its TMPDIR only.
    assert_eq!(errno(&body, &py, "read_shadow"), EACCES);
    assert_eq!(errno(&body, &py, "read_outside"), EACCES);
    assert_eq!(errno(&body, &py, "write_outside"), EACCES);
    assert_eq!(errno(&body, &py, "exec_sh"), EACCES, "exec of /bin/sh");
    assert_eq!(errno(&body, &py, "exec_true"), EACCES, "exec of /bin/true");
    assert_eq!(errno(&body, &py, "read_own"), 0.0);
    assert_eq!(errno(&body, &py, "read_proc_self"), 0.0);
    assert_eq!(errno(&body, &py, "write_tmpdir"), 0.0);
    assert!(!out_py.join("written").exists());
    // A shell plugin runs through its interpreter, and is fenced the same way.
    assert!(!worked(&body, &sh, "read_shadow"));
    assert!(!worked(&body, &sh, "read_outside"));
    assert!(!worked(&body, &sh, "write_outside"));
    assert!(worked(&body, &sh, "write_tmpdir"));
    assert!(!out_sh.join("written-sh").exists());
    // The same plugin unconfined does all of it.
    for probe in [
        "read_shadow",
        "read_outside",
        "write_outside",
        "exec_sh",
        "exec_true",
        "read_own",
    ] {
        assert_eq!(errno(&body, &open, probe), 0.0, "{probe} unconfined");
    }
    assert!(out_open.join("written").exists());

    // Shown: the API, the landing page; the TMPDIR exists while the plugin runs.
    let api = r.api(&py);
    assert_eq!(
        api["sandbox"]["summary"], "strict: filesystem strict, network none, syscalls default",
        "{api}"
    );
    assert_eq!(api["sandbox"]["unenforced"], serde_json::json!([]));
    assert_eq!(r.api(&open)["sandbox"]["preset"], "unconfined");
    let landing = r.e.get("/", &[]).text();
    assert!(
        landing.contains("strict: filesystem strict, network none, syscalls default"),
        "{landing}"
    );
    let tmp = tmpdir_of(r.e.pid(), &py);
    assert!(
        tmp.join("x").exists(),
        "{} was not the plugin's TMPDIR",
        tmp.display()
    );
    r.assert_serving();
    r.stop(&[&py, &sh, &open]);
    assert!(!tmp.exists(), "{} left behind", tmp.display());
}

/// Accepts connections on a fresh port and holds them until dropped; counts them.
struct Listener {
    port: u16,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn new() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let (a, s) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => a.lock().unwrap().push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Listener {
            port,
            accepted,
            stop,
        }
    }

    fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn network_none_cuts_the_plugin_off_and_ports_allow_only_the_listed() {
    let (one, other) = (Listener::new(), Listener::new());
    let ports = [one.port.to_string(), other.port.to_string()];
    let cmd = command("probe.py", &["net", &ports[0], &ports[1]]);
    let (none, listed, lo, open) = (
        unique("net-none"),
        unique("net-ports"),
        unique("net-lo"),
        unique("net-open"),
    );
    let r = Run::start(
        &[
            (&none, format!("command: {cmd}, sandbox: {{network: none}}")),
            (
                &listed,
                format!(
                    "command: {cmd}, sandbox: {{network: {{connect: [{}]}}}}",
                    one.port
                ),
            ),
            (
                &lo,
                format!("command: {cmd}, sandbox: {{network: loopback}}"),
            ),
            (&open, format!("command: {cmd}")),
        ],
        &[],
    );
    let body = r.probes(&[&none, &listed, &lo, &open]);
    // none: no interface at all (and Landlock refuses TCP on top).
    assert_ne!(errno(&body, &none, "connect_port"), 0.0);
    assert_ne!(errno(&body, &none, "connect_other"), 0.0);
    assert_ne!(errno(&body, &none, "bind"), 0.0);
    let pid = r.e.plugin_pid(&none);
    assert_ne!(
        netns(pid),
        netns(r.e.pid()),
        "not in a namespace of its own"
    );
    // {connect: [PORT]}: that port only; no bind.
    assert_eq!(errno(&body, &listed, "connect_port"), 0.0);
    assert_eq!(errno(&body, &listed, "connect_other"), EACCES);
    assert_eq!(errno(&body, &listed, "bind"), EACCES);
    // loopback: its own lo works, the host's listeners are out of reach.
    assert_eq!(errno(&body, &lo, "connect_port"), libc::ECONNREFUSED as f64);
    assert_eq!(errno(&body, &lo, "bind"), 0.0);
    // Unconfined: everything.
    for probe in ["connect_port", "connect_other", "bind"] {
        assert_eq!(errno(&body, &open, probe), 0.0, "{probe} unconfined");
    }
    // Accepted by the listener's thread shortly after the plugins connected.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (one.count(), other.count()) != (2, 1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        one.count(),
        2,
        "the listed and the unconfined plugin connect"
    );
    assert_eq!(other.count(), 1, "only the unconfined plugin connects");
    assert_eq!(
        r.api(&listed)["sandbox"]["network"],
        serde_json::json!({"connect": [one.port], "bind": []})
    );
    r.assert_serving();
    r.stop(&[&none, &listed, &lo, &open]);
}

#[test]
fn the_default_syscall_filter_refuses_with_eperm() {
    let mut sibling = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let sib = sibling.id().to_string();
    let (mnt_a, mnt_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (fenced, open) = (unique("sys-default"), unique("sys-open"));
    let cmd = |mnt: &Path| command("probe.py", &["syscalls", &sib, mnt.to_str().unwrap()]);
    let r = Run::start(
        &[
            (
                &fenced,
                format!(
                    "command: {}, sandbox: {{syscalls: default}}",
                    cmd(mnt_a.path())
                ),
            ),
            (&open, format!("command: {}", cmd(mnt_b.path()))),
        ],
        &[],
    );
    let body = r.probes(&[&fenced, &open]);
    for probe in [
        "ptrace",
        "mount",
        "userns",
        "module",
        "io_uring",
        "personality",
    ] {
        assert_eq!(errno(&body, &fenced, probe), EPERM, "{probe} filtered");
    }
    assert_eq!(errno(&body, &fenced, "clone3"), libc::ENOSYS as f64);
    assert_ne!(
        errno(&body, &fenced, "unshare_cmd"),
        0.0,
        "`unshare -U true`"
    );
    assert_eq!(
        errno(&body, &fenced, "fork_exec"),
        0.0,
        "ordinary programs still run"
    );
    assert!(status_line(r.e.plugin_pid(&fenced), "Seccomp:").ends_with('2'));
    // Unconfined, the same calls get through (module loading fails for lack of a module,
    // clone3 and io_uring for their made-up arguments: not with EPERM).
    for probe in ["ptrace", "mount", "userns", "unshare_cmd", "personality"] {
        assert_eq!(errno(&body, &open, probe), 0.0, "{probe} unconfined");
    }
    for probe in ["module", "io_uring", "clone3"] {
        assert_ne!(errno(&body, &open, probe), EPERM, "{probe} unconfined");
    }
    assert_ne!(errno(&body, &open, "clone3"), libc::ENOSYS as f64);
    assert!(status_line(r.e.plugin_pid(&open), "Seccomp:").ends_with('0'));
    r.assert_serving();
    r.stop(&[&fenced, &open]);
    let _ = sibling.kill();
    let _ = sibling.wait();
}

#[test]
fn a_plugin_over_max_connections_is_killed_and_counted() {
    let l = Listener::new();
    let port = l.port.to_string();
    let (greedy, calm, open) = (unique("greedy"), unique("calm"), unique("unbounded"));
    let cmd = |n: &str| command("probe.py", &["connections", &port, n]);
    let r = Run::start(
        &[
            (
                &greedy,
                format!("command: {}, sandbox: {{max_connections: 10}}", cmd("15")),
            ),
            (
                &calm,
                format!("command: {}, sandbox: {{max_connections: 10}}", cmd("5")),
            ),
            (&open, format!("command: {}", cmd("15"))),
        ],
        &[],
    );
    let body = r.e.scrape_until(Duration::from_secs(30), |b| {
        limit_hits(b, "connections", &greedy) >= 1.0
            && restarts(b, &greedy, "crashed") >= 1.0
            && value(
                b,
                &format!("sandbox_probe_connections{{plugin=\"{calm}\"}}"),
            ) == Some(5.0)
            && value(
                b,
                &format!("sandbox_probe_connections{{plugin=\"{open}\"}}"),
            ) == Some(15.0)
    });
    r.assert_good(&body);
    r.e.wait_log(Duration::from_secs(5), |l| {
        l.contains("sandbox.max_connections") && l.contains(&greedy)
    });
    // Under the bound, or without one: left alone.
    std::thread::sleep(Duration::from_millis(1500)); // several samples of the sampler
    let body = r.e.scrape();
    for p in [&calm, &open] {
        assert_eq!(limit_hits(&body, "connections", p), 0.0, "{p}");
        assert_eq!(restarts(&body, p, "crashed"), 0.0, "{p}");
    }
    let api = r.api(&calm);
    assert_eq!(api["sandbox"]["max_connections"], 10);
    assert_eq!(api["sandbox"]["connections"], 5, "{api}");
    r.assert_serving();
    r.stop(&[&greedy, &calm, &open]);
}

#[test]
fn every_profile_combines_with_cgroups_the_identity_drop_and_rlimits() {
    for flags in [&[][..], &["--sandbox.cgroups=false"][..]] {
        let (strict, standard) = (unique("combo-strict"), unique("combo-standard"));
        let base = shared_dir();
        let (out_a, out_b) = (outside(base.path(), "a"), outside(base.path(), "b"));
        let common = "user: nobody, limits: {nofile: 256, pids: 32, memory: 96MiB}";
        let cmd = |out: &Path| command("probe.py", &["fs", out.to_str().unwrap()]);
        let r = Run::start(
            &[
                (
                    &strict,
                    format!(
                        "command: {}, {common}, sandbox: {{preset: strict}}",
                        cmd(&out_a)
                    ),
                ),
                (
                    &standard,
                    format!(
                        "command: {}, {common}, sandbox: {{preset: standard}}",
                        cmd(&out_b)
                    ),
                ),
            ],
            flags,
        );
        let body = r.probes(&[&strict, &standard]);
        // The fence holds as nobody too (the directories are open to anyone).
        assert_eq!(errno(&body, &strict, "read_outside"), EACCES);
        assert_eq!(errno(&body, &strict, "exec_sh"), EACCES);
        assert_eq!(errno(&body, &strict, "write_tmpdir"), 0.0);
        assert_eq!(
            errno(&body, &standard, "read_outside"),
            0.0,
            "standard reads /tmp"
        );
        assert_eq!(
            errno(&body, &standard, "exec_sh"),
            0.0,
            "standard runs programs"
        );
        assert_eq!(errno(&body, &standard, "write_outside"), EACCES);
        assert_ne!(errno(&body, &standard, "read_shadow"), 0.0);
        for plugin in [&strict, &standard] {
            let pid = r.e.plugin_pid(plugin);
            let uid = status_line(pid, "Uid:");
            assert!(
                uid.split_whitespace().skip(1).all(|u| u == "65534"),
                "{uid}"
            );
            assert!(status_line(pid, "NoNewPrivs:").ends_with('1'));
            assert!(status_line(pid, "Seccomp:").ends_with('2'));
            assert_ne!(netns(pid), netns(r.e.pid()));
            let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
            let nofile = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .unwrap();
            assert!(nofile.contains(" 256 "), "{nofile}");
            let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
            let own = format!("plugin-exporter-{}/{plugin}", r.e.pid());
            if flags.is_empty() {
                let mem = cg.lines().find(|l| l.contains(":memory:")).unwrap();
                assert!(mem.ends_with(&own), "{mem} is not in {own}");
            } else {
                assert!(!cg.contains("plugin-exporter-"), "{cg}");
                let data = limits
                    .lines()
                    .find(|l| l.starts_with("Max data size"))
                    .unwrap();
                assert!(data.contains("100663296"), "{data}");
            }
            let tmp = tmpdir_of(r.e.pid(), plugin);
            assert_eq!(
                std::fs::metadata(&tmp).unwrap().uid(),
                65534,
                "{}",
                tmp.display()
            );
        }
        r.assert_serving();
        r.stop(&[&strict, &standard]);
    }
}

#[test]
fn require_refuses_what_the_kernel_cannot_enforce_and_the_rest_is_shown() {
    // Without CAP_SYS_ADMIN the exporter cannot make network namespaces.
    let drop_admin: &[&str] = &[
        "setpriv",
        "--inh-caps=-sys_admin",
        "--bounding-set=-sys_admin",
        "--",
    ];
    let l = Listener::new();
    let port = l.port.to_string();
    let cmd = command("probe.py", &["net", &port, &port]);
    let (required, lenient) = (unique("required"), unique("lenient"));
    let r = Run::start_with(
        &[
            (
                &required,
                format!("command: {cmd}, sandbox: {{network: none, require: true}}"),
            ),
            (
                &lenient,
                format!("command: {cmd}, sandbox: {{network: none}}"),
            ),
        ],
        &[],
        Some(drop_admin),
    );
    let body = r.e.scrape_until(Duration::from_secs(30), |b| {
        restarts(b, &required, "spawn_failed") >= 1.0
            && b.contains(&format!(
                "sandbox_probe{{probe=\"connect_port\",plugin=\"{lenient}\"}}"
            ))
    });
    r.assert_good(&body);
    let info = body
        .lines()
        .find(|l| l.starts_with("plugin_exporter_sandbox_info{"))
        .unwrap_or_else(|| panic!("no sandbox_info in:\n{body}"));
    assert!(
        info.contains("netns=\"false\"") && info.ends_with(" 1"),
        "{info}"
    );
    assert!(
        plugin_processes(&required).is_empty(),
        "a refused plugin ran"
    );
    let err = r.api(&required)["last_error"].as_str().unwrap().to_string();
    assert!(
        err.contains("sandbox.require") && err.contains("network none"),
        "{err}"
    );
    // Not required: it runs, TCP refused by Landlock instead, and what is missing is shown
    // and logged once.
    assert_eq!(errno(&body, &lenient, "connect_port"), EACCES);
    assert_eq!(l.count(), 0);
    let api = r.api(&lenient);
    let unenforced = api["sandbox"]["unenforced"].as_array().unwrap().clone();
    assert_eq!(unenforced.len(), 1, "{api}");
    assert!(unenforced[0]
        .as_str()
        .unwrap()
        .contains("no network namespace"));
    let landing = r.e.get("/", &[]).text();
    assert!(
        landing.contains("1 part(s) not enforced by this kernel"),
        "{landing}"
    );
    r.e.wait_log(Duration::from_secs(5), |l| {
        l.contains("sandbox not fully enforced") && l.contains(&lenient)
    });
    r.assert_serving();
    let logs = r.e.logs();
    let said = |p: &str| {
        logs.iter()
            .filter(|l| l.contains("sandbox not fully enforced") && l.contains(p))
            .count()
    };
    assert_eq!(said(&lenient), 1);
    r.stop(&[&required, &lenient]);
}
