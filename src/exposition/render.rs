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
//! - Timestamps: seconds in OpenMetrics, integer milliseconds (rounded) in text; a timestamp
//!   beyond what text's 64-bit milliseconds hold is left out there. Every line of a series
//!   carries its timestamp.
//!
//! # Types text 0.0.4 does not have
//! Text 0.0.4 gets what Prometheus' own clients write there (client_python maps OpenMetrics
//! to text this way; `promtool check metrics` takes it without a lint):
//! - `info` is a gauge named with its `_info`, `stateset` a gauge; the samples are the same.
//! - `gaugehistogram` is a histogram of its `_bucket` lines, followed by two gauge families
//!   `<name>_gcount` and `<name>_gsum`. The text body holds the three parts back to back
//!   ([`RenderedFamily::text_sections`]) and the merge writes a header before each.
//! - `_created` lines and exemplars exist in OpenMetrics only and are left out of text (as
//!   client_golang does; Prometheus reads created timestamps from OpenMetrics and protobuf
//!   only, and a `_created` gauge per series would double a counter's series).
//! - A counter without the `_total` suffix is `unknown` in OpenMetrics, which has no
//!   `_created` line and no exemplar either.

use super::encode::{end_om, end_text, push_escaped, push_label, push_line, text_millis};
use super::format::Format;
use super::gzip_member::member;
use super::model::{self, Exemplar, MetricType, SampleValue};
use super::validate::{counter_stem, info_stem, label_fingerprint};

pub use super::encode::{push_canonical_float, push_value};

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
    /// Gauge histograms: where the `_bucket` lines and then the `_gcount` lines end in
    /// `text`, which continues with the `_gsum` lines.
    pub text_sections: Option<[usize; 2]>,
    /// `text` and `om` as gzip members, made on first use (see [`super::gzip`]).
    pub gz: [std::sync::OnceLock<Vec<u8>>; 2],
}

/// Where one series' lines end in a [`RenderedFamily`], so a merge can skip a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesSpan {
    /// Fingerprint of the series' label identity ([`label_fingerprint`]), extra label excluded.
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

    /// The text body in its parts: for a gauge histogram its `_bucket`, `_gcount` and `_gsum`
    /// lines, else the whole body and two empty parts.
    pub fn text_parts(&self) -> [&[u8]; 3] {
        let t = &self.text[..];
        match self.text_sections {
            Some([a, b]) if a <= b && b <= t.len() => [&t[..a], &t[a..b], &t[b..]],
            _ => [t, &[], &[]],
        }
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
/// `with_spans`, records where each series ends (for cross-plugin duplicate removal; not for
/// gauge histograms, whose text lines are not together).
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
    label_fingerprint(labels)
}

/// The output of one family while it is written.
struct Out<'a> {
    name: &'a str,
    kind: MetricType,
    /// The name `_created` lines and OpenMetrics extras go with (counters: their stem), or
    /// `None` when OpenMetrics has neither for this family.
    created_stem: Option<&'a str>,
    text: Vec<u8>,
    om: Vec<u8>,
    /// Gauge histograms: the `_gcount` and `_gsum` text lines.
    gauges: [Vec<u8>; 2],
}

/// One series' label pairs and timestamps, as each line of it writes them.
struct Line<'a> {
    labels: &'a [u8],
    ms: Option<i64>,
    seconds: Option<f64>,
}

