//! A strict parser of the Prometheus text format 0.0.4 and OpenMetrics 1.0, for plugins whose
//! command prints an exposition and exits (`format: prometheus`, like node_exporter textfile
//! collector scripts). It produces protocol families, which then take the same validation and
//! rendering path as a JSON plugin's batch.
//!
//! # Which format
//! A command has no Content-Type, so the content decides: the input is OpenMetrics when one
//! of its lines is exactly `# EOF`, else text 0.0.4 (where `# UNIT`, OpenMetrics-only types
//! and a malformed `# EOF` are errors that say so, which is how OpenMetrics cut short before
//! its `# EOF` shows). So an empty input is text 0.0.4, and valid: an exposition of nothing,
//! as a collector with nothing to report prints. It cannot be OpenMetrics, whose expositions
//! end with `# EOF` (OpenMetrics' own test suite has it as `bad_no_eof`).
//!
//! Every rule broken drops the smallest unit it spoils (a line, a series, a family) with a
//! [`ParseError`] naming the line; everything valid is kept, so one bad line never loses the
//! rest. [`super::validate`] then applies the rules that do not need the text: repeated
//! family names and clashing sample names, duplicate series and timestamp order, reserved
//! label names, label limits, and every value rule of OpenMetrics (bucket order and counts,
//! sums, quantile ranges, info and stateset values, exemplar labels), each counted under its
//! own error kind; the parser only reads the values and passes them on.
//!
//! # Rules checked here
//! - Syntax (`parse/line.rs`): metric and label names, label value escapes (`\\`, `\"`, `\n`),
//!   unterminated quotes, duplicate label names, numbers, timestamps, exemplars.
//! - Families: HELP, TYPE (and UNIT) at most once each and before the family's first sample;
//!   all lines of a family contiguous (a later group is refused line by line); a sample whose
//!   name fits no family starts an untyped family of its own.
//! - Histograms and gauge histograms: `_bucket` (with `le`), `_sum`, `_count` (`_gsum`,
//!   `_gcount`) lines with equal labels (but `le`) and timestamp form one wire sample,
//!   buckets in the order given; summaries likewise with `quantile`, and OpenMetrics counters
//!   with `_total` and `_created`. `le` or `quantile` anywhere else is an error. A label set
//!   seen again in a family goes to the same sample (text 0.0.4 lets a series' lines be
//!   apart, as Go's parser does; OpenMetrics forbids it), unless the slot is taken or the
//!   timestamp differs: a second `_sum`, or a bucket repeating the first bound, starts a new
//!   sample, so a repeated series reaches validation as such.
//! - OpenMetrics: `# EOF` last (one error for anything after it), no blank lines, no other
//!   `#` lines, `# UNIT` a suffix of the family name, counter samples `_total` (a `_created`
//!   alone is refused), info samples `_info`, a histogram's `+Inf` bucket, its `_sum` and
//!   `_count` both or neither (`_gsum` and `_gcount` likewise), exemplars only on counter
//!   `_total` and histogram and gauge histogram `_bucket` lines.
//!
//! # Choices
//! - Values: text 0.0.4 takes exactly `NaN`, `+Inf`, `-Inf` besides decimal numbers (not
//!   `Inf`, `inf`, `nan`, hex or `_`, which Go would take), as REFERENCE.md states the format.
//!   OpenMetrics follows its ABNF, which allows `inf`, `infinity` and `nan` in any case; an
//!   `le` bound of +Inf must still be written `+Inf` there (the spec's one MUST on canonical
//!   numbers); other non-canonical bounds like `le="1"` are taken, as the spec requires.
//! - Every OpenMetrics type is kept as such (`unknown` is untyped). A counter family `foo` is
//!   the wire family `foo_total`, an info family `foo` the wire family `foo_info`, as the
//!   protocol names them; `_created` lines become the samples' created times.
//! - Timestamps (integer milliseconds in 0.0.4, seconds in OpenMetrics) are kept, in seconds,
//!   and so are exemplars. Where an exemplar may stand is decided here, from the sample's
//!   name, which only the text has (an error for its line, like any line breaking the
//!   format); its labels' length and names are validation's, as for a JSON plugin's.
//! - Text 0.0.4 `foo_created` families that follow a counter `foo_total` or a histogram or
//!   summary `foo` are dropped silently: prometheus_client writes them by default, validation
//!   would refuse them anyway (OpenMetrics reserves the name), and we serve created times in
//!   OpenMetrics only.
//! - Text 0.0.4 wants the last line to end in `\n`; without it the last line may be cut
//!   short (a plugin killed mid-write), so it is dropped with an error. OpenMetrics has
//!   `# EOF` for that and may omit the final newline.
//! - Blank lines and comments are fine in text 0.0.4; leading blanks and blanks between
//!   tokens too (as in Go's parser), but not after the value or timestamp.
//! - [`MAX_ERRORS`] errors are listed at most, then one error counts the rest: garbage input
//!   must not cost more memory as errors than it took as text.

