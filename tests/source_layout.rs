//! The layout of the repository's own sources (`src/` and `plugin-protocol/src/`):
//!
//! - no source file holds more than 600 lines of non-test code;
//! - no two files or modules import each other, directly or in a circle;
//! - `unsafe` code lives only in the spawn module and the systemd socket code, and every
//!   `unsafe` block says why it is sound in a `// SAFETY:` comment just above it.
//!
//! The sources are read as text. Comments, string and character literals are blanked out
//! first, so nothing they contain counts as code. A file's test code is everything from its
//! first `#[cfg(test)]` at column 0 on, except that `#[cfg(test)]` on an out-of-line module
//! declaration (`mod testing;`) only makes that module test code: files declared that way,
//! and files named `tests.rs`, are test code as a whole and are not checked for size or
//! imports (test code may use anything).
//!
//! # The import graph
//!
//! Each file is a module (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs` is the
//! crate root; `main.rs`, a crate of its own that only uses the library by name, is left
//! out). A file imports another when its non-test code holds a path that resolves to it:
//! `crate::`, `super::` and `self::` paths, `use` groups included at any depth
//! (`use crate::a::{b::{C, D}, e};`), and paths starting with the name of one of the file's
//! own child modules (`child::Thing`, `pub use child::Thing;`). A path resolves to the
//! longest module prefix that is a file; paths inside an inline `mod x { ... }` resolve from
//! that module. Visibility (`pub(super)`, `pub(in crate::a)`) is not an import, and a bare
//! `mod child;` declaration is not one either. Cycles are the strongly connected components
//! of that graph (Tarjan), checked for files and again for modules: each edge between two
//! files also links their ancestors that are siblings at depth 1 (`plugin` -> `sandbox`) and
//! at depth 2 (`exposition::merge` -> `exposition::render`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// The crate source roots checked, relative to the repository.
const ROOTS: [&str; 2] = ["src", "plugin-protocol/src"];

/// Lines of non-test code a source file may hold.
const MAX_LINES: usize = 600;

/// The only files where `unsafe` code may be.
const UNSAFE_ALLOWED: [&str; 2] = ["src/process/spawn.rs", "src/systemd.rs"];

/// How many lines of code above an `unsafe` block its `// SAFETY:` comment may be.
const SAFETY_WINDOW: usize = 3;

#[test]
fn no_source_file_holds_more_than_600_lines_of_non_test_code() {
    let problems = oversized(&read_sources(), MAX_LINES);
    assert!(
        problems.is_empty(),
        "source files with more than {MAX_LINES} lines of non-test code (split them by \
         concern):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn no_files_or_modules_import_each_other_in_a_circle() {
    let problems = import_cycles(&read_sources());
    assert!(
        problems.is_empty(),
        "files or modules importing each other in a circle (move what both need into a file \
         of its own; children never import from their parent):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn unsafe_code_lives_only_in_the_spawn_module_and_systemd_sockets() {
    let problems = unsafe_problems(&read_sources(), &UNSAFE_ALLOWED);
    assert!(
        problems.is_empty(),
        "unsafe code outside {UNSAFE_ALLOWED:?}, or without a `// SAFETY:` comment within \
         {SAFETY_WINDOW} lines above it:\n  {}",
        problems.join("\n  ")
    );
}

/// One source file: its path relative to the repository (with `/`), and its text.
struct Source {
    path: String,
    text: String,
}

/// Every `.rs` file under [`ROOTS`], in path order.
fn read_sources() -> Vec<Source> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for root in ROOTS {
        let mut stack = vec![repo.join(root)];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path)
                        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                    let rel = path.strip_prefix(repo).expect("under the repository");
                    let rel = rel.to_string_lossy().replace('\\', "/");
                    sources.push(Source { path: rel, text });
                }
            }
        }
    }
    sources.sort_by(|a, b| a.path.cmp(&b.path));
    sources
}

// ---------------------------------------------------------------------------------------
// Reading a file: code without comments and literals, and where its test code starts.

