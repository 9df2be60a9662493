//! `recurrent music-stats`: the validity measures of a file of tunes next to the real test
//! tunes of the corpus (parse, bars fitting the meter, balanced repeats, ending on the tonic,
//! pitch range, copies of a corpus tune).

use anyhow::{Context, Result};
use clap::Args;
use recurrent_tasks::music::{self, validity};
use std::collections::HashSet;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct MusicStatsArgs {
    /// The corpus (.abc file or directory): its test tunes are the reference, and every tune
    /// of it counts for copies
    #[arg(long)]
    pub data: PathBuf,
    /// ABC file of tunes to measure (e.g. `compose` output)
    #[arg(long)]
    pub tunes: PathBuf,
    /// Write the corpus's test tunes here (for abccheck.py)
    #[arg(long, value_name = "FILE")]
    pub write_test: Option<PathBuf>,
    #[arg(long, default_value_t = music::corpus::SPLIT_SEED)]
    pub split_seed: u64,
    /// One JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &MusicStatsArgs) -> Result<()> {
    let corpus = music::read_tunes(&a.data)?;
    let bodies: HashSet<String> = corpus
        .iter()
        .filter_map(|t| validity::body_key(&t.text))
        .collect();
    let (_, _, test) = music::split_tunes(&corpus, a.split_seed);
    let test: Vec<String> = test.into_iter().map(|t| t.text).collect();
    if let Some(p) = &a.write_test {
        std::fs::write(p, test.join("\n")).with_context(|| p.display().to_string())?;
    }
    let text = std::fs::read_to_string(&a.tunes).with_context(|| a.tunes.display().to_string())?;
    let generated = validity::tunes_in(&text);
    let g = validity::measure(&generated, Some(&bodies));
    let r = validity::measure(&test, None);
    if a.json {
        crate::common::print_json(&serde_json::json!({"generated": g, "real_test": r}));
        return Ok(());
    }
    out!(
        "| measure | generated ({}) | real test tunes ({}) |",
        g.tunes,
        r.tunes
    );
    out!("|---|---|---|");
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    out!("| parse | {} | {} |", pct(g.parse), pct(r.parse));
    out!(
        "| bars fitting the meter | {} of {} | {} of {} |",
        pct(g.bars_fit),
        g.bars,
        pct(r.bars_fit),
        r.bars
    );
    out!(
        "| balanced repeats | {} | {} |",
        pct(g.balanced_repeats),
        pct(r.balanced_repeats)
    );
    out!(
        "| ending on the tonic | {} | {} |",
        pct(g.ends_on_tonic),
        pct(r.ends_on_tonic)
    );
    out!(
        "| mean pitch range (semitones) | {:.1} | {:.1} |",
        g.mean_range,
        r.mean_range
    );
    out!(
        "| lowest / highest MIDI pitch | {} / {} | {} / {} |",
        g.lowest,
        g.highest,
        r.lowest,
        r.highest
    );
    out!(
        "| copies of a corpus tune | {} | - |",
        g.copies.map_or("-".into(), pct)
    );
    Ok(())
}
