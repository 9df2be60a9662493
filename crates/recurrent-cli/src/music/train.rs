//! `recurrent train music`: a language model over ABC tunes (musical tokens, one sequence per
//! tune), with the flags and outputs of `train lm`.

use crate::common::parse_cell;
use crate::common::{install_interrupt, print_json, Progress, TrainCommon};
use crate::plot::draw_loss_plot;
use anyhow::{Context, Result};
use clap::Args;
use recurrent_tasks::music;
use recurrent_tasks::music::train::DEFAULT_LIMITS;
use recurrent_tasks::music::train::{train_music, MusicTrainConfig};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits(a, &DEFAULT_LIMITS)))]
pub struct MusicArgs {
    /// An .abc file, or a directory of them (every `X:` record is a tune)
    #[arg(long)]
    pub data: PathBuf,
    /// Tokens: abc (musical tokens; the only one `compose` can constrain)
    #[arg(long, default_value = "abc")]
    pub tokenizer: String,
    /// Cell: rnn_tanh (rnn), rnn_relu, lstm, gru, mingru, minlstm, lstm_ln, gru_ln
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Hidden units per layer (per direction when bidirectional)
    #[arg(long, default_value_t = MusicTrainConfig::default().hidden)]
    pub hidden: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value_t = MusicTrainConfig::default().layers)]
    pub layers: usize,
    /// Embedding width
    #[arg(long, default_value_t = MusicTrainConfig::default().embed)]
    pub embed: usize,
    /// Dropout rate, in [0, 1)
    #[arg(long, default_value_t = MusicTrainConfig::default().dropout)]
    pub dropout: f64,
    #[command(flatten)]
    pub reg: crate::common::RegArgs,
    /// Tunes per batch
    #[arg(long, default_value_t = MusicTrainConfig::default().batch)]
    pub batch: usize,
    /// Learning rate (Adam)
    #[arg(long, default_value_t = MusicTrainConfig::default().lr)]
    pub lr: f64,
    /// Clip the global gradient norm (0: off)
    #[arg(long, default_value_t = MusicTrainConfig::default().clip)]
    pub clip: f64,
    /// Evaluate and keep as best an exponential moving average of the weights with this
    /// decay [default: off]
    #[arg(long)]
    pub ema: Option<f64>,
    /// Seed of the split by tune (5% validation, 5% test)
    #[arg(long, default_value_t = music::corpus::SPLIT_SEED)]
    pub split_seed: u64,
    /// Evaluate every N steps, or every S seconds of training with `Ns` (`120s`)
    #[arg(long, default_value_t = MusicTrainConfig::default().eval_every)]
    pub eval_every: recurrent::train::EvalEvery,
    /// The longest tune read, in characters (1 to 1000000): longer ones are left out, named.
    /// A batch's memory grows with --batch x this (docs/reliability.md)
    #[arg(long, value_parser = crate::common::length_flag, default_value_t = MusicTrainConfig::default().max_chars)]
    pub max_chars: usize,
    /// Write the training tunes then the validation tunes to FILE (the PyTorch comparison's
    /// text), print the validation share of its characters, and exit
    #[arg(long, value_name = "FILE")]
    pub write_lm_text: Option<PathBuf>,
    #[command(flatten)]
    pub common: TrainCommon,
}

pub fn run(args: &MusicArgs) -> Result<()> {
    if args.tokenizer != "abc" {
        anyhow::bail!(
            "--tokenizer {}: train music uses abc tokens (for characters use `train lm --data FILE`)",
            args.tokenizer
        );
    }
    let tunes = music::read_tunes(&args.data)?;
    if let Some(path) = &args.write_lm_text {
        let (tr, va, _) = music::split_tunes(&tunes, args.split_seed);
        let join = |v: &[music::TuneRecord]| {
            v.iter()
                .map(|t| format!("{}\n", t.text))
                .collect::<String>()
        };
        let (a, b) = (join(&tr), join(&va));
        std::fs::write(path, format!("{a}{b}")).with_context(|| path.display().to_string())?;
        let frac = b.chars().count() as f64 / (a.chars().count() + b.chars().count()) as f64;
        let v = serde_json::json!({"file": path.display().to_string(), "train_tunes": tr.len(), "valid_tunes": va.len(), "val_frac": frac});
        print_json(&v);
        return Ok(());
    }
    let threads = args.common.apply_threads()?;
    let (cell, _) = parse_cell(&args.cell, "pytorch")?;
    let cfg = MusicTrainConfig {
        cell,
        hidden: args.hidden,
        layers: args.layers,
        embed: args.embed,
        dropout: args.dropout,
        reg: args.reg.over(MusicTrainConfig::default().reg),
        batch: args.batch,
        lr: args.lr,
        clip: args.clip,
        ema: args.ema,
        seed: args.common.seed,
        split_seed: args.split_seed,
        min_count: 1,
        eval_every: args.eval_every,
        max_chars: args.max_chars,
    };
    let out = args.common.out_dir("music");
    let req = args.common.request(&out, DEFAULT_LIMITS)?;
    let mut progress = Progress::new(install_interrupt());
    say!(
        "training a {} {}x{} music model on {} tunes of {}, {threads} thread(s), into {}",
        cfg.cell,
        cfg.layers,
        cfg.hidden,
        tunes.len(),
        args.data.display(),
        out.display()
    );
    let s = train_music(&cfg, &tunes, &req, &mut progress)?;
    progress.finish();
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    let plot = draw_loss_plot(&out).ok();
    if !s.already_complete {
        crate::common::finish_tensorboard(&out);
    }
    if args.common.json {
        let mut v = serde_json::to_value(&s).context("summary")?;
        v["plot"] = plot.map(|p| p.display().to_string()).into();
        print_json(&v);
        return Ok(());
    }
    if s.already_complete {
        say!("nothing to do: the run is complete");
        return Ok(());
    }
    let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    say!(
        "{} after {} steps ({:.0} s, {:.0} tokens/s): train loss {}, validation {} nats/token ({} nats/char), test {} nats/token ({} nats/char)",
        if s.finished { "done" } else { "stopped" },
        s.steps,
        s.train_s,
        s.tokens_per_s,
        f(s.train_loss),
        f(s.val_loss),
        f(s.val_loss_per_char),
        f(s.test_loss),
        f(s.test_loss_per_char),
    );
    say!("best checkpoint: {}/best.safetensors", out.display());
    Ok(())
}
