//! Config files with mistakes are refused with the file, line and key of every problem; a
//! valid one comes back with every default applied and secrets kept out of any output.

use plugin_exporter::config::{self, Config, ConfigError, Limits, Mode, RunAs, Secret};
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
        `command`, `package`, `version`, `mode`, `format`, `interval`, `timeout`, `config`, `env`, `working_dir`, \
        `limits`, `user`, `group`, `allow_root`, `sha256`, `sandbox`, `metric_relabel_configs`, \
        `role`, `processors`, `on_error`, `queue`, `max_in_flight`, `max_retries`";
    assert_eq!(text, format!("{}{expected}", fx.at(6, 5)));
}

#[test]
fn unknown_key_in_global_and_at_the_top() {
    let fx = Fixture::new();
    let text = fx.refuse("global:\n  interval: 15s\n  plugin_lable: x\nplugins: []\n");
    let expected = "global.plugin_lable: unknown field `plugin_lable`, expected one of \
        `timeout`, `interval`, `plugin_label`, `limits`, `user`, `group`, `allow_root`, \
        `sandbox`, `metric_relabel_configs`, `evaluation_interval`, `remote_write_interval`, \
        `external_labels`, `processors`";
    assert_eq!(text, format!("{}{expected}", fx.at(3, 3)));

    let text = fx.refuse("plugins: []\nscrape_configs: []\n");
    let expected = "scrape_configs: unknown field `scrape_configs`, expected one of `global`, \
        `plugins`, `remote_write`, `plugins_dirs`, `trust`";
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
    let expected = "plugins[disk]: missing `command`: give the plugin's program, e.g. \
        [\"/path/to/plugin\"], or the `package` it comes from";
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

/// The uid and primary gid of `name` in /etc/passwd, read without the code under test.
fn passwd_ids(name: &str) -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let fields: Vec<&str> = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields[0] == name)
        .unwrap_or_else(|| panic!("no user `{name}` in /etc/passwd"));
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// The gid of `name` in /etc/group.
fn group_id(name: &str) -> u32 {
    let groups = fs::read_to_string("/etc/group").unwrap();
    let line = groups
        .lines()
        .find(|line| line.split(':').next() == Some(name))
        .unwrap_or_else(|| panic!("no group `{name}` in /etc/group"));
    line.split(':').nth(2).unwrap().parse().unwrap()
}

const MIB: u64 = 1024 * 1024;

#[test]
fn limits_default_and_merge_key_by_key() {
    let fx = Fixture::new();
    let config = fx
        .parse("plugins:\n  - name: disk\n    command: [./plugin]\n")
        .unwrap();
    let expected_defaults = Limits {
        memory: Some(256 * MIB),
        cpu: Some(1.0),
        pids: Some(64),
        nofile: 1024,
        fsize: 64 * MIB,
        max_series: 100_000,
        max_line: 16 * MIB as usize,
        max_labels: 32,
        require_rlimits: false,
    };
    assert_eq!(config.global.limits, expected_defaults);
    assert_eq!(config.plugins[0].limits, expected_defaults);
    assert_eq!(Limits::default(), expected_defaults);

    let yaml = "\
global:
  limits:
    memory: 64MiB
    cpu: 0.25
    pids: 32
    nofile: 256
    fsize: 16MiB
    max_series: 10000
    max_line: 1MiB
    max_labels: 16
plugins:
  - name: inherits
    command: [./plugin]
  - name: more-memory
    command: [./plugin]
    limits: {memory: 128MiB}
  - name: unlimited
    command: [./plugin]
    limits:
      memory: null
      cpu: ~
      pids:
      max_line: 2097152
";
    let config = fx.parse(yaml).unwrap();
    let global = Limits {
        memory: Some(64 * MIB),
        cpu: Some(0.25),
        pids: Some(32),
        nofile: 256,
        fsize: 16 * MIB,
        max_series: 10_000,
        max_line: MIB as usize,
        max_labels: 16,
        require_rlimits: false,
    };
    assert_eq!(config.global.limits, global);
    assert_eq!(config.plugins[0].limits, global);
    assert_eq!(
        config.plugins[1].limits,
        Limits {
            memory: Some(128 * MIB),
            ..global.clone()
        }
    );
    assert_eq!(
        config.plugins[2].limits,
        Limits {
            memory: None,
            cpu: None,
            pids: None,
            max_line: 2 * MIB as usize,
            ..global
        }
    );
    // A reload compares plugin configs: a changed limit is a change.
    let changed = fx.parse(&yaml.replace("128MiB", "129MiB")).unwrap();
    assert_eq!(changed.plugins[0], config.plugins[0]);
    assert_ne!(changed.plugins[1], config.plugins[1]);
}

