//! Numbers: sample values, `le` and `quantile` bounds, timestamps.

/// A sample value. Text 0.0.4 is strict: a decimal number or exactly `NaN`, `+Inf`, `-Inf`
/// (Go would also take `inf`, `Infinity`, hex floats). OpenMetrics follows its ABNF, which
/// also allows `inf`, `infinity` (signed) and `nan` in any case.
pub(super) fn number(s: &str, om: bool) -> Option<f64> {
    match s {
        "NaN" => return Some(f64::NAN),
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if om {
        if s.eq_ignore_ascii_case("nan") {
            return Some(f64::NAN);
        }
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
    }
    real(s)
}

/// A finite decimal number: `[sign] digits [. digits] [e [sign] digits]`, with digits on at
/// least one side of the point. Values beyond the f64 range are refused rather than made
/// infinite (Go's parser refuses them too).
pub(super) fn real(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let mut mantissa = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // The grammar above is a subset of what Rust's parser takes, so this only fails on
    // nothing; overflow gives infinity, which we refuse.
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}
