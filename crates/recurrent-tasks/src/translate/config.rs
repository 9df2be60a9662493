//! What decides a translation model's weights (stored with the run), the sentence markers,
//! and the description stored in its checkpoints.

use crate::translate::parallel::{detokenize, tokenize};
pub use crate::translate::subword::{Segmenter, TokenUnit};
use recurrent::cell::CellKind;
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::{Attention, Seq2SeqConfig};
use recurrent::optim::{OptimSettings, OptimizerKind, ScheduleKind};
use recurrent::text::Vocab;
use serde::{Deserialize, Serialize};

/// BPE units per vocabulary unless `--vocab-size` says otherwise.
pub const DEFAULT_VOCAB_SIZE: usize = 8000;

fn is_default_vocab_size(n: &usize) -> bool {
    recurrent::omit::equals(n, &DEFAULT_VOCAB_SIZE)
}

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
    /// Input feeding: the decoder reads the previous step's attentional vector too.
    #[serde(skip_serializing_if = "recurrent::omit::is_default")]
    pub input_feed: bool,
    /// Dropout on the embeddings, between stacked layers and on the output layer's input.
    pub dropout: f64,
    /// Weight drop and locked dropout in the recurrent layers (flat keys, left out while off).
    #[serde(flatten)]
    pub reg: recurrent::layer::RecurrentReg,
    /// Label smoothing of the training loss (the validation loss is plain cross-entropy).
    pub label_smoothing: f64,
    /// Probability that a decoder step reads the true previous word (1: always; below 1
    /// the decoder runs step by step, slower).
    pub teacher_forcing: f64,
    /// Sentence pairs per batch.
    pub batch: usize,
    /// Optimizer, learning rate, weight decay, clipping and schedule (stored flat: the
    /// keys `optimizer`, `lr`, `weight_decay`, `clip`, `lr_schedule`, `warmup`).
    #[serde(flatten)]
    pub optim: OptimSettings,
    /// The units of the vocabularies: words, BPE pieces or characters ([`TokenUnit`]).
    /// Always stored: a run written before subwords has no key and was trained on words,
    /// which is not today's default.
    #[serde(default)]
    pub tokens: TokenUnit,
    /// BPE: units per language (or in all, with `joint_vocab`), specials included.
    #[serde(skip_serializing_if = "is_default_vocab_size")]
    pub vocab_size: usize,
    /// BPE: one set of merges learned on both languages' training words.
    #[serde(skip_serializing_if = "recurrent::omit::is_default")]
    pub joint_vocab: bool,
    /// Words seen fewer times in the training split become `<unk>` (each language; with
    /// subword units every piece of the training split is kept).
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
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Beam width for the test translations (1: greedy only).
    pub beam: usize,
    /// Length normalisation of beam scores: log p / len^alpha.
    pub length_alpha: f64,
    /// Nats taken off the end-of-sentence token's log probability in beam search (> 0:
    /// longer translations).
    #[serde(skip_serializing_if = "recurrent::omit::is_default")]
    pub eos_penalty: f64,
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
            input_feed: false,
            // Measured on eng-fra in 15 minutes (docs/results.md): without them the model
            // overfits after five minutes and ends 8% above its best validation loss.
            dropout: 0.3,
            reg: Default::default(),
            label_smoothing: 0.1,
            teacher_forcing: 1.0,
            batch: 64,
            optim: OptimSettings {
                lr: 2e-3,
                clip: 5.0,
                optimizer: OptimizerKind::Adam,
                weight_decay: None,
                // Annealed over the run's budget, so its last checkpoint is its best.
                lr_schedule: ScheduleKind::Cosine,
                warmup: 0,
                ema: None,
            },
            // Measured on eng-fra in 15 minutes (docs/results.md): 38.9 BLEU against 31.3
            // with words, no `<unk>` in or out, and more steps in the same time.
            tokens: TokenUnit::Bpe,
            vocab_size: DEFAULT_VOCAB_SIZE,
            joint_vocab: false,
            min_count: 2,
            max_len: 20,
            keep_target_case: true,
            valid_frac: 0.05,
            test_frac: 0.1,
            split_seed: 0,
            seed: 0,
            init: "pytorch".into(),
            eval_every: Some(recurrent::train::EvalEvery::Steps(500)),
            beam: 5,
            length_alpha: 1.0,
            eos_penalty: 0.0,
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
        if self.input_feed && self.attention == Attention::None {
            return bad(
                "--input-feed feeds the attentional vector back: it needs --attention luong \
                 or additive"
                    .into(),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        self.reg.validate()?;
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!(
                "--label-smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
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
        if self.tokens == TokenUnit::Bpe && self.vocab_size < 16 {
            return bad(format!(
                "--vocab-size must be at least 16 for BPE units, got {}",
                self.vocab_size
            ));
        }
        if self.max_len == 0 || self.beam == 0 {
            return bad("--max-len and --beam must be at least 1".into());
        }
        if self.beam > recurrent::decode::MAX_BEAM {
            return bad(format!(
                "--beam {} is wider than the {} this tool searches",
                self.beam,
                recurrent::decode::MAX_BEAM
            ));
        }
        if !self.eos_penalty.is_finite() {
            return bad(format!(
                "--eos-penalty must be a number, got {}",
                self.eos_penalty
            ));
        }
        if !(self.length_alpha >= 0.0 && self.length_alpha.is_finite()) {
            return bad(format!(
                "--length-alpha must be >= 0, got {}",
                self.length_alpha
            ));
        }
        if let Some(e) = self.eval_every {
            e.check()?;
        }
        self.init.parse::<Init>()?;
        Ok(())
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
    /// Beam search's end-of-sentence penalty (absent in older checkpoints: none).
    #[serde(default)]
    pub eos_penalty: f64,
    pub train: TranslateTrainConfig,
    /// How source and target words become units (absent in checkpoints from before
    /// subwords: words).
    #[serde(default)]
    pub src_units: Segmenter,
    #[serde(default)]
    pub tgt_units: Segmenter,
}

/// The longest source read whole, in tokens (`translate --max-tokens` raises it). A longer
/// line is translated in pieces of at most this many tokens, cut after a sentence or clause
/// mark where one falls in a piece's last half, and the pieces' translations are joined:
/// decoding one piece holds `beam x (2 x max + 10)` steps, whatever the line's length.
/// Training pairs are far shorter (`max_len`), so a piece is still longer than any the
/// model saw.
pub const MAX_SOURCE: usize = 100;

/// Source tokens after which a long line may be cut into pieces.
const SOURCE_BREAKS: [&str; 6] = [".", "!", "?", ";", ":", ","];

impl TranslateMeta {
    /// Source token ids of `text` in pieces of at most `max` tokens ([`MAX_SOURCE`]): one
    /// piece (as [`TranslateMeta::encode_source`]) when it is short.
    pub fn source_pieces(&self, text: &str, max: usize) -> Vec<Vec<u32>> {
        let toks = self.src_units.split(&tokenize(text, true));
        if toks.len() <= max {
            return vec![self.encode_source(text)];
        }
        let cuts = recurrent::text::limit::pieces_at(toks.len(), max, |i| {
            SOURCE_BREAKS.contains(&toks[i].as_str())
        });
        cuts.into_iter()
            .map(|r| {
                toks[r]
                    .iter()
                    .map(|w| self.src_vocab.id(w).unwrap_or(0))
                    .collect()
            })
            .collect()
    }
    /// Source token ids of a sentence (lower-cased; unknown words as `<unk>`; an empty
    /// sentence is one `<unk>`).
    pub fn encode_source(&self, text: &str) -> Vec<u32> {
        let ids: Vec<u32> = self
            .src_units
            .split(&tokenize(text, true))
            .iter()
            .map(|w| self.src_vocab.id(w).unwrap_or(0))
            .collect();
        if ids.is_empty() {
            vec![0]
        } else {
            ids
        }
    }
    /// Text of target ids (units joined into words, detokenised).
    pub fn decode_target(&self, ids: &[u32]) -> String {
        let toks: Vec<&str> = ids.iter().map(|&i| self.tgt_vocab.token(i)).collect();
        detokenize(&self.tgt_units.join(&toks))
    }
    /// How beam search scores hypotheses for this model.
    pub fn beam_score(&self) -> recurrent::model::BeamScore {
        recurrent::model::BeamScore {
            alpha: self.length_alpha,
            eos_penalty: self.eos_penalty,
        }
    }
    /// The longest translation decoding produces for a source of `n` tokens.
    pub fn max_output(&self, n: usize) -> usize {
        2 * n + 10
    }
}

/// The default limits of `train translate`: 15 minutes of training steps, so that loading,
/// evaluations and the test translations (beam search on 4,857 eng-fra test sentences: about
/// 150 s of CPU) fit in the 20 minutes a default run may take on 2 cores.
pub const DEFAULT_LIMITS: recurrent::train::Limits = recurrent::train::Limits {
    time_budget: Some(900.0),
    steps: None,
    epochs: None,
};
