//! Learned costs: each transaction's execution time predicted from its envelope (gas limit,
//! calldata size, value, creation) and from whether a payment runs its target's code, fitted
//! on the traffic logs' measured times by linfa's least squares on the logarithm of the time.
//!
//! Packing balances pools by cost, and the executor's estimate is the gas limit, which says
//! little of time: on the shared mainnet blocks a transaction's time follows its calldata size
//! far more than its gas limit (a proof verification with 80 KB of calldata takes 45% of block
//! 18426253's time and 11% of its estimated cost). The predictor's costs keep the estimates' total
//! ([`share_in_proportion`]), so the executor's rates and its fallback decisions stay in the
//! same units; only the split between transactions changes. A cost only moves work between
//! pools: it never changes a result.

use crate::{
    error::{Error, Result},
    traffic::{BlockRecord, TxRecord},
};
use linfa::{Dataset, traits::Fit};
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use switchyard_executors::{
    Block, BlockTx,
    cost::{pays_code, pays_code_of, presumed_cost_of},
    router::share_in_proportion,
};

/// The predictor's inputs, in the order of its weights.
pub const COST_FEATURES: [&str; N_COST_FEATURES] = [
    "ln_gas_limit",
    "ln_1p_calldata_bytes",
    "has_calldata",
    "moved_value",
    "creation",
    "pays_code",
];
/// How many inputs.
pub const N_COST_FEATURES: usize = 6;
/// How many inputs the predictors of version 2 model files have: the first ones of
/// [`COST_FEATURES`], without `pays_code`.
pub const N_COST_FEATURES_V2: usize = 5;
/// Fewest timed transactions a predictor is fitted on.
pub const MIN_COST_ROWS: usize = 50;

/// What the predictor reads of a transaction: all of it known before execution. The one fact
/// from the state, whether a payment runs code, is the executor's: its estimate looked it up
/// ([`pays_code`]), so the predictor makes no lookup of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostInput {
    /// Gas limit.
    pub gas_limit: u64,
    /// Calldata (or init code) length in bytes.
    pub calldata_bytes: u32,
    /// Whether it transfers a non-zero value.
    pub moved_value: bool,
    /// Whether it creates a contract.
    pub creation: bool,
    /// Whether it is a payment (no calldata) that runs its target's receive or fallback code:
    /// a deposit to an exchange's contract takes several times a transfer to an account.
    pub pays_code: bool,
}

impl CostInput {
    /// The input of a block transaction the executor estimated at `estimate`
    /// (`cost::estimated_cost`).
    pub fn of_tx(tx: &BlockTx, estimate: u64) -> Self {
        Self {
            gas_limit: tx.gas_limit(),
            calldata_bytes: u32::try_from(tx.input().len()).unwrap_or(u32::MAX),
            moved_value: !tx.value().is_zero(),
            creation: tx.to().is_none(),
            pays_code: pays_code(tx, estimate),
        }
    }

    /// The input of a logged transaction; `None` when the record has no calldata size.
    pub fn of_record(tx: &TxRecord) -> Option<Self> {
        let calldata_bytes = tx.calldata_bytes?;
        Some(Self {
            gas_limit: tx.gas_limit,
            calldata_bytes,
            moved_value: tx.moved_value,
            creation: tx.to.is_none(),
            pays_code: pays_code_of(
                tx.gas_limit,
                calldata_bytes > 0,
                tx.to.is_some(),
                tx.to_has_code,
            ),
        })
    }

    fn features(&self) -> [f64; N_COST_FEATURES] {
        let flag = |b: bool| f64::from(crate::features::flag(b));
        [
            (self.gas_limit.max(1) as f64).ln(),
            f64::from(self.calldata_bytes).ln_1p(),
            flag(self.calldata_bytes > 0),
            flag(self.moved_value),
            flag(self.creation),
            flag(self.pays_code),
        ]
    }

    /// The executor's estimate (`cost::estimated_cost`): the baseline the predictor is judged
    /// against. A payment that runs code is estimated at its gas limit, as the executor finds
    /// in the state.
    fn estimated_cost(&self) -> u64 {
        if self.pays_code {
            self.gas_limit
        } else {
            presumed_cost_of(self.gas_limit, self.calldata_bytes > 0, !self.creation)
        }
    }
}

