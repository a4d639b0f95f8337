//! Reading a web config file with type errors: each key that fails to deserialize is
//! reported and commented out of the text (with the block under it), and reading goes on, so
//! that `check-config` lists every problem. Commenting out keeps every other line where it
//! was, so later problems keep their true positions.

use super::raw::RawWebConfig;
use crate::config::Problem;

/// At most this many keys are left out before giving up.
const MAX_ROUNDS: usize = 50;

/// The file as written with every key that could not be read left out, and a problem for
/// each (made by `problem` from yaml_serde's error). `None` when the rest could not be read.
pub(crate) fn read(
    text: &str,
    problem: impl Fn(&yaml_serde::Error) -> Problem,
) -> (Option<RawWebConfig>, Vec<Problem>) {
    let mut problems: Vec<Problem> = Vec::new();
    let mut current = text.to_string();
    for _ in 0..MAX_ROUNDS {
        let err = match yaml_serde::from_str::<RawWebConfig>(&current) {
            Ok(raw) => return (Some(raw), problems),
            Err(err) => err,
        };
        let p = problem(&err);
        let line = err.location().map(|at| at.line());
        let repeated = problems.contains(&p);
        if !repeated {
            problems.push(p);
        }
        match line {
            Some(line) if !repeated => match comment_out(&current, line) {
                Some(next) => current = next,
                None => return (None, problems),
            },
            _ => return (None, problems),
        }
    }
    (None, problems)
}

/// `text` with line `line` (1-based) commented out, and every following line indented deeper
/// (the block under the key). `None` when that line is blank or a comment already.
fn comment_out(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let target = lines.get(line.checked_sub(1)?)?;
    let body = target.trim_start();
    if body.is_empty() || body.starts_with('#') {
        return None;
    }
    let indent = target.len() - body.len();
    let mut out = Vec::with_capacity(lines.len());
    let mut in_block = false;
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        let deeper = l.trim().is_empty() || l.len() - l.trim_start().len() > indent;
        if n == line {
            in_block = true;
            out.push(format!("{}#{}", &l[..indent], &l[indent..]));
        } else if in_block && deeper && n > line {
            out.push(format!("#{l}"));
        } else {
            in_block = false;
            out.push(l.to_string());
        }
    }
    Some(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_and_its_block_are_commented_out_and_lines_stay() {
        let text = "a:\n  bad:\n    x: 1\n    y: 2\n  good: 3\nb: 4\n";
        assert_eq!(
            comment_out(text, 2).unwrap(),
            "a:\n  #bad:\n#    x: 1\n#    y: 2\n  good: 3\nb: 4\n"
        );
        assert_eq!(
            comment_out(text, 6).unwrap(),
            "a:\n  bad:\n    x: 1\n    y: 2\n  good: 3\n#b: 4\n"
        );
        assert!(comment_out("# c\n", 1).is_none());
    }
}
