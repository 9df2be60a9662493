//! `recurrent train tag`: a part-of-speech (or any CoNLL-U column) tagger.

use crate::common::{
    install_interrupt, print_ending, print_json, show_defaults, AccuracyProgress, OptimArgs,
    Progress, TrainCommon,
};
use anyhow::{Context, Result};
use clap::Args;
use recurrent_tasks::tag::conllu::{column_index, read_conllu, TaggedSentence};
use recurrent_tasks::tag::train::DEFAULT_LIMITS;
use recurrent_tasks::tag::train::{train_tag, TagMetrics, TagSummary, TagTrainConfig};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits(show_defaults(a, &TagTrainConfig::default().optim), &DEFAULT_LIMITS)))]
pub struct TagArgs {
    /// Training sentences, CoNLL-U
    #[arg(long)]
    pub data: PathBuf,
    /// Validation sentences, CoNLL-U (picks the best checkpoint)
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Test sentences, CoNLL-U: scored with the best checkpoint at the end
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// The CoNLL-U column to predict: upos, xpos, deprel, ... or its number (2-10: field 1 is the word's ID)
    #[arg(long, default_value = "upos")]
    pub column: String,
    /// Cell: rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, mingru, minlstm, lstm_ln, gru_ln
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Hidden units per layer (per direction when bidirectional)
    #[arg(long, default_value_t = TagTrainConfig::default().hidden)]
    pub hidden: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value_t = TagTrainConfig::default().layers)]
    pub layers: usize,
    #[command(flatten)]
    pub direction: crate::common::DirectionArgs,
    /// Word-embedding width
    #[arg(long, default_value_t = TagTrainConfig::default().embed)]
    pub embed: usize,
    /// Width of the 2- and 3-letter suffix embeddings (0: no suffix features)
    #[arg(long, default_value_t = TagTrainConfig::default().suffix_embed)]
    pub suffix_embed: usize,
    /// Width of the word-shape embedding (0: no shape feature)
    #[arg(long, default_value_t = TagTrainConfig::default().shape_embed)]
    pub shape_embed: usize,
    /// Dropout before the output layer (and between layers)
    #[arg(long, default_value_t = TagTrainConfig::default().dropout)]
    pub dropout: f64,
    /// Probability of replacing a training word by <unk> (suffix and shape stay)
    #[arg(long, default_value_t = TagTrainConfig::default().word_dropout)]
    pub word_dropout: f64,
    #[command(flatten)]
    pub reg: crate::common::RegArgs,
    /// Sentences per batch (bucketed by length)
    #[arg(long, default_value_t = TagTrainConfig::default().batch)]
    pub batch: usize,
    /// Words seen fewer times in training become <unk>
    #[arg(long, default_value_t = TagTrainConfig::default().min_count)]
    pub min_count: usize,
    /// Keep case in the word table (default: lower-case it; the shape feature keeps case)
    #[arg(long)]
    pub keep_case: bool,
    /// Initialisation: pytorch, orthogonal, recommended, identity
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    /// Evaluate every N steps, or every S seconds of training with `Ns` (`120s`) [default: once per epoch]
    #[arg(long)]
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Pretrained word vectors, text format (word then numbers per line; GloVe, fastText
    /// .vec); their width must equal --embed
    #[arg(long)]
    pub vectors: Option<PathBuf>,
    /// The longest sentence read whole, in tokens (1 to 1000000): longer ones are cut into
    /// pieces. A batch's memory grows with --batch x this (docs/reliability.md)
    #[arg(long, default_value_t = TagTrainConfig::default().max_tokens, value_parser = crate::common::length_flag)]
    pub max_tokens: usize,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub common: TrainCommon,
}

fn load(what: &str, path: &Path, column: usize) -> Result<Vec<TaggedSentence>> {
    let s = read_conllu(path, column).with_context(|| format!("reading the {what} data"))?;
    say!(
        "{what}: {} sentences, {} words from {} (CoNLL-U, column {})",
        s.len(),
        s.iter().map(|x| x.words.len()).sum::<usize>(),
        path.display(),
        recurrent_tasks::tag::conllu::FIELDS[column].to_uppercase()
    );
    Ok(s)
}

pub fn run(a: &TagArgs) -> Result<()> {
    let threads = a.common.apply_threads()?;
    let column = column_index(&a.column)?;
    let train = load("training", &a.data, column)?;
    let valid = a
        .valid
        .as_deref()
        .map(|p| load("validation", p, column))
        .transpose()?;
    let test = a
        .test
        .as_deref()
        .map(|p| load("test", p, column))
        .transpose()?;
    let (cell, init) = crate::common::parse_cell(&a.cell, &a.init)?;
    let cfg = TagTrainConfig {
        cell,
        hidden: a.hidden,
        layers: a.layers,
        bidirectional: a.direction.bidirectional(),
        embed: a.embed,
        suffix_embed: a.suffix_embed,
        shape_embed: a.shape_embed,
        dropout: a.dropout,
        word_dropout: a.word_dropout,
        reg: a.reg.over(TagTrainConfig::default().reg),
        batch: a.batch,
        optim: a.optim.over(&TagTrainConfig::default().optim),
        min_count: a.min_count,
        lowercase: !a.keep_case,
        column,
        seed: a.common.seed,
        init,
        eval_every: a.eval_every,
        vectors: a.vectors.as_ref().map(|p| p.display().to_string()),
        max_tokens: a.max_tokens,
    };
    let out = a.common.out_dir("tag");
    let req = a.common.request(&out, DEFAULT_LIMITS)?;
    say!(
        "training a {}{} {}x{} tagger, {threads} thread(s), into {}",
        if cfg.bidirectional {
            "bidirectional "
        } else {
            ""
        },
        cfg.cell,
        cfg.layers,
        cfg.hidden,
        out.display()
    );
    let mut progress = AccuracyProgress(Progress::new(install_interrupt()));
    let s = train_tag(
        &cfg,
        &train,
        valid.as_deref(),
        test.as_deref(),
        &req,
        &mut progress,
    )?;
    progress.0.finish();
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    let plot_path = if s.run.already_complete {
        None
    } else {
        crate::plot::accuracy_plot(&out).ok()
    };
    if !s.run.already_complete {
        crate::common::finish_tensorboard(&out);
    }
    report(&s, plot_path.as_deref(), a.common.json)
}

fn report(s: &TagSummary, plot: Option<&Path>, json: bool) -> Result<()> {
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
    say!(
        "best checkpoint (step {}): {}/best.safetensors",
        s.best_step.map_or("-".into(), |v| v.to_string()),
        s.run.out.display()
    );
    let show = |name: &str, m: &Option<TagMetrics>| {
        if let Some(m) = m {
            say!(
                "{name} ({} words): accuracy {:.4}, on {} words unseen in training {}, macro-F1 {:.4}\n{}",
                m.tokens.n,
                m.tokens.accuracy,
                m.unseen_tokens,
                m.unseen_accuracy.map_or("-".into(), |v| format!("{v:.4}")),
                m.tokens.macro_f1,
                m.tokens.confusion_table()
            );
        }
    };
    show("validation", &s.valid);
    show("test", &s.test);
    if let Some(p) = plot {
        say!("curves: {}", p.display());
    }
    Ok(())
}
