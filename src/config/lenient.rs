//! Reading a file that has type errors: each key that fails to deserialize (an unknown key, a
//! bad duration, an unknown mode, ...) is reported and left out, and reading goes on, so that
//! one run of `check-config` lists every problem instead of the first.
//!
//! yaml_serde stops at the first error. Each round reports that error against the original
//! text (its line, column and key), removes the offending key from the document, and reads
//! the rest again. A problem that removing a key cannot fix (a YAML syntax error, a missing
//! required key, a bad list element) ends the rounds: what was found is reported.

use super::check::{position_of, syntax_problem_at};
use super::error::Problem;
use super::locate::Seg;
use super::raw::RawConfig;
use yaml_serde::Value;

/// At most this many keys are left out before giving up.
const MAX_ROUNDS: usize = 100;

/// The file as written, with every key that could not be read left out, and a problem for
/// each. `None` when the rest could not be read either.
pub(crate) fn read(text: &str) -> (Option<RawConfig>, Vec<Problem>) {
    let mut problems: Vec<Problem> = Vec::new();
    let mut doc: Option<Value> = None;
    let mut current = text.to_string();
    for round in 0..MAX_ROUNDS {
        let err = match yaml_serde::from_str::<RawConfig>(&current) {
            Ok(raw) => return (Some(raw), problems),
            Err(err) => err,
        };
        let (mut problem, path) = syntax_problem_at(&current, &err);
        if round > 0 {
            // The text read this round is re-serialized: find the key in the original, or
            // the nearest key above it that is there (a missing key's mapping).
            let at = (0..=path.len())
                .rev()
                .find_map(|n| position_of(text, &path[..n]).filter(|_| n > 0));
            problem.line = at.map(|(line, _)| line);
            problem.column = at.map(|(_, column)| column);
        }
        // A key left out in an earlier round and now missing is the same problem again.
        let repeated = problems
            .iter()
            .any(|p| *p == problem || (!p.key.is_empty() && p.key == problem.key));
        if !repeated {
            problems.push(problem.clone());
        }
        let removable = !repeated
            && !path.is_empty()
            && matches!(path.last(), Some(Seg::Key(_)))
            && !problem.message.starts_with("missing field");
        if !removable {
            return (None, problems);
        }
        let doc = match &mut doc {
            Some(d) => d,
            None => match yaml_serde::from_str::<Value>(text) {
                Ok(d) => doc.insert(d),
                Err(_) => return (None, problems),
            },
        };
        if !remove(doc, &path) {
            return (None, problems);
        }
        current = match yaml_serde::to_string(doc) {
            Ok(t) => t,
            Err(_) => return (None, problems),
        };
    }
    (None, problems)
}

/// Removes the key at `path` (which ends in a key); false when there is none.
fn remove(doc: &mut Value, path: &[Seg]) -> bool {
    let Some((Seg::Key(last), parents)) = path.split_last() else {
        return false;
    };
    let mut node = doc;
    for seg in parents {
        let next = match (seg, node) {
            (Seg::Key(k), Value::Mapping(m)) => m.get_mut(k.as_str()),
            (Seg::Index(i), Value::Sequence(s)) => s.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    match node {
        Value::Mapping(m) => m.remove(last.as_str()).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(problems: &[Problem]) -> Vec<(Option<usize>, &str)> {
        problems.iter().map(|p| (p.line, p.key.as_str())).collect()
    }

    #[test]
    fn every_bad_key_is_reported_with_its_line() {
        let text = "global:\n  timeout: 5x\n  interval: 3q\nplugins:\n  - name: a\n    \
                    command: [/bin/true]\n    mode: bogus\n    colour: red\n";
        let (raw, problems) = read(text);
        assert!(raw.is_some(), "{problems:?}");
        assert_eq!(
            keys(&problems),
            [
                (Some(2), "global.timeout"),
                (Some(3), "global.interval"),
                (Some(7), "plugins[a].mode"),
                (Some(8), "plugins[a].colour"),
            ],
            "{problems:?}"
        );
        assert!(
            problems[0].message.contains("invalid duration `5x`"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_missing_key_ends_the_rounds_with_what_was_found() {
        let text = "global:\n  timeout: 5x\nplugins:\n  - command: [/bin/true]\n";
        let (raw, problems) = read(text);
        assert!(raw.is_none());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[1].message.contains("missing field `name`"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_valid_file_has_no_problem() {
        let (raw, problems) = read("plugins: []\n");
        assert!(raw.is_some() && problems.is_empty());
    }
}
