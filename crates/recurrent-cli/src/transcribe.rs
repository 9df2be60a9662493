//! `recurrent transcribe`: the digits spoken in WAV files, one line per file in the order
//! given: `path<TAB>digits<TAB>confidence` (`--json`: one object per file).

use anyhow::{Context, Result};
use clap::Args;
use recurrent::train::run::resolve_checkpoint;
use recurrent::train::speech::{load_speech, transcribe_file};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TranscribeArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// WAV files (any rate, 8/16/24/32-bit PCM or 32-bit float, any channels)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON object per file: {"path", "digits", "confidence", "probabilities"}
    #[arg(long)]
    pub json: bool,
    /// Also draw the first file's log-mel spectrogram and the model's per-frame output
    #[arg(long, value_name = "PNG")]
    pub plot: Option<PathBuf>,
}

pub fn run(a: &TranscribeArgs) -> Result<()> {
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (model, meta) = load_speech(&path)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for f in &a.files {
        match transcribe_file(&model, &meta, f) {
            Ok(t) => {
                if a.json {
                    let v = serde_json::json!({"path": f.display().to_string(), "digits": t.digits,
                        "confidence": t.confidence, "probabilities": t.probabilities});
                    writeln!(out, "{v}").context("stdout")?;
                } else {
                    writeln!(out, "{}\t{}\t{:.6}", f.display(), t.digits, t.confidence)
                        .context("stdout")?;
                }
            }
            Err(e) => {
                // One bad file does not stop the others; the exit status says it.
                out.flush().context("stdout")?;
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    out.flush().context("stdout")?;
    if let Some(png) = &a.plot {
        crate::train_speech::utterance_plot(&path, &a.files[0], png)?;
        eprintln!("plot: {}", png.display());
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} file(s) could not be transcribed",
            a.files.len()
        );
    }
    Ok(())
}