fn render_family(f: model::Family, extra: Option<&[u8]>, with_spans: bool) -> RenderedFamily {
    let with_spans = with_spans && f.kind != MetricType::GaugeHistogram;
    let mut out = Out {
        name: &f.name,
        kind: f.kind,
        created_stem: match f.kind {
            MetricType::Counter => counter_stem(&f.name),
            MetricType::Histogram | MetricType::Summary => Some(&f.name),
            _ => None,
        },
        text: Vec::new(),
        om: Vec::new(),
        gauges: [Vec::new(), Vec::new()],
    };
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
        let line = Line {
            labels: &labels,
            ms: s.timestamp.and_then(text_millis),
            seconds: s.timestamp,
        };
        out.sample(s, &line);
        if with_spans {
            match (u32::try_from(out.text.len()), u32::try_from(out.om.len())) {
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
    let Out {
        mut text,
        om,
        gauges: [gcount, gsum],
        ..
    } = out;
    let text_sections = (f.kind == MetricType::GaugeHistogram).then(|| {
        let buckets = text.len();
        text.extend_from_slice(&gcount);
        let counts = text.len();
        text.extend_from_slice(&gsum);
        [buckets, counts]
    });
    RenderedFamily {
        series: f.samples.len(),
        name: f.name,
        kind: f.kind,
        help: f.help,
        unit: f.unit,
        text,
        om,
        spans,
        text_sections,
        gz: Default::default(),
    }
}

impl Out<'_> {
    /// Writes one series in both formats.
    fn sample(&mut self, s: &model::Sample, line: &Line<'_>) {
        match &s.value {
            SampleValue::Scalar(v) => {
                let exemplar = s.exemplar().filter(|_| self.created_stem.is_some());
                self.both_lines("", line, *v, exemplar);
            }
            SampleValue::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut exemplars = s.bucket_exemplars().iter().peekable();
                for (i, &(le, c)) in buckets.iter().enumerate() {
                    self.text_line("_bucket", line, Some(("le", le, false)), c);
                    let e = exemplars.next_if(|(at, _)| *at == i).map(|(_, e)| e);
                    self.om_line(self.name, "_bucket", line, Some(("le", le, true)), c, e);
                }
                if let Some(sum) = *sum {
                    self.sum_count(line, sum, Some(*count));
                }
            }
            SampleValue::Summary {
                quantiles,
                sum,
                count,
            } => {
                for &(q, v) in quantiles {
                    self.text_line("", line, Some(("quantile", q, false)), v);
                    self.om_line(self.name, "", line, Some(("quantile", q, true)), v, None);
                }
                if let Some(sum) = *sum {
                    self.both_lines("_sum", line, sum, None);
                }
                if let Some(count) = *count {
                    self.both_lines("_count", line, count, None);
                }
            }
        }
        if let (Some(created), Some(stem)) = (s.created(), self.created_stem) {
            self.om_line(stem, "_created", line, None, created, None);
        }
    }

    /// A histogram's `_sum` and `_count`, a gauge histogram's `_gsum` and `_gcount`.
    fn sum_count(&mut self, line: &Line<'_>, sum: f64, count: Option<f64>) {
        let count = count.unwrap_or_default();
        if self.kind == MetricType::GaugeHistogram {
            for (i, (suffix, v)) in [("_gcount", count), ("_gsum", sum)].into_iter().enumerate() {
                push_line(&mut self.gauges[i], self.name, suffix, line.labels, None, v);
                end_text(&mut self.gauges[i], line.ms);
            }
            self.om_line(self.name, "_gsum", line, None, sum, None);
            self.om_line(self.name, "_gcount", line, None, count, None);
        } else {
            self.both_lines("_sum", line, sum, None);
            self.both_lines("_count", line, count, None);
        }
    }

    /// One line that reads the same in both formats up to its end (same name, no generated
    /// label): written once into text, copied into OpenMetrics, each ended its own way.
    fn both_lines(&mut self, suffix: &str, line: &Line<'_>, v: f64, exemplar: Option<&Exemplar>) {
        let start = self.text.len();
        push_line(&mut self.text, self.name, suffix, line.labels, None, v);
        self.om.extend_from_slice(&self.text[start..]);
        end_text(&mut self.text, line.ms);
        end_om(&mut self.om, line.seconds, exemplar);
    }

    fn text_line(
        &mut self,
        suffix: &str,
        line: &Line<'_>,
        generated: Option<(&str, f64, bool)>,
        v: f64,
    ) {
        push_line(&mut self.text, self.name, suffix, line.labels, generated, v);
        end_text(&mut self.text, line.ms);
    }

    fn om_line(
        &mut self,
        name: &str,
        suffix: &str,
        line: &Line<'_>,
        generated: Option<(&str, f64, bool)>,
        v: f64,
        exemplar: Option<&Exemplar>,
    ) {
        push_line(&mut self.om, name, suffix, line.labels, generated, v);
        end_om(&mut self.om, line.seconds, exemplar);
    }
}

/// The OpenMetrics family name and type of a family: counters named `<stem>_total` are
/// counter `<stem>`, info families named `<stem>_info` info `<stem>`; other counters and
/// untyped are `unknown` under their own name.
pub fn om_name_and_type(name: &str, kind: MetricType) -> (&str, &'static str) {
    match kind {
        MetricType::Counter => match counter_stem(name) {
            Some(stem) => (stem, "counter"),
            None => (name, "unknown"),
        },
        MetricType::Info => (info_stem(name).unwrap_or(name), "info"),
        MetricType::Untyped => (name, "unknown"),
        other => (name, other.as_str()),
    }
}

