//! Training a language model: truncated BPTT over `B` contiguous streams of a corpus, Adam
//! (or another optimizer) with clipping by global norm, periodic evaluation on the held-out
//! tail of the corpus, checkpoints that resume bit for bit.
//!
//! The data, split, batching and evaluation are those of ../shared/bench/pytorch_charlm.py,
//! so that with the same flags both programs train the same model on the same data.
//!
//! ```no_run
//! use recurrent::train::lm::{LmTrainConfig, train_lm, TrainRequest};
//! let text = std::fs::read_to_string("input.txt").unwrap();
//! let cfg = LmTrainConfig::default();
//! let req = TrainRequest::new("runs/my-lm").steps(100);
//! let summary = train_lm(&cfg, &text, &req, &mut recurrent::train::Quiet).unwrap();
//! println!("validation loss {:?}", summary.val_loss);
//! ```

use super::clip;
use super::observe::{EvalInfo, Limits, Observer, OnNan, StepInfo};
use super::optim::{OptimConfig, OptimState, Optimizer};
use super::run::{named_params, RunDir, CARRY_PREFIX, OPTIM_PREFIX};
use super::schedule::Schedule;
use crate::cell::CellKind;
use crate::checkpoint::{self, Checkpoint};
use crate::data::text::{split_by_position, StreamBatcher};
use crate::data::{Tokenizer, Vocab};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::layer::RnnState;
use crate::model::lm::{LanguageModel, LmConfig};
use crate::nn::CrossEntropy;
use crate::param::Module;
use crate::rng::{Rng, RngState};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything that decides the trained weights (stored with the run; a resume must agree).
/// Defaults are pytorch_charlm.py's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LmTrainConfig {
    pub cell: CellKind,
    pub hidden: usize,
    pub layers: usize,
    pub embed: usize,
    pub dropout: f64,
    pub seq_len: usize,
    pub batch: usize,
    pub lr: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    pub clip: f64,
    /// `adam`, `adamw`, `sgd`, `rmsprop`, `adagrad`.
    pub optimizer: String,
    /// Weight decay (None: the optimizer's PyTorch default; AdamW's is 0.01).
    pub weight_decay: Option<f64>,
    pub val_frac: f64,
    pub seed: u64,
    pub tokenizer: Tokenizer,
    /// Word tokenizer: minimum count of a word to enter the vocabulary.
    pub min_count: usize,
    /// `pytorch` (default), `orthogonal`, `recommended`, `identity`.
    pub init: String,
    /// Evaluate every this many seconds of training (and at the end).
    pub eval_every: f64,
    /// `constant` or `cosine` (annealed to 0 over the run's `--steps`).
    pub lr_schedule: String,
    /// Linear warm-up over this many steps.
    pub warmup: u64,
}

impl Default for LmTrainConfig {
    fn default() -> Self {
        LmTrainConfig {
            cell: CellKind::Lstm,
            hidden: 512,
            layers: 2,
            embed: 64,
            dropout: 0.2,
            seq_len: 128,
            batch: 64,
            lr: 2e-3,
            clip: 5.0,
            optimizer: "adam".into(),
            weight_decay: None,
            val_frac: 0.1,
            seed: 0,
            tokenizer: Tokenizer::Char,
            min_count: 1,
            init: "pytorch".into(),
            eval_every: 120.0,
            lr_schedule: "constant".into(),
            warmup: 0,
        }
    }
}

