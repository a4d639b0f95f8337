//! The syntax of one exposition line: metric and label names, label values and their escapes,
//! numbers, timestamps, exemplars and the `#` metadata lines, for text 0.0.4 and OpenMetrics
//! 1.0. Nothing here knows about families; [`super`] assembles them.
//!
//! Text 0.0.4 follows Go's `expfmt` parser (what `promtool check metrics` runs): blanks (space
//! or tab) may lead a line and separate tokens, a label set may end in a comma, but nothing may
//! follow the value or timestamp, not even a blank. OpenMetrics follows its ABNF: single
//! spaces, no blanks elsewhere.

use std::fmt::Write;

use super::cursor::{is_blank, Cursor};
use super::number::{number, real};
use plugin_protocol::{Exemplar, Labels, Value};

/// One lexed line.
#[derive(Debug)]
pub(super) enum Line<'a> {
    /// Empty, or in text 0.0.4 only blanks.
    Blank,
    /// A text 0.0.4 comment that is not HELP or TYPE.
    Comment,
    /// `# HELP name text`, the text unescaped.
    Help { name: &'a str, text: String },
    /// `# TYPE name type`, the type as written (checked by the caller, who knows the format).
    Type { name: &'a str, kind: &'a str },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit { name: &'a str, unit: &'a str },
    /// A sample.
    Sample(SampleLine<'a>),
}

/// A sample line.
#[derive(Debug)]
pub(super) struct SampleLine<'a> {
    pub name: &'a str,
    /// Labels as written, values unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Its timestamp in seconds (text 0.0.4 writes milliseconds).
    pub timestamp: Option<f64>,
    /// Its OpenMetrics exemplar. Syntax is checked here; the label length and names are
    /// validation's to check, as for a JSON plugin's exemplar.
    pub exemplar: Option<Box<Exemplar>>,
}

type Lexed<T> = Result<T, String>;

/// Lexes one line (without its `\n`). `om` selects OpenMetrics syntax. The `# EOF` line is
/// the caller's business and never reaches this function.
pub(super) fn lex(line: &str, om: bool) -> Lexed<Line<'_>> {
    let mut c = Cursor::new(line);
    if !om {
        c.blanks();
    }
    match c.peek() {
        None if om => Err("blank line (not allowed in OpenMetrics)".into()),
        None => Ok(Line::Blank),
        Some(b'#') if om => om_meta(line),
        Some(b'#') => text_meta(&mut c),
        Some(_) => sample(&mut c, om).map(Line::Sample),
    }
}

/// A text 0.0.4 `#` line: HELP, TYPE, or a comment. Like Go's parser, blanks may follow the
/// `#` and separate the tokens; the HELP text starts at its first non-blank character.
fn text_meta<'a>(c: &mut Cursor<'a>) -> Lexed<Line<'a>> {
    c.bump();
    c.blanks();
    let keyword = c.take_while(|b| !is_blank(b));
    match keyword {
        "HELP" | "TYPE" => {}
        // Both only mean something in OpenMetrics: say why they are lost.
        "UNIT" => {
            return Err(
                "# UNIT is OpenMetrics only (an OpenMetrics exposition must end with \"# EOF\")"
                    .into(),
            )
        }
        k if k.trim_end_matches('\r') == "EOF" => {
            return Err(
                "malformed \"# EOF\": OpenMetrics needs exactly \"# EOF\" as its last line".into(),
            )
        }
        _ => return Ok(Line::Comment),
    }
    c.blanks();
    if c.at_end() {
        return Err(format!("# {keyword} without a metric name"));
    }
    let name = metric_name(c)?;
    if !c.at_end() && !c.peek().is_some_and(is_blank) {
        return Err(unexpected_after_name(c, name));
    }
    c.blanks();
    if keyword == "HELP" {
        let text = help_text(c.rest(), false)?;
        Ok(Line::Help { name, text })
    } else if c.at_end() {
        Err(format!("# TYPE {} without a type", quote(name)))
    } else {
        // Anything after the type (even a blank) makes it an unknown type, as in Go.
        Ok(Line::Type {
            name,
            kind: c.rest(),
        })
    }
}

