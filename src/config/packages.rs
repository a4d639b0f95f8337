//! Plugin entries that name a package (`package: disk`, `version: ">=1.2"`): the package is
//! found under `plugins_dirs`, judged (requirements, signature under `trust`, files as
//! signed), its config schema enforced on the entry's `config`, and its defaults filled in
//! where the entry is silent. The package's own defaults stand in for `global`'s for that
//! plugin; the entry's settings win over both.

use std::path::{Path, PathBuf};

use super::limits::RawLimits;
use super::locate::Seg;
use super::raw::{RawCommand, RawPlugin, RawTrust};
use super::sandbox::RawSandbox;
use crate::package::scan::{choose, scan};
use crate::package::{Found, PackageRef, TrustedKey, Unsigned};

/// The packages of `plugins_dirs` and the trust settings, read once per config load.
pub(crate) struct Packages {
    found: Vec<Found>,
    unsigned: Unsigned,
}

/// What an entry takes from its package besides what [`Packages::fill`] writes into it.
pub(crate) struct Taken {
    pub(crate) package: PackageRef,
    pub(crate) limits: Option<RawLimits>,
    pub(crate) sandbox: Option<RawSandbox>,
    /// `trust.unsigned: restrict` applies.
    pub(crate) restrict: bool,
}

/// Problems found, each with its key.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<(Vec<Seg>, String)>);

impl Problems {
    fn add(&mut self, path: &[Seg], why: impl Into<String>) {
        self.0.push((path.to_vec(), why.into()));
    }
}

fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

