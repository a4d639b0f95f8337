//! Real producers of the text formats parse without a single error: the textfile collector
//! scripts of Debian's `prometheus-node-exporter-collectors`, and the reference Python client's
//! encoders for both formats (which must give the same families).
//!
//! A missing package fails these tests instead of skipping them (a skipped check would look
//! like a passed one): `scripts/test` installs what they need.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plugin_exporter::exposition::parse::{parse, ParseOutput, TextFormat};
use plugin_exporter::exposition::validate::{validate, Drops, ValidateOptions};
use plugin_protocol::{Family, MetricType};

const COLLECTORS: &str = "/usr/share/prometheus-node-exporter-collectors";

fn collector(name: &str) -> PathBuf {
    let path = Path::new(COLLECTORS).join(name);
    assert!(
        path.exists(),
        "{} is missing: install the Debian package prometheus-node-exporter-collectors \
         (scripts/test does)",
        path.display()
    );
    path
}

/// Runs `cmd` with `stdin` and returns its stdout; fails unless it exits 0.
fn output(cmd: &mut Command, stdin: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    // Our inputs are small: the programs read all of stdin before they write much.
    let mut pipe = child.stdin.take().expect("stdin was piped");
    pipe.write_all(stdin.as_bytes()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("collector output is UTF-8")
}

/// Parses `body`, which must be clean text 0.0.4 that validation keeps whole.
fn parsed(what: &str, body: &str) -> Vec<Family> {
    let ParseOutput {
        families,
        errors,
        format,
    } = parse(body);
    assert!(errors.is_empty(), "{what}: {errors:?}\n{body}");
    assert_eq!(format, TextFormat::Text004, "{what}");
    assert_validates(what, &families);
    families
}

fn assert_validates(what: &str, families: &[Family]) {
    let mut drops = Drops::default();
    validate(families.to_vec(), &ValidateOptions::default(), &mut drops);
    assert_eq!(drops, Drops::default(), "{what}: validation dropped some");
}

fn family<'a>(families: &'a [Family], name: &str) -> &'a Family {
    families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name} in {families:?}"))
}

fn label<'a>(s: &'a plugin_protocol::Sample, name: &str) -> Option<&'a str> {
    s.labels
        .0
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn fstab_check_parses() {
    let body = output(&mut Command::new(collector("fstab-check.sh")), "");
    let fams = parsed("fstab-check.sh", &body);
    let f = family(&fams, "node_fstab_mount_status");
    assert_eq!(f.kind, MetricType::Gauge);
    assert_eq!(
        f.help,
        "List and status of filesystem mountpoints (0 = not mounted, 1 = mounted)"
    );
}

#[test]
fn directory_size_parses_with_escaped_quotes_in_the_label() {
    let tmp = tempfile::tempdir().unwrap();
    // The script escapes `"` and one backslash for the label value: exercise both.
    let dir = tmp.path().join("a \"quoted\" dir \\ x");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("data"), vec![7u8; 64 * 1024]).unwrap();
    let body = output(Command::new(collector("directory-size.sh")).arg(&dir), "");
    let fams = parsed("directory-size.sh", &body);
    let f = family(&fams, "node_directory_size_bytes");
    assert_eq!(f.kind, MetricType::Gauge);
    assert_eq!(f.samples.len(), 1, "{body}");
    let s = &f.samples[0];
    assert_eq!(label(s, "directory"), dir.to_str());
    assert!(s.value.unwrap().0 >= 64.0 * 1024.0, "{body}");
}

