//! The semantic checks that run after a successful parse, and the translation of problems
//! (ours and yaml_serde's) into [`Problem`]s with a key and, where it is certain, a line.

use super::env::{expand, valid_name as valid_env_name};
use super::error::Problem;
use super::limits::{self, Limits};
use super::locate::{locate, may_have_aliases, parse_path, plugin_names, Seg};
use super::model::{
    Config, Format, Global, Mode, OnError, PluginConfig, DEFAULT_EVALUATION_INTERVAL,
    DEFAULT_INTERVAL, DEFAULT_PLUGIN_LABEL, DEFAULT_TIMEOUT, MIN_INTERVAL,
};
use super::program::{config_dir, resolve_program};
use super::raw::{RawConfig, RawPlugin};
use super::roles;
use super::run_as::{self, RunAs};
use super::sandbox::{self, SandboxKeys};
use crate::relabel::{RawRule, Rule};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Collects problems, naming each by key and finding its line in the source.
pub(crate) struct Reporter<'a> {
    text: &'a str,
    /// Plugin names usable in keys (`plugins[disk]`): valid and unique, else `None`.
    names: Vec<Option<String>>,
    /// False when the source may use aliases, whose positions point at the anchor.
    lines: bool,
    problems: Vec<Problem>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(text: &'a str, names: Vec<Option<String>>) -> Self {
        let usable = names
            .iter()
            .map(|name| {
                let name = name.as_deref()?;
                let unique = names
                    .iter()
                    .flatten()
                    .filter(|other| *other == name)
                    .count()
                    == 1;
                (valid_plugin_name(name) && unique).then(|| name.to_string())
            })
            .collect();
        Reporter {
            text,
            names: usable,
            lines: !may_have_aliases(text),
            problems: Vec::new(),
        }
    }

    fn report(&mut self, path: &[Seg], message: impl Into<String>) {
        let at = self.position(path, 0);
        self.push(path, at, message.into());
    }

    fn push(&mut self, path: &[Seg], at: Option<(usize, usize)>, message: String) {
        self.problems.push(Problem {
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
            key: self.key(path),
            message,
        });
    }

    fn position(&self, path: &[Seg], nth: usize) -> Option<(usize, usize)> {
        self.lines.then(|| locate(self.text, path, nth)).flatten()
    }

    /// Renders `path` as `plugins[disk].env.TOKEN`, naming plugins where the name is usable.
    fn key(&self, path: &[Seg]) -> String {
        let mut key = String::new();
        for (i, seg) in path.iter().enumerate() {
            match seg {
                Seg::Key(name) if key.is_empty() => key.push_str(name),
                Seg::Key(name) => {
                    key.push('.');
                    key.push_str(name);
                }
                Seg::Index(index) => {
                    let plugin = match path.first() {
                        Some(Seg::Key(root)) if i == 1 && root == "plugins" => {
                            self.names.get(*index)
                        }
                        _ => None,
                    };
                    match plugin.cloned().flatten() {
                        Some(name) => key.push_str(&format!("[{name}]")),
                        None => key.push_str(&format!("[{index}]")),
                    }
                }
            }
        }
        key
    }

    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

/// Turns yaml_serde's error into a problem (its position, its path as our key, its message
/// without the position and path it embeds: they are in the other fields), and the path of
/// the offending key.
pub(crate) fn syntax_problem_at(text: &str, err: &yaml_serde::Error) -> (Problem, Vec<Seg>) {
    let report = Reporter::new(text, plugin_names(text));
    let mut at = err.location().map(|at| (at.line(), at.column()));
    let mut message = err.to_string();
    if let Some((line, column)) = at {
        let suffixes = [
            format!(" at line {line} column {column}"),
            format!(" at position {}", err.location().map_or(0, |at| at.index())),
        ];
        for suffix in suffixes {
            if let Some(start) = message.find(&suffix) {
                message.replace_range(start..start + suffix.len(), "");
                break;
            }
        }
    }
    let mut path = Vec::new();
    if let Some((prefix, rest)) = message.split_once(": ") {
        if let Some(found) = parse_path(text, prefix) {
            path = found;
            message = rest.to_string();
        }
    }
    // serde names the offending field only in the text; make it part of the key. yaml_serde
    // puts a duplicate at the start of its mapping, so look for the second occurrence.
    for (kind, nth) in [("unknown", None), ("missing", None), ("duplicate", Some(1))] {
        let Some(rest) = message.strip_prefix(&format!("{kind} field `")) else {
            continue;
        };
        let Some((field, _)) = rest.split_once('`') else {
            continue;
        };
        path.push(Seg::Key(field.to_string()));
        if let Some(found) = nth.and_then(|nth| report.position(&path, nth)) {
            at = Some(found);
        }
    }
    let problem = Problem {
        line: at.map(|(line, _)| line),
        column: at.map(|(_, column)| column),
        key: report.key(&path),
        message,
    };
    (problem, path)
}

