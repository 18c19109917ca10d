//! Run-time tuning of the two routing knobs from what committed blocks measured.
//!
//! - **The model's pair threshold**, from wasted work. Over each window of parallel blocks the
//!   tuner sums re-executed gas and all gas. Waste above `target_waste` lowers the threshold
//!   (more pairs kept together, fewer validation misses). Waste under half the target while
//!   the busiest pool carried most of the work raises it (routing kept too much together and
//!   collapsed parallelism). Otherwise it holds. Steps are multiplicative and bounded.
//! - **The small-block fallback** (the predicted speedup a block needs to run across pools),
//!   from achieved against predicted time. `accuracy` is an EWMA of predicted parallel time ÷
//!   measured wall time on parallel blocks; a block predicted at exactly the fallback
//!   threshold should still gain `required_gain`, so the threshold is `required_gain ÷
//!   accuracy`, within bounds. Waste is inside the wall time, so high waste raises it too.
//!
//! Both act on the next block only; neither can change a result, only which path runs.

use prometheus::{Gauge, IntCounterVec, Opts, Registry};
use serde::Deserialize;
use switchyard_executors::cost::Ewma;

/// `[tuning]` as written in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TuningConfig {
    /// Whether the knobs move at all; off, the model's threshold and the default fallback stay.
    pub enabled: bool,
    /// Re-executed gas, as a share of all gas, that the threshold is tuned to stay under.
    pub target_waste: f64,
    /// Parallel blocks per threshold decision.
    pub window_blocks: u32,
    /// Relative threshold change per decision.
    pub threshold_step: f64,
    /// Lowest threshold the tuner may set.
    pub threshold_min: f64,
    /// Highest threshold the tuner may set.
    pub threshold_max: f64,
    /// Speedup a block predicted at the fallback threshold should still achieve.
    pub required_gain: f64,
    /// Lowest fallback threshold the tuner may set.
    pub min_speedup_floor: f64,
    /// Highest fallback threshold the tuner may set.
    pub min_speedup_ceiling: f64,
}

impl Default for TuningConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            target_waste: 0.05,
            window_blocks: 8,
            threshold_step: 0.2,
            threshold_min: 0.02,
            threshold_max: 0.98,
            required_gain: 1.1,
            min_speedup_floor: 1.05,
            min_speedup_ceiling: 3.0,
        }
    }
}

impl TuningConfig {
    /// Checks the ranges; the error names the key.
    pub fn check(&self) -> Result<TuningConfig, String> {
        let unit = |key: &str, v: f64| {
            if (0.0..=1.0).contains(&v) && v.is_finite() {
                Ok(())
            } else {
                Err(format!("tuning.{key} = {v} must be between 0 and 1"))
            }
        };
        unit("target_waste", self.target_waste)?;
        unit("threshold_min", self.threshold_min)?;
        unit("threshold_max", self.threshold_max)?;
        if self.threshold_min > self.threshold_max {
            return Err(format!(
                "tuning.threshold_min = {} exceeds tuning.threshold_max = {}",
                self.threshold_min, self.threshold_max
            ));
        }
        if !(self.threshold_step > 0.0 && self.threshold_step < 1.0) {
            return Err(format!(
                "tuning.threshold_step = {} must be between 0 and 1 (exclusive)",
                self.threshold_step
            ));
        }
        if self.window_blocks == 0 {
            return Err("tuning.window_blocks must be at least 1".into());
        }
        if !(self.required_gain >= 1.0 && self.required_gain.is_finite()) {
            return Err(format!(
                "tuning.required_gain = {} must be at least 1",
                self.required_gain
            ));
        }
        if !(1.0 <= self.min_speedup_floor
            && self.min_speedup_floor <= self.min_speedup_ceiling
            && self.min_speedup_ceiling.is_finite())
        {
            return Err(format!(
                "tuning.min_speedup_floor = {} and tuning.min_speedup_ceiling = {} must satisfy \
                 1 <= floor <= ceiling",
                self.min_speedup_floor, self.min_speedup_ceiling
            ));
        }
        Ok(self.clone())
    }
}

