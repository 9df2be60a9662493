//! `recurrent sample`: generate text from a language model, streamed as it is produced.

use anyhow::{Context, Result};
use clap::Args;
use recurrent::nn::{Sampler, SamplerConfig};
use recurrent::train::run::resolve_checkpoint;
use recurrent::Rng;
use recurrent_tasks::lm::train::load_lm;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Text to start from (fed through the model first)
    #[arg(long, default_value = "")]
    pub prime: String,
    /// Softmax temperature (0: greedy)
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample among the k most probable tokens only (0: all)
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Sample among the most probable tokens whose mass reaches p
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Tokens to generate
    #[arg(long, default_value_t = 500)]
    pub length: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object ({"text": ...}) instead of streaming
    #[arg(long)]
    pub json: bool,
    /// Threads for matrix products, 1 to 256 [default: all cores]
    #[arg(long, value_parser = crate::common::threads_flag)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &SampleArgs) -> Result<()> {
    crate::common::apply_threads(a.threads);
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (mut model, meta) = crate::common::load_for("sample", &["lm"], &path, load_lm)?;
    a.precision.apply(&mut model, Some(&path))?;
    let sampler = Sampler::new(SamplerConfig {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
    })?;
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    if !a.json {
        write!(out, "{}", a.prime).context("stdout")?;
    }
    let mut sink = |tok: &str| -> Result<()> {
        if a.json {
            text.push_str(tok);
        } else {
            // A closed stdout (`| head`) ends the process here, quietly.
            if let Err(e) = write!(out, "{tok}").and_then(|()| out.flush()) {
                crate::common::stdout_failed(e)
            }
        }
        Ok(())
    };
    let prime = if a.prime.is_empty() {
        None
    } else {
        Some(a.prime.as_str())
    };
    recurrent::decode::generate::generate(
        &model,
        &meta.vocab,
        prime,
        a.length,
        sampler,
        &mut Rng::new(a.seed),
        &mut |t| sink(t).map_err(|e| recurrent::Error::Input(e.to_string())),
    )?;
    if a.json {
        crate::common::print_json(
            &serde_json::json!({ "prime": a.prime, "text": text, "checkpoint": path.display().to_string() }),
        );
    } else {
        writeln!(out).context("stdout")?;
    }
    Ok(())
}