/// `text` with comments, string, byte-string, raw-string and character literals replaced
/// by spaces. Line breaks stay, so line numbers and columns are those of `text`.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let ident_before = |i: usize| i > 0 && is_ident_char(c[i - 1]);
    let at = |i: usize| c.get(i).copied();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '/' && at(i + 1) == Some('/') {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if ch == '/' && at(i + 1) == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && at(j + 1) == Some('*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && at(j + 1) == Some('/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (ch == 'r' || (ch == 'b' && at(i + 1) == Some('r'))) && !ident_before(i) {
            // A raw string r"..", r#".."#, br".."; else an identifier starting with r or b.
            let mut j = if ch == 'r' { i + 1 } else { i + 2 };
            let hashes = (j..c.len()).take_while(|&k| c[k] == '#').count();
            j += hashes;
            if at(j) != Some('"') {
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() {
                if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == Some('#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            blank(&mut out, i, j);
            i = j;
        } else if ch == '"' || (ch == 'b' && at(i + 1) == Some('"') && !ident_before(i)) {
            let mut j = if ch == '"' { i + 1 } else { i + 2 };
            while j < c.len() {
                match c[j] {
                    '\\' => j += 2,
                    '"' => {
                        j += 1;
                        break;
                    }
                    _ => j += 1,
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\u{1F600}', '\'') or a lifetime ('a).
            if at(i + 1) == Some('\\') {
                let end = (i + 3..c.len())
                    .find(|&j| c[j] == '\'')
                    .map_or(c.len(), |j| j + 1);
                blank(&mut out, i, end);
                i = end;
            } else if at(i + 2) == Some('\'') {
                blank(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A file's code, split at the start of its test code.
struct Code {
    /// Code lines before the test code (comments and literals blanked).
    non_test: Vec<String>,
    /// Every code line, test code included.
    all: Vec<String>,
    /// Child modules declared under `#[cfg(test)]` out of line (`mod testing;`).
    test_children: BTreeSet<String>,
}

impl Code {
    fn of(text: &str) -> Code {
        let all: Vec<String> = code_only(text).lines().map(str::to_string).collect();
        let mut test_children = BTreeSet::new();
        let mut end = all.len();
        for (i, line) in all.iter().enumerate() {
            let Some(item) = line.trim().strip_prefix("#[cfg(test)]") else {
                continue;
            };
            // The item the attribute is on: the rest of the line, or the next line of code.
            let next = match item.trim() {
                "" => all[i + 1..].iter().find(|l| !l.trim().is_empty()),
                _ => Some(line),
            };
            let declared =
                next.and_then(|l| module_declaration(l.trim().trim_start_matches("#[cfg(test)]")));
            if let Some(name) = declared {
                test_children.insert(name);
            } else if !line.starts_with(char::is_whitespace) && end == all.len() {
                end = i;
            }
        }
        let non_test = all[..end].to_vec();
        Code {
            non_test,
            all,
            test_children,
        }
    }
}

/// The name in an out-of-line module declaration: `mod x;`, `pub mod x;`, `pub(crate) mod x;`.
fn module_declaration(line: &str) -> Option<String> {
    let mut rest = line.trim();
    if let Some(after) = rest.strip_prefix("pub") {
        rest = after.trim_start();
        if rest.starts_with('(') {
            rest = rest[rest.find(')')? + 1..].trim_start();
        }
    }
    let name = rest.strip_prefix("mod ")?.trim().strip_suffix(';')?.trim();
    (!name.is_empty() && name.chars().all(is_ident_char)).then(|| name.to_string())
}

// ---------------------------------------------------------------------------------------
// a. File size.

/// A message per file with more than `limit` lines of non-test code.
fn oversized(sources: &[Source], limit: usize) -> Vec<String> {
    let test_only = test_only_files(sources);
    sources
        .iter()
        .filter(|s| !test_only.contains(&s.path))
        .filter_map(|s| {
            let lines = Code::of(&s.text).non_test.len();
            (lines > limit).then(|| format!("{}: {lines} lines of non-test code", s.path))
        })
        .collect()
}

/// Files that are test code as a whole: named `tests.rs`, or declared under `#[cfg(test)]`
/// (and everything below those).
fn test_only_files(sources: &[Source]) -> BTreeSet<String> {
    let mut test_dirs = Vec::new();
    for s in sources {
        let Some((root, module)) = module_of(&s.path) else {
            continue;
        };
        for child in Code::of(&s.text).test_children {
            let mut dir = vec![root.to_string()];
            dir.extend(module.iter().cloned());
            dir.push(child);
            test_dirs.push(dir.join("/"));
        }
    }
    sources
        .iter()
        .map(|s| s.path.clone())
        .filter(|p| {
            p.ends_with("/tests.rs")
                || test_dirs
                    .iter()
                    .any(|d| *p == format!("{d}.rs") || p.starts_with(&format!("{d}/")))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// b. Import cycles.

/// A module path inside its crate: `["exposition", "merge"]`; empty for the crate root.
type Module = Vec<String>;

/// The crate root and module a source file is, or `None` for a file of no root in
/// [`ROOTS`] and for `main.rs` (a binary crate of its own).
fn module_of(path: &str) -> Option<(&'static str, Module)> {
    let root = ROOTS
        .iter()
        .copied()
        .filter(|r| path.starts_with(&format!("{r}/")))
        .max_by_key(|r| r.len())?;
    let rel = path[root.len() + 1..].strip_suffix(".rs")?;
    let mut parts: Module = rel.split('/').map(str::to_string).collect();
    if rel == "main" || parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    Some((root, parts))
}

/// One import: the file it leads to, and the path that made it (for messages).
struct Edge {
    to: Module,
    via: String,
}

/// The paths in `code` that may lead to another file, each with the inline modules it
/// appears in: `crate::`, `super::` and `self::` paths, and (outside inline modules) paths
/// starting with one of `children`. Each path comes expanded out of its `use` groups.
fn paths_in(code: &str, children: &BTreeSet<String>) -> Vec<(Module, Vec<String>)> {
    let c: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            '{' => {
                depth += 1;
                if let Some(name) = pending_mod.take() {
                    inline.push((name, depth));
                }
                i += 1;
                continue;
            }
            '}' => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            ';' => {
                pending_mod = None;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !(ch.is_alphabetic() || ch == '_') || (i > 0 && is_ident_char(c[i - 1])) {
            i += 1;
            continue;
        }
        let (word, end) = ident_at(&c, i);
        match word.as_str() {
            "mod" => {
                let j = skip_ws(&c, end);
                if j < c.len() && (c[j].is_alphabetic() || c[j] == '_') {
                    let (name, after) = ident_at(&c, j);
                    pending_mod = Some(name);
                    i = after;
                } else {
                    i = end;
                }
                continue;
            }
            "pub" => {
                // A visibility, `pub(crate)` or `pub(in crate::a)`, is not an import.
                let j = skip_ws(&c, end);
                i = if c.get(j) == Some(&'(') {
                    (j..c.len())
                        .find(|&k| c[k] == ')')
                        .map_or(c.len(), |k| k + 1)
                } else {
                    end
                };
                continue;
            }
            _ => {}
        }
        let starts_path = matches!(word.as_str(), "crate" | "super" | "self")
            || (inline.is_empty() && children.contains(&word));
        let after = skip_ws(&c, end);
        let followed_by_path = c.get(after) == Some(&':') && c.get(after + 1) == Some(&':');
        if starts_path && followed_by_path && !after_path_separator(&c, i) {
            let mut paths = Vec::new();
            i = parse_tree(&c, i, Vec::new(), &mut paths);
            let scope: Module = inline.iter().map(|(n, _)| n.clone()).collect();
            found.extend(paths.into_iter().map(|p| (scope.clone(), p)));
        } else {
            i = end;
        }
    }
    found
}

/// The identifier starting at `i`, and where it ends.
fn ident_at(c: &[char], i: usize) -> (String, usize) {
    let end = (i..c.len())
        .find(|&j| !is_ident_char(c[j]))
        .unwrap_or(c.len());
    (c[i..end].iter().collect(), end)
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

/// True when the word at `i` continues a path (`a::word`) rather than starting one.
fn after_path_separator(c: &[char], i: usize) -> bool {
    let mut j = i;
    while j > 0 && c[j - 1].is_whitespace() {
        j -= 1;
    }
    j >= 2 && c[j - 1] == ':' && c[j - 2] == ':'
}

/// Parses a path or use tree at `i` (`a::b`, `a::{b, c::{D, E}}`, `a::*`, `a as b`),
/// pushing each full path, `prefix` included, to `out`. Returns where the tree ends.
fn parse_tree(c: &[char], i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut i = skip_ws(c, i);
    match c.get(i) {
        Some('{') => {
            i += 1;
            loop {
                i = skip_ws(c, i);
                match c.get(i) {
                    None => return i,
                    Some('}') => return i + 1,
                    Some(',') => i += 1,
                    Some(_) => {
                        let end = parse_tree(c, i, prefix.clone(), out);
                        // Whatever the tree could not read (a stray token) is skipped.
                        i = if end > i { end } else { i + 1 };
                    }
                }
            }
        }
        Some('*') => {
            out.push(prefix);
            i + 1
        }
        Some(&ch) if ch.is_alphabetic() || ch == '_' => {
            let (word, end) = ident_at(c, i);
            let mut path = prefix;
            path.push(word);
            let j = skip_ws(c, end);
            if c.get(j) == Some(&':') && c.get(j + 1) == Some(&':') {
                let k = skip_ws(c, j + 2);
                if matches!(c.get(k), Some('{' | '*'))
                    || c.get(k).is_some_and(|&x| x.is_alphabetic() || x == '_')
                {
                    return parse_tree(c, k, path, out);
                }
                out.push(path);
                return k;
            }
            // `x as y`: the alias is not part of the path.
            let (next, after) = if j < c.len() && c[j].is_alphabetic() {
                ident_at(c, j)
            } else {
                (String::new(), j)
            };
            out.push(path);
            if next == "as" {
                let k = skip_ws(c, after);
                return if k < c.len() && (c[k].is_alphabetic() || c[k] == '_') {
                    ident_at(c, k).1
                } else {
                    k
                };
            }
            end
        }
        _ => {
            if !prefix.is_empty() {
                out.push(prefix);
            }
            i
        }
    }
}

/// The file module `path` (seen from `scope`, inline modules of `from`) leads to: the
/// longest prefix of its target that is one of `modules`.
fn resolve(
    from: &Module,
    scope: &Module,
    path: &[String],
    modules: &BTreeSet<Module>,
) -> Option<Module> {
    let mut base: Module = from.iter().chain(scope).cloned().collect();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some("self") => rest = &rest[1..],
        _ => {}
    }
    let rest: Vec<&String> = rest.iter().filter(|s| *s != "self").collect();
    (0..=rest.len()).rev().find_map(|k| {
        let mut candidate = base.clone();
        candidate.extend(rest[..k].iter().map(|s| (*s).clone()));
        modules.contains(&candidate).then_some(candidate)
    })
}

/// The files of one crate root (test-only files left out) by module, and what each imports.
fn file_graph<'a>(
    sources: &'a [Source],
    root: &str,
) -> (BTreeMap<Module, &'a Source>, BTreeMap<Module, Vec<Edge>>) {
    let test_only = test_only_files(sources);
    let files: BTreeMap<Module, &Source> = sources
        .iter()
        .filter(|s| !test_only.contains(&s.path))
        .filter_map(|s| match module_of(&s.path) {
            Some((r, module)) if r == root => Some((module, s)),
            _ => None,
        })
        .collect();
    let modules: BTreeSet<Module> = files.keys().cloned().collect();
    let mut graph: BTreeMap<Module, Vec<Edge>> = BTreeMap::new();
    for (module, source) in &files {
        let children: BTreeSet<String> = modules
            .iter()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m[module.len()].clone())
            .collect();
        let code = Code::of(&source.text).non_test.join("\n");
        let mut edges: Vec<Edge> = Vec::new();
        for (scope, path) in paths_in(&code, &children) {
            let Some(to) = resolve(module, &scope, &path, &modules) else {
                continue;
            };
            if to != *module && !edges.iter().any(|e| e.to == to) {
                edges.push(Edge {
                    to,
                    via: path.join("::"),
                });
            }
        }
        graph.insert(module.clone(), edges);
    }
    (files, graph)
}

/// One message per cycle, file level then module level, in every crate root.
fn import_cycles(sources: &[Source]) -> Vec<String> {
    let mut problems = Vec::new();
    for root in ROOTS {
        let (files, graph) = file_graph(sources, root);
        let name = |m: &Module| {
            files
                .get(m)
                .map_or_else(|| m.join("::"), |s| s.path.clone())
        };
        for cycle in cycles(&graph) {
            let example = example_cycle(&graph, &cycle)
                .windows(2)
                .map(|w| {
                    let via = graph[&w[0]].iter().find(|e| e.to == w[1]).map(|e| &e.via);
                    format!("{} --({})--> ", name(&w[0]), via.map_or("", |v| v.as_str()))
                })
                .collect::<String>();
            let members: Vec<String> = cycle.iter().map(&name).collect();
            problems.push(format!(
                "files [{}]: {example}{}",
                members.join(", "),
                name(&cycle[0])
            ));
        }
        for depth in [1, 2] {
            let mut collapsed: BTreeMap<Module, Vec<Edge>> = BTreeMap::new();
            for (from, edges) in &graph {
                for edge in edges {
                    let k = from
                        .iter()
                        .zip(&edge.to)
                        .take_while(|(a, b)| a == b)
                        .count();
                    if k != depth - 1 || from.len() <= k || edge.to.len() <= k {
                        continue;
                    }
                    let (a, b) = (from[..=k].to_vec(), edge.to[..=k].to_vec());
                    let out = collapsed.entry(a.clone()).or_default();
                    if !out.iter().any(|e| e.to == b) {
                        out.push(Edge {
                            to: b,
                            via: format!("{} -> {}", name(from), name(&edge.to)),
                        });
                    }
                }
            }
            for cycle in cycles(&collapsed) {
                let crate_name = |m: &Module| format!("{root}: {}", m.join("::"));
                let steps: Vec<String> = example_cycle(&collapsed, &cycle)
                    .windows(2)
                    .map(|w| {
                        let e = collapsed[&w[0]].iter().find(|e| e.to == w[1]);
                        format!("{} ({})", w[0].join("::"), e.map_or("", |e| e.via.as_str()))
                    })
                    .collect();
                let members: Vec<String> = cycle.iter().map(crate_name).collect();
                problems.push(format!(
                    "modules at depth {depth} [{}]: {} -> {}",
                    members.join(", "),
                    steps.join(" -> "),
                    cycle[0].join("::")
                ));
            }
        }
    }
    problems
}

/// The strongly connected components of more than one node (Tarjan), each sorted.
fn cycles(graph: &BTreeMap<Module, Vec<Edge>>) -> Vec<Vec<Module>> {
    struct Tarjan<'a> {
        graph: &'a BTreeMap<Module, Vec<Edge>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            let graph = self.graph;
            for edge in graph.get(v).into_iter().flatten() {
                let Some((w, _)) = graph.get_key_value(&edge.to) else {
                    continue;
                };
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found.sort();
    t.found
}

/// One circle through the component's first node, back to it (breadth first, so shortest).
fn example_cycle(graph: &BTreeMap<Module, Vec<Edge>>, component: &[Module]) -> Vec<Module> {
    let start = &component[0];
    let mut came_from: BTreeMap<&Module, &Module> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for edge in graph.get(v).into_iter().flatten() {
            if !component.contains(&edge.to) {
                continue;
            }
            if edge.to == *start {
                let mut path = vec![start.clone()];
                let mut at = v;
                while at != start {
                    path.push(at.clone());
                    at = came_from[at];
                }
                path[1..].reverse();
                path.push(start.clone());
                return path;
            }
            let (key, _) = graph.get_key_value(&edge.to).expect("a node of the graph");
            if key != start && !came_from.contains_key(key) {
                came_from.insert(key, v);
                queue.push_back(key);
            }
        }
    }
    unreachable!("a strongly connected component has a circle through each of its nodes")
}

// ---------------------------------------------------------------------------------------
// c. Unsafe code.

/// A message per `unsafe` outside `allowed`, and per `unsafe` block without its
/// `// SAFETY:` comment. Test code counts too.
fn unsafe_problems(sources: &[Source], allowed: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for source in sources {
        let code = Code::of(&source.text);
        let text: Vec<&str> = source.text.lines().collect();
        for (n, line) in code.all.iter().enumerate() {
            let c: Vec<char> = line.chars().collect();
            let mut i = 0;
            while i < c.len() {
                if !(c[i].is_alphabetic() || c[i] == '_') || (i > 0 && is_ident_char(c[i - 1])) {
                    i += 1;
                    continue;
                }
                let (word, end) = ident_at(&c, i);
                if word == "unsafe" {
                    let at = format!("{}:{}", source.path, n + 1);
                    if !allowed.contains(&source.path.as_str()) {
                        problems.push(format!("{at}: `unsafe` outside {allowed:?}"));
                    }
                    let rest: String = c[end..].iter().collect();
                    let next_code = rest.trim_start().chars().next().or_else(|| {
                        code.all[n + 1..]
                            .iter()
                            .find_map(|l| l.trim_start().chars().next())
                    });
                    if next_code == Some('{') && !has_safety_comment(&text, n) {
                        problems.push(format!(
                            "{at}: `unsafe` block without a `// SAFETY:` comment within \
                             {SAFETY_WINDOW} lines above"
                        ));
                    }
                }
                i = end;
            }
        }
    }
    problems
}

/// True when a `// SAFETY:` comment is on line `n` (0-based) or above it, with at most
/// [`SAFETY_WINDOW`] lines of code in between (comment and blank lines do not count).
fn has_safety_comment(text: &[&str], n: usize) -> bool {
    if text.get(n).is_some_and(|l| l.contains("// SAFETY:")) {
        return true;
    }
    let mut code_lines = 0;
    for line in text[..n.min(text.len())].iter().rev() {
        let line = line.trim();
        if line.starts_with("// SAFETY:") || line.starts_with("/// SAFETY:") {
            return true;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        code_lines += 1;
        if code_lines >= SAFETY_WINDOW {
            return false;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------
// The checks themselves must be able to fail.

#[cfg(test)]
mod checks_can_fail {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> Vec<Source> {
        files
            .iter()
            .map(|(path, text)| Source {
                path: path.to_string(),
                text: text.to_string(),
            })
            .collect()
    }

    #[test]
    fn a_two_file_cycle_is_found() {
        let files = sources(&[
            ("src/lib.rs", "pub mod a;\npub mod b;\n"),
            ("src/a.rs", "use crate::b::B;\npub struct A(B);\n"),
            (
                "src/b.rs",
                "use crate::{a::{A, self}, c};\npub struct B;\nfn f(_: A) {}\n",
            ),
        ]);
        let problems = import_cycles(&files);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].starts_with("files [src/a.rs, src/b.rs]: src/a.rs --(crate::b::B)--> "),
            "{problems:#?}"
        );
        assert!(
            problems[1].starts_with("modules at depth 1 [src: a, src: b]"),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_parent_using_a_child_that_uses_the_parent_is_a_cycle() {
        let files = sources(&[
            ("src/lib.rs", "pub mod p;\n"),
            (
                "src/p/mod.rs",
                "mod c;\npub use c::Thing;\npub struct Shared;\n",
            ),
            (
                "src/p/c.rs",
                "use super::Shared;\npub struct Thing(Shared);\n",
            ),
        ]);
        let problems = import_cycles(&files);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("src/p/mod.rs --(c::Thing)--> src/p/c.rs"));
    }

    #[test]
    fn tests_visibility_comments_and_strings_are_not_imports() {
        let files = sources(&[
            ("src/lib.rs", "pub mod p;\n"),
            (
                "src/p/mod.rs",
                "mod c;\npub use c::Thing;\n// super::x crate::p::c\nconst S: &str = \"crate::p::c\";\n",
            ),
            (
                "src/p/c.rs",
                "pub(super) struct Thing;\npub(in crate::p) fn f() {}\n\
                 #[cfg(test)]\nmod tests {\n    use super::super::Thing;\n}\n",
            ),
        ]);
        assert_eq!(import_cycles(&files), Vec::<String>::new());
    }

    #[test]
    fn nested_use_groups_are_expanded() {
        let code = "use crate::a::{b::{C, D}, e, f::{self as g, *}};\nuse super::h as i;";
        let found: Vec<String> = paths_in(code, &BTreeSet::new())
            .into_iter()
            .map(|(_, p)| p.join("::"))
            .collect();
        assert_eq!(
            found,
            [
                "crate::a::b::C",
                "crate::a::b::D",
                "crate::a::e",
                "crate::a::f::self",
                "crate::a::f",
                "super::h"
            ]
        );
    }

    #[test]
    fn a_601_line_file_is_flagged_and_its_tests_are_not_counted() {
        let body = |n: usize| "fn f() {}\n".repeat(n) + "#[cfg(test)]\nmod tests {\n}\n";
        let files = sources(&[
            ("src/big.rs", &body(601)),
            ("src/fits.rs", &body(600)),
            (
                "src/x.rs",
                "#[cfg(test)] mod helpers;\n#[cfg(test)]\nmod testing;\npub mod y;\n",
            ),
            ("src/x/helpers.rs", &"fn t() {}\n".repeat(700)),
            ("src/x/testing.rs", &"fn t() {}\n".repeat(700)),
            ("src/x/tests.rs", &"fn t() {}\n".repeat(700)),
            ("src/x/y.rs", &"fn t() {}\n".repeat(700)),
        ]);
        assert_eq!(
            oversized(&files, 600),
            [
                "src/big.rs: 601 lines of non-test code",
                "src/x/y.rs: 700 lines of non-test code"
            ]
        );
    }

    #[test]
    fn unsafe_is_found_in_code_only_and_needs_its_safety_comment() {
        let files = sources(&[
            (
                "src/process/spawn.rs",
                "// unsafe in a comment\nconst S: &str = \"unsafe\";\n\
                 // SAFETY: fine.\nlet x = unsafe { f() };\nlet a = 1;\nlet b = 2;\n\
                 let y = unsafe { g() };\n",
            ),
            ("src/other.rs", "fn f() {\n    unsafe { g() }\n}\n"),
        ]);
        let problems = unsafe_problems(&files, &["src/process/spawn.rs"]);
        assert_eq!(
            problems,
            [
                "src/process/spawn.rs:7: `unsafe` block without a `// SAFETY:` comment within 3 \
                 lines above",
                "src/other.rs:2: `unsafe` outside [\"src/process/spawn.rs\"]",
                "src/other.rs:2: `unsafe` block without a `// SAFETY:` comment within 3 lines \
                 above",
            ]
        );
    }

    #[test]
    fn literals_and_comments_are_blanked_but_lines_stay() {
        let text = "a /* b /* c */ d */ e\n'x' '\\'' 'a r#\"q\"# b\"z\" \"y\\\"\" // w\nf";
        let code = code_only(text);
        assert_eq!(code.lines().count(), 3);
        assert_eq!(
            code.split_whitespace().collect::<Vec<_>>(),
            ["a", "e", "'a", "f"]
        );
    }
}
