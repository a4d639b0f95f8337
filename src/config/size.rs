//! Byte sizes (`64MiB`, `512KiB`, `1048576`), for memory and file-size limits and for line
//! budgets.
//!
//! The grammar is a whole number of bytes, or a whole number directly followed by one of the
//! binary units `B`, `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024). Decimal and abbreviated
//! units (`MB`, `M`, `Mi`, `mb`) are refused with a hint rather than guessed: `MB` means
//! 1000000 to some tools and 1048576 to others, and a limit off by 5% is a hard bug to find.
//! Fractions (`1.5GiB`), signs and spaces are refused too.

use std::fmt;

/// The binary units, smallest first, with their size in bytes.
const UNITS: [(&str, u64); 5] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// The accepted form, quoted in every error so the fix is in the message.
pub const ACCEPTED_FORM: &str = "a whole number of bytes, or a whole number followed by \
     one of the binary units B, KiB, MiB, GiB, TiB (1KiB = 1024 bytes), like 512KiB or 64MiB";

/// Why a size was refused; the text names the value and the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The text does not follow the grammar.
    #[error("invalid size `{0}`: expected {ACCEPTED_FORM}")]
    Invalid(String),
    /// A unit other than the binary ones, such as `MB`, `M` or `mib`; `suggestion` is the
    /// value with the binary unit it most likely meant, e.g. `64MiB`.
    #[error(
        "invalid size `{value}`: the unit `{unit}` is not accepted, so that no one has to guess \
         between 1000 and 1024; sizes use the binary units B, KiB, MiB, GiB, TiB \
         (1KiB = 1024 bytes): write {suggestion}, or a number of bytes"
    )]
    Unit {
        /// The text as written.
        value: String,
        /// The refused unit.
        unit: String,
        /// The value rewritten with the binary unit of the same letter.
        suggestion: String,
    },
    /// The value does not fit in 64 bits.
    #[error("size `{0}` is too large: it does not fit in 64 bits")]
    TooLarge(String),
}

/// Parses a size such as `64MiB`, `512KiB`, `100B` or `1048576` into bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(SizeError::Invalid(text.to_string()));
    }
    let (number, unit) = text.split_at(digits);
    let multiplier = match UNITS.iter().find(|(name, _)| *name == unit) {
        Some((_, multiplier)) => *multiplier,
        None if unit.is_empty() => 1,
        None => return Err(unit_error(text, number, unit)),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|number| number.checked_mul(multiplier))
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))
}

/// The error for a unit that is not one of [`UNITS`]: a hint when it reads like a size unit
/// written another way (any case, with or without `i` and `B`), else the general form.
fn unit_error(text: &str, number: &str, unit: &str) -> SizeError {
    let lower = unit.to_ascii_lowercase();
    let stem = lower.strip_suffix('b').unwrap_or(&lower);
    let stem = stem.strip_suffix('i').unwrap_or(stem);
    let canonical = match stem {
        "" => "B",
        "k" => "KiB",
        "m" => "MiB",
        "g" => "GiB",
        "t" => "TiB",
        _ => return SizeError::Invalid(text.to_string()),
    };
    SizeError::Unit {
        value: text.to_string(),
        unit: unit.to_string(),
        suggestion: format!("{number}{canonical}"),
    }
}

/// Formats bytes with the largest binary unit that divides them exactly (`4194304` ->
/// `4MiB`, `1000` -> `1000B`); the result parses back to the same number.
pub fn format_size(bytes: u64) -> String {
    let (name, size) = UNITS
        .iter()
        .rev()
        .find(|(_, size)| bytes % size == 0 && bytes != 0)
        .copied()
        .unwrap_or(UNITS[0]);
    format!("{}{name}", bytes / size)
}

/// A size read from YAML: a non-negative integer (bytes) or a string in the grammar above.
/// `written` keeps the value as written, for messages about its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawSize {
    pub(crate) bytes: u64,
    pub(crate) written: String,
}

impl RawSize {
    /// Whether the value was a bare number, which counts bytes: the likely slip behind a
    /// `memory: 512` that was meant as MiB.
    pub(crate) fn is_bare(&self) -> bool {
        self.written.bytes().all(|b| b.is_ascii_digit())
    }
}

impl<'de> serde::Deserialize<'de> for RawSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // deserialize_any so that YAML numbers arrive as numbers: `-5` and `1.5` then get a
        // message about the sign or the fraction rather than a vaguer type error.
        deserializer.deserialize_any(SizeVisitor)
    }
}

struct SizeVisitor;

