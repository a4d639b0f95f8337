//! The exporter speaks systemd's protocols (readiness, watchdog and stopping notifications,
//! socket activation) to real sockets, and the packaging around it holds together: the unit
//! files pass `systemd-analyze verify`, the Kubernetes manifests parse and declare a native
//! sidecar with its probes, the Dockerfile copies files that exist, and the configurations
//! shipped for the image are valid where the image puts the plugins.
mod common;
use common::*;
use serde::Deserialize;
use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_plugin-exporter");
const OK: &str = r#"{"type":"metrics","families":[{"name":"steady_value","type":"gauge","help":"Steady.","samples":[{"value":7}]}]}"#;
/// Where the Dockerfile installs the example plugins (and the systemd layout in README.md).
const IMAGE_PLUGINS: &str = "/usr/local/lib/plugin-exporter/";

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// True when one line of the notification `msg` is exactly `line`.
fn has_line(msg: &str, line: &str) -> bool {
    msg.lines().any(|l| l == line)
}

/// Receives datagrams until one satisfies `done`; returns every message received, that one
/// last. Panics with what was received when nothing satisfies it within `within`.
fn recv_until(
    sock: &UnixDatagram,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no {what} within {within:?}; received {got:?}"
        );
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let stop = done(&msg);
                got.push(msg);
                if stop {
                    return got;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("receiving notifications: {e}"),
        }
    }
}

#[test]
fn notifies_ready_then_watchdog_pings_then_stopping_before_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    let data = dir.path().join("ok");
    std::fs::write(&data, format!("{OK}\n")).unwrap();
    // `stubborn` ignores shutdown and SIGTERM: stopping it takes two shutdown graces, so the
    // exporter is still running when STOPPING=1 must already have arrived.
    let (ok, stubborn) = (unique("ok"), unique("stubborn"));
    let cfg = format!(
        "plugins:\n\
         - {{name: {ok}, command: [\"{}\", \"{}\"]}}\n\
         - {{name: {stubborn}, command: [\"{}\", \"{}\"]}}\n",
        fixture("respond.sh"),
        data.display(),
        fixture("ignore_term.sh"),
        data.display()
    );
    let notify = path.to_str().unwrap();
    let mut e = Exporter::start_env(
        &cfg,
        &["--plugin.shutdown-grace", "1s"],
        &[("NOTIFY_SOCKET", notify), ("WATCHDOG_USEC", "200000")],
    );

    let before = recv_until(&sock, Duration::from_secs(30), "READY=1", |m| {
        has_line(m, "READY=1")
    });
    // READY=1 comes after the listeners are bound: the server answers at once.
    let r = try_http_request(&e.addr, "GET", "/-/ready", &[])
        .expect("the server accepts connections once READY=1 was sent");
    assert!(matches!(r.status, 200 | 503), "{}", r.status);
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.get("/-/ready", &[]).status != 200 {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }

    // WATCHDOG_USEC=200000 asks for a ping at least every 200 ms; it comes every 100 ms.
    let mut pings = 0;
    let after = recv_until(&sock, Duration::from_secs(10), "5 WATCHDOG=1", |m| {
        pings += has_line(m, "WATCHDOG=1") as usize;
        pings >= 5
    });
    assert!(
        !before
            .iter()
            .chain(&after)
            .any(|m| has_line(m, "STOPPING=1")),
        "STOPPING=1 before any signal: {before:?} {after:?}"
    );

    e.plugin_pid(&stubborn);
    e.signal(libc::SIGTERM);
    recv_until(&sock, Duration::from_secs(20), "STOPPING=1", |m| {
        has_line(m, "STOPPING=1")
    });
    assert!(
        e.child.try_wait().unwrap().is_none(),
        "the exporter exited before STOPPING=1 was read, though its plugin holds it for 2 s"
    );
    assert_eq!(e.wait_exit(Duration::from_secs(30)), Some(0));
}

