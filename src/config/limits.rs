//! `limits`: the resources a plugin may use (memory, CPU, processes, open files, file size)
//! and its ingestion budgets (series per collect, bytes per line, labels per series).
//!
//! `global.limits` sets defaults for every plugin and a plugin's `limits` overrides them key
//! by key; unset keys fall back to [`Limits::default`]. `null` means "no limit" for `memory`,
//! `cpu` and `pids`; the other keys always have a limit, so `null` is refused for them.
//! Ranges are checked here, where the line is known, rather than failing at spawn time.

use super::size::{format_size, RawSize};
use serde::Deserialize;
use std::fmt;

/// Resource limits and ingestion budgets of one plugin, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// cgroup memory limit in bytes, swap disallowed; `None` is unlimited.
    pub memory: Option<u64>,
    /// CPU limit in cores (a cgroup CPU quota); `None` is unlimited.
    pub cpu: Option<f64>,
    /// Most processes and threads at once (cgroup `pids.max`); `None` is unlimited.
    pub pids: Option<u64>,
    /// `RLIMIT_NOFILE`: most open file descriptors.
    pub nofile: u64,
    /// `RLIMIT_FSIZE`: the largest file the plugin may write, in bytes.
    pub fsize: u64,
    /// Most series accepted from one collect.
    pub max_series: usize,
    /// Most bytes in one protocol line.
    pub max_line: usize,
    /// Most labels on one series.
    pub max_labels: usize,
    /// Refuse to start the plugin when an rlimit (`nofile`, `fsize`, ...) is above what the
    /// exporter may grant, instead of lowering it to the exporter's own hard limit.
    pub require_rlimits: bool,
}

impl Limits {
    /// The smallest `memory`: a process, its page tables and the page cache it touches take
    /// a few MiB, so less is OOM-killed at once. The minimum also catches `memory: 512`
    /// meant as MiB, since a bare number counts bytes.
    pub const MIN_MEMORY: u64 = 4 << 20;
    /// The smallest `cpu`: the kernel's smallest CFS quota is 1ms, which is 0.01 cores at
    /// the usual 100ms period.
    pub const MIN_CPU: f64 = 0.01;
    /// The largest `cpu`, a sanity bound well above any host's core count.
    pub const MAX_CPU: f64 = 1024.0;
    /// The smallest `nofile`: stdin, stdout and stderr are open files too.
    pub const MIN_NOFILE: u64 = 3;
    /// The smallest `max_line`: below this even one ordinary series does not fit.
    pub const MIN_MAX_LINE: usize = 1 << 10;
    /// The largest `max_labels`; Prometheus setups with `label_limit` use far less.
    pub const MAX_MAX_LABELS: usize = 1000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: Some(256 << 20),
            cpu: Some(1.0),
            pids: Some(64),
            nofile: 1024,
            fsize: 64 << 20,
            max_series: 100_000,
            max_line: 16 << 20,
            max_labels: 32,
            require_rlimits: false,
        }
    }
}

/// A `limits` mapping as written. The outer `Option` says whether the key is present, the
/// inner one whether its value is `null`.
#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys `memory`, `cpu`, `pids`, `nofile`, `fsize`, \
                 `max_series`, `max_line`, `max_labels` and `require_rlimits`"
)]
pub(crate) struct RawLimits {
    #[serde(default, deserialize_with = "nullable")]
    memory: Option<Option<RawSize>>,
    #[serde(default, deserialize_with = "nullable")]
    cpu: Option<Option<RawCpu>>,
    #[serde(default, deserialize_with = "nullable")]
    pids: Option<Option<RawCount>>,
    #[serde(default, deserialize_with = "nullable")]
    nofile: Option<Option<RawCount>>,
    #[serde(default, deserialize_with = "nullable")]
    fsize: Option<Option<RawSize>>,
    #[serde(default, deserialize_with = "nullable")]
    max_series: Option<Option<RawCount>>,
    #[serde(default, deserialize_with = "nullable")]
    max_line: Option<Option<RawSize>>,
    #[serde(default, deserialize_with = "nullable")]
    max_labels: Option<Option<RawCount>>,
    require_rlimits: Option<bool>,
}

