//! Plugin environment variables: `${VAR}` substitution from the exporter's environment and the
//! [`Secret`] type that keeps substituted values out of logs and error messages.

use std::collections::HashSet;
use std::fmt;

/// An env value after `${VAR}` substitution.
///
/// Substituted values usually carry tokens, so `Debug` and `Display` print `<redacted>` when
/// any substitution happened, else the literal. Read the value with [`Secret::expose`].
/// Equality compares the value only, so a reload notices a changed token but not a change
/// between spelling a value literally and taking it from the environment.
#[derive(Clone, Eq)]
pub struct Secret {
    value: String,
    substituted: bool,
}

impl Secret {
    /// A value written literally in the config file; printed as is.
    pub fn literal(value: impl Into<String>) -> Self {
        Secret {
            value: value.into(),
            substituted: false,
        }
    }

    /// A value that came (at least partly) from the environment; never printed.
    pub fn substituted(value: impl Into<String>) -> Self {
        Secret {
            value: value.into(),
            substituted: true,
        }
    }

    /// The value to hand to the plugin.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether `Debug` and `Display` hide the value.
    pub fn is_redacted(&self) -> bool {
        self.substituted
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.substituted {
            f.write_str("<redacted>")
        } else {
            fmt::Debug::fmt(&self.value, f)
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.substituted {
            f.write_str("<redacted>")
        } else {
            f.write_str(&self.value)
        }
    }
}

/// Whether `name` is a portable environment variable name, `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces `${VAR}` with the variable's value and `$$` with `$`.
///
/// Every problem in the value is returned, not just the first. A `$` followed by anything
/// else is an error rather than a literal: `$HOME` silently left unexpanded would be a
/// surprise, and a password containing `$` only needs the `$` doubled.
pub(crate) fn expand(
    template: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, Vec<String>> {
    let mut out = String::with_capacity(template.len());
    let mut problems = Vec::new();
    let mut substituted = false;
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(close) = inner.find('}') else {
                problems
                    .push("unterminated `${`: write `${NAME}`, or `$$` for a literal `$`".into());
                break;
            };
            let name = &inner[..close];
            substituted = true;
            if !valid_name(name) {
                problems.push(format!(
                    "`${{{name}}}` does not name a variable: names match [A-Za-z_][A-Za-z0-9_]*"
                ));
            } else if let Some(value) = env(name) {
                out.push_str(&value);
            } else {
                problems.push(format!("environment variable `{name}` is not set"));
            }
            rest = &inner[close + 1..];
        } else {
            problems
                .push("a `$` must start `${NAME}`, or be written `$$` for a literal `$`".into());
            rest = after;
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    out.push_str(rest);
    Ok(if substituted {
        Secret::substituted(out)
    } else {
        Secret::literal(out)
    })
}

/// The raw `env:` mapping, in file order, with duplicate names refused while parsing so that
/// the error carries the duplicate key's own line.
#[derive(Debug, Default)]
pub(crate) struct RawEnv(pub(crate) Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for RawEnv {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawEnvVisitor)
    }
}

struct RawEnvVisitor;

impl<'de> serde::de::Visitor<'de> for RawEnvVisitor {
    type Value = RawEnv;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of variable names to strings, e.g. {TOKEN: \"${DISK_TOKEN}\"}")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<RawEnv, E> {
        Ok(RawEnv::default())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawEnv, A::Error> {
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        while let Some(name) = map.next_key_seed(EnvName { seen: &seen })? {
            let value = map.next_value::<EnvValue>()?.0;
            seen.insert(name.clone());
            entries.push((name, value));
        }
        Ok(RawEnv(entries))
    }
}

/// One env name; refuses a repeat inside the key's own deserializer so YAML reports its line.
struct EnvName<'a> {
    seen: &'a HashSet<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for EnvName<'_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for EnvName<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a variable name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<String, E> {
        if self.seen.contains(name) {
            return Err(E::custom(format!("duplicate env name `{name}`")));
        }
        Ok(name.to_string())
    }
}

/// One env value; a string (YAML scalars such as `1` or `true` are taken as written).
struct EnvValue(String);

impl<'de> serde::Deserialize<'de> for EnvValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(EnvValueVisitor)
    }
}

struct EnvValueVisitor;

impl serde::de::Visitor<'_> for EnvValueVisitor {
    type Value = EnvValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string (write \"\" for an empty value)")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<EnvValue, E> {
        Ok(EnvValue(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_redacts() {
        let secret = expand("Bearer ${TOKEN}", &env).unwrap();
        assert_eq!(secret.expose(), "Bearer s3cr3t");
        assert!(secret.is_redacted());
        assert_eq!(format!("{secret:?} {secret}"), "<redacted> <redacted>");
        let empty = expand("${EMPTY}", &env).unwrap();
        assert_eq!(empty.expose(), "");
        assert!(empty.is_redacted());
    }

    #[test]
    fn literals_and_escapes_are_shown() {
        let secret = expand("price: $$5", &env).unwrap();
        assert_eq!(secret.expose(), "price: $5");
        assert!(!secret.is_redacted());
        assert_eq!(format!("{secret:?}"), "\"price: $5\"");
        assert_eq!(format!("{secret}"), "price: $5");
        assert_eq!(expand("$${TOKEN}", &env).unwrap().expose(), "${TOKEN}");
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = expand("${A} $HOME ${1X} ${B}", &env).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("`A` is not set"));
        assert!(problems[1].contains("$$"));
        assert!(problems[2].contains("`${1X}`"));
        assert!(problems[3].contains("`B` is not set"));
        assert!(expand("x ${TOKEN", &env).unwrap_err()[0].contains("unterminated"));
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(Secret::literal("a"), Secret::substituted("a"));
        assert_ne!(Secret::substituted("a"), Secret::substituted("b"));
    }

    #[test]
    fn names() {
        for good in ["A", "_", "TOKEN_2", "lower"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "2A", "A-B", "A.B", "Ä"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
