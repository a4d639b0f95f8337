//! Nagios plugins (`format: nagios`): one run's exit code and performance data as families.
//!
//! `docs/NAGIOS.md` is the full mapping with worked examples; in short:
//! - the exit code becomes the gauge `nagios_status` (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN;
//!   any other code and death by a signal are UNKNOWN);
//! - each perfdata item `'label'=value[UOM];[warn];[crit];[min];[max]` becomes one series
//!   `{label="<label>"}` in a family named after its base unit: `nagios_perfdata` (no UOM),
//!   `nagios_perfdata_seconds` (`s`, `ms`, `us`, `ns`), `nagios_perfdata_bytes` (`B` and the
//!   1024-based multiples), `nagios_perfdata_ratio` (`%` / 100), or the counter
//!   `nagios_perfdata_continuous_total` (`c`);
//! - thresholds and limits go to `nagios_perfdata_{warning,critical,minimum,maximum}<unit>`,
//!   only when present; a threshold range gives a `bound="lower"` and a `bound="upper"` series
//!   for its finite ends, plus `inside="true"` for an `@` range.
//!
//! # Choices
//! - Fixed family names with the perfdata label as a label value, rather than one family per
//!   perfdata label: labels are free text (`/var/log`, `'disk C: used'`), and a name built
//!   from them could be invalid, collide after sanitizing, or collide with another check's.
//! - Problems spoil the smallest unit: an unusable value or unit drops its item, a bad
//!   threshold or limit drops only that series, and the rest of the output is kept.
//! - `KB`, `MB`, `GB`, `TB` are powers of 1024, as the monitoring-plugins that print them
//!   compute them (check_disk's `-u MB` multiplies by 1024 * 1024).

use std::collections::HashSet;

use plugin_protocol::{Family, Labels, MetricType, Sample, Value};

/// Name of the state gauge.
pub const STATUS_NAME: &str = "nagios_status";
/// Stem of the perfdata families; a role and a unit suffix follow it.
pub const PERFDATA_PREFIX: &str = "nagios_perfdata";
/// Name of the counter family for `c` items.
pub const COUNTER_NAME: &str = "nagios_perfdata_continuous_total";
/// At most this many problems are described for one run; the rest are only counted, so a
/// plugin printing megabytes of garbage cannot flood the log.
pub const MAX_PROBLEMS: usize = 32;
/// Quoted plugin output in a problem is cut to this many characters.
const MAX_QUOTE: usize = 80;

const STATUS_HELP: &str = "State of the Nagios plugin's last run, from its exit code: 0 OK, \
                           1 WARNING, 2 CRITICAL, 3 UNKNOWN (also any other exit code or death \
                           by a signal).";
const COUNTER_HELP: &str = "Nagios performance data continuous counter (UOM c), by perfdata label.";

/// Converts one run of a Nagios plugin: its stdout and exit code (`None`: killed by a
/// signal). Returns the families and a description of each perfdata problem (an unusable
/// item, threshold or limit), for the log. At most [`MAX_PROBLEMS`] are described; past
/// that, one last entry says how many more there were.
pub fn families(stdout: &str, exit_code: Option<i32>) -> (Vec<Family>, Vec<String>) {
    let mut problems = Problems::default();
    let mut out = Builder::default();
    let status = family(STATUS_NAME, MetricType::Gauge, STATUS_HELP, None);
    out.push(status, Labels::default(), f64::from(state(exit_code)));
    // Labels of the items kept: an item reusing one would repeat its series.
    let mut seen = HashSet::new();
    for section in perfdata_sections(stdout) {
        for token in tokenize(section) {
            let raw = match token {
                Ok(raw) => raw,
                Err((text, what)) => {
                    problems.item(text, what);
                    continue;
                }
            };
            let Some(item) = parse_item(&raw, &mut problems) else {
                continue;
            };
            if seen.insert(item.label.clone()) {
                out.add_item(&item);
            } else {
                problems.item(raw.text, "repeats an earlier label; kept the first");
            }
        }
    }
    (out.families, problems.finish())
}

/// The Nagios state for an exit code: the code itself for 0..=3, else 3 (UNKNOWN). An odd
/// code is not a problem of the output: the caller, which has the exit status, logs it.
pub fn state(exit_code: Option<i32>) -> u8 {
    match exit_code {
        Some(c @ 0..=3) => c as u8,
        _ => 3,
    }
}

/// Problem descriptions, capped at [`MAX_PROBLEMS`].
#[derive(Default)]
struct Problems {
    list: Vec<String>,
    more: usize,
}

impl Problems {
    fn push(&mut self, p: String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(p);
        } else {
            self.more += 1;
        }
    }

    /// A problem with one perfdata item, quoting the item's text.
    fn item(&mut self, text: &str, what: &str) {
        self.push(format!("perfdata item {} {what}", quote(text)));
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list.push(format!(
                "{} more perfdata problems not described",
                self.more
            ));
        }
        self.list
    }
}