mod cursor;
mod family;
mod line;
mod number;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use super::format::Format;
use family::{misplaced, Fam, Kind, Role};
use line::{quote, Line, SampleLine};
use plugin_protocol as proto;

/// Errors listed in a [`ParseOutput`] before the rest are only counted.
pub const MAX_ERRORS: usize = 1000;

/// Which format an exposition was parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// Prometheus text format 0.0.4.
    Text004,
    /// OpenMetrics 1.0 text (the exposition has a `# EOF` line).
    OpenMetrics,
}

impl From<TextFormat> for Format {
    fn from(f: TextFormat) -> Self {
        match f {
            TextFormat::Text004 => Format::Text,
            TextFormat::OpenMetrics => Format::OpenMetrics,
        }
    }
}

/// One problem, with the 1-based line it is about.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong; metric names in it are quoted and cut to 64 characters.
    pub message: String,
}

/// What [`parse`] found: the valid families, and an error for everything dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseOutput {
    /// Families in order of first appearance.
    pub families: Vec<proto::Family>,
    /// Problems, ordered by line (the count of unlisted ones, if any, last).
    pub errors: Vec<ParseError>,
    /// The format the text was parsed as.
    pub format: TextFormat,
}

/// Parses a whole exposition; see the module docs for the rules.
pub fn parse(text: &str) -> ParseOutput {
    parse_bytes(text.as_bytes())
}

/// [`parse`] for a program's raw output: a line that is not UTF-8 is an error of its own.
pub fn parse_bytes(bytes: &[u8]) -> ParseOutput {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // A final `\n` leaves an empty piece that is no line; so does empty input.
    let terminated = lines.last().is_some_and(|l| l.is_empty());
    if terminated {
        lines.pop();
    }
    let eof = lines.iter().position(|l| *l == b"# EOF");
    let mut p = Parser::new(eof.is_some());
    let end = match eof {
        Some(i) => {
            if i + 1 < lines.len() {
                p.error(i + 2, "content after \"# EOF\"");
            }
            i
        }
        None if !terminated => {
            p.error(
                lines.len(),
                "the last line does not end with a newline (cut short?)",
            );
            lines.len() - 1
        }
        None => lines.len(),
    };
    for (i, raw) in lines[..end].iter().enumerate() {
        let n = i + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            p.error(n, "not valid UTF-8");
            continue;
        };
        match line::lex(text, p.om) {
            Err(msg) => p.error(n, msg),
            Ok(Line::Blank | Line::Comment) => {}
            Ok(Line::Help { name, text }) => p.meta(n, name, Meta::Help(text)),
            Ok(Line::Type { name, kind }) => p.meta(n, name, Meta::Type(kind)),
            Ok(Line::Unit { name, unit }) => p.meta(n, name, Meta::Unit(unit)),
            Ok(Line::Sample(s)) => p.sample(n, s),
        }
    }
    p.finish()
}

/// A metadata line's content.
enum Meta<'a> {
    Help(String),
    Type(&'a str),
    Unit(&'a str),
}

impl Meta<'_> {
    fn keyword(&self) -> &'static str {
        match self {
            Meta::Help(_) => "# HELP",
            Meta::Type(_) => "# TYPE",
            Meta::Unit(_) => "# UNIT",
        }
    }
}

