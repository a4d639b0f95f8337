//! `sandbox:` blocks with mistakes are refused with the file, line and key of every problem;
//! valid ones resolve key by key over `global.sandbox` and the preset, and `check-config`
//! prints each fenced plugin's effective profile.

use plugin_exporter::config::{
    self, Config, ConfigError, Filesystem, FsPaths, Network, Preset, Syscalls,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use tempfile::TempDir;

/// A directory holding the config file and an executable `plugin`.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("plugin");
        fs::write(&plugin, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&plugin, fs::Permissions::from_mode(0o755)).unwrap();
        Fixture { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("exporter.yml")
    }

    fn parse(&self, yaml: &str) -> Result<Config, ConfigError> {
        fs::write(self.file(), yaml).unwrap();
        config::parse_str(yaml, &self.file(), &|_| None)
    }

    /// Parses `yaml`, which must be refused; one line per problem.
    fn refuse(&self, yaml: &str) -> Vec<String> {
        match self.parse(yaml) {
            Ok(config) => panic!("accepted:\n{yaml}\nas {config:#?}"),
            Err(err) => err.to_string().lines().map(String::from).collect(),
        }
    }

    /// `FILE:LINE:COL: ` for this fixture's config file.
    fn at(&self, line: usize, column: usize) -> String {
        format!("{}:{line}:{column}: ", self.file().display())
    }
}

const PLUGIN: &str = "plugins:\n  - name: disk\n    command: [./plugin]\n";

#[test]
fn unknown_keys_and_words_are_refused_with_file_line_and_key() {
    let fx = Fixture::new();
    let text = fx.refuse(&format!(
        "{PLUGIN}    sandbox:\n      preset: lax\n      netwrok: none\n"
    ));
    assert_eq!(
        text,
        [
            format!(
                "{}plugins[disk].sandbox.preset: unknown variant `lax`, expected one of \
                 `strict`, `standard`, `unconfined`",
                fx.at(5, 15)
            ),
            format!(
                "{}plugins[disk].sandbox.netwrok: unknown field `netwrok`, expected one of \
                 `preset`, `filesystem`, `network`, `max_connections`, `syscalls`, `require`",
                fx.at(6, 7)
            ),
        ]
    );

    let text = fx.refuse(&format!(
        "{PLUGIN}    sandbox: {{network: internet}}\n  - name: net\n    command: [./plugin]\n    \
         sandbox: {{syscalls: all, filesystem: {{raed: []}}}}\n"
    ));
    assert_eq!(
        text[0],
        format!(
            "{}plugins[disk].sandbox.network: `internet`: expected `none`, `loopback`, \
             `unconfined` or a mapping with the keys `connect` and `bind` (lists of TCP ports)",
            fx.at(4, 24)
        )
    );
    assert!(
        text[1].starts_with(&format!(
            "{}plugins[net].sandbox.syscalls: unknown variant `all`",
            fx.at(7, 15)
        )),
        "{text:#?}"
    );
    assert!(
        text[2].contains("plugins[net].sandbox.filesystem.raed: unknown field `raed`"),
        "{text:#?}"
    );
    assert_eq!(text.len(), 3, "{text:#?}");
}