/// A fitted predictor of ln(execution time in nanoseconds), as stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPredictor {
    /// The input names, in the order of `weights` ([`COST_FEATURES`]; checked on load).
    pub features: Vec<String>,
    /// The intercept.
    pub intercept: f64,
    /// One weight per input. An input that did not vary in training has weight 0.
    pub weights: Vec<f64>,
    /// Transactions fitted on.
    pub rows: u64,
    /// R² of ln(time) on them.
    pub r2: f64,
}

impl CostPredictor {
    /// Fits on `(input, measured nanoseconds)` rows; rows timed at 0 are left out.
    pub fn fit(rows: &[(CostInput, u64)]) -> Result<Self> {
        let rows: Vec<([f64; N_COST_FEATURES], f64)> = rows
            .iter()
            .filter(|(_, nanos)| *nanos > 0)
            .map(|(x, nanos)| (x.features(), (*nanos as f64).ln()))
            .collect();
        if rows.len() < MIN_COST_ROWS {
            return Err(Error::Training(format!(
                "{} timed transactions, the cost predictor needs at least {MIN_COST_ROWS}",
                rows.len()
            )));
        }
        // An input constant over the rows is collinear with the intercept (a block log with
        // no creation, say) and would make the least squares singular: it is left out, with
        // weight 0.
        let varies: Vec<usize> = (0..N_COST_FEATURES)
            .filter(|&k| rows.iter().any(|(x, _)| x[k] != rows[0].0[k]))
            .collect();
        let mut weights = vec![0.0; N_COST_FEATURES];
        let intercept = if varies.is_empty() {
            // Every transaction alike: the mean time is all there is to learn.
            rows.iter().map(|(_, y)| y).sum::<f64>() / rows.len() as f64
        } else {
            let records =
                Array2::from_shape_fn((rows.len(), varies.len()), |(i, k)| rows[i].0[varies[k]]);
            let targets = Array1::from_iter(rows.iter().map(|(_, y)| *y));
            let fitted = LinearRegression::new()
                .fit(&Dataset::new(records, targets))
                .map_err(|e| Error::Training(format!("cost predictor: {e}")))?;
            for (k, w) in varies.iter().zip(fitted.params()) {
                weights[*k] = *w;
            }
            fitted.intercept()
        };
        let mut predictor = Self {
            features: COST_FEATURES.iter().map(|s| (*s).to_owned()).collect(),
            intercept,
            weights,
            rows: rows.len() as u64,
            r2: 0.0,
        };
        predictor.check().map_err(Error::Training)?;
        let (predicted, measured): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .map(|(x, y)| (predictor.ln_nanos_of(x), *y))
            .unzip();
        predictor.r2 = r_squared(&predicted, &measured).unwrap_or(0.0);
        Ok(predictor)
    }

    /// The predictor of a version 2 model file in this build's terms: its inputs were the first
    /// [`N_COST_FEATURES_V2`] of [`COST_FEATURES`], and those added since get weight 0, so it
    /// predicts what it did. Any other predictor is returned as it is, for [`Self::check`].
    pub fn from_v2(mut self) -> Self {
        if self.features == COST_FEATURES[..N_COST_FEATURES_V2]
            && self.weights.len() == N_COST_FEATURES_V2
        {
            for name in &COST_FEATURES[N_COST_FEATURES_V2..] {
                self.features.push((*name).to_owned());
                self.weights.push(0.0);
            }
        }
        self
    }

