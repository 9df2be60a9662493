//! `recurrent classify`: label each line of text with a trained classifier.

use anyhow::{Context, Result};
use clap::Args;
use recurrent::train::run::resolve_checkpoint;
use recurrent_tasks::classify::read::decode;
use recurrent_tasks::classify::train::{load_classifier, predict};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Read texts from this file, one per line [default: stdin]
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Text encoding of the input: utf-8, windows-1252, ...
    #[arg(long)]
    pub encoding: Option<String>,
    /// One JSON object per line: {"text", "label", "probability", "probabilities"}
    #[arg(long)]
    pub json: bool,
}

/// The lines to classify (a final empty line after the last newline is not a text).
pub fn read_lines(input: Option<&Path>, encoding: Option<&str>) -> Result<Vec<String>> {
    let (bytes, name) = match input {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            p.to_path_buf(),
        ),
        None => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("reading stdin")?;
            (b, PathBuf::from("<stdin>"))
        }
    };
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let text = decode(&bytes, &name, encoding)?;
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    Ok(lines)
}

pub fn run(a: &ClassifyArgs) -> Result<()> {
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (model, meta) = load_classifier(&path)?;
    let lines = read_lines(a.input.as_deref(), a.encoding.as_deref())?;
    let preds = predict(&model, &meta, &lines)?;
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
