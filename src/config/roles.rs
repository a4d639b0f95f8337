//! The checks of plugin roles: what a processor may not have, and the `processors` lists of
//! collectors and `global` (each name configured, a processor, listed once). Problems come
//! back as key paths with messages for the reporter.

use super::locate::Seg;
use super::model::{Format, Role};
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
            Role::Processor => {
                let refused = [
                    ("mode", p.mode.is_some()),
                    ("interval", p.interval.is_some()),
                    ("processors", p.processors.is_some()),
                    ("metric_relabel_configs", p.metric_relabel_configs.is_some()),
                ];
                for (name, set) in refused {
                    if set {
                        let why = if name == "processors" {
                            "a processor cannot list processors: list them on the collectors \
                             (or under global)"
                                .to_string()
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
                            "a processor speaks the JSON-lines protocol: format {} is for \
                             collectors",
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
            Some(Role::Processor) if !seen.insert(name.as_str()) => {
                format!("processor `{name}` is listed twice")
            }
            Some(Role::Processor) => continue,
        };
        found.push((path, why));
    }
}

/// A collector's processors: its own, then those of `global` it does not list.
pub(crate) fn resolve(own: Option<&[String]>, global: &[String]) -> Vec<String> {
    let mut out: Vec<String> = own.unwrap_or_default().to_vec();
    for g in global {
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    out
}
