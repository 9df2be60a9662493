//! Sequence to sequence (translation, or any string-to-string task): sentence pairs ->
//! tokens -> encoder (optionally bidirectional, bridged to the decoder) -> decoder with
//! teacher forcing, optionally with Luong attention ([`recurrent::model::seq2seq`]) -> softmax
//! over the target words. Trained by the shared loop ([`recurrent::train::runner`]) on batches bucketed
//! by length; the best checkpoint is the one with the lowest validation loss (nats per
//! target token, EOS included). At the end the best checkpoint translates every test source
//! sentence, greedily and with beam search, and is scored by corpus BLEU ([`crate::translate::bleu`])
//! against every target of that source in the test split.
//!
//! The split is by source sentence with a seeded hash ([`crate::translate::parallel::split_of`]),
//! so a sentence with several translations is in one split only; the three splits are
//! written to the run directory (`train.tsv`, `valid.tsv`, `test.tsv`) for other tools,
//! with the hypotheses (`test.greedy.txt`, `test.beam.txt`, one line per distinct test
//! source in the order of `test.sources.txt`).
//!
//! ```no_run
//! use recurrent::data::parallel::read_parallel;
//! use recurrent::train::translate::{train_translate, TranslateTrainConfig};
//! use recurrent::train::runner::TrainRequest;
//! let pairs = read_parallel("eng-fra.txt".as_ref()).unwrap();
//! let mut req = TrainRequest::new("runs/translate");
//! req.limits.steps = Some(100);
//! let s = train_translate(&TranslateTrainConfig::default(), pairs, &req, &mut recurrent::train::Quiet).unwrap();
//! println!("test BLEU greedy {:?}", s.test.map(|t| t.bleu_greedy));
//! ```

use crate::translate::bleu::{corpus_bleu, Bleu};
use crate::translate::parallel::{
    detokenize, group_by_source, split_pairs, tokenize, write_tsv, Pair,
};
use recurrent::cell::CellKind;
use recurrent::checkpoint;
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::{Attention, Seq2Seq, Seq2SeqConfig, SeqBatch, Steps};
use recurrent::nn::{CrossEntropy, Reduction};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::text::bucket::bucket_batches;
use recurrent::text::bucket::EpochCursor;
use recurrent::text::vocab::{Tokenizer, UNK};
use recurrent::text::Vocab;
use recurrent::train::observe::Observer;
use recurrent::train::runner::{self, EvalEvery, Evaluation, OptimSettings, Task, TrainRequest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The start and end tokens of the target vocabulary (ids 1 and 2; 0 is `<unk>`).
pub const BOS: &str = "<s>";
pub const EOS: &str = "</s>";

/// Everything that decides the trained weights and the reported scores (stored with the
/// run; a resume must agree). The defaults are the configuration of docs/results.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranslateTrainConfig {
    /// Recurrent cell of encoder and decoder.
    pub cell: CellKind,
    /// Hidden units (per direction in the encoder).
    pub hidden: usize,
    /// Stacked layers in encoder and decoder.
    pub layers: usize,
    /// Word-embedding width (both languages).
    pub embed: usize,
    /// Read the source in both directions (final states bridged to the decoder).
    pub bidirectional: bool,
    /// Attention over the encoder outputs.
    pub attention: Attention,
    /// Dropout between stacked layers.
    pub dropout: f64,
    /// Probability that a decoder step reads the true previous word (1: always; below 1
    /// the decoder runs step by step, slower).
    pub teacher_forcing: f64,
    /// Sentence pairs per batch.
    pub batch: usize,
    pub lr: f64,
    /// Clip the global gradient norm (0: off).
    pub clip: f64,
    pub optimizer: String,
    pub weight_decay: Option<f64>,
    /// Words seen fewer times in the training split become `<unk>` (each language).
    pub min_count: usize,
    /// Training pairs with more tokens than this on either side are left out.
    pub max_len: usize,
    /// Keep the target's case (BLEU is case-sensitive); the source is always lower-cased.
    pub keep_target_case: bool,
    /// Fractions of the distinct source sentences held out for validation and test.
    pub valid_frac: f64,
    pub test_frac: f64,
    /// Seed of the split's hash (separate from `seed`, so runs with different seeds are
    /// scored on the same test sentences).
    pub split_seed: u64,
    /// Seed of initialisation, teacher forcing and batch order.
    pub seed: u64,
    pub init: String,
    /// Evaluate every this many steps (None: once per epoch).
    pub eval_every: Option<u64>,
    /// Beam width for the test translations (1: greedy only).
    pub beam: usize,
    /// Length normalisation of beam scores: log p / len^alpha.
    pub length_alpha: f64,
    pub lr_schedule: String,
    pub warmup: u64,
}

