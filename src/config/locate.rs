//! Finding where a key sits in the YAML source, for error messages.
//!
//! yaml_serde gives no spans for values that parsed fine, but it does attach the line and
//! column of the current YAML event to any error raised while deserializing. [`locate`] uses
//! that: it walks the document with a visitor that raises a sentinel error exactly when it
//! reaches the wanted key, and reads the position off that error. Every lookup re-parses the
//! text, which is cheap next to the value of a correct line, and uses the real YAML parser, so
//! flow style, quoting and comments need no special cases.
//!
//! The one trap is aliases: a node reached through `*alias` reports the position of its
//! anchor, not of the use. Documents that may contain an alias get no line for semantic
//! problems (see [`may_have_aliases`]), since a wrong line is worse than none.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The message of the sentinel error; contains a NUL so no real error can look like it.
const FOUND: &str = "\u{0}plugin-exporter: located";

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// The 1-based line and column of the node at `path`: of the key itself when the path ends in
/// a key (the `nth` occurrence, counting from 0, so repeated keys can be told apart), of the
/// element when it ends in an index. `None` when the path does not exist.
pub(crate) fn locate(text: &str, path: &[Seg], nth: usize) -> Option<(usize, usize)> {
    let walk = Walk { path, nth };
    match walk.deserialize(yaml_serde::Deserializer::from_str(text)) {
        Ok(()) => None,
        Err(err) if err.to_string().contains(FOUND) => {
            err.location().map(|at| (at.line(), at.column()))
        }
        Err(_) => None,
    }
}

/// Whether the text may contain a YAML alias (`*name`), conservatively: any `*` at a place
/// where a node may start (line start, or after `-`, `:`, `?`, `[`, `{`, `,` and blanks)
/// counts, even inside quotes or comments. A false "yes" only costs line numbers.
pub(crate) fn may_have_aliases(text: &str) -> bool {
    text.lines().any(|line| {
        line.match_indices('*').any(|(at, _)| {
            let before = line[..at].trim_end();
            before.is_empty() || before.ends_with(['-', ':', '?', '[', '{', ','])
        })
    })
}

/// Reads a yaml_serde path such as `plugins[1].env` back into steps, then checks it exists
/// in `text`, so a message that merely starts with `word: ` is not taken for a path.
pub(crate) fn parse_path(text: &str, path: &str) -> Option<Vec<Seg>> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, mut indexes) = part.split_at(part.find('[').unwrap_or(part.len()));
        if key.is_empty() && segs.is_empty() {
            return None;
        }
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        while !indexes.is_empty() {
            let close = indexes.find(']')?;
            segs.push(Seg::Index(indexes.get(1..close)?.parse().ok()?));
            indexes = &indexes[close + 1..];
        }
    }
    exists(text, &segs).then_some(segs)
}

fn exists(text: &str, path: &[Seg]) -> bool {
    locate(text, path, 0).is_some()
}

/// The walker: descends along `path`, skipping everything else with `IgnoredAny`.
struct Walk<'a> {
    path: &'a [Seg],
    nth: usize,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            return deserializer.deserialize_any(Here);
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Seg::Key(wanted) = &self.path[0] else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let last = self.path.len() == 1;
        let mut seen = 0;
        loop {
            let key = KeyProbe {
                wanted,
                fire: last && seen == self.nth,
            };
            match map.next_key_seed(key)? {
                None => return Ok(()),
                Some(true) if !last => map.next_value_seed(Walk {
                    path: &self.path[1..],
                    nth: self.nth,
                })?,
                Some(matched) => {
                    seen += usize::from(matched);
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Seg::Index(wanted) = self.path[0] else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        for _ in 0..wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk {
            path: &self.path[1..],
            nth: self.nth,
        })?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    // Scalars where a container was wanted: the path does not exist.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Reads one key; says whether it is the wanted one, or raises the sentinel when `fire` is
/// set, so the error carries the key's own position.
struct KeyProbe<'a> {
    wanted: &'a str,
    fire: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        // deserialize_str: YAML hands `1:` to us as "1", the way the config types read keys.
        // A non-scalar key fails here, which only means "not found".
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyProbe<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        match key == self.wanted {
            true if self.fire => Err(E::custom(FOUND)),
            matched => Ok(matched),
        }
    }
}

/// Raises the sentinel on whatever node it is given, so the error carries the node's position.
struct Here;

impl<'de> Visitor<'de> for Here {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}