/// An OpenMetrics `#` line other than `# EOF`: exactly `# HELP|TYPE|UNIT name[ value]`.
fn om_meta(line: &str) -> Lexed<Line<'_>> {
    const ONLY: &str =
        "only # HELP, # TYPE, # UNIT and # EOF lines may start with # in OpenMetrics";
    let Some(rest) = line.strip_prefix("# ") else {
        return Err(ONLY.into());
    };
    let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        if keyword == "EOF" {
            return Err("malformed \"# EOF\" line".into());
        }
        return Err(ONLY.into());
    }
    let mut c = Cursor::new(rest);
    if c.at_end() {
        return Err(format!("# {keyword} without a metric name"));
    }
    let name = metric_name(&mut c)?;
    if c.at_end() {
        // The ABNF wants `SP` and the value even when the value is empty.
        return Err(format!(
            "# {keyword} {} needs a space and a value after the name",
            quote(name)
        ));
    }
    if !c.eat(b' ') {
        return Err(unexpected_after_name(&c, name));
    }
    let value = c.rest();
    match keyword {
        "HELP" => Ok(Line::Help {
            name,
            text: help_text(value, true)?,
        }),
        "TYPE" => Ok(Line::Type { name, kind: value }),
        _ => {
            if value.bytes().all(is_metric_char) {
                Ok(Line::Unit { name, unit: value })
            } else {
                Err(format!("invalid unit {}", quote(value)))
            }
        }
    }
}

/// Unescapes HELP text. Text 0.0.4 knows `\\` and `\n` and refuses any other escape (as Go
/// does). OpenMetrics also knows `\"` and, per its ABNF (`BS normal-char`), keeps any other
/// escaped character as written, backslash included. A raw `"` is accepted in both, although
/// the OpenMetrics ABNF excludes it: every parser we know of takes it, and refusing it would
/// only lose the help text.
fn help_text(s: &str, om: bool) -> Lexed<String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if om => out.push('"'),
            Some(other) if om => {
                out.push('\\');
                out.push(other);
            }
            Some(other) => {
                return Err(format!(
                    "invalid escape sequence \"\\{}\" in HELP text (text 0.0.4 knows only \\\\ and \\n)",
                    other.escape_debug()
                ))
            }
            None => return Err("HELP text ends with a lone backslash".into()),
        }
    }
    Ok(out)
}

/// A sample line: `name[{labels}] value[ timestamp]`, plus an optional exemplar in OpenMetrics.
fn sample<'a>(c: &mut Cursor<'a>, om: bool) -> Lexed<SampleLine<'a>> {
    let name = metric_name(c)?;
    // Text 0.0.4 allows blanks before `{`; OpenMetrics none.
    let before = if om { 0 } else { c.blanks() };
    let braces = c.eat(b'{');
    let labels = if braces {
        label_set(c, om, name)?
    } else {
        Vec::new()
    };
    if let Some(dup) = duplicate_name(&labels) {
        return Err(format!(
            "duplicate label name {} in {}",
            quote(dup),
            quote(name)
        ));
    }
    let separated = if om {
        c.eat(b' ')
    } else {
        // Go takes `x{a="1"}2`, so after `}` the blank is optional.
        c.blanks() > 0 || before > 0 || braces
    };
    if !separated {
        return Err(if c.at_end() {
            format!("{} has no value", quote(name))
        } else if braces {
            format!("expected a space before the value of {}", quote(name))
        } else {
            unexpected_after_name(c, name)
        });
    }
    let token = c.take_while(|b| !is_blank(b));
    if token.is_empty() {
        return Err(format!("{} has no value", quote(name)));
    }
    let value = number(token, om).ok_or_else(|| invalid_value(token, om))?;
    let mut line = SampleLine {
        name,
        labels,
        value,
        timestamp: None,
        exemplar: None,
    };
    if c.at_end() {
        return Ok(line);
    }
    if om {
        om_tail(c, &mut line)?;
    } else {
        line.timestamp = Some(text_tail(c)?);
    }
    Ok(line)
}

