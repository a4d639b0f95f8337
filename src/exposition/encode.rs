//! The pieces of an exposition line, for [`super::render`]: a sample line up to its value,
//! values and floats, label pairs with their escapes, timestamps in either format's unit,
//! and OpenMetrics exemplars.

use super::model::Exemplar;

/// One sample line up to its value, without the line end. `generated` is a label the encoder
/// adds last (`le` or `quantile`) with its float value and whether to write that value
/// canonically (OpenMetrics). End it with [`end_text`] or [`end_om`].
#[inline]
pub fn push_line(
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
}

/// Ends a text 0.0.4 line: its timestamp in integer milliseconds, if any, and `\n`.
#[inline]
pub fn end_text(out: &mut Vec<u8>, ms: Option<i64>) {
    if let Some(ms) = ms {
        out.push(b' ');
        out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
    }
    out.push(b'\n');
}

/// Ends an OpenMetrics line: its timestamp in seconds and its exemplar, if any, and `\n`.
#[inline]
pub fn end_om(out: &mut Vec<u8>, seconds: Option<f64>, exemplar: Option<&Exemplar>) {
    if let Some(t) = seconds {
        out.push(b' ');
        push_value(out, t);
    }
    if let Some(e) = exemplar {
        out.extend_from_slice(b" # {");
        for (i, (n, v)) in e.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_label(out, n, v);
        }
        out.extend_from_slice(b"} ");
        push_value(out, e.value);
        if let Some(t) = e.timestamp {
            out.push(b' ');
            push_value(out, t);
        }
    }
    out.push(b'\n');
}

/// A timestamp in seconds as text 0.0.4 writes it: integer milliseconds, rounded; `None`
/// beyond what an i64 holds (text 0.0.4 readers parse it as one), which text then leaves out.
#[inline]
pub fn text_millis(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    // i64::MAX is not a float; 2^63 is, and anything below it converts exactly.
    (ms.abs() < 9_223_372_036_854_775_808.0).then_some(ms as i64)
}

/// `name="value"` with the value escaped.
#[inline]
pub fn push_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    push_escaped(out, value, true);
    out.push(b'"');
}

/// Appends `s` with `\` and newline escaped, and `"` too when `quote`. Works on bytes: the
/// escaped characters are ASCII, and UTF-8 continuation bytes never are.
#[inline]
pub fn push_escaped(out: &mut Vec<u8>, s: &str, quote: bool) {
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
#[inline]
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
#[inline]
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
