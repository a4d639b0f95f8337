//! What a person reads: a startup error is printed once; `check-config` lists every problem
//! of the configuration file (type errors included) and of the web config file; logs carry
//! values as they are, never Rust's debug syntax.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn a_startup_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(&dir, "c.yml", "global:\n  timeout: 5x\nplugins: []\n");
    let out = exporter()
        .args(["--config.file", &cfg, "--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let problem = format!("{cfg}:2:12: global.timeout: invalid duration `5x`");
    assert_eq!(err.matches(&problem).count(), 1, "{err}");
}

#[test]
fn check_config_lists_every_problem_of_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        "c.yml",
        "global:\n  timeout: 5x\n  interval: 3q\n  plugin_label: 1bad\nplugins:\n  - name: a\n    command: [/bin/true]\n    \
         mode: bogus\n  - name: b\n    command: [/bin/true]\n    colour: red\n    timeout: 1h\n",
    );
    let web = write(
        &dir,
        "web.yml",
        "basic_auth_users:\n  alice: not-a-bcrypt-hash\nhttp_server_config:\n  nonsense: 1\n  \
         headers:\n    X-Ok: yes\n",
    );
    let out = exporter()
        .args(["check-config", &cfg, "--web.config.file", &web])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        format!("{cfg}:2:12: global.timeout: invalid duration `5x`"),
        format!("{cfg}:3:3: global.interval: invalid duration `3q`"),
        format!("{cfg}:8:5: plugins[a].mode: unknown variant `bogus`"),
        format!("{cfg}:11:5: plugins[b].colour: unknown field `colour`"),
        // A check that runs after the type errors: the plugin label is no label name.
        format!("{cfg}:4:3: global.plugin_label: invalid label name `1bad`"),
        format!("{web}:"),
    ] {
        assert!(err.contains(&want), "{want:?} missing from:\n{err}");
    }
    assert!(
        err.contains("alice"),
        "the web config's problem is not named:\n{err}"
    );
    assert!(
        err.contains(&format!(
            "{web}:4:3: http_server_config.nonsense: unknown field `nonsense`"
        )),
        "the web config's second problem is missing:\n{err}"
    );

    let ok = write(&dir, "ok.yml", "plugins: []\n");
    let out = exporter()
        .args(["check-config", &ok, "--web.config.file", &web])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a bad web config passed");
}

#[test]
fn logs_carry_values_not_debug_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        &dir,
        "hello.sh",
        "#!/bin/sh\necho '{\"type\":\"hello\",\"protocol\":1,\"name\":\"greeter\",\"version\":\"1.2.3\"}'\n\
         while IFS= read -r l; do case \"$l\" in '{\"type\":\"collect\"'*) echo '{\"type\":\"metrics\",\"families\":[]}';; \
         '{\"type\":\"shutdown\"'*) exit 0;; esac; done\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let name = unique("greeter");
    let cfg = format!("plugins:\n  - {{name: {name}, command: [\"{script}\"]}}\n");
    let dir2 = tempfile::tempdir().unwrap();
    let file = dir2.path().join("config.yml");
    std::fs::write(&file, format!("global:\n  allow_root: true\n{cfg}")).unwrap();
    let mut cmd = exporter();
    cmd.args(["--config.file"])
        .arg(&file)
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "debug",
        ])
        .args(["--log.format", "json"]);
    let e = Exporter::spawn_command(cmd, dir2);
    let hello = e.wait_log(Duration::from_secs(10), |l| l.contains("plugin said hello"));
    let hello: serde_json::Value = serde_json::from_str(&hello).unwrap();
    assert_eq!(hello["name"], "greeter", "{hello}");
    assert_eq!(hello["version"], "1.2.3", "{hello}");
    // A reload that changes the plugin logs its summary.
    std::fs::write(
        &file,
        format!("global:\n  allow_root: true\n  timeout: 4s\n{cfg}"),
    )
    .unwrap();
    e.signal(libc::SIGHUP);
    e.wait_log(Duration::from_secs(10), |l| {
        l.contains("configuration reloaded")
    });
    for line in e.logs() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for (field, value) in v.as_object().unwrap() {
            let Some(text) = value.as_str() else { continue };
            for debug in ["Some(", "None", "[\"", "Duration {", "Exited(", "Signaled("] {
                assert!(
                    !text.contains(debug),
                    "debug syntax {debug:?} in field {field} of a log line: {line}"
                );
            }
        }
    }
}