/// `s` in double quotes with Rust escapes, cut to [`MAX_QUOTE`] characters.
fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTE) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// The perfdata parts of a plugin's output, per the developer guidelines: what follows the
/// first `|` of the first line, and in the long output everything after the first `|` of a
/// later line, that line's rest and all lines after it.
fn perfdata_sections(stdout: &str) -> Vec<&str> {
    let mut lines = stdout.lines();
    let mut out = Vec::new();
    if let Some((_, p)) = lines.next().and_then(|l| l.split_once('|')) {
        out.push(p);
    }
    let mut in_perfdata = false;
    for line in lines {
        if in_perfdata {
            out.push(line);
        } else if let Some((_, p)) = line.split_once('|') {
            out.push(p);
            in_perfdata = true;
        }
    }
    out
}

/// One `label=data` item as written, before its data is parsed.
struct RawItem<'a> {
    /// The label, quotes removed and `''` unescaped.
    label: String,
    /// Everything after the `=`.
    data: &'a str,
    /// The whole item, for problem descriptions.
    text: &'a str,
}

/// Items are separated by blanks; a `\r` left by CRLF output counts as one.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

/// Index of the first blank at or after `from`, or the end.
fn token_end(s: &str, from: usize) -> usize {
    s.as_bytes()[from..]
        .iter()
        .position(|&b| is_blank(b))
        .map_or(s.len(), |k| from + k)
}

/// A token that is not a `label=data` item: its text and what is wrong with it.
type BadToken<'a> = (&'a str, &'static str);

/// Splits one perfdata section into items, in order, with the tokens that are not items
/// (no `=`) in their place. Labels may be quoted with `'`, contain blanks and `=` then, and
/// write a quote as `''`. An unterminated quote spoils the rest of the section.
fn tokenize(section: &str) -> Vec<Result<RawItem<'_>, BadToken<'_>>> {
    // Every delimiter is ASCII, so byte indices found here are char boundaries.
    let b = section.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_blank(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let label = if b[i] == b'\'' {
            let Some((label, after)) = quoted_label(section, i + 1) else {
                out.push(Err((&section[start..], "has an unterminated quoted label")));
                break;
            };
            if b.get(after) != Some(&b'=') {
                let end = token_end(section, after);
                out.push(Err((
                    &section[start..end],
                    "has no '=' after its quoted label",
                )));
                i = end;
                continue;
            }
            i = after + 1;
            label
        } else {
            let end = token_end(section, i);
            let Some(eq) = section[i..end].find('=') else {
                out.push(Err((&section[start..end], "has no '='")));
                i = end;
                continue;
            };
            let label = section[i..i + eq].to_string();
            i += eq + 1;
            label
        };
        let end = token_end(section, i);
        out.push(Ok(RawItem {
            label,
            data: &section[i..end],
            text: &section[start..end],
        }));
        i = end;
    }
    out
}

/// A quoted label whose text starts at `from` (after the opening quote): the label and the
/// index after the closing quote, or `None` when the quote is not closed.
fn quoted_label(s: &str, from: usize) -> Option<(String, usize)> {
    let mut label = String::new();
    let mut j = from;
    loop {
        let k = s[j..].find('\'')?;
        label.push_str(&s[j..j + k]);
        j += k + 1;
        if s.as_bytes().get(j) == Some(&b'\'') {
            label.push('\'');
            j += 1;
        } else {
            return Some((label, j));
        }
    }
}

/// The base unit a UOM converts to; each has its own families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// No UOM: a number of things (users, processes, load).
    Plain,
    Seconds,
    Bytes,
    Ratio,
}

impl Class {
    /// Suffix of the family names, which is also the OpenMetrics unit.
    fn unit(self) -> Option<&'static str> {
        match self {
            Class::Plain => None,
            Class::Seconds => Some("seconds"),
            Class::Bytes => Some("bytes"),
            Class::Ratio => Some("ratio"),
        }
    }

    /// How HELP describes the unit.
    fn help(self) -> &'static str {
        match self {
            Class::Plain => "without unit",
            Class::Seconds => "in seconds",
            Class::Bytes => "in bytes (KB, MB... are powers of 1024)",
            Class::Ratio => "as a ratio (percent / 100)",
        }
    }
}

/// What an item's series are, from its UOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge(Class),
    /// `c`: a continuous counter of things; its thresholds and limits are plain numbers.
    Counter,
}

impl Kind {
    /// The class of the item's thresholds and limits.
    fn class(self) -> Class {
        match self {
            Kind::Gauge(c) => c,
            Kind::Counter => Class::Plain,
        }
    }
}

/// How a value converts to its base unit: multiplied by `mul`, then divided by `div`.
/// Dividing by 1000 rather than multiplying by 0.001 keeps `0.518ms` at 0.000518, not
/// 0.0005180000000000001.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Factor {
    mul: f64,
    div: f64,
}

