//! Training a language model over tunes: each tune is its own sequence, read from a zero
//! state (the state is reset at tune boundaries), batched with tunes of similar length and
//! padded, the padding masked out of the loss. Tokens are musical ([`recurrent::text::abc`]).
//!
//! A tune is presented in a canonical form: `M:`, `L:` (the standard's default made
//! explicit) and `K:` lines, then its music exactly as written. Titles, sources and numbers
//! are left out: they are not music, and `compose` writes its own.
//!
//! ```text
//! <bos> M:6/8 \n L:1/8 \n K:D \n |: "D" d2 e ... :| \n <eos>
//! ```

use crate::music::{parse_tune, TuneRecord};
use recurrent::cell::CellKind;
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::lm::{LanguageModel, LmConfig, Regularisers};
use recurrent::nn::{CrossEntropy, Reduction};
use recurrent::optim::OptimSettings;
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::text::bucket::{bucket_batches, eval_batches, EVAL_TOKENS};
use recurrent::text::limit::Oversize;
use recurrent::text::{Tokenizer, Vocab};
use recurrent::train::observe::Observer;
use recurrent::train::runner::{EvalEvery, Evaluation, Task, TrainRequest, Trainer};
use recurrent::train::{Shard, StepLoss};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Padding (masked out of the loss).
pub const PAD: &str = "<pad>";
/// The first input of every tune.
pub const BOS: &str = "<bos>";
/// The tune's end: the last target.
pub const EOS: &str = "<eos>";

/// Everything that decides the trained weights (stored with the run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MusicTrainConfig {
    pub cell: CellKind,
    pub hidden: usize,
    pub layers: usize,
    pub embed: usize,
    pub dropout: f64,
    /// Weight drop and locked dropout in the recurrent layer (flat keys, left out while off).
    #[serde(flatten)]
    pub reg: recurrent::layer::RecurrentReg,
    /// Tunes per batch.
    pub batch: usize,
    pub lr: f64,
    pub clip: f64,
    /// Evaluate and keep an exponential moving average of the weights with this decay.
    #[serde(skip_serializing_if = "recurrent::omit::is_default")]
    pub ema: Option<f64>,
    pub seed: u64,
    /// The split's seed (5% validation, 5% test by tune).
    pub split_seed: u64,
    /// Tokens seen fewer times in training become `<unk>`.
    pub min_count: usize,
    /// Evaluate every this many seconds of training.
    pub eval_every: EvalEvery,
    /// The longest tune read, in characters: a tune is one sequence (the model learns its
    /// form from the header to the end), so a longer one is left out, named, rather than
    /// cut. A batch's memory is about `batch x max_chars x` the per-step cost
    /// (docs/reliability.md).
    pub max_chars: usize,
}

/// The default of `max_chars`: the Nottingham tunes are at most about 1,400 characters, and
/// a batch of 16 of this length trains in about 1 GB.
pub const MAX_CHARS: usize = 4000;

impl Default for MusicTrainConfig {
    fn default() -> Self {
        MusicTrainConfig {
            cell: CellKind::Lstm,
            hidden: 256,
            layers: 2,
            embed: 64,
            dropout: 0.1,
            reg: Default::default(),
            batch: 16,
            lr: 3e-3,
            clip: 5.0,
            ema: None,
            seed: 0,
            split_seed: crate::music::corpus::SPLIT_SEED,
            min_count: 1,
            eval_every: EvalEvery::Seconds(60.0),
            max_chars: MAX_CHARS,
        }
    }
}

/// The stored description of a music model (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MusicMeta {
    pub task: String,
    pub model: LmConfig,
    pub vocab: Vocab,
    pub train: MusicTrainConfig,
    /// The training tunes' headers `(M, L, K)` and how many tunes have each: what `compose`
    /// draws from when no meter or key is given.
    pub headers: Vec<(String, String, String, usize)>,
}

/// A tune ready for the model.
#[derive(Clone, Debug)]
pub struct PreparedTune {
    /// The canonical text (`M:`, `L:`, `K:` lines and the music).
    pub text: String,
    /// `<bos>`, its tokens, `<eos>`.
    pub ids: Vec<u32>,
    /// (meter, unit, key) as written in the canonical header.
    pub header: (String, String, String),
}

/// The canonical text of a tune (`M:`, `L:`, `K:` and its music) and its header.
pub fn canonical(t: &TuneRecord) -> Result<(String, (String, String, String))> {
    let p = parse_tune(&t.text, Path::new(&t.file), t.line)?;
    let (m, l, k) = (
        p.meter_text.clone(),
        format!("{}/{}", p.unit.num, p.unit.den),
        p.key.clone(),
    );
    let body = t.text.get(p.body_start..).unwrap_or("");
    Ok((format!("M:{m}\nL:{l}\nK:{k}{body}"), (m, l, k)))
}