impl LmTrainConfig {
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(0.0..1.0).contains(&self.val_frac) {
            return bad(format!(
                "--val-frac must be in [0, 1), got {}",
                self.val_frac
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("--lr must be positive, got {}", self.lr));
        }
        if self.clip.is_nan() || self.clip < 0.0 {
            return bad(format!("--clip must be >= 0, got {}", self.clip));
        }
        if self.seq_len == 0
            || self.batch == 0
            || self.hidden == 0
            || self.layers == 0
            || self.embed == 0
        {
            return bad(
                "--seq-len, --batch, --hidden, --layers and --embed must be at least 1".into(),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.eval_every.is_nan() || self.eval_every <= 0.0 {
            return bad(format!(
                "--eval-every must be positive, got {}",
                self.eval_every
            ));
        }
        self.init.parse::<Init>()?;
        if !["constant", "cosine"].contains(&self.lr_schedule.as_str()) {
            return bad(format!(
                "--lr-schedule must be constant or cosine, got `{}`",
                self.lr_schedule
            ));
        }
        Ok(())
    }

    /// The learning rate as a function of the step. Cosine anneals over `steps` (required:
    /// a schedule over wall-clock time would make runs irreproducible).
    pub fn schedule(&self, steps: Option<u64>) -> Result<Schedule> {
        let mut s = match self.lr_schedule.as_str() {
            "cosine" => {
                let total = steps.ok_or_else(|| {
                    Error::Config(
                        "--lr-schedule cosine needs --steps (it anneals over the step count)"
                            .into(),
                    )
                })?;
                Schedule::cosine(self.lr, total.saturating_sub(self.warmup).max(1), 0.0)
            }
            _ => Schedule::constant(self.lr),
        };
        s.warmup = self.warmup;
        s.validate()?;
        Ok(s)
    }
}

/// Where and how long to train.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    pub out: PathBuf,
    pub resume: bool,
    pub limits: Limits,
    /// Save a checkpoint every this many steps (and at the end).
    pub save_every: Option<u64>,
    /// Checkpoints kept.
    pub keep: usize,
    pub on_nan: OnNan,
}

impl TrainRequest {
    /// A fresh run into `out`, no limits yet (see [`TrainRequest::steps`]).
    pub fn new(out: impl Into<PathBuf>) -> Self {
        TrainRequest {
            out: out.into(),
            resume: false,
            limits: Limits::default(),
            save_every: None,
            keep: 2,
            on_nan: OnNan::Stop,
        }
    }
    pub fn steps(mut self, n: u64) -> Self {
        self.limits.steps = Some(n);
        self
    }
}

/// What a finished (or stopped) run reports.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    pub out: PathBuf,
    pub steps: u64,
    pub train_s: f64,
    pub tokens: u64,
    pub tokens_per_s: f64,
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub best_val_loss: Option<f64>,
    pub params: usize,
    pub vocab: usize,
    pub train_tokens: usize,
    pub val_tokens: usize,
    pub nan_skips: u64,
    /// True if a limit was reached; false if stopped early (Ctrl-C).
    pub finished: bool,
    /// The run was already complete: nothing was done.
    pub already_complete: bool,
}

/// The position of a run, saved in each checkpoint's metadata (`train_state`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrainState {
    step: u64,
    pos: usize,
    trained_s: f64,
    tokens: u64,
    rng: RngState,
    best_val: Option<f64>,
    next_eval_s: f64,
    nan_skips: u64,
    finished: bool,
    optim: Option<OptimState>,
    last_loss: Option<f64>,
}

/// The stored description of a language-model checkpoint (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LmMeta {
    pub task: String,
    pub model: LmConfig,
    pub vocab: Vocab,
    pub train: LmTrainConfig,
}