#[test]
fn inotify_instances_parses_and_sees_our_child() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("watched");
    std::fs::write(&file, "").unwrap();
    // GNU tail -f watches its file with inotify.
    let mut tail = Command::new("tail")
        .arg("-f")
        .arg(&file)
        .stdout(Stdio::null())
        .spawn()
        .expect("tail runs");
    let pid = tail.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let watching = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:inotify")
            })
    };
    while !watching() {
        assert!(
            Instant::now() < deadline,
            "tail never opened an inotify instance"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let body = output(&mut Command::new(collector("inotify-instances")), "");
    tail.kill().unwrap();
    tail.wait().unwrap();
    let fams = parsed("inotify-instances", &body);
    let f = family(&fams, "inotify_instances");
    assert_eq!(f.kind, MetricType::Gauge);
    let ours = f
        .samples
        .iter()
        .find(|s| label(s, "pid") == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("no sample for tail's pid {pid}:\n{body}"));
    assert_eq!(label(ours, "command"), Some("tail"));
    assert!(ours.value.unwrap().0 >= 1.0);
}

#[test]
fn ipmitool_converter_parses() {
    // `ipmitool sensor` output, as the script's comments describe it.
    let sensors = "\
CPU Temp         | 45.000     | degrees C  | ok    | 0.000     | 0.000     | 0.000     | 95.000    | 100.000   | 100.000
FAN1             | 3400.000   | RPM        | ok    | na        | 300.000   | 500.000   | na        | na        | na
12V              | 12.192     | Volts      | ok    | 10.173    | 10.299    | 10.740    | 13.260    | 13.713    | 13.839
PS Status        | 0x1        | discrete   | 0x0100| na        | na        | na        | na        | na        | na
Chassis Intru    | 0x0        | discrete   | 0x0000| na        | na        | na        | na        | na        | na
Power            | 120.000    | Watts      | ok    | na        | na        | na        | na        | na        | na
Unreadable       | na         | Volts      | na    | na        | na        | na        | na        | na        | na
";
    let body = output(&mut Command::new(collector("ipmitool")), sensors);
    let fams = parsed("ipmitool", &body);
    let mut got: Vec<(String, String, f64)> = fams
        .iter()
        .flat_map(|f| {
            assert_eq!(f.kind, MetricType::Gauge);
            f.samples.iter().map(move |s| {
                let sensor = label(s, "sensor").unwrap_or_default().to_string();
                (f.name.clone(), sensor, s.value.unwrap().0)
            })
        })
        .collect();
    // awk's `for (k in a)` order depends on the awk.
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let want = [
        ("node_ipmi_power_watts", "Power", 120.0),
        ("node_ipmi_speed_rpm", "FAN1", 3400.0),
        ("node_ipmi_status", "Chassis Intru", 0.0),
        ("node_ipmi_status", "PS Status", 1.0),
        ("node_ipmi_temperature_celsius", "CPU Temp", 45.0),
        ("node_ipmi_volts", "12V", 12.192),
    ];
    let want: Vec<(String, String, f64)> = want
        .iter()
        .map(|(f, s, v)| (f.to_string(), s.to_string(), *v))
        .collect();
    assert_eq!(got, want, "{body}");
}

#[test]
fn scripts_whose_tool_is_missing_still_print_a_clean_exposition() {
    // Each prints its HELP/TYPE, complains on stderr about the missing tool, and exits 0
    // (pacman.sh even names its HELP differently from its sample: two families).
    for script in ["pacman.sh", "yum.sh", "multipathd_info"] {
        let body = output(&mut Command::new(collector(script)), "");
        let fams = parsed(script, &body);
        assert!(!fams.is_empty(), "{script}: nothing parsed from\n{body}");
    }
}

const PY_CLIENT: &str = r#"
import sys
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_latest_om
r = CollectorRegistry()
c = Counter("jobs", "Jobs done.", ["kind"], registry=r)
c.labels("a").inc(3)
c.labels('b "quoted" \\ back\nslash').inc(0.5)
h = Histogram("lat_seconds", "Latency.", ["path"], registry=r, buckets=[0.1, 1, 10])
h.labels("/").observe(0.5)
h.labels("/x").observe(20)
s = Summary("size_bytes", "Size.", registry=r)
s.observe(10)
Info("build", "Build.", registry=r).info({"version": "1.2"})
Enum("state", "State.", states=["a", "b"], registry=r).state("b")
Gauge("temp_celsius", "Temperature.", registry=r, unit="celsius").set(-21.5)
g = Gauge("special", "Special values.", ["v"], registry=r)
g.labels("nan").set(float("nan"))
g.labels("inf").set(float("inf"))
g.labels("-inf").set(float("-inf"))
sys.stdout.write((generate_latest_om if sys.argv[1] == "om" else generate_latest)(r).decode())
"#;

fn python_client(format: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", PY_CLIENT, format])
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python3 with prometheus_client failed (scripts/test installs it: \
         pip install prometheus_client):\n{stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_client_output_gives_the_same_families_in_both_formats() {
    let text_body = python_client("text");
    let text = parsed("prometheus_client text", &text_body);
    let om_body = python_client("om");
    let om = parse(&om_body);
    assert!(om.errors.is_empty(), "{:?}\n{om_body}", om.errors);
    assert_eq!(om.format, TextFormat::OpenMetrics);
    assert_validates("prometheus_client OpenMetrics", &om.families);

    let names: Vec<(&str, MetricType)> = om
        .families
        .iter()
        .map(|f| (f.name.as_str(), f.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("jobs_total", MetricType::Counter),
            ("lat_seconds", MetricType::Histogram),
            ("size_bytes", MetricType::Summary),
            ("build_info", MetricType::Info),
            ("state", MetricType::StateSet),
            ("temp_celsius", MetricType::Gauge),
            ("special", MetricType::Gauge),
        ]
    );
    assert_eq!(
        family(&om.families, "temp_celsius").unit.as_deref(),
        Some("celsius")
    );
    let jobs = family(&om.families, "jobs_total");
    assert_eq!(
        label(&jobs.samples[1], "kind"),
        Some("b \"quoted\" \\ back\nslash")
    );

    // OpenMetrics has created times for the counter, histogram and summary (their `_created`
    // lines), which text 0.0.4 has not.
    for name in ["jobs_total", "lat_seconds", "size_bytes"] {
        let f = family(&om.families, name);
        assert!(
            f.samples.iter().all(|s| s.created.is_some_and(|c| c > 1e9)),
            "{name}: {f:?}"
        );
    }

    // Text 0.0.4 has no units, created times, info or stateset (prometheus_client writes the
    // last two as gauges); everything else is the same, NaN included (compared as JSON, where
    // NaN is the string "NaN"). The created times differ anyway: each format came from a
    // process of its own.
    let mut om_fams = om.families;
    for f in &mut om_fams {
        f.unit = None;
        if matches!(f.kind, MetricType::Info | MetricType::StateSet) {
            f.kind = MetricType::Gauge;
        }
        f.samples.iter_mut().for_each(|s| s.created = None);
    }
    assert_eq!(
        serde_json::to_value(&text).unwrap(),
        serde_json::to_value(&om_fams).unwrap(),
        "text:\n{text_body}\nOpenMetrics:\n{om_body}"
    );
}
