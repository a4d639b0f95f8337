//! Prometheus-style durations (`1h30m`, `15s`, `250ms`), the form Prometheus itself uses for
//! `scrape_interval`, so operators can copy values between the two files.
//!
//! The grammar is Prometheus' own: one or more `<integer><unit>` groups with the units
//! `y` (365 days), `w`, `d`, `h`, `m`, `s`, `ms`, each at most once and largest first, or the
//! bare `0`. Fractions (`1.5s`) and bare numbers (`5`) are refused: a unitless number is too
//! easy to misread as seconds or milliseconds.

use std::fmt;
use std::time::Duration;

/// The units in the order they must appear, with their length in milliseconds.
/// `ms` precedes `m` in matching (see [`parse`]), but follows `s` in order.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// The accepted form, quoted in every error so the fix is in the message.
pub const ACCEPTED_FORM: &str = "an integer followed by a unit, largest unit first, \
     like 1h30m, 15s or 250ms (units: y, w, d, h, m, s, ms; no fractions, no bare numbers)";

/// Why a duration string was refused; the text names the value and the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text does not follow the grammar.
    #[error("invalid duration `{0}`: expected {ACCEPTED_FORM}")]
    Invalid(String),
    /// The value does not fit in 64-bit milliseconds.
    #[error("duration `{0}` is too large")]
    TooLarge(String),
}

/// Parses a Prometheus-style duration such as `1h30m`, `15s` or `250ms`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_string());
    let too_large = || DurationError::TooLarge(text.to_string());
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    // Index into UNITS of the smallest unit still allowed; enforces order and uniqueness.
    let mut next_allowed = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| too_large())?;
        rest = &rest[digits..];
        // `ms` must be tried before `m`, or `250ms` would read as 250 minutes and a stray `s`.
        let unit = if rest.starts_with("ms") {
            UNITS.len() - 1
        } else {
            UNITS
                .iter()
                .position(|(name, _)| name.len() == 1 && rest.starts_with(name))
                .ok_or_else(invalid)?
        };
        if unit < next_allowed {
            return Err(invalid());
        }
        next_allowed = unit + 1;
        let (name, millis) = UNITS[unit];
        rest = &rest[name.len()..];
        total = number
            .checked_mul(millis)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(too_large)?;
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration in the same grammar, largest units first (`90s` -> `1m30s`, zero -> `0s`).
/// Sub-millisecond parts are dropped; the grammar cannot express them.
pub fn format(duration: Duration) -> String {
    let mut millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, size) in UNITS {
        if millis >= size {
            out.push_str(&format!("{}{name}", millis / size));
            millis %= size;
        }
    }
    out
}

/// A [`Duration`] read from YAML in the grammar above; errors carry the value and the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PromDuration(pub(crate) Duration);

impl<'de> serde::Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // deserialize_any so that `5` arrives as a number and gets the "bare number" message
        // instead of being silently read as the string "5" and failing with a vaguer one.
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl DurationVisitor {
    fn bare<E: serde::de::Error>(shown: impl fmt::Display) -> E {
        E::custom(format!(
            "invalid duration `{shown}`: a bare number has no unit; expected {ACCEPTED_FORM}"
        ))
    }
}

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = PromDuration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a duration: {ACCEPTED_FORM}")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<PromDuration, E> {
        parse(value).map(PromDuration).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<PromDuration, E> {
        if value == 0 {
            // Prometheus accepts a bare `0`; YAML hands it to us as a number.
            return Ok(PromDuration(Duration::ZERO));
        }
        Err(Self::bare(value))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<PromDuration, E> {
        Err(Self::bare(value))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<PromDuration, E> {
        Err(Self::bare(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_prometheus_forms() {
        assert_eq!(parse("5s"), Ok(ms(5_000)));
        assert_eq!(parse("250ms"), Ok(ms(250)));
        assert_eq!(parse("1m"), Ok(ms(60_000)));
        assert_eq!(parse("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse("1m5s250ms"), Ok(ms(65_250)));
        assert_eq!(parse("2d"), Ok(ms(172_800_000)));
        assert_eq!(parse("1w"), Ok(ms(604_800_000)));
        assert_eq!(parse("1y"), Ok(ms(31_536_000_000)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "", "5", "1.5s", "s", "5 s", " 5s", "5S", "1s1m", "1m1m", "5sec", "-5s", "1ms5s", "m5",
            "5mss",
        ] {
            assert_eq!(
                parse(bad),
                Err(DurationError::Invalid(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert!(matches!(
            parse("99999999999999999999s"),
            Err(DurationError::TooLarge(_))
        ));
        assert!(matches!(
            parse("584942418y"),
            Err(DurationError::TooLarge(_))
        ));
    }

    #[test]
    fn error_names_value_and_form() {
        let text = parse("1.5s").unwrap_err().to_string();
        assert!(text.contains("`1.5s`"), "{text}");
        assert!(text.contains("1h30m"), "{text}");
    }

    #[test]
    fn formats_largest_first_and_round_trips() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(ms(90_000)), "1m30s");
        assert_eq!(format(ms(1_500)), "1s500ms");
        assert_eq!(format(ms(5_400_000)), "1h30m");
        for text in ["1y2w3d4h5m6s7ms", "15s", "250ms", "1d"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }

    #[test]
    fn yaml_numbers_are_refused_with_a_hint() {
        let err = yaml_serde::from_str::<PromDuration>("5").unwrap_err();
        assert!(err.to_string().contains("bare number"), "{err}");
        let zero: PromDuration = yaml_serde::from_str("0").unwrap();
        assert_eq!(zero, PromDuration(Duration::ZERO));
        let minute: PromDuration = yaml_serde::from_str("1m").unwrap();
        assert_eq!(minute, PromDuration(ms(60_000)));
    }
}
