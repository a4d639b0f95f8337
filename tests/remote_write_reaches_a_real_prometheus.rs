//! `remote_write` against a real Prometheus (`--web.enable-remote-write-receiver`) that
//! scrapes nothing: every series arrives with its value, the external labels and a collect
//! time stamp; a receiver stopped for 30 s and started again gets every sample that waited;
//! a destination answering 400 is not retried (the drops are counted), one answering 500 is,
//! and neither slows scrapes.
mod common;
use common::*;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// `result` of an instant query, `None` while Prometheus does not answer.
fn query(prom: &Prometheus, q: &str) -> Option<Vec<serde_json::Value>> {
    prom.query(q)?["data"]["result"].as_array().cloned()
}

/// A Prometheus that scrapes nothing and takes remote writes, on `addr`.
fn start_prometheus(dir: &std::path::Path, addr: &str) -> Prometheus {
    Prometheus::start(
        dir,
        "global:\n  scrape_interval: 15s\n",
        Some(addr),
        &["--web.enable-remote-write-receiver"],
    )
}

/// A plugin whose `seq_value` counts its collects, beside fixed series of every shape.
fn counting_plugin(dir: &std::path::Path) -> String {
    let path = dir.join("count.sh");
    std::fs::write(
        &path,
        r#"#!/bin/sh
n=0
while IFS= read -r line; do
  case "$line" in
    '{"type":"collect"'*)
      n=$((n+1))
      printf '{"type":"metrics","families":[{"name":"seq_value","type":"gauge","help":"Collects.","samples":[{"value":%d}]},{"name":"answer_value","type":"gauge","help":"A.","samples":[{"labels":{"q":"life"},"value":42}]},{"name":"lat_seconds","type":"histogram","help":"L.","samples":[{"buckets":[{"le":0.5,"count":1},{"le":"+Inf","count":3}],"sum":2,"count":3}]}]}\n' "$n" ;;
    '{"type":"shutdown"'*) exit 0 ;;
  esac
done
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn every_series_arrives_and_an_outage_loses_nothing_that_fits_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let prom = start_prometheus(dir.path(), &prom_addr);
    let name = unique("pushed");
    let cfg = format!(
        "global:\n  allow_root: true\n  remote_write_interval: 1s\n  external_labels: {{site: lab}}\n\
         plugins:\n- {{name: {name}, command: [\"{}\"]}}\n\
         remote_write:\n- url: http://{prom_addr}/api/v1/write\n  name: local\n  \
         queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}\n",
        counting_plugin(dir.path())
    );
    let e = Exporter::start(&cfg, &[]);

    // Everything a scrape serves arrives, with the external label and a collect-time stamp.
    let deadline = Instant::now() + Duration::from_secs(90);
    let series = format!(r#"answer_value{{plugin="{name}",q="life",site="lab"}}"#);
    loop {
        if let Some(r) = query(&prom, &series) {
            if let Some(v) = r.first() {
                assert_eq!(v["value"][1], "42");
                let ts = v["value"][0].as_f64().unwrap();
                assert!((now_secs() - ts).abs() < 30.0, "stamped {ts}");
                break;
            }
        }
        assert!(Instant::now() < deadline, "the series never arrived");
        std::thread::sleep(Duration::from_millis(250));
    }
    let buckets = query(&prom, &format!(r#"lat_seconds_bucket{{plugin="{name}"}}"#)).unwrap();
    let mut les: Vec<String> = buckets
        .iter()
        .map(|b| b["metric"]["le"].as_str().unwrap().to_string())
        .collect();
    les.sort();
    assert_eq!(les, ["+Inf", "0.5"]);
    let own = query(
        &prom,
        &format!(r#"plugin_exporter_plugin_up{{plugin="{name}"}}"#),
    )
    .unwrap();
    assert_eq!(own.len(), 1, "the exporter's own metrics go too");

    // The receiver goes away for 30 s, then comes back on the same storage.
    drop(prom);
    let down_from = now_secs();
    // Meanwhile the exporter keeps serving scrapes, and retries.
    let until = Instant::now() + Duration::from_secs(30);
    let mut retried = false;
    while Instant::now() < until {
        let b = e.scrape();
        assert!(b.contains(&format!("seq_value{{plugin=\"{name}\"}}")));
        retried |= b.lines().any(|l| {
            l.starts_with(
                "plugin_exporter_remote_storage_samples_retried_total{remote_name=\"local\"",
            ) && !l.ends_with(" 0")
        });
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(retried, "no retry counted while the receiver was down");
    let down_to = now_secs();
    let prom = start_prometheus(dir.path(), &prom_addr);

    // Every collect's sample of the outage arrives: no gap over 2.5 s in seq_value.
    let deadline = Instant::now() + Duration::from_secs(90);
    let window = (now_secs() - down_from + 20.0).ceil() as u64;
    let q = format!(r#"seq_value{{plugin="{name}"}}[{window}s]"#);
    let (times, values) = loop {
        let got = query(&prom, &q).and_then(|r| r.first().cloned());
        if let Some(s) = got {
            let pts: Vec<(f64, f64)> = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap(),
                        p[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            let after = pts.iter().any(|(t, _)| *t > down_to + 3.0);
            if after {
                break pts.into_iter().unzip::<f64, f64, Vec<f64>, Vec<f64>>();
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never got samples after the outage"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let during = times
        .iter()
        .filter(|t| **t > down_from && **t < down_to)
        .count();
    assert!(
        during as f64 >= (down_to - down_from) - 3.0,
        "{during} samples over a {:.0} s outage: {times:?}",
        down_to - down_from
    );
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] < 2.5,
            "a gap from {} to {}: {times:?}",
            w[0],
            w[1]
        );
    }
    for w in values.windows(2) {
        assert!(w[1] >= w[0], "samples out of order: {values:?}");
    }
    let body = e.scrape();
    let dropped = value(
        &body,
        &format!("plugin_exporter_remote_storage_samples_dropped_total{{reason=\"queue_full\",remote_name=\"local\",url=\"http://{prom_addr}/api/v1/write\"}}"),
    );
    assert_eq!(dropped, Some(0.0), "nothing dropped while it fit the queue");
}

/// A receiver answering every request with `status`; returns its address and the bodies it
/// got.
fn fixed_receiver(status: u16) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || loop {
                // Headers, then Content-Length bytes of body.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                let mut body = vec![0u8; len];
                if s.read_exact(&mut body).is_err() {
                    return;
                }
                seen.lock().unwrap().push(body);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 4\r\ncontent-type: text/plain\r\n\r\nnope"
                );
                if s.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            });
        }
    });
    (addr, bodies)
}

