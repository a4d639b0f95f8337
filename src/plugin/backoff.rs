//! Restart delays: exponential backoff with jitter, never giving up, back to fast restarts
//! after a healthy run.

use rand::Rng;
use std::time::Duration;

/// Backoff state of one plugin.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    healthy_after: Duration,
    /// The next delay's upper bound.
    current: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling to 1 min, reset after a minute of healthy running.
    fn default() -> Self {
        Backoff::new(
            Duration::from_millis(100),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
    }
}

impl Backoff {
    /// Delays start at `initial`, double up to `max`, and reset once an instance has run for
    /// `healthy_after`.
    pub fn new(initial: Duration, max: Duration, healthy_after: Duration) -> Self {
        Backoff {
            initial,
            max,
            healthy_after,
            current: initial,
        }
    }

    /// The delay before the next start, given how long the last instance ran. "Equal jitter":
    /// a delay in `[bound/2, bound]`, so delays keep growing (one two steps later is always
    /// at least the current one) while plugins that fail together do not restart in lockstep.
    pub fn next_delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.healthy_after {
            self.current = self.initial;
        }
        let bound = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = bound / 2;
        let jitter = rand::rng().random_range(0..=half.as_micros() as u64);
        half + Duration::from_micros(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_cap() {
        let mut b = Backoff::default();
        let mut bound = Duration::from_millis(100);
        for _ in 0..15 {
            let d = b.next_delay(Duration::ZERO);
            assert!(
                d >= bound / 2 && d <= bound,
                "{d:?} outside [{:?}, {bound:?}]",
                bound / 2
            );
            bound = (bound * 2).min(Duration::from_secs(60));
        }
    }

    #[test]
    fn a_healthy_run_resets_the_delay() {
        let mut b = Backoff::default();
        for _ in 0..10 {
            b.next_delay(Duration::ZERO);
        }
        let d = b.next_delay(Duration::from_secs(61));
        assert!(d <= Duration::from_millis(100), "{d:?}");
    }
}
