//! A destination's queue: one FIFO per shard, a series always in the same shard (by a hash of
//! its labels) so its samples leave in order. A shard over `capacity` drops its oldest sample
//! (counted). Resharding happens between sends: when no shard is sending, every queued sample
//! is dealt to the new shards in order, which keeps each series' order.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::time::Instant;

/// One queued sample: its series' encoded labels (shared by the samples of a collect), value
/// and timestamp.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `TimeSeries.labels`, encoded.
    pub labels: Arc<[u8]>,
    /// Hash of the labels, to pick the shard.
    pub hash: u64,
    /// Value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// The hash that picks a series' shard.
fn shard_hash(labels: &[u8]) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(labels)
}

impl Entry {
    /// An entry for encoded `labels`.
    pub fn new(labels: Arc<[u8]>, value: f64, timestamp: i64) -> Entry {
        let hash = shard_hash(&labels);
        Entry {
            labels,
            hash,
            value,
            timestamp,
        }
    }
}

/// Each series' encoded labels, shared by all its queued samples: a collect looks up the
/// labels of the one before, so a series waiting many collects is stored once.
#[derive(Debug, Default)]
pub struct LabelsCache {
    previous: HashMap<Arc<[u8]>, u64>,
    current: HashMap<Arc<[u8]>, u64>,
    buf: Vec<u8>,
}

impl LabelsCache {
    /// The shared encoding of `labels` and its shard hash, as an entry of `value` at
    /// `timestamp`.
    pub fn entry<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        labels: &[(N, V)],
        value: f64,
        timestamp: i64,
    ) -> Entry {
        self.buf.clear();
        super::proto::encode_labels_into(labels, &mut self.buf);
        let (labels, hash) = match self.current.get_key_value(&self.buf[..]) {
            Some((a, h)) => (a.clone(), *h),
            None => {
                let (a, h) = match self.previous.get_key_value(&self.buf[..]) {
                    Some((a, h)) => (a.clone(), *h),
                    None => {
                        let a: Arc<[u8]> = Arc::from(&self.buf[..]);
                        let h = shard_hash(&a);
                        (a, h)
                    }
                };
                self.current.insert(a.clone(), h);
                (a, h)
            }
        };
        Entry {
            labels,
            hash,
            value,
            timestamp,
        }
    }

    /// Ends a collect: the series it saw are the ones the next looks up.
    pub fn rotate(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }
}

/// The shards' queues and what each is doing.
#[derive(Debug)]
pub struct Shards {
    queues: Vec<VecDeque<Entry>>,
    /// When each queue's oldest entry came.
    since: Vec<Option<Instant>>,
    busy: Vec<bool>,
    capacity: usize,
}

impl Shards {
    /// `n` empty shards of `capacity` samples each.
    pub fn new(n: usize, capacity: usize) -> Shards {
        Shards {
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            since: vec![None; n],
            busy: vec![false; n],
            capacity,
        }
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// True when there are no shards.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Samples waiting.
    pub fn pending(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Queues `e`; returns how many old samples were dropped to make room (0 or 1).
    pub fn push(&mut self, e: Entry, now: Instant) -> u64 {
        let i = (e.hash % self.queues.len() as u64) as usize;
        let q = &mut self.queues[i];
        let mut dropped = 0;
        if q.len() >= self.capacity {
            q.pop_front();
            dropped = 1;
        }
        q.push_back(e);
        self.since[i].get_or_insert(now);
        dropped
    }

    /// Whether shard `i` should send now: a full request's worth, or its oldest sample has
    /// waited `deadline`. `None` when it has nothing; else how long until it should.
    pub fn due(
        &self,
        i: usize,
        max: usize,
        deadline: std::time::Duration,
        now: Instant,
    ) -> Option<std::time::Duration> {
        let q = self.queues.get(i)?;
        if q.is_empty() || self.busy[i] {
            return None;
        }
        if q.len() >= max {
            return Some(std::time::Duration::ZERO);
        }
        let waited = self.since[i].map_or(std::time::Duration::ZERO, |t| now - t);
        Some(deadline.saturating_sub(waited))
    }

    /// Takes up to `max` samples from shard `i`, oldest first, and marks it sending.
    pub fn take(&mut self, i: usize, max: usize, now: Instant) -> Vec<Entry> {
        let q = &mut self.queues[i];
        let n = q.len().min(max);
        let batch: Vec<Entry> = q.drain(..n).collect();
        self.since[i] = (!q.is_empty()).then_some(now);
        self.busy[i] = true;
        batch
    }

    /// Shard `i` finished sending.
    pub fn done(&mut self, i: usize) {
        if let Some(b) = self.busy.get_mut(i) {
            *b = false;
        }
    }

    /// Deals every queued sample to `n` shards, in order; false (nothing changes) while a
    /// shard is sending.
    pub fn reshard(&mut self, n: usize, now: Instant) -> bool {
        if n == self.queues.len() || self.busy.iter().any(|b| *b) || n == 0 {
            return false;
        }
        let old = std::mem::replace(self, Shards::new(n, self.capacity));
        for q in old.queues {
            for e in q {
                self.push(e, now);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(series: u8, ts: i64) -> Entry {
        Entry::new(Arc::from(vec![series]), 0.0, ts)
    }

    #[test]
    fn a_full_shard_drops_its_oldest_and_resharding_keeps_each_series_in_order() {
        let now = Instant::now();
        let mut s = Shards::new(1, 3);
        for ts in 0..4 {
            assert_eq!(s.push(entry(1, ts), now), u64::from(ts == 3));
        }
        for ts in 0..3 {
            s.push(entry(2, ts), now);
        }
        assert_eq!(s.pending(), 3, "capacity is per shard");
        let mut s = Shards::new(1, 100);
        for ts in 0..10 {
            s.push(entry(ts as u8 % 3, ts), now);
        }
        assert!(s.reshard(4, now));
        let mut seen: std::collections::HashMap<u8, i64> = Default::default();
        for i in 0..s.len() {
            for e in s.take(i, 100, now) {
                let last = seen.insert(e.labels[0], e.timestamp);
                assert!(last.is_none_or(|l| l < e.timestamp), "series out of order");
            }
        }
        assert_eq!(seen.len(), 3);
        assert!(!s.reshard(2, now), "no resharding while a shard sends");
    }
}