/// Where `path` is in `text`, when it can be told for certain.
pub(crate) fn position_of(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    Reporter::new(text, plugin_names(text)).position(path, 0)
}

fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

/// Applies defaults and runs every check, reporting all problems found.
pub(crate) fn resolve(
    mut raw: RawConfig,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Reporter,
) -> Config {
    let raw_global = raw.global.unwrap_or_default();
    let here = [key("global")];
    let limits = resolve_limits(raw_global.limits, &Limits::default(), &here, report);
    let run_as = resolve_run_as(
        raw_global.user.as_deref(),
        raw_global.group.as_deref(),
        &here,
        report,
    );
    let global = Global {
        timeout: raw_global.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
        interval: raw_global.interval.map_or(DEFAULT_INTERVAL, |d| d.0),
        plugin_label: raw_global
            .plugin_label
            .unwrap_or_else(|| DEFAULT_PLUGIN_LABEL.to_string()),
        limits,
        allow_root: raw_global.allow_root.unwrap_or(false),
        sandbox: resolve_sandbox(raw_global.sandbox, &here, report),
        metric_relabel_configs: relabel_rules(raw_global.metric_relabel_configs, &here, report),
        evaluation_interval: raw_global
            .evaluation_interval
            .map_or(DEFAULT_EVALUATION_INTERVAL, |d| d.0),
        remote_write_interval: raw_global
            .remote_write_interval
            .or(raw_global.evaluation_interval)
            .map_or(DEFAULT_EVALUATION_INTERVAL, |d| d.0),
        external_labels: {
            let (labels, problems) =
                super::remote_write::external_labels(raw_global.external_labels, &here);
            for (path, why) in problems {
                report.report(&path, why);
            }
            labels
        },
        processors: raw_global.processors.clone().unwrap_or_default(),
    };
    for (key_name, d) in [
        ("evaluation_interval", raw_global.evaluation_interval),
        ("remote_write_interval", raw_global.remote_write_interval),
    ] {
        if d.is_some_and(|d| d.0 < MIN_INTERVAL) {
            let message = format!(
                "{key_name} must be at least {}",
                super::duration::format(MIN_INTERVAL)
            );
            report.report(&[key("global"), key(key_name)], message);
        }
    }
    let plugins_raw = raw.plugins.as_deref().unwrap_or_default();
    for (path, why) in roles::check(plugins_raw, raw_global.processors.as_deref()) {
        report.report(&path, why);
    }
    check_timeout(report, &here, raw_global.timeout.map(|d| d.0));
    check_interval(report, &here, raw_global.interval.map(|d| d.0));
    if let Err(why) = check_label(&global.plugin_label) {
        report.report(&[key("global"), key("plugin_label")], why);
    }

    let base = config_dir(file);
    let mut problems = super::packages::Problems::default();
    let packages = super::packages::Packages::load(
        raw.plugins_dirs.as_deref().unwrap_or_default(),
        raw.trust.take(),
        &base,
        &mut problems,
    );
    for (path, why) in problems.0.drain(..) {
        report.report(&path, why);
    }
    let mut first_index: HashMap<String, usize> = HashMap::new();
    let mut plugins = Vec::new();
    for (index, plugin) in raw.plugins.into_iter().flatten().enumerate() {
        let here = [key("plugins"), Seg::Index(index)];
        let name_path = [key("plugins"), Seg::Index(index), key("name")];
        if !valid_plugin_name(&plugin.name) {
            let message = format!(
                "invalid plugin name `{}`: use 1 to 64 characters out of a-z, 0-9, `_` and `-`",
                plugin.name
            );
            report.report(&name_path, message);
        }
        match first_index.get(&plugin.name) {
            Some(&first) => {
                let first_path = [key("plugins"), Seg::Index(first), key("name")];
                let first_at = match report.position(&first_path, 0) {
                    Some((line, _)) => format!("line {line}"),
                    None => report.key(&first_path[..2]),
                };
                let message = format!(
                    "duplicate plugin name `{}`, first defined at {first_at}",
                    plugin.name
                );
                report.report(&name_path, message);
            }
            None => {
                first_index.insert(plugin.name.clone(), index);
            }
        }
        let mut plugin = plugin;
        let mut taken = packages.fill(&mut plugin, &here, &mut problems);
        for (path, why) in problems.0.drain(..) {
            report.report(&path, why);
        }
        let (limits_base, sandbox_base) = match &mut taken {
            Some(t) => {
                let (l, problems) = limits::merge(t.limits.take(), &global.limits);
                for (name, why) in problems {
                    report.report(
                        &[&here[..], &[key("package")]].concat(),
                        format!("the package's limits.{name}: {why}"),
                    );
                }
                let s = resolve_sandbox(t.sandbox.take(), &here, report).over(&global.sandbox);
                (l, s)
            }
            None => (global.limits.clone(), global.sandbox.clone()),
        };
        let mut plugin = resolve_plugin(
            plugin,
            &here,
            &global,
            &limits_base,
            &sandbox_base,
            &run_as,
            &base,
            env,
            report,
        );
        if let Some(t) = taken {
            if t.restrict {
                super::packages::restrict(&mut plugin);
            }
            plugin.package = Some(t.package);
        }
        plugins.push(plugin);
    }
    let (remote_write, problems) = super::remote_write::resolve_all(raw.remote_write, env);
    for (path, why) in problems {
        report.report(&path, why);
    }
    Config {
        global,
        plugins,
        remote_write,
        packages: packages.into_found(),
    }
}

