//! Plugin packages end to end: a package used from the config, its schema enforced with
//! file:line, a tampered file refused at start and before a restart, an unknown signer under
//! each `trust.unsigned` policy, a `requires` mismatch, two versions side by side, a package
//! added and picked up by a reload without restarting the others, and `plugins new` packages
//! for sh and Python passing `plugins verify` and `check-plugin` and running. Signing uses the
//! test key of `examples/packages` (its password is public: tests only), and Debian's
//! `minisign` checks our signatures and makes the unknown signer's key.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const PASSWORD: &str = "plugin-exporter-test";

fn exe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
}

fn test_key(ext: &str) -> PathBuf {
    repo().join(format!("examples/packages/test-key.{ext}"))
}

fn pubkey() -> String {
    std::fs::read_to_string(test_key("pub"))
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .env("PLUGIN_EXPORTER_KEY_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A package `name` `version` under `root`, from `plugins new` (sh), with `edit` applied to
/// its manifest before signing with `key` (unsigned when `None`).
fn package(
    root: &Path,
    dir: &str,
    name: &str,
    version: &str,
    edit: &str,
    key: Option<&Path>,
) -> PathBuf {
    let tmp = root.join(format!(".new-{dir}"));
    std::fs::create_dir_all(&tmp).unwrap();
    let o = run(exe()
        .args(["plugins", "new", name, "--lang", "sh", "--dir"])
        .arg(&tmp));
    assert!(o.status.success(), "{}", text(&o));
    let path = root.join(dir);
    std::fs::rename(tmp.join(name), &path).unwrap();
    let m = path.join("plugin.yml");
    let manifest = std::fs::read_to_string(&m)
        .unwrap()
        .replace("version: 0.1.0", &format!("version: {version}"))
        + edit;
    std::fs::write(&m, manifest).unwrap();
    if let Some(key) = key {
        let o = run(exe()
            .args(["plugins", "sign"])
            .arg(&path)
            .arg("--key")
            .arg(key));
        assert!(o.status.success(), "{}", text(&o));
        let v = Command::new("minisign")
            .args(["-V", "-m"])
            .arg(&m)
            .arg("-p")
            .arg(test_key("pub"))
            .output()
            .expect("minisign is installed (Debian package minisign; scripts/test installs it)");
        if key == test_key("key") {
            assert!(
                v.status.success(),
                "minisign refuses our signature: {}",
                text(&v)
            );
        }
    } else {
        // Unsigned, but with its files pinned, as `plugins new` leaves it.
        let _ = std::fs::remove_file(path.join("plugin.yml.minisig"));
    }
    path
}

fn config(dirs: &Path, unsigned: &str, plugins: &str) -> String {
    format!(
        "plugins_dirs: ['{}']\ntrust:\n  keys: ['{}']\n  unsigned: {unsigned}\nglobal:\n  allow_root: true\nplugins:\n{plugins}",
        dirs.display(),
        pubkey()
    )
}

fn check_config(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yml");
    std::fs::write(&file, yaml).unwrap();
    let o = exe().arg("check-config").arg(&file).output().unwrap();
    (o.status.success(), text(&o))
}

#[test]
fn a_signed_package_runs_with_its_defaults_and_its_schema_is_enforced_at_the_line() {
    let root = tempfile::tempdir().unwrap();
    package(
        root.path(),
        "disk",
        "disk",
        "1.2.0",
        "",
        Some(&test_key("key")),
    );
    let ok = config(
        root.path(),
        "refuse",
        "  - name: root-disk\n    package: disk\n    version: '>=1.2'\n    config: {greeting: yo}\n",
    );
    let (valid, out) = check_config(&ok);
    assert!(valid, "{out}");
    assert!(
        out.contains("package disk 1.2.0") && out.contains("signed by trusted key"),
        "{out}"
    );
    let e = Exporter::start(&ok, &[]);
    e.scrape_until(Duration::from_secs(20), |b| {
        b.contains("disk_up{greeting=\"yo\",plugin=\"root-disk\"} 1")
    });
    let api = e.plugins();
    assert_eq!(
        api["plugins"][0]["package"]["signature"], "trusted",
        "{api}"
    );
    assert_eq!(
        api["plugins"][0]["limits"]["memory_bytes"],
        64 << 20,
        "the package's limits"
    );
    let body = e.scrape();
    assert!(body.contains(
        "plugin_exporter_plugin_package_info{package=\"disk\",plugin=\"root-disk\",signature=\"trusted\",version=\"1.2.0\"} 1"
    ));
    assert!(e
        .get("/", &[])
        .text()
        .contains("package disk 1.2.0 (trusted)"));

    // A value the schema refuses is named by file, line and key.
    let bad = config(
        root.path(),
        "refuse",
        "  - name: root-disk\n    package: disk\n    config:\n      greeting: 42\n      colour: red\n",
    );
    let (valid, out) = check_config(&bad);
    assert!(!valid);
    assert!(
        out.contains("c.yml:11") && out.contains("plugins[root-disk].config.greeting"),
        "{out}"
    );
    assert!(out.contains("config_schema"), "{out}");
    assert!(out.contains("colour"), "{out}");
}

#[test]
fn a_file_changed_after_signing_is_refused_at_start_and_before_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let dir = package(
        root.path(),
        "disk",
        "disk",
        "1.0.0",
        "",
        Some(&test_key("key")),
    );
    let cfg = config(root.path(), "refuse", "  - name: d\n    package: disk\n");
    let e = Exporter::start(&cfg, &["--web.enable-admin-api"]);
    e.scrape_until(Duration::from_secs(20), |b| b.contains("disk_up{"));
    // Changed while it runs: the next start refuses it, naming the file.
    let script = dir.join("plugin.sh");
    let mut body = std::fs::read_to_string(&script).unwrap();
    body.push_str("# changed\n");
    std::fs::write(&script, body).unwrap();
    let r = http_request(&e.addr, "POST", "/api/v1/plugins/d/restart", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let b = e.scrape_until(Duration::from_secs(20), |b| {
        value(
            b,
            "plugin_exporter_plugin_restarts_total{plugin=\"d\",reason=\"checksum\"}",
        )
        .is_some_and(|v| v >= 1.0)
    });
    assert!(!b.contains("disk_up{"), "a tampered package kept running");
    let api = e.plugins();
    let err = api["plugins"][0]["last_error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        err.contains("plugin.sh") && err.contains("changed after signing"),
        "{err}"
    );
    // And at start, the config is refused with the file named.
    let (valid, out) = check_config(&cfg);
    assert!(
        !valid && out.contains("plugin.sh was changed after signing"),
        "{out}"
    );
}

#[test]
fn unknown_signers_follow_the_unsigned_policy() {
    let root = tempfile::tempdir().unwrap();
    let other = root.path().join("other");
    let g = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'pw\\npw\\n' | minisign -G -p {0}.pub -s {0}.key",
            other.display()
        ))
        .output()
        .expect("minisign is installed (Debian package minisign)");
    assert!(g.status.success(), "{}", text(&g));
    let pkgs = root.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let other_key = other.with_extension("key");
    // Signed by a key that is not in trust.keys.
    let p = package(&pkgs, "stranger", "stranger", "1.0.0", "", None);
    let o = exe()
        .args(["plugins", "sign"])
        .arg(&p)
        .arg("--key")
        .arg(&other_key)
        .env("PLUGIN_EXPORTER_KEY_PASSWORD", "pw")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let entry = "  - name: s\n    package: stranger\n";

    let (valid, out) = check_config(&config(&pkgs, "refuse", entry));
    assert!(
        !valid && out.contains("signed by a key that is not trusted, and trust.unsigned is refuse"),
        "{out}"
    );

    let (valid, out) = check_config(&config(&pkgs, "allow", entry));
    assert!(valid, "{out}");
    let e = Exporter::start(&config(&pkgs, "restrict", entry), &[]);
    let api = e.plugins();
    let p = &api["plugins"][0];
    assert_eq!(p["package"]["signature"], "unknown_signer", "{p}");
    assert_eq!(p["sandbox"]["preset"], "strict", "restricted: {p}");
    assert_eq!(p["limits"]["pids"], 16, "restricted: {p}");
    let e2 = Exporter::start(&config(&pkgs, "allow", entry), &[]);
    assert_eq!(
        e2.plugins()["plugins"][0]["limits"]["memory_bytes"],
        64 << 20
    );
}

