//! The file as written ([`RawConfig`]), deserialized by yaml_serde before defaults and
//! checks: unknown keys are refused here, everything else is checked by the `check` module.

use super::duration::PromDuration;
use super::env::RawEnv;
use super::limits::{self, RawLimits};
use super::model::{Format, Mode, OnError, Role};
use super::remote_write::RawRemoteWrite;
use super::sandbox::RawSandbox;
use crate::relabel::RawRule;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// The file as written, before defaults and checks.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `global`, `plugins`, `remote_write`, `plugins_dirs` \
                 and `trust`"
)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) global: Option<RawGlobal>,
    #[serde(default)]
    pub(crate) plugins: Option<Vec<RawPlugin>>,
    #[serde(default)]
    pub(crate) remote_write: Option<Vec<RawRemoteWrite>>,
    #[serde(default)]
    pub(crate) plugins_dirs: Option<Vec<PathBuf>>,
    #[serde(default)]
    pub(crate) trust: Option<RawTrust>,
}

impl RawConfig {
    pub(crate) fn names(&self) -> Vec<Option<String>> {
        let plugins = self.plugins.iter().flatten();
        plugins.map(|plugin| Some(plugin.name.clone())).collect()
    }
}

/// The `global` section as written.
#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `timeout`, `interval`, `plugin_label`, `limits`, \
                 `user`, `group`, `allow_root`, `sandbox`, `metric_relabel_configs`, \
                 `evaluation_interval`, `remote_write_interval`, `external_labels` and \
                 `processors`"
)]
pub(crate) struct RawGlobal {
    pub(crate) timeout: Option<PromDuration>,
    pub(crate) interval: Option<PromDuration>,
    pub(crate) plugin_label: Option<String>,
    pub(crate) limits: Option<RawLimits>,
    pub(crate) user: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) allow_root: Option<bool>,
    pub(crate) sandbox: Option<RawSandbox>,
    pub(crate) metric_relabel_configs: Option<Vec<RawRule>>,
    pub(crate) evaluation_interval: Option<PromDuration>,
    pub(crate) remote_write_interval: Option<PromDuration>,
    pub(crate) external_labels: Option<std::collections::BTreeMap<String, String>>,
    pub(crate) processors: Option<Vec<String>>,
}

/// One entry of `plugins` as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a plugin: a mapping with at least `name` and `command` (or `package`)"
)]
pub(crate) struct RawPlugin {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) command: Option<RawCommand>,
    pub(crate) package: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) mode: Option<Mode>,
    #[serde(default)]
    pub(crate) format: Format,
    pub(crate) interval: Option<PromDuration>,
    pub(crate) timeout: Option<PromDuration>,
    #[serde(default)]
    pub(crate) config: RawParams,
    #[serde(default)]
    pub(crate) env: RawEnv,
    pub(crate) working_dir: Option<PathBuf>,
    pub(crate) limits: Option<RawLimits>,
    /// Present and `null` is "no user", which stops `global.user` from applying.
    #[serde(default, deserialize_with = "limits::nullable")]
    pub(crate) user: Option<Option<String>>,
    #[serde(default, deserialize_with = "limits::nullable")]
    pub(crate) group: Option<Option<String>>,
    pub(crate) allow_root: Option<bool>,
    pub(crate) sha256: Option<String>,
    pub(crate) sandbox: Option<RawSandbox>,
    pub(crate) metric_relabel_configs: Option<Vec<RawRule>>,
    #[serde(default)]
    pub(crate) role: Role,
    pub(crate) processors: Option<Vec<String>>,
    pub(crate) on_error: Option<OnError>,
    pub(crate) queue: Option<usize>,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) max_retries: Option<u32>,
}

/// `command`: a list of strings; a lone string gets a message showing the list form, since
/// splitting it on spaces would guess wrong about quoting.
pub(crate) struct RawCommand(pub(crate) Vec<String>);

impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawCommandVisitor)
    }
}

struct RawCommandVisitor;

impl<'de> serde::de::Visitor<'de> for RawCommandVisitor {
    type Value = RawCommand;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of strings, e.g. [\"/path/to/plugin\", \"--flag\"]")
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<RawCommand, E> {
        Err(E::custom(
            "command must be a list of strings, e.g. [\"/path/to/plugin\", \"--flag\"]",
        ))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<RawCommand, E> {
        // Reported as an empty command by the semantic checks, with the key's line.
        Ok(RawCommand(Vec::new()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawCommand, A::Error> {
        let mut args = Vec::new();
        while let Some(arg) = seq.next_element::<String>()? {
            args.push(arg);
        }
        Ok(RawCommand(args))
    }
}

/// `config`: any mapping, kept as a JSON object for the plugin.
#[derive(Default)]
pub(crate) struct RawParams(pub(crate) serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for RawParams {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than Value-then-check, so a non-mapping is refused while the YAML
        // deserializer still knows where it is, and the error gets this value's line.
        deserializer.deserialize_any(RawParamsVisitor)
    }
}

struct RawParamsVisitor;

impl<'de> serde::de::Visitor<'de> for RawParamsVisitor {
    type Value = RawParams;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping (handed to the plugin as a JSON object)")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<RawParams, E> {
        Ok(RawParams::default())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawParams, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        Ok(RawParams(object))
    }
}

/// `trust:` as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrust {
    #[serde(default)]
    pub(crate) keys: Vec<String>,
    #[serde(default)]
    pub(crate) unsigned: crate::package::Unsigned,
}