impl Default for TranslateTrainConfig {
    fn default() -> Self {
        TranslateTrainConfig {
            cell: CellKind::Lstm,
            hidden: 256,
            layers: 1,
            embed: 128,
            bidirectional: true,
            attention: Attention::Luong,
            dropout: 0.0,
            teacher_forcing: 1.0,
            batch: 64,
            lr: 2e-3,
            clip: 5.0,
            optimizer: "adam".into(),
            weight_decay: None,
            min_count: 2,
            max_len: 20,
            keep_target_case: true,
            valid_frac: 0.05,
            test_frac: 0.1,
            split_seed: 0,
            seed: 0,
            init: "pytorch".into(),
            eval_every: Some(500),
            beam: 5,
            length_alpha: 1.0,
            lr_schedule: "constant".into(),
            warmup: 0,
        }
    }
}

impl TranslateTrainConfig {
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.hidden == 0 || self.layers == 0 || self.embed == 0 || self.batch == 0 {
            return bad("--hidden, --layers, --embed and --batch must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(0.0..=1.0).contains(&self.teacher_forcing) {
            return bad(format!(
                "--teacher-forcing must be in [0, 1], got {}",
                self.teacher_forcing
            ));
        }
        let fr = |v: f64| (0.0..1.0).contains(&v);
        if !fr(self.valid_frac) || !fr(self.test_frac) || self.valid_frac + self.test_frac >= 1.0 {
            return bad(format!(
                "--valid-frac ({}) and --test-frac ({}) must be in [0, 1) with a sum below 1",
                self.valid_frac, self.test_frac
            ));
        }
        if self.max_len == 0 || self.beam == 0 {
            return bad("--max-len and --beam must be at least 1".into());
        }
        if !(self.length_alpha >= 0.0 && self.length_alpha.is_finite()) {
            return bad(format!(
                "--length-alpha must be >= 0, got {}",
                self.length_alpha
            ));
        }
        if self.eval_every == Some(0) {
            return bad("--eval-every must be at least 1 step".into());
        }
        self.init.parse::<Init>()?;
        Ok(())
    }

    fn optim(&self) -> OptimSettings {
        OptimSettings {
            optimizer: self.optimizer.clone(),
            lr: self.lr,
            weight_decay: self.weight_decay,
            clip: self.clip,
            lr_schedule: self.lr_schedule.clone(),
            warmup: self.warmup,
        }
    }
}

/// The stored description of a translation checkpoint (metadata `model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TranslateMeta {
    /// `translate`.
    pub task: String,
    pub model: Seq2SeqConfig,
    pub src_vocab: Vocab,
    /// `<unk>`, `<s>`, `</s>`, then the words.
    pub tgt_vocab: Vocab,
    pub keep_target_case: bool,
    pub beam: usize,
    pub length_alpha: f64,
    pub train: TranslateTrainConfig,
}