impl Factor {
    fn apply(self, v: f64) -> f64 {
        v * self.mul / self.div
    }
}

/// The kind of an item and its conversion to the base unit, or `None` for a UOM the
/// guidelines do not define (we could not name its base unit).
fn uom(s: &str) -> Option<(Kind, Factor)> {
    const K: f64 = 1024.0;
    let (kind, mul, div) = match s {
        "" => (Kind::Gauge(Class::Plain), 1.0, 1.0),
        "s" => (Kind::Gauge(Class::Seconds), 1.0, 1.0),
        "ms" => (Kind::Gauge(Class::Seconds), 1.0, 1e3),
        "us" => (Kind::Gauge(Class::Seconds), 1.0, 1e6),
        "ns" => (Kind::Gauge(Class::Seconds), 1.0, 1e9),
        "%" => (Kind::Gauge(Class::Ratio), 1.0, 100.0),
        "B" => (Kind::Gauge(Class::Bytes), 1.0, 1.0),
        "KB" | "kB" | "KiB" => (Kind::Gauge(Class::Bytes), K, 1.0),
        "MB" | "MiB" => (Kind::Gauge(Class::Bytes), K * K, 1.0),
        "GB" | "GiB" => (Kind::Gauge(Class::Bytes), K * K * K, 1.0),
        "TB" | "TiB" => (Kind::Gauge(Class::Bytes), K * K * K * K, 1.0),
        "PB" | "PiB" => (Kind::Gauge(Class::Bytes), K * K * K * K * K, 1.0),
        "c" => (Kind::Counter, 1.0, 1.0),
        _ => return None,
    };
    Some((kind, Factor { mul, div }))
}

/// A threshold range `[@]start:end`, in base units. `None` ends are unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Range {
    lower: Option<f64>,
    upper: Option<f64>,
    /// `@`: the check alerts when the value is inside the range, not outside.
    inside: bool,
}

/// One parsed perfdata item, in base units. `value` is NaN for `U` (undeterminable).
#[derive(Debug, Clone, PartialEq)]
struct Item {
    label: String,
    kind: Kind,
    value: f64,
    warning: Option<Range>,
    critical: Option<Range>,
    minimum: Option<f64>,
    maximum: Option<f64>,
}

/// Parses `value[UOM];[warn];[crit];[min];[max]`. `None` (reported) when the label, value or
/// UOM is unusable; a bad threshold or limit is reported and left out.
fn parse_item(raw: &RawItem, problems: &mut Problems) -> Option<Item> {
    if raw.label.is_empty() {
        problems.item(raw.text, "has an empty label");
        return None;
    }
    let mut fields = raw.data.split(';');
    // split always yields a first field, possibly empty.
    let first = fields.next().unwrap_or("");
    let (value, unit) = match first.strip_prefix('U') {
        Some(rest) => (f64::NAN, rest),
        None => match split_number(first) {
            Some(v) => v,
            None => {
                problems.item(raw.text, "has no numeric value");
                return None;
            }
        },
    };
    let Some((kind, factor)) = uom(unit) else {
        problems.item(
            raw.text,
            &format!("has an unknown unit of measurement {}", quote(unit)),
        );
        return None;
    };
    if kind == Kind::Counter && value < 0.0 {
        problems.item(raw.text, "is a counter with a negative value");
        return None;
    }
    let mut field = |what: &'static str| {
        let f = fields.next().filter(|f| !f.is_empty());
        f.map(|f| (what, f))
    };
    let (warn, crit, min, max) = (
        field("warning"),
        field("critical"),
        field("minimum"),
        field("maximum"),
    );
    if fields.any(|f| !f.is_empty()) {
        problems.item(raw.text, "has more than five fields; ignored the rest");
    }
    let mut range = |f: Option<(&'static str, &str)>| {
        let (what, text) = f?;
        let r = parse_range(text, factor);
        if r.is_none() {
            problems.item(
                raw.text,
                &format!("has an invalid {what} range {}", quote(text)),
            );
        }
        r
    };
    let (warning, critical) = (range(warn), range(crit));
    let mut limit = |f: Option<(&'static str, &str)>| {
        let (what, text) = f?;
        let v = full_number(text).map(|v| factor.apply(v));
        if v.is_none() {
            problems.item(raw.text, &format!("has an invalid {what} {}", quote(text)));
        }
        v
    };
    let (minimum, maximum) = (limit(min), limit(max));
    Some(Item {
        label: raw.label.clone(),
        kind,
        value: factor.apply(value),
        warning,
        critical,
        minimum,
        maximum,
    })
}

