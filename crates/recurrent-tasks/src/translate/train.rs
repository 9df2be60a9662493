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
//! use recurrent_tasks::translate::parallel::read_parallel;
//! use recurrent_tasks::translate::{train_translate, TranslateTrainConfig};
//! use recurrent::train::runner::TrainRequest;
//! let pairs = read_parallel("eng-fra.txt".as_ref()).unwrap();
//! let mut req = TrainRequest::new("runs/translate");
//! req.limits.steps = Some(100);
//! let s = train_translate(&TranslateTrainConfig::default(), pairs, &req, &mut recurrent::train::Quiet).unwrap();
//! println!("test BLEU greedy {:?}", s.test.map(|t| t.bleu_greedy));
//! ```

use super::config::*;
use super::evaluate::*;
use super::translator::*;
use crate::translate::parallel::{split_pairs, tokenize, write_tsv, Pair, Splits};
use recurrent::checkpoint;
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::{Seq2Seq, Seq2SeqConfig, SeqBatch, Steps};
use recurrent::nn::{CrossEntropy, Reduction};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::text::bucket::EpochCursor;
use recurrent::text::bucket::{eval_batches, EVAL_TOKENS};
use recurrent::text::limit::Oversize;
use recurrent::text::vocab::{Tokenizer, UNK};
use recurrent::text::Vocab;
use recurrent::train::observe::Observer;
use recurrent::train::runner::{EvalEvery, Evaluation, Task, TrainRequest, Trainer};
use recurrent::train::{Shard, StepLoss};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

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
    // Steps a pair costs: the encoder's and the decoder's.
    let keys: Vec<usize> = pairs.iter().map(|p| p.src.len() + p.tgt.len()).collect();
    let (mut total, mut count) = (0.0, 0usize);
    for idx in eval_batches(&keys, 128, EVAL_TOKENS) {
        let ps: Vec<&EncodedPair> = idx.iter().map(|&i| &pairs[i]).collect();
        let (batch, tgt, t, mask) = make_batch(&ps);
        let (mut logits, _) = model.forward(&batch, &tgt, t, 1.0, None)?;
        let tg: Vec<usize> = tgt.iter().map(|&x| x as usize).collect();
        let l = CrossEntropy::new()
            .reduction(Reduction::Sum)
            .loss_in_place(&mut logits, v, &tg, Some(&mask))?;
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

    fn train_step(
        &mut self,
        model: &mut Seq2Seq<f32>,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss> {
        let all = self.cursor.next_batch();
        let ps: Vec<&EncodedPair> = all[shard.rows(all.len())]
            .iter()
            .map(|&i| &self.train[i])
            .collect();
        if ps.is_empty() {
            return Ok(StepLoss::default());
        }
        let (batch, tgt, t, mask) = make_batch(&ps);
        let (mut logits, cache) = model.forward(
            &batch,
            &tgt,
            t,
            self.cfg.teacher_forcing,
            Some(shard.rng(rng)),
        )?;
        let tg: Vec<usize> = tgt.iter().map(|&x| x as usize).collect();
        // The logits become their gradient: [tokens, vocabulary] is the largest buffer
        // of a step.
        let loss = CrossEntropy::new()
            .label_smoothing(self.cfg.label_smoothing)
            .loss_in_place(&mut logits, model.config.tgt_vocab, &tg, Some(&mask))?;
        model.backward(&batch, &cache, &logits)?;
        let targets = mask.iter().filter(|&&m| m).count();
        Ok(StepLoss {
            loss,
            tokens: targets,
            count: targets,
        })
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
    if req.group.is_primary() && (req.resume || !req.out.join("config.json").exists()) {
        std::fs::create_dir_all(&req.out).map_err(|e| Error::io(&req.out, e))?;
        write_tsv(&req.out.join("train.tsv"), &splits.train)?;
        write_tsv(&req.out.join("valid.tsv"), &splits.valid)?;
        write_tsv(&req.out.join("test.tsv"), &splits.test)?;
    }
    let Encoded {
        src_vocab,
        tgt_vocab,
        src_units,
        tgt_units,
        train,
        valid,
        filtered,
    } = encode_splits(cfg, &splits, obs)?;
    let eos = EOS_ID;
    let model_cfg = Seq2SeqConfig {
        cell: cfg.cell,
        src_vocab: src_vocab.len(),
        tgt_vocab: tgt_vocab.len(),
        embed: cfg.embed,
        hidden: cfg.hidden,
        layers: cfg.layers,
        bidirectional_encoder: cfg.bidirectional,
        dropout: cfg.dropout,
        reg: cfg.reg,
        bos: 1,
        eos,
        attention: cfg.attention,
        input_feed: cfg.input_feed,
    };
    let meta = TranslateMeta {
        task: "translate".into(),
        model: model_cfg.clone(),
        src_vocab: src_vocab.clone(),
        tgt_vocab: tgt_vocab.clone(),
        keep_target_case: cfg.keep_target_case,
        beam: cfg.beam,
        length_alpha: cfg.length_alpha,
        eos_penalty: cfg.eos_penalty,
        train: cfg.clone(),
        src_units,
        tgt_units,
    };
    obs.message(&vocab_line(cfg, src_vocab.len(), tgt_vocab.len()));
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
    let s = Trainer::new(&mut task, &mut model, req)
        .optim(&cfg.optim)
        .eval_every(cfg.eval_every.unwrap_or(EvalEvery::Steps(per_epoch.max(1))))
        .config(&config)
        .seed(cfg.seed)
        .run(obs)?;
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
    // Rank 0 alone scores the test split and writes the translations.
    let (test, examples) =
        if splits.test.is_empty() || s.already_complete || !req.group.is_primary() {
            (None, Vec::new())
        } else {
            obs.message(&format!(
                "translating the test split ({} pairs) with the best checkpoint",
                splits.test.len()
            ));
            match score_test(&best, &meta, &splits.test, cfg.beam, &req.out, obs)? {
                Some((t, e)) => (Some(t), e),
                None => {
                    obs.message("stopped before the test split was scored");
                    (None, Vec::new())
                }
            }
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
    req.write_results(&summary, summary.already_complete)?;
    Ok(summary)
}

/// What the run says about its vocabularies.
fn vocab_line(cfg: &TranslateTrainConfig, src: usize, tgt: usize) -> String {
    match cfg.tokens {
        TokenUnit::Word => format!(
            "vocabularies (min count {}): {src} source, {tgt} target words",
            cfg.min_count
        ),
        unit => format!(
            "vocabularies of {unit} units{}: {src} source, {tgt} target",
            if cfg.joint_vocab {
                " (joint merges)"
            } else {
                ""
            }
        ),
    }
}

/// The training and validation pairs as ids, with the vocabularies built on the training
/// side and how many training pairs were left out.
struct Encoded {
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    src_units: Segmenter,
    tgt_units: Segmenter,
    train: Vec<EncodedPair>,
    valid: Vec<EncodedPair>,
    filtered: usize,
}

/// The target id of end-of-sentence (after UNK and BOS in the target vocabulary).
const EOS_ID: u32 = 2;

/// Tokenizes the splits, leaves out the empty and over-long training pairs (saying how
/// many), builds both vocabularies from the training pairs and encodes train and valid
/// (targets end with EOS).
fn encode_splits(
    cfg: &TranslateTrainConfig,
    splits: &Splits,
    obs: &mut dyn Observer,
) -> Result<Encoded> {
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
    // Subword units are learned on the training words alone.
    let (unit, size) = (cfg.tokens, cfg.vocab_size);
    let (src_units, tgt_units) = if cfg.joint_vocab {
        let both = train_tok
            .iter()
            .flat_map(|(s, t)| [s.as_slice(), t.as_slice()]);
        let seg = Segmenter::learn(unit, both, size)?;
        (seg.clone(), seg)
    } else {
        (
            Segmenter::learn(unit, train_tok.iter().map(|p| p.0.as_slice()), size)?,
            Segmenter::learn(unit, train_tok.iter().map(|p| p.1.as_slice()), size)?,
        )
    };
    let train_tok: Vec<(Vec<String>, Vec<String>)> = train_tok
        .iter()
        .map(|(s, t)| (src_units.split(s), tgt_units.split(t)))
        .collect();
    // Every piece of the training split is kept: BPE already chose the units by count.
    let min_count = if unit == TokenUnit::Word {
        cfg.min_count
    } else {
        1
    };
    let src_vocab = build_vocab(train_tok.iter().map(|p| &p.0), min_count, &[UNK])?;
    let tgt_vocab = build_vocab(train_tok.iter().map(|p| &p.1), min_count, &[UNK, BOS, EOS])?;
    let eos = EOS_ID;
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
    // The validation loss reads a pair whole (teacher forcing), so its length is bounded as
    // a translated line's is; a longer pair is still in the test, translated in pieces.
    let mut long = Oversize::default();
    let mut valid = Vec::with_capacity(splits.valid.len());
    for p in &splits.valid {
        let (s, t) = tok(p);
        let (s, t) = (src_units.split(&s), tgt_units.split(&t));
        let n = s.len().max(t.len());
        long.note(n, MAX_SOURCE, || format!("--data line {}", p.line));
        if n <= MAX_SOURCE {
            valid.push(enc(&s, &t));
        }
    }
    if long.count > 0 {
        obs.message(&format!(
            "{} validation pair(s) longer than {MAX_SOURCE} tokens (the longest {}; at {}) were left out of the validation loss",
            long.count,
            long.longest,
            long.first.join(", ")
        ));
    }
    Ok(Encoded {
        src_vocab,
        tgt_vocab,
        src_units,
        tgt_units,
        train,
        valid,
        filtered,
    })
}
