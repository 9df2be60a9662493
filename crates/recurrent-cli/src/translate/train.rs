//! `recurrent train translate`: an encoder-decoder from `source<TAB>target` pairs
//! (translation), or on a generated string-to-string task (`--synthetic reverse|sort`).

use crate::common::{
    install_interrupt, print_ending, print_json, show_defaults, OptimArgs, Progress, TrainCommon,
};
use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::model::Attention;
use recurrent_tasks::translate::config::DEFAULT_LIMITS;
use recurrent_tasks::translate::parallel::read_parallel;
use recurrent_tasks::translate::{
    synthetic_pairs, train_translate, TranslateSummary, TranslateTrainConfig,
};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits(show_defaults(a, &TranslateTrainConfig::default().optim), &DEFAULT_LIMITS)))]
pub struct TranslateArgs {
    /// Sentence pairs, `source<TAB>target` per line (e.g. eng-fra.txt); split here into
    /// train / valid / test by source sentence (written to the run directory)
    #[arg(long, required_unless_present = "synthetic")]
    pub data: Option<PathBuf>,
    /// Instead of --data: a generated task on digit strings, `reverse` or `sort`
    #[arg(long, conflicts_with = "data")]
    pub synthetic: Option<String>,
    /// --synthetic: how many pairs to generate
    #[arg(long, default_value_t = recurrent_tasks::translate::SYNTHETIC_COUNT)]
    pub synthetic_count: usize,
    /// Attention: none, luong (Luong global attention, `general` score
    /// e = h_t . W_a h̄_s, context c_t = sum_s softmax(e)_s h̄_s, h~_t = tanh(W_c [c_t; h_t])
    /// feeding the output layer; masked over source padding), or additive (the same with
    /// Bahdanau's score e = v . tanh(W_q h_t + W_a h̄_s); alias bahdanau)
    #[arg(long, default_value = "luong")]
    pub attention: Attention,
    /// Input feeding (Luong et al. 2015): the decoder reads [embedding; h~ of the step
    /// before], so each step knows what it attended to last (the decoder then trains step
    /// by step)
    #[arg(long)]
    pub input_feed: bool,
    /// Cell: rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, mingru, minlstm, lstm_ln, gru_ln
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Hidden units (per direction in the encoder)
    #[arg(long, default_value_t = TranslateTrainConfig::default().hidden)]
    pub hidden: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value_t = TranslateTrainConfig::default().layers)]
    pub layers: usize,
    /// Word-embedding width (both languages)
    #[arg(long, default_value_t = TranslateTrainConfig::default().embed)]
    pub embed: usize,
    /// A bidirectional encoder (its final states bridged to the decoder)
    #[command(flatten)]
    pub direction: crate::common::DirectionArgs,
    /// Dropout on the embeddings, between stacked layers and on the output layer's input
    #[arg(long, default_value_t = TranslateTrainConfig::default().dropout)]
    pub dropout: f64,
    #[command(flatten)]
    pub reg: crate::common::RegArgs,
    /// Label smoothing of the training loss: this share of each target's probability is
    /// spread over the vocabulary (the validation loss stays plain cross-entropy)
    #[arg(long, default_value_t = TranslateTrainConfig::default().label_smoothing)]
    pub label_smoothing: f64,
    /// Probability that a decoder step reads the true previous word (below 1: the model's
    /// own previous guess otherwise; slower, step by step)
    #[arg(long, default_value_t = TranslateTrainConfig::default().teacher_forcing)]
    pub teacher_forcing: f64,
    /// Sentence pairs per batch (bucketed by length)
    #[arg(long, default_value_t = TranslateTrainConfig::default().batch)]
    pub batch: usize,
    /// Words seen fewer times in training become <unk> (each language)
    #[arg(long, default_value_t = TranslateTrainConfig::default().min_count)]
    pub min_count: usize,
    /// Units of the vocabularies: word, bpe (learned on the training split) or char
    #[arg(long, default_value_t = TranslateTrainConfig::default().tokens)]
    pub tokens: recurrent_tasks::translate::TokenUnit,
    /// BPE units per language (specials included)
    #[arg(long, default_value_t = TranslateTrainConfig::default().vocab_size)]
    pub vocab_size: usize,
    /// BPE: one set of merges learned on both languages
    #[arg(long)]
    pub joint_vocab: bool,
    /// Training pairs with more tokens on either side are left out
    #[arg(long, default_value_t = TranslateTrainConfig::default().max_len)]
    pub max_len: usize,
    /// Lower-case the target too (default: keep its case; BLEU is case-sensitive)
    #[arg(long)]
    pub lowercase_target: bool,
    /// Fraction of the distinct source sentences held out for validation
    #[arg(long = "val-frac", alias = "valid-frac", default_value_t = TranslateTrainConfig::default().valid_frac)]
    pub valid_frac: f64,
    /// Fraction of the distinct source sentences held out for the test (BLEU)
    #[arg(long, default_value_t = TranslateTrainConfig::default().test_frac)]
    pub test_frac: f64,
    /// Seed of the split (a hash of each source sentence)
    #[arg(long, default_value_t = TranslateTrainConfig::default().split_seed)]
    pub split_seed: u64,
    /// Beam width for the test translations, 1 (greedy only) to 64
    #[arg(long, default_value_t = TranslateTrainConfig::default().beam, value_parser = crate::common::beam_flag)]
    pub beam: usize,
    /// Length normalisation of beam scores: log p / len^alpha
    #[arg(long, default_value_t = TranslateTrainConfig::default().length_alpha)]
    pub length_alpha: f64,
    /// Nats taken off the end-of-sentence token's log probability in beam search (> 0:
    /// longer translations, < 0: shorter)
    #[arg(long, default_value_t = TranslateTrainConfig::default().eos_penalty, allow_negative_numbers = true)]
    pub eos_penalty: f64,
    /// Initialisation: pytorch, orthogonal, recommended, identity
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    /// Evaluate the validation loss every N steps, or every S seconds of training with `Ns`
    /// (`120s`) [default: 500]
    #[arg(long)]
    pub eval_every: Option<recurrent::train::EvalEvery>,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub common: TrainCommon,
}

