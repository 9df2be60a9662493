//! Training on the long-range tasks of [`crate::lab::tasks`] (adding, copy memory,
//! sequential digits) through the shared loop ([`runner::run`]), and the gradient-flow
//! diagnosis of such a model on a batch of its task.
//!
//! Models: adding and digits are many-to-one ([`Classifier`], last-state pooling, one output
//! for the sum, ten for the digit); copy memory is many-to-many ([`Tagger`], nine classes per
//! step). Every input is dense (the copy task's symbols one-hot), so the gradient reaching
//! each input step can be measured.
//!
//! Generated tasks draw a fresh batch from the run's random stream at every step (the stream
//! is checkpointed, so a resumed run sees the same batches); their test set is drawn once
//! from a separate stream forked from the seed (`test`). Digits: a seeded stratified split,
//! 20% test, batches drawn with replacement from the training part.

use crate::lab::diagnose;
use crate::lab::tasks::{
    adding, copy_baseline_ce, copy_memory, Digits, ADDING_BASELINE_MSE, COPY_CLASSES, COPY_SYMBOLS,
    COPY_VOCAB, DIGIT_STEPS,
};
use recurrent::cell::CellKind;
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::classifier::ClassifierCache;
use recurrent::model::tagger::TaggerCache;
use recurrent::model::EncoderConfig;
use recurrent::model::{
    Classifier, ClassifierConfig, InputKind, Pooling, SeqBatch, Steps, Tagger, TaggerConfig,
};
use recurrent::nn::{CrossEntropy, Reduction, Regression};
use recurrent::optim::OptimSettings;
use recurrent::param::{Module, Param};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::train::observe::Observer;
use recurrent::train::runner::{EvalEvery, Evaluation, RunSummary, Task, TrainRequest, Trainer};
use recurrent::train::{Shard, StepLoss};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Which long-range task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongRangeKind {
    /// The adding problem (regression, MSE).
    Adding,
    /// Copy memory (10 symbols after a delay; cross-entropy per step).
    Copy,
    /// Sequential 8x8 digits, pixel by pixel (classification).
    Digits,
}

impl std::str::FromStr for LongRangeKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "adding" => Ok(LongRangeKind::Adding),
            "copy" | "copy-memory" | "copy_memory" => Ok(LongRangeKind::Copy),
            "digits" | "sequential-digits" => Ok(LongRangeKind::Digits),
            o => Err(Error::Config(format!(
                "unknown task `{o}`: use adding, copy or digits"
            ))),
        }
    }
}

impl LongRangeKind {
    /// The name used in run directories and tables.
    pub fn name(self) -> &'static str {
        match self {
            LongRangeKind::Adding => "adding",
            LongRangeKind::Copy => "copy",
            LongRangeKind::Digits => "digits",
        }
    }
    /// The test metric's name.
    pub fn metric(self) -> &'static str {
        match self {
            LongRangeKind::Adding => "test_mse",
            LongRangeKind::Copy => "test_ce",
            LongRangeKind::Digits => "test_accuracy",
        }
    }
    /// The trivial predictor's test metric at length `t`.
    pub fn baseline(self, t: usize) -> f64 {
        match self {
            LongRangeKind::Adding => ADDING_BASELINE_MSE,
            LongRangeKind::Copy => copy_baseline_ce(t),
            LongRangeKind::Digits => 0.1,
        }
    }
    /// When a run counts as solved: adding, test MSE < 0.01; copy, at least 99% of the
    /// recalled symbols right; digits, test accuracy >= 0.9.
    pub fn solved_rule(self) -> &'static str {
        match self {
            LongRangeKind::Adding => "test MSE < 0.01",
            LongRangeKind::Copy => ">= 99% of recalled symbols right",
            LongRangeKind::Digits => "test accuracy >= 0.90",
        }
    }
}

/// Everything that decides a long-range run (stored with it; a resume must agree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LongRangeConfig {
    /// Which task.
    pub task: LongRangeKind,
    /// T: the adding problem's length, the copy task's delay (digits: always 64).
    pub length: usize,
    /// The recurrent cell.
    pub cell: CellKind,
    /// Hidden units per layer.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// `pytorch`, `orthogonal`, `identity` (IRNN), `recommended`.
    pub init: String,
    /// Multiplies every recurrent matrix after initialisation (1: unchanged); large values
    /// make gradients explode.
    pub recurrent_scale: f64,
    /// Sequences per training batch.
    pub batch: usize,
    /// Optimizer, learning rate and clipping.
    pub optim: OptimSettings,
    /// Evaluate on the test set every this many steps (and at the end).
    pub eval_every: u64,
    /// Test sequences of the generated tasks.
    pub test_size: usize,
    /// Seeds the initialisation, the training batches and the test set.
    pub seed: u64,
}