/// What one committed block tells the tuner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockMeasure {
    /// Whether it ran across pools (fallback blocks waste nothing and predict nothing).
    pub parallel: bool,
    /// Gas used by the block.
    pub gas_used: u64,
    /// Gas of the transactions re-executed at commit.
    pub reexecuted_gas: u64,
    /// The cost model's predicted parallel time, in nanoseconds.
    pub predicted_nanos: Option<f64>,
    /// Measured wall time, in nanoseconds.
    pub wall_nanos: u64,
    /// Share of the block's estimated cost routed to its busiest pool.
    pub busiest_share: f64,
    /// Pools available.
    pub pools: usize,
}

/// A change the tuner decided, to apply before the next block.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Adjustment {
    /// The new model threshold, when it moved.
    pub threshold: Option<f64>,
    /// The new fallback threshold, when it moved.
    pub min_speedup: Option<f64>,
}

/// The tuner's state: the current window and the prediction accuracy.
#[derive(Debug, Clone)]
pub struct Tuner {
    config: TuningConfig,
    window: Window,
    accuracy: Ewma,
    /// Waste share of the last complete window.
    last_waste: Option<f64>,
    /// The router slot's generation the window belongs to.
    router_generation: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    blocks: u32,
    gas: u64,
    reexecuted_gas: u64,
    busiest_share: f64,
    parallel_share: f64,
}

impl Tuner {
    /// A tuner with checked `config`.
    pub fn new(config: TuningConfig) -> Self {
        Self {
            config,
            window: Window::default(),
            accuracy: Ewma::new(0.2),
            last_waste: None,
            router_generation: 0,
        }
    }

    /// Follows the router slot: a new router (a reloaded model, with its own threshold)
    /// starts a new window, so it is not judged by its predecessor's waste.
    pub fn follow_router(&mut self, generation: u64) {
        if generation != self.router_generation {
            self.router_generation = generation;
            self.window = Window::default();
        }
    }

    /// Waste share of the last complete window.
    pub fn waste(&self) -> Option<f64> {
        self.last_waste
    }

    /// Predicted ÷ measured parallel time (EWMA); below 1, blocks run slower than predicted.
    pub fn accuracy(&self) -> Option<f64> {
        self.accuracy.get()
    }

    /// Folds in one block; `threshold` is the model threshold in service (if any) and
    /// `min_speedup` the fallback threshold in service.
    pub fn observe(
        &mut self,
        block: &BlockMeasure,
        threshold: Option<f64>,
        min_speedup: f64,
    ) -> Adjustment {
        let mut adjustment = Adjustment::default();
        if !self.config.enabled || !block.parallel {
            return adjustment;
        }
        if let Some(predicted) = block.predicted_nanos
            && block.wall_nanos > 0
        {
            self.accuracy.observe(predicted / block.wall_nanos as f64);
        }
        let w = &mut self.window;
        w.blocks += 1;
        w.gas += block.gas_used;
        w.reexecuted_gas += block.reexecuted_gas;
        w.busiest_share += block.busiest_share;
        w.parallel_share += 1.0 / block.pools.max(1) as f64;
        if w.blocks < self.config.window_blocks {
            return adjustment;
        }
        let window = std::mem::take(w);
        let waste = window.reexecuted_gas as f64 / window.gas.max(1) as f64;
        self.last_waste = Some(waste);
        let c = &self.config;

        if let Some(t) = threshold {
            // "Collapsed": the busiest pool carried at least half again its even share.
            let even = window.parallel_share / f64::from(window.blocks);
            let busiest = window.busiest_share / f64::from(window.blocks);
            let next = if waste > c.target_waste {
                t * (1.0 - c.threshold_step)
            } else if waste < c.target_waste / 2.0 && busiest > 1.5 * even {
                t * (1.0 + c.threshold_step)
            } else {
                t
            };
            let next = next.clamp(c.threshold_min, c.threshold_max);
            if (next - t).abs() > f64::EPSILON {
                adjustment.threshold = Some(next);
            }
        }
        if let Some(accuracy) = self.accuracy.get().filter(|a| *a > 0.0) {
            let next =
                (c.required_gain / accuracy).clamp(c.min_speedup_floor, c.min_speedup_ceiling);
            // A dead band, so noise does not move the knob every window.
            if (next - min_speedup).abs() > 0.02 {
                adjustment.min_speedup = Some(next);
            }
        }
        adjustment
    }
}

