//! The checks of plugin roles: what a processor or an output may not have, what only outputs
//! take (`queue`, `max_in_flight`, `max_retries`, with their bounds), and the `processors`
//! lists of collectors and `global` (each name configured, a processor, listed once).
//! Problems come back as key paths with messages for the reporter.

use super::locate::Seg;
use super::model::{Format, OutputSettings, Role};
use super::raw::RawPlugin;
use std::collections::{HashMap, HashSet};

/// A problem at a key.
pub(crate) type Found = (Vec<Seg>, String);

fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

/// Checks every plugin's role keys and every `processors` list.
pub(crate) fn check(plugins: &[RawPlugin], global: Option<&[String]>) -> Vec<Found> {
    let roles: HashMap<&str, Role> = plugins.iter().map(|p| (p.name.as_str(), p.role)).collect();
    let mut found = Vec::new();
    if let Some(list) = global {
        check_list(list, &[key("global")], &roles, &mut found);
    }
    for (index, p) in plugins.iter().enumerate() {
        let here = [key("plugins"), Seg::Index(index)];
        let at = |k: &str| [&here[..], &[key(k)]].concat();
        if p.role != Role::Output {
            let only_outputs = [
                ("queue", p.queue.is_some()),
                ("max_in_flight", p.max_in_flight.is_some()),
                ("max_retries", p.max_retries.is_some()),
            ];
            for (name, set) in only_outputs {
                if set {
                    found.push((
                        at(name),
                        format!(
                            "{name} is for outputs: this plugin is a {} (give it `role: output`, \
                             or leave {name} out)",
                            role_name(p.role)
                        ),
                    ));
                }
            }
        }
        match p.role {
            Role::Collector => {
                if p.on_error.is_some() {
                    found.push((
                        at("on_error"),
                        "on_error is for processors: this plugin is a collector (give it \
                         `role: processor`, or leave on_error out)"
                            .to_string(),
                    ));
                }
                if let Some(list) = &p.processors {
                    check_list(list, &here, &roles, &mut found);
                }
            }
            Role::Processor | Role::Output => {
                let what = role_name(p.role);
                let refused = [
                    ("mode", p.mode.is_some()),
                    ("interval", p.interval.is_some()),
                    ("processors", p.processors.is_some()),
                    ("metric_relabel_configs", p.metric_relabel_configs.is_some()),
                    ("on_error", p.role == Role::Output && p.on_error.is_some()),
                ];
                for (name, set) in refused {
                    if set {
                        let why = if name == "processors" {
                            format!(
                                "a {what} cannot list processors: list them on the collectors \
                                 (or under global)"
                            )
                        } else if p.role == Role::Output {
                            format!(
                                "an output has no {name}: it runs as a long-lived child and \
                                 gets every collect in `write` messages"
                            )
                        } else {
                            format!(
                                "a processor has no {name}: it runs as a long-lived child and \
                                 processes the batches of the collectors that list it"
                            )
                        };
                        found.push((at(name), why));
                    }
                }
                if p.format != Format::Jsonl {
                    found.push((
                        at("format"),
                        format!(
                            "a{} {what} speaks the JSON-lines protocol: format {} is for \
                             collectors",
                            if p.role == Role::Output { "n" } else { "" },
                            p.format.as_str()
                        ),
                    ));
                }
            }
        }
    }
    found
}

/// Checks one `processors` list at `here`.
fn check_list(list: &[String], here: &[Seg], roles: &HashMap<&str, Role>, found: &mut Vec<Found>) {
    let mut seen = HashSet::new();
    for (i, name) in list.iter().enumerate() {
        let path = [here, &[key("processors"), Seg::Index(i)]].concat();
        let why = match roles.get(name.as_str()) {
            None => format!("unknown processor `{name}`: no plugin of that name is configured"),
            Some(Role::Collector) => format!(
                "`{name}` is a collector, not a processor: give it `role: processor` to list it \
                 here"
            ),
            Some(Role::Output) => format!(
                "`{name}` is an output, not a processor: outputs get every collect by \
                 themselves and are listed nowhere"
            ),
            Some(Role::Processor) if !seen.insert(name.as_str()) => {
                format!("processor `{name}` is listed twice")
            }
            Some(Role::Processor) => continue,
        };
        found.push((path, why));
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Collector => "collector",
        Role::Processor => "processor",
        Role::Output => "output",
    }
}

/// An output's settings, defaults applied; each key out of bounds goes to `report` (a plugin
/// of another role gets the defaults; [`check`] refuses the keys there).
pub(crate) fn output_settings(
    p: &RawPlugin,
    here: &[Seg],
    report: &mut dyn FnMut(&[Seg], String),
) -> OutputSettings {
    let d = OutputSettings::default();
    let mut bounded = |name: &str, v: Option<u64>, min: u64, max: u64, default: u64| match v {
        Some(v) if v < min || v > max => {
            let why = format!("{name} must be between {min} and {max}, not {v}");
            report(&[here, &[key(name)]].concat(), why);
            default
        }
        Some(v) => v,
        None => default,
    };
    let queue = p.queue.map(|v| v as u64);
    let in_flight = p.max_in_flight.map(|v| v as u64);
    OutputSettings {
        queue: bounded("queue", queue, 1, 10_000, d.queue as u64) as usize,
        max_in_flight: bounded("max_in_flight", in_flight, 1, 8, d.max_in_flight as u64) as usize,
        max_retries: bounded(
            "max_retries",
            p.max_retries.map(u64::from),
            0,
            100,
            u64::from(d.max_retries),
        ) as u32,
    }
}

/// A collector's processors: its own, then those of `global` it does not list. None for a
/// processor or an output.
pub(crate) fn resolve(role: Role, own: Option<&[String]>, global: &[String]) -> Vec<String> {
    if role != Role::Collector {
        return Vec::new();
    }
    let mut out: Vec<String> = own.unwrap_or_default().to_vec();
    for g in global {
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    out
}