/// Reads a present key, keeping `null` apart from absence (which `#[serde(default)]` gives).
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// One problem: the key inside `limits` and what is wrong with its value.
pub(crate) type LimitProblem = (&'static str, String);

/// Applies `raw` over `base` key by key and checks every value that `raw` sets; the values
/// of `base` were checked where they were written.
pub(crate) fn merge(raw: Option<RawLimits>, base: &Limits) -> (Limits, Vec<LimitProblem>) {
    let raw = raw.unwrap_or_default();
    let mut problems = Vec::new();
    let mut limits = base.clone();
    let mut check = |key: &'static str, result: Result<(), String>| {
        if let Err(why) = result {
            problems.push((key, why));
        }
    };

    if let Some(memory) = raw.memory {
        check("memory", memory.as_ref().map_or(Ok(()), check_memory));
        limits.memory = memory.map(|size| size.bytes);
    }
    if let Some(cpu) = raw.cpu {
        check("cpu", cpu.map_or(Ok(()), |cpu| check_cpu(cpu.0)));
        limits.cpu = cpu.map(|cpu| cpu.0);
    }
    if let Some(pids) = raw.pids {
        if pids.is_some_and(|pids| pids.0 == 0) {
            check("pids", Err(at_least("pids", "0", "1", true)));
        }
        limits.pids = pids.map(|pids| pids.0);
    }
    if let Some(nofile) = raw.nofile {
        check("nofile", required("nofile", &nofile, base.nofile));
        if let Some(RawCount(nofile)) = nofile {
            if nofile < Limits::MIN_NOFILE {
                let why = format!(
                    "nofile `{nofile}` is less than the minimum, {}: stdin, stdout and stderr \
                     are open files too",
                    Limits::MIN_NOFILE
                );
                check("nofile", Err(why));
            }
            limits.nofile = nofile;
        }
    }
    if let Some(fsize) = raw.fsize {
        check("fsize", required("fsize", &fsize, format_size(base.fsize)));
        if let Some(fsize) = fsize {
            if fsize.bytes == 0 {
                let why = "fsize must be at least 1B: 0 would forbid writing any file, \
                           not lift the limit";
                check("fsize", Err(why.to_string()));
            }
            limits.fsize = fsize.bytes;
        }
    }
    if let Some(max_series) = raw.max_series {
        check(
            "max_series",
            required("max_series", &max_series, base.max_series),
        );
        if let Some(RawCount(max_series)) = max_series {
            if max_series == 0 {
                check("max_series", Err(at_least("max_series", "0", "1", false)));
            }
            limits.max_series = to_usize("max_series", max_series, &mut check);
        }
    }
    if let Some(max_line) = raw.max_line {
        check(
            "max_line",
            required("max_line", &max_line, format_size(base.max_line as u64)),
        );
        if let Some(max_line) = max_line {
            if max_line.bytes < Limits::MIN_MAX_LINE as u64 {
                let min = format_size(Limits::MIN_MAX_LINE as u64);
                let mut why = at_least("max_line", &max_line.written, &min, false);
                why.push_str(&bare_hint(&max_line, "KiB"));
                check("max_line", Err(why));
            }
            limits.max_line = to_usize("max_line", max_line.bytes, &mut check);
        }
    }
    if let Some(max_labels) = raw.max_labels {
        check(
            "max_labels",
            required("max_labels", &max_labels, base.max_labels),
        );
        if let Some(RawCount(max_labels)) = max_labels {
            if !(1..=Limits::MAX_MAX_LABELS as u64).contains(&max_labels) {
                let why = format!(
                    "max_labels `{max_labels}` is out of range: give 1 to {}",
                    Limits::MAX_MAX_LABELS
                );
                check("max_labels", Err(why));
            }
            limits.max_labels = to_usize("max_labels", max_labels, &mut check);
        }
    }
    if let Some(require) = raw.require_rlimits {
        limits.require_rlimits = require;
    }
    (limits, problems)
}

fn check_memory(memory: &RawSize) -> Result<(), String> {
    if memory.bytes >= Limits::MIN_MEMORY {
        return Ok(());
    }
    let min = format_size(Limits::MIN_MEMORY);
    let mut why = at_least("memory", &memory.written, &min, true);
    why.push_str(&bare_hint(memory, "MiB"));
    Err(why)
}

fn check_cpu(cpu: f64) -> Result<(), String> {
    let no_limit = "write null for no CPU limit";
    if !cpu.is_finite() {
        return Err(format!(
            "cpu `{cpu}` is not a number of cores: give e.g. 0.5 or 2, or {no_limit}"
        ));
    }
    if cpu <= 0.0 {
        return Err(format!(
            "cpu `{cpu}` must be greater than 0: give cores, e.g. 0.5 or 2, or {no_limit}"
        ));
    }
    if cpu < Limits::MIN_CPU {
        return Err(format!(
            "cpu `{cpu}` is less than the minimum, {} cores (the kernel's smallest CPU quota)",
            Limits::MIN_CPU
        ));
    }
    if cpu > Limits::MAX_CPU {
        return Err(format!(
            "cpu `{cpu}` is more than the maximum, {} cores, or {no_limit}",
            Limits::MAX_CPU
        ));
    }
    Ok(())
}

