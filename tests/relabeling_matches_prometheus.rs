//! `metric_relabel_configs` give the series Prometheus gives: one real Prometheus scrapes two
//! exporters running the same plugin, job `prometheus_relabels` an exporter without rules
//! (Prometheus applies them, as its own `metric_relabel_configs`), job `exporter_relabels` an
//! exporter that applies the same rules itself. The series Prometheus stores for the plugin
//! (names, labels, values) are the same in both jobs. The rules use every action, hashmod with
//! real values, `__name__`, the plugin label, a whole histogram renamed, a histogram's buckets
//! dropped and a summary's quantile dropped.
mod common;
use common::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// The plugin's batch: every type whose series the rules reshape.
const DATA: &str = r#"{"type":"metrics","families":[
{"name":"http_requests_total","type":"counter","help":"Requests.","samples":[
  {"labels":{"method":"GET","code":"200","path":"/api/users","env":"prod","instance_id":"a1","tmp_zone":"eu","noise":"x"},"value":10},
  {"labels":{"method":"POST","code":"500","path":"/api/users","env":"prod","instance_id":"b2"},"value":3},
  {"labels":{"method":"PUT","code":"201","path":"/static/x","env":"dev","instance_id":"c3","tmp_zone":"us"},"value":7},
  {"labels":{"method":"Delete","code":"404","path":"/api/items/9","env":"Stage","instance_id":"d4","noise":"y"},"value":1}]},
{"name":"queue_depth","type":"gauge","help":"Depth.","samples":[
  {"labels":{"queue":"a","mirror":"1","copy":"1"},"value":5},
  {"labels":{"queue":"b","mirror":"1","copy":"2"},"value":6},
  {"labels":{"queue":"c","dup_name":"queue_depth"},"value":7},
  {"labels":{"queue":"d","dup_name":"other"},"value":8}]},
{"name":"temp_celsius","type":"gauge","help":"Temperature.","samples":[
  {"labels":{"room":"Kitchen","instance_id":"e5"},"value":21.5},
  {"labels":{"room":"hall","instance_id":"f6"},"value":19}]},
{"name":"latency_seconds","type":"histogram","help":"Latency.","samples":[
  {"labels":{"route":"/a"},"buckets":[{"le":0.1,"count":1},{"le":1,"count":3},{"le":"+Inf","count":4}],"sum":2.5,"count":4}]},
{"name":"rpc_duration_seconds","type":"histogram","help":"RPC time.","samples":[
  {"labels":{"svc":"db","tmp_pool":"p1"},"buckets":[{"le":0.5,"count":2},{"le":"+Inf","count":5}],"sum":4,"count":5}]},
{"name":"rpc_size_bytes","type":"summary","help":"RPC size.","samples":[
  {"labels":{"svc":"db"},"quantiles":[{"quantile":0.5,"value":100},{"quantile":0.99,"value":900}],"sum":5000,"count":20}]}
]}"#;

/// The rules, as a YAML list indented for both configs. Every action appears at least once.
const RULES: &str = r#"
    - source_labels: [__name__, method]
      regex: 'http_requests_total;(.*)'
      target_label: verb
      replacement: '${1}_x'
    - source_labels: [path]
      regex: '/api/(?P<rest>[^/]*).*'
      target_label: api
      replacement: '$rest'
    - source_labels: [method]
      target_label: method_lower
      action: lowercase
    - source_labels: [env]
      target_label: env_up
      action: uppercase
    - source_labels: [instance_id]
      modulus: 8
      target_label: shard
      action: hashmod
    - source_labels: [instance_id, room]
      separator: '|'
      modulus: 1000
      target_label: shard_wide
      action: hashmod
    - regex: 'tmp_(.*)'
      replacement: 'k_$1'
      action: labelmap
    - regex: 'tmp_.*'
      action: labeldrop
    - regex: '[^n].*'
      action: labelkeep
    - source_labels: [__name__, code]
      regex: 'http_requests_total;5..'
      action: drop
    - source_labels: [__name__]
      regex: 'http_.*|queue_.*|temp_.*|latency_.*|rpc_.*|plugin_exporter_.*|up'
      action: keep
    - source_labels: [mirror]
      target_label: copy
      action: keepequal
    - source_labels: [__name__]
      target_label: dup_name
      action: dropequal
    - source_labels: [__name__]
      regex: 'latency_seconds_bucket'
      action: drop
    - source_labels: [__name__]
      regex: 'rpc_duration_seconds(.*)'
      target_label: __name__
      replacement: 'rpc_time${1}'
    - source_labels: [__name__, quantile]
      regex: 'rpc_size_bytes;0\.99'
      action: drop
    - source_labels: [plugin, room]
      regex: '(.+);(.+)'
      target_label: where
      replacement: '$2@$1'
"#;

