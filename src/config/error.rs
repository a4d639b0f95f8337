//! Why a config file was refused: [`ConfigError`], and each [`Problem`] in it with its line,
//! column and key.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration; one line per problem.
    #[error("{}", ShowProblems { path, problems })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found (for syntax and type errors: the first one).
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems of an `Invalid` error; empty for `Io`.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Io { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Where in the document, e.g. `plugins[disk].timeout` (or `plugins[1].timeout` when the
    /// entry has no usable name); empty for the document as a whole.
    pub key: String,
    /// What is wrong, and where possible what would be right.
    pub message: String,
}

/// Renders problems as `FILE:LINE:COL: KEY: MESSAGE`, one per line, omitting unknown parts.
struct ShowProblems<'a> {
    path: &'a Path,
    problems: &'a [Problem],
}

impl fmt::Display for ShowProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}", self.path.display())?;
            if let Some(line) = problem.line {
                write!(f, ":{line}")?;
                if let Some(column) = problem.column {
                    write!(f, ":{column}")?;
                }
            }
            f.write_str(": ")?;
            if !problem.key.is_empty() {
                write!(f, "{}: ", problem.key)?;
            }
            f.write_str(&problem.message)?;
        }
        Ok(())
    }
}