impl LongRangeConfig {
    /// The defaults for `task` at length `length`: one layer of 128, Adam at 1e-3, clipping
    /// at 1, batches of 32, evaluation every 100 steps on 1,000 test sequences.
    pub fn new(task: LongRangeKind, length: usize, cell: CellKind) -> Self {
        LongRangeConfig {
            task,
            length: if task == LongRangeKind::Digits {
                DIGIT_STEPS
            } else {
                length
            },
            cell,
            hidden: 128,
            layers: 1,
            init: "pytorch".into(),
            recurrent_scale: 1.0,
            batch: 32,
            optim: OptimSettings::adam(1e-3, 1.0),
            eval_every: 100,
            test_size: 1000,
            seed: 0,
        }
    }
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.length < 2 {
            return bad(format!("--length must be at least 2, got {}", self.length));
        }
        if self.length > 100_000 {
            return bad(format!("--length {} is beyond 100000", self.length));
        }
        if self.hidden == 0 || self.layers == 0 || self.batch == 0 || self.test_size == 0 {
            return bad("--hidden, --layers, --batch and --test-size must be at least 1".into());
        }
        if self.eval_every == 0 {
            return bad("--eval-every must be at least 1".into());
        }
        if !self.recurrent_scale.is_finite() {
            return bad(format!(
                "--recurrent-scale must be finite, got {}",
                self.recurrent_scale
            ));
        }
        self.init.parse::<Init>()?;
        self.optim.validate()
    }
    /// Steps per sequence: T, or T + 20 for the copy task.
    pub fn steps(&self) -> usize {
        match self.task {
            LongRangeKind::Copy => self.length + 2 * COPY_SYMBOLS,
            _ => self.length,
        }
    }
}

/// The stored description of a long-range checkpoint (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LongRangeMeta {
    /// `long_range`.
    pub task: String,
    pub config: LongRangeConfig,
}

/// A long-range model: many-to-one or many-to-many.
#[derive(Clone, Debug)]
pub enum LongRangeModel {
    /// Adding and digits.
    Classifier(Classifier<f32>),
    /// Copy memory.
    Tagger(Tagger<f32>),
}

/// What [`LongRangeModel::forward`] keeps.
#[derive(Clone, Debug)]
pub enum LongRangeCache {
    /// Of a classifier.
    Classifier(ClassifierCache<f32>),
    /// Of a tagger.
    Tagger(TaggerCache<f32>),
}

impl LongRangeModel {
    /// The model `cfg` describes, initialised from `cfg.seed` (recurrent weights then scaled
    /// by `cfg.recurrent_scale`).
    pub fn new(cfg: &LongRangeConfig) -> Result<Self> {
        cfg.validate()?;
        let init: Init = cfg.init.parse()?;
        let mut rng = Rng::new(cfg.seed);
        let mut m = match cfg.task {
            LongRangeKind::Copy => LongRangeModel::Tagger(Tagger::new(
                TaggerConfig {
                    input: InputKind::Dense { size: COPY_VOCAB },
                    encoder: EncoderConfig {
                        cell: cfg.cell,
                        hidden: cfg.hidden,
                        layers: cfg.layers,
                        bidirectional: false,
                        dropout: 0.0,
                        reg: Default::default(),
                    },
                    outputs: COPY_CLASSES,
                },
                &init,
                &mut rng,
            )?),
            kind => LongRangeModel::Classifier(Classifier::new(
                ClassifierConfig {
                    input: InputKind::Dense {
                        size: if kind == LongRangeKind::Adding { 2 } else { 1 },
                    },
                    encoder: EncoderConfig {
                        cell: cfg.cell,
                        hidden: cfg.hidden,
                        layers: cfg.layers,
                        bidirectional: false,
                        dropout: 0.0,
                        reg: Default::default(),
                    },
                    pooling: Pooling::Last,
                    outputs: if kind == LongRangeKind::Adding { 1 } else { 10 },
                },
                &init,
                &mut rng,
            )?),
        };
        if cfg.recurrent_scale != 1.0 {
            let s = cfg.recurrent_scale as f32;
            m.visit_mut(&mut |p: &mut Param<f32>| {
                if p.name.contains("weight_hh") {
                    p.value.data_mut().iter_mut().for_each(|v| *v *= s);
                }
            });
        }
        Ok(m)
    }

