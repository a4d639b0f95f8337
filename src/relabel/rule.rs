//! One relabel rule as Prometheus defines it (`model/relabel` in Prometheus): the YAML shape
//! ([`RawRule`]), the checks Prometheus makes when it loads one ([`Rule::compile`], with the
//! same rules and messages in spirit), and what it does to one label set ([`Rule::apply`]).
//!
//! # Semantics, as Prometheus has them
//! - The source labels' values (`""` for an absent label) are joined with `separator`
//!   (default `;`); `regex` (default `(.*)`) is anchored at both ends.
//! - `replace`: when the regex matches, `target_label` and `replacement` (default `$1`) are
//!   expanded with the captures (`$1`, `${1}`, `$name`, `${name}`, `$$`); an invalid label
//!   name as target leaves the set alone, an empty value removes the target.
//! - `keep`/`drop`: on the regex; `keepequal`/`dropequal`: the joined value against
//!   `target_label`'s value.
//! - `hashmod`: the last 8 bytes of the MD5 of the joined value, big-endian, modulo
//!   `modulus`: the same numbers Prometheus computes.
//! - `labelmap`: every label whose name matches is copied to the name the replacement makes;
//!   `labeldrop`/`labelkeep` remove labels whose names match / do not match.
//! - `lowercase`/`uppercase`: the joined value, case-mapped letter by letter, into the target.
//!
//! The one difference: `regex` is the `regex` crate's RE2 syntax, where `\d`, `\w`, `\s` and
//! `\b` are Unicode-aware; in Go they are ASCII-only. Label values in ASCII see no difference.

use std::fmt;

use md5::{Digest, Md5};
use regex::Regex;
use serde::Deserialize;

use super::labels::LabelSet;

/// The default separator of source label values.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default regex.
pub const DEFAULT_REGEX: &str = "(.*)";
/// The default replacement.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// One entry of `metric_relabel_configs` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a relabel rule: a mapping with `source_labels`, `separator`, `regex`, \
                 `modulus`, `target_label`, `replacement` and `action`"
)]
pub struct RawRule {
    /// Labels whose values are joined.
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    /// What joins them.
    pub separator: Option<String>,
    /// The regex, unanchored as written.
    pub regex: Option<RawRegex>,
    /// For `hashmod`.
    pub modulus: Option<u64>,
    /// The label written.
    pub target_label: Option<String>,
    /// The value written, with capture references.
    pub replacement: Option<String>,
    /// The action, case-insensitive.
    pub action: Option<String>,
}

/// A regex as YAML may write it: a string, or a plain scalar YAML reads as a number.
#[derive(Debug, Clone)]
pub struct RawRegex(pub String);

impl<'de> Deserialize<'de> for RawRegex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(RawRegex(s)),
            serde_json::Value::Number(n) => Ok(RawRegex(n.to_string())),
            serde_json::Value::Bool(b) => Ok(RawRegex(b.to_string())),
            serde_json::Value::Null => Ok(RawRegex(String::new())),
            _ => Err(serde::de::Error::custom("regex must be a string")),
        }
    }
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Regex replacement into `target_label`.
    Replace,
    /// Keep the series when the regex matches.
    Keep,
    /// Drop the series when the regex matches.
    Drop,
    /// Keep the series when the joined value equals `target_label`'s.
    KeepEqual,
    /// Drop the series when the joined value equals `target_label`'s.
    DropEqual,
    /// `target_label` = hash of the joined value modulo `modulus`.
    HashMod,
    /// Copy matching label names to the replacement's name.
    LabelMap,
    /// Remove labels whose names match.
    LabelDrop,
    /// Remove labels whose names do not match.
    LabelKeep,
    /// `target_label` = the joined value in lower case.
    Lowercase,
    /// `target_label` = the joined value in upper case.
    Uppercase,
}

