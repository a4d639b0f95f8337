//! The collect in flight: matching answers to collects, and completing a collect (metrics,
//! served cache, every waiting scrape).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::shared::{CollectError, CollectResult, FamilyInfo, Shared};
use crate::config::Mode;
use crate::exposition::batch::Batch;

/// The collect currently waiting for an answer. Concurrent scrapes join it (single flight).
pub struct Live {
    /// Its id (0 for a command run per collect).
    pub id: u64,
    /// When it was asked.
    pub started: Instant,
    /// When it fails.
    pub deadline: Instant,
    /// Scrapes waiting for it.
    pub waiters: Vec<oneshot::Sender<CollectResult>>,
}

impl Live {
    /// A collect asked now, failing after `deadline`.
    pub fn new(id: u64, deadline: Duration, reply: Option<oneshot::Sender<CollectResult>>) -> Self {
        let now = Instant::now();
        Live {
            id,
            started: now,
            deadline: now + deadline,
            waiters: reply.into_iter().collect(),
        }
    }
}

/// What an answer (`metrics` or `error`) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The live collect.
    Live,
    /// A collect that is still open but past its deadline (counted as `late`).
    Late(u64),
    /// An id no open collect has (counted as `late`: most likely a collect long gone).
    Unknown,
    /// Nothing: no collect is open (only push-mode plugins may do that).
    Unsolicited,
}

/// Matches an answer to an open collect: by id, or without one to the oldest open collect.
/// An answer also settles every older open collect: the plugin has moved past them.
pub fn match_answer(id: Option<u64>, open: &mut VecDeque<u64>, live: Option<u64>) -> Answer {
    let pos = match id {
        Some(id) => open.iter().position(|&o| o == id),
        None if open.is_empty() => return Answer::Unsolicited,
        None => Some(0),
    };
    let Some(pos) = pos else {
        return Answer::Unknown;
    };
    let answered = open[pos];
    open.drain(..=pos);
    if live == Some(answered) {
        Answer::Live
    } else {
        Answer::Late(answered)
    }
}

/// Records a successful collect (or push) in the metrics and status.
pub fn record_success(shared: &Shared, batch: &Batch, took: Duration) {
    let m = &shared.metrics;
    let name = shared.name.as_str();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    m.up.with_label_values(&[name]).set(1.0);
    m.last_success.with_label_values(&[name]).set(now);
    m.series.with_label_values(&[name]).set(batch.series as f64);
    if batch.relabel_dropped > 0 {
        m.relabel_dropped
            .with_label_values(&[name])
            .inc_by(batch.relabel_dropped);
    }
    if !took.is_zero() {
        m.collect_duration
            .with_label_values(&[name])
            .set(took.as_secs_f64());
    }
    let families = batch
        .families
        .iter()
        .map(|f| FamilyInfo {
            name: f.name.clone(),
            kind: f.kind,
            help: f.help.clone(),
            unit: f.unit.clone(),
            series: f.series,
        })
        .collect();
    let mut st = shared.outcome();
    st.up = true;
    st.series = batch.series;
    st.last_success_timestamp = Some(now);
    st.families = families;
}

/// Completes the live collect: metrics, cache, and every waiting scrape.
pub fn finish(shared: &Shared, live: Option<Live>, result: CollectResult) {
    let Some(live) = live else { return };
    let took = live.started.elapsed();
    match &result {
        Ok(batch) => {
            record_success(shared, batch, took);
            if shared.mode == Mode::Interval {
                shared.set_cached(Some(batch.clone()));
            }
        }
        Err(_) => {
            let name = shared.name.as_str();
            shared.metrics.up.with_label_values(&[name]).set(0.0);
            shared
                .metrics
                .collect_duration
                .with_label_values(&[name])
                .set(took.as_secs_f64());
            shared.outcome().up = false;
            if shared.mode == Mode::Interval {
                shared.set_cached(None);
            }
        }
    }
    for w in live.waiters {
        let _ = w.send(result.clone());
    }
}

/// Fails the live collect, if any, with `error`.
pub fn fail(shared: &Shared, live: Option<Live>, error: CollectError) {
    finish(shared, live, Err(error));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_answers_settle_abandoned_collects_first() {
        let mut open: VecDeque<u64> = [1, 2, 3].into();
        assert_eq!(match_answer(None, &mut open, Some(3)), Answer::Late(1));
        assert_eq!(match_answer(None, &mut open, Some(3)), Answer::Late(2));
        assert_eq!(match_answer(None, &mut open, Some(3)), Answer::Live);
        assert_eq!(match_answer(None, &mut open, None), Answer::Unsolicited);
    }

    #[test]
    fn an_answer_by_id_settles_older_collects() {
        let mut open: VecDeque<u64> = [4, 5, 6].into();
        assert_eq!(match_answer(Some(6), &mut open, Some(6)), Answer::Live);
        assert!(open.is_empty());
        assert_eq!(match_answer(Some(4), &mut open, None), Answer::Unknown);
    }
}