#[test]
fn bad_sizes_name_the_key_the_value_and_the_binary_units() {
    let fx = Fixture::new();
    let text = fx.refuse("global:\n  limits:\n    memory: 64MB\n");
    let expected = "global.limits.memory: invalid size `64MB`: the unit `MB` is not accepted, \
        so that no one has to guess between 1000 and 1024; sizes use the binary units B, KiB, \
        MiB, GiB, TiB (1KiB = 1024 bytes): write 64MiB, or a number of bytes";
    assert_eq!(text, format!("{}{expected}", fx.at(3, 13)));

    let text = fx
        .refuse("plugins:\n  - name: disk\n    command: [./plugin]\n    limits: {fsize: 1.5MiB}\n");
    let expected = "plugins[disk].limits.fsize: invalid size `1.5MiB`: expected a whole number \
        of bytes, or a whole number followed by one of the binary units B, KiB, MiB, GiB, TiB \
        (1KiB = 1024 bytes), like 512KiB or 64MiB";
    assert_eq!(text, format!("{}{expected}", fx.at(4, 21)));

    let text = fx.refuse("global:\n  limits:\n    max_line: 99999999TiB\n");
    let expected = "global.limits.max_line: size `99999999TiB` is too large: it does not fit \
        in 64 bits";
    assert_eq!(text, format!("{}{expected}", fx.at(3, 15)));
}

#[test]
fn unknown_keys_inside_limits_are_refused() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    limits:\n      memory: 1GiB\n      memroy: 1GiB\n",
    );
    let expected = "plugins[disk].limits.memroy: unknown field `memroy`, expected one of \
        `memory`, `cpu`, `pids`, `nofile`, `fsize`, `max_series`, `max_line`, `max_labels`, \
        `require_rlimits`";
    assert_eq!(text, format!("{}{expected}", fx.at(6, 7)));
}

