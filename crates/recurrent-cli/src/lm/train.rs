//! `recurrent train lm`: a character-level (or word-level) language model. Flags mirror
//! the PyTorch character-LM benchmark (`pytorch_charlm.py`) where they mean the same thing.

use super::corpus;
use crate::common::{
    install_interrupt, parse_cell, print_json, show_defaults, OptimArgs, Progress, TrainCommon,
};
use crate::plot::draw_loss_plot;
use anyhow::{Context, Result};
use clap::Args;
use recurrent::model::lm::Regularisers;
use recurrent::text::corpus::read_text;
use recurrent::text::Tokenizer;
use recurrent_tasks::lm::train::DEFAULT_LIMITS;
use recurrent_tasks::lm::train::{train_lm, LmTrainConfig, TrainSummary};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits(show_defaults(a, &LmTrainConfig::default().optim), &DEFAULT_LIMITS)))]
pub struct LmArgs {
    /// Text file to learn from (UTF-8) [default: the embedded corpus, this project's own source]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Cell: rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, mingru, minlstm
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Hidden units per layer (per direction when bidirectional)
    #[arg(long, default_value_t = LmTrainConfig::default().hidden)]
    pub hidden: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value_t = LmTrainConfig::default().layers)]
    pub layers: usize,
    /// Embedding width
    #[arg(long, default_value_t = LmTrainConfig::default().embed)]
    pub embed: usize,
    /// Dropout between layers and before the output layer
    #[arg(long, default_value_t = LmTrainConfig::default().dropout)]
    pub dropout: f64,
    /// Truncated-BPTT length (steps per chunk)
    #[arg(long, default_value_t = LmTrainConfig::default().seq_len)]
    pub seq_len: usize,
    /// Parallel streams per batch
    #[arg(long, default_value_t = LmTrainConfig::default().batch)]
    pub batch: usize,
    /// Fraction of the text (its end) held out for validation
    #[arg(long, default_value_t = LmTrainConfig::default().val_frac)]
    pub val_frac: f64,
    /// char or word
    #[arg(long, default_value = "char")]
    pub tokenizer: Tokenizer,
    /// Word tokenizer: words seen fewer times become <unk>
    #[arg(long, default_value_t = LmTrainConfig::default().min_count)]
    pub min_count: usize,
    /// Initialisation: pytorch, orthogonal, recommended (orthogonal + Glorot + forget bias 1), identity
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    /// Evaluate every N steps, or every S seconds of training with `Ns` (`120s`)
    #[arg(long, default_value_t = LmTrainConfig::default().eval_every)]
    pub eval_every: recurrent::train::EvalEvery,
    /// Locked dropout on the embeddings (AWD-LSTM's dropouti)
    #[arg(long, default_value_t = LmTrainConfig::default().reg.dropout_input)]
    pub dropout_input: f64,
    /// Embedding dropout: whole tokens, one mask over the vocabulary per batch (dropoute)
    #[arg(long, default_value_t = LmTrainConfig::default().reg.dropout_embed)]
    pub dropout_embed: f64,
    /// DropConnect on the recurrent weights, one mask per batch (wdrop)
    #[arg(long, default_value_t = LmTrainConfig::default().reg.weight_drop)]
    pub weight_drop: f64,
    /// One dropout mask for every step of a sequence (locked), between layers and on the output
    #[arg(long)]
    pub variational: bool,
    /// Activation regularisation: alpha in alpha mean(y^2) on the dropped output
    #[arg(long, default_value_t = LmTrainConfig::default().reg.ar)]
    pub ar: f64,
    /// Temporal activation regularisation: beta in beta mean((h_t - h_{t-1})^2)
    #[arg(long, default_value_t = LmTrainConfig::default().reg.tar)]
    pub tar: f64,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub common: TrainCommon,
}

impl LmArgs {
    pub fn config(&self) -> Result<LmTrainConfig> {
        let (cell, init) = parse_cell(&self.cell, &self.init)?;
        Ok(LmTrainConfig {
            cell,
            hidden: self.hidden,
            layers: self.layers,
            embed: self.embed,
            dropout: self.dropout,
            seq_len: self.seq_len,
            batch: self.batch,
            optim: self.optim.over(&LmTrainConfig::default().optim),
            val_frac: self.val_frac,
            seed: self.common.seed,
            tokenizer: self.tokenizer,
            min_count: self.min_count,
            init,
            eval_every: self.eval_every,
            reg: Regularisers {
                dropout_input: self.dropout_input,
                dropout_embed: self.dropout_embed,
                weight_drop: self.weight_drop,
                variational: self.variational,
                ar: self.ar,
                tar: self.tar,
            },
        })
    }
}

pub fn run(args: &LmArgs) -> Result<()> {
    let threads = args.common.apply_threads()?;
    let text = match &args.data {
        Some(p) => read_text(p)?,
        None => corpus::EMBEDDED.to_string(),
    };
    let cfg = args.config()?;
    let out = args.common.out_dir("lm");
    let req = args.common.request(&out, DEFAULT_LIMITS)?;
    let mut progress = Progress::new(install_interrupt());
    say!(
        "training a {} {}x{} language model on {} ({} chars), {threads} thread(s), into {}",
        cfg.cell,
        cfg.layers,
        cfg.hidden,
        args.data
            .as_ref()
            .map_or("the embedded corpus".into(), |p| p.display().to_string()),
        text.chars().count(),
        out.display()
    );
    let summary = train_lm(&cfg, &text, &req, &mut progress)?;
    progress.finish();
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    let plot_path = draw_loss_plot(&out).ok();
    if !summary.already_complete {
        crate::common::finish_tensorboard(&out);
    }
    report(&summary, plot_path.as_deref(), args.common.json)
}

/// Prints the summary (one JSON object with --json).
pub fn report(s: &TrainSummary, plot: Option<&Path>, json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(s).context("summary")?;
        v["val_bpc"] = s.val_loss.map(|l| l / std::f64::consts::LN_2).into();
        v["plot"] = plot.map(|p| p.display().to_string()).into();
        print_json(&v);
        return Ok(());
    }
    if s.already_complete {
        say!("nothing to do: the run is complete");
        return Ok(());
    }
    say!(
        "{} after {} steps ({:.0} s, {:.0} tokens/s): train loss {}, val loss {} nats/token{}",
        if s.finished { "done" } else { "stopped" },
        s.steps,
        s.train_s,
        s.tokens_per_s,
        s.train_loss.map_or("-".into(), |v| format!("{v:.4}")),
        s.val_loss.map_or("-".into(), |v| format!("{v:.4}")),
        s.val_loss.map_or(String::new(), |v| format!(
            " ({:.4} bits)",
            v / std::f64::consts::LN_2
        )),
    );
    say!(
        "checkpoints: {}/checkpoints (latest), {}/best.safetensors (best)",
        s.out.display(),
        s.out.display()
    );
    if let Some(p) = plot {
        say!("loss curve: {}", p.display());
    }
    Ok(())
}
