//! Choosing a pool: power of two choices over each pool's load, among the pools that take work.
//!
//! As in tower's `balance::p2c` and linkerd2-proxy: draw two distinct candidates at random and
//! take the less loaded. It avoids both herding onto the single least-loaded pool (whose load
//! figure is always a little stale) and the cost of ranking every pool. Loads come from
//! [`PoolStatus::load`], which remote pools back with tower's PeakEWMA.

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
}