/// What may follow the value in text 0.0.4: blanks and an integer timestamp in milliseconds,
/// then the end of the line. Returns the timestamp in seconds.
fn text_tail(c: &mut Cursor<'_>) -> Lexed<f64> {
    c.blanks();
    if c.at_end() {
        return Err("whitespace after the value".into());
    }
    let ts = c.take_while(|b| !is_blank(b));
    if ts.starts_with('#') {
        return Err("text after the value (exemplars need OpenMetrics)".into());
    }
    let Ok(ms) = ts.parse::<i64>() else {
        return Err(format!(
            "invalid timestamp {} (text 0.0.4 takes integer milliseconds)",
            quote(ts)
        ));
    };
    if !c.at_end() {
        return Err("text after the timestamp".into());
    }
    Ok(ms as f64 / 1000.0)
}

/// What may follow the value in OpenMetrics: ` timestamp` and/or ` # {labels} value[ ts]`.
fn om_tail(c: &mut Cursor<'_>, line: &mut SampleLine<'_>) -> Lexed<()> {
    // The value token ended at a blank: a space, or a tab that makes this line invalid.
    if !c.eat(b' ') {
        return Err("invalid whitespace after the value".into());
    }
    if c.peek() != Some(b'#') {
        let ts = c.take_while(|b| b != b' ');
        line.timestamp = real(ts);
        if line.timestamp.is_none() {
            return Err(format!(
                "invalid timestamp {} (OpenMetrics takes seconds as a number)",
                quote(ts)
            ));
        }
        if c.at_end() {
            return Ok(());
        }
        if !(c.eat(b' ') && c.peek() == Some(b'#')) {
            return Err("text after the timestamp".into());
        }
    }
    if !c.eat_str("# {") {
        return Err("malformed exemplar (expected \" # {\")".into());
    }
    let labels = label_set(c, true, "exemplar")?;
    if !c.eat(b' ') {
        return Err("exemplar without a value".into());
    }
    let v = c.take_while(|b| b != b' ');
    let Some(value) = number(v, true) else {
        return Err(format!("invalid exemplar value {}", quote(v)));
    };
    let mut timestamp = None;
    if c.eat(b' ') {
        let ts = c.take_while(|b| b != b' ');
        timestamp = real(ts);
        if timestamp.is_none() {
            return Err(format!("invalid exemplar timestamp {}", quote(ts)));
        }
    }
    if !c.at_end() {
        return Err("text after the exemplar".into());
    }
    line.exemplar = Some(Box::new(Exemplar {
        labels: Labels(labels),
        value: Value(value),
        timestamp,
    }));
    Ok(())
}

/// The label pairs after `{`, through the closing `}`. `owner` names the metric for messages.
fn label_set(c: &mut Cursor<'_>, om: bool, owner: &str) -> Lexed<Vec<(String, String)>> {
    let mut out = Vec::new();
    loop {
        if !om {
            c.blanks();
        }
        // `{}` is fine in both formats; `{a="1",}` only in text 0.0.4.
        if (out.is_empty() || !om) && c.eat(b'}') {
            return Ok(out);
        }
        if om && c.peek() == Some(b'}') {
            return Err("trailing comma in a label set (not allowed in OpenMetrics)".into());
        }
        let name = c.take_while(is_metric_char);
        if !is_label_name(name) {
            return Err(match c.peek() {
                _ if !name.is_empty() => format!("invalid label name {}", quote(name)),
                None => format!("unterminated label set of {}", quote(owner)),
                Some(_) => format!(
                    "invalid label name at {} in {}",
                    quote(excerpt(c.rest())),
                    quote(owner)
                ),
            });
        }
        if !om {
            c.blanks();
        }
        if !c.eat(b'=') {
            return Err(format!("expected = after label name {}", quote(name)));
        }
        if !om {
            c.blanks();
        }
        if !c.eat(b'"') {
            return Err(format!(
                "expected \" to open the value of label {}",
                quote(name)
            ));
        }
        let value = label_value(c, om, name)?;
        out.push((name.to_string(), value));
        if !om {
            c.blanks();
        }
        if c.eat(b',') {
            continue;
        }
        if c.eat(b'}') {
            return Ok(out);
        }
        return Err(format!(
            "expected , or }} after the value of label {}",
            quote(name)
        ));
    }
}