impl Action {
    /// Every action, with its name in the config.
    pub const ALL: [(Action, &'static str); 11] = [
        (Action::Replace, "replace"),
        (Action::Keep, "keep"),
        (Action::Drop, "drop"),
        (Action::KeepEqual, "keepequal"),
        (Action::DropEqual, "dropequal"),
        (Action::HashMod, "hashmod"),
        (Action::LabelMap, "labelmap"),
        (Action::LabelDrop, "labeldrop"),
        (Action::LabelKeep, "labelkeep"),
        (Action::Lowercase, "lowercase"),
        (Action::Uppercase, "uppercase"),
    ];

    /// The action's name in the config.
    pub fn as_str(self) -> &'static str {
        Action::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("replace", |(_, name)| name)
    }

    fn parse(s: &str) -> Option<Action> {
        let lower = s.to_lowercase();
        Action::ALL
            .iter()
            .find(|(_, name)| *name == lower)
            .map(|(a, _)| *a)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a rule was refused when it loaded, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    /// The key of the rule at fault (`regex`, `target_label`, ...).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> RuleError {
    RuleError {
        field,
        message: message.into(),
    }
}

/// A checked rule, ready to apply.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    /// The regex as written (unanchored), for equality and display.
    regex_source: String,
    regex: Regex,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.source_labels == other.source_labels
            && self.separator == other.separator
            && self.regex_source == other.regex_source
            && self.modulus == other.modulus
            && self.target_label == other.target_label
            && self.replacement == other.replacement
            && self.action == other.action
    }
}

/// True for a valid label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Prometheus's check of a target with references: letters, `_`, digits after the first
/// character, and `$name` / `${name}` references.
fn is_relabel_target(s: &str) -> bool {
    static TARGET: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    TARGET
        .get_or_init(|| {
            Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").expect("static regex")
        })
        .is_match(s)
}

