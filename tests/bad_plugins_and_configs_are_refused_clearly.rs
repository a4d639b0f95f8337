//! Refusals with clear errors: a plugin speaking an unknown protocol version is stopped and
//! restarted with reason `protocol`; a bad config is refused before any plugin starts, by
//! the exporter and by `check-config`, naming the file, line and key.
mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn plugin_with_unknown_protocol_version_is_refused_and_counted() {
    let name = unique("future");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\"]}}\n",
        fixture("protocol99.sh")
    );
    let e = Exporter::start(&cfg, &[]);
    e.wait_log(Duration::from_secs(10), |l| {
        l.contains("protocol version 99") && l.contains(&name)
    });
    e.scrape_until(Duration::from_secs(10), |b| {
        value(
            b,
            &format!(
                "plugin_exporter_plugin_restarts_total{{plugin=\"{name}\",reason=\"protocol\"}}"
            ),
        )
        .is_some_and(|v| v >= 1.0)
    });
}

#[test]
fn check_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "global:\n  timeout: 5s\nplugins:\n  - name: one\n    command: [\"/bin/true\"]\n    timout: 3s\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:6"), "{err}");
    assert!(err.contains("timout"), "{err}");

    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "plugins:\n  - name: one\n    command: [\"/bin/true\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn exporter_refuses_a_bad_config_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yml");
    let name = unique("never");
    std::fs::write(
        &cfg,
        format!(
            "plugins:\n  - name: {name}\n    command: [\"{}\"]\n  - name: {name}\n    command: [\"{}\"]\n",
            fixture("hang.sh"),
            fixture("hang.sh")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("--config.file")
        .arg(&cfg)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.yml:4"), "duplicate name not located: {err}");
    assert!(plugin_processes(&name).is_empty());
}