#[allow(clippy::too_many_arguments)] // each is one layer of the plugin's defaults
fn resolve_plugin(
    raw: RawPlugin,
    here: &[Seg],
    global: &Global,
    limits_base: &Limits,
    sandbox_base: &SandboxKeys,
    global_run_as: &Option<RunAs>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Reporter,
) -> PluginConfig {
    let at = |more: &[Seg]| [here, more].concat();
    let output = roles::output_settings(&raw, here, &mut |path, why| report.report(path, why));
    let given = raw.command.is_some();
    let mut command = raw.command.map(|c| c.0).unwrap_or_default();
    match command.first_mut() {
        None if !given => report.report(
            here,
            "missing `command`: give the plugin's program, e.g. [\"/path/to/plugin\"], \
             or the `package` it comes from",
        ),
        None => report.report(
            &at(&[key("command")]),
            "command must not be empty: give the plugin's program first, \
             e.g. [\"/path/to/plugin\"]",
        ),
        Some(program) => match resolve_program(program, base, env) {
            Ok(resolved) => *program = resolved,
            Err(why) => report.report(&at(&[key("command"), Seg::Index(0)]), why),
        },
    }
    check_interval(report, here, raw.interval.map(|d| d.0));
    check_timeout(report, here, raw.timeout.map(|d| d.0));
    let mode = raw.mode.unwrap_or_default();
    if raw.format != Format::Jsonl && mode == Mode::Push {
        report.report(
            &at(&[key("mode")]),
            format!(
                "mode push needs a long-running plugin, but format {} runs the command once per \
                 collect: use mode scrape or interval",
                raw.format.as_str()
            ),
        );
    }

    let mut resolved_env = Vec::new();
    for (name, value) in raw.env.0 {
        let path = at(&[key("env"), key(&name)]);
        if !valid_env_name(&name) {
            let message = format!("invalid env name `{name}`: names match [A-Za-z_][A-Za-z0-9_]*");
            report.report(&path, message);
        }
        match expand(&value, env) {
            Ok(secret) => resolved_env.push((name, secret)),
            Err(problems) => problems
                .into_iter()
                .for_each(|why| report.report(&path, why)),
        }
    }
    if let Some(dir) = &raw.working_dir {
        if let Err(why) = check_working_dir(dir) {
            report.report(&at(&[key("working_dir")]), why);
        }
    }
    let limits = resolve_limits(raw.limits, limits_base, here, report);
    // A plugin that mentions user or group (even as null) takes neither from global.
    let run_as = match (&raw.user, &raw.group) {
        (None, None) => global_run_as.clone(),
        (user, group) => resolve_run_as(
            user.as_ref().and_then(|user| user.as_deref()),
            group.as_ref().and_then(|group| group.as_deref()),
            here,
            report,
        ),
    };
    let sha256 = raw.sha256.as_deref().and_then(|text| {
        parse_sha256(text)
            .map_err(|why| report.report(&at(&[key("sha256")]), why))
            .ok()
    });
    let sandbox = resolve_sandbox(raw.sandbox, here, report).over(sandbox_base);
    let mut relabel = relabel_rules(raw.metric_relabel_configs, here, report);
    relabel.extend(global.metric_relabel_configs.iter().cloned());
    PluginConfig {
        name: raw.name,
        command,
        mode,
        format: raw.format,
        interval: raw.interval.map_or(global.interval, |d| d.0),
        timeout: raw.timeout.map_or(global.timeout, |d| d.0),
        config: serde_json::Value::Object(raw.config.0),
        env: resolved_env,
        working_dir: raw.working_dir,
        limits,
        run_as,
        allow_root: raw.allow_root.unwrap_or(global.allow_root),
        sha256,
        sandbox: sandbox.resolve(),
        relabel: relabel.into(),
        package: None,
        processors: roles::resolve(raw.role, raw.processors.as_deref(), &global.processors),
        role: raw.role,
        on_error: raw.on_error.unwrap_or(OnError::Pass),
        output,
    }
}