    /// The recurrent layer.
    pub fn rnn(&self) -> &recurrent::layer::Rnn<f32> {
        match self {
            LongRangeModel::Classifier(c) => &c.rnn,
            LongRangeModel::Tagger(t) => &t.rnn,
        }
    }

    /// Outputs: [B, outputs] (classifier) or [T*B, 9] (tagger).
    pub fn forward(
        &self,
        batch: &SeqBatch<f32>,
        train: Option<&mut Rng>,
    ) -> Result<(Vec<f32>, LongRangeCache)> {
        Ok(match self {
            LongRangeModel::Classifier(c) => {
                let (y, k) = c.forward(batch, train)?;
                (y, LongRangeCache::Classifier(k))
            }
            LongRangeModel::Tagger(t) => {
                let (y, k) = t.forward(batch, train)?;
                (y, LongRangeCache::Tagger(k))
            }
        })
    }

    /// Backward from dL/d(outputs).
    pub fn backward(
        &mut self,
        batch: &SeqBatch<f32>,
        cache: &LongRangeCache,
        d: &[f32],
    ) -> Result<()> {
        match (self, cache) {
            (LongRangeModel::Classifier(c), LongRangeCache::Classifier(k)) => {
                c.backward(batch, k, d)
            }
            (LongRangeModel::Tagger(t), LongRangeCache::Tagger(k)) => t.backward(batch, k, d),
            _ => Err(Error::Config("cache of another model kind".into())),
        }
    }
}

impl Module<f32> for LongRangeModel {
    fn visit(&self, f: &mut dyn FnMut(&Param<f32>)) {
        match self {
            LongRangeModel::Classifier(c) => c.visit(f),
            LongRangeModel::Tagger(t) => t.visit(f),
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<f32>)) {
        match self {
            LongRangeModel::Classifier(c) => c.visit_mut(f),
            LongRangeModel::Tagger(t) => t.visit_mut(f),
        }
    }
}

/// The targets of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Regression targets [B].
    Real(Vec<f32>),
    /// Classes: [B] (many-to-one) or [T*B] (per step).
    Classes(Vec<usize>),
}

/// A batch of a long-range task: dense time-major inputs and targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Inputs [T, B, I], time-major.
    pub input: SeqBatch<f32>,
    /// What the model should output.
    pub targets: Targets,
}

/// Draws a batch of `b` sequences of a generated task, or takes the digits `idx`.
pub fn draw(
    cfg: &LongRangeConfig,
    b: usize,
    rng: &mut Rng,
    digits: Option<(&Digits, &[usize])>,
) -> Result<Sample> {
    let seq = |x: Vec<f32>, t: usize| SeqBatch {
        steps: Steps::Dense(x),
        t,
        b,
        lengths: None,
    };
    Ok(match cfg.task {
        LongRangeKind::Adding => {
            let a = adding(cfg.length, b, rng)?;
            Sample {
                input: seq(a.x, a.t),
                targets: Targets::Real(a.y),
            }
        }
        LongRangeKind::Copy => {
            let c = copy_memory(cfg.length, b, rng)?;
            Sample {
                input: seq(c.one_hot(), c.steps),
                targets: Targets::Classes(c.y.iter().map(|&v| v as usize).collect()),
            }
        }
        LongRangeKind::Digits => {
            let (d, pool) = digits.ok_or_else(|| {
                Error::Config(
                    "the digits task needs --data (../shared/data/digits/digits.csv)".into(),
                )
            })?;
            if pool.is_empty() {
                return Err(Error::Input("no digits to draw from".into()));
            }
            let idx: Vec<usize> = (0..b).map(|_| pool[rng.below(pool.len())]).collect();
            let (x, y) = d.batch(&idx);
            Sample {
                input: seq(x, DIGIT_STEPS),
                targets: Targets::Classes(y),
            }
        }
    })
}

