//! Reloads (POST /-/reload, SIGHUP, --config.watch) restart only the plugins whose
//! configuration changed; untouched plugins keep their process and their series, and no
//! scrape fails during a reload. A bad configuration changes nothing.
mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn line(name: &str) -> String {
    format!(
        "{{\"type\":\"metrics\",\"families\":[{{\"name\":\"{name}\",\"type\":\"gauge\",\"help\":\"A value.\",\"samples\":[{{\"value\":1}}]}}]}}\n"
    )
}

struct Plugins {
    dir: tempfile::TempDir,
}

impl Plugins {
    fn new(names: &[&str]) -> Plugins {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            std::fs::write(
                dir.path().join(n),
                line(&format!("{}_value", n.replace('-', "_"))),
            )
            .unwrap();
        }
        Plugins { dir }
    }
    /// One plugin entry: `name` runs respond.sh on its data file.
    fn entry(&self, name: &str, data: &str, extra: &str) -> String {
        format!(
            "  - {{name: {name}, command: [\"{}\", \"{}\"]{extra}}}\n",
            fixture("respond.sh"),
            self.dir.path().join(data).display()
        )
    }
}

fn config(entries: &[String]) -> String {
    format!(
        "global:\n  allow_root: true\nplugins:\n{}",
        entries.concat()
    )
}

