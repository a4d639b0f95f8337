//! A package's manifest, `plugin.yml`: what the plugin is, who made it, how to run it by
//! default, what it needs, its config schema, what it ships (rules, dashboard panels) and the
//! SHA-256 of every file, which the signature covers through the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The manifest's file name in a package directory.
pub const MANIFEST: &str = "plugin.yml";
/// The manifest's minisign signature, beside it.
pub const SIGNATURE: &str = "plugin.yml.minisig";

/// `requires`: semver ranges this exporter and its protocol must match.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// Range of plugin-exporter versions, e.g. `>=0.1, <2`.
    pub plugin_exporter: Option<String>,
    /// Range of protocol versions, e.g. `1` or `>=1`.
    pub protocol: Option<String>,
}

/// `plugin.yml` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Package name, `[a-z0-9_-]{1,64}`.
    pub name: String,
    /// Semver version.
    pub version: String,
    /// One line on what it does.
    #[serde(default)]
    pub description: String,
    /// Where to learn more.
    #[serde(default)]
    pub homepage: String,
    /// SPDX license expression.
    #[serde(default)]
    pub license: String,
    /// `collector`, `processor`, `alerter`, `output`.
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
    /// Program and arguments; the program relative to the package directory.
    pub command: Vec<String>,
    /// Default mode.
    pub mode: Option<String>,
    /// Default format.
    pub format: Option<String>,
    /// Default interval (Prometheus duration).
    pub interval: Option<String>,
    /// Default timeout (Prometheus duration).
    pub timeout: Option<String>,
    /// The protocol version the plugin speaks.
    pub protocol: Option<u32>,
    /// What it needs.
    #[serde(default)]
    pub requires: Requires,
    /// JSON Schema of the entry's `config`.
    pub config_schema: Option<serde_json::Value>,
    /// Default limits, as the config's `limits` takes them.
    pub limits: Option<serde_json::Value>,
    /// Default sandbox profile, as the config's `sandbox` takes it.
    pub sandbox: Option<serde_json::Value>,
    /// Rule files shipped with it, relative to the package directory.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Grafana panels for the plugin's row of the generated dashboard.
    pub dashboard: Option<serde_json::Value>,
    /// SHA-256 (hex) of every file of the package but the manifest and its signature.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

fn default_roles() -> Vec<String> {
    vec!["collector".to_string()]
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The manifest.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid manifest.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The manifest.
        path: PathBuf,
        /// The line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

impl Manifest {
    /// Reads and checks `dir/plugin.yml`; also returns its bytes (what the signature covers).
    pub fn read(dir: &Path) -> Result<(Manifest, Vec<u8>), ManifestError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let m: Manifest = yaml_serde::from_str(&text).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.clone(),
            line: None,
            message,
        };
        let valid_name = (1..=64).contains(&m.name.len())
            && m.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(invalid(format!(
                "name `{}`: use 1 to 64 of a-z, 0-9, `_` and `-`",
                m.name
            )));
        }
        semver::Version::parse(&m.version)
            .map_err(|e| invalid(format!("version `{}` is not semver: {e}", m.version)))?;
        if m.command.is_empty() {
            return Err(invalid("command must not be empty".into()));
        }
        for r in &m.roles {
            if !["collector", "processor", "alerter", "output"].contains(&r.as_str()) {
                return Err(invalid(format!(
                    "unknown role `{r}` (collector, processor, alerter, output)"
                )));
            }
        }
        for (key, range) in [
            ("requires.plugin_exporter", &m.requires.plugin_exporter),
            ("requires.protocol", &m.requires.protocol),
        ] {
            if let Some(r) = range {
                semver::VersionReq::parse(r).map_err(|e| invalid(format!("{key} `{r}`: {e}")))?;
            }
        }
        Ok((m, bytes))
    }

    /// The parsed version.
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or(semver::Version::new(0, 0, 0))
    }

    /// Why this exporter cannot run the package, naming both versions; `None` when it can.
    pub fn requirement_problem(&self) -> Option<String> {
        let ours = semver::Version::parse(crate::VERSION).unwrap_or(semver::Version::new(0, 0, 0));
        let protocol = semver::Version::new(u64::from(plugin_protocol::PROTOCOL_VERSION), 0, 0);
        let check = |what: &str, range: &Option<String>, have: &semver::Version| {
            let req = semver::VersionReq::parse(range.as_deref()?).ok()?;
            (!req.matches(have)).then(|| {
                format!(
                    "package {} {} requires {what} {req}, but this is {what} {have}",
                    self.name, self.version
                )
            })
        };
        check("plugin-exporter", &self.requires.plugin_exporter, &ours)
            .or_else(|| check("protocol", &self.requires.protocol, &protocol))
    }
}