impl Rule {
    /// Checks a rule as Prometheus does when it loads one, and compiles its regex.
    pub fn compile(raw: &RawRule) -> Result<Rule, RuleError> {
        let action = match raw.action.as_deref() {
            None => Action::Replace,
            Some("") => return Err(refuse("action", "relabel action cannot be empty")),
            Some(a) => Action::parse(a).ok_or_else(|| {
                let known: Vec<&str> = Action::ALL.iter().map(|(_, n)| *n).collect();
                refuse(
                    "action",
                    format!("unknown relabel action `{a}` (one of {})", known.join(", ")),
                )
            })?,
        };
        let regex_source = raw
            .regex
            .as_ref()
            .map_or(DEFAULT_REGEX.to_string(), |r| r.0.clone());
        let regex = Regex::new(&format!("^(?:{regex_source})$"))
            .map_err(|e| refuse("regex", format!("invalid regex `{regex_source}`: {e}")))?;
        let target = raw.target_label.clone().unwrap_or_default();
        let replacement = raw
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string());
        let separator = raw
            .separator
            .clone()
            .unwrap_or_else(|| DEFAULT_SEPARATOR.to_string());
        let modulus = raw.modulus.unwrap_or(0);
        let source_labels = raw.source_labels.clone().unwrap_or_default();
        for name in &source_labels {
            if !is_label_name(name) {
                return Err(refuse(
                    "source_labels",
                    format!("`{name}` is not a valid label name"),
                ));
            }
        }
        use Action::*;
        if modulus == 0 && action == HashMod {
            return Err(refuse(
                "modulus",
                "relabel configuration for hashmod requires non-zero modulus",
            ));
        }
        let needs_target = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(refuse(
                "target_label",
                format!("relabel configuration for {action} action requires `target_label`"),
            ));
        }
        let target_ok = match action {
            Replace if target.contains('$') => is_relabel_target(&target),
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual => {
                is_label_name(&target)
            }
            _ => true,
        };
        if !target_ok {
            return Err(refuse(
                "target_label",
                format!("`{target}` is invalid `target_label` for {action} action"),
            ));
        }
        let default_replacement = replacement == DEFAULT_REPLACEMENT;
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual) && !default_replacement {
            return Err(refuse(
                "replacement",
                format!("`replacement` can not be set for {action} action"),
            ));
        }
        if action == LabelMap && !is_relabel_target(&replacement) {
            return Err(refuse(
                "replacement",
                format!("`{replacement}` is invalid `replacement` for {action} action"),
            ));
        }
        if matches!(action, KeepEqual | DropEqual)
            && (regex_source != DEFAULT_REGEX || modulus != 0 || separator != DEFAULT_SEPARATOR)
        {
            return Err(refuse(
                "action",
                format!(
                    "{action} action requires only `source_labels` and `target_label`, and no \
                     other fields"
                ),
            ));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (raw.source_labels.is_some()
                || !target.is_empty()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || !default_replacement)
        {
            return Err(refuse(
                "action",
                format!("{action} action requires only `regex`, and no other fields"),
            ));
        }
        Ok(Rule {
            source_labels,
            separator,
            regex_source,
            regex,
            modulus,
            target_label: target,
            replacement,
            action,
        })
    }

    /// The rule's action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// Applies the rule to `labels`; false when the series is to be dropped.
    pub fn apply(&self, labels: &mut LabelSet) -> bool {
        let val = self.joined(labels);
        match self.action {
            Action::Drop => return !self.regex.is_match(&val),
            Action::Keep => return self.regex.is_match(&val),
            Action::DropEqual => return labels.get(&self.target_label) != val,
            Action::KeepEqual => return labels.get(&self.target_label) == val,
            Action::Replace => self.replace(labels, &val),
            Action::Lowercase => labels.set(&self.target_label, map_case(&val, false)),
            Action::Uppercase => labels.set(&self.target_label, map_case(&val, true)),
            Action::HashMod => {
                let hash = Md5::digest(val.as_bytes());
                let mut last = [0u8; 8];
                last.copy_from_slice(&hash[8..]);
                let m = u64::from_be_bytes(last) % self.modulus;
                labels.set(&self.target_label, m.to_string());
            }
            Action::LabelMap => {
                for (name, value) in labels.snapshot() {
                    if self.regex.is_match(&name) {
                        let new = self.regex.replace_all(&name, self.replacement.as_str());
                        labels.set(&new, value);
                    }
                }
            }
            Action::LabelDrop => labels.retain(|name| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name| self.regex.is_match(name)),
        }
        true
    }

    fn joined(&self, labels: &LabelSet) -> String {
        let mut val = String::new();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                val.push_str(&self.separator);
            }
            val.push_str(labels.get(name));
        }
        val
    }

    fn replace(&self, labels: &mut LabelSet, val: &str) {
        // Prometheus's fast path: set or delete a fixed label without matching.
        if val.is_empty()
            && self.regex_source == DEFAULT_REGEX
            && !self.target_label.contains('$')
            && !self.replacement.contains('$')
        {
            labels.set(&self.target_label, self.replacement.clone());
            return;
        }
        let Some(caps) = self.regex.captures(val) else {
            return;
        };
        let mut target = String::new();
        caps.expand(&self.target_label, &mut target);
        if !is_label_name(&target) {
            return;
        }
        let mut value = String::new();
        caps.expand(&self.replacement, &mut value);
        labels.set(&target, value);
    }
}