/// The socket inode `fd` of this process refers to, as `/proc/<pid>/fd` links show it.
fn socket_link(fd: i32) -> PathBuf {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    assert!(link.to_string_lossy().starts_with("socket:["), "{link:?}");
    link
}

/// Pids of the processes holding a descriptor whose link is `link`.
fn holders(link: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|f| std::fs::read_link(f.path()).is_ok_and(|l| l == link))
        {
            out.push(pid);
        }
    }
    out
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn socket_activation_serves_on_the_passed_socket_and_keeps_it_from_children() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ok");
    std::fs::write(&data, format!("{OK}\n")).unwrap();
    let ok = unique("ok");
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{allow_root: true}}\nplugins:\n- {{name: {ok}, command: [\"{}\", \"{}\"]}}\n",
            fixture("respond.sh"),
            data.display()
        ),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fd = listener.as_raw_fd();

    // LISTEN_PID must be the exporter's pid, known only in the child: a shell sets it to its
    // own pid ($$) and execs the exporter, which keeps that pid.
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", r#"export LISTEN_PID=$$; exec "$0" "$@""#, EXE])
        .arg("--config.file")
        .arg(&cfg)
        .args([
            "--web.systemd-socket",
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .args(["--log.format", "json", "--log.level", "debug"])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "http");
    // SAFETY: the closure runs between fork and exec and makes only async-signal-safe
    // syscalls (fcntl, dup2) on descriptors of the child; `fd` stays open in the parent until
    // spawn returns, so the child has it too.
    unsafe {
        cmd.pre_exec(move || {
            // The listener becomes fd 3, without close-on-exec, as systemd passes it.
            if fd == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut e = Exporter::spawn_command(cmd, dir);

    // Only the passed socket, not --web.listen-address.
    assert_eq!(
        e.listening_addresses(),
        vec![addr.clone()],
        "{:?}",
        e.logs()
    );
    let body = e.scrape_until(Duration::from_secs(20), |b| {
        value(b, &format!("steady_value{{plugin=\"{ok}\"}}")) == Some(7.0)
    });
    assert!(body.contains("plugin_exporter_build_info"), "{body}");

    // Close-on-exec and the variables removed before any child started: neither the guard
    // nor the plugin holds the socket, and the guard's environment has no LISTEN_*.
    let exporter = e.pid();
    e.plugin_pid(&ok);
    let me = std::process::id() as i32;
    let link = socket_link(fd);
    let others: Vec<i32> = holders(&link)
        .into_iter()
        // Children that other tests of this binary fork hold it until they exec.
        .filter(|p| *p != me && (*p == exporter || ppid(*p) != Some(me)))
        .collect();
    assert_eq!(others, vec![exporter], "holders of the passed socket");
    let children: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|d| d.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ppid(*p) == Some(exporter))
        .collect();
    let guard = children
        .iter()
        .copied()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"guard"))
        })
        .expect("the exporter's guard process");
    let env = std::fs::read(format!("/proc/{guard}/environ")).unwrap();
    assert!(
        !env.split(|b| *b == 0).any(|v| v.starts_with(b"LISTEN_")),
        "the guard inherited {:?}",
        String::from_utf8_lossy(&env)
    );

    e.signal(libc::SIGTERM);
    assert_eq!(e.wait_exit(Duration::from_secs(30)), Some(0));
}

