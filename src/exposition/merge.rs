//! The merge of the exporter's own families and every plugin's rendered families into one
//! exposition. Runs on every scrape, so it works per family (metadata comparisons, one hash
//! set of claimed names, byte copies) and only looks at series when two plugins both
//! rendered spans for the same family.
//!
//! Rules, in config order (the first plugin listed wins):
//! - The exporter's own families come first, in the order given, and own their names.
//! - A plugin family is kept under its name if no earlier family claims any of the same
//!   names ([`claimed_names`]); otherwise its series are dropped as `conflict`.
//! - Later plugins with a family of the same name join it when type, help and unit are equal
//!   to the first's, and are dropped as `conflict` otherwise.
//! - Plugin families are written in name order, each once: header, then the sample lines of
//!   every contributor back to back, so a family is never split.
//! - With spans on both sides, a later plugin's series whose key equals an earlier one's is
//!   skipped and counted as `duplicate_series` (only possible without the plugin label).

use std::collections::{BTreeMap, HashSet};

use super::format::Format;
use super::model::MetricType;
use super::render::{write_header, write_text_gauge_header, RenderedFamily};
use super::validate::{claimed_names, ClaimedName};

pub use super::sink::Sink;

/// One plugin's current rendered batch.
#[derive(Debug, Clone, Copy)]
pub struct Contribution<'a> {
    /// The plugin's families, as rendered by [`super::render::render`].
    pub families: &'a [RenderedFamily],
}

/// Series one plugin lost in a merge, by reason.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct MergeDrops {
    /// Series of families that clashed with an earlier family's name or metadata.
    pub conflict: u64,
    /// Series whose label set an earlier plugin already exposed in the same family.
    pub duplicate_series: u64,
}

