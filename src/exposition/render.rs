//! Encoders for text 0.0.4 and OpenMetrics 1.0. A validated batch is rendered to both formats
//! once, when it arrives, so a scrape only copies bytes.
//!
//! A [`RenderedFamily`] holds sample lines only; the header comes from [`write_header`] and the
//! final `# EOF` from the merge, because a family's header is written once for all plugins that
//! contribute to it.
//!
//! # Format details
//! - Label order: the plugin's labels as given, then the extra label, then the generated `le`
//!   or `quantile`.
//! - Values: integral finite values below 2^53 without a decimal point, other finite values in
//!   the shortest form that reads back exactly, and `NaN`, `+Inf`, `-Inf`.
//! - Text: `le`/`quantile` values are written like sample values (`le="1"`). OpenMetrics wants
//!   them canonical, always with a decimal point or exponent (`le="1.0"`).
//! - Text always has `# HELP` (empty help too, as Go's encoder does); OpenMetrics leaves an
//!   empty HELP out, since its metadata lines are optional.
//! - OpenMetrics 1.0 forbids some values that text 0.0.4 takes. Rather than drop the series
//!   from both formats, the OpenMetrics rendering leaves out just the offending lines:
//!   `_sum` and `_count` of a histogram with a negative bucket bound or a NaN or negative sum
//!   (the spec forbids such a sum, and parsers want `_sum` and `_count` together), `_sum` and
//!   `_count` of a summary with a NaN or negative sum, and summary quantile lines with a
//!   negative value.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::format::Format;
use super::gzip_member::member;
use super::model::{self, MetricType, SampleValue};
use super::validate::{counter_stem, label_identity};

/// One family's sample lines in both formats, ready to be copied into a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedFamily {
    /// Metric name as in text 0.0.4 (counters keep their `_total`).
    pub name: String,
    /// The family's type.
    pub kind: MetricType,
    /// Help text, unescaped.
    pub help: String,
    /// Unit, when valid for the name.
    pub unit: Option<String>,
    /// Number of series (a histogram or summary series counts once).
    pub series: usize,
    /// Sample lines in text 0.0.4, extra label included; no HELP/TYPE.
    pub text: Vec<u8>,
    /// Sample lines in OpenMetrics 1.0, extra label included; no metadata, no `# EOF`.
    pub om: Vec<u8>,
    /// Where each series ends in `text` and `om`; empty unless rendered with spans.
    pub spans: Vec<SeriesSpan>,
    /// `text` and `om` as gzip members, made on first use (see [`super::gzip`]).
    pub gz: [std::sync::OnceLock<Vec<u8>>; 2],
}

/// Where one series' lines end in a [`RenderedFamily`], so a merge can skip a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesSpan {
    /// Hash of the series' label identity (sorted, empty values removed), extra label excluded.
    pub key: u64,
    /// Byte offset in `text` where this series' lines end.
    pub text_end: u32,
    /// Byte offset in `om` where this series' lines end.
    pub om_end: u32,
}

impl RenderedFamily {
    /// The sample lines for `format`.
    pub fn body(&self, format: Format) -> &[u8] {
        match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.om,
        }
    }

    /// [`RenderedFamily::body`] as one gzip member, compressed on first use and kept.
    pub fn gzip(&self, format: Format) -> &[u8] {
        let slot = &self.gz[usize::from(format == Format::OpenMetrics)];
        slot.get_or_init(|| member(self.body(format)))
    }
}

impl SeriesSpan {
    /// Where this series ends in the body for `format`.
    pub fn end(&self, format: Format) -> usize {
        match format {
            Format::Text => self.text_end as usize,
            Format::OpenMetrics => self.om_end as usize,
        }
    }
}

/// Renders validated families to both formats, adding `extra_label` to every series. With
/// `with_spans`, records where each series ends (for cross-plugin duplicate removal).
pub fn render(
    families: Vec<model::Family>,
    extra_label: Option<(&str, &str)>,
    with_spans: bool,
) -> Vec<RenderedFamily> {
    // The extra label is the same on every line: escape it once.
    let extra = extra_label.map(|(n, v)| {
        let mut b = Vec::with_capacity(n.len() + v.len() + 3);
        push_label(&mut b, n, v);
        b
    });
    families
        .into_iter()
        .map(|f| render_family(f, extra.as_deref(), with_spans))
        .collect()
}