impl TranslateMeta {
    /// Source token ids of a sentence (lower-cased; unknown words as `<unk>`; an empty
    /// sentence is one `<unk>`).
    pub fn encode_source(&self, text: &str) -> Vec<u32> {
        let ids: Vec<u32> = tokenize(text, true)
            .iter()
            .map(|w| self.src_vocab.id(w).unwrap_or(0))
            .collect();
        if ids.is_empty() {
            vec![0]
        } else {
            ids
        }
    }
    /// Text of target ids (detokenised).
    pub fn decode_target(&self, ids: &[u32]) -> String {
        let toks: Vec<&str> = ids.iter().map(|&i| self.tgt_vocab.token(i)).collect();
        detokenize(&toks)
    }
    /// The longest translation decoding produces for a source of `n` tokens.
    pub fn max_output(&self, n: usize) -> usize {
        2 * n + 10
    }
}

/// Scores on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct TestScores {
    /// Distinct test source sentences translated.
    pub sentences: usize,
    /// Test pairs (references).
    pub pairs: usize,
    /// Corpus BLEU (sacreBLEU's default: 13a, case-sensitive) of greedy decoding.
    pub bleu_greedy: f64,
    /// ... of beam search (None with beam 1).
    pub bleu_beam: Option<f64>,
    /// Case-insensitive BLEU (sacreBLEU `-lc`).
    pub bleu_greedy_lc: f64,
    pub bleu_beam_lc: Option<f64>,
    /// The details of the greedy and beam scores.
    pub greedy: Bleu,
    pub beam: Option<Bleu>,
    /// Fraction of sentences whose greedy translation equals one of the references,
    /// token for token (after tokenisation).
    pub exact_match_greedy: f64,
    pub exact_match_beam: Option<f64>,
    /// Seconds to translate the test split greedily (batched) and with beam search.
    pub greedy_s: f64,
    pub beam_s: Option<f64>,
}

/// One example translation.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub source: String,
    pub references: Vec<String>,
    pub greedy: String,
    pub beam: Option<String>,
}

/// What a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct TranslateSummary {
    pub out: PathBuf,
    pub steps: u64,
    pub epochs: f64,
    /// Seconds spent in training steps (loading and evaluation excluded).
    pub train_s: f64,
    /// Target tokens per second of training.
    pub tokens_per_s: f64,
    pub train_loss: Option<f64>,
    pub params: usize,
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    pub train_pairs: usize,
    /// Training pairs left out by `max_len`.
    pub filtered_pairs: usize,
    pub valid_pairs: usize,
    /// The best checkpoint's validation loss (nats per target token).
    pub val_loss: Option<f64>,
    pub best_step: Option<u64>,
    pub test: Option<TestScores>,
    pub examples: Vec<Example>,
    pub nan_skips: u64,
    pub finished: bool,
    pub already_complete: bool,
}

/// A pair as token ids: source, and target ending with EOS.
#[derive(Clone, Debug)]
struct EncodedPair {
    src: Vec<u32>,
    tgt: Vec<u32>,
}

/// Tokens of a target sentence.
fn target_tokens(text: &str, keep_case: bool) -> Vec<String> {
    tokenize(text, !keep_case)
}

/// A vocabulary of the words seen at least `min_count` times, most frequent first (ties by
/// text), after the given special tokens.
fn build_vocab<'a>(
    sentences: impl Iterator<Item = &'a Vec<String>>,
    min_count: usize,
    specials: &[&str],
) -> Result<Vocab> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in sentences {
        for w in s {
            *counts.entry(w.as_str()).or_default() += 1;
        }
    }
    let mut by_freq: Vec<(&str, usize)> = counts
        .into_iter()
        .filter(|&(w, c)| c >= min_count.max(1) && !specials.contains(&w))
        .collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let tokens = specials
        .iter()
        .map(|s| s.to_string())
        .chain(by_freq.into_iter().map(|(w, _)| w.to_string()))
        .collect();
    Vocab::from_tokens(Tokenizer::Word, tokens)
}

fn encode_ids(vocab: &Vocab, words: &[String]) -> Vec<u32> {
    words.iter().map(|w| vocab.id(w).unwrap_or(0)).collect()
}