/// The tuner's own metrics (the knobs themselves are `switchyard_model_threshold` and
/// `switchyard_fallback_min_speedup`).
#[derive(Debug, Clone)]
pub struct TuningMetrics {
    /// `switchyard_tuning_waste_ratio`
    pub waste: Gauge,
    /// `switchyard_tuning_prediction_accuracy`
    pub accuracy: Gauge,
    /// `switchyard_tuning_adjustments_total{knob,direction}`
    pub adjustments: IntCounterVec,
}

impl TuningMetrics {
    /// Registers the tuner's metrics in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let waste = Gauge::new(
            "switchyard_tuning_waste_ratio",
            "Re-executed gas as a share of all gas over the tuner's last window of parallel blocks.",
        )?;
        let accuracy = Gauge::new(
            "switchyard_tuning_prediction_accuracy",
            "Predicted parallel time divided by measured wall time (EWMA over parallel blocks).",
        )?;
        let adjustments = IntCounterVec::new(
            Opts::new(
                "switchyard_tuning_adjustments_total",
                "Changes the tuner made to a routing knob.",
            ),
            &["knob", "direction"],
        )?;
        registry.register(Box::new(waste.clone()))?;
        registry.register(Box::new(accuracy.clone()))?;
        registry.register(Box::new(adjustments.clone()))?;
        for knob in ["threshold", "min_speedup"] {
            for direction in ["up", "down"] {
                adjustments.with_label_values(&[knob, direction]);
            }
        }
        waste.set(f64::NAN);
        accuracy.set(f64::NAN);
        Ok(Self {
            waste,
            accuracy,
            adjustments,
        })
    }

    /// Mirrors the tuner and counts `adjustment` (from `threshold` and `min_speedup` before it).
    pub fn record(
        &self,
        tuner: &Tuner,
        adjustment: &Adjustment,
        threshold: Option<f64>,
        min_speedup: f64,
    ) {
        if let Some(waste) = tuner.waste() {
            self.waste.set(waste);
        }
        if let Some(accuracy) = tuner.accuracy() {
            self.accuracy.set(accuracy);
        }
        let direction = |from: f64, to: f64| if to > from { "up" } else { "down" };
        if let (Some(from), Some(to)) = (threshold, adjustment.threshold) {
            self.adjustments
                .with_label_values(&["threshold", direction(from, to)])
                .inc();
        }
        if let Some(to) = adjustment.min_speedup {
            self.adjustments
                .with_label_values(&["min_speedup", direction(min_speedup, to)])
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(gas: u64, wasted: u64, busiest_share: f64) -> BlockMeasure {
        BlockMeasure {
            parallel: true,
            gas_used: gas,
            reexecuted_gas: wasted,
            predicted_nanos: Some(1_000.0),
            wall_nanos: 1_000,
            busiest_share,
            pools: 2,
        }
    }

    fn tuner() -> Tuner {
        Tuner::new(TuningConfig {
            window_blocks: 4,
            ..TuningConfig::default()
        })
    }

    /// Feeds one window of identical blocks; returns the last adjustment.
    fn window(t: &mut Tuner, b: BlockMeasure, threshold: Option<f64>) -> Adjustment {
        let mut last = Adjustment::default();
        for _ in 0..4 {
            last = t.observe(&b, threshold, 1.1);
        }
        last
    }

    #[test]
    fn high_waste_lowers_the_threshold_only_at_window_end() {
        let mut t = tuner();
        let wasteful = block(1_000_000, 200_000, 0.5);
        for _ in 0..3 {
            assert_eq!(t.observe(&wasteful, Some(0.5), 1.1).threshold, None);
        }
        let a = t.observe(&wasteful, Some(0.5), 1.1);
        assert!((a.threshold.unwrap() - 0.4).abs() < 1e-9, "{a:?}");
        assert!((t.waste().unwrap() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn low_waste_with_collapsed_parallelism_raises_it() {
        let mut t = tuner();
        let a = window(&mut t, block(1_000_000, 0, 0.9), Some(0.5));
        assert!((a.threshold.unwrap() - 0.6).abs() < 1e-9, "{a:?}");
    }

    #[test]
    fn low_waste_and_balanced_pools_hold_it() {
        let mut t = tuner();
        let a = window(&mut t, block(1_000_000, 0, 0.55), Some(0.5));
        assert_eq!(a.threshold, None);
        // Waste between half the target and the target also holds.
        let a = window(&mut t, block(1_000_000, 40_000, 0.9), Some(0.5));
        assert_eq!(a.threshold, None);
    }

    #[test]
    fn threshold_stays_within_bounds() {
        let mut t = tuner();
        let wasteful = block(1_000_000, 500_000, 0.5);
        let mut threshold = 0.05;
        for _ in 0..10 {
            if let Some(next) = window(&mut t, wasteful, Some(threshold)).threshold {
                threshold = next;
            }
        }
        assert_eq!(threshold, 0.02);
        assert_eq!(window(&mut t, wasteful, Some(threshold)).threshold, None);
    }

    #[test]
    fn slow_blocks_raise_the_fallback_and_fast_ones_lower_it() {
        let mut t = tuner();
        let mut slow = block(1_000_000, 0, 0.5);
        slow.wall_nanos = 2_000; // twice the predicted time
        let a = window(&mut t, slow, None);
        assert!(a.min_speedup.unwrap() > 2.0, "{a:?}");
        assert_eq!(a.threshold, None, "no model, no threshold");

        let mut t = tuner();
        let mut fast = block(1_000_000, 0, 0.5);
        fast.wall_nanos = 500;
        let a = window(&mut t, fast, None);
        assert_eq!(a.min_speedup, Some(1.05), "floor");
    }

    #[test]
    fn fallback_blocks_and_disabled_tuning_change_nothing() {
        let mut t = tuner();
        let mut sequential = block(1_000_000, 900_000, 1.0);
        sequential.parallel = false;
        assert_eq!(window(&mut t, sequential, Some(0.5)), Adjustment::default());
        assert_eq!(t.waste(), None);

        let mut off = Tuner::new(TuningConfig {
            enabled: false,
            window_blocks: 4,
            ..TuningConfig::default()
        });
        let a = window(&mut off, block(1_000_000, 900_000, 0.5), Some(0.5));
        assert_eq!(a, Adjustment::default());
    }

    #[test]
    fn a_new_router_starts_a_new_window() {
        let mut t = tuner();
        let wasteful = block(1_000_000, 500_000, 0.5);
        for _ in 0..3 {
            t.observe(&wasteful, Some(0.5), 1.1);
        }
        t.follow_router(1);
        for _ in 0..3 {
            assert_eq!(t.observe(&wasteful, Some(0.5), 1.1).threshold, None);
        }
        assert!(t.observe(&wasteful, Some(0.5), 1.1).threshold.is_some());
    }

    #[test]
    fn config_ranges_are_checked() {
        assert!(TuningConfig::default().check().is_ok());
        let bad = [
            TuningConfig {
                target_waste: 1.5,
                ..TuningConfig::default()
            },
            TuningConfig {
                threshold_min: 0.9,
                threshold_max: 0.1,
                ..TuningConfig::default()
            },
            TuningConfig {
                window_blocks: 0,
                ..TuningConfig::default()
            },
            TuningConfig {
                min_speedup_floor: 0.5,
                ..TuningConfig::default()
            },
        ];
        for config in bad {
            let err = config.check().unwrap_err();
            assert!(err.starts_with("tuning."), "{err}");
        }
    }
}