/// The mean loss of `outputs` and its gradient.
pub fn loss(task: LongRangeKind, outputs: &[f32], targets: &Targets) -> Result<(f64, Vec<f32>)> {
    match (task, targets) {
        (LongRangeKind::Adding, Targets::Real(y)) => {
            Regression::Mse.loss(outputs, y, None, Reduction::Mean)
        }
        (LongRangeKind::Copy, Targets::Classes(y)) => {
            CrossEntropy::new().loss(outputs, COPY_CLASSES, y, None)
        }
        (LongRangeKind::Digits, Targets::Classes(y)) => {
            CrossEntropy::new().loss(outputs, 10, y, None)
        }
        _ => Err(Error::Config("targets of another task".into())),
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Test results.
#[derive(Clone, Debug, Serialize)]
pub struct TestScore {
    /// Mean loss (MSE or cross-entropy per step).
    pub loss: f64,
    /// Digits: images right; copy: recalled symbols right. None for adding.
    pub accuracy: Option<f64>,
    /// Sequences scored.
    pub sequences: usize,
}

/// Scores `model` on `samples`.
pub fn score(model: &LongRangeModel, task: LongRangeKind, samples: &[Sample]) -> Result<TestScore> {
    let (mut total, mut count, mut right, mut asked, mut seqs) = (0.0, 0usize, 0usize, 0usize, 0);
    for s in samples {
        let (out, _) = model.forward(&s.input, None)?;
        let (l, _) = loss(task, &out, &s.targets)?;
        let (t, b) = (s.input.t, s.input.b);
        let n = match task {
            LongRangeKind::Copy => t * b,
            _ => b,
        };
        total += l * n as f64;
        count += n;
        seqs += b;
        match (task, &s.targets) {
            (LongRangeKind::Digits, Targets::Classes(y)) => {
                for (row, &c) in out.chunks_exact(10).zip(y) {
                    right += usize::from(argmax(row) == c);
                    asked += 1;
                }
            }
            (LongRangeKind::Copy, Targets::Classes(y)) => {
                for ti in t - COPY_SYMBOLS..t {
                    for bi in 0..b {
                        let r = ti * b + bi;
                        let row = &out[r * COPY_CLASSES..(r + 1) * COPY_CLASSES];
                        right += usize::from(argmax(row) == y[r]);
                        asked += 1;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(TestScore {
        loss: total / count.max(1) as f64,
        accuracy: (asked > 0).then(|| right as f64 / asked as f64),
        sequences: seqs,
    })
}

/// The test set of a task: generated from the seed's `test` stream in batches of at most
/// 200 (to bound memory), or the digits' test part.
pub fn test_set(cfg: &LongRangeConfig, digits: Option<(&Digits, &[usize])>) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    match (cfg.task, digits) {
        (LongRangeKind::Digits, Some((d, test))) => {
            for chunk in test.chunks(200) {
                let (x, y) = d.batch(chunk);
                out.push(Sample {
                    input: SeqBatch {
                        steps: Steps::Dense(x),
                        t: DIGIT_STEPS,
                        b: chunk.len(),
                        lengths: None,
                    },
                    targets: Targets::Classes(y),
                });
            }
        }
        (LongRangeKind::Digits, None) => {
            return Err(Error::Config("the digits task needs --data".into()))
        }
        _ => {
            let mut rng = Rng::new(cfg.seed).fork("test");
            let mut left = cfg.test_size;
            while left > 0 {
                let b = left.min(200);
                out.push(draw(cfg, b, &mut rng, None)?);
                left -= b;
            }
        }
    }
    Ok(out)
}

/// Whether a test score solves the task (see [`LongRangeKind::solved_rule`]).
pub fn is_solved(task: LongRangeKind, s: &TestScore) -> bool {
    match task {
        LongRangeKind::Adding => s.loss < 0.01,
        LongRangeKind::Copy => s.accuracy.is_some_and(|a| a >= 0.99),
        LongRangeKind::Digits => s.accuracy.is_some_and(|a| a >= 0.9),
    }
}

struct LongRangeTask<'a> {
    cfg: LongRangeConfig,
    digits: Option<(&'a Digits, Vec<usize>)>,
    test: Vec<Sample>,
    meta_json: String,
}

impl Task for LongRangeTask<'_> {
    type Model = LongRangeModel;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    /// Generated tasks have no epochs: 100 batches count as one.
    fn batches_per_epoch(&self) -> u64 {
        match &self.digits {
            Some((_, train)) => (train.len() / self.cfg.batch).max(1) as u64,
            None => 100,
        }
    }

    /// Examples are drawn, not read: each rank draws its own rows from its own stream.
    fn train_step(
        &mut self,
        model: &mut LongRangeModel,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss> {
        let digits = self.digits.as_ref().map(|(d, tr)| (*d, &tr[..]));
        let rows = shard.rows(self.cfg.batch).len();
        if rows == 0 {
            return Ok(StepLoss::default());
        }
        let rng = shard.rng(rng);
        let s = draw(&self.cfg, rows, rng, digits)?;
        let (out, cache) = model.forward(&s.input, Some(rng))?;
        let (l, d) = loss(self.cfg.task, &out, &s.targets)?;
        model.backward(&s.input, &cache, &d)?;
        Ok(StepLoss {
            loss: l,
            tokens: rows,
            count: rows,
        })
    }

    fn evaluate(&mut self, model: &LongRangeModel) -> Result<Option<Evaluation>> {
        let s = score(model, self.cfg.task, &self.test)?;
        let kind = self.cfg.task;
        let metric = match kind {
            LongRangeKind::Digits => s.accuracy.unwrap_or(0.0),
            _ => s.loss,
        };
        Ok(Some(Evaluation {
            metric,
            higher_is_better: kind == LongRangeKind::Digits,
            fields: serde_json::json!({
                kind.metric(): metric,
                "test_loss": s.loss,
                "test_accuracy": s.accuracy,
                "solved": is_solved(kind, &s),
                "baseline": kind.baseline(self.cfg.length),
            }),
        }))
    }

    fn state(&self) -> (serde_json::Value, Vec<(String, Tensor<f32>)>) {
        (serde_json::Value::Null, Vec::new())
    }

    fn load_state(
        &mut self,
        _json: &serde_json::Value,
        _tensors: BTreeMap<String, Tensor<f32>>,
    ) -> Result<()> {
        Ok(())
    }
}

/// Trains (or resumes) a model on a long-range task into `req.out`. `digits` is the data of
/// the digits task (split 80/20 by [`Digits::split`] with the run's seed).
pub fn train_long_range(
    cfg: &LongRangeConfig,
    digits: Option<&Digits>,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<RunSummary> {
    cfg.validate()?;
    let mut model = LongRangeModel::new(cfg)?;
    let split = match (cfg.task, digits) {
        (LongRangeKind::Digits, Some(d)) => Some((d, d.split(0.2, cfg.seed)?)),
        (LongRangeKind::Digits, None) => {
            return Err(Error::Config(
                "the digits task needs --data (../shared/data/digits/digits.csv)".into(),
            ))
        }
        _ => None,
    };
    let test = test_set(cfg, split.as_ref().map(|(d, (_, te))| (*d, &te[..])))?;
    let meta = LongRangeMeta {
        task: "long_range".into(),
        config: cfg.clone(),
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let mut task = LongRangeTask {
        cfg: cfg.clone(),
        digits: split.map(|(d, (tr, _))| (d, tr)),
        test,
        meta_json,
    };
    let config = serde_json::json!({ "task": "long_range", "train": cfg });
    Trainer::new(&mut task, &mut model, req)
        .optim(&cfg.optim)
        .eval_every(EvalEvery::Steps(cfg.eval_every))
        .config(&config)
        .seed(cfg.seed)
        .run(obs)
}

/// Loads a long-range model and its config from a checkpoint file, checking every
/// parameter's shape against the file before the model is built.
pub fn load_long_range(path: &Path) -> Result<(LongRangeModel, LongRangeConfig)> {
    let ck = checkpoint::read(path)?;
    long_range_from_checkpoint(&ck, path)
}

/// The same from a checkpoint already read (`path` names it in messages); what the fuzz
/// target drives.
pub fn long_range_from_checkpoint(
    ck: &Checkpoint,
    path: &Path,
) -> Result<(LongRangeModel, LongRangeConfig)> {
    let s = ck
        .metadata
        .get("model")
        .ok_or_else(|| Error::format(path, "no `model` metadata: not a recurrent checkpoint"))?;
    let meta: LongRangeMeta = serde_json::from_str(s).map_err(|e| {
        Error::format(
            path,
            format!("not a long-range checkpoint (`recurrent lab long-range` writes them): {e}"),
        )
    })?;
    if meta.task != "long_range" {
        return Err(Error::format(
            path,
            format!("a `{}` model, not a long-range one", meta.task),
        ));
    }
    let cfg = meta.config;
    cfg.validate()?;
    check_shapes(&cfg, ck)?;
    let mut model = LongRangeModel::new(&cfg)?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok((model, cfg))
}

/// Every parameter's shape, from the config, against the file (before allocating).
fn check_shapes(cfg: &LongRangeConfig, ck: &Checkpoint) -> Result<()> {
    let (g, h) = (cfg.cell.gates(), cfg.hidden);
    let (input, outputs) = match cfg.task {
        LongRangeKind::Adding => (2, 1),
        LongRangeKind::Copy => (COPY_VOCAB, COPY_CLASSES),
        LongRangeKind::Digits => (1, 10),
    };
    let mut want = Vec::new();
    for k in 0..cfg.layers {
        let i = if k == 0 { input } else { h };
        want.push((format!("rnn.weight_ih_l{k}"), vec![g * h, i]));
        want.push((format!("rnn.weight_hh_l{k}"), vec![g * h, h]));
    }
    want.push(("head.weight".into(), vec![outputs, h]));
    for (name, shape) in &want {
        let t = ck.get(name)?;
        if t.shape() != shape.as_slice() {
            return Err(Error::tensor(
                name,
                format!(
                    "{}: shape {:?}, but the model config implies {shape:?}",
                    ck.origin().display(),
                    t.shape()
                ),
            ));
        }
    }
    Ok(())
}

pub use crate::lab::diagnose::Diagnosis;

/// Diagnoses `model` on `sample`: per-step gradient norms (step by step), the verdicts,
/// the recurrent spectra, and the per-parameter gradient norms of the fused backward pass.
pub fn diagnose_model(
    model: &mut LongRangeModel,
    task: LongRangeKind,
    sample: &Sample,
) -> Result<Diagnosis> {
    let (t, b) = (sample.input.t, sample.input.b);
    let Steps::Dense(x) = &sample.input.steps else {
        return Err(Error::Input("long-range inputs are dense".into()));
    };
    let flow = match model {
        LongRangeModel::Classifier(c) => {
            let mut head = c.head.clone();
            let hout = c.rnn.config().hout();
            let mut f = |_y: &[f32], hn: &[f32]| -> Result<(f64, Vec<f32>, Vec<f32>)> {
                let out = head.forward(hn, b);
                let (l, d) = loss(task, &out, &sample.targets)?;
                let dhn = head.backward(hn, &d, b);
                Ok((l, vec![0.0; t * b * hout], dhn))
            };
            diagnose::gradient_flow(&c.rnn, x, t, b, &mut f)?.0
        }
        LongRangeModel::Tagger(tg) => {
            let mut head = tg.head.clone();
            let hout = tg.rnn.config().hout();
            let mut f = |y: &[f32], _hn: &[f32]| -> Result<(f64, Vec<f32>, Vec<f32>)> {
                let out = head.forward(y, t * b);
                let (l, d) = loss(task, &out, &sample.targets)?;
                let dy = head.backward(y, &d, t * b);
                Ok((l, dy, vec![0.0; b * hout]))
            };
            diagnose::gradient_flow(&tg.rnn, x, t, b, &mut f)?.0
        }
    };
    model.zero_grad();
    let (out, cache) = model.forward(&sample.input, None)?;
    let (_, d) = loss(task, &out, &sample.targets)?;
    model.backward(&sample.input, &cache, &d)?;
    let param_norms = diagnose::param_norms(model);
    model.zero_grad();
    Ok(Diagnosis {
        verdicts: diagnose::verdicts(&flow),
        spectra: diagnose::recurrent_spectra(model.rnn()),
        flow,
        param_norms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_of_each_task_run_and_scale() {
        for task in [LongRangeKind::Adding, LongRangeKind::Copy] {
            let mut cfg = LongRangeConfig::new(task, 12, CellKind::Gru);
            cfg.hidden = 8;
            let m = LongRangeModel::new(&cfg).unwrap();
            cfg.recurrent_scale = 3.0;
            let m3 = LongRangeModel::new(&cfg).unwrap();
            let (a, b) = (
                m.rnn().dir_params(0, 0).recurrent(),
                m3.rnn().dir_params(0, 0).recurrent(),
            );
            assert_eq!(a.value.data()[5] * 3.0, b.value.data()[5]);
            let s = draw(&cfg, 4, &mut Rng::new(0), None).unwrap();
            let (out, _) = m.forward(&s.input, None).unwrap();
            let (l, _) = loss(task, &out, &s.targets).unwrap();
            assert!(l.is_finite());
        }
    }
}