/// The `# TYPE` of a family in text 0.0.4, which has no info, stateset or gauge histogram.
pub fn text_type(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Info | MetricType::StateSet => "gauge",
        MetricType::GaugeHistogram => "histogram",
        other => other.as_str(),
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

/// The text 0.0.4 header of the gauge family `<name><suffix>` that holds a gauge histogram's
/// `_gcount` or `_gsum` lines.
pub fn write_text_gauge_header(name: &str, suffix: &str, help: &str, out: &mut Vec<u8>) {
    let full = format!("{name}{suffix}");
    write_header_parts(&full, MetricType::Gauge, help, None, Format::Text, out);
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
            out.extend_from_slice(text_type(kind).as_bytes());
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
        exposition, families, promtool_check, python_parse, rendered, FIXTURE_JSON, GOLDEN_OM,
        GOLDEN_TEXT,
    };
    use crate::exposition::validate::{validate, Drops, ValidateOptions};

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

    /// Validates and renders `json`, returning the families and what validation dropped.
    fn rendered_with_drops(json: &str) -> (Vec<RenderedFamily>, Drops) {
        let mut drops = Drops::default();
        let fams = validate(families(json), &ValidateOptions::default(), &mut drops);
        (render(fams, None, false), drops)
    }

    #[test]
    fn what_openmetrics_forbids_is_dropped_from_both_formats_and_counted() {
        let (fams, drops) = rendered_with_drops(OM_STRICTER);
        // Two histogram sums, a summary sum and a negative quantile value.
        assert_eq!(
            drops,
            Drops {
                forbidden_value: 4,
                ..Drops::default()
            }
        );
        assert_eq!(
            text(&fams[0]),
            concat!(
                "temp_delta_celsius_bucket{s=\"neg\",le=\"-5\"} 1\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"0\"} 4\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"5\"} 9\n",
                "temp_delta_celsius_bucket{s=\"neg\",le=\"+Inf\"} 10\n",
                "temp_delta_celsius_bucket{s=\"nan\",le=\"1\"} 2\n",
                "temp_delta_celsius_bucket{s=\"nan\",le=\"+Inf\"} 2\n",
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
                "skew_seconds{s=\"neg\",quantile=\"0.9\"} NaN\n",
                "skew_seconds{s=\"neg\",quantile=\"0.99\"} 0.75\n",
                "skew_seconds_count{s=\"neg\"} 7\n",
            )
        );
        assert_eq!(
            om(&fams[1]),
            concat!(
                "skew_seconds{s=\"neg\",quantile=\"0.9\"} NaN\n",
                "skew_seconds{s=\"neg\",quantile=\"0.99\"} 0.75\n",
                "skew_seconds_count{s=\"neg\"} 7\n",
            )
        );
        let text_body = exposition(&fams, Format::Text);
        promtool_check(&text_body, true);
        let want = [
            "skew_seconds summary - 3",
            "temp_delta_celsius histogram - 10",
        ];
        assert_eq!(python_parse(&text_body, Format::Text), want);
        let om_body = exposition(&fams, Format::OpenMetrics);
        assert_eq!(python_parse(&om_body, Format::OpenMetrics), want);
    }

    /// Every OpenMetrics type and extra: timestamps, created times, exemplars.
    const OPENMETRICS_MODEL: &str = r#"[
      {"name":"jobs_total","type":"counter","help":"Jobs.","samples":[
        {"labels":{"q":"a"},"value":3,"timestamp":1700000000.5,"created":1600000000,
         "exemplar":{"labels":{"trace_id":"abc"},"value":1,"timestamp":1700000000.25}},
        {"labels":{"q":"b"},"value":0}]},
      {"name":"queue_age_seconds","type":"gaugehistogram","help":"Ages.","unit":"seconds","samples":[
        {"labels":{"q":"a"},"buckets":[{"le":1,"count":2,"exemplar":{"labels":{"id":"j1"},"value":0.5}},
          {"le":"+Inf","count":3}],"sum":4.5,"count":3},
        {"labels":{"q":"b"},"buckets":[{"le":"+Inf","count":0}]},
        {"labels":{"q":"c"},"buckets":[{"le":-1,"count":1}],"sum":-2,"count":1,"timestamp":1700000000}]},
      {"name":"build_info","type":"info","help":"Build.","samples":[{"labels":{"version":"1.2"}}]},
      {"name":"state","type":"stateset","help":"State.","samples":[
        {"labels":{"state":"up"},"value":1},{"labels":{"state":"down"},"value":0}]},
      {"name":"lat_seconds","type":"histogram","help":"Latency.","samples":[
        {"buckets":[{"le":0.5,"count":1}],"sum":0.25,"count":1,"created":1600000000.5}]},
      {"name":"rpc_seconds","type":"summary","help":"RPC.","samples":[
        {"quantiles":[{"quantile":0.5,"value":0.1}],"count":4,"created":1600000000}]},
      {"name":"old","type":"counter","help":"No _total: unknown in OpenMetrics.","samples":[
        {"value":1,"created":1600000000,"exemplar":{"value":1}}]}
    ]"#;

    #[test]
    fn every_openmetrics_type_in_both_formats() {
        let fams = rendered(OPENMETRICS_MODEL, disk(), false);
        let text_body = exposition(&fams, Format::Text);
        assert_eq!(
            text_body,
            concat!(
                "# HELP build_info Build.\n",
                "# TYPE build_info gauge\n",
                "build_info{version=\"1.2\",plugin=\"disk\"} 1\n",
                "# HELP jobs_total Jobs.\n",
                "# TYPE jobs_total counter\n",
                "jobs_total{q=\"a\",plugin=\"disk\"} 3 1700000000500\n",
                "jobs_total{q=\"b\",plugin=\"disk\"} 0\n",
                "# HELP lat_seconds Latency.\n",
                "# TYPE lat_seconds histogram\n",
                "lat_seconds_bucket{plugin=\"disk\",le=\"0.5\"} 1\n",
                "lat_seconds_bucket{plugin=\"disk\",le=\"+Inf\"} 1\n",
                "lat_seconds_sum{plugin=\"disk\"} 0.25\n",
                "lat_seconds_count{plugin=\"disk\"} 1\n",
                "# HELP old No _total: unknown in OpenMetrics.\n",
                "# TYPE old counter\n",
                "old{plugin=\"disk\"} 1\n",
                "# HELP queue_age_seconds Ages.\n",
                "# TYPE queue_age_seconds histogram\n",
                "queue_age_seconds_bucket{q=\"a\",plugin=\"disk\",le=\"1\"} 2\n",
                "queue_age_seconds_bucket{q=\"a\",plugin=\"disk\",le=\"+Inf\"} 3\n",
                "queue_age_seconds_bucket{q=\"b\",plugin=\"disk\",le=\"+Inf\"} 0\n",
                "queue_age_seconds_bucket{q=\"c\",plugin=\"disk\",le=\"-1\"} 1 1700000000000\n",
                "queue_age_seconds_bucket{q=\"c\",plugin=\"disk\",le=\"+Inf\"} 1 1700000000000\n",
                "# HELP queue_age_seconds_gcount Ages.\n",
                "# TYPE queue_age_seconds_gcount gauge\n",
                "queue_age_seconds_gcount{q=\"a\",plugin=\"disk\"} 3\n",
                "queue_age_seconds_gcount{q=\"c\",plugin=\"disk\"} 1 1700000000000\n",
                "# HELP queue_age_seconds_gsum Ages.\n",
                "# TYPE queue_age_seconds_gsum gauge\n",
                "queue_age_seconds_gsum{q=\"a\",plugin=\"disk\"} 4.5\n",
                "queue_age_seconds_gsum{q=\"c\",plugin=\"disk\"} -2 1700000000000\n",
                "# HELP rpc_seconds RPC.\n",
                "# TYPE rpc_seconds summary\n",
                "rpc_seconds{plugin=\"disk\",quantile=\"0.5\"} 0.1\n",
                "rpc_seconds_count{plugin=\"disk\"} 4\n",
                "# HELP state State.\n",
                "# TYPE state gauge\n",
                "state{state=\"up\",plugin=\"disk\"} 1\n",
                "state{state=\"down\",plugin=\"disk\"} 0\n",
            )
        );
        let om_body = exposition(&fams, Format::OpenMetrics);
        assert_eq!(
            om_body,
            concat!(
                "# TYPE build info\n",
                "# HELP build Build.\n",
                "build_info{version=\"1.2\",plugin=\"disk\"} 1\n",
                "# TYPE jobs counter\n",
                "# HELP jobs Jobs.\n",
                "jobs_total{q=\"a\",plugin=\"disk\"} 3 1700000000.5 # {trace_id=\"abc\"} 1 1700000000.25\n",
                "jobs_created{q=\"a\",plugin=\"disk\"} 1600000000 1700000000.5\n",
                "jobs_total{q=\"b\",plugin=\"disk\"} 0\n",
                "# TYPE lat_seconds histogram\n",
                "# HELP lat_seconds Latency.\n",
                "lat_seconds_bucket{plugin=\"disk\",le=\"0.5\"} 1\n",
                "lat_seconds_bucket{plugin=\"disk\",le=\"+Inf\"} 1\n",
                "lat_seconds_sum{plugin=\"disk\"} 0.25\n",
                "lat_seconds_count{plugin=\"disk\"} 1\n",
                "lat_seconds_created{plugin=\"disk\"} 1600000000.5\n",
                "# TYPE old unknown\n",
                "# HELP old No _total: unknown in OpenMetrics.\n",
                "old{plugin=\"disk\"} 1\n",
                "# TYPE queue_age_seconds gaugehistogram\n",
                "# UNIT queue_age_seconds seconds\n",
                "# HELP queue_age_seconds Ages.\n",
                "queue_age_seconds_bucket{q=\"a\",plugin=\"disk\",le=\"1.0\"} 2 # {id=\"j1\"} 0.5\n",
                "queue_age_seconds_bucket{q=\"a\",plugin=\"disk\",le=\"+Inf\"} 3\n",
                "queue_age_seconds_gsum{q=\"a\",plugin=\"disk\"} 4.5\n",
                "queue_age_seconds_gcount{q=\"a\",plugin=\"disk\"} 3\n",
                "queue_age_seconds_bucket{q=\"b\",plugin=\"disk\",le=\"+Inf\"} 0\n",
                "queue_age_seconds_bucket{q=\"c\",plugin=\"disk\",le=\"-1.0\"} 1 1700000000\n",
                "queue_age_seconds_bucket{q=\"c\",plugin=\"disk\",le=\"+Inf\"} 1 1700000000\n",
                "queue_age_seconds_gsum{q=\"c\",plugin=\"disk\"} -2 1700000000\n",
                "queue_age_seconds_gcount{q=\"c\",plugin=\"disk\"} 1 1700000000\n",
                "# TYPE rpc_seconds summary\n",
                "# HELP rpc_seconds RPC.\n",
                "rpc_seconds{plugin=\"disk\",quantile=\"0.5\"} 0.1\n",
                "rpc_seconds_count{plugin=\"disk\"} 4\n",
                "rpc_seconds_created{plugin=\"disk\"} 1600000000\n",
                "# TYPE state stateset\n",
                "# HELP state State.\n",
                "state{state=\"up\",plugin=\"disk\"} 1\n",
                "state{state=\"down\",plugin=\"disk\"} 0\n",
                "# EOF\n",
            )
        );
    }

    #[test]
    fn every_openmetrics_type_passes_promtool_and_python_in_both_formats() {
        let fams = rendered(OPENMETRICS_MODEL, disk(), false);
        let text_body = exposition(&fams, Format::Text);
        // Lint only: `old` is a counter without `_total`.
        promtool_check(&text_body, true);
        assert_eq!(
            python_parse(&text_body, Format::Text),
            [
                "build_info gauge - 1",
                "jobs counter - 2",
                "lat_seconds histogram - 4",
                "old counter - 1",
                "queue_age_seconds histogram - 5",
                "queue_age_seconds_gcount gauge - 2",
                "queue_age_seconds_gsum gauge - 2",
                "rpc_seconds summary - 2",
                "state gauge - 2",
            ]
        );
        assert_eq!(
            python_parse(&exposition(&fams, Format::OpenMetrics), Format::OpenMetrics),
            [
                "build info - 1",
                "jobs counter - 3",
                "lat_seconds histogram - 5",
                "old unknown - 1",
                "queue_age_seconds gaugehistogram seconds 9",
                "rpc_seconds summary - 3",
                "state stateset - 2",
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