/// Runs the exporter with `args` and `env` and waits for it to exit: (code, stderr).
fn run_to_exit(args: &[String], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(EXE)
        .args(args)
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the exporter did not exit within 30 s with {args:?} {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

/// The arguments of the last `ExecStart=` of a unit file, without the program.
fn exec_start_args(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .rfind(|l| !l.is_empty())
        .expect("an ExecStart= line");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/plugin-exporter"));
    words.map(String::from).collect()
}

#[test]
fn systemd_socket_without_passed_sockets_is_refused_with_the_flag_named() {
    // The command line of the socket-activation drop-in, on a valid config of our own.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("plugin-exporter.yml");
    std::fs::write(&cfg, "plugins: []\n").unwrap();
    let args: Vec<String> = exec_start_args(&read("systemd/plugin-exporter-socket.conf"))
        .into_iter()
        .map(|a| match a.strip_prefix("--config.file=") {
            Some(_) => format!("--config.file={}", cfg.display()),
            None => a,
        })
        .collect();
    assert!(
        args.contains(&"--web.systemd-socket".to_string()),
        "{args:?}"
    );
    for env in [&[][..], &[("LISTEN_PID", "1"), ("LISTEN_FDS", "1")][..]] {
        let (code, err) = run_to_exit(&args, env);
        assert_eq!(code, Some(1), "{env:?}: {err}");
        assert!(
            err.contains("--web.systemd-socket") && err.contains("none were passed"),
            "{env:?}: {err}"
        );
    }
}

/// Copies `unit` from systemd/ into `dir` as `name`, with the installed binary path replaced
/// by the built one: `systemd-analyze verify` checks that ExecStart's program exists.
fn unit_copy(unit: &str, dir: &Path, name: &str) {
    let text = read(&format!("systemd/{unit}")).replace("/usr/local/bin/plugin-exporter", EXE);
    let dest = dir.join(name);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(dest, text).unwrap();
}

/// Runs `systemd-analyze verify` on `units` in `dir`; panics with its output unless it exits
/// 0 and prints nothing (unknown keys and bad values are only warnings, exit 0).
fn verify(dir: &Path, units: &[&str]) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .current_dir(dir)
        .output()
        .expect("systemd-analyze runs (Debian package systemd)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify {units:?}: {}\n{text}",
        out.status
    );
}

/// The settings of a unit file, comments and blank lines left out.
fn settings(unit: &str) -> Vec<&str> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .collect()
}

#[test]
fn unit_files_pass_systemd_analyze_verify() {
    let alone = tempfile::tempdir().unwrap();
    unit_copy(
        "plugin-exporter.service",
        alone.path(),
        "plugin-exporter.service",
    );
    verify(alone.path(), &["plugin-exporter.service"]);

    // With socket activation: the socket unit, and the drop-in where systemd looks for it.
    let activated = tempfile::tempdir().unwrap();
    unit_copy(
        "plugin-exporter.service",
        activated.path(),
        "plugin-exporter.service",
    );
    unit_copy(
        "plugin-exporter.socket",
        activated.path(),
        "plugin-exporter.socket",
    );
    unit_copy(
        "plugin-exporter-socket.conf",
        activated.path(),
        "plugin-exporter.service.d/socket.conf",
    );
    verify(
        activated.path(),
        &["plugin-exporter.service", "plugin-exporter.socket"],
    );

    let service = read("systemd/plugin-exporter.service");
    let set = settings(&service);
    for want in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=/usr/local/bin/plugin-exporter --config.file=/etc/plugin-exporter/plugin-exporter.yml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "KillMode=mixed",
        "Delegate=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL",
    ] {
        assert!(set.contains(&want), "the service lacks {want}");
    }
    assert!(set.iter().any(|s| s.starts_with("TimeoutStopSec=")));
    // Delegation needs a writable /sys/fs/cgroup.
    assert!(
        !set.iter().any(|s| s.starts_with("ProtectControlGroups=")),
        "ProtectControlGroups= breaks Delegate=yes"
    );
}

/// Every document of a YAML file, as JSON values.
fn yaml_documents(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|doc| {
            serde_json::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
        })
        .collect()
}

