//! Sequence labelling (many-to-many, aligned): part-of-speech tagging from CoNLL-U. Each
//! word becomes word + suffix + shape features ([`FeatureTagger`]), a bidirectional
//! recurrent layer reads the sentence, and a linear layer scores the tags at every word.
//! The loss is the mean cross-entropy over real words (padded steps masked); the best
//! checkpoint is the one with the best validation token accuracy. Reported: token accuracy,
//! accuracy on words never seen in training, macro-F1 over tags and the confusion matrix.

use crate::tag::conllu::TaggedSentence;
use recurrent::cell::CellKind;
use recurrent::checkpoint::shapes::{check_shapes, read_meta, rnn_shapes};
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::feature_tagger::{
    suffix, word_shape, FeatureBatch, FeatureTagger, FeatureTaggerConfig, WordFeatures, SHAPES,
};
use recurrent::model::EncoderConfig;
use recurrent::nn::CrossEntropy;
use recurrent::optim::{OptimSettings, OptimizerKind, ScheduleKind};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::text::bucket::EpochCursor;
use recurrent::text::bucket::{eval_batches, EVAL_TOKENS};
use recurrent::text::limit::{pieces, windows, Oversize};
use recurrent::text::vectors::{load_into_table, read_vectors};
use recurrent::text::vocab::UNK;
use recurrent::text::words::word_vocab;
use recurrent::text::Vocab;
use recurrent::train::metrics::{confusion, ClassMetrics};
use recurrent::train::observe::Observer;
use recurrent::train::runner::{EvalEvery, Evaluation, Task, TrainRequest, Trainer};
use recurrent::train::RunSummary;
use recurrent::train::{Shard, StepLoss};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Everything that decides the trained weights. Defaults: the configuration of
/// docs/results.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagTrainConfig {
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
    /// Suffix embedding width (0: no suffix features).
    pub suffix_embed: usize,
    /// Shape embedding width (0: no shape feature).
    pub shape_embed: usize,
    /// Dropout before the output layer (and between layers).
    pub dropout: f64,
    /// Probability of replacing a training word by `<unk>` (its suffix and shape stay).
    pub word_dropout: f64,
    /// Weight drop and locked dropout in the recurrent layer (flat keys `weight_drop`,
    /// `variational`, left out while off).
    #[serde(flatten)]
    pub reg: recurrent::layer::RecurrentReg,
    /// Sentences per batch.
    pub batch: usize,
    /// Optimizer, learning rate, weight decay, clipping and schedule (stored flat: the
    /// keys `optimizer`, `lr`, `weight_decay`, `clip`, `lr_schedule`, `warmup`).
    #[serde(flatten)]
    pub optim: OptimSettings,
    /// Words seen fewer times in training become `<unk>`.
    pub min_count: usize,
    /// Lower-case words for the word table (the shape feature keeps the case).
    pub lowercase: bool,
    /// The CoNLL-U field tagged (0-based; 3 = UPOS).
    pub column: usize,
    /// Seed of initialisation, dropout and batch order.
    pub seed: u64,
    /// `pytorch`, `orthogonal`, `recommended`, `identity`.
    pub init: String,
    /// Evaluate every this many steps (None: once per epoch).
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Pretrained word vectors (text format: word, then numbers) that replace the initial
    /// embeddings of the words they cover; their width must be `embed`.
    pub vectors: Option<String>,
    /// The longest sentence read whole, in tokens: longer ones are cut into pieces of at
    /// most this many (training and scoring), or read in overlapping windows (`tag`). It
    /// bounds a batch's memory by `batch x max_tokens x` the per-token cost
    /// (docs/reliability.md).
    pub max_tokens: usize,
}

/// The default of `max_tokens`: Universal Dependencies' longest sentences are a few hundred
/// tokens, and a batch of 16 of this length trains in about 300 MB.
pub const MAX_TOKENS: usize = 1000;

/// Steps of context on each side of a window's kept part when `tag` reads a sentence longer
/// than `max_tokens` in windows.
pub const WINDOW_CONTEXT: usize = 50;

