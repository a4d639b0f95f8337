//! A Grafana dashboard (the JSON model Grafana imports: `schemaVersion`, `panels` with
//! `gridPos`, `templating` with `datasource`, `job` and `instance` variables) built from the
//! live catalog: an overview row of the exporter's own health, then a row per plugin with a
//! panel per family. Ids and the uid are derived from names, so importing again updates the
//! same dashboard and the same panels.

use serde_json::{json, Value};

use crate::exposition::model::MetricType;
use crate::plugin::FamilyInfo;

/// The dashboard's uid (stable: re-importing replaces the dashboard).
pub const UID: &str = "plugin-exporter";

/// One plugin's part of the catalog.
pub struct PluginCatalog {
    /// Plugin name.
    pub name: String,
    /// Its families from the last successful collect.
    pub families: Vec<FamilyInfo>,
    /// Panels its package ships (Grafana panel JSON), placed in its row.
    pub panels: Vec<Value>,
}

/// The selector every query of a plugin's panel carries.
fn selector(plugin_label: &str, plugin: &str) -> String {
    let mut s = String::from("job=~\"$job\",instance=~\"$instance\"");
    if !plugin_label.is_empty() {
        s.push_str(&format!(
            ",{plugin_label}=\"{}\"",
            plugin.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    s
}

/// Grafana's unit for a family, from its unit or its name's suffix.
fn unit(f: &FamilyInfo) -> &'static str {
    let name = f.name.strip_suffix("_total").unwrap_or(&f.name);
    let u = f
        .unit
        .as_deref()
        .unwrap_or_else(|| name.rsplit('_').next().unwrap_or(""));
    match u {
        "seconds" => "s",
        "bytes" => "bytes",
        "ratio" => "percentunit",
        "celsius" => "celsius",
        "percent" => "percent",
        _ => "short",
    }
}

/// A stable panel id from a key (FNV-1a, kept within what Grafana takes).
fn panel_id(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % 1_000_000_000 + 1
}

fn target(expr: String, legend: &str, refid: &str) -> Value {
    json!({"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": expr,
           "legendFormat": legend, "refId": refid})
}

/// Where a panel goes on the grid.
struct At {
    x: u64,
    y: u64,
}

/// A panel: stable id from `key`, Grafana `kind`, unit, queries.
fn panel(
    key: &str,
    title: &str,
    description: &str,
    kind: &str,
    unit: &str,
    targets: Vec<Value>,
    at: At,
) -> Value {
    json!({
        "id": panel_id(key), "type": kind, "title": title, "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": at.x, "y": at.y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {}, "targets": targets,
    })
}

fn row(key: &str, title: &str, y: u64) -> Value {
    json!({"id": panel_id(key), "type": "row", "title": title, "collapsed": false,
           "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
}

/// The panels of one family: counters as rates, gauges as values, histograms as quantiles
/// and a heatmap, summaries by quantile.
fn family_panels(
    plugin: &str,
    plugin_label: &str,
    f: &FamilyInfo,
) -> Vec<(String, String, &'static str, Vec<Value>)> {
    let sel = selector(plugin_label, plugin);
    let name = &f.name;
    let key = format!("{plugin}/{name}");
    match f.kind {
        MetricType::Counter => vec![(
            key,
            format!("{name} (per second)"),
            "timeseries",
            vec![target(
                format!("rate({name}{{{sel}}}[$__rate_interval])"),
                "",
                "A",
            )],
        )],
        MetricType::Histogram => {
            let q = |p: f64, r: &str| {
                target(
                format!("histogram_quantile({p}, sum by (le) (rate({name}_bucket{{{sel}}}[$__rate_interval])))"),
                &format!("p{}", (p * 100.0) as u32), r)
            };
            vec![
                (
                    key.clone(),
                    format!("{name} quantiles"),
                    "timeseries",
                    vec![q(0.5, "A"), q(0.9, "B"), q(0.99, "C")],
                ),
                (
                    format!("{key}/heatmap"),
                    format!("{name} heatmap"),
                    "heatmap",
                    vec![
                        json!({"datasource": {"type": "prometheus", "uid": "${datasource}"},
                        "expr": format!("sum by (le) (rate({name}_bucket{{{sel}}}[$__rate_interval]))"),
                        "format": "heatmap", "legendFormat": "{{le}}", "refId": "A"}),
                    ],
                ),
            ]
        }
        MetricType::Summary => vec![(
            key,
            format!("{name} by quantile"),
            "timeseries",
            vec![target(format!("{name}{{{sel}}}"), "{{quantile}}", "A")],
        )],
        MetricType::GaugeHistogram => vec![(
            key,
            format!("{name} buckets"),
            "timeseries",
            vec![target(format!("{name}_bucket{{{sel}}}"), "{{le}}", "A")],
        )],
        _ => vec![(
            key,
            name.clone(),
            "timeseries",
            vec![target(format!("{name}{{{sel}}}"), "", "A")],
        )],
    }
}

/// The dashboard for `plugins` (all of them, or the one asked for).
pub fn dashboard(plugins: &[PluginCatalog], plugin_label: &str) -> Value {
    let mut panels = Vec::new();
    let mut y = 0;
    panels.push(row("overview", "Overview", y));
    y += 1;
    let own = "job=~\"$job\",instance=~\"$instance\"";
    let overview: Vec<(&str, &str, &str, &str, Vec<Value>)> = vec![
        ("overview/up", "Plugins up", "1 when the plugin's last collect succeeded.", "short",
            vec![target(format!("plugin_exporter_plugin_up{{{own}}}"), "{{plugin}}", "A")]),
        ("overview/restarts", "Restarts by reason", "Restarts of plugin processes, per second.", "short",
            vec![target(format!("sum by (plugin, reason) (rate(plugin_exporter_plugin_restarts_total{{{own}}}[$__rate_interval]))"), "{{plugin}} {{reason}}", "A")]),
        ("overview/errors", "Errors by kind", "Errors and dropped series, per second.", "short",
            vec![target(format!("sum by (plugin, kind) (rate(plugin_exporter_plugin_errors_total{{{own}}}[$__rate_interval]))"), "{{plugin}} {{kind}}", "A")]),
        ("overview/duration", "Collect duration", "Duration of each plugin's last collect.", "s",
            vec![target(format!("plugin_exporter_plugin_collect_duration_seconds{{{own}}}"), "{{plugin}}", "A")]),
        ("overview/memory", "Memory against limit", "Memory of each plugin's process tree; limit hits show where it was held.", "bytes",
            vec![target(format!("plugin_exporter_plugin_memory_bytes{{{own}}}"), "{{plugin}}", "A"),
                 target(format!("sum by (plugin) (rate(plugin_exporter_plugin_limit_hits_total{{{own},limit=\"memory\"}}[$__rate_interval]))"), "{{plugin}} limit hits/s", "B")]),
        ("overview/cpu", "CPU", "CPU of each plugin's process tree, in cores.", "short",
            vec![target(format!("rate(plugin_exporter_plugin_cpu_seconds_total{{{own}}}[$__rate_interval])"), "{{plugin}}", "A")]),
    ];
    for (i, (key, title, desc, unit, targets)) in overview.into_iter().enumerate() {
        let at = At {
            x: (i as u64 % 2) * 12,
            y: y + (i as u64 / 2) * 8,
        };
        panels.push(panel(key, title, desc, "timeseries", unit, targets, at));
    }
    y += 24;
    for p in plugins {
        panels.push(row(
            &format!("row/{}", p.name),
            &format!("Plugin {}", p.name),
            y,
        ));
        y += 1;
        let mut i = 0u64;
        for f in &p.families {
            for (key, title, kind, targets) in family_panels(&p.name, plugin_label, f) {
                let at = At {
                    x: (i % 2) * 12,
                    y: y + (i / 2) * 8,
                };
                panels.push(panel(&key, &title, &f.help, kind, unit(f), targets, at));
                i += 1;
            }
        }
        for (k, shipped) in p.panels.iter().enumerate() {
            let mut panel = shipped.clone();
            if let Some(obj) = panel.as_object_mut() {
                obj.insert(
                    "id".into(),
                    json!(panel_id(&format!("{}/package/{k}", p.name))),
                );
                let (w, h) = (12, 8);
                obj.insert(
                    "gridPos".into(),
                    json!({"h": h, "w": w, "x": (i % 2) * 12, "y": y + (i / 2) * 8}),
                );
                obj.entry("datasource")
                    .or_insert(json!({"type": "prometheus", "uid": "${datasource}"}));
            }
            panels.push(panel);
            i += 1;
        }
        y += i.div_ceil(2) * 8;
    }
    json!({
        "uid": UID,
        "title": "plugin-exporter",
        "tags": ["plugin-exporter"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
            {"name": "job", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(plugin_exporter_build_info, job)", "refId": "job"},
             "definition": "label_values(plugin_exporter_build_info, job)", "includeAll": true, "multi": true,
             "refresh": 2, "current": {"text": "All", "value": "$__all"}},
            {"name": "instance", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(plugin_exporter_build_info{job=~\"$job\"}, instance)", "refId": "instance"},
             "definition": "label_values(plugin_exporter_build_info{job=~\"$job\"}, instance)", "includeAll": true, "multi": true,
             "refresh": 2, "current": {"text": "All", "value": "$__all"}},
        ]},
        "panels": panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(name: &str, kind: MetricType) -> FamilyInfo {
        FamilyInfo {
            name: name.into(),
            kind,
            help: "h".into(),
            unit: None,
            series: 1,
        }
    }

    #[test]
    fn panels_follow_the_type_and_ids_are_stable() {
        let cat = [PluginCatalog {
            name: "disk".into(),
            families: vec![
                fam("io_total", MetricType::Counter),
                fam("lat_seconds", MetricType::Histogram),
            ],
            panels: vec![
                json!({"type": "stat", "title": "Shipped", "targets": [{"expr": "up", "refId": "A"}]}),
            ],
        }];
        let d = dashboard(&cat, "plugin");
        let again = dashboard(&cat, "plugin");
        assert_eq!(d, again);
        let exprs: Vec<String> = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .map(|t| t["expr"].as_str().unwrap().to_string())
            .collect();
        assert!(exprs
            .iter()
            .any(|e| e.starts_with("rate(io_total{") && e.contains("plugin=\"disk\"")));
        assert!(exprs
            .iter()
            .any(|e| e.starts_with("histogram_quantile(0.99")));
        let ids: std::collections::HashSet<u64> = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ids.len(),
            d["panels"].as_array().unwrap().len(),
            "ids are unique"
        );
    }
}