/// The plugin's series of one job, labels (job and instance left out) to value; `None` while
/// Prometheus does not answer yet.
fn series(prom: &Prometheus, job: &str) -> Option<BTreeMap<String, String>> {
    // The exporter's own metrics are left out: Prometheus relabels them too, the exporter
    // relabels only what plugins send.
    let q = format!(r#"{{job="{job}",plugin="relabeled",__name__!~"plugin_exporter_.*"}}"#);
    let v = prom.query(&q)?;
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array()? {
        let mut labels: Vec<(String, String)> = s["metric"]
            .as_object()?
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        labels.sort();
        let key = labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(",");
        out.insert(key, s["value"][1].as_str()?.to_string());
    }
    Some(out)
}

#[test]
fn prometheus_stores_the_same_series_whoever_relabels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, format!("{}\n", DATA.replace('\n', ""))).unwrap();
    let plugin = |rules: &str| {
        format!(
            "plugins:\n- name: relabeled\n  command: [\"{}\", \"{}\"]\n{rules}",
            fixture("respond.sh"),
            data.display()
        )
    };
    let plain = Exporter::start(&plugin(""), &[]);
    // The exporter's rules: the first half on the plugin, the rest under global, which runs
    // after the plugin's own: together the same list in the same order.
    let lines: Vec<&str> = RULES.lines().filter(|l| !l.trim().is_empty()).collect();
    let split = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("- "))
        .map(|(i, _)| i)
        .nth(9)
        .expect("more than nine rules");
    let (own, global) = lines.split_at(split);
    let own = own.join("\n");
    let global = global.join("\n");
    let relabeling = Exporter::start(
        &format!(
            "global:\n  allow_root: true\n  metric_relabel_configs:\n{global}\n{}",
            plugin(&format!("  metric_relabel_configs:\n{own}\n"))
        ),
        &[],
    );

    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: prometheus_relabels\n  static_configs:\n  - targets: ['{}']\n  \
             metric_relabel_configs:\n{RULES}\n\
             - job_name: exporter_relabels\n  static_configs:\n  - targets: ['{}']\n",
            plain.addr, relabeling.addr
        ),
    )
    .unwrap();
    let check = Command::new("promtool")
        .args(["check", "config"])
        .arg(&prom_cfg)
        .output()
        .expect("promtool is installed (Debian package prometheus; scripts/test installs it)");
    assert!(
        check.status.success(),
        "Prometheus refuses the rules: {}",
        String::from_utf8_lossy(&check.stdout) + String::from_utf8_lossy(&check.stderr)
    );
    let prom_cfg_text = std::fs::read_to_string(&prom_cfg).unwrap();
    let prom = Prometheus::start(dir.path(), &prom_cfg_text, None, &[]);

    let deadline = Instant::now() + Duration::from_secs(90);
    let (theirs, ours) = loop {
        let theirs = series(&prom, "prometheus_relabels").unwrap_or_default();
        let ours = series(&prom, "exporter_relabels").unwrap_or_default();
        // Both jobs scraped (the histogram's sum is the last family): compare.
        let done =
            |m: &BTreeMap<String, String>| m.keys().any(|k| k.contains("rpc_size_bytes_sum"));
        if done(&theirs) && done(&ours) {
            break (theirs, ours);
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped both exporters: {theirs:#?} {ours:#?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        theirs, ours,
        "the series Prometheus stores differ between its relabeling and ours"
    );
    // The rules did something to each kind of series, so the comparison means something.
    let keys: Vec<&String> = ours.keys().collect();
    for wanted in [
        "verb=\"GET_x\"",
        "api=\"users\"",
        "method_lower=\"delete\"",
        "env_up=\"STAGE\"",
        "shard=",
        "shard_wide=",
        "k_zone=\"eu\"",
        "__name__=\"rpc_time_bucket\"",
        "__name__=\"latency_seconds_sum\"",
        "where=\"Kitchen@relabeled\"",
    ] {
        assert!(
            keys.iter().any(|k| k.contains(wanted)),
            "no series with {wanted}: {keys:#?}"
        );
    }
    for gone in [
        "noise=",
        "tmp_",
        "code=\"500\"",
        "latency_seconds_bucket",
        "quantile=\"0.99\"",
        "queue=\"b\"",
        "queue=\"c\"",
    ] {
        assert!(
            !keys.iter().any(|k| k.contains(gone)),
            "a series with {gone} is left: {keys:#?}"
        );
    }
    // The exporter counted what its rules dropped: the 500, the three latency buckets, the
    // 0.99 quantile, queues b and c.
    let body = relabeling.scrape();
    let dropped = value(
        &body,
        "plugin_exporter_plugin_relabel_dropped_series_total{plugin=\"relabeled\"}",
    );
    assert!(
        dropped.is_some_and(|n| n >= 7.0),
        "relabel drops not counted: {dropped:?}"
    );
}
