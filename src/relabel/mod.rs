//! Prometheus's relabeling (`metric_relabel_configs`): rules as Prometheus writes and checks
//! them ([`rule`]), and the label set they work on ([`labels`]). Applying them to a plugin's
//! batch is [`crate::exposition::relabel_batch`]'s job; the config reads them with
//! [`compile_rules`].

pub mod labels;
pub mod rule;

pub use labels::LabelSet;
pub use rule::{Action, Memo, RawRule, Rule, RuleError};

/// Compiles rules in order; the first refusal comes with the index of its rule.
pub fn compile_rules(raw: &[RawRule]) -> Result<Vec<Rule>, (usize, RuleError)> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| Rule::compile(r).map_err(|e| (i, e)))
        .collect()
}