#[test]
fn out_of_range_limits_are_all_reported_at_their_keys() {
    let fx = Fixture::new();
    let yaml = "\
global:
  limits:
    cpu: 0
    max_labels: 1001
plugins:
  - name: disk
    command: [./plugin]
    limits:
      memory: 512
      pids: 0
      nofile: null
      fsize: 0
      max_series: 0
      max_line: 512B
  - name: net
    command: [./plugin]
    limits: {cpu: 2000, nofile: 2}
";
    let text = fx.refuse(yaml);
    let expected = [
        format!(
            "{}global.limits.cpu: cpu `0` must be greater than 0: give cores, e.g. 0.5 or 2, \
             or write null for no CPU limit",
            fx.at(3, 5)
        ),
        format!(
            "{}global.limits.max_labels: max_labels `1001` is out of range: give 1 to 1000",
            fx.at(4, 5)
        ),
        format!(
            "{}plugins[disk].limits.memory: memory `512` is less than the minimum, 4MiB \
             (null for no limit); a bare number counts bytes: did you mean 512MiB?",
            fx.at(9, 7)
        ),
        format!(
            "{}plugins[disk].limits.pids: pids `0` is less than the minimum, 1 \
             (null for no limit)",
            fx.at(10, 7)
        ),
        format!(
            "{}plugins[disk].limits.nofile: nofile cannot be null: it has no unlimited \
             setting; give a value or leave the key out for the default, 1024",
            fx.at(11, 7)
        ),
        format!(
            "{}plugins[disk].limits.fsize: fsize must be at least 1B: 0 would forbid writing \
             any file, not lift the limit",
            fx.at(12, 7)
        ),
        format!(
            "{}plugins[disk].limits.max_series: max_series `0` is less than the minimum, 1",
            fx.at(13, 7)
        ),
        format!(
            "{}plugins[disk].limits.max_line: max_line `512B` is less than the minimum, 1KiB",
            fx.at(14, 7)
        ),
        format!(
            "{}plugins[net].limits.cpu: cpu `2000` is more than the maximum, 1024 cores, \
             or write null for no CPU limit",
            fx.at(17, 14)
        ),
        format!(
            "{}plugins[net].limits.nofile: nofile `2` is less than the minimum, 3: stdin, \
             stdout and stderr are open files too",
            fx.at(17, 25)
        ),
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn cpu_in_millicores_gets_a_hint() {
    let fx = Fixture::new();
    let text = fx.refuse("global:\n  limits: {cpu: 250m}\n");
    let expected = "global.limits.cpu: invalid cpu `250m`: expected a number of cores, such as \
        0.5 or 2 (millicores are not accepted: write 0.25)";
    assert_eq!(text, format!("{}{expected}", fx.at(2, 17)));
}

#[test]
fn users_and_groups_resolve_to_ids() {
    let fx = Fixture::new();
    let (nobody_uid, nobody_gid) = passwd_ids("nobody");
    let nogroup = group_id("nogroup");
    // `man` is in Debian's base-passwd with a primary group that differs from its uid.
    let (man_uid, man_gid) = passwd_ids("man");
    assert_ne!(man_uid, man_gid);
    assert_ne!(man_gid, nogroup);
    let yaml = "\
global:
  user: nobody
  group: nogroup
plugins:
  - name: inherits
    command: [./plugin]
  - name: as-root
    command: [./plugin]
    user: root
  - name: by-number
    command: [./plugin]
    user: 0
    group: nogroup
  - name: group-only
    command: [./plugin]
    group: nogroup
  - name: own-identity
    command: [./plugin]
    user: null
    allow_root: true
  - name: as-man
    command: [./plugin]
    user: man
";
    let config = fx.parse(yaml).unwrap();
    let run_as: Vec<Option<&RunAs>> = config.plugins.iter().map(|p| p.run_as.as_ref()).collect();

    let nobody = run_as[0].expect("global.user applies");
    assert_eq!(nobody.user.as_deref(), Some("nobody"));
    assert_eq!((nobody.uid, nobody.gid), (Some(nobody_uid), Some(nogroup)));
    assert!(nobody.groups.contains(&nogroup), "{nobody:?}");
    assert_eq!(nobody_gid, nogroup, "Debian's nobody is in nogroup");

    let root = run_as[1].unwrap();
    assert_eq!(root.user.as_deref(), Some("root"));
    assert_eq!((root.uid, root.gid), (Some(0), Some(0)));
    assert!(root.groups.contains(&0), "{root:?}");

    let by_number = run_as[2].unwrap();
    assert_eq!(by_number.user.as_deref(), Some("0"));
    assert_eq!((by_number.uid, by_number.gid), (Some(0), Some(nogroup)));
    assert!(by_number.groups.contains(&nogroup), "{by_number:?}");

    assert_eq!(
        run_as[3],
        Some(&RunAs {
            user: None,
            uid: None,
            gid: Some(nogroup),
            groups: vec![nogroup],
        })
    );
    assert_eq!(run_as[4], None, "user: null runs as the exporter's user");

    // A plugin's own user comes with its own primary group, not with global.group.
    let man = run_as[5].unwrap();
    assert_eq!(man.user.as_deref(), Some("man"));
    assert_eq!((man.uid, man.gid), (Some(man_uid), Some(man_gid)));
    assert!(man.groups.contains(&man_gid), "{man:?}");
    assert!(!man.groups.contains(&nogroup), "{man:?}");

    let allow_root: Vec<bool> = config.plugins.iter().map(|p| p.allow_root).collect();
    assert_eq!(allow_root, [false, false, false, false, true, false]);
    assert!(!config.global.allow_root);
    let config = fx
        .parse(&yaml.replace("  user: nobody\n  group: nogroup\n", "  allow_root: true\n"))
        .unwrap();
    assert!(config.global.allow_root);
    assert!(config.plugins.iter().all(|p| p.allow_root));
    assert_eq!(config.plugins[0].run_as, None);
}

#[test]
fn unknown_users_and_groups_are_refused_once_where_written() {
    let fx = Fixture::new();
    let yaml = "\
global:
  user: no-such-user-x7
plugins:
  - name: a
    command: [./plugin]
  - name: b
    command: [./plugin]
  - name: c
    command: [./plugin]
    group: no-such-group-x7
  - name: d
    command: [./plugin]
    user: \"3999999991\"
";
    let text = fx.refuse(yaml);
    let expected = [
        format!(
            "{}global.user: user `no-such-user-x7` does not exist: give an existing user name \
             or a numeric uid",
            fx.at(2, 3)
        ),
        format!(
            "{}plugins[c].group: group `no-such-group-x7` does not exist: give an existing \
             group name or a numeric gid",
            fx.at(10, 5)
        ),
        format!(
            "{}plugins[d].user: uid 3999999991 has no entry in the user database, so it has \
             no primary group: set `group` as well",
            fx.at(13, 5)
        ),
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn sha256_pins_are_read_and_checked() {
    let fx = Fixture::new();
    let digest = "3b4c0d1e2f30415263748596a7b8c9dadbecfd0e1f2a3b4c5d6e7f8091a2b3c4";
    let yaml = format!(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    sha256: {digest}\n  - name: net\n    command: [./plugin]\n"
    );
    let config = fx.parse(&yaml).unwrap();
    let pinned = config.plugins[0].sha256.expect("sha256 is set");
    assert_eq!(pinned[..3], [0x3b, 0x4c, 0x0d]);
    assert_eq!(pinned[31], 0xc4);
    assert_eq!(config.plugins[1].sha256, None);

    let text = fx.refuse(&yaml.replace(digest, &digest[..60]));
    let expected = format!(
        "plugins[disk].sha256: sha256 `{}` has 60 hex digits: expected 64 hex digits, as \
         printed by `sha256sum`",
        &digest[..60]
    );
    assert_eq!(text, format!("{}{expected}", fx.at(4, 5)));

    let bad = digest.replace('f', "x");
    let text = fx.refuse(&yaml.replace(digest, &bad));
    let expected = format!(
        "plugins[disk].sha256: sha256 `{bad}` contains `x`, which is not a hex digit: \
         expected 64 hex digits, as printed by `sha256sum`"
    );
    assert_eq!(text, format!("{}{expected}", fx.at(4, 5)));
}

/// A group that exists while the test runs, with `nobody` as its member; removed on drop.
struct TempGroup {
    name: String,
}

impl TempGroup {
    fn with_nobody() -> TempGroup {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test adds a group to /etc/group and needs root"
        );
        let name = format!("pe-test-{}", std::process::id());
        let out = std::process::Command::new("groupadd")
            .args(["--users", "nobody", &name])
            .output()
            .expect("groupadd (Debian's passwd package) is needed");
        assert!(
            out.status.success(),
            "groupadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TempGroup { name }
    }

    fn gid(&self) -> u32 {
        let groups = fs::read_to_string("/etc/group").unwrap();
        groups
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f[0] == self.name).then(|| f[2].parse().unwrap())
            })
            .expect("the group just added is missing")
    }
}

impl Drop for TempGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("groupdel")
            .arg(&self.name)
            .status();
    }
}

