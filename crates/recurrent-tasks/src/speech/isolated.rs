//! Spoken digits (many-to-one): a WAV -> log-mel frames (normalised per utterance) ->
//! (bidirectional) recurrent layers -> pooling over the frames -> linear -> softmax over
//! the ten digits. Trained by the shared loop ([`recurrent::train::runner`]).
//!
//! The features of training recordings are computed afresh for every batch, because the
//! augmentation ([`crate::speech::audio::augment`]) changes them every time: speed perturbation
//! and VTLP make new voices out of the few we have, noise and SpecAugment make the model
//! rely on no single band or moment. Validation and test features are computed once,
//! without augmentation.
//!
//! Splits of a folder named as FSDD names its files (`{digit}_{speaker}_{index}.wav`):
//! - official: index 0-4 test, the rest training, validation taken from the training
//!   indices (`val_indices`, default 5-7);
//! - `holdout_speaker`: every recording of that speaker is the test set (leave one speaker
//!   out); validation is `val_indices` of the other speakers.

use crate::speech::audio::augment::{add_noise, spec_augment, speed_perturb, AugmentConfig};
use crate::speech::audio::digits::{list_recordings, speakers, Recording};
use crate::speech::audio::voicing::heard;
use crate::speech::audio::{read_wav_at, FeatureConfig, MelExtractor};
use recurrent::cell::CellKind;
use recurrent::checkpoint;
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::EncoderConfig;
use recurrent::model::{Classifier, ClassifierConfig, InputKind, Pooling, SeqBatch, Steps};
use recurrent::nn::CrossEntropy;
use recurrent::optim::{OptimSettings, OptimizerKind, ScheduleKind};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::text::bucket::bucket_batches;
use recurrent::text::bucket::EpochCursor;
use recurrent::train::metrics::{confusion, ClassMetrics};
use recurrent::train::observe::Observer;
use recurrent::train::runner::{EvalEvery, Evaluation, Task, TrainRequest, Trainer};
use recurrent::train::{Shard, StepLoss};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The isolated task's default `--trim-db`: trimming the silence around each word bought
/// +0.04 mean leave-one-speaker-out accuracy and the official split's last 0.016
/// (docs/results.md).
pub const DEFAULT_TRIM_DB: f64 = 15.0;

/// Everything that decides the trained weights (stored with the run; a resume must agree).
/// The defaults are the configuration of docs/results.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeechTrainConfig {
    /// `isolated` (one digit per file).
    pub task: String,
    pub features: FeatureConfig,
    pub augment: AugmentConfig,
    pub cell: CellKind,
    /// Hidden units per direction.
    pub hidden: usize,
    pub layers: usize,
    pub bidirectional: bool,
    /// Dropout on the pooled features and between layers.
    pub dropout: f64,
    /// Weight drop and locked dropout in the recurrent layer (flat keys, left out while off).
    #[serde(flatten)]
    pub reg: recurrent::layer::RecurrentReg,
    pub pooling: Pooling,
    /// Recordings per batch.
    pub batch: usize,
    /// Optimizer, learning rate, weight decay, clipping and schedule (stored flat: the
    /// keys `optimizer`, `lr`, `weight_decay`, `clip`, `lr_schedule`, `warmup`).
    #[serde(flatten)]
    pub optim: OptimSettings,
    pub seed: u64,
    pub init: String,
    /// Evaluate every this many steps (None: once per epoch).
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Recording indices (inclusive range) of the training speakers kept for validation.
    pub val_indices: (usize, usize),
    /// Recording indices (inclusive range) of the test set (official split: 0-4).
    pub test_indices: (usize, usize),
    /// Leave this speaker out: all their recordings are the test set.
    pub holdout_speaker: Option<String>,
    /// More folders of training recordings (same naming), all of them used for training
    /// only: other voices, e.g. synthetic ones (scripts/synth_digits.sh).
    pub extra_train: Vec<std::path::PathBuf>,
}