/// A label value after its opening quote, through the closing quote, unescaped. Both formats
/// know `\\`, `\"` and `\n`; text 0.0.4 refuses other escapes (as Go does), OpenMetrics keeps
/// them as written (its ABNF allows `BS normal-char`).
fn label_value(c: &mut Cursor<'_>, om: bool, name: &str) -> Lexed<String> {
    let mut out = String::new();
    loop {
        out.push_str(c.take_while(|b| b != b'"' && b != b'\\'));
        match c.bump() {
            Some(b'"') => return Ok(out),
            Some(_) => match c.peek() {
                Some(b'\\') => out.push('\\'),
                Some(b'"') => out.push('"'),
                Some(b'n') => out.push('\n'),
                None => break,
                // Keep the backslash; the escaped character is copied by the next run.
                Some(_) if om => {
                    out.push('\\');
                    continue;
                }
                Some(_) => {
                    let ch = c.rest().chars().next().unwrap_or_default();
                    return Err(format!(
                        "invalid escape sequence \"\\{}\" in the value of label {} (only \\\\, \\\" and \\n)",
                        ch.escape_debug(),
                        quote(name)
                    ));
                }
            },
            None => break,
        }
        c.bump();
    }
    Err(format!(
        "unterminated value of label {} (no closing quote)",
        quote(name)
    ))
}

/// A metric name at the cursor; the caller checks what follows it.
fn metric_name<'a>(c: &mut Cursor<'a>) -> Lexed<&'a str> {
    let name = c.take_while(is_metric_char);
    if name.is_empty() {
        return Err(format!(
            "expected a metric name at {}",
            quote(excerpt(c.rest()))
        ));
    }
    if name.as_bytes()[0].is_ascii_digit() {
        return Err(format!("invalid metric name {}", quote(name)));
    }
    Ok(name)
}

fn unexpected_after_name(c: &Cursor<'_>, name: &str) -> String {
    let ch = c.rest().chars().next().unwrap_or_default();
    format!(
        "unexpected character {} after metric name {}",
        quote(&ch.to_string()),
        quote(name)
    )
}

fn invalid_value(token: &str, om: bool) -> String {
    let hint = if token.ends_with('\r') {
        " (CRLF line ends are not allowed)"
    } else if om {
        ""
    } else {
        " (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)"
    };
    format!("invalid value {}{hint}", quote(token))
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn is_metric_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The first repeated label name, if any. Linear scans for the usual handful of labels,
/// sorting for many, so a hostile line with thousands of labels stays cheap.
fn duplicate_name(labels: &[(String, String)]) -> Option<&str> {
    if labels.len() <= 16 {
        return labels
            .iter()
            .enumerate()
            .find(|(i, (n, _))| labels[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n.as_str());
    }
    let mut names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// At most 64 characters of `s`, for messages: input can be huge and hostile.
pub(super) fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `s` quoted and escaped for a message, cut to an excerpt.
pub(super) fn quote(s: &str) -> String {
    let cut = excerpt(s);
    let mut out = String::with_capacity(cut.len() + 2);
    out.push('"');
    for ch in cut.chars() {
        // write! to a String cannot fail.
        let _ = write!(out, "{}", ch.escape_debug());
    }
    if cut.len() < s.len() {
        out.push('…');
    }
    out.push('"');
    out
}