#[test]
fn supplementary_groups_come_from_the_group_database() {
    let group = TempGroup::with_nobody();
    let gid = group.gid();
    let fx = Fixture::new();
    let (_, primary) = passwd_ids("nobody");
    let yaml = "plugins:\n  - name: a\n    command: [./plugin]\n    user: nobody\n";
    let config = fx.parse(yaml).unwrap();
    let run_as = config.plugins[0].run_as.clone().unwrap();
    assert_eq!(run_as.gid, Some(primary));
    assert!(run_as.groups.contains(&primary), "{run_as:?}");
    assert!(
        run_as.groups.contains(&gid),
        "nobody is in group {gid}: {run_as:?}"
    );
}

#[test]
fn bad_relabel_rules_are_refused_with_file_line_and_rule_index() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    metric_relabel_configs:\n\
         \x20     - source_labels: [a]\n        target_label: b\n\
         \x20     - source_labels: [a]\n        regex: '(unclosed'\n        target_label: b\n",
    );
    assert!(
        text.starts_with(&format!(
            "{}plugins[disk].metric_relabel_configs[1].regex: relabel rule 1: invalid regex \
             `(unclosed`",
            fx.at(8, 9)
        )),
        "{text}"
    );

    let text =
        fx.refuse("global:\n  metric_relabel_configs:\n    - action: replace\n      regex: x\n");
    let expected = "global.metric_relabel_configs[0]: relabel rule 0: relabel configuration \
        for replace action requires `target_label`";
    assert_eq!(text, format!("{}{expected}", fx.at(3, 7)));

    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    metric_relabel_configs:\n\
         \x20     - action: explode\n",
    );
    assert!(
        text.starts_with(&format!(
            "{}plugins[disk].metric_relabel_configs[0].action: relabel rule 0: unknown relabel \
             action `explode`",
            fx.at(5, 9)
        )),
        "{text}"
    );

    let text = fx.refuse(
        "plugins:\n  - name: disk\n    command: [./plugin]\n    metric_relabel_configs:\n\
         \x20     - {action: drop, regx: a}\n",
    );
    assert!(
        text.contains("plugins[disk].metric_relabel_configs[0].regx: unknown field `regx`"),
        "{text}"
    );
}

