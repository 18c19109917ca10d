//! Fitting the two classifiers with linfa and turning them into [`Classifier`]s.

use super::TrainOptions;
use crate::{
    classifier::{Classifier, Logistic, Node, Tree},
    error::{Error, Result},
    features::{Features, N_FEATURES},
};
use linfa::{Dataset, prelude::Fit};
use linfa_logistic::LogisticRegression;
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, Array2};

fn matrix(rows: &[Features], map: impl Fn(usize, f32) -> f64) -> Array2<f64> {
    let mut x = Array2::<f64>::zeros((rows.len(), N_FEATURES));
    for (r, row) in rows.iter().enumerate() {
        for (k, v) in row.iter().enumerate() {
            x[(r, k)] = map(k, *v);
        }
    }
    x
}

fn check_classes(labels: &[bool]) -> Result<()> {
    let positives = labels.iter().filter(|l| **l).count();
    if positives == 0 || positives == labels.len() {
        return Err(Error::Training(format!(
            "need both conflicting and independent pairs; got {positives} conflicts among {} pairs",
            labels.len()
        )));
    }
    Ok(())
}

/// Fits a logistic regression on standardised features. Deterministic: L-BFGS from zero on
/// rows in a fixed order.
pub(crate) fn logistic(
    rows: &[Features],
    labels: &[bool],
    opts: &TrainOptions,
) -> Result<Classifier> {
    check_classes(labels)?;
    let n = rows.len() as f64;
    let mut mean = vec![0f64; N_FEATURES];
    let mut var = [0f64; N_FEATURES];
    for row in rows {
        for k in 0..N_FEATURES {
            mean[k] += f64::from(row[k]) / n;
        }
    }
    for row in rows {
        for k in 0..N_FEATURES {
            var[k] += (f64::from(row[k]) - mean[k]).powi(2) / n;
        }
    }
    // A constant feature keeps scale 1 (its standardised value is 0 everywhere).
    let scale: Vec<f64> = var
        .iter()
        .map(|v| if *v > 1e-12 { v.sqrt() } else { 1.0 })
        .collect();
    let x = matrix(rows, |k, v| (f64::from(v) - mean[k]) / scale[k]);
    let y = Array1::from_iter(labels.iter().copied());
    let fitted = LogisticRegression::default()
        .alpha(opts.logistic_alpha)
        .max_iterations(opts.logistic_iterations)
        // linfa's loss is a sum over rows: stop when the *mean* gradient is this small.
        .gradient_tolerance(opts.logistic_tolerance * n)
        .fit(&Dataset::new(x, y))
        .map_err(|e| Error::Linfa(e.to_string()))?;
    // linfa's "positive" class is the more frequent one; σ(−z) = 1 − σ(z) turns its
    // probability into P(conflict) when that is `false`.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(Classifier::Logistic(Logistic {
        intercept: sign * fitted.intercept(),
        weights: fitted.params().iter().map(|w| sign * w).collect(),
        mean,
        scale,
    }))
}

/// Fits a decision tree on at most `opts.tree_max_rows` rows (an even stride through them),
/// then sets every leaf to the smoothed conflict share of *all* training rows reaching it.
pub(crate) fn tree(rows: &[Features], labels: &[bool], opts: &TrainOptions) -> Result<Classifier> {
    check_classes(labels)?;
    let stride = rows.len().div_ceil(opts.tree_max_rows.max(1)).max(1);
    let sample: Vec<usize> = (0..rows.len()).step_by(stride).collect();
    let sampled: Vec<Features> = sample.iter().map(|r| rows[*r]).collect();
    let x = matrix(&sampled, |_, v| f64::from(v));
    let y = Array1::from_iter(sample.iter().map(|r| labels[*r]));
    let fitted = DecisionTree::params()
        .split_quality(SplitQuality::Gini)
        .max_depth(Some(opts.tree_max_depth))
        .min_weight_leaf(opts.tree_min_leaf as f32)
        .min_weight_split(2.0 * opts.tree_min_leaf as f32)
        .fit(&Dataset::new(x, y))
        .map_err(|e| Error::Linfa(e.to_string()))?;
    let mut nodes = Vec::new();
    flatten(fitted.root_node(), &mut nodes);
    let mut tree = Tree { nodes };
    let mut counts = vec![(0u64, 0u64); tree.nodes.len()];
    for (row, label) in rows.iter().zip(labels) {
        let leaf = tree.leaf(row);
        counts[leaf].0 += u64::from(*label);
        counts[leaf].1 += 1;
    }
    for (node, (pos, all)) in tree.nodes.iter_mut().zip(counts) {
        if let Node::Leaf {
            probability,
            samples,
        } = node
        {
            *probability = ((pos + 1) as f64 / (all + 2) as f64) as f32;
            *samples = all;
        }
    }
    Ok(Classifier::Tree(tree))
}

/// Appends `node`'s subtree in preorder; returns its index.
fn flatten(node: &TreeNode<f64, bool>, out: &mut Vec<Node>) -> u32 {
    let at = out.len();
    out.push(Node::Leaf {
        probability: 0.5,
        samples: 0,
    });
    let children = node.children();
    if let (false, Some(left), Some(right)) = (node.is_leaf(), children[0], children[1]) {
        let (feature, threshold, _) = node.split();
        let left = flatten(left, out);
        let right = flatten(right, out);
        out[at] = Node::Split {
            feature: feature as u16,
            // Features are f32, so the split value (one of them) is exact in f32.
            threshold: threshold as f32,
            left,
            right,
        };
    }
    at as u32
}
