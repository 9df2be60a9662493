//! Text classification (many-to-one): labelled sentences -> words -> embedding ->
//! (bidirectional) recurrent layer -> pooling over the real steps -> dropout -> linear ->
//! softmax over the labels. Trained by the shared loop ([`recurrent::train::runner`]) with batches
//! bucketed by length; the best checkpoint is the one with the best validation accuracy,
//! and the validation and test sets are scored with it at the end.
//!
//! ```no_run
//! use recurrent_tasks::classify::read::{read_labelled, ReadOptions};
//! use recurrent_tasks::classify::train::{train_classify, ClassifyTrainConfig, ClassifyData};
//! use recurrent::train::runner::TrainRequest;
//! let o = ReadOptions::default();
//! let train = read_labelled(&["stsa.binary.train".into()], &o).unwrap().examples;
//! let valid = read_labelled(&["stsa.binary.dev".into()], &o).unwrap().examples;
//! let data = ClassifyData { train, valid: Some(valid), test: None };
//! let mut req = TrainRequest::new("runs/sst");
//! req.limits.epochs = Some(1.0);
//! let s = train_classify(&ClassifyTrainConfig::default(), data, &req, &mut recurrent::train::Quiet).unwrap();
//! println!("dev accuracy {:?}", s.valid.map(|m| m.accuracy));
//! ```

use crate::classify::read::Example;
use recurrent::cell::CellKind;
use recurrent::checkpoint::shapes::{check_shapes, read_meta, rnn_shapes};
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::input::InputLayer;
use recurrent::model::EncoderConfig;
use recurrent::model::{Classifier, ClassifierConfig, InputKind, Pooling, SeqBatch, Steps};
use recurrent::nn::sample::softmax_rows;
use recurrent::nn::{CrossEntropy, Reduction};
use recurrent::optim::{OptimSettings, OptimizerKind, ScheduleKind};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::text::bucket::EpochCursor;
use recurrent::text::bucket::{eval_batches, pad_ids, EVAL_TOKENS};
use recurrent::text::limit::{pieces, Oversize};
use recurrent::text::vectors::{load_into_table, read_vectors};
use recurrent::text::words::{encode_words, word_vocab, words};
use recurrent::text::Vocab;
use recurrent::train::metrics::{confusion, ClassMetrics};
use recurrent::train::observe::Observer;
use recurrent::train::runner::{EvalEvery, Evaluation, Task, TrainRequest, Trainer};
use recurrent::train::RunSummary;
use recurrent::train::{Shard, StepLoss};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Everything that decides the trained weights (stored with the run; a resume must agree).
/// The defaults are the configuration of docs/results.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassifyTrainConfig {
    /// Recurrent cell.
    pub cell: CellKind,
    /// Hidden units per direction.
    pub hidden: usize,
    /// Stacked recurrent layers.
    pub layers: usize,
    /// Read the sentence in both directions.
    pub bidirectional: bool,
    /// Word-embedding width.
    pub embed: usize,
    /// The word embeddings start as N(0, embed_scale^2) (PyTorch's default is 1). Smaller
    /// starting vectors keep the gates out of saturation and the model from memorising
    /// rare words early.
    pub embed_scale: f64,
    /// Dropout on the pooled features (and between layers).
    pub dropout: f64,
    /// Probability that a training word is replaced by `<unk>` (so the model learns what to
    /// do with unknown words, and relies less on any single word).
    pub word_dropout: f64,
    /// Weight drop and locked dropout in the recurrent layer (flat keys `weight_drop`,
    /// `variational`, left out while off).
    #[serde(flatten)]
    pub reg: recurrent::layer::RecurrentReg,
    /// Pooling over time: last, mean or max.
    pub pooling: Pooling,
    /// Sentences per batch.
    pub batch: usize,
    /// Optimizer, learning rate, weight decay, clipping and schedule (stored flat: the
    /// keys `optimizer`, `lr`, `weight_decay`, `clip`, `lr_schedule`, `warmup`).
    #[serde(flatten)]
    pub optim: OptimSettings,
    /// Words seen fewer times in training become `<unk>`.
    pub min_count: usize,
    /// Lower-case words before looking them up.
    pub lowercase: bool,
    /// Seed of initialisation, dropout and batch order.
    pub seed: u64,
    /// `pytorch`, `orthogonal`, `recommended`, `identity`.
    pub init: String,
    /// Evaluate every this many steps (None: once per epoch).
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Pretrained word vectors (text format: word, then numbers) that replace the initial
    /// embeddings of the words they cover; their width must be `embed`.
    pub vectors: Option<String>,
    /// Without validation data: the fraction of the training examples held out for it (a
    /// seeded shuffle picks them).
    pub val_frac: f64,
    /// The longest text read whole, in words. A longer training text becomes several
    /// examples of at most this many words, each with its label; a longer text to score or
    /// classify is read in pieces whose probabilities are averaged, weighted by length. It
    /// bounds a batch's memory by `batch x max_words x` the per-word cost
    /// (docs/reliability.md).
    pub max_words: usize,
}