/// A leading decimal number and the rest of `s`. The number is the longest prefix of
/// `[0-9.eE+-]` characters, so `inf` and `NaN` (which `f64::from_str` takes) are refused, and
/// `1e-3s` reads as 0.001 seconds; no UOM starts with `e`.
fn split_number(s: &str) -> Option<(f64, &str)> {
    let end = s
        .find(|c: char| !matches!(c, '0'..='9' | '.' | 'e' | 'E' | '+' | '-'))
        .unwrap_or(s.len());
    let v = s[..end].parse().ok()?;
    Some((v, &s[end..]))
}

/// `s` as a whole decimal number, nothing after it.
fn full_number(s: &str) -> Option<f64> {
    match split_number(s)? {
        (v, "") => Some(v),
        _ => None,
    }
}

/// Parses a threshold range as monitoring-plugins do: `10` is `0:10`, `10:` has no upper
/// end, `~:10` no lower end, an empty start is 0, `@` inverts; start must not exceed end.
fn parse_range(s: &str, factor: Factor) -> Option<Range> {
    let (inside, s) = match s.strip_prefix('@') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (lower, upper) = match s.split_once(':') {
        Some((start, end)) => {
            let lower = match start {
                "~" => None,
                "" => Some(0.0),
                n => Some(full_number(n)?),
            };
            let upper = match end {
                "" => None,
                n => Some(full_number(n)?),
            };
            (lower, upper)
        }
        None => (Some(0.0), Some(full_number(s)?)),
    };
    if let (Some(l), Some(u)) = (lower, upper) {
        if l > u {
            return None;
        }
    }
    Some(Range {
        lower: lower.map(|v| factor.apply(v)),
        upper: upper.map(|v| factor.apply(v)),
        inside,
    })
}

/// What a series says about its item; each role has its own families.
#[derive(Debug, Clone, Copy)]
enum Role {
    Value,
    Warning,
    Critical,
    Minimum,
    Maximum,
}

impl Role {
    /// The empty family for this role and class.
    fn family(self, class: Class) -> Family {
        let (part, help) = match self {
            Role::Value => ("", "Nagios performance data value"),
            Role::Warning => ("_warning", "Warning threshold of Nagios performance data"),
            Role::Critical => ("_critical", "Critical threshold of Nagios performance data"),
            Role::Minimum => ("_minimum", "Minimum possible Nagios performance data value"),
            Role::Maximum => ("_maximum", "Maximum possible Nagios performance data value"),
        };
        let unit = class.unit();
        let name = match unit {
            Some(u) => format!("{PERFDATA_PREFIX}{part}_{u}"),
            None => format!("{PERFDATA_PREFIX}{part}"),
        };
        let by = match self {
            Role::Warning | Role::Critical => {
                "by perfdata label and finite range end (bound: lower, upper); inside=true: \
                 the check alerts inside the range, else outside"
            }
            _ => "by perfdata label",
        };
        let help = format!("{help} {}, {by}.", class.help());
        family(&name, MetricType::Gauge, &help, unit)
    }
}

/// A family without samples.
fn family(name: &str, kind: MetricType, help: &str, unit: Option<&str>) -> Family {
    Family {
        name: name.to_string(),
        kind,
        help: help.to_string(),
        unit: unit.map(str::to_string),
        samples: Vec::new(),
    }
}

/// Collects samples into families, creating each family on its first sample.
#[derive(Default)]
struct Builder {
    families: Vec<Family>,
}

impl Builder {
    /// Adds a sample to the family `empty` names, creating the family from `empty` first.
    fn push(&mut self, empty: Family, labels: Labels, value: f64) {
        let sample = Sample {
            labels,
            value: Some(Value(value)),
            ..Sample::default()
        };
        // A handful of families at most: a linear search is cheaper than a map.
        match self.families.iter_mut().find(|f| f.name == empty.name) {
            Some(f) => f.samples.push(sample),
            None => self.families.push(Family {
                samples: vec![sample],
                ..empty
            }),
        }
    }

    fn gauge(&mut self, role: Role, class: Class, labels: Labels, value: f64) {
        self.push(role.family(class), labels, value);
    }