#[test]
fn relabel_rules_run_the_plugins_own_then_global() {
    let fx = Fixture::new();
    let config = fx
        .parse(
            "global:\n  metric_relabel_configs:\n    - {action: labeldrop, regex: g}\n\
             plugins:\n  - name: disk\n    command: [./plugin]\n    metric_relabel_configs:\n\
             \x20     - {action: labeldrop, regex: p}\n  - name: net\n    command: [./plugin]\n",
        )
        .unwrap();
    let actions: Vec<Vec<&str>> = config
        .plugins
        .iter()
        .map(|p| p.relabel.iter().map(|r| r.action().as_str()).collect())
        .collect();
    assert_eq!(actions, [vec!["labeldrop", "labeldrop"], vec!["labeldrop"]]);
    assert_eq!(
        config.plugins[0].relabel[1],
        config.global.metric_relabel_configs[0]
    );
    assert_ne!(config.plugins[0].relabel[0], config.plugins[0].relabel[1]);
}

#[test]
fn remote_write_destinations_are_checked_and_keep_their_secrets() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "plugins: []\nremote_write:\n  - url: ftp://x/\n  - url: http://h/w\n    headers: {Authorization: x}\n\
         \x20   basic_auth: {username: u, password: p}\n    bearer_token: t\n\
         \x20   write_relabel_configs: [{action: hashmod, target_label: s}]\n",
    );
    for wanted in [
        "remote_write[0].url: url `ftp://x/` must start with http:// or https://",
        "remote_write[1].headers.Authorization: header `Authorization` is set by the exporter",
        "remote_write[1].basic_auth: at most one of basic_auth, authorization",
        "remote_write[1].write_relabel_configs[0]: relabel rule 0: relabel configuration for \
         hashmod requires non-zero modulus",
    ] {
        assert!(text.contains(wanted), "missing {wanted:?} in:\n{text}");
    }
    assert!(text.contains("exporter.yml:3:"), "{text}");

    let config = fx
        .parse(
            "plugins: []\nremote_write:\n  - url: https://mimir:8443/api/v1/push\n    \
             headers: {X-Scope-OrgID: '${DISK_TOKEN}'}\n    basic_auth: {username: u, password: hunter2}\n",
        )
        .unwrap();
    let rw = &config.remote_write[0];
    assert_eq!((rw.endpoint.port, rw.endpoint.tls), (8443, true));
    assert_eq!(rw.name.len(), 6, "a name derived from the URL");
    assert_eq!(rw.queue.capacity, 10_000);
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("s3cr3t"),
        "a secret is printed: {shown}"
    );
    assert_eq!(config.global.remote_write_interval, Duration::from_secs(15));
}
