//! An exporter without CAP_SYS_RESOURCE cannot give a plugin more than its own hard limit:
//! under `ulimit -n 64`, a plugin configured with `nofile: 1024` still starts, with 64, and
//! the lowering is logged and shown in the API; with `require_rlimits: true` it is refused
//! with a message naming the limit.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_nofile_limit_above_the_hard_limit_is_lowered_or_refused_on_request() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test starts the exporter as `nobody` with `setpriv` and needs root"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (lowered, strict) = (unique("lowered"), unique("strict"));
    let script = repo().join("examples/sh/loadavg.sh");
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  limits: {{nofile: 1024}}\nplugins:\n  - {{name: {lowered}, command: [\"{s}\"]}}\n  \
             - {{name: {strict}, command: [\"{s}\"], limits: {{require_rlimits: true}}}}\n",
            s = script.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "ulimit -n 64 && exec setpriv --reuid nobody --regid nogroup --clear-groups \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_plugin-exporter"),
        "--config.file",
    ])
    .arg(&cfg)
    .args([
        "--web.listen-address",
        "127.0.0.1:0",
        "--log.format",
        "json",
        "--sandbox.cgroups=false",
    ]);
    let e = Exporter::spawn_command(cmd, dir);
    e.scrape_until(Duration::from_secs(15), |b| {
        value(
            b,
            &format!("plugin_exporter_plugin_up{{plugin=\"{lowered}\"}}"),
        ) == Some(1.0)
    });
    let plugins = e.plugins();
    let all = plugins["plugins"].as_array().unwrap();
    let find = |name: &str| all.iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(
        find(&lowered)["limits"]["rlimits_lowered"],
        serde_json::json!([{"limit": "nofile", "configured": 1024, "applied": 64}]),
        "{plugins:#}"
    );
    e.wait_log(Duration::from_secs(5), |l| {
        l.contains(&lowered)
            && l.contains("limits.nofile 1024 is above the exporter's own hard limit 64")
    });
    // The strict one is refused, saying which limit and why.
    let strict_status = (0..100)
        .map(|_| {
            let p = e.plugins();
            let s = p["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == strict.as_str())
                .unwrap()
                .clone();
            if s["last_error"].is_null() {
                std::thread::sleep(Duration::from_millis(50));
            }
            s
        })
        .find(|s| !s["last_error"].is_null())
        .expect("the strict plugin reported no error");
    let error = strict_status["last_error"].as_str().unwrap();
    assert!(
        error.contains("limits.nofile 1024") && error.contains("require_rlimits"),
        "{error}"
    );
    assert_eq!(strict_status["up"], false);
}