/// A family name as it will be written: its owner's metadata and everyone's sample lines.
struct Group<'a> {
    owner: (usize, &'a RenderedFamily),
    /// Later plugins with equal metadata, in config order (empty in the common case, which
    /// then costs no allocation).
    joined: Vec<(usize, &'a RenderedFamily)>,
}

/// Writes the whole exposition for `format` into `out`: `own` first, then the plugin
/// families by name, then `# EOF` for OpenMetrics. Returns one [`MergeDrops`] per plugin, in
/// the order of `plugins`.
pub fn assemble(
    own: &[RenderedFamily],
    plugins: &[Contribution],
    format: Format,
    out: &mut impl Sink,
) -> Vec<MergeDrops> {
    let mut drops = vec![MergeDrops::default(); plugins.len()];
    let mut claims: HashSet<ClaimedName<'_>> = HashSet::new();
    let mut header = Vec::with_capacity(256);
    for f in own {
        header.clear();
        write_header(f, format, &mut header);
        out.bytes(&header);
        out.bytes(f.body(format));
        claims.extend(claimed_names(&f.name, f.kind));
    }

    let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    for (p, c) in plugins.iter().enumerate() {
        for f in c.families {
            if let Some(g) = groups.get_mut(f.name.as_str()) {
                let owner = g.owner.1;
                let same = owner.kind == f.kind && owner.help == f.help && owner.unit == f.unit;
                // Validation gives each name once per batch; should a plugin still repeat
                // one, joining it to itself would expose its series twice.
                let last = g.joined.last().unwrap_or(&g.owner).0;
                if same && last != p {
                    g.joined.push((p, f));
                } else {
                    drops[p].conflict += f.series as u64;
                }
                continue;
            }
            if claimed_names(&f.name, f.kind).any(|c| claims.contains(&c)) {
                drops[p].conflict += f.series as u64;
                continue;
            }
            claims.extend(claimed_names(&f.name, f.kind));
            groups.insert(
                f.name.as_str(),
                Group {
                    owner: (p, f),
                    joined: Vec::new(),
                },
            );
        }
    }

    for g in groups.values() {
        header.clear();
        write_header(g.owner.1, format, &mut header);
        out.bytes(&header);
        if format == Format::Text && g.owner.1.kind == MetricType::GaugeHistogram {
            write_gauge_histogram_text(g, &mut header, out);
        } else if g.joined.is_empty() {
            out.family_body(g.owner.1, format);
        } else {
            let members: Vec<_> = std::iter::once(g.owner)
                .chain(g.joined.iter().copied())
                .collect();
            write_members(&members, format, out, &mut drops);
        }
    }

    if format == Format::OpenMetrics {
        out.bytes(b"# EOF\n");
    }
    drops
}

/// A gauge histogram in text 0.0.4: every contributor's `_bucket` lines under the histogram
/// header already written, then their `_gcount` and `_gsum` lines, each part under a gauge
/// header of its own (see [`super::render`]).
fn write_gauge_histogram_text(g: &Group<'_>, header: &mut Vec<u8>, out: &mut impl Sink) {
    let members: Vec<[&[u8]; 3]> = std::iter::once(g.owner)
        .chain(g.joined.iter().copied())
        .map(|(_, f)| f.text_parts())
        .collect();
    for (part, suffix) in [(0, ""), (1, "_gcount"), (2, "_gsum")] {
        if part > 0 {
            if members.iter().all(|m| m[part].is_empty()) {
                continue;
            }
            header.clear();
            let owner = g.owner.1;
            write_text_gauge_header(&owner.name, suffix, &owner.help, header);
            out.bytes(header);
        }
        for m in &members {
            out.bytes(m[part]);
        }
    }
}

/// Sample lines of several plugins for one family, skipping later duplicates where spans
/// allow it.
fn write_members(
    members: &[(usize, &RenderedFamily)],
    format: Format,
    out: &mut impl Sink,
    drops: &mut [MergeDrops],
) {
    let usable = |f: &RenderedFamily| spans_usable(f, format);
    if members.iter().filter(|(_, f)| usable(f)).count() < 2 {
        for (_, f) in members {
            out.family_body(f, format);
        }
        return;
    }
    let mut seen: HashSet<u64> = HashSet::new();
    for &(p, f) in members {
        let body = f.body(format);
        if !usable(f) {
            out.family_body(f, format);
            continue;
        }
        // Copy runs of kept series in one go; `run` is where the current run starts.
        let (mut run, mut start) = (0, 0);
        for span in &f.spans {
            let end = span.end(format);
            if !seen.insert(span.key) {
                out.bytes(&body[run..start]);
                run = end;
                drops[p].duplicate_series += 1;
            }
            start = end;
        }
        out.bytes(&body[run..]);
    }
}

/// True when `f` has spans that split its body cleanly: increasing ends, the last at the end.
/// The fields are public, so a hand-built family could be inconsistent; such a family is
/// copied whole rather than sliced out of bounds.
fn spans_usable(f: &RenderedFamily, format: Format) -> bool {
    let body = f.body(format);
    let mut prev = 0;
    !f.spans.is_empty()
        && f.spans.iter().all(|s| {
            let end = s.end(format);
            let ok = end >= prev;
            prev = end;
            ok
        })
        && prev == body.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::render::{render, SeriesSpan};
    use crate::exposition::testing::{families, promtool_check, python_parse, rendered};
    use crate::exposition::validate::{validate, Drops, ValidateOptions};

    /// A plugin's batch as the exporter renders it: with the plugin label, or without it and
    /// with spans.
    fn plugin(json: &str, label: Option<&str>) -> Vec<RenderedFamily> {
        rendered(json, label.map(|v| ("plugin", v)), label.is_none())
    }

    /// The exporter's own families (the reserved prefix is theirs to use).
    fn own(json: &str) -> Vec<RenderedFamily> {
        let opts = ValidateOptions {
            reserved_prefix: "",
            ..ValidateOptions::default()
        };
        let mut drops = Drops::default();
        render(validate(families(json), &opts, &mut drops), None, false)
    }

    fn merge(
        own: &[RenderedFamily],
        plugins: &[&[RenderedFamily]],
        format: Format,
    ) -> (String, Vec<MergeDrops>) {
        let contributions: Vec<Contribution> = plugins
            .iter()
            .map(|f| Contribution { families: f })
            .collect();
        let mut out = Vec::new();
        let drops = assemble(own, &contributions, format, &mut out);
        (String::from_utf8(out).unwrap(), drops)
    }

    fn drops(conflict: u64, duplicate_series: u64) -> MergeDrops {
        MergeDrops {
            conflict,
            duplicate_series,
        }
    }

    #[test]
    fn same_type_families_of_two_plugins_share_one_header_in_name_order() {
        let a = plugin(
            r#"[{"name":"temp_celsius","type":"gauge","help":"T","samples":[{"labels":{"room":"a"},"value":20}]},
                {"name":"a_only","type":"gauge","help":"A.","samples":[{"value":1}]}]"#,
            Some("a"),
        );
        let b = plugin(
            r#"[{"name":"temp_celsius","type":"gauge","help":"T","samples":[{"labels":{"room":"b"},"value":21.5}]},
                {"name":"b_only","type":"gauge","help":"B.","samples":[{"value":2}]}]"#,
            Some("b"),
        );
        let (text, d) = merge(&[], &[&a, &b], Format::Text);
        assert_eq!(
            text,
            concat!(
                "# HELP a_only A.\n# TYPE a_only gauge\na_only{plugin=\"a\"} 1\n",
                "# HELP b_only B.\n# TYPE b_only gauge\nb_only{plugin=\"b\"} 2\n",
                "# HELP temp_celsius T\n# TYPE temp_celsius gauge\n",
                "temp_celsius{room=\"a\",plugin=\"a\"} 20\n",
                "temp_celsius{room=\"b\",plugin=\"b\"} 21.5\n",
            )
        );
        assert_eq!(d, [drops(0, 0), drops(0, 0)]);
    }

    #[test]
    fn type_conflict_keeps_the_first_listed_plugin_and_counts_the_others_series() {
        let a = plugin(
            r#"[{"name":"x","type":"gauge","samples":[{"value":1}]}]"#,
            Some("a"),
        );
        let b = plugin(
            r#"[{"name":"x","type":"counter","samples":[{"labels":{"k":"1"},"value":1},{"labels":{"k":"2"},"value":2}]}]"#,
            Some("b"),
        );
        let (text, d) = merge(&[], &[&a, &b], Format::Text);
        assert_eq!(text, "# HELP x \n# TYPE x gauge\nx{plugin=\"a\"} 1\n");
        assert_eq!(d, [drops(0, 0), drops(2, 0)]);
        // Listed the other way round, the counter wins.
        let (text, d) = merge(&[], &[&b, &a], Format::Text);
        assert_eq!(
            text,
            "# HELP x \n# TYPE x counter\nx{k=\"1\",plugin=\"b\"} 1\nx{k=\"2\",plugin=\"b\"} 2\n"
        );
        assert_eq!(d, [drops(0, 0), drops(1, 0)]);
    }

    #[test]
    fn help_or_unit_conflict_drops_the_later_plugins_series() {
        let a = plugin(
            r#"[{"name":"x","type":"gauge","help":"one","samples":[{"value":1}]},
                {"name":"y_bytes","type":"gauge","unit":"bytes","samples":[{"value":1}]}]"#,
            Some("a"),
        );
        let b = plugin(
            r#"[{"name":"x","type":"gauge","help":"two","samples":[{"value":2}]},
                {"name":"y_bytes","type":"gauge","samples":[{"value":2}]}]"#,
            Some("b"),
        );
        let (om, d) = merge(&[], &[&a, &b], Format::OpenMetrics);
        assert_eq!(
            om,
            concat!(
                "# TYPE x gauge\n# HELP x one\nx{plugin=\"a\"} 1\n",
                "# TYPE y_bytes gauge\n# UNIT y_bytes bytes\ny_bytes{plugin=\"a\"} 1\n",
                "# EOF\n",
            )
        );
        assert_eq!(d, [drops(0, 0), drops(2, 0)]);
    }

    #[test]
    fn claimed_name_collision_between_plugins_drops_the_later_family() {
        let hist = plugin(
            r#"[{"name":"foo","type":"histogram","samples":[{"buckets":[],"sum":0,"count":0}]}]"#,
            Some("a"),
        );
        let gauges = plugin(
            r#"[{"name":"foo_bucket","type":"gauge","samples":[{"value":1}]},
                {"name":"foo_count","type":"gauge","samples":[{"value":1}]},
                {"name":"other","type":"gauge","samples":[{"value":1}]}]"#,
            Some("b"),
        );
        let (text, d) = merge(&[], &[&hist, &gauges], Format::Text);
        assert!(text.contains("# TYPE foo histogram\n") && text.contains("# TYPE other gauge\n"));
        assert!(
            !text.contains("TYPE foo_bucket") && !text.contains("TYPE foo_count"),
            "{text}"
        );
        assert_eq!(d, [drops(0, 0), drops(2, 0)]);
        // The other order: the gauges came first and the histogram goes.
        let (text, d) = merge(&[], &[&gauges, &hist], Format::Text);
        assert!(!text.contains("TYPE foo histogram"), "{text}");
        assert_eq!(d, [drops(0, 0), drops(1, 0)]);
        // OpenMetrics names collide too: counter foo_total is family `foo`.
        let counter = plugin(
            r#"[{"name":"bar_total","type":"counter","samples":[{"value":1}]}]"#,
            Some("a"),
        );
        let gauge = plugin(
            r#"[{"name":"bar","type":"gauge","samples":[{"value":1}]}]"#,
            Some("b"),
        );
        let (_, d) = merge(&[], &[&counter, &gauge], Format::OpenMetrics);
        assert_eq!(d, [drops(0, 0), drops(1, 0)]);
    }

    #[test]
    fn own_families_come_first_and_keep_their_names() {
        let mine = own(
            r#"[{"name":"zz_own","type":"gauge","help":"Own.","samples":[{"value":1}]},
                {"name":"shared","type":"histogram","help":"Own.","samples":[{"buckets":[],"sum":0,"count":0}]}]"#,
        );
        let a = plugin(
            r#"[{"name":"aa","type":"gauge","help":"A.","samples":[{"value":2}]},
                {"name":"shared_bucket","type":"gauge","samples":[{"value":2}]},
                {"name":"zz_own","type":"gauge","help":"Own.","samples":[{"value":2}]}]"#,
            Some("a"),
        );
        let (text, d) = merge(&mine, &[&a], Format::Text);
        assert_eq!(
            text,
            concat!(
                "# HELP zz_own Own.\n# TYPE zz_own gauge\nzz_own 1\n",
                "# HELP shared Own.\n# TYPE shared histogram\n",
                "shared_bucket{le=\"+Inf\"} 0\nshared_sum 0\nshared_count 0\n",
                "# HELP aa A.\n# TYPE aa gauge\naa{plugin=\"a\"} 2\n",
            )
        );
        assert_eq!(d, [drops(2, 0)]);
    }

    #[test]
    fn duplicate_series_across_plugins_with_spans_are_dropped_from_the_later_one() {
        let a = plugin(
            r#"[{"name":"x","type":"gauge","samples":[{"labels":{"k":"1"},"value":1},{"labels":{"k":"2"},"value":2}]},
                {"name":"h","type":"histogram","samples":[{"labels":{"k":"1"},"buckets":[{"le":1,"count":1}],"sum":1,"count":1}]}]"#,
            None,
        );
        let b = plugin(
            r#"[{"name":"x","type":"gauge","samples":[{"labels":{"k":"2"},"value":20},{"labels":{"k":"3"},"value":30},{"labels":{"e":"","k":"1"},"value":10}]},
                {"name":"h","type":"histogram","samples":[{"labels":{"k":"1"},"buckets":[],"sum":5,"count":5},{"labels":{"k":"2"},"buckets":[],"sum":6,"count":6}]}]"#,
            None,
        );
        let (text, d) = merge(&[], &[&a, &b], Format::Text);
        assert_eq!(
            text,
            concat!(
                "# HELP h \n# TYPE h histogram\n",
                "h_bucket{k=\"1\",le=\"1\"} 1\nh_bucket{k=\"1\",le=\"+Inf\"} 1\nh_sum{k=\"1\"} 1\nh_count{k=\"1\"} 1\n",
                "h_bucket{k=\"2\",le=\"+Inf\"} 6\nh_sum{k=\"2\"} 6\nh_count{k=\"2\"} 6\n",
                "# HELP x \n# TYPE x gauge\n",
                "x{k=\"1\"} 1\nx{k=\"2\"} 2\nx{k=\"3\"} 30\n",
            )
        );
        assert_eq!(d, [drops(0, 0), drops(0, 3)]);
        let (om, d) = merge(&[], &[&a, &b], Format::OpenMetrics);
        assert!(
            om.ends_with("# TYPE x gauge\nx{k=\"1\"} 1\nx{k=\"2\"} 2\nx{k=\"3\"} 30\n# EOF\n"),
            "{om}"
        );
        assert!(om.contains("h_bucket{k=\"1\",le=\"1.0\"} 1\nh_bucket{k=\"1\",le=\"+Inf\"} 1\nh_sum{k=\"1\"} 1\nh_count{k=\"1\"} 1\nh_bucket{k=\"2\""));
        assert_eq!(d, [drops(0, 0), drops(0, 3)]);
    }

    #[test]
    fn without_spans_chunks_are_copied_whole() {
        let a = rendered(
            r#"[{"name":"x","type":"gauge","samples":[{"labels":{"k":"1"},"value":1}]}]"#,
            None,
            false,
        );
        let b = rendered(
            r#"[{"name":"x","type":"gauge","samples":[{"labels":{"k":"1"},"value":2}]}]"#,
            None,
            true,
        );
        let (text, d) = merge(&[], &[&a, &b], Format::Text);
        assert_eq!(
            text,
            "# HELP x \n# TYPE x gauge\nx{k=\"1\"} 1\nx{k=\"1\"} 2\n"
        );
        assert_eq!(d, [drops(0, 0), drops(0, 0)]);
    }

    #[test]
    fn inconsistent_spans_are_copied_whole_instead_of_panicking() {
        let a = plugin(
            r#"[{"name":"x","type":"gauge","samples":[{"labels":{"k":"1"},"value":1}]}]"#,
            None,
        );
        let mut b = plugin(
            r#"[{"name":"x","type":"gauge","samples":[{"labels":{"k":"2"},"value":2}]}]"#,
            None,
        );
        b[0].spans = vec![SeriesSpan {
            key: a[0].spans[0].key,
            text_end: 1000,
            om_end: 1000,
        }];
        let (text, d) = merge(&[], &[&a, &b], Format::Text);
        assert_eq!(
            text,
            "# HELP x \n# TYPE x gauge\nx{k=\"1\"} 1\nx{k=\"2\"} 2\n"
        );
        assert_eq!(d, [drops(0, 0), drops(0, 0)]);
    }

    #[test]
    fn a_plugin_repeating_a_family_name_has_the_repeat_counted_as_conflict() {
        let a = plugin(
            r#"[{"name":"x","type":"gauge","samples":[{"value":1}]}]"#,
            Some("a"),
        );
        let twice = [a[0].clone(), a[0].clone()];
        let (text, d) = merge(&[], &[&twice], Format::Text);
        assert_eq!(text, "# HELP x \n# TYPE x gauge\nx{plugin=\"a\"} 1\n");
        assert_eq!(d, [drops(1, 0)]);
    }

    #[test]
    fn openmetrics_ends_with_eof_and_text_has_no_trailer() {
        let (om, _) = merge(&[], &[], Format::OpenMetrics);
        assert_eq!(om, "# EOF\n");
        let (text, _) = merge(&[], &[], Format::Text);
        assert_eq!(text, "");
        let a = plugin(
            r#"[{"name":"x","type":"gauge","samples":[{"value":1}]}]"#,
            Some("a"),
        );
        let (om, _) = merge(&[], &[&a], Format::OpenMetrics);
        assert_eq!(om, "# TYPE x gauge\nx{plugin=\"a\"} 1\n# EOF\n");
        let (text, _) = merge(&[], &[&a], Format::Text);
        assert!(text.ends_with("x{plugin=\"a\"} 1\n"));
    }

    #[test]
    fn merged_exposition_with_conflicts_passes_the_reference_parsers() {
        let mine = own(
            r#"[{"name":"plugin_exporter_up","type":"gauge","help":"Up.","samples":[{"value":1}]}]"#,
        );
        let a = plugin(
            r#"[{"name":"foo","type":"histogram","help":"F.","samples":[{"labels":{"k":"1"},"buckets":[{"le":1,"count":1}],"sum":1,"count":1}]},
                {"name":"req_total","type":"counter","help":"R.","samples":[{"value":1}]}]"#,
            None,
        );
        let b = plugin(
            r#"[{"name":"foo","type":"histogram","help":"F.","samples":[{"labels":{"k":"1"},"buckets":[],"sum":2,"count":2},{"labels":{"k":"2"},"buckets":[],"sum":2,"count":2}]},
                {"name":"req_total","type":"counter","help":"R.","samples":[{"value":2}]}]"#,
            None,
        );
        let c = plugin(
            r#"[{"name":"foo_bucket","type":"gauge","samples":[{"value":1}]},
                {"name":"req","type":"gauge","samples":[{"value":1}]}]"#,
            None,
        );
        let (text, d) = merge(&mine, &[&a, &b, &c], Format::Text);
        assert_eq!(d, [drops(0, 0), drops(0, 2), drops(2, 0)]);
        promtool_check(&text, true);
        assert_eq!(
            python_parse(&text, Format::Text),
            [
                "plugin_exporter_up gauge - 1",
                "foo histogram - 7",
                "req counter - 1"
            ]
        );
        let (om, _) = merge(&mine, &[&a, &b, &c], Format::OpenMetrics);
        assert_eq!(
            python_parse(&om, Format::OpenMetrics),
            [
                "plugin_exporter_up gauge - 1",
                "foo histogram - 7",
                "req counter - 1"
            ]
        );
    }
}