/// The series key used in [`SeriesSpan::key`].
pub fn series_key(labels: &[(String, String)]) -> u64 {
    // DefaultHasher::new() has fixed keys, so every plugin's keys are comparable.
    let mut h = DefaultHasher::new();
    label_identity(labels).hash(&mut h);
    h.finish()
}

fn render_family(f: model::Family, extra: Option<&[u8]>, with_spans: bool) -> RenderedFamily {
    let name = f.name.as_str();
    let mut text = Vec::new();
    let mut om = Vec::new();
    let mut spans = Vec::with_capacity(if with_spans { f.samples.len() } else { 0 });
    let mut spans_fit = true;
    let mut labels = Vec::new();
    for s in &f.samples {
        labels.clear();
        for (n, v) in &s.labels {
            if !labels.is_empty() {
                labels.push(b',');
            }
            push_label(&mut labels, n, v);
        }
        if let Some(e) = extra {
            if !labels.is_empty() {
                labels.push(b',');
            }
            labels.extend_from_slice(e);
        }
        match &s.value {
            SampleValue::Scalar(v) => {
                push_line(&mut text, name, "", &labels, None, *v);
                push_line(&mut om, name, "", &labels, None, *v);
            }
            SampleValue::Histogram {
                buckets,
                sum,
                count,
            } => {
                for &(le, c) in buckets {
                    push_line(
                        &mut text,
                        name,
                        "_bucket",
                        &labels,
                        Some(("le", le, false)),
                        c,
                    );
                    push_line(&mut om, name, "_bucket", &labels, Some(("le", le, true)), c);
                }
                push_sum_count(&mut text, name, &labels, *sum, *count);
                // Buckets are sorted, so the first bound tells whether any is negative.
                let negative_bound = buckets.first().is_some_and(|&(le, _)| le < 0.0);
                if om_sum_allowed(*sum) && !negative_bound {
                    push_sum_count(&mut om, name, &labels, *sum, *count);
                }
            }
            SampleValue::Summary {
                quantiles,
                sum,
                count,
            } => {
                for &(q, v) in quantiles {
                    push_line(
                        &mut text,
                        name,
                        "",
                        &labels,
                        Some(("quantile", q, false)),
                        v,
                    );
                    // NaN ("no observations") is fine; only negative values are forbidden.
                    if v.is_nan() || v >= 0.0 {
                        push_line(&mut om, name, "", &labels, Some(("quantile", q, true)), v);
                    }
                }
                push_sum_count(&mut text, name, &labels, *sum, *count);
                if om_sum_allowed(*sum) {
                    push_sum_count(&mut om, name, &labels, *sum, *count);
                }
            }
        }
        if with_spans {
            match (u32::try_from(text.len()), u32::try_from(om.len())) {
                (Ok(text_end), Ok(om_end)) => spans.push(SeriesSpan {
                    key: series_key(&s.labels),
                    text_end,
                    om_end,
                }),
                _ => spans_fit = false,
            }
        }
    }
    if !spans_fit {
        // A family over 4 GiB cannot be split by u32 offsets; without spans the merge copies
        // it whole, which only loses cross-plugin duplicate removal.
        spans = Vec::new();
    }
    RenderedFamily {
        series: f.samples.len(),
        name: f.name,
        kind: f.kind,
        help: f.help,
        unit: f.unit,
        text,
        om,
        spans,
        gz: Default::default(),
    }
}

/// OpenMetrics 1.0: "Sum ... MUST NOT be NaN or negative".
fn om_sum_allowed(sum: f64) -> bool {
    sum >= 0.0
}

fn push_sum_count(out: &mut Vec<u8>, name: &str, labels: &[u8], sum: f64, count: f64) {
    push_line(out, name, "_sum", labels, None, sum);
    push_line(out, name, "_count", labels, None, count);
}

