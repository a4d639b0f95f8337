//! The state-changing endpoints (`POST /-/reload`, `POST /api/v1/plugins/NAME/restart`,
//! `disable`, `enable`) are off unless `--web.enable-lifecycle` / `--web.enable-admin-api`
//! turn them on (403 naming the flag), accept only POST (405 with `Allow: POST`), and refuse
//! cross-site requests even when on, so a web page in an operator's browser cannot use them.
mod common;
use common::*;
use std::time::Duration;

const DATA: &str = r#"{"type":"metrics","families":[{"name":"gated_value","type":"gauge","help":"A value.","samples":[{"value":1}]}]}"#;

/// An exporter with one plugin and `extra` flags; returns it and the plugin's name.
fn start(extra: &[&str]) -> (Exporter, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    std::fs::write(&data, format!("{DATA}\n")).unwrap();
    let name = unique("gated");
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"]}}\n",
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, extra);
    (e, name, dir)
}

/// The state-changing paths of an exporter whose plugin is `name`.
fn paths(name: &str) -> Vec<String> {
    let mut p = vec!["/-/reload".to_string()];
    for action in ["restart", "disable", "enable"] {
        p.push(format!("/api/v1/plugins/{name}/{action}"));
    }
    p
}

/// The flag that turns `path` on.
fn flag_for(path: &str) -> &'static str {
    if path == "/-/reload" {
        "--web.enable-lifecycle"
    } else {
        "--web.enable-admin-api"
    }
}

#[test]
fn off_by_default_with_a_403_that_names_the_flag() {
    let (e, name, _data) = start(&[]);
    let pid = e.plugin_pid(&name);
    for path in paths(&name) {
        let r = http_request(&e.addr, "POST", &path, &[]);
        assert_eq!(r.status, 403, "POST {path}: {}", r.text());
        assert!(
            r.text().contains(flag_for(&path)),
            "POST {path}: the body should name {}: {:?}",
            flag_for(&path),
            r.text()
        );
        // The simple request a web page can send cross-origin without a preflight.
        let r = http_request(
            &e.addr,
            "POST",
            &path,
            &[
                ("Origin", "http://attacker.example"),
                ("Content-Type", "text/plain"),
                ("Content-Length", "0"),
            ],
        );
        assert_eq!(r.status, 403, "cross-origin POST {path}: {}", r.text());
        let r = http_request(&e.addr, "GET", &path, &[]);
        assert_eq!(r.status, 405, "GET {path}: {}", r.text());
        assert_eq!(
            r.headers.get("allow").map(String::as_str),
            Some("POST"),
            "GET {path}"
        );
    }
    assert_eq!(e.plugin_pid(&name), pid, "a refused restart restarted");
    assert_eq!(e.plugins()["plugins"][0]["state"], "running");

    // SIGHUP still reloads without the flag.
    e.signal(libc::SIGHUP);
    e.wait_log(Duration::from_secs(20), |l| {
        l.contains("configuration reloaded")
    });
}

#[test]
fn on_with_the_flags_for_same_origin_requests_only() {
    let (e, name, _data) = start(&["--web.enable-lifecycle", "--web.enable-admin-api"]);
    e.plugin_pid(&name);
    let own_origin = format!("http://{}", e.addr);
    for path in paths(&name) {
        // No Origin (curl, scripts), the server's own origin, and what browsers send for a
        // same-origin request or one typed by the user: accepted.
        for headers in [
            vec![],
            vec![("Origin", own_origin.as_str())],
            vec![("Sec-Fetch-Site", "same-origin")],
            vec![("Sec-Fetch-Site", "none")],
        ] {
            let r = http_request(&e.addr, "POST", &path, &headers);
            assert_eq!(r.status, 200, "POST {path} {headers:?}: {}", r.text());
        }
        // Other sites, even enabled: refused.
        for headers in [
            vec![("Origin", "http://attacker.example")],
            vec![("Origin", "null")],
            vec![("Origin", "https://127.0.0.1")],
            vec![("Sec-Fetch-Site", "cross-site")],
            vec![("Sec-Fetch-Site", "same-site")],
            vec![
                ("Origin", own_origin.as_str()),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            vec![
                ("Origin", "http://attacker.example"),
                ("Content-Type", "text/plain"),
                ("Content-Length", "0"),
            ],
        ] {
            let r = http_request(&e.addr, "POST", &path, &headers);
            assert_eq!(r.status, 403, "POST {path} {headers:?}: {}", r.text());
            assert!(
                r.text().contains("cross-site"),
                "POST {path} {headers:?}: the body should say why: {:?}",
                r.text()
            );
        }
        for method in ["GET", "HEAD", "PUT", "DELETE"] {
            let r = http_request(&e.addr, method, &path, &[]);
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(
                r.headers.get("allow").map(String::as_str),
                Some("POST"),
                "{method} {path}"
            );
        }
    }
    // The last accepted action was `enable`: the plugin runs.
    e.plugin_pid(&name);
}
