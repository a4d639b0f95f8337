//! `plugin-exporter check-plugin` on real processes: every example plugin passes, and each
//! broken fixture plugin (tests/fixtures/broken) fails with its own message.
//!
//! Timeouts are short (`--timeout 500ms`, one collect where more add nothing) so that the
//! fixtures that never answer cost little; the 2 s grace for exiting is the exporter's own
//! and is what the immortal fixture waits for.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `check-plugin ARGS` from the repository root; returns the exit code and stdout.
fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("check-plugin")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("cannot run plugin-exporter");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out
        .status
        .code()
        .expect("check-plugin was killed by a signal");
    (code, stdout)
}

fn broken(name: &str) -> String {
    let p = repo().join("tests/fixtures/broken").join(name);
    assert!(p.exists(), "fixture {} missing", p.display());
    p.to_string_lossy().into_owned()
}

/// Asserts the plugin passes: exit 0 and a summary without errors.
fn passes(command: &[&str]) {
    let mut args = vec!["--timeout", "5s", "--"];
    args.extend_from_slice(command);
    let (code, out) = check(&args);
    assert_eq!(code, 0, "{command:?} should pass, the report was:\n{out}");
    assert!(out.contains("check-plugin: 0 errors, "), "{out}");
}

/// Asserts the check fails (exit 1) and the report holds every `wanted` text.
fn fails_with(args: &[&str], wanted: &[&str]) -> String {
    let (code, out) = check(args);
    assert_eq!(code, 1, "{args:?} should fail, the report was:\n{out}");
    for w in wanted {
        assert!(out.contains(w), "{w:?} missing from the report:\n{out}");
    }
    out
}

/// A script example; a `.js` one also needs `node` in the PATH.
fn example_script(path: &str) -> String {
    assert!(repo().join(path).exists(), "{path} missing");
    if path.ends_with(".js") {
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "{path} needs Node.js: install it (Debian package nodejs) so `node` is in the PATH"
        );
    }
    path.to_string()
}

#[test]
fn the_sh_example_passes() {
    passes(&[&example_script("examples/sh/loadavg.sh")]);
}

#[test]
fn the_python_example_passes() {
    passes(&[&example_script("examples/python/meminfo.py")]);
}