/// One sample line. `generated` is a label the encoder adds last (`le` or `quantile`) with its
/// float value and whether to write that value canonically (OpenMetrics).
fn push_line(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[u8],
    generated: Option<(&str, f64, bool)>,
    value: f64,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !labels.is_empty() || generated.is_some() {
        out.push(b'{');
        out.extend_from_slice(labels);
        if let Some((label, v, canonical)) = generated {
            if !labels.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(label.as_bytes());
            out.extend_from_slice(b"=\"");
            if canonical {
                push_canonical_float(out, v);
            } else {
                push_value(out, v);
            }
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
    push_value(out, value);
    out.push(b'\n');
}

/// `name="value"` with the value escaped.
fn push_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    push_escaped(out, value, true);
    out.push(b'"');
}

/// Appends `s` with `\` and newline escaped, and `"` too when `quote`. Works on bytes: the
/// escaped characters are ASCII, and UTF-8 continuation bytes never are.
fn push_escaped(out: &mut Vec<u8>, s: &str, quote: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A sample value: `NaN`, `+Inf`, `-Inf`, an integer when exact, else the shortest float.
pub fn push_value(out: &mut Vec<u8>, v: f64) {
    // Below 2^53 every integral f64 converts to i64 exactly.
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
    } else {
        push_canonical_float(out, v);
    }
}

/// A float as OpenMetrics wants `le`/`quantile`: always with a decimal point or an exponent
/// (`1.0`, `0.5`, `1e-7`), or `NaN`, `+Inf`, `-Inf`.
pub fn push_canonical_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        // ryu's output for finite values always has a `.` or an `e`.
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// The OpenMetrics family name and type of a family: counters named `<stem>_total` are
/// counter `<stem>`; other counters and untyped are `unknown` under their own name.
pub fn om_name_and_type(name: &str, kind: MetricType) -> (&str, &'static str) {
    match kind {
        MetricType::Counter => match counter_stem(name) {
            Some(stem) => (stem, "counter"),
            None => (name, "unknown"),
        },
        MetricType::Untyped => (name, "unknown"),
        other => (name, other.as_str()),
    }
}

/// Writes the metadata lines of `fam` for `format`: text `# HELP`, `# TYPE`; OpenMetrics
/// `# TYPE`, `# UNIT` (if any), `# HELP` (if not empty), under the OpenMetrics family name.
pub fn write_header(fam: &RenderedFamily, format: Format, out: &mut Vec<u8>) {
    write_header_parts(
        &fam.name,
        fam.kind,
        &fam.help,
        fam.unit.as_deref(),
        format,
        out,
    );
}

/// [`write_header`] from the parts, for callers without a [`RenderedFamily`].
pub fn write_header_parts(
    name: &str,
    kind: MetricType,
    help: &str,
    unit: Option<&str>,
    format: Format,
    out: &mut Vec<u8>,
) {
    match format {
        Format::Text => {
            out.extend_from_slice(b"# HELP ");
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
            push_escaped(out, help, false);
            out.extend_from_slice(b"\n# TYPE ");
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(kind.as_str().as_bytes());
            out.push(b'\n');
        }
        Format::OpenMetrics => {
            let (family, ty) = om_name_and_type(name, kind);
            out.extend_from_slice(b"# TYPE ");
            out.extend_from_slice(family.as_bytes());
            out.push(b' ');
            out.extend_from_slice(ty.as_bytes());
            out.push(b'\n');
            if let Some(unit) = unit {
                out.extend_from_slice(b"# UNIT ");
                out.extend_from_slice(family.as_bytes());
                out.push(b' ');
                out.extend_from_slice(unit.as_bytes());
                out.push(b'\n');
            }
            if !help.is_empty() {
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(family.as_bytes());
                out.push(b' ');
                push_escaped(out, help, true);
                out.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::testing::{
        exposition, promtool_check, python_parse, rendered, FIXTURE_JSON, GOLDEN_OM, GOLDEN_TEXT,
    };

    fn disk() -> Option<(&'static str, &'static str)> {
        Some(("plugin", "disk"))
    }

    fn value(v: f64) -> String {
        let mut out = Vec::new();
        push_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn canonical(v: f64) -> String {
        let mut out = Vec::new();
        push_canonical_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn text(f: &RenderedFamily) -> &str {
        std::str::from_utf8(&f.text).unwrap()
    }

    fn om(f: &RenderedFamily) -> &str {
        std::str::from_utf8(&f.om).unwrap()
    }

    #[test]
    fn golden_text_exposition_matches_file() {
        let fams = rendered(FIXTURE_JSON, disk(), false);
        assert_eq!(exposition(&fams, Format::Text), GOLDEN_TEXT);
    }

    #[test]
    fn golden_openmetrics_exposition_matches_file() {
        let fams = rendered(FIXTURE_JSON, disk(), false);
        assert_eq!(exposition(&fams, Format::OpenMetrics), GOLDEN_OM);
    }

    #[test]
    fn golden_text_passes_promtool() {
        // Plugin data: lint findings (legacy_events lacks _total, no_help_gauge) are fine.
        promtool_check(GOLDEN_TEXT, true);
    }

    #[test]
    fn golden_text_parses_with_python_text_parser() {
        let got = python_parse(GOLDEN_TEXT, Format::Text);
        let want = [
            "disk_free_bytes gauge - 1",
            "disk_ratio gauge - 7",
            "legacy_events counter - 1",
            "mystery unknown - 1",
            "no_help_gauge gauge - 1",
            "read_bytes counter - 1",
            "request_duration_seconds histogram - 6",
            "requests counter - 2",
            "rpc_latency_seconds summary - 5",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn golden_openmetrics_parses_with_python_openmetrics_parser() {
        let got = python_parse(GOLDEN_OM, Format::OpenMetrics);
        let want = [
            "disk_free_bytes gauge bytes 1",
            "disk_ratio gauge - 7",
            "legacy_events unknown - 1",
            "mystery unknown - 1",
            "no_help_gauge gauge - 1",
            "read_bytes counter bytes 1",
            "request_duration_seconds histogram seconds 6",
            "requests counter - 2",
            "rpc_latency_seconds summary seconds 5",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn values_use_integers_when_exact_and_shortest_floats_otherwise() {
        assert_eq!(value(0.0), "0");
        assert_eq!(value(-0.0), "0");
        assert_eq!(value(42.0), "42");
        assert_eq!(value(-42.0), "-42");
        assert_eq!(value(9_007_199_254_740_991.0), "9007199254740991");
        // From 2^53 on, integers are no longer all exact: written as floats.
        assert_eq!(value(9_007_199_254_740_992.0), "9007199254740992.0");
        assert_eq!(value(1.5), "1.5");
        assert_eq!(value(0.1), "0.1");
        assert_eq!(value(1e-7), "1e-7");
        assert_eq!(value(1e300), "1e300");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn canonical_floats_always_have_a_point_or_exponent() {
        assert_eq!(canonical(1.0), "1.0");
        assert_eq!(canonical(0.0), "0.0");
        assert_eq!(canonical(0.5), "0.5");
        assert_eq!(canonical(-5.0), "-5.0");
        assert_eq!(canonical(1e20), "1e20");
        assert_eq!(canonical(f64::INFINITY), "+Inf");
        assert_eq!(canonical(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn help_escapes_backslash_and_newline_in_text_and_also_quote_in_openmetrics() {
        let help = "a \\ b\n\"c\"";
        let mut t = Vec::new();
        write_header_parts("x", MetricType::Gauge, help, None, Format::Text, &mut t);
        assert_eq!(t, b"# HELP x a \\\\ b\\n\"c\"\n# TYPE x gauge\n");
        let mut o = Vec::new();
        write_header_parts(
            "x",
            MetricType::Gauge,
            help,
            None,
            Format::OpenMetrics,
            &mut o,
        );
        assert_eq!(o, b"# TYPE x gauge\n# HELP x a \\\\ b\\n\\\"c\\\"\n");
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let fams = rendered(
            r#"[{"name":"x","type":"gauge","samples":[{"labels":{"a":"\\ \" \n é"},"value":1}]}]"#,
            None,
            false,
        );
        assert_eq!(text(&fams[0]), "x{a=\"\\\\ \\\" \\n é\"} 1\n");
        assert_eq!(om(&fams[0]), "x{a=\"\\\\ \\\" \\n é\"} 1\n");
    }

    #[test]
    fn series_without_labels_are_written_without_braces() {
        let fams = rendered(
            r#"[{"name":"up","type":"gauge","samples":[{"value":1}]},
                {"name":"h","type":"histogram","samples":[{"buckets":[],"sum":0,"count":0}]}]"#,
            None,
            false,
        );
        assert_eq!(text(&fams[0]), "up 1\n");
        assert_eq!(
            text(&fams[1]),
            "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"
        );
    }

    #[test]
    fn openmetrics_header_uses_family_name_and_maps_types() {
        let header = |name, kind, unit| {
            let mut o = Vec::new();
            write_header_parts(name, kind, "h", unit, Format::OpenMetrics, &mut o);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(
            header("io_seconds_total", MetricType::Counter, Some("seconds")),
            "# TYPE io_seconds counter\n# UNIT io_seconds seconds\n# HELP io_seconds h\n"
        );
        assert_eq!(
            header("events", MetricType::Counter, None),
            "# TYPE events unknown\n# HELP events h\n"
        );
        assert_eq!(
            header("_total", MetricType::Counter, None),
            "# TYPE _total unknown\n# HELP _total h\n"
        );
        assert_eq!(
            header("u", MetricType::Untyped, None),
            "# TYPE u unknown\n# HELP u h\n"
        );
    }

    #[test]
    fn text_header_always_has_help_even_when_empty() {
        let mut t = Vec::new();
        write_header_parts("x", MetricType::Untyped, "", None, Format::Text, &mut t);
        assert_eq!(t, b"# HELP x \n# TYPE x untyped\n");
        let mut o = Vec::new();
        write_header_parts(
            "x",
            MetricType::Untyped,
            "",
            None,
            Format::OpenMetrics,
            &mut o,
        );
        assert_eq!(o, b"# TYPE x unknown\n");
    }

    const OM_STRICTER: &str = r#"[
      {"name":"temp_delta_celsius","type":"histogram","help":"h","samples":[
        {"labels":{"s":"neg"},"buckets":[{"le":-5,"count":1},{"le":0,"count":4},{"le":5,"count":9}],"sum":3.5,"count":10},
        {"labels":{"s":"nan"},"buckets":[{"le":1,"count":2}],"sum":"NaN","count":2},
        {"labels":{"s":"ok"},"buckets":[{"le":1,"count":2}],"sum":1.5,"count":2}]},
      {"name":"skew_seconds","type":"summary","help":"s","samples":[
        {"labels":{"s":"neg"},"quantiles":[{"quantile":0.5,"value":-0.25},{"quantile":0.9,"value":"NaN"},{"quantile":0.99,"value":0.75}],"sum":-3,"count":7}]}
    ]"#;

    #[test]
    fn openmetrics_leaves_out_only_the_lines_it_forbids() {
        let fams = rendered(OM_STRICTER, None, false);
        assert_eq!(
            text(&fams[0]),
            concat!(
                "temp_delta_celsius_bucket{s=\"neg\",le=\"-5\"} 1\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"0\"} 4\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"5\"} 9\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"+Inf\"} 10\n",
                "temp_delta_celsius_sum{s=\"neg\"} 3.5\n",
                "temp_delta_celsius_count{s=\"neg\"} 10\n",
                "temp_delta_celsius_bucket{s=\"nan\",le=\"1\"} 2\n",
                "temp_delta_celsius_bucket{s=\"nan\",le=\"+Inf\"} 2\n",
                "temp_delta_celsius_sum{s=\"nan\"} NaN\n",
                "temp_delta_celsius_count{s=\"nan\"} 2\n",
                "temp_delta_celsius_bucket{s=\"ok\",le=\"1\"} 2\n",
                "temp_delta_celsius_bucket{s=\"ok\",le=\"+Inf\"} 2\n",
                "temp_delta_celsius_sum{s=\"ok\"} 1.5\n",
                "temp_delta_celsius_count{s=\"ok\"} 2\n",
            )
        );
        assert_eq!(
            om(&fams[0]),
            concat!(
                "temp_delta_celsius_bucket{s=\"neg\",le=\"-5.0\"} 1\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"0.0\"} 4\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"5.0\"} 9\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"+Inf\"} 10\n",
                "temp_delta_celsius_bucket{s=\"nan\",le=\"1.0\"} 2\n",
                "temp_delta_celsius_bucket{s=\"nan\",le=\"+Inf\"} 2\n",
                "temp_delta_celsius_bucket{s=\"ok\",le=\"1.0\"} 2\n",
                "temp_delta_celsius_bucket{s=\"ok\",le=\"+Inf\"} 2\n",
                "temp_delta_celsius_sum{s=\"ok\"} 1.5\n",
                "temp_delta_celsius_count{s=\"ok\"} 2\n",
            )
        );
        assert_eq!(
            text(&fams[1]),
            concat!(
                "skew_seconds{s=\"neg\",quantile=\"0.5\"} -0.25\n",
                "skew_seconds{s=\"neg\",quantile=\"0.9\"} NaN\n",
                "skew_seconds{s=\"neg\",quantile=\"0.99\"} 0.75\n",
                "skew_seconds_sum{s=\"neg\"} -3\n",
                "skew_seconds_count{s=\"neg\"} 7\n",
            )
        );
        assert_eq!(
            om(&fams[1]),
            concat!(
                "skew_seconds{s=\"neg\",quantile=\"0.9\"} NaN\n",
                "skew_seconds{s=\"neg\",quantile=\"0.99\"} 0.75\n",
            )
        );
    }

    #[test]
    fn openmetrics_omissions_parse_with_python_openmetrics_parser() {
        let fams = rendered(OM_STRICTER, None, false);
        let got = python_parse(&exposition(&fams, Format::OpenMetrics), Format::OpenMetrics);
        assert_eq!(
            got,
            [
                "skew_seconds summary - 2",
                "temp_delta_celsius histogram - 10"
            ]
        );
    }

    #[test]
    fn text_with_negative_buckets_and_nan_sums_passes_promtool_and_python() {
        let fams = rendered(OM_STRICTER, None, false);
        let body = exposition(&fams, Format::Text);
        promtool_check(&body, true);
        let got = python_parse(&body, Format::Text);
        assert_eq!(
            got,
            [
                "skew_seconds summary - 5",
                "temp_delta_celsius histogram - 14"
            ]
        );
    }

    #[test]
    fn spans_end_each_series_and_key_ignores_extra_label_and_order() {
        let json = r#"[{"name":"x","type":"histogram","samples":[
            {"labels":{"a":"1","b":"2"},"buckets":[{"le":1,"count":1}],"sum":1,"count":1},
            {"labels":{"a":"2"},"buckets":[],"sum":0,"count":0}]}]"#;
        let with = rendered(json, disk(), true);
        let f = &with[0];
        assert_eq!(f.series, 2);
        assert_eq!(f.spans.len(), 2);
        let first_text = "x_bucket{a=\"1\",b=\"2\",plugin=\"disk\",le=\"1\"} 1\n\
                          x_bucket{a=\"1\",b=\"2\",plugin=\"disk\",le=\"+Inf\"} 1\n\
                          x_sum{a=\"1\",b=\"2\",plugin=\"disk\"} 1\n\
                          x_count{a=\"1\",b=\"2\",plugin=\"disk\"} 1\n";
        assert_eq!(&text(f)[..f.spans[0].text_end as usize], first_text);
        assert_eq!(f.spans[1].text_end as usize, f.text.len());
        assert_eq!(f.spans[1].om_end as usize, f.om.len());
        assert!(om(f)[..f.spans[0].om_end as usize]
            .ends_with("x_count{a=\"1\",b=\"2\",plugin=\"disk\"} 1\n"));
        let reordered = vec![
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ];
        assert_eq!(f.spans[0].key, series_key(&reordered));
        // An empty value is an absent label to Prometheus, so it does not change the key.
        let with_empty = vec![
            ("a".to_string(), "2".to_string()),
            ("z".to_string(), String::new()),
        ];
        assert_eq!(f.spans[1].key, series_key(&with_empty));
        assert_ne!(f.spans[0].key, f.spans[1].key);
    }

    #[test]
    fn spans_are_empty_unless_asked_for() {
        let fams = rendered(FIXTURE_JSON, disk(), false);
        assert!(fams.iter().all(|f| f.spans.is_empty()));
        let fams = rendered(FIXTURE_JSON, disk(), true);
        assert!(fams.iter().all(|f| f.spans.len() == f.series));
    }
}