impl Default for SpeechTrainConfig {
    fn default() -> Self {
        SpeechTrainConfig {
            task: "isolated".into(),
            features: FeatureConfig {
                trim_db: Some(DEFAULT_TRIM_DB),
                ..FeatureConfig::default()
            },
            // Off: at our budgets it cost accuracy (docs/results.md).
            augment: AugmentConfig::none(),
            cell: CellKind::Lstm,
            hidden: 128,
            layers: 2,
            bidirectional: true,
            dropout: 0.3,
            reg: Default::default(),
            pooling: Pooling::Mean,
            batch: 32,
            optim: OptimSettings {
                lr: 2e-3,
                clip: 5.0,
                optimizer: OptimizerKind::Adam,
                weight_decay: None,
                lr_schedule: ScheduleKind::Cosine,
                warmup: 0,
                ema: None,
            },
            seed: 0,
            init: "pytorch".into(),
            eval_every: None,
            val_indices: (5, 7),
            test_indices: (0, 4),
            holdout_speaker: None,
            extra_train: Vec::new(),
        }
    }
}

impl SpeechTrainConfig {
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.task != "isolated" {
            return bad(format!(
                "--task {}: this build trains `isolated` digits only",
                self.task
            ));
        }
        if self.hidden == 0 || self.layers == 0 || self.batch == 0 {
            return bad("--hidden, --layers and --batch must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        self.reg.validate()?;
        if let Some(e) = self.eval_every {
            e.check()?;
        }
        self.features.validate()?;
        self.augment.validate()?;
        self.init.parse::<Init>()?;
        Ok(())
    }
}

/// The stored description of a speech checkpoint (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpeechMeta {
    /// `speech`.
    pub task: String,
    /// `isolated`.
    pub kind: String,
    pub model: ClassifierConfig,
    /// How audio becomes frames.
    pub features: FeatureConfig,
    /// Output names, index = output (`0`..`9`).
    pub labels: Vec<String>,
    pub train: SpeechTrainConfig,
}

/// Recordings with their samples at the model's rate.
#[derive(Clone, Debug, Default)]
pub struct Clips {
    pub recs: Vec<Recording>,
    pub samples: Vec<Vec<f32>>,
}

impl Clips {
    fn push(&mut self, r: Recording, s: Vec<f32>) {
        self.recs.push(r);
        self.samples.push(s);
    }
    pub fn len(&self) -> usize {
        self.recs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }
}

/// The training, validation and test recordings of a folder, by the config's split.
pub fn load_splits(dir: &Path, cfg: &SpeechTrainConfig) -> Result<(Clips, Clips, Clips)> {
    let recs = list_recordings(dir)?;
    if let Some(h) = &cfg.holdout_speaker {
        let all = speakers(&recs);
        if !all.contains(h) {
            return Err(Error::Config(format!(
                "--holdout-speaker {h}: no such speaker in {} (speakers: {})",
                dir.display(),
                all.join(", ")
            )));
        }
    }
    let (mut train, mut valid, mut test) = (Clips::default(), Clips::default(), Clips::default());
    let rate = cfg.features.sample_rate;
    let within = |i: usize, r: (usize, usize)| r.0 <= i && i <= r.1;
    for r in recs {
        let x = read_wav_at(&r.path, rate)?;
        let is_test = match &cfg.holdout_speaker {
            Some(h) => &r.speaker == h,
            None => within(r.index, cfg.test_indices),
        };
        if is_test {
            test.push(r, x);
        } else if within(r.index, cfg.val_indices) {
            valid.push(r, x);
        } else {
            train.push(r, x);
        }
    }
    for extra in &cfg.extra_train {
        for r in list_recordings(extra)? {
            let x = read_wav_at(&r.path, rate)?;
            train.push(r, x);
        }
    }
    if train.is_empty() {
        return Err(Error::Input(format!(
            "{}: no training recordings left after the split",
            dir.display()
        )));
    }
    Ok((train, valid, test))
}

/// Frames of every clip, without augmentation.
fn features_of(ex: &MelExtractor, clips: &Clips) -> Vec<Vec<f32>> {
    clips.samples.iter().map(|x| ex.features(x)).collect()
}

