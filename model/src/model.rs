//! The model file: a versioned JSON document holding the classifier, the feature schema it
//! was trained under, the conflict-rate table, the threshold, the cost predictor and a
//! training summary.
//!
//! [`Model::load`] checks, in this order: the JSON parses, the `format` is this build's and its
//! `format_version` one this build reads, the feature schema (version and hash) is this
//! build's, and the classifier and the cost predictor are well formed. Each failure is a typed
//! [`Error`]; nothing falls back silently. A version 1 file has no cost predictor: its router
//! packs by the executor's estimates, as it did.

use crate::{
    classifier::Classifier,
    costs::CostPredictor,
    error::{Error, Result},
    eval::{PairMetrics, ThresholdChoice},
    facts::{CodeLookup, TxFacts},
    features::{
        FEATURE_NAMES, Features, N_FEATURES, SCHEMA_VERSION, TxPart, log_distance, pair_features,
        pair_features_from, schema_hash,
    },
    rates::RateTable,
};
use serde::{Deserialize, Serialize};
use std::{cell::Cell, collections::BTreeMap, path::Path};

/// The `format` field of every model file.
pub const MODEL_FORMAT: &str = "switchyard-conflict-model";
/// The model file layout version this build writes (independent of the feature schema).
/// Version 2 added `costs`; version 3 added the cost input `pays_code` (a version 2 predictor
/// loads with weight 0 on it).
pub const MODEL_FORMAT_VERSION: u32 = 3;
/// The oldest layout version this build reads.
pub const MODEL_FORMAT_VERSION_OLDEST: u32 = 1;

/// The feature schema a model was trained under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// [`SCHEMA_VERSION`] at training time.
    pub version: u32,
    /// [`schema_hash`] at training time.
    pub hash: String,
    /// The feature names, in order (for people; the hash is what is checked).
    pub features: Vec<String>,
}

impl Schema {
    /// This build's schema.
    pub fn current() -> Self {
        Self {
            version: SCHEMA_VERSION,
            hash: schema_hash(),
            features: FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// What the model was trained on and how it did on held-out blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Blocks trained on.
    pub train_blocks: Vec<u64>,
    /// Blocks held out for evaluation.
    pub test_blocks: Vec<u64>,
    /// Candidate pairs trained on.
    pub train_pairs: u64,
    /// Conflicting pairs among them.
    pub train_positives: u64,
    /// Metrics on the held-out pairs at the stored threshold.
    pub holdout: PairMetrics,
    /// Metrics of the heuristics on the same held-out pairs.
    pub baselines: BTreeMap<String, PairMetrics>,
}

/// A trained conflict model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The feature schema it expects.
    pub schema: Schema,
    /// Pairs scoring at least this are predicted to conflict.
    pub threshold: f32,
    /// How the threshold was chosen.
    pub threshold_choice: ThresholdChoice,
    /// The classifier.
    pub classifier: Classifier,
    /// Conflict rates per (contract, selector).
    pub rates: RateTable,
    /// Predicts each transaction's execution time, for packing; `None` when the logs carried
    /// no calldata sizes (and in version 1 files).
    #[serde(default)]
    pub costs: Option<CostPredictor>,
    /// The training data and held-out quality.
    pub training: TrainingSummary,
}

impl Model {
    /// Assembles a model under this build's schema.
    pub fn new(
        classifier: Classifier,
        rates: RateTable,
        threshold_choice: ThresholdChoice,
        costs: Option<CostPredictor>,
        training: TrainingSummary,
    ) -> Self {
        Self {
            format: MODEL_FORMAT.to_owned(),
            format_version: MODEL_FORMAT_VERSION,
            schema: Schema::current(),
            threshold: threshold_choice.threshold,
            threshold_choice,
            classifier,
            rates,
            costs,
            training,
        }
    }

    /// Loads and checks a model file (see the module docs).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        Self::from_json(&text, path)
    }

