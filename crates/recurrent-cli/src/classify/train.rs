//! `recurrent train classify`: a sentence classifier (sentiment) from labelled text.

use crate::common::AccuracyProgress;
use crate::common::{
    install_interrupt, print_ending, print_json, show_defaults, OptimArgs, Progress, TrainCommon,
};
use anyhow::{Context, Result};
use clap::Args;
use recurrent::model::Pooling;
use recurrent::train::metrics::ClassMetrics;
use recurrent_tasks::classify::read::{read_labelled, Labelled, ReadOptions};
use recurrent_tasks::classify::train::DEFAULT_LIMITS;
use recurrent_tasks::classify::train::{
    train_classify, ClassifyData, ClassifySummary, ClassifyTrainConfig,
};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits(show_defaults(a, &ClassifyTrainConfig::default().optim), &DEFAULT_LIMITS)))]
pub struct ClassifyArgs {
    /// Training data: `label text` lines (SST), `label<TAB>text`, CSV/TSV with a header, or
    /// several files, one per class, labelled by their extension (`--data x.pos --data x.neg`)
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Validation data, same format [default: --val-frac of the training data]
    #[arg(long)]
    pub valid: Vec<PathBuf>,
    /// Test data, same format: scored with the best checkpoint at the end
    #[arg(long)]
    pub test: Vec<PathBuf>,
    /// Text encoding of the files: utf-8, windows-1252 (rt-polarity), latin1, ...
    #[arg(long)]
    pub encoding: Option<String>,
    /// CSV/TSV: name of the text column [default: text]
    #[arg(long)]
    pub text_column: Option<String>,
    /// CSV/TSV: name of the label column [default: label]
    #[arg(long)]
    pub label_column: Option<String>,
    /// Cell: rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, mingru, minlstm, lstm_ln, gru_ln
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Hidden units per layer (per direction when bidirectional)
    #[arg(long, default_value_t = ClassifyTrainConfig::default().hidden)]
    pub hidden: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value_t = ClassifyTrainConfig::default().layers)]
    pub layers: usize,
    #[command(flatten)]
    pub direction: crate::common::DirectionArgs,
    /// Word-embedding width
    #[arg(long, default_value_t = ClassifyTrainConfig::default().embed)]
    pub embed: usize,
    /// Standard deviation of the initial word embeddings (PyTorch's nn.Embedding: 1)
    #[arg(long, default_value_t = ClassifyTrainConfig::default().embed_scale)]
    pub embed_scale: f64,
    /// Pooling over time: last, mean or max
    #[arg(long, default_value = "max")]
    pub pooling: Pooling,
    /// Dropout on the pooled features (and between layers)
    #[arg(long, default_value_t = ClassifyTrainConfig::default().dropout)]
    pub dropout: f64,
    /// Probability of replacing a training word by <unk>
    #[arg(long, default_value_t = ClassifyTrainConfig::default().word_dropout)]
    pub word_dropout: f64,
    #[command(flatten)]
    pub reg: crate::common::RegArgs,
    /// Sentences per batch (bucketed by length)
    #[arg(long, default_value_t = ClassifyTrainConfig::default().batch)]
    pub batch: usize,
    /// Words seen fewer times in training become <unk>
    #[arg(long, default_value_t = ClassifyTrainConfig::default().min_count)]
    pub min_count: usize,
    /// Keep case (default: lower-case every word)
    #[arg(long)]
    pub keep_case: bool,
    /// Initialisation: pytorch, orthogonal, recommended, identity
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    /// Evaluate every N steps, or every S seconds of training with `Ns` (`120s`) [default: once per epoch]
    #[arg(long)]
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Without --valid: fraction of the training data held out for validation
    #[arg(long, default_value_t = ClassifyTrainConfig::default().val_frac)]
    pub val_frac: f64,
    /// Pretrained word vectors, text format (word then numbers per line; GloVe, fastText
    /// .vec); their width must equal --embed
    #[arg(long)]
    pub vectors: Option<PathBuf>,
    /// The longest text read whole, in words (1 to 1000000): a longer training text becomes
    /// several examples with its label; a longer text to score is read in pieces. A batch's
    /// memory grows with --batch x this (docs/reliability.md)
    #[arg(long, default_value_t = ClassifyTrainConfig::default().max_words, value_parser = crate::common::length_flag)]
    pub max_words: usize,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub common: TrainCommon,
}