    /// Rejects a predictor this build cannot use: other inputs, or weights that are not finite.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.features != COST_FEATURES {
            return Err(format!(
                "cost predictor inputs {:?}, expected {COST_FEATURES:?}",
                self.features
            ));
        }
        if self.weights.len() != N_COST_FEATURES
            || !self.intercept.is_finite()
            || self.weights.iter().any(|w| !w.is_finite())
        {
            return Err(format!(
                "cost predictor needs {N_COST_FEATURES} finite weights and a finite intercept"
            ));
        }
        Ok(())
    }

    /// Predicted ln(nanoseconds) of `x`.
    pub fn ln_nanos(&self, x: &CostInput) -> f64 {
        self.ln_nanos_of(&x.features())
    }

    fn ln_nanos_of(&self, x: &[f64; N_COST_FEATURES]) -> f64 {
        self.intercept + x.iter().zip(&self.weights).map(|(x, w)| x * w).sum::<f64>()
    }

    /// Predicted nanoseconds of `x`, as a weight of at least 1.
    fn weight(&self, x: &CostInput) -> u64 {
        // Clamped so that a block's sum of weights stays far from overflow.
        self.ln_nanos(x).clamp(0.0, 40.0).exp() as u64
    }

    /// The costs of `block`'s transactions: the total of `estimates`, shared in proportion to
    /// the predicted times. `None` when `estimates` is not one per transaction.
    pub fn costs(&self, block: &Block, estimates: &[u64]) -> Option<Vec<u64>> {
        if estimates.len() != block.txs.len() {
            return None;
        }
        // Each transaction is predicted unless it is alike to the last of its kind before it:
        // payments to accounts, payments that run code, and calls. Most of a block's payments
        // are alike, and the two kinds of payment interleave.
        let mut last = [None::<(CostInput, u64)>; 3];
        let weights: Vec<u64> = block
            .txs
            .iter()
            .zip(estimates)
            .map(|(tx, estimate)| {
                let x = CostInput::of_tx(tx, *estimate);
                let kind = if x.calldata_bytes > 0 {
                    2
                } else {
                    usize::from(x.pays_code)
                };
                let slot = &mut last[kind];
                match *slot {
                    Some((seen, weight)) if seen == x => weight,
                    _ => {
                        let weight = self.weight(&x);
                        *slot = Some((x, weight));
                        weight
                    }
                }
            })
            .collect();
        share_in_proportion(estimates, &weights)
    }
}

/// How the cost predictor did, in the training report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CostReport {
    /// A predictor was fitted and stored in the model file.
    Learned {
        /// Transactions fitted on.
        rows: u64,
        /// R² of ln(time) on them.
        r2: f64,
        /// R² of ln(time) on the held-out blocks' timed transactions (`None` without any).
        holdout_r2: Option<f64>,
        /// Mean over held-out blocks of how far the predicted shares of the block's time are
        /// from the measured ones: half the L1 distance, 0 (exact) to 1.
        holdout_share_error: Option<f64>,
        /// The same for the executor's gas estimates (`cost::estimated_cost`).
        estimate_share_error: Option<f64>,
    },
    /// No predictor: the router keeps the executor's estimates.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// Fits a cost predictor on the `train` records and judges it on the `test` records. A
