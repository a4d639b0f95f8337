//! `sandbox`: the tighter fence of a plugin (file system, network, system calls), as written
//! ([`RawSandbox`]), as checked key by key ([`SandboxKeys`], what `global.sandbox` holds) and
//! as resolved for one plugin ([`SandboxProfile`]).
//!
//! A plugin's keys override `global.sandbox` key by key; a key set in neither comes from the
//! preset (the plugin's own `preset`, else `global.sandbox.preset`, else `unconfined`):
//!
//! | key | `strict` | `standard` | `unconfined` |
//! |---|---|---|---|
//! | `filesystem` | the strict set | the standard set | not fenced |
//! | `network` | `none` | `loopback` | `unconfined` |
//! | `syscalls` | `default` | `default` | `unconfined` |
//! | `max_connections` | null | null | null |
//!
//! The strict set reads the system's libraries and the plugin's own directory, writes only
//! the plugin's private `TMPDIR`, and executes only the plugin's program and its
//! interpreters; the standard set reads the whole file system except where secrets live and
//! executes the system's programs (the sets themselves are built in `crate::sandbox`). A
//! `filesystem` mapping fences the file system with the preset's set (`standard`'s for
//! preset `standard`, the strict set otherwise) plus its `read`, `write` and `exec` paths.

use super::limits::{nullable, RawCount};
use super::locate::Seg;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// A named profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Reads only what it needs, writes only its `TMPDIR`, no network, system calls fenced.
    Strict,
    /// Reads everything but secrets, writes only its `TMPDIR`, loopback, system calls fenced.
    Standard,
    /// Today's fence only (process group, cgroups, rlimits, identity, environment).
    #[default]
    Unconfined,
}

impl Preset {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Strict => "strict",
            Preset::Standard => "standard",
            Preset::Unconfined => "unconfined",
        }
    }
}

/// `syscalls`: the seccomp filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Syscalls {
    /// Refuse (EPERM) the calls that escape or inspect the fence: ptrace, mount, namespaces,
    /// modules, bpf, kexec, keyrings, io_uring and the like.
    Default,
    /// No filter.
    Unconfined,
}

impl Syscalls {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Syscalls::Default => "default",
            Syscalls::Unconfined => "unconfined",
        }
    }
}

/// Paths added to a preset's file system set; absolute and existing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FsPaths {
    /// Read (files and directories beneath).
    pub read: Vec<PathBuf>,
    /// Read and write, create and remove beneath.
    pub write: Vec<PathBuf>,
    /// Execute (and read).
    pub exec: Vec<PathBuf>,
}

/// `filesystem`, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filesystem {
    /// Not fenced.
    Unconfined,
    /// Fenced with Landlock: the set of `base` (`Strict` or `Standard`) plus `extra`.
    Fenced {
        /// Whose set the rules start from.
        base: Preset,
        /// The configured paths.
        extra: FsPaths,
    },
}

/// `network`, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network {
    /// The host's network.
    Unconfined,
    /// A network namespace of its own without interfaces.
    None,
    /// A network namespace of its own with only `lo`, up.
    Loopback,
    /// The host's network, TCP held to these ports with Landlock.
    Ports {
        /// Ports it may connect to.
        connect: Vec<u16>,
        /// Ports it may bind (0: any ephemeral port).
        bind: Vec<u16>,
    },
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::Unconfined => f.write_str("unconfined"),
            Network::None => f.write_str("none"),
            Network::Loopback => f.write_str("loopback"),
            Network::Ports { connect, bind } => {
                write!(f, "{{connect: {connect:?}, bind: {bind:?}}}")
            }
        }
    }
}

/// A plugin's profile, resolved: every key has its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxProfile {
    /// The preset the defaults came from.
    pub preset: Preset,
    /// File system access.
    pub filesystem: Filesystem,
    /// Network access.
    pub network: Network,
    /// Most TCP connections and UDP sockets open at once; `None` is unbounded.
    pub max_connections: Option<u32>,
    /// The seccomp filter.
    pub syscalls: Syscalls,
    /// Refuse to start the plugin when the kernel cannot enforce all of this.
    pub require: bool,
}

impl Default for SandboxProfile {
    fn default() -> Self {
        SandboxKeys::default().resolve()
    }
}