impl serde::de::Visitor<'_> for SizeVisitor {
    type Value = RawSize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a size: {ACCEPTED_FORM}")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawSize, E> {
        let bytes = parse_size(value).map_err(E::custom)?;
        Ok(RawSize {
            bytes,
            written: value.to_string(),
        })
    }

    fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<RawSize, E> {
        Ok(RawSize {
            bytes,
            written: bytes.to_string(),
        })
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<RawSize, E> {
        match u64::try_from(value) {
            Ok(bytes) => self.visit_u64(bytes),
            Err(_) => Err(E::custom(format!(
                "invalid size `{value}`: a size cannot be negative; expected {ACCEPTED_FORM}"
            ))),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<RawSize, E> {
        Err(E::custom(format!(
            "invalid size `{value}`: fractions are not accepted, use a smaller unit; \
             expected {ACCEPTED_FORM}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_and_bare_numbers() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_size("3GiB"), Ok(3 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("2TiB"), Ok(2 * 1024 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("007MiB"), Ok(7 << 20));
    }

    #[test]
    fn decimal_and_abbreviated_units_get_the_binary_hint() {
        for (text, unit, suggestion) in [
            ("64MB", "MB", "64MiB"),
            ("1KB", "KB", "1KiB"),
            ("1kB", "kB", "1KiB"),
            ("2GB", "GB", "2GiB"),
            ("1TB", "TB", "1TiB"),
            ("64M", "M", "64MiB"),
            ("64Mi", "Mi", "64MiB"),
            ("64mib", "mib", "64MiB"),
            ("5b", "b", "5B"),
        ] {
            let err = parse_size(text).unwrap_err();
            assert_eq!(
                err,
                SizeError::Unit {
                    value: text.into(),
                    unit: unit.into(),
                    suggestion: suggestion.into()
                },
                "{text}"
            );
        }
        let shown = parse_size("64MB").unwrap_err().to_string();
        assert_eq!(
            shown,
            "invalid size `64MB`: the unit `MB` is not accepted, so that no one has to guess \
             between 1000 and 1024; sizes use the binary units B, KiB, MiB, GiB, TiB \
             (1KiB = 1024 bytes): write 64MiB, or a number of bytes"
        );
    }

    #[test]
    fn other_forms_are_invalid() {
        for bad in [
            "", "MiB", "1.5MiB", "-1", "+1", " 1", "1 MiB", "1MiB ", "1PiB", "1EB", "1x", "1Mi B",
            "1bytes", "0x10", "1_000",
        ] {
            assert_eq!(
                parse_size(bad),
                Err(SizeError::Invalid(bad.to_string())),
                "{bad:?}"
            );
        }
        let shown = parse_size("1.5MiB").unwrap_err().to_string();
        assert!(shown.starts_with("invalid size `1.5MiB`: expected a whole number"));
        assert!(shown.contains("512KiB"), "{shown}");
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        for big in [
            "18446744073709551616",
            "16777216TiB",
            "99999999999999999999999MiB",
        ] {
            assert_eq!(
                parse_size(big),
                Err(SizeError::TooLarge(big.into())),
                "{big}"
            );
        }
        assert_eq!(parse_size("16777215TiB"), Ok(16_777_215 << 40));
    }

    #[test]
    fn formats_with_the_largest_exact_unit() {
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(format_size(1024), "1KiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(4 << 20), "4MiB");
        assert_eq!(format_size(3 << 40), "3TiB");
        for bytes in [0, 1, 1000, 1 << 20, (5 << 30) + 1024, u64::MAX] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{bytes}");
        }
    }

    #[test]
    fn yaml_numbers_and_strings() {
        let read = |text: &str| yaml_serde::from_str::<RawSize>(text).map(|size| size.bytes);
        assert_eq!(read("4096").unwrap(), 4096);
        assert_eq!(read("64MiB").unwrap(), 64 << 20);
        assert_eq!(read("\"128\"").unwrap(), 128);
        let negative = read("-5").unwrap_err().to_string();
        assert!(negative.contains("cannot be negative"), "{negative}");
        let fraction = read("1.5").unwrap_err().to_string();
        assert!(
            fraction.contains("fractions are not accepted"),
            "{fraction}"
        );
        let decimal = read("64MB").unwrap_err().to_string();
        assert!(decimal.contains("write 64MiB"), "{decimal}");
        assert!(yaml_serde::from_str::<RawSize>("512").unwrap().is_bare());
        assert!(!yaml_serde::from_str::<RawSize>("512B").unwrap().is_bare());
    }
}
