//! `recurrent translate`: translate lines from stdin with a trained encoder-decoder.

use anyhow::{Context, Result};
use clap::Args;
use recurrent::train::run::resolve_checkpoint;
use recurrent_tasks::translate::{load_translator, translate_beam, translate_greedy};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TranslateArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub input: crate::common::LineInput,
    /// Beam width, 1 (greedy) to 64 [default: the one the model was trained and scored with]
    #[arg(long, value_parser = crate::common::beam_flag)]
    pub beam: Option<usize>,
    /// Print the K best translations per line, `score<TAB>text` (score: log p / len^alpha);
    /// the beam is widened to K if narrower
    #[arg(long)]
    pub nbest: Option<usize>,
    /// Length normalisation of beam scores [default: the model's]
    #[arg(long)]
    pub length_alpha: Option<f64>,
    /// Nats taken off the end-of-sentence token's log probability in beam search
    /// [default: the model's]
    #[arg(long, allow_negative_numbers = true)]
    pub eos_penalty: Option<f64>,
    /// The longest line translated whole, in tokens (1 to 1000000); a longer one is
    /// translated in pieces cut after punctuation, and their translations joined
    #[arg(long, value_parser = crate::common::length_flag, default_value_t = recurrent_tasks::translate::MAX_SOURCE)]
    pub max_tokens: usize,
    /// One JSON object per input line: {"source", "translation", "nbest": [{"score", "text"}]}
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &TranslateArgs) -> Result<()> {
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (mut model, mut meta) =
        crate::common::load_for("translate", &["translate"], &path, load_translator)?;
    a.precision.apply(&mut model, Some(&path))?;
    if let Some(al) = a.length_alpha {
        anyhow::ensure!(al >= 0.0 && al.is_finite(), "--length-alpha must be >= 0");
        meta.length_alpha = al;
    }
    if let Some(p) = a.eos_penalty {
        anyhow::ensure!(p.is_finite(), "--eos-penalty must be a number");
        meta.eos_penalty = p;
    }
    let lines = a.input.lines()?;
    let nbest = a.nbest.unwrap_or(1);
    anyhow::ensure!(nbest >= 1, "--nbest must be at least 1");
    let beam = a.beam.unwrap_or(meta.beam).max(nbest);
    anyhow::ensure!(beam >= 1, "--beam must be at least 1");
    let hyps: Vec<Vec<(Option<f64>, String)>> = if beam == 1 {
        translate_greedy(&model, &meta, &lines, a.max_tokens)?
            .into_iter()
            .map(|t| vec![(None, t)])
            .collect()
    } else {
        translate_beam(&model, &meta, &lines, beam, nbest, a.max_tokens)?
            .into_iter()
            .map(|h| h.into_iter().map(|(s, t)| (Some(s), t)).collect())
            .collect()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (src, h) in lines.iter().zip(&hyps) {
        if a.json {
            let v = serde_json::json!({
                "source": src,
                "translation": h.first().map_or("", |x| x.1.as_str()),
                "nbest": h.iter().take(nbest).map(|(s, t)| serde_json::json!({"score": s, "text": t})).collect::<Vec<_>>(),
            });
            writeln!(out, "{v}").context("stdout")?;
        } else if a.nbest.is_some() {
            for (s, t) in h.iter().take(nbest) {
                writeln!(
                    out,
                    "{}\t{t}",
                    s.map_or("nan".into(), |s| format!("{s:.6}"))
                )
                .context("stdout")?;
            }
        } else {
            writeln!(out, "{}", h.first().map_or("", |x| x.1.as_str())).context("stdout")?;
        }
    }
    out.flush().context("stdout")?;
    Ok(())
}