impl Default for TagTrainConfig {
    fn default() -> Self {
        TagTrainConfig {
            cell: CellKind::Lstm,
            hidden: 128,
            layers: 1,
            bidirectional: true,
            embed: 100,
            suffix_embed: 32,
            shape_embed: 8,
            dropout: 0.3,
            word_dropout: 0.1,
            reg: Default::default(),
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
            min_count: 1,
            lowercase: true,
            column: 3,
            seed: 0,
            init: "pytorch".into(),
            eval_every: None,
            vectors: None,
            max_tokens: MAX_TOKENS,
        }
    }
}

impl TagTrainConfig {
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.hidden == 0 || self.layers == 0 || self.embed == 0 || self.batch == 0 {
            return bad("--hidden, --layers, --embed and --batch must be at least 1".into());
        }
        if self.max_tokens == 0 {
            return bad("--max-tokens must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) || !(0.0..1.0).contains(&self.word_dropout) {
            return bad(format!(
                "--dropout and --word-dropout must be in [0, 1), got {} and {}",
                self.dropout, self.word_dropout
            ));
        }
        self.reg.validate()?;
        if let Some(e) = self.eval_every {
            e.check()?;
        }
        self.init.parse::<Init>()?;
        Ok(())
    }
}

/// The stored description of a tagger checkpoint (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TagMeta {
    /// `tag`.
    pub task: String,
    /// The architecture.
    pub model: FeatureTaggerConfig,
    /// The word vocabulary (index = embedding row).
    pub vocab: Vocab,
    /// The suffix vocabulary (2- and 3-letter endings seen in training).
    pub suffixes: Vocab,
    /// Tag names, index = output.
    pub tags: Vec<String>,
    /// Words were lower-cased before lookup.
    pub lowercase: bool,
    /// The training configuration.
    pub train: TagTrainConfig,
}

impl TagMeta {
    /// The features of a word.
    pub fn features(&self, w: &str) -> WordFeatures {
        features(w, &self.vocab, &self.suffixes, self.lowercase)
    }
}

fn norm(w: &str, lowercase: bool) -> String {
    if lowercase {
        w.to_lowercase()
    } else {
        w.to_string()
    }
}

fn features(w: &str, vocab: &Vocab, suffixes: &Vocab, lowercase: bool) -> WordFeatures {
    let n = norm(w, lowercase);
    let low = w.to_lowercase();
    let look = |v: &Vocab, s: &str| v.id(s).unwrap_or(0);
    [
        look(vocab, &n),
        look(suffixes, suffix(&low, 2)),
        look(suffixes, suffix(&low, 3)),
        word_shape(w),
    ]
}

/// Token accuracy, accuracy on words unseen in training, macro-F1 over tags, confusion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagMetrics {
    #[serde(flatten)]
    /// Token-level scores over every word.
    pub tokens: ClassMetrics,
    /// Words whose (normalised) form never occurs in the training data.
    pub unseen_tokens: usize,
    /// Accuracy on those words (None if there are none).
    pub unseen_accuracy: Option<f64>,
}

/// A set of sentences as features and tag ids, with which words are unseen in training.
#[derive(Clone, Debug, Default)]
pub struct EncodedTags {
    /// Word features per sentence.
    pub feats: Vec<Vec<WordFeatures>>,
    /// Tag ids per sentence (the number of tags for a tag unseen in training).
    pub tags: Vec<Vec<usize>>,
    /// Per word: never seen in training.
    pub unseen: Vec<Vec<bool>>,
}

fn encode_set(
    sents: &[TaggedSentence],
    meta: &TagMeta,
    seen: &HashSet<String>,
    what: &str,
) -> Result<EncodedTags> {
    let index: BTreeMap<&str, usize> = meta
        .tags
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut out = EncodedTags::default();
    for s in sents {
        let mut tags = Vec::with_capacity(s.words.len());
        for (i, t) in s.tags.iter().enumerate() {
            // A tag never seen in training cannot be predicted; it is counted as an error
            // (index = number of tags, outside the confusion matrix).
            tags.push(*index.get(t.as_str()).unwrap_or(&meta.tags.len()));
            if !index.contains_key(t.as_str()) && what == "training data" {
                return Err(Error::Input(format!(
                    "{what}, line {}: unknown tag `{t}`",
                    s.line + i
                )));
            }
        }
        out.feats
            .push(s.words.iter().map(|w| meta.features(w)).collect());
        out.unseen.push(
            s.words
                .iter()
                .map(|w| !seen.contains(&norm(w, meta.lowercase)))
                .collect(),
        );
        out.tags.push(tags);
    }
    Ok(out)
}