/// A padded time-major batch: sources [S, B] with lengths, targets [T, B] (EOS-padded) and
/// the mask of real target steps.
fn make_batch(pairs: &[&EncodedPair]) -> (SeqBatch<f32>, Vec<u32>, usize, Vec<bool>) {
    let b = pairs.len();
    let s = pairs.iter().map(|p| p.src.len()).max().unwrap_or(1).max(1);
    let t = pairs.iter().map(|p| p.tgt.len()).max().unwrap_or(1).max(1);
    let mut src = vec![0u32; s * b];
    let mut tgt = vec![2u32; t * b];
    let mut mask = vec![false; t * b];
    for (bi, p) in pairs.iter().enumerate() {
        for (ti, &id) in p.src.iter().enumerate() {
            src[ti * b + bi] = id;
        }
        for (ti, &id) in p.tgt.iter().enumerate() {
            tgt[ti * b + bi] = id;
            mask[ti * b + bi] = true;
        }
    }
    let batch = SeqBatch {
        steps: Steps::Ids(src),
        t: s,
        b,
        lengths: Some(pairs.iter().map(|p| p.src.len().max(1)).collect()),
    };
    (batch, tgt, t, mask)
}

/// Bucketing key: source length, then target length.
fn bucket_keys(pairs: &[EncodedPair]) -> Vec<usize> {
    pairs
        .iter()
        .map(|p| p.src.len() * 256 + p.tgt.len().min(255))
        .collect()
}

/// Mean loss per target token (EOS included) of `model` on `pairs`, teacher-forced.
fn mean_loss(model: &Seq2Seq<f32>, pairs: &[EncodedPair]) -> Result<(f64, usize)> {
    let v = model.config.tgt_vocab;
    let keys = bucket_keys(pairs);
    let (mut total, mut count) = (0.0, 0usize);
    for idx in bucket_batches(&keys, 128, None) {
        let ps: Vec<&EncodedPair> = idx.iter().map(|&i| &pairs[i]).collect();
        let (batch, tgt, t, mask) = make_batch(&ps);
        let (logits, _) = model.forward(&batch, &tgt, t, 1.0, None)?;
        let tg: Vec<usize> = tgt.iter().map(|&x| x as usize).collect();
        let (l, _) =
            CrossEntropy::new()
                .reduction(Reduction::Sum)
                .loss(&logits, v, &tg, Some(&mask))?;
        total += l;
        count += mask.iter().filter(|&&m| m).count();
    }
    Ok((total / count.max(1) as f64, count))
}

struct TranslateTask {
    train: Vec<EncodedPair>,
    valid: Vec<EncodedPair>,
    cursor: EpochCursor,
    cfg: TranslateTrainConfig,
    meta_json: String,
}

impl Task for TranslateTask {
    type Model = Seq2Seq<f32>;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    fn batches_per_epoch(&self) -> u64 {
        self.cursor.per_epoch()
    }

    fn train_step(&mut self, model: &mut Seq2Seq<f32>, rng: &mut Rng) -> Result<(f64, usize)> {
        let ps: Vec<&EncodedPair> = self
            .cursor
            .next_batch()
            .iter()
            .map(|&i| &self.train[i])
            .collect();
        let (batch, tgt, t, mask) = make_batch(&ps);
        let (logits, cache) =
            model.forward(&batch, &tgt, t, self.cfg.teacher_forcing, Some(rng))?;
        let tg: Vec<usize> = tgt.iter().map(|&x| x as usize).collect();
        let (loss, dlogits) =
            CrossEntropy::new().loss(&logits, model.config.tgt_vocab, &tg, Some(&mask))?;
        model.backward(&batch, &cache, &dlogits)?;
        Ok((loss, mask.iter().filter(|&&m| m).count()))
    }

