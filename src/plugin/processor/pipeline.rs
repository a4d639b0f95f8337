//! A collector's batch through its processors, in order, before the batch is built: each
//! processor gets what the previous one answered; one that fails (timeout, crash, garbage,
//! error, an answer over the budgets) is counted by kind, and by its `on_error` the batch
//! goes on as it was (`pass`) or is dropped (`drop`: the collect serves no series).
//!
//! An answer that validation drops more from than from the batch it was sent also counts as
//! `invalid`, but goes on: what is invalid is dropped and counted when the batch is built,
//! like a collector's own invalid output.

use plugin_protocol::Family;

use super::handle::ProcessorHandle;
use super::request::ProcessError;
use crate::codes::ProcessorErrorKind;
use crate::config::OnError;
use crate::exposition::batch::{count_invalid, BatchOptions};

/// The batch after every processor, or `None` when one dropped it.
pub async fn run(
    processors: &[ProcessorHandle],
    families: Vec<Family>,
    opts: &BatchOptions,
) -> Option<Vec<Family>> {
    let mut families = families;
    let mut invalid_before: Option<u64> = None;
    for p in processors {
        let before = *invalid_before.get_or_insert_with(|| count_invalid(&families, opts));
        let keep = match p.on_error() {
            OnError::Pass => Some(families.clone()),
            OnError::Drop => None,
        };
        let answer = p
            .process(&opts.plugin, families)
            .await
            .and_then(|out| within_budget(out, opts.max_series));
        match answer {
            Ok(out) => {
                p.count_batch();
                let after = count_invalid(&out, opts);
                if after > before {
                    tracing::warn!(plugin = %opts.plugin, processor = %p.name(), dropped = after - before,
                        "a processor's answer holds invalid series; they are dropped");
                    p.count_error(ProcessorErrorKind::Invalid);
                }
                invalid_before = Some(after);
                families = out;
            }
            Err(e) => {
                p.count_error(e.kind());
                tracing::warn!(plugin = %opts.plugin, processor = %p.name(), error = %e,
                    on_error = ?p.on_error(), "a processor did not process a batch");
                families = keep?;
            }
        }
    }
    Some(families)
}

fn within_budget(families: Vec<Family>, max_series: usize) -> Result<Vec<Family>, ProcessError> {
    let series: usize = families.iter().map(|f| f.samples.len()).sum();
    if series > max_series {
        return Err(ProcessError::Invalid(format!(
            "{series} series in the answer, over max_series {max_series}"
        )));
    }
    Ok(families)
}