/// Canonical texts and token ids of tunes (every tune must parse).
pub fn prepare(tunes: &[TuneRecord], vocab: &Vocab) -> Result<Vec<PreparedTune>> {
    let (bos, eos) = (special(vocab, BOS)?, special(vocab, EOS)?);
    tunes
        .iter()
        .map(|t| {
            let (text, header) = canonical(t)?;
            let mut ids = vec![bos];
            ids.extend(vocab.encode(&text)?);
            ids.push(eos);
            Ok(PreparedTune { text, ids, header })
        })
        .collect()
}

fn special(vocab: &Vocab, s: &str) -> Result<u32> {
    vocab
        .id(s)
        .ok_or_else(|| Error::Input(format!("the vocabulary has no `{s}` token")))
}

/// The vocabulary of the training tunes' canonical texts.
pub fn build_vocab(train: &[TuneRecord], min_count: usize) -> Result<Vocab> {
    let texts: Vec<String> = train
        .iter()
        .map(|t| canonical(t).map(|c| c.0))
        .collect::<Result<_>>()?;
    Ok(Vocab::abc(
        texts.iter().map(|s| s.as_str()),
        min_count.max(1),
        &[PAD, BOS, EOS, recurrent::text::vocab::UNK],
    ))
}

/// A padded time-major batch: inputs [T, B], targets [T*B], mask [T*B].
fn batch_of(tunes: &[&PreparedTune], pad: u32) -> (Vec<u32>, Vec<usize>, Vec<bool>, usize) {
    let t = tunes
        .iter()
        .map(|x| x.ids.len() - 1)
        .max()
        .unwrap_or(1)
        .max(1);
    let b = tunes.len();
    let mut inputs = vec![pad; t * b];
    let mut targets = vec![pad as usize; t * b];
    let mut mask = vec![false; t * b];
    for (j, tune) in tunes.iter().enumerate() {
        for s in 0..tune.ids.len() - 1 {
            inputs[s * b + j] = tune.ids[s];
            targets[s * b + j] = tune.ids[s + 1] as usize;
            mask[s * b + j] = true;
        }
    }
    (inputs, targets, mask, t)
}

/// Total loss (nats), tokens predicted and characters of `tunes` (each from a zero state).
pub fn evaluate_tunes(
    model: &LanguageModel<f32>,
    tunes: &[PreparedTune],
    pad: u32,
) -> Result<(f64, usize, usize)> {
    let ce = CrossEntropy::new().reduction(Reduction::Sum);
    let lengths: Vec<usize> = tunes.iter().map(|t| t.ids.len()).collect();
    let (mut total, mut n, mut chars) = (0.0, 0, 0);
    for idx in eval_batches(&lengths, 16, EVAL_TOKENS) {
        let group: Vec<&PreparedTune> = idx.iter().map(|&i| &tunes[i]).collect();
        let (inputs, targets, mask, t) = batch_of(&group, pad);
        let (logits, _, _) = model.forward(&inputs, t, group.len(), None, None)?;
        let (l, _) = ce.loss(&logits, model.config().vocab, &targets, Some(&mask))?;
        total += l;
        n += mask.iter().filter(|m| **m).count();
        chars += group.iter().map(|g| g.text.chars().count()).sum::<usize>();
    }
    Ok((total, n, chars))
}

struct MusicTask {
    train: Vec<PreparedTune>,
    valid: Vec<PreparedTune>,
    batch: usize,
    pad: u32,
    vocab_len: usize,
    /// What the TensorBoard samples are written in.
    vocab: Vocab,
    seed: u64,
    meta_json: String,
    epoch: u64,
    pos: usize,
    order: Vec<Vec<usize>>,
}

#[derive(Serialize, Deserialize)]
struct MusicTaskState {
    epoch: u64,
    pos: usize,
}

impl MusicTask {
    /// The batches of an epoch: a function of the seed and the epoch alone, so a resume
    /// rebuilds them.
    fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let lengths: Vec<usize> = self.train.iter().map(|t| t.ids.len()).collect();
        let mut rng = Rng::new(self.seed).fork(&format!("music-epoch-{epoch}"));
        bucket_batches(&lengths, self.batch, Some(&mut rng))
    }
}

impl Task for MusicTask {
    type Model = LanguageModel<f32>;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    fn batches_per_epoch(&self) -> u64 {
        self.train.len().div_ceil(self.batch) as u64
    }

