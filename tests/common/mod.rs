//! Test harness: runs the real exporter binary on a temporary config, scrapes it over real
//! HTTP, and inspects real processes. Shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A running exporter.
pub struct Exporter {
    pub child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
    logs: Arc<(Mutex<Vec<String>>, Condvar)>,
}

/// Path of a fixture plugin under tests/fixtures/plugins.
pub fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plugins")
        .join(name);
    assert!(p.exists(), "fixture {} missing", p.display());
    p.to_string_lossy().into_owned()
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Exporter {
    /// Starts the exporter with `config` (YAML) and extra flags; waits until it listens.
    /// Tests run as root here: a config without a `global:` section gets
    /// `global: {allow_root: true}` so its plugins may run as root (the refusal has its own
    /// test).
    pub fn start(config: &str, extra: &[&str]) -> Exporter {
        Self::start_env(config, extra, &[])
    }

    /// [`Exporter::start`] with extra environment variables for the exporter.
    pub fn start_env(config: &str, extra: &[&str], env: &[(&str, &str)]) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.yml");
        let config = if config.contains("global:") {
            config.to_string()
        } else {
            format!("global:\n  allow_root: true\n{config}")
        };
        std::fs::write(&cfg, config).unwrap();
        Self::launch(&cfg, dir, extra, env)
    }

    /// Starts the exporter on an existing config file.
    pub fn start_with_file(cfg: &Path, dir: tempfile::TempDir, extra: &[&str]) -> Exporter {
        Self::launch(cfg, dir, extra, &[])
    }

    fn launch(
        cfg: &Path,
        dir: tempfile::TempDir,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Exporter {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"));
        cmd.envs(env.iter().copied());
        cmd.arg("--config.file")
            .arg(cfg)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.format",
                "json",
            ])
            .args(["--log.level", "debug"])
            .args(extra);
        Self::spawn_command(cmd, dir)
    }

    /// Waits for a log line matching `pred` and returns it; panics with all logs on timeout.
    pub fn wait_log(&self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let (m, cv) = &*self.logs;
        let deadline = Instant::now() + within;
        let mut logs = m.lock().unwrap();
        loop {
            if let Some(l) = logs.iter().find(|l| pred(l)) {
                return l.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no matching log line within {within:?}; logs:\n{}",
                    logs.join("\n")
                );
            }
            logs = cv.wait_timeout(logs, deadline - now).unwrap().0;
        }
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.0.lock().unwrap().clone()
    }

    /// GET `path` with extra headers.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_get(&self.addr, path, headers)
    }

    /// Scrapes /metrics as text 0.0.4.
    pub fn scrape(&self) -> String {
        let r = self.get("/metrics", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    }

    /// Scrapes until `pred` holds on the body, returning it; panics after `within`.
    pub fn scrape_until(&self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let body = self.scrape();
            if pred(&body) {
                return body;
            }
            if Instant::now() > deadline {
                panic!("condition not met within {within:?}; last scrape:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The JSON of /api/v1/plugins.
    pub fn plugins(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/api/v1/plugins", &[]).text()).unwrap()
    }

    /// The pid of a running plugin, waiting until it has one.
    pub fn plugin_pid(&self, name: &str) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.plugins();
            let p = v["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("no plugin {name}"));
            if p["state"] == "running" {
                if let Some(pid) = p["pid"].as_i64() {
                    return pid as i32;
                }
            }
            assert!(Instant::now() < deadline, "plugin {name} never ran: {p}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal to the exporter.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a pid we own and a valid signal number.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Waits for the exporter to exit and returns its exit code (None: killed by a signal).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            assert!(
                Instant::now() < deadline,
                "exporter did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exporter's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The exporter's resident memory in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_field(v: &serde_json::Value, key: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(s) = m.get(key).and_then(|x| x.as_str()) {
                return Some(s.to_string());
            }
            m.values().find_map(|x| find_field(x, key))
        }
        _ => None,
    }
}

/// A response of the minimal HTTP client.
pub struct HttpResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection (`Connection: close`).
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request(addr, "GET", path, headers)
}

/// A minimal HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    try_http_request(addr, method, path, headers).expect("connect")
}

/// [`http_request`], but a refused connection is an error rather than a panic.
pub fn try_http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        b = &b[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// The value of the series `name{labels}` (labels written exactly as in the exposition,
/// e.g. `plugin="a"`), if present.
pub fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| match v {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap(),
        })
    })
}