impl SandboxProfile {
    /// True when nothing beyond today's fence applies.
    pub fn is_unconfined(&self) -> bool {
        self.filesystem == Filesystem::Unconfined
            && self.network == Network::Unconfined
            && self.max_connections.is_none()
            && self.syscalls == Syscalls::Unconfined
    }
}

impl fmt::Display for SandboxProfile {
    /// One line, e.g. `strict: filesystem strict +read [/etc/x], network none, syscalls
    /// default`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: filesystem ", self.preset.as_str())?;
        match &self.filesystem {
            Filesystem::Unconfined => f.write_str("unconfined")?,
            Filesystem::Fenced { base, extra } => {
                f.write_str(base.as_str())?;
                for (what, paths) in [
                    ("read", &extra.read),
                    ("write", &extra.write),
                    ("exec", &extra.exec),
                ] {
                    if !paths.is_empty() {
                        write!(f, " +{what} {paths:?}")?;
                    }
                }
            }
        }
        write!(f, ", network {}", self.network)?;
        if let Some(n) = self.max_connections {
            write!(f, ", max_connections {n}")?;
        }
        write!(f, ", syscalls {}", self.syscalls.as_str())?;
        if self.require {
            f.write_str(", required")?;
        }
        Ok(())
    }
}

/// `filesystem` as written and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsKey {
    /// `filesystem: unconfined`.
    Unconfined,
    /// A mapping of paths.
    Paths(FsPaths),
}

/// One `sandbox` mapping, checked, each key `None` when not written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxKeys {
    /// `preset`.
    pub preset: Option<Preset>,
    /// `filesystem`.
    pub filesystem: Option<FsKey>,
    /// `network`.
    pub network: Option<Network>,
    /// `max_connections` (`Some(None)`: written as null).
    pub max_connections: Option<Option<u32>>,
    /// `syscalls`.
    pub syscalls: Option<Syscalls>,
    /// `require`.
    pub require: Option<bool>,
}

impl SandboxKeys {
    /// These keys over `base`'s, key by key.
    pub fn over(self, base: &SandboxKeys) -> SandboxKeys {
        SandboxKeys {
            preset: self.preset.or(base.preset),
            filesystem: self.filesystem.or_else(|| base.filesystem.clone()),
            network: self.network.or_else(|| base.network.clone()),
            max_connections: self.max_connections.or(base.max_connections),
            syscalls: self.syscalls.or(base.syscalls),
            require: self.require.or(base.require),
        }
    }

    /// The profile: each key not written comes from the preset.
    pub fn resolve(&self) -> SandboxProfile {
        let preset = self.preset.unwrap_or_default();
        let fenced_base = match preset {
            Preset::Standard => Preset::Standard,
            _ => Preset::Strict,
        };
        let filesystem = match &self.filesystem {
            Some(FsKey::Unconfined) => Filesystem::Unconfined,
            Some(FsKey::Paths(extra)) => Filesystem::Fenced {
                base: fenced_base,
                extra: extra.clone(),
            },
            None if preset == Preset::Unconfined => Filesystem::Unconfined,
            None => Filesystem::Fenced {
                base: fenced_base,
                extra: FsPaths::default(),
            },
        };
        let network = self.network.clone().unwrap_or(match preset {
            Preset::Strict => Network::None,
            Preset::Standard => Network::Loopback,
            Preset::Unconfined => Network::Unconfined,
        });
        let syscalls = self.syscalls.unwrap_or(match preset {
            Preset::Unconfined => Syscalls::Unconfined,
            _ => Syscalls::Default,
        });
        SandboxProfile {
            preset,
            filesystem,
            network,
            max_connections: self.max_connections.flatten(),
            syscalls,
            require: self.require.unwrap_or(false),
        }
    }
}

/// A `sandbox` mapping as written.
#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `preset`, `filesystem`, `network`, \
                 `max_connections`, `syscalls` and `require`"
)]
pub(crate) struct RawSandbox {
    preset: Option<Preset>,
    filesystem: Option<RawFilesystem>,
    network: Option<RawNetwork>,
    #[serde(default, deserialize_with = "nullable")]
    max_connections: Option<Option<RawCount>>,
    syscalls: Option<Syscalls>,
    require: Option<bool>,
}

/// `filesystem` as written: `unconfined`, or a mapping of paths.
enum RawFilesystem {
    Unconfined,
    Paths(RawFsPaths),
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `read`, `write` and `exec`"
)]
struct RawFsPaths {
    #[serde(default)]
    read: Vec<PathBuf>,
    #[serde(default)]
    write: Vec<PathBuf>,
    #[serde(default)]
    exec: Vec<PathBuf>,
}