#[test]
fn a_400_is_dropped_and_counted_a_500_is_retried_and_neither_slows_scrapes() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, bad_bodies) = fixed_receiver(400);
    let (down, down_bodies) = fixed_receiver(500);
    let closed = format!("127.0.0.1:{}", free_port());
    let name = unique("refused");
    let cfg = format!(
        "global:\n  allow_root: true\n  remote_write_interval: 500ms\n\
         plugins:\n- {{name: {name}, command: [\"{}\"]}}\n\
         remote_write:\n\
         - {{url: 'http://{bad}/write', name: bad, queue_config: {{batch_send_deadline: 100ms}}}}\n\
         - {{url: 'http://{down}/write', name: down, queue_config: {{batch_send_deadline: 100ms, min_backoff: 50ms, max_backoff: 200ms}}}}\n\
         - {{url: 'http://{closed}/write', name: closed, remote_timeout: 1s}}\n",
        counting_plugin(dir.path())
    );
    let e = Exporter::start(&cfg, &[]);
    let failed = format!(
        "plugin_exporter_remote_storage_samples_failed_total{{remote_name=\"bad\",url=\"http://{bad}/write\"}}"
    );
    let http_4xx = format!(
        "plugin_exporter_remote_storage_samples_dropped_total{{reason=\"http_4xx\",remote_name=\"bad\",url=\"http://{bad}/write\"}}"
    );
    let retried = format!(
        "plugin_exporter_remote_storage_samples_retried_total{{remote_name=\"down\",url=\"http://{down}/write\"}}"
    );
    let started = Instant::now();
    let body = e.scrape_until(Duration::from_secs(30), |b| {
        value(b, &failed).is_some_and(|v| v > 0.0)
            && value(b, &retried).is_some_and(|v| v > 0.0)
            && down_bodies.lock().unwrap().len() >= 5
    });
    assert_eq!(value(&body, &failed), value(&body, &http_4xx));
    // The 400 receiver never saw the same request twice; the 500 one saw retries.
    let bad_seen = bad_bodies.lock().unwrap().clone();
    let distinct: HashSet<&Vec<u8>> = bad_seen.iter().collect();
    assert_eq!(distinct.len(), bad_seen.len(), "a 400 was retried");
    let down_seen = down_bodies.lock().unwrap().clone();
    let distinct: HashSet<&Vec<u8>> = down_seen.iter().collect();
    assert!(distinct.len() < down_seen.len(), "a 500 was not retried");
    // Scrapes stay quick with one destination refusing, one failing and one unreachable.
    for _ in 0..5 {
        let t = Instant::now();
        let b = e.scrape();
        assert!(b.contains(&format!("seq_value{{plugin=\"{name}\"}}")));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a scrape took {:?}",
            t.elapsed()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}