/// Compiles `metric_relabel_configs` at `here`, reporting each refused rule at its key.
fn relabel_rules(raw: Option<Vec<RawRule>>, here: &[Seg], report: &mut Reporter) -> Vec<Rule> {
    let mut problems = Vec::new();
    let rules = super::relabel_keys::resolve_relabel(raw, here, &mut problems);
    for (path, why) in problems {
        report.report(&path, why);
    }
    rules
}

/// Merges `limits` at `here` over `base`, reporting each bad value at its key.
fn resolve_limits(
    raw: Option<limits::RawLimits>,
    base: &Limits,
    here: &[Seg],
    report: &mut Reporter,
) -> Limits {
    let (limits, problems) = limits::merge(raw, base);
    for (name, why) in problems {
        report.report(&[here, &[key("limits"), key(name)]].concat(), why);
    }
    limits
}

/// Checks a `sandbox` mapping at `here`, reporting each bad value at its key.
fn resolve_sandbox(
    raw: Option<sandbox::RawSandbox>,
    here: &[Seg],
    report: &mut Reporter,
) -> SandboxKeys {
    let (keys, problems) = sandbox::check(raw);
    for (path, why) in problems {
        report.report(&[here, &[key("sandbox")], &path].concat(), why);
    }
    keys
}

/// Resolves `user` and `group` at `here`, reporting each bad value at its key.
fn resolve_run_as(
    user: Option<&str>,
    group: Option<&str>,
    here: &[Seg],
    report: &mut Reporter,
) -> Option<RunAs> {
    run_as::resolve(user, group).unwrap_or_else(|problems| {
        for (name, why) in problems {
            report.report(&[here, &[key(name)]].concat(), why);
        }
        None
    })
}