#[test]
fn the_rust_sysinfo_example_passes() {
    let bin = repo().join("target/debug/sysinfo-plugin");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build --workspace` first",
        bin.display()
    );
    passes(&[&bin.to_string_lossy()]);
}

/// Scripts under examples/ (sh, Python, Node.js), found rather than listed, so an example
/// added later is checked too. The Rust examples are binaries, checked above; the push-mode
/// one answers no collect and is not a scrape plugin. Processors (`examples/processors`)
/// are checked with `--role processor` in `processors_run_between_collect_and_scrape`, outputs
/// (`examples/outputs`) with `--role output` in `outputs_receive_timestamped_batches`.
#[test]
fn every_example_script_passes() {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(repo().join("examples")).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() || dir.ends_with("processors") || dir.ends_with("outputs") {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let script = ["sh", "py", "js"]
                .iter()
                .any(|e| f.extension().is_some_and(|x| x == *e));
            if script {
                found.push(f.strip_prefix(repo()).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    assert!(
        found.contains(&Path::new("examples/sh/loadavg.sh").to_path_buf()),
        "{found:?}"
    );
    for f in &found {
        passes(&[&example_script(&f.to_string_lossy())]);
    }
}

#[test]
fn a_push_mode_plugin_passes_in_push_mode_and_a_silent_one_fails() {
    let push = repo().join("tests/fixtures/plugins/push_good.sh");
    let push = push.to_string_lossy();
    let (code, out) = check(&[
        "--mode",
        "push",
        "--collects",
        "3",
        "--timeout",
        "2s",
        "--",
        &push,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("check-plugin: 0 errors, 0 warnings"), "{out}");
    // A plugin that never pushes fails in push mode.
    fails_with(
        &[
            "--mode",
            "push",
            "--collects",
            "1",
            "--timeout",
            "500ms",
            "--",
            &broken("silent.sh"),
        ],
        &["push 1 did not come within 500ms"],
    );
}

#[test]
fn the_rust_push_example_passes_in_push_mode() {
    let bin = repo().join("target/debug/sysinfo-push-plugin");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build --workspace` first",
        bin.display()
    );
    let (code, out) = check(&[
        "--mode",
        "push",
        "--collects",
        "1",
        "--timeout",
        "7s",
        "--",
        &bin.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_log_line_on_stdout_is_an_error() {
    fails_with(
        &["--collects", "1", "--", &broken("stdout_log.sh")],
        &[
            "ERROR line 1: not a protocol message",
            "write logs to stderr",
        ],
    );
}

#[test]
fn an_answer_with_the_wrong_id_is_an_error() {
    fails_with(
        &[
            "--collects",
            "1",
            "--timeout",
            "500ms",
            "--",
            &broken("wrong_id.sh"),
        ],
        &[
            "ERROR line 1: metrics with id 99, but the open collect has id 1",
            "collect 1 got no answer within 500ms",
        ],
    );
}

#[test]
fn a_plugin_that_never_answers_fails_each_collect_at_its_deadline() {
    let started = std::time::Instant::now();
    fails_with(
        &[
            "--collects",
            "2",
            "--timeout",
            "500ms",
            "--",
            &broken("silent.sh"),
        ],
        &[
            "ERROR: collect 1 got no answer within 500ms",
            "ERROR: collect 2 got no answer within 500ms",
            "check-plugin: 2 errors, 0 warnings",
        ],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[test]
fn a_plugin_ignoring_shutdown_and_eof_is_reported_and_killed() {
    let out = fails_with(
        &[
            "--collects",
            "1",
            "--timeout",
            "500ms",
            "--",
            &broken("immortal.sh"),
        ],
        &[
            "ERROR: the plugin does not exit after shutdown",
            "ERROR: the plugin does not exit on stdin EOF",
        ],
    );
    assert!(out.contains("check-plugin: 2 errors, 0 warnings"), "{out}");
    // Killed with its whole group: no sleep of the fixture is left.
    let left = Command::new("pgrep")
        .args(["-f", "fixtures/broken/immortal.sh"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "left behind: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn an_invalid_metric_name_is_an_error_naming_the_family() {
    fails_with(
        &["--collects", "1", "--", &broken("invalid_name.sh")],
        &[r#"ERROR line 1: family "disk-free": not a valid metric name"#],
    );
}

#[test]
fn a_counter_without_total_is_only_a_warning() {
    let (code, out) = check(&["--", &broken("counter_no_total.sh")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(r#"WARN line 1: counter "jobs_done" should have the suffix _total"#),
        "{out}"
    );
    // The same warning on every collect is folded into one.
    assert!(out.contains("(again at line 2, line 3)"), "{out}");
    assert!(out.contains("check-plugin: 0 errors, 1 warnings"), "{out}");
    // stderr is the plugin's log, shown but never an error.
    assert!(out.contains("LOG (stderr): collecting jobs"), "{out}");
}

#[test]
fn protocol_version_2_is_refused() {
    fails_with(
        &["--collects", "1", "--", &broken("protocol2.sh")],
        &["ERROR line 1: the plugin announces protocol version 2, but the exporter speaks 1"],
    );
}

#[test]
fn a_prometheus_script_with_an_invalid_line_fails_at_that_line() {
    let out = fails_with(
        &[
            "--format",
            "prometheus",
            "--",
            &broken("prometheus_bad_line.sh"),
        ],
        &["ERROR line 4: "],
    );
    // Three runs with the same output give one error.
    assert!(out.contains("check-plugin: 1 errors, 0 warnings"), "{out}");
}

#[test]
fn a_prometheus_script_exiting_1_fails() {
    fails_with(
        &[
            "--format",
            "prometheus",
            "--collects",
            "1",
            "--",
            &broken("prometheus_exit1.sh"),
        ],
        &[
            "ERROR run 1: ended with exit code 1",
            "LOG (stderr): cannot reach the queue",
        ],
    );
}

#[test]
fn a_nagios_check_with_an_odd_exit_code_is_only_warned_about() {
    let (code, out) = check(&[
        "--format",
        "nagios",
        "--collects",
        "1",
        "--",
        "sh",
        "-c",
        "echo 'OK - fine | load=0.5;5;10'; exit 7",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("WARN run 1: ended with exit code 7"), "{out}");
}

#[test]
fn the_plugin_gets_the_exporters_clean_environment() {
    let (code, out) = check(&[
        "--collects",
        "0",
        "--",
        "sh",
        "-c",
        "env >&2; while read -r l; do case \"$l\" in '{\"type\":\"shutdown\"'*) exit 0;; esac; done",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("LOG (stderr): PLUGIN_EXPORTER_PLUGIN=check"),
        "{out}"
    );
    assert!(out.contains("LOG (stderr): PATH="), "{out}");
    assert!(!out.contains("LOG (stderr): HOME="), "{out}");
}

#[test]
fn a_command_that_cannot_start_exits_2() {
    let (code, out) = check(&["--", "/nonexistent/plugin"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot start `/nonexistent/plugin`"), "{out}");
}
