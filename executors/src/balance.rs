//! Choosing a pool: power of two choices over each pool's load, among the pools that take work.
//!
//! As in tower's `balance::p2c` and linkerd2-proxy: draw two distinct candidates at random and
//! take the less loaded. It avoids both herding onto the single least-loaded pool (whose load
//! figure is always a little stale) and the cost of ranking every pool. Loads come from
//! [`PoolStatus::load`], which pools back with a [`LoadEstimate`]: PeakEWMA latency times
//! pending batches, the estimate of tower's `load::PeakEwma` and linkerd2-proxy.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// What the dispatcher needs to know about a pool besides its `Service`.
pub trait PoolStatus {
    /// `false` while the pool is known down (its circuit is open): it leaves the balancer, and
    /// its share of a block goes to the others.
    fn available(&self) -> bool {
        true
    }

    /// Estimated pending work; lower is better. Only compared between pools.
    fn load(&self) -> f64;

    /// Batches the pool runs at once.
    fn slots(&self) -> usize {
        1
    }
}

/// A pool's load: the Peak-EWMA of its batch latency times its pending batches plus one.
///
/// This is tower's `load::PeakEwma` (after Finagle) with the estimate readable, for metrics:
/// a latency above the estimate replaces it at once (the peak), one below is blended in with
/// weight `1 - exp(-elapsed / decay)`, and reading decays the estimate toward zero the same
/// way, so a pool that was slow once is tried again. Until measured, the default RTT stands.
#[derive(Debug)]
pub struct LoadEstimate {
    decay_ns: f64,
    rtt: Mutex<(f64, Instant)>,
    pending: Arc<AtomicUsize>,
}

impl LoadEstimate {
    /// An estimate starting at `default_rtt`, decaying over `decay` (linkerd2-proxy: 30 ms and
    /// 10 s).
    pub fn new(default_rtt: Duration, decay: Duration) -> Self {
        Self {
            decay_ns: (decay.as_nanos() as f64).max(1.0),
            rtt: Mutex::new((default_rtt.as_nanos() as f64, Instant::now())),
            pending: Arc::default(),
        }
    }

    /// Counts a batch as pending until the returned guard is dropped, when its latency is
    /// recorded (a failure or timeout counts too: a slow pool should look slow).
    pub fn start(self: &Arc<Self>) -> Pending {
        self.pending.fetch_add(1, Ordering::Relaxed);
        Pending {
            estimate: self.clone(),
            sent: Instant::now(),
        }
    }

    fn update(&self, sample_ns: f64, now: Instant) -> f64 {
        let mut guard = self.rtt.lock().unwrap_or_else(|e| e.into_inner());
        let (rtt, at) = &mut *guard;
        if *rtt < sample_ns {
            *rtt = sample_ns;
        } else {
            let elapsed = now.saturating_duration_since(*at).as_nanos() as f64;
            let decay = (-elapsed / self.decay_ns).exp();
            *rtt = *rtt * decay + sample_ns * (1.0 - decay);
        }
        *at = now;
        *rtt
    }

    /// The latency estimate now.
    pub fn rtt(&self) -> Duration {
        Duration::from_nanos(self.update(0.0, Instant::now()) as u64)
    }

    /// Batches sent and not answered.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The load: estimate × (pending + 1), in nanoseconds.
    pub fn cost(&self) -> f64 {
        self.update(0.0, Instant::now()) * (self.pending() + 1) as f64
    }
}

/// A batch in flight on a pool with a [`LoadEstimate`].
#[derive(Debug)]
pub struct Pending {
    estimate: Arc<LoadEstimate>,
    sent: Instant,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let now = Instant::now();
        let sample = now.saturating_duration_since(self.sent).as_nanos() as f64;
        self.estimate.update(sample, now);
        self.estimate.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A small xorshift generator: the choice needs to be cheap and spread, not unpredictable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}

/// Picks one of `candidates` by power of two choices over `load`; `None` when empty.
pub fn p2c(candidates: &[usize], load: impl Fn(usize) -> f64, rng: &mut Rng) -> Option<usize> {
    match candidates.len() {
        0 => None,
        1 => Some(candidates[0]),
        n => {
            let a = rng.below(n);
            let b = (a + 1 + rng.below(n - 1)) % n;
            let (a, b) = (candidates[a], candidates[b]);
            Some(if load(b) < load(a) { b } else { a })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_choices_never_pick_the_most_loaded_and_spread_over_equals() {
        let mut rng = Rng::new(7);
        let loads = [5.0, 1.0, 9.0];
        let mut picked = [0usize; 3];
        for _ in 0..3000 {
            picked[p2c(&[0, 1, 2], |i| loads[i], &mut rng).unwrap()] += 1;
        }
        assert_eq!(
            picked[2], 0,
            "the most loaded of three loses every draw it is in"
        );
        assert!(picked[1] > picked[0], "{picked:?}");
        let mut even = [0usize; 4];
        for _ in 0..4000 {
            even[p2c(&[0, 1, 2, 3], |_| 1.0, &mut rng).unwrap()] += 1;
        }
        assert!(even.iter().all(|n| *n > 600), "{even:?}");
        assert_eq!(p2c(&[], |_| 0.0, &mut rng), None);
        assert_eq!(p2c(&[4], |_| 0.0, &mut rng), Some(4));
    }

    #[test]
    fn peak_ewma_jumps_to_peaks_decays_after_and_counts_pending() {
        let estimate = Arc::new(LoadEstimate::new(
            Duration::from_millis(30),
            Duration::from_secs(10),
        ));
        let t0 = Instant::now();
        let start = estimate.update(0.0, t0);
        assert!(
            (start - 30e6).abs() < 1e3,
            "no time passed: the default stands ({start})"
        );
        assert_eq!(
            estimate.update(500e6, t0),
            500e6,
            "a peak replaces the estimate"
        );
        // Ten seconds (one decay) later a 0 ms sample keeps e^-1 of the estimate.
        let later = estimate.update(0.0, t0 + Duration::from_secs(10));
        assert!((later - 500e6 / std::f64::consts::E).abs() < 1.0, "{later}");
        let before = estimate.cost();
        let pending = estimate.start();
        assert_eq!(estimate.pending(), 1);
        assert!(
            estimate.cost() > 1.9 * before,
            "a pending batch doubles the cost"
        );
        drop(pending);
        assert_eq!(estimate.pending(), 0);
    }
}
