//! Config files with mistakes are refused with the file, line and key of every problem; a
//! valid one comes back with every default applied and secrets kept out of any output.

use plugin_exporter::config::{self, Config, ConfigError, Mode, Secret};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// A directory holding the config file, an executable `plugin`, a non-executable `data`
/// file and a `work` directory.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("plugin");
        fs::write(&plugin, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&plugin, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.path().join("data"), "not a program\n").unwrap();
        fs::create_dir(dir.path().join("work")).unwrap();
        Fixture { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("exporter.yml")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// The test environment: `PATH` is the fixture directory, `DISK_TOKEN` is set.
    fn env(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| match name {
            "PATH" => Some(self.dir.path().to_str().unwrap().to_string()),
            "DISK_TOKEN" => Some("hunter2-s3cr3t".to_string()),
            _ => None,
        }
    }

    /// Writes `yaml` to the config file and parses it with the test environment.
    fn parse(&self, yaml: &str) -> Result<Config, ConfigError> {
        fs::write(self.file(), yaml).unwrap();
        config::parse_str(yaml, &self.file(), &self.env())
    }

    /// Parses `yaml`, which must be refused, and returns the error's text.
    fn refuse(&self, yaml: &str) -> String {
        match self.parse(yaml) {
            Ok(config) => panic!("accepted:\n{yaml}\nas {config:#?}"),
            Err(err) => err.to_string(),
        }
    }

    /// `FILE:LINE:COL: ` for this fixture's config file.
    fn at(&self, line: usize, column: usize) -> String {
        format!("{}:{line}:{column}: ", self.file().display())
    }
}

#[test]
fn unknown_key_in_a_plugin_is_refused_with_file_line_and_key() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "global:\n  timeout: 5s\nplugins:\n  - name: disk\n    command: [./plugin]\n    timeot: 3s\n",
    );
    let expected = "plugins[disk].timeot: unknown field `timeot`, expected one of `name`, \
        `command`, `mode`, `interval`, `timeout`, `config`, `env`, `working_dir`";
    assert_eq!(text, format!("{}{expected}", fx.at(6, 5)));
}

#[test]
fn unknown_key_in_global_and_at_the_top() {
    let fx = Fixture::new();
    let text = fx.refuse("global:\n  interval: 15s\n  plugin_lable: x\nplugins: []\n");
    let expected = "global.plugin_lable: unknown field `plugin_lable`, expected one of \
        `timeout`, `interval`, `plugin_label`";
    assert_eq!(text, format!("{}{expected}", fx.at(3, 3)));

    let text = fx.refuse("plugins: []\nscrape_configs: []\n");
    let expected = "scrape_configs: unknown field `scrape_configs`, expected `global` or `plugins`";
    assert_eq!(text, format!("{}{expected}", fx.at(2, 1)));
}

#[test]
fn duplicate_names_report_the_second_and_point_at_the_first() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n  - name: net\n    command: [./plugin]\n  - name: disk\n    command: [./plugin]\n",
    );
    let expected = "plugins[2].name: duplicate plugin name `disk`, first defined at line 2";
    assert_eq!(text, format!("{}{expected}", fx.at(6, 5)));
}

#[test]
fn duplicate_keys_point_at_the_repeat() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    timeout: 1s\n    timeout: 2s\n",
    );
    let expected = "plugins[disk].timeout: duplicate field `timeout`";
    assert_eq!(text, format!("{}{expected}", fx.at(5, 5)));

    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    env:\n      A: x\n      A: y\n",
    );
    assert_eq!(
        text,
        format!("{}plugins[disk].env: duplicate env name `A`", fx.at(6, 7))
    );
}

#[test]
fn bad_durations_name_the_value_and_the_form() {
    let fx = Fixture::new();
    let text = fx.refuse("plugins:\n  - name: disk\n    command: [./plugin]\n    interval: 1.5s\n");
    let expected = "plugins[disk].interval: invalid duration `1.5s`: expected an integer \
        followed by a unit, largest unit first, like 1h30m, 15s or 250ms \
        (units: y, w, d, h, m, s, ms; no fractions, no bare numbers)";
    assert_eq!(text, format!("{}{expected}", fx.at(4, 15)));

    let text = fx.refuse("global:\n  timeout: 5\n");
    assert!(
        text.starts_with(&format!(
            "{}global.timeout: invalid duration `5`: a bare number has no unit",
            fx.at(2, 12)
        )),
        "{text}"
    );
}

#[test]
fn missing_empty_and_unlisted_commands_are_refused() {
    let fx = Fixture::new();
    let text = fx.refuse("plugins:\n  - name: disk\n    mode: push\n");
    let expected = "plugins[disk].command: missing field `command`";
    assert_eq!(text, format!("{}{expected}", fx.at(2, 5)));

    let text = fx.refuse("plugins:\n  - name: disk\n    command: []\n");
    assert!(
        text.starts_with(&format!(
            "{}plugins[disk].command: command must not be empty",
            fx.at(3, 5)
        )),
        "{text}"
    );

    let text = fx.refuse("plugins:\n  - name: disk\n    command: ./plugin --verbose\n");
    let expected = "plugins[disk].command: command must be a list of strings, \
        e.g. [\"/path/to/plugin\", \"--flag\"]";
    assert_eq!(text, format!("{}{expected}", fx.at(3, 14)));
}

