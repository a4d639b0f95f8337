//! The findings of one `check-plugin` run and how they are printed: one line per finding,
//! then a summary line.
//!
//! A plugin answering three collects with the same mistake would otherwise print it three
//! times; an error or warning whose text came before is folded into the first one, which
//! lists where it came back. Log lines are never folded: they are the plugin's own words.

use std::collections::HashMap;
use std::fmt;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The exporter would drop something, refuse the plugin or restart it: exit code 1.
    Error,
    /// Works, but breaks a convention (promtool lints) or a SHOULD of the protocol.
    Warn,
    /// A line of the plugin's log, shown as is.
    Log,
}

/// One thing the check found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// Where: `line 12` for errors and warnings (empty when it has no place), the log's
    /// source (`stderr`, `log warn`) for log lines.
    pub location: String,
    /// What was found, on one line.
    pub message: String,
    /// Further locations where the same error or warning came back.
    pub again: Vec<String>,
    /// The exporter's error kind for what the exporter counts in `errors_total{kind}`;
    /// `None` for what it does not count there (lints, conventions, restarts).
    pub kind: Option<&'static str>,
}

/// Log lines shown at most; a plugin flooding stderr must not flood the report.
const MAX_LOG_LINES: usize = 200;
/// Repeats listed after a folded finding before they are only counted.
const MAX_AGAIN: usize = 5;

/// Everything found, in the order found.
#[derive(Debug, Default)]
pub struct Report {
    findings: Vec<Finding>,
    /// `(severity, message)` to the index of its first finding, for folding repeats.
    seen: HashMap<(Severity, String), usize>,
    logs: usize,
}

impl Report {
    /// Adds an error at `location` (`""` when it has none).
    pub fn error(&mut self, location: impl Into<String>, message: impl AsRef<str>) {
        self.push(Severity::Error, location.into(), message.as_ref(), None);
    }

    /// Adds an error the exporter counts under the error kind `kind`.
    pub fn counted(
        &mut self,
        kind: &'static str,
        location: impl Into<String>,
        message: impl AsRef<str>,
    ) {
        self.push(
            Severity::Error,
            location.into(),
            message.as_ref(),
            Some(kind),
        );
    }

    /// Adds a warning at `location` (`""` when it has none).
    pub fn warn(&mut self, location: impl Into<String>, message: impl AsRef<str>) {
        self.push(Severity::Warn, location.into(), message.as_ref(), None);
    }

    /// Adds a line of the plugin's log from `source` (`stderr`, `log info`, ...).
    pub fn log(&mut self, source: impl Into<String>, message: impl AsRef<str>) {
        self.push(Severity::Log, source.into(), message.as_ref(), None);
    }

    fn push(
        &mut self,
        severity: Severity,
        location: String,
        message: &str,
        kind: Option<&'static str>,
    ) {
        let message = one_line(message);
        if severity == Severity::Log {
            self.logs += 1;
            if self.logs > MAX_LOG_LINES {
                return;
            }
        } else if let Some(&i) = self.seen.get(&(severity, message.clone())) {
            let first = &mut self.findings[i];
            if first.location != location && !first.again.contains(&location) {
                first.again.push(location);
            }
            return;
        } else {
            self.seen
                .insert((severity, message.clone()), self.findings.len());
        }
        self.findings.push(Finding {
            severity,
            location,
            message,
            again: Vec::new(),
            kind,
        });
    }

    /// The findings, in the order found.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Number of distinct errors.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Number of distinct warnings.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warn)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The exit code for this report: 1 when any error was found, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.errors() > 0)
    }

    /// The report as JSON (`--report json`): every finding with its severity, location,
    /// message, repeats and the exporter's counter code, and the totals.
    pub fn to_json(&self) -> serde_json::Value {
        let findings: Vec<serde_json::Value> = self
            .findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "severity": match f.severity {
                        Severity::Error => "error",
                        Severity::Warn => "warning",
                        Severity::Log => "log",
                    },
                    "location": f.location,
                    "message": f.message,
                    "again": f.again,
                    "kind": f.kind,
                })
            })
            .collect();
        serde_json::json!({
            "findings": findings,
            "errors": self.errors(),
            "warnings": self.warnings(),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            match x.severity {
                Severity::Log => writeln!(f, "LOG ({}): {}", x.location, x.message)?,
                Severity::Error | Severity::Warn => {
                    let tag = if x.severity == Severity::Error {
                        "ERROR"
                    } else {
                        "WARN"
                    };
                    let at = if x.location.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", x.location)
                    };
                    write!(f, "{tag}{at}: {}", x.message)?;
                    if !x.again.is_empty() {
                        let shown: Vec<&str> =
                            x.again.iter().take(MAX_AGAIN).map(String::as_str).collect();
                        write!(f, " (again at {}", shown.join(", "))?;
                        if x.again.len() > MAX_AGAIN {
                            write!(f, " and {} more", x.again.len() - MAX_AGAIN)?;
                        }
                        write!(f, ")")?;
                    }
                    writeln!(f)?;
                }
            }
        }
        if self.logs > MAX_LOG_LINES {
            writeln!(
                f,
                "LOG (check-plugin): {} more log lines not shown",
                self.logs - MAX_LOG_LINES
            )?;
        }
        writeln!(
            f,
            "check-plugin: {} errors, {} warnings",
            self.errors(),
            self.warnings()
        )
    }
}

/// The text with control characters escaped, so one finding stays one line of the report.
fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_fold_into_the_first_finding_but_log_lines_do_not() {
        let mut r = Report::default();
        r.error("line 2", "bad");
        r.error("line 4", "bad");
        r.error("line 4", "bad");
        r.warn("line 2", "bad");
        r.log("stderr", "hi");
        r.log("stderr", "hi");
        r.error("", "multi\nline");
        assert_eq!(
            r.to_string(),
            "ERROR line 2: bad (again at line 4)\nWARN line 2: bad\nLOG (stderr): hi\n\
             LOG (stderr): hi\nERROR: multi\\nline\ncheck-plugin: 2 errors, 1 warnings\n"
        );
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn a_clean_report_exits_zero_and_floods_are_cut() {
        let mut r = Report::default();
        for i in 0..MAX_LOG_LINES + 3 {
            r.log("stderr", i.to_string());
        }
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.findings().len(), MAX_LOG_LINES);
        assert!(r.to_string().contains("3 more log lines not shown"));
    }
}