/// A time-major batch [T, B, I] of frame sequences, zero-padded, with their lengths.
pub fn pad_frames(seqs: &[&[f32]], n: usize) -> SeqBatch<f32> {
    let b = seqs.len();
    let lens: Vec<usize> = seqs.iter().map(|s| (s.len() / n).max(1)).collect();
    let t = lens.iter().copied().max().unwrap_or(1);
    let mut x = vec![0.0f32; t * b * n];
    for (bi, s) in seqs.iter().enumerate() {
        for ti in 0..s.len() / n {
            x[(ti * b + bi) * n..][..n].copy_from_slice(&s[ti * n..(ti + 1) * n]);
        }
    }
    SeqBatch {
        steps: Steps::Dense(x),
        t,
        b,
        lengths: Some(lens),
    }
}

/// Training features of one recording, augmented.
fn augmented(ex: &MelExtractor, x: &[f32], a: &AugmentConfig, rng: &mut Rng) -> Vec<f32> {
    let rate = ex.cfg.sample_rate;
    let mut y = if a.speed > 0.0 {
        speed_perturb(x, rate, rng.uniform_in(1.0 - a.speed, 1.0 + a.speed))
    } else {
        x.to_vec()
    };
    if a.noise_prob > 0.0 && rng.uniform() < a.noise_prob {
        let snr = rng.uniform_in(a.noise_snr_min, a.noise_snr_max);
        add_noise(&mut y, snr, rng);
    }
    let alpha = if a.vtlp > 0.0 {
        rng.uniform_in(1.0 - a.vtlp, 1.0 + a.vtlp)
    } else {
        1.0
    };
    let mut f = ex.finish(ex.log_mel_warped(&y, alpha));
    spec_augment(&mut f, ex.cfg.dim(), a, rng);
    f
}

struct SpeechTask {
    ex: MelExtractor,
    train: Clips,
    valid: Option<(Vec<Vec<f32>>, Vec<usize>)>,
    cursor: EpochCursor,
    cfg: SpeechTrainConfig,
    meta_json: String,
}

impl Task for SpeechTask {
    type Model = Classifier<f32>;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    fn batches_per_epoch(&self) -> u64 {
        self.cursor.per_epoch()
    }

    fn train_step(
        &mut self,
        model: &mut Classifier<f32>,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss> {
        let all = self.cursor.next_batch();
        let idx = &all[shard.rows(all.len())];
        if idx.is_empty() {
            return Ok(StepLoss::default());
        }
        let rng = shard.rng(rng);
        let feats: Vec<Vec<f32>> = idx
            .iter()
            .map(|&i| augmented(&self.ex, &self.train.samples[i], &self.cfg.augment, rng))
            .collect();
        let seqs: Vec<&[f32]> = feats.iter().map(|f| f.as_slice()).collect();
        let targets: Vec<usize> = idx.iter().map(|&i| self.train.recs[i].digit).collect();
        let batch = pad_frames(&seqs, self.ex.cfg.dim());
        let (logits, cache) = model.forward(&batch, Some(rng))?;
        let (loss, dlogits) = CrossEntropy::new().loss(&logits, 10, &targets, None)?;
        model.backward(&batch, &cache, &dlogits)?;
        Ok(StepLoss {
            loss,
            tokens: idx.len(),
            count: idx.len(),
        })
    }

    fn evaluate(&mut self, model: &Classifier<f32>) -> Result<Option<Evaluation>> {
        let Some((f, y)) = &self.valid else {
            return Ok(None);
        };
        let m = score(model, f, y, self.ex.cfg.dim())?;
        Ok(Some(Evaluation {
            metric: m.accuracy,
            higher_is_better: true,
            fields: serde_json::json!({"val_loss": m.loss, "val_accuracy": m.accuracy}),
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
        self.cursor.load_state(json, "speech")
    }
}

/// Digit probabilities [N, 10] of frame sequences, in their order.
pub fn probabilities(model: &Classifier<f32>, feats: &[Vec<f32>], n: usize) -> Result<Vec<f64>> {
    let k = model.config.outputs;
    let lengths: Vec<usize> = feats.iter().map(|f| f.len() / n).collect();
    let mut out = vec![0.0; feats.len() * k];
    for idx in bucket_batches(&lengths, 64, None) {
        let seqs: Vec<&[f32]> = idx.iter().map(|&i| feats[i].as_slice()).collect();
        let batch = pad_frames(&seqs, n);
        let (logits, _) = model.forward(&batch, None)?;
        let p = recurrent::nn::sample::softmax_rows(&logits, k);
        for (r, &i) in idx.iter().enumerate() {
            out[i * k..(i + 1) * k].copy_from_slice(&p[r * k..(r + 1) * k]);
        }
    }
    Ok(out)
}

fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b })
}

/// Loss, accuracy and confusion matrix on frame sequences with their digits.
pub fn score(
    model: &Classifier<f32>,
    feats: &[Vec<f32>],
    digits: &[usize],
    n: usize,
) -> Result<ClassMetrics> {
    let k = model.config.outputs;
    let p = probabilities(model, feats, n)?;
    let mut loss = 0.0;
    let pairs: Vec<(usize, usize)> = digits
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let row = &p[i * k..(i + 1) * k];
            loss -= row[y].max(1e-300).ln();
            (y, argmax(row))
        })
        .collect();
    Ok(ClassMetrics::new(digit_labels(), confusion(pairs, k), loss))
}

