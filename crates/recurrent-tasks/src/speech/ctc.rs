//! Sequence transcription with CTC (many-to-many, not aligned): utterances of feature frames,
//! each with a label string (speech: log-mel frames and the digits spoken), train a
//! [`CtcModel`] through the shared loop ([`recurrent::train::runner`]). The data are generic and in
//! memory, so a caller (the speech task) only supplies features and labels.
//!
//! Training: batches of utterances of similar length, optional SpecAugment-style masking
//! (time and feature bands set to 0, the mean of normalised features), the CTC loss
//! averaged as PyTorch's. Validation: greedy decoding, scored by label error rate (edit
//! distance over reference labels; the best checkpoint is the lowest) and whole-utterance
//! accuracy. At the end the best checkpoint scores the validation and test sets, greedy and,
//! with `beam` > 1, by prefix beam search.
//!
//! ```no_run
//! use recurrent_tasks::speech::ctc::{train_ctc, CtcData, CtcExample, CtcTrainConfig};
//! use recurrent::train::runner::TrainRequest;
//! // Two 4-feature frames per utterance here; real data: log-mel frames.
//! let ex = CtcExample { frames: vec![0.0; 8], labels: vec![3] };
//! let data = CtcData { dim: 4, symbols: (0..10).map(|d| d.to_string()).collect(),
//!                      train: vec![ex; 100], ..Default::default() };
//! let cfg = CtcTrainConfig { stack: 1, ..Default::default() };
//! let s = train_ctc(&cfg, data, &TrainRequest::new("runs/ctc").steps(100), &mut recurrent::train::Quiet).unwrap();
//! println!("{:?}", s.valid.map(|v| v.greedy.error_rate()));
//! ```

