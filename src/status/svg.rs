//! Small line charts drawn on the server as inline SVG: no script, no external asset.

use std::fmt::Write;

/// Escapes text for HTML and SVG (element content and attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value with a unit, short: `1.5 MiB`, `12 ms`, `0.25`.
pub fn human(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => {
            let units = ["B", "KiB", "MiB", "GiB", "TiB"];
            let mut v = v;
            let mut i = 0;
            while v.abs() >= 1024.0 && i + 1 < units.len() {
                v /= 1024.0;
                i += 1;
            }
            format!("{} {}", trim(v), units[i])
        }
        Unit::Seconds if v.abs() < 1.0 && v != 0.0 => format!("{} ms", trim(v * 1000.0)),
        Unit::Seconds => format!("{} s", trim(v)),
        Unit::Cores => format!("{} cores", trim(v)),
        Unit::Count => trim(v),
    }
}

fn trim(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// What a chart's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, shown in binary units.
    Bytes,
    /// Seconds.
    Seconds,
    /// CPU cores.
    Cores,
    /// A plain number.
    Count,
}

/// A line chart of `points` (time, value), `w` x `h` pixels, with its title, the last value
/// and the range; "no data yet" when empty.
pub fn chart(title: &str, unit: Unit, points: &[(u32, f64)], w: u32, h: u32) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#fafafa\" stroke=\"#ddd\"/>",
        t = escape(title)
    );
    let last = points.last().map(|p| human(p.1, unit)).unwrap_or_default();
    let _ = write!(
        s,
        "<text x=\"4\" y=\"12\" font-size=\"11\" fill=\"#333\">{} {}</text>",
        escape(title),
        escape(&last)
    );
    if points.len() < 2 {
        let _ = write!(
            s,
            "<text x=\"4\" y=\"{}\" font-size=\"10\" fill=\"#999\">no data yet</text></svg>",
            h / 2 + 8
        );
        return s;
    }
    let (t0, t1) = (points[0].0 as f64, points[points.len() - 1].0 as f64);
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let top = if max > 0.0 { max } else { 1.0 };
    let (x0, y0, pw, ph) = (2.0, 16.0, w as f64 - 4.0, h as f64 - 20.0);
    let mut line = String::new();
    for (t, v) in points {
        let x = x0
            + if t1 > t0 {
                (*t as f64 - t0) / (t1 - t0) * pw
            } else {
                0.0
            };
        let y = y0 + ph - (v.max(0.0) / top) * ph;
        let _ = write!(line, "{x:.0},{y:.0} ");
    }
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"1.5\" points=\"{}\"/>\
         <text x=\"{}\" y=\"12\" font-size=\"10\" fill=\"#999\" text-anchor=\"end\">max {}</text></svg>",
        line.trim_end(),
        w - 4,
        escape(&human(max, unit))
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_title_and_scale_to_the_box() {
        let svg = chart(
            "<b>&",
            Unit::Bytes,
            &[(0, 0.0), (30, 2048.0), (60, 1024.0)],
            200,
            60,
        );
        assert!(
            svg.contains("&lt;b&gt;&amp;") && !svg.contains("<b>"),
            "{svg}"
        );
        assert!(svg.contains("max 2 KiB"), "{svg}");
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(chart("x", Unit::Count, &[], 10, 10).contains("no data yet"));
        assert_eq!(human(0.0125, Unit::Seconds), "12.50 ms");
    }
}