fn digit_labels() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

/// What a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct SpeechSummary {
    pub out: PathBuf,
    pub steps: u64,
    pub epochs: f64,
    /// Seconds spent in training steps (loading and evaluation excluded).
    pub train_s: f64,
    pub params: usize,
    pub train_recordings: usize,
    pub valid: Option<ClassMetrics>,
    pub test: Option<ClassMetrics>,
    /// Test accuracy per speaker.
    pub test_by_speaker: BTreeMap<String, f64>,
    pub holdout_speaker: Option<String>,
    pub best_step: Option<u64>,
    pub nan_skips: u64,
    pub finished: bool,
    pub already_complete: bool,
}

/// Trains (or resumes) a spoken-digit classifier on the folder `data`, then scores its best
/// checkpoint on the validation and test recordings.
pub fn train_speech(
    cfg: &SpeechTrainConfig,
    data: &Path,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<SpeechSummary> {
    cfg.validate()?;
    let (train, valid, test) = load_splits(data, cfg)?;
    obs.message(&format!(
        "{}: {} training{}, {} validation, {} test recordings ({})",
        data.display(),
        train.len(),
        if cfg.extra_train.is_empty() {
            String::new()
        } else {
            format!(" (with {} extra folder(s))", cfg.extra_train.len())
        },
        valid.len(),
        test.len(),
        match &cfg.holdout_speaker {
            Some(h) => format!("speaker {h} held out"),
            None => format!(
                "official split: index {}-{} test",
                cfg.test_indices.0, cfg.test_indices.1
            ),
        }
    ));
    let ex = MelExtractor::new(&cfg.features)?;
    let n = cfg.features.dim();
    let model_cfg = ClassifierConfig {
        input: InputKind::Dense { size: n },
        encoder: EncoderConfig {
            cell: cfg.cell,
            hidden: cfg.hidden,
            layers: cfg.layers,
            bidirectional: cfg.bidirectional,
            dropout: cfg.dropout,
            reg: cfg.reg,
        },
        pooling: cfg.pooling,
        outputs: 10,
    };
    let meta = SpeechMeta {
        task: "speech".into(),
        kind: cfg.task.clone(),
        model: model_cfg.clone(),
        features: cfg.features.clone(),
        labels: digit_labels(),
        train: cfg.clone(),
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let init: Init = cfg.init.parse()?;
    let mut model = Classifier::<f32>::new(model_cfg.clone(), &init, &mut Rng::new(cfg.seed))?;
    let valid_set = (!valid.is_empty()).then(|| {
        (
            features_of(&ex, &valid),
            valid.recs.iter().map(|r| r.digit).collect::<Vec<_>>(),
        )
    });
    let lengths: Vec<usize> = train.samples.iter().map(|s| s.len()).collect();
    let mut task = SpeechTask {
        ex: ex.clone(),
        cursor: EpochCursor::new(lengths, cfg.batch, cfg.seed, "batches"),
        train,
        valid: valid_set,
        cfg: cfg.clone(),
        meta_json,
    };
    let per_epoch = task.cursor.per_epoch();
    let config = serde_json::json!({"task": "speech", "train": cfg, "model": model_cfg});
    let s = Trainer::new(&mut task, &mut model, req)
        .optim(&cfg.optim)
        .eval_every(cfg.eval_every.unwrap_or(EvalEvery::Steps(per_epoch.max(1))))
        .config(&config)
        .seed(cfg.seed)
        .run(obs)?;
    let best_path = req.out.join("best.safetensors");
    let (best, _) = load_speech(&best_path)?;
    let best_step = checkpoint::read(&best_path)
        .ok()
        .and_then(|c| c.metadata.get("step").and_then(|v| v.parse().ok()));
    let valid_m = task
        .valid
        .as_ref()
        .map(|(f, y)| score(&best, f, y, n))
        .transpose()?;
    let (test_m, by_speaker) = if test.is_empty() {
        (None, BTreeMap::new())
    } else {
        let f = features_of(&ex, &test);
        let y: Vec<usize> = test.recs.iter().map(|r| r.digit).collect();
        let p = probabilities(&best, &f, n)?;
        let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (i, r) in test.recs.iter().enumerate() {
            let e = per.entry(r.speaker.clone()).or_default();
            e.1 += 1;
            if argmax(&p[i * 10..(i + 1) * 10]) == r.digit {
                e.0 += 1;
            }
        }
        (
            Some(score(&best, &f, &y, n)?),
            per.into_iter()
                .map(|(s, (c, t))| (s, c as f64 / t as f64))
                .collect(),
        )
    };
    let summary = SpeechSummary {
        out: s.out,
        steps: s.steps,
        epochs: s.steps as f64 / per_epoch.max(1) as f64,
        train_s: s.train_s,
        params: s.params,
        train_recordings: task.train.len(),
        valid: valid_m,
        test: test_m,
        test_by_speaker: by_speaker,
        holdout_speaker: cfg.holdout_speaker.clone(),
        best_step,
        nan_skips: s.nan_skips,
        finished: s.finished,
        already_complete: s.already_complete,
    };
    req.write_results(&summary, summary.already_complete)?;
    Ok(summary)
}

/// Loads a speech model and its description from a checkpoint file. Shapes are checked
/// against the file before the model is allocated.
pub fn load_speech(path: &Path) -> Result<(Classifier<f32>, SpeechMeta)> {
    let ck = checkpoint::read(path)?;
    let meta: SpeechMeta = recurrent::checkpoint::shapes::read_meta(&ck, path, "speech")?;
    meta.features
        .validate()
        .map_err(|e| Error::format(path, format!("feature config: {e}")))?;
    let m = &meta.model;
    let InputKind::Dense { size } = m.input else {
        return Err(Error::format(path, "a speech model reads feature frames"));
    };
    if size != meta.features.dim() || m.outputs != meta.labels.len() || m.outputs == 0 {
        return Err(Error::format(
            path,
            format!(
                "the model reads {size} features and has {} outputs; the metadata says {} per frame and {} labels",
                m.outputs,
                meta.features.dim(),
                meta.labels.len()
            ),
        ));
    }
    let dn = if m.encoder.bidirectional { 2 } else { 1 };
    let mut want = recurrent::checkpoint::shapes::rnn_shapes(
        m.encoder.cell,
        size,
        m.encoder.hidden,
        m.encoder.layers,
        m.encoder.bidirectional,
    );
    want.push(("head.weight".into(), vec![m.outputs, dn * m.encoder.hidden]));
    want.push(("head.bias".into(), vec![m.outputs]));
    recurrent::checkpoint::shapes::check_shapes(&ck, &want)?;
    let mut model = Classifier::<f32>::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok((model, meta))
}

/// One file's transcription.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transcript {
    /// The digits heard (one for an isolated-digit model).
    pub digits: String,
    /// The probability of that answer.
    pub confidence: f64,
    /// Every digit's probability.
    pub probabilities: Vec<f64>,
    /// Why the audio is not speech ([`crate::speech::audio::voicing::non_speech`]: silence, a tone, a steady sound); the
    /// confidence is then 0, whatever the model says.
    pub non_speech: Option<&'static str>,
}

impl Transcript {
    /// Sets the confidence to 0 when `x` (at `rate`) is not speech.
    fn heard(mut self, x: &[f32], rate: u32) -> Self {
        (self.confidence, self.non_speech) = heard(self.confidence, x, rate);
        self
    }
}

/// Transcribes mono samples at the model's rate.
pub fn transcribe_samples(
    model: &Classifier<f32>,
    meta: &SpeechMeta,
    x: &[f32],
) -> Result<Transcript> {
    let ex = MelExtractor::new(&meta.features)?;
    let f = ex.features(x);
    let p = probabilities(model, &[f], meta.features.dim())?;
    let i = argmax(&p);
    Ok(Transcript {
        digits: meta.labels[i].clone(),
        confidence: p[i],
        probabilities: p,
        non_speech: None,
    }
    .heard(x, meta.features.sample_rate))
}

/// Transcribes a WAV file with several isolated-digit models at once: each reads the audio
/// at its own rate through its own features, and their digit probabilities are averaged.
/// Models trained apart (other seeds, features, voices) err apart: on unseen speakers the
/// average of four beat the best of them by 0.035 (docs/results.md).
pub fn transcribe_file_ensemble(
    models: &[(Classifier<f32>, SpeechMeta)],
    path: &Path,
) -> Result<Transcript> {
    let Some((_, first)) = models.first() else {
        return Err(Error::Config("an ensemble needs at least one model".into()));
    };
    let mut sum = vec![0.0; first.labels.len()];
    // The audio at each rate the models read (usually one), read and resampled once.
    let mut audio: Vec<(u32, Vec<f32>)> = Vec::new();
    for (model, meta) in models {
        if meta.labels != first.labels {
            return Err(Error::Config(format!(
                "the models of an ensemble must have the same outputs: {:?} and {:?}",
                first.labels, meta.labels
            )));
        }
        let rate = meta.features.sample_rate;
        let i = match audio.iter().position(|(r, _)| *r == rate) {
            Some(i) => i,
            None => {
                audio.push((rate, read_wav_at(path, rate)?));
                audio.len() - 1
            }
        };
        let t = transcribe_samples(model, meta, &audio[i].1)?;
        sum.iter_mut()
            .zip(&t.probabilities)
            .for_each(|(s, p)| *s += p / models.len() as f64);
    }
    let i = argmax(&sum);
    let (rate, x) = &audio[0];
    Ok(Transcript {
        digits: first.labels[i].clone(),
        confidence: sum[i],
        probabilities: sum,
        non_speech: None,
    }
    .heard(x, *rate))
}

/// Transcribes a WAV file (any format the reader takes; resampled to the model's rate).
pub fn transcribe_file(
    model: &Classifier<f32>,
    meta: &SpeechMeta,
    path: &Path,
) -> Result<Transcript> {
    let x = read_wav_at(path, meta.features.sample_rate)?;
    transcribe_samples(model, meta, &x)
}

/// What a picture of one utterance needs: its log-mel frames [T, n_mels] (before
/// normalisation) and the model's per-frame digit probabilities [T, 10] (the head applied
/// to each frame's recurrent output: with mean pooling, the utterance's logits are the mean
/// of these frames' logits).
pub fn frame_posteriors(
    model: &Classifier<f32>,
    meta: &SpeechMeta,
    x: &[f32],
) -> Result<(Vec<f32>, Vec<f64>)> {
    let ex = MelExtractor::new(&meta.features)?;
    let raw = ex.log_mel_raw(x);
    let f = ex.finish(raw.clone());
    let raw = ex.trim(raw);
    let n = meta.features.dim();
    let t = f.len() / n;
    let (out, _) = model.rnn.forward_tm(f, t, 1, None, None, None)?;
    let logits = model.head.forward(out.output.data(), t);
    Ok((
        raw,
        recurrent::nn::sample::softmax_rows(&logits, model.config.outputs),
    ))
}

/// The default limits of `train speech`: 25 epochs (2-6 minutes of training on 2 contended cores;
/// a default run may take 15).
pub const DEFAULT_LIMITS: recurrent::train::Limits = recurrent::train::Limits {
    time_budget: None,
    steps: None,
    epochs: Some(25.0),
};
