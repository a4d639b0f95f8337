//! Scrape, interval and push modes each serve their plugin's series, with the plugin label.
mod common;
use common::*;
use std::time::{Duration, Instant};

fn metrics_line(name: &str, value: f64) -> String {
    format!(
        "{{\"type\":\"metrics\",\"families\":[{{\"name\":\"{name}\",\"type\":\"gauge\",\"help\":\"Test value.\",\"samples\":[{{\"labels\":{{\"k\":\"v\"}},\"value\":{value}}}]}}]}}\n"
    )
}

#[test]
fn scrape_interval_and_push_plugins_are_all_served() {
    let dir = tempfile::tempdir().unwrap();
    let (s, i, p) = (unique("scr"), unique("int"), unique("psh"));
    for (n, v) in [(&s, 1.0), (&i, 2.0), (&p, 3.0)] {
        std::fs::write(
            dir.path().join(n),
            metrics_line(&format!("mode_{}", &n[..3]), v),
        )
        .unwrap();
    }
    let d = dir.path().display();
    let cfg = format!(
        "plugins:\n\
         - {{name: {s}, command: [\"{r}\", \"{d}/{s}\"], mode: scrape}}\n\
         - {{name: {i}, command: [\"{r}\", \"{d}/{i}\"], mode: interval, interval: 1s}}\n\
         - {{name: {p}, command: [\"{push}\", \"{d}/{p}\"], mode: push, interval: 1s}}\n",
        r = fixture("respond.sh"),
        push = fixture("push.sh"),
    );
    let e = Exporter::start(&cfg, &[]);
    let body = e.scrape_until(Duration::from_secs(20), |b| {
        value(b, &format!("mode_int{{k=\"v\",plugin=\"{i}\"}}")).is_some()
            && value(b, &format!("mode_psh{{k=\"v\",plugin=\"{p}\"}}")).is_some()
    });
    assert_eq!(
        value(&body, &format!("mode_scr{{k=\"v\",plugin=\"{s}\"}}")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&body, &format!("mode_int{{k=\"v\",plugin=\"{i}\"}}")),
        Some(2.0)
    );
    assert_eq!(
        value(&body, &format!("mode_psh{{k=\"v\",plugin=\"{p}\"}}")),
        Some(3.0)
    );
    for n in [&s, &i, &p] {
        assert_eq!(
            value(
                &body,
                &format!("plugin_exporter_plugin_up{{plugin=\"{n}\"}}")
            ),
            Some(1.0),
            "{n} not up:\n{body}"
        );
    }
}

#[test]
fn scrape_mode_collects_anew_on_every_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("fresh");
    let data = dir.path().join("data");
    std::fs::write(&data, metrics_line("fresh_value", 1.0)).unwrap();
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"]}}\n",
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, &[]);
    let series = format!("fresh_value{{k=\"v\",plugin=\"{name}\"}}");
    let body = e.scrape_until(Duration::from_secs(20), |b| value(b, &series).is_some());
    assert_eq!(value(&body, &series), Some(1.0));
    std::fs::write(&data, metrics_line("fresh_value", 2.0)).unwrap();
    // No waiting: the very next scrape asks the plugin again.
    assert_eq!(value(&e.scrape(), &series), Some(2.0));
}

#[test]
fn interval_mode_serves_its_cache_between_collects() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("cache");
    let data = dir.path().join("data");
    std::fs::write(&data, metrics_line("cached_value", 1.0)).unwrap();
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"], mode: interval, interval: 1h}}\n",
        fixture("respond.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, &[]);
    let series = format!("cached_value{{k=\"v\",plugin=\"{name}\"}}");
    e.scrape_until(Duration::from_secs(20), |b| value(b, &series).is_some());
    std::fs::write(&data, metrics_line("cached_value", 2.0)).unwrap();
    for _ in 0..3 {
        assert_eq!(
            value(&e.scrape(), &series),
            Some(1.0),
            "served a fresh value, not the cache"
        );
    }
}

#[test]
fn push_mode_replaces_the_plugins_series_on_each_push() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("pushy");
    let data = dir.path().join("data");
    std::fs::write(&data, metrics_line("first_push", 1.0)).unwrap();
    let cfg = format!(
        "plugins:\n- {{name: {name}, command: [\"{}\", \"{}\"], mode: push}}\n",
        fixture("push.sh"),
        data.display()
    );
    let e = Exporter::start(&cfg, &[]);
    let first = format!("first_push{{k=\"v\",plugin=\"{name}\"}}");
    let second = format!("second_push{{k=\"v\",plugin=\"{name}\"}}");
    e.scrape_until(Duration::from_secs(20), |b| value(b, &first).is_some());
    let start = Instant::now();
    std::fs::write(&data, metrics_line("second_push", 2.0)).unwrap();
    let body = e.scrape_until(Duration::from_secs(20), |b| value(b, &second).is_some());
    assert!(
        value(&body, &first).is_none(),
        "old push still served:\n{body}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
}