#[test]
fn programs_that_cannot_run_are_refused() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "plugins:\n  - name: a\n    command:\n      - /nonexistent/plugin\n  - name: b\n    command: [./data]\n  - name: c\n    command: [no-such-plugin, --flag]\n  - name: d\n    command: [./work]\n",
    );
    let problems: Vec<&str> = text.lines().collect();
    assert_eq!(
        problems,
        [
            format!(
                "{}plugins[a].command[0]: `/nonexistent/plugin` does not exist",
                fx.at(4, 9)
            ),
            format!(
                "{}plugins[b].command[0]: `./data` is not executable (mode 644) (relative paths \
                 are resolved against the config file's directory: {})",
                fx.at(6, 15),
                fx.path("data")
            ),
            format!(
                "{}plugins[c].command[0]: `no-such-plugin` not found in PATH ({}): give an \
                 absolute path or fix PATH",
                fx.at(8, 15),
                fx.dir.path().display()
            ),
            format!(
                "{}plugins[d].command[0]: `./work` is not a regular file (relative paths are \
                 resolved against the config file's directory: {})",
                fx.at(10, 15),
                fx.path("work")
            ),
        ]
    );
}

#[test]
fn unset_env_variables_are_named() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    env:\n      TOKEN: \"${DISK_TOKEN}\"\n      OTHER: \"${NOT_SET_ANYWHERE}\"\n",
    );
    let expected = "plugins[disk].env.OTHER: environment variable `NOT_SET_ANYWHERE` is not set";
    assert_eq!(text, format!("{}{expected}", fx.at(6, 7)));
}

#[test]
fn invalid_plugin_names_are_refused() {
    let fx = Fixture::new();
    let text = fx.refuse("plugins:\n  - name: Disk Usage\n    command: [./plugin]\n");
    let expected = "plugins[0].name: invalid plugin name `Disk Usage`: use 1 to 64 characters \
        out of a-z, 0-9, `_` and `-`";
    assert_eq!(text, format!("{}{expected}", fx.at(2, 5)));
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let fx = Fixture::new();
    let yaml = "\
global:
  timeout: 0s
  plugin_label: __name__
plugins:
  - name: ok
    command: [./plugin]
  - name: Bad
    command: [./plugin]
    interval: 10ms
  - name: envs
    command: [\"./plugin\"]
    env: {TOKEN: '${UNSET_ONE}', 2BAD: x, PRICE: '$5'}
    working_dir: relative/dir
  - name: ok
    command: [./missing]
    timeout: 0
    working_dir: /nonexistent/dir
";
    let err = fx.parse(yaml).unwrap_err();
    let got: Vec<(Option<usize>, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.line, p.key.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(2), "global.timeout"),
            (Some(3), "global.plugin_label"),
            (Some(7), "plugins[1].name"),
            (Some(9), "plugins[1].interval"),
            (Some(12), "plugins[envs].env.TOKEN"),
            (Some(12), "plugins[envs].env.2BAD"),
            (Some(12), "plugins[envs].env.PRICE"),
            (Some(13), "plugins[envs].working_dir"),
            (Some(14), "plugins[3].name"),
            (Some(15), "plugins[3].command[0]"),
            (Some(16), "plugins[3].timeout"),
            (Some(17), "plugins[3].working_dir"),
        ]
    );
    let text = err.to_string();
    assert_eq!(text.lines().count(), 12, "{text}");
    for line in text.lines() {
        assert!(
            line.starts_with(&format!("{}:", fx.file().display())),
            "{line}"
        );
    }
    assert!(text
        .contains(":14:5: plugins[3].name: duplicate plugin name `ok`, first defined at line 5"));
    assert!(text.contains(
        ":12:43: plugins[envs].env.PRICE: a `$` must start `${NAME}`, or be written `$$`"
    ));
    assert!(text.contains("interval must be at least 100ms"), "{text}");
}

#[test]
fn syntax_errors_keep_yamls_position() {
    let fx = Fixture::new();
    let text = fx.refuse("plugins:\n  - name: disk\n   command: [./plugin]\n  bad: [\n");
    assert!(
        text.starts_with(&format!("{}:", fx.file().display())),
        "{text}"
    );
    let err = fx.parse("global: {timeout: 5s\n").unwrap_err();
    assert_eq!(err.problems().len(), 1);
    assert!(err.problems()[0].line.is_some(), "{err}");
}