#[test]
fn reload_restarts_only_what_changed_and_no_scrape_fails() {
    let data = Plugins::new(&["keep", "change", "remove", "add"]);
    let (keep, change, remove, add) = (
        unique("keep"),
        unique("change"),
        unique("remove"),
        unique("add"),
    );
    let first = config(&[
        data.entry(&keep, "keep", ""),
        data.entry(&change, "change", ", timeout: 3s"),
        data.entry(&remove, "remove", ""),
    ]);
    let e = Exporter::start(&first, &["--web.enable-lifecycle"]);
    let cfg_path = e.dir.path().join("config.yml");
    let keep_series = format!("keep_value{{plugin=\"{keep}\"}}");
    e.scrape_until(Duration::from_secs(20), |b| {
        value(b, &keep_series).is_some()
            && b.contains(&format!("change_value{{plugin=\"{change}\"}}"))
            && b.contains(&format!("remove_value{{plugin=\"{remove}\"}}"))
    });
    let (keep_pid, change_pid) = (e.plugin_pid(&keep), e.plugin_pid(&change));

    // A scraper hits /metrics back to back for the whole reload.
    let stop = Arc::new(AtomicBool::new(false));
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let scrapes = Arc::new(Mutex::new(0u32));
    let scraper = {
        let (addr, stop, problems, scrapes, keep_series) = (
            e.addr.clone(),
            stop.clone(),
            problems.clone(),
            scrapes.clone(),
            keep_series.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let r = http_get(&addr, "/metrics", &[]);
                *scrapes.lock().unwrap() += 1;
                if r.status != 200 {
                    problems
                        .lock()
                        .unwrap()
                        .push(format!("status {}", r.status));
                } else if value(&r.text(), &keep_series).is_none() {
                    problems
                        .lock()
                        .unwrap()
                        .push("untouched plugin's series missing".into());
                }
            }
        })
    };
    let scraped = |n: u32| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while *scrapes.lock().unwrap() < n {
            assert!(Instant::now() < deadline, "the scraper stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    scraped(5);
    let second = config(&[
        data.entry(&keep, "keep", ""),
        data.entry(&change, "change", ", timeout: 4s"),
        data.entry(&add, "add", ""),
    ]);
    std::fs::write(&cfg_path, second).unwrap();
    let r = http_request(&e.addr, "POST", "/-/reload", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = e.scrape_until(Duration::from_secs(20), |b| {
        b.contains(&format!("add_value{{plugin=\"{add}\"}}"))
            && b.contains(&format!("change_value{{plugin=\"{change}\"}}"))
    });
    let after = *scrapes.lock().unwrap();
    scraped(after + 5);
    stop.store(true, Ordering::Relaxed);
    scraper.join().unwrap();
    assert_eq!(problems.lock().unwrap().clone(), Vec::<String>::new());
    assert!(
        !body.contains(&format!("plugin=\"{remove}\"")),
        "removed plugin still served:\n{body}"
    );
    assert_eq!(
        e.plugin_pid(&keep),
        keep_pid,
        "the untouched plugin was restarted"
    );
    assert_ne!(
        e.plugin_pid(&change),
        change_pid,
        "the changed plugin kept its process"
    );
    wait_no_plugin_processes(&remove, Duration::from_secs(10));
    assert_eq!(
        value(&body, "plugin_exporter_config_last_reload_successful"),
        Some(1.0)
    );
}

#[test]
fn a_bad_config_on_reload_changes_nothing_and_is_reported() {
    let data = Plugins::new(&["steady", "extra"]);
    let (steady, extra) = (unique("steady"), unique("extra"));
    let e = Exporter::start(
        &config(&[data.entry(&steady, "steady", "")]),
        &["--web.enable-lifecycle"],
    );
    let cfg_path = e.dir.path().join("config.yml");
    let series = format!("steady_value{{plugin=\"{steady}\"}}");
    e.scrape_until(Duration::from_secs(20), |b| value(b, &series).is_some());
    let pid = e.plugin_pid(&steady);

    // Duplicate names: refused, with the file and line.
    let bad = config(&[
        data.entry(&steady, "steady", ""),
        data.entry(&steady, "steady", ""),
    ]);
    std::fs::write(&cfg_path, bad).unwrap();
    let r = http_request(&e.addr, "POST", "/-/reload", &[]);
    assert_eq!(r.status, 500);
    assert!(r.text().contains("config.yml:5"), "{}", r.text());
    let body = e.scrape();
    assert_eq!(
        value(&body, "plugin_exporter_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(value(&body, &series), Some(1.0));
    assert_eq!(e.plugin_pid(&steady), pid);

    // SIGHUP with a good file applies it.
    std::fs::write(
        &cfg_path,
        config(&[
            data.entry(&steady, "steady", ""),
            data.entry(&extra, "extra", ""),
        ]),
    )
    .unwrap();
    e.signal(libc::SIGHUP);
    let body = e.scrape_until(Duration::from_secs(20), |b| {
        b.contains(&format!("extra_value{{plugin=\"{extra}\"}}"))
    });
    assert_eq!(
        value(&body, "plugin_exporter_config_last_reload_successful"),
        Some(1.0)
    );
    assert_eq!(e.plugin_pid(&steady), pid);
}

#[test]
fn config_watch_reloads_when_the_file_is_replaced_by_rename() {
    let data = Plugins::new(&["watched", "arrived"]);
    let (watched, arrived) = (unique("watched"), unique("arrived"));
    let e = Exporter::start(
        &config(&[data.entry(&watched, "watched", "")]),
        &["--config.watch"],
    );
    let cfg_path = e.dir.path().join("config.yml");
    e.plugin_pid(&watched);
    // Editors and Kubernetes ConfigMaps replace the file by rename.
    let tmp = e.dir.path().join(".config.yml.tmp");
    std::fs::write(
        &tmp,
        config(&[
            data.entry(&watched, "watched", ""),
            data.entry(&arrived, "arrived", ""),
        ]),
    )
    .unwrap();
    let t = Instant::now();
    std::fs::rename(&tmp, &cfg_path).unwrap();
    e.scrape_until(Duration::from_secs(20), |b| {
        b.contains(&format!("arrived_value{{plugin=\"{arrived}\"}}"))
    });
    assert!(t.elapsed() < Duration::from_secs(20));
}

#[test]
fn relabel_rules_change_on_reload_and_a_bad_one_changes_nothing() {
    let data = Plugins::new(&["shaped"]);
    let shaped = unique("shaped");
    let e = Exporter::start(
        &config(&[data.entry(&shaped, "shaped", "")]),
        &["--web.enable-lifecycle"],
    );
    let cfg_path = e.dir.path().join("config.yml");
    let plain = format!("shaped_value{{plugin=\"{shaped}\"}}");
    e.scrape_until(Duration::from_secs(20), |b| value(b, &plain).is_some());

    // A rule added on reload reshapes the next batches.
    let rule = ", metric_relabel_configs: [{target_label: site, replacement: lab}]";
    std::fs::write(&cfg_path, config(&[data.entry(&shaped, "shaped", rule)])).unwrap();
    let r = http_request(&e.addr, "POST", "/-/reload", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let relabeled = format!("shaped_value{{site=\"lab\",plugin=\"{shaped}\"}}");
    e.scrape_until(Duration::from_secs(20), |b| value(b, &relabeled).is_some());

    // A rule with a bad regex: refused with file and line, the running rules stay.
    let bad = ", metric_relabel_configs: [{source_labels: [a], regex: '(', action: drop}]";
    std::fs::write(&cfg_path, config(&[data.entry(&shaped, "shaped", bad)])).unwrap();
    let r = http_request(&e.addr, "POST", "/-/reload", &[]);
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("config.yml:4") && r.text().contains("invalid regex"),
        "{}",
        r.text()
    );
    let body = e.scrape();
    assert_eq!(value(&body, &relabeled), Some(1.0), "{body}");
}