/// Tag ids predicted for feature sentences, in their order.
pub fn predict_ids(
    model: &FeatureTagger<f32>,
    feats: &[Vec<WordFeatures>],
) -> Result<Vec<Vec<usize>>> {
    let k = model.config.tags;
    let lengths: Vec<usize> = feats.iter().map(|s| s.len().max(1)).collect();
    let mut out = vec![Vec::new(); feats.len()];
    for idx in eval_batches(&lengths, 64, EVAL_TOKENS) {
        let seqs: Vec<&[WordFeatures]> = idx.iter().map(|&i| feats[i].as_slice()).collect();
        let fb = FeatureBatch::pad(&seqs);
        let (logits, _) = model.forward(&fb, None)?;
        for (bi, &i) in idx.iter().enumerate() {
            out[i] = (0..feats[i].len())
                .map(|t| {
                    let row = &logits[(t * fb.b + bi) * k..][..k];
                    let mut best = 0;
                    for (j, &v) in row.iter().enumerate() {
                        if v > row[best] {
                            best = j;
                        }
                    }
                    best
                })
                .collect();
        }
    }
    Ok(out)
}

/// Scores `model` on an encoded set (loss is the mean cross-entropy per word).
pub fn score(
    model: &FeatureTagger<f32>,
    data: &EncodedTags,
    tags: &[String],
) -> Result<TagMetrics> {
    let k = tags.len();
    let lengths: Vec<usize> = data.feats.iter().map(|s| s.len().max(1)).collect();
    let ce = CrossEntropy::new()
        .ignore_index(k)
        .reduction(recurrent::nn::Reduction::Sum);
    let mut loss = 0.0;
    let mut pairs = Vec::new();
    let (mut unseen, mut unseen_right, mut wrong_unknown_tag) = (0usize, 0usize, 0u64);
    for idx in eval_batches(&lengths, 64, EVAL_TOKENS) {
        let seqs: Vec<&[WordFeatures]> = idx.iter().map(|&i| data.feats[i].as_slice()).collect();
        let fb = FeatureBatch::pad(&seqs);
        let (logits, _) = model.forward(&fb, None)?;
        let mut targets = vec![k; fb.t * fb.b];
        for (bi, &i) in idx.iter().enumerate() {
            for (t, &y) in data.tags[i].iter().enumerate() {
                targets[t * fb.b + bi] = y;
                let row = &logits[(t * fb.b + bi) * k..][..k];
                let mut best = 0;
                for (j, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = j;
                    }
                }
                if y < k {
                    pairs.push((y, best));
                } else {
                    wrong_unknown_tag += 1;
                }
                if data.unseen[i][t] {
                    unseen += 1;
                    unseen_right += usize::from(best == y);
                }
            }
        }
        let (l, _) = ce.loss(&logits, k, &targets, None)?;
        loss += l;
    }
    let mut m = ClassMetrics::new(tags.to_vec(), confusion(pairs, k), loss);
    if wrong_unknown_tag > 0 {
        // Words whose gold tag the model cannot produce count as errors in the accuracy.
        let n = m.n as f64;
        m.accuracy = m.accuracy * n / (n + wrong_unknown_tag as f64);
        m.n += wrong_unknown_tag as usize;
    }
    Ok(TagMetrics {
        tokens: m,
        unseen_tokens: unseen,
        unseen_accuracy: (unseen > 0).then(|| unseen_right as f64 / unseen as f64),
    })
}

struct TagTask {
    train: EncodedTags,
    valid: Option<EncodedTags>,
    tags: Vec<String>,
    cursor: EpochCursor,
    cfg: TagTrainConfig,
    meta_json: String,
}

impl Task for TagTask {
    type Model = FeatureTagger<f32>;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    fn batches_per_epoch(&self) -> u64 {
        self.cursor.per_epoch()
    }