    /// Parses and checks a model document; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::CorruptModel {
            path: path.to_owned(),
            reason,
        };
        // Header first: a file of another format or schema is named as such, even when the
        // rest of its layout differs too.
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
            schema: SchemaHeader,
        }
        #[derive(Deserialize)]
        struct SchemaHeader {
            version: u32,
            hash: String,
        }
        let header: Header = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        if header.format != MODEL_FORMAT
            || !(MODEL_FORMAT_VERSION_OLDEST..=MODEL_FORMAT_VERSION)
                .contains(&header.format_version)
        {
            return Err(corrupt(format!(
                "format {:?} v{}, expected {MODEL_FORMAT:?} v{MODEL_FORMAT_VERSION_OLDEST} to \
                 v{MODEL_FORMAT_VERSION}",
                header.format, header.format_version
            )));
        }
        let expected = Schema::current();
        if header.schema.version != expected.version || header.schema.hash != expected.hash {
            return Err(Error::SchemaMismatch {
                path: path.to_owned(),
                expected_version: expected.version,
                expected_hash: expected.hash,
                found_version: header.schema.version,
                found_hash: header.schema.hash,
            });
        }
        let mut model: Self = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        if header.format_version <= 2 {
            model.costs = model.costs.map(CostPredictor::from_v2);
        }
        model.classifier.check().map_err(corrupt)?;
        if let Some(costs) = &model.costs {
            costs.check().map_err(corrupt)?;
        }
        if !model.threshold.is_finite() {
            return Err(corrupt(format!(
                "threshold {} is not finite",
                model.threshold
            )));
        }
        Ok(model)
    }

    /// The model as pretty JSON (deterministic: same model, same bytes).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model always serializes")
    }

    /// Writes the model file (through a temporary file, so a reader never sees half of it).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, self.to_json() + "\n").map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(Error::io(path))
    }

    /// Features of the pair `(a, b)` at block indices `i < j` of a block of `n`.
    pub fn features(&self, a: &TxFacts, b: &TxFacts, i: usize, j: usize, n: usize) -> Features {
        pair_features(a, b, i, j, n, &self.rates)
    }

    /// P(conflict) of the pair `(a, b)` at block indices `i < j` of a block of `n`.
    pub fn score(&self, a: &TxFacts, b: &TxFacts, i: usize, j: usize, n: usize) -> f32 {
        self.classifier.probability(&self.features(a, b, i, j, n))
    }

    /// A scorer of the pairs of one block, with `facts` in block order.
    pub fn block_scorer<'a>(&'a self, facts: &'a [TxFacts]) -> BlockScorer<'a> {
        BlockScorer::new(self, facts, None)
    }

    /// [`Self::block_scorer`] for facts built without the state (`TxFacts::of_block(block,
    /// None)`): whether a target has code is looked up in `code`, for calls at once and for
    /// plain transfers when a pair of theirs is first scored. Most transfers share no key with
    /// another transaction and are never scored, so a block of transfers skips most lookups
    /// (each a cache miss in a large state); the scores are those of facts built with the
    /// state.
    pub fn block_scorer_with_code<'a>(
        &'a self,
        facts: &'a [TxFacts],
        code: CodeLookup<'a>,
    ) -> BlockScorer<'a> {
        BlockScorer::new(self, facts, Some(code))
    }

    /// Whether the pair is predicted to conflict.
    pub fn predicts_conflict(
        &self,
        a: &TxFacts,
        b: &TxFacts,
        i: usize,
        j: usize,
        n: usize,
    ) -> bool {
        self.score(a, b, i, j, n) >= self.threshold
    }
}

/// Scores pairs of one block. Each transaction's share of the features is computed once, not
/// once per pair (a plain transfer's only if it is in a scored pair); a logistic model's
/// standardisation is folded into its weights, kept in single precision. The scores are those
/// of [`Model::score`] within about 10⁻⁶ (a test holds them to 10⁻⁵).
#[derive(Debug)]
pub struct BlockScorer<'a> {
    model: &'a Model,
    facts: &'a [TxFacts],
    /// Every transaction's part, once built: calls' when the scorer is made, plain transfers'
    /// when a pair of theirs is first scored.
    parts: Vec<Cell<Option<TxPart>>>,
    /// Where targets' code is looked up; `None` when the facts carry it.
    code: Option<CodeLookup<'a>>,
    /// [`log_distance`] by distance, filled on first use (NaN until then).
    log_distances: Vec<Cell<f32>>,
    /// The last threshold compared with and its logit, so the logarithm is taken once.
    threshold_logit: Cell<(f32, f32)>,
    /// `b - Σ wₖ meanₖ / scaleₖ` and `wₖ / scaleₖ`, for a logistic model (folded in double
    /// precision, kept in single).
    linear: Option<(f32, [f32; N_FEATURES])>,
}