#[test]
fn type_errors_name_the_nested_key() {
    let fx = Fixture::new();
    let text = fx.refuse("plugins:\n  - name: disk\n    command: [./plugin]\n    mode: scrap\n");
    let expected =
        "plugins[disk].mode: unknown variant `scrap`, expected one of `scrape`, `interval`, `push`";
    assert_eq!(text, format!("{}{expected}", fx.at(4, 11)));

    let text = fx.refuse("plugins:\n  - name: disk\n    command: [./plugin]\n    config: [1, 2]\n");
    let expected = "plugins[disk].config: invalid type: sequence, expected a mapping \
        (handed to the plugin as a JSON object)";
    assert_eq!(text, format!("{}{expected}", fx.at(4, 13)));
}

#[test]
fn aliases_give_up_semantic_lines_rather_than_guess() {
    let fx = Fixture::new();
    let err = fx
        .parse("plugins:\n  - &p\n    name: disk\n    command: [./plugin]\n  - *p\n")
        .unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!(problem.key, "plugins[1].name");
    assert_eq!((problem.line, problem.column), (None, None));
    assert!(err.to_string().starts_with(&format!(
        "{}: plugins[1].name: duplicate plugin name `disk`, first defined at plugins[0]",
        fx.file().display()
    )));
}

#[test]
fn a_full_config_round_trips_with_defaults_resolved() {
    let fx = Fixture::new();
    let yaml = format!(
        "\
# comments are fine
global:
  interval: 1m
plugins:
  - name: disk
    command: [\"./plugin\", \"--verbose\"]
    mode: interval
    timeout: 3s
    config: {{mounts: [\"/\"], depth: 2}}
    env: {{TOKEN: \"Bearer ${{DISK_TOKEN}}\", PLAIN: \"a$$b\"}}
    working_dir: {}
  - name: from-path
    command: [plugin]
    mode: push
",
        fx.path("work")
    );
    let config = fx.parse(&yaml).unwrap();
    assert_eq!(config.global.timeout, Duration::from_secs(5));
    assert_eq!(config.global.interval, Duration::from_secs(60));
    assert_eq!(config.global.plugin_label, "plugin");

    let disk = &config.plugins[0];
    assert_eq!(disk.name, "disk");
    assert_eq!(disk.command, [fx.path("plugin"), "--verbose".to_string()]);
    assert_eq!(disk.mode, Mode::Interval);
    assert_eq!(disk.interval, Duration::from_secs(60));
    assert_eq!(disk.timeout, Duration::from_secs(3));
    assert_eq!(
        disk.config,
        serde_json::json!({"mounts": ["/"], "depth": 2})
    );
    let env: Vec<(&str, &str)> = disk
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(env, [("TOKEN", "Bearer hunter2-s3cr3t"), ("PLAIN", "a$b")]);
    assert_eq!(
        disk.working_dir.as_deref(),
        Some(Path::new(&fx.path("work")))
    );

    let pushed = &config.plugins[1];
    assert_eq!(pushed.command, [fx.path("plugin")]);
    assert_eq!(pushed.mode, Mode::Push);
    assert_eq!(pushed.timeout, Duration::from_secs(5));
    assert_eq!(pushed.config, serde_json::json!({}));
    assert!(pushed.env.is_empty());
    assert_eq!(pushed.working_dir, None);

    // A reload compares plugin configs: the same file gives equal values.
    assert_eq!(fx.parse(&yaml).unwrap(), config);
}

#[test]
fn empty_plugin_lists_and_files_are_allowed() {
    let fx = Fixture::new();
    for yaml in ["plugins: []\n", "", "global:\n  plugin_label: \"\"\n"] {
        let config = fx.parse(yaml).unwrap();
        assert!(config.plugins.is_empty(), "{yaml:?}");
    }
}

#[test]
fn substituted_secrets_never_show_in_debug_or_errors() {
    let fx = Fixture::new();
    let yaml = "plugins:\n  - name: disk\n    command: [./plugin]\n    env: {TOKEN: \"${DISK_TOKEN}\", MODE: fast}\n";
    let config = fx.parse(yaml).unwrap();
    let shown = format!("{config:?} {config:#?} {}", config.plugins[0].env[0].1);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        shown.contains("\"fast\""),
        "literal values stay visible: {shown}"
    );

    let broken = format!("{yaml}    timeout: 0s\n");
    let err = fx.parse(&broken).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");

    assert_eq!(Secret::substituted("x"), Secret::literal("x"));
}

#[test]
fn load_reads_the_file_and_reports_io_errors() {
    let fx = Fixture::new();
    let yaml = format!(
        "plugins:\n  - name: disk\n    command: [{}]\n",
        fx.path("plugin")
    );
    fs::write(fx.file(), yaml).unwrap();
    let config = config::check_file(&fx.file()).unwrap();
    assert_eq!(config.plugins[0].command, [fx.path("plugin")]);

    let missing = fx.dir.path().join("missing.yml");
    let err = config::load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot read config file {}", missing.display())
    );
}
