//! The status page (`/`) and a page per plugin (`/plugins/NAME`): plain HTML that refreshes
//! itself, with charts drawn as inline SVG, no script and no external asset. Everything a
//! plugin or its config provides (names, errors, label values, help, stderr) is escaped.

use std::fmt::Write;
use std::time::SystemTime;

use super::history::{Event, History, Point};
use super::svg::{chart, escape, human, Unit};
use crate::codes::RestartReason;
use crate::plugin::{PluginHandle, PluginStatus, State};
use crate::selfmetrics::SelfMetrics;

/// Seconds between the page's own refreshes.
const REFRESH: u32 = 15;
/// Points per chart on the overview, to keep the page small.
const OVERVIEW_POINTS: usize = 30;
/// Characters of an error shown on the overview (all of it on the plugin's page).
const ERROR_CHARS: usize = 200;

/// `s` cut to `max` characters, with an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em;color:#222}\
table{border-collapse:collapse}td,th{padding:3px 8px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}\
.ok{color:#1a7f37;font-weight:bold}.warn{color:#9a6700;font-weight:bold}.bad{color:#cf222e;font-weight:bold}\
.err{color:#cf222e;max-width:30em;word-break:break-word}svg{margin:2px}pre{background:#f6f8fa;padding:8px;overflow:auto}\
small{color:#666}";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// `12s ago`, `3m ago`, `never`.
fn ago(t: Option<f64>) -> String {
    let Some(t) = t else { return "never".into() };
    let d = (now() - t).max(0.0);
    if d < 120.0 {
        format!("{d:.0}s ago")
    } else if d < 7200.0 {
        format!("{:.0}m ago", d / 60.0)
    } else {
        format!("{:.0}h ago", d / 3600.0)
    }
}

/// How the plugin is doing, in one word, and the CSS class it shows in. A plugin that is not
/// up and has restarted is crash-looping, whether this moment finds it running or waiting.
pub fn health(s: &PluginStatus) -> (&'static str, &'static str) {
    match s.process.state {
        State::Running if s.outcome.up => ("Healthy", "ok"),
        // Running now, but it never stays up: it keeps dying.
        State::Running | State::Starting if s.process.restarts > 0 => ("Crash-looping", "bad"),
        State::Running => ("Failing", "bad"),
        State::Starting => ("Starting", "warn"),
        State::Restarting => ("Crash-looping", "bad"),
        State::Refused => ("Refused", "bad"),
        State::Disabled => ("Disabled", "warn"),
        State::Stopping | State::Stopped => ("Stopped", "warn"),
    }
}

fn head(title: &str, out: &mut String) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH}\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    );
}

fn restarts_by_reason(metrics: &SelfMetrics, name: &str) -> String {
    let parts: Vec<String> = RestartReason::ALL
        .iter()
        .filter_map(|r| {
            let n = metrics
                .restarts
                .with_label_values(&[name, r.as_str()])
                .get();
            (n > 0).then(|| format!("{} {n}", r.as_str()))
        })
        .collect();
    parts.join(", ")
}

fn memory_against_limit(s: &PluginStatus) -> String {
    let used = human(s.process.usage.memory_bytes as f64, Unit::Bytes);
    match s
        .process
        .limits
        .get("memory_bytes")
        .and_then(|m| m.as_u64())
    {
        Some(limit) => format!("{used} / {}", human(limit as f64, Unit::Bytes)),
        None => used,
    }
}

fn series_of(points: &[Point], f: impl Fn(&Point) -> f32, max: usize) -> Vec<(u32, f64)> {
    let step = points.len().div_ceil(max.max(1)).max(1);
    points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == points.len() - 1)
        .map(|(_, p)| (p.at, f64::from(f(p))))
        .collect()
}

fn charts(points: &[Point], max: usize, w: u32, h: u32, out: &mut String) {
    out.push_str(&chart(
        "collect",
        Unit::Seconds,
        &series_of(points, |p| p.collect_seconds, max),
        w,
        h,
    ));
    out.push_str(&chart(
        "series",
        Unit::Count,
        &series_of(points, |p| p.series, max),
        w,
        h,
    ));
    out.push_str(&chart(
        "memory",
        Unit::Bytes,
        &series_of(points, |p| p.memory_bytes, max),
        w,
        h,
    ));
    out.push_str(&chart(
        "cpu",
        Unit::Cores,
        &series_of(points, |p| p.cpu_cores, max),
        w,
        h,
    ));
}