/// predictor that cannot be fitted is reported, not an error: the model still routes.
pub fn fit_on_records(
    train: &[&BlockRecord],
    test: &[&BlockRecord],
) -> (Option<CostPredictor>, CostReport) {
    let txs = || train.iter().flat_map(|r| &r.txs);
    let rows: Vec<(CostInput, u64)> = txs().filter_map(timed).collect();
    let predictor = match CostPredictor::fit(&rows) {
        Ok(predictor) => predictor,
        Err(e) => {
            let why = match e {
                Error::Training(why) => why,
                other => other.to_string(),
            };
            let reason = format!(
                "{why} ({} of {} training transactions carry a calldata size; logs written \
                 before the field was added carry none)",
                rows.len(),
                txs().count()
            );
            return (None, CostReport::Skipped { reason });
        }
    };
    let (mut ln_predicted, mut ln_measured) = (Vec::new(), Vec::new());
    let (mut learned, mut estimated) = (Vec::new(), Vec::new());
    for record in test {
        let logged: Vec<(CostInput, u64)> = record
            .txs
            .iter()
            .filter_map(timed)
            .filter(|(_, nanos)| *nanos > 0)
            .collect();
        let measured: Vec<u64> = logged.iter().map(|(_, nanos)| *nanos).collect();
        let predicted: Vec<f64> = logged.iter().map(|(x, _)| predictor.ln_nanos(x)).collect();
        ln_measured.extend(measured.iter().map(|n| (*n as f64).ln()));
        ln_predicted.extend(&predicted);
        let shares = |costs: Vec<f64>| share_error(&costs, &measured);
        learned.extend(shares(predicted.iter().map(|p| p.exp()).collect()));
        estimated.extend(shares(
            logged
                .iter()
                .map(|(x, _)| x.estimated_cost() as f64)
                .collect(),
        ));
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let report = CostReport::Learned {
        rows: predictor.rows,
        r2: predictor.r2,
        holdout_r2: r_squared(&ln_predicted, &ln_measured),
        holdout_share_error: mean(&learned),
        estimate_share_error: mean(&estimated),
    };
    (Some(predictor), report)
}

/// A logged transaction's input and measured time, when the record has a calldata size.
fn timed(tx: &TxRecord) -> Option<(CostInput, u64)> {
    Some((CostInput::of_record(tx)?, tx.nanos))
}

/// Half the L1 distance between the shares of `costs` and of `measured` in their totals; `None`
/// for fewer than two transactions or a zero total.
pub fn share_error(costs: &[f64], measured: &[u64]) -> Option<f64> {
    let total = costs.iter().sum::<f64>();
    let measured_total = measured.iter().sum::<u64>() as f64;
    if costs.len() < 2 || costs.len() != measured.len() || total <= 0.0 || measured_total <= 0.0 {
        return None;
    }
    let distance: f64 = costs
        .iter()
        .zip(measured)
        .map(|(c, m)| (c / total - *m as f64 / measured_total).abs())
        .sum();
    Some(distance / 2.0)
}

/// R² of `predicted` against `measured`; `None` without at least two distinct measurements.
fn r_squared(predicted: &[f64], measured: &[f64]) -> Option<f64> {
    let mean = measured.iter().sum::<f64>() / measured.len() as f64;
    let total: f64 = measured.iter().map(|y| (y - mean).powi(2)).sum();
    if measured.len() < 2 || total <= 0.0 {
        return None;
    }
    let residual: f64 = predicted
        .iter()
        .zip(measured)
        .map(|(p, y)| (y - p).powi(2))
        .sum();
    Some(1.0 - residual / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(gas_limit: u64, calldata_bytes: u32, moved_value: bool) -> CostInput {
        CostInput {
            gas_limit,
            calldata_bytes,
            moved_value,
            creation: false,
            pays_code: false,
        }
    }

    /// Rows whose time is exactly `e^(2 + 0.1 ln gas + 0.5 ln(1 + bytes) - 0.3 calldata +
    /// 0.2 value + 0.7 pays code)`, over a spread of inputs (no creations).
    fn exact_rows() -> Vec<(CostInput, u64)> {
        let truth = |x: &CostInput| {
            let f = x.features();
            (2.0 + 0.1 * f[0] + 0.5 * f[1] - 0.3 * f[2] + 0.2 * f[3] + 0.7 * f[5]).exp()
        };
        let mut rows = Vec::new();
        for gas in [21_000, 50_000, 200_000, 1_000_000, 5_000_000] {
            for bytes in [0, 4, 68, 1_000, 30_000] {
                for value in [false, true] {
                    let x = input(gas, bytes, value);
                    let paying_code = CostInput {
                        pays_code: true,
                        ..x
                    };
                    let alike = if bytes == 0 && gas > 21_000 {
                        vec![x, paying_code]
                    } else {
                        vec![x]
                    };
                    // Scaled so that rounding to whole nanoseconds does not blur the fit.
                    rows.extend(
                        alike
                            .into_iter()
                            .map(|x| (x, (truth(&x) * 1e6).round() as u64)),
                    );
                }
            }
        }
        rows
    }

    #[test]
    fn fit_recovers_the_weights_of_exact_data_and_zeroes_a_constant_input() {
        let p = CostPredictor::fit(&exact_rows()).unwrap();
        let expected = [0.1, 0.5, -0.3, 0.2, 0.0, 0.7];
        for (k, (w, e)) in p.weights.iter().zip(expected).enumerate() {
            assert!(
                (w - e).abs() < 1e-6,
                "{}: {w} against {e}",
                COST_FEATURES[k]
            );
        }
        assert!((p.intercept - (2.0 + 1e6f64.ln())).abs() < 1e-6);
        assert!(p.r2 > 0.999_999, "r2 {}", p.r2);
        assert_eq!(p.rows, 58);
        assert_eq!(
            CostPredictor::fit(&exact_rows()).unwrap(),
            p,
            "deterministic"
        );
    }

    #[test]
    fn transactions_all_alike_learn_their_mean_time() {
        let rows: Vec<(CostInput, u64)> = (0..60)
            .map(|i| {
                (
                    input(21_000, 0, true),
                    if i % 2 == 0 { 1_000 } else { 4_000 },
                )
            })
            .collect();
        let p = CostPredictor::fit(&rows).unwrap();
        assert_eq!(p.weights, vec![0.0; N_COST_FEATURES]);
        assert!(
            (p.intercept - 2_000f64.ln()).abs() < 1e-9,
            "{}",
            p.intercept
        );
        assert!(p.r2.abs() < 1e-12, "{}", p.r2);
    }

    #[test]
    fn too_few_timed_rows_are_refused() {
        let mut rows = exact_rows();
        rows.truncate(MIN_COST_ROWS);
        rows[0].1 = 0; // untimed rows do not count
        let e = CostPredictor::fit(&rows).unwrap_err().to_string();
        assert!(e.contains("49 timed transactions"), "{e}");
    }

    #[test]
    fn check_names_the_expected_inputs() {
        let mut p = CostPredictor::fit(&exact_rows()).unwrap();
        p.features[1] = "calldata_words".into();
        let e = p.check().unwrap_err();
        assert!(
            e.contains("calldata_words") && e.contains("ln_1p_calldata_bytes"),
            "{e}"
        );
        let mut p = CostPredictor::fit(&exact_rows()).unwrap();
        p.weights[0] = f64::NAN;
        assert!(p.check().is_err());
    }

    #[test]
    fn block_costs_keep_the_estimated_total_and_follow_the_predicted_times() {
        use alloy_primitives::{Bytes, TxKind, U256};
        use switchyard_executors::synthetic::{BlockBuilder, account};
        let p = CostPredictor::fit(&exact_rows()).unwrap();
        let mut builder = BlockBuilder::new(4);
        builder.transfer(account(0), account(1), 1);
        builder.transfer(account(1), account(2), 1);
        let call = |bytes: usize| Bytes::from(vec![7u8; bytes]);
        builder.push(
            account(2),
            TxKind::Call(account(3)),
            U256::ZERO,
            call(30_000),
            500_000,
        );
        builder.push(
            account(3),
            TxKind::Call(account(0)),
            U256::ZERO,
            call(68),
            500_000,
        );
        let (block, _) = builder.build();
        // A payment's input says whether it runs code as its estimate does; a call's does not.
        let paying = |i: usize, estimate| CostInput::of_tx(&block.txs[i], estimate).pays_code;
        assert!(!paying(0, 21_000));
        assert!(paying(0, 100_000));
        assert!(!paying(2, 500_000));
        let estimates = [21_000, 21_000, 500_000, 500_000];
        let costs = p.costs(&block, &estimates).unwrap();
        // Each share is rounded down: the total is kept within one unit per transaction.
        let total: u64 = estimates.iter().sum();
        assert!(total - costs.iter().sum::<u64>() < 4, "{costs:?}");
        assert_eq!(costs[0], costs[1], "alike transfers cost alike");
        // Remembering the last of each kind changes nothing: as if each were predicted.
        let one_by_one = |estimates: &[u64]| {
            let weights: Vec<u64> = block
                .txs
                .iter()
                .zip(estimates)
                .map(|(tx, e)| p.weight(&CostInput::of_tx(tx, *e)))
                .collect();
            share_in_proportion(estimates, &weights)
        };
        assert_eq!(Some(costs.clone()), one_by_one(&estimates));
        // The first payment runs code (its estimate says so): it costs more than the second.
        let paying = [100_000, 21_000, 500_000, 500_000];
        let costs = p.costs(&block, &paying).unwrap();
        assert_eq!(Some(costs.clone()), one_by_one(&paying));
        assert!(
            costs[0] as f64 > 1.9 * costs[1] as f64,
            "e^0.7 ≈ 2.01: {costs:?}"
        );
        // Same gas limit, 30,000 bytes of calldata against 68: (30_001 / 69)^0.5 ≈ 20.9 times.
        let ratio = costs[2] as f64 / costs[3] as f64;
        assert!(
            (ratio - (30_001.0f64 / 69.0).sqrt()).abs() < 0.01,
            "{ratio}"
        );
        assert_eq!(
            p.costs(&block, &estimates[..3]),
            None,
            "one estimate per transaction"
        );
    }

    #[test]
    fn share_error_is_half_the_l1_distance_of_shares() {
        assert_eq!(share_error(&[1.0, 1.0], &[5, 5]), Some(0.0));
        assert_eq!(share_error(&[3.0, 1.0], &[1, 1]), Some(0.25));
        assert_eq!(share_error(&[1.0, 0.0], &[0, 7]), Some(1.0));
        assert_eq!(share_error(&[1.0], &[1]), None);
        assert_eq!(share_error(&[1.0, 1.0], &[0, 0]), None);
    }
}
