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
use recurrent_tasks::lm::train::{train_lm, LmTrainConfig, TrainSummary};
use recurrent_tasks::lm::train::{DEFAULT_LIMITS, LONG_RUN_S};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits(show_recipe(a), &DEFAULT_LIMITS)))]
pub struct LmArgs {
    /// Text file to learn from (UTF-8) [default: the embedded corpus, this project's own source]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Cell: rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, mingru, minlstm, lstm_ln, gru_ln
    #[arg(long)]
    pub cell: Option<String>,
    /// Hidden units per layer (per direction when bidirectional)
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Stacked recurrent layers
    #[arg(long)]
    pub layers: Option<usize>,
    /// Embedding width
    #[arg(long)]
    pub embed: Option<usize>,
    /// Dropout between layers and before the output layer
    #[arg(long)]
    pub dropout: Option<f64>,
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
    #[arg(long)]
    pub dropout_input: Option<f64>,
    /// Embedding dropout: whole tokens, one mask over the vocabulary per batch (dropoute)
    #[arg(long)]
    pub dropout_embed: Option<f64>,
    /// DropConnect on the recurrent weights, one mask per batch (wdrop)
    #[arg(long)]
    pub weight_drop: Option<f64>,
    /// One dropout mask for every step of a sequence (locked), between layers and on the
    /// output: `--variational` or `--variational false`
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub variational: Option<bool>,
    /// Activation regularisation: alpha in alpha mean(y^2) on the dropped output
    #[arg(long)]
    pub ar: Option<f64>,
    /// Temporal activation regularisation: beta in beta mean((h_t - h_{t-1})^2)
    #[arg(long)]
    pub tar: Option<f64>,
    /// Zoneout: each unit keeps its previous state with probability P in training (`P`
    /// for both states, or `H,C`: hidden, LSTM cell; Krueger et al. 2016)
    #[arg(long, value_name = "P|H,C")]
    pub zoneout: Option<recurrent::cell::zoneout::Zoneout>,
    /// Tie the output layer's weight to the embedding table (needs --embed equal to --hidden)
    #[arg(long)]
    pub tie: bool,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub common: TrainCommon,
}

/// Writes the recipe's value into the help of each flag whose default
/// [`LmTrainConfig::for_budget`] sets: the short run's, and the long run's where it differs.
fn show_recipe(arg: clap::Arg) -> clap::Arg {
    let (short, long) = (
        LmTrainConfig::default(),
        LmTrainConfig::for_budget(Some(LONG_RUN_S)),
    );
    let id = arg.get_id().to_string();
    if let (Some(cap), "epochs") = (long.epoch_cap, id.as_str()) {
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        return arg.help(format!(
            "{help}; from --time-budget {LONG_RUN_S} without --steps or --epochs, {cap} (where the long recipe stops improving on a small corpus)"
        ));
    }
    let pick = |c: &LmTrainConfig| -> Option<String> {
        Some(match id.as_str() {
            "cell" => c.cell.to_string(),
            "hidden" => c.hidden.to_string(),
            "layers" => c.layers.to_string(),
            "embed" => c.embed.to_string(),
            "dropout" => c.dropout.to_string(),
            "dropout_input" => c.reg.dropout_input.to_string(),
            "dropout_embed" => c.reg.dropout_embed.to_string(),
            "weight_drop" => c.reg.weight_drop.to_string(),
            "variational" => c.reg.variational.to_string(),
            "ar" => c.reg.ar.to_string(),
            "tar" => c.reg.tar.to_string(),
            "zoneout" => c.reg.zoneout.to_string(),
            "lr_schedule" => c.optim.lr_schedule.to_string(),
            "ema" => c.optim.ema.map_or("off".into(), |d| d.to_string()),
            _ => return None,
        })
    };
    let (Some(a), Some(b)) = (pick(&short), pick(&long)) else {
        return show_defaults(arg, &short.optim);
    };
    let shown = if a == b {
        format!("[default: {a}]")
    } else {
        format!("[default: {a}; {b} from --time-budget {LONG_RUN_S}]")
    };
    // The optimisation flags' own help already says its default; this replaces it.
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let help = help
        .split(" [default:")
        .next()
        .unwrap_or_default()
        .to_string();
    arg.help(format!("{help} {shown}"))
}

impl LmArgs {
    /// The config: each flag given, else the recipe `base` (the library's
    /// [`LmTrainConfig::for_budget`] for the run's limits).
    pub fn config(&self, base: &LmTrainConfig) -> Result<LmTrainConfig> {
        let cell = self.cell.clone().unwrap_or_else(|| base.cell.to_string());
        let (cell, init) = parse_cell(&cell, &self.init)?;
        let reg = base.reg;
        Ok(LmTrainConfig {
            cell,
            hidden: self.hidden.unwrap_or(base.hidden),
            layers: self.layers.unwrap_or(base.layers),
            embed: self.embed.unwrap_or(base.embed),
            dropout: self.dropout.unwrap_or(base.dropout),
            seq_len: self.seq_len,
            batch: self.batch,
            optim: self.optim.over(&base.optim),
            val_frac: self.val_frac,
            seed: self.common.seed,
            tokenizer: self.tokenizer,
            min_count: self.min_count,
            init,
            eval_every: self.eval_every,
            reg: Regularisers {
                dropout_input: self.dropout_input.unwrap_or(reg.dropout_input),
                dropout_embed: self.dropout_embed.unwrap_or(reg.dropout_embed),
                weight_drop: self.weight_drop.unwrap_or(reg.weight_drop),
                variational: self.variational.unwrap_or(reg.variational),
                ar: self.ar.unwrap_or(reg.ar),
                tar: self.tar.unwrap_or(reg.tar),
                zoneout: self.zoneout.unwrap_or(reg.zoneout),
            },
            tie: self.tie || base.tie,
            epoch_cap: base.epoch_cap,
        })
    }
}

pub fn run(args: &LmArgs) -> Result<()> {
    let threads = args.common.apply_threads()?;
    let text = match &args.data {
        Some(p) => read_text(p)?,
        None => corpus::EMBEDDED.to_string(),
    };
    let out = args.common.out_dir("lm");
    let req = args.common.request(&out, DEFAULT_LIMITS)?;
    let cfg = args.config(&LmTrainConfig::for_budget(req.limits.time_budget))?;
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