    fn train_step(
        &mut self,
        model: &mut FeatureTagger<f32>,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss> {
        let all = self.cursor.next_batch();
        let idx = &all[shard.rows(all.len())];
        if idx.is_empty() {
            return Ok(StepLoss::default());
        }
        let rng = shard.rng(rng);
        let seqs: Vec<&[WordFeatures]> = idx
            .iter()
            .map(|&i| self.train.feats[i].as_slice())
            .collect();
        let mut fb = FeatureBatch::pad(&seqs);
        if self.cfg.word_dropout > 0.0 {
            for f in fb.feats.iter_mut() {
                if rng.uniform() < self.cfg.word_dropout {
                    f[0] = 0;
                }
            }
        }
        let k = self.tags.len();
        let mut targets = vec![0usize; fb.t * fb.b];
        let mut mask = vec![false; fb.t * fb.b];
        for (bi, &i) in idx.iter().enumerate() {
            for (t, &y) in self.train.tags[i].iter().enumerate() {
                targets[t * fb.b + bi] = y;
                mask[t * fb.b + bi] = true;
            }
        }
        let (logits, cache) = model.forward(&fb, Some(rng))?;
        let (loss, dlogits) = CrossEntropy::new().loss(&logits, k, &targets, Some(&mask))?;
        model.backward(&fb, &cache, &dlogits)?;
        let words = mask.iter().filter(|&&m| m).count();
        Ok(StepLoss {
            loss,
            tokens: words,
            count: words,
        })
    }

    fn evaluate(&mut self, model: &FeatureTagger<f32>) -> Result<Option<Evaluation>> {
        let Some(v) = &self.valid else {
            return Ok(None);
        };
        let m = score(model, v, &self.tags)?;
        Ok(Some(Evaluation {
            metric: m.tokens.accuracy,
            higher_is_better: true,
            fields: serde_json::json!({"val_loss": m.tokens.loss, "val_accuracy": m.tokens.accuracy,
                "val_unseen_accuracy": m.unseen_accuracy, "val_macro_f1": m.tokens.macro_f1}),
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
        self.cursor.load_state(json, "tagging")
    }
}

/// What a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct TagSummary {
    /// What every run reports (steps, time, speed, whether it finished), flattened.
    #[serde(flatten)]
    pub run: RunSummary,
    /// Passes over the training data done.
    pub epochs: f64,
    /// Words in the vocabulary (with `<unk>`).
    pub vocab: usize,
    /// Tag names, index = output.
    pub tags: Vec<String>,
    /// Training sentences.
    pub train_sentences: usize,
    /// Training words.
    pub train_tokens: usize,
    /// The best checkpoint's scores on the validation set.
    pub valid: Option<TagMetrics>,
    /// Test examples, scored with the best checkpoint at the end.
    pub test: Option<TagMetrics>,
    /// The step of the best checkpoint.
    pub best_step: Option<u64>,
}

/// `sents` with every sentence longer than `max` tokens cut into consecutive pieces of at
/// most `max` (tagging is aligned: each piece keeps its words' tags), and a message naming
/// them; borrowed unchanged when none is long. `flag` names the file's flag in the message.
pub fn split_long<'a>(
    sents: &'a [TaggedSentence],
    max: usize,
    flag: &str,
) -> (Cow<'a, [TaggedSentence]>, Option<String>) {
    let mut long = Oversize::default();
    for s in sents {
        long.note(s.words.len(), max, || format!("{flag} line {}", s.line));
    }
    if long.count == 0 {
        return (Cow::Borrowed(sents), None);
    }
    let mut out = Vec::with_capacity(sents.len() + long.count);
    for s in sents {
        if s.words.len() <= max {
            out.push(s.clone());
            continue;
        }
        for r in pieces(s.words.len(), max) {
            out.push(TaggedSentence {
                words: s.words[r.clone()].to_vec(),
                tags: s.tags[r.clone()].to_vec(),
                id: s.id.clone(),
                text: None,
                line: s.line + r.start,
            });
        }
    }
    let note = long.message("sentence(s)", "--max-tokens", max, "were cut into pieces");
    (Cow::Owned(out), note)
}

/// Trains (or resumes) a tagger, then scores its best checkpoint on validation and test.
pub fn train_tag<'a>(
    cfg: &TagTrainConfig,
    train: &'a [TaggedSentence],
    valid: Option<&'a [TaggedSentence]>,
    test: Option<&'a [TaggedSentence]>,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<TagSummary> {
    cfg.validate()?;
    if train.is_empty() {
        return Err(Error::Input("no training sentences".into()));
    }
    let mut split = |set: &'a [TaggedSentence], flag: &str| {
        let (s, note) = split_long(set, cfg.max_tokens, flag);
        if let Some(n) = note {
            obs.message(&n);
        }
        s
    };
    let train = &*split(train, "--data");
    let valid = valid.map(|v| split(v, "--valid"));
    let test = test.map(|v| split(v, "--test"));
    let (valid, test) = (valid.as_deref(), test.as_deref());
    let mut tags: Vec<String> = train
        .iter()
        .flat_map(|s| s.tags.iter().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    tags.sort();
    let normed: Vec<Vec<String>> = train
        .iter()
        .map(|s| s.words.iter().map(|w| norm(w, cfg.lowercase)).collect())
        .collect();
    let seen: HashSet<String> = normed.iter().flatten().cloned().collect();
    let vocab = word_vocab(normed.iter().map(|s| s.as_slice()), cfg.min_count)?;
    let suffix_words: Vec<Vec<String>> = train
        .iter()
        .map(|s| {
            s.words
                .iter()
                .flat_map(|w| {
                    let low = w.to_lowercase();
                    [suffix(&low, 2).to_string(), suffix(&low, 3).to_string()]
                })
                .collect()
        })
        .collect();
    let suffixes = word_vocab(suffix_words.iter().map(|s| s.as_slice()), 1)?;
    debug_assert_eq!(suffixes.id(UNK), Some(0));
    let model_cfg = FeatureTaggerConfig {
        encoder: EncoderConfig {
            cell: cfg.cell,
            hidden: cfg.hidden,
            layers: cfg.layers,
            bidirectional: cfg.bidirectional,
            dropout: cfg.dropout,
            reg: cfg.reg,
        },
        vocab: vocab.len(),
        embed: cfg.embed,
        suffixes: suffixes.len(),
        suffix_embed: cfg.suffix_embed,
        shape_embed: cfg.shape_embed,
        tags: tags.len(),
    };
    let meta = TagMeta {
        task: "tag".into(),
        model: model_cfg.clone(),
        vocab: vocab.clone(),
        suffixes,
        tags: tags.clone(),
        lowercase: cfg.lowercase,
        train: cfg.clone(),
    };
    let enc_train = encode_set(train, &meta, &seen, "training data")?;
    let enc_valid = valid
        .map(|v| encode_set(v, &meta, &seen, "validation data"))
        .transpose()?;
    let enc_test = test
        .map(|v| encode_set(v, &meta, &seen, "test data"))
        .transpose()?;
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let init: Init = cfg.init.parse()?;
    let mut model = FeatureTagger::<f32>::new(model_cfg.clone(), &init, &mut Rng::new(cfg.seed))?;
    if let Some(path) = &cfg.vectors {
        let rows = read_vectors(Path::new(path), &vocab, cfg.embed, cfg.lowercase)?;
        let found = load_into_table(&rows, model.words.weight.value.data_mut(), cfg.embed);
        obs.message(&format!(
            "{path}: vectors for {found} of {} vocabulary words",
            vocab.len()
        ));
    }
    let lengths: Vec<usize> = enc_train.feats.iter().map(|s| s.len().max(1)).collect();
    let train_tokens = lengths.iter().sum();
    let mut task = TagTask {
        cursor: EpochCursor::new(lengths, cfg.batch, cfg.seed, "tag-batches"),
        train: enc_train,
        valid: enc_valid,
        tags: tags.clone(),
        cfg: cfg.clone(),
        meta_json,
    };
    let per_epoch = task.cursor.per_epoch();
    let config = serde_json::json!({"task": "tag", "train": cfg, "model": model_cfg, "vocab_size": vocab.len(), "tags": tags});
    let s = Trainer::new(&mut task, &mut model, req)
        .optim(&cfg.optim)
        .eval_every(cfg.eval_every.unwrap_or(EvalEvery::Steps(per_epoch.max(1))))
        .config(&config)
        .seed(cfg.seed)
        .run(obs)?;
    let best_path = req.out.join("best.safetensors");
    let (best, _) = load_tagger(&best_path)?;
    let best_step = checkpoint::read(&best_path)
        .ok()
        .and_then(|c| c.metadata.get("step").and_then(|v| v.parse().ok()));
    let valid_m = task
        .valid
        .as_ref()
        .map(|v| score(&best, v, &tags))
        .transpose()?;
    let test_m = enc_test
        .as_ref()
        .map(|v| score(&best, v, &tags))
        .transpose()?;
    let epochs = s.steps as f64 / per_epoch.max(1) as f64;
    let summary = TagSummary {
        epochs,
        vocab: vocab.len(),
        tags,
        train_sentences: train.len(),
        train_tokens,
        valid: valid_m,
        test: test_m,
        best_step,
        run: s,
    };
    // A finished run asked to resume changes nothing, results.json included.
    req.write_results(&summary, summary.run.already_complete)?;
    Ok(summary)
}

/// Loads a tagger and its description from a checkpoint file; shapes are checked against
/// the file before the model is allocated.
pub fn load_tagger(path: &Path) -> Result<(FeatureTagger<f32>, TagMeta)> {
    let ck = checkpoint::read(path)?;
    tagger_from_checkpoint(&ck, path)
}

/// The same from a checkpoint already read (`path` names it in messages); what the fuzz
/// target drives.
pub fn tagger_from_checkpoint(
    ck: &Checkpoint,
    path: &Path,
) -> Result<(FeatureTagger<f32>, TagMeta)> {
    let mut meta: TagMeta = read_meta(ck, path, "tag")?;
    meta.vocab = meta.vocab.clone().reindex()?;
    meta.suffixes = meta.suffixes.clone().reindex()?;
    let m = &meta.model;
    if m.vocab != meta.vocab.len()
        || m.suffixes != meta.suffixes.len()
        || m.tags != meta.tags.len()
        || m.tags == 0
    {
        return Err(Error::format(
            path,
            "the model's table sizes disagree with the vocabularies in the metadata",
        ));
    }
    let dn = if m.encoder.bidirectional { 2 } else { 1 };
    let mut want = vec![("embed.weight".to_string(), vec![m.vocab, m.embed])];
    if m.suffix_embed > 0 {
        want.push((
            "embed_suffix.weight".into(),
            vec![m.suffixes, m.suffix_embed],
        ));
    }
    if m.shape_embed > 0 {
        want.push(("embed_shape.weight".into(), vec![SHAPES, m.shape_embed]));
    }
    want.extend(rnn_shapes(
        m.encoder.cell,
        m.width(),
        m.encoder.hidden,
        m.encoder.layers,
        m.encoder.bidirectional,
    ));
    want.push(("head.weight".into(), vec![m.tags, dn * m.encoder.hidden]));
    want.push(("head.bias".into(), vec![m.tags]));
    check_shapes(ck, &want)?;
    let mut model = FeatureTagger::<f32>::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok((model, meta))
}

/// Tags sentences given as words: one tag per word. A sentence longer than `max_tokens` is
/// read in windows of at most that many words, each kept part with [`WINDOW_CONTEXT`] words
/// of context on both sides, so memory stays bounded by the window whatever the length.
pub fn tag_sentences(
    model: &FeatureTagger<f32>,
    meta: &TagMeta,
    sentences: &[Vec<String>],
    max_tokens: usize,
) -> Result<Vec<Vec<String>>> {
    let mut units: Vec<Vec<WordFeatures>> = Vec::new();
    let mut plan = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        for w in windows(s.len(), max_tokens, WINDOW_CONTEXT) {
            units.push(
                s[w.input.clone()]
                    .iter()
                    .map(|x| meta.features(x))
                    .collect(),
            );
            plan.push((i, w));
        }
    }
    let ids = predict_ids(model, &units)?;
    let mut out: Vec<Vec<String>> = sentences
        .iter()
        .map(|s| Vec::with_capacity(s.len()))
        .collect();
    for ((i, w), unit) in plan.into_iter().zip(ids) {
        let skip = w.keep.start - w.input.start;
        out[i].extend(
            unit[skip..skip + w.keep.len()]
                .iter()
                .map(|&t| meta.tags[t].clone()),
        );
    }
    Ok(out)
}

/// The default limits of `train tag`.
pub const DEFAULT_LIMITS: recurrent::train::Limits = recurrent::train::Limits {
    time_budget: None,
    steps: None,
    epochs: Some(10.0),
};
