//! `recurrent quantize`: a checkpoint with its recurrent weights in int8 or bf16, smaller on
//! disk and loaded as it is by every inference command (which then runs at that precision
//! unless `--precision` says otherwise).

use anyhow::{bail, Result};
use clap::Args;
use recurrent::checkpoint::{self, quantized};
use recurrent::train::run::resolve_checkpoint;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// bf16 or int8 (per output channel)
    #[arg(long, value_parser = crate::common::precision_flag)]
    pub precision: recurrent::Precision,
    /// The file to write (.safetensors)
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: &QuantizeArgs) -> Result<()> {
    let path = resolve_checkpoint(&a.checkpoint)?;
    if a.out.is_dir() {
        bail!(
            "--out {} is a directory; give the file to write",
            a.out.display()
        );
    }
    let ck = checkpoint::read(&path)?;
    let q = quantized::quantize(&ck, a.precision)?;
    q.write(&a.out)?;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len() as f64).unwrap_or(0.0);
    let (before, after) = (size(&path), size(&a.out));
    out!(
        "{}: {:.1} MB -> {:.1} MB ({:.1}x smaller), weight matrices in {} ({})",
        a.out.display(),
        before / 1e6,
        after / 1e6,
        before / after.max(1.0),
        a.precision,
        path.display()
    );
    Ok(())
}