#[test]
fn requires_and_versions_choose_or_refuse_with_both_versions_named() {
    let root = tempfile::tempdir().unwrap();
    let key = test_key("key");
    package(root.path(), "disk-1", "disk", "1.4.0", "", Some(&key));
    package(root.path(), "disk-2", "disk", "2.1.0", "", Some(&key));
    package(root.path(), "future", "future", "1.0.0", "", Some(&key));
    // `future` needs an exporter that does not exist yet.
    let m = root.path().join("future/plugin.yml");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("plugin_exporter: '>=0.1'", "plugin_exporter: '>=99'");
    std::fs::write(&m, t).unwrap();
    let o = run(exe()
        .args(["plugins", "sign"])
        .arg(root.path().join("future"))
        .arg("--key")
        .arg(&key));
    assert!(o.status.success(), "{}", text(&o));

    let (valid, out) = check_config(&config(
        root.path(),
        "refuse",
        "  - {name: f, package: future}\n",
    ));
    assert!(!valid);
    assert!(
        out.contains("requires plugin-exporter >=99")
            && out.contains(&format!(
                "this is plugin-exporter {}",
                env!("CARGO_PKG_VERSION")
            )),
        "{out}"
    );
    let cfg = config(
        root.path(),
        "refuse",
        "  - {name: old, package: disk, version: '<2'}\n  - {name: new, package: disk}\n",
    );
    let e = Exporter::start(&cfg, &[]);
    let api = e.plugins();
    assert_eq!(api["plugins"][0]["package"]["version"], "1.4.0");
    assert_eq!(
        api["plugins"][1]["package"]["version"], "2.1.0",
        "the highest by default"
    );
    let (valid, out) = check_config(&config(
        root.path(),
        "refuse",
        "  - {name: x, package: disk, version: '>=3'}\n",
    ));
    assert!(
        !valid && out.contains("installed: 2.1.0, 1.4.0")
            || out.contains("installed: 1.4.0, 2.1.0"),
        "{out}"
    );
    let list = exe()
        .args(["plugins", "list", "--config"])
        .arg({
            let f = root.path().join("c.yml");
            std::fs::write(&f, &cfg).unwrap();
            f
        })
        .output()
        .unwrap();
    let listed = text(&list);
    assert!(
        listed.contains("disk\t2.1.0\tcollector\ttrusted") && listed.contains("used by new"),
        "{listed}"
    );
}