impl Packages {
    /// Reads `trust` and scans `dirs` (relative to `base`); problems reported at their keys.
    pub(crate) fn load(
        dirs: &[PathBuf],
        trust: Option<RawTrust>,
        base: &Path,
        report: &mut Problems,
    ) -> Packages {
        let trust = trust.unwrap_or_default();
        let mut keys = Vec::new();
        for (i, k) in trust.keys.iter().enumerate() {
            match TrustedKey::parse(k) {
                Ok(k) => keys.push(k),
                Err(why) => report.add(&[key("trust"), key("keys"), Seg::Index(i)], why),
            }
        }
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| base.join(d)).collect();
        for (i, d) in dirs.iter().enumerate() {
            if !d.is_dir() {
                let why = format!("plugins_dirs entry {} is not a directory", d.display());
                report.add(&[key("plugins_dirs"), Seg::Index(i)], why);
            }
        }
        let (found, broken) = scan(&dirs, &keys);
        for b in broken {
            report.add(&[key("plugins_dirs")], b.error);
        }
        Packages {
            found,
            unsigned: trust.unsigned,
        }
    }

    /// Every package found (for `plugins list`).
    pub(crate) fn into_found(self) -> Vec<Found> {
        self.found
    }

    /// Resolves the package of entry `raw` at `here`, fills the entry's gaps from it, and
    /// returns what else it takes; `None` (after reporting why) when it cannot run.
    pub(crate) fn fill(
        &self,
        raw: &mut RawPlugin,
        here: &[Seg],
        report: &mut Problems,
    ) -> Option<Taken> {
        let name = raw.package.clone()?;
        let at = |more: &[Seg]| [here, more].concat();
        let found = match choose(&self.found, &name, raw.version.as_deref()) {
            Ok(f) => f,
            Err(why) => {
                report.add(&at(&[key("package")]), why);
                return None;
            }
        };
        let m = &found.manifest;
        let mut ok = true;
        if let Some(why) = m.requirement_problem() {
            report.add(&at(&[key("package")]), why);
            ok = false;
        }
        let restrict = match (&found.signature, self.unsigned) {
            (s, _) if s.is_trusted() => false,
            (crate::package::Signature::Invalid(why), _) => {
                report.add(
                    &at(&[key("package")]),
                    format!("package {name} {}: {why}", m.version),
                );
                ok = false;
                false
            }
            (s, Unsigned::Refuse) => {
                report.add(
                    &at(&[key("package")]),
                    format!(
                        "package {name} {} is {s}, and trust.unsigned is refuse",
                        m.version
                    ),
                );
                ok = false;
                false
            }
            (_, Unsigned::Restrict) => true,
            (_, Unsigned::Allow) => false,
        };
        if let Some(why) = &found.tampered {
            report.add(
                &at(&[key("package")]),
                format!("package {name} {}: {why}", m.version),
            );
            ok = false;
        }
        if let Some(schema) = &m.config_schema {
            self.check_schema(schema, raw, here, report, &mut ok);
        }
        if raw.command.as_ref().is_some_and(|c| !c.0.is_empty()) {
            report.add(
                &at(&[key("command")]),
                format!("a plugin of package {name} takes its command from the package"),
            );
            ok = false;
        }
        let mut command = m.command.clone();
        command[0] = found.dir.join(&command[0]).to_string_lossy().into_owned();
        raw.command = Some(RawCommand(command));
        let duration = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| super::duration::parse(s).ok())
                .map(super::duration::PromDuration)
        };
        if raw.interval.is_none() {
            raw.interval = duration(&m.interval);
        }
        if raw.timeout.is_none() {
            raw.timeout = duration(&m.timeout);
        }
        if raw.mode.is_none() {
            raw.mode = m
                .mode
                .as_deref()
                .and_then(|s| serde_json::from_value(s.into()).ok());
        }
        if raw.format == super::model::Format::default() {
            if let Some(f) = m
                .format
                .as_deref()
                .and_then(|s| serde_json::from_value(s.into()).ok())
            {
                raw.format = f;
            }
        }
        let limits = m
            .limits
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let sandbox = m
            .sandbox
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        ok.then(|| Taken {
            package: PackageRef {
                name: name.clone(),
                version: m.version.clone(),
                dir: found.dir.clone(),
                signature: found.signature.clone(),
                manifest: m.clone(),
            },
            limits,
            sandbox,
            restrict,
        })
    }

    /// Validates the entry's `config` against the package's JSON Schema, reporting each
    /// violation at the offending value's key.
    fn check_schema(
        &self,
        schema: &serde_json::Value,
        raw: &RawPlugin,
        here: &[Seg],
        report: &mut Problems,
        ok: &mut bool,
    ) {
        let validator = match jsonschema::validator_for(schema) {
            Ok(v) => v,
            Err(e) => {
                report.add(
                    &[here, &[key("package")]].concat(),
                    format!("the package's config_schema is invalid: {e}"),
                );
                *ok = false;
                return;
            }
        };
        let instance = serde_json::Value::Object(raw.config.0.clone());
        for err in validator.iter_errors(&instance) {
            let mut path = [here, &[key("config")]].concat();
            for seg in err.instance_path().to_string().split('/').skip(1) {
                let seg = seg.replace("~1", "/").replace("~0", "~");
                path.push(match seg.parse::<usize>() {
                    Ok(i) if instance_is_array_at(&instance, &path[here.len() + 1..]) => {
                        Seg::Index(i)
                    }
                    _ => Seg::Key(seg),
                });
            }
            report.add(
                &path,
                format!("does not match the package's config_schema: {err}"),
            );
            *ok = false;
        }
    }
}

/// Whether the value at `path` (from the config's root) is an array, so a numeric step is an
/// index and not a key.
fn instance_is_array_at(root: &serde_json::Value, path: &[Seg]) -> bool {
    let mut v = root;
    for seg in path {
        v = match (seg, v) {
            (Seg::Key(k), serde_json::Value::Object(m)) => match m.get(k) {
                Some(x) => x,
                None => return false,
            },
            (Seg::Index(i), serde_json::Value::Array(a)) => match a.get(*i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    v.is_array()
}

/// `trust.unsigned: restrict`: the strictest limits and sandbox the exporter sets, whatever
/// the package or the entry asked for.
pub(crate) fn restrict(plugin: &mut super::model::PluginConfig) {
    let raw: super::limits::RawLimits = yaml_serde::from_str(crate::package::RESTRICTED_LIMITS)
        .expect("the restricted limits parse");
    let (strict, _) = super::limits::merge(Some(raw), &super::limits::Limits::default());
    plugin.limits = super::limits::Limits {
        max_series: plugin.limits.max_series,
        max_line: plugin.limits.max_line,
        max_labels: plugin.limits.max_labels,
        ..strict
    };
    let raw: super::sandbox::RawSandbox =
        yaml_serde::from_str("{preset: strict}").expect("the strict preset parses");
    let (keys, _) = super::sandbox::check(Some(raw));
    plugin.sandbox = keys.resolve();
}