/// The `name` of every entry of the top-level `plugins` list, read leniently (an entry with
/// a missing or non-string name gives `None`), so keys can say `plugins[disk]` even when the
/// strict parse failed. Empty when the document cannot be read this way.
pub(crate) fn plugin_names(text: &str) -> Vec<Option<String>> {
    let de = yaml_serde::Deserializer::from_str(text);
    de.deserialize_any(Names::Root).unwrap_or_default()
}

/// The three levels of [`plugin_names`]: the root mapping, the list, one entry.
#[derive(Clone, Copy)]
enum Names {
    Root,
    List,
    Entry,
}

impl<'de> DeserializeSeed<'de> for Names {
    type Value = Vec<Option<String>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Names {
    type Value = Vec<Option<String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Vec::new();
        let wanted = match self {
            Names::Root => "plugins",
            Names::Entry => "name",
            Names::List => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(found);
            }
        };
        let probe = |wanted| KeyProbe {
            wanted,
            fire: false,
        };
        while let Some(matched) = map.next_key_seed(probe(wanted))? {
            match (matched, self) {
                (true, Names::Root) => found = map.next_value_seed(Names::List)?,
                (true, _) => found = vec![map.next_value::<LenientString>()?.0],
                (false, _) => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = Vec::new();
        match self {
            Names::List => {
                while let Some(entry) = seq.next_element_seed(Names::Entry)? {
                    found.push(entry.into_iter().next().flatten());
                }
            }
            _ => while seq.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(found)
    }

    // Anything else carries no names; an entry that is not a mapping still takes its place.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

/// A string scalar as its text; anything else (numbers, containers) as `None`.
struct LenientString(Option<String>);

impl<'de> serde::Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(LenientVisitor)
            .map(LenientString)
    }
}

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(text.to_string()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
global:
  timeout: 0s
plugins:
  - name: a
    command:
      - /x
      - y
  - name: b   # comment: with colon
    command: [\"/z\"]
    env: {A: '1', B: '2'}
    timeout: 1s
    timeout: 2s
";

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }

    #[test]
    fn finds_keys_and_elements() {
        let at = |path: &[Seg]| locate(DOC, path, 0);
        assert_eq!(at(&[key("global"), key("timeout")]), Some((2, 3)));
        assert_eq!(
            at(&[key("plugins"), Seg::Index(0), key("command")]),
            Some((5, 5))
        );
        let element = [key("plugins"), Seg::Index(0), key("command"), Seg::Index(1)];
        assert_eq!(at(&element), Some((7, 9)));
        assert_eq!(
            at(&[key("plugins"), Seg::Index(1), key("name")]),
            Some((8, 5))
        );
        let env_b = [key("plugins"), Seg::Index(1), key("env"), key("B")];
        assert_eq!(at(&env_b), Some((10, 19)));
        assert_eq!(at(&[key("plugins"), Seg::Index(2), key("name")]), None);
        assert_eq!(at(&[key("global"), key("interval")]), None);
        assert_eq!(at(&[key("global"), key("timeout"), key("x")]), None);
    }

    #[test]
    fn finds_the_nth_repeat() {
        let path = [key("plugins"), Seg::Index(1), key("timeout")];
        assert_eq!(locate(DOC, &path, 0), Some((11, 5)));
        assert_eq!(locate(DOC, &path, 1), Some((12, 5)));
        assert_eq!(locate(DOC, &path, 2), None);
    }

    #[test]
    fn parses_only_existing_paths() {
        let path = parse_path(DOC, "plugins[0].command[1]").unwrap();
        assert_eq!(
            path,
            [key("plugins"), Seg::Index(0), key("command"), Seg::Index(1)]
        );
        assert_eq!(parse_path(DOC, "invalid type"), None);
        assert_eq!(parse_path(DOC, "plugins[7]"), None);
        assert_eq!(parse_path(DOC, "plugins[x]"), None);
    }

    #[test]
    fn alias_detection_is_conservative() {
        assert!(may_have_aliases("a: &x 1\nb: *x\n"));
        assert!(may_have_aliases("list:\n  - *x\n"));
        assert!(may_have_aliases("flow: [a, *x]\n"));
        assert!(!may_have_aliases(DOC));
        assert!(!may_have_aliases("glob: /var/*.log\nmath: a*b\n"));
    }

    #[test]
    fn reads_names_leniently() {
        let names = plugin_names("plugins:\n  - name: a\n  - command: [x]\n  - 5\n  - name: [1]\n");
        assert_eq!(names, [Some("a".to_string()), None, None, None]);
        assert_eq!(plugin_names(DOC), [Some("a".into()), Some("b".into())]);
        assert!(plugin_names("[1, 2]").is_empty());
    }
}
