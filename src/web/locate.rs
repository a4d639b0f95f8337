//! Finding the line of a key in the web config, for problems found after parsing.
//!
//! yaml_serde has no spans for values that parsed, but it attaches the position of the
//! current event to any error raised while deserializing: so [`locate`] walks the document
//! again and raises a sentinel error exactly at the wanted key. A key reached through an
//! alias reports the anchor's position; web config files have no use for aliases.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// The message of the sentinel error [`locate`] raises; the NUL keeps real errors apart.
const FOUND: &str = "\u{0}web config: located";

/// The 1-based line and column of the key at `path` (mapping keys only), `None` when absent.
pub(crate) fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    match (Walk { path }).deserialize(yaml_serde::Deserializer::from_str(text)) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// Descends along the path, skipping everything else.
struct Walk<'a> {
    path: &'a [&'a str],
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((want, rest)) = self.path.split_first() else {
            return Ok(());
        };
        let key = Key {
            want,
            last: rest.is_empty(),
        };
        while let Some(hit) = map.next_key_seed(Key { ..key })? {
            if hit {
                map.next_value_seed(Walk { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// One mapping key: `true` when it is the wanted one, the sentinel error when it also ends
/// the path (raised here so the position is the key's, not its value's).
#[derive(Clone, Copy)]
struct Key<'a> {
    want: &'a str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.want, self.last) {
            (true, true) => Err(E::custom(FOUND)),
            (hit, _) => Ok(hit),
        }
    }
    // Keys that are not strings are never the ones we look for.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn finds_keys_in_block_and_flow_style() {
        let text = "a:\n  b: 1\n  c: {d: 2, e: 3}\n# comment\nf: x\n";
        assert_eq!(locate(text, &["a", "b"]), Some((2, 3)));
        assert_eq!(locate(text, &["a", "c", "e"]), Some((3, 13)));
        assert_eq!(locate(text, &["f"]), Some((5, 1)));
        assert_eq!(locate(text, &["a", "x"]), None);
        assert_eq!(locate(text, &["f", "x"]), None);
        assert_eq!(locate("- 1\n", &["a"]), None);
    }
}