/// `null` for a key that has no "unlimited": refused, naming the default.
fn required<T>(key: &str, value: &Option<T>, default: impl fmt::Display) -> Result<(), String> {
    match value {
        Some(_) => Ok(()),
        None => Err(format!(
            "{key} cannot be null: it has no unlimited setting; give a value or leave the key \
             out for the default, {default}"
        )),
    }
}

fn at_least(key: &str, value: &str, min: &str, nullable: bool) -> String {
    let or_null = if nullable { " (null for no limit)" } else { "" };
    format!("{key} `{value}` is less than the minimum, {min}{or_null}")
}

/// For a bare number that was refused as too small: the value with the unit it probably
/// meant.
fn bare_hint(size: &RawSize, unit: &str) -> String {
    match size.is_bare() {
        true => format!(
            "; a bare number counts bytes: did you mean {}{unit}?",
            size.written
        ),
        false => String::new(),
    }
}

/// Converts a count to `usize`, reporting values this platform cannot hold.
fn to_usize(
    key: &'static str,
    value: u64,
    check: &mut impl FnMut(&'static str, Result<(), String>),
) -> usize {
    usize::try_from(value).unwrap_or_else(|_| {
        check(
            key,
            Err(format!("{key} `{value}` is too large for this platform")),
        );
        usize::MAX
    })
}

/// A whole number without unit: a YAML integer, or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawCount(pub(crate) u64);

impl<'de> Deserialize<'de> for RawCount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl CountVisitor {
    fn refuse<E: serde::de::Error>(shown: impl fmt::Display) -> E {
        E::custom(format!(
            "invalid number `{shown}`: expected a whole number such as 64, without sign or unit"
        ))
    }
}

impl serde::de::Visitor<'_> for CountVisitor {
    type Value = RawCount;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number such as 64, without sign or unit")
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<RawCount, E> {
        Ok(RawCount(value))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<RawCount, E> {
        u64::try_from(value)
            .map(RawCount)
            .map_err(|_| Self::refuse(value))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<RawCount, E> {
        Err(Self::refuse(value))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawCount, E> {
        match value.bytes().all(|b| b.is_ascii_digit()) {
            true => value.parse().map(RawCount).map_err(|_| Self::refuse(value)),
            false => Err(Self::refuse(value)),
        }
    }
}

/// A number of cores: a YAML number, or a string of digits and a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawCpu(pub(crate) f64);

impl<'de> Deserialize<'de> for RawCpu {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CpuVisitor)
    }
}

struct CpuVisitor;

impl serde::de::Visitor<'_> for CpuVisitor {
    type Value = RawCpu;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number of cores, such as 0.5 or 2")
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<RawCpu, E> {
        Ok(RawCpu(value as f64))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<RawCpu, E> {
        Ok(RawCpu(value as f64))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<RawCpu, E> {
        Ok(RawCpu(value))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawCpu, E> {
        let plain =
            |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if plain(value) {
            if let Ok(cores) = value.parse() {
                return Ok(RawCpu(cores));
            }
        }
        // Kubernetes writes CPU in millicores (`500m`); say what that is in cores.
        let millis = value.strip_suffix('m').filter(|m| plain(m));
        let hint = match millis.and_then(|m| m.parse::<f64>().ok()) {
            Some(millis) => format!(" (millicores are not accepted: write {})", millis / 1000.0),
            None => String::new(),
        };
        Err(E::custom(format!(
            "invalid cpu `{value}`: expected a number of cores, such as 0.5 or 2{hint}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(yaml: &str, base: &Limits) -> (Limits, Vec<LimitProblem>) {
        let raw: Option<RawLimits> = yaml_serde::from_str(yaml).unwrap();
        merge(raw, base)
    }

    #[test]
    fn defaults() {
        let limits = Limits::default();
        assert_eq!(limits.memory, Some(256 * 1024 * 1024));
        assert_eq!(limits.cpu, Some(1.0));
        assert_eq!(limits.pids, Some(64));
        assert_eq!(limits.nofile, 1024);
        assert_eq!(limits.fsize, 64 * 1024 * 1024);
        assert_eq!(limits.max_series, 100_000);
        assert_eq!(limits.max_line, 16 * 1024 * 1024);
        assert_eq!(limits.max_labels, 32);
        assert_eq!(merged("null", &limits), (limits.clone(), vec![]));
        assert_eq!(merged("{}", &limits), (limits, vec![]));
    }

    #[test]
    fn one_key_overrides_and_the_rest_is_kept() {
        let base = Limits {
            memory: Some(64 << 20),
            cpu: Some(0.25),
            nofile: 256,
            ..Limits::default()
        };
        let (limits, problems) = merged("{memory: 128MiB}", &base);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            limits,
            Limits {
                memory: Some(128 << 20),
                ..base.clone()
            }
        );
        let (limits, _) = merged("{cpu: 2, max_line: 4096, max_labels: \"10\"}", &base);
        assert_eq!(limits.cpu, Some(2.0));
        assert_eq!(limits.max_line, 4096);
        assert_eq!(limits.max_labels, 10);
        assert_eq!(limits.memory, Some(64 << 20));
    }

    #[test]
    fn null_lifts_memory_cpu_and_pids_only() {
        let (limits, problems) = merged("{memory: null, cpu: ~, pids: }", &Limits::default());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!((limits.memory, limits.cpu, limits.pids), (None, None, None));
        assert_eq!(limits.nofile, 1024);

        let yaml =
            "{nofile: null, fsize: null, max_series: null, max_line: null, max_labels: null}";
        let (limits, problems) = merged(yaml, &Limits::default());
        let keys: Vec<_> = problems.iter().map(|(key, _)| *key).collect();
        assert_eq!(
            keys,
            ["nofile", "fsize", "max_series", "max_line", "max_labels"]
        );
        assert!(problems[0].1.contains("the default, 1024"), "{problems:?}");
        assert!(problems[1].1.contains("the default, 64MiB"), "{problems:?}");
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn minimums_and_maximums() {
        let refused = |yaml: &str| merged(yaml, &Limits::default()).1;
        let accepted = |yaml: &str| assert!(refused(yaml).is_empty(), "{yaml}");
        accepted("{memory: 4MiB, cpu: 0.01, pids: 1, nofile: 3, fsize: 1, max_series: 1}");
        accepted("{max_line: 1KiB, max_labels: 1000, cpu: 1024}");
        accepted("{max_labels: 1}");

        let problems = refused("{memory: 512, cpu: 0, pids: 0, nofile: 2, fsize: 0}");
        let shown: Vec<String> = problems.iter().map(|(k, m)| format!("{k}: {m}")).collect();
        assert_eq!(
            shown,
            [
                "memory: memory `512` is less than the minimum, 4MiB (null for no limit); \
                 a bare number counts bytes: did you mean 512MiB?",
                "cpu: cpu `0` must be greater than 0: give cores, e.g. 0.5 or 2, or write null \
                 for no CPU limit",
                "pids: pids `0` is less than the minimum, 1 (null for no limit)",
                "nofile: nofile `2` is less than the minimum, 3: stdin, stdout and stderr are \
                 open files too",
                "fsize: fsize must be at least 1B: 0 would forbid writing any file, not lift \
                 the limit",
            ]
        );
        let problems = refused("{max_series: 0, max_line: 1023B, max_labels: 0, memory: 4095KiB}");
        let keys: Vec<_> = problems.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, ["memory", "max_series", "max_line", "max_labels"]);
        assert!(!problems[0].1.contains("bare"), "{problems:?}");
        assert_eq!(
            problems[2].1,
            "max_line `1023B` is less than the minimum, 1KiB"
        );
        assert_eq!(refused("{max_labels: 1001}")[0].0, "max_labels");
        assert_eq!(
            refused("{max_line: 64}")[0].1,
            "max_line `64` is less than the minimum, 1KiB; a bare number counts bytes: \
             did you mean 64KiB?"
        );
        for cpu in ["-1", "0.001", "1025", ".inf", ".nan"] {
            let problems = refused(&format!("{{cpu: {cpu}}}"));
            assert_eq!(problems.len(), 1, "{cpu}");
            assert_eq!(problems[0].0, "cpu");
        }
    }

    #[test]
    fn value_types_are_checked_while_parsing() {
        let error = |yaml: &str| {
            yaml_serde::from_str::<RawLimits>(yaml)
                .err()
                .map(|err| err.to_string())
                .unwrap_or_default()
        };
        assert!(
            error("{cpu: 500m}").contains("write 0.5"),
            "{}",
            error("{cpu: 500m}")
        );
        assert!(error("{cpu: fast}").contains("expected a number of cores"));
        assert!(error("{pids: 1.5}").contains("invalid number `1.5`"));
        assert!(error("{pids: -1}").contains("invalid number `-1`"));
        assert!(error("{nofile: 1KiB}").contains("invalid number `1KiB`"));
        assert!(error("{memory: 1GB}").contains("write 1GiB"));
        assert!(error("{memroy: 1GiB}").contains("unknown field `memroy`"));
        let raw: RawLimits = yaml_serde::from_str("{cpu: \"0.5\", pids: \"8\"}").unwrap();
        assert_eq!(merge(Some(raw), &Limits::default()).0.cpu, Some(0.5));
    }
}
