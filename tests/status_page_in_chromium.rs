//! The status page as a browser shows it (Debian's headless Chromium, no JavaScript needed):
//! a healthy plugin, a crash-looping one and one held by its memory limit each show their
//! state and error; screenshots are saved under the target directory. A plugin whose error
//! text and help hold HTML shows them as text, on the overview and on its own page.
mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn chromium(args: &[&str], url: &str, profile: &Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1600,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium is installed (Debian package chromium; scripts/test installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rendered row of `plugin` on the overview.
fn row<'a>(dom: &'a str, plugin: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"plugin-{plugin}\""))
        .unwrap_or_else(|| panic!("no row for {plugin} in {dom}"));
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

fn state(row: &str) -> &str {
    let at = row.find("data-state=\"").expect("a state cell") + "data-state=\"".len();
    &row[at..at + row[at..].find('"').unwrap()]
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn healthy_crash_looping_and_memory_held_plugins_show_their_state_and_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(
        &data,
        "{\"type\":\"metrics\",\"families\":[{\"name\":\"fine_value\",\"type\":\"gauge\",\"help\":\"Fine.\",\"samples\":[{\"value\":1}]}]}\n",
    )
    .unwrap();
    let (healthy, crashing, hog) = (unique("healthy"), unique("crashing"), unique("hog"));
    let cfg = format!(
        "plugins:\n\
         - {{name: {healthy}, command: [\"{}\", \"{}\"]}}\n\
         - {{name: {crashing}, command: [\"{}\", \"{}\"]}}\n\
         - {{name: {hog}, command: [\"{}\"], mode: push, limits: {{memory: 64MiB}}}}\n",
        fixture("respond.sh"),
        data.display(),
        fixture("crash.sh"),
        dir.path().join("starts").display(),
        repo().join("tests/fixtures/hostile/memhog.py").display(),
    );
    let e = Exporter::start(&cfg, &[]);
    let restarts = |b: &str, p: &str, reason: &str| {
        value(
            b,
            &format!("plugin_exporter_plugin_restarts_total{{plugin=\"{p}\",reason=\"{reason}\"}}"),
        )
        .unwrap_or(0.0)
    };
    e.scrape_until(Duration::from_secs(60), |b| {
        value(
            b,
            &format!("plugin_exporter_plugin_up{{plugin=\"{healthy}\"}}"),
        ) == Some(1.0)
            && restarts(b, &crashing, "exited") >= 2.0
            && restarts(b, &hog, "oom") >= 1.0
    });
    let url = format!("http://{}/", e.addr);
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&["--dump-dom"], &url, profile.path());

    let r = row(&dom, &healthy);
    assert_eq!(state(r), "Healthy", "{r}");
    let r = row(&dom, &crashing);
    assert_eq!(state(r), "Crash-looping", "{r}");
    assert!(
        r.contains("exited with status 1") || r.contains("exit"),
        "{r}"
    );
    assert!(
        r.contains("exited 2") || r.contains("exited "),
        "restarts by reason: {r}"
    );
    let r = row(&dom, &hog);
    assert_eq!(state(r), "Crash-looping", "{r}");
    assert!(r.contains("killed for exceeding its memory limit"), "{r}");
    assert!(r.contains("oom "), "restarts by reason: {r}");
    assert!(r.contains("/ 64 MiB"), "memory against its limit: {r}");
    assert!(dom.contains("<svg"), "charts are drawn server-side");

    let shots = screenshots();
    for (name, path) in [
        ("overview", "/".to_string()),
        ("hog", format!("/plugins/{hog}")),
    ] {
        let file = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        chromium(
            &[&format!("--screenshot={}", file.display())],
            &format!("http://{}{path}", e.addr),
            profile.path(),
        );
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "screenshot {} is {size} bytes",
            file.display()
        );
    }
    let page = chromium(
        &["--dump-dom"],
        &format!("http://{}/plugins/{hog}", e.addr),
        profile.path(),
    );
    assert!(
        page.contains("killed for exceeding its memory limit"),
        "{page}"
    );
    assert!(
        page.contains("Configuration") && page.contains("64"),
        "{page}"
    );
}

#[test]
fn plugin_text_holding_html_is_shown_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("html.sh");
    std::fs::write(
        &script,
        r#"#!/bin/sh
while IFS= read -r line; do
  case "$line" in
    '{"type":"collect"'*)
      echo "<script>document.title='pwned'</script> on stderr" >&2
      echo '{"type":"error","message":"<b id=\"injected\">boom</b><img src=x onerror=alert(1)>"}' ;;
    '{"type":"shutdown"'*) exit 0 ;;
  esac
done
"#,
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = unique("html");
    let e = Exporter::start(
        &format!(
            "plugins:\n- {{name: {name}, command: [\"{}\"]}}\n",
            script.display()
        ),
        &[],
    );
    // A scrape makes it answer with its error.
    e.scrape_until(Duration::from_secs(20), |b| {
        value(
            b,
            &format!(
                "plugin_exporter_plugin_errors_total{{kind=\"plugin_error\",plugin=\"{name}\"}}"
            ),
        )
        .is_some_and(|v| v >= 1.0)
    });
    let profile = tempfile::tempdir().unwrap();
    for path in ["/".to_string(), format!("/plugins/{name}")] {
        let dom = chromium(
            &["--dump-dom"],
            &format!("http://{}{path}", e.addr),
            profile.path(),
        );
        assert!(
            !dom.contains("<b id=\"injected\">"),
            "HTML from the plugin became markup on {path}: {dom}"
        );
        assert!(!dom.contains("<img src=\"x\""), "{dom}");
        assert!(
            dom.contains("&lt;b id=\"injected\"&gt;boom"),
            "the error is shown as text on {path}: {dom}"
        );
        assert!(!dom.contains("<title>pwned"), "{dom}");
    }
    let page = chromium(
        &["--dump-dom"],
        &format!("http://{}/plugins/{name}", e.addr),
        profile.path(),
    );
    assert!(
        page.contains("&lt;script&gt;document.title"),
        "stderr shown as text: {page}"
    );
}