impl ClassifyArgs {
    fn config(&self) -> Result<ClassifyTrainConfig> {
        let (cell, init) = crate::common::parse_cell(&self.cell, &self.init)?;
        Ok(ClassifyTrainConfig {
            cell,
            hidden: self.hidden,
            layers: self.layers,
            bidirectional: self.direction.bidirectional(),
            embed: self.embed,
            embed_scale: self.embed_scale,
            dropout: self.dropout,
            word_dropout: self.word_dropout,
            reg: self.reg.over(ClassifyTrainConfig::default().reg),
            pooling: self.pooling,
            batch: self.batch,
            optim: self.optim.over(&ClassifyTrainConfig::default().optim),
            min_count: self.min_count,
            lowercase: !self.keep_case,
            seed: self.common.seed,
            init,
            eval_every: self.eval_every,
            val_frac: self.val_frac,
            vectors: self.vectors.as_ref().map(|p| p.display().to_string()),
            max_words: self.max_words,
        })
    }
}

/// Reads one set, saying how it was read.
fn load(what: &str, paths: &[PathBuf], opts: &ReadOptions) -> Result<Option<Labelled>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let l = read_labelled(paths, opts).with_context(|| format!("reading the {what} data"))?;
    say!(
        "{what}: {} examples from {} ({})",
        l.examples.len(),
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        l.format
    );
    Ok(Some(l))
}

pub fn run(args: &ClassifyArgs) -> Result<()> {
    let threads = args.common.apply_threads()?;
    let opts = ReadOptions {
        encoding: args.encoding.clone(),
        text_column: args.text_column.clone(),
        label_column: args.label_column.clone(),
    };
    let train = load("training", &args.data, &opts)?.context("--data is required")?;
    let valid = load("validation", &args.valid, &opts)?;
    let test = load("test", &args.test, &opts)?;
    let cfg = args.config()?;
    let out = args.common.out_dir("classify");
    let req = args.common.request(&out, DEFAULT_LIMITS)?;
    say!(
        "training a {}{} {}x{} classifier ({} pooling), {threads} thread(s), into {}",
        if cfg.bidirectional {
            "bidirectional "
        } else {
            ""
        },
        cfg.cell,
        cfg.layers,
        cfg.hidden,
        format!("{:?}", cfg.pooling).to_lowercase(),
        out.display()
    );
    let mut progress = AccuracyProgress(Progress::new(install_interrupt()));
    let data = ClassifyData {
        train: train.examples,
        valid: valid.map(|v| v.examples),
        test: test.map(|t| t.examples),
    };
    let summary = train_classify(&cfg, data, &req, &mut progress)?;
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    progress.0.finish();
    let plot_path = if summary.run.already_complete {
        None
    } else {
        crate::plot::accuracy_plot(&out).ok()
    };
    if !summary.run.already_complete {
        crate::common::finish_tensorboard(&out);
    }
    report(&summary, plot_path.as_deref(), args.common.json)
}

fn report(s: &ClassifySummary, plot: Option<&Path>, json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(s).context("summary")?;
        v["plot"] = plot.map(|p| p.display().to_string()).into();
        print_json(&v);
        return Ok(());
    }
    print_ending(
        s.run.already_complete,
        s.run.finished,
        s.run.steps,
        s.epochs,
        s.run.train_s,
    );
    let show = |name: &str, m: &Option<ClassMetrics>| {
        if let Some(m) = m {
            say!(
                "{name} ({} examples): accuracy {:.4}, macro-F1 {:.4}, loss {:.4}\n{}",
                m.n,
                m.accuracy,
                m.macro_f1,
                m.loss,
                m.confusion_table()
            );
        }
    };
    say!(
        "best checkpoint (step {}): {}/best.safetensors",
        s.best_step.map_or("-".into(), |v| v.to_string()),
        s.run.out.display()
    );
    show("validation", &s.valid);
    show("test", &s.test);
    if let Some(p) = plot {
        say!("curves: {}", p.display());
    }
    Ok(())
}