/// Maps letters one by one, as Go's `strings.ToLower`/`ToUpper` do: a letter whose mapping is
/// more than one character (`ß` in upper case) is kept as it is.
fn map_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            let mut mapped: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            if mapped.len() == 1 {
                mapped.pop().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Result<Rule, RuleError> {
        let raw: RawRule = yaml_serde::from_str(yaml).expect("test rule parses");
        Rule::compile(&raw)
    }

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    fn pairs(ls: &LabelSet) -> Vec<(String, String)> {
        ls.snapshot()
    }

    #[test]
    fn replace_expands_numbered_named_and_braced_captures() {
        let r = rule(
            "{source_labels: [a, b], regex: '(?P<x>[^;]*);(.*)', target_label: 'c_${2}', \
             replacement: '$x-${2}-$$'}",
        )
        .unwrap();
        let mut ls = set(&[("a", "one"), ("b", "two")]);
        assert!(r.apply(&mut ls));
        assert_eq!(ls.get("c_two"), "one-two-$");
    }

    #[test]
    fn replace_with_no_match_changes_nothing_and_empty_value_deletes() {
        let r = rule("{source_labels: [a], regex: 'x(.*)', target_label: b}").unwrap();
        let mut ls = set(&[("a", "yes"), ("b", "keep")]);
        assert!(r.apply(&mut ls));
        assert_eq!(ls.get("b"), "keep");
        let mut ls = set(&[("a", "x"), ("b", "gone")]);
        assert!(r.apply(&mut ls));
        assert_eq!(pairs(&ls), [("a".to_string(), "x".to_string())]);
    }

    #[test]
    fn regex_is_anchored_at_both_ends() {
        let r = rule("{source_labels: [a], regex: 'b', action: keep}").unwrap();
        assert!(!r.apply(&mut set(&[("a", "abc")])));
        assert!(r.apply(&mut set(&[("a", "b")])));
    }

    #[test]
    fn hashmod_gives_prometheus_values() {
        // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; its last 8 bytes are
        // 0xedef654fccc4a4d8 = 17145033699835028696, which is 96 modulo 100.
        let r =
            rule("{source_labels: [a], modulus: 100, target_label: h, action: hashmod}").unwrap();
        let mut ls = set(&[("a", "foo")]);
        assert!(r.apply(&mut ls));
        assert_eq!(ls.get("h"), "96");
    }

    #[test]
    fn labelmap_labeldrop_labelkeep_work_on_names() {
        let r = rule("{regex: 'tmp_(.*)', replacement: 'k_$1', action: labelmap}").unwrap();
        let mut ls = set(&[("tmp_a", "1"), ("b", "2")]);
        assert!(r.apply(&mut ls));
        assert_eq!(ls.get("k_a"), "1");
        assert_eq!(ls.get("tmp_a"), "1");
        let drop = rule("{regex: 'tmp_.*', action: labeldrop}").unwrap();
        assert!(drop.apply(&mut ls));
        assert_eq!(ls.get("tmp_a"), "");
        let keep = rule("{regex: 'k_a|__name__', action: labelkeep}").unwrap();
        assert!(keep.apply(&mut ls));
        assert_eq!(pairs(&ls), [("k_a".to_string(), "1".to_string())]);
    }

    #[test]
    fn equal_actions_compare_with_the_target() {
        let keep = rule("{source_labels: [a], target_label: b, action: keepequal}").unwrap();
        let drop = rule("{source_labels: [a], target_label: b, action: dropequal}").unwrap();
        let same = set(&[("a", "1"), ("b", "1")]);
        let differ = set(&[("a", "1"), ("b", "2")]);
        assert!(keep.apply(&mut same.clone()));
        assert!(!keep.apply(&mut differ.clone()));
        assert!(!drop.apply(&mut same.clone()));
        assert!(drop.apply(&mut differ.clone()));
    }

    #[test]
    fn case_actions_map_letter_by_letter() {
        let up = rule("{source_labels: [a], target_label: b, action: Uppercase}").unwrap();
        let mut ls = set(&[("a", "straße-é")]);
        assert!(up.apply(&mut ls));
        assert_eq!(ls.get("b"), "STRAßE-É");
        let low = rule("{source_labels: [b], target_label: c, action: lowercase}").unwrap();
        assert!(low.apply(&mut ls));
        assert_eq!(ls.get("c"), "straße-é");
    }

    #[test]
    fn loading_refuses_what_prometheus_refuses() {
        let cases = [
            ("{action: explode}", "action"),
            ("{action: replace}", "target_label"),
            ("{action: hashmod, target_label: h}", "modulus"),
            ("{regex: '(', target_label: x}", "regex"),
            ("{target_label: '1x'}", "target_label"),
            (
                "{action: lowercase, target_label: x, replacement: y}",
                "replacement",
            ),
            ("{action: labelmap, replacement: '-'}", "replacement"),
            (
                "{action: labeldrop, regex: x, source_labels: [a]}",
                "action",
            ),
            ("{action: keepequal, target_label: x, regex: y}", "action"),
            ("{source_labels: ['a-b'], target_label: x}", "source_labels"),
        ];
        for (yaml, field) in cases {
            let err = rule(yaml).expect_err(yaml);
            assert_eq!(err.field, field, "{yaml}: {err}");
        }
        assert!(rule("{target_label: 'x_${1}'}").is_ok());
    }
}