/// Trains (or resumes) a language model on `text`.
pub fn train_lm(
    cfg: &LmTrainConfig,
    text: &str,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let vocab = match cfg.tokenizer {
        Tokenizer::Char => Vocab::chars(text),
        Tokenizer::Word => Vocab::words(text, cfg.min_count.max(1)),
    };
    let ids = vocab.encode(text)?;
    let (train_ids, val_ids) = split_by_position(&ids, cfg.val_frac);
    let batcher = StreamBatcher::new(&train_ids, cfg.batch, cfg.seq_len)?;
    let model_cfg = LmConfig {
        cell: cfg.cell,
        vocab: vocab.len(),
        embed: cfg.embed,
        hidden: cfg.hidden,
        layers: cfg.layers,
        dropout: cfg.dropout,
    };
    let meta = LmMeta {
        task: "lm".into(),
        model: model_cfg.clone(),
        vocab: vocab.clone(),
        train: cfg.clone(),
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    meta.model.validate()?;
    // Everything checked: only now is the run directory created.
    let schedule = cfg.schedule(req.limits.steps)?;
    let run = RunDir::open(&req.out, req.resume)?;

    // Fresh model, or the stored one.
    let init: Init = cfg.init.parse()?;
    let mut rng = Rng::new(cfg.seed);
    let mut model: LanguageModel<f32> = LanguageModel::new(model_cfg, &init, &mut rng)?;
    let mut opt = build_optimizer(&cfg.optimizer, cfg.lr, cfg.weight_decay)?;
    let mut dropout_rng = rng.fork("dropout");
    let mut st = TrainState {
        step: 0,
        pos: 0,
        trained_s: 0.0,
        tokens: 0,
        rng: dropout_rng.state(),
        best_val: None,
        next_eval_s: cfg.eval_every,
        nan_skips: 0,
        finished: false,
        optim: None,
        last_loss: None,
    };
    let mut carry: Option<RnnState<f32>> = None;
    let config_doc = serde_json::json!({ "task": "lm", "train": cfg, "model": meta.model, "vocab_size": vocab.len() });

    if let Some(stored) = run.read_config()? {
        compare_configs(&stored["train"], &config_doc["train"], &req.out)?;
        match run.latest_checkpoint(&mut |w| obs.message(&w))? {
            Some((path, ck)) => {
                let (s, c) = restore(&ck, &path, &mut model, opt.as_mut(), &vocab)?;
                st = s;
                carry = c;
                dropout_rng = Rng::from_state(&st.rng)
                    .ok_or_else(|| Error::format(&path, "bad RNG state"))?;
                let epoch = st.step as f64 / batcher.chunks_per_epoch().max(1) as f64;
                if st.finished && req.limits.reached(st.step, st.trained_s, epoch) {
                    obs.message(&format!(
                        "the run in {} is complete (step {}): nothing to do",
                        req.out.display(),
                        st.step
                    ));
                    return Ok(summary(
                        &req.out, &st, &model, &vocab, &train_ids, &val_ids, true, true,
                    ));
                }
                // A finished run given a larger limit goes on from where it stopped.
                st.finished = false;
                run.truncate_metrics_after(st.step)?;
                obs.message(&format!(
                    "resuming {} from step {} ({})",
                    req.out.display(),
                    st.step,
                    path.display()
                ));
            }
            None => obs.message(&format!(
                "{}: no checkpoint yet, starting from step 0",
                req.out.display()
            )),
        }
    } else if req.resume {
        obs.message(&format!(
            "{}: no run here yet, starting from step 0",
            req.out.display()
        ));
    }
    run.write_file(
        "config.json",
        serde_json::to_string_pretty(&config_doc)
            .map_err(|e| Error::Config(e.to_string()))?
            .as_bytes(),
    )?;

    let chunks_per_epoch = batcher.chunks_per_epoch().max(1) as f64;
    let ce = CrossEntropy::new();
    let (t, b) = (cfg.seq_len, cfg.batch);
    let mut targets = vec![0usize; t * b];
    let save = |st: &TrainState,
                model: &LanguageModel<f32>,
                opt: &dyn Optimizer<f32>,
                carry: &Option<RnnState<f32>>|
     -> Result<()> {
        let mut st = st.clone();
        st.optim = Some(opt.state());
        let mut tensors = named_params(model);
        tensors.extend(
            opt.state_tensors()
                .into_iter()
                .map(|(n, t)| (format!("{OPTIM_PREFIX}{n}"), t)),
        );
        if let Some(c) = carry {
            tensors.push((format!("{CARRY_PREFIX}h"), c.h.clone()));
            if let Some(cc) = &c.c {
                tensors.push((format!("{CARRY_PREFIX}c"), cc.clone()));
            }
        }
        let mut md = BTreeMap::new();
        md.insert("model".to_string(), meta_json.clone());
        md.insert(
            "train_state".to_string(),
            serde_json::to_string(&st).map_err(|e| Error::Config(e.to_string()))?,
        );
        let refs: Vec<(String, &Tensor<f32>)> =
            tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        run.save_checkpoint(st.step, &refs, &md, req.keep)?;
        Ok(())
    };
    let save_best = |model: &LanguageModel<f32>, step: u64, val: Option<f64>| -> Result<()> {
        let tensors = named_params(model);
        let refs: Vec<(String, &Tensor<f32>)> =
            tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        let mut md = BTreeMap::new();
        md.insert("model".to_string(), meta_json.clone());
        md.insert("step".to_string(), step.to_string());
        if let Some(v) = val {
            md.insert("val_loss".to_string(), v.to_string());
        }
        checkpoint::write(run.path().join("best.safetensors"), &refs, &md)
    };

    let mut interrupted = false;
    loop {
        let epoch = st.step as f64 / chunks_per_epoch;
        if req.limits.reached(st.step, st.trained_s, epoch) {
            break;
        }
        if obs.should_stop() {
            interrupted = true;
            break;
        }
        let t0 = Instant::now();
        let (chunk, next_pos) = batcher.chunk_at(st.pos);
        if chunk.reset {
            carry = None;
        }
        let (logits, new_state, cache) =
            model.forward(chunk.inputs, t, b, carry.as_ref(), Some(&mut dropout_rng))?;
        targets
            .iter_mut()
            .zip(chunk.targets)
            .for_each(|(d, &s)| *d = s as usize);
        let (loss, dlogits) = ce.loss(&logits, vocab.len(), &targets, None)?;
        model.zero_grad();
        model.backward(&cache, &dlogits)?;
        let bad = if loss.is_finite() {
            clip::first_non_finite(&model).map(|nf| nf.to_string())
        } else {
            Some("the loss".to_string())
        };
        if let Some(what) = bad {
            match req.on_nan {
                OnNan::Stop => {
                    return Err(Error::Numerical(format!(
                        "step {}: {what} became NaN or infinite (loss {loss}); the last good checkpoint in {} is kept. \
                         Lower --lr, set or lower --clip, or pass --on-nan skip",
                        st.step + 1,
                        req.out.display()
                    )))
                }
                OnNan::Skip => {
                    st.nan_skips += 1;
                    obs.message(&format!("step {}: {what} is not finite: batch skipped ({} so far)", st.step + 1, st.nan_skips));
                    st.pos = next_pos;
                    st.step += 1;
                    continue;
                }
            }
        }
        let grad_norm = if cfg.clip > 0.0 {
            clip::clip_grad_norm(&mut model, cfg.clip)?
        } else {
            clip::grad_norm(&model)
        };
        opt.set_lr(schedule.lr_at(st.step));
        opt.step(&mut model)?;
        carry = Some(new_state);
        st.pos = next_pos;
        st.step += 1;
        st.tokens += (t * b) as u64;
        st.trained_s += t0.elapsed().as_secs_f64();
        st.last_loss = Some(loss);
        st.rng = dropout_rng.state();
        let epoch = st.step as f64 / chunks_per_epoch;
        let info = StepInfo {
            step: st.step,
            loss,
            grad_norm,
            lr: opt.lr(),
            trained_s: st.trained_s,
            tokens_per_s: st.tokens as f64 / st.trained_s.max(1e-9),
            epoch,
            progress: req.limits.progress(st.step, st.trained_s, epoch),
        };
        obs.on_step(&info);
        if st.step.is_multiple_of(10) || st.step == 1 {
            run.append_metric(&serde_json::json!({"event": "train", "step": st.step, "train_s": st.trained_s, "loss": loss,
                "grad_norm": grad_norm, "lr": info.lr, "tokens_per_s": info.tokens_per_s, "epoch": epoch}))?;
        }
        let limit_hit = req.limits.reached(st.step, st.trained_s, epoch);
        if !val_ids.is_empty() && st.trained_s >= st.next_eval_s && !limit_hit {
            while st.next_eval_s <= st.trained_s {
                st.next_eval_s += cfg.eval_every;
            }
            eval_and_record(&model, &val_ids, &run, &mut st, obs, &save_best)?;
        }
        if req
            .save_every
            .is_some_and(|k| k > 0 && st.step.is_multiple_of(k))
            && !limit_hit
        {
            save(&st, &model, opt.as_ref(), &carry)?;
        }
    }

    if !interrupted {
        if !val_ids.is_empty() {
            eval_and_record(&model, &val_ids, &run, &mut st, obs, &save_best)?;
        } else {
            save_best(&model, st.step, None)?;
        }
        st.finished = true;
    } else {
        obs.message(&format!(
            "stopped at step {}: checkpoint saved; continue with --resume {}",
            st.step,
            req.out.display()
        ));
    }
    save(&st, &model, opt.as_ref(), &carry)?;
    if !run.path().join("best.safetensors").exists() {
        save_best(&model, st.step, None)?;
    }
    Ok(summary(
        &req.out,
        &st,
        &model,
        &vocab,
        &train_ids,
        &val_ids,
        !interrupted,
        false,
    ))
}

/// Writes the best checkpoint: (model, step, validation loss).
type SaveBest<'a> = dyn Fn(&LanguageModel<f32>, u64, Option<f64>) -> Result<()> + 'a;

fn eval_and_record(
    model: &LanguageModel<f32>,
    val_ids: &[u32],
    run: &RunDir,
    st: &mut TrainState,
    obs: &mut dyn Observer,
    save_best: &SaveBest<'_>,
) -> Result<()> {
    let (val, _) = evaluate(model, val_ids, 256)?;
    let best = st.best_val.is_none_or(|b| val < b);
    if best {
        st.best_val = Some(val);
        save_best(model, st.step, Some(val))?;
    }
    run.append_metric(&serde_json::json!({"event": "eval", "step": st.step, "train_s": st.trained_s, "val_loss": val,
        "val_bpc": val / std::f64::consts::LN_2, "best": best}))?;
    obs.on_eval(&EvalInfo {
        step: st.step,
        trained_s: st.trained_s,
        val_loss: val,
        best,
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn summary(
    out: &Path,
    st: &TrainState,
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    train_ids: &[u32],
    val_ids: &[u32],
    finished: bool,
    already_complete: bool,
) -> TrainSummary {
    let last_val = super::run::read_metrics(out)
        .iter()
        .rev()
        .find(|m| m["event"] == "eval")
        .and_then(|m| m["val_loss"].as_f64());
    TrainSummary {
        out: out.to_path_buf(),
        steps: st.step,
        train_s: st.trained_s,
        tokens: st.tokens,
        tokens_per_s: st.tokens as f64 / st.trained_s.max(1e-9),
        train_loss: st.last_loss,
        val_loss: last_val,
        best_val_loss: st.best_val,
        params: model.num_params(),
        vocab: vocab.len(),
        train_tokens: train_ids.len(),
        val_tokens: val_ids.len(),
        nan_skips: st.nan_skips,
        finished,
        already_complete,
    }
}

/// Restores model, optimizer, position and carried state from a checkpoint.
fn restore(
    ck: &Checkpoint,
    path: &Path,
    model: &mut LanguageModel<f32>,
    opt: &mut dyn Optimizer<f32>,
    vocab: &Vocab,
) -> Result<(TrainState, Option<RnnState<f32>>)> {
    let meta: LmMeta = parse_meta(ck, path)?;
    if meta.vocab.tokens() != vocab.tokens() {
        return Err(Error::format(
            path,
            "the stored vocabulary differs from the one built from --data: is it the same file?",
        ));
    }
    checkpoint::load_into(model, &weights_only(ck))?;
    let st: TrainState = ck
        .metadata
        .get("train_state")
        .ok_or_else(|| {
            Error::format(
                path,
                "no training state in the metadata: not a resumable checkpoint",
            )
        })
        .and_then(|s| {
            serde_json::from_str(s).map_err(|e| Error::format(path, format!("training state: {e}")))
        })?;
    let mut opt_tensors = Vec::new();
    for (name, t) in &ck.tensors {
        if let Some(n) = name.strip_prefix(OPTIM_PREFIX) {
            opt_tensors.push((n.to_string(), t.to_tensor::<f32>()?));
        }
    }
    if let Some(os) = &st.optim {
        opt.load_state(model, os, opt_tensors)?;
    }
    let carry = match ck.tensors.get(&format!("{CARRY_PREFIX}h")) {
        Some(h) => Some(RnnState {
            h: h.to_tensor()?,
            c: ck
                .tensors
                .get(&format!("{CARRY_PREFIX}c"))
                .map(|c| c.to_tensor())
                .transpose()?,
        }),
        None => None,
    };
    Ok((st, carry))
}

/// An optimizer by name with PyTorch's defaults, a learning rate and a weight decay.
pub fn build_optimizer(
    name: &str,
    lr: f64,
    weight_decay: Option<f64>,
) -> Result<Box<dyn Optimizer<f32>>> {
    let mut c = OptimConfig::named(name, lr)?;
    if let Some(weight_decay) = weight_decay {
        match &mut c {
            OptimConfig::Sgd(c) => c.weight_decay = weight_decay,
            OptimConfig::Adam(c) => c.weight_decay = weight_decay,
            OptimConfig::AdamW(c) => c.weight_decay = weight_decay,
            OptimConfig::RmsProp(c) => c.weight_decay = weight_decay,
            OptimConfig::Adagrad(c) => c.weight_decay = weight_decay,
        }
    }
    c.build()
}

/// The checkpoint without its training-state tensors.
pub fn weights_only(ck: &Checkpoint) -> Checkpoint {
    let mut c = ck.clone();
    c.tensors.retain(|n, _| !Checkpoint::is_train_state(n));
    c
}

/// Reads the `model` metadata of a language-model checkpoint.
pub fn parse_meta(ck: &Checkpoint, path: &Path) -> Result<LmMeta> {
    let s = ck.metadata.get("model").ok_or_else(|| Error::format(path, "no `model` metadata: not a recurrent checkpoint (for a PyTorch pytorch_charlm.py file use `recurrent import`)"))?;
    let meta: LmMeta =
        serde_json::from_str(s).map_err(|e| Error::format(path, format!("model metadata: {e}")))?;
    if meta.task != "lm" {
        return Err(Error::format(
            path,
            format!(
                "this checkpoint is a `{}` model, not a language model",
                meta.task
            ),
        ));
    }
    let vocab = meta.vocab.clone().reindex()?;
    Ok(LmMeta { vocab, ..meta })
}

/// Loads a language model and its vocabulary from a checkpoint file: ours, or one that
/// ../shared/bench/pytorch_charlm.py `--save` wrote (same parameter names; its vocabulary
/// and flags come from the file's metadata).
pub fn load_lm(path: &Path) -> Result<(LanguageModel<f32>, LmMeta)> {
    let ck = checkpoint::read(path)?;
    let meta = if !ck.metadata.contains_key("model") && ck.metadata.contains_key("vocab") {
        pytorch_meta(path)?
    } else {
        parse_meta(&ck, path)?
    };
    let model = model_from_meta(&meta, &ck)?;
    Ok((model, meta))
}

/// Builds the model a checkpoint describes and loads its weights. The shapes the metadata
/// implies are checked against the tensors really in the file *before* the model is
/// allocated, so a header that claims a huge model cannot make us allocate it.
pub fn model_from_meta(meta: &LmMeta, ck: &Checkpoint) -> Result<LanguageModel<f32>> {
    let m = &meta.model;
    m.validate()?;
    if m.vocab != meta.vocab.len() {
        return Err(Error::format(
            ck.origin(),
            format!("the model has {} outputs but the vocabulary {} tokens", m.vocab, meta.vocab.len()),
        ));
    }
    let g = m.cell.gates();
    let mut want: Vec<(String, Vec<usize>)> = vec![("embed.weight".into(), vec![m.vocab, m.embed])];
    for k in 0..m.layers {
        let i = if k == 0 { m.embed } else { m.hidden };
        want.push((format!("rnn.weight_ih_l{k}"), vec![g * m.hidden, i]));
        want.push((format!("rnn.weight_hh_l{k}"), vec![g * m.hidden, m.hidden]));
        want.push((format!("rnn.bias_ih_l{k}"), vec![g * m.hidden]));
        want.push((format!("rnn.bias_hh_l{k}"), vec![g * m.hidden]));
    }
    want.push(("head.weight".into(), vec![m.vocab, m.hidden]));
    want.push(("head.bias".into(), vec![m.vocab]));
    for (name, shape) in &want {
        let t = ck.get(name)?;
        if t.shape() != shape.as_slice() {
            return Err(Error::tensor(
                name,
                format!("{}: shape {:?}, but the model config implies {shape:?}", ck.origin().display(), t.shape()),
            ));
        }
    }
    let mut model: LanguageModel<f32> = LanguageModel::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    checkpoint::load_into(&mut model, &weights_only(ck))?;
    Ok(model)
}

/// The description of a pytorch_charlm.py model, from its file.
fn pytorch_meta(path: &Path) -> Result<LmMeta> {
    let pt = checkpoint::import_pytorch_lm(path)?;
    let num = |k: &str| pt.config.get(k).and_then(|v| v.as_f64());
    let vocab = Vocab::from_tokens(
        Tokenizer::Char,
        pt.vocab.iter().map(|c| c.to_string()).collect(),
    )?;
    let dropout = num("dropout").unwrap_or(0.0);
    let model = LmConfig {
        cell: pt.cell,
        vocab: vocab.len(),
        embed: pt.embed,
        hidden: pt.hidden,
        layers: pt.layers,
        dropout,
    };
    let d = LmTrainConfig::default();
    let train = LmTrainConfig {
        cell: pt.cell,
        hidden: pt.hidden,
        layers: pt.layers,
        embed: pt.embed,
        dropout,
        seq_len: num("seq_len").map_or(d.seq_len, |v| v as usize),
        batch: num("batch").map_or(d.batch, |v| v as usize),
        lr: num("lr").unwrap_or(d.lr),
        clip: num("clip").unwrap_or(d.clip),
        val_frac: num("val_frac").unwrap_or(d.val_frac),
        seed: num("seed").map_or(0, |v| v as u64),
        ..d
    };
    Ok(LmMeta {
        task: "lm".into(),
        model,
        vocab,
        train,
    })
}

/// Mean cross-entropy (nats per token) of `ids` read as one stream: the state carried
/// across chunks of `chunk` tokens, every token after the first predicted and counted, as
/// pytorch_charlm.py evaluates. Returns (loss, tokens counted).
pub fn evaluate(model: &LanguageModel<f32>, ids: &[u32], chunk: usize) -> Result<(f64, usize)> {
    if ids.len() < 2 {
        return Err(Error::Input("fewer than 2 tokens to evaluate".into()));
    }
    let ce = CrossEntropy::new().reduction(crate::nn::Reduction::Sum);
    let mut state: Option<RnnState<f32>> = None;
    let (mut total, mut n) = (0.0, 0usize);
    let mut i = 0;
    let mut targets = Vec::with_capacity(chunk);
    while i + 1 < ids.len() {
        let end = (i + chunk).min(ids.len() - 1);
        let x = &ids[i..end];
        targets.clear();
        targets.extend(ids[i + 1..end + 1].iter().map(|&v| v as usize));
        let (logits, s, _) = model.forward(x, x.len(), 1, state.as_ref(), None)?;
        let (l, _) = ce.loss(&logits, model.config().vocab, &targets, None)?;
        total += l;
        n += targets.len();
        state = Some(s);
        i = end;
    }
    Ok((total / n as f64, n))
}

/// Names the first training flag whose stored value differs from the given one.
fn compare_configs(
    stored: &serde_json::Value,
    given: &serde_json::Value,
    dir: &Path,
) -> Result<()> {
    if let (Some(a), Some(b)) = (stored.as_object(), given.as_object()) {
        for (k, v) in b {
            let old = a.get(k).unwrap_or(&serde_json::Value::Null);
            if old != v {
                return Err(Error::Config(format!(
                    "--{} differs from the run in {}: stored {old}, given {v}. Resume with the original flags, or start a new --out",
                    k.replace('_', "-"),
                    dir.display()
                )));
            }
        }
    }
    Ok(())
}