#[test]
fn a_package_added_is_picked_up_by_a_reload_without_restarting_the_others() {
    let root = tempfile::tempdir().unwrap();
    let key = test_key("key");
    package(root.path(), "first", "first", "1.0.0", "", Some(&key));
    let e = Exporter::start(
        &config(root.path(), "refuse", "  - {name: a, package: first}\n"),
        &["--web.enable-lifecycle"],
    );
    e.scrape_until(Duration::from_secs(20), |b| b.contains("first_up{"));
    let pid = e.plugin_pid("a");
    package(root.path(), "second", "second", "1.0.0", "", Some(&key));
    std::fs::write(
        e.dir.path().join("config.yml"),
        config(
            root.path(),
            "refuse",
            "  - {name: a, package: first}\n  - {name: b, package: second}\n",
        ),
    )
    .unwrap();
    let r = http_request(&e.addr, "POST", "/-/reload", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    e.scrape_until(Duration::from_secs(20), |b| b.contains("second_up{"));
    assert_eq!(e.plugin_pid("a"), pid, "the other plugin kept its process");
}

#[test]
fn scaffolded_packages_pass_verify_and_check_plugin_and_run() {
    let root = tempfile::tempdir().unwrap();
    for (lang, file) in [("sh", "plugin.sh"), ("python", "plugin.py")] {
        let name = format!("made-{lang}");
        let o = exe()
            .args(["plugins", "new", &name, "--lang", lang, "--dir"])
            .arg(root.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let dir = root.path().join(&name);
        let v = exe()
            .args(["plugins", "verify"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", text(&v));
        assert!(text(&v).contains("unsigned"), "{}", text(&v));
        let c = exe()
            .args(["check-plugin", "--"])
            .arg(dir.join(file))
            .output()
            .unwrap();
        assert!(c.status.success(), "check-plugin: {}", text(&c));
        // A file added after pinning is caught.
        std::fs::write(dir.join("extra.txt"), "x").unwrap();
        let v = exe()
            .args(["plugins", "verify"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            !v.status.success() && text(&v).contains("extra.txt"),
            "{}",
            text(&v)
        );
        std::fs::remove_file(dir.join("extra.txt")).unwrap();
    }
    let e = Exporter::start(
        &config(
            root.path(),
            "allow",
            "  - {name: s, package: made-sh}\n  - {name: p, package: made-python}\n",
        ),
        &[],
    );
    e.scrape_until(Duration::from_secs(20), |b| {
        b.contains("made_sh_up{") && b.contains("made_python_up{")
    });
}
