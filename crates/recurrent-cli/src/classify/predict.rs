//! `recurrent classify`: label each line of text with a trained classifier.

use anyhow::{Context, Result};
use clap::Args;
use recurrent::train::run::resolve_checkpoint;
use recurrent_tasks::classify::train::{load_classifier, predict};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub input: crate::common::LineInput,
    /// One JSON object per line: {"text", "label", "probability", "probabilities"}
    #[arg(long)]
    pub json: bool,
    /// Read texts longer than this many words (1 to 1000000) in pieces, averaging their
    /// probabilities, bounding memory [default: the model's training --max-words]
    #[arg(long, value_parser = crate::common::length_flag)]
    pub max_words: Option<usize>,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &ClassifyArgs) -> Result<()> {
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (mut model, meta) =
        crate::common::load_for("classify", &["classify"], &path, load_classifier)?;
    a.precision.apply(&mut model, Some(&path))?;
    let lines = a.input.lines()?;
    let max = a.max_words.unwrap_or(meta.train.max_words);
    let preds = predict(&model, &meta, &lines, max)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (text, p) in lines.iter().zip(&preds) {
        if a.json {
            let mut v =
                serde_json::json!({"text": text, "label": p.label, "probability": p.probability});
            v["probabilities"] = serde_json::Value::Object(
                meta.labels
                    .iter()
                    .zip(&p.probabilities)
                    .map(|(l, &q)| (l.clone(), serde_json::json!(q)))
                    .collect(),
            );
            writeln!(out, "{v}").context("stdout")?;
        } else {
            writeln!(out, "{}\t{:.6}", p.label, p.probability).context("stdout")?;
        }
    }
    out.flush().context("stdout")?;
    Ok(())
}