/// Writes `config` with the image's plugin directory replaced by a directory holding the
/// example plugins (the Rust one as a stand-in script) and runs `check-config` on it.
fn check_config_in_image_layout(config: &str, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::copy(
        repo().join("examples/sh/loadavg.sh"),
        lib.join("loadavg.sh"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("examples/python/meminfo.py"),
        lib.join("meminfo.py"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("examples/sh/loadavg.sh"),
        lib.join("sysinfo-plugin"),
    )
    .unwrap();
    let cfg = dir.path().join("plugin-exporter.yml");
    assert!(
        config.contains(IMAGE_PLUGINS),
        "{what} names no image plugin"
    );
    std::fs::write(
        &cfg,
        config.replace(IMAGE_PLUGINS, &format!("{}/", lib.display())),
    )
    .unwrap();
    let out = Command::new(EXE)
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what} is invalid: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kubernetes_manifests_declare_a_native_sidecar_with_probes_and_a_pod_monitor() {
    let dir = repo().join("examples/kubernetes");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            docs.extend(yaml_documents(&p));
        }
    }
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k} in examples/kubernetes"))
    };
    let deployment = kind("Deployment");
    let pod = &deployment["spec"]["template"];
    let spec = &pod["spec"];
    let sidecar = spec["initContainers"]
        .as_array()
        .expect("initContainers")
        .iter()
        .find(|c| c["restartPolicy"] == "Always")
        .expect("an init container with restartPolicy: Always");
    assert!(
        !spec["containers"].as_array().unwrap().is_empty(),
        "an app container"
    );
    let port = sidecar["ports"][0]["name"].as_str().expect("a named port");
    assert_eq!(sidecar["ports"][0]["containerPort"], 10100);
    for (probe, path) in [
        ("readinessProbe", "/-/ready"),
        ("livenessProbe", "/-/healthy"),
    ] {
        let get = &sidecar[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert!(
            get["port"] == port || get["port"] == 10100,
            "{probe}: {get}"
        );
    }
    let non_root = |v: &serde_json::Value| v["securityContext"]["runAsNonRoot"] == true;
    assert!(non_root(spec) || non_root(sidecar), "runAsNonRoot");
    assert_eq!(
        sidecar["securityContext"]["allowPrivilegeEscalation"],
        false
    );

    // The config file named in the args comes from the ConfigMap's directory mount.
    let config_arg = sidecar["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--config.file="))
        .next()
        .expect("--config.file= in the sidecar's args");
    let (mount_dir, file) = config_arg.rsplit_once('/').unwrap();
    let mount = sidecar["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == mount_dir)
        .expect("the config directory is mounted");
    assert!(
        mount.get("subPath").is_none(),
        "subPath mounts miss updates"
    );
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    let configmap = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == volume["configMap"]["name"])
        .expect("the ConfigMap the volume names");
    let config = configmap["data"][file].as_str().expect("the config file");
    check_config_in_image_layout(config, "the ConfigMap's configuration");

    let monitor = kind("PodMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let labels = pod["metadata"]["labels"].as_object().unwrap();
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(labels.get(k), Some(v), "the PodMonitor selects label {k}");
    }
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["port"], port);
    assert_eq!(endpoint["path"], "/metrics");
}

#[test]
fn container_configuration_is_valid_where_the_image_puts_the_plugins() {
    check_config_in_image_layout(
        &read("examples/container/plugin-exporter.yml"),
        "examples/container/plugin-exporter.yml",
    );
}

/// The Dockerfile's instructions, continuation lines joined, comments left out.
fn dockerfile_instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in read("Dockerfile").lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    out
}

/// Whether `.dockerignore` keeps `path` (relative, no leading `./`) out of the build context.
/// Handles the patterns the file uses: plain paths (with or without a trailing `/`),
/// `**/name/` and `*.ext`.
fn docker_ignored(path: &str, patterns: &[String]) -> bool {
    let path = path.trim_end_matches('/');
    patterns.iter().any(|p| {
        let p = p.trim_end_matches('/');
        if let Some(name) = p.strip_prefix("**/") {
            path.split('/').any(|c| c == name)
        } else if let Some(ext) = p.strip_prefix("*.") {
            path.ends_with(&format!(".{ext}"))
        } else {
            path == p || path.starts_with(&format!("{p}/"))
        }
    })
}