/// `network` as written: a word, or a mapping of ports.
enum RawNetwork {
    Word(Network),
    Ports(RawPorts),
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `connect` and `bind`"
)]
struct RawPorts {
    #[serde(default)]
    connect: Vec<u16>,
    #[serde(default)]
    bind: Vec<u16>,
}

impl<'de> Deserialize<'de> for RawFilesystem {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WordOrMap::<RawFilesystem>::default())
    }
}

impl<'de> Deserialize<'de> for RawNetwork {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WordOrMap::<RawNetwork>::default())
    }
}

/// A key that is either a word or a mapping.
trait WordOrMapping: Sized {
    const EXPECTING: &'static str;
    type Map: for<'de> Deserialize<'de>;
    fn word(word: &str) -> Option<Self>;
    fn map(map: Self::Map) -> Self;
}

impl WordOrMapping for RawFilesystem {
    const EXPECTING: &'static str =
        "`unconfined` or a mapping with the keys `read`, `write` and `exec` (lists of paths)";
    type Map = RawFsPaths;
    fn word(word: &str) -> Option<Self> {
        (word == "unconfined").then_some(RawFilesystem::Unconfined)
    }
    fn map(map: RawFsPaths) -> Self {
        RawFilesystem::Paths(map)
    }
}

impl WordOrMapping for RawNetwork {
    const EXPECTING: &'static str = "`none`, `loopback`, `unconfined` or a mapping with the \
                                     keys `connect` and `bind` (lists of TCP ports)";
    type Map = RawPorts;
    fn word(word: &str) -> Option<Self> {
        match word {
            "none" => Some(RawNetwork::Word(Network::None)),
            "loopback" => Some(RawNetwork::Word(Network::Loopback)),
            "unconfined" => Some(RawNetwork::Word(Network::Unconfined)),
            _ => None,
        }
    }
    fn map(map: RawPorts) -> Self {
        RawNetwork::Ports(map)
    }
}

struct WordOrMap<T>(std::marker::PhantomData<T>);

impl<T> Default for WordOrMap<T> {
    fn default() -> Self {
        WordOrMap(std::marker::PhantomData)
    }
}

impl<'de, T: WordOrMapping> serde::de::Visitor<'de> for WordOrMap<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
        T::word(value).ok_or_else(|| E::custom(format!("`{value}`: expected {}", T::EXPECTING)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::Map::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(T::map)
    }
}

/// A problem in a `sandbox` mapping: the path below `sandbox`, and what is wrong.
pub(crate) type SandboxProblem = (Vec<Seg>, String);

/// Checks a `sandbox` mapping: paths absolute and existing, ports usable, the connection
/// bound at least 1. Returns the keys with what could be read, and every problem.
pub(crate) fn check(raw: Option<RawSandbox>) -> (SandboxKeys, Vec<SandboxProblem>) {
    let Some(raw) = raw else {
        return (SandboxKeys::default(), Vec::new());
    };
    let mut problems = Vec::new();
    let key = |name: &str| Seg::Key(name.to_string());
    let filesystem = raw.filesystem.map(|fs| match fs {
        RawFilesystem::Unconfined => FsKey::Unconfined,
        RawFilesystem::Paths(p) => {
            let mut lists = [("read", p.read), ("write", p.write), ("exec", p.exec)];
            for (name, paths) in &mut lists {
                let mut kept = Vec::new();
                for (i, path) in paths.drain(..).enumerate() {
                    match check_path(&path) {
                        Ok(()) => kept.push(path),
                        Err(why) => {
                            problems.push((vec![key("filesystem"), key(name), Seg::Index(i)], why))
                        }
                    }
                }
                *paths = kept;
            }
            let [(_, read), (_, write), (_, exec)] = lists;
            FsKey::Paths(FsPaths { read, write, exec })
        }
    });
    let network = raw.network.map(|n| match n {
        RawNetwork::Word(n) => n,
        RawNetwork::Ports(p) => {
            for (i, port) in p.connect.iter().enumerate() {
                if *port == 0 {
                    problems.push((
                        vec![key("network"), key("connect"), Seg::Index(i)],
                        "port 0 cannot be connected to: give ports 1 to 65535".to_string(),
                    ));
                }
            }
            Network::Ports {
                connect: p.connect,
                bind: p.bind,
            }
        }
    });
    let max_connections = raw.max_connections.map(|n| {
        n.and_then(|RawCount(n)| match u32::try_from(n) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                problems.push((
                    vec![key("max_connections")],
                    format!(
                        "max_connections `{n}` is out of range: give 1 to {} (null for no \
                         bound; `network: none` for no connection at all)",
                        u32::MAX
                    ),
                ));
                None
            }
        })
    });
    let keys = SandboxKeys {
        preset: raw.preset,
        filesystem,
        network,
        max_connections,
        syscalls: raw.syscalls,
        require: raw.require,
    };
    (keys, problems)
}