impl TranslateArgs {
    fn config(&self) -> Result<TranslateTrainConfig> {
        let (cell, init) = crate::common::parse_cell(&self.cell, &self.init)?;
        Ok(TranslateTrainConfig {
            cell,
            hidden: self.hidden,
            layers: self.layers,
            embed: self.embed,
            bidirectional: self.direction.bidirectional(),
            attention: self.attention,
            input_feed: self.input_feed,
            dropout: self.dropout,
            reg: self.reg.over(TranslateTrainConfig::default().reg),
            label_smoothing: self.label_smoothing,
            teacher_forcing: self.teacher_forcing,
            batch: self.batch,
            optim: self.optim.over(&TranslateTrainConfig::default().optim),
            min_count: self.min_count,
            tokens: self.tokens,
            vocab_size: self.vocab_size,
            joint_vocab: self.joint_vocab,
            max_len: self.max_len,
            keep_target_case: !self.lowercase_target,
            valid_frac: self.valid_frac,
            test_frac: self.test_frac,
            split_seed: self.split_seed,
            seed: self.common.seed,
            init,
            eval_every: self
                .eval_every
                .or(TranslateTrainConfig::default().eval_every),
            beam: self.beam,
            length_alpha: self.length_alpha,
            eos_penalty: self.eos_penalty,
        })
    }
}

pub fn run(args: &TranslateArgs) -> Result<()> {
    let threads = args.common.apply_threads()?;
    let pairs = match (&args.data, &args.synthetic) {
        (Some(p), _) => {
            let pairs = read_parallel(p).context("reading the sentence pairs")?;
            say!("{}: {} sentence pairs", p.display(), pairs.len());
            pairs
        }
        (None, Some(task)) => {
            let p = synthetic_pairs(task, args.synthetic_count, 10, args.common.seed)?;
            say!(
                "synthetic task `{task}`: {} pairs of 3 to 10 digits (seed {})",
                p.len(),
                args.common.seed
            );
            p
        }
        (None, None) => bail!("give --data PAIRS.tsv or --synthetic reverse|sort"),
    };
    let cfg = args.config()?;
    let out = args.common.out_dir("translate");
    let req = args.common.request(&out, DEFAULT_LIMITS)?;
    say!(
        "training a {}{} {}x{} encoder-decoder, attention {}{}, {threads} thread(s), into {}",
        if cfg.bidirectional {
            "bidirectional-encoder "
        } else {
            ""
        },
        cfg.cell,
        cfg.layers,
        cfg.hidden,
        cfg.attention,
        if cfg.input_feed {
            " with input feeding"
        } else {
            ""
        },
        out.display()
    );
    let mut progress = Progress::new(install_interrupt());
    let summary = train_translate(&cfg, pairs, &req, &mut progress)?;
    progress.finish();
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    let plot_path = if summary.already_complete {
        None
    } else {
        crate::plot::loss_plot(&out, "Training and validation loss (nats per target token)").ok()
    };
    if !summary.already_complete {
        crate::common::finish_tensorboard(&out);
    }
    report(&summary, plot_path.as_deref(), args.common.json)
}

fn report(s: &TranslateSummary, plot: Option<&Path>, json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(s).context("summary")?;
        v["plot"] = plot.map(|p| p.display().to_string()).into();
        print_json(&v);
        return Ok(());
    }
    print_ending(s.already_complete, s.finished, s.steps, s.epochs, s.train_s);
    say!(
        "best checkpoint (step {}): {}/best.safetensors, validation loss {}",
        s.best_step.map_or("-".into(), |v| v.to_string()),
        s.out.display(),
        s.val_loss.map_or("-".into(), |v| format!("{v:.4}"))
    );
    if let Some(t) = &s.test {
        say!(
            "test ({} sentences, {} references): BLEU greedy {:.2}{}; exact match greedy {:.4}",
            t.sentences,
            t.pairs,
            t.bleu_greedy,
            t.bleu_beam
                .map_or(String::new(), |b| format!(", beam {b:.2}")),
            t.exact_match_greedy
        );
    }
    for e in s.examples.iter().take(5) {
        say!(
            "  {}\n    -> {}\n    (reference: {})",
            e.source,
            e.beam.as_deref().unwrap_or(&e.greedy),
            e.references.first().map_or("", |r| r.as_str())
        );
    }
    if let Some(p) = plot {
        say!("curves: {}", p.display());
    }
    Ok(())
}