struct Parser {
    om: bool,
    fams: Vec<Fam>,
    /// Family names (as in metadata) to families.
    by_name: HashMap<String, usize>,
    /// Sample names to the first family they belong to, to tell a split family from a new one.
    members: HashMap<String, usize>,
    current: Option<usize>,
    errors: Vec<ParseError>,
    /// Errors beyond [`MAX_ERRORS`], and the line of the first of them.
    unlisted: usize,
    first_unlisted: usize,
}

impl Parser {
    fn new(om: bool) -> Self {
        Parser {
            om,
            fams: Vec::new(),
            by_name: HashMap::new(),
            members: HashMap::new(),
            current: None,
            errors: Vec::new(),
            unlisted: 0,
            first_unlisted: 0,
        }
    }

    fn error(&mut self, line: usize, message: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(ParseError {
                line,
                message: message.into(),
            });
        } else {
            if self.unlisted == 0 {
                self.first_unlisted = line;
            }
            self.unlisted += 1;
        }
    }

    /// Starts a family and makes it the current one.
    fn new_family(&mut self, name: &str, line: usize) -> usize {
        let idx = self.fams.len();
        let ignored = !self.om && self.is_created_companion(name);
        self.fams.push(Fam::new(name, line, ignored));
        self.by_name.insert(name.to_string(), idx);
        self.register(idx);
        self.current = Some(idx);
        idx
    }

    /// Records the sample names of family `idx` (again after its TYPE changed them).
    fn register(&mut self, idx: usize) {
        let fam = &self.fams[idx];
        for suffix in fam.kind.suffixes(self.om) {
            self.members
                .entry(format!("{}{suffix}", fam.name))
                .or_insert(idx);
        }
    }

    /// Text 0.0.4: is `name` the `_created` family prometheus_client writes after a counter,
    /// histogram or summary it already wrote?
    fn is_created_companion(&self, name: &str) -> bool {
        // An empty base is no name: `_total` is not a counter stem (see counter_stem).
        let Some(base) = name.strip_suffix("_created").filter(|b| !b.is_empty()) else {
            return false;
        };
        let kind_of = |n: &str| self.by_name.get(n).map(|&i| self.fams[i].kind);
        kind_of(&format!("{base}_total")) == Some(Kind::Counter)
            || matches!(kind_of(base), Some(Kind::Histogram | Kind::Summary))
    }

    fn meta(&mut self, n: usize, name: &str, meta: Meta<'_>) {
        let idx = match self.by_name.get(name).copied() {
            Some(i) if Some(i) == self.current => {
                if self.fams[i].samples_seen {
                    let msg = format!("{} for {} after its samples", meta.keyword(), quote(name));
                    return self.error(n, msg);
                }
                i
            }
            Some(i) => return self.error(n, split_message(&self.fams[i], name)),
            None => self.new_family(name, n),
        };
        let om = self.om;
        let fam = &mut self.fams[idx];
        fam.last_line = n;
        let mut retyped = false;
        let problem = match meta {
            Meta::Help(_) if fam.help.is_some() => {
                Some(format!("second # HELP for {}", quote(name)))
            }
            Meta::Help(text) => {
                fam.help = Some(text);
                None
            }
            Meta::Type(_) if fam.typed => Some(format!("second # TYPE for {}", quote(name))),
            Meta::Type(t) => match Kind::from_type(t, om) {
                None => Some(unknown_type(t, om)),
                Some(kind) => {
                    fam.typed = true;
                    fam.kind = kind;
                    retyped = true;
                    match kind {
                        Kind::Info | Kind::StateSet if fam.unit.take().is_some() => Some(format!(
                            "type {} takes no unit: unit dropped",
                            kind.as_str()
                        )),
                        _ => None,
                    }
                }
            },
            Meta::Unit(_) if fam.unit_seen => Some(format!("second # UNIT for {}", quote(name))),
            Meta::Unit(unit) => {
                fam.unit_seen = true;
                if unit.is_empty() {
                    // "MUST be treated as if no metadata line for the MetricFamily existed."
                    None
                } else if matches!(fam.kind, Kind::Info | Kind::StateSet) {
                    Some(format!("type {} takes no unit", fam.kind.as_str()))
                } else if !name
                    .strip_suffix(unit)
                    .is_some_and(|stem| stem.ends_with('_'))
                {
                    Some(format!(
                        "unit {} is not a suffix of {} (the name must end in _{})",
                        quote(unit),
                        quote(name),
                        line::excerpt(unit)
                    ))
                } else {
                    fam.unit = Some(unit.to_string());
                    None
                }
            }
        };
        if retyped {
            self.register(idx);
        }
        if let Some(msg) = problem {
            self.error(n, msg);
        }
    }

    fn sample(&mut self, n: usize, s: SampleLine<'_>) {
        let Some((idx, role)) = self.resolve(n, &s) else {
            return;
        };
        let fam = &mut self.fams[idx];
        fam.samples_seen = true;
        fam.last_line = n;
        if fam.ignored {
            return;
        }
        if let Err(msg) = fam.place(role, n, s, self.om) {
            fam.rejected += 1;
            self.error(n, msg);
        }
    }

    /// The family a sample line belongs to: the current one if its name fits, else a new
    /// untyped one, unless the name belongs to an earlier family (an error: families are
    /// contiguous).
    fn resolve(&mut self, n: usize, s: &SampleLine<'_>) -> Option<(usize, Role)> {
        if let Some(c) = self.current {
            let fam = &self.fams[c];
            if let Some(rest) = s.name.strip_prefix(fam.name.as_str()) {
                if fam.kind.suffixes(self.om).contains(&rest) {
                    return Some((c, Role::of(rest)));
                }
            }
        }
        if let Some(&f) = self.members.get(s.name) {
            let msg = split_message(&self.fams[f], s.name);
            self.error(n, msg);
            return None;
        }
        if let Some(msg) = misplaced(&s.labels) {
            self.error(n, msg);
            return None;
        }
        Some((self.new_family(s.name, n), Role::Bare))
    }

    fn finish(mut self) -> ParseOutput {
        let om = self.om;
        let mut families = Vec::with_capacity(self.fams.len());
        for mut fam in std::mem::take(&mut self.fams) {
            if fam.ignored {
                continue;
            }
            // `starts` has an entry per sample exactly when its lines were grouped.
            if om && fam.starts.len() == fam.samples.len() && !fam.starts.is_empty() {
                let samples = std::mem::take(&mut fam.samples);
                for (s, start) in samples.into_iter().zip(std::mem::take(&mut fam.starts)) {
                    match fam.incomplete(&s) {
                        None => fam.samples.push(s),
                        Some(msg) => {
                            fam.rejected += 1;
                            self.error(start, msg);
                        }
                    }
                }
            }
            // A family whose every sample was refused is left out: its bare header would
            // look like a family that has no series right now.
            if fam.rejected > 0 && fam.samples.is_empty() {
                continue;
            }
            let name = match fam.kind {
                Kind::Counter if om => fam.name + "_total",
                Kind::Info => fam.name + "_info",
                _ => fam.name,
            };
            families.push(proto::Family {
                name,
                kind: fam.kind.metric_type(),
                help: fam.help.unwrap_or_default(),
                unit: fam.unit,
                samples: fam.samples,
            });
        }
        // Errors are found in line order, except incomplete series found at the end.
        self.errors.sort_by_key(|e| e.line);
        if self.unlisted > 0 {
            self.errors.push(ParseError {
                line: self.first_unlisted,
                message: format!("{} more errors not listed", self.unlisted),
            });
        }
        ParseOutput {
            families,
            errors: self.errors,
            format: if om {
                TextFormat::OpenMetrics
            } else {
                TextFormat::Text004
            },
        }
    }
}

fn split_message(fam: &Fam, name: &str) -> String {
    format!(
        "{} belongs to family {}, whose lines ended at line {}: a family's lines must be contiguous",
        quote(name),
        quote(&fam.name),
        fam.last_line
    )
}

fn unknown_type(t: &str, om: bool) -> String {
    let hint = match (om, Kind::from_type(t, !om)) {
        (false, Some(_)) => " (an OpenMetrics type: OpenMetrics expositions end with \"# EOF\")",
        (true, Some(_)) => " (OpenMetrics calls it unknown)",
        _ => "",
    };
    format!("unknown metric type {}{hint}", quote(t))
}