    fn evaluate(&mut self, model: &Seq2Seq<f32>) -> Result<Option<Evaluation>> {
        if self.valid.is_empty() {
            return Ok(None);
        }
        let (loss, tokens) = mean_loss(model, &self.valid)?;
        Ok(Some(Evaluation {
            metric: loss,
            higher_is_better: false,
            fields: serde_json::json!({"val_loss": loss, "val_ppl": loss.exp(), "val_tokens": tokens}),
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
        self.cursor.load_state(json, "translation")
    }
}

/// Trains (or resumes) a translation model on `pairs` (split here), then translates the test
/// split with its best checkpoint and scores it.
pub fn train_translate(
    cfg: &TranslateTrainConfig,
    pairs: Vec<Pair>,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<TranslateSummary> {
    cfg.validate()?;
    let splits = split_pairs(pairs, cfg.split_seed, cfg.valid_frac, cfg.test_frac);
    if splits.train.is_empty() {
        return Err(Error::Input("no training pairs after the split".into()));
    }
    obs.message(&format!(
        "split by source sentence (seed {}): {} train, {} valid, {} test pairs",
        cfg.split_seed,
        splits.train.len(),
        splits.valid.len(),
        splits.test.len()
    ));
    // The splits go into the run directory (deterministic: a resume rewrites the same).
    if req.resume || !req.out.join("config.json").exists() {
        std::fs::create_dir_all(&req.out).map_err(|e| Error::io(&req.out, e))?;
        write_tsv(&req.out.join("train.tsv"), &splits.train)?;
        write_tsv(&req.out.join("valid.tsv"), &splits.valid)?;
        write_tsv(&req.out.join("test.tsv"), &splits.test)?;
    }
    let tok = |p: &Pair| {
        (
            tokenize(&p.src, true),
            target_tokens(&p.tgt, cfg.keep_target_case),
        )
    };
    let train_tok: Vec<(Vec<String>, Vec<String>)> = splits
        .train
        .iter()
        .map(tok)
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
        .collect();
    let before = train_tok.len();
    let train_tok: Vec<_> = train_tok
        .into_iter()
        .filter(|(s, t)| s.len() <= cfg.max_len && t.len() <= cfg.max_len)
        .collect();
    let filtered = splits.train.len() - train_tok.len();
    if train_tok.is_empty() {
        return Err(Error::Input(format!(
            "no training pair has at most --max-len {} tokens on both sides",
            cfg.max_len
        )));
    }
    if filtered > 0 {
        obs.message(&format!(
            "{} training pairs left out (empty, or longer than --max-len {} tokens; {} were long)",
            filtered,
            cfg.max_len,
            before - train_tok.len()
        ));
    }
    let src_vocab = build_vocab(train_tok.iter().map(|p| &p.0), cfg.min_count, &[UNK])?;
    let tgt_vocab = build_vocab(
        train_tok.iter().map(|p| &p.1),
        cfg.min_count,
        &[UNK, BOS, EOS],
    )?;
    let eos = 2u32;
    let enc = |s: &[String], t: &[String]| EncodedPair {
        src: if s.is_empty() {
            vec![0]
        } else {
            encode_ids(&src_vocab, s)
        },
        tgt: encode_ids(&tgt_vocab, t)
            .into_iter()
            .chain(std::iter::once(eos))
            .collect(),
    };
    let train: Vec<EncodedPair> = train_tok.iter().map(|(s, t)| enc(s, t)).collect();
    let valid: Vec<EncodedPair> = splits
        .valid
        .iter()
        .map(|p| {
            let (s, t) = tok(p);
            enc(&s, &t)
        })
        .collect();
    let model_cfg = Seq2SeqConfig {
        cell: cfg.cell,
        src_vocab: src_vocab.len(),
        tgt_vocab: tgt_vocab.len(),
        embed: cfg.embed,
        hidden: cfg.hidden,
        layers: cfg.layers,
        bidirectional_encoder: cfg.bidirectional,
        dropout: cfg.dropout,
        bos: 1,
        eos,
        attention: cfg.attention,
    };
    let meta = TranslateMeta {
        task: "translate".into(),
        model: model_cfg.clone(),
        src_vocab: src_vocab.clone(),
        tgt_vocab: tgt_vocab.clone(),
        keep_target_case: cfg.keep_target_case,
        beam: cfg.beam,
        length_alpha: cfg.length_alpha,
        train: cfg.clone(),
    };
    obs.message(&format!(
        "vocabularies (min count {}): {} source, {} target words",
        cfg.min_count,
        src_vocab.len(),
        tgt_vocab.len()
    ));
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let init: Init = cfg.init.parse()?;
    let mut model = Seq2Seq::<f32>::new(model_cfg.clone(), &init, &mut Rng::new(cfg.seed))?;
    let keys = bucket_keys(&train);
    let mut task = TranslateTask {
        cursor: EpochCursor::new(keys, cfg.batch, cfg.seed, "translate-batches"),
        train,
        valid,
        cfg: cfg.clone(),
        meta_json,
    };
    let per_epoch = task.cursor.per_epoch();
    let config = serde_json::json!({"task": "translate", "train": cfg, "model": model_cfg,
        "src_vocab_size": src_vocab.len(), "tgt_vocab_size": tgt_vocab.len()});
    let s = runner::run(
        &mut task,
        &mut model,
        &cfg.optim(),
        EvalEvery::Steps(cfg.eval_every.unwrap_or(per_epoch).max(1)),
        &config,
        cfg.seed,
        req,
        obs,
    )?;
    let best_path = req.out.join("best.safetensors");
    let (best, meta) = load_translator(&best_path)?;
    let best_step = checkpoint::read(&best_path)
        .ok()
        .and_then(|c| c.metadata.get("step").and_then(|v| v.parse().ok()));
    let val_loss = if task.valid.is_empty() {
        None
    } else {
        Some(mean_loss(&best, &task.valid)?.0)
    };
    let (test, examples) = if splits.test.is_empty() || s.already_complete {
        (None, Vec::new())
    } else {
        obs.message(&format!(
            "translating the test split ({} pairs) with the best checkpoint",
            splits.test.len()
        ));
        let (t, e) = score_test(&best, &meta, &splits.test, cfg.beam, &req.out)?;
        (Some(t), e)
    };
    let summary = TranslateSummary {
        out: s.out,
        steps: s.steps,
        epochs: s.steps as f64 / per_epoch.max(1) as f64,
        train_s: s.train_s,
        tokens_per_s: s.tokens_per_s,
        train_loss: s.train_loss,
        params: s.params,
        src_vocab: src_vocab.len(),
        tgt_vocab: tgt_vocab.len(),
        train_pairs: task.train.len(),
        filtered_pairs: filtered,
        valid_pairs: task.valid.len(),
        val_loss,
        best_step,
        test,
        examples,
        nan_skips: s.nan_skips,
        finished: s.finished,
        already_complete: s.already_complete,
    };
    if !summary.already_complete {
        let json =
            serde_json::to_string_pretty(&summary).map_err(|e| Error::Config(e.to_string()))?;
        checkpoint::write_file_atomic(req.out.join("results.json"), json.as_bytes())?;
    }
    Ok(summary)
}

/// Translates every distinct test source greedily (and with beam search when `beam` > 1),
/// scores both by BLEU against all its targets, writes the hypotheses into `out`, and
/// returns the scores and the first examples.
pub fn score_test(
    model: &Seq2Seq<f32>,
    meta: &TranslateMeta,
    test: &[Pair],
    beam: usize,
    out: &Path,
) -> Result<(TestScores, Vec<Example>)> {
    let groups = group_by_source(test);
    let sources: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let refs: Vec<Vec<String>> = groups.iter().map(|g| g.1.clone()).collect();
    let t0 = std::time::Instant::now();
    let greedy = translate_greedy(model, meta, &sources)?;
    let greedy_s = t0.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    let beam_out = if beam > 1 {
        Some(
            translate_beam(model, meta, &sources, beam, 1)?
                .into_iter()
                .map(|h| h.into_iter().next().map(|x| x.1).unwrap_or_default())
                .collect::<Vec<String>>(),
        )
    } else {
        None
    };
    let beam_s = beam_out.as_ref().map(|_| t0.elapsed().as_secs_f64());
    let exact = |hyps: &[String]| {
        let n = hyps
            .iter()
            .zip(&refs)
            .filter(|(h, rs)| {
                let ht = target_tokens(h, meta.keep_target_case);
                rs.iter()
                    .any(|r| target_tokens(r, meta.keep_target_case) == ht)
            })
            .count();
        n as f64 / hyps.len().max(1) as f64
    };
    let g = corpus_bleu(&greedy, &refs, false)?;
    let g_lc = corpus_bleu(&greedy, &refs, true)?;
    let (b, b_lc) = match &beam_out {
        Some(h) => (
            Some(corpus_bleu(h, &refs, false)?),
            Some(corpus_bleu(h, &refs, true)?),
        ),
        None => (None, None),
    };
    let lines = |v: &[String]| {
        let mut s = v.join("\n");
        s.push('\n');
        s
    };
    checkpoint::write_file_atomic(out.join("test.sources.txt"), lines(&sources).as_bytes())?;
    checkpoint::write_file_atomic(out.join("test.greedy.txt"), lines(&greedy).as_bytes())?;
    if let Some(h) = &beam_out {
        checkpoint::write_file_atomic(out.join("test.beam.txt"), lines(h).as_bytes())?;
    }
    let examples = (0..sources.len().min(12))
        .map(|i| Example {
            source: sources[i].clone(),
            references: refs[i].clone(),
            greedy: greedy[i].clone(),
            beam: beam_out.as_ref().map(|h| h[i].clone()),
        })
        .collect();
    let scores = TestScores {
        sentences: sources.len(),
        pairs: test.len(),
        bleu_greedy: g.score,
        bleu_beam: b.as_ref().map(|x| x.score),
        bleu_greedy_lc: g_lc.score,
        bleu_beam_lc: b_lc.map(|x| x.score),
        exact_match_greedy: exact(&greedy),
        exact_match_beam: beam_out.as_deref().map(exact),
        greedy: g,
        beam: b,
        greedy_s,
        beam_s,
    };
    Ok((scores, examples))
}

/// Greedy translations of `sources` (batched by length).
pub fn translate_greedy(
    model: &Seq2Seq<f32>,
    meta: &TranslateMeta,
    sources: &[String],
) -> Result<Vec<String>> {
    let ids: Vec<Vec<u32>> = sources.iter().map(|s| meta.encode_source(s)).collect();
    let lengths: Vec<usize> = ids.iter().map(|s| s.len()).collect();
    let mut out = vec![String::new(); sources.len()];
    for idx in bucket_batches(&lengths, 128, None) {
        let srcs: Vec<&[u32]> = idx.iter().map(|&i| ids[i].as_slice()).collect();
        let max = meta.max_output(srcs.iter().map(|s| s.len()).max().unwrap_or(1));
        let hyps = model.greedy_batch(&srcs, max)?;
        for (&i, h) in idx.iter().zip(hyps) {
            out[i] = meta.decode_target(&h);
        }
    }
    Ok(out)
}

/// Beam-search translations: per source, up to `nbest` `(score, text)`, best first (score:
/// log p / len^alpha).
pub fn translate_beam(
    model: &Seq2Seq<f32>,
    meta: &TranslateMeta,
    sources: &[String],
    beam: usize,
    nbest: usize,
) -> Result<Vec<Vec<(f64, String)>>> {
    sources
        .iter()
        .map(|s| {
            let ids = meta.encode_source(s);
            let hyps = model.beam_search(
                &ids,
                beam,
                meta.max_output(ids.len()),
                meta.length_alpha,
                nbest,
            )?;
            Ok(hyps
                .into_iter()
                .map(|(sc, t)| (sc, meta.decode_target(&t)))
                .collect())
        })
        .collect()
}

/// Loads a translation model and its description from a checkpoint file (see
/// [`recurrent::train::run::resolve_checkpoint`] for run directories).
pub fn load_translator(path: &Path) -> Result<(Seq2Seq<f32>, TranslateMeta)> {
    let ck = checkpoint::read(path)?;
    load_translator_from(&ck, path)
}

/// [`load_translator`] on a checkpoint already read (`path` names it in errors). The sizes
/// in the metadata are checked against the file's own tensors before the model is
/// allocated, so a hostile file cannot ask for more memory than it holds.
pub fn load_translator_from(
    ck: &checkpoint::Checkpoint,
    path: &Path,
) -> Result<(Seq2Seq<f32>, TranslateMeta)> {
    let mut meta: TranslateMeta = recurrent::checkpoint::shapes::read_meta(ck, path, "translate")?;
    meta.src_vocab = meta.src_vocab.clone().reindex()?;
    meta.tgt_vocab = meta.tgt_vocab.clone().reindex()?;
    let m = &meta.model;
    if m.src_vocab != meta.src_vocab.len()
        || m.tgt_vocab != meta.tgt_vocab.len()
        || m.bos as usize >= m.tgt_vocab
        || m.eos as usize >= m.tgt_vocab
    {
        return Err(Error::format(
            path,
            "the model's vocabulary sizes disagree with the stored vocabularies",
        ));
    }
    // Embeddings, head and every layer's recurrent weights, by shape: each bounds a size
    // by the file's own bytes.
    let g = m.cell.gates();
    let mut want = vec![
        (
            "encoder.embed.weight".to_string(),
            vec![m.src_vocab, m.embed],
        ),
        (
            "decoder.embed.weight".to_string(),
            vec![m.tgt_vocab, m.embed],
        ),
        (
            "decoder.head.weight".to_string(),
            vec![m.tgt_vocab, m.hidden],
        ),
    ];
    if m.layers > ck.tensors.len() {
        return Err(Error::format(
            path,
            format!("{} layers in the metadata, not in the file", m.layers),
        ));
    }
    for k in 0..m.layers {
        for side in ["encoder", "decoder"] {
            want.push((
                format!("{side}.rnn.weight_hh_l{k}"),
                vec![g * m.hidden, m.hidden],
            ));
        }
    }
    recurrent::checkpoint::shapes::check_shapes(ck, &want)?;
    let mut model = Seq2Seq::<f32>::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    // Then every tensor the model has, with its shape.
    let mut all = Vec::new();
    recurrent::param::Module::visit(&model, &mut |p| {
        all.push((p.name.clone(), p.value.shape().to_vec()))
    });
    recurrent::checkpoint::shapes::check_shapes(ck, &all)?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok((model, meta))
}

/// Pairs of a synthetic string-to-string task, generated from `seed`: `count` sequences of
/// 3 to `max_len` digits (space-separated, so each digit is a token), and their target:
/// `reverse` (the digits backwards) or `sort` (ascending).
pub fn synthetic_pairs(task: &str, count: usize, max_len: usize, seed: u64) -> Result<Vec<Pair>> {
    let f: fn(&mut Vec<u32>) = match task {
        "reverse" => |v| v.reverse(),
        "sort" => |v| v.sort_unstable(),
        o => {
            return Err(Error::Config(format!(
                "--synthetic must be reverse or sort, got `{o}`"
            )))
        }
    };
    if max_len < 3 {
        return Err(Error::Config(
            "synthetic sequences need --max-len >= 3".into(),
        ));
    }
    let mut rng = Rng::new(seed).fork(&format!("synthetic-{task}"));
    let show = |v: &[u32]| {
        v.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok((0..count)
        .map(|i| {
            let n = 3 + rng.below(max_len - 2);
            let src: Vec<u32> = (0..n).map(|_| rng.below(10) as u32).collect();
            let mut tgt = src.clone();
            f(&mut tgt);
            Pair {
                src: show(&src),
                tgt: show(&tgt),
                line: i + 1,
            }
        })
        .collect())
}