impl<'a> BlockScorer<'a> {
    fn new(model: &'a Model, facts: &'a [TxFacts], code: Option<CodeLookup<'a>>) -> Self {
        let linear = match &model.classifier {
            Classifier::Logistic(m) => {
                let mut weights = [0.0; N_FEATURES];
                let mut intercept = m.intercept;
                for (k, w) in weights.iter_mut().enumerate() {
                    let folded = m.weights[k] / m.scale[k];
                    intercept -= folded * m.mean[k];
                    *w = folded as f32;
                }
                Some((intercept as f32, weights))
            }
            Classifier::Tree(_) => None,
        };
        let scorer = Self {
            model,
            facts,
            parts: vec![Cell::new(None); facts.len()],
            code,
            log_distances: vec![Cell::new(f32::NAN); facts.len()],
            threshold_logit: Cell::new((f32::NAN, 0.0)),
            linear,
        };
        // Contract calls share their targets and are mostly scored: their lookups go in one
        // loop, where the state's cache misses overlap (met one by one in the walk, they cost
        // a dense block a third more routing). Plain transfers mostly pair with nothing and
        // are looked up if ever scored.
        for (i, tx) in facts.iter().enumerate() {
            if tx.selector.is_some() {
                scorer.part(i);
            }
        }
        scorer
    }

    fn part(&self, i: usize) -> TxPart {
        let cell = &self.parts[i];
        if let Some(part) = cell.get() {
            return part;
        }
        let tx = &self.facts[i];
        let part = match &self.code {
            Some(code) => {
                let to_has_code = tx.to.is_some_and(|to| code.has_code(to));
                TxPart::with_code(tx, &self.model.rates, to_has_code)
            }
            None => TxPart::of(tx, &self.model.rates),
        };
        cell.set(Some(part));
        part
    }

    // Inlined with `pair_features_from` into the scoring: returned through memory, the 23
    // features were read back before their writes had landed, a stall on every pair (8% of
    // routing 15274915).
    #[inline(always)]
    fn features(&self, i: usize, j: usize) -> Features {
        let n = self.facts.len();
        let cached = &self.log_distances[j - i];
        if cached.get().is_nan() {
            cached.set(log_distance(j - i, n));
        }
        pair_features_from(
            (&self.facts[i], &self.part(i)),
            (&self.facts[j], &self.part(j)),
            j - i,
            n,
            cached.get(),
        )
    }

    /// The logit in single precision, as four running sums: the features are `f32`, so there
    /// is no conversion, and the sums vectorise (a chain of 23 dependent additions in `f64`
    /// was a sixth of routing). It differs from the `f64` logit by about 10⁻⁶.
    fn logit(intercept: f32, weights: &[f32; N_FEATURES], x: &Features) -> f32 {
        let mut sums = [0.0f32; 4];
        for (k, (x, w)) in x.iter().zip(weights).enumerate() {
            sums[k % 4] += w * x;
        }
        intercept + (sums[0] + sums[1]) + (sums[2] + sums[3])
    }

    /// P(conflict) of the pair at block indices `i < j`.
    pub fn score(&self, i: usize, j: usize) -> f32 {
        let x = self.features(i, j);
        match &self.linear {
            Some((intercept, weights)) => {
                let z = f64::from(Self::logit(*intercept, weights, &x));
                (1.0 / (1.0 + (-z).exp())) as f32
            }
            None => self.model.classifier.probability(&x),
        }
    }

    /// Whether the pair at `i < j` scores at least `threshold`. A logistic model compares its
    /// logit with the threshold's, which saves the exponential of every pair.
    pub fn conflicts(&self, i: usize, j: usize, threshold: f32) -> bool {
        match &self.linear {
            Some((intercept, weights)) if threshold > 0.0 && threshold < 1.0 => {
                let (cached, mut logit) = self.threshold_logit.get();
                if cached != threshold {
                    let t = f64::from(threshold);
                    logit = (t / (1.0 - t)).ln() as f32;
                    self.threshold_logit.set((threshold, logit));
                }
                Self::logit(*intercept, weights, &self.features(i, j)) >= logit
            }
            _ => self.score(i, j) >= threshold,
        }
    }
}