/// A path in `filesystem`: absolute (the plugin's working directory is not ours) and
/// existing (a Landlock rule holds an open file, so a path that does not exist yet cannot
/// be allowed).
fn check_path(path: &std::path::Path) -> Result<(), String> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(format!("`{shown}` must be an absolute path"));
    }
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "`{shown}` does not exist: a Landlock rule needs an existing file or directory"
        )),
        Err(e) => Err(format!("`{shown}` cannot be inspected: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(yaml: &str) -> (SandboxKeys, Vec<SandboxProblem>) {
        check(yaml_serde::from_str(yaml).unwrap())
    }

    #[test]
    fn unconfined_is_the_default() {
        let p = SandboxProfile::default();
        assert!(p.is_unconfined());
        assert_eq!(p.preset, Preset::Unconfined);
        assert!(!p.require);
    }

    #[test]
    fn presets_fill_every_key_not_written() {
        let strict = keys("{preset: strict}").0.resolve();
        assert_eq!(strict.network, Network::None);
        assert_eq!(strict.syscalls, Syscalls::Default);
        assert_eq!(
            strict.filesystem,
            Filesystem::Fenced {
                base: Preset::Strict,
                extra: FsPaths::default()
            }
        );
        let standard = keys("{preset: standard, network: {connect: [443]}}")
            .0
            .resolve();
        assert_eq!(standard.network.to_string(), "{connect: [443], bind: []}");
        assert!(matches!(
            standard.filesystem,
            Filesystem::Fenced {
                base: Preset::Standard,
                ..
            }
        ));
        let only_syscalls = keys("{syscalls: default}").0.resolve();
        assert_eq!(only_syscalls.filesystem, Filesystem::Unconfined);
        assert!(!only_syscalls.is_unconfined());
        let paths = keys("{filesystem: {read: [/etc]}}").0.resolve();
        assert_eq!(
            paths.to_string(),
            "unconfined: filesystem strict +read [\"/etc\"], network unconfined, syscalls \
             unconfined"
        );
    }

    #[test]
    fn plugin_keys_override_global_keys_one_by_one() {
        let global = keys("{preset: standard, network: none, max_connections: 10}").0;
        let plugin = keys("{preset: strict, max_connections: null, require: true}").0;
        let p = plugin.over(&global).resolve();
        assert_eq!(p.preset, Preset::Strict);
        assert_eq!(p.network, Network::None);
        assert_eq!(p.max_connections, None);
        assert!(p.require);
        let p = SandboxKeys::default().over(&global).resolve();
        assert_eq!(p.max_connections, Some(10));
        assert_eq!(p.preset, Preset::Standard);
    }

    #[test]
    fn bad_values_are_named() {
        let (_, problems) =
            keys("{filesystem: {read: [relative, /nonexistent-x]}, max_connections: 0}");
        let shown: Vec<String> = problems
            .iter()
            .map(|(path, why)| format!("{path:?}: {why}"))
            .collect();
        assert_eq!(problems.len(), 3, "{shown:?}");
        assert!(shown[0].contains("must be an absolute path"), "{shown:?}");
        assert!(shown[1].contains("does not exist"), "{shown:?}");
        assert!(shown[2].contains("max_connections `0`"), "{shown:?}");
        let (_, problems) = keys("{network: {connect: [0]}}");
        assert!(problems[0].1.contains("port 0"), "{problems:?}");
        let error = |yaml: &str| {
            yaml_serde::from_str::<RawSandbox>(yaml)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(error("{network: internet}").contains("`internet`: expected `none`"));
        assert!(error("{preset: lax}").contains("unknown variant `lax`"));
        assert!(error("{network: {connect: [70000]}}").contains("70000"));
        assert!(error("{filesystem: {raed: []}}").contains("unknown field `raed`"));
    }
}
