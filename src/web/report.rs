//! [`Report`]: the problems found in a web config after it parsed, each located at its key
//! by walking the YAML again (the `locate` module). The checks of every part (TLS, users,
//! headers) add to one report, so all problems are shown at once.

use super::locate::locate;
use crate::config::Problem;

/// Collects semantic problems, each located at its key.
pub(crate) struct Report<'a> {
    /// The file's text, for locating keys.
    pub(crate) text: &'a str,
    /// The problems so far, in the order they were found.
    pub(crate) problems: Vec<Problem>,
}

impl<'a> Report<'a> {
    /// An empty report about `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Report {
            text,
            problems: Vec::new(),
        }
    }

    /// Records `message` against the key at `path` (e.g. `["tls_server_config", "cert_file"]`).
    pub(crate) fn add(&mut self, path: &[&str], message: impl Into<String>) {
        let at = locate(self.text, path);
        self.problems.push(Problem {
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
            key: path.join("."),
            message: message.into(),
        });
    }

    /// How many problems so far; lets a step tell whether its own checks added any.
    pub(crate) fn count(&self) -> usize {
        self.problems.len()
    }

    /// The problems in file order, whichever check found them; unlocated ones last.
    pub(crate) fn into_sorted_problems(mut self) -> Vec<Problem> {
        self.problems
            .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column));
        self.problems
    }
}