    fn add_item(&mut self, item: &Item) {
        let label = || Labels(vec![("label".to_string(), item.label.clone())]);
        let class = item.kind.class();
        match item.kind {
            Kind::Gauge(c) => self.gauge(Role::Value, c, label(), item.value),
            // An undeterminable counter has no value to expose: NaN is invalid for counters.
            Kind::Counter if item.value.is_nan() => {}
            Kind::Counter => {
                let empty = family(COUNTER_NAME, MetricType::Counter, COUNTER_HELP, None);
                self.push(empty, label(), item.value);
            }
        }
        for (role, range) in [
            (Role::Warning, item.warning),
            (Role::Critical, item.critical),
        ] {
            let Some(r) = range else { continue };
            for (bound, v) in [("lower", r.lower), ("upper", r.upper)] {
                let Some(v) = v else { continue };
                let mut labels = label();
                labels.0.push(("bound".to_string(), bound.to_string()));
                if r.inside {
                    labels.0.push(("inside".to_string(), "true".to_string()));
                }
                self.gauge(role, class, labels, v);
            }
        }
        if let Some(v) = item.minimum {
            self.gauge(Role::Minimum, class, label(), v);
        }
        if let Some(v) = item.maximum {
            self.gauge(Role::Maximum, class, label(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::validate::{validate, Drops, ValidateOptions};

    /// Every series as `name{k="v",...} value`, in family and sample order.
    fn series(fams: &[Family]) -> Vec<String> {
        let mut out = Vec::new();
        for f in fams {
            for s in &f.samples {
                let labels: Vec<String> = s
                    .labels
                    .0
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect();
                let v = s.value.expect("nagios series are scalars").0;
                out.push(format!("{}{{{}}} {v}", f.name, labels.join(",")));
            }
        }
        out
    }

    /// Series of a run with exit code 0, without the status line, and the problems.
    fn perf(stdout: &str) -> (Vec<String>, Vec<String>) {
        let (fams, problems) = families(stdout, Some(0));
        assert_eq!(fams[0].name, STATUS_NAME);
        let mut s = series(&fams);
        s.remove(0);
        (s, problems)
    }

    /// Compares series regardless of order: families group them, the tests list them by item.
    fn assert_series<S: AsRef<str>>(mut actual: Vec<String>, expected: &[S]) {
        let mut expected: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
        actual.sort_unstable();
        expected.sort_unstable();
        assert_eq!(actual, expected);
    }

    fn perf_ok(stdout: &str) -> Vec<String> {
        let (s, problems) = perf(stdout);
        assert!(problems.is_empty(), "unexpected problems {problems:?}");
        s
    }

    #[test]
    fn exit_codes_map_to_states_and_odd_ones_are_unknown() {
        for (code, state) in [
            (Some(0), 0.0),
            (Some(1), 1.0),
            (Some(2), 2.0),
            (Some(3), 3.0),
            (Some(4), 3.0),
            (Some(127), 3.0),
            (Some(-1), 3.0),
            (None, 3.0),
        ] {
            let (fams, problems) = families("OK - fine\n", code);
            assert_eq!(series(&fams), [format!("nagios_status{{}} {state}")]);
            assert_eq!(fams[0].kind, MetricType::Gauge);
            assert!(problems.is_empty(), "{code:?}: {problems:?}");
        }
    }

    #[test]
    fn output_without_perfdata_gives_only_the_status() {
        for out in ["", "\n", "USERS OK - 0 users\n", "a\nb\nc\n"] {
            assert_eq!(perf_ok(out), Vec::<String>::new(), "{out:?}");
        }
    }

    #[test]
    fn check_load_output_maps_to_plain_numbers_with_thresholds() {
        let out = "LOAD OK - scaled load average: 0.56, 0.79, 0.71 - total load average: \
                   1.11, 1.58, 1.42|load1=1.110;;;0; scaled_load1=0.555;5.000;10.000;0; \n";
        assert_series(
            perf_ok(out),
            &[
                r#"nagios_perfdata{label="load1"} 1.11"#,
                r#"nagios_perfdata_minimum{label="load1"} 0"#,
                r#"nagios_perfdata{label="scaled_load1"} 0.555"#,
                r#"nagios_perfdata_warning{label="scaled_load1",bound="lower"} 0"#,
                r#"nagios_perfdata_warning{label="scaled_load1",bound="upper"} 5"#,
                r#"nagios_perfdata_critical{label="scaled_load1",bound="lower"} 0"#,
                r#"nagios_perfdata_critical{label="scaled_load1",bound="upper"} 10"#,
                r#"nagios_perfdata_minimum{label="scaled_load1"} 0"#,
            ],
        );
    }

    #[test]
    fn quoted_labels_keep_blanks_equals_and_doubled_quotes() {
        let out = "OK | 'disk C: used'=5B 'it''s'=1 '''a=b'''=2 'x'=3 plain'q=4\n";
        assert_series(
            perf_ok(out),
            &[
                r#"nagios_perfdata_bytes{label="disk C: used"} 5"#,
                r#"nagios_perfdata{label="it's"} 1"#,
                r#"nagios_perfdata{label="'a=b'"} 2"#,
                r#"nagios_perfdata{label="x"} 3"#,
                r#"nagios_perfdata{label="plain'q"} 4"#,
            ],
        );
    }

    #[test]
    fn missing_and_empty_fields_give_no_series() {
        assert_series(
            perf_ok("PROCS OK: 78 processes | procs=78;;;0;\n"),
            &[
                r#"nagios_perfdata{label="procs"} 78"#,
                r#"nagios_perfdata_minimum{label="procs"} 0"#,
            ],
        );
        assert_series(
            perf_ok("x | a=1;;;; b=2; c=3;;;;5 d=4;;;;;;\n"),
            &[
                r#"nagios_perfdata{label="a"} 1"#,
                r#"nagios_perfdata{label="b"} 2"#,
                r#"nagios_perfdata{label="c"} 3"#,
                r#"nagios_perfdata_maximum{label="c"} 5"#,
                r#"nagios_perfdata{label="d"} 4"#,
            ],
        );
    }

    #[test]
    fn units_convert_to_base_units() {
        let out = "x | a=2s b=250ms c=0.518ms d=1500us e=7ns f=42% g=10B h=1KB i=1kB j=2MB \
                   k=1GB l=1TB m=1KiB n=3MiB o=1PB p=17c q=-3 r=1e3ms s=.5s t=2.s\n";
        assert_series(
            perf_ok(out),
            &[
                r#"nagios_perfdata_seconds{label="a"} 2"#,
                r#"nagios_perfdata_seconds{label="b"} 0.25"#,
                r#"nagios_perfdata_seconds{label="c"} 0.000518"#,
                r#"nagios_perfdata_seconds{label="d"} 0.0015"#,
                r#"nagios_perfdata_seconds{label="e"} 0.000000007"#,
                r#"nagios_perfdata_ratio{label="f"} 0.42"#,
                r#"nagios_perfdata_bytes{label="g"} 10"#,
                r#"nagios_perfdata_bytes{label="h"} 1024"#,
                r#"nagios_perfdata_bytes{label="i"} 1024"#,
                r#"nagios_perfdata_bytes{label="j"} 2097152"#,
                r#"nagios_perfdata_bytes{label="k"} 1073741824"#,
                r#"nagios_perfdata_bytes{label="l"} 1099511627776"#,
                r#"nagios_perfdata_bytes{label="m"} 1024"#,
                r#"nagios_perfdata_bytes{label="n"} 3145728"#,
                r#"nagios_perfdata_bytes{label="o"} 1125899906842624"#,
                r#"nagios_perfdata_continuous_total{label="p"} 17"#,
                r#"nagios_perfdata{label="q"} -3"#,
                r#"nagios_perfdata_seconds{label="r"} 1"#,
                r#"nagios_perfdata_seconds{label="s"} 0.5"#,
                r#"nagios_perfdata_seconds{label="t"} 2"#,
            ],
        );
        let (fams, _) = families(out, Some(0));
        let meta = |name: &str| {
            let f = fams.iter().find(|f| f.name == name).expect(name);
            (f.kind, f.unit.clone())
        };
        assert_eq!(
            meta("nagios_perfdata_seconds"),
            (MetricType::Gauge, Some("seconds".into()))
        );
        assert_eq!(
            meta("nagios_perfdata_ratio"),
            (MetricType::Gauge, Some("ratio".into()))
        );
        assert_eq!(
            meta("nagios_perfdata_bytes"),
            (MetricType::Gauge, Some("bytes".into()))
        );
        assert_eq!(meta("nagios_perfdata"), (MetricType::Gauge, None));
        assert_eq!(meta(COUNTER_NAME), (MetricType::Counter, None));
    }

    #[test]
    fn thresholds_and_limits_take_the_value_unit() {
        let out = "PING OK - Packet loss = 0%, RTA = 0.52 ms|rta=0.518000ms;100.000000;\
                   200.000000;0.000000 pl=0%;20;50;0;100\n";
        assert_series(
            perf_ok(out),
            &[
                r#"nagios_perfdata_seconds{label="rta"} 0.000518"#,
                r#"nagios_perfdata_warning_seconds{label="rta",bound="lower"} 0"#,
                r#"nagios_perfdata_warning_seconds{label="rta",bound="upper"} 0.1"#,
                r#"nagios_perfdata_critical_seconds{label="rta",bound="lower"} 0"#,
                r#"nagios_perfdata_critical_seconds{label="rta",bound="upper"} 0.2"#,
                r#"nagios_perfdata_minimum_seconds{label="rta"} 0"#,
                r#"nagios_perfdata_ratio{label="pl"} 0"#,
                r#"nagios_perfdata_warning_ratio{label="pl",bound="lower"} 0"#,
                r#"nagios_perfdata_warning_ratio{label="pl",bound="upper"} 0.2"#,
                r#"nagios_perfdata_critical_ratio{label="pl",bound="lower"} 0"#,
                r#"nagios_perfdata_critical_ratio{label="pl",bound="upper"} 0.5"#,
                r#"nagios_perfdata_minimum_ratio{label="pl"} 0"#,
                r#"nagios_perfdata_maximum_ratio{label="pl"} 1"#,
            ],
        );
        // A counter's thresholds and limits are plain numbers.
        assert_series(
            perf_ok("x | in=5c;10;20;0;100\n"),
            &[
                r#"nagios_perfdata_continuous_total{label="in"} 5"#,
                r#"nagios_perfdata_warning{label="in",bound="lower"} 0"#,
                r#"nagios_perfdata_warning{label="in",bound="upper"} 10"#,
                r#"nagios_perfdata_critical{label="in",bound="lower"} 0"#,
                r#"nagios_perfdata_critical{label="in",bound="upper"} 20"#,
                r#"nagios_perfdata_minimum{label="in"} 0"#,
                r#"nagios_perfdata_maximum{label="in"} 100"#,
            ],
        );
    }

    #[test]
    fn ranges_export_their_finite_ends() {
        let warn = |range: &str| -> Vec<String> {
            let s = perf_ok(&format!("x | v=1;{range}\n"));
            s.into_iter()
                .skip(1)
                .map(|l| l.replace(r#"nagios_perfdata_warning{label="v","#, ""))
                .collect()
        };
        assert_eq!(warn("10"), [r#"bound="lower"} 0"#, r#"bound="upper"} 10"#]);
        assert_eq!(warn("10:"), [r#"bound="lower"} 10"#]);
        assert_eq!(warn("~:5"), [r#"bound="upper"} 5"#]);
        assert_eq!(warn(":5"), [r#"bound="lower"} 0"#, r#"bound="upper"} 5"#]);
        assert_eq!(
            warn("-10:20.5"),
            [r#"bound="lower"} -10"#, r#"bound="upper"} 20.5"#]
        );
        assert_eq!(warn("5:5"), [r#"bound="lower"} 5"#, r#"bound="upper"} 5"#]);
        assert_eq!(
            warn("@10:20"),
            [
                r#"bound="lower",inside="true"} 10"#,
                r#"bound="upper",inside="true"} 20"#
            ]
        );
        assert_eq!(warn("@~:3"), [r#"bound="upper",inside="true"} 3"#]);
        assert!(warn("~:").is_empty());
        assert!(warn("@~:").is_empty());
    }

    #[test]
    fn invalid_thresholds_and_limits_drop_only_their_series() {
        let (s, problems) = perf("x | v=1;20:10;abc;zero;1:2 w=2\n");
        assert_eq!(
            s,
            [
                r#"nagios_perfdata{label="v"} 1"#,
                r#"nagios_perfdata{label="w"} 2"#
            ]
        );
        assert_eq!(
            problems,
            [
                r#"perfdata item "v=1;20:10;abc;zero;1:2" has an invalid warning range "20:10""#,
                r#"perfdata item "v=1;20:10;abc;zero;1:2" has an invalid critical range "abc""#,
                r#"perfdata item "v=1;20:10;abc;zero;1:2" has an invalid minimum "zero""#,
                r#"perfdata item "v=1;20:10;abc;zero;1:2" has an invalid maximum "1:2""#,
            ]
        );
        for bad in ["1:x", "x:1", "@", "~", "10ms", "inf", "--1", "1:2:3"] {
            let (_, problems) = perf(&format!("x | v=1;{bad}\n"));
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        }
    }

    #[test]
    fn garbage_items_are_reported_and_the_rest_is_kept() {
        let out = "x | a=1 junk b=abc c=1dB =5 ''=6 'q'x d=nan e=inf f=1,5 g= h=2;;;;;9 \
                   i=-1c j=3 'open=4\n";
        let (s, problems) = perf(out);
        assert_eq!(
            s,
            [
                r#"nagios_perfdata{label="a"} 1"#,
                r#"nagios_perfdata{label="h"} 2"#,
                r#"nagios_perfdata{label="j"} 3"#,
            ]
        );
        assert_eq!(
            problems,
            [
                r#"perfdata item "junk" has no '='"#,
                r#"perfdata item "b=abc" has no numeric value"#,
                r#"perfdata item "c=1dB" has an unknown unit of measurement "dB""#,
                r#"perfdata item "=5" has an empty label"#,
                r#"perfdata item "''=6" has an empty label"#,
                r#"perfdata item "'q'x" has no '=' after its quoted label"#,
                r#"perfdata item "d=nan" has no numeric value"#,
                r#"perfdata item "e=inf" has no numeric value"#,
                r#"perfdata item "f=1,5" has an unknown unit of measurement ",5""#,
                r#"perfdata item "g=" has no numeric value"#,
                r#"perfdata item "h=2;;;;;9" has more than five fields; ignored the rest"#,
                r#"perfdata item "i=-1c" is a counter with a negative value"#,
                r#"perfdata item "'open=4" has an unterminated quoted label"#,
            ]
        );
    }

    #[test]
    fn multi_line_output_continues_perfdata_after_a_later_pipe() {
        // The example of the developer guidelines.
        let out = "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
                   / 15272 MB (77%);\n\
                   /boot 68 MB (69%);\n\
                   /home 69357 MB (27%);\n\
                   /var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n\
                   /home=69357MB;253404;253409;0;253414 \n\
                   /var/log=818MB;970;975;0;980\n";
        let values: Vec<String> = perf_ok(out)
            .into_iter()
            .filter(|s| s.starts_with("nagios_perfdata_bytes{"))
            .collect();
        let mib = 1024.0 * 1024.0;
        assert_eq!(
            values,
            [
                format!(r#"nagios_perfdata_bytes{{label="/"}} {}"#, 2643.0 * mib),
                format!(r#"nagios_perfdata_bytes{{label="/boot"}} {}"#, 68.0 * mib),
                format!(
                    r#"nagios_perfdata_bytes{{label="/home"}} {}"#,
                    69357.0 * mib
                ),
                format!(
                    r#"nagios_perfdata_bytes{{label="/var/log"}} {}"#,
                    818.0 * mib
                ),
            ]
        );
        // Long output without a second pipe carries no perfdata; CRLF line ends are fine.
        assert_eq!(
            perf_ok("OK | a=1\r\nline 2\r\nline 3 b=2\r\n"),
            [r#"nagios_perfdata{label="a"} 1"#]
        );
        assert_eq!(
            perf_ok("OK\nlong text\nmore | b=2\r\nc=3\n"),
            [
                r#"nagios_perfdata{label="b"} 2"#,
                r#"nagios_perfdata{label="c"} 3"#
            ]
        );
    }

    #[test]
    fn repeated_labels_keep_the_first_usable_item() {
        let (s, problems) = perf("x | a=x a=1 a=2s b=1\n");
        assert_eq!(
            s,
            [
                r#"nagios_perfdata{label="a"} 1"#,
                r#"nagios_perfdata{label="b"} 1"#
            ]
        );
        assert_eq!(
            problems,
            [
                r#"perfdata item "a=x" has no numeric value"#,
                r#"perfdata item "a=2s" repeats an earlier label; kept the first"#,
            ]
        );
    }

    #[test]
    fn undeterminable_values_are_nan_gauges_and_absent_counters() {
        let (fams, problems) = families("x | a=U;5 b=Ums c=Uc;1\n", Some(3));
        assert!(problems.is_empty(), "{problems:?}");
        assert_series(
            series(&fams),
            &[
                "nagios_status{} 3",
                r#"nagios_perfdata{label="a"} NaN"#,
                r#"nagios_perfdata_warning{label="a",bound="lower"} 0"#,
                r#"nagios_perfdata_warning{label="a",bound="upper"} 5"#,
                r#"nagios_perfdata_seconds{label="b"} NaN"#,
                r#"nagios_perfdata_warning{label="c",bound="lower"} 0"#,
                r#"nagios_perfdata_warning{label="c",bound="upper"} 1"#,
            ],
        );
    }

    #[test]
    fn problems_are_capped_and_long_items_cut() {
        let junk: Vec<String> = (0..100).map(|i| format!("junk{i}")).collect();
        let (_, problems) = perf(&format!("x | {} a=1\n", junk.join(" ")));
        assert_eq!(problems.len(), MAX_PROBLEMS + 1);
        assert_eq!(
            problems[MAX_PROBLEMS],
            "68 more perfdata problems not described"
        );
        let long = "é".repeat(200);
        let (_, problems) = perf(&format!("x | {long}\n"));
        assert_eq!(
            problems,
            [format!(
                "perfdata item \"{}\"... has no '='",
                "é".repeat(80)
            )]
        );
    }

    #[test]
    fn numbers_are_decimal_only() {
        assert_eq!(split_number("1.5ms"), Some((1.5, "ms")));
        assert_eq!(split_number("-.5"), Some((-0.5, "")));
        assert_eq!(split_number("+2."), Some((2.0, "")));
        assert_eq!(split_number("1e-3s"), Some((0.001, "s")));
        assert_eq!(split_number("1E+2"), Some((100.0, "")));
        for bad in [
            "", ".", "-", "+", "e5", "3e", "1-2", "inf", "NaN", "infinity", "U",
        ] {
            assert_eq!(split_number(bad), None, "{bad}");
        }
        assert_eq!(full_number("1.5"), Some(1.5));
        assert_eq!(full_number("1.5s"), None);
    }

    #[test]
    fn every_output_validates_without_drops() {
        let out = "DISK WARNING | /=19235078144B;243497277849;257024904396;0;270552530944 \
                   'a b'=1;@1:2;~:3;0;9 rta=1ms;2;3;0; pl=5%;10:;20: in=3c;5 u=U\n";
        let (fams, _) = families(out, Some(1));
        let mut drops = Drops::default();
        let kept = validate(
            fams.clone(),
            &ValidateOptions::with_extra_label(Some(("plugin", "disk"))),
            &mut drops,
        );
        assert_eq!(drops, Drops::default());
        assert_eq!(kept.len(), fams.len());
    }
}