fn events_table(events: &[Event], limit: usize, out: &mut String) {
    if events.is_empty() {
        out.push_str("<p><small>No events yet.</small></p>\n");
        return;
    }
    out.push_str("<table><tr><th>When</th><th>Plugin</th><th>Event</th><th>Count</th></tr>\n");
    for e in events.iter().take(limit) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ago(Some(f64::from(e.at))),
            if e.plugin.is_empty() {
                "(exporter)".to_string()
            } else {
                escape(&e.plugin)
            },
            escape(&e.what),
            e.count
        );
    }
    out.push_str("</table>\n");
}

/// The sandbox summary, with the package and its signature status when there is one.
fn package_line(p: &crate::plugin::supervisor::Status) -> String {
    match &p.package {
        Some(pkg) => format!(
            "{}; package {} {} ({})",
            p.sandbox_summary(),
            pkg["name"].as_str().unwrap_or(""),
            pkg["version"].as_str().unwrap_or(""),
            pkg["signature"].as_str().unwrap_or("")
        ),
        None => p.sandbox_summary(),
    }
}

/// The status page: every plugin's state and figures, its last hour, and recent events.
pub fn overview(
    plugins: &[PluginHandle],
    metrics: &SelfMetrics,
    history: &History,
    telemetry_path: &str,
) -> String {
    let mut out = String::with_capacity(32 * 1024);
    head("plugin-exporter", &mut out);
    let statuses: Vec<PluginStatus> = plugins.iter().map(|p| p.status()).collect();
    let healthy = statuses.iter().filter(|s| health(s).1 == "ok").count();
    let _ = write!(
        out,
        "<h1>plugin-exporter</h1>\n<p>Version {} (revision {}) · {healthy} of {} plugins healthy · \
         <a href=\"{}\">Metrics</a> · <a href=\"/api/v1/plugins\">Plugins (JSON)</a> · \
         <a href=\"/api/v1/metrics\">Metrics (JSON)</a> · <a href=\"/api/v1/dashboards/grafana\">Grafana dashboard</a> · \
         <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></p>\n",
        escape(crate::VERSION),
        escape(crate::REVISION),
        statuses.len(),
        escape(telemetry_path),
    );
    out.push_str(
        "<table><tr><th>Plugin</th><th>State</th><th>Mode</th><th>Last collect</th><th>Series</th>\
         <th>Restarts</th><th>Memory</th><th>CPU</th><th>Last error</th><th>Sandbox</th><th>Last hour</th></tr>\n",
    );
    for s in &statuses {
        let p = &s.process;
        let (word, class) = health(s);
        let points = history.points(&p.name);
        let mut svgs = String::new();
        charts(&points, OVERVIEW_POINTS, 110, 34, &mut svgs);
        let _ = writeln!(
            out,
            "<tr id=\"plugin-{name}\"><td><a href=\"/plugins/{name}\">{name}</a></td>\
             <td class=\"{class}\" data-state=\"{word}\">{word}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td class=\"err\">{}</td><td><small>{}</small></td><td>{svgs}</td></tr>",
            p.mode,
            ago(s.outcome.last_success_timestamp),
            s.outcome.series,
            p.restarts,
            escape(&restarts_by_reason(metrics, &p.name)),
            escape(&memory_against_limit(s)),
            human(p.usage.cpu_seconds, Unit::Seconds),
            escape(&cut(p.last_error.as_deref().unwrap_or(""), ERROR_CHARS)),
            escape(&package_line(p)),
            name = escape(&p.name),
        );
    }
    out.push_str("</table>\n<h2>Recent events</h2>\n");
    events_table(&history.events(None), 20, &mut out);
    out.push_str("</body></html>\n");
    out
}

/// A value of the plugin's `config` shown on its page: hidden when its key names a secret.
fn shown_config(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let secret = ["pass", "secret", "token", "key", "credential", "auth"]
                        .iter()
                        .any(|w| k.to_ascii_lowercase().contains(w));
                    let v = if secret {
                        serde_json::json!("<hidden>")
                    } else {
                        shown_config(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(shown_config).collect())
        }
        other => other.clone(),
    }
}