#[test]
fn paths_ports_and_the_connection_bound_are_checked_with_their_lines() {
    let fx = Fixture::new();
    let text = fx.refuse(&format!(
        "{PLUGIN}    sandbox:\n      filesystem:\n        read: [etc, /nonexistent-sandbox-dir]\n\
         \x20       write: [/tmp]\n      network: {{connect: [0, 443], bind: [0]}}\n      \
         max_connections: 0\n"
    ));
    assert_eq!(
        text,
        [
            format!(
                "{}plugins[disk].sandbox.filesystem.read[0]: `etc` must be an absolute path",
                fx.at(6, 16)
            ),
            format!(
                "{}plugins[disk].sandbox.filesystem.read[1]: `/nonexistent-sandbox-dir` does \
                 not exist: a Landlock rule needs an existing file or directory",
                fx.at(6, 21)
            ),
            format!(
                "{}plugins[disk].sandbox.network.connect[0]: port 0 cannot be connected to: \
                 give ports 1 to 65535",
                fx.at(8, 27)
            ),
            format!(
                "{}plugins[disk].sandbox.max_connections: max_connections `0` is out of range: \
                 give 1 to 4294967295 (null for no bound; `network: none` for no connection at \
                 all)",
                fx.at(9, 7)
            ),
        ]
    );
    let text = fx.refuse(&format!(
        "{PLUGIN}    sandbox: {{network: {{connect: [70000]}}}}\n"
    ));
    assert_eq!(
        text,
        [format!(
            "{}plugins[disk].sandbox.network.connect[0]: invalid value: integer `70000`, \
             expected u16",
            fx.at(4, 35)
        )]
    );
    let text = fx.refuse(&format!("{PLUGIN}    sandbox: {{max_connections: -1}}\n"));
    assert!(text[0].contains("invalid number `-1`"), "{text:#?}");
}

#[test]
fn global_sandbox_problems_are_reported_under_global() {
    let fx = Fixture::new();
    let text = fx.refuse(
        "global:\n  sandbox:\n    require: maybe\n    filesystem: {exec: [bin/x]}\nplugins: []\n",
    );
    assert_eq!(text.len(), 2, "{text:#?}");
    assert!(
        text[0].starts_with(&format!("{}global.sandbox.require: ", fx.at(3, 14))),
        "{text:#?}"
    );
    assert_eq!(
        text[1],
        format!(
            "{}global.sandbox.filesystem.exec[0]: `bin/x` must be an absolute path",
            fx.at(4, 25)
        )
    );
}

#[test]
fn plugin_keys_override_global_keys_one_by_one_and_presets_fill_the_rest() {
    let fx = Fixture::new();
    let config = fx
        .parse(
            "global:\n  sandbox: {preset: standard, network: none, max_connections: 10}\n\
             plugins:\n  - name: plain\n    command: [./plugin]\n  - name: strict\n    \
             command: [./plugin]\n    sandbox: {preset: strict, require: true, filesystem: \
             {read: [/etc/hostname], exec: [/bin/sh]}}\n  - name: open\n    \
             command: [./plugin]\n    sandbox: {preset: unconfined, network: unconfined, \
             max_connections: null}\n",
        )
        .unwrap();
    let plain = &config.plugins[0].sandbox;
    assert_eq!(plain.preset, Preset::Standard);
    assert_eq!(
        plain.network,
        Network::None,
        "global's network over the preset's"
    );
    assert_eq!(plain.max_connections, Some(10));
    assert_eq!(plain.syscalls, Syscalls::Default);
    let strict = &config.plugins[1].sandbox;
    assert_eq!(strict.preset, Preset::Strict);
    assert!(strict.require);
    assert_eq!(strict.network, Network::None);
    assert_eq!(
        strict.filesystem,
        Filesystem::Fenced {
            base: Preset::Strict,
            extra: FsPaths {
                read: vec!["/etc/hostname".into()],
                write: vec![],
                exec: vec!["/bin/sh".into()],
            }
        }
    );
    let open = &config.plugins[2].sandbox;
    assert!(open.is_unconfined(), "{open:?}");
    // Without any sandbox key: today's behaviour.
    let config = fx.parse(PLUGIN).unwrap();
    assert!(config.plugins[0].sandbox.is_unconfined());
}

#[test]
fn check_config_prints_each_fenced_plugins_profile() {
    let fx = Fixture::new();
    let yaml = "plugins:\n  - name: plain\n    command: [./plugin]\n  - name: fenced\n    \
                command: [./plugin]\n    sandbox: {preset: strict, max_connections: 3}\n";
    fs::write(fx.file(), yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("check-config")
        .arg(fx.file())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{}: valid, 2 plugins", fx.file().display()).as_str(),
            "  fenced: sandbox strict: filesystem strict, network none, max_connections 3, \
             syscalls default",
        ],
        "{stdout}"
    );
}
