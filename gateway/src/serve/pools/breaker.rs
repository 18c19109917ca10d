//! A consecutive-failure circuit breaker with backoff probes, one per remote pool.
//!
//! Closed, it lets every call through and counts consecutive failures; at the threshold it
//! opens and the pool leaves the balancer. Once the backoff has passed it is half open: the
//! next health check (or call) is the probe. A successful probe closes it; a failed one opens
//! it again with twice the backoff, up to a maximum.

use std::time::{Duration, Instant};

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    /// Calls go through.
    Closed,
    /// The backoff has passed: one probe may go through.
    HalfOpen,
    /// No calls until the backoff has passed.
    Open,
}

impl Circuit {
    /// The value of `switchyard_pool_circuit_state`: 0 closed, 1 half open, 2 open.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// The breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    first_backoff: Duration,
    max_backoff: Duration,
    failures: u32,
    open: Option<(Instant, Duration)>,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures; probes after `backoff`, doubling up to
    /// `max_backoff`.
    pub fn new(threshold: u32, backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            first_backoff: backoff,
            max_backoff,
            failures: 0,
            open: None,
        }
    }

    /// The state at `now`.
    pub fn circuit(&self, now: Instant) -> Circuit {
        match self.open {
            None => Circuit::Closed,
            Some((since, backoff)) if now >= since + backoff => Circuit::HalfOpen,
            Some(_) => Circuit::Open,
        }
    }

    /// Records a success: the circuit closes.
    pub fn success(&mut self) {
        self.failures = 0;
        self.open = None;
    }

    /// Records a failure at `now`: counts toward opening, or re-opens with a longer backoff
    /// after a failed probe.
    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.open = match self.open {
            Some((_, backoff)) => Some((now, (backoff * 2).min(self.max_backoff))),
            None if self.failures >= self.threshold => Some((now, self.first_backoff)),
            None => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_probes_with_growing_backoff() {
        let second = Duration::from_secs(1);
        let mut breaker = Breaker::new(3, second, 3 * second);
        let t = Instant::now();
        breaker.failure(t);
        breaker.failure(t);
        breaker.success();
        breaker.failure(t);
        breaker.failure(t);
        assert_eq!(
            breaker.circuit(t),
            Circuit::Closed,
            "a success resets the count"
        );
        breaker.failure(t);
        assert_eq!(breaker.circuit(t), Circuit::Open);
        assert_eq!(breaker.circuit(t + second), Circuit::HalfOpen);
        // The probe fails: open again for twice as long.
        breaker.failure(t + second);
        assert_eq!(breaker.circuit(t + 2 * second), Circuit::Open);
        assert_eq!(breaker.circuit(t + 3 * second), Circuit::HalfOpen);
        // Backoff is capped.
        breaker.failure(t + 3 * second);
        breaker.failure(t + 6 * second);
        assert_eq!(breaker.circuit(t + 8 * second), Circuit::Open);
        assert_eq!(breaker.circuit(t + 9 * second), Circuit::HalfOpen);
        breaker.success();
        assert_eq!(breaker.circuit(t + 9 * second), Circuit::Closed);
    }
}
