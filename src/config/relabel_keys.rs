//! `metric_relabel_configs` in the configuration: each rule compiled as Prometheus checks it,
//! a refused rule reported at its key (and its line, through the caller).

use super::locate::Seg;
use crate::relabel::{RawRule, Rule};

fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

/// Compiles `metric_relabel_configs` at `here`; each refused rule is a problem at its key.
pub(crate) fn resolve_relabel(
    raw: Option<Vec<RawRule>>,
    here: &[Seg],
    problems: &mut Vec<(Vec<Seg>, String)>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (index, raw) in raw.into_iter().flatten().enumerate() {
        match Rule::compile(&raw) {
            Ok(rule) => rules.push(rule),
            Err(e) => {
                let field = if raw_has(&raw, e.field) {
                    Some(key(e.field))
                } else {
                    None
                };
                let path: Vec<Seg> = [here, &[key("metric_relabel_configs"), Seg::Index(index)]]
                    .concat()
                    .into_iter()
                    .chain(field)
                    .collect();
                problems.push((path, format!("relabel rule {index}: {e}")));
            }
        }
    }
    rules
}

/// Whether the rule as written has `field`, so a problem points at its line when it does
/// (a missing `target_label` points at the rule).
fn raw_has(raw: &RawRule, field: &str) -> bool {
    match field {
        "source_labels" => raw.source_labels.is_some(),
        "separator" => raw.separator.is_some(),
        "regex" => raw.regex.is_some(),
        "modulus" => raw.modulus.is_some(),
        "target_label" => raw.target_label.is_some(),
        "replacement" => raw.replacement.is_some(),
        "action" => raw.action.is_some(),
        _ => false,
    }
}