/// The default of `max_words`: past the longest IMDB reviews' bulk (their median is about
/// 170 words), and a batch of 32 texts of this length trains in about 750 MB.
pub const MAX_WORDS: usize = 1000;

impl Default for ClassifyTrainConfig {
    fn default() -> Self {
        ClassifyTrainConfig {
            cell: CellKind::Lstm,
            hidden: 128,
            layers: 1,
            bidirectional: true,
            embed: 128,
            embed_scale: 0.1,
            dropout: 0.5,
            word_dropout: 0.1,
            reg: Default::default(),
            pooling: Pooling::Max,
            batch: 32,
            optim: OptimSettings {
                lr: 2e-3,
                clip: 5.0,
                optimizer: OptimizerKind::Adam,
                weight_decay: None,
                lr_schedule: ScheduleKind::Constant,
                warmup: 0,
                ema: None,
            },
            min_count: 1,
            lowercase: true,
            seed: 0,
            init: "pytorch".into(),
            eval_every: None,
            val_frac: 0.1,
            vectors: None,
            max_words: MAX_WORDS,
        }
    }
}

impl ClassifyTrainConfig {
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.hidden == 0 || self.layers == 0 || self.embed == 0 || self.batch == 0 {
            return bad("--hidden, --layers, --embed and --batch must be at least 1".into());
        }
        if self.max_words == 0 {
            return bad("--max-words must be at least 1".into());
        }
        if !(self.embed_scale > 0.0 && self.embed_scale.is_finite()) {
            return bad(format!(
                "--embed-scale must be positive, got {}",
                self.embed_scale
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(0.0..1.0).contains(&self.word_dropout) {
            return bad(format!(
                "--word-dropout must be in [0, 1), got {}",
                self.word_dropout
            ));
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
        self.init.parse::<Init>()?;
        Ok(())
    }
}

/// The stored description of a classifier checkpoint (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassifyMeta {
    /// `classify`.
    pub task: String,
    /// The architecture.
    pub model: ClassifierConfig,
    /// The word vocabulary (index = embedding row).
    pub vocab: Vocab,
    /// Label names, index = output.
    pub labels: Vec<String>,
    /// Words were lower-cased before lookup.
    pub lowercase: bool,
    /// The training configuration.
    pub train: ClassifyTrainConfig,
}

/// Training, validation and test examples.
#[derive(Clone, Debug, Default)]
pub struct ClassifyData {
    /// Training examples.
    pub train: Vec<Example>,
    /// None: `val_frac` of `train` is held out.
    pub valid: Option<Vec<Example>>,
    /// Test examples, scored with the best checkpoint at the end.
    pub test: Option<Vec<Example>>,
}

/// What a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct ClassifySummary {
    /// What every run reports (steps, time, speed, whether it finished), flattened.
    #[serde(flatten)]
    pub run: RunSummary,
    /// Passes over the training data done.
    pub epochs: f64,
    /// Words in the vocabulary (with `<unk>`).
    pub vocab: usize,
    /// Label names, index = output.
    pub labels: Vec<String>,
    /// Training examples (after any held-out validation).
    pub train_examples: usize,
    /// The best checkpoint's scores on the validation set.
    pub valid: Option<ClassMetrics>,
    /// The best checkpoint's scores on the test set.
    pub test: Option<ClassMetrics>,
    /// The step of the best checkpoint.
    pub best_step: Option<u64>,
}

/// Encoded sentences and their label indices.
#[derive(Clone, Debug, Default)]
pub struct Encoded {
    /// Word ids per sentence.
    pub ids: Vec<Vec<u32>>,
    /// Label index per sentence.
    pub labels: Vec<usize>,
}

impl Encoded {
    fn lengths(&self) -> Vec<usize> {
        self.ids.iter().map(|s| s.len()).collect()
    }
}

/// The label set of the training data: numeric order if every label is a number (`0` < `1`
/// < `10`), else text order.
pub fn label_set(examples: &[Example]) -> Vec<String> {
    let mut labels: Vec<String> = examples
        .iter()
        .map(|e| e.label.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.iter().all(|l| l.parse::<f64>().is_ok()) {
        labels.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    labels
}

/// Encodes examples; a label outside `labels` is an error naming the set and line.
fn encode(
    examples: &[Example],
    vocab: &Vocab,
    labels: &[String],
    lowercase: bool,
    what: &str,
) -> Result<Encoded> {
    let index: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut out = Encoded::default();
    for e in examples {
        let y = *index.get(e.label.as_str()).ok_or_else(|| {
            Error::Input(format!(
                "{what}, line {}: label `{}` does not occur in the training data (labels: {})",
                e.line,
                recurrent::error::quote(&e.label),
                recurrent::error::quote_list(labels, 20)
            ))
        })?;
        out.ids
            .push(encode_words(vocab, &words(&e.text, lowercase)));
        out.labels.push(y);
    }
    Ok(out)
}

/// Replaces each word by `unk` with probability `p` (training only).
fn word_dropout(batch: &mut SeqBatch<f32>, p: f64, unk: u32, rng: &mut Rng) {
    if p <= 0.0 {
        return;
    }
    if let Steps::Ids(ids) = &mut batch.steps {
        for id in ids.iter_mut() {
            if rng.uniform() < p {
                *id = unk;
            }
        }
    }
}

struct ClassifyTask {
    train: Encoded,
    valid: Option<Encoded>,
    labels: Vec<String>,
    cursor: EpochCursor,
    cfg: ClassifyTrainConfig,
    unk: u32,
    meta_json: String,
}

impl Task for ClassifyTask {
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
        let seqs: Vec<&[u32]> = idx.iter().map(|&i| self.train.ids[i].as_slice()).collect();
        let targets: Vec<usize> = idx.iter().map(|&i| self.train.labels[i]).collect();
        let mut batch = pad_ids::<f32>(&seqs, self.unk);
        word_dropout(&mut batch, self.cfg.word_dropout, self.unk, rng);
        let (logits, cache) = model.forward(&batch, Some(rng))?;
        let (loss, dlogits) =
            CrossEntropy::new().loss(&logits, self.labels.len(), &targets, None)?;
        model.backward(&batch, &cache, &dlogits)?;
        Ok(StepLoss {
            loss,
            tokens: seqs.iter().map(|s| s.len()).sum(),
            count: idx.len(),
        })
    }

    fn evaluate(&mut self, model: &Classifier<f32>) -> Result<Option<Evaluation>> {
        let Some(v) = &self.valid else {
            return Ok(None);
        };
        let m = score(model, v, &self.labels, self.cfg.max_words)?;
        Ok(Some(Evaluation {
            metric: m.accuracy,
            higher_is_better: true,
            fields: serde_json::json!({"val_loss": m.loss, "val_accuracy": m.accuracy, "val_macro_f1": m.macro_f1}),
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
        self.cursor.load_state(json, "classification")
    }
}

/// Class probabilities for encoded sentences, in their order: [N, K]. A sentence longer
/// than `max_words` is read in pieces of at most that many words (so memory is bounded by
/// the piece, whatever the length), and its probabilities are the pieces' averaged,
/// weighted by their lengths.
pub fn probabilities(
    model: &Classifier<f32>,
    ids: &[Vec<u32>],
    max_words: usize,
) -> Result<Vec<f64>> {
    let k = model.config.outputs;
    let mut units: Vec<(usize, &[u32])> = Vec::with_capacity(ids.len());
    for (i, s) in ids.iter().enumerate() {
        units.extend(pieces(s.len(), max_words).into_iter().map(|r| (i, &s[r])));
    }
    let lengths: Vec<usize> = units.iter().map(|u| u.1.len()).collect();
    let mut out = vec![0.0; ids.len() * k];
    for idx in eval_batches(&lengths, 128, EVAL_TOKENS) {
        let seqs: Vec<&[u32]> = idx.iter().map(|&u| units[u].1).collect();
        let batch = pad_ids::<f32>(&seqs, 0);
        let (logits, _) = model.forward(&batch, None)?;
        let p = softmax_rows(&logits, k);
        for (r, &u) in idx.iter().enumerate() {
            let (i, piece) = units[u];
            // An empty text (one unknown word for the model) weighs as one word.
            let w = piece.len().max(1) as f64 / ids[i].len().max(1) as f64;
            for (o, q) in out[i * k..(i + 1) * k]
                .iter_mut()
                .zip(&p[r * k..(r + 1) * k])
            {
                *o += w * q;
            }
        }
    }
    Ok(out)
}

/// `data` with every text longer than `max` words made several examples of at most `max`,
/// each with the text's label, and a message naming them; `lines` are the texts' lines.
fn split_long(data: Encoded, lines: &[usize], max: usize) -> (Encoded, Option<String>) {
    let mut long = Oversize::default();
    for (s, &line) in data.ids.iter().zip(lines) {
        long.note(s.len(), max, || format!("--data line {line}"));
    }
    if long.count == 0 {
        return (data, None);
    }
    let mut out = Encoded::default();
    for (s, y) in data.ids.into_iter().zip(data.labels) {
        if s.len() <= max {
            out.ids.push(s);
            out.labels.push(y);
            continue;
        }
        for r in pieces(s.len(), max) {
            out.ids.push(s[r].to_vec());
            out.labels.push(y);
        }
    }
    let note = long.message(
        "training text(s)",
        "--max-words",
        max,
        "were made examples of at most that many words, each with the text's label",
    );
    (out, note)
}

/// Loss, accuracy, macro-F1 and confusion matrix of `model` on `data`.
pub fn score(
    model: &Classifier<f32>,
    data: &Encoded,
    labels: &[String],
    max_words: usize,
) -> Result<ClassMetrics> {
    let k = labels.len();
    let p = probabilities(model, &data.ids, max_words)?;
    let mut loss = 0.0;
    let mut pairs = Vec::with_capacity(data.labels.len());
    for (i, &y) in data.labels.iter().enumerate() {
        let row = &p[i * k..(i + 1) * k];
        loss -= row[y].max(1e-300).ln();
        pairs.push((y, argmax(row)));
    }
    Ok(ClassMetrics::new(
        labels.to_vec(),
        confusion(pairs, k),
        loss,
    ))
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Holds out `frac` of `examples` (seeded shuffle): (train, held out).
fn hold_out(mut examples: Vec<Example>, frac: f64, seed: u64) -> (Vec<Example>, Vec<Example>) {
    let mut rng = Rng::new(seed).fork("validation-split");
    rng.shuffle(&mut examples);
    let n = ((examples.len() as f64) * frac).round() as usize;
    let held = examples.split_off(examples.len() - n.min(examples.len()));
    (examples, held)
}

/// Trains (or resumes) a classifier, then scores its best checkpoint on the validation and
/// test sets.
pub fn train_classify(
    cfg: &ClassifyTrainConfig,
    data: ClassifyData,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<ClassifySummary> {
    cfg.validate()?;
    let (train_ex, valid_ex) = match data.valid {
        Some(v) => (data.train, Some(v)),
        None if cfg.val_frac > 0.0 => {
            let (t, v) = hold_out(data.train, cfg.val_frac, cfg.seed);
            obs.message(&format!(
                "no validation data: {} of the training examples held out (--val-frac {})",
                v.len(),
                cfg.val_frac
            ));
            (t, Some(v))
        }
        None => (data.train, None),
    };
    if train_ex.is_empty() {
        return Err(Error::Input("no training examples".into()));
    }
    let labels = label_set(&train_ex);
    if labels.len() < 2 {
        return Err(Error::Input(format!(
            "the training data has one label (`{}`): a classifier needs at least two",
            labels[0]
        )));
    }
    let tokenised: Vec<Vec<String>> = train_ex
        .iter()
        .map(|e| words(&e.text, cfg.lowercase))
        .collect();
    let vocab = word_vocab(tokenised.iter().map(|s| s.as_slice()), cfg.min_count)?;
    let train = encode(&train_ex, &vocab, &labels, cfg.lowercase, "training data")?;
    let lines: Vec<usize> = train_ex.iter().map(|e| e.line).collect();
    let (train, note) = split_long(train, &lines, cfg.max_words);
    if let Some(n) = note {
        obs.message(&n);
    }
    let valid = valid_ex
        .as_deref()
        .map(|v| encode(v, &vocab, &labels, cfg.lowercase, "validation data"))
        .transpose()?;
    let test = data
        .test
        .as_deref()
        .map(|v| encode(v, &vocab, &labels, cfg.lowercase, "test data"))
        .transpose()?;
    let model_cfg = ClassifierConfig {
        input: InputKind::Tokens {
            vocab: vocab.len(),
            embed: cfg.embed,
        },
        encoder: EncoderConfig {
            cell: cfg.cell,
            hidden: cfg.hidden,
            layers: cfg.layers,
            bidirectional: cfg.bidirectional,
            dropout: cfg.dropout,
            reg: cfg.reg,
        },
        pooling: cfg.pooling,
        outputs: labels.len(),
    };
    let meta = ClassifyMeta {
        task: "classify".into(),
        model: model_cfg.clone(),
        vocab: vocab.clone(),
        labels: labels.clone(),
        lowercase: cfg.lowercase,
        train: cfg.clone(),
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let init: Init = cfg.init.parse()?;
    let mut model = Classifier::<f32>::new(model_cfg.clone(), &init, &mut Rng::new(cfg.seed))?;
    if let InputLayer::Embed(e) = &mut model.input {
        let s = cfg.embed_scale as f32;
        e.weight.value.data_mut().iter_mut().for_each(|v| *v *= s);
        if let Some(path) = &cfg.vectors {
            let rows = read_vectors(Path::new(path), &vocab, cfg.embed, cfg.lowercase)?;
            let found = load_into_table(&rows, e.weight.value.data_mut(), cfg.embed);
            obs.message(&format!(
                "{path}: vectors for {found} of {} vocabulary words",
                vocab.len()
            ));
        }
    }
    let lengths = train.lengths();
    let mut task = ClassifyTask {
        cursor: EpochCursor::new(lengths, cfg.batch, cfg.seed, "batches"),
        train,
        valid,
        labels: labels.clone(),
        cfg: cfg.clone(),
        unk: 0,
        meta_json,
    };
    let per_epoch = task.cursor.per_epoch();
    let config = serde_json::json!({"task": "classify", "train": cfg, "model": model_cfg, "vocab_size": vocab.len(), "labels": labels});
    let s = Trainer::new(&mut task, &mut model, req)
        .optim(&cfg.optim)
        .eval_every(cfg.eval_every.unwrap_or(EvalEvery::Steps(per_epoch.max(1))))
        .config(&config)
        .seed(cfg.seed)
        .run(obs)?;
    let best_path = req.out.join("best.safetensors");
    let (best, _) = load_classifier(&best_path)?;
    let best_step = checkpoint::read(&best_path)
        .ok()
        .and_then(|c| c.metadata.get("step").and_then(|v| v.parse().ok()));
    let valid_m = task
        .valid
        .as_ref()
        .map(|v| score(&best, v, &labels, cfg.max_words))
        .transpose()?;
    let test_m = test
        .as_ref()
        .map(|v| score(&best, v, &labels, cfg.max_words))
        .transpose()?;
    let epochs = s.steps as f64 / per_epoch.max(1) as f64;
    let summary = ClassifySummary {
        epochs,
        vocab: vocab.len(),
        labels,
        train_examples: task.train.ids.len(),
        valid: valid_m,
        test: test_m,
        best_step,
        run: s,
    };
    // A finished run asked to resume changes nothing, results.json included.
    req.write_results(&summary, summary.run.already_complete)?;
    Ok(summary)
}

/// Loads a classifier and its description from a checkpoint file (see
/// [`recurrent::train::run::resolve_checkpoint`] for run directories). Shapes are checked
/// against the file before the model is allocated.
pub fn load_classifier(path: &Path) -> Result<(Classifier<f32>, ClassifyMeta)> {
    let ck = checkpoint::read(path)?;
    classifier_from_checkpoint(&ck, path)
}

/// The same from a checkpoint already read (`path` names it in messages); what the fuzz
/// target drives.
pub fn classifier_from_checkpoint(
    ck: &Checkpoint,
    path: &Path,
) -> Result<(Classifier<f32>, ClassifyMeta)> {
    let mut meta: ClassifyMeta = read_meta(ck, path, "classify")?;
    meta.vocab = meta.vocab.clone().reindex()?;
    let m = &meta.model;
    let InputKind::Tokens { vocab, embed } = m.input else {
        return Err(Error::format(path, "a text classifier reads token ids"));
    };
    if vocab != meta.vocab.len() || m.outputs != meta.labels.len() || m.outputs == 0 {
        return Err(Error::format(
            path,
            format!(
                "the model has {vocab} words and {} outputs, the metadata {} words and {} labels",
                m.outputs,
                meta.vocab.len(),
                meta.labels.len()
            ),
        ));
    }
    let dn = if m.encoder.bidirectional { 2 } else { 1 };
    let mut want = vec![("embed.weight".to_string(), vec![vocab, embed])];
    want.extend(rnn_shapes(
        m.encoder.cell,
        embed,
        m.encoder.hidden,
        m.encoder.layers,
        m.encoder.bidirectional,
    ));
    want.push(("head.weight".into(), vec![m.outputs, dn * m.encoder.hidden]));
    want.push(("head.bias".into(), vec![m.outputs]));
    check_shapes(ck, &want)?;
    let mut model = Classifier::<f32>::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok((model, meta))
}

/// One text's predicted label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The most probable label.
    pub label: String,
    /// The probability of `label`.
    pub probability: f64,
    /// Every label's probability, in the label order.
    pub probabilities: Vec<f64>,
}

/// Predicts the label of each text (tokenised as in training; an empty text is one unknown
/// word). A text longer than `max_words` is read in pieces ([`probabilities`]).
pub fn predict(
    model: &Classifier<f32>,
    meta: &ClassifyMeta,
    texts: &[String],
    max_words: usize,
) -> Result<Vec<Prediction>> {
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| encode_words(&meta.vocab, &words(t, meta.lowercase)))
        .collect();
    let k = meta.labels.len();
    let p = probabilities(model, &ids, max_words)?;
    Ok(p.chunks(k)
        .map(|row| {
            let i = argmax(row);
            Prediction {
                label: meta.labels[i].clone(),
                probability: row[i],
                probabilities: row.to_vec(),
            }
        })
        .collect())
}

/// Summed loss of a batch with [`Reduction::Sum`] (used by tests).
#[doc(hidden)]
pub fn batch_loss(
    model: &Classifier<f32>,
    batch: &SeqBatch<f32>,
    targets: &[usize],
) -> Result<f64> {
    let (logits, _) = model.forward(batch, None)?;
    let (l, _) = CrossEntropy::new().reduction(Reduction::Sum).loss(
        &logits,
        model.config.outputs,
        targets,
        None,
    )?;
    Ok(l)
}

/// The default limits of `train classify`: 5 epochs (about 3 minutes for SST-2 on 2 shared
/// cores; a default run may take 8).
pub const DEFAULT_LIMITS: recurrent::train::Limits = recurrent::train::Limits {
    time_budget: None,
    steps: None,
    epochs: Some(5.0),
};