use crate::speech::ctc_model::{pad_frames, CtcModel, CtcModelConfig};
use crate::speech::score::TranscriptionScore;
use recurrent::cell::CellKind;
use recurrent::checkpoint;
use recurrent::checkpoint::shapes::{check_shapes, read_meta, rnn_shapes};
use recurrent::decode::ctc::Hypothesis;
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::nn::CtcReduction;
use recurrent::optim::{OptimSettings, OptimizerKind, ScheduleKind};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::text::bucket::bucket_batches;
use recurrent::text::bucket::EpochCursor;
use recurrent::train::observe::Observer;
use recurrent::train::runner::{EvalEvery, Evaluation, Task, TrainRequest, Trainer};
use recurrent::train::{Shard, StepLoss};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything that decides the trained weights (stored with the run; a resume must agree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtcTrainConfig {
    /// Recurrent cell.
    pub cell: CellKind,
    /// Hidden units per direction.
    pub hidden: usize,
    /// Stacked recurrent layers.
    pub layers: usize,
    /// Read the utterance in both directions.
    pub bidirectional: bool,
    /// Dropout before the head (and between layers).
    pub dropout: f64,
    /// Weight drop and locked dropout in the recurrent layer (flat keys, left out while off).
    #[serde(flatten)]
    pub reg: recurrent::layer::RecurrentReg,
    /// Frames concatenated into one recurrent step.
    pub stack: usize,
    /// Utterances per batch.
    pub batch: usize,
    /// Optimizer, learning rate, weight decay, clipping and schedule (stored flat: the
    /// keys `optimizer`, `lr`, `weight_decay`, `clip`, `lr_schedule`, `warmup`).
    #[serde(flatten)]
    pub optim: OptimSettings,
    /// Seed of initialisation, dropout, masking and batch order.
    pub seed: u64,
    /// `pytorch`, `orthogonal`, `recommended`, `identity`.
    pub init: String,
    /// Evaluate every this many steps (None: once per epoch).
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Beam width of the final scoring (<= 1: greedy only).
    pub beam: usize,
    /// Without validation data: the fraction of training utterances held out for it.
    pub val_frac: f64,
    /// Time masks per training utterance (SpecAugment; 0: off).
    pub time_masks: usize,
    /// Widest time mask, in frames.
    pub time_mask_width: usize,
    /// Feature-band masks per training utterance (0: off).
    pub freq_masks: usize,
    /// Widest feature-band mask, in features.
    pub freq_mask_width: usize,
}

impl Default for CtcTrainConfig {
    fn default() -> Self {
        CtcTrainConfig {
            cell: CellKind::Lstm,
            hidden: 128,
            layers: 2,
            bidirectional: true,
            dropout: 0.2,
            reg: Default::default(),
            stack: 2,
            batch: 16,
            optim: OptimSettings {
                lr: 2e-3,
                clip: 5.0,
                optimizer: OptimizerKind::Adam,
                weight_decay: None,
                lr_schedule: ScheduleKind::Constant,
                warmup: 0,
                ema: None,
            },
            seed: 0,
            init: "pytorch".into(),
            eval_every: None,
            beam: 1,
            val_frac: 0.1,
            time_masks: 0,
            time_mask_width: 10,
            freq_masks: 0,
            freq_mask_width: 8,
        }
    }
}

impl CtcTrainConfig {
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.hidden == 0 || self.layers == 0 || self.batch == 0 || self.stack == 0 {
            return bad("--hidden, --layers, --batch and --stack must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        self.reg.validate()?;
        if !(0.0..1.0).contains(&self.val_frac) {
            return bad(format!(
                "--val-frac must be in [0, 1), got {}",
                self.val_frac
            ));
        }
        if let Some(e) = self.eval_every {
            e.check()?;
        }
        if !(1..=recurrent::decode::MAX_BEAM).contains(&self.beam) {
            return bad(format!(
                "--beam must be from 1 to {}, got {}",
                recurrent::decode::MAX_BEAM,
                self.beam
            ));
        }
        self.init.parse::<Init>()?;
        Ok(())
    }
}

/// One utterance: frames [T, I] row-major and its label string (symbol indices).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CtcExample {
    /// T * I features.
    pub frames: Vec<f32>,
    /// Symbols, each below the number of symbols.
    pub labels: Vec<usize>,
}

impl CtcExample {
    /// T for `dim` features per frame.
    pub fn len(&self, dim: usize) -> usize {
        self.frames.len() / dim.max(1)
    }
    /// No frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// The utterances, and what they mean.
#[derive(Clone, Debug, Default)]
pub struct CtcData {
    /// I: features per frame.
    pub dim: usize,
    /// Symbol names, index = label (speech: "0".."9").
    pub symbols: Vec<String>,
    /// Training utterances.
    pub train: Vec<CtcExample>,
    /// None: `val_frac` of `train` is held out.
    pub valid: Option<Vec<CtcExample>>,
    /// Test utterances, scored with the best checkpoint at the end.
    pub test: Option<Vec<CtcExample>>,
    /// Stored with the model (feature settings and the like: what a caller needs to turn new
    /// input into frames).
    pub extra: serde_json::Value,
}

/// The stored description of a CTC checkpoint (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CtcMeta {
    /// `ctc`.
    pub task: String,
    /// The architecture.
    pub model: CtcModelConfig,
    /// Symbol names, index = label.
    pub symbols: Vec<String>,
    /// The training configuration.
    pub train: CtcTrainConfig,
    /// The caller's [`CtcData::extra`].
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// Scores of a set of utterances.
#[derive(Clone, Debug, Serialize)]
pub struct CtcScore {
    /// Mean CTC loss per utterance, each divided by its label count (PyTorch's mean).
    pub loss: f64,
    /// Greedy decoding.
    pub greedy: TranscriptionScore,
    /// Prefix beam search (when `beam` > 1).
    pub beam: Option<TranscriptionScore>,
}

/// What a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct CtcSummary {
    /// The run directory.
    pub out: PathBuf,
    /// Optimizer steps done.
    pub steps: u64,
    /// Passes over the training data.
    pub epochs: f64,
    /// Seconds spent in training steps.
    pub train_s: f64,
    /// Training frames per second.
    pub frames_per_s: f64,
    /// The last training batch's loss.
    pub train_loss: Option<f64>,
    /// Trainable parameters.
    pub params: usize,
    /// Training utterances (after any held-out validation).
    pub train_examples: usize,
    /// The best checkpoint on the validation set.
    pub valid: Option<CtcScore>,
    /// The best checkpoint on the test set.
    pub test: Option<CtcScore>,
    /// The step of the best checkpoint.
    pub best_step: Option<u64>,
    /// Batches skipped for a non-finite loss or gradient.
    pub nan_skips: u64,
    /// A limit was reached (false: stopped early).
    pub finished: bool,
    /// The run was already complete: nothing was trained.
    pub already_complete: bool,
}

/// SpecAugment-style masking of frames [T, I] in place: `time_masks` runs of up to
/// `time_mask_width` frames and `freq_masks` bands of up to `freq_mask_width` features set
/// to 0.
pub fn mask_frames(frames: &mut [f32], dim: usize, cfg: &CtcTrainConfig, rng: &mut Rng) {
    let t = frames.len() / dim.max(1);
    for _ in 0..cfg.time_masks {
        let w = rng.below(cfg.time_mask_width.min(t / 4) + 1);
        let start = rng.below(t - w + 1);
        frames[start * dim..(start + w) * dim].fill(0.0);
    }
    for _ in 0..cfg.freq_masks {
        let w = rng.below(cfg.freq_mask_width.min(dim) + 1);
        let start = rng.below(dim - w + 1);
        for row in frames.chunks_exact_mut(dim) {
            row[start..start + w].fill(0.0);
        }
    }
}

struct CtcTask {
    train: Vec<CtcExample>,
    valid: Option<Vec<CtcExample>>,
    dim: usize,
    cursor: EpochCursor,
    cfg: CtcTrainConfig,
    meta_json: String,
}

impl Task for CtcTask {
    type Model = CtcModel<f32>;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    fn batches_per_epoch(&self) -> u64 {
        self.cursor.per_epoch()
    }

    fn train_step(
        &mut self,
        model: &mut CtcModel<f32>,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss> {
        let all = self.cursor.next_batch();
        let idx = &all[shard.rows(all.len())];
        if idx.is_empty() {
            return Ok(StepLoss::default());
        }
        let rng = shard.rng(rng);
        let masking = self.cfg.time_masks > 0 || self.cfg.freq_masks > 0;
        let mut frames: Vec<Vec<f32>> = Vec::new();
        if masking {
            for &i in idx {
                let mut f = self.train[i].frames.clone();
                mask_frames(&mut f, self.dim, &self.cfg, rng);
                frames.push(f);
            }
        }
        let seqs: Vec<&[f32]> = if masking {
            frames.iter().map(|f| f.as_slice()).collect()
        } else {
            idx.iter()
                .map(|&i| self.train[i].frames.as_slice())
                .collect()
        };
        let targets: Vec<Vec<usize>> = idx.iter().map(|&i| self.train[i].labels.clone()).collect();
        let batch = pad_frames(&seqs, self.dim)?;
        let out = model.loss(&batch, &targets, CtcReduction::Mean, Some(rng), true)?;
        Ok(StepLoss {
            loss: out.loss,
            tokens: idx.iter().map(|&i| self.cursor.lengths()[i]).sum(),
            count: idx.len(),
        })
    }

    fn evaluate(&mut self, model: &CtcModel<f32>) -> Result<Option<Evaluation>> {
        let Some(v) = &self.valid else {
            return Ok(None);
        };
        let s = score(model, v, self.dim, 1)?;
        Ok(Some(Evaluation {
            metric: s.greedy.error_rate(),
            higher_is_better: false,
            fields: serde_json::json!({"val_loss": s.loss, "val_error_rate": s.greedy.error_rate(),
                "val_utterance_accuracy": s.greedy.utterance_accuracy()}),
        }))
    }

    fn state(&self) -> (serde_json::Value, Vec<(String, Tensor<f32>)>) {
        (self.cursor.state(), Vec::new())
    }

    fn load_state(
        &mut self,
        json: &serde_json::Value,
        _tensors: BTreeMap<String, Tensor<f32>>,
    ) -> Result<()> {
        self.cursor.load_state(json, "ctc")
    }
}

/// Decodes utterances (frames [T_i, I] each) in batches of similar length, in their order:
/// greedy with `beam` <= 1, else prefix beam search. Labels are symbols.
pub fn decode_all(
    model: &CtcModel<f32>,
    frames: &[&[f32]],
    dim: usize,
    beam: usize,
) -> Result<Vec<Hypothesis>> {
    let lengths: Vec<usize> = frames.iter().map(|f| f.len() / dim.max(1)).collect();
    let mut out = vec![None; frames.len()];
    for idx in bucket_batches(&lengths, 32, None) {
        let seqs: Vec<&[f32]> = idx.iter().map(|&i| frames[i]).collect();
        let batch = pad_frames(&seqs, dim)?;
        for (h, &i) in model.decode(&batch, beam)?.into_iter().zip(&idx) {
            out[i] = Some(h);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Loss, greedy scores and (with `beam` > 1) beam-search scores of `model` on `data`.
pub fn score(
    model: &CtcModel<f32>,
    data: &[CtcExample],
    dim: usize,
    beam: usize,
) -> Result<CtcScore> {
    let lengths: Vec<usize> = data.iter().map(|e| e.len(dim)).collect();
    let mut loss = 0.0;
    let mut greedy = TranscriptionScore::default();
    let mut beamed = (beam > 1).then(TranscriptionScore::default);
    for idx in bucket_batches(&lengths, 32, None) {
        let seqs: Vec<&[f32]> = idx.iter().map(|&i| data[i].frames.as_slice()).collect();
        let targets: Vec<Vec<usize>> = idx.iter().map(|&i| data[i].labels.clone()).collect();
        let batch = pad_frames(&seqs, dim)?;
        // One forward pass serves the loss and both decoders.
        let (logits, cache) = model.forward(&batch, None)?;
        let losses = model.ctc_losses(&logits, &cache, &targets)?;
        // Sum of per-utterance losses / label counts, as PyTorch's mean before the batch mean.
        loss += losses
            .iter()
            .zip(&targets)
            .map(|(l, t)| l / t.len().max(1) as f64)
            .sum::<f64>();
        for (lp, t) in model.split_log_probs(&logits, &cache).iter().zip(&targets) {
            greedy.add(t, &model.decode_log_probs(lp, 1).labels);
            if let Some(s) = &mut beamed {
                s.add(t, &model.decode_log_probs(lp, beam).labels);
            }
        }
    }
    Ok(CtcScore {
        loss: loss / data.len().max(1) as f64,
        greedy,
        beam: beamed,
    })
}

/// Checks widths and labels and that every utterance can hold its labels after stacking;
/// errors name the set and the utterance.
fn check_examples(
    data: &[CtcExample],
    dim: usize,
    symbols: usize,
    stack: usize,
    what: &str,
) -> Result<()> {
    for (i, e) in data.iter().enumerate() {
        if e.frames.is_empty() || e.frames.len() % dim != 0 {
            return Err(Error::Input(format!(
                "{what} utterance {i}: {} features are not a whole number (>= 1) of {dim}-feature frames",
                e.frames.len()
            )));
        }
        if let Some(&s) = e.labels.iter().find(|&&s| s >= symbols) {
            return Err(Error::Input(format!(
                "{what} utterance {i}: label {s} is not below the {symbols} symbols"
            )));
        }
        if e.frames.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "{what} utterance {i}: a feature is NaN or infinite"
            )));
        }
        let steps = e.len(dim).div_ceil(stack);
        let need = recurrent::nn::ctc::min_frames(&e.labels);
        if steps < need {
            return Err(Error::Input(format!(
                "{what} utterance {i}: {} frames ({steps} steps with --stack {stack}) cannot hold its {} labels (CTC needs {need}); lower --stack",
                e.len(dim),
                e.labels.len()
            )));
        }
    }
    Ok(())
}

/// Holds out `frac` of `examples` (seeded shuffle): (train, held out).
fn hold_out(
    mut examples: Vec<CtcExample>,
    frac: f64,
    seed: u64,
) -> (Vec<CtcExample>, Vec<CtcExample>) {
    let mut rng = Rng::new(seed).fork("validation-split");
    rng.shuffle(&mut examples);
    let n = ((examples.len() as f64) * frac).round() as usize;
    let held = examples.split_off(examples.len() - n.min(examples.len()));
    (examples, held)
}

/// Trains (or resumes) a CTC model, then scores its best checkpoint on the validation and
/// test sets (written to `results.json` in the run directory).
pub fn train_ctc(
    cfg: &CtcTrainConfig,
    data: CtcData,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<CtcSummary> {
    cfg.validate()?;
    if data.dim == 0 || data.symbols.is_empty() {
        return Err(Error::Input(
            "CTC data need at least one feature per frame and one symbol".into(),
        ));
    }
    let (train, valid) = match data.valid {
        Some(v) => (data.train, Some(v)),
        None if cfg.val_frac > 0.0 => {
            let (t, v) = hold_out(data.train, cfg.val_frac, cfg.seed);
            obs.message(&format!(
                "no validation data: {} of the training utterances held out (--val-frac {})",
                v.len(),
                cfg.val_frac
            ));
            (t, Some(v))
        }
        None => (data.train, None),
    };
    if train.is_empty() {
        return Err(Error::Input("no training utterances".into()));
    }
    let k = data.symbols.len();
    check_examples(&train, data.dim, k, cfg.stack, "training")?;
    if let Some(v) = &valid {
        check_examples(v, data.dim, k, 1, "validation")?;
    }
    if let Some(v) = &data.test {
        check_examples(v, data.dim, k, 1, "test")?;
    }
    let model_cfg = CtcModelConfig {
        input: data.dim,
        stack: cfg.stack,
        cell: cfg.cell,
        hidden: cfg.hidden,
        layers: cfg.layers,
        bidirectional: cfg.bidirectional,
        dropout: cfg.dropout,
        reg: cfg.reg,
        symbols: k,
    };
    let meta = CtcMeta {
        task: "ctc".into(),
        model: model_cfg.clone(),
        symbols: data.symbols.clone(),
        train: cfg.clone(),
        extra: data.extra.clone(),
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let init: Init = cfg.init.parse()?;
    let mut model = CtcModel::<f32>::new(model_cfg.clone(), &init, &mut Rng::new(cfg.seed))?;
    let lengths: Vec<usize> = train.iter().map(|e| e.len(data.dim)).collect();
    let mut task = CtcTask {
        cursor: EpochCursor::new(lengths, cfg.batch, cfg.seed, "ctc-batches"),
        train,
        valid,
        dim: data.dim,
        cfg: cfg.clone(),
        meta_json,
    };
    let per_epoch = task.cursor.per_epoch();
    let config = serde_json::json!({"task": "ctc", "train": cfg, "model": model_cfg, "symbols": data.symbols, "extra": data.extra});
    let s = Trainer::new(&mut task, &mut model, req)
        .optim(&cfg.optim)
        .eval_every(cfg.eval_every.unwrap_or(EvalEvery::Steps(per_epoch.max(1))))
        .config(&config)
        .seed(cfg.seed)
        .run(obs)?;
    let best_path = req.out.join("best.safetensors");
    let (best, _) = load_ctc(&best_path)?;
    let best_step = checkpoint::read(&best_path)
        .ok()
        .and_then(|c| c.metadata.get("step").and_then(|v| v.parse().ok()));
    let valid_s = task
        .valid
        .as_deref()
        .map(|v| score(&best, v, data.dim, cfg.beam))
        .transpose()?;
    let test_s = data
        .test
        .as_deref()
        .map(|v| score(&best, v, data.dim, cfg.beam))
        .transpose()?;
    let summary = CtcSummary {
        out: s.out,
        steps: s.steps,
        epochs: s.steps as f64 / per_epoch.max(1) as f64,
        train_s: s.train_s,
        frames_per_s: s.tokens_per_s,
        train_loss: s.train_loss,
        params: s.params,
        train_examples: task.train.len(),
        valid: valid_s,
        test: test_s,
        best_step,
        nan_skips: s.nan_skips,
        finished: s.finished,
        already_complete: s.already_complete,
    };
    req.write_results(&summary, summary.already_complete)?;
    Ok(summary)
}

/// Loads a CTC model and its description from a checkpoint file; shapes are checked against
/// the file before the model is allocated.
pub fn load_ctc(path: &Path) -> Result<(CtcModel<f32>, CtcMeta)> {
    let ck = checkpoint::read(path)?;
    let meta: CtcMeta = read_meta(&ck, path, "ctc")?;
    let m = &meta.model;
    if m.symbols != meta.symbols.len() || m.symbols == 0 || m.stack == 0 || m.input == 0 {
        return Err(Error::format(
            path,
            format!(
                "the model has {} symbols, stack {} and {} features; the metadata {} symbols",
                m.symbols,
                m.stack,
                m.input,
                meta.symbols.len()
            ),
        ));
    }
    let dn = if m.bidirectional { 2 } else { 1 };
    let mut want = rnn_shapes(
        m.cell,
        m.input * m.stack,
        m.hidden,
        m.layers,
        m.bidirectional,
    );
    want.push(("head.weight".into(), vec![m.classes(), dn * m.hidden]));
    want.push(("head.bias".into(), vec![m.classes()]));
    check_shapes(&ck, &want)?;
    let mut model = CtcModel::<f32>::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok((model, meta))
}