/// Reads `sha256`: 64 hex digits, either case, as `sha256sum` prints them.
fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let form = "expected 64 hex digits, as printed by `sha256sum`";
    if let Some(rest) = text.strip_prefix("sha256:") {
        return Err(format!(
            "sha256 `{text}`: {form}; leave out the `sha256:` prefix, i.e. `{rest}`"
        ));
    }
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "sha256 `{text}` contains `{bad}`, which is not a hex digit: {form}"
        ));
    }
    if text.len() != 64 {
        return Err(format!(
            "sha256 `{text}` has {} hex digits: {form}",
            text.len()
        ));
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks(2)) {
        // Both bytes are ASCII hex digits (checked above), so this is valid UTF-8 and hex.
        let pair = std::str::from_utf8(pair).map_err(|_| form.to_string())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| form.to_string())?;
    }
    Ok(digest)
}

/// Checks an explicitly set timeout; defaults are fine by construction.
fn check_timeout(report: &mut Reporter, here: &[Seg], timeout: Option<Duration>) {
    if timeout == Some(Duration::ZERO) {
        report.report(
            &[here, &[key("timeout")]].concat(),
            "timeout must be greater than 0",
        );
    }
}

/// Checks an explicitly set interval against [`MIN_INTERVAL`].
fn check_interval(report: &mut Reporter, here: &[Seg], interval: Option<Duration>) {
    if interval.is_some_and(|interval| interval < MIN_INTERVAL) {
        let message = format!(
            "interval must be at least {}",
            super::duration::format(MIN_INTERVAL)
        );
        report.report(&[here, &[key("interval")]].concat(), message);
    }
}

/// Whether `name` is a valid plugin name: `[a-z0-9_-]`, 1 to 64 characters.
pub(crate) fn valid_plugin_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `plugin_label` must be a label name Prometheus accepts and that does not collide with the
/// labels it sets or reserves itself.
fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Ok(());
    }
    let mut chars = label.chars();
    let well_formed = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(format!(
            "invalid label name `{label}`: must match [a-zA-Z_][a-zA-Z0-9_]* \
             (\"\" disables the label)"
        ));
    }
    if label.starts_with("__") {
        return Err(format!(
            "label name `{label}` is reserved: names starting with `__` belong to Prometheus"
        ));
    }
    if ["le", "quantile", "job", "instance"].contains(&label) {
        return Err(format!(
            "label name `{label}` is reserved: it collides with a label Prometheus sets or \
             interprets"
        ));
    }
    Ok(())
}

fn check_working_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    if !dir.is_absolute() {
        return Err(format!("working_dir `{shown}` must be an absolute path"));
    }
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("working_dir `{shown}` is not a directory")),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("working_dir `{shown}` does not exist"))
        }
        Err(err) => Err(format!("working_dir `{shown}` cannot be inspected: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names() {
        for good in ["disk", "a", "node-exporter_2", &"x".repeat(64)] {
            assert!(valid_plugin_name(good), "{good}");
        }
        for bad in ["", "Disk", "a b", "a.b", "ä", &"x".repeat(65)] {
            assert!(!valid_plugin_name(bad), "{bad}");
        }
    }

    #[test]
    fn labels() {
        for good in ["", "plugin", "_x", "Plugin_1"] {
            assert_eq!(check_label(good), Ok(()), "{good}");
        }
        for bad in ["1x", "a-b", "__name", "le", "quantile", "job", "instance"] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_digests() {
        let text = "3b4c0d1e2f30415263748596a7b8c9dadbecfd0e1f2a3b4c5d6e7f8091a2b3c4";
        let digest = parse_sha256(text).unwrap();
        assert_eq!(digest[..4], [0x3b, 0x4c, 0x0d, 0x1e]);
        assert_eq!(digest[31], 0xc4);
        assert_eq!(parse_sha256(&text.to_uppercase()), Ok(digest));
        let short = parse_sha256(&text[..63]).unwrap_err();
        assert!(short.contains("has 63 hex digits"), "{short}");
        let long = parse_sha256(&format!("{text}0")).unwrap_err();
        assert!(long.contains("has 65 hex digits"), "{long}");
        let bad = parse_sha256(&text.replace('3', "g")).unwrap_err();
        assert!(bad.contains("contains `g`"), "{bad}");
        let prefixed = parse_sha256(&format!("sha256:{text}")).unwrap_err();
        assert!(
            prefixed.contains("leave out the `sha256:` prefix"),
            "{prefixed}"
        );
        assert!(parse_sha256("").unwrap_err().contains("has 0 hex digits"));
    }
}
