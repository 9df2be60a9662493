//! `recurrent transcribe`: the digits spoken in WAV files, one line per file in the order
//! given: `path<TAB>digits<TAB>confidence` (`--json`: one object per file). An isolated-digit
//! model hears one digit per file; a connected-digit (CTC) model a digit string, and with
//! `--stream` (a unidirectional CTC model) reads the audio in 100 ms chunks and prints the
//! digits as they are emitted, with the time each chunk took.

use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::train::run::resolve_checkpoint;
use recurrent_tasks::speech::connected::{
    is_ctc_checkpoint, load_connected, stream_samples, transcribe_ctc_file,
};
use recurrent_tasks::speech::isolated::{load_speech, transcribe_file, transcribe_file_ensemble};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct TranscribeArgs {
    /// A checkpoint file, or a run directory (its best checkpoint). Isolated-digit models:
    /// repeat it for an ensemble (their digit probabilities averaged)
    #[arg(long, required = true)]
    pub checkpoint: Vec<PathBuf>,
    /// WAV files (any rate, 8/16/24/32-bit PCM or 32-bit float, any channels)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON object per file: {"path", "digits", "confidence", ...}
    #[arg(long)]
    pub json: bool,
    /// Also draw the first file's log-mel spectrogram and the model's per-frame output
    /// (isolated-digit models)
    #[arg(long, value_name = "PNG")]
    pub plot: Option<PathBuf>,
    /// CTC models: prefix-beam-search width, 1 (greedy) to 64
    #[arg(long, default_value_t = 8, value_parser = crate::common::beam_flag)]
    pub beam: usize,
    /// CTC models, unidirectional: read each file in chunks, print digits as they are
    /// emitted (stderr) and the latency per chunk
    #[arg(long)]
    pub stream: bool,
    /// Chunk length of --stream, ms
    #[arg(long, default_value_t = 100.0)]
    pub chunk_ms: f64,
    /// --stream: audio read before the first frames go in (their normalisation statistics), ms
    #[arg(long, default_value_t = 300.0)]
    pub warmup_ms: f64,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &TranscribeArgs) -> Result<()> {
    let paths = a
        .checkpoint
        .iter()
        .map(|c| resolve_checkpoint(c))
        .collect::<recurrent::Result<Vec<_>>>()?;
    let path = paths[0].clone();
    if is_ctc_checkpoint(&path)? {
        if paths.len() > 1 {
            bail!(
                "{} is a connected-digit (CTC) model: ensembles are of isolated-digit models only",
                path.display()
            );
        }
        return run_ctc(a, &path);
    }
    if a.stream {
        bail!(
            "--stream needs a connected-digit (CTC) model; {} is an isolated-digit one",
            path.display()
        );
    }
    let models = paths
        .iter()
        .map(|p| {
            let (mut model, meta) =
                crate::common::load_for("transcribe", &["speech", "ctc"], p, load_speech)?;
            a.precision.apply(&mut model, Some(p))?;
            Ok((model, meta))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for f in &a.files {
        let t = match &models[..] {
            [(model, meta)] => transcribe_file(model, meta, f),
            _ => transcribe_file_ensemble(&models, f),
        };
        match t {
            Ok(t) => {
                not_heard(f, t.non_speech);
                if a.json {
                    let v = serde_json::json!({"path": f.display().to_string(), "digits": t.digits,
                        "confidence": t.confidence, "probabilities": t.probabilities,
                        "non_speech": t.non_speech});
                    writeln!(out, "{v}").context("stdout")?;
                } else {
                    writeln!(out, "{}\t{}\t{:.6}", f.display(), t.digits, t.confidence)
                        .context("stdout")?;
                }
            }
            Err(e) => {
                // One bad file does not stop the others; the exit status says it.
                out.flush().context("stdout")?;
                say!("error: {e}");
                failed += 1;
            }
        }
    }
    out.flush().context("stdout")?;
    if let Some(png) = &a.plot {
        crate::speech::train::utterance_plot(&path, &a.files[0], png)?;
        say!("plot: {}", png.display());
    }
    finish(failed, a.files.len())
}

/// Says on stderr that `file` held no speech, so its line's confidence of 0 is explained.
fn not_heard(file: &Path, why: Option<&str>) {
    if let Some(why) = why {
        say!("{}: no speech heard ({why}): confidence 0", file.display());
    }
}

fn finish(failed: usize, total: usize) -> Result<()> {
    if failed > 0 {
        bail!("{failed} of {total} file(s) could not be transcribed");
    }
    Ok(())
}

fn run_ctc(a: &TranscribeArgs, path: &Path) -> Result<()> {
    let (mut model, meta, extra) =
        crate::common::load_for("transcribe", &["speech", "ctc"], path, load_connected)?;
    a.precision.apply(&mut model, Some(path))?;
    if a.plot.is_some() {
        bail!("--plot draws isolated-digit models only");
    }
    if a.stream && model.config.bidirectional {
        bail!(
            "--stream needs a unidirectional model ({} reads each utterance in both directions; train with --bidirectional false)",
            path.display()
        );
    }
    if !(a.chunk_ms > 0.0 && a.chunk_ms.is_finite()) {
        bail!("--chunk-ms must be positive, got {}", a.chunk_ms);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for f in &a.files {
        let result = if a.stream {
            recurrent_tasks::speech::audio::read_wav_at(f, extra.features.sample_rate).and_then(
                |x| {
                    let mut lat = Vec::new();
                    let t = stream_samples(
                        &model,
                        &meta,
                        &extra,
                        &x,
                        a.chunk_ms / 1000.0,
                        a.warmup_ms.max(0.0) / 1000.0,
                        |c| {
                            lat.push(c.compute_s);
                            if !c.digits.is_empty() {
                                say!("{}\t{:.2} s\t{}", f.display(), c.audio_s, c.digits);
                            }
                        },
                    )?;
                    Ok((t, Some(lat)))
                },
            )
        } else {
            transcribe_ctc_file(&model, &meta, &extra, f, a.beam).map(|t| (t, None))
        };
        match result {
            Ok((t, lat)) => {
                not_heard(f, t.non_speech);
                let stats = lat.as_ref().map(|l| {
                    let mean = l.iter().sum::<f64>() / l.len().max(1) as f64;
                    let max = l.iter().copied().fold(0.0, f64::max);
                    (l.len(), mean * 1000.0, max * 1000.0)
                });
                if a.json {
                    let mut v = serde_json::json!({"path": f.display().to_string(), "digits": t.digits,
                        "confidence": t.confidence, "non_speech": t.non_speech});
                    if let Some((n, mean, max)) = stats {
                        v["chunks"] = n.into();
                        v["chunk_ms"] = a.chunk_ms.into();
                        v["latency_ms_mean"] = mean.into();
                        v["latency_ms_max"] = max.into();
                    }
                    writeln!(out, "{v}").context("stdout")?;
                } else {
                    writeln!(out, "{}\t{}\t{:.6}", f.display(), t.digits, t.confidence)
                        .context("stdout")?;
                    if let Some((n, mean, max)) = stats {
                        say!(
                            "{}: {n} chunks of {} ms, compute per chunk {mean:.2} ms mean, {max:.2} ms max",
                            f.display(),
                            a.chunk_ms
                        );
                    }
                }
            }
            Err(e) => {
                out.flush().context("stdout")?;
                say!("error: {e}");
                failed += 1;
            }
        }
    }
    out.flush().context("stdout")?;
    finish(failed, a.files.len())
}
