//! `recurrent import --onnx model.onnx --out C`: a language model another tool exported to
//! ONNX, as a checkpoint that `sample` and `eval` read (flags -> one library call -> report).

use crate::common::print_json;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The ONNX model: embedding (Gather), RNN/LSTM/GRU layers, linear head (MatMul or Gemm)
    #[arg(long)]
    pub onnx: PathBuf,
    /// The checkpoint to write (safetensors, in pytorch_charlm.py's layout)
    #[arg(long)]
    pub out: PathBuf,
    /// A JSON list of the model's characters in index order (when its metadata has no `vocab`)
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &ImportArgs) -> Result<()> {
    let model = recurrent::onnx::read(&a.onnx)?;
    let vocab = match &a.vocab {
        Some(p) => {
            let s =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(
                recurrent::onnx::import::parse_char_list(&s)
                    .with_context(|| format!("--vocab {}", p.display()))?,
            )
        }
        None => None,
    };
    let m = recurrent::onnx::import::import_lm(&model, vocab, &a.out)
        .with_context(|| a.onnx.display().to_string())?;
    if a.json {
        print_json(&serde_json::json!({
            "out": a.out.display().to_string(), "cell": m.cell.name(), "vocab": m.vocab,
            "embed": m.embed, "hidden": m.hidden, "layers": m.layers,
        }));
    } else {
        say!(
            "wrote {}: a {} language model, {} x {}, vocabulary {}, embedding {} (`recurrent sample --checkpoint {}`)",
            a.out.display(),
            m.cell,
            m.layers,
            m.hidden,
            m.vocab,
            m.embed,
            a.out.display()
        );
    }
    Ok(())
}