/// A plugin's page: its configuration (secrets hidden), families, last hour, events and the
/// last lines of its stderr.
pub fn plugin_page(p: &PluginHandle, metrics: &SelfMetrics, history: &History) -> String {
    let s = p.status();
    let cfg = p.config();
    let name = escape(&s.process.name);
    let (word, class) = health(&s);
    let mut out = String::with_capacity(32 * 1024);
    head(&format!("{} · plugin-exporter", s.process.name), &mut out);
    let _ = writeln!(
        out,
        "<p><a href=\"/\">← all plugins</a></p><h1>{name}</h1>\n\
         <p>State: <span class=\"{class}\" data-state=\"{word}\">{word}</span> · last collect {} · {} series · \
         restarts {} <small>{}</small></p>",
        ago(s.outcome.last_success_timestamp),
        s.outcome.series,
        s.process.restarts,
        escape(&restarts_by_reason(metrics, &s.process.name)),
    );
    if let Some(e) = &s.process.last_error {
        let _ = writeln!(
            out,
            "<p>Last error: <span class=\"err\">{}</span></p>",
            escape(e)
        );
    }
    out.push_str("<h2>Last hour</h2>\n<p>");
    charts(&history.points(&s.process.name), 120, 300, 90, &mut out);
    out.push_str("</p>\n<h2>Configuration</h2>\n<table>\n");
    let env: Vec<&str> = cfg.env.iter().map(|(n, _)| n.as_str()).collect();
    let config = serde_json::to_string_pretty(&shown_config(&cfg.config)).unwrap_or_default();
    let rows = [
        ("command", cfg.command.join(" ")),
        ("mode", s.process.mode.to_string()),
        ("format", s.process.format.to_string()),
        ("interval", format!("{:?}", cfg.interval)),
        ("timeout", format!("{:?}", cfg.timeout)),
        ("limits", s.process.limits.to_string()),
        ("memory", memory_against_limit(&s)),
        (
            "user",
            cfg.run_as
                .as_ref()
                .map(|r| format!("{r:?}"))
                .unwrap_or_else(|| "(exporter's)".into()),
        ),
        ("sandbox", s.process.sandbox_summary()),
        ("env (values hidden)", env.join(", ")),
        ("relabel rules", cfg.relabel.len().to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    let _ = writeln!(
        out,
        "<tr><th>config</th><td><pre>{}</pre></td></tr></table>",
        escape(&config)
    );
    out.push_str("<h2>Families</h2>\n");
    if s.outcome.families.is_empty() {
        out.push_str("<p><small>None yet.</small></p>\n");
    } else {
        out.push_str("<table><tr><th>Family</th><th>Type</th><th>Unit</th><th>Series</th><th>Help</th></tr>\n");
        for f in &s.outcome.families {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&f.name),
                f.kind.as_str(),
                escape(f.unit.as_deref().unwrap_or("")),
                f.series,
                escape(&f.help)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Events</h2>\n");
    events_table(&history.events(Some(&s.process.name)), 50, &mut out);
    out.push_str("<h2>Last stderr lines</h2>\n<pre>");
    for line in crate::plugin::stderr::tail(&s.process.name) {
        out.push_str(&escape(&line));
        out.push('\n');
    }
    out.push_str("</pre>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overview_row_with_a_full_hour_stays_small_enough_for_twenty_plugins() {
        let points: Vec<Point> = (0..super::super::history::POINTS as u32)
            .map(|i| Point {
                at: 1_800_000_000 + i * 30,
                collect_seconds: 0.123_456 + i as f32,
                series: 123_456.0 + i as f32,
                memory_bytes: 1.5e9 + i as f32 * 1e6,
                cpu_cores: 0.987_654,
            })
            .collect();
        let mut svgs = String::new();
        charts(&points, OVERVIEW_POINTS, 110, 34, &mut svgs);
        // The rest of a row: names, figures, a cut error of 200 characters (escaped, at most
        // 6 bytes each), the sandbox summary.
        let row = svgs.len() + 600 + ERROR_CHARS * 6 + 200;
        let page = 20 * row + 6_000;
        assert!(
            page < 100_000,
            "{page} bytes for 20 plugins ({} of charts a row)",
            svgs.len()
        );
        assert_eq!(cut("abcdef", 3), "abc…");
    }
}