/// Pids of every live process carrying the exporter's plugin tag for `plugin` (any
/// supervisor). Zombies count as gone.
pub fn plugin_processes(plugin: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let tag = format!("PLUGIN_EXPORTER_PLUGIN={plugin}");
        if env.split(|b| *b == 0).any(|v| v == tag.as_bytes()) && !is_zombie(pid) {
            out.push(pid);
        }
    }
    out
}

/// True when `pid` is a zombie or gone.
pub fn is_zombie(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Waits until no live process of `plugin` exists; panics naming the survivors.
pub fn wait_no_plugin_processes(plugin: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = plugin_processes(plugin);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let desc: Vec<String> = left
                .iter()
                .map(|p| {
                    let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                    format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
                })
                .collect();
            panic!("processes of plugin {plugin} survive: {desc:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plugin name unique to this test run, so parallel tests never see each other's processes.
pub fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `promtool check metrics` on `body`: (exit code, output). 0 clean, 3 lint only,
/// 1 parse error.
pub fn promtool_check(body: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus; scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Parses `body` with Python's prometheus_client (the reference parser): `openmetrics`
/// selects its OpenMetrics parser. Returns the family names, or panics with the error.
pub fn python_parse(body: &str, openmetrics: bool) -> Vec<String> {
    let script = if openmetrics {
        "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
         print('\\n'.join(f.name for f in p(sys.stdin.read())))"
    } else {
        "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n\
         print('\\n'.join(f.name for f in p(sys.stdin.read())))"
    };
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client failed to parse (openmetrics={openmetrics}): {}\nbody:\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Parses a complete raw HTTP/1.1 response (head and body, chunked or not); `None` when it
/// is not one. For clients other than [`try_http_request`], e.g. over TLS.
pub fn parse_http_response(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status_line = lines.next()?;
    if !status_line.starts_with("HTTP/") {
        return None;
    }
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

impl Exporter {
    /// Starts the exporter from a prepared `cmd` (program, arguments, environment; it must
    /// pass `--log.format json`) and waits until it logs an address it listens on, like
    /// [`Exporter::start`]. For tests that control how the process starts: a wrapper that
    /// execs the exporter, descriptors it inherits. stdio is set here.
    pub fn spawn_command(mut cmd: Command, dir: tempfile::TempDir) -> Exporter {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start plugin-exporter");
        let stderr = child.stderr.take().unwrap();
        let logs: Arc<(Mutex<Vec<String>>, Condvar)> = Arc::default();
        let l2 = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("EXPORTER_LOGS").is_some() {
                    eprintln!("exporter: {line}");
                }
                let (m, cv) = &*l2;
                m.lock().unwrap().push(line);
                cv.notify_all();
            }
        });
        let mut e = Exporter {
            child,
            addr: String::new(),
            dir,
            logs,
        };
        let line = e.wait_log(Duration::from_secs(30), |l| l.contains("\"listening\""));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        e.addr = find_field(&v, "address").expect("listening log has an address");
        e
    }

    /// The addresses of every `listening` log line so far.
    pub fn listening_addresses(&self) -> Vec<String> {
        self.logs()
            .iter()
            .filter(|l| l.contains("\"listening\""))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| find_field(&v, "address"))
            .collect()
    }
}

/// A real Prometheus server (Debian's `prometheus`), killed when dropped.
pub struct Prometheus {
    child: Child,
    /// Its `host:port`.
    pub addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML) written to `dir`, its storage in `dir/tsdb`,
    /// listening on `addr` (a free port when `None`), with `extra` flags.
    pub fn start(dir: &Path, config: &str, addr: Option<&str>, extra: &[&str]) -> Prometheus {
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).unwrap();
        let addr = addr.map_or_else(|| format!("127.0.0.1:{}", free_port()), str::to_string);
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "prometheus is installed (Debian package prometheus; scripts/test installs it)",
            );
        Prometheus { child, addr }
    }

    /// The JSON answer of an instant query; `None` while Prometheus does not answer.
    pub fn query(&self, q: &str) -> Option<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", url_encode(q));
        let r = try_http_request(&self.addr, "GET", &path, &[]).ok()?;
        serde_json::from_slice(&r.body).ok()
    }
}

/// A TCP port nobody listens on now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Percent-encodes everything but letters, digits and `_`.
pub fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
