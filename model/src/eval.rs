//! Pair metrics (precision, recall, F1, AUC) and the threshold rule.
//!
//! **Threshold rule.** A missed conflict (false negative) costs a re-execution at commit; a
//! false alarm (false positive) only merges two groups and so costs some parallelism, and
//! only when the pair was not merged through other pairs anyway. The default rule is
//! therefore [`ThresholdRule::FBeta`] with beta = 2: the threshold with the best F2 on the
//! training pairs, which counts recall four times as much as precision in the harmonic mean,
//! yet still refuses "everything conflicts" whenever the model separates better than that.
//! [`ThresholdRule::RecallAtPrecision`] (highest recall at a precision floor) is available,
//! but on traffic where most candidate pairs conflict (mainnet: about 90%) any floor below
//! the base rate is met by predicting every pair, which collapses parallelism.

use serde::{Deserialize, Serialize};

/// Quality of binary predictions over a set of pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PairMetrics {
    /// Pairs scored.
    pub pairs: u64,
    /// Pairs that truly conflicted.
    pub positives: u64,
    /// Pairs predicted to conflict.
    pub predicted: u64,
    /// Pairs predicted to conflict that did.
    pub true_positives: u64,
    /// Share of predicted conflicts that were real (0 when nothing is predicted).
    pub precision: f64,
    /// Share of real conflicts that were predicted (0 when there are none).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Area under the ROC curve of the scores (0.5 when one class is absent).
    pub auc: f64,
}

/// How the decision threshold is chosen from scored training pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ThresholdRule {
    /// Highest recall with precision at least `min_precision`; best F2 if none reaches it.
    RecallAtPrecision {
        /// The precision floor.
        min_precision: f64,
    },
    /// Best F-beta; beta > 1 weighs recall over precision.
    FBeta {
        /// The beta.
        beta: f64,
    },
}

impl Default for ThresholdRule {
    fn default() -> Self {
        Self::FBeta { beta: 2.0 }
    }
}

/// The chosen threshold and what the rule found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// Predict a conflict when the score is at least this.
    pub threshold: f32,
    /// The rule used.
    pub rule: ThresholdRule,
    /// `true` when the precision floor was out of reach and best F2 was used instead.
    pub fell_back: bool,
}

/// Metrics of `scores` against `labels`, predicting a conflict when `score >= threshold`.
pub fn metrics(scores: &[f32], labels: &[bool], threshold: f32) -> PairMetrics {
    let mut m = PairMetrics {
        pairs: labels.len() as u64,
        auc: auc(scores, labels),
        ..PairMetrics::default()
    };
    for (score, label) in scores.iter().zip(labels) {
        let predicted = *score >= threshold;
        m.positives += u64::from(*label);
        m.predicted += u64::from(predicted);
        m.true_positives += u64::from(predicted && *label);
    }
    m.precision = ratio(m.true_positives, m.predicted);
    m.recall = ratio(m.true_positives, m.positives);
    m.f1 = f_beta(m.precision, m.recall, 1.0);
    m
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f_beta(precision: f64, recall: f64, beta: f64) -> f64 {
    let b2 = beta * beta;
    let denominator = b2 * precision + recall;
    if denominator == 0.0 {
        0.0
    } else {
        (1.0 + b2) * precision * recall / denominator
    }
}

/// ROC AUC by the rank-sum (Mann–Whitney) statistic, ties counted half.
pub fn auc(scores: &[f32], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        // Ranks are 1-based; tied scores share the mean rank of their run.
        let mean_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = order[start..=end].iter().filter(|i| labels[**i]).count();
        rank_sum += mean_rank * tied_positives as f64;
        start = end + 1;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Chooses the threshold over `scores` by `rule` (see the module docs).
pub fn choose_threshold(scores: &[f32], labels: &[bool], rule: ThresholdRule) -> ThresholdChoice {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let positives = labels.iter().filter(|l| **l).count() as u64;
    // Each cut predicts the top k pairs; cuts fall only between distinct scores.
    let mut cuts = Vec::new();
    let (mut tp, mut k) = (0u64, 0usize);
    while k < order.len() {
        let score = scores[order[k]];
        while k < order.len() && scores[order[k]] == score {
            tp += u64::from(labels[order[k]]);
            k += 1;
        }
        cuts.push((score, ratio(tp, k as u64), ratio(tp, positives)));
    }
    let best_f = |beta: f64| {
        cuts.iter()
            .max_by(|a, b| f_beta(a.1, a.2, beta).total_cmp(&f_beta(b.1, b.2, beta)))
            .map_or(0.5, |c| c.0)
    };
    match rule {
        ThresholdRule::RecallAtPrecision { min_precision } => {
            // Highest recall, then the highest threshold among equal recalls.
            let best = cuts
                .iter()
                .filter(|c| c.1 >= min_precision)
                .max_by(|a, b| a.2.total_cmp(&b.2).then(a.0.total_cmp(&b.0)));
            match best {
                Some(cut) => ThresholdChoice {
                    threshold: cut.0,
                    rule,
                    fell_back: false,
                },
                None => ThresholdChoice {
                    threshold: best_f(2.0),
                    rule,
                    fell_back: true,
                },
            }
        }
        ThresholdRule::FBeta { beta } => ThresholdChoice {
            threshold: best_f(beta),
            rule,
            fell_back: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_metrics_on_a_small_case() {
        let scores = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1];
        let labels = [true, true, false, true, false, false];
        assert!((auc(&scores, &labels) - 8.0 / 9.0).abs() < 1e-12);
        assert_eq!(auc(&[0.5; 4], &[true, false, true, false]), 0.5);
        let m = metrics(&scores, &labels, 0.75);
        assert_eq!((m.predicted, m.true_positives), (2, 2));
        assert_eq!((m.precision, m.recall), (1.0, 2.0 / 3.0));
    }

    #[test]
    fn threshold_maximises_recall_above_the_floor() {
        let scores = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1];
        let labels = [true, true, false, true, false, false];
        let rule = ThresholdRule::RecallAtPrecision {
            min_precision: 0.75,
        };
        let choice = choose_threshold(&scores, &labels, rule);
        assert_eq!(choice.threshold, 0.3);
        assert!(!choice.fell_back);
        let strict = ThresholdRule::RecallAtPrecision {
            min_precision: 1.01,
        };
        assert!(choose_threshold(&scores, &labels, strict).fell_back);
    }
}