    fn train_step(
        &mut self,
        model: &mut LanguageModel<f32>,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss> {
        if self.order.is_empty() || self.pos >= self.order.len() {
            if !self.order.is_empty() {
                self.epoch += 1;
            }
            self.pos = 0;
            self.order = self.batches(self.epoch);
        }
        let all = &self.order[self.pos];
        self.pos += 1;
        let group: Vec<&PreparedTune> = all[shard.rows(all.len())]
            .iter()
            .map(|&i| &self.train[i])
            .collect();
        if group.is_empty() {
            return Ok(StepLoss::default());
        }
        let (inputs, targets, mask, t) = batch_of(&group, self.pad);
        let (logits, _, cache) =
            model.forward(&inputs, t, group.len(), None, Some(shard.rng(rng)))?;
        let (loss, dlogits) =
            CrossEntropy::new().loss(&logits, self.vocab_len, &targets, Some(&mask))?;
        model.backward(&cache, &dlogits)?;
        let tokens = mask.iter().filter(|m| **m).count();
        Ok(StepLoss {
            loss,
            tokens,
            count: tokens,
        })
    }

    fn evaluate(&mut self, model: &LanguageModel<f32>) -> Result<Option<Evaluation>> {
        if self.valid.is_empty() {
            return Ok(None);
        }
        let (total, n, chars) = evaluate_tunes(model, &self.valid, self.pad)?;
        let per_token = total / n.max(1) as f64;
        Ok(Some(Evaluation {
            metric: per_token,
            higher_is_better: false,
            fields: serde_json::json!({
                "val_loss": per_token,
                "val_loss_per_char": total / chars.max(1) as f64,
            }),
        }))
    }

    /// Unconstrained (not `compose`'s grammar): what the network alone has learnt.
    fn samples(&self, model: &LanguageModel<f32>) -> Result<Vec<(String, String)>> {
        Ok(vec![(
            "samples/abc".into(),
            recurrent::decode::generate::sample_text(model, &self.vocab, self.seed)?,
        )])
    }

    fn state(&self) -> (serde_json::Value, Vec<(String, Tensor<f32>)>) {
        (
            serde_json::json!(MusicTaskState {
                epoch: self.epoch,
                pos: self.pos
            }),
            Vec::new(),
        )
    }

    fn load_state(
        &mut self,
        json: &serde_json::Value,
        _tensors: BTreeMap<String, Tensor<f32>>,
    ) -> Result<()> {
        let st: MusicTaskState = serde_json::from_value(json.clone())
            .map_err(|e| Error::Config(format!("music task state: {e}")))?;
        self.epoch = st.epoch;
        self.pos = st.pos;
        self.order = self.batches(st.epoch);
        Ok(())
    }
}

/// What a music run reports: losses per token and per character on the held-out tunes.
#[derive(Clone, Debug, Serialize)]
pub struct MusicSummary {
    pub out: PathBuf,
    pub steps: u64,
    pub train_s: f64,
    pub tokens_per_s: f64,
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_loss_per_char: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_loss_per_char: Option<f64>,
    pub best_val_loss: Option<f64>,
    pub params: usize,
    pub vocab: usize,
    pub train_tunes: usize,
    pub valid_tunes: usize,
    pub test_tunes: usize,
    pub finished: bool,
    pub already_complete: bool,
}

/// Trains (or resumes) a music model on `tunes` (split here by tune).
pub fn train_music(
    cfg: &MusicTrainConfig,
    tunes: &[TuneRecord],
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<MusicSummary> {
    if cfg.batch == 0 || cfg.hidden == 0 || cfg.layers == 0 || cfg.embed == 0 {
        return Err(Error::Config(
            "--batch, --hidden, --layers and --embed must be at least 1".into(),
        ));
    }
    if cfg.max_chars == 0 {
        return Err(Error::Config("--max-chars must be at least 1".into()));
    }
    let (tr, va, te) = crate::music::split_tunes(tunes, cfg.split_seed);
    let mut long = Oversize::default();
    let mut keep = |set: Vec<TuneRecord>| -> Vec<TuneRecord> {
        set.into_iter()
            .filter(|t| {
                let n = t.text.chars().count();
                !long.note(n, cfg.max_chars, || format!("{} line {}", t.file, t.line))
            })
            .collect()
    };
    let (tr, va, te) = (keep(tr), keep(va), keep(te));
    if let Some(m) = long.message("tune(s)", "--max-chars", cfg.max_chars, "were left out") {
        obs.message(&m);
    }
    if tr.is_empty() {
        return Err(Error::Input(format!(
            "no training tunes after the split{}",
            if long.count > 0 {
                format!(
                    " and leaving out tunes longer than --max-chars {}",
                    cfg.max_chars
                )
            } else {
                String::new()
            }
        )));
    }
    let vocab = build_vocab(&tr, cfg.min_count)?;
    let train = prepare(&tr, &vocab)?;
    let valid = prepare(&va, &vocab)?;
    let test = prepare(&te, &vocab)?;
    let mut headers: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for t in &train {
        *headers.entry(t.header.clone()).or_default() += 1;
    }
    let model_cfg = LmConfig {
        cell: cfg.cell,
        vocab: vocab.len(),
        embed: cfg.embed,
        hidden: cfg.hidden,
        layers: cfg.layers,
        dropout: cfg.dropout,
        reg: Regularisers {
            weight_drop: cfg.reg.weight_drop,
            variational: cfg.reg.variational,
            zoneout: cfg.reg.zoneout,
            ..Default::default()
        },
        tie: false,
    };
    cfg.reg.validate()?;
    model_cfg.validate()?;
    let meta = MusicMeta {
        task: "music".into(),
        model: model_cfg.clone(),
        vocab: vocab.clone(),
        train: cfg.clone(),
        headers: headers
            .into_iter()
            .map(|((m, l, k), n)| (m, l, k, n))
            .collect(),
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let mut model: LanguageModel<f32> =
        LanguageModel::new(model_cfg, &Init::default(), &mut Rng::new(cfg.seed))?;
    let pad = special(&vocab, PAD)?;
    let (n_train, n_valid, n_test) = (train.len(), valid.len(), test.len());
    let mut task = MusicTask {
        train,
        valid,
        batch: cfg.batch,
        pad,
        vocab_len: vocab.len(),
        vocab: vocab.clone(),
        seed: cfg.seed,
        meta_json,
        epoch: 0,
        pos: 0,
        order: Vec::new(),
    };
    let config = serde_json::json!({ "task": "music", "train": cfg, "model": meta.model, "vocab_size": vocab.len() });
    let optim = OptimSettings {
        ema: cfg.ema,
        ..OptimSettings::adam(cfg.lr, cfg.clip)
    };
    let s = Trainer::new(&mut task, &mut model, req)
        .optim(&optim)
        .eval_every(cfg.eval_every)
        .config(&config)
        .seed(cfg.seed)
        .run(obs)?;
    let ev = |k: &str| s.last_eval.as_ref().and_then(|e| e[k].as_f64());
    let (test_loss, test_loss_per_char) = if test.is_empty() || s.already_complete {
        (None, None)
    } else {
        let (total, n, chars) = evaluate_tunes(&model, &test, pad)?;
        (Some(total / n as f64), Some(total / chars as f64))
    };
    Ok(MusicSummary {
        out: s.out,
        steps: s.steps,
        train_s: s.train_s,
        tokens_per_s: s.tokens_per_s,
        train_loss: s.train_loss,
        val_loss: ev("val_loss"),
        val_loss_per_char: ev("val_loss_per_char"),
        test_loss,
        test_loss_per_char,
        best_val_loss: s.best_metric,
        params: s.params,
        vocab: vocab.len(),
        train_tunes: n_train,
        valid_tunes: n_valid,
        test_tunes: n_test,
        finished: s.finished,
        already_complete: s.already_complete,
    })
}

/// Loads a music model from a checkpoint file.
pub fn load_music(path: &Path) -> Result<(LanguageModel<f32>, MusicMeta)> {
    let ck = checkpoint::read(path)?;
    let meta = parse_meta(&ck, path)?;
    let model =
        recurrent::checkpoint::shapes::lm_from_checkpoint(&meta.model, meta.vocab.len(), &ck)?;
    Ok((model, meta))
}

/// The `model` metadata of a music checkpoint.
pub fn parse_meta(ck: &Checkpoint, path: &Path) -> Result<MusicMeta> {
    let meta: MusicMeta = recurrent::checkpoint::shapes::read_meta(ck, path, "music")?;
    if meta.vocab.tokenizer != Tokenizer::Abc {
        return Err(Error::format(
            path,
            "this `music` checkpoint's vocabulary is not ABC tokens: the file was altered",
        ));
    }
    let vocab = meta.vocab.clone().reindex()?;
    Ok(MusicMeta { vocab, ..meta })
}

/// The default limits of `train music`: 5 minutes of training (the run ends within 10).
pub const DEFAULT_LIMITS: recurrent::train::Limits = recurrent::train::Limits {
    time_budget: Some(300.0),
    steps: None,
    epochs: None,
};
