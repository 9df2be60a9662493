//! `recurrent compose`: tunes in ABC from a trained music model, the sampler constrained by
//! the meter and the repeats; `--midi DIR` renders each to a MIDI file, `--roll FILE` draws
//! the first as a piano roll.

use anyhow::{Context, Result};
use clap::Args;
use recurrent::nn::SamplerConfig;
use recurrent::train::run::resolve_checkpoint;
use recurrent_tasks::music::compose::{compose, ComposeOptions};
use recurrent_tasks::music::train::load_music;
use recurrent_tasks::music::{midi, parse_tune};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// A run directory (its best checkpoint) or a checkpoint file
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Meter, e.g. 6/8 [default: drawn from the training tunes]
    #[arg(long)]
    pub meter: Option<String>,
    /// Key, e.g. D or Am [default: drawn from the training tunes]
    #[arg(long)]
    pub key: Option<String>,
    /// Title [default: Tune N]
    #[arg(long)]
    pub title: Option<String>,
    /// Number of tunes
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Keep only the k most probable tokens (0: all)
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Nucleus sampling: keep the most probable tokens up to this mass
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write tune_N.mid for each tune into DIR
    #[arg(long, value_name = "DIR")]
    pub midi: Option<PathBuf>,
    /// Draw the first tune as a piano roll (PNG)
    #[arg(long, value_name = "FILE")]
    pub roll: Option<PathBuf>,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &ComposeArgs) -> Result<()> {
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (mut model, meta) = crate::common::load_for("compose", &["music"], &path, load_music)?;
    a.precision.apply(&mut model, Some(&path))?;
    let opts = ComposeOptions {
        meter: a.meter.clone(),
        key: a.key.clone(),
        title: a.title.clone(),
        sampler: SamplerConfig {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
        },
        attempts: recurrent_tasks::music::compose::ATTEMPTS,
    };
    let tunes = compose(&model, &meta, &opts, a.count, a.seed)?;
    let out: Vec<String> = tunes.clone();
    out!("{}", out.join("\n"));
    if let Some(dir) = &a.midi {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        for (i, t) in tunes.iter().enumerate() {
            let p = parse_tune(t, Path::new("composed"), 1)?;
            let file = dir.join(format!("tune_{}.mid", i + 1));
            std::fs::write(&file, midi::render(&p)?).with_context(|| file.display().to_string())?;
        }
        say!("wrote {} MIDI files into {}", tunes.len(), dir.display());
    }
    if let (Some(file), Some(t)) = (&a.roll, tunes.first()) {
        let p = parse_tune(t, Path::new("composed"), 1)?;
        crate::plot::piano_roll(
            file,
            &midi::playback(&p),
            p.title.as_deref().unwrap_or("tune"),
        )?;
        say!("piano roll: {}", file.display());
    }
    Ok(())
}
