//! The fitted classifiers as stored in a model file, and their scoring.
//!
//! Both are plain data: the logistic regression as standardisation plus weights, the decision
//! tree as a flat node array. Scoring a pair is then a few dozen multiplications or a handful
//! of comparisons, with no ndarray allocation.

use crate::features::{Features, N_FEATURES};
use serde::{Deserialize, Serialize};

/// A fitted pair classifier: P(conflict) from a pair's features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classifier {
    /// Logistic regression (linfa-logistic).
    Logistic(Logistic),
    /// A decision tree (linfa-trees) with leaf frequencies.
    Tree(Tree),
}

/// Logistic regression over standardised features: `σ(b + Σ wₖ (xₖ − meanₖ) / scaleₖ)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// The intercept `b`.
    pub intercept: f64,
    /// One weight per feature.
    pub weights: Vec<f64>,
    /// Feature means of the training rows.
    pub mean: Vec<f64>,
    /// Feature standard deviations of the training rows (1 where constant).
    pub scale: Vec<f64>,
}

/// A binary decision tree in preorder; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The nodes.
    pub nodes: Vec<Node>,
}

/// One node of a [`Tree`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// Go to `left` when `features[feature] <= threshold`, else to `right`.
    Split {
        /// Feature index.
        feature: u16,
        /// Split value.
        threshold: f32,
        /// Index of the left child.
        left: u32,
        /// Index of the right child.
        right: u32,
    },
    /// A leaf: the share of its training pairs that conflicted (Laplace-smoothed).
    Leaf {
        /// P(conflict).
        probability: f32,
        /// Training pairs that reached it.
        samples: u64,
    },
}

impl Classifier {
    /// P(conflict) of one pair.
    pub fn probability(&self, x: &Features) -> f32 {
        match self {
            Self::Logistic(model) => model.probability(x),
            Self::Tree(tree) => tree.probability(x),
        }
    }

    /// The algorithm's name, as on the command line.
    pub fn algo(&self) -> &'static str {
        match self {
            Self::Logistic(_) => "logistic",
            Self::Tree(_) => "tree",
        }
    }

    /// Checks the shape and values, so that scoring can never index out of bounds or loop.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Logistic(m) => {
                for (name, v) in [
                    ("weights", &m.weights),
                    ("mean", &m.mean),
                    ("scale", &m.scale),
                ] {
                    if v.len() != N_FEATURES {
                        return Err(format!(
                            "{name} has {} entries, expected {N_FEATURES}",
                            v.len()
                        ));
                    }
                }
                let finite = m.weights.iter().chain(&m.mean).all(|x| x.is_finite())
                    && m.intercept.is_finite()
                    && m.scale.iter().all(|s| s.is_finite() && *s > 0.0);
                finite
                    .then_some(())
                    .ok_or_else(|| "non-finite weight or non-positive scale".to_owned())
            }
            Self::Tree(tree) => {
                if tree.nodes.is_empty() {
                    return Err("tree has no nodes".into());
                }
                for (i, node) in tree.nodes.iter().enumerate() {
                    match *node {
                        Node::Split {
                            feature,
                            threshold,
                            left,
                            right,
                        } => {
                            let child_ok =
                                |c: u32| (c as usize) > i && (c as usize) < tree.nodes.len();
                            if usize::from(feature) >= N_FEATURES
                                || !threshold.is_finite()
                                || !child_ok(left)
                                || !child_ok(right)
                            {
                                return Err(format!("tree node {i} is malformed: {node:?}"));
                            }
                        }
                        Node::Leaf { probability, .. } => {
                            if !(0.0..=1.0).contains(&probability) {
                                return Err(format!("tree leaf {i} has probability {probability}"));
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

impl Logistic {
    /// P(conflict) of one pair.
    pub fn probability(&self, x: &Features) -> f32 {
        let mut z = self.intercept;
        for (k, v) in x.iter().enumerate() {
            z += self.weights[k] * (f64::from(*v) - self.mean[k]) / self.scale[k];
        }
        (1.0 / (1.0 + (-z).exp())) as f32
    }
}

impl Tree {
    /// P(conflict) of one pair.
    pub fn probability(&self, x: &Features) -> f32 {
        let mut at = 0usize;
        loop {
            match self.nodes[at] {
                Node::Leaf { probability, .. } => return probability,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    at = if x[usize::from(feature)] <= threshold {
                        left
                    } else {
                        right
                    } as usize;
                }
            }
        }
    }

    /// The leaf a pair falls in.
    pub fn leaf(&self, x: &Features) -> usize {
        let mut at = 0usize;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = self.nodes[at]
        {
            at = if x[usize::from(feature)] <= threshold {
                left
            } else {
                right
            } as usize;
        }
        at
    }
}
