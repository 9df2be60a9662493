//! `recurrent export`: a trained model as an ONNX file (flags -> one library call -> report).

use crate::common::print_json;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use recurrent_tasks::export::{export_onnx, ExportOptions};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// ONNX, opset 17: the recurrent layers as ONNX's own RNN, LSTM and GRU operators
    Onnx,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The file format
    #[arg(long, value_enum, default_value = "onnx")]
    pub format: Format,
    /// Where to write the model
    #[arg(long)]
    pub out: PathBuf,
    /// Classifiers and taggers: add a `lengths` input (int32 [batch]) for padded batches
    #[arg(long)]
    pub lengths: bool,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &ExportArgs) -> Result<()> {
    let Format::Onnx = a.format;
    let e = export_onnx(&a.checkpoint, ExportOptions { lengths: a.lengths })?;
    recurrent::onnx::write(&e.model, &a.out)?;
    // A translation's decoder step goes beside its encoder: X.onnx -> X.decoder.onnx.
    let mut also = Vec::new();
    for (suffix, m) in &e.companions {
        let p = a.out.with_extension(format!("{suffix}.onnx"));
        recurrent::onnx::write(m, &p)?;
        also.push(p.display().to_string());
    }
    let bytes = std::fs::metadata(&a.out)
        .with_context(|| format!("reading back {}", a.out.display()))?
        .len();
    if a.json {
        print_json(&serde_json::json!({
            "out": a.out.display().to_string(),
            "task": e.task,
            "inputs": e.inputs(),
            "outputs": e.outputs(),
            "bytes": bytes,
            "companions": also,
        }));
    } else {
        say!(
            "wrote {} ({} model, {:.1} MB): inputs {}; outputs {}",
            a.out.display(),
            e.task,
            bytes as f64 / 1e6,
            e.inputs().join(", "),
            e.outputs().join(", ")
        );
        for p in &also {
            say!("wrote {p} (its decoder step)");
        }
    }
    Ok(())
}
