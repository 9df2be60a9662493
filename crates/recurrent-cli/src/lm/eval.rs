//! `recurrent eval`: a language model's loss on a text, in nats and bits per token, on the
//! whole file or on its validation part (the last `--val-frac` of it, the split `train lm`
//! used). The text is read as one stream, state carried, as pytorch_charlm.py evaluates.

use crate::common::print_json;
use anyhow::{bail, Result};
use clap::Args;
use recurrent::text::corpus::{read_text, split_by_position};
use recurrent::train::run::resolve_checkpoint;
use recurrent_tasks::lm::train::{evaluate, load_lm};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The text to score
    #[arg(long)]
    pub data: PathBuf,
    /// Score only the last F of the text (the validation split); without it, the whole file
    #[arg(long)]
    pub val_frac: Option<f64>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
    /// Threads for matrix products, 1 to 256 [default: all cores]
    #[arg(long, value_parser = crate::common::threads_flag)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &EvalArgs) -> Result<()> {
    crate::common::apply_threads(a.threads);
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (mut model, meta) = crate::common::load_for("eval", &["lm"], &path, load_lm)?;
    a.precision.apply(&mut model, Some(&path))?;
    let text = read_text(&a.data)?;
    let ids = meta
        .vocab
        .encode(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.data.display()))?;
    let (part, ids) = match a.val_frac {
        Some(f) => {
            if !(0.0..1.0).contains(&f) || f == 0.0 {
                bail!("--val-frac must be in (0, 1), got {f}");
            }
            ("val", split_by_position(&ids, f).1)
        }
        None => ("all", ids),
    };
    let (loss, tokens) = evaluate(&model, &ids, 256)?;
    let bpc = loss / std::f64::consts::LN_2;
    if a.json {
        print_json(
            &serde_json::json!({"loss": loss, "bpc": bpc, "tokens": tokens, "part": part,
            "checkpoint": path.display().to_string()}),
        );
    } else {
        out!(
            "{part}: {loss:.4} nats/token, {bpc:.4} bits/token over {tokens} tokens ({})",
            path.display()
        );
    }
    Ok(())
}