#[test]
fn dockerfile_copies_sources_that_exist_and_installs_what_the_configuration_runs() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let instructions = dockerfile_instructions();
    let mut sources = Vec::new();
    let mut installed = Vec::new(); // destinations in the final image
    let mut stages = 0;
    for ins in &instructions {
        let words: Vec<&str> = ins.split_whitespace().collect();
        match words[0] {
            "FROM" => {
                stages += 1;
                installed.clear();
            }
            "COPY" => {
                let from_stage = words.iter().any(|w| w.starts_with("--from="));
                let args: Vec<&str> = words[1..]
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                assert!(args.len() >= 2, "{ins}");
                let (dest, srcs) = args.split_last().unwrap();
                for s in srcs {
                    if from_stage {
                        let name = Path::new(s).file_name().unwrap().to_str().unwrap();
                        installed.push(if dest.ends_with('/') {
                            format!("{dest}{name}")
                        } else {
                            dest.to_string()
                        });
                        continue;
                    }
                    assert!(repo().join(s).exists(), "COPY source {s} does not exist");
                    assert!(
                        !docker_ignored(s, &patterns),
                        "COPY source {s} is excluded by .dockerignore"
                    );
                    sources.push(s.trim_end_matches('/').to_string());
                    let name = Path::new(s).file_name().unwrap().to_str().unwrap();
                    installed.push(if dest.ends_with('/') {
                        format!("{dest}{name}")
                    } else {
                        dest.to_string()
                    });
                }
            }
            _ => {}
        }
    }
    assert_eq!(stages, 2, "a builder and a runtime stage");
    for never in ["target", ".git"] {
        assert!(docker_ignored(never, &patterns), "{never} in the context");
    }

    // The builder has the whole workspace: the root package and every member.
    for f in ["Cargo.toml", "Cargo.lock", "build.rs", "src"] {
        assert!(sources.iter().any(|s| s == f), "the builder lacks {f}");
    }
    let manifest = read("Cargo.toml");
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, r)| r.split_once(']'))
        .expect("workspace members")
        .0;
    for m in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if m.is_empty() || m == "." {
            continue;
        }
        assert!(
            sources
                .iter()
                .any(|s| m == s || m.starts_with(&format!("{s}/"))),
            "the builder lacks workspace member {m}"
        );
    }

    // The final image holds the binary it runs, the config it is given, and every plugin
    // that config runs; it runs as a user other than root and exposes the default port.
    let last = |k: &str| {
        instructions
            .iter()
            .rev()
            .find(|i| i.starts_with(&format!("{k} ")))
            .unwrap_or_else(|| panic!("no {k}"))
            .clone()
    };
    assert_eq!(
        last("ENTRYPOINT"),
        r#"ENTRYPOINT ["/usr/local/bin/plugin-exporter"]"#
    );
    assert_eq!(
        last("CMD"),
        r#"CMD ["--config.file=/etc/plugin-exporter/plugin-exporter.yml"]"#
    );
    assert_eq!(last("EXPOSE"), "EXPOSE 10100");
    let user = last("USER");
    let user = user["USER ".len()..].split(':').next().unwrap();
    assert!(user != "0" && user != "root", "USER {user}");
    for path in [
        "/usr/local/bin/plugin-exporter",
        "/etc/plugin-exporter/plugin-exporter.yml",
    ] {
        assert!(
            installed.iter().any(|i| i == path),
            "the image lacks {path}"
        );
    }
    let config = read("examples/container/plugin-exporter.yml");
    let config: serde_json::Value = yaml_serde::from_str(&config).unwrap();
    for p in config["plugins"].as_array().unwrap() {
        let cmd = p["command"][0].as_str().unwrap();
        assert!(
            installed.iter().any(|i| i == cmd),
            "the image lacks plugin {cmd}; it has {installed:?}"
        );
    }
}
